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

/// Our Receive Maximum: unacknowledged inbound QoS 2 PUBLISHes a client may have open.
pub const RECEIVE_MAXIMUM_DEFAULT: u16 = 128;

/// The client's Receive Maximum when its CONNECT names none (3.1.2.11.3).
pub const CLIENT_RECEIVE_MAXIMUM_DEFAULT: u16 = 65_535;

/// Our own cap on outbound QoS 1/2 PUBLISHes in flight to one client, whatever its
/// Receive Maximum: each one holds a message until acknowledged.
pub const OUTBOUND_INFLIGHT_MAX_DEFAULT: u16 = 1024;

/// Outbound QoS 1/2 PUBLISHes in flight across all the clients of one shard
/// before a client past `OUTBOUND_INFLIGHT_GUARANTEED` waits for its own
/// acknowledgements: a few clients may each fill a large window, a thousand
/// share the budget. Every message in flight is bytes in the shard's write
/// buffers and the sockets' queues that the next delivery has to reach past.
pub const OUTBOUND_INFLIGHT_SHARD_BUDGET_DEFAULT: usize = 128 * 1024;

/// Outbound QoS 1/2 PUBLISHes in flight that a client may always have,
/// whatever the shard's budget: its acknowledgements are what bring the next
/// ones, so no client waits on the others'.
pub const OUTBOUND_INFLIGHT_GUARANTEED: usize = 32;

/// Our Topic Alias Maximum: inbound aliases a client may define per connection.
pub const TOPIC_ALIAS_MAXIMUM_DEFAULT: u16 = 64;

/// Outbound topic aliases we assign per connection, at most (the client's Topic
/// Alias Maximum may lower it): each one keeps a topic name per connection.
pub const OUTBOUND_TOPIC_ALIAS_MAX_DEFAULT: u16 = 64;

/// Messages queued for one session while its client is offline or stuck (see
/// [`DELIVERY_BUDGET_BYTES_DEFAULT`] for a connected one), as Mosquitto's
/// `max_queued_messages`.
pub const QUEUED_MESSAGES_MAX_DEFAULT: usize = 1000;

/// Bytes queued for one session (payload, topic name and variable-length
/// properties of each message; see `session::queue`) while its client is offline
/// or stuck. At least one message of the default maximum packet size fits.
pub const QUEUED_BYTES_MAX_DEFAULT: usize = 16 * 1024 * 1024;

/// Bytes one shard may hold queued for its connected subscribers (counted as
/// `session::queue` counts them: a payload shared by many subscribers counts
/// once for each) before its publishers are paused. Pausing starts at three
/// quarters of it ([`delivery_pause_at_bytes`]), leaving the last quarter for
/// what is already on its way (ring items, the packet being handled), and
/// lifts at half ([`delivery_resume_at_bytes`]). 256 MiB: a burst of a million
/// 64-byte deliveries fits without a pause, and two shards' worth is a small
/// part of a 24 GiB machine.
pub const DELIVERY_BUDGET_BYTES_DEFAULT: usize = 256 * 1024 * 1024;

/// Where publishers are paused for a shard's delivery budget of `budget_bytes`.
pub const fn delivery_pause_at_bytes(budget_bytes: usize) -> usize {
    budget_bytes / 4 * 3
}

/// Where paused publishers resume for a delivery budget of `budget_bytes`.
pub const fn delivery_resume_at_bytes(budget_bytes: usize) -> usize {
    budget_bytes / 2
}

/// Time a connected subscriber with messages waiting may make no progress
/// (write nothing to its socket) before it is treated as stuck, ms. The pause a
/// stuck subscriber can cause publishers is this plus one connection sweep, and
/// client libraries give up on a write blocked for 5 s (rumqttc's default), so
/// it stays well under that; it is still longer than TCP's first two
/// retransmission timeouts (1 s, then 2 s more) that a healthy client may hit.
pub const SLOW_SUBSCRIBER_TIMEOUT_MS_DEFAULT: u64 = 3_000;

/// Time a closing connection has to write its last packets before its socket
/// is shut down whatever is left: a client that stopped reading never takes
/// them, ms.
pub const CLOSE_FLUSH_MS: u64 = 2_000;

