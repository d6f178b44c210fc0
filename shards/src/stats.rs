//! The broker's counters: one set per shard, summed by whoever reads them.
//!
//! Every count is a [`Counter`] in a shard's [`ShardCounters`] (the sessions'
//! drops in its [`DropTally`]), written only by that shard's thread, with a
//! relaxed load and a store. The broker registers each shard's set in
//! [`BrokerStats`] when it starts the shard, and a reader on any thread (the
//! stop log, a metrics endpoint, a test) sums them or lists them per shard on
//! demand. Nothing is read-modify-written across cores: a `fetch_add` on a
//! broker-wide counter would cost a full barrier per event and bounce its
//! cache line between every core counting at once, which under overload, when
//! a drop may come with every delivery, is exactly when the counts matter;
//! the one lock, around the list of sets, is taken only to register and read.

use std::sync::{Arc, Mutex, MutexGuard};

use shardmq::counter::Counter;
use shardmq::session::{AclDenials, DropTally, SessionStats};

/// The registry of every shard's counters.
#[derive(Debug, Default)]
pub struct BrokerStats {
    /// By shard index: the broker registers the shards in order.
    shards: Mutex<Vec<Arc<ShardCounters>>>,
}

/// What one shard counts, written by that shard's thread alone: its
/// connections, sessions and mesh add to these where the event happens.
///
/// Aligned to its own cache lines (two, as adjacent-line prefetch pairs
/// them): the sets are made on one thread, side by side, and two shards
/// writing one line would bounce it between their cores.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct ShardCounters {
    /// [`StatsSnapshot::connections_accepted`]
    pub connections_accepted: Counter,
    /// [`StatsSnapshot::connections_refused`]
    pub connections_refused: Counter,
    /// [`StatsSnapshot::handoffs`]
    pub handoffs: Counter,
    /// [`StatsSnapshot::qos0_dropped`]
    pub qos0_dropped: Counter,
    /// [`StatsSnapshot::malformed_packets`]
    pub malformed_packets: Counter,
    /// [`StatsSnapshot::parks`]
    pub parks: Counter,
    /// [`StatsSnapshot::unparks`]
    pub unparks: Counter,
    /// [`StatsSnapshot::publisher_pauses`]
    pub publisher_pauses: Counter,
    /// [`StatsSnapshot::publishing_paused_ms`]
    pub publishing_paused_ms: Counter,
    /// [`StatsSnapshot::stalled_subscribers`]
    pub stalled_subscribers: Counter,
    /// [`StatsSnapshot::stalled_subscribers_disconnected`]
    pub stalled_subscribers_disconnected: Counter,
    /// [`StatsSnapshot::sys_publishes_refused`]
    pub sys_publishes_refused: Counter,
    /// [`StatsSnapshot::ring_items_dropped`]
    pub ring_items_dropped: Counter,
    /// [`StatsSnapshot::ring_publishes_dropped`]
    pub ring_publishes_dropped: Counter,
    /// [`StatsSnapshot::ring_messages_over_capacity`]
    pub ring_messages_over_capacity: Counter,
    /// [`StatsSnapshot::connections_refused_by_limit`]
    pub connections_refused_by_limit: Counter,
    /// [`StatsSnapshot::tls_handshakes`]
    pub tls_handshakes: Counter,
    /// [`StatsSnapshot::tls_handshakes_failed`]
    pub tls_handshakes_failed: Counter,
    /// [`StatsSnapshot::auth_succeeded`]
    pub auth_succeeded: Counter,
    /// [`StatsSnapshot::auth_failed`]
    pub auth_failed: Counter,
    /// [`StatsSnapshot::auth_throttled`]
    pub auth_throttled: Counter,
    /// [`StatsSnapshot::takeovers_refused`]
    pub takeovers_refused: Counter,
    /// What the ACL refused the shard's sessions, counted by the sessions.
    acl_denials: Arc<AclDenials>,
    /// What the shard's sessions dropped (full queues, expiry, size, offline
    /// QoS 0), counted by the sessions themselves. The drops a lowered
    /// queue bound makes while sessions are restored at start-up stay in
    /// those sessions' own counters.
    session_drops: Arc<DropTally>,
}

