//! Replay: the state a shard had when it stopped, rebuilt from its last snapshots
//! and the journal written since.
//!
//! [`Replay`] works on the schema types alone: load the snapshot records, apply
//! every journal record in order, then hand the sessions to
//! `Session::from_snapshot` and the retained messages to the retained store. A
//! record about a session that does not exist (it ended, or its snapshot was lost)
//! changes nothing and is counted in [`Replay::skipped`].
//!
//! The journal does not see everything a session does: messages it drops from its
//! queue (full, expired, too large for the client) leave no record. Replay mirrors
//! the session's queue discipline instead. A queue is rebuilt in the live queue's
//! own type, `BoundedQueue`, under the same [`QueueBounds`], so a message the live
//! queue dropped or evicted when full (by count, by bytes, newest or oldest) is
//! dropped here too, and QoS 0 leaves the queue when the connection ends unless
//! `queue_qos0` keeps it. While the client is connected, QoS 1/2 is queued
//! unbounded and brought within the bounds when it disconnects, as live; a
//! subscriber the live broker found stalled (which is not journaled) kept to
//! its bounds earlier than replay does, so replay may keep messages the live
//! session dropped, never fewer. Deliveries are taken from the front of the queue, so when
//! a [`JournalRecord::MessageDelivered`] names a message further back, the ones
//! before it were dropped live (expired) and are dropped here too.

use std::collections::{BTreeMap, HashMap};

use super::checksum::message_fingerprint;
use super::record::{InboundQos2Record, JournalRecord, TargetRecord};
use super::schema::{
    DeliveryRecord, FlightRecord, FlightStageRecord, MessageRecord, ProtocolVersionRecord,
    QosRecord, SessionSnapshot, SessionStatsRecord, SubscriptionRecord, WillRecord,
};
use crate::session::{count_dropped_full, BoundedQueue, QueueBounds};

/// Sessions by client id and retained messages by topic, as snapshot and journal
/// say they were.
#[derive(Clone, Debug, Default)]
pub struct Replay {
    sessions: HashMap<String, ReplayedSession>,
    retained: BTreeMap<String, MessageRecord>,
    bounds: QueueBounds,
    skipped: u64,
}

/// A session being replayed: its queue held apart, in the live queue's type.
#[derive(Clone, Debug)]
struct ReplayedSession {
    /// Everything but the queue (its `queue` stays empty until the session is handed
    /// out).
    session: SessionSnapshot,
    queue: BoundedQueue<DeliveryRecord>,
}

impl ReplayedSession {
    /// A snapshot's session, its queue refilled under `bounds` (a lowered bound
    /// applies at once, as it does to a restored live session).
    fn new(mut session: SessionSnapshot, bounds: &QueueBounds) -> ReplayedSession {
        let stored = std::mem::take(&mut session.queue);
        let mut replayed = ReplayedSession {
            session,
            queue: BoundedQueue::default(),
        };
        for delivery in stored {
            replayed.enqueue(delivery, bounds);
        }
        replayed
    }

    /// Queues `delivery` as the live queue would, counting what it drops: QoS
    /// 1/2 unbounded while the client is connected, everything else within
    /// `bounds`.
    fn enqueue(&mut self, delivery: DeliveryRecord, bounds: &QueueBounds) {
        if self.session.connected && delivery.qos != QosRecord::AtMostOnce {
            self.queue.push_unbounded(delivery);
            return;
        }
        let stats = &mut self.session.stats;
        self.queue.admit(delivery, bounds, |qos| {
            count_dropped_full(qos, &mut stats.dropped_qos0, &mut stats.dropped_queue_full)
        });
    }

    /// The client went away: its queue keeps to `bounds` from now on, as the
    /// live one does.
    fn enforce(&mut self, bounds: &QueueBounds) {
        let stats = &mut self.session.stats;
        self.queue.enforce(bounds, |qos| {
            count_dropped_full(qos, &mut stats.dropped_qos0, &mut stats.dropped_queue_full)
        });
    }

    fn to_snapshot(&self) -> SessionSnapshot {
        SessionSnapshot {
            queue: self.queue.iter().cloned().collect(),
            ..self.session.clone()
        }
    }

    fn into_snapshot(self) -> SessionSnapshot {
        SessionSnapshot {
            queue: Vec::from(self.queue.into_entries()),
            ..self.session
        }
    }
}

impl Replay {
    /// Empty state; queues are held within `bounds` (the sessions' configured
    /// ones), by the rule the live queue follows.
    pub fn new(bounds: QueueBounds) -> Replay {
        Replay {
            bounds,
            ..Replay::default()
        }
    }

