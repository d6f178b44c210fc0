//! The bounded queue of messages waiting for a session's inflight window or for
//! its client to return: its two bounds, what happens when it is full, and the
//! removal of expired messages.
//!
//! Two bounds hold whenever the client is offline or stalled: at most
//! `max_queued_messages` entries and at most `max_queued_bytes` bytes, counted with
//! [`queued_bytes`]. While the client is connected and reading, QoS 1/2 messages are
//! queued past them and the bytes count on the shard's delivery gauge instead (see
//! [`OutboundQueue`]); the bounds apply again, by the policy, once it leaves or
//! stalls. The byte count is kept exactly: added on every push, subtracted on every
//! removal, so it always equals the sum over the queue, and the gauge holds exactly
//! the bytes of the queues counted on it.
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
//!
//! The bounds and the policy are one type, [`BoundedQueue`], generic over what it
//! holds: the live [`OutboundQueue`] holds deliveries, and replay holds the stored
//! deliveries of a journal in one too, so a queue rebuilt after a restart keeps
//! exactly the messages the live session kept, under the same [`QueueBounds`].

use std::collections::VecDeque;
use std::sync::Arc;

use super::config::{QueueFullPolicy, SessionConfig};
use super::gauge::Gauge;
use super::meters::SessionMeters;
use super::outbound::OutboundPublish;
use super::state::{DropCounters, DropField, DropTally};
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
    let user_properties_len: usize = properties
        .user_properties
        .iter()
        .map(|(name, value)| name.len() + value.len())
        .sum();
    accounted_bytes(
        message.payload.len() + message.topic_name.len(),
        properties
            .response_topic
            .as_ref()
            .map_or(0, |topic| topic.len()),
        properties
            .correlation_data
            .as_ref()
            .map_or(0, |data| data.len()),
        properties
            .content_type
            .as_ref()
            .map_or(0, |content| content.len()),
        user_properties_len,
        publish.subscription_identifiers.len(),
    )
}

/// The one formula of [`queued_bytes`], over the lengths both representations of a
/// delivery have: the live one and the stored one replay queues.
pub(crate) fn accounted_bytes(
    payload_and_topic_len: usize,
    response_topic_len: usize,
    correlation_data_len: usize,
    content_type_len: usize,
    user_properties_len: usize,
    subscription_identifiers: usize,
) -> usize {
    payload_and_topic_len
        + response_topic_len
        + correlation_data_len
        + content_type_len
        + user_properties_len
        + 4 * subscription_identifiers
}

/// The bounds and the full-queue policy of one session's queue: the part of
/// [`SessionConfig`] the queue obeys, which replay obeys too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueBounds {
    /// Messages queued, at most.
    pub max_queued_messages: usize,
    /// Bytes queued, at most, as the queue accounts them (payload, topic name and
    /// variable-length properties of each message).
    pub max_queued_bytes: usize,
    /// Whether QoS 0 messages stay queued once the client is offline.
    pub queue_qos0: bool,
    /// What a message that finds the queue full does.
    pub queue_full_policy: QueueFullPolicy,
}

impl Default for QueueBounds {
    fn default() -> QueueBounds {
        SessionConfig::default().queue_bounds()
    }
}

impl SessionConfig {
    /// The bounds and policy of this configuration's queues.
    pub fn queue_bounds(&self) -> QueueBounds {
        QueueBounds {
            max_queued_messages: self.max_queued_messages,
            max_queued_bytes: self.max_queued_bytes,
            queue_qos0: self.queue_qos0,
            queue_full_policy: self.queue_full_policy,
        }
    }
}

/// What the bounds need to know of a queued entry.
pub(crate) trait Queued {
    /// Bytes the entry is accounted at, against `max_queued_bytes`.
    fn queued_bytes(&self) -> usize;
    /// Its delivery QoS.
    fn qos(&self) -> QoS;
}

impl Queued for OutboundPublish {
    fn queued_bytes(&self) -> usize {
        queued_bytes(self)
    }

    fn qos(&self) -> QoS {
        self.qos
    }
}

/// Entries oldest first, held within [`QueueBounds`] by its policy: the admission
/// rule of every queue, the live one ([`OutboundQueue`]) and the one replay rebuilds
/// from a journal, so both keep the same messages.
#[derive(Clone, Debug)]
pub(crate) struct BoundedQueue<T> {
    entries: VecDeque<T>,
    /// Sum of [`Queued::queued_bytes`] over `entries`.
    bytes: usize,
}

