//! The broker's own rules on topics, beyond the specification's: the level
//! bound (`max_topic_levels`) on PUBLISH topic names and SUBSCRIBE filters,
//! and `$SYS`, to which clients do not publish.

use bytes::Bytes;
use bytestring::ByteString;

use super::support::*;
use crate::limits::TOPIC_LEVELS_MAX_DEFAULT;
use crate::protocol::*;
use crate::session::{Action, PublishRefusal, Session, SessionConfig};
use crate::topic::{TopicError, TopicKind};

/// A topic (or filter) of `levels` levels: `l/l/.../l`.
fn deep(levels: usize) -> String {
    vec!["l"; levels].join("/")
}

fn with_levels(max_topic_levels: usize) -> SessionConfig {
    SessionConfig {
        max_topic_levels,
        ..SessionConfig::default()
    }
}

fn v3_1_1_session(config: &SessionConfig) -> Session {
    accept_with(
        connect_of(ProtocolVersion::V3_1_1, "c", true),
        None,
        config,
        0,
    )
    .0
}

fn v5_session(config: &SessionConfig) -> Session {
    accept_with(v5_connect("c"), None, config, 0).0
}

fn refusals(actions: &[Action]) -> Vec<&PublishRefusal> {
    actions
        .iter()
        .filter_map(|action| match action {
            Action::PublishRefused(refusal) => Some(refusal),
            _ => None,
        })
        .collect()
}

fn too_many_levels(levels_max: usize) -> PublishRefusal {
    PublishRefusal::TopicNameInvalid(TopicError::TooManyLevels {
        kind: TopicKind::Name,
        levels_max,
    })
}

fn sys_refusal(topic_name: &str) -> PublishRefusal {
    PublishRefusal::SysTopic {
        topic_name: ByteString::from(topic_name),
    }
}

fn aliased(topic_name: &str, topic_alias: u16, qos: QoS, packet_id: Option<u16>) -> Packet {
    let mut packet = publish(topic_name, qos, packet_id);
    packet.properties_mut().topic_alias = Some(topic_alias);
    Packet::Publish(packet)
}

fn subscribe(filters: &[&str]) -> Packet {
    Packet::Subscribe(Subscribe {
        packet_id: 10,
        properties: SubscribeProperties::default(),
        filters: filters
            .iter()
            .map(|topic_filter| {
                let options = SubscriptionOptions {
                    qos: QoS::AtLeastOnce,
                    ..SubscriptionOptions::default()
                };
                (ByteString::from(*topic_filter), options)
            })
            .collect(),
    })
}

fn suback_codes(actions: &[Action]) -> Vec<ReasonCode> {
    sent(actions)
        .into_iter()
        .find_map(|packet| match packet {
            Packet::SubAck(suback) => Some(suback.reason_codes),
            _ => None,
        })
        .expect("a SUBACK")
}

fn pub_response(reason_code: ReasonCode, packet_id: u16) -> PublishResponse {
    PublishResponse {
        reason_code,
        ..PublishResponse::success(packet_id)
    }
}

#[test]
fn publish_as_deep_as_max_topic_levels_is_routed() {
    for max_topic_levels in [TOPIC_LEVELS_MAX_DEFAULT, 300, 1] {
        let config = with_levels(max_topic_levels);
        let mut session = v3_1_1_session(&config);
        let topic_name = deep(max_topic_levels);
        let actions = feed(
            &mut session,
            Packet::Publish(publish(&topic_name, QoS::AtMostOnce, None)),
            1,
        );
        assert_eq!(routed(&actions).len(), 1, "{max_topic_levels} levels");
        assert!(refusals(&actions).is_empty());
    }
}

#[test]
fn default_max_topic_levels_takes_what_mosquitto_takes() {
    // Mosquitto refuses more than 200 '/' in a topic: 201 levels pass.
    assert_eq!(TOPIC_LEVELS_MAX_DEFAULT, 201);
    assert_eq!(
        SessionConfig::default().max_topic_levels,
        TOPIC_LEVELS_MAX_DEFAULT
    );
}

#[test]
fn v3_1_1_publish_deeper_than_max_topic_levels_closes_without_routing_and_says_why() {
    let config = SessionConfig::default();
    let mut session = v3_1_1_session(&config);
    let topic_name = deep(TOPIC_LEVELS_MAX_DEFAULT + 1);
    let actions = feed(
        &mut session,
        Packet::Publish(publish(&topic_name, QoS::AtLeastOnce, Some(1))),
        1,
    );
    assert!(routed(&actions).is_empty());
    assert!(sent(&actions).is_empty(), "3.1.1 has no DISCONNECT to send");
    assert_eq!(close_reason(&actions), Some(ReasonCode::TopicNameInvalid));
    assert_eq!(
        refusals(&actions),
        vec![&too_many_levels(TOPIC_LEVELS_MAX_DEFAULT)]
    );
    assert!(!session.is_connected());
}

