//! Loss, duplicate and reordering accounting for one publisher's stream as
//! one subscriber sees it, in bounded memory.
//!
//! The tracker remembers the highest sequence number seen and a bitmap of the
//! [`SEQUENCE_WINDOW`] numbers up to it, number `s` at bit `s % SEQUENCE_WINDOW`
//! (moving the window up clears the bits of the numbers it passes, so an
//! arrival in order touches one word). A number above the highest is new (and
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
    /// Bit `s % SEQUENCE_WINDOW` is number `s`, for the numbers from
    /// `next - SEQUENCE_WINDOW` to `next - 1`.
    window: [u64; WORDS],
    counts: SequenceCounts,
}

impl SequenceTracker {
    /// Records the arrival of `sequence`.
    pub fn record(&mut self, sequence: u64) -> Arrival {
        if sequence >= self.next {
            self.clear(self.next, sequence + 1 - self.next);
            self.next = sequence + 1;
            self.set(sequence);
            self.counts.distinct += 1;
            return Arrival::InOrder;
        }
        let distance = self.next - 1 - sequence;
        if distance >= SEQUENCE_WINDOW {
            self.counts.distinct += 1;
            self.counts.reordered += 1;
            return Arrival::Reordered;
        }
        if self.is_set(sequence) {
            self.counts.duplicates += 1;
            return Arrival::Duplicate;
        }
        self.set(sequence);
        self.counts.distinct += 1;
        self.counts.reordered += 1;
        Arrival::Reordered
    }

    /// The counts so far.
    pub fn counts(&self) -> SequenceCounts {
        self.counts
    }

    /// Clears the bits of the `count` numbers from `first` on.
    fn clear(&mut self, first: u64, count: u64) {
        if count >= SEQUENCE_WINDOW {
            self.window = [0; WORDS];
            return;
        }
        let mut position = first % SEQUENCE_WINDOW;
        let mut left = count;
        while left > 0 {
            let bit = position % 64;
            let span = (64 - bit).min(left);
            let mask = if span == 64 {
                u64::MAX
            } else {
                ((1 << span) - 1) << bit
            };
            self.window[(position / 64) as usize] &= !mask;
            left -= span;
            position = (position + span) % SEQUENCE_WINDOW;
        }
    }

    fn set(&mut self, sequence: u64) {
        let position = sequence % SEQUENCE_WINDOW;
        self.window[(position / 64) as usize] |= 1 << (position % 64);
    }

    fn is_set(&self, sequence: u64) -> bool {
        let position = sequence % SEQUENCE_WINDOW;
        self.window[(position / 64) as usize] & (1 << (position % 64)) != 0
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

    /// The tracker against a model that remembers every number: they agree
    /// on every arrival whose number is within the window of the highest.
    #[test]
    fn agrees_with_a_model_that_remembers_everything() {
        let mut tracker = SequenceTracker::default();
        let mut seen = std::collections::HashSet::new();
        let mut highest: Option<u64> = None;
        // A fixed xorshift stream: runs of arrivals in order, jumps of every
        // size (across words, the ring's end and the whole window), repeats
        // and late numbers.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = 0u64;
        for _ in 0..200_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let sequence = match state % 10 {
                0..=5 => next,
                6 => next + state % 70,
                7 => next + state % (3 * SEQUENCE_WINDOW),
                _ => next.saturating_sub(1 + state % (SEQUENCE_WINDOW + 100)),
            };
            next = next.max(sequence + 1);
            let arrival = tracker.record(sequence);
            let expected = match highest {
                Some(top) if sequence <= top && top - sequence >= SEQUENCE_WINDOW => {
                    Arrival::Reordered
                }
                _ if seen.contains(&sequence) => Arrival::Duplicate,
                Some(top) if sequence < top => Arrival::Reordered,
                _ => Arrival::InOrder,
            };
            assert_eq!(
                arrival, expected,
                "sequence {sequence}, highest {highest:?}"
            );
            seen.insert(sequence);
            highest = Some(highest.map_or(sequence, |top| top.max(sequence)));
        }
    }

    #[test]
    fn loss_never_goes_negative() {
        assert_eq!(lost(3, 5), 0);
    }
}
