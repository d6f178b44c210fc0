//! The bounded queue of messages waiting for a session's inflight window, for its
//! congested connection to drain, or for its client to return: its two bounds, what
//! happens when it is full, and the removal of expired messages.
//!
//! Two bounds hold at all times: at most `max_queued_messages` entries and at most
//! `max_queued_bytes` bytes, counted with [`queued_bytes`]. The byte count is kept
//! exactly: added on every push, subtracted on every removal, so it always equals
//! the sum over the queue.
//!
//! A message that does not fit is handled by the [`QueueFullPolicy`]: the arriving
//! message is dropped, or the oldest queued ones are evicted to make room. Only
//! queued messages can be evicted: a message in flight (sent, awaiting its
//! acknowledgement) lives in the inflight window and is never touched here. A
//! message larger than `max_queued_bytes` on its own is always dropped, since
//! emptying the queue would not make room for it.
//!
//! Expired messages are removed lazily, whenever a push or a pop finds that one may
//! have expired, and by [`OutboundQueue::purge_expired`], which the runtime calls
//! periodically through [`Session::purge_expired`](super::Session::purge_expired).
//! The queue keeps a lower bound of its earliest expiry, so a queue holding nothing
//! due costs one comparison, not a scan.

use std::collections::VecDeque;

use super::config::{QueueFullPolicy, SessionConfig};
use super::outbound::OutboundPublish;
use super::state::SessionStats;
use crate::limits;
use crate::protocol::QoS;

/// Bytes a queued delivery is accounted at, against `max_queued_bytes`: its payload,
/// its topic name and its variable-length v5 properties (Response Topic, Correlation
/// Data, Content Type, User Property names and values, 4 per Subscription
/// Identifier).
///
/// An estimate of what holding the message costs the session, not of its memory:
/// fixed-size fields and the entry's own overhead are left out, and a payload shared
/// with other subscribers is counted in full by each of them. It is a pure function
/// of the delivery, so removing a message subtracts exactly what adding it added.
pub(crate) fn queued_bytes(publish: &OutboundPublish) -> usize {
    let message = &publish.message;
    let properties = &message.properties;
    let optional_len = |value: Option<usize>| value.unwrap_or(0);
    let user_properties_len: usize = properties
        .user_properties
        .iter()
        .map(|(name, value)| name.len() + value.len())
        .sum();
    message.payload.len()
        + message.topic_name.len()
        + optional_len(properties.response_topic.as_ref().map(|topic| topic.len()))
        + optional_len(properties.correlation_data.as_ref().map(|data| data.len()))
        + optional_len(
            properties
                .content_type
                .as_ref()
                .map(|content| content.len()),
        )
        + user_properties_len
        + 4 * publish.subscription_identifiers.len()
}

/// Messages waiting to go out to one client, oldest first.
#[derive(Clone, Debug, Default)]
pub(crate) struct OutboundQueue {
    entries: VecDeque<OutboundPublish>,
    /// Sum of [`queued_bytes`] over `entries`.
    bytes: usize,
    /// No queued message expires before this, ms (`u64::MAX`: none ever does). A lower
    /// bound: removals leave it as it is, a purge makes it exact again.
    earliest_expiry_ms: u64,
}

impl OutboundQueue {
    /// An empty queue.
    pub(crate) fn new() -> OutboundQueue {
        OutboundQueue {
            entries: VecDeque::new(),
            bytes: 0,
            earliest_expiry_ms: u64::MAX,
        }
    }

