//! Property test: any sequence of client packets, timers, deliveries, lost
//! connections and reconnects leaves the session within its bounds, and never
//! panics.

use std::sync::Arc;

use bytes::Bytes;
use bytestring::ByteString;
use proptest::prelude::*;

use super::support::*;
use crate::protocol::*;
use crate::session::{Action, ConnectOutcome, Message, Session, SessionConfig, TimerKind};

const TOPICS: [&str; 6] = ["a", "a/b", "", "a/+", "$share/g/a", "a/#/b"];

#[derive(Clone, Debug)]
enum Step {
    Packet(Box<Packet>),
    Timer(TimerKind, u64),
    Deliver {
        qos: QoS,
        topic: usize,
        expiry_ms: Option<u64>,
        big: bool,
        own: bool,
    },
    Lost,
    Reconnect {
        clean_start: bool,
        session_expiry_interval_s: u32,
    },
}

fn qos() -> impl Strategy<Value = QoS> {
    (0u8..3).prop_map(|value| QoS::from_u8(value).unwrap())
}

fn topic() -> impl Strategy<Value = ByteString> {
    (0..TOPICS.len()).prop_map(|index| ByteString::from(TOPICS[index]))
}

fn response() -> impl Strategy<Value = PublishResponse> {
    // The decoder refuses packet id 0 [MQTT-2.2.1-3], so responses never carry it.
    (1u16..6, any::<bool>()).prop_map(|(packet_id, failed)| PublishResponse {
        packet_id,
        reason_code: if failed {
            ReasonCode::UnspecifiedError
        } else {
            ReasonCode::Success
        },
        properties: AckProperties::default(),
    })
}

fn publish_packet() -> impl Strategy<Value = Packet> {
    (
        qos(),
        proptest::option::of(0u16..6),
        topic(),
        proptest::option::of(0u16..4),
        any::<bool>(),
    )
        .prop_map(|(qos, packet_id, topic_name, topic_alias, retain)| {
            let mut packet = publish(&topic_name, qos, packet_id);
            packet.retain = retain;
            packet.properties_mut().topic_alias = topic_alias;
            packet.properties_mut().message_expiry_interval_s = topic_alias.map(u32::from);
            Packet::Publish(packet)
        })
}

fn subscribe_packet() -> impl Strategy<Value = Packet> {
    (
        topic(),
        qos(),
        any::<bool>(),
        0u8..3,
        proptest::option::of(1u32..4),
    )
        .prop_map(
            |(topic_filter, qos, no_local, retain_handling, subscription_identifier)| {
                let retain_handling = match retain_handling {
                    0 => RetainHandling::SendAtSubscribe,
                    1 => RetainHandling::SendAtNewSubscribe,
                    _ => RetainHandling::DoNotSend,
                };
                let options = SubscriptionOptions {
                    qos,
                    no_local,
                    retain_as_published: no_local,
                    retain_handling,
                };
                Packet::Subscribe(Subscribe {
                    packet_id: 1,
                    properties: SubscribeProperties {
                        subscription_identifier,
                        ..SubscribeProperties::default()
                    },
                    filters: vec![(topic_filter, options)],
                })
            },
        )
}

