//! Parking: idle connections give up their task and stream, and come back
//! for a packet from their client, a delivery, a takeover, a keep-alive
//! expiry, a lost socket or the broker stopping.

use std::time::{Duration, Instant};

use shardmq::protocol::{Packet, ProtocolVersion, QoS, ReasonCode};
use shardmq_shards::{BrokerHandle, Config};

use crate::common::{
    client_id_on, connect_packet, start_broker_with, will, RawClient, TEST_TIMEOUT,
};

/// A broker that parks connections idle for 50 ms.
fn parking_broker() -> BrokerHandle {
    start_broker_with(Config {
        idle_park_ms: 50,
        ..Config::default()
    })
}

/// Waits until the broker has parked `count` connections in all, polling its
/// counters; panics after [`TEST_TIMEOUT`].
fn wait_for_parks(broker: &BrokerHandle, count: u64) {
    let deadline = Instant::now() + TEST_TIMEOUT;
    while broker.stats().parks < count {
        assert!(
            Instant::now() < deadline,
            "{count} parks not reached: {:?}",
            broker.stats()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn parked_clients_on_different_shards_still_publish_and_receive() {
    let broker = parking_broker();
    let address = broker.local_addr();
    let mut subscriber =
        RawClient::clean(address, ProtocolVersion::V5, &client_id_on(0, "parked-sub"));
    subscriber.subscribe("parked/#", QoS::AtLeastOnce);
    let mut publisher = RawClient::clean(
        address,
        ProtocolVersion::V3_1_1,
        &client_id_on(1, "parked-pub"),
    );
    for round in 0..3u64 {
        wait_for_parks(&broker, 2 * (round + 1));
        // The publisher's packet wakes its socket; the delivery asks the
        // subscriber's connection back.
        publisher.publish("parked/a", format!("qos1-{round}"), QoS::AtLeastOnce, false);
        let delivered = subscriber.recv_publish_acked();
        assert_eq!(delivered.payload, format!("qos1-{round}").as_bytes());
        publisher.publish("parked/b", format!("qos0-{round}"), QoS::AtMostOnce, false);
        assert_eq!(
            subscriber.recv_publish().payload,
            format!("qos0-{round}").as_bytes()
        );
    }
    let stats = broker.stats();
    assert!(stats.unparks >= 6, "{stats:?}");
    subscriber.send(&Packet::PingReq);
    assert_eq!(subscriber.recv(), Packet::PingResp);
    broker.shutdown();
}

#[test]
fn a_parked_connection_is_taken_over() {
    let broker = parking_broker();
    let address = broker.local_addr();
    let client_id = client_id_on(1, "parked-twin");
    let mut first = RawClient::clean(address, ProtocolVersion::V5, &client_id);
    wait_for_parks(&broker, 1);
    let mut second = RawClient::clean(address, ProtocolVersion::V5, &client_id);
    first.expect_disconnect(ReasonCode::SessionTakenOver);
    second.send(&Packet::PingReq);
    assert_eq!(second.recv(), Packet::PingResp);
    broker.shutdown();
}

#[test]
fn a_parked_client_that_goes_away_leaves_its_will() {
    let broker = parking_broker();
    let address = broker.local_addr();
    let mut watcher = RawClient::clean(
        address,
        ProtocolVersion::V3_1_1,
        &client_id_on(0, "parked-watcher"),
    );
    watcher.subscribe("wills/#", QoS::AtLeastOnce);
    let mut connect = connect_packet(
        ProtocolVersion::V3_1_1,
        &client_id_on(1, "parked-mortal"),
        true,
        0,
    );
    connect.will = Some(will("wills/mortal", b"gone"));
    let (mortal, _) = RawClient::connected(address, connect);
    wait_for_parks(&broker, 2);
    drop(mortal);
    let delivered = watcher.recv_publish_acked();
    assert_eq!(delivered.topic_name, "wills/mortal");
    assert_eq!(&delivered.payload[..], b"gone");
    broker.shutdown();
}

#[test]
fn a_parked_client_past_its_keep_alive_is_closed() {
    let broker = parking_broker();
    let (mut silent, _) = RawClient::connected(
        broker.local_addr(),
        connect_packet(ProtocolVersion::V5, "parked-silent", true, 1),
    );
    wait_for_parks(&broker, 1);
    silent.expect_disconnect(ReasonCode::KeepAliveTimeout);
    broker.shutdown();
}

#[test]
fn parked_clients_hear_that_the_broker_stops() {
    let broker = parking_broker();
    let mut clients: Vec<RawClient> = (0..4)
        .map(|index| {
            RawClient::clean(
                broker.local_addr(),
                ProtocolVersion::V5,
                &format!("parked-stay-{index}"),
            )
        })
        .collect();
    wait_for_parks(&broker, 4);
    broker.request_stop();
    for client in &mut clients {
        client.expect_disconnect(ReasonCode::ServerShuttingDown);
    }
    broker.join();
}

#[test]
fn on_a_crowded_shard_a_new_connection_parks_at_once_and_still_talks() {
    // Sweeps would park after ten minutes: only the crowding rule can park
    // within the test. One unparked connection per shard is the crowd.
    let broker = start_broker_with(Config {
        idle_park_ms: 600_000,
        park_new_connections_above: 1,
        ..Config::default()
    });
    let address = broker.local_addr();
    let mut first = RawClient::clean(address, ProtocolVersion::V5, &client_id_on(0, "first"));
    let mut second = RawClient::clean(address, ProtocolVersion::V5, &client_id_on(0, "second"));
    wait_for_parks(&broker, 1);
    second.subscribe("crowd/#", QoS::AtLeastOnce);
    first.publish("crowd/a", "hello", QoS::AtLeastOnce, false);
    assert_eq!(second.recv_publish_acked().payload, "hello".as_bytes());
    // The first connection, alone on its shard when it came, stays; the
    // second parked once, right after its CONNACK, and not again.
    let stats = broker.stats();
    assert_eq!((stats.parks, stats.unparks), (1, 1), "{stats:?}");
    broker.shutdown();
}

#[test]
fn on_a_crowded_shard_a_resumed_connection_parks_once_its_backlog_is_written() {
    let broker = start_broker_with(Config {
        idle_park_ms: 600_000,
        park_new_connections_above: 0,
        ..Config::default()
    });
    let address = broker.local_addr();
    let subscriber = client_id_on(0, "backlogged");
    let persistent = |clean_start| {
        let mut connect = connect_packet(ProtocolVersion::V5, &subscriber, clean_start, 0);
        connect.properties.session_expiry_interval_s = Some(600);
        connect
    };
    // Each new connection parks right after its CONNACK: wait for it before
    // the client talks, or its first packet could come first.
    let (mut client, _) = RawClient::connected(address, persistent(true));
    wait_for_parks(&broker, 1);
    client.subscribe("backlog/#", QoS::AtLeastOnce);
    client.disconnect();
    // More than the broker's send buffer (4 MiB at most) and the client's
    // small receive buffer hold: the resumed connection is first idle with
    // most of its backlog unwritten. The client reads it without
    // acknowledging, so that the connection stays one that said nothing.
    const MESSAGES: usize = 100;
    let payload = bytes::Bytes::from(vec![7u8; 64 * 1024]);
    let mut publisher = RawClient::clean(address, ProtocolVersion::V5, &client_id_on(0, "feeder"));
    wait_for_parks(&broker, 2);
    for _ in 0..MESSAGES {
        publisher.publish("backlog/a", payload.clone(), QoS::AtLeastOnce, false);
    }
    let mut client = RawClient::open(address, ProtocolVersion::V5);
    socket2::SockRef::from(client.stream())
        .set_recv_buffer_size(64 * 1024)
        .unwrap();
    client.send(&Packet::Connect(Box::new(persistent(false))));
    match client.recv() {
        Packet::ConnAck(connack) => assert!(connack.session_present),
        other => panic!("expected CONNACK, got {other:?}"),
    }
    for _ in 0..MESSAGES {
        assert_eq!(client.recv_publish().payload.len(), payload.len());
    }
    // Written out and quiet: now it parks, and comes back to talk.
    wait_for_parks(&broker, 3);
    client.send(&Packet::PingReq);
    assert_eq!(client.recv(), Packet::PingResp);
    broker.shutdown();
}
