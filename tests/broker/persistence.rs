//! Persistence across restarts, in process: a broker started on a data
//! directory, stopped, and started again on it (with the same or another shard
//! count). Clients resume their sessions and get each message exactly once.
//! The clients speak raw bytes ([`Wire`]), to leave QoS 2 flows half done
//! and to check with a PINGREQ that nothing more is queued.

use std::net::SocketAddr;
use std::path::Path;

use shardmq_shards::{home_shard, Broker, BrokerHandle, Config, FsyncMode, PersistenceConfig};

use crate::common::client_id_on;
use crate::wire::{ack, reason, Connect, Publish, Wire, PUBCOMP, PUBREC, PUBREL, V5};

/// A broker of `shards` unpinned shards on 127.0.0.1:0, persisting into `dir`.
fn start_persistent(dir: &Path, shards: usize) -> BrokerHandle {
    start_persistent_with(dir, shards, FsyncMode::Always)
}

/// [`start_persistent`] with journal fsync mode `fsync`.
fn start_persistent_with(dir: &Path, shards: usize, fsync: FsyncMode) -> BrokerHandle {
    Broker::start(Config {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        shards,
        pin_shards: false,
        persistence: PersistenceConfig {
            dir: Some(dir.to_path_buf()),
            fsync,
            ..PersistenceConfig::default()
        },
        ..Config::default()
    })
    .expect("the persistent test broker starts")
}

/// Bytes in the journals of the generation in use.
fn journal_bytes(dir: &Path) -> u64 {
    let current = std::fs::read_to_string(dir.join("CURRENT")).unwrap();
    let gen_dir = dir.join(format!("gen-{}", current.trim()));
    std::fs::read_dir(gen_dir)
        .unwrap()
        .map(|entry| entry.unwrap())
        .filter(|entry| entry.file_name().to_string_lossy().ends_with(".journal"))
        .map(|entry| entry.metadata().unwrap().len())
        .sum()
}

/// Connects a 5.0 client with a session that outlives its connection by an hour.
fn persistent(address: SocketAddr, client_id: &str, clean_start: bool) -> (Wire, bool) {
    let connect = Connect {
        clean_start,
        ..Connect::persistent(client_id, 3600)
    };
    let (client, connack) = Wire::accepted(address, &connect);
    (client, connack.session_present)
}

/// Completes the flow of a received QoS 1 or 2 PUBLISH.
fn acknowledge(client: &mut Wire, publish: &Publish) {
    let packet_id = publish.packet_id.expect("QoS 1 and 2 carry a packet id");
    if publish.qos == 1 {
        client.send(&ack(crate::wire::PUBACK, packet_id));
        return;
    }
    client.send(&ack(PUBREC, packet_id));
    client.expect_ack(PUBREL, packet_id);
    client.send(&ack(PUBCOMP, packet_id));
}

#[test]
fn sessions_queued_messages_qos2_flows_and_retained_messages_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let subscriber_id = client_id_on(1, "resuming-subscriber");
    let publisher_id = client_id_on(0, "resuming-publisher");
    let in_flight_packet_id;
    let m3 = Publish {
        packet_id: Some(7),
        ..Publish::new("jobs/3", "m3", 2)
    };
    {
        let broker = start_persistent(dir.path(), 2);
        let address = broker.local_addr();
        let (mut subscriber, _) = persistent(address, &subscriber_id, true);
        subscriber.subscribe("jobs/#", 2);
        let (mut publisher, _) = persistent(address, &publisher_id, true);
        publisher.publish("jobs/0", "m0", 2, false);
        // Outbound QoS 2 left half done: PUBREC sent, PUBREL received, no PUBCOMP.
        let first = subscriber.recv_publish();
        assert_eq!(first.payload, b"m0");
        in_flight_packet_id = first.packet_id.unwrap();
        subscriber.send(&ack(PUBREC, in_flight_packet_id));
        subscriber.expect_ack(PUBREL, in_flight_packet_id);
        subscriber.disconnect();
        publisher.publish("jobs/1", "m1", 1, false);
        publisher.publish("jobs/2", "m2", 2, false);
        publisher.publish("config/a", "r1", 1, true);
        // Inbound QoS 2 left half done: PUBLISH answered with PUBREC, no PUBREL.
        publisher.send_publish(&m3);
        publisher.expect_ack(PUBREC, 7);
        drop(publisher);
        broker.shutdown();
    }
    let broker = start_persistent(dir.path(), 2);
    let address = broker.local_addr();
    let (mut publisher, present) = persistent(address, &publisher_id, false);
    assert!(present, "the publisher's session was not restored");
    // The resent QoS 2 PUBLISH is a duplicate: answered, not routed again.
    publisher.send_publish(&Publish { dup: true, ..m3 });
    publisher.expect_ack(PUBREC, 7);
    publisher.send(&ack(PUBREL, 7));
    assert_eq!(
        publisher.expect_ack(PUBCOMP, 7).reason_code,
        reason::SUCCESS
    );

    let (mut subscriber, present) = persistent(address, &subscriber_id, false);
    assert!(present, "the subscriber's session was not restored");
    // The PUBREL resent.
    subscriber.expect_ack(PUBREL, in_flight_packet_id);
    subscriber.send(&ack(PUBCOMP, in_flight_packet_id));
    let received: Vec<Publish> = (0..3).map(|_| subscriber.recv_publish()).collect();
    let payloads: Vec<&[u8]> = received
        .iter()
        .map(|publish| &publish.payload[..])
        .collect();
    assert_eq!(payloads, vec![&b"m1"[..], b"m2", b"m3"]);
    for publish in &received {
        acknowledge(&mut subscriber, publish);
    }
    // Nothing more is queued: the PINGREQ is answered next.
    subscriber.ping();

    let mut late = Wire::subscriber(address, V5, "late-reader", "config/#", 1);
    let retained = late.recv_publish_acked();
    assert_eq!(
        (&*retained.topic_name, &retained.payload[..]),
        ("config/a", &b"r1"[..])
    );
    broker.shutdown();
}