/// Bytes a closing connection reads and drops, once its last packets are
/// written and its socket half-closed, while waiting for the client to
/// close too (so that the goodbye is not lost to a reset); past it the
/// socket is closed at once.
pub const CLOSE_DRAIN_BYTES_MAX: usize = 1 << 20;

/// Slots an emptied (or mostly expired) session queue keeps allocated; a larger
/// allocation left by a burst or an absence is released.
pub const QUEUE_CAPACITY_KEEP_MAX: usize = 16;

/// Period at which each shard removes expired messages from the queues of its
/// sessions, ms. Queues also drop expired messages whenever they are touched.
pub const QUEUE_PURGE_INTERVAL_MS: u64 = 1_000;

/// Subscriptions one session may hold.
pub const SUBSCRIPTIONS_PER_SESSION_MAX_DEFAULT: usize = 1024;

/// Longest Session Expiry Interval we grant, seconds (7 days); also the lifetime of a
/// 3.1.1 session with Clean Session 0, which asks for "never".
pub const SESSION_EXPIRY_INTERVAL_MAX_S_DEFAULT: u32 = 7 * 24 * 3600;

/// Longest Keep Alive we accept, seconds; a longer one is lowered (v5 tells the client
/// with Server Keep Alive).
pub const KEEP_ALIVE_MAX_S_DEFAULT: u16 = u16::MAX;

/// The longest client identifier MQTT 3.1 allows, characters (3.1, CONNECT payload).
pub const CLIENT_ID_V3_1_MAX_CHARS: usize = 23;

const _: () = assert!(RECEIVE_MAXIMUM_DEFAULT > 0);
const _: () = assert!(OUTBOUND_INFLIGHT_MAX_DEFAULT > 0);
const _: () = assert!(QUEUED_MESSAGES_MAX_DEFAULT > 0);
const _: () = assert!(QUEUED_BYTES_MAX_DEFAULT >= MAXIMUM_PACKET_SIZE_DEFAULT as usize);
const _: () = assert!(QUEUE_CAPACITY_KEEP_MAX > 0);
const _: () = assert!(
    delivery_resume_at_bytes(DELIVERY_BUDGET_BYTES_DEFAULT)
        < delivery_pause_at_bytes(DELIVERY_BUDGET_BYTES_DEFAULT)
);
const _: () = assert!(SLOW_SUBSCRIBER_TIMEOUT_MS_DEFAULT > CONNECTION_SWEEP_MS);
const _: () = assert!(QUEUE_PURGE_INTERVAL_MS > 0);

/// Longest topic name or topic filter accepted, bytes. The wire allows 65,535
/// [MQTT-4.7.3-3]; accepting all of it keeps every conforming client working,
/// and the memory a session can pin with long filters is bounded by its
/// subscription count and the maximum packet size instead.
pub const TOPIC_LENGTH_MAX: usize = 65_535;

/// Most levels (`/`-separated parts) in a topic name or filter that any
/// configuration accepts: the hard bound of `max_topic_levels`. It bounds the
/// depth of the subscription trie, hence the recursion of a match, an insert
/// and a removal: a few hundred bytes of stack per level in a debug build,
/// and the trie's tests run a trie this deep on 1 MiB, half a shard thread's
/// stack. The trie and the retained store hold every filter to it, not to
/// `max_topic_levels`: what a session accepted under any configuration (a
/// subscription restored from a snapshot taken under a higher bound, or
/// replicated from another shard) must fit there.
pub const TOPIC_LEVELS_MAX: usize = 1024;

/// Default of `max_topic_levels`, the levels a client's topic names and
/// filters may have. 201: Mosquitto's `TOPIC_HIERARCHY_LIMIT` of 200 counts
/// the `/` separators, so the deepest topic it accepts has 201 levels; a
/// client that works with Mosquitto works here.
pub const TOPIC_LEVELS_MAX_DEFAULT: usize = 201;

const _: () = assert!(TOPIC_LENGTH_MAX <= u16::MAX as usize);
// A topic of `TOPIC_LENGTH_MAX` bytes has at most this many levels (all of
// them empty but separated); a larger bound would bound nothing.
const _: () = assert!(TOPIC_LEVELS_MAX >= 1 && TOPIC_LEVELS_MAX <= TOPIC_LENGTH_MAX / 2 + 1);
const _: () =
    assert!(TOPIC_LEVELS_MAX_DEFAULT >= 1 && TOPIC_LEVELS_MAX_DEFAULT <= TOPIC_LEVELS_MAX);