/// A point-in-time copy of the counters: one shard's, or their sum.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// TCP connections accepted.
    pub connections_accepted: u64,
    /// Connections closed at accept because the shard was full.
    pub connections_refused: u64,
    /// Connections moved to their home shard after CONNECT.
    pub handoffs: u64,
    /// QoS 0 deliveries dropped because the subscriber's outbound buffer was full.
    pub qos0_dropped: u64,
    /// Connections closed for a malformed or oversized packet.
    pub malformed_packets: u64,
    /// Times an idle connection was parked.
    pub parks: u64,
    /// Times a parked connection came back.
    pub unparks: u64,
    /// Times a publisher's connection stopped being read at a PUBLISH because
    /// a shard's delivery backlog was over its budget.
    pub publisher_pauses: u64,
    /// Time publishing was paused, summed over the shards, ms.
    pub publishing_paused_ms: u64,
    /// Connected subscribers found making no progress for
    /// `slow_subscriber_timeout_ms` with messages waiting.
    pub stalled_subscribers: u64,
    /// Of those, the ones disconnected (`slow_subscriber_action = "disconnect"`).
    pub stalled_subscribers_disconnected: u64,
    /// PUBLISHes from clients to `$SYS` topics, dropped (QoS 1 and 2
    /// acknowledged, with 0x90 under 5.0): `$SYS` belongs to the broker.
    pub sys_publishes_refused: u64,
    /// Items for another shard dropped because that shard had already
    /// stopped (at shutdown).
    pub ring_items_dropped: u64,
    /// Publishes for another shard dropped at a full outbox: a path that
    /// should have waited for the mesh's congestion to clear did not.
    pub ring_publishes_dropped: u64,
    /// Replication messages (subscription changes, barriers, hand-offs)
    /// queued past `limits::RING_OUTBOX_MAX`.
    pub ring_messages_over_capacity: u64,
    /// Connections closed at accept because their listener had its
    /// `max_connections` open.
    pub connections_refused_by_limit: u64,
    /// TLS handshakes completed.
    pub tls_handshakes: u64,
    /// TLS connections that ended before their handshake completed (an
    /// alert, garbage, a refused certificate, the connect timeout, a close).
    pub tls_handshakes_failed: u64,
    /// Messages the sessions dropped instead of delivering, by reason: a
    /// full queue (QoS 0 and QoS 1/2 apart), expiry, the client's Maximum
    /// Packet Size, QoS 0 for an offline client.
    pub session_drops: SessionStats,
    /// CONNECTs the authenticator allowed.
    pub auth_succeeded: u64,
    /// CONNECTs the authenticator refused (wrong credentials, or anonymous
    /// where that is not allowed), throttled ones included.
    pub auth_failed: u64,
    /// Of those, refused without a check: their source address had failed
    /// too often in the last second.
    pub auth_throttled: u64,
    /// CONNECTs refused for taking over a session of another user.
    pub takeovers_refused: u64,
    /// SUBSCRIBE filters the ACL refused.
    pub acl_subscribe_denied: u64,
    /// PUBLISHes (and wills) the ACL refused.
    pub acl_publish_denied: u64,
    /// Messages not delivered because the subscriber may not read their topic.
    pub acl_read_denied: u64,
}

/// The list, even if a thread panicked holding it: it only ever grows.
fn lock(shards: &Mutex<Vec<Arc<ShardCounters>>>) -> MutexGuard<'_, Vec<Arc<ShardCounters>>> {
    shards
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl BrokerStats {
    /// A new set of counters for the next shard, read in every snapshot
    /// from now on.
    pub(crate) fn register_shard(&self) -> Arc<ShardCounters> {
        let counters = Arc::new(ShardCounters::default());
        lock(&self.shards).push(Arc::clone(&counters));
        counters
    }

    /// Each shard's counts, by shard index.
    pub fn per_shard(&self) -> Vec<StatsSnapshot> {
        lock(&self.shards)
            .iter()
            .map(|counters| counters.snapshot())
            .collect()
    }

    /// The counts summed over the shards.
    pub fn snapshot(&self) -> StatsSnapshot {
        let mut sum = StatsSnapshot::default();
        for counters in lock(&self.shards).iter() {
            counters.add_to(&mut sum);
        }
        sum
    }
}

impl ShardCounters {
    /// The tally the shard's sessions count their drops on.
    pub fn session_drops(&self) -> Arc<DropTally> {
        Arc::clone(&self.session_drops)
    }

    /// The counts the shard's sessions add ACL refusals to.
    pub fn acl_denials(&self) -> Arc<AclDenials> {
        Arc::clone(&self.acl_denials)
    }

