//! [`Gauge`]: a count that the sessions of one shard keep together, read by
//! the runtime to throttle them: the outbound flows open across the shard
//! (`SessionMeters::inflight_gauge`) and the bytes queued for its connected
//! subscribers (`SessionMeters::delivery_gauge`).

use std::sync::atomic::{AtomicUsize, Ordering};

/// A count kept by the sessions that share it: every session of one shard.
///
/// The sessions sharing a gauge run on one thread, so it is counted with
/// plain loads and stores, not read-modify-write instructions, which would
/// cost a full memory barrier per delivery; a copy of a session (a
/// snapshot's, dropped on another thread) counts on a gauge of its own. Any
/// thread may read it.
#[derive(Debug, Default)]
pub struct Gauge(AtomicUsize);

impl Gauge {
    /// The count now.
    pub fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }

    /// Adds `count`.
    pub fn add(&self, count: usize) {
        self.0.store(self.get() + count, Ordering::Relaxed);
    }

    /// Takes `count` away: never more than was added, which every owner of a
    /// share keeps by adding and removing exactly its own.
    pub fn sub(&self, count: usize) {
        let now = self.get();
        debug_assert!(count <= now, "gauge taken below zero: {now} - {count}");
        self.0.store(now.saturating_sub(count), Ordering::Relaxed);
    }
}
