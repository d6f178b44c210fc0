//! Retained messages with a Message Expiry Interval: sent to subscribers
//! while they live, never once they expired. Raw bytes ([`Wire`]): a PINGREQ
//! after the SUBSCRIBE marks where the retained messages end.

use std::net::SocketAddr;
use std::time::Duration;

use crate::common::{client_id_on, start_broker};
use crate::wire::{property, Properties, Publish, Received, Wire, PINGREQ, V5};

/// The Message Expiry Interval of the expiring retained message, seconds.
const EXPIRY_INTERVAL_S: u32 = 1;

/// A retained QoS 0 PUBLISH, with a Message Expiry Interval if `expiry_s`.
fn retained_publish(topic_name: &str, payload: &str, expiry_s: Option<u32>) -> Publish {
    let mut properties = Properties::default();
    if let Some(expiry_s) = expiry_s {
        properties = properties.with_integer(property::MESSAGE_EXPIRY_INTERVAL, expiry_s);
    }
    Publish {
        retain: true,
        properties,
        ..Publish::new(topic_name, payload, 0)
    }
}

/// Subscribes a new client on `shard` to `status/#` and returns the topics
/// of the retained messages it gets before its PINGRESP.
fn retained_topics_for_new_subscriber(address: SocketAddr, shard: usize) -> Vec<String> {
    let mut subscriber = Wire::subscriber(address, V5, &client_id_on(shard, "late"), "status/#", 0);
    subscriber.send(&PINGREQ);
    let mut topics = Vec::new();
    loop {
        match subscriber.recv() {
            Received::Publish(publish) => topics.push(publish.topic_name),
            Received::PingResp => return topics,
            other => panic!("expected PUBLISH or PINGRESP, got {other:?}"),
        }
    }
}

#[test]
fn expired_retained_message_is_not_sent_to_new_subscribers_on_any_shard() {
    let broker = start_broker();
    let address = broker.local_addr();
    let mut publisher = Wire::clean(address, V5, &client_id_on(0, "status"));
    publisher.send_publish(&retained_publish(
        "status/a",
        "fleeting",
        Some(EXPIRY_INTERVAL_S),
    ));
    publisher.send_publish(&retained_publish("status/b", "lasting", None));
    // The PINGRESP comes after both publishes were handled.
    publisher.ping();
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
