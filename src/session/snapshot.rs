//! Conversions between a live [`Session`] (and [`Message`]) and the on-disk schema
//! of [`crate::persist::schema`].
//!
//! Deadlines move between the monotonic clock the session runs on (`now_ms`) and
//! the wall clock (`wall_clock_ms`): both readings are passed in, taken together,
//! on save and on load.
//!
//! ## After a restore
//!
//! [`Session::from_snapshot`] returns a disconnected session and pushes the actions
//! the runtime must run for it:
//!
//! - a session whose client was away when the snapshot was written: an
//!   [`Action::ArmTimer`] for [`TimerKind::WillDelay`] when a will is pending and for
//!   [`TimerKind::SessionExpiry`] unless it never expires (the deadlines kept their
//!   wall-clock times, so either may be due at once);
//! - a session that was connected: its connection is gone, so it ends as a lost
//!   connection does, dated at the restore (the downtime does not count against the
//!   client): the will is published or its delay armed, the expiry armed, or the
//!   session ends at once when its expiry interval is 0.
//!
//! The runtime adds the session's [`Session::subscriptions`] to the trie.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use bytestring::ByteString;

use super::alias::{InboundTopicAliases, OutboundTopicAliases};
use super::inflight::{Flight, FlightStage, OutboundInflight};
use super::message::{Message, SharedMessage, SubscriptionMatch};
use super::outbound::OutboundPublish;
use super::queue::OutboundQueue;
use super::state::{ConnectionState, DropCounters, SessionState, SessionStats, SubscriptionRecord};
use super::{Action, Change, Session, SessionConfig, SessionMeters, TimerKind};
use crate::persist::schema::{
    DeliveryRecord, FlightRecord, FlightStageRecord, MessagePropertiesRecord, MessageRecord,
    SessionSnapshot, SessionStatsRecord, SubscriptionRecord as SubscriptionEntry,
    UserPropertyRecord, WillDueRecord, WillRecord,
};
use crate::persist::{
    from_wall_clock_ms, message_fingerprint, to_wall_clock_ms, JournalRecord, TargetRecord,
};
use crate::protocol::{LastWill, PacketId, PublishProperties, QoS, UserProperties, WillProperties};

/// A session snapshot that passed validation but describes an impossible session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestoreError {
    /// The client id of the session.
    pub client_id: String,
    /// What is wrong.
    pub problem: &'static str,
}

impl fmt::Display for RestoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "snapshot of session {:?}: {}; the snapshot was not written by this broker",
            self.client_id, self.problem
        )
    }
}

impl std::error::Error for RestoreError {}

impl Session {
    /// The session as stored, at `now_ms` on the session's clock and `wall_clock_ms`
    /// on the wall clock. Subscriptions are sorted by filter and inbound packet ids
    /// ascending, so equal sessions give equal snapshots.
    pub fn to_snapshot(&self, now_ms: u64, wall_clock_ms: u64) -> SessionSnapshot {
        let state = &self.state;
        let to_wall = |at_ms: u64| to_wall_clock_ms(at_ms, now_ms, wall_clock_ms);
        let mut subscriptions: Vec<SubscriptionEntry> = state
            .subscriptions
            .iter()
            .map(|(topic_filter, record)| {
                SubscriptionEntry::new(topic_filter, record.options, record.subscription_identifier)
            })
            .collect();
        subscriptions.sort_unstable_by(|a, b| a.topic_filter.cmp(&b.topic_filter));
        let inflight = state
            .inflight
            .flights_in_order()
            .into_iter()
            .map(|(packet_id, flight)| flight_record(packet_id, flight, now_ms, wall_clock_ms))
            .collect();
        let mut awaiting_pubrel: Vec<u16> = state.awaiting_pubrel.iter().copied().collect();
        awaiting_pubrel.sort_unstable();
        SessionSnapshot {
            client_id: str::to_owned(&state.client_id),
            protocol_version: state.protocol_version.into(),
            session_expiry_interval_s: state.session_expiry_interval_s,
            connected: self.connection.is_some(),
            expires_at_wall_ms: state.expires_at_ms.map(to_wall),
            subscriptions,
            inflight,
            last_packet_id: state.inflight.last_packet_id(),
            queue: state
                .queue
                .iter()
                .map(|publish| delivery_record(publish, now_ms, wall_clock_ms))
                .collect(),
            awaiting_pubrel,
            will: state.will.as_deref().map(will_record),
            will_due: state
                .will_at_ms
                .map(|at_ms| will_due_record(at_ms, now_ms, wall_clock_ms)),
            stats: stats_record(state.stats.get()),
        }
    }