#[test]
fn v5_publish_deeper_than_max_topic_levels_is_disconnected_with_0x90() {
    let config = with_levels(5);
    let mut session = v5_session(&config);
    let actions = feed(
        &mut session,
        Packet::Publish(publish(&deep(6), QoS::AtMostOnce, None)),
        1,
    );
    assert!(routed(&actions).is_empty());
    assert_eq!(
        disconnect_reason(&actions),
        Some(ReasonCode::TopicNameInvalid)
    );
    assert_eq!(close_reason(&actions), Some(ReasonCode::TopicNameInvalid));
    assert_eq!(refusals(&actions), vec![&too_many_levels(5)]);
}

#[test]
fn the_level_bound_holds_for_a_name_that_defines_a_topic_alias() {
    let config = with_levels(3);
    let mut session = v5_session(&config);
    let actions = feed(&mut session, aliased("a/b/c", 1, QoS::AtMostOnce, None), 1);
    assert_eq!(routed(&actions).len(), 1);
    let actions = feed(&mut session, aliased("", 1, QoS::AtMostOnce, None), 2);
    assert_eq!(
        routed(&actions)[0].topic_name,
        "a/b/c",
        "resolved, then checked"
    );
    let actions = feed(
        &mut session,
        aliased("a/b/c/d", 2, QoS::AtMostOnce, None),
        3,
    );
    assert!(routed(&actions).is_empty());
    assert_eq!(
        disconnect_reason(&actions),
        Some(ReasonCode::TopicNameInvalid)
    );
}

#[test]
fn subscribe_filter_deeper_than_max_topic_levels_is_refused_and_the_others_granted() {
    let config = with_levels(3);
    let filters = [
        "a/b/c",
        "a/+/c/#",
        "+/+/#",
        "$share/g/a/b/c",
        "$share/g/a/b/c/d",
    ];
    let mut session = v5_session(&config);
    let actions = feed(&mut session, subscribe(&filters), 1);
    assert_eq!(
        suback_codes(&actions),
        vec![
            ReasonCode::GrantedQos1,
            ReasonCode::TopicFilterInvalid,
            ReasonCode::GrantedQos1,
            ReasonCode::GrantedQos1,
            ReasonCode::TopicFilterInvalid,
        ]
    );
    assert_eq!(session.subscriptions().count(), 3);
    let mut session = v3_1_1_session(&config);
    let actions = feed(&mut session, subscribe(&filters), 1);
    assert_eq!(
        suback_codes(&actions),
        vec![
            ReasonCode::GrantedQos1,
            ReasonCode::UnspecifiedError,
            ReasonCode::GrantedQos1,
            ReasonCode::GrantedQos1,
            ReasonCode::UnspecifiedError,
        ]
    );
}

#[test]
fn a_subscription_made_under_a_higher_level_bound_can_still_be_removed() {
    let (mut session, _) = accept_with(v5_persistent_connect("c", 60), None, &with_levels(10), 0);
    let actions = feed(&mut session, subscribe(&["a/b/c/d/e"]), 1);
    assert_eq!(suback_codes(&actions), vec![ReasonCode::GrantedQos1]);
    session.connection_lost(2, &mut Vec::new());
    let (mut resumed, _) = accept_with(
        v5_persistent_connect("c", 60),
        Some(session),
        &with_levels(3),
        3,
    );
    let unsubscribe = Packet::Unsubscribe(Unsubscribe {
        packet_id: 11,
        properties: Default::default(),
        filters: vec![ByteString::from("a/b/c/d/e")],
    });
    let actions = feed(&mut resumed, unsubscribe, 4);
    assert!(actions.contains(&Action::Unsubscribe {
        topic_filter: ByteString::from("a/b/c/d/e")
    }));
    assert_eq!(resumed.subscriptions().count(), 0);
}

#[test]
fn v5_qos1_publish_to_sys_gets_puback_0x90_and_is_not_routed() {
    let mut session = v5_session(&SessionConfig::default());
    let actions = feed(
        &mut session,
        Packet::Publish(publish("$SYS/x", QoS::AtLeastOnce, Some(1))),
        1,
    );
    assert!(routed(&actions).is_empty());
    assert_eq!(
        sent(&actions),
        vec![Packet::PubAck(pub_response(
            ReasonCode::TopicNameInvalid,
            1
        ))]
    );
    assert_eq!(refusals(&actions), vec![&sys_refusal("$SYS/x")]);
    assert!(session.is_connected(), "a refused publish is no violation");
}

#[test]
fn v5_qos2_publish_to_sys_gets_pubrec_0x90_which_ends_the_flow() {
    let mut session = v5_session(&SessionConfig::default());
    let actions = feed(
        &mut session,
        Packet::Publish(publish("$SYS/x", QoS::ExactlyOnce, Some(2))),
        1,
    );
    assert!(routed(&actions).is_empty());
    assert_eq!(
        sent(&actions),
        vec![Packet::PubRec(pub_response(
            ReasonCode::TopicNameInvalid,
            2
        ))]
    );
    // No PUBREL was due: one sent anyway finds no flow.
    let actions = feed(&mut session, Packet::PubRel(PublishResponse::success(2)), 2);
    assert_eq!(
        sent(&actions),
        vec![Packet::PubComp(pub_response(
            ReasonCode::PacketIdentifierNotFound,
            2
        ))]
    );
    // The packet id is free for a new message at once.
    let actions = feed(
        &mut session,
        Packet::Publish(publish("a", QoS::ExactlyOnce, Some(2))),
        3,
    );
    assert_eq!(routed(&actions).len(), 1);
}

