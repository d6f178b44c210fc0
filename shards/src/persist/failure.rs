//! Fail-stop after a journal failure: the first failure stops the whole broker.
//!
//! A journal write or fdatasync that failed leaves the file in an unknown state:
//! after a failed fdatasync the kernel may have dropped the dirty pages, and a
//! later fdatasync can report success for data that never reached the disk. No
//! record after the failure can be trusted to be durable, so nothing that waits
//! for durability may be answered any more. Rather than run on without the
//! guarantee, the broker stops: every shard drops the answers it holds
//! (v5 clients get DISCONNECT 0x80 instead; each client resends its unacknowledged
//! messages on its next connection), writes no final snapshot, and the process
//! exits with [`EXIT_CODE_JOURNAL_FAILED`] and the reason.

use std::sync::{Arc, Mutex, PoisonError};

use crate::stop::StopSignal;

/// Exit code of the `shardmq` binary after a journal failure stopped it.
pub const EXIT_CODE_JOURNAL_FAILED: u8 = 3;

/// Broker-wide: the stop flag every shard watches, and why persistence stopped
/// the broker, if it did.
#[derive(Debug)]
pub struct FailStop {
    stop: Arc<StopSignal>,
    reason: Mutex<Option<String>>,
}

impl FailStop {
    /// Sets `stop` when persistence fails.
    pub fn new(stop: Arc<StopSignal>) -> FailStop {
        FailStop {
            stop,
            reason: Mutex::new(None),
        }
    }

    /// Persistence failed for `reason`: stops the broker. The first reason is kept.
    pub fn fail(&self, reason: String) {
        self.reason
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert(reason);
        self.stop.request();
    }

    /// Why persistence stopped the broker; `None` while it has not.
    pub fn reason(&self) -> Option<String> {
        self.reason
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// True once persistence stopped the broker.
    pub fn has_failed(&self) -> bool {
        self.reason
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }
}
