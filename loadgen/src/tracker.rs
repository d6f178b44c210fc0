//! Loss, duplicate and reordering accounting for one publisher's stream as
//! one subscriber sees it, in bounded memory.
//!
//! The tracker remembers the highest sequence number seen and a bitmap of the
//! [`SEQUENCE_WINDOW`] numbers below it. A number above the highest is new (and
//! any gap is, for now, missing); one inside the window is a duplicate if its
//! bit is set, else a late (reordered) arrival; one below the window cannot be
//! checked and is counted as late and new. Loss is computed at the end from
//! how many the publisher sent and how many distinct numbers arrived.

use crate::limits::SEQUENCE_WINDOW;

const WORDS: usize = (SEQUENCE_WINDOW / 64) as usize;

/// What one arrival turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// The next number, or one after a gap.
    InOrder,
    /// Lower than one already seen and not seen before.
    Reordered,
    /// Seen before.
    Duplicate,
}

/// The counts a tracker ends with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SequenceCounts {
    /// Distinct sequence numbers received.
    pub distinct: u64,
    /// Arrivals of a number already received.
    pub duplicates: u64,
    /// Arrivals lower than a number already received.
    pub reordered: u64,
}

/// Tracks one publisher's sequence numbers at one subscriber.
#[derive(Clone, Debug, Default)]
pub struct SequenceTracker {
    /// Highest number seen plus one; 0 before the first arrival.
    next: u64,
    /// Bit `d` of the window is number `next - 1 - d`.
    window: [u64; WORDS],
    counts: SequenceCounts,
}

impl SequenceTracker {
    /// Records the arrival of `sequence`.
    pub fn record(&mut self, sequence: u64) -> Arrival {
        if sequence >= self.next {
            self.shift(sequence + 1 - self.next);
            self.next = sequence + 1;
            self.set(0);
            self.counts.distinct += 1;
            return Arrival::InOrder;
        }
        let distance = self.next - 1 - sequence;
        if distance >= SEQUENCE_WINDOW {
            self.counts.distinct += 1;
            self.counts.reordered += 1;
            return Arrival::Reordered;
        }
        if self.is_set(distance) {
            self.counts.duplicates += 1;
            return Arrival::Duplicate;
        }
        self.set(distance);
        self.counts.distinct += 1;
        self.counts.reordered += 1;
        Arrival::Reordered
    }

    /// The counts so far.
    pub fn counts(&self) -> SequenceCounts {
        self.counts
    }

    fn shift(&mut self, by: u64) {
        if by >= SEQUENCE_WINDOW {
            self.window = [0; WORDS];
            return;
        }
        let words = (by / 64) as usize;
        let bits = (by % 64) as u32;
        for i in (0..WORDS).rev() {
            let low = if i >= words {
                self.window[i - words]
            } else {
                0
            };
            let carry = if bits > 0 && i > words {
                self.window[i - words - 1] >> (64 - bits)
            } else {
                0
            };
            self.window[i] = if bits > 0 { (low << bits) | carry } else { low };
        }
    }

    fn set(&mut self, distance: u64) {
        self.window[(distance / 64) as usize] |= 1 << (distance % 64);
    }

    fn is_set(&self, distance: u64) -> bool {
        self.window[(distance / 64) as usize] & (1 << (distance % 64)) != 0
    }
}

/// Messages that should have arrived and did not: `sent` by the publisher,
/// `distinct` of them received. Never negative.
pub fn lost(sent: u64, distinct: u64) -> u64 {
    sent.saturating_sub(distinct)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(sequence: &[u64]) -> (SequenceTracker, Vec<Arrival>) {
        let mut tracker = SequenceTracker::default();
        let arrivals = sequence.iter().map(|&s| tracker.record(s)).collect();
        (tracker, arrivals)
    }

    #[test]
    fn in_order_stream_has_no_loss_duplicates_or_reordering() {
        let (tracker, _) = feed(&(0..10_000).collect::<Vec<_>>());
        let counts = tracker.counts();
        assert_eq!(counts.distinct, 10_000);
        assert_eq!(counts.duplicates, 0);
        assert_eq!(counts.reordered, 0);
        assert_eq!(lost(10_000, counts.distinct), 0);
    }

    #[test]
    fn gaps_count_as_loss_at_the_end() {
        let (tracker, _) = feed(&[0, 1, 5, 6, 9]);
        assert_eq!(tracker.counts().distinct, 5);
        assert_eq!(lost(10, tracker.counts().distinct), 5);
    }

    #[test]
    fn repeated_numbers_are_duplicates_not_new_messages() {
        let (tracker, arrivals) = feed(&[0, 1, 1, 2, 0]);
        assert_eq!(arrivals[2], Arrival::Duplicate);
        assert_eq!(arrivals[4], Arrival::Duplicate);
        assert_eq!(tracker.counts().distinct, 3);
        assert_eq!(tracker.counts().duplicates, 2);
    }

    #[test]
    fn late_arrival_fills_its_gap_once() {
        let (tracker, arrivals) = feed(&[0, 2, 1, 1]);
        assert_eq!(
            arrivals,
            [
                Arrival::InOrder,
                Arrival::InOrder,
                Arrival::Reordered,
                Arrival::Duplicate
            ]
        );
        assert_eq!(tracker.counts().distinct, 3);
        assert_eq!(tracker.counts().reordered, 1);
        assert_eq!(tracker.counts().duplicates, 1);
    }

    #[test]
    fn duplicate_is_detected_across_word_boundaries_of_the_window() {
        for gap in [63, 64, 65, 127, 128, 500, SEQUENCE_WINDOW - 1] {
            let (tracker, arrivals) = feed(&[0, gap, 0]);
            assert_eq!(arrivals[2], Arrival::Duplicate, "gap {gap}");
            assert_eq!(tracker.counts().distinct, 2);
        }
    }

    #[test]
    fn numbers_below_the_window_count_as_reordered_and_new() {
        let (tracker, arrivals) = feed(&[SEQUENCE_WINDOW + 10, 0]);
        assert_eq!(arrivals[1], Arrival::Reordered);
        assert_eq!(tracker.counts().distinct, 2);
    }

    #[test]
    fn window_forgets_nothing_within_its_span_after_many_shifts() {
        let mut tracker = SequenceTracker::default();
        for s in (0..5000).step_by(3) {
            tracker.record(s);
        }
        for s in (0..5000u64)
            .step_by(3)
            .filter(|&s| s + SEQUENCE_WINDOW > 4998)
        {
            assert_eq!(tracker.record(s), Arrival::Duplicate, "sequence {s}");
        }
        assert_eq!(tracker.record(4997), Arrival::Reordered);
    }

    #[test]
    fn loss_never_goes_negative() {
        assert_eq!(lost(3, 5), 0);
    }
}