    /// A session rebuilt from its snapshot, disconnected, running under `config`
    /// and counting on `meters` (the shard's, as for [`Session::connect`]);
    /// `actions` receives what the runtime must run for it (see the module doc).
    /// A snapshot with a flow under packet id 0, or two flows under one id, is refused.
    pub fn from_snapshot(
        snapshot: SessionSnapshot,
        config: &Arc<SessionConfig>,
        meters: &Arc<SessionMeters>,
        now_ms: u64,
        wall_clock_ms: u64,
        actions: &mut Vec<Action>,
    ) -> Result<Session, RestoreError> {
        check_flights(&snapshot)?;
        let was_connected = snapshot.connected;
        let state = session_state(snapshot, config, meters, now_ms, wall_clock_ms);
        // What was stored is journaled from now on, under a journal.
        let mut session = Session {
            config: Arc::clone(config),
            meters: Arc::clone(meters),
            state,
            connection: None,
            journaled: config.journal,
        };
        if was_connected {
            // The connection the snapshot saw is gone; it ends the way a lost one does.
            session.connection = Some(Box::new(ConnectionState {
                keep_alive_timeout_ms: 0,
                last_packet_ms: now_ms,
                client_receive_maximum: 1,
                client_maximum_packet_size: 0,
                inbound_aliases: InboundTopicAliases::new(0),
                outbound_aliases: OutboundTopicAliases::new(0),
                stalled: false,
            }));
            session.connection_lost(now_ms, actions);
        } else {
            session.pending_timers(actions);
        }
        Ok(session)
    }

    /// The [`Action::ArmTimer`]s for the deadlines a disconnected session holds (the
    /// will delay and the session expiry); nothing for a connected session.
    pub fn pending_timers(&self, actions: &mut Vec<Action>) {
        if self.connection.is_some() {
            return;
        }
        if let Some(at_ms) = self.state.will_at_ms.filter(|at_ms| *at_ms != u64::MAX) {
            actions.push(Action::ArmTimer {
                timer: TimerKind::WillDelay,
                at_ms,
            });
        }
        if let Some(at_ms) = self.state.expires_at_ms {
            actions.push(Action::ArmTimer {
                timer: TimerKind::SessionExpiry,
                at_ms,
            });
        }
    }

    /// The journal record of `change`, which this session reported
    /// ([`Action::Journal`]), built from the session as it stands when the
    /// runtime runs the action; `None` when there is nothing to write (a flow
    /// no longer held). `now_ms` and `wall_clock_ms` place the deadlines of a
    /// disconnected session.
    pub fn journal_record(
        &self,
        change: &Change,
        now_ms: u64,
        wall_clock_ms: u64,
    ) -> Option<JournalRecord> {
        let client_id = || str::to_owned(&self.state.client_id);
        Some(match change {
            Change::Connected { session_present } => self.connected_record(*session_present),
            Change::Delivered(packet_id) => return self.delivered_record(*packet_id),
            Change::PubRecReceived(packet_id) => JournalRecord::PubRecReceived {
                client_id: client_id(),
                packet_id: *packet_id,
            },
            Change::Acknowledged(packet_id) => JournalRecord::Acknowledged {
                client_id: client_id(),
                packet_id: *packet_id,
            },
            Change::PubRelReceived(packet_id) => JournalRecord::PubRelReceived {
                client_id: client_id(),
                packet_id: *packet_id,
            },
            Change::Subscribed {
                topic_filter,
                options,
                subscription_identifier,
            } => JournalRecord::SubscriptionAdded {
                client_id: client_id(),
                subscription: SubscriptionEntry::new(
                    topic_filter,
                    *options,
                    *subscription_identifier,
                ),
            },
            Change::Unsubscribed { topic_filter } => JournalRecord::SubscriptionRemoved {
                client_id: client_id(),
                topic_filter: str::to_owned(topic_filter),
            },
            Change::Disconnected => return self.disconnected_record(now_ms, wall_clock_ms),
            Change::WillPublished => JournalRecord::WillPublished {
                client_id: client_id(),
            },
            Change::Ended => JournalRecord::SessionEnded {
                client_id: client_id(),
            },
        })
    }

