//! Offline queues and the 5.0 rules on what a client publishes, end to end: queue
//! limits under both full-queue policies (and the broker's count of what they
//! dropped), a message larger than the client takes, QoS 0 for offline clients, Subscription
//! Identifiers and Payload Format Indicator from a client, Response Information.
//! The queues are seen through rumqttc; the packets a normal client would not
//! send, and the exact answers to them, through [`Wire`].
//!
//! Publisher and subscriber share a home shard, so the publisher's PUBACK comes
//! after the message reached the subscriber's session: no wait is needed before
//! the subscriber comes back.

use rumqttc::v5::mqttbytes::QoS;
use shardmq::session::QueueFullPolicy;
use shardmq_shards::{BrokerStats, Config};

use crate::common::{client_id_on, run_then_shut_down, start_broker, start_broker_with};
use crate::rumqtt::V5;
use crate::wire::{property, reason, Connect, Properties, Publish, Wire, PUBACK};

const TOPIC: &str = "plant/line-1/counter";

/// Seconds the subscriber's session outlives its connection.
const SESSION_EXPIRY_INTERVAL_S: u32 = 600;

/// On a broker with `config`: subscribes a client homed on shard 0 to
/// [`TOPIC`] at QoS 1 and leaves (the session stays); publishes `payloads`
/// from another client homed on shard 0, each flow completed before the next
/// starts; resumes the session and returns the payloads it receives up to
/// the `end` marker the publisher sends once it is back. Then `check` reads
/// the broker's counters.
fn offline_queue_run(
    config: Config,
    subscriber: &str,
    payloads: &'static [(&'static str, QoS)],
    check: impl FnOnce(Vec<String>, &BrokerStats) + Send + 'static,
) {
    let broker = start_broker_with(config);
    let port = broker.local_addr().port();
    let stats = broker.stats_handle();
    let subscriber = client_id_on(0, subscriber);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run_then_shut_down(broker, async move {
        let (mut client, _) =
            V5::persistent(&subscriber, port, SESSION_EXPIRY_INTERVAL_S, true).await;
        client.subscribe(TOPIC, QoS::AtLeastOnce).await;
        client.disconnect().await;

        let mut publisher = V5::clean(&client_id_on(0, "publisher"), port).await;
        for (payload, qos) in payloads {
            publisher.publish(TOPIC, *payload, *qos, false).await;
        }

        let (mut client, connack) =
            V5::persistent(&subscriber, port, SESSION_EXPIRY_INTERVAL_S, false).await;
        assert!(connack.session_present);
        publisher
            .publish(TOPIC, "end", QoS::AtLeastOnce, false)
            .await;
        let mut received = Vec::new();
        loop {
            let publish = client.next_publish().await;
            let payload = String::from_utf8(publish.payload.to_vec()).unwrap();
            if payload == "end" {
                break;
            }
            received.push(payload);
        }
        check(received, &stats);
    }));
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

const ZERO_THEN_ONE: [(&str, QoS); 2] = [("zero", QoS::AtMostOnce), ("one", QoS::AtLeastOnce)];

#[test]
fn offline_session_with_a_full_queue_under_drop_newest_gets_the_first_messages_on_resume() {
    offline_queue_run(
        queue_of_three(QueueFullPolicy::DropNewest),
        "newest",
        &FIVE_QOS1,
        |received, stats| {
            assert_eq!(received, vec!["1", "2", "3"]);
            // What the queue turned away is counted for the operator.
            assert_eq!(stats.snapshot().session_drops.dropped_queue_full, 2);
        },
    );
}

#[test]
fn offline_session_with_a_full_queue_under_drop_oldest_gets_the_latest_messages_on_resume() {
    offline_queue_run(
        queue_of_three(QueueFullPolicy::DropOldest),
        "oldest",
        &FIVE_QOS1,
        |received, stats| {
            assert_eq!(received, vec!["3", "4", "5"]);
            assert_eq!(stats.snapshot().session_drops.dropped_queue_full, 2);
        },
    );
}

#[test]
fn offline_session_does_not_queue_qos0_by_default() {
    offline_queue_run(
        Config::default(),
        "no-qos0",
        &ZERO_THEN_ONE,
        |received, stats| {
            assert_eq!(received, vec!["one"]);
            assert_eq!(stats.snapshot().session_drops.dropped_qos0_offline, 1);
        },
    );
}