/// Most shards (threads) a broker runs, hence the width of the per-filter
/// shard bitset in the subscription trie.
pub const SHARDS_MAX: usize = 256;

const _: () = assert!(SHARDS_MAX > 0 && SHARDS_MAX % 64 == 0);

/// Capacity of one cross-shard SPSC ring, messages.
pub const RING_CAPACITY: usize = 1024;

/// Messages a shard queues locally per destination shard once that ring is full.
/// Publishes take at most [`RING_OUTBOX_PUBLISH_MAX`] of it; the rest is kept
/// for replication messages (subscription changes, barriers, hand-offs).
pub const RING_OUTBOX_MAX: usize = 4096;

/// Outbox depth at which a shard is congested: its publishers stop before
/// their next packet, its timers and hand-offs wait, and no publish is queued
/// past it.
pub const RING_OUTBOX_PUBLISH_MAX: usize = RING_OUTBOX_MAX / 2;

/// Messages a shard takes from one inbound ring before it lets its other tasks
/// (the writers of the subscribers it delivered to) run.
pub const RING_RECEIVE_BATCH_MAX: usize = 16;

/// Local deliveries of a message from another shard from which the receiving
/// shard copies it first (see `Message::detached`): below, the copy's
/// allocations cost more than sharing the sender's reference counts.
pub const DETACH_DELIVERIES_MIN: usize = 4;

/// Connections one shard accepts per listener before yielding to other work.
pub const ACCEPT_BATCH_MAX: usize = 64;

/// How long an accept loop waits before trying again when accepting failed
/// (e.g. out of file descriptors) or its listeners cannot be watched, ms.
pub const ACCEPT_IDLE_POLL_MS: u64 = 2;

/// Listen backlog of each shard's listening socket: connections the kernel
/// completes and holds while the shard is busy. A burst of thousands a second
/// overflowed 1,024 within a few hundred milliseconds of a busy shard, and the
/// clients then waited out SYN retransmits (one second, then three). The
/// kernel lowers it to `net.core.somaxconn`.
pub const LISTEN_BACKLOG: i32 = 4096;

/// Connections one shard holds at once; further accepts are closed at once.
pub const CONNECTIONS_PER_SHARD_MAX: usize = 100_000;

/// Time a new connection has to complete CONNECT before it is closed, ms.
pub const CONNECT_TIMEOUT_MS: u64 = 10_000;

/// Bytes requested from the socket per read.
pub const READ_CHUNK_SIZE: usize = 16 * 1024;

/// A read or write buffer that is empty and holds more than this is released, bytes.
pub const IDLE_BUFFER_KEEP_MAX: usize = 4 * 1024;

/// Payload bytes one connection may have queued for writing; past it, QoS 0
/// deliveries to that connection are dropped and counted.
pub const OUTBOUND_BYTES_MAX: usize = 1024 * 1024;

/// Packets one connection may have waiting to be written beyond its current
/// batch before the broker stops reading from it: a client that sends without
/// reading what it is sent (a publisher flooding without reading its PUBACKs)
/// is slowed by TCP instead of growing its queue without end.
pub const OUTBOUND_PACKETS_READ_PAUSE: usize = 8 * 1024;

/// Bytes a connection paused at a PUBLISH (see `DELIVERY_BUDGET_BYTES_DEFAULT`)
/// may still read ahead of it while the client owes acknowledgements for
/// messages it was sent, to find them: a client that publishes and subscribes
/// must still be able to acknowledge what it receives, or its own backlog would
/// never drain. Its acknowledgements lie behind at most its own window of
/// PUBLISHes (128 under 5.0, our Receive Maximum; a hundred or so in 3.1.1
/// clients), 1 MiB covers that window of 8 KiB messages. The same bound as the
/// output waiting for one connection.
pub const PAUSED_READ_AHEAD_BYTES: usize = 1024 * 1024;

/// Read-and-write turns a connection's task takes per wake-up before it lets
/// the shard's other tasks run, so a client that never stops sending cannot
/// hold its shard.
pub const CONNECTION_TURNS_PER_POLL: usize = 16;

/// Bytes the writer encodes before it writes them out; a longer queue goes out
/// in several writes, so the write buffer stays this size whatever the backlog.
pub const WRITE_BATCH_BYTES: usize = 64 * 1024;

