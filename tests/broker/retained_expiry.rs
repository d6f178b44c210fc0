//! Retained messages with a Message Expiry Interval: sent to subscribers
//! while they live, never once they expired.

use std::time::Duration;

use bytes::Bytes;
use bytestring::ByteString;
use shardmq::protocol::{Packet, ProtocolVersion, Publish, PublishProperties, QoS};

use crate::common::{client_id_on, start_broker, RawClient};

/// The Message Expiry Interval of the expiring retained message, seconds.
const EXPIRY_INTERVAL_S: u32 = 1;

fn retained_publish(topic_name: &str, payload: &'static str, expiry_s: Option<u32>) -> Packet {
    Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtMostOnce,
        retain: true,
        topic_name: ByteString::from(topic_name),
        packet_id: None,
        properties: PublishProperties {
            message_expiry_interval_s: expiry_s,
            ..PublishProperties::default()
        }
        .boxed(),
        payload: Bytes::from_static(payload.as_bytes()),
    })
}

/// Subscribes a new client on `shard` to `status/#` and returns the topics
/// of the retained messages it gets before its PINGRESP.
fn retained_topics_for_new_subscriber(address: std::net::SocketAddr, shard: usize) -> Vec<String> {
    let mut subscriber =
        RawClient::clean(address, ProtocolVersion::V5, &client_id_on(shard, "late"));
    subscriber.subscribe("status/#", QoS::AtMostOnce);
    subscriber.send(&Packet::PingReq);
    let mut topics = Vec::new();
    loop {
        match subscriber.recv() {
            Packet::Publish(publish) => topics.push(publish.topic_name.to_string()),
            Packet::PingResp => return topics,
            other => panic!("expected PUBLISH or PINGRESP, got {other:?}"),
        }
    }
}

#[test]
fn expired_retained_message_is_not_sent_to_new_subscribers_on_any_shard() {
    let broker = start_broker();
    let address = broker.local_addr();
    let mut publisher = RawClient::clean(address, ProtocolVersion::V5, &client_id_on(0, "status"));
    publisher.send(&retained_publish(
        "status/a",
        "fleeting",
        Some(EXPIRY_INTERVAL_S),
    ));
    publisher.send(&retained_publish("status/b", "lasting", None));
    // The PINGRESP comes after both publishes were handled.
    publisher.send(&Packet::PingReq);
    assert_eq!(publisher.recv(), Packet::PingResp);
    for shard in 0..2 {
        assert_eq!(
            retained_topics_for_new_subscriber(address, shard),
            vec!["status/a", "status/b"]
        );
    }

    // Expiry is the behaviour under test: let the interval pass.
    std::thread::sleep(Duration::from_millis(
        u64::from(EXPIRY_INTERVAL_S) * 1000 + 100,
    ));
    for shard in 0..2 {
        assert_eq!(
            retained_topics_for_new_subscriber(address, shard),
            vec!["status/b"]
        );
    }
    broker.shutdown();
}
