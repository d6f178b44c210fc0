//! Session lifecycle end to end: takeover, wills, will delay and keep-alive.

use shardmq::protocol::{
    ConnectProperties, Packet, ProtocolVersion, QoS, ReasonCode, WillProperties,
};

use std::time::Duration;

use crate::common::{client_id_on, connect_packet, start_broker, will, RawClient};

#[test]
fn takeover_across_shards_disconnects_the_old_connection_with_session_taken_over() {
    let broker = start_broker();
    let address = broker.local_addr();
    let client_id = client_id_on(1, "twin");
    let mut first = RawClient::clean(address, ProtocolVersion::V5, &client_id);
    // The kernel picks the accept shard; keep taking over until a new
    // connection arrived on the other shard and was handed to the home shard
    // (each attempt misses with probability 1/2).
    let mut crossed_shards = false;
    for _ in 0..20 {
        let handoffs_before = broker.handoffs();
        let second = RawClient::clean(address, ProtocolVersion::V5, &client_id);
        crossed_shards |= broker.handoffs() > handoffs_before;
        let packets = first.expect_closed();
        assert_eq!(
            packets,
            vec![Packet::Disconnect(shardmq::protocol::Disconnect {
                reason_code: ReasonCode::SessionTakenOver,
                properties: Default::default(),
            })]
        );
        first = second;
        if crossed_shards {
            break;
        }
    }
    assert!(crossed_shards, "no takeover came from the other shard");
    first.send(&Packet::PingReq);
    assert_eq!(first.recv(), Packet::PingResp);
    broker.shutdown();
}

#[test]
fn will_is_published_when_the_connection_drops() {
    let broker = start_broker();
    let address = broker.local_addr();
    let mut watcher = RawClient::clean(
        address,
        ProtocolVersion::V3_1_1,
        &client_id_on(0, "watcher"),
    );
    watcher.subscribe("status/+", QoS::AtLeastOnce);
    let mut connect = connect_packet(ProtocolVersion::V3_1_1, &client_id_on(1, "dying"), true, 0);
    connect.will = Some(will("status/dying", b"gone"));
    let (dying, _) = RawClient::connected(address, connect);
    drop(dying);
    let publish = watcher.recv_publish_acked();
    assert_eq!(publish.topic_name, "status/dying");
    assert_eq!(&publish.payload[..], b"gone");
    broker.shutdown();
}

#[test]
fn will_is_not_published_after_a_normal_disconnect() {
    let broker = start_broker();
    let address = broker.local_addr();
    let mut watcher = RawClient::clean(
        address,
        ProtocolVersion::V3_1_1,
        &client_id_on(1, "watcher2"),
    );
    watcher.subscribe("status/+", QoS::AtLeastOnce);
    let mut connect = connect_packet(ProtocolVersion::V3_1_1, &client_id_on(0, "polite"), true, 0);
    connect.will = Some(will("status/polite", b"gone"));
    let (polite, _) = RawClient::connected(address, connect);
    polite.disconnect();
    let mut publisher =
        RawClient::clean(address, ProtocolVersion::V3_1_1, &client_id_on(0, "after"));
    publisher.publish("status/marker", "m", QoS::AtLeastOnce, false);
    assert_eq!(watcher.recv_publish_acked().topic_name, "status/marker");
    broker.shutdown();
}

#[test]
fn delayed_will_is_published_once_the_delay_passes() {
    let broker = start_broker();
    let address = broker.local_addr();
    let mut watcher = RawClient::clean(address, ProtocolVersion::V5, &client_id_on(0, "watcher3"));
    watcher.subscribe("status/+", QoS::AtLeastOnce);
    let mut connect = connect_packet(ProtocolVersion::V5, &client_id_on(1, "delayed"), true, 0);
    connect.properties = ConnectProperties {
        session_expiry_interval_s: Some(60),
        ..ConnectProperties::default()
    };
    let mut delayed_will = will("status/delayed", b"late");
    delayed_will.properties = WillProperties {
        will_delay_interval_s: Some(1),
        ..WillProperties::default()
    };
    connect.will = Some(delayed_will);
    let (delayed, _) = RawClient::connected(address, connect);
    drop(delayed);
    let publish = watcher.recv_publish_acked();
    assert_eq!(publish.topic_name, "status/delayed");
    assert_eq!(&publish.payload[..], b"late");
    broker.shutdown();
}

#[test]
fn silent_client_is_closed_after_keep_alive_and_its_will_published() {
    let broker = start_broker();
    let address = broker.local_addr();
    let mut watcher = RawClient::clean(
        address,
        ProtocolVersion::V3_1_1,
        &client_id_on(1, "watcher4"),
    );
    watcher.subscribe("status/+", QoS::AtLeastOnce);
    let mut connect = connect_packet(ProtocolVersion::V5, &client_id_on(0, "silent"), true, 1);
    connect.will = Some(will("status/silent", b"timed out"));
    let (mut silent, _) = RawClient::connected(address, connect);
    let packets = silent.expect_closed();
    assert_eq!(
        packets,
        vec![Packet::Disconnect(shardmq::protocol::Disconnect {
            reason_code: ReasonCode::KeepAliveTimeout,
            properties: Default::default(),
        })]
    );
    let publish = watcher.recv_publish_acked();
    assert_eq!(publish.topic_name, "status/silent");
    broker.shutdown();
}

#[test]
fn a_client_that_keeps_pinging_outlives_its_keep_alive() {
    let broker = start_broker();
    let address = broker.local_addr();
    // Keep Alive 1 s: the broker closes after 1.5 s without a packet.
    let connect = connect_packet(ProtocolVersion::V5, &client_id_on(0, "pinger"), true, 1);
    let (mut pinger, _) = RawClient::connected(address, connect);
    // Three times the timeout, a packet every half second: each one moves
    // the deadline, so the connection must stay.
    for _ in 0..9 {
        std::thread::sleep(Duration::from_millis(500));
        pinger.send(&Packet::PingReq);
        assert_eq!(pinger.recv(), Packet::PingResp);
    }
    broker.shutdown();
}
