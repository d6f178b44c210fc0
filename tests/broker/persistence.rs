//! Persistence across restarts, in process: a broker started on a data
//! directory, stopped, and started again on it (with the same or another shard
//! count). Clients resume their sessions and get each message exactly once.

use std::net::SocketAddr;
use std::path::Path;

use shardmq::protocol::{
    ConnectProperties, Packet, ProtocolVersion, Publish, PublishResponse, QoS, ReasonCode,
};
use shardmq_shards::{home_shard, Broker, BrokerHandle, Config, FsyncMode, PersistenceConfig};

use crate::common::{client_id_on, connect_packet, publish_packet, RawClient};

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
fn persistent(address: SocketAddr, client_id: &str, clean_start: bool) -> (RawClient, bool) {
    let mut connect = connect_packet(ProtocolVersion::V5, client_id, clean_start, 0);
    connect.properties = ConnectProperties {
        session_expiry_interval_s: Some(3600),
        ..ConnectProperties::default()
    };
    let (client, connack) = RawClient::connected(address, connect);
    (client, connack.session_present)
}

/// Asserts nothing more is queued for `client`: its PINGREQ is answered next.
fn expect_nothing_queued(client: &mut RawClient) {
    client.send(&Packet::PingReq);
    assert_eq!(client.recv(), Packet::PingResp);
}

/// Completes the flow of a received QoS 1 or 2 PUBLISH.
fn acknowledge(client: &mut RawClient, publish: &Publish) {
    let packet_id = publish.packet_id.expect("QoS 1 and 2 carry a packet id");
    if publish.qos == QoS::AtLeastOnce {
        client.send(&Packet::PubAck(PublishResponse::success(packet_id)));
        return;
    }
    client.send(&Packet::PubRec(PublishResponse::success(packet_id)));
    match client.recv() {
        Packet::PubRel(response) => assert_eq!(response.packet_id, packet_id),
        other => panic!("expected PUBREL, got {other:?}"),
    }
    client.send(&Packet::PubComp(PublishResponse::success(packet_id)));
}

fn payload_of(publish: &Publish) -> &[u8] {
    &publish.payload[..]
}

