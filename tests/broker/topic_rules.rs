//! The broker's own rules on topics, byte by byte: the level bound
//! (`max_topic_levels`, 201 by default, what Mosquitto accepts) and `$SYS`,
//! which clients may read but not publish to. Every packet sent and expected
//! is built here from the specification's encoding rules (section 1.5 and
//! each packet's section), not by shardmq's codec.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};

use crate::common::{client_id_on, start_broker, TEST_TIMEOUT};

/// MQTT 3.1.1, protocol level 4.
const V3_1_1: u8 = 4;
/// MQTT 5.0, protocol level 5.
const V5: u8 = 5;

/// A Variable Byte Integer (1.5.5): seven bits a byte, low first, the top bit
/// set on every byte but the last.
fn variable_byte_integer(mut value: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    loop {
        let byte = (value % 128) as u8;
        value /= 128;
        if value == 0 {
            bytes.push(byte);
            return bytes;
        }
        bytes.push(byte | 0x80);
    }
}

/// A UTF-8 Encoded String (1.5.4): its length in two bytes, big-endian, then
/// its bytes.
fn string(text: &str) -> Vec<u8> {
    let length = u16::try_from(text.len()).expect("a string the wire can carry");
    let mut bytes = length.to_be_bytes().to_vec();
    bytes.extend_from_slice(text.as_bytes());
    bytes
}

/// A whole packet: its first byte (type and flags), the Remaining Length, the
/// rest (2.1.1).
fn packet(first_byte: u8, rest: &[u8]) -> Vec<u8> {
    let mut bytes = vec![first_byte];
    bytes.extend(variable_byte_integer(rest.len()));
    bytes.extend_from_slice(rest);
    bytes
}

/// CONNECT (3.1) at `level`: protocol name "MQTT", Clean Start 1 (flags
/// 0x02), Keep Alive 60, under 5.0 no properties (length 0), then the id.
fn connect(level: u8, client_id: &str) -> Vec<u8> {
    let mut rest = string("MQTT");
    rest.extend([level, 0x02, 0x00, 0x3c]);
    if level == V5 {
        rest.push(0x00);
    }
    rest.extend(string(client_id));
    packet(0x10, &rest)
}

/// PUBLISH (3.3) without DUP or RETAIN: 0x30 with the QoS in bits 1-2; topic
/// name, the packet id for QoS 1 and 2, under 5.0 no properties, payload.
fn publish(
    level: u8,
    qos: u8,
    topic_name: &str,
    packet_id: Option<u16>,
    payload: &[u8],
) -> Vec<u8> {
    let mut rest = string(topic_name);
    if let Some(packet_id) = packet_id {
        rest.extend(packet_id.to_be_bytes());
    }
    if level == V5 {
        rest.push(0x00);
    }
    rest.extend_from_slice(payload);
    packet(0x30 | qos << 1, &rest)
}

/// SUBSCRIBE (3.8) with packet id 1 (flags 0b0010, so 0x82): under 5.0 no
/// properties, then each filter with options 0x00 (QoS 0).
fn subscribe(level: u8, topic_filters: &[&str]) -> Vec<u8> {
    let mut rest = vec![0x00, 0x01];
    if level == V5 {
        rest.push(0x00);
    }
    for topic_filter in topic_filters {
        rest.extend(string(topic_filter));
        rest.push(0x00);
    }
    packet(0x82, &rest)
}

/// SUBACK (3.9) to packet id 1 granting QoS 0 to `count` filters; under 5.0
/// with no properties.
fn suback_granting_qos0(level: u8, count: usize) -> Vec<u8> {
    let mut rest = vec![0x00, 0x01];
    if level == V5 {
        rest.push(0x00);
    }
    rest.extend(std::iter::repeat(0x00).take(count));
    packet(0x90, &rest)
}

/// A topic of `levels` levels: `l/l/.../l`.
fn deep(levels: usize) -> String {
    vec!["l"; levels].join("/")
}

/// A client that speaks in raw bytes.
struct Wire {
    stream: TcpStream,
}

