//! PUBLISH from the client: acknowledgements, exactly-once, Receive Maximum, and
//! the checks against our maximum QoS and retain support.

use bytes::Bytes;
use bytestring::ByteString;

use super::support::*;
use crate::protocol::*;
use crate::session::SessionConfig;

#[test]
fn qos0_publish_is_routed_without_acknowledgement() {
    let (mut session, _) = accept(v5_connect("c"), None, 0);
    let actions = feed(
        &mut session,
        Packet::Publish(publish("a", QoS::AtMostOnce, None)),
        1,
    );
    assert_eq!(routed(&actions).len(), 1);
    assert!(sent(&actions).is_empty());
}

#[test]
fn qos1_publish_is_routed_and_acknowledged() {
    let (mut session, _) = accept(v5_connect("c"), None, 0);
    let actions = feed(
        &mut session,
        Packet::Publish(publish("a", QoS::AtLeastOnce, Some(7))),
        1,
    );
    assert_eq!(routed(&actions).len(), 1);
    assert_eq!(
        sent(&actions),
        vec![Packet::PubAck(PublishResponse::success(7))]
    );
}

#[test]
fn qos2_duplicate_publish_before_pubrel_is_routed_once() {
    let (mut session, _) = accept(v5_connect("c"), None, 0);
    let first = publish("a", QoS::ExactlyOnce, Some(9));
    let mut duplicate = first.clone();
    duplicate.dup = true;
    let actions = feed(&mut session, Packet::Publish(first), 1);
    assert_eq!(routed(&actions).len(), 1);
    assert_eq!(
        sent(&actions),
        vec![Packet::PubRec(PublishResponse::success(9))]
    );
    let actions = feed(&mut session, Packet::Publish(duplicate), 2);
    assert!(routed(&actions).is_empty());
    assert_eq!(
        sent(&actions),
        vec![Packet::PubRec(PublishResponse::success(9))]
    );
    let actions = feed(&mut session, Packet::PubRel(PublishResponse::success(9)), 3);
    assert_eq!(
        sent(&actions),
        vec![Packet::PubComp(PublishResponse::success(9))]
    );
    let actions = feed(
        &mut session,
        Packet::Publish(publish("a", QoS::ExactlyOnce, Some(9))),
        4,
    );
    assert_eq!(
        routed(&actions).len(),
        1,
        "after PUBREL the id starts a new message"
    );
}

#[test]
fn qos2_awaiting_pubrel_survives_a_reconnect() {
    let (mut session, _) = accept(v5_persistent_connect("c", 60), None, 0);
    feed(
        &mut session,
        Packet::Publish(publish("a", QoS::ExactlyOnce, Some(9))),
        1,
    );
    session.connection_lost(2, &mut Vec::new());
    let (mut resumed, _) = accept(v5_persistent_connect("c", 60), Some(session), 3);
    let mut duplicate = publish("a", QoS::ExactlyOnce, Some(9));
    duplicate.dup = true;
    let actions = feed(&mut resumed, Packet::Publish(duplicate), 4);
    assert!(routed(&actions).is_empty());
}

#[test]
fn pubrel_for_an_unknown_packet_id_gets_pubcomp_0x92_under_v5() {
    let (mut session, _) = accept(v5_connect("c"), None, 0);
    let actions = feed(&mut session, Packet::PubRel(PublishResponse::success(3)), 1);
    let Packet::PubComp(pubcomp) = sent(&actions)[0].clone() else {
        panic!("expected PUBCOMP");
    };
    assert_eq!(pubcomp.reason_code, ReasonCode::PacketIdentifierNotFound);
}

#[test]
fn pubrel_for_an_unknown_packet_id_gets_plain_pubcomp_under_v3_1_1() {
    let (mut session, _) = accept(connect_of(ProtocolVersion::V3_1_1, "c", true), None, 0);
    let actions = feed(&mut session, Packet::PubRel(PublishResponse::success(3)), 1);
    assert_eq!(
        sent(&actions),
        vec![Packet::PubComp(PublishResponse::success(3))]
    );
}

#[test]
fn inbound_receive_maximum_exceeded_disconnects_with_0x93() {
    let config = SessionConfig {
        receive_maximum: 2,
        ..SessionConfig::default()
    };
    let (mut session, _) = accept_with(v5_connect("c"), None, &config, 0);
    for packet_id in 1..=2 {
        let actions = feed(
            &mut session,
            Packet::Publish(publish("a", QoS::ExactlyOnce, Some(packet_id))),
            1,
        );
        assert_eq!(close_reason(&actions), None);
    }
    let actions = feed(
        &mut session,
        Packet::Publish(publish("a", QoS::ExactlyOnce, Some(3))),
        1,
    );
    assert_eq!(
        disconnect_reason(&actions),
        Some(ReasonCode::ReceiveMaximumExceeded)
    );
    assert!(routed(&actions).is_empty());
    assert!(!session.is_connected());
}