#[test]
fn offline_session_queues_qos0_when_queue_qos0_is_on() {
    let config = Config {
        queue_qos0: true,
        ..Config::default()
    };
    offline_queue_run(config, "qos0", &ZERO_THEN_ONE, |received, _| {
        assert_eq!(received, vec!["zero", "one"]);
    });
}

#[test]
fn publish_with_a_subscription_identifier_is_disconnected_with_protocol_error() {
    let broker = start_broker();
    let mut client = Wire::clean(broker.local_addr(), crate::wire::V5, "sub-id");
    let mut publish = Publish::new(TOPIC, "x", 1);
    publish.properties = Properties::default().with_integer(property::SUBSCRIPTION_IDENTIFIER, 3);
    client.send_publish(&publish);
    assert_eq!(
        client.expect_disconnect(reason::PROTOCOL_ERROR),
        Properties::default()
    );
    broker.shutdown();
}

/// A PUBLISH to [`TOPIC`] whose Payload Format Indicator says UTF-8 (3.3.2.3.2).
fn claims_utf8(payload: &[u8], qos: u8, packet_id: Option<u16>) -> Publish {
    Publish {
        packet_id,
        properties: Properties::default().with_integer(property::PAYLOAD_FORMAT_INDICATOR, 1),
        ..Publish::new(TOPIC, payload, qos)
    }
}

#[test]
fn qos1_publish_claiming_utf8_over_invalid_bytes_gets_puback_0x99_and_is_not_delivered() {
    let broker = start_broker();
    let address = broker.local_addr();
    let mut subscriber = Wire::subscriber(
        address,
        crate::wire::V5,
        &client_id_on(0, "reader"),
        TOPIC,
        1,
    );
    let mut publisher = Wire::clean(address, crate::wire::V5, &client_id_on(0, "writer"));
    publisher.send_publish(&claims_utf8(&[0xC3, 0x28], 1, Some(7)));
    let answer = publisher.expect_ack(PUBACK, 7);
    assert_eq!(
        (answer.reason_code, answer.properties),
        (reason::PAYLOAD_FORMAT_INVALID, Properties::default())
    );
    publisher.publish(TOPIC, "valid", 1, false);
    assert_eq!(subscriber.recv_publish_acked().payload, b"valid");
    broker.shutdown();
}

#[test]
fn qos0_publish_claiming_utf8_over_invalid_bytes_is_disconnected_with_0x99() {
    let broker = start_broker();
    let mut client = Wire::clean(broker.local_addr(), crate::wire::V5, "bad-text");
    client.send_publish(&claims_utf8(&[0xFF], 0, None));
    assert_eq!(
        client.expect_disconnect(reason::PAYLOAD_FORMAT_INVALID),
        Properties::default()
    );
    broker.shutdown();
}

#[test]
fn connack_carries_response_information_when_requested_and_configured() {
    let broker = start_broker_with(Config {
        response_information: Some("replies/".to_owned()),
        ..Config::default()
    });
    let asks = Connect {
        properties: Properties::default().with_integer(property::REQUEST_RESPONSE_INFORMATION, 1),
        ..Connect::new(crate::wire::V5, "asks")
    };
    let (_, connack) = Wire::accepted(broker.local_addr(), &asks);
    assert_eq!(
        connack
            .properties
            .text(property::RESPONSE_INFORMATION)
            .as_deref(),
        Some("replies/")
    );
    let silent = Connect::new(crate::wire::V5, "does-not-ask");
    let (_, connack) = Wire::accepted(broker.local_addr(), &silent);
    assert_eq!(
        connack.properties.text(property::RESPONSE_INFORMATION),
        None
    );
    broker.shutdown();
}

#[test]
fn a_message_larger_than_the_subscriber_takes_is_skipped_and_counted() {
    let broker = start_broker();
    let address = broker.local_addr();
    let small = Connect {
        properties: Properties::default().with_integer(property::MAXIMUM_PACKET_SIZE, 256),
        ..Connect::new(crate::wire::V5, &client_id_on(0, "small"))
    };
    let (mut subscriber, _) = Wire::accepted(address, &small);
    subscriber.subscribe(TOPIC, 1);
    let mut publisher = Wire::clean(address, crate::wire::V5, &client_id_on(0, "big"));
    publisher.publish(TOPIC, vec![b'x'; 1024], 1, false);
    publisher.publish(TOPIC, "fits", 1, false);
    // Only what fits arrives [MQTT-3.1.2-25], and the broker counts the rest.
    assert_eq!(subscriber.recv_publish_acked().payload, b"fits");
    assert_eq!(broker.stats().session_drops.dropped_too_large, 1);
    broker.shutdown();
}