impl Wire {
    /// Connects at `level` as `client_id` and checks the CONNACK accepts.
    fn connected(address: SocketAddr, level: u8, client_id: &str) -> Wire {
        let stream = TcpStream::connect(address).expect("connect to the test broker");
        stream.set_read_timeout(Some(TEST_TIMEOUT)).unwrap();
        let mut wire = Wire { stream };
        wire.send(&connect(level, client_id));
        let (first_byte, rest) = wire.packet();
        assert_eq!(first_byte, 0x20, "CONNACK");
        // Acknowledge flags, then the reason (return) code: 0x00 accepted.
        // 3.1.1's CONNACK is exactly these two bytes; 5.0 adds properties.
        assert_eq!(rest[..2], [0x00, 0x00], "CONNACK accepting a clean start");
        if level == V3_1_1 {
            assert_eq!(rest.len(), 2);
        }
        wire
    }

    /// A client at `level` subscribed at QoS 0 to `topic_filters`.
    fn subscribed(address: SocketAddr, level: u8, client_id: &str, topic_filters: &[&str]) -> Wire {
        let mut wire = Wire::connected(address, level, client_id);
        wire.send(&subscribe(level, topic_filters));
        wire.expect(&suback_granting_qos0(level, topic_filters.len()));
        wire
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write to the broker");
    }

    /// Reads exactly `expected.len()` bytes and checks they are `expected`.
    fn expect(&mut self, expected: &[u8]) {
        let mut got = vec![0; expected.len()];
        self.stream
            .read_exact(&mut got)
            .unwrap_or_else(|error| panic!("waiting for {expected:02x?}: {error}"));
        assert_eq!(got, expected, "expected {expected:02x?}, got {got:02x?}");
    }

    /// Reads one packet: its first byte and what follows its Remaining Length.
    fn packet(&mut self) -> (u8, Vec<u8>) {
        let mut first_byte = [0; 1];
        self.stream.read_exact(&mut first_byte).expect("a packet");
        let mut length = 0usize;
        for shift in [0, 7, 14, 21] {
            let mut byte = [0; 1];
            self.stream
                .read_exact(&mut byte)
                .expect("a Remaining Length");
            length |= usize::from(byte[0] & 0x7f) << shift;
            if byte[0] & 0x80 == 0 {
                break;
            }
        }
        let mut rest = vec![0; length];
        self.stream.read_exact(&mut rest).expect("a packet's rest");
        (first_byte[0], rest)
    }

    /// Waits for the broker to close the connection, with nothing more sent.
    fn expect_closed(&mut self) {
        let mut byte = [0; 1];
        match self.stream.read(&mut byte) {
            Ok(0) => {}
            Err(error) if error.kind() == ErrorKind::ConnectionReset => {}
            Ok(_) => panic!("expected the connection closed, got byte {:02x}", byte[0]),
            Err(error) => panic!("expected the connection closed: {error}"),
        }
    }
}

#[test]
fn a_v3_1_1_publish_to_a_150_level_topic_reaches_a_hash_subscriber() {
    let broker = start_broker();
    let address = broker.local_addr();
    let mut subscriber = Wire::subscribed(address, V3_1_1, &client_id_on(0, "deep-sub"), &["#"]);
    let mut publisher = Wire::connected(address, V3_1_1, &client_id_on(1, "deep-pub"));
    let message = publish(V3_1_1, 0, &deep(150), None, b"deep");
    // 150 levels are 299 bytes of topic: a two-byte Remaining Length.
    assert_eq!(message[..5], [0x30, 0xb1, 0x02, 0x01, 0x2b]);
    publisher.send(&message);
    // Delivered at QoS 0 without RETAIN: the very bytes that were published.
    subscriber.expect(&message);
    broker.shutdown();
}

#[test]
fn a_v3_1_1_publish_as_deep_as_mosquitto_takes_is_delivered_and_one_level_more_closes() {
    let broker = start_broker();
    let address = broker.local_addr();
    let mut subscriber = Wire::subscribed(address, V3_1_1, &client_id_on(0, "lim-sub"), &["#"]);
    let mut publisher = Wire::connected(address, V3_1_1, &client_id_on(1, "lim-pub"));
    // 201 levels: 200 '/', Mosquitto's TOPIC_HIERARCHY_LIMIT.
    let deepest = publish(V3_1_1, 0, &deep(201), None, b"201");
    publisher.send(&deepest);
    subscriber.expect(&deepest);
    // 202 levels: the PUBLISH is refused and, 3.1.1 having no way to say
    // why, the connection closed.
    publisher.send(&publish(V3_1_1, 1, &deep(202), Some(1), b"202"));
    publisher.expect_closed();
    // Nothing of it reached the subscriber: the next thing it gets is
    // another publisher's message.
    let mut other = Wire::connected(address, V3_1_1, &client_id_on(1, "lim-other"));
    let after = publish(V3_1_1, 0, "after", None, b"x");
    other.send(&after);
    subscriber.expect(&after);
    broker.shutdown();
}