    /// The [`JournalRecord::SessionConnected`] of this session, just accepted by
    /// [`Session::connect`]; `session_present` as the session decided it (a
    /// 3.1 CONNACK does not carry it).
    fn connected_record(&self, session_present: bool) -> JournalRecord {
        JournalRecord::SessionConnected {
            client_id: str::to_owned(&self.state.client_id),
            session_present,
            protocol_version: self.state.protocol_version.into(),
            session_expiry_interval_s: self.state.session_expiry_interval_s,
            will: self.state.will.as_deref().map(will_record),
        }
    }

    /// The [`TargetRecord`] of this session for a [`JournalRecord::MessageAccepted`]
    /// of `message`, as [`Session::deliver`] with the same `matched` delivers it;
    /// `None` when it is delivered at QoS 0 (not journaled) or not at all.
    pub fn delivery_target(
        &self,
        message: &SharedMessage,
        matched: &[SubscriptionMatch],
    ) -> Option<TargetRecord> {
        let publish = self.delivery_of(message, matched)?;
        if publish.qos == QoS::AtMostOnce {
            return None;
        }
        Some(TargetRecord {
            client_id: str::to_owned(&self.state.client_id),
            qos: publish.qos.into(),
            retain: publish.retain,
            subscription_identifiers: publish.subscription_identifiers.to_vec(),
        })
    }

    /// The [`JournalRecord::MessageDelivered`] for a PUBLISH this session just sent
    /// under `packet_id` without DUP (resends are not journaled); `None` when no
    /// flow holds a message under that id.
    fn delivered_record(&self, packet_id: PacketId) -> Option<JournalRecord> {
        let flight = self.state.inflight.get(packet_id)?;
        let publish = match &flight.stage {
            FlightStage::AwaitingPubAck(publish) | FlightStage::AwaitingPubRec(publish) => publish,
            FlightStage::Released => return None,
        };
        Some(JournalRecord::MessageDelivered {
            client_id: str::to_owned(&self.state.client_id),
            packet_id,
            fingerprint: publish.message.fingerprint(),
        })
    }

    /// The [`JournalRecord::SessionDisconnected`] of this session once its
    /// connection ended and it stays (after [`Action::Close`] or
    /// [`Session::connection_lost`] without [`Action::EndSession`]); `None` while
    /// connected.
    fn disconnected_record(&self, now_ms: u64, wall_clock_ms: u64) -> Option<JournalRecord> {
        if self.connection.is_some() {
            return None;
        }
        let will_due = self
            .state
            .will_at_ms
            .map(|at_ms| will_due_record(at_ms, now_ms, wall_clock_ms));
        Some(JournalRecord::SessionDisconnected {
            client_id: str::to_owned(&self.state.client_id),
            session_expiry_interval_s: self.state.session_expiry_interval_s,
            expires_at_wall_ms: self
                .state
                .expires_at_ms
                .map(|at_ms| to_wall_clock_ms(at_ms, now_ms, wall_clock_ms)),
            will_due: will_due.filter(|_| self.state.will.is_some()),
        })
    }
}

impl Message {
    /// The message as stored (a retained message, or the content of a journal record).
    pub fn to_record(&self, now_ms: u64, wall_clock_ms: u64) -> MessageRecord {
        let properties = &self.properties;
        MessageRecord {
            topic_name: str::to_owned(&self.topic_name),
            payload: self.payload.to_vec(),
            qos: self.qos.into(),
            retain: self.retain,
            properties: MessagePropertiesRecord {
                payload_format_indicator: properties.payload_format_indicator,
                response_topic: properties.response_topic.as_deref().map(str::to_owned),
                correlation_data: properties
                    .correlation_data
                    .as_ref()
                    .map(|data| data.to_vec()),
                user_properties: user_property_records(&properties.user_properties),
                content_type: properties.content_type.as_deref().map(str::to_owned),
            },
            expires_at_wall_ms: self
                .expires_at_ms
                .map(|at_ms| to_wall_clock_ms(at_ms, now_ms, wall_clock_ms)),
            publisher: str::to_owned(&self.publisher),
        }
    }

