//! The errors that stop a run before or while it starts.

use std::fmt;

/// Why a run could not be carried out at all. Failures of single
/// connections are counted in the report instead.
#[derive(Debug)]
pub enum Error {
    /// The scenario's settings are inconsistent; the text says which.
    InvalidScenario(String),
    /// A shard's executor could not be started (io_uring unavailable, the
    /// memlock limit too low, no such CPU).
    Executor(String),
    /// The transport's files could not be used (an unreadable CA file,
    /// certificate or key); the text names the option and the file.
    Transport(String),
    /// A shard stopped without a result.
    ShardFailed(usize),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidScenario(what) => write!(f, "invalid scenario: {what}"),
            Error::Executor(why) => write!(
                f,
                "cannot start a shard executor: {why} (io_uring needs Linux 5.8+ and a memlock limit of at least 512 KiB: `ulimit -l`)"
            ),
            Error::Transport(why) => write!(f, "cannot set up the transport: {why}"),
            Error::ShardFailed(shard) => write!(f, "shard {shard} stopped without a result"),
        }
    }
}

impl std::error::Error for Error {}

/// The broker sent a packet that does not fit the flow it belongs to (an
/// acknowledgement for an unknown packet identifier, a packet a client never
/// receives). Counted, and the connection goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProtocolViolation;