#[test]
fn v3_1_1_qos1_publish_to_sys_gets_a_plain_puback_and_is_dropped() {
    let mut session = v3_1_1_session(&SessionConfig::default());
    let actions = feed(
        &mut session,
        Packet::Publish(publish("$SYS/x", QoS::AtLeastOnce, Some(1))),
        1,
    );
    assert!(routed(&actions).is_empty());
    assert_eq!(
        sent(&actions),
        vec![Packet::PubAck(PublishResponse::success(1))]
    );
    assert_eq!(refusals(&actions), vec![&sys_refusal("$SYS/x")]);
}

#[test]
fn v3_1_1_qos2_publish_to_sys_completes_its_flow_without_routing() {
    let mut session = v3_1_1_session(&SessionConfig::default());
    let first = publish("$SYS/x", QoS::ExactlyOnce, Some(3));
    let mut resend = first.clone();
    resend.dup = true;
    let actions = feed(&mut session, Packet::Publish(first), 1);
    assert!(routed(&actions).is_empty());
    assert_eq!(
        sent(&actions),
        vec![Packet::PubRec(PublishResponse::success(3))]
    );
    let actions = feed(&mut session, Packet::Publish(resend), 2);
    assert!(routed(&actions).is_empty());
    assert_eq!(
        sent(&actions),
        vec![Packet::PubRec(PublishResponse::success(3))]
    );
    let actions = feed(&mut session, Packet::PubRel(PublishResponse::success(3)), 3);
    assert_eq!(
        sent(&actions),
        vec![Packet::PubComp(PublishResponse::success(3))]
    );
    assert!(session.is_connected());
}

#[test]
fn v3_1_1_qos2_publishes_to_sys_count_against_the_receive_maximum() {
    let config = SessionConfig {
        receive_maximum: 1,
        ..SessionConfig::default()
    };
    let mut session = v3_1_1_session(&config);
    feed(
        &mut session,
        Packet::Publish(publish("$SYS/x", QoS::ExactlyOnce, Some(1))),
        1,
    );
    let actions = feed(
        &mut session,
        Packet::Publish(publish("a", QoS::ExactlyOnce, Some(2))),
        2,
    );
    assert_eq!(
        close_reason(&actions),
        Some(ReasonCode::ReceiveMaximumExceeded)
    );
}

#[test]
fn qos0_publish_to_sys_is_dropped_without_an_answer() {
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        let (mut session, _) = accept(connect_of(version, "c", true), None, 0);
        let actions = feed(
            &mut session,
            Packet::Publish(publish("$SYS", QoS::AtMostOnce, None)),
            1,
        );
        assert_eq!(actions, vec![Action::PublishRefused(sys_refusal("$SYS"))]);
        assert!(session.is_connected(), "{version:?}");
    }
}

#[test]
fn dollar_topics_other_than_sys_are_routed() {
    let mut session = v5_session(&SessionConfig::default());
    for topic_name in ["$SYSTEM/x", "$sys/x", "$monitor/x", "a/$SYS/x"] {
        let actions = feed(
            &mut session,
            Packet::Publish(publish(topic_name, QoS::AtLeastOnce, Some(1))),
            1,
        );
        assert_eq!(routed(&actions).len(), 1, "{topic_name}");
    }
}

#[test]
fn an_alias_standing_for_a_sys_topic_is_refused_too() {
    let mut session = v5_session(&SessionConfig::default());
    let actions = feed(&mut session, aliased("$SYS/x", 1, QoS::AtMostOnce, None), 1);
    assert_eq!(refusals(&actions), vec![&sys_refusal("$SYS/x")]);
    let actions = feed(&mut session, aliased("", 1, QoS::AtLeastOnce, Some(4)), 2);
    assert!(routed(&actions).is_empty());
    assert_eq!(refusals(&actions), vec![&sys_refusal("$SYS/x")]);
    assert_eq!(
        sent(&actions),
        vec![Packet::PubAck(pub_response(
            ReasonCode::TopicNameInvalid,
            4
        ))]
    );
}

#[test]
fn a_sys_publish_breaking_a_protocol_rule_gets_that_rule_s_answer() {
    let mut session = v5_session(&SessionConfig::default());
    let mut packet = publish("$SYS/x", QoS::AtLeastOnce, Some(5));
    packet.properties_mut().payload_format_indicator = Some(true);
    packet.payload = Bytes::from_static(b"\xff");
    let actions = feed(&mut session, Packet::Publish(packet), 1);
    assert_eq!(
        sent(&actions),
        vec![Packet::PubAck(pub_response(
            ReasonCode::PayloadFormatInvalid,
            5
        ))]
    );
    assert!(refusals(&actions).is_empty());
}