    /// This shard's counts now.
    pub fn snapshot(&self) -> StatsSnapshot {
        let mut counts = StatsSnapshot::default();
        self.add_to(&mut counts);
        counts
    }

    /// Adds this shard's counts now to `sum`.
    fn add_to(&self, sum: &mut StatsSnapshot) {
        sum.connections_accepted += self.connections_accepted.get();
        sum.connections_refused += self.connections_refused.get();
        sum.handoffs += self.handoffs.get();
        sum.qos0_dropped += self.qos0_dropped.get();
        sum.malformed_packets += self.malformed_packets.get();
        sum.parks += self.parks.get();
        sum.unparks += self.unparks.get();
        sum.publisher_pauses += self.publisher_pauses.get();
        sum.publishing_paused_ms += self.publishing_paused_ms.get();
        sum.stalled_subscribers += self.stalled_subscribers.get();
        sum.stalled_subscribers_disconnected += self.stalled_subscribers_disconnected.get();
        sum.sys_publishes_refused += self.sys_publishes_refused.get();
        sum.ring_items_dropped += self.ring_items_dropped.get();
        sum.ring_publishes_dropped += self.ring_publishes_dropped.get();
        sum.ring_messages_over_capacity += self.ring_messages_over_capacity.get();
        sum.connections_refused_by_limit += self.connections_refused_by_limit.get();
        sum.tls_handshakes += self.tls_handshakes.get();
        sum.tls_handshakes_failed += self.tls_handshakes_failed.get();
        sum.session_drops = sum.session_drops + self.session_drops.get();
        sum.auth_succeeded += self.auth_succeeded.get();
        sum.auth_failed += self.auth_failed.get();
        sum.auth_throttled += self.auth_throttled.get();
        sum.takeovers_refused += self.takeovers_refused.get();
        sum.acl_subscribe_denied += self.acl_denials.subscribe.get();
        sum.acl_publish_denied += self.acl_denials.publish.get();
        sum.acl_read_denied += self.acl_denials.read.get();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two shards counting on threads of their own, as the broker runs them.
    fn two_shards_counted() -> BrokerStats {
        let stats = BrokerStats::default();
        let writers: Vec<_> = [3, 5]
            .into_iter()
            .map(|events| {
                let counters = stats.register_shard();
                std::thread::spawn(move || {
                    for _ in 0..events {
                        counters.connections_accepted.add(1);
                        counters.qos0_dropped.add(2);
                        counters.ring_publishes_dropped.add(1);
                    }
                    counters.stalled_subscribers.add(1);
                    counters
                        .stalled_subscribers_disconnected
                        .add(u64::from(events == 5));
                    counters.publishing_paused_ms.add(10 * events);
                })
            })
            .collect();
        for writer in writers {
            writer.join().unwrap();
        }
        stats
    }

    #[test]
    fn the_registry_sums_the_counters_of_every_shard() {
        assert_eq!(
            two_shards_counted().snapshot(),
            StatsSnapshot {
                connections_accepted: 8,
                qos0_dropped: 16,
                ring_publishes_dropped: 8,
                stalled_subscribers: 2,
                stalled_subscribers_disconnected: 1,
                publishing_paused_ms: 80,
                ..StatsSnapshot::default()
            }
        );
    }

    #[test]
    fn the_registry_lists_each_shards_counters_in_shard_order() {
        let per_shard = two_shards_counted().per_shard();
        let accepted: Vec<u64> = per_shard
            .iter()
            .map(|shard| shard.connections_accepted)
            .collect();
        assert_eq!(accepted, [3, 5]);
    }

    #[test]
    fn a_snapshot_carries_the_mesh_counts() {
        let stats = two_shards_counted();
        let counters = stats.register_shard();
        counters.ring_items_dropped.add(1);
        counters.ring_messages_over_capacity.add(1);
        counters.ring_messages_over_capacity.add(1);
        assert_eq!(
            counters.snapshot(),
            StatsSnapshot {
                ring_items_dropped: 1,
                ring_messages_over_capacity: 2,
                ..StatsSnapshot::default()
            }
        );
        let total = stats.snapshot();
        assert_eq!(
            (
                total.ring_items_dropped,
                total.ring_publishes_dropped,
                total.ring_messages_over_capacity
            ),
            (1, 8, 2)
        );
    }
}
