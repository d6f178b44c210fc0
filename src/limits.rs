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

/// Most shards (executor threads) one broker runs.
pub const SHARDS_MAX: usize = 256;

/// Capacity of one cross-shard SPSC ring, messages.
pub const RING_CAPACITY: usize = 1024;

/// Messages a shard queues locally per destination shard once that ring is full;
/// at this depth the shard's publishers stop reading their sockets.
pub const RING_OUTBOX_MAX: usize = 4096;

/// Connections one shard accepts per listener before yielding to other work.
pub const ACCEPT_BATCH_MAX: usize = 64;

/// How long an accept loop with nothing pending waits before trying again, ms.
pub const ACCEPT_IDLE_POLL_MS: u64 = 2;

/// Connections one shard holds at once; further accepts are closed at once.
pub const CONNECTIONS_PER_SHARD_MAX: usize = 100_000;

/// Time a new connection has to complete CONNECT before it is closed, ms.
pub const CONNECT_TIMEOUT_MS: u64 = 10_000;

/// Bytes requested from the socket per read.
pub const READ_CHUNK_SIZE: usize = 16 * 1024;

/// A read or write buffer that is empty and holds more than this is released, bytes.
pub const IDLE_BUFFER_KEEP_MAX: usize = 4 * 1024;

/// Encoded bytes one connection may have waiting to be written; past it, QoS 0
/// deliveries to that connection are dropped and counted.
pub const OUTBOUND_BYTES_MAX: usize = 1024 * 1024;

/// Period of the per-shard timer tick that fires session timers, ms.
pub const TIMER_TICK_MS: u64 = 10;

/// Timers one shard holds at once (keep-alive, retry, will delay, session expiry).
pub const TIMERS_PER_SHARD_MAX: usize = 4 * CONNECTIONS_PER_SHARD_MAX;

/// Retained messages the broker keeps; a new topic beyond it is not retained.
pub const RETAINED_MESSAGES_MAX: usize = 100_000;

/// Time shutdown waits for connections to flush their last packets, ms.
pub const SHUTDOWN_FLUSH_MS: u64 = 2_000;

const _: () = assert!(RING_CAPACITY > 0 && RING_OUTBOX_MAX >= RING_CAPACITY);
const _: () = assert!(IDLE_BUFFER_KEEP_MAX <= READ_CHUNK_SIZE);
const _: () = assert!(MAXIMUM_PACKET_SIZE_DEFAULT as usize <= OUTBOUND_BYTES_MAX);