impl<T> Default for BoundedQueue<T> {
    fn default() -> BoundedQueue<T> {
        BoundedQueue {
            entries: VecDeque::new(),
            bytes: 0,
        }
    }
}

impl<T: Queued> BoundedQueue<T> {
    /// Entries queued.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes queued, as [`Queued::queued_bytes`] counts them.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// The entries, oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        self.entries.iter()
    }

    /// The oldest entry.
    pub(crate) fn front(&self) -> Option<&T> {
        self.entries.front()
    }

    /// Removes and returns the oldest entry.
    pub(crate) fn pop_front(&mut self) -> Option<T> {
        let entry = self.entries.pop_front()?;
        self.bytes -= entry.queued_bytes();
        if self.entries.is_empty() {
            self.shrink_when_empty();
        }
        Some(entry)
    }

    /// Queues `entry` within `bounds`, following its [`QueueFullPolicy`]; calls
    /// `dropped` with the QoS of every entry dropped or evicted because the queue was
    /// full. False when `entry` itself was dropped.
    pub(crate) fn admit(
        &mut self,
        entry: T,
        bounds: &QueueBounds,
        mut dropped: impl FnMut(QoS),
    ) -> bool {
        let size = entry.queued_bytes();
        let admitted = match bounds.queue_full_policy {
            _ if size > bounds.max_queued_bytes => false,
            QueueFullPolicy::DropNewest => self.fits(size, bounds),
            QueueFullPolicy::DropOldest => {
                while !self.fits(size, bounds) {
                    let Some(evicted) = self.pop_front() else {
                        break;
                    };
                    dropped(evicted.qos());
                }
                self.fits(size, bounds)
            }
        };
        if !admitted {
            dropped(entry.qos());
            return false;
        }
        self.bytes += size;
        self.entries.push_back(entry);
        true
    }

    /// Queues `entry` whatever the bounds: for a connected subscriber that keeps
    /// reading, whose backlog the runtime bounds by slowing the publishers.
    pub(crate) fn push_unbounded(&mut self, entry: T) {
        self.bytes += entry.queued_bytes();
        self.entries.push_back(entry);
    }

    /// Brings a queue that grew past `bounds` (while unbounded, see
    /// [`BoundedQueue::push_unbounded`]) back within them by its policy: the
    /// newest entries go under [`QueueFullPolicy::DropNewest`], the oldest under
    /// [`QueueFullPolicy::DropOldest`]; calls `dropped` with the QoS of each.
    pub(crate) fn enforce(&mut self, bounds: &QueueBounds, mut dropped: impl FnMut(QoS)) {
        while self.entries.len() > bounds.max_queued_messages
            || self.bytes > bounds.max_queued_bytes
        {
            let entry = match bounds.queue_full_policy {
                QueueFullPolicy::DropNewest => self.entries.pop_back(),
                QueueFullPolicy::DropOldest => self.entries.pop_front(),
            };
            let Some(entry) = entry else {
                break;
            };
            self.bytes -= entry.queued_bytes();
            dropped(entry.qos());
        }
        self.shrink_when_empty_or_sparse();
    }

    /// Keeps the entries `keep` accepts and frees the memory of the others; returns
    /// how many were removed.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) -> usize {
        let before = self.entries.len();
        let mut removed_bytes = 0;
        self.entries.retain(|entry| {
            let kept = keep(entry);
            if !kept {
                removed_bytes += entry.queued_bytes();
            }
            kept
        });
        self.bytes -= removed_bytes;
        let removed = before - self.entries.len();
        if removed > 0 {
            self.shrink_when_empty_or_sparse();
        }
        removed
    }

    /// Removes every queued QoS 0 entry and frees its memory; returns how many.
    pub(crate) fn remove_qos0(&mut self) -> usize {
        self.retain(|entry| entry.qos() != QoS::AtMostOnce)
    }

    /// The entries, oldest first.
    pub(crate) fn into_entries(self) -> VecDeque<T> {
        self.entries
    }

    fn fits(&self, size: usize, bounds: &QueueBounds) -> bool {
        self.entries.len() < bounds.max_queued_messages
            && self.bytes.saturating_add(size) <= bounds.max_queued_bytes
    }

    /// A queue that filled up once (a client away for a while) would otherwise keep
    /// its largest capacity for the rest of the session's life.
    fn shrink_when_empty(&mut self) {
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

/// Messages waiting to go out to one client, oldest first.
///
/// While its client is connected and reading, the queue is *counted*: its bytes
/// are on the shard's delivery gauge (`SessionMeters::delivery_gauge`) and QoS 1/2
/// messages are queued whatever `max_queued_messages` and `max_queued_bytes` say,
/// since the runtime bounds the shard's backlog by slowing the publishers instead
/// of dropping what they were told was accepted. Otherwise (offline, or stalled)
/// the queue keeps to its bounds and counts on no gauge.
#[derive(Debug)]
pub(crate) struct OutboundQueue {
    entries: BoundedQueue<OutboundPublish>,
    /// No queued message expires before this, ms (`u64::MAX`: none ever does). A lower
    /// bound: removals leave it as it is, a purge makes it exact again.
    earliest_expiry_ms: u64,
    /// Where the bytes are counted while `counted`.
    gauge: Arc<Gauge>,
    /// True while the bytes are on the gauge and QoS 1/2 is queued unbounded.
    counted: bool,
}

impl Default for OutboundQueue {
    /// Empty, not counted.
    fn default() -> OutboundQueue {
        OutboundQueue::with_gauge(Arc::default(), false)
    }
}

impl Clone for OutboundQueue {
    /// A copy counted on a gauge of its own, like a copy of the in-flight
    /// window: copies are taken to be stored, not served.
    fn clone(&self) -> OutboundQueue {
        let gauge = Gauge::default();
        if self.counted {
            gauge.add(self.entries.bytes());
        }
        OutboundQueue {
            entries: self.entries.clone(),
            earliest_expiry_ms: self.earliest_expiry_ms,
            gauge: Arc::new(gauge),
            counted: self.counted,
        }
    }
}

impl Drop for OutboundQueue {
    fn drop(&mut self) {
        self.detach();
    }
}

impl OutboundQueue {
    /// An empty queue of a connected session, counted on `gauge`.
    pub(crate) fn new(gauge: Arc<Gauge>) -> OutboundQueue {
        OutboundQueue::with_gauge(gauge, true)
    }

    fn with_gauge(gauge: Arc<Gauge>, counted: bool) -> OutboundQueue {
        OutboundQueue {
            entries: BoundedQueue::default(),
            earliest_expiry_ms: u64::MAX,
            gauge,
            counted,
        }
    }

    /// True while the bytes count on the gauge.
    pub(crate) fn is_counted(&self) -> bool {
        self.counted
    }

    /// The client is connected and reading again: the bytes count on the gauge
    /// and QoS 1/2 is queued unbounded.
    pub(crate) fn attach(&mut self) {
        if !self.counted {
            self.gauge.add(self.entries.bytes());
            self.counted = true;
        }
    }

    /// The client went away or stalled: the bytes leave the gauge. The caller
    /// brings the queue within its bounds ([`OutboundQueue::enforce`]).
    pub(crate) fn detach(&mut self) {
        if self.counted {
            self.gauge.sub(self.entries.bytes());
            self.counted = false;
        }
    }

    /// Follows a change of the byte count from `before` on the gauge.
    fn account(&self, before: usize) {
        if self.counted {
            let after = self.entries.bytes();
            if after >= before {
                self.gauge.add(after - before);
            } else {
                self.gauge.sub(before - after);
            }
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
        self.entries.bytes()
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
        let before = self.entries.bytes();
        let publish = self.entries.pop_front()?;
        self.account(before);
        self.forget_expiry_when_empty();
        Some(publish)
    }

    /// Queues `publish` at `now_ms` within the bounds of `config`, following its
    /// [`QueueFullPolicy`]; every message dropped or evicted is counted in `stats`
    /// and on `tally` (QoS 0 as `dropped_qos0`, QoS 1/2 as `dropped_queue_full`,
    /// expired ones as `dropped_expired`). False when `publish` itself was dropped.
    pub(crate) fn push(
        &mut self,
        publish: OutboundPublish,
        config: &SessionConfig,
        now_ms: u64,
        stats: &mut DropCounters,
        tally: &DropTally,
    ) -> bool {
        let purged = self.purge_expired(now_ms) as u64;
        stats.add(purged, |stats| &mut stats.dropped_expired, tally);
        self.admit(publish, &config.queue_bounds(), stats, tally)
    }

    /// A queue refilled from a snapshot, oldest first, within the bounds of `config`
    /// (lowered bounds apply at once, by its policy, counted in `stats` and on
    /// `meters.drop_tally`), of a session waiting for its client: counted on
    /// `meters.delivery_gauge` from [`OutboundQueue::attach`]. Expired
    /// messages stay until the queue is next touched or purged, so a snapshot taken
    /// of the restored session is the one it was restored from.
    pub(crate) fn restore(
        entries: impl IntoIterator<Item = OutboundPublish>,
        config: &SessionConfig,
        meters: &SessionMeters,
        stats: &mut DropCounters,
    ) -> OutboundQueue {
        let bounds = config.queue_bounds();
        let mut queue = OutboundQueue::with_gauge(Arc::clone(&meters.delivery_gauge), false);
        for publish in entries {
            queue.admit(publish, &bounds, stats, &meters.drop_tally);
        }
        queue
    }

    fn admit(
        &mut self,
        publish: OutboundPublish,
        bounds: &QueueBounds,
        stats: &mut DropCounters,
        tally: &DropTally,
    ) -> bool {
        let expires_at_ms = publish.message.expires_at_ms;
        let before = self.entries.bytes();
        let admitted = if self.counted && publish.qos != QoS::AtMostOnce {
            self.entries.push_unbounded(publish);
            true
        } else {
            self.entries.admit(publish, bounds, |qos| {
                stats.add(1, dropped_full_field(qos), tally);
            })
        };
        self.account(before);
        self.forget_expiry_when_empty();
        if let (true, Some(at_ms)) = (admitted, expires_at_ms) {
            self.earliest_expiry_ms = self.earliest_expiry_ms.min(at_ms);
        }
        admitted
    }

    /// Removes every message expired at `now_ms` and frees its memory; returns how
    /// many. Costs one comparison while no queued message can have expired.
    pub(crate) fn purge_expired(&mut self, now_ms: u64) -> usize {
        if now_ms < self.earliest_expiry_ms {
            return 0;
        }
        let mut earliest_expiry_ms = u64::MAX;
        let before = self.entries.bytes();
        let removed = self.entries.retain(|publish| {
            if publish.message.is_expired(now_ms) {
                return false;
            }
            if let Some(at_ms) = publish.message.expires_at_ms {
                earliest_expiry_ms = earliest_expiry_ms.min(at_ms);
            }
            true
        });
        self.account(before);
        self.earliest_expiry_ms = earliest_expiry_ms;
        removed
    }

    /// Removes every queued QoS 0 message and frees its memory; returns how many.
    pub(crate) fn remove_qos0(&mut self) -> usize {
        let before = self.entries.bytes();
        let removed = self.entries.remove_qos0();
        self.account(before);
        self.forget_expiry_when_empty();
        removed
    }

    /// Brings the queue back within the bounds of `config` by its policy, each
    /// message dropped counted in `stats` and on `tally` as a full queue drops
    /// it: for a queue that grew unbounded while counted, once it no longer is.
    pub(crate) fn enforce(
        &mut self,
        config: &SessionConfig,
        stats: &mut DropCounters,
        tally: &DropTally,
    ) {
        let before = self.entries.bytes();
        self.entries.enforce(&config.queue_bounds(), |qos| {
            stats.add(1, dropped_full_field(qos), tally);
        });
        self.account(before);
        self.forget_expiry_when_empty();
    }

    fn forget_expiry_when_empty(&mut self) {
        if self.entries.is_empty() {
            self.earliest_expiry_ms = u64::MAX;
        }
    }
}

/// Counts a message dropped because the queue was full: QoS 0 in `dropped_qos0`,
/// QoS 1/2 in `dropped_queue_full`.
pub(crate) fn count_dropped_full(qos: QoS, dropped_qos0: &mut u64, dropped_queue_full: &mut u64) {
    if qos == QoS::AtMostOnce {
        *dropped_qos0 += 1;
    } else {
        *dropped_queue_full += 1;
    }
}

/// The counter of a message of `qos` dropped because the queue was full.
fn dropped_full_field(qos: QoS) -> DropField {
    if qos == QoS::AtMostOnce {
        |stats| &mut stats.dropped_qos0
    } else {
        |stats| &mut stats.dropped_queue_full
    }
}