    /// Adds the sessions of a snapshot (a later one of the same client id wins).
    pub fn load_sessions(&mut self, sessions: impl IntoIterator<Item = SessionSnapshot>) {
        for session in sessions {
            let replayed = ReplayedSession::new(session, &self.bounds);
            self.sessions
                .insert(replayed.session.client_id.clone(), replayed);
        }
    }

    /// Adds the retained messages of a snapshot.
    pub fn load_retained(&mut self, messages: impl IntoIterator<Item = MessageRecord>) {
        for message in messages {
            self.retained.insert(message.topic_name.clone(), message);
        }
    }

    /// The session of `client_id` as it stands, if there is one.
    pub fn session(&self, client_id: &str) -> Option<SessionSnapshot> {
        self.sessions
            .get(client_id)
            .map(ReplayedSession::to_snapshot)
    }

    /// The retained message of `topic_name`, if there is one.
    pub fn retained(&self, topic_name: &str) -> Option<&MessageRecord> {
        self.retained.get(topic_name)
    }

    /// Records that named a session that does not exist, or a flow or message it
    /// does not hold.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// The sessions (in no particular order) and the retained messages (by topic).
    pub fn into_parts(self) -> (Vec<SessionSnapshot>, Vec<MessageRecord>) {
        (
            self.sessions
                .into_values()
                .map(ReplayedSession::into_snapshot)
                .collect(),
            self.retained.into_values().collect(),
        )
    }

    /// Redoes one journal record.
    pub fn apply(&mut self, record: JournalRecord) {
        let bounds = self.bounds;
        let applied = match record {
            JournalRecord::SessionConnected {
                client_id,
                session_present,
                protocol_version,
                session_expiry_interval_s,
                will,
            } => {
                self.session_connected(
                    client_id,
                    session_present,
                    protocol_version,
                    session_expiry_interval_s,
                    will,
                );
                true
            }
            JournalRecord::SessionDisconnected {
                client_id,
                session_expiry_interval_s,
                expires_at_wall_ms,
                will_due,
            } => self.with_session(&client_id, |replayed| {
                if !bounds.queue_qos0 {
                    replayed.session.stats.dropped_qos0_offline +=
                        replayed.queue.remove_qos0() as u64;
                }
                replayed.enforce(&bounds);
                let session = &mut replayed.session;
                session.connected = false;
                session.session_expiry_interval_s = session_expiry_interval_s;
                session.expires_at_wall_ms = expires_at_wall_ms;
                session.will_due = will_due;
                if will_due.is_none() {
                    session.will = None;
                }
                true
            }),
            JournalRecord::WillPublished { client_id } => {
                self.with_session(&client_id, |ReplayedSession { session, .. }| {
                    session.will = None;
                    session.will_due = None;
                    true
                })
            }
            JournalRecord::SessionEnded { client_id } => self.sessions.remove(&client_id).is_some(),
            JournalRecord::SubscriptionAdded {
                client_id,
                subscription,
            } => self.with_session(&client_id, |ReplayedSession { session, .. }| {
                add_subscription(session, subscription);
                true
            }),
            JournalRecord::SubscriptionRemoved {
                client_id,
                topic_filter,
            } => self.with_session(&client_id, |ReplayedSession { session, .. }| {
                let before = session.subscriptions.len();
                session
                    .subscriptions
                    .retain(|subscription| subscription.topic_filter != topic_filter);
                session.subscriptions.len() != before
            }),
            JournalRecord::MessageAccepted {
                inbound_qos2,
                message,
                targets,
            } => self.message_accepted(inbound_qos2, message, targets),
            JournalRecord::MessageDelivered {
                client_id,
                packet_id,
                fingerprint,
            } => self.with_session(&client_id, |replayed| {
                start_flight(replayed, packet_id, fingerprint)
            }),
            JournalRecord::PubRecReceived {
                client_id,
                packet_id,
            } => self.with_session(&client_id, |ReplayedSession { session, .. }| {
                let flight = session
                    .inflight
                    .iter_mut()
                    .find(|flight| flight.packet_id == packet_id);
                match flight {
                    Some(flight)
                        if matches!(flight.stage, FlightStageRecord::AwaitingPubRec(_)) =>
                    {
                        flight.stage = FlightStageRecord::AwaitingPubComp;
                        true
                    }
                    _ => false,
                }
            }),
            JournalRecord::Acknowledged {
                client_id,
                packet_id,
            } => self.with_session(&client_id, |ReplayedSession { session, .. }| {
                let before = session.inflight.len();
                session
                    .inflight
                    .retain(|flight| flight.packet_id != packet_id);
                session.inflight.len() != before
            }),
            JournalRecord::PubRelReceived {
                client_id,
                packet_id,
            } => self.with_session(&client_id, |ReplayedSession { session, .. }| {
                let before = session.awaiting_pubrel.len();
                session.awaiting_pubrel.retain(|id| *id != packet_id);
                session.awaiting_pubrel.len() != before
            }),
            JournalRecord::RetainedSet { message } => {
                self.retained.insert(message.topic_name.clone(), message);
                true
            }
            JournalRecord::RetainedCleared { topic_name } => {
                self.retained.remove(&topic_name).is_some()
            }
        };
        if !applied {
            self.skipped += 1;
        }
    }