#[test]
fn a_v5_qos1_publish_to_sys_gets_puback_0x90_and_reaches_no_sys_subscriber() {
    let broker = start_broker();
    let address = broker.local_addr();
    let mut subscriber = Wire::subscribed(
        address,
        V5,
        &client_id_on(0, "sys-sub"),
        &["$SYS/#", "proof"],
    );
    let mut publisher = Wire::connected(address, V5, &client_id_on(1, "sys-pub"));
    publisher.send(&publish(V5, 1, "$SYS/x", Some(1), b"forged"));
    // PUBACK (3.4): packet id 1, Reason Code 0x90 (Topic Name invalid); with
    // no properties the Property Length is left out, Remaining Length 3.
    publisher.expect(&[0x40, 0x03, 0x00, 0x01, 0x90]);
    // Messages from one publisher are delivered in order: had the `$SYS`
    // one been routed, it would come before this one.
    let proof = publish(V5, 0, "proof", None, b"ok");
    publisher.send(&proof);
    subscriber.expect(&proof);
    assert_eq!(broker.stats().sys_publishes_refused, 1);
    broker.shutdown();
}

#[test]
fn a_v5_qos2_publish_to_sys_gets_pubrec_0x90_and_the_flow_ends_there() {
    let broker = start_broker();
    let mut publisher = Wire::connected(broker.local_addr(), V5, &client_id_on(1, "sys-q2"));
    publisher.send(&publish(V5, 2, "$SYS", Some(2), b"forged"));
    // PUBREC (3.5): packet id 2, Reason Code 0x90; a failure ends the flow.
    publisher.expect(&[0x50, 0x03, 0x00, 0x02, 0x90]);
    // A PUBREL sent anyway (flags 0b0010) finds no flow: PUBCOMP 0x92
    // (Packet Identifier not found).
    publisher.send(&[0x62, 0x02, 0x00, 0x02]);
    publisher.expect(&[0x70, 0x03, 0x00, 0x02, 0x92]);
    assert_eq!(broker.stats().sys_publishes_refused, 1);
    broker.shutdown();
}

#[test]
fn a_v3_1_1_publish_to_sys_is_acknowledged_as_usual_and_dropped() {
    let broker = start_broker();
    let address = broker.local_addr();
    let mut subscriber = Wire::subscribed(
        address,
        V3_1_1,
        &client_id_on(0, "sys3-sub"),
        &["$SYS/#", "proof"],
    );
    let mut publisher = Wire::connected(address, V3_1_1, &client_id_on(1, "sys3-pub"));
    // QoS 1: PUBACK (3.4) is the packet id alone in 3.1.1.
    publisher.send(&publish(V3_1_1, 1, "$SYS/x", Some(1), b"forged"));
    publisher.expect(&[0x40, 0x02, 0x00, 0x01]);
    // QoS 2: PUBREC, then the client's PUBREL gets PUBCOMP, as for any
    // message: 3.1.1 has no way to refuse one.
    publisher.send(&publish(V3_1_1, 2, "$SYS/y", Some(3), b"forged"));
    publisher.expect(&[0x50, 0x02, 0x00, 0x03]);
    publisher.send(&[0x62, 0x02, 0x00, 0x03]);
    publisher.expect(&[0x70, 0x02, 0x00, 0x03]);
    // QoS 0: no answer.
    publisher.send(&publish(V3_1_1, 0, "$SYS/z", None, b"forged"));
    let proof = publish(V3_1_1, 0, "proof", None, b"ok");
    publisher.send(&proof);
    subscriber.expect(&proof);
    assert_eq!(broker.stats().sys_publishes_refused, 3);
    broker.shutdown();
}
