//! The shard's clock and the wake-up of its tick.
//!
//! Every session sees milliseconds since the broker started, the same epoch
//! on every shard. Reading the clock per packet and per delivery cost more
//! than the millisecond resolution sessions need, so a read's packets and the
//! deliveries they cause share one reading ([`ShardClock::with_reading`]).
//! The tick sleeps until the earliest deadline; a timer armed earlier than
//! that wakes it ([`TickWake::armed`]).

use std::cell::Cell;
use std::time::Instant;

use crate::wake::Notify;

/// Milliseconds since the broker started, with one reading held while work
/// runs under it.
pub(super) struct ShardClock {
    epoch: Instant,
    reading_ms: Cell<Option<u64>>,
}

impl ShardClock {
    /// A clock counting from `epoch`.
    pub(super) fn new(epoch: Instant) -> ShardClock {
        ShardClock {
            epoch,
            reading_ms: Cell::new(None),
        }
    }

    /// Milliseconds since the epoch; inside [`ShardClock::with_reading`],
    /// the one reading taken there.
    pub(super) fn now_ms(&self) -> u64 {
        match self.reading_ms.get() {
            Some(now_ms) => now_ms,
            None => u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// Runs `work` with one reading for all of it (an outer reading stays).
    pub(super) fn with_reading<R>(&self, work: impl FnOnce() -> R) -> R {
        let outer = self.reading_ms.get();
        if outer.is_none() {
            self.reading_ms.set(Some(self.now_ms()));
        }
        let result = work();
        self.reading_ms.set(outer);
        result
    }
}

/// When the tick next wakes, and how to wake it sooner.
#[derive(Default)]
pub(super) struct TickWake {
    /// When the sleeping tick wakes, ms; 0 while it runs.
    at_ms: Cell<u64>,
    wake: Notify,
}

impl TickWake {
    /// The tick sleeps until `at_ms`.
    pub(super) fn sleeping_until(&self, at_ms: u64) {
        self.at_ms.set(at_ms);
    }

    /// The tick is awake.
    pub(super) fn awake(&self) {
        self.at_ms.set(0);
    }

    /// A timer was armed for `at_ms`: wakes the tick if it sleeps past it.
    pub(super) fn armed(&self, at_ms: u64) {
        if at_ms < self.at_ms.get() {
            self.wake.notify();
        }
    }

    /// Waits until a timer armed earlier than the tick's sleep wakes it.
    pub(super) async fn woken(&self) {
        self.wake.wait().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_under_one_reading_sees_one_time_and_the_outer_reading_stays() {
        let clock = ShardClock::new(Instant::now() - std::time::Duration::from_millis(50));
        let outer = clock.with_reading(|| {
            let first = clock.now_ms();
            std::thread::sleep(std::time::Duration::from_millis(3));
            let inner = clock.with_reading(|| clock.now_ms());
            assert_eq!(inner, first);
            assert_eq!(clock.now_ms(), first);
            first
        });
        assert!(outer >= 50);
        assert!(
            clock.now_ms() >= outer + 3,
            "the reading ends with its work"
        );
    }
}
