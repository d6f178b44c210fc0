//! Offline queues and the 5.0 rules on what a client publishes, end to end: queue
//! limits under both full-queue policies (and the broker's count of what they
//! dropped), a message larger than the client takes, QoS 0 for offline clients, Subscription
//! Identifiers and Payload Format Indicator from a client, Response Information.
//!
//! Publisher and subscriber share a home shard, so the publisher's PUBACK comes
//! after the message reached the subscriber's session: no wait is needed before
//! the subscriber comes back.

use bytes::Bytes;
use shardmq::protocol::{Connect, Packet, ProtocolVersion, PublishResponse, QoS, ReasonCode};
use shardmq::session::QueueFullPolicy;
use shardmq_shards::Config;

use crate::common::{
    client_id_on, connect_packet, publish_packet, start_broker, start_broker_with, RawClient,
};

const TOPIC: &str = "plant/line-1/counter";

/// A v5 CONNECT keeping its session for 10 minutes.
fn persistent_connect(client_id: &str, clean_start: bool) -> Connect {
    let mut connect = connect_packet(ProtocolVersion::V5, client_id, clean_start, 0);
    connect.properties.session_expiry_interval_s = Some(600);
    connect
}

/// Subscribes `subscriber` (homed on shard 0) to [`TOPIC`] at QoS 1 and leaves;
/// the session stays.
fn leave_subscribed(address: std::net::SocketAddr, subscriber: &str) {
    let (mut client, _) = RawClient::connected(address, persistent_connect(subscriber, true));
    client.subscribe(TOPIC, QoS::AtLeastOnce);
    client.disconnect();
}

