//! The home shard of a client id: where its connection, session and timers live.
//!
//! The hash uses fixed seeds so every shard (and every test) computes the same
//! home; it is never persisted, so changing the seeds only moves sessions around
//! on the next start.

/// Fixed seeds of the client-id hash.
const HOME_SEEDS: [u64; 4] = [
    0x5368_6172_646d_7131,
    0x636c_6965_6e74_6964,
    0x686f_6d65_7368_6172,
    0x7468_7265_6164_7063,
];

/// The shard that owns `client_id` among `shards` shards.
///
/// ```
/// let home = shardmq_shards::home_shard("sensor-17", 4);
/// assert!(home < 4);
/// assert_eq!(home, shardmq_shards::home_shard("sensor-17", 4));
/// ```
pub fn home_shard(client_id: &str, shards: usize) -> usize {
    assert!(shards > 0, "a broker has at least one shard");
    let hasher =
        ahash::RandomState::with_seeds(HOME_SEEDS[0], HOME_SEEDS[1], HOME_SEEDS[2], HOME_SEEDS[3]);
    (hasher.hash_one(client_id.as_bytes()) % shards as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shard_is_home_to_some_client_id() {
        let mut seen = [false; 4];
        for index in 0..64 {
            seen[home_shard(&format!("client-{index}"), 4)] = true;
        }
        assert_eq!(seen, [true; 4]);
    }

    #[test]
    fn one_shard_is_home_to_everyone() {
        assert_eq!(home_shard("anything", 1), 0);
    }
}