#[test]
fn every_session_survives_restarts_with_2_then_3_then_1_shards() {
    let dir = tempfile::tempdir().unwrap();
    let client_ids: Vec<String> = (0..24).map(|index| format!("reshard-{index}")).collect();
    {
        let broker = start_persistent(dir.path(), 2);
        for client_id in &client_ids {
            let (mut client, _) = persistent(broker.local_addr(), client_id, true);
            client.subscribe(&format!("reshard/{client_id}"), 1);
            client.disconnect();
        }
        broker.shutdown();
    }
    {
        let broker = start_persistent(dir.path(), 3);
        let homes: std::collections::BTreeSet<usize> =
            client_ids.iter().map(|id| home_shard(id, 3)).collect();
        assert_eq!(homes.len(), 3, "the sessions spread over every shard");
        let mut publisher = Wire::clean(broker.local_addr(), V5, "reshard-pub");
        for client_id in &client_ids {
            publisher.publish(
                &format!("reshard/{client_id}"),
                client_id.as_bytes(),
                1,
                false,
            );
        }
        publisher.disconnect();
        broker.shutdown();
    }
    let broker = start_persistent(dir.path(), 1);
    for client_id in &client_ids {
        let (mut client, present) = persistent(broker.local_addr(), client_id, false);
        assert!(present, "session {client_id} was lost");
        let publish = client.recv_publish_acked();
        assert_eq!(publish.payload, client_id.as_bytes());
        // Nothing more is queued: the PINGREQ is answered next.
        client.ping();
        client.disconnect();
    }
    broker.shutdown();
}

#[test]
fn a_second_broker_on_the_same_data_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_persistent(dir.path(), 1);
    let refused = Broker::start(Config {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        shards: 1,
        pin_shards: false,
        persistence: PersistenceConfig {
            dir: Some(dir.path().to_path_buf()),
            ..PersistenceConfig::default()
        },
        ..Config::default()
    });
    let error = refused
        .err()
        .expect("the second broker is refused")
        .to_string();
    assert!(error.contains("in use"), "{error}");
    broker.shutdown();
}

#[test]
fn clean_sessions_journal_nothing_but_retained_messages_are_journaled() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_persistent(dir.path(), 2);
    let address = broker.local_addr();
    let mut subscriber = Wire::subscriber(address, V5, &client_id_on(1, "clean"), "clean/#", 2);
    let mut publisher = Wire::clean(address, V5, &client_id_on(0, "clean"));
    // Under fsync = "always" each record is on disk before the PUBACK.
    publisher.publish("clean/retained", "r", 1, true);
    let retained_only = journal_bytes(dir.path());
    assert!(retained_only > 0, "the retained message is journaled");
    publisher.publish("clean/1", "c1", 1, false);
    publisher.publish("clean/2", "c2", 2, false);
    let received: Vec<Vec<u8>> = (0..3)
        .map(|_| subscriber.recv_publish_acked().payload)
        .collect();
    assert_eq!(
        received,
        vec![b"r".to_vec(), b"c1".to_vec(), b"c2".to_vec()]
    );
    // Nothing more is queued: the PINGREQ is answered next.
    subscriber.ping();
    assert_eq!(journal_bytes(dir.path()), retained_only);
    broker.shutdown();
}

#[test]
fn queued_messages_survive_a_clean_restart_without_fsync() {
    let dir = tempfile::tempdir().unwrap();
    let subscriber_id = client_id_on(0, "unsynced-subscriber");
    {
        let broker = start_persistent_with(dir.path(), 2, FsyncMode::Never);
        let (mut subscriber, _) = persistent(broker.local_addr(), &subscriber_id, true);
        subscriber.subscribe("unsynced/#", 1);
        subscriber.disconnect();
        let mut publisher = Wire::clean(broker.local_addr(), V5, &client_id_on(1, "unsynced-pub"));
        publisher.publish("unsynced/1", "u1", 1, false);
        publisher.disconnect();
        broker.shutdown();
    }
    let broker = start_persistent_with(dir.path(), 2, FsyncMode::Interval);
    let (mut subscriber, present) = persistent(broker.local_addr(), &subscriber_id, false);
    assert!(present);
    assert_eq!(subscriber.recv_publish_acked().payload, b"u1");
    // Nothing more is queued: the PINGREQ is answered next.
    subscriber.ping();
    broker.shutdown();
}