/// Publishes `payloads` to [`TOPIC`] from a client homed on shard 0, each flow
/// completed before the next starts.
fn publish_all(address: std::net::SocketAddr, payloads: &[(&'static str, QoS)]) -> RawClient {
    let publisher = client_id_on(0, "publisher");
    let mut client = RawClient::clean(address, ProtocolVersion::V5, &publisher);
    for (payload, qos) in payloads {
        client.publish(TOPIC, Bytes::from_static(payload.as_bytes()), *qos, false);
    }
    client
}

/// Resumes the subscriber's session and returns the payloads it receives up to the
/// `end` marker the publisher sends once it is back.
fn resume_and_collect(
    address: std::net::SocketAddr,
    subscriber: &str,
    mut publisher: RawClient,
) -> Vec<String> {
    let (mut client, connack) =
        RawClient::connected(address, persistent_connect(subscriber, false));
    assert!(connack.session_present);
    publisher.publish(TOPIC, "end", QoS::AtLeastOnce, false);
    let mut payloads = Vec::new();
    loop {
        let publish = client.recv_publish_acked();
        let payload = String::from_utf8(publish.payload.to_vec()).unwrap();
        if payload == "end" {
            return payloads;
        }
        payloads.push(payload);
    }
}

fn queue_of_three(queue_full_policy: QueueFullPolicy) -> Config {
    Config {
        max_queued_messages: 3,
        queue_full_policy,
        ..Config::default()
    }
}

const FIVE_QOS1: [(&str, QoS); 5] = [
    ("1", QoS::AtLeastOnce),
    ("2", QoS::AtLeastOnce),
    ("3", QoS::AtLeastOnce),
    ("4", QoS::AtLeastOnce),
    ("5", QoS::AtLeastOnce),
];

#[test]
fn offline_session_with_a_full_queue_under_drop_newest_gets_the_first_messages_on_resume() {
    let broker = start_broker_with(queue_of_three(QueueFullPolicy::DropNewest));
    let address = broker.local_addr();
    let subscriber = client_id_on(0, "newest");
    leave_subscribed(address, &subscriber);
    let publisher = publish_all(address, &FIVE_QOS1);
    let received = resume_and_collect(address, &subscriber, publisher);
    assert_eq!(received, vec!["1", "2", "3"]);
    // What the queue turned away is counted for the operator.
    assert_eq!(broker.stats().session_drops.dropped_queue_full, 2);
    broker.shutdown();
}

#[test]
fn offline_session_with_a_full_queue_under_drop_oldest_gets_the_latest_messages_on_resume() {
    let broker = start_broker_with(queue_of_three(QueueFullPolicy::DropOldest));
    let address = broker.local_addr();
    let subscriber = client_id_on(0, "oldest");
    leave_subscribed(address, &subscriber);
    let publisher = publish_all(address, &FIVE_QOS1);
    let received = resume_and_collect(address, &subscriber, publisher);
    assert_eq!(received, vec!["3", "4", "5"]);
    assert_eq!(broker.stats().session_drops.dropped_queue_full, 2);
    broker.shutdown();
}

#[test]
fn offline_session_does_not_queue_qos0_by_default() {
    let broker = start_broker();
    let address = broker.local_addr();
    let subscriber = client_id_on(0, "no-qos0");
    leave_subscribed(address, &subscriber);
    let publisher = publish_all(
        address,
        &[("zero", QoS::AtMostOnce), ("one", QoS::AtLeastOnce)],
    );
    let received = resume_and_collect(address, &subscriber, publisher);
    assert_eq!(received, vec!["one"]);
    assert_eq!(broker.stats().session_drops.dropped_qos0_offline, 1);
    broker.shutdown();
}

#[test]
fn offline_session_queues_qos0_when_queue_qos0_is_on() {
    let broker = start_broker_with(Config {
        queue_qos0: true,
        ..Config::default()
    });
    let address = broker.local_addr();
    let subscriber = client_id_on(0, "qos0");
    leave_subscribed(address, &subscriber);
    let publisher = publish_all(
        address,
        &[("zero", QoS::AtMostOnce), ("one", QoS::AtLeastOnce)],
    );
    let received = resume_and_collect(address, &subscriber, publisher);
    assert_eq!(received, vec!["zero", "one"]);
    broker.shutdown();
}

#[test]
fn publish_with_a_subscription_identifier_is_disconnected_with_protocol_error() {
    let broker = start_broker();
    let mut client = RawClient::clean(broker.local_addr(), ProtocolVersion::V5, "sub-id");
    let Packet::Publish(mut publish) = publish_packet(TOPIC, "x", QoS::AtLeastOnce, false, Some(1))
    else {
        unreachable!("publish_packet builds a PUBLISH");
    };
    publish.properties_mut().subscription_identifiers.push(3);
    client.send(&Packet::Publish(publish));
    let packets = client.expect_closed();
    assert_eq!(
        packets,
        vec![Packet::Disconnect(shardmq::protocol::Disconnect {
            reason_code: ReasonCode::ProtocolError,
            properties: Default::default(),
        })]
    );
    broker.shutdown();
}

fn claims_utf8(payload: &'static [u8], qos: QoS, packet_id: Option<u16>) -> Packet {
    let Packet::Publish(mut publish) = publish_packet(TOPIC, payload, qos, false, packet_id) else {
        unreachable!("publish_packet builds a PUBLISH");
    };
    publish.properties_mut().payload_format_indicator = Some(true);
    Packet::Publish(publish)
}

#[test]
fn qos1_publish_claiming_utf8_over_invalid_bytes_gets_puback_0x99_and_is_not_delivered() {
    let broker = start_broker();
    let address = broker.local_addr();
    let mut subscriber = RawClient::clean(address, ProtocolVersion::V5, &client_id_on(0, "reader"));
    subscriber.subscribe(TOPIC, QoS::AtLeastOnce);
    let mut publisher = RawClient::clean(address, ProtocolVersion::V5, &client_id_on(0, "writer"));
    publisher.send(&claims_utf8(&[0xC3, 0x28], QoS::AtLeastOnce, Some(7)));
    let answer = PublishResponse {
        reason_code: ReasonCode::PayloadFormatInvalid,
        ..PublishResponse::success(7)
    };
    assert_eq!(publisher.recv(), Packet::PubAck(answer));
    publisher.publish(TOPIC, "valid", QoS::AtLeastOnce, false);
    assert_eq!(&subscriber.recv_publish_acked().payload[..], b"valid");
    broker.shutdown();
}

#[test]
fn qos0_publish_claiming_utf8_over_invalid_bytes_is_disconnected_with_0x99() {
    let broker = start_broker();
    let mut client = RawClient::clean(broker.local_addr(), ProtocolVersion::V5, "bad-text");
    client.send(&claims_utf8(&[0xFF], QoS::AtMostOnce, None));
    assert_eq!(
        client.expect_closed(),
        vec![Packet::Disconnect(shardmq::protocol::Disconnect {
            reason_code: ReasonCode::PayloadFormatInvalid,
            properties: Default::default(),
        })]
    );
    broker.shutdown();
}

#[test]
fn connack_carries_response_information_when_requested_and_configured() {
    let broker = start_broker_with(Config {
        response_information: Some("replies/".to_owned()),
        ..Config::default()
    });
    let mut connect = connect_packet(ProtocolVersion::V5, "asks", true, 0);
    connect.properties.request_response_information = Some(true);
    let (_, connack) = RawClient::connected(broker.local_addr(), connect);
    assert_eq!(
        connack.properties.response_information.as_deref(),
        Some("replies/")
    );
    let silent = connect_packet(ProtocolVersion::V5, "does-not-ask", true, 0);
    let (_, connack) = RawClient::connected(broker.local_addr(), silent);
    assert_eq!(connack.properties.response_information, None);
    broker.shutdown();
}

#[test]
fn a_message_larger_than_the_subscriber_takes_is_skipped_and_counted() {
    let broker = start_broker();
    let address = broker.local_addr();
    let mut connect = connect_packet(ProtocolVersion::V5, &client_id_on(0, "small"), true, 0);
    connect.properties.maximum_packet_size = Some(256);
    let (mut subscriber, _) = RawClient::connected(address, connect);
    subscriber.subscribe(TOPIC, QoS::AtLeastOnce);
    let mut publisher = RawClient::clean(address, ProtocolVersion::V5, &client_id_on(0, "big"));
    publisher.publish(TOPIC, vec![b'x'; 1024], QoS::AtLeastOnce, false);
    publisher.publish(TOPIC, "fits", QoS::AtLeastOnce, false);
    // Only what fits arrives [MQTT-3.1.2-25], and the broker counts the rest.
    assert_eq!(subscriber.recv_publish_acked().payload, "fits".as_bytes());
    assert_eq!(broker.stats().session_drops.dropped_too_large, 1);
    broker.shutdown();
}
