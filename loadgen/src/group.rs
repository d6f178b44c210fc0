//! Duplicate and loss accounting for a shared subscription: one sequence
//! tracker per publisher over every member of the group, on whatever shard.
//!
//! Each message of a publisher should reach exactly one member of the group.
//! A member's own tracker cannot see a message that went to two members, so
//! every member also records into the group's tracker of that publisher: a
//! number it has already seen is a duplicate of the group, and the group's
//! distinct count is what loss is computed from. Members live on several
//! shards, so each tracker sits behind a `Mutex`; a lock is taken once per
//! delivery, only in shared-subscription runs.

use std::sync::Mutex;

use crate::tracker::{Arrival, SequenceCounts, SequenceTracker};

/// The sequence trackers of one share group, one per publisher.
#[derive(Debug)]
pub struct GroupTracker {
    publishers: Vec<Mutex<SequenceTracker>>,
}

impl GroupTracker {
    /// A tracker for a group receiving from `publishers` publishers.
    pub fn new(publishers: u32) -> GroupTracker {
        GroupTracker {
            publishers: (0..publishers)
                .map(|_| Mutex::new(SequenceTracker::default()))
                .collect(),
        }
    }

    /// Records that some member received `sequence` of `publisher_index`;
    /// `None` for a publisher the run does not have.
    pub fn record(&self, publisher_index: u32, sequence: u64) -> Option<Arrival> {
        let tracker = self.publishers.get(publisher_index as usize)?;
        // A poisoned lock means another shard panicked, which aborts the run.
        let mut tracker = tracker
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Some(tracker.record(sequence))
    }

    /// What the group received from each publisher, in publisher order.
    pub fn counts(&self) -> Vec<SequenceCounts> {
        self.publishers
            .iter()
            .map(|tracker| {
                tracker
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .counts()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_received_by_two_members_is_one_group_duplicate() {
        let group = GroupTracker::new(2);
        // Member A and member B each see publisher 0's message 1.
        for (publisher, sequence) in [(0, 0), (0, 1), (0, 1), (1, 0), (0, 2)] {
            group.record(publisher, sequence);
        }
        let counts = group.counts();
        assert_eq!(counts[0].distinct, 3);
        assert_eq!(counts[0].duplicates, 1);
        assert_eq!(counts[1].distinct, 1);
        assert_eq!(counts[1].duplicates, 0);
    }

    #[test]
    fn unknown_publisher_is_not_recorded() {
        let group = GroupTracker::new(1);
        assert_eq!(group.record(1, 0), None);
        assert_eq!(group.record(0, 0), Some(Arrival::InOrder));
    }
}
