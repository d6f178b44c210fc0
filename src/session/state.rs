//! The plain data a session is made of: what outlives a connection (and is
//! snapshotted) and what lives only as long as one connection.
//!
//! No `Rc`, `RefCell` or handles in here: a session is moved between connections
//! (resume, takeover) and written to snapshots as it is.

use bytestring::ByteString;
use std::collections::{HashMap, HashSet};
use std::hash::BuildHasherDefault;

use super::alias::{InboundTopicAliases, OutboundTopicAliases};
use super::inflight::OutboundInflight;
use super::queue::OutboundQueue;
use crate::counter::Counter;
use crate::protocol::{LastWill, PacketId, ProtocolVersion, SubscriptionOptions};

/// A map with the fast (non-cryptographic) hasher; plain `std` types so snapshot
/// derives apply. Keys are bounded by config, so hash flooding costs little.
/// The hasher is built from ahash's per-process random keys rather than stored
/// per map: a session holds four of these, and a stored `RandomState` is 32
/// bytes each.
pub(crate) type FastMap<K, V> = HashMap<K, V, FastHasher>;

/// A set with the fast hasher, as [`FastMap`].
pub(crate) type FastSet<T> = HashSet<T, FastHasher>;

/// What [`FastMap`] and [`FastSet`] hash with: zero-sized.
pub(crate) type FastHasher = BuildHasherDefault<ahash::AHasher>;

/// Counters of messages a session dropped instead of delivering.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// QoS 0 messages dropped because the queue was full (the arriving one, or a
    /// queued one evicted under [`QueueFullPolicy::DropOldest`](super::QueueFullPolicy)).
    pub dropped_qos0: u64,
    /// QoS 1/2 messages dropped because the queue was full, counted as `dropped_qos0`.
    pub dropped_queue_full: u64,
    /// Messages dropped because they exceeded the client's Maximum Packet Size.
    pub dropped_too_large: u64,
    /// Messages dropped because they expired before delivery started: on arrival,
    /// in the queue, or in flight while the client was away.
    pub dropped_expired: u64,
    /// QoS 0 messages not queued because the client was offline, or dropped from
    /// the queue when its connection ended, while
    /// [`SessionConfig::queue_qos0`](super::SessionConfig::queue_qos0) is off.
    pub dropped_qos0_offline: u64,
}

impl std::ops::Add for SessionStats {
    type Output = SessionStats;

    /// The counts of both, reason by reason.
    fn add(self, other: SessionStats) -> SessionStats {
        SessionStats {
            dropped_qos0: self.dropped_qos0 + other.dropped_qos0,
            dropped_queue_full: self.dropped_queue_full + other.dropped_queue_full,
            dropped_too_large: self.dropped_too_large + other.dropped_too_large,
            dropped_expired: self.dropped_expired + other.dropped_expired,
            dropped_qos0_offline: self.dropped_qos0_offline + other.dropped_qos0_offline,
        }
    }
}

/// Picks one of the [`SessionStats`] counters.
pub(crate) type DropField = fn(&mut SessionStats) -> &mut u64;

/// The messages dropped by every session counting on it (a shard's, through
/// [`SessionMeters::drop_tally`](super::SessionMeters::drop_tally)): what an
/// operator reads to learn that a bound was reached.
///
/// Its counters are [`Counter`]s, written from the one thread its sessions
/// run on: under overload a drop may come with every delivery, and a
/// read-modify-write shared by shards would bounce its cache line between
/// cores right then. Any thread may read it. It is aligned to cache lines of
/// its own (two, as adjacent-line prefetch pairs them), so that the tallies
/// of two shards, when made side by side, never share one.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct DropTally {
    dropped_qos0: Counter,
    dropped_queue_full: Counter,
    dropped_too_large: Counter,
    dropped_expired: Counter,
    dropped_qos0_offline: Counter,
}

impl DropTally {
    /// The counts so far.
    pub fn get(&self) -> SessionStats {
        SessionStats {
            dropped_qos0: self.dropped_qos0.get(),
            dropped_queue_full: self.dropped_queue_full.get(),
            dropped_too_large: self.dropped_too_large.get(),
            dropped_expired: self.dropped_expired.get(),
            dropped_qos0_offline: self.dropped_qos0_offline.get(),
        }
    }

    /// Adds `count` to the counter `field` picks.
    fn add(&self, count: u64, field: DropField) {
        let mut added = SessionStats::default();
        *field(&mut added) = count;
        self.dropped_qos0.add(added.dropped_qos0);
        self.dropped_queue_full.add(added.dropped_queue_full);
        self.dropped_too_large.add(added.dropped_too_large);
        self.dropped_expired.add(added.dropped_expired);
        self.dropped_qos0_offline.add(added.dropped_qos0_offline);
    }
}

/// A session's [`SessionStats`], boxed on the first drop: most sessions
/// never drop anything, and the counters would be a seventh of a session.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct DropCounters(Option<Box<SessionStats>>);

impl DropCounters {
    /// The counters, all 0 until something was dropped.
    pub(crate) fn get(&self) -> SessionStats {
        self.0.as_deref().copied().unwrap_or_default()
    }

