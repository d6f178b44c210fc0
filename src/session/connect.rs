//! CONNECT: checking it, choosing what the connection runs with (keep-alive,
//! session expiry, windows, aliases), resuming or replacing the stored session, and
//! the CONNACK that says so.

use std::sync::Arc;

use bytestring::ByteString;

use super::alias::{InboundTopicAliases, OutboundTopicAliases};
use super::inbound::response_topic_is_valid;
use super::inflight::OutboundInflight;
use super::queue::OutboundQueue;
use super::state::{ConnectionState, DropCounters, FastMap, FastSet, SessionState};
use super::{Action, Session, SessionConfig, TimerKind};
use crate::limits;
use crate::protocol::{
    ConnAck, ConnAckProperties, Connect, ConnectProperties, Packet, ProtocolVersion, QoS,
    ReasonCode,
};
use crate::topic::validate_topic_name;

/// What [`Session::connect`] made of a CONNECT.
#[derive(Debug)]
pub enum ConnectOutcome {
    /// The connection is accepted and runs this session; the actions hold the
    /// CONNACK, the keep-alive timer, resent flows and queued messages.
    Accepted(Session),
    /// The connection is refused; the actions hold the CONNACK with the failure
    /// code (when the protocol level has one for it) and [`Action::Close`]. The
    /// stored session, if one was passed in, comes back untouched.
    Refused {
        /// The `existing` session passed to [`Session::connect`].
        existing: Option<Session>,
    },
}

/// True when the CONNECT carries an empty client id that the server must replace
/// with a unique one of its own before [`Session::connect`] (3.1.1 with Clean
/// Session 1, or 5.0). The runtime generates it, since it picks the home shard.
pub fn needs_assigned_client_id(connect: &Connect) -> bool {
    connect.client_id.is_empty()
        && match connect.protocol_version {
            ProtocolVersion::V3_1 => false,
            ProtocolVersion::V3_1_1 => connect.clean_start,
            ProtocolVersion::V5 => true,
        }
}

/// When [`Session::connect`] would refuse `connect`, pushes the actions it
/// would (the CONNACK with the failure code where the protocol level has one,
/// and [`Action::Close`]) and returns true. Refusal never depends on the
/// stored session, so a runtime can ask before it touches that session (a
/// refused CONNECT must not take over), and nothing is cloned to ask.
pub fn refuse_connect(
    connect: &Connect,
    has_assigned_client_id: bool,
    config: &SessionConfig,
    actions: &mut Vec<Action>,
) -> bool {
    match check_connect(connect, has_assigned_client_id, config) {
        Ok(()) => false,
        Err(refusal) => {
            refuse(refusal, actions);
            true
        }
    }
}

/// Why a CONNECT is refused, and whether a CONNACK can say so.
struct Refusal {
    reason_code: ReasonCode,
    send_connack: bool,
}

impl Refusal {
    fn with_connack(reason_code: ReasonCode) -> Refusal {
        Refusal {
            reason_code,
            send_connack: true,
        }
    }
}

