//! Every bound of the load generator, in one place.
//!
//! These bound what loadgen itself holds in memory or does per step; the
//! broker's bounds live in `shardmq::limits`. Relations between them are
//! checked at compile time below.

/// Bytes at the front of every payload: intended send time, sequence number,
/// publisher index and a magic number (see [`crate::payload`]).
pub const PAYLOAD_HEADER_LEN: usize = 24;

/// The largest payload `--size` accepts, bytes.
pub const PAYLOAD_SIZE_MAX: usize = 256 * 1024;

/// The largest packet loadgen accepts from a broker, bytes.
pub const MAXIMUM_PACKET_SIZE: u32 = 1024 * 1024;

/// Sequence numbers remembered below the highest one seen, per publisher and
/// subscriber: duplicates and late arrivals within this window are told apart.
pub const SEQUENCE_WINDOW: u64 = 1024;

/// Unacknowledged QoS 1/2 publishes one connection may have, at most; packet
/// identifiers are 16-bit and never 0.
pub const INFLIGHT_MAX: u16 = u16::MAX;

/// Default `--inflight` for flat-out publishing.
pub const INFLIGHT_DEFAULT: u16 = 64;

/// Messages one publisher writes in one batch before it flushes and reads.
pub const PUBLISH_BATCH_MAX: usize = 256;

/// Bytes a connection reads per call at first; doubled while reads fill it.
pub const READ_CHUNK_MIN: usize = 512;

/// Bytes a connection reads per call, at most.
pub const READ_CHUNK_MAX: usize = 64 * 1024;

/// Handshakes (TCP connect, TLS, WebSocket upgrade, CONNECT, SUBSCRIBE) in flight at once per shard.
pub const HANDSHAKES_PER_SHARD_MAX: u64 = 512;

/// Bytes of a WebSocket upgrade answer's head (status line and headers), at most.
pub const WEBSOCKET_UPGRADE_MAX: usize = 8 * 1024;

/// Headers of a WebSocket upgrade answer, at most.
pub const WEBSOCKET_UPGRADE_HEADERS_MAX: usize = 32;

/// Seconds a handshake may take before it counts as failed.
pub const HANDSHAKE_TIMEOUT_S: u64 = 30;

/// How often a shard checks whether the run is over, milliseconds.
pub const CONTROL_TICK_MS: u64 = 20;

/// How often progress is reported, milliseconds.
pub const PROGRESS_INTERVAL_MS: u64 = 1000;

/// Progress samples a shard may have queued for the reporting thread.
pub const PROGRESS_QUEUE_MAX: usize = 64;

/// The longest latency the histograms hold, microseconds; longer ones saturate.
pub const LATENCY_MAX_US: u64 = 3_600_000_000;

/// Significant decimal digits the latency histograms keep.
pub const LATENCY_SIGNIFICANT_DIGITS: u8 = 3;

/// Connections one run may open in total.
pub const CONNECTIONS_MAX: u32 = 1_000_000;

/// Shards (executor threads) one run may use.
pub const SHARDS_MAX: usize = 1024;

/// Distinct CONNACK/SUBACK/DISCONNECT reason codes remembered in a report.
pub const REASON_CODES_MAX: usize = 256;

const _: () = assert!(PAYLOAD_HEADER_LEN <= PAYLOAD_SIZE_MAX);
const _: () = assert!((PAYLOAD_SIZE_MAX as u32) < MAXIMUM_PACKET_SIZE);
const _: () = assert!(INFLIGHT_DEFAULT > 0);
const _: () = assert!(READ_CHUNK_MIN <= READ_CHUNK_MAX);
const _: () = assert!(SEQUENCE_WINDOW % 64 == 0);
const _: () = assert!(CONTROL_TICK_MS < PROGRESS_INTERVAL_MS);