    /// Adds `count` to the counter `field` picks, here and on `tally`;
    /// nothing is boxed for 0.
    pub(crate) fn add(&mut self, count: u64, field: DropField, tally: &DropTally) {
        if count > 0 {
            *field(self.0.get_or_insert_with(Box::default)) += count;
            tally.add(count, field);
        }
    }
}

impl From<SessionStats> for DropCounters {
    fn from(stats: SessionStats) -> DropCounters {
        let mut counters = DropCounters::default();
        if stats != SessionStats::default() {
            counters.0 = Some(Box::new(stats));
        }
        counters
    }
}

/// One subscription of the session, keyed by its filter in [`SessionState`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SubscriptionRecord {
    /// The options, with the granted QoS.
    pub(crate) options: SubscriptionOptions,
    /// The v5 Subscription Identifier.
    pub(crate) subscription_identifier: Option<u32>,
}

/// Everything that outlives a connection: what a snapshot holds.
#[derive(Clone, Debug)]
pub(crate) struct SessionState {
    /// The client identifier, assigned by the server when the client sent none.
    pub(crate) client_id: ByteString,
    /// Protocol level of the latest connection.
    pub(crate) protocol_version: ProtocolVersion,
    /// Session Expiry Interval in force, seconds; `u32::MAX` never expires.
    pub(crate) session_expiry_interval_s: u32,
    /// The subscriptions, by filter as the client sent it.
    pub(crate) subscriptions: FastMap<ByteString, SubscriptionRecord>,
    /// Outbound QoS 1/2 flows not yet complete.
    pub(crate) inflight: OutboundInflight,
    /// Messages waiting for room in the inflight window, or for the client to return.
    pub(crate) queue: OutboundQueue,
    /// Inbound QoS 2 packet ids answered with PUBREC and awaiting PUBREL.
    pub(crate) awaiting_pubrel: FastSet<PacketId>,
    /// The will of the latest connection, until published or discarded. Boxed:
    /// most sessions have none, and the inline form would be a third of a
    /// session's size.
    pub(crate) will: Option<Box<LastWill>>,
    /// When the will is due, once its connection ended abnormally.
    pub(crate) will_at_ms: Option<u64>,
    /// When the session ends, while no connection is attached.
    pub(crate) expires_at_ms: Option<u64>,
    /// Drop counters.
    pub(crate) stats: DropCounters,
}

/// What lives as long as one network connection.
#[derive(Clone, Debug)]
pub(crate) struct ConnectionState {
    /// 1.5 times the Keep Alive in force, ms; 0 when keep-alive is off.
    pub(crate) keep_alive_timeout_ms: u64,
    /// When the latest packet arrived.
    pub(crate) last_packet_ms: u64,
    /// The client's Receive Maximum.
    pub(crate) client_receive_maximum: u16,
    /// The client's Maximum Packet Size, bytes.
    pub(crate) client_maximum_packet_size: u32,
    /// Aliases the client defined.
    pub(crate) inbound_aliases: InboundTopicAliases,
    /// Aliases we assigned.
    pub(crate) outbound_aliases: OutboundTopicAliases,
    /// The runtime reported the client making no progress (see
    /// [`Session::subscriber_stalled`](super::Session::subscriber_stalled)).
    pub(crate) stalled: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_counters_box_only_once_something_is_dropped() {
        let tally = DropTally::default();
        let mut counters = DropCounters::from(SessionStats::default());
        counters.add(0, |stats| &mut stats.dropped_expired, &tally);
        assert!(counters.0.is_none());
        assert_eq!(counters.get(), SessionStats::default());
        counters.add(2, |stats| &mut stats.dropped_expired, &tally);
        counters.add(1, |stats| &mut stats.dropped_qos0, &tally);
        let stats = counters.get();
        assert_eq!((stats.dropped_expired, stats.dropped_qos0), (2, 1));
        assert_eq!(DropCounters::from(stats), counters);
    }

    #[test]
    fn the_tally_adds_up_the_drops_of_every_session_counting_on_it() {
        let tally = DropTally::default();
        let mut first = DropCounters::default();
        let mut second = DropCounters::from(SessionStats {
            dropped_expired: 7,
            ..SessionStats::default()
        });
        first.add(2, |stats| &mut stats.dropped_queue_full, &tally);
        second.add(1, |stats| &mut stats.dropped_queue_full, &tally);
        second.add(3, |stats| &mut stats.dropped_too_large, &tally);
        first.add(4, |stats| &mut stats.dropped_qos0_offline, &tally);
        second.add(5, |stats| &mut stats.dropped_qos0, &tally);
        first.add(6, |stats| &mut stats.dropped_expired, &tally);
        // The tally counts from when it was made; a session's counters
        // keep what it dropped before (a restored session's).
        assert_eq!(
            tally.get(),
            SessionStats {
                dropped_qos0: 5,
                dropped_queue_full: 3,
                dropped_too_large: 3,
                dropped_expired: 6,
                dropped_qos0_offline: 4,
            }
        );
        assert_eq!(second.get().dropped_expired, 7);
    }
}
