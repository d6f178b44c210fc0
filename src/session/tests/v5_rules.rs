//! 5.0 rules on what a client sends and what CONNACK offers: no Subscription
//! Identifier from a client, Payload Format Indicator checks on PUBLISH and will,
//! Response Information on request, and the availability properties of CONNACK.

use bytes::Bytes;
use bytestring::ByteString;

use super::support::*;
use crate::protocol::*;
use crate::session::SessionConfig;

/// Not UTF-8: a lone continuation byte.
const INVALID_UTF8: &[u8] = &[b'o', b'k', 0x80];

fn claims_utf8(qos: QoS, packet_id: Option<PacketId>, payload: &'static [u8]) -> Packet {
    let mut packet = publish("sensors/text", qos, packet_id);
    packet.properties_mut().payload_format_indicator = Some(true);
    packet.payload = Bytes::from_static(payload);
    Packet::Publish(packet)
}

fn not_validating() -> SessionConfig {
    SessionConfig {
        validate_payload_format: false,
        ..SessionConfig::default()
    }
}

#[test]
fn publish_from_a_client_with_a_subscription_identifier_is_a_protocol_error() {
    let (mut session, _) = accept(v5_connect("c"), None, 0);
    let mut packet = publish("a", QoS::AtLeastOnce, Some(1));
    packet.properties_mut().subscription_identifiers.push(5);
    let actions = feed(&mut session, Packet::Publish(packet), 1);
    assert!(routed(&actions).is_empty());
    assert_eq!(disconnect_reason(&actions), Some(ReasonCode::ProtocolError));
    assert_eq!(close_reason(&actions), Some(ReasonCode::ProtocolError));
    assert!(!session.is_connected());
}

#[test]
fn publish_with_a_response_topic_that_is_no_topic_name_is_a_protocol_error() {
    for response_topic in ["replies/+", "replies/#", ""] {
        let (mut session, _) = accept(v5_connect("c"), None, 0);
        let mut packet = publish("requests", QoS::AtMostOnce, None);
        packet.properties_mut().response_topic = Some(ByteString::from(response_topic));
        let actions = feed(&mut session, Packet::Publish(packet), 1);
        assert!(routed(&actions).is_empty(), "{response_topic:?}");
        assert_eq!(
            disconnect_reason(&actions),
            Some(ReasonCode::ProtocolError),
            "{response_topic:?}"
        );
    }
}

#[test]
fn publish_with_a_plain_response_topic_is_routed_with_it() {
    let (mut session, _) = accept(v5_connect("c"), None, 0);
    let mut packet = publish("requests", QoS::AtMostOnce, None);
    packet.properties_mut().response_topic = Some(ByteString::from_static("replies/c"));
    let actions = feed(&mut session, Packet::Publish(packet), 1);
    let response_topic = routed(&actions)[0].properties.response_topic.clone();
    assert_eq!(response_topic.as_deref(), Some("replies/c"));
}

#[test]
fn will_with_a_wildcard_response_topic_is_refused_with_protocol_error() {
    let mut connect = v5_connect("c");
    let mut last_will = will("w", None);
    last_will.properties.response_topic = Some(ByteString::from_static("replies/#"));
    connect.will = Some(last_will);
    let actions = refused(connect);
    assert_eq!(connack(&actions).reason_code, ReasonCode::ProtocolError);
}

/// What the session answers to a PUBLISH claiming UTF-8 over an invalid payload,
/// per QoS: the packet sent, whether the connection stays.
#[test]
fn invalid_utf8_payload_is_refused_with_0x99_the_way_its_qos_allows() {
    let invalid = ReasonCode::PayloadFormatInvalid;
    let refused = |packet_id| PublishResponse {
        reason_code: invalid,
        ..PublishResponse::success(packet_id)
    };
    let cases = [
        (QoS::AtMostOnce, None, None, false),
        (
            QoS::AtLeastOnce,
            Some(3),
            Some(Packet::PubAck(refused(3))),
            true,
        ),
        (
            QoS::ExactlyOnce,
            Some(4),
            Some(Packet::PubRec(refused(4))),
            true,
        ),
    ];
    for (qos, packet_id, answer, stays_connected) in cases {
        let (mut session, _) = accept(v5_connect("c"), None, 0);
        let actions = feed(&mut session, claims_utf8(qos, packet_id, INVALID_UTF8), 1);
        assert!(routed(&actions).is_empty(), "{qos:?} is not routed");
        assert_eq!(session.is_connected(), stays_connected, "{qos:?}");
        match answer {
            Some(answer) => assert_eq!(sent(&actions), vec![answer], "{qos:?}"),
            None => assert_eq!(disconnect_reason(&actions), Some(invalid), "{qos:?}"),
        }
    }
}

