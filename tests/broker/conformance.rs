//! Byte-level checks of protocol edges, each against the specification's text:
//! the bytes sent and expected are written out here, not produced by shardmq's
//! own codec, so a fault shared by its encoder and decoder cannot hide.

use std::net::SocketAddr;

use crate::common::start_broker;
use crate::wire::Wire;

/// MQTT 3.1 CONNECT: protocol name "MQIsdp", level 3, flags 0 (Clean Session
/// 0), Keep Alive 60, client id "v31-sp" (3.1, 3.1).
const CONNECT_V3_1_PERSISTENT: [u8; 22] = [
    0x10, 0x14, 0x00, 0x06, b'M', b'Q', b'I', b's', b'd', b'p', 0x03, 0x00, 0x00, 0x3c, 0x00, 0x06,
    b'v', b'3', b'1', b'-', b's', b'p',
];

/// The same at level 3 with Clean Session 1 (flags 0x02), client id "v31-dup".
const CONNECT_V3_1_CLEAN: [u8; 23] = [
    0x10, 0x15, 0x00, 0x06, b'M', b'Q', b'I', b's', b'd', b'p', 0x03, 0x02, 0x00, 0x3c, 0x00, 0x07,
    b'v', b'3', b'1', b'-', b'd', b'u', b'p',
];

/// MQTT 3.1.1 CONNECT: "MQTT", level 4, Clean Session 1, Keep Alive 60, id "v311-d".
const CONNECT_V3_1_1_CLEAN: [u8; 20] = [
    0x10, 0x12, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02, 0x00, 0x3c, 0x00, 0x06, b'v', b'3',
    b'1', b'1', b'-', b'd',
];

/// CONNACK accepted with the first byte 0: in 3.1 it is reserved.
const CONNACK_ACCEPTED: [u8; 4] = [0x20, 0x02, 0x00, 0x00];

/// PUBLISH QoS 2 (flags 0b0100), topic "t", packet id 1, payload "x".
const PUBLISH_QOS2_ID1: [u8; 8] = [0x34, 0x06, 0x00, 0x01, b't', 0x00, 0x01, b'x'];

#[test]
fn a_v3_1_connack_keeps_its_reserved_first_byte_zero_when_a_session_is_resumed() {
    let broker = start_broker();
    let address = broker.local_addr();
    let mut first = Wire::open(address);
    first.send(&CONNECT_V3_1_PERSISTENT);
    first.expect(&CONNACK_ACCEPTED);
    // DISCONNECT: the session stays (Clean Session 0).
    first.send(&[0xe0, 0x00]);
    first.expect_closed();
    let mut second = Wire::open(address);
    second.send(&CONNECT_V3_1_PERSISTENT);
    // 3.1.1 would say 0x01 here (Session Present); 3.1 has no such flag.
    second.expect(&CONNACK_ACCEPTED);
    broker.shutdown();
}

#[test]
fn a_v3_1_client_may_resend_pubrel_subscribe_and_unsubscribe_with_dup_set() {
    let broker = start_broker();
    let mut client = Wire::open(broker.local_addr());
    client.send(&CONNECT_V3_1_CLEAN);
    client.expect(&CONNACK_ACCEPTED);
    client.send(&PUBLISH_QOS2_ID1);
    client.expect(&[0x50, 0x02, 0x00, 0x01]); // PUBREC 1
                                              // PUBREL 1 with DUP (0x62 | 0x08): PUBCOMP 1.
    client.send(&[0x6a, 0x02, 0x00, 0x01]);
    client.expect(&[0x70, 0x02, 0x00, 0x01]);
    // SUBSCRIBE id 2 to "a" at QoS 1, with DUP: SUBACK 2 granting QoS 1.
    client.send(&[0x8a, 0x06, 0x00, 0x02, 0x00, 0x01, b'a', 0x01]);
    client.expect(&[0x90, 0x03, 0x00, 0x02, 0x01]);
    // UNSUBSCRIBE id 3 from "a", with DUP: UNSUBACK 3.
    client.send(&[0xaa, 0x05, 0x00, 0x03, 0x00, 0x01, b'a']);
    client.expect(&[0xb0, 0x02, 0x00, 0x03]);
    broker.shutdown();
}

#[test]
fn a_v3_1_1_pubrel_with_dup_set_is_malformed_and_closes_the_connection() {
    let broker = start_broker();
    let mut client = Wire::open(broker.local_addr());
    client.send(&CONNECT_V3_1_1_CLEAN);
    client.expect(&CONNACK_ACCEPTED);
    client.send(&PUBLISH_QOS2_ID1);
    client.expect(&[0x50, 0x02, 0x00, 0x01]);
    // [MQTT-2.1.3-1]: PUBREL's flags are 0b0010 in 3.1.1.
    client.send(&[0x6a, 0x02, 0x00, 0x01]);
    client.expect_closed();
    assert_eq!(broker.stats().malformed_packets, 1);
    broker.shutdown();
}

impl Wire {
    /// Reads a 5.0 CONNACK and checks it accepts: `20`, flags, reason 0x00.
    fn expect_v5_connack_accepted(&mut self) {
        let (first, body) = self.packet();
        assert_eq!(first, 0x20);
        assert_eq!(body[1], 0x00, "reason code");
    }
}

/// 3.1.1 CONNECT, Clean Session 1, id "s8"; then SUBSCRIBE id 1 to `topic`
/// (3 bytes) at QoS 0, and its SUBACK.
fn subscriber(address: SocketAddr, topic: &[u8; 3]) -> Wire {
    let mut client = Wire::open(address);
    client.send(&[
        0x10, 0x0e, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02, 0x00, 0x3c, 0x00, 0x02, b's',
        b'8',
    ]);
    client.expect(&CONNACK_ACCEPTED);
    let mut subscribe = vec![0x82, 0x08, 0x00, 0x01, 0x00, 0x03];
    subscribe.extend_from_slice(topic);
    subscribe.push(0x00);
    client.send(&subscribe);
    client.expect(&[0x90, 0x03, 0x00, 0x01, 0x00]);
    client
}

