//! The broker's own rules on topics, byte by byte: the level bound
//! (`max_topic_levels`, 201 by default, what Mosquitto accepts) and `$SYS`,
//! which clients may read but not publish to. Every packet sent and expected
//! is built from the specification's encoding rules (section 1.5, in
//! [`crate::wire`], and each packet's section, here), not by shardmq's codec.

use std::net::SocketAddr;

use crate::common::{client_id_on, start_broker};
use crate::wire::{packet, string, Wire};

/// MQTT 3.1.1, protocol level 4.
const V3_1_1: u8 = 4;
/// MQTT 5.0, protocol level 5.
const V5: u8 = 5;

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

impl Wire {
    /// Connects at `level` as `client_id` and checks the CONNACK accepts.
    fn connected(address: SocketAddr, level: u8, client_id: &str) -> Wire {
        let mut wire = Wire::open(address);
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
