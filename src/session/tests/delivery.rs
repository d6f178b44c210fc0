//! Delivery of routed messages: QoS, overlapping subscriptions, No Local, Retain As
//! Published, message expiry and the client's Maximum Packet Size.

use std::sync::Arc;

use bytes::Bytes;
use bytestring::ByteString;

use super::support::*;
use crate::protocol::*;
use crate::session::{Message, SubscriptionMatch};

fn subscription(qos: QoS, subscription_identifier: Option<u32>) -> SubscriptionMatch {
    SubscriptionMatch {
        subscription_identifier,
        ..granted(qos)
    }
}

#[test]
fn delivery_qos_is_the_lower_of_message_and_granted_qos() {
    let (mut session, _) = accept(v5_connect("c"), None, 0);
    let actions = deliver(
        &mut session,
        &message("t", QoS::ExactlyOnce, "p"),
        QoS::AtLeastOnce,
        1,
    );
    assert_eq!(sent_publishes(&actions)[0].qos, QoS::AtLeastOnce);
    let actions = deliver(
        &mut session,
        &message("t", QoS::AtMostOnce, "p"),
        QoS::ExactlyOnce,
        1,
    );
    assert_eq!(sent_publishes(&actions)[0].qos, QoS::AtMostOnce);
}

#[test]
fn overlapping_subscriptions_deliver_once_at_the_highest_qos_with_all_identifiers() {
    let (mut session, _) = accept(v5_connect("c"), None, 0);
    let matched = [
        subscription(QoS::AtMostOnce, Some(3)),
        subscription(QoS::ExactlyOnce, Some(8)),
        subscription(QoS::AtLeastOnce, None),
    ];
    let mut actions = Vec::new();
    session.deliver(
        &message("a/b", QoS::ExactlyOnce, "p"),
        &matched,
        1,
        &mut actions,
    );
    let publishes = sent_publishes(&actions);
    assert_eq!(publishes.len(), 1);
    assert_eq!(publishes[0].qos, QoS::ExactlyOnce);
    assert_eq!(
        &publishes[0].properties().subscription_identifiers[..],
        &[3, 8]
    );
}

#[test]
fn no_local_drops_the_clients_own_messages() {
    let (mut session, _) = accept(v5_connect("c"), None, 0);
    let no_local = SubscriptionMatch {
        no_local: true,
        ..granted(QoS::AtMostOnce)
    };
    let mut actions = Vec::new();
    session.deliver(
        &message("t", QoS::AtMostOnce, "c"),
        &[no_local],
        1,
        &mut actions,
    );
    assert!(actions.is_empty());
    session.deliver(
        &message("t", QoS::AtMostOnce, "other"),
        &[no_local],
        1,
        &mut actions,
    );
    assert_eq!(sent_publishes(&actions).len(), 1);
}

#[test]
fn retain_flag_is_cleared_unless_retain_as_published() {
    let (mut session, _) = accept(v5_connect("c"), None, 0);
    let mut retained = (*message("t", QoS::AtMostOnce, "p")).clone();
    retained.retain = true;
    let retained = Arc::new(retained);
    let actions = deliver(&mut session, &retained, QoS::AtMostOnce, 1);
    assert!(!sent_publishes(&actions)[0].retain);
    let as_published = SubscriptionMatch {
        retain_as_published: true,
        ..granted(QoS::AtMostOnce)
    };
    let mut actions = Vec::new();
    session.deliver(&retained, &[as_published], 1, &mut actions);
    assert!(sent_publishes(&actions)[0].retain);
}

#[test]
fn retained_message_sent_for_a_new_subscription_keeps_retain() {
    let (mut session, _) = accept(v5_connect("c"), None, 0);
    let mut retained = (*message("t", QoS::AtLeastOnce, "c")).clone();
    retained.retain = true;
    let no_local = SubscriptionMatch {
        no_local: true,
        subscription_identifier: Some(4),
        ..granted(QoS::AtMostOnce)
    };
    let mut actions = Vec::new();
    session.deliver_retained(&Arc::new(retained), &no_local, 1, &mut actions);
    let publish = sent_publishes(&actions)[0].clone();
    assert!(publish.retain);
    assert_eq!(publish.qos, QoS::AtMostOnce);
    assert_eq!(&publish.properties().subscription_identifiers[..], &[4]);
}

fn expiring(expires_at_ms: u64) -> Arc<Message> {
    let mut expiring = (*message("t", QoS::AtLeastOnce, "p")).clone();
    expiring.expires_at_ms = Some(expires_at_ms);
    Arc::new(expiring)
}

#[test]
fn expired_message_is_not_delivered() {
    let (mut session, _) = accept(v5_connect("c"), None, 0);
    let actions = deliver(&mut session, &expiring(5_000), QoS::AtLeastOnce, 5_000);
    assert!(actions.is_empty());
    assert_eq!(session.stats().dropped_expired, 1);
}

#[test]
fn message_expiring_in_the_queue_is_not_delivered() {
    let (mut session, _) = accept(v5_persistent_connect("c", 600), None, 0);
    session.connection_lost(0, &mut Vec::new());
    deliver(&mut session, &expiring(5_000), QoS::AtLeastOnce, 1_000);
    let (session, actions) = accept(v5_persistent_connect("c", 600), Some(session), 6_000);
    assert!(sent_publishes(&actions).is_empty());
    assert_eq!(session.stats().dropped_expired, 1);
}

#[test]
fn forwarded_message_expiry_interval_is_the_remaining_time() {
    let (mut session, _) = accept(v5_connect("c"), None, 0);
    let actions = deliver(&mut session, &expiring(20_000), QoS::AtLeastOnce, 12_500);
    assert_eq!(
        sent_publishes(&actions)[0]
            .clone()
            .properties()
            .message_expiry_interval_s,
        Some(8)
    );
}

