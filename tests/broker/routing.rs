//! Routing: wildcards, `$` topics, subscription identifiers and the hand-off
//! of connections to their home shard, through rumqttc; what needs exact
//! bytes (packets sent along with CONNECT, an assigned client id, MQTT 3.1,
//! which rumqttc does not speak) through [`Wire`].

use rumqttc::v5::mqttbytes::v5::SubscribeProperties;

use crate::common::{client_id_on, run_then_shut_down, start_broker, SHARDS};
use crate::rumqtt::{V311, V5};
use crate::wire::{
    property, subscribe, Connect, Properties, Received, Wire, PINGREQ, V3_1, V3_1_1,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wildcards_match_across_shards_but_never_dollar_topics() {
    use rumqttc::QoS;

    let broker = start_broker();
    let port = broker.local_addr().port();
    run_then_shut_down(broker, async {
        let mut everything = V311::clean(&client_id_on(0, "all"), port).await;
        everything.subscribe("#", QoS::AtLeastOnce).await;
        let mut temperatures = V311::clean(&client_id_on(1, "temp"), port).await;
        temperatures
            .subscribe("sensors/+/temperature", QoS::AtLeastOnce)
            .await;
        // Not `$SYS`, which clients may not publish to (see `topic_rules`).
        let mut monitor = V311::clean(&client_id_on(1, "mon"), port).await;
        monitor.subscribe("$monitor/#", QoS::AtLeastOnce).await;
        let mut publisher = V311::clean(&client_id_on(0, "pub"), port).await;

        for (topic_name, payload) in [
            ("$monitor/uptime", "1"),
            ("sensors/kitchen/temperature", "21"),
            ("sensors/kitchen/humidity", "40"),
        ] {
            publisher
                .publish(topic_name, payload, QoS::AtLeastOnce, false)
                .await;
        }

        // Messages from one publisher arrive in order, so the first thing `#`
        // sees tells whether it got the `$monitor` message.
        let first = everything.next_publish().await;
        assert_eq!(first.topic, "sensors/kitchen/temperature");
        assert_eq!(
            everything.next_publish().await.topic,
            "sensors/kitchen/humidity"
        );
        let temperature = temperatures.next_publish().await;
        assert_eq!(temperature.topic, "sensors/kitchen/temperature");
        assert_eq!(&temperature.payload[..], b"21");
        assert_eq!(monitor.next_publish().await.topic, "$monitor/uptime");
    })
    .await;
}

/// The subscription barrier: SUBACK is sent only once every shard applied the
/// subscription, so a QoS 0 publish (never resent) from the other shard, sent
/// the moment SUBACK arrives, reaches the new subscriber. Were SUBACK sent
/// first, the publisher's shard could route by its old table and drop it.
#[test]
fn suback_comes_only_after_every_shard_applied_the_subscription() {
    let broker = start_broker();
    let address = broker.local_addr();
    for (subscriber_shard, publisher_shard) in [(0, 1), (1, 0)] {
        let mut subscriber = Wire::clean(
            address,
            V3_1_1,
            &client_id_on(subscriber_shard, "barrier-sub"),
        );
        let mut publisher = Wire::clean(
            address,
            V3_1_1,
            &client_id_on(publisher_shard, "barrier-pub"),
        );
        for round in 0..50 {
            let topic_name = format!("barrier/{subscriber_shard}/{round}");
            subscriber.subscribe(&topic_name, 0);
            publisher.publish(&topic_name, "right after SUBACK", 0, false);
            assert_eq!(subscriber.recv_publish().topic_name, topic_name);
        }
    }
    broker.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_v5_subscriptions_deliver_once_with_every_identifier() {
    use rumqttc::v5::mqttbytes::QoS;

    let broker = start_broker();
    let port = broker.local_addr().port();
    run_then_shut_down(broker, async {
        let mut subscriber = V5::clean(&client_id_on(1, "ids"), port).await;
        for (topic_filter, qos, id) in [
            ("metrics/#", QoS::AtLeastOnce, 7),
            ("metrics/+/cpu", QoS::AtMostOnce, 9),
        ] {
            let properties = SubscribeProperties {
                id: Some(id),
                user_properties: Vec::new(),
            };
            subscriber
                .client
                .subscribe_with_properties(topic_filter, qos, properties)
                .await
                .unwrap();
            subscriber.wait_for_suback(topic_filter).await;
        }
        let mut publisher = V5::clean(&client_id_on(0, "ids-pub"), port).await;
        for (topic_name, payload) in [("metrics/host/cpu", "0.5"), ("metrics/host/memory", "0.7")] {
            publisher
                .publish(topic_name, payload, QoS::AtLeastOnce, false)
                .await;
        }
        let first = subscriber.next_publish().await;
        assert_eq!(&first.topic[..], b"metrics/host/cpu");
        assert_eq!(first.qos, QoS::AtLeastOnce);
        let mut identifiers = first.properties.unwrap().subscription_identifiers;
        identifiers.sort_unstable();
        assert_eq!(identifiers, vec![7, 9]);
        let second = subscriber.next_publish().await;
        assert_eq!(&second.topic[..], b"metrics/host/memory");
        assert_eq!(second.properties.unwrap().subscription_identifiers, vec![7]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_move_to_their_home_shard_and_keep_working() {
    use rumqttc::QoS;

    let broker = start_broker();
    let port = broker.local_addr().port();
    let stats = broker.stats_handle();
    run_then_shut_down(broker, async {
        let mut clients = Vec::new();
        for index in 0..16 {
            let client_id = client_id_on(index % SHARDS, &format!("handoff{index}"));
            let mut client = V311::clean(&client_id, port).await;
            client
                .subscribe(&format!("handoff/{index}"), QoS::AtLeastOnce)
                .await;
            clients.push(client);
        }
        let mut publisher = V311::clean("handoff-publisher", port).await;
        for index in 0..clients.len() {
            publisher
                .publish(&format!("handoff/{index}"), "ping", QoS::AtLeastOnce, false)
                .await;
        }
        for (index, client) in clients.iter_mut().enumerate() {
            let publish = client.next_publish().await;
            assert_eq!(publish.topic, format!("handoff/{index}"));
        }
        // The kernel spreads accepts over both shards, so with 17 connections
        // some landed away from home (a miss has probability 2^-17 per run).
        assert!(
            stats.snapshot().handoffs > 0,
            "no connection was handed off"
        );
    })
    .await;
}

#[test]
fn packets_sent_along_with_connect_survive_the_hand_off() {
    let broker = start_broker();
    let address = broker.local_addr();
    for index in 0..8 {
        let client_id = client_id_on(index % SHARDS, &format!("eager{index}"));
        let mut client = Wire::open(address);
        let connect = Connect::new(V3_1_1, &client_id);
        let mut bytes = connect.encode();
        bytes.extend(subscribe(
            V3_1_1,
            3,
            &[("eager", 0)],
            &Properties::default(),
        ));
        bytes.extend(PINGREQ);
        // One write: the accepting shard reads CONNECT and what follows at once.
        client.send(&bytes);
        assert!(matches!(client.recv(), Received::ConnAck(_)));
        assert!(matches!(
            client.recv(),
            Received::SubAck { packet_id: 3, .. }
        ));
        assert_eq!(client.recv(), Received::PingResp);
    }
    broker.shutdown();
}

#[test]
fn empty_client_id_gets_an_assigned_identifier_under_v5() {
    let broker = start_broker();
    let (mut client, connack) =
        Wire::accepted(broker.local_addr(), &Connect::new(crate::wire::V5, ""));
    let assigned = connack
        .properties
        .text(property::ASSIGNED_CLIENT_IDENTIFIER)
        .expect("an identifier was assigned");
    assert!(!assigned.is_empty());
    client.subscribe("assigned/echo", 0);
    client.publish("assigned/echo", "self", 0, false);
    assert_eq!(client.recv_publish().payload, b"self");
    client.ping();
    broker.shutdown();
}

#[test]
fn mqtt_3_1_clients_publish_and_subscribe_across_shards() {
    let broker = start_broker();
    let address = broker.local_addr();
    let mut subscriber =
        Wire::subscriber(address, V3_1, &client_id_on(0, "old-sub"), "legacy/#", 2);
    let mut publisher = Wire::clean(address, V3_1, &client_id_on(1, "old-pub"));
    publisher.publish("legacy/line", "hello 3.1", 2, false);
    let publish = subscriber.recv_publish_acked();
    assert_eq!(publish.qos, 2);
    assert_eq!(publish.payload, b"hello 3.1");
    broker.shutdown();
}
