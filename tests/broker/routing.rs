//! Routing over raw clients: wildcards, `$` topics, subscription identifiers and
//! the hand-off of connections to their home shard.

use shardmq::protocol::{Packet, ProtocolVersion, QoS};

use crate::common::{client_id_on, connect_packet, start_broker, RawClient, SHARDS};

#[test]
fn wildcards_match_across_shards_but_never_dollar_topics() {
    let broker = start_broker();
    let address = broker.local_addr();
    let mut everything =
        RawClient::clean(address, ProtocolVersion::V3_1_1, &client_id_on(0, "all"));
    everything.subscribe("#", QoS::AtLeastOnce);
    let mut temperatures =
        RawClient::clean(address, ProtocolVersion::V3_1_1, &client_id_on(1, "temp"));
    temperatures.subscribe("sensors/+/temperature", QoS::AtLeastOnce);
    // Not `$SYS`, which clients may not publish to (see `topic_rules`).
    let mut monitor = RawClient::clean(address, ProtocolVersion::V3_1_1, &client_id_on(1, "mon"));
    monitor.subscribe("$monitor/#", QoS::AtLeastOnce);
    let mut publisher = RawClient::clean(address, ProtocolVersion::V3_1_1, &client_id_on(0, "pub"));

    publisher.publish("$monitor/uptime", "1", QoS::AtLeastOnce, false);
    publisher.publish("sensors/kitchen/temperature", "21", QoS::AtLeastOnce, false);
    publisher.publish("sensors/kitchen/humidity", "40", QoS::AtLeastOnce, false);

    // Messages from one publisher arrive in order, so the first thing `#` sees
    // tells whether it got the `$monitor` message.
    let first = everything.recv_publish_acked();
    assert_eq!(first.topic_name, "sensors/kitchen/temperature");
    assert_eq!(
        everything.recv_publish_acked().topic_name,
        "sensors/kitchen/humidity"
    );
    let temperature = temperatures.recv_publish_acked();
    assert_eq!(temperature.topic_name, "sensors/kitchen/temperature");
    assert_eq!(&temperature.payload[..], b"21");
    assert_eq!(monitor.recv_publish_acked().topic_name, "$monitor/uptime");
    broker.shutdown();
}

#[test]
fn overlapping_v5_subscriptions_deliver_once_with_every_identifier() {
    let broker = start_broker();
    let address = broker.local_addr();
    let mut subscriber = RawClient::clean(address, ProtocolVersion::V5, &client_id_on(1, "ids"));
    subscriber.subscribe_with("metrics/#", QoS::AtLeastOnce, Some(7));
    subscriber.subscribe_with("metrics/+/cpu", QoS::AtMostOnce, Some(9));
    let mut publisher = RawClient::clean(address, ProtocolVersion::V5, &client_id_on(0, "ids-pub"));
    publisher.publish("metrics/host/cpu", "0.5", QoS::AtLeastOnce, false);
    publisher.publish("metrics/host/memory", "0.7", QoS::AtLeastOnce, false);
    let first = subscriber.recv_publish_acked();
    assert_eq!(first.topic_name, "metrics/host/cpu");
    assert_eq!(first.qos, QoS::AtLeastOnce);
    let mut identifiers = first.properties().subscription_identifiers.to_vec();
    identifiers.sort_unstable();
    assert_eq!(identifiers, vec![7, 9]);
    let second = subscriber.recv_publish_acked();
    assert_eq!(second.topic_name, "metrics/host/memory");
    assert_eq!(
        second.properties().subscription_identifiers.to_vec(),
        vec![7]
    );
    broker.shutdown();
}

#[test]
fn connections_move_to_their_home_shard_and_keep_working() {
    let broker = start_broker();
    let address = broker.local_addr();
    let mut clients = Vec::new();
    for index in 0..16 {
        let client_id = client_id_on(index % SHARDS, &format!("handoff{index}"));
        let mut client = RawClient::clean(address, ProtocolVersion::V3_1_1, &client_id);
        client.subscribe(&format!("handoff/{index}"), QoS::AtLeastOnce);
        clients.push(client);
    }
    let (mut publisher, _) = RawClient::connected(
        address,
        connect_packet(ProtocolVersion::V3_1_1, "handoff-publisher", true, 0),
    );
    for index in 0..clients.len() {
        publisher.publish(&format!("handoff/{index}"), "ping", QoS::AtLeastOnce, false);
    }
    for (index, client) in clients.iter_mut().enumerate() {
        let publish = client.recv_publish_acked();
        assert_eq!(publish.topic_name, format!("handoff/{index}"));
    }
    // The kernel spreads accepts over both shards, so with 17 connections some
    // landed away from home (a miss has probability 2^-17 per run).
    assert!(broker.handoffs() > 0, "no connection was handed off");
    broker.shutdown();
}

#[test]
fn packets_sent_along_with_connect_survive_the_hand_off() {
    let broker = start_broker();
    let address = broker.local_addr();
    for index in 0..8 {
        let client_id = client_id_on(index % SHARDS, &format!("eager{index}"));
        let mut client = RawClient::open(address, ProtocolVersion::V3_1_1);
        let mut bytes = bytes::BytesMut::new();
        for packet in [
            Packet::Connect(Box::new(connect_packet(
                ProtocolVersion::V3_1_1,
                &client_id,
                true,
                0,
            ))),
            Packet::Subscribe(shardmq::protocol::Subscribe {
                packet_id: 3,
                properties: Default::default(),
                filters: vec![("eager".into(), Default::default())],
            }),
            Packet::PingReq,
        ] {
            shardmq::protocol::encode(&packet, ProtocolVersion::V3_1_1, &mut bytes).unwrap();
        }
        // One write: the accepting shard reads CONNECT and what follows at once.
        client.send_bytes(&bytes);
        assert!(matches!(client.recv(), Packet::ConnAck(_)));
        assert!(matches!(client.recv(), Packet::SubAck(suback) if suback.packet_id == 3));
        assert_eq!(client.recv(), Packet::PingResp);
    }
    broker.shutdown();
}

#[test]
fn empty_client_id_gets_an_assigned_identifier_under_v5() {
    let broker = start_broker();
    let (mut client, connack) = RawClient::connected(
        broker.local_addr(),
        connect_packet(ProtocolVersion::V5, "", true, 0),
    );
    let assigned = connack
        .properties
        .assigned_client_identifier
        .expect("an identifier was assigned");
    assert!(!assigned.is_empty());
    client.subscribe("assigned/echo", QoS::AtMostOnce);
    client.publish("assigned/echo", "self", QoS::AtMostOnce, false);
    assert_eq!(&client.recv_publish().payload[..], b"self");
    client.send(&Packet::PingReq);
    assert_eq!(client.recv(), Packet::PingResp);
    broker.shutdown();
}

#[test]
fn mqtt_3_1_clients_publish_and_subscribe_across_shards() {
    let broker = start_broker();
    let address = broker.local_addr();
    let mut subscriber =
        RawClient::clean(address, ProtocolVersion::V3_1, &client_id_on(0, "old-sub"));
    subscriber.subscribe("legacy/#", QoS::ExactlyOnce);
    let mut publisher =
        RawClient::clean(address, ProtocolVersion::V3_1, &client_id_on(1, "old-pub"));
    publisher.publish("legacy/line", "hello 3.1", QoS::ExactlyOnce, false);
    let publish = subscriber.recv_publish_acked();
    assert_eq!(publish.qos, QoS::ExactlyOnce);
    assert_eq!(&publish.payload[..], b"hello 3.1");
    broker.shutdown();
}