    /// Messages queued.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes queued, as [`queued_bytes`] counts them.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// The queued messages, oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &OutboundPublish> + '_ {
        self.entries.iter()
    }

    /// The oldest queued message.
    pub(crate) fn front(&self) -> Option<&OutboundPublish> {
        self.entries.front()
    }

    /// Removes and returns the oldest queued message.
    pub(crate) fn pop_front(&mut self) -> Option<OutboundPublish> {
        let publish = self.entries.pop_front()?;
        self.bytes -= queued_bytes(&publish);
        if self.entries.is_empty() {
            self.shrink_when_empty();
        }
        Some(publish)
    }

    /// Queues `publish` at `now_ms` within the bounds of `config`, following its
    /// [`QueueFullPolicy`]; every message dropped or evicted is counted in `stats`
    /// (QoS 0 as `dropped_qos0`, QoS 1/2 as `dropped_queue_full`, expired ones as
    /// `dropped_expired`). False when `publish` itself was dropped.
    pub(crate) fn push(
        &mut self,
        publish: OutboundPublish,
        config: &SessionConfig,
        now_ms: u64,
        stats: &mut SessionStats,
    ) -> bool {
        stats.dropped_expired += self.purge_expired(now_ms) as u64;
        self.admit(publish, config, stats)
    }

    /// A queue refilled from a snapshot, oldest first, within the bounds of `config`
    /// (lowered bounds apply at once, by its policy, counted in `stats`). Expired
    /// messages stay until the queue is next touched or purged, so a snapshot taken
    /// of the restored session is the one it was restored from.
    pub(crate) fn restore(
        entries: impl IntoIterator<Item = OutboundPublish>,
        config: &SessionConfig,
        stats: &mut SessionStats,
    ) -> OutboundQueue {
        let mut queue = OutboundQueue::new();
        for publish in entries {
            queue.admit(publish, config, stats);
        }
        queue
    }

    fn admit(
        &mut self,
        publish: OutboundPublish,
        config: &SessionConfig,
        stats: &mut SessionStats,
    ) -> bool {
        let size = queued_bytes(&publish);
        let admitted = match config.queue_full_policy {
            _ if size > config.max_queued_bytes => false,
            QueueFullPolicy::DropNewest => self.fits(size, config),
            QueueFullPolicy::DropOldest => {
                while !self.fits(size, config) {
                    let Some(evicted) = self.pop_front() else {
                        break;
                    };
                    count_dropped_full(evicted.qos, stats);
                }
                self.fits(size, config)
            }
        };
        if !admitted {
            count_dropped_full(publish.qos, stats);
            return false;
        }
        if let Some(at_ms) = publish.message.expires_at_ms {
            self.earliest_expiry_ms = self.earliest_expiry_ms.min(at_ms);
        }
        self.bytes += size;
        self.entries.push_back(publish);
        true
    }

    /// Removes every message expired at `now_ms` and frees its memory; returns how
    /// many. Costs one comparison while no queued message can have expired.
    pub(crate) fn purge_expired(&mut self, now_ms: u64) -> usize {
        if now_ms < self.earliest_expiry_ms {
            return 0;
        }
        let before = self.entries.len();
        let mut removed_bytes = 0;
        let mut earliest_expiry_ms = u64::MAX;
        self.entries.retain(|publish| {
            if publish.message.is_expired(now_ms) {
                removed_bytes += queued_bytes(publish);
                return false;
            }
            if let Some(at_ms) = publish.message.expires_at_ms {
                earliest_expiry_ms = earliest_expiry_ms.min(at_ms);
            }
            true
        });
        self.bytes -= removed_bytes;
        self.earliest_expiry_ms = earliest_expiry_ms;
        let removed = before - self.entries.len();
        if removed > 0 {
            self.shrink_when_empty_or_sparse();
        }
        removed
    }

    /// Removes every queued QoS 0 message and frees its memory; returns how many.
    pub(crate) fn remove_qos0(&mut self) -> usize {
        let before = self.entries.len();
        let mut removed_bytes = 0;
        self.entries.retain(|publish| {
            let keep = publish.qos != QoS::AtMostOnce;
            if !keep {
                removed_bytes += queued_bytes(publish);
            }
            keep
        });
        self.bytes -= removed_bytes;
        let removed = before - self.entries.len();
        if removed > 0 {
            self.shrink_when_empty_or_sparse();
        }
        removed
    }

    fn fits(&self, size: usize, config: &SessionConfig) -> bool {
        self.entries.len() < config.max_queued_messages
            && self.bytes.saturating_add(size) <= config.max_queued_bytes
    }

    /// A queue that filled up once (a client away for a while) would otherwise keep
    /// its largest capacity for the rest of the session's life.
    fn shrink_when_empty(&mut self) {
        self.earliest_expiry_ms = u64::MAX;
        if self.entries.capacity() > limits::QUEUE_CAPACITY_KEEP_MAX {
            self.entries = VecDeque::new();
        }
    }

    fn shrink_when_empty_or_sparse(&mut self) {
        if self.entries.is_empty() {
            self.shrink_when_empty();
        } else if self.entries.capacity() > limits::QUEUE_CAPACITY_KEEP_MAX
            && self.entries.len() < self.entries.capacity() / 4
        {
            self.entries.shrink_to(self.entries.len() * 2);
        }
    }
}

fn count_dropped_full(qos: QoS, stats: &mut SessionStats) {
    if qos == QoS::AtMostOnce {
        stats.dropped_qos0 += 1;
    } else {
        stats.dropped_queue_full += 1;
    }
}