#[test]
fn oversized_outbound_message_is_dropped_and_counted() {
    let mut connect = v5_connect("c");
    connect.properties.maximum_packet_size = Some(64);
    let (mut session, _) = accept(connect, None, 0);
    let mut big = (*message("t", QoS::AtLeastOnce, "p")).clone();
    big.payload = Bytes::from(vec![0u8; 100]);
    let actions = deliver(&mut session, &Arc::new(big), QoS::AtLeastOnce, 1);
    assert!(actions.is_empty());
    assert_eq!(session.stats().dropped_too_large, 1);
    assert_eq!(session.inflight_len(), 0);
    let actions = deliver(
        &mut session,
        &message("t", QoS::AtLeastOnce, "p"),
        QoS::AtLeastOnce,
        2,
    );
    assert_eq!(sent_publishes(&actions).len(), 1);
}

#[test]
fn request_response_and_user_properties_reach_the_subscriber_unchanged() {
    let (mut session, _) = accept(v5_connect("c"), None, 0);
    let mut request = (*message("svc/req", QoS::AtMostOnce, "p")).clone();
    request.properties = PublishProperties {
        payload_format_indicator: Some(true),
        response_topic: Some(ByteString::from("svc/resp")),
        correlation_data: Some(Bytes::from_static(b"id-1")),
        user_properties: vec![("a".into(), "1".into()), ("a".into(), "2".into())],
        content_type: Some(ByteString::from("text/plain")),
        ..PublishProperties::default()
    }
    .into();
    let expected = request.properties.clone();
    let actions = deliver(&mut session, &Arc::new(request), QoS::AtMostOnce, 1);
    assert_eq!(*sent_publishes(&actions)[0].properties(), *expected);
}

#[test]
fn message_of_exactly_the_client_maximum_packet_size_is_sent() {
    let mut connect = v5_connect("c");
    connect.properties.maximum_packet_size = Some(64);
    let (mut session, _) = accept(connect, None, 0);
    // QoS 1 on topic "t" without properties: 8 bytes besides the payload.
    for (payload_len, delivered) in [(56, true), (57, false)] {
        let mut sized = (*message("t", QoS::AtLeastOnce, "p")).clone();
        sized.payload = Bytes::from(vec![0u8; payload_len]);
        let actions = deliver(&mut session, &Arc::new(sized), QoS::AtLeastOnce, 1);
        assert_eq!(
            sent_publishes(&actions).len() == 1,
            delivered,
            "payload {payload_len}"
        );
    }
}

/// A QoS 0 message on `t` carrying a user property.
fn message_with_user_property() -> Arc<Message> {
    let mut message = (*message("t", QoS::AtMostOnce, "p")).clone();
    message.properties = PublishProperties {
        user_properties: vec![("k".into(), "v".into())],
        ..PublishProperties::default()
    }
    .into();
    Arc::new(message)
}

#[test]
fn deliveries_passing_properties_on_unchanged_share_the_message_set() {
    let message = message_with_user_property();
    for client_id in ["c1", "c2"] {
        let (mut session, _) = accept(v5_connect(client_id), None, 0);
        let actions = deliver(&mut session, &message, QoS::AtMostOnce, 1);
        let sent = sent_publishes(&actions)[0].properties.clone();
        let shared = message
            .properties
            .shared()
            .expect("the message has properties");
        assert!(sent.is_some_and(|set| Arc::ptr_eq(&set, &shared)));
    }
}

#[test]
fn subscription_identifier_is_added_to_a_copy_and_the_message_set_is_unchanged() {
    let message = message_with_user_property();
    let (mut session, _) = accept(v5_connect("c"), None, 0);
    let mut actions = Vec::new();
    session.deliver(
        &message,
        &[subscription(QoS::AtMostOnce, Some(9))],
        1,
        &mut actions,
    );
    let publishes = sent_publishes(&actions);
    let properties = publishes[0].properties();
    assert_eq!(properties.subscription_identifiers.as_slice(), [9]);
    assert_eq!(
        properties.user_properties,
        message.properties.user_properties
    );
    assert!(message.properties.subscription_identifiers.is_empty());
}

#[test]
fn message_without_properties_is_delivered_without_a_set() {
    let (mut session, _) = accept(v5_connect("c"), None, 0);
    let actions = deliver(
        &mut session,
        &message("t", QoS::AtMostOnce, "p"),
        QoS::AtMostOnce,
        1,
    );
    assert_eq!(sent_publishes(&actions)[0].properties, None);
}

#[test]
fn delivery_below_v5_carries_no_properties() {
    let connect = connect_of(ProtocolVersion::V3_1_1, "c", true);
    let (mut session, _) = accept(connect, None, 0);
    let mut actions = Vec::new();
    session.deliver(
        &message_with_user_property(),
        &[subscription(QoS::AtMostOnce, Some(9))],
        1,
        &mut actions,
    );
    assert_eq!(sent_publishes(&actions)[0].properties, None);
}

#[test]
fn message_from_a_publish_with_only_per_hop_properties_keeps_no_set() {
    let mut packet = publish("t", QoS::AtMostOnce, None);
    packet.properties_mut().topic_alias = Some(3);
    packet.properties_mut().message_expiry_interval_s = Some(60);
    packet.properties_mut().subscription_identifiers.push(4);
    let topic_name = packet.topic_name.clone();
    let message = Message::from_publish(packet, topic_name, "p".into(), 1_000);
    assert_eq!(message.properties.shared(), None);
    assert_eq!(message.expires_at_ms, Some(61_000));
}
