//! A misbehaving client harms only itself: malformed and oversized packets,
//! silence before CONNECT, and a subscriber that never reads. Every client
//! here speaks raw bytes ([`Wire`]): a normal client cannot misbehave.

use shardmq_shards::Config;

use crate::common::{client_id_on, start_broker, start_broker_with};
use crate::wire::{reason, Connect, Received, Wire, PINGREQ, V3_1_1, V5};

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