/// Bytes of unsent TLS records (and of plaintext written before the
/// handshake ends) one TLS connection's rustls state may hold; a sealed batch
/// is fed to it in pieces of at most this and each piece taken out at once.
pub const TLS_BUFFER_LIMIT_BYTES: usize = 64 * 1024;

/// Time every shard has to start and connect its rings, ms.
pub const SHARD_START_TIMEOUT_MS: u64 = 10_000;

/// Depth of each of a shard's io_uring rings (glommio's default is 128).
/// The kernel sizes a ring's table of pending polls from it: 8 buckets at
/// 128, 256 at 4096. Every socket a shard waits on has a poll pending, and
/// the executor cancels a request each time it sleeps, which walks a bucket:
/// with 4,000 connections and 8 buckets that walk was a fifth of the broker's
/// CPU at 2,000 messages/s. The deeper rings cost about 1.4 MB per shard.
/// The default of the `io_ring_depth` setting.
pub const IO_RING_DEPTH: u32 = 4096;

/// The deepest ring io_uring creates.
pub const IO_RING_DEPTH_MAX: u32 = 32_768;

/// Shortest sleep of the per-shard tick that fires session timers, ms: timers
/// due within it fire together.
pub const TIMER_TICK_MS: u64 = 10;

/// Longest sleep of the per-shard tick, ms. The connection sweep
/// (`CONNECTION_SWEEP_MS`) comes due sooner anyway; a stop request wakes the
/// tick at once.
pub const TIMER_TICK_IDLE_MS: u64 = 1_000;

/// Period of the per-shard sweep over its connections, ms: keep-alive
/// deadlines are checked (a keep-alive expires up to this late) and idle
/// connections asked to park.
pub const CONNECTION_SWEEP_MS: u64 = 500;

/// Timers one tick fires at most; the rest fire on the next tick, so a burst of
/// expiries never holds a shard for long.
pub const TIMER_FIRES_PER_TICK_MAX: usize = 10_000;

/// Timers one shard holds at once (will delay, session expiry).
pub const TIMERS_PER_SHARD_MAX: usize = 4 * CONNECTIONS_PER_SHARD_MAX;

/// Retained messages the broker keeps by default (`max_retained_messages`); a
/// new topic beyond it is not retained.
pub const RETAINED_MESSAGES_DEFAULT: usize = 1_000_000;

/// Bytes of retained topics and payloads the broker keeps by default
/// (`max_retained_bytes`): 1 GiB.
pub const RETAINED_BYTES_DEFAULT: usize = 1 << 30;

/// How long a shard remembers that a retained topic was cleared, so that an
/// older update of it still on a ring does not bring it back.
pub const RETAINED_CLEARED_KEEP_MS: u64 = 60_000;

/// Cleared retained topics a shard remembers at most; the oldest are
/// forgotten early beyond it.
pub const RETAINED_CLEARED_MAX: usize = 100_000;

/// Expired retained messages one shard removes per timer tick, at most; the
/// rest go on the next ticks.
pub const RETAINED_EXPIRIES_PER_TICK_MAX: usize = 1_000;

/// Time shutdown waits for connections to flush their last packets, ms.
pub const SHUTDOWN_FLUSH_MS: u64 = 2_000;

/// Default time after which an idle connection is parked, ms: long enough
/// that a client talking every few hundred milliseconds never is, short
/// enough that a burst of connections settles before the next one.
pub const IDLE_PARK_MS_DEFAULT: u64 = 1_000;

/// Default count of unparked connections per shard past which a new
/// connection that sends nothing after its CONNACK is parked at once: far
/// above what a shard's busy clients need at a time, far below a storm of
/// reconnects, whose tasks and streams (about 800 B each) would otherwise
/// all be alive together before the first of them parks.
pub const PARK_NEW_CONNECTIONS_ABOVE_DEFAULT: usize = 1_024;

/// Stack of a shard's parking watcher thread, which only waits in
/// `epoll_wait` and writes ids, bytes.
pub const PARK_WATCHER_STACK_BYTES: usize = 64 * 1024;

