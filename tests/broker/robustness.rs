//! A misbehaving client harms only itself: malformed and oversized packets,
//! silence before CONNECT, and a subscriber that never reads.

use shardmq::protocol::{Packet, ProtocolVersion, QoS, ReasonCode};
use shardmq_shards::Config;

use crate::common::{client_id_on, connect_packet, start_broker, start_broker_with, RawClient};

#[test]
fn malformed_packet_closes_only_the_client_that_sent_it() {
    let broker = start_broker();
    let address = broker.local_addr();
    let mut bystander = RawClient::clean(
        address,
        ProtocolVersion::V3_1_1,
        &client_id_on(0, "bystander"),
    );
    bystander.subscribe("news", QoS::AtLeastOnce);
    let mut vandal = RawClient::clean(address, ProtocolVersion::V5, &client_id_on(0, "vandal"));
    // Packet type 0 is reserved.
    vandal.send_bytes(&[0x00, 0x00]);
    let packets = vandal.expect_closed();
    assert!(
        matches!(packets.as_slice(), [Packet::Disconnect(disconnect)] if disconnect.reason_code == ReasonCode::MalformedPacket || disconnect.reason_code == ReasonCode::ProtocolError),
        "{packets:?}"
    );
    let mut publisher = RawClient::clean(
        address,
        ProtocolVersion::V3_1_1,
        &client_id_on(1, "reporter"),
    );
    publisher.publish("news", "still here", QoS::AtLeastOnce, false);
    assert_eq!(&bystander.recv_publish_acked().payload[..], b"still here");
    assert_eq!(broker.stats().malformed_packets, 1);
    broker.shutdown();
}

#[test]
fn oversized_packet_is_refused_from_its_fixed_header() {
    let broker = start_broker_with(Config {
        maximum_packet_size: 1024,
        ..Config::default()
    });
    let (mut client, _) = RawClient::connected(
        broker.local_addr(),
        connect_packet(ProtocolVersion::V5, "greedy", true, 0),
    );
    // A PUBLISH announcing 1 MiB; the body is never sent, so only the fixed
    // header can have been judged.
    client.send_bytes(&[0x30, 0x80, 0x80, 0x40]);
    let packets = client.expect_closed();
    assert!(
        matches!(packets.as_slice(), [Packet::Disconnect(disconnect)] if disconnect.reason_code == ReasonCode::PacketTooLarge),
        "{packets:?}"
    );
    broker.shutdown();
}

#[test]
fn unknown_protocol_level_is_refused_with_connack_0x01() {
    let broker = start_broker();
    let mut client = RawClient::open(broker.local_addr(), ProtocolVersion::V3_1_1);
    // CONNECT, protocol name "MQTT", level 9, clean session, keep alive 0, id "x".
    client.send_bytes(&[
        0x10, 13, 0, 4, b'M', b'Q', b'T', b'T', 9, 0x02, 0, 0, 0, 1, b'x',
    ]);
    let packets = client.expect_closed();
    assert!(
        matches!(packets.as_slice(), [Packet::ConnAck(connack)] if connack.reason_code == ReasonCode::UnsupportedProtocolVersion),
        "{packets:?}"
    );
    broker.shutdown();
}

#[test]
fn first_packet_other_than_connect_closes_the_connection() {
    let broker = start_broker();
    let mut client = RawClient::open(broker.local_addr(), ProtocolVersion::V3_1_1);
    client.send(&Packet::PingReq);
    assert!(client.expect_closed().is_empty());
    broker.shutdown();
}

#[test]
fn connection_without_connect_is_closed_after_the_connect_timeout() {
    let broker = start_broker_with(Config {
        connect_timeout_ms: 200,
        ..Config::default()
    });
    let mut client = RawClient::open(broker.local_addr(), ProtocolVersion::V3_1_1);
    assert!(client.expect_closed().is_empty());
    broker.shutdown();
}

#[test]
fn subscriber_that_never_reads_does_not_stall_the_others() {
    const MESSAGES: usize = 3_000;
    let payload = vec![b'x'; 4096];
    let broker = start_broker();
    let address = broker.local_addr();
    let mut stalled = RawClient::clean(
        address,
        ProtocolVersion::V3_1_1,
        &client_id_on(0, "stalled"),
    );
    stalled.subscribe("firehose", QoS::AtMostOnce);
    socket2::SockRef::from(stalled.stream())
        .set_recv_buffer_size(4096)
        .unwrap();
    let mut reader = RawClient::clean(address, ProtocolVersion::V3_1_1, &client_id_on(0, "reader"));
    reader.subscribe("firehose", QoS::AtLeastOnce);
    let mut publisher =
        RawClient::clean(address, ProtocolVersion::V3_1_1, &client_id_on(1, "hose"));
    let publishing = std::thread::spawn(move || {
        for _ in 0..MESSAGES {
            publisher.publish("firehose", payload.clone(), QoS::AtLeastOnce, false);
        }
        publisher
    });
    for _ in 0..MESSAGES {
        let publish = reader.recv_publish_acked();
        assert_eq!(publish.payload.len(), 4096);
    }
    let _publisher = publishing.join().unwrap();
    assert!(
        broker.stats().qos0_dropped > 0,
        "the stalled subscriber's bounded queue overflowed and was dropped from"
    );
    drop(stalled);
    broker.shutdown();
}