impl Session {
    /// A CONNECT decoded on a new connection at `now_ms`.
    ///
    /// `assigned_client_id` is the id the runtime generated when
    /// [`needs_assigned_client_id`] said so (sent back as Assigned Client Identifier
    /// under v5), else `None`. `existing` is the stored session of the same client
    /// id: it is resumed unless Clean Start is set (or its expiry interval was 0),
    /// in which case it ends (its pending will is published, its subscriptions
    /// removed). If it is still connected, call [`Session::taken_over`] on it first.
    pub fn connect(
        connect: Connect,
        assigned_client_id: Option<ByteString>,
        existing: Option<Session>,
        config: &Arc<SessionConfig>,
        now_ms: u64,
        actions: &mut Vec<Action>,
    ) -> ConnectOutcome {
        if refuse_connect(&connect, assigned_client_id.is_some(), config, actions) {
            return ConnectOutcome::Refused { existing };
        }
        assert!(
            !existing.as_ref().is_some_and(Session::is_connected),
            "call taken_over on a connected session before connect replaces it"
        );
        let protocol_version = connect.protocol_version;
        let requested_expiry_s = requested_session_expiry_s(&connect);
        let session_expiry_interval_s =
            requested_expiry_s.min(config.session_expiry_interval_max_s);
        // A 3.x client cannot be told another Keep Alive, and would be closed for
        // pinging at its own pace: only v5 gets the override and the cap.
        let keep_alive_s = if protocol_version.is_v5() {
            granted_keep_alive_s(connect.keep_alive_s, config)
        } else {
            connect.keep_alive_s
        };
        // A stored session with expiry 0 ended with its connection (a takeover got
        // here before it was dropped), so there is nothing to resume.
        let session_present = !connect.clean_start
            && assigned_client_id.is_none()
            && existing
                .as_ref()
                .is_some_and(|previous| previous.state.session_expiry_interval_s != 0);
        let client_id = assigned_client_id.clone().unwrap_or(connect.client_id);
        let mut state = match existing {
            Some(previous) if session_present => previous.resume(actions),
            Some(mut previous) => {
                previous.end_replaced_session(now_ms, actions);
                SessionState::new(client_id, protocol_version, config)
            }
            None => SessionState::new(client_id, protocol_version, config),
        };
        state.protocol_version = protocol_version;
        state.session_expiry_interval_s = session_expiry_interval_s;
        state.will = connect.will.map(Box::new);
        let connection = ConnectionState::new(
            &connect.properties,
            protocol_version,
            keep_alive_s,
            config,
            now_ms,
        );

        let mut connack = ConnAck {
            session_present,
            reason_code: ReasonCode::Success,
            properties: ConnAckProperties::default(),
        };
        if protocol_version.is_v5() {
            connack.properties = connack_properties(config, assigned_client_id);
            if connect.properties.request_response_information == Some(true) {
                connack.properties.response_information = config.response_information.clone();
            }
            if session_expiry_interval_s != requested_expiry_s {
                connack.properties.session_expiry_interval_s = Some(session_expiry_interval_s);
            }
            if keep_alive_s != connect.keep_alive_s {
                connack.properties.server_keep_alive_s = Some(keep_alive_s);
            }
        }
        actions.push(Action::Send(Packet::ConnAck(Box::new(connack))));
        if connection.keep_alive_timeout_ms > 0 {
            actions.push(Action::ArmTimer {
                timer: TimerKind::KeepAlive,
                at_ms: now_ms + connection.keep_alive_timeout_ms,
            });
        }

        let mut session = Session {
            config: Arc::clone(config),
            state,
            connection: Some(Box::new(connection)),
        };
        debug_assert!(
            session.state.inflight.is_counted() && session.state.queue.is_counted(),
            "a connected session's flows and queue count against the shard's budgets"
        );
        if session_present {
            session.resend_inflight(now_ms, actions);
        }
        ConnectOutcome::Accepted(session)
    }

    /// A reconnect in time: the delayed will and the expiry are cancelled, and
    /// the flows in flight and the queue count against the shard's budgets again.
    fn resume(mut self, actions: &mut Vec<Action>) -> SessionState {
        self.state.will_at_ms = None;
        self.state.expires_at_ms = None;
        self.state.inflight.attach();
        self.state.queue.attach();
        actions.push(Action::CancelTimer(TimerKind::WillDelay));
        actions.push(Action::CancelTimer(TimerKind::SessionExpiry));
        self.state
    }

    /// Clean Start replaced this stored session: it ends now, with its pending will.
    fn end_replaced_session(&mut self, now_ms: u64, actions: &mut Vec<Action>) {
        if self.state.will_at_ms.is_some() {
            self.publish_will(now_ms, actions);
        }
        actions.push(Action::CancelTimer(TimerKind::WillDelay));
        actions.push(Action::CancelTimer(TimerKind::SessionExpiry));
        for topic_filter in self.state.subscriptions.keys() {
            actions.push(Action::Unsubscribe {
                topic_filter: topic_filter.clone(),
            });
        }
    }
}

impl ConnectionState {
    fn new(
        properties: &ConnectProperties,
        protocol_version: ProtocolVersion,
        keep_alive_s: u16,
        config: &SessionConfig,
        now_ms: u64,
    ) -> ConnectionState {
        let inbound_topic_alias_maximum = if protocol_version.is_v5() {
            config.topic_alias_maximum
        } else {
            0
        };
        let outbound_topic_alias_maximum = properties
            .topic_alias_maximum
            .unwrap_or(0)
            .min(config.outbound_topic_alias_maximum);
        ConnectionState {
            keep_alive_timeout_ms: u64::from(keep_alive_s) * 1500,
            last_packet_ms: now_ms,
            client_receive_maximum: properties
                .receive_maximum
                .unwrap_or(limits::CLIENT_RECEIVE_MAXIMUM_DEFAULT),
            client_maximum_packet_size: properties
                .maximum_packet_size
                .unwrap_or(limits::REMAINING_LENGTH_MAX + 5),
            inbound_aliases: InboundTopicAliases::new(inbound_topic_alias_maximum),
            outbound_aliases: OutboundTopicAliases::new(outbound_topic_alias_maximum),
            congested: false,
            stalled: false,
        }
    }
}