    /// The message a stored one describes, its expiry back on the session's clock.
    pub fn from_record(record: MessageRecord, now_ms: u64, wall_clock_ms: u64) -> Message {
        let properties = record.properties;
        Message {
            topic_name: ByteString::from(record.topic_name),
            payload: Bytes::from(record.payload),
            qos: record.qos.into(),
            retain: record.retain,
            properties: PublishProperties {
                payload_format_indicator: properties.payload_format_indicator,
                response_topic: properties.response_topic.map(ByteString::from),
                correlation_data: properties.correlation_data.map(Bytes::from),
                user_properties: user_properties(properties.user_properties),
                content_type: properties.content_type.map(ByteString::from),
                ..PublishProperties::default()
            }
            .into(),
            expires_at_ms: record
                .expires_at_wall_ms
                .map(|at_wall_ms| from_wall_clock_ms(at_wall_ms, now_ms, wall_clock_ms)),
            publisher: ByteString::from(record.publisher),
        }
    }

    /// The fingerprint a [`JournalRecord::MessageDelivered`] names this message by.
    pub fn fingerprint(&self) -> u64 {
        message_fingerprint(&self.topic_name, &self.publisher, &self.payload)
    }
}

/// The in-memory state a snapshot describes, its deadlines on the session's clock.
/// The queue is refilled under `config`, so a lowered bound applies at once (what
/// no longer fits is dropped by its policy and counted on `meters`).
fn session_state(
    snapshot: SessionSnapshot,
    config: &SessionConfig,
    meters: &SessionMeters,
    now_ms: u64,
    wall_clock_ms: u64,
) -> SessionState {
    let from_wall = |at_wall_ms: u64| from_wall_clock_ms(at_wall_ms, now_ms, wall_clock_ms);
    let to_publish = |delivery: DeliveryRecord| outbound_publish(delivery, now_ms, wall_clock_ms);
    let flights = snapshot.inflight.into_iter().map(|flight| {
        let stage = match flight.stage {
            FlightStageRecord::AwaitingPubAck(delivery) => {
                FlightStage::AwaitingPubAck(to_publish(delivery))
            }
            FlightStageRecord::AwaitingPubRec(delivery) => {
                FlightStage::AwaitingPubRec(to_publish(delivery))
            }
            FlightStageRecord::AwaitingPubComp => FlightStage::Released,
        };
        (flight.packet_id, stage)
    });
    let inflight = OutboundInflight::restore(
        flights,
        snapshot.last_packet_id,
        Arc::clone(&meters.inflight_gauge),
    );
    let mut stats = DropCounters::from(session_stats(snapshot.stats));
    let queue = OutboundQueue::restore(
        snapshot.queue.into_iter().map(to_publish),
        config,
        meters,
        &mut stats,
    );
    SessionState {
        client_id: ByteString::from(snapshot.client_id),
        protocol_version: snapshot.protocol_version.into(),
        session_expiry_interval_s: snapshot.session_expiry_interval_s,
        subscriptions: snapshot
            .subscriptions
            .into_iter()
            .map(|entry| {
                let record = SubscriptionRecord {
                    options: entry.options(),
                    subscription_identifier: entry.subscription_identifier,
                };
                (ByteString::from(entry.topic_filter), record)
            })
            .collect(),
        inflight,
        queue,
        awaiting_pubrel: snapshot.awaiting_pubrel.into_iter().collect(),
        will: snapshot.will.map(|will| Box::new(last_will(will))),
        will_at_ms: snapshot.will_due.map(|will_due| match will_due {
            WillDueRecord::At(at_wall_ms) => from_wall(at_wall_ms),
            WillDueRecord::WithSessionEnd => u64::MAX,
        }),
        expires_at_ms: snapshot.expires_at_wall_ms.map(from_wall),
        stats,
    }
}

/// A will deadline as stored; `u64::MAX` is the session's own "with the session end".
fn will_due_record(will_at_ms: u64, now_ms: u64, wall_clock_ms: u64) -> WillDueRecord {
    match will_at_ms {
        u64::MAX => WillDueRecord::WithSessionEnd,
        at_ms => WillDueRecord::At(to_wall_clock_ms(at_ms, now_ms, wall_clock_ms)),
    }
}

fn check_flights(snapshot: &SessionSnapshot) -> Result<(), RestoreError> {
    let refuse = |problem| {
        Err(RestoreError {
            client_id: snapshot.client_id.clone(),
            problem,
        })
    };
    let mut packet_ids: Vec<u16> = snapshot
        .inflight
        .iter()
        .map(|flight| flight.packet_id)
        .collect();
    packet_ids.sort_unstable();
    if packet_ids.first() == Some(&0) {
        return refuse("an outbound flow has packet id 0");
    }
    if packet_ids.windows(2).any(|pair| pair[0] == pair[1]) {
        return refuse("two outbound flows share a packet id");
    }
    Ok(())
}

