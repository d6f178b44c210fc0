//! A live session driven through the public API, for the tests that compare
//! persisted state with what the broker had.

use std::sync::Arc;

use bytes::Bytes;
use bytestring::ByteString;

use crate::protocol::*;
use crate::session::{
    Action, ConnectOutcome, Message, Session, SessionConfig, SharedMessage, SubscriptionMatch,
    TimerKind,
};

/// A v5 CONNECT with Clean Start 0, keeping its session for `session_expiry_interval_s`,
/// with a QoS 0 will on "wills/{client_id}" delayed by `will_delay_interval_s`.
pub fn persistent_connect(
    client_id: &str,
    session_expiry_interval_s: u32,
    will_delay_interval_s: u32,
) -> Connect {
    Connect {
        protocol_version: ProtocolVersion::V5,
        clean_start: false,
        keep_alive_s: 60,
        client_id: ByteString::from(client_id),
        will: Some(LastWill {
            topic_name: ByteString::from(format!("wills/{client_id}")),
            payload: Bytes::from_static(b"gone"),
            qos: QoS::AtMostOnce,
            retain: false,
            properties: WillProperties {
                will_delay_interval_s: Some(will_delay_interval_s),
                ..WillProperties::default()
            },
        }),
        username: None,
        password: None,
        properties: ConnectProperties {
            session_expiry_interval_s: Some(session_expiry_interval_s),
            ..ConnectProperties::default()
        },
    }
}

/// Connects (resuming `existing`) and expects acceptance.
pub fn connect(connect: Connect, existing: Option<Session>, now_ms: u64) -> (Session, Vec<Action>) {
    connect_with(connect, existing, &SessionConfig::default(), now_ms)
}

/// Connects (resuming `existing`) under `config` and expects acceptance.
pub fn connect_with(
    connect: Connect,
    existing: Option<Session>,
    config: &SessionConfig,
    now_ms: u64,
) -> (Session, Vec<Action>) {
    let mut actions = Vec::new();
    let outcome = Session::connect(
        connect,
        None,
        existing,
        &Arc::new(config.clone()),
        &Arc::default(),
        now_ms,
        &mut actions,
    );
    let ConnectOutcome::Accepted(session) = outcome else {
        panic!("CONNECT refused: {actions:?}");
    };
    (session, actions)
}

/// Feeds one packet.
pub fn feed(session: &mut Session, packet: Packet, now_ms: u64) -> Vec<Action> {
    let mut actions = Vec::new();
    session.handle_packet(packet, now_ms, &mut actions);
    actions
}

/// A SUBSCRIBE of one filter at `qos`.
pub fn subscribe(topic_filter: &str, qos: QoS) -> Packet {
    Packet::Subscribe(Subscribe {
        packet_id: 1,
        properties: SubscribeProperties::default(),
        filters: vec![(
            ByteString::from(topic_filter),
            SubscriptionOptions {
                qos,
                ..SubscriptionOptions::default()
            },
        )],
    })
}

/// A message on `topic_name` from `publisher`, published at `now_ms`.
pub fn message(
    topic_name: &str,
    payload: &'static [u8],
    qos: QoS,
    publisher: &str,
) -> SharedMessage {
    Arc::new(Message {
        topic_name: ByteString::from(topic_name),
        payload: Bytes::from_static(payload),
        qos,
        retain: false,
        properties: Default::default(),
        expires_at_ms: None,
        publisher: ByteString::from(publisher),
    })
}

/// A plain subscription granted at `qos`, as the trie reports it.
pub fn granted(qos: QoS) -> SubscriptionMatch {
    SubscriptionMatch {
        qos,
        subscription_identifier: None,
        no_local: false,
        retain_as_published: false,
    }
}

/// Delivers `message` through one subscription granted at `qos`.
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

/// The packet ids of the PUBLISHes sent for the first time (DUP clear).
pub fn sent_packet_ids(actions: &[Action]) -> Vec<PacketId> {
    actions
        .iter()
        .filter_map(|action| match action {
            Action::Deliver(delivery) if !delivery.dup => delivery.packet_id,
            _ => None,
        })
        .collect()
}

/// When the timer of `kind` is armed to fire.
pub fn armed_at_ms(actions: &[Action], kind: TimerKind) -> Option<u64> {
    actions.iter().find_map(|action| match action {
        Action::ArmTimer { timer, at_ms } if *timer == kind => Some(*at_ms),
        _ => None,
    })
}