impl SessionState {
    fn new(
        client_id: ByteString,
        protocol_version: ProtocolVersion,
        config: &SessionConfig,
    ) -> SessionState {
        SessionState {
            client_id,
            protocol_version,
            session_expiry_interval_s: 0,
            subscriptions: FastMap::default(),
            inflight: OutboundInflight::new(Arc::clone(&config.inflight_gauge)),
            queue: OutboundQueue::new(Arc::clone(&config.delivery_gauge)),
            awaiting_pubrel: FastSet::default(),
            will: None,
            will_at_ms: None,
            expires_at_ms: None,
            stats: DropCounters::default(),
        }
    }
}

fn check_connect(
    connect: &Connect,
    has_assigned_client_id: bool,
    config: &SessionConfig,
) -> Result<(), Refusal> {
    let properties = &connect.properties;
    if properties.authentication_method.is_some() {
        return Err(Refusal::with_connack(ReasonCode::BadAuthenticationMethod));
    }
    if properties.receive_maximum == Some(0) || properties.maximum_packet_size == Some(0) {
        return Err(Refusal::with_connack(ReasonCode::ProtocolError));
    }
    if connect.client_id.is_empty() && !has_assigned_client_id {
        return Err(Refusal::with_connack(ReasonCode::ClientIdentifierNotValid));
    }
    if connect.protocol_version == ProtocolVersion::V3_1
        && connect.client_id.chars().count() > limits::CLIENT_ID_V3_1_MAX_CHARS
    {
        return Err(Refusal::with_connack(ReasonCode::ClientIdentifierNotValid));
    }
    let Some(will) = &connect.will else {
        return Ok(());
    };
    if validate_topic_name(&will.topic_name).is_err() {
        // Malformed: 3.x has no CONNACK code for it and closes without one.
        return Err(Refusal {
            reason_code: ReasonCode::TopicNameInvalid,
            send_connack: connect.protocol_version.is_v5(),
        });
    }
    if connect.protocol_version.is_v5() {
        let will_claims_utf8 = will.properties.payload_format_indicator == Some(true);
        if config.validate_payload_format
            && will_claims_utf8
            && std::str::from_utf8(&will.payload).is_err()
        {
            return Err(Refusal::with_connack(ReasonCode::PayloadFormatInvalid));
        }
        // Subscribers would receive the will with that Response Topic, which must
        // be a topic name [MQTT-3.3.2-14].
        if !response_topic_is_valid(will.properties.response_topic.as_deref()) {
            return Err(Refusal::with_connack(ReasonCode::ProtocolError));
        }
        if will.qos > config.maximum_qos {
            return Err(Refusal::with_connack(ReasonCode::QosNotSupported));
        }
        if will.retain && !config.retain_available {
            return Err(Refusal::with_connack(ReasonCode::RetainNotSupported));
        }
    }
    Ok(())
}

fn refuse(refusal: Refusal, actions: &mut Vec<Action>) {
    if refusal.send_connack {
        actions.push(Action::Send(Packet::ConnAck(Box::new(ConnAck {
            session_present: false,
            reason_code: refusal.reason_code,
            properties: ConnAckProperties::default(),
        }))));
    }
    actions.push(Action::Close {
        reason_code: refusal.reason_code,
    });
}

/// The Session Expiry Interval the client asks for, seconds; `u32::MAX` is never.
fn requested_session_expiry_s(connect: &Connect) -> u32 {
    if connect.protocol_version.is_v5() {
        connect.properties.session_expiry_interval_s.unwrap_or(0)
    } else if connect.clean_start {
        0
    } else {
        u32::MAX
    }
}

/// The Keep Alive in force: the server's override, else the client's, lowered to
/// the configured maximum (which also replaces 0, "off", unless it is `u16::MAX`).
fn granted_keep_alive_s(client_keep_alive_s: u16, config: &SessionConfig) -> u16 {
    let requested_s = config.server_keep_alive_s.unwrap_or(client_keep_alive_s);
    if requested_s == 0 && config.keep_alive_max_s == u16::MAX {
        0
    } else if requested_s == 0 {
        config.keep_alive_max_s
    } else {
        requested_s.min(config.keep_alive_max_s)
    }
}

/// The v5 CONNACK properties that describe our limits; defaults are left out.
/// Wildcard subscriptions, Subscription Identifiers and shared subscriptions are
/// always available, which is what their absence says (3.2.2.3.11 to 3.2.2.3.13).
fn connack_properties(
    config: &SessionConfig,
    assigned_client_identifier: Option<ByteString>,
) -> ConnAckProperties {
    ConnAckProperties {
        receive_maximum: (config.receive_maximum != u16::MAX).then_some(config.receive_maximum),
        maximum_qos: (config.maximum_qos != QoS::ExactlyOnce).then_some(config.maximum_qos),
        retain_available: (!config.retain_available).then_some(false),
        maximum_packet_size: Some(config.maximum_packet_size),
        assigned_client_identifier,
        topic_alias_maximum: (config.topic_alias_maximum > 0).then_some(config.topic_alias_maximum),
        ..ConnAckProperties::default()
    }
}
