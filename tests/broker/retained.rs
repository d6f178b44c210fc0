//! Retained messages: set, update, delete, and retrieval through wildcards, with
//! the publisher and the subscribers homed on different shards.

use shardmq::protocol::{ProtocolVersion, QoS};

use crate::common::{client_id_on, start_broker, RawClient};

#[test]
fn retained_messages_are_set_updated_deleted_and_matched_by_wildcards() {
    let broker = start_broker();
    let address = broker.local_addr();
    let mut publisher =
        RawClient::clean(address, ProtocolVersion::V3_1_1, &client_id_on(0, "keeper"));
    publisher.publish("rooms/kitchen/light", "on", QoS::AtLeastOnce, true);
    publisher.publish("rooms/hall/light", "off", QoS::AtLeastOnce, true);

    let mut first = RawClient::clean(
        address,
        ProtocolVersion::V3_1_1,
        &client_id_on(1, "reader-a"),
    );
    first.subscribe("rooms/+/light", QoS::AtLeastOnce);
    let mut seen: Vec<(String, Vec<u8>)> = (0..2)
        .map(|_| {
            let publish = first.recv_publish_acked();
            assert!(
                publish.retain,
                "a retained message keeps RETAIN on subscribe"
            );
            (publish.topic_name.to_string(), publish.payload.to_vec())
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            ("rooms/hall/light".to_owned(), b"off".to_vec()),
            ("rooms/kitchen/light".to_owned(), b"on".to_vec()),
        ]
    );

    publisher.publish("rooms/kitchen/light", "dimmed", QoS::AtLeastOnce, true);
    publisher.publish("rooms/hall/light", "", QoS::AtLeastOnce, true);
    // The live subscriber gets both as normal publishes (RETAIN cleared).
    let update = first.recv_publish_acked();
    assert_eq!(&update.payload[..], b"dimmed");
    assert!(!update.retain);
    assert_eq!(first.recv_publish_acked().topic_name, "rooms/hall/light");

    let mut second = RawClient::clean(
        address,
        ProtocolVersion::V3_1_1,
        &client_id_on(1, "reader-b"),
    );
    second.subscribe("rooms/#", QoS::AtLeastOnce);
    publisher.publish("rooms/marker", "end", QoS::AtLeastOnce, false);
    let retained = second.recv_publish_acked();
    assert_eq!(retained.topic_name, "rooms/kitchen/light");
    assert_eq!(&retained.payload[..], b"dimmed");
    assert!(retained.retain);
    // The deleted topic sends nothing: the next message is the live marker.
    assert_eq!(second.recv_publish_acked().topic_name, "rooms/marker");
    broker.shutdown();
}
