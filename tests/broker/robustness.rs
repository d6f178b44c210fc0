//! A misbehaving client harms only itself: malformed and oversized packets,
//! silence before CONNECT, and a subscriber that never reads. Every client
//! here speaks raw bytes ([`Wire`]): a normal client cannot misbehave.

use std::io::Read;

use shardmq_shards::Config;

use crate::common::{client_id_on, start_broker, start_broker_with};
use crate::wire::{read_packet, reason, Connect, Publish, Received, Wire, PINGREQ, V3_1_1, V5};

#[test]
fn malformed_packet_closes_only_the_client_that_sent_it() {
    let broker = start_broker();
    let address = broker.local_addr();
    let mut bystander = Wire::subscriber(address, V3_1_1, &client_id_on(0, "bystander"), "news", 1);
    let mut vandal = Wire::clean(address, V5, &client_id_on(0, "vandal"));
    // Packet type 0 is reserved.
    vandal.send(&[0x00, 0x00]);
    let packets = vandal.received_until_closed();
    assert!(
        matches!(packets.as_slice(), [Received::Disconnect { reason_code, .. }] if *reason_code == reason::MALFORMED_PACKET || *reason_code == reason::PROTOCOL_ERROR),
        "{packets:?}"
    );
    let mut publisher = Wire::clean(address, V3_1_1, &client_id_on(1, "reporter"));
    publisher.publish("news", "still here", 1, false);
    assert_eq!(bystander.recv_publish_acked().payload, b"still here");
    assert_eq!(broker.stats().malformed_packets, 1);
    broker.shutdown();
}

#[test]
fn oversized_packet_is_refused_from_its_fixed_header() {
    let broker = start_broker_with(Config {
        maximum_packet_size: 1024,
        ..Config::default()
    });
    let mut client = Wire::clean(broker.local_addr(), V5, "greedy");
    // A PUBLISH announcing 1 MiB; the body is never sent, so only the fixed
    // header can have been judged.
    client.send(&[0x30, 0x80, 0x80, 0x40]);
    client.expect_disconnect(reason::PACKET_TOO_LARGE);
    broker.shutdown();
}

#[test]
fn unknown_protocol_level_is_refused_with_connack_0x01() {
    let broker = start_broker();
    // CONNECT, protocol name "MQTT", level 9, clean session, keep alive 0, id "x".
    let (mut client, connack) = Wire::connect(broker.local_addr(), &Connect::new(9, "x"));
    assert_eq!(
        connack.reason_code,
        reason::RETURN_UNACCEPTABLE_PROTOCOL_VERSION
    );
    client.expect_closed();
    broker.shutdown();
}

#[test]
fn first_packet_other_than_connect_closes_the_connection() {
    let broker = start_broker();
    let mut client = Wire::open(broker.local_addr());
    client.send(&PINGREQ);
    client.expect_closed();
    broker.shutdown();
}

#[test]
fn connection_without_connect_is_closed_after_the_connect_timeout() {
    let broker = start_broker_with(Config {
        connect_timeout_ms: 200,
        ..Config::default()
    });
    let mut client = Wire::open(broker.local_addr());
    client.expect_closed();
    broker.shutdown();
}

#[test]
fn subscriber_that_never_reads_does_not_stall_the_others() {
    const MESSAGES: usize = 3_000;
    let payload = vec![b'x'; 4096];
    let broker = start_broker();
    let address = broker.local_addr();
    let stalled = Wire::subscriber(address, V3_1_1, &client_id_on(0, "stalled"), "firehose", 0);
    socket2::SockRef::from(stalled.stream())
        .set_recv_buffer_size(4096)
        .unwrap();
    let mut reader = Wire::subscriber(address, V3_1_1, &client_id_on(0, "reader"), "firehose", 1);
    let mut publisher = Wire::clean(address, V3_1_1, &client_id_on(1, "hose"));
    let publishing = std::thread::spawn(move || {
        for _ in 0..MESSAGES {
            publisher.publish("firehose", payload.clone(), 1, false);
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

#[test]
fn a_client_that_keeps_writing_still_reads_the_disconnect_that_closes_it() {
    // Receive Maximum 2: the third QoS 2 PUBLISH awaiting PUBREL breaks it
    // (0x93). Everything is sent at once, with 512 KB behind it that the
    // broker never handles.
    let broker = start_broker_with(Config {
        receive_maximum: 2,
        ..Config::default()
    });
    let mut client = Wire::clean(broker.local_addr(), V5, "eager");
    let mut burst = Vec::new();
    for packet_id in 1..=3 {
        let mut publish = Publish::new("flood", vec![0; 16], 2);
        publish.packet_id = Some(packet_id);
        burst.extend(publish.encode(V5));
    }
    let trailer = Publish::new("flood", vec![0; 1_000], 0).encode(V5);
    for _ in 0..512 {
        burst.extend_from_slice(&trailer);
    }
    client.send(&burst);
    let mut wire = Vec::new();
    let mut buffer = [0; 4096];
    loop {
        match client.stream().read(&mut buffer) {
            Ok(0) => break,
            Ok(count) => wire.extend_from_slice(&buffer[..count]),
            Err(error) => panic!("the connection was reset ({error}) after {wire:02x?}"),
        }
    }
    // The broker half-closed and drains: the client may still write (a
    // reset would fail this with a broken pipe) and closes when it likes.
    client.send(&trailer);
    let mut unread = &wire[..];
    let mut packets = Vec::new();
    while !unread.is_empty() {
        let (first_byte, rest) = read_packet(&mut unread).expect("whole packets");
        packets.push(Received::parse(V5, first_byte, &rest));
    }
    assert!(
        matches!(
            packets.as_slice(),
            [
                Received::PubRec(_),
                Received::PubRec(_),
                Received::Disconnect { reason_code, .. }
            ] if *reason_code == reason::RECEIVE_MAXIMUM_EXCEEDED
        ),
        "{packets:?}"
    );
    broker.shutdown();
}
