//! Retained messages: set, update, delete, and retrieval through wildcards, with
//! the publisher and the subscribers homed on different shards, through rumqttc.

use rumqttc::QoS;

use crate::common::{client_id_on, run_then_shut_down, start_broker};
use crate::rumqtt::V311;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retained_messages_are_set_updated_deleted_and_matched_by_wildcards() {
    let broker = start_broker();
    let port = broker.local_addr().port();
    run_then_shut_down(broker, async {
        let mut publisher = V311::clean(&client_id_on(0, "keeper"), port).await;
        publisher
            .publish("rooms/kitchen/light", "on", QoS::AtLeastOnce, true)
            .await;
        publisher
            .publish("rooms/hall/light", "off", QoS::AtLeastOnce, true)
            .await;

        let mut first = V311::clean(&client_id_on(1, "reader-a"), port).await;
        first.subscribe("rooms/+/light", QoS::AtLeastOnce).await;
        let mut seen = Vec::new();
        for _ in 0..2 {
            let publish = first.next_publish().await;
            assert!(
                publish.retain,
                "a retained message keeps RETAIN on subscribe"
            );
            seen.push((publish.topic, publish.payload.to_vec()));
        }
        seen.sort();
        assert_eq!(
            seen,
            vec![
                ("rooms/hall/light".to_owned(), b"off".to_vec()),
                ("rooms/kitchen/light".to_owned(), b"on".to_vec()),
            ]
        );

        publisher
            .publish("rooms/kitchen/light", "dimmed", QoS::AtLeastOnce, true)
            .await;
        publisher
            .publish("rooms/hall/light", "", QoS::AtLeastOnce, true)
            .await;
        // The live subscriber gets both as normal publishes (RETAIN cleared).
        let update = first.next_publish().await;
        assert_eq!(&update.payload[..], b"dimmed");
        assert!(!update.retain);
        assert_eq!(first.next_publish().await.topic, "rooms/hall/light");

        let mut second = V311::clean(&client_id_on(1, "reader-b"), port).await;
        second.subscribe("rooms/#", QoS::AtLeastOnce).await;
        publisher
            .publish("rooms/marker", "end", QoS::AtLeastOnce, false)
            .await;
        let retained = second.next_publish().await;
        assert_eq!(retained.topic, "rooms/kitchen/light");
        assert_eq!(&retained.payload[..], b"dimmed");
        assert!(retained.retain);
        // The deleted topic sends nothing: the next message is the live marker.
        assert_eq!(second.next_publish().await.topic, "rooms/marker");
    })
    .await;
}
