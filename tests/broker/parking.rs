//! Parking: idle connections give up their task and stream, and come back
//! for a packet from their client, a delivery, a takeover, a keep-alive
//! expiry, a lost socket or the broker stopping.

use std::time::{Duration, Instant};

use shardmq_shards::{BrokerHandle, Config};

use crate::common::{client_id_on, start_broker_with, TEST_TIMEOUT};
use crate::wire::{reason, Connect, Will, Wire, V3_1_1, V5};

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
        Wire::subscriber(address, V5, &client_id_on(0, "parked-sub"), "parked/#", 1);
    let mut publisher = Wire::clean(address, V3_1_1, &client_id_on(1, "parked-pub"));
    for round in 0..3u64 {
        wait_for_parks(&broker, 2 * (round + 1));
        // The publisher's packet wakes its socket; the delivery asks the
        // subscriber's connection back.
        publisher.publish("parked/a", format!("qos1-{round}"), 1, false);
        let delivered = subscriber.recv_publish_acked();
        assert_eq!(delivered.payload, format!("qos1-{round}").as_bytes());
        publisher.publish("parked/b", format!("qos0-{round}"), 0, false);
        assert_eq!(
            subscriber.recv_publish().payload,
            format!("qos0-{round}").as_bytes()
        );
    }
    let stats = broker.stats();
    assert!(stats.unparks >= 6, "{stats:?}");
    subscriber.ping();
    broker.shutdown();
}

#[test]
fn a_parked_connection_is_taken_over() {
    let broker = parking_broker();
    let address = broker.local_addr();
    let client_id = client_id_on(1, "parked-twin");
    let mut first = Wire::clean(address, V5, &client_id);
    wait_for_parks(&broker, 1);
    let mut second = Wire::clean(address, V5, &client_id);
    first.expect_disconnect(reason::SESSION_TAKEN_OVER);
    second.ping();
    broker.shutdown();
}

#[test]
fn a_parked_client_that_goes_away_leaves_its_will() {
    let broker = parking_broker();
    let address = broker.local_addr();
    let mut watcher = Wire::subscriber(
        address,
        V3_1_1,
        &client_id_on(0, "parked-watcher"),
        "wills/#",
        1,
    );
    let connect = Connect {
        will: Some(Will::new("wills/mortal", b"gone")),
        ..Connect::new(V3_1_1, &client_id_on(1, "parked-mortal"))
    };
    let (mortal, _) = Wire::accepted(address, &connect);
    wait_for_parks(&broker, 2);
    drop(mortal);
    let delivered = watcher.recv_publish_acked();
    assert_eq!(delivered.topic_name, "wills/mortal");
    assert_eq!(delivered.payload, b"gone");
    broker.shutdown();
}

#[test]
fn a_parked_client_past_its_keep_alive_is_closed() {
    let broker = parking_broker();
    let connect = Connect {
        keep_alive_s: 1,
        ..Connect::new(V5, "parked-silent")
    };
    let (mut silent, _) = Wire::accepted(broker.local_addr(), &connect);
    wait_for_parks(&broker, 1);
    silent.expect_disconnect(reason::KEEP_ALIVE_TIMEOUT);
    broker.shutdown();
}

#[test]
fn parked_clients_hear_that_the_broker_stops() {
    let broker = parking_broker();
    let mut clients: Vec<Wire> = (0..4)
        .map(|index| Wire::clean(broker.local_addr(), V5, &format!("parked-stay-{index}")))
        .collect();
    wait_for_parks(&broker, 4);
    broker.request_stop();
    for client in &mut clients {
        client.expect_disconnect(reason::SERVER_SHUTTING_DOWN);
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
    let mut first = Wire::clean(address, V5, &client_id_on(0, "first"));
    let mut second = Wire::clean(address, V5, &client_id_on(0, "second"));
    wait_for_parks(&broker, 1);
    second.subscribe("crowd/#", 1);
    first.publish("crowd/a", "hello", 1, false);
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
    let persistent = |clean_start| Connect {
        clean_start,
        ..Connect::persistent(&subscriber, 600)
    };
    // Each new connection parks right after its CONNACK: wait for it before
    // the client talks, or its first packet could come first.
    let (mut client, _) = Wire::accepted(address, &persistent(true));
    wait_for_parks(&broker, 1);
    client.subscribe("backlog/#", 1);
    client.disconnect();
    // More than the broker's send buffer (4 MiB at most) and the client's
    // small receive buffer hold: the resumed connection is first idle with
    // most of its backlog unwritten. The client reads it without
    // acknowledging, so that the connection stays one that said nothing.
    const MESSAGES: usize = 100;
    let payload = vec![7u8; 64 * 1024];
    let mut publisher = Wire::clean(address, V5, &client_id_on(0, "feeder"));
    wait_for_parks(&broker, 2);
    for _ in 0..MESSAGES {
        publisher.publish("backlog/a", payload.clone(), 1, false);
    }
    let mut client = Wire::open(address);
    socket2::SockRef::from(client.stream())
        .set_recv_buffer_size(64 * 1024)
        .unwrap();
    client.send_connect(&persistent(false));
    assert!(client.recv_connack().session_present);
    for _ in 0..MESSAGES {
        assert_eq!(client.recv_publish().payload.len(), payload.len());
    }
    // Written out and quiet: now it parks, and comes back to talk.
    wait_for_parks(&broker, 3);
    client.ping();
    broker.shutdown();
}