#[test]
fn sessions_queued_messages_qos2_flows_and_retained_messages_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let subscriber_id = client_id_on(1, "resuming-subscriber");
    let publisher_id = client_id_on(0, "resuming-publisher");
    let in_flight_packet_id;
    {
        let broker = start_persistent(dir.path(), 2);
        let address = broker.local_addr();
        let (mut subscriber, _) = persistent(address, &subscriber_id, true);
        subscriber.subscribe("jobs/#", QoS::ExactlyOnce);
        let (mut publisher, _) = persistent(address, &publisher_id, true);
        publisher.publish("jobs/0", &b"m0"[..], QoS::ExactlyOnce, false);
        // Outbound QoS 2 left half done: PUBREC sent, PUBREL received, no PUBCOMP.
        let first = subscriber.recv_publish();
        assert_eq!(payload_of(&first), b"m0");
        in_flight_packet_id = first.packet_id.unwrap();
        subscriber.send(&Packet::PubRec(PublishResponse::success(
            in_flight_packet_id,
        )));
        assert!(matches!(subscriber.recv(), Packet::PubRel(_)));
        subscriber.disconnect();
        publisher.publish("jobs/1", &b"m1"[..], QoS::AtLeastOnce, false);
        publisher.publish("jobs/2", &b"m2"[..], QoS::ExactlyOnce, false);
        publisher.publish("config/a", &b"r1"[..], QoS::AtLeastOnce, true);
        // Inbound QoS 2 left half done: PUBLISH answered with PUBREC, no PUBREL.
        publisher.send(&publish_packet(
            "jobs/3",
            &b"m3"[..],
            QoS::ExactlyOnce,
            false,
            Some(7),
        ));
        assert!(matches!(publisher.recv(), Packet::PubRec(r) if r.packet_id == 7));
        drop(publisher);
        broker.shutdown();
    }
    let broker = start_persistent(dir.path(), 2);
    let address = broker.local_addr();
    let (mut publisher, present) = persistent(address, &publisher_id, false);
    assert!(present, "the publisher's session was not restored");
    // The resent QoS 2 PUBLISH is a duplicate: answered, not routed again.
    let mut resent = publish_packet("jobs/3", &b"m3"[..], QoS::ExactlyOnce, false, Some(7));
    if let Packet::Publish(publish) = &mut resent {
        publish.dup = true;
    }
    publisher.send(&resent);
    assert!(matches!(publisher.recv(), Packet::PubRec(r) if r.packet_id == 7));
    publisher.send(&Packet::PubRel(PublishResponse::success(7)));
    match publisher.recv() {
        Packet::PubComp(response) => {
            assert_eq!(response.packet_id, 7);
            assert_eq!(response.reason_code, ReasonCode::Success);
        }
        other => panic!("expected PUBCOMP, got {other:?}"),
    }

    let (mut subscriber, present) = persistent(address, &subscriber_id, false);
    assert!(present, "the subscriber's session was not restored");
    match subscriber.recv() {
        Packet::PubRel(response) => assert_eq!(response.packet_id, in_flight_packet_id),
        other => panic!("expected the PUBREL resent, got {other:?}"),
    }
    subscriber.send(&Packet::PubComp(PublishResponse::success(
        in_flight_packet_id,
    )));
    let received: Vec<Publish> = (0..3).map(|_| subscriber.recv_publish()).collect();
    let payloads: Vec<&[u8]> = received.iter().map(payload_of).collect();
    assert_eq!(payloads, vec![&b"m1"[..], b"m2", b"m3"]);
    for publish in &received {
        acknowledge(&mut subscriber, publish);
    }
    expect_nothing_queued(&mut subscriber);

    let mut late = RawClient::clean(address, ProtocolVersion::V5, "late-reader");
    late.subscribe("config/#", QoS::AtLeastOnce);
    let retained = late.recv_publish_acked();
    assert_eq!(
        (&*retained.topic_name, payload_of(&retained)),
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
            client.subscribe(&format!("reshard/{client_id}"), QoS::AtLeastOnce);
            client.disconnect();
        }
        broker.shutdown();
    }
    {
        let broker = start_persistent(dir.path(), 3);
        let homes: std::collections::BTreeSet<usize> =
            client_ids.iter().map(|id| home_shard(id, 3)).collect();
        assert_eq!(homes.len(), 3, "the sessions spread over every shard");
        let mut publisher =
            RawClient::clean(broker.local_addr(), ProtocolVersion::V5, "reshard-pub");
        for client_id in &client_ids {
            publisher.publish(
                &format!("reshard/{client_id}"),
                client_id.clone().into_bytes(),
                QoS::AtLeastOnce,
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
        assert_eq!(payload_of(&publish), client_id.as_bytes());
        expect_nothing_queued(&mut client);
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
    let mut subscriber = RawClient::clean(address, ProtocolVersion::V5, &client_id_on(1, "clean"));
    subscriber.subscribe("clean/#", QoS::ExactlyOnce);
    let mut publisher = RawClient::clean(address, ProtocolVersion::V5, &client_id_on(0, "clean"));
    // Under fsync = "always" each record is on disk before the PUBACK.
    publisher.publish("clean/retained", &b"r"[..], QoS::AtLeastOnce, true);
    let retained_only = journal_bytes(dir.path());
    assert!(retained_only > 0, "the retained message is journaled");
    publisher.publish("clean/1", &b"c1"[..], QoS::AtLeastOnce, false);
    publisher.publish("clean/2", &b"c2"[..], QoS::ExactlyOnce, false);
    let received: Vec<Vec<u8>> = (0..3)
        .map(|_| payload_of(&subscriber.recv_publish_acked()).to_vec())
        .collect();
    assert_eq!(
        received,
        vec![b"r".to_vec(), b"c1".to_vec(), b"c2".to_vec()]
    );
    expect_nothing_queued(&mut subscriber);
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
        subscriber.subscribe("unsynced/#", QoS::AtLeastOnce);
        subscriber.disconnect();
        let mut publisher = RawClient::clean(
            broker.local_addr(),
            ProtocolVersion::V5,
            &client_id_on(1, "unsynced-pub"),
        );
        publisher.publish("unsynced/1", &b"u1"[..], QoS::AtLeastOnce, false);
        publisher.disconnect();
        broker.shutdown();
    }
    let broker = start_persistent_with(dir.path(), 2, FsyncMode::Interval);
    let (mut subscriber, present) = persistent(broker.local_addr(), &subscriber_id, false);
    assert!(present);
    assert_eq!(payload_of(&subscriber.recv_publish_acked()), b"u1");
    expect_nothing_queued(&mut subscriber);
    broker.shutdown();
}
