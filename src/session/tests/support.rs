//! Builders for packets and messages, and helpers to pick actions apart.

use std::sync::Arc;

use bytes::Bytes;
use bytestring::ByteString;

use crate::protocol::*;
use crate::session::{
    refuse_connect, Action, ConnectOutcome, Message, Session, SessionConfig, SessionMeters,
    SharedMessage, SubscriptionMatch, TimerKind, Violation,
};

/// A v5 CONNECT with Clean Start 1 and Keep Alive 60 s.
pub fn v5_connect(client_id: &str) -> Connect {
    Connect {
        protocol_version: ProtocolVersion::V5,
        clean_start: true,
        keep_alive_s: 60,
        client_id: ByteString::from(client_id),
        will: None,
        username: None,
        password: None,
        properties: ConnectProperties::default(),
    }
}

/// A CONNECT of the given level with Keep Alive 60 s.
pub fn connect_of(version: ProtocolVersion, client_id: &str, clean_start: bool) -> Connect {
    Connect {
        protocol_version: version,
        clean_start,
        ..v5_connect(client_id)
    }
}

/// A v5 CONNECT that keeps its session for `session_expiry_interval_s`.
pub fn v5_persistent_connect(client_id: &str, session_expiry_interval_s: u32) -> Connect {
    let mut connect = v5_connect(client_id);
    connect.clean_start = false;
    connect.properties.session_expiry_interval_s = Some(session_expiry_interval_s);
    connect
}

/// A will on `topic_name` with QoS 0 and the given v5 Will Delay Interval.
pub fn will(topic_name: &str, will_delay_interval_s: Option<u32>) -> LastWill {
    LastWill {
        topic_name: ByteString::from(topic_name),
        payload: Bytes::from_static(b"gone"),
        qos: QoS::AtMostOnce,
        retain: false,
        properties: WillProperties {
            will_delay_interval_s,
            ..WillProperties::default()
        },
    }
}

/// Connects with the default config and expects acceptance.
pub fn accept(connect: Connect, existing: Option<Session>, now_ms: u64) -> (Session, Vec<Action>) {
    accept_with(connect, existing, &SessionConfig::default(), now_ms)
}

/// Connects with `config`, on meters of its own, and expects acceptance.
pub fn accept_with(
    connect: Connect,
    existing: Option<Session>,
    config: &SessionConfig,
    now_ms: u64,
) -> (Session, Vec<Action>) {
    accept_metered(connect, existing, config, &Arc::default(), now_ms)
}

/// Connects with `config`, counting on `meters` (a shard's: share them
/// between the sessions of one test), and expects acceptance.
pub fn accept_metered(
    connect: Connect,
    existing: Option<Session>,
    config: &SessionConfig,
    meters: &Arc<SessionMeters>,
    now_ms: u64,
) -> (Session, Vec<Action>) {
    let mut actions = Vec::new();
    assert!(
        !refuse_connect(&connect, false, config, &mut actions),
        "refuse_connect refuses what connect accepts: {actions:?}"
    );
    match Session::connect(
        connect,
        None,
        existing,
        &Arc::new(config.clone()),
        meters,
        now_ms,
        &mut actions,
    ) {
        ConnectOutcome::Accepted(session) => (session, actions),
        ConnectOutcome::Refused { .. } => panic!("connect refused: {actions:?}"),
    }
}

/// Connects a new session with the default config and expects refusal.
pub fn refused(connect: Connect) -> Vec<Action> {
    let mut asked = Vec::new();
    assert!(refuse_connect(
        &connect,
        false,
        &SessionConfig::default(),
        &mut asked
    ));
    let mut actions = Vec::new();
    let outcome = Session::connect(
        connect,
        None,
        None,
        &Arc::new(SessionConfig::default()),
        &Arc::default(),
        0,
        &mut actions,
    );
    assert!(matches!(
        outcome,
        ConnectOutcome::Refused { existing: None }
    ));
    assert_eq!(asked, actions, "refuse_connect and connect refuse alike");
    actions
}

/// The CONNACK among the actions.
pub fn connack(actions: &[Action]) -> &ConnAck {
    actions
        .iter()
        .find_map(|action| match action {
            Action::Send(Packet::ConnAck(connack)) => Some(&**connack),
            _ => None,
        })
        .expect("a CONNACK")
}