#[test]
fn refused_qos2_publish_keeps_no_packet_id_awaiting_pubrel() {
    let config = SessionConfig {
        receive_maximum: 1,
        ..SessionConfig::default()
    };
    let (mut session, _) = accept_with(v5_connect("c"), None, &config, 0);
    feed(
        &mut session,
        claims_utf8(QoS::ExactlyOnce, Some(1), INVALID_UTF8),
        1,
    );
    let actions = feed(
        &mut session,
        claims_utf8(QoS::ExactlyOnce, Some(2), b"valid"),
        2,
    );
    assert_eq!(routed(&actions).len(), 1, "the window is still free");
    assert_eq!(
        sent(&actions),
        vec![Packet::PubRec(PublishResponse::success(2))]
    );
}

#[test]
fn valid_utf8_payload_with_the_indicator_is_routed() {
    let (mut session, _) = accept(v5_connect("c"), None, 0);
    let actions = feed(
        &mut session,
        claims_utf8(QoS::AtLeastOnce, Some(1), "température".as_bytes()),
        1,
    );
    assert_eq!(routed(&actions).len(), 1);
    assert_eq!(
        sent(&actions),
        vec![Packet::PubAck(PublishResponse::success(1))]
    );
}

#[test]
fn binary_payload_without_the_indicator_is_routed() {
    let (mut session, _) = accept(v5_connect("c"), None, 0);
    let mut packet = publish("a", QoS::AtMostOnce, None);
    packet.payload = Bytes::from_static(INVALID_UTF8);
    let actions = feed(&mut session, Packet::Publish(packet), 1);
    assert_eq!(routed(&actions).len(), 1);
}

#[test]
fn payload_format_is_not_checked_when_validation_is_off() {
    let (mut session, _) = accept_with(v5_connect("c"), None, &not_validating(), 0);
    let actions = feed(
        &mut session,
        claims_utf8(QoS::AtMostOnce, None, INVALID_UTF8),
        1,
    );
    assert_eq!(routed(&actions).len(), 1);
    assert!(session.is_connected());
}

#[test]
fn refused_publish_still_defines_its_topic_alias() {
    let (mut session, _) = accept(v5_connect("c"), None, 0);
    let Packet::Publish(mut refused) = claims_utf8(QoS::AtLeastOnce, Some(1), INVALID_UTF8) else {
        unreachable!("claims_utf8 builds a PUBLISH");
    };
    refused.properties_mut().topic_alias = Some(1);
    feed(&mut session, Packet::Publish(refused), 1);
    let mut aliased = publish("", QoS::AtMostOnce, None);
    aliased.properties_mut().topic_alias = Some(1);
    let actions = feed(&mut session, Packet::Publish(aliased), 2);
    assert_eq!(routed(&actions)[0].topic_name, "sensors/text");
}

fn connect_with_utf8_will(payload: &'static [u8]) -> Connect {
    let mut connect = v5_connect("c");
    let mut last_will = will("w", None);
    last_will.properties.payload_format_indicator = Some(true);
    last_will.payload = Bytes::from_static(payload);
    connect.will = Some(last_will);
    connect
}

#[test]
fn will_claiming_utf8_over_an_invalid_payload_is_refused_with_0x99() {
    let actions = refused(connect_with_utf8_will(INVALID_UTF8));
    assert_eq!(
        connack(&actions).reason_code,
        ReasonCode::PayloadFormatInvalid
    );
}

#[test]
fn will_payload_is_not_checked_when_validation_is_off() {
    accept_with(
        connect_with_utf8_will(INVALID_UTF8),
        None,
        &not_validating(),
        0,
    );
}

fn requesting_response_information(request: Option<bool>) -> Connect {
    let mut connect = v5_connect("c");
    connect.properties.request_response_information = request;
    connect
}

/// Response Information goes out only when both the client asked and the operator
/// configured it.
#[test]
fn response_information_is_sent_only_when_requested_and_configured() {
    let configured = SessionConfig {
        response_information: Some(ByteString::from_static("responses/")),
        ..SessionConfig::default()
    };
    let cases = [
        (Some(true), &configured, Some("responses/")),
        (Some(false), &configured, None),
        (None, &configured, None),
        (Some(true), &SessionConfig::default(), None),
    ];
    for (request, config, expected) in cases {
        let connect = requesting_response_information(request);
        let (_, actions) = accept_with(connect, None, config, 0);
        let response_information = connack(&actions).properties.response_information.as_deref();
        assert_eq!(response_information, expected, "request {request:?}");
    }
}

#[test]
fn connack_never_denies_wildcards_subscription_identifiers_or_shared_subscriptions() {
    let (_, actions) = accept(v5_connect("c"), None, 0);
    let properties = &connack(&actions).properties;
    assert_ne!(properties.wildcard_subscription_available, Some(false));
    assert_ne!(properties.subscription_identifiers_available, Some(false));
    assert_ne!(properties.shared_subscription_available, Some(false));
}
