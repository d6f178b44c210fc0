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
use super::{
    Action, Change, PublishRefusal, Session, SessionConfig, SessionMeters, SessionOwner, TimerKind,
    Violation,
};
use crate::auth::{AclAccess, AclSubject};
use crate::limits;
use crate::protocol::{
    encoded_len, ConnAck, ConnAckProperties, Connect, ConnectProperties, Packet, ProtocolVersion,
    QoS, ReasonCode,
};
use crate::topic::{is_sys_topic, validate_topic_name_within};

/// What [`Session::connect`] made of a CONNECT.
#[derive(Debug)]
pub enum ConnectOutcome {
    /// The connection is accepted and runs this session; the actions hold the
    /// CONNACK, the keep-alive timer, resent flows and queued messages.
    Accepted(Session),
    /// The connection is refused; the actions hold the CONNACK with the failure
    /// code (when the protocol level has one for it and it fits the client's
    /// Maximum Packet Size) and [`Action::Close`]. A v5 client whose Maximum
    /// Packet Size no CONNACK accepting it can fit gets [`Action::Close`] alone.
    /// The stored session, if one was passed in, comes back untouched.
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
/// would (the CONNACK with the failure code where the protocol level has one
/// and it fits the client's Maximum Packet Size, and [`Action::Close`]) and
/// returns true. Refusal never depends on the stored session, so a runtime can
/// ask before it touches that session (a refused CONNECT must not take over),
/// and nothing is cloned to ask.
///
/// One refusal depends on the Assigned Client Identifier, which is not passed
/// here: a v5 CONNACK that fits the client's Maximum Packet Size only without
/// that identifier, refused with 0x85 (Client Identifier not valid). Only
/// [`Session::connect`] refuses that one; a generated client id has no stored
/// session to protect. A CONNACK that does not fit even without the
/// identifier does not fit with it, so that refusal is made here too.
pub fn refuse_connect(
    connect: &Connect,
    has_assigned_client_id: bool,
    config: &SessionConfig,
    actions: &mut Vec<Action>,
) -> bool {
    let checked = check_connect(connect, has_assigned_client_id, config)
        .and_then(|()| accepted_connack_properties(connect, None, config).map(|_| ()));
    match checked {
        Ok(()) => false,
        Err(refusal) => {
            refuse(refusal, connect, actions);
            true
        }
    }
}

/// Pushes the actions that refuse `connect` with `reason_code` for who the
/// client is, decided outside the session (an [`Authenticator`]'s answer, or
/// a takeover of another user's session): the CONNACK with the code (0x86 or
/// 0x87; under 3.x the codec sends return code 4 or 5) and [`Action::Close`].
///
/// [`Authenticator`]: crate::auth::Authenticator
pub fn refuse_unauthenticated(
    connect: &Connect,
    reason_code: ReasonCode,
    actions: &mut Vec<Action>,
) {
    refuse(Refusal::with_connack(reason_code), connect, actions);
}

/// Why a CONNECT is refused, whether a CONNACK can say so, and the rule the
/// client broke when that is why.
struct Refusal {
    reason_code: ReasonCode,
    send_connack: bool,
    violation: Option<Violation>,
}

impl Refusal {
    /// A refusal that is not the client's error, with a CONNACK.
    fn with_connack(reason_code: ReasonCode) -> Refusal {
        Refusal {
            reason_code,
            send_connack: true,
            violation: None,
        }
    }