fn client_packet() -> impl Strategy<Value = Packet> {
    prop_oneof![
        4 => publish_packet(),
        2 => response().prop_map(Packet::PubAck),
        2 => response().prop_map(Packet::PubRec),
        2 => response().prop_map(Packet::PubRel),
        2 => response().prop_map(Packet::PubComp),
        1 => subscribe_packet(),
        1 => topic().prop_map(|topic_filter| Packet::Unsubscribe(Unsubscribe {
            packet_id: 2,
            properties: UnsubscribeProperties::default(),
            filters: vec![topic_filter],
        })),
        1 => Just(Packet::PingReq),
        1 => Just(Packet::PingResp),
        1 => (any::<bool>(), proptest::option::of(0u32..5)).prop_map(|(with_will, expiry_s)| {
            Packet::Disconnect(Disconnect {
                reason_code: if with_will {
                    ReasonCode::DisconnectWithWillMessage
                } else {
                    ReasonCode::Success
                },
                properties: DisconnectProperties {
                    session_expiry_interval_s: expiry_s,
                    ..DisconnectProperties::default()
                },
            })
        }),
        1 => Just(Packet::Connect(Box::new(v5_connect("c")))),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    let timer = prop_oneof![
        Just(TimerKind::KeepAlive),
        Just(TimerKind::WillDelay),
        Just(TimerKind::SessionExpiry)
    ];
    prop_oneof![
        8 => client_packet().prop_map(|packet| Step::Packet(Box::new(packet))),
        2 => (timer, 0u64..120_000).prop_map(|(timer, advance_ms)| Step::Timer(timer, advance_ms)),
        4 => (qos(), 0..2usize, proptest::option::of(0u64..5_000), any::<bool>(), any::<bool>())
            .prop_map(|(qos, topic, expiry_ms, big, own)| Step::Deliver { qos, topic, expiry_ms, big, own }),
        1 => Just(Step::Lost),
        1 => (any::<bool>(), 0u32..3).prop_map(|(clean_start, session_expiry_interval_s)| {
            Step::Reconnect { clean_start, session_expiry_interval_s }
        }),
    ]
}

fn connect(version: ProtocolVersion, clean_start: bool, session_expiry_interval_s: u32) -> Connect {
    let mut connect = connect_of(version, "c", clean_start);
    connect.properties.session_expiry_interval_s = Some(session_expiry_interval_s);
    connect.properties.receive_maximum = Some(3);
    connect.properties.topic_alias_maximum = Some(2);
    connect.properties.maximum_packet_size = Some(200);
    let mut last_will = will("w", Some(1));
    last_will.qos = QoS::AtLeastOnce;
    connect.will = Some(last_will);
    connect
}

fn reconnect(
    session: Option<Session>,
    connect: Connect,
    config: &SessionConfig,
    now_ms: u64,
    actions: &mut Vec<Action>,
) -> Option<Session> {
    let mut existing = session;
    if let Some(old) = existing.as_mut() {
        old.taken_over(now_ms, actions);
    }
    match Session::connect(
        connect,
        None,
        existing,
        &Arc::new(config.clone()),
        &Arc::default(),
        now_ms,
        actions,
    ) {
        ConnectOutcome::Accepted(session) => Some(session),
        ConnectOutcome::Refused { .. } => panic!("a valid CONNECT was refused"),
    }
}

/// Every packet the session sends must be encodable at the connection's level.
fn check_encodable(actions: &[Action], version: ProtocolVersion) {
    for packet in sent(actions) {
        let mut out = bytes::BytesMut::new();
        assert_eq!(encode(&packet, version, &mut out), Ok(()), "{packet:?}");
    }
}

fn check_bounds(session: &Session, config: &SessionConfig) {
    assert!(session.inflight_len() <= 3);
    if !session.holds_backlog() {
        assert!(session.queued_len() <= config.max_queued_messages);
    }
    assert!(session.state.awaiting_pubrel.len() <= usize::from(config.receive_maximum));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_input_sequence_keeps_the_session_within_bounds(
        v5 in any::<bool>(),
        steps in proptest::collection::vec(step(), 1..60),
    ) {
        let version = if v5 { ProtocolVersion::V5 } else { ProtocolVersion::V3_1_1 };
        let config = SessionConfig {
            receive_maximum: 2,
            topic_alias_maximum: 2,
            max_queued_messages: 4,
            maximum_qos: QoS::AtLeastOnce,
            ..SessionConfig::default()
        };
        let mut now_ms = 0;
        let mut actions = Vec::new();
        let mut session = reconnect(None, connect(version, true, 10), &config, now_ms, &mut actions);
        for step in steps {
            now_ms += 100;
            actions.clear();
            let Some(current) = session.as_mut() else {
                session = reconnect(None, connect(version, true, 10), &config, now_ms, &mut actions);
                continue;
            };
            match step {
                Step::Packet(packet) => current.handle_packet(*packet, now_ms, &mut actions),
                Step::Timer(timer, advance_ms) => {
                    now_ms += advance_ms;
                    current.handle_timer(timer, now_ms, &mut actions);
                }
                Step::Deliver { qos, topic, expiry_ms, big, own } => {
                    let message = Arc::new(Message {
                        topic_name: ByteString::from(TOPICS[topic]),
                        payload: Bytes::from(vec![0; if big { 300 } else { 3 }]),
                        qos,
                        retain: own,
                        properties: Default::default(),
                        expires_at_ms: expiry_ms.map(|expiry_ms| now_ms + expiry_ms),
                        publisher: ByteString::from(if own { "c" } else { "p" }),
                    });
                    let matched = [granted(QoS::ExactlyOnce), granted(qos)];
                    current.deliver(&message, &matched, now_ms, &mut actions);
                }
                Step::Lost => current.connection_lost(now_ms, &mut actions),
                Step::Reconnect { clean_start, session_expiry_interval_s } => {
                    let connect = connect(version, clean_start, session_expiry_interval_s);
                    session = reconnect(session.take(), connect, &config, now_ms, &mut actions);
                }
            }
            check_encodable(&actions, version);
            if actions.contains(&Action::EndSession) {
                session = None;
            }
            if let Some(current) = &session {
                check_bounds(current, &config);
            }
        }
    }
}
