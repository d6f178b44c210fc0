//! A live [`Session`] as stored ([`Session::to_snapshot`]) and rebuilt from what
//! was stored ([`Session::from_snapshot`]), through the session's crate-private
//! state; what a restored session then does is the session's own rule.
//!
//! Deadlines move between the monotonic clock the session runs on (`now_ms`) and
//! the wall clock (`wall_clock_ms`): both readings are passed in, taken together,
//! on save and on load.

use std::sync::Arc;

use bytes::Bytes;
use bytestring::ByteString;

use super::clock::{from_wall_clock_ms, to_wall_clock_ms};
use super::message::{delivery_record, outbound_publish, user_properties, user_property_records};
use super::schema::{
    DeliveryRecord, FlightRecord, FlightStageRecord, SessionSnapshot, SessionStatsRecord,
    SubscriptionRecord as SubscriptionEntry, WillDueRecord, WillRecord,
};
use crate::protocol::{LastWill, PacketId, WillProperties};
use crate::session::{
    Action, DropCounters, Flight, FlightStage, OutboundInflight, OutboundQueue, RestoreError,
    Session, SessionConfig, SessionMeters, SessionState, SessionStats, SubscriptionRecord,
};

impl Session {
    /// The session as stored, at `now_ms` on the session's clock and `wall_clock_ms`
    /// on the wall clock. Subscriptions are sorted by filter and inbound packet ids
    /// ascending, so equal sessions give equal snapshots.
    pub fn to_snapshot(&self, now_ms: u64, wall_clock_ms: u64) -> SessionSnapshot {
        let state = self.state();
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
            connected: self.is_connected(),
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
    /// `actions` receives what the runtime must run for it:
    ///
    /// - a session whose client was away when the snapshot was written: an
    ///   [`Action::ArmTimer`] for [`TimerKind::WillDelay`](crate::session::TimerKind::WillDelay) when a will is pending
    ///   and for [`TimerKind::SessionExpiry`](crate::session::TimerKind::SessionExpiry) unless it never expires (the
    ///   deadlines kept their wall-clock times, so either may be due at once);
    /// - a session that was connected: its connection is gone, so it ends as a
    ///   lost connection does, dated at the restore (the downtime does not count
    ///   against the client): the will is published or its delay armed, the
    ///   expiry armed, or the session ends at once when its expiry interval is 0.
    ///
    /// The runtime adds the session's [`Session::subscriptions`] to the trie.
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
        Ok(Session::restore(
            state,
            was_connected,
            config,
            meters,
            now_ms,
            actions,
        ))
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
pub(super) fn will_due_record(will_at_ms: u64, now_ms: u64, wall_clock_ms: u64) -> WillDueRecord {
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

pub(super) fn will_record(will: &LastWill) -> WillRecord {
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