    /// The client broke `violation`: a CONNACK with its reason code.
    fn violation(violation: Violation) -> Refusal {
        Refusal {
            reason_code: violation.reason_code(),
            send_connack: true,
            violation: Some(violation),
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
    /// `config` and `meters` are those of the shard, shared by its sessions.
    pub fn connect(
        connect: Connect,
        assigned_client_id: Option<ByteString>,
        existing: Option<Session>,
        config: &Arc<SessionConfig>,
        meters: &Arc<SessionMeters>,
        now_ms: u64,
        actions: &mut Vec<Action>,
    ) -> ConnectOutcome {
        // What refuse_connect checks, with the Assigned Client Identifier itself
        // in the CONNACK rather than a guess at its size.
        let checked =
            check_connect(&connect, assigned_client_id.is_some(), config).and_then(|()| {
                accepted_connack_properties(&connect, assigned_client_id.clone(), config)
            });
        let connack_properties = match checked {
            Ok(properties) => properties,
            Err(refusal) => {
                refuse(refusal, &connect, actions);
                return ConnectOutcome::Refused { existing };
            }
        };
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
        let owner = SessionOwner::User(connect.username);
        // A clean session that replaced a journaled one stays journaled, so
        // that what the old one stored is ended on disk too.
        let journaled = config.journal
            && (session_expiry_interval_s > 0 || existing.as_ref().is_some_and(|s| s.journaled));
        // First: what the old session's end or its resume causes is replayed
        // onto the session this record starts.
        if journaled {
            actions.push(Action::Journal(Change::Connected { session_present }));
        }
        let mut state = match existing {
            Some(previous) if session_present => previous.resume(actions),
            Some(mut previous) => {
                previous.end_replaced_session(now_ms, actions);
                SessionState::new(client_id, protocol_version, meters)
            }
            None => SessionState::new(client_id, protocol_version, meters),
        };
        state.protocol_version = protocol_version;
        state.session_expiry_interval_s = session_expiry_interval_s;
        state.will = connect.will.map(Box::new);
        // `$SYS` belongs to the broker: a will there is accepted with its
        // CONNECT, as Mosquitto does, but never stored, so it is not published
        // (nor persisted to be published after a restart); refused and counted
        // as a PUBLISH to `$SYS` is.
        if let Some(will) = state.will.take_if(|will| is_sys_topic(&will.topic_name)) {
            actions.push(Action::PublishRefused(PublishRefusal::SysTopic {
                topic_name: will.topic_name,
            }));
        }
        // A will the ACL does not let its client publish is dropped the same
        // way: the CONNECT is still accepted.
        if let (Some(acl), Some(will)) = (config.acl.as_deref(), state.will.as_ref()) {
            let subject = AclSubject {
                username: owner.username(),
                client_id: &state.client_id,
            };
            if !acl.check(&subject, AclAccess::Write, &will.topic_name) {
                meters.acl_denials.publish.add(1);
                let will = state.will.take().expect("checked just above");
                actions.push(Action::PublishRefused(PublishRefusal::NotAuthorized {
                    topic_name: will.topic_name,
                }));
            }
        }
        let connection = ConnectionState::new(
            &connect.properties,
            protocol_version,
            keep_alive_s,
            config,
            now_ms,
        );

        let connack = ConnAck {
            // MQTT 3.1 has no Session Present flag: the first CONNACK byte is
            // reserved and 0 (3.1, 3.2), whether a session was resumed or not.
            session_present: session_present && protocol_version != ProtocolVersion::V3_1,
            reason_code: ReasonCode::Success,
            properties: connack_properties,
        };
        actions.push(Action::Send(Packet::ConnAck(Box::new(connack))));
        if connection.keep_alive_timeout_ms > 0 {
            actions.push(Action::ArmTimer {
                timer: TimerKind::KeepAlive,
                at_ms: now_ms + connection.keep_alive_timeout_ms,
            });
        }

        let mut session = Session {
            config: Arc::clone(config),
            meters: Arc::clone(meters),
            state,
            connection: Some(Box::new(connection)),
            journaled,
            owner,
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

    /// Clean Start replaced this stored session: it ends now. A will still
    /// waiting for its Will Delay Interval is discarded, not published.
    ///
    /// The specification pulls two ways here. The will is delayed "until the
    /// Will Delay Interval has passed or the Session ends, whichever happens
    /// first" (3.1.3.2.2), and Clean Start ends the stored session. But
    /// [MQTT-3.1.2-8] makes publishing it a duty only "unless ... a new Network
    /// Connection for the ClientID is opened before the Will Delay Interval has
    /// elapsed", which is this case, whatever the new connection's Clean Start;
    /// and the delay exists so that a client that comes back in time is not
    /// announced as gone (the note to 3.1.3.2.2). A client reconnecting within
    /// its own delay is not gone, so nothing is published, as Mosquitto does.
    /// A will whose delay has passed (its timer not yet run) is published.
    /// A will with no delay was published when the old connection ended, a
    /// takeover included ([MQTT-3.1.4-3]: the existing client's will is
    /// published as 3.1.2.5 describes), so there is none pending here.
    fn end_replaced_session(&mut self, now_ms: u64, actions: &mut Vec<Action>) {
        match self.state.will_at_ms {
            Some(at_ms) if at_ms <= now_ms => self.publish_will(now_ms, actions),
            _ => {
                self.state.will = None;
                self.state.will_at_ms = None;
            }
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
            stalled: false,
        }
    }
}

impl SessionState {
    fn new(
        client_id: ByteString,
        protocol_version: ProtocolVersion,
        meters: &SessionMeters,
    ) -> SessionState {
        SessionState {
            client_id,
            protocol_version,
            session_expiry_interval_s: 0,
            subscriptions: FastMap::default(),
            inflight: OutboundInflight::new(Arc::clone(&meters.inflight_gauge)),
            queue: OutboundQueue::new(Arc::clone(&meters.delivery_gauge)),
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
    // A 3.x client cannot be told a shorter Keep Alive; Mosquitto refuses
    // it with "identifier rejected", the one 3.x code that fits at all.
    if !connect.protocol_version.is_v5() && connect.keep_alive_s > config.keep_alive_max_s {
        return Err(Refusal::with_connack(ReasonCode::ClientIdentifierNotValid));
    }
    if properties.receive_maximum == Some(0) {
        return Err(Refusal::violation(Violation::ReceiveMaximumZero));
    }
    if properties.maximum_packet_size == Some(0) {
        return Err(Refusal::violation(Violation::MaximumPacketSizeZero));
    }
    if connect.client_id.is_empty() && !has_assigned_client_id {
        return Err(Refusal::violation(Violation::ClientIdentifierEmpty));
    }
    if connect.protocol_version == ProtocolVersion::V3_1
        && connect.client_id.chars().count() > limits::CLIENT_ID_V3_1_MAX_CHARS
    {
        return Err(Refusal::violation(Violation::ClientIdentifierTooLong));
    }
    let Some(will) = &connect.will else {
        return Ok(());
    };
    if validate_topic_name_within(&will.topic_name, config.max_topic_levels).is_err() {
        // Malformed: 3.x has no CONNACK code for it and closes without one.
        return Err(Refusal {
            send_connack: connect.protocol_version.is_v5(),
            ..Refusal::violation(Violation::WillTopicInvalid)
        });
    }
    if connect.protocol_version.is_v5() {
        let will_claims_utf8 = will.properties.payload_format_indicator == Some(true);
        if config.validate_payload_format
            && will_claims_utf8
            && std::str::from_utf8(&will.payload).is_err()
        {
            return Err(Refusal::violation(Violation::WillPayloadFormatInvalid));
        }
        // Subscribers would receive the will with that Response Topic, which must
        // be a topic name [MQTT-3.3.2-14].
        if !response_topic_is_valid(will.properties.response_topic.as_deref()) {
            return Err(Refusal::violation(Violation::WillResponseTopicInvalid));
        }
        if will.qos > config.maximum_qos {
            return Err(Refusal::violation(Violation::WillQosNotSupported));
        }
        if will.retain && !config.retain_available {
            return Err(Refusal::violation(Violation::WillRetainNotSupported));
        }
    }
    Ok(())
}

fn refuse(refusal: Refusal, connect: &Connect, actions: &mut Vec<Action>) {
    if refusal.send_connack {
        let connack = Packet::ConnAck(Box::new(ConnAck {
            session_present: false,
            reason_code: refusal.reason_code,
            properties: ConnAckProperties::default(),
        }));
        // A v5 refusal CONNACK is 5 bytes: a client that allows fewer gets
        // none [MQTT-3.1.2-24], only the closed connection.
        let maximum = client_maximum_packet_size(connect);
        if connack_fits(&connack, connect.protocol_version, maximum) {
            actions.push(Action::Send(connack));
        }
    }
    actions.push(Action::Close {
        reason_code: refusal.reason_code,
        violation: refusal.violation,
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

/// The properties of the CONNACK that accepts `connect` (none below v5), cut to
/// the client's Maximum Packet Size [MQTT-3.1.2-24] in [`LEAVE_OUT_ORDER`]; the
/// refusal when even what the client must know does not fit.
fn accepted_connack_properties(
    connect: &Connect,
    assigned_client_id: Option<ByteString>,
    config: &SessionConfig,
) -> Result<ConnAckProperties, Refusal> {
    if !connect.protocol_version.is_v5() {
        return Ok(ConnAckProperties::default());
    }
    let mut properties = connack_properties(config, assigned_client_id);
    if connect.properties.request_response_information == Some(true) {
        properties.response_information = config.response_information.clone();
    }
    let requested_expiry_s = requested_session_expiry_s(connect);
    let session_expiry_interval_s = requested_expiry_s.min(config.session_expiry_interval_max_s);
    if session_expiry_interval_s != requested_expiry_s {
        properties.session_expiry_interval_s = Some(session_expiry_interval_s);
    }
    let keep_alive_s = granted_keep_alive_s(connect.keep_alive_s, config);
    if keep_alive_s != connect.keep_alive_s {
        properties.server_keep_alive_s = Some(keep_alive_s);
    }
    let Some(maximum) = client_maximum_packet_size(connect) else {
        return Ok(properties);
    };
    if leave_out_until_fits(&mut properties, maximum) {
        return Ok(properties);
    }
    // An empty client id must be answered with an Assigned Client Identifier
    // [MQTT-3.2.2-16], which this client cannot receive. A server need not allow
    // empty client ids ([MQTT-3.1.3-6] says "MAY"), and may refuse an id with
    // 0x85 (Client Identifier not valid) before closing [MQTT-3.1.3-8]. When the
    // CONNACK would fit without the identifier, that refusal (5 bytes, no more
    // than this CONNACK) tells the client what to change: send an id of its own.
    if properties.assigned_client_identifier.take().is_some()
        && leave_out_until_fits(&mut properties, maximum)
    {
        return Err(Refusal::with_connack(ReasonCode::ClientIdentifierNotValid));
    }
    // No CONNACK accepting this client can be sent [MQTT-3.1.2-24], and no
    // other packet may come before one [MQTT-3.2.0-1]: closing is what is
    // left. It is a refusal without CONNACK, as for a malformed will under 3.x
    // (only Action::Close, which the runtime's refusal paths already handle);
    // a refusal CONNACK would have no reason code that says why (0x95 is about
    // the CONNECT being too large), so 0x95 is only for the log.
    Err(Refusal {
        reason_code: ReasonCode::PacketTooLarge,
        send_connack: false,
        violation: None,
    })
}

/// The Maximum Packet Size a v5 client set (3.1.2.11.4). 0 is a Protocol Error
/// the CONNACK refusing it cannot honour, so it stands for no limit.
fn client_maximum_packet_size(connect: &Connect) -> Option<u32> {
    connect
        .properties
        .maximum_packet_size
        .filter(|&maximum| maximum > 0 && connect.protocol_version.is_v5())
}

/// True when `connack` encodes at `version` in at most `maximum` bytes, or
/// there is no maximum.
fn connack_fits(connack: &Packet, version: ProtocolVersion, maximum: Option<u32>) -> bool {
    match maximum {
        None => true,
        Some(maximum) => encoded_len(connack, version).is_ok_and(|len| len <= maximum as usize),
    }
}

/// Leaves the optional `properties` of a v5 CONNACK accepting a connection out,
/// one at a time in [`LEAVE_OUT_ORDER`], until the CONNACK is at most `maximum`
/// bytes; true when it then is, false when it is not even with none of them.
pub(super) fn leave_out_until_fits(properties: &mut ConnAckProperties, maximum: u32) -> bool {
    let mut connack = Packet::ConnAck(Box::new(ConnAck {
        // A flag bit and a reason code byte: they do not change the size.
        session_present: false,
        reason_code: ReasonCode::Success,
        properties: std::mem::take(properties),
    }));
    let mut fits = connack_fits(&connack, ProtocolVersion::V5, Some(maximum));
    for leave_out in LEAVE_OUT_ORDER {
        if fits {
            break;
        }
        if leave_out(connack_properties_mut(&mut connack)) {
            fits = connack_fits(&connack, ProtocolVersion::V5, Some(maximum));
        }
    }
    *properties = std::mem::take(connack_properties_mut(&mut connack));
    fits
}

fn connack_properties_mut(connack: &mut Packet) -> &mut ConnAckProperties {
    match connack {
        Packet::ConnAck(connack) => &mut connack.properties,
        _ => unreachable!("only a CONNACK is measured"),
    }
}

/// The largest packet the protocol can frame (1 + 4 + 268,435,455 bytes):
/// what a client takes when the CONNACK has no Maximum Packet Size (3.2.2.3.6).
const PROTOCOL_MAXIMUM_PACKET_SIZE: u32 = limits::REMAINING_LENGTH_MAX + 5;

/// The optional CONNACK properties (MQTT 5.0, 3.2.2.3), in the order they are
/// left out of a CONNACK larger than the client's Maximum Packet Size; each
/// step removes one and says whether it was there to remove. First what the
/// specification itself tells the server to leave out of a CONNACK too large;
/// then what the client reads as the same value when it is absent, so that
/// nothing is lost; then what it reads as a value no less restrictive than
/// ours, or as a service it asked for and may go without.
///
/// Never left out, as the client must know them to behave:
/// - Session Expiry Interval (3.2.2.3.2): sent only when ours differs from the
///   client's; absent, the client would take its own for the one in force.
/// - Receive Maximum (3.2.2.3.3) below 65,535: absent means 65,535, and the
///   client would send more QoS 1/2 PUBLISHes than we take (0x93).
/// - Maximum QoS (3.2.2.3.4): the server MUST send it when it does not
///   support QoS 1 or 2 [MQTT-3.2.2-9].
/// - Retain Available 0 (3.2.2.3.5): absent means available, and the client
///   would send retained messages we refuse (0x9A) [MQTT-3.2.2-14].
/// - Maximum Packet Size (3.2.2.3.6) below the protocol's: absent means the
///   protocol's limit, and the client could send packets we refuse (0x95)
///   [MQTT-3.2.2-15].
/// - Assigned Client Identifier (3.2.2.3.7): MUST be sent to a client that
///   connected with an empty id [MQTT-3.2.2-16]; the client has no other way
///   to learn the id of its session.
/// - Server Keep Alive (3.2.2.3.14): absent, we would have to use the
///   client's Keep Alive [MQTT-3.2.2-22] and the client would keep it
///   [MQTT-3.2.2-21].
/// - Wildcard Subscription, Subscription Identifiers and Shared Subscription
///   Available 0 (3.2.2.3.11 to 3.2.2.3.13): absent means available, and the
///   client would subscribe in ways we disconnect for. (We support all three
///   and never send these.)
/// - Authentication Method and Data (3.2.2.3.17, 3.2.2.3.18): part of an
///   authentication exchange (4.12), which we refuse, so never sent.
const LEAVE_OUT_ORDER: [fn(&mut ConnAckProperties) -> bool; 11] = [
    // 1. Reason String (3.2.2.3.9): the server MUST NOT send it when it would
    //    make the CONNACK exceed the Maximum Packet Size [MQTT-3.2.2-19]; it is
    //    for diagnostics only.
    |properties| properties.reason_string.take().is_some(),
    // 2. User Property (3.2.2.3.10): likewise [MQTT-3.2.2-20]; its meaning is
    //    not defined by the spec and the client MAY ignore it.
    |properties| !std::mem::take(&mut properties.user_properties).is_empty(),
    // 3. Values that equal what their absence means, so the client learns the
    //    same without them: Wildcard Subscription, Subscription Identifiers and
    //    Shared Subscription Available 1 (3.2.2.3.11 to 3.2.2.3.13), Retain
    //    Available 1 (3.2.2.3.5), Receive Maximum 65,535 (3.2.2.3.3), a Maximum
    //    Packet Size of the protocol's limit (3.2.2.3.6).
    |properties| {
        properties
            .wildcard_subscription_available
            .take_if(|available| *available)
            .is_some()
    },
    |properties| {
        properties
            .subscription_identifiers_available
            .take_if(|available| *available)
            .is_some()
    },
    |properties| {
        properties
            .shared_subscription_available
            .take_if(|available| *available)
            .is_some()
    },
    |properties| {
        properties
            .retain_available
            .take_if(|available| *available)
            .is_some()
    },
    |properties| {
        properties
            .receive_maximum
            .take_if(|maximum| *maximum == u16::MAX)
            .is_some()
    },
    |properties| {
        properties
            .maximum_packet_size
            .take_if(|maximum| *maximum >= PROTOCOL_MAXIMUM_PACKET_SIZE)
            .is_some()
    },
    // 4. Server Reference (3.2.2.3.16): the spec gives it a use only with
    //    0x9C (Use another server) or 0x9D (Server moved) (4.11); a CONNACK
    //    that accepts the connection tells the client nothing with it.
    |properties| properties.server_reference.take().is_some(),
    // 5. Topic Alias Maximum (3.2.2.3.8): absent means 0, and the client then
    //    sends no topic alias [MQTT-3.2.2-18], only topic names, which we always
    //    take: more restrictive for the client, costing it bytes per PUBLISH
    //    and nothing else.
    |properties| properties.topic_alias_maximum.take().is_some(),
    // 6. Response Information (3.2.2.3.15): sending it is OPTIONAL even when
    //    the client asks for it. Last of all, since the client did ask, and its
    //    application may build its response topics from it (4.10).
    |properties| properties.response_information.take().is_some(),
];
