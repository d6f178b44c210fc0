//! The per-process seeds of the trie replicas' label hashing.
//!
//! Level labels and share names come from clients, so the maps holding them
//! must not hash with seeds a client can know, or it could choose topic names
//! that all collide. One set of random seeds is drawn when the broker starts
//! and given to every shard (their replicas need not agree, but one draw is
//! enough); they are never written anywhere.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

/// Four random `u64`s for `SubscriptionTrie::with_label_seeds`, from the
/// operating system's randomness that std draws for its own hash maps.
pub fn random_label_seeds() -> [u64; 4] {
    let state = RandomState::new();
    [0u64, 1, 2, 3].map(|lane| state.hash_one(lane))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_draw_gives_different_seeds() {
        let first = random_label_seeds();
        let second = random_label_seeds();
        assert_ne!(first, second);
        let mut lanes = first.to_vec();
        lanes.sort_unstable();
        lanes.dedup();
        assert_eq!(lanes.len(), 4, "the four seeds differ: {first:?}");
    }
}