#[test]
fn a_clean_start_reconnect_within_the_will_delay_publishes_no_will() {
    let broker = start_broker();
    let address = broker.local_addr();
    let mut watcher = subscriber(address, b"w/1");
    // 5.0 CONNECT, Clean Start, Will (QoS 0), Keep Alive 60, Session Expiry
    // Interval 60; id "w1"; Will Delay Interval 1 s, will topic "w/1",
    // payload "gone".
    let mut first = Wire::open(address);
    first.send(&[
        0x10, 0x25, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, 0x06, 0x00, 0x3c, 0x05, 0x11, 0x00,
        0x00, 0x00, 0x3c, 0x00, 0x02, b'w', b'1', 0x05, 0x18, 0x00, 0x00, 0x00, 0x01, 0x00, 0x03,
        b'w', b'/', b'1', 0x00, 0x04, b'g', b'o', b'n', b'e',
    ]);
    first.expect_v5_connack_accepted();
    // Gone without DISCONNECT: the will waits for its delay.
    drop(first);
    // Back within the delay, Clean Start, no will, no properties.
    let mut second = Wire::open(address);
    second.send(&[
        0x10, 0x0f, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, 0x02, 0x00, 0x3c, 0x00, 0x00, 0x02,
        b'w', b'1',
    ]);
    second.expect_v5_connack_accepted();
    // Past the delay (an interval of time, not an event to wait for), then
    // a message on the will topic: it is the next thing the watcher gets.
    std::thread::sleep(std::time::Duration::from_millis(1_500));
    second.send(&[
        0x30, 0x0a, 0x00, 0x03, b'w', b'/', b'1', 0x00, b'h', b'e', b'r', b'e',
    ]);
    watcher.expect(&[
        0x30, 0x09, 0x00, 0x03, b'w', b'/', b'1', b'h', b'e', b'r', b'e',
    ]);
    broker.shutdown();
}

#[test]
fn taking_over_a_persistent_v5_session_publishes_the_old_connections_will_without_delay() {
    let broker = start_broker();
    let address = broker.local_addr();
    let mut watcher = subscriber(address, b"w/2");
    // 5.0 CONNECT, Clean Start 0, Will (QoS 0, no properties), Keep Alive
    // 60, Session Expiry Interval 60; id "w2", will topic "w/2", payload "gone".
    let mut old = Wire::open(address);
    old.send(&[
        0x10, 0x20, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, 0x04, 0x00, 0x3c, 0x05, 0x11, 0x00,
        0x00, 0x00, 0x3c, 0x00, 0x02, b'w', b'2', 0x00, 0x00, 0x03, b'w', b'/', b'2', 0x00, 0x04,
        b'g', b'o', b'n', b'e',
    ]);
    old.expect_v5_connack_accepted();
    // The same id again, resuming the session: a takeover.
    let mut new = Wire::open(address);
    new.send(&[
        0x10, 0x14, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, 0x00, 0x00, 0x3c, 0x05, 0x11, 0x00,
        0x00, 0x00, 0x3c, 0x00, 0x02, b'w', b'2',
    ]);
    new.expect_v5_connack_accepted();
    // [MQTT-3.1.4-3]: DISCONNECT 0x8E to the old connection, and its will
    // is published as 3.1.2.5 describes: with no delay, now.
    let (first, body) = old.packet();
    assert_eq!((first, body[0]), (0xe0, 0x8e));
    watcher.expect(&[
        0x30, 0x09, 0x00, 0x03, b'w', b'/', b'2', b'g', b'o', b'n', b'e',
    ]);
    broker.shutdown();
}

#[test]
fn a_v5_publish_that_matches_no_subscription_is_acknowledged_with_0x10() {
    let broker = start_broker();
    let address = broker.local_addr();
    // 5.0 CONNECT, Clean Start, Keep Alive 60, no properties, id "nm".
    let mut publisher = Wire::open(address);
    publisher.send(&[
        0x10, 0x0f, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, 0x02, 0x00, 0x3c, 0x00, 0x00, 0x02,
        b'n', b'm',
    ]);
    publisher.expect_v5_connack_accepted();
    // PUBLISH QoS 1, topic "q/0", packet id 1, no properties, payload "x":
    // nobody subscribes, so PUBACK 1 with 0x10 (No matching subscribers) and
    // no properties (3.4.2.2: the Property Length may be left out).
    publisher.send(&[
        0x32, 0x09, 0x00, 0x03, b'q', b'/', b'0', 0x00, 0x01, 0x00, b'x',
    ]);
    publisher.expect(&[0x40, 0x03, 0x00, 0x01, 0x10]);
    // Once someone subscribes (its SUBACK comes after every shard has the
    // subscription), the same publish is a plain success.
    let mut watcher = subscriber(address, b"q/0");
    publisher.send(&[
        0x32, 0x09, 0x00, 0x03, b'q', b'/', b'0', 0x00, 0x02, 0x00, b'x',
    ]);
    let (first, body) = publisher.packet();
    assert_eq!(first, 0x40);
    assert_eq!(&body[..2], &[0x00, 0x02]);
    assert_eq!(body.get(2).copied().unwrap_or(0x00), 0x00, "Success");
    watcher.expect(&[0x30, 0x06, 0x00, 0x03, b'q', b'/', b'0', b'x']);
    broker.shutdown();
}
