//! Broker-wide counters, readable from any thread through the handle.
//!
//! Only per-connection events and rare per-message events (drops) are counted
//! here, so the atomics stay off the per-message hot path.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use shardmq::session::{DropTally, SessionStats};

/// Counters shared by every shard.
#[derive(Debug, Default)]
pub struct BrokerStats {
    connections_accepted: AtomicU64,
    connections_refused: AtomicU64,
    handoffs: AtomicU64,
    qos0_dropped: AtomicU64,
    malformed_packets: AtomicU64,
    parks: AtomicU64,
    unparks: AtomicU64,
    publisher_pauses: AtomicU64,
    publishing_paused_ms: AtomicU64,
    stalled_subscribers: AtomicU64,
    stalled_subscribers_disconnected: AtomicU64,
    sys_publishes_refused: AtomicU64,
    /// What the sessions dropped (full queues, expiry, size, offline QoS 0),
    /// counted by the sessions themselves on one tally per shard. The
    /// drops a lowered queue bound makes while sessions are restored at
    /// start-up stay in those sessions' own counters.
    session_drops: Mutex<Vec<Arc<DropTally>>>,
}

/// A point-in-time copy of [`BrokerStats`].
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
    /// Messages the sessions dropped instead of delivering, by reason: a
    /// full queue (QoS 0 and QoS 1/2 apart), expiry, the client's Maximum
    /// Packet Size, QoS 0 for an offline client.
    pub session_drops: SessionStats,
}

/// The tallies, even if a thread panicked holding them: they are counters.
fn lock(tallies: &Mutex<Vec<Arc<DropTally>>>) -> MutexGuard<'_, Vec<Arc<DropTally>>> {
    tallies
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl BrokerStats {
    /// One more accepted connection.
    pub fn connection_accepted(&self) {
        bump(&self.connections_accepted);
    }

    /// One more connection refused for capacity.
    pub fn connection_refused(&self) {
        bump(&self.connections_refused);
    }

    /// One more hand-off to a home shard.
    pub fn handoff(&self) {
        bump(&self.handoffs);
    }

    /// `count` more QoS 0 deliveries dropped.
    pub fn qos0_dropped(&self, count: u64) {
        self.qos0_dropped.fetch_add(count, Ordering::Relaxed);
    }

    /// One more connection closed for a bad packet.
    pub fn malformed_packet(&self) {
        bump(&self.malformed_packets);
    }

    /// One more connection parked.
    pub fn connection_parked(&self) {
        bump(&self.parks);
    }

    /// One more parked connection back.
    pub fn connection_unparked(&self) {
        bump(&self.unparks);
    }

    /// One more publisher paused at a PUBLISH.
    pub fn publisher_paused(&self) {
        bump(&self.publisher_pauses);
    }

    /// A shard's publishing resumed after `paused_ms`.
    pub fn publishing_resumed(&self, paused_ms: u64) {
        self.publishing_paused_ms
            .fetch_add(paused_ms, Ordering::Relaxed);
    }

    /// One more stalled subscriber, disconnected or not.
    pub fn subscriber_stalled(&self, disconnected: bool) {
        bump(&self.stalled_subscribers);
        if disconnected {
            bump(&self.stalled_subscribers_disconnected);
        }
    }

    /// One more PUBLISH to `$SYS` refused.
    pub fn sys_publish_refused(&self) {
        bump(&self.sys_publishes_refused);
    }

    /// A new tally for the sessions of one shard to count their drops on,
    /// added into every snapshot from now on.
    pub fn session_drops(&self) -> Arc<DropTally> {
        let tally = Arc::new(DropTally::default());
        lock(&self.session_drops).push(Arc::clone(&tally));
        tally
    }

    fn session_drops_total(&self) -> SessionStats {
        lock(&self.session_drops)
            .iter()
            .map(|tally| tally.get())
            .fold(SessionStats::default(), |sum, drops| sum + drops)
    }

    /// The current values.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            connections_accepted: self.connections_accepted.load(Ordering::Relaxed),
            connections_refused: self.connections_refused.load(Ordering::Relaxed),
            handoffs: self.handoffs.load(Ordering::Relaxed),
            qos0_dropped: self.qos0_dropped.load(Ordering::Relaxed),
            malformed_packets: self.malformed_packets.load(Ordering::Relaxed),
            parks: self.parks.load(Ordering::Relaxed),
            unparks: self.unparks.load(Ordering::Relaxed),
            publisher_pauses: self.publisher_pauses.load(Ordering::Relaxed),
            publishing_paused_ms: self.publishing_paused_ms.load(Ordering::Relaxed),
            stalled_subscribers: self.stalled_subscribers.load(Ordering::Relaxed),
            stalled_subscribers_disconnected: self
                .stalled_subscribers_disconnected
                .load(Ordering::Relaxed),
            sys_publishes_refused: self.sys_publishes_refused.load(Ordering::Relaxed),
            session_drops: self.session_drops_total(),
        }
    }
}
