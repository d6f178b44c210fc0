//! A timer queue: deadlines in one sorted map, fired in deadline order.
//!
//! A shard keeps every session timer it owns here (will delay and session
//! expiry; keep-alive, which every connection has, is a deadline on the
//! connection that the runtime checks in its own sweep). The runtime sleeps
//! until [`TimerQueue::next_deadline_ms`] and takes what is due with
//! [`TimerQueue::pop_due`], so thousands of sessions cost it one timer, not
//! one each. A key holds at most one deadline: arming it again moves it. The
//! queue is bounded ([`TimerQueue::new`] takes its capacity; a shard's is
//! `limits::TIMERS_PER_SHARD_MAX`).

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

/// Deadlines keyed by `K`, fired in deadline order.
#[derive(Debug)]
pub struct TimerQueue<K> {
    by_deadline: BTreeMap<(u64, u64), K>,
    by_key: HashMap<K, (u64, u64)>,
    next_sequence: u64,
    capacity: usize,
}

/// Arming failed because the queue holds `capacity` timers already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerQueueFull;

impl<K: Clone + Eq + Hash> TimerQueue<K> {
    /// An empty queue holding at most `capacity` timers.
    pub fn new(capacity: usize) -> TimerQueue<K> {
        assert!(capacity > 0, "a timer queue holds at least one timer");
        TimerQueue {
            by_deadline: BTreeMap::new(),
            by_key: HashMap::new(),
            next_sequence: 0,
            capacity,
        }
    }

    /// The earliest deadline armed, ms.
    pub fn next_deadline_ms(&self) -> Option<u64> {
        self.by_deadline
            .first_key_value()
            .map(|(&(at_ms, _), _)| at_ms)
    }

    /// Arms `key` to fire at `at_ms`, replacing any deadline it had.
    pub fn arm(&mut self, key: K, at_ms: u64) -> Result<(), TimerQueueFull> {
        if let Some(slot) = self.by_key.remove(&key) {
            self.by_deadline.remove(&slot);
        } else if self.by_key.len() >= self.capacity {
            return Err(TimerQueueFull);
        }
        let slot = (at_ms, self.next_sequence);
        self.next_sequence += 1;
        self.by_deadline.insert(slot, key.clone());
        self.by_key.insert(key, slot);
        Ok(())
    }

    /// Disarms `key`; true when it was armed.
    pub fn cancel(&mut self, key: &K) -> bool {
        match self.by_key.remove(key) {
            Some(slot) => {
                self.by_deadline.remove(&slot);
                true
            }
            None => false,
        }
    }

    /// Removes and returns the earliest timer due at `now_ms`, if any.
    pub fn pop_due(&mut self, now_ms: u64) -> Option<K> {
        let (&slot, _) = self.by_deadline.first_key_value()?;
        if slot.0 > now_ms {
            return None;
        }
        let key = self
            .by_deadline
            .remove(&slot)
            .expect("the first key exists");
        self.by_key.remove(&key);
        Some(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_timers_fire_in_deadline_order() {
        let mut queue = TimerQueue::new(8);
        queue.arm("late", 30).unwrap();
        queue.arm("early", 10).unwrap();
        queue.arm("middle", 20).unwrap();
        assert_eq!(queue.pop_due(25), Some("early"));
        assert_eq!(queue.pop_due(25), Some("middle"));
        assert_eq!(queue.pop_due(25), None);
        assert_eq!(queue.pop_due(30), Some("late"));
    }

    #[test]
    fn rearming_moves_the_deadline() {
        let mut queue = TimerQueue::new(8);
        queue.arm("keep_alive", 10).unwrap();
        queue.arm("keep_alive", 50).unwrap();
        assert_eq!(queue.pop_due(20), None);
        assert_eq!(queue.pop_due(50), Some("keep_alive"));
        assert_eq!(queue.pop_due(u64::MAX), None);
    }

    #[test]
    fn next_deadline_follows_arming_moving_and_cancelling() {
        let mut queue = TimerQueue::new(8);
        assert_eq!(queue.next_deadline_ms(), None);
        queue.arm("will", 30).unwrap();
        queue.arm("expiry", 20).unwrap();
        assert_eq!(queue.next_deadline_ms(), Some(20));
        queue.arm("expiry", 40).unwrap();
        assert_eq!(queue.next_deadline_ms(), Some(30));
        queue.cancel(&"will");
        assert_eq!(queue.next_deadline_ms(), Some(40));
        assert_eq!(queue.pop_due(40), Some("expiry"));
        assert_eq!(queue.next_deadline_ms(), None);
    }

    #[test]
    fn cancelled_timer_never_fires() {
        let mut queue = TimerQueue::new(8);
        queue.arm(1, 10).unwrap();
        assert!(queue.cancel(&1));
        assert!(!queue.cancel(&1));
        assert_eq!(queue.pop_due(100), None);
    }

    #[test]
    fn full_queue_refuses_new_keys_but_rearms_old_ones() {
        let mut queue = TimerQueue::new(1);
        queue.arm("a", 10).unwrap();
        assert_eq!(queue.arm("b", 10), Err(TimerQueueFull));
        queue.arm("a", 20).unwrap();
        assert_eq!(queue.pop_due(20), Some("a"));
    }
}