    /// Runs `change` on the session of `client_id`; false when there is none or
    /// the change found nothing to change.
    fn with_session(
        &mut self,
        client_id: &str,
        change: impl FnOnce(&mut ReplayedSession) -> bool,
    ) -> bool {
        self.sessions.get_mut(client_id).is_some_and(change)
    }

    fn session_connected(
        &mut self,
        client_id: String,
        session_present: bool,
        protocol_version: ProtocolVersionRecord,
        session_expiry_interval_s: u32,
        will: Option<WillRecord>,
    ) {
        if !session_present || !self.sessions.contains_key(&client_id) {
            let empty = ReplayedSession::new(empty_session(client_id.clone()), &self.bounds);
            self.sessions.insert(client_id.clone(), empty);
        }
        let Some(ReplayedSession { session, .. }) = self.sessions.get_mut(&client_id) else {
            unreachable!("the session was inserted above");
        };
        session.protocol_version = protocol_version;
        session.session_expiry_interval_s = session_expiry_interval_s;
        session.connected = true;
        session.expires_at_wall_ms = None;
        session.will = will;
        session.will_due = None;
    }

    fn message_accepted(
        &mut self,
        inbound_qos2: Option<InboundQos2Record>,
        message: MessageRecord,
        targets: Vec<TargetRecord>,
    ) -> bool {
        let mut applied = true;
        if let Some(InboundQos2Record {
            client_id,
            packet_id,
        }) = inbound_qos2
        {
            applied &= self.with_session(&client_id, |ReplayedSession { session, .. }| {
                if let Err(index) = session.awaiting_pubrel.binary_search(&packet_id) {
                    session.awaiting_pubrel.insert(index, packet_id);
                }
                true
            });
        }
        let bounds = self.bounds;
        for target in targets {
            let delivery = DeliveryRecord {
                message: message.clone(),
                qos: target.qos,
                retain: target.retain,
                subscription_identifiers: target.subscription_identifiers,
            };
            applied &= self.with_session(&target.client_id, |replayed| {
                replayed.enqueue(delivery, &bounds);
                true
            });
        }
        applied
    }
}

/// A subscription added, or replacing the one of the same filter in place.
fn add_subscription(session: &mut SessionSnapshot, subscription: SubscriptionRecord) {
    let existing = session
        .subscriptions
        .iter_mut()
        .find(|existing| existing.topic_filter == subscription.topic_filter);
    match existing {
        Some(existing) => *existing = subscription,
        None => session.subscriptions.push(subscription),
    }
}

/// Moves the queued message with `fingerprint` into flight under `packet_id`,
/// dropping the messages queued before it (the session dropped them live).
fn start_flight(replayed: &mut ReplayedSession, packet_id: u16, fingerprint: u64) -> bool {
    let ReplayedSession { session, queue } = replayed;
    let position = queue.iter().position(|delivery| {
        let message = &delivery.message;
        message_fingerprint(&message.topic_name, &message.publisher, &message.payload)
            == fingerprint
    });
    let Some(position) = position else {
        return false;
    };
    for _ in 0..position {
        queue.pop_front();
    }
    let Some(delivery) = queue.pop_front() else {
        return false;
    };
    let stage = match delivery.qos {
        QosRecord::ExactlyOnce => FlightStageRecord::AwaitingPubRec(delivery),
        QosRecord::AtLeastOnce | QosRecord::AtMostOnce => {
            FlightStageRecord::AwaitingPubAck(delivery)
        }
    };
    session
        .inflight
        .retain(|flight| flight.packet_id != packet_id);
    session.inflight.push(FlightRecord { packet_id, stage });
    session.last_packet_id = packet_id;
    true
}

fn empty_session(client_id: String) -> SessionSnapshot {
    SessionSnapshot {
        client_id,
        protocol_version: ProtocolVersionRecord::V5,
        session_expiry_interval_s: 0,
        connected: false,
        expires_at_wall_ms: None,
        subscriptions: Vec::new(),
        inflight: Vec::new(),
        last_packet_id: 0,
        queue: Vec::new(),
        awaiting_pubrel: Vec::new(),
        will: None,
        will_due: None,
        stats: SessionStatsRecord::default(),
    }
}