/// Every packet sent, in order; a delivery as the PUBLISH it encodes to.
pub fn sent(actions: &[Action]) -> Vec<Packet> {
    actions
        .iter()
        .filter_map(|action| match action {
            Action::Send(packet) | Action::Acknowledge(packet) | Action::AnswerPublish(packet) => {
                Some(packet.clone())
            }
            Action::Deliver(delivery) => Some(Packet::Publish(delivery.to_packet())),
            _ => None,
        })
        .collect()
}

/// Every PUBLISH sent, in order.
pub fn sent_publishes(actions: &[Action]) -> Vec<Publish> {
    sent(actions)
        .into_iter()
        .filter_map(|packet| match packet {
            Packet::Publish(publish) => Some(publish),
            _ => None,
        })
        .collect()
}

/// Every message routed, in order.
pub fn routed(actions: &[Action]) -> Vec<&SharedMessage> {
    actions
        .iter()
        .filter_map(|action| match action {
            Action::Publish { message, .. } => Some(message),
            _ => None,
        })
        .collect()
}

/// The reason of the Close among the actions, if any.
pub fn close_reason(actions: &[Action]) -> Option<ReasonCode> {
    actions.iter().find_map(|action| match action {
        Action::Close { reason_code, .. } => Some(*reason_code),
        _ => None,
    })
}

/// The rule the Close among the actions says the client broke: `None` when
/// there is no Close, `Some(None)` for a Close that names none.
pub fn close_violation(actions: &[Action]) -> Option<Option<Violation>> {
    actions.iter().find_map(|action| match action {
        Action::Close { violation, .. } => Some(*violation),
        _ => None,
    })
}

/// The reason of the DISCONNECT sent, if any.
pub fn disconnect_reason(actions: &[Action]) -> Option<ReasonCode> {
    sent(actions).into_iter().find_map(|packet| match packet {
        Packet::Disconnect(disconnect) => Some(disconnect.reason_code),
        _ => None,
    })
}

/// When the timer of this kind was last armed, if it was.
pub fn armed_at_ms(actions: &[Action], kind: TimerKind) -> Option<u64> {
    actions.iter().rev().find_map(|action| match action {
        Action::ArmTimer { timer, at_ms } if *timer == kind => Some(*at_ms),
        _ => None,
    })
}

/// True when the actions end the session.
pub fn ends_session(actions: &[Action]) -> bool {
    actions.contains(&Action::EndSession)
}

/// A PUBLISH from a client.
pub fn publish(topic_name: &str, qos: QoS, packet_id: Option<PacketId>) -> Publish {
    Publish {
        dup: false,
        qos,
        retain: false,
        topic_name: ByteString::from(topic_name),
        packet_id,
        properties: None,
        payload: Bytes::from_static(b"payload"),
    }
}

/// A routed message from `publisher`.
pub fn message(topic_name: &str, qos: QoS, publisher: &str) -> SharedMessage {
    Arc::new(Message {
        topic_name: ByteString::from(topic_name),
        payload: Bytes::from_static(b"payload"),
        qos,
        retain: false,
        properties: Default::default(),
        expires_at_ms: None,
        publisher: ByteString::from(publisher),
    })
}

/// A plain subscription match with this granted QoS.
pub fn granted(qos: QoS) -> SubscriptionMatch {
    SubscriptionMatch {
        qos,
        subscription_identifier: None,
        no_local: false,
        retain_as_published: false,
    }
}

/// Feeds one packet and returns the actions.
pub fn feed(session: &mut Session, packet: Packet, now_ms: u64) -> Vec<Action> {
    let mut actions = Vec::new();
    session.handle_packet(packet, now_ms, &mut actions);
    actions
}

/// Delivers one message through plain subscriptions of this QoS.
pub fn deliver(
    session: &mut Session,
    message: &SharedMessage,
    qos: QoS,
    now_ms: u64,
) -> Vec<Action> {
    let mut actions = Vec::new();
    session.deliver(message, &[granted(qos)], now_ms, &mut actions);
    actions
}

/// A DISCONNECT with this reason and no properties.
pub fn disconnect(reason_code: ReasonCode) -> Packet {
    Packet::Disconnect(Disconnect {
        reason_code,
        properties: DisconnectProperties::default(),
    })
}
