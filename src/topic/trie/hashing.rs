//! The hashers of the trie's maps.
//!
//! Subscriber keys come from the server, so their maps hash with fixed seeds
//! through a zero-sized [`SubscriberHasher`]: a reproducible report order, and
//! no per-map hasher state in every filter entry. Level labels and share names
//! come from clients and use a [`RandomState`] the trie is built with.

use core::hash::BuildHasher;

use ahash::{AHasher, RandomState};

/// Seeds of the subscriber-key maps. Not ahash's own pi constants:
/// `with_seeds` mixes the seeds with those, and passing them back in cancels
/// out to all-zero keys, so every key would hash alike.
pub(super) const SUBSCRIBER_SEEDS: [u64; 4] = [
    0xa076_1d64_78bd_642f,
    0xe703_7ed1_a0b4_28db,
    0x8ebc_6af0_9c88_c6e3,
    0x5899_65cc_7537_4cc3,
];

/// Default seeds of the level-label and share-name maps.
pub(super) const LABEL_SEEDS: [u64; 4] = [
    0x9e37_79b9_7f4a_7c15,
    0xc2b2_ae3d_27d4_eb4f,
    0x1656_67b1_9e37_79f9,
    0x27d4_eb2f_1656_67c5,
];

static SUBSCRIBER_STATE: RandomState = RandomState::with_seeds(
    SUBSCRIBER_SEEDS[0],
    SUBSCRIBER_SEEDS[1],
    SUBSCRIBER_SEEDS[2],
    SUBSCRIBER_SEEDS[3],
);

/// Builds the hashers of subscriber-key maps, from [`SUBSCRIBER_SEEDS`].
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct SubscriberHasher;

impl BuildHasher for SubscriberHasher {
    type Hasher = AHasher;

    fn build_hasher(&self) -> AHasher {
        SUBSCRIBER_STATE.build_hasher()
    }
}

/// The hasher of level labels and share names for `seeds`.
pub(super) fn label_hasher(seeds: [u64; 4]) -> RandomState {
    let [k0, k1, k2, k3] = seeds;
    RandomState::with_seeds(k0, k1, k2, k3)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn fixed_seeds_spread_labels_and_keys_over_the_hash_space() {
        let label_state = label_hasher(LABEL_SEEDS);
        let label_hashes: BTreeSet<u64> = (0..1000)
            .map(|label| label_state.hash_one(label.to_string().as_str()))
            .collect();
        let key_hashes: BTreeSet<u64> = (0..1000u64)
            .map(|key| SubscriberHasher.hash_one(key))
            .collect();
        assert_eq!(label_hashes.len(), 1000);
        assert_eq!(key_hashes.len(), 1000);
    }
}
