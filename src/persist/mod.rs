//! Persistence formats: what the runtime writes to disk and reads back, as bytes.
//!
//! No file, fsync or clock in here: the runtime moves the bytes, and passes the
//! time in (`now_ms` on its monotonic clock, `wall_clock_ms` since the Unix epoch).
//!
//! - [`schema`]: the rkyv types of a session, a message and a retained message,
//!   versioned apart from the in-memory session types.
//! - `snapshot`: the snapshot file ([`encode_snapshot`], [`decode_snapshot`]): a
//!   header with magic, format version, kind, length and checksum, then the
//!   aligned rkyv payload; [`encode_sessions_snapshot`] makes the same bytes
//!   straight from live sessions (`capture`), one record at a time.
//! - `record`: [`JournalRecord`], one per change between snapshots, and when the
//!   runtime writes each.
//! - `journal`: [`JournalWriter`] and [`JournalReader`], the framing of records,
//!   and where a torn or corrupt journal stops ([`Torn`]).
//! - `replay`: [`Replay`], snapshot records plus journal records applied in order.
//! - `session`: a live session to and from its [`schema::SessionSnapshot`]
//!   (`Session::to_snapshot`, `Session::from_snapshot`), through the session's
//!   crate-private state.
//! - `change`: the [`JournalRecord`] of each change a journaled session reports
//!   (`Session::journal_record`), and its [`TargetRecord`] in a message's
//!   (`Session::delivery_target`).
//! - `message`: a message and a delivery as stored (`Message::to_record`,
//!   `Message::from_record`, `Message::fingerprint`), and what a stored
//!   delivery counts against a queue's bounds, as the live queue counts it.
//! - `checksum`: the CRC-32 of both formats and the message fingerprint.
//! - `clock`: deadlines between the monotonic clock and the wall clock.
//!
//! The dependency runs one way: this module knows [`crate::session`] and the
//! schema; the session knows nothing of how it is stored.
//!
//! ```
//! use shardmq::persist::*;
//!
//! let file = encode_snapshot(&SnapshotContents::Retained(Vec::new())).unwrap();
//! assert_eq!(decode_snapshot(&file), Ok(SnapshotContents::Retained(Vec::new())));
//!
//! let ended = JournalRecord::SessionEnded { client_id: "sensor-1".to_owned() };
//! let mut journal = Vec::new();
//! JournalWriter::new().append(&ended, &mut journal).unwrap();
//! let records: Vec<_> = JournalReader::new(&journal).collect();
//! assert_eq!(records, vec![Ok(ended)]);
//! ```
//!
//! ## Restart, in short
//!
//! 1. [`decode_snapshot`] the sessions file and the retained file (any error is
//!    fatal and says why); load them into a [`Replay`].
//! 2. Read the journal with [`JournalReader`], [`Replay::apply`] each record; on
//!    `Err(Torn)`, warn and truncate the file to `valid_up_to`.
//! 3. [`Replay::into_parts`]; turn each session into a live one with
//!    `Session::from_snapshot` and run the actions it returns (the timers to arm).

mod capture;
mod change;
mod checksum;
mod clock;
mod journal;
mod message;
mod record;
mod replay;
pub mod schema;
mod session;
mod snapshot;
#[cfg(test)]
mod tests;

pub use checksum::{checksum, message_fingerprint};
pub use clock::{from_wall_clock_ms, to_wall_clock_ms};
pub use journal::{
    JournalReader, JournalWriteError, JournalWriter, Torn, TornReason, JOURNAL_RECORD_HEADER_LEN,
};
pub use record::{InboundQos2Record, JournalRecord, TargetRecord};
pub use replay::Replay;
pub use snapshot::{
    access_retained, access_sessions, decode_snapshot, encode_sessions_snapshot, encode_snapshot,
    SessionsFile, SnapshotContents, SnapshotError, SnapshotKind, SNAPSHOT_FORMAT_VERSION,
    SNAPSHOT_HEADER_LEN, SNAPSHOT_MAGIC,
};
