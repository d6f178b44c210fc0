//! The rule a session names when it ends a connection for a client's error
//! (`Action::Close { violation, .. }`), and the closes that name none.

use bytestring::ByteString;

use super::support::*;
use crate::protocol::*;
use crate::session::{SessionConfig, TimerKind, Violation};

fn aliased(topic_name: &str, topic_alias: u16) -> Packet {
    let mut packet = publish(topic_name, QoS::AtMostOnce, None);
    packet.properties_mut().topic_alias = Some(topic_alias);
    Packet::Publish(packet)
}

/// Feeds `packet` to a fresh v5 session under `config`; the violation its
/// Close names, after checking that the DISCONNECT and the Close carry the
/// violation's reason code.
fn violation_of(packet: Packet, config: &SessionConfig) -> Violation {
    let (mut session, _) = accept_with(v5_connect("c"), None, config, 0);
    let actions = feed(&mut session, packet, 1);
    let Some(Some(violation)) = close_violation(&actions) else {
        panic!("a Close naming a violation: {actions:?}");
    };
    assert_eq!(disconnect_reason(&actions), Some(violation.reason_code()));
    assert_eq!(close_reason(&actions), Some(violation.reason_code()));
    violation
}

#[test]
fn topic_alias_0_is_named_as_such() {
    let violation = violation_of(aliased("a", 0), &SessionConfig::default());
    assert_eq!(violation, Violation::TopicAliasZero);
    assert_eq!(violation.reason_code(), ReasonCode::TopicAliasInvalid);
    assert!(violation.to_string().contains("[MQTT-3.3.2-8]"));
}

#[test]
fn topic_alias_above_our_maximum_and_unknown_alias_are_told_apart() {
    let config = SessionConfig::default();
    let above = aliased("a", config.topic_alias_maximum + 1);
    assert_eq!(
        violation_of(above, &config),
        Violation::TopicAliasAboveMaximum
    );
    assert_eq!(
        violation_of(aliased("", 1), &config),
        Violation::TopicAliasUnknown
    );
}

#[test]
fn qos2_past_our_receive_maximum_is_receive_maximum_exceeded() {
    let config = SessionConfig {
        receive_maximum: 1,
        ..SessionConfig::default()
    };
    let (mut session, _) = accept_with(v5_connect("c"), None, &config, 0);
    let first = Packet::Publish(publish("a", QoS::ExactlyOnce, Some(1)));
    assert_eq!(close_violation(&feed(&mut session, first, 1)), None);
    let second = Packet::Publish(publish("a", QoS::ExactlyOnce, Some(2)));
    let actions = feed(&mut session, second, 2);
    assert_eq!(
        close_violation(&actions),
        Some(Some(Violation::ReceiveMaximumExceeded))
    );
    assert_eq!(
        disconnect_reason(&actions),
        Some(ReasonCode::ReceiveMaximumExceeded)
    );
}

#[test]
fn pubrel_for_an_unknown_packet_id_is_answered_not_a_violation() {
    let (mut session, _) = accept(v5_connect("c"), None, 0);
    let actions = feed(&mut session, Packet::PubRel(PublishResponse::success(7)), 1);
    assert_eq!(close_violation(&actions), None);
    assert!(session.is_connected());
    let Some(Packet::PubComp(pubcomp)) = sent(&actions).pop() else {
        panic!("a PUBCOMP: {actions:?}");
    };
    assert_eq!(pubcomp.reason_code, ReasonCode::PacketIdentifierNotFound);
}

#[test]
fn publish_rules_name_the_rule_they_break() {
    let config = SessionConfig {
        maximum_qos: QoS::AtLeastOnce,
        retain_available: false,
        ..SessionConfig::default()
    };
    let qos2 = Packet::Publish(publish("a", QoS::ExactlyOnce, Some(1)));
    assert_eq!(violation_of(qos2, &config), Violation::QosNotSupported);
    let mut retained = publish("a", QoS::AtMostOnce, None);
    retained.retain = true;
    assert_eq!(
        violation_of(Packet::Publish(retained), &config),
        Violation::RetainNotSupported
    );
    let mut with_identifier = publish("a", QoS::AtMostOnce, None);
    with_identifier
        .properties_mut()
        .subscription_identifiers
        .push(1);
    assert_eq!(
        violation_of(Packet::Publish(with_identifier), &config),
        Violation::SubscriptionIdentifierFromClient
    );
    let mut wildcard_response = publish("a", QoS::AtMostOnce, None);
    wildcard_response.properties_mut().response_topic = Some(ByteString::from("r/#"));
    assert_eq!(
        violation_of(Packet::Publish(wildcard_response), &config),
        Violation::ResponseTopicInvalid
    );
    let without_id = Packet::Publish(publish("a", QoS::AtLeastOnce, None));
    assert_eq!(
        violation_of(without_id, &config),
        Violation::PacketIdMissing
    );
}

#[test]
fn a_topic_name_deeper_than_the_bound_is_topic_name_invalid() {
    let config = SessionConfig {
        max_topic_levels: 2,
        ..SessionConfig::default()
    };
    let deep = Packet::Publish(publish("a/b/c", QoS::AtMostOnce, None));
    assert_eq!(violation_of(deep, &config), Violation::TopicNameInvalid);
}

#[test]
fn packets_out_of_place_name_their_rule() {
    let config = SessionConfig::default();
    let connect = Packet::Connect(Box::new(v5_connect("c")));
    assert_eq!(violation_of(connect, &config), Violation::SecondConnect);
    assert_eq!(
        violation_of(Packet::PingResp, &config),
        Violation::ServerOnlyPacket
    );
}

#[test]
fn a_refused_connect_names_the_rule_it_broke() {
    let mut connect = v5_connect("c");
    connect.properties.receive_maximum = Some(0);
    let actions = refused(connect);
    assert_eq!(
        close_violation(&actions),
        Some(Some(Violation::ReceiveMaximumZero))
    );
    assert_eq!(connack(&actions).reason_code, ReasonCode::ProtocolError);
}

#[test]
fn keep_alive_expiry_names_the_keep_alive_rule() {
    let (mut session, _) = accept(v5_connect("c"), None, 0);
    let mut actions = Vec::new();
    session.handle_timer(TimerKind::KeepAlive, 91_000, &mut actions);
    assert_eq!(
        close_violation(&actions),
        Some(Some(Violation::KeepAliveTimeout))
    );
}

#[test]
fn closes_that_are_not_the_client_breaking_a_rule_name_none() {
    let (mut session, _) = accept(v5_connect("c"), None, 0);
    let actions = feed(&mut session, disconnect(ReasonCode::Success), 1);
    assert_eq!(close_violation(&actions), Some(None));

    let (mut session, _) = accept(v5_connect("c"), None, 0);
    let mut actions = Vec::new();
    session.taken_over(1, &mut actions);
    assert_eq!(close_violation(&actions), Some(None));

    let (mut session, _) = accept(v5_connect("c"), None, 0);
    let mut actions = Vec::new();
    session.close(ReasonCode::MalformedPacket, 1, &mut actions);
    assert_eq!(close_violation(&actions), Some(None));
    assert_eq!(close_reason(&actions), Some(ReasonCode::MalformedPacket));
}
