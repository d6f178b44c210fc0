//! A fixed-size set of shard indexes: which shards have subscribers on a filter.
//!
//! A bitset of [`SHARDS_MAX`] bits, `Copy`, so a match can take the union over
//! every matching filter without allocating.

use crate::limits::SHARDS_MAX;

const WORDS: usize = SHARDS_MAX / 64;

/// A set of shard indexes below [`SHARDS_MAX`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ShardSet {
    words: [u64; WORDS],
}

impl ShardSet {
    /// The empty set.
    pub const fn new() -> ShardSet {
        ShardSet { words: [0; WORDS] }
    }

    /// Adds `shard`; true when it was not there before.
    pub fn insert(&mut self, shard: usize) -> bool {
        let (word, bit) = Self::position(shard);
        let was_absent = self.words[word] & bit == 0;
        self.words[word] |= bit;
        was_absent
    }

    /// Removes `shard`; true when it was there.
    pub fn remove(&mut self, shard: usize) -> bool {
        let (word, bit) = Self::position(shard);
        let was_present = self.words[word] & bit != 0;
        self.words[word] &= !bit;
        was_present
    }

    /// True when `shard` is in the set.
    pub fn contains(&self, shard: usize) -> bool {
        let (word, bit) = Self::position(shard);
        self.words[word] & bit != 0
    }

    /// True when no shard is in the set.
    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|&word| word == 0)
    }

    /// How many shards are in the set.
    pub fn len(&self) -> usize {
        self.words
            .iter()
            .map(|word| word.count_ones() as usize)
            .sum()
    }

    /// Adds every shard of `other`.
    pub fn union_with(&mut self, other: &ShardSet) {
        for (word, other_word) in self.words.iter_mut().zip(other.words) {
            *word |= other_word;
        }
    }

    /// The first shard at or after `start`, wrapping around: the next pick of a
    /// round-robin over the set. `None` when the set is empty.
    pub fn next_from(&self, start: usize) -> Option<usize> {
        let start = start % SHARDS_MAX;
        self.first_at_or_after(start)
            .or_else(|| self.first_at_or_after(0))
    }

    /// The shards in the set, in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.words
            .iter()
            .enumerate()
            .flat_map(|(word_index, &word)| Bits(word).map(move |bit| word_index * 64 + bit))
    }

    fn first_at_or_after(&self, start: usize) -> Option<usize> {
        let first_word = start / 64;
        let first_mask = u64::MAX << (start % 64);
        (first_word..WORDS).find_map(|word_index| {
            let mut word = self.words[word_index];
            if word_index == first_word {
                word &= first_mask;
            }
            (word != 0).then(|| word_index * 64 + word.trailing_zeros() as usize)
        })
    }

    fn position(shard: usize) -> (usize, u64) {
        assert!(shard < SHARDS_MAX, "shard {shard} out of range");
        (shard / 64, 1u64 << (shard % 64))
    }
}

/// The set bits of one word, lowest first.
struct Bits(u64);

impl Iterator for Bits {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        if self.0 == 0 {
            return None;
        }
        let bit = self.0.trailing_zeros() as usize;
        self.0 &= self.0 - 1;
        Some(bit)
    }
}

impl FromIterator<usize> for ShardSet {
    fn from_iter<I: IntoIterator<Item = usize>>(shards: I) -> ShardSet {
        let mut set = ShardSet::new();
        for shard in shards {
            set.insert(shard);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_and_remove_report_whether_the_set_changed() {
        let mut set = ShardSet::new();
        assert!(set.insert(3));
        assert!(!set.insert(3));
        assert!(set.contains(3));
        assert!(set.remove(3));
        assert!(!set.remove(3));
        assert!(set.is_empty());
    }

    #[test]
    fn iteration_lists_members_in_order_across_words() {
        let set: ShardSet = [200, 0, 64, 63, SHARDS_MAX - 1].into_iter().collect();
        let members: Vec<usize> = set.iter().collect();
        assert_eq!(members, vec![0, 63, 64, 200, SHARDS_MAX - 1]);
        assert_eq!(set.len(), 5);
    }

    #[test]
    fn union_holds_the_members_of_both() {
        let mut left: ShardSet = [1, 100].into_iter().collect();
        let right: ShardSet = [2, 100, 255].into_iter().collect();
        left.union_with(&right);
        assert_eq!(left.iter().collect::<Vec<_>>(), vec![1, 2, 100, 255]);
    }

    #[test]
    fn next_from_wraps_around_for_round_robin() {
        let set: ShardSet = [5, 70].into_iter().collect();
        assert_eq!(set.next_from(0), Some(5));
        assert_eq!(set.next_from(5), Some(5));
        assert_eq!(set.next_from(6), Some(70));
        assert_eq!(set.next_from(71), Some(5));
        assert_eq!(set.next_from(SHARDS_MAX + 6), Some(70));
        assert_eq!(ShardSet::new().next_from(9), None);
    }

    #[test]
    #[should_panic(expected = "out of range")]
    fn shard_beyond_the_limit_is_a_programming_error() {
        ShardSet::new().insert(SHARDS_MAX);
    }
}
