//! Every bound of the broker, in one place.
//!
//! A bound that a client can push against has a name here; configuration may
//! lower (sometimes raise) it, defaulting to these values. Relations between
//! bounds are checked at compile time below.

/// The largest remaining length the variable byte integer can express (2.1.4).
pub const REMAINING_LENGTH_MAX: u32 = 268_435_455;

/// Default maximum packet size the broker accepts, bytes (fixed header included).
pub const MAXIMUM_PACKET_SIZE_DEFAULT: u32 = 1024 * 1024;

const _: () = assert!(MAXIMUM_PACKET_SIZE_DEFAULT <= REMAINING_LENGTH_MAX + 5);

/// Longest topic name or topic filter accepted, bytes. The wire allows 65,535
/// [MQTT-4.7.3-3]; accepting all of it keeps every conforming client working,
/// and the memory a session can pin with long filters is bounded by its
/// subscription count and the maximum packet size instead.
pub const TOPIC_LENGTH_MAX: usize = 65_535;

/// Most levels (`/`-separated parts) in a topic name or filter. Bounds the depth
/// of the subscription trie, hence the recursion of a match.
pub const TOPIC_LEVELS_MAX: usize = 128;

const _: () = assert!(TOPIC_LENGTH_MAX <= u16::MAX as usize);
const _: () = assert!(TOPIC_LEVELS_MAX >= 1 && TOPIC_LEVELS_MAX <= TOPIC_LENGTH_MAX);

/// Most shards (threads) a broker runs, hence the width of the per-filter
/// shard bitset in the subscription trie.
pub const SHARDS_MAX: usize = 256;

const _: () = assert!(SHARDS_MAX > 0 && SHARDS_MAX % 64 == 0);