#[test]
fn publish_above_maximum_qos_disconnects_with_0x9b() {
    let config = SessionConfig {
        maximum_qos: QoS::AtLeastOnce,
        ..SessionConfig::default()
    };
    let (mut session, _) = accept_with(v5_connect("c"), None, &config, 0);
    let actions = feed(
        &mut session,
        Packet::Publish(publish("a", QoS::ExactlyOnce, Some(1))),
        1,
    );
    assert_eq!(
        disconnect_reason(&actions),
        Some(ReasonCode::QosNotSupported)
    );
    assert!(routed(&actions).is_empty());
}

#[test]
fn retain_when_not_available_disconnects_with_0x9a() {
    let config = SessionConfig {
        retain_available: false,
        ..SessionConfig::default()
    };
    let (mut session, _) = accept_with(v5_connect("c"), None, &config, 0);
    let mut retained = publish("a", QoS::AtMostOnce, None);
    retained.retain = true;
    let actions = feed(&mut session, Packet::Publish(retained), 1);
    assert_eq!(
        disconnect_reason(&actions),
        Some(ReasonCode::RetainNotSupported)
    );
}

#[test]
fn routed_message_keeps_request_response_and_user_properties() {
    let (mut session, _) = accept(v5_connect("c"), None, 0);
    let mut request = publish("svc/req", QoS::AtMostOnce, None);
    request.retain = true;
    request.properties = PublishProperties {
        payload_format_indicator: Some(true),
        message_expiry_interval_s: Some(20),
        response_topic: Some(ByteString::from("svc/resp")),
        correlation_data: Some(Bytes::from_static(b"42")),
        user_properties: vec![("k".into(), "v".into())],
        content_type: Some(ByteString::from("application/json")),
        ..PublishProperties::default()
    }
    .boxed();
    let actions = feed(&mut session, Packet::Publish(request), 1_000);
    let message = routed(&actions)[0];
    assert_eq!(message.topic_name, "svc/req");
    assert!(message.retain);
    assert_eq!(message.publisher, "c");
    assert_eq!(message.expires_at_ms, Some(21_000));
    let properties = &message.properties;
    assert_eq!(properties.payload_format_indicator, Some(true));
    assert_eq!(properties.response_topic.as_deref(), Some("svc/resp"));
    assert_eq!(properties.correlation_data.as_deref(), Some(&b"42"[..]));
    assert_eq!(properties.user_properties, vec![("k".into(), "v".into())]);
    assert_eq!(properties.content_type.as_deref(), Some("application/json"));
}

/// The answers to a routed PUBLISH under 5.0 follow the route and leave the
/// reason code to the router (0x10 when nothing matched); 3.x answers carry
/// no reason code, and a QoS 2 duplicate, not routed again, is a plain PUBREC.
#[test]
fn answers_to_routed_v5_publishes_come_right_after_the_route_for_the_router_to_complete() {
    let answer_after_route = |actions: &[crate::session::Action]| {
        matches!(
            actions,
            [
                crate::session::Action::Publish { .. },
                crate::session::Action::AnswerPublish(_)
            ]
        )
    };
    let (mut session, _) = accept(v5_connect("c"), None, 0);
    let actions = feed(
        &mut session,
        Packet::Publish(publish("a", QoS::AtLeastOnce, Some(7))),
        1,
    );
    assert!(answer_after_route(&actions), "{actions:?}");
    let first = publish("a", QoS::ExactlyOnce, Some(9));
    let mut duplicate = first.clone();
    duplicate.dup = true;
    let actions = feed(&mut session, Packet::Publish(first), 2);
    assert!(answer_after_route(&actions), "{actions:?}");
    let actions = feed(&mut session, Packet::Publish(duplicate), 3);
    assert!(matches!(
        actions.as_slice(),
        [crate::session::Action::Acknowledge(Packet::PubRec(_))]
    ));

    let v3 = connect_of(ProtocolVersion::V3_1_1, "d", true);
    let (mut session, _) = accept(v3, None, 0);
    let actions = feed(
        &mut session,
        Packet::Publish(publish("a", QoS::AtLeastOnce, Some(7))),
        1,
    );
    assert!(matches!(
        actions.as_slice(),
        [
            crate::session::Action::Publish { .. },
            crate::session::Action::Acknowledge(Packet::PubAck(_))
        ]
    ));
}