const _: () = assert!(RING_CAPACITY > 0 && RING_OUTBOX_MAX >= RING_CAPACITY);
const _: () = assert!(RING_OUTBOX_PUBLISH_MAX > 0 && RING_OUTBOX_PUBLISH_MAX < RING_OUTBOX_MAX);
const _: () = assert!(RING_RECEIVE_BATCH_MAX > 0 && RING_RECEIVE_BATCH_MAX <= RING_CAPACITY);
const _: () = assert!(IDLE_BUFFER_KEEP_MAX <= READ_CHUNK_SIZE);
const _: () = assert!(PAUSED_READ_AHEAD_BYTES >= READ_CHUNK_SIZE);
const _: () = assert!(MAXIMUM_PACKET_SIZE_DEFAULT as usize <= OUTBOUND_BYTES_MAX);

/// Longest journal record, bytes (kind byte and body): a message of the largest
/// packet size with room for its delivery targets. A longer length read back is
/// corruption, so a reader never trusts it.
pub const JOURNAL_RECORD_MAX: usize = 16 * 1024 * 1024;

/// Bytes of delivery targets one journal record holds, about; a message with
/// more is journaled as several records (the message itself is at most
/// `OUTBOUND_BYTES_MAX`, so a record stays within `JOURNAL_RECORD_MAX`).
pub const JOURNAL_TARGETS_BYTES_MAX: usize = JOURNAL_RECORD_MAX / 4;

const _: () = assert!(JOURNAL_RECORD_MAX >= 2 * MAXIMUM_PACKET_SIZE_DEFAULT as usize);
const _: () = assert!(JOURNAL_TARGETS_BYTES_MAX + 2 * OUTBOUND_BYTES_MAX < JOURNAL_RECORD_MAX);
const _: () = assert!(JOURNAL_RECORD_MAX <= u32::MAX as usize);

/// Default time between two snapshots of a shard, seconds.
pub const SNAPSHOT_INTERVAL_S_DEFAULT: u64 = 300;

/// Default period of the journal fsync in `fsync = "interval"` mode, ms.
pub const FSYNC_INTERVAL_MS_DEFAULT: u64 = 1_000;

/// Bytes of journal records gathered into one write; records beyond it start the
/// next batch, so one write (and the memory it pins) stays bounded.
pub const JOURNAL_BATCH_BYTES_MAX: usize = 4 * 1024 * 1024;

const _: () = assert!(JOURNAL_BATCH_BYTES_MAX >= 64 * 1024);

/// Bytes of a WebSocket upgrade request (request line and header block) a
/// listener reads before refusing it with `431`: room for a browser's usual
/// headers and some cookies.
pub const WS_HANDSHAKE_BYTES_MAX: usize = 8 * 1024;

/// Headers a WebSocket upgrade request may carry; more are refused with `431`.
pub const WS_HANDSHAKE_HEADERS_MAX: usize = 64;

/// Bytes a WebSocket data frame may carry beyond the broker's maximum packet
/// size: a client may put a few small packets in the frame of a large one.
pub const WS_FRAME_PAYLOAD_ALLOWANCE: usize = 4 * 1024;

const _: () = assert!(WS_HANDSHAKE_BYTES_MAX >= 1024 && WS_HANDSHAKE_BYTES_MAX <= READ_CHUNK_SIZE);

/// PBKDF2-HMAC-SHA512 iterations of a password entry written by `shardmq
/// passwd`: OWASP's current guidance for PBKDF2-HMAC-SHA512 (210,000), far
/// above `mosquitto_passwd`'s default of 101, which Mosquitto reads the same.
pub const PASSWORD_ITERATIONS_DEFAULT: u32 = 210_000;

/// Most PBKDF2 iterations a password file entry may ask for: one entry must
/// not hold a blocking-pool thread for minutes per CONNECT.
pub const PASSWORD_ITERATIONS_MAX: u32 = 10_000_000;

/// Bytes of salt in a password entry written by `shardmq passwd`: what
/// `mosquitto_passwd` writes, and one of the two lengths Mosquitto reads.
pub const PASSWORD_SALT_BYTES: usize = 12;

/// Failed authentications one source address may make per second before
/// its next CONNECTs are refused without a password check.
pub const AUTH_FAILURES_PER_SECOND_MAX: u32 = 5;

/// Source addresses a shard tracks failed authentications for; past it the
/// oldest window is forgotten first.
pub const AUTH_FAILURE_SOURCES_MAX: usize = 4_096;

const _: () = assert!(PASSWORD_ITERATIONS_DEFAULT <= PASSWORD_ITERATIONS_MAX);