fn flight_record(
    packet_id: PacketId,
    flight: &Flight,
    now_ms: u64,
    wall_clock_ms: u64,
) -> FlightRecord {
    let stage = match &flight.stage {
        FlightStage::AwaitingPubAck(publish) => {
            FlightStageRecord::AwaitingPubAck(delivery_record(publish, now_ms, wall_clock_ms))
        }
        FlightStage::AwaitingPubRec(publish) => {
            FlightStageRecord::AwaitingPubRec(delivery_record(publish, now_ms, wall_clock_ms))
        }
        FlightStage::Released => FlightStageRecord::AwaitingPubComp,
    };
    FlightRecord { packet_id, stage }
}

fn delivery_record(publish: &OutboundPublish, now_ms: u64, wall_clock_ms: u64) -> DeliveryRecord {
    DeliveryRecord {
        message: publish.message.to_record(now_ms, wall_clock_ms),
        qos: publish.qos.into(),
        retain: publish.retain,
        subscription_identifiers: publish.subscription_identifiers.to_vec(),
    }
}

fn outbound_publish(delivery: DeliveryRecord, now_ms: u64, wall_clock_ms: u64) -> OutboundPublish {
    OutboundPublish {
        message: Arc::new(Message::from_record(
            delivery.message,
            now_ms,
            wall_clock_ms,
        )),
        qos: delivery.qos.into(),
        retain: delivery.retain,
        subscription_identifiers: delivery.subscription_identifiers.into_iter().collect(),
    }
}

fn will_record(will: &LastWill) -> WillRecord {
    let properties = &will.properties;
    WillRecord {
        topic_name: str::to_owned(&will.topic_name),
        payload: will.payload.to_vec(),
        qos: will.qos.into(),
        retain: will.retain,
        will_delay_interval_s: properties.will_delay_interval_s,
        payload_format_indicator: properties.payload_format_indicator,
        message_expiry_interval_s: properties.message_expiry_interval_s,
        content_type: properties.content_type.as_deref().map(str::to_owned),
        response_topic: properties.response_topic.as_deref().map(str::to_owned),
        correlation_data: properties
            .correlation_data
            .as_ref()
            .map(|data| data.to_vec()),
        user_properties: user_property_records(&properties.user_properties),
    }
}

fn last_will(will: WillRecord) -> LastWill {
    LastWill {
        topic_name: ByteString::from(will.topic_name),
        payload: Bytes::from(will.payload),
        qos: will.qos.into(),
        retain: will.retain,
        properties: WillProperties {
            will_delay_interval_s: will.will_delay_interval_s,
            payload_format_indicator: will.payload_format_indicator,
            message_expiry_interval_s: will.message_expiry_interval_s,
            content_type: will.content_type.map(ByteString::from),
            response_topic: will.response_topic.map(ByteString::from),
            correlation_data: will.correlation_data.map(Bytes::from),
            user_properties: user_properties(will.user_properties),
        },
    }
}

fn user_property_records(user_properties: &UserProperties) -> Vec<UserPropertyRecord> {
    user_properties
        .iter()
        .map(|(name, value)| UserPropertyRecord {
            name: str::to_owned(name),
            value: str::to_owned(value),
        })
        .collect()
}

fn user_properties(records: Vec<UserPropertyRecord>) -> UserProperties {
    records
        .into_iter()
        .map(|record| {
            (
                ByteString::from(record.name),
                ByteString::from(record.value),
            )
        })
        .collect()
}

fn stats_record(stats: SessionStats) -> SessionStatsRecord {
    SessionStatsRecord {
        dropped_qos0: stats.dropped_qos0,
        dropped_queue_full: stats.dropped_queue_full,
        dropped_too_large: stats.dropped_too_large,
        dropped_expired: stats.dropped_expired,
        dropped_qos0_offline: stats.dropped_qos0_offline,
    }
}

fn session_stats(stats: SessionStatsRecord) -> SessionStats {
    SessionStats {
        dropped_qos0: stats.dropped_qos0,
        dropped_queue_full: stats.dropped_queue_full,
        dropped_too_large: stats.dropped_too_large,
        dropped_expired: stats.dropped_expired,
        dropped_qos0_offline: stats.dropped_qos0_offline,
    }
}
