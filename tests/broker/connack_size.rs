//! The CONNACK never exceeds the client's Maximum Packet Size [MQTT-3.1.2-24],
//! over loopback with a raw socket: the bytes sent are written by hand and the
//! bytes received are read against MQTT 5.0 itself, not shardmq's codec.

use std::net::SocketAddr;

use shardmq_shards::Config;

use crate::common::{start_broker, start_broker_with};
use crate::wire::{read_variable_byte_integer, Wire};

/// The CONNECT of the bug report: MQTT 5, Clean Start, Keep Alive 60 s,
/// Maximum Packet Size 10, client id "maxpkt10".
const CONNECT_MAXIMUM_10: [u8; 28] = [
    0x10, 0x1a, // CONNECT, Remaining Length 26
    0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, // Protocol Name, Version 5
    0x02, 0x00, 0x3c, // Clean Start, Keep Alive 60
    0x05, 0x27, 0x00, 0x00, 0x00, 0x0a, // Properties: Maximum Packet Size 10
    0x00, 0x08, b'm', b'a', b'x', b'p', b'k', b't', b'1', b'0', // Client Identifier
];

const PINGREQ: [u8; 2] = [0xc0, 0x00];
const PINGRESP: [u8; 2] = [0xd0, 0x00];

/// A v5 CONNECT like [`CONNECT_MAXIMUM_10`], with `client_id` and, when
/// given, a Maximum Packet Size (3.1.2.11.4, property 0x27, Four Byte Integer).
fn connect_bytes(client_id: &str, maximum_packet_size: Option<u32>) -> Vec<u8> {
    let mut properties = Vec::new();
    if let Some(maximum) = maximum_packet_size {
        properties.push(0x27);
        properties.extend_from_slice(&maximum.to_be_bytes());
    }
    let mut body = vec![0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, 0x02, 0x00, 0x3c];
    body.push(u8::try_from(properties.len()).unwrap());
    body.extend(properties);
    body.extend_from_slice(&u16::try_from(client_id.len()).unwrap().to_be_bytes());
    body.extend_from_slice(client_id.as_bytes());
    // Below 128, the Remaining Length is one byte (1.5.5).
    assert!(body.len() < 128);
    let mut packet = vec![0x10, body.len() as u8];
    packet.extend(body);
    packet
}

/// A TCP connection to the broker that has sent `connect`.
fn send_connect(address: SocketAddr, connect: &[u8]) -> Wire {
    let mut wire = Wire::open(address);
    wire.set_nodelay();
    wire.send(connect);
    wire
}

/// The broker closes the connection without sending a byte.
fn assert_closed_silently(wire: &mut Wire, context: &str) {
    let received = wire.read_until_closed();
    assert!(
        received.is_empty(),
        "{context}: expected nothing, got {received:02x?}"
    );
}

/// A CONNACK (3.2) read by hand.
#[derive(Debug)]
struct ConnAckBytes {
    /// Connect Acknowledge Flags.
    flags: u8,
    /// Connect Reason Code.
    reason_code: u8,
    /// Each property's identifier and value bytes, in the order sent.
    properties: Vec<(u8, Vec<u8>)>,
}

impl ConnAckBytes {
    /// The value of property `identifier`, if sent.
    fn property(&self, identifier: u8) -> Option<&[u8]> {
        self.properties
            .iter()
            .find(|(id, _)| *id == identifier)
            .map(|(_, value)| value.as_slice())
    }
}

/// Reads `packet` as a v5 CONNACK, checking every length in it.
fn parse_connack(packet: &[u8]) -> ConnAckBytes {
    assert_eq!(packet[0], 0x20, "a CONNACK: {packet:02x?}");
    let (remaining, len) = read_variable_byte_integer(&packet[1..]).unwrap();
    let body = &packet[1 + len..];
    assert_eq!(body.len(), remaining, "Remaining Length of {packet:02x?}");
    let (flags, reason_code) = (body[0], body[1]);
    // Bits 7 to 1 of the flags are reserved and 0 [MQTT-3.2.2-1].
    assert_eq!(flags & 0xfe, 0, "{packet:02x?}");
    let (property_length, len) = read_variable_byte_integer(&body[2..]).unwrap();
    let mut rest = &body[2 + len..];
    assert_eq!(
        rest.len(),
        property_length,
        "Property Length of {packet:02x?}"
    );
    let mut properties = Vec::new();
    while let Some((&identifier, after)) = rest.split_first() {
        let string_len = |bytes: &[u8]| 2 + usize::from(u16::from_be_bytes([bytes[0], bytes[1]]));
        // The CONNACK properties and their types (2.2.2.2, 3.2.2.3).
        let value_len = match identifier {
            0x24 | 0x25 | 0x28 | 0x29 | 0x2a => 1,
            0x13 | 0x21 | 0x22 => 2,
            0x11 | 0x27 => 4,
            0x12 | 0x15 | 0x16 | 0x1a | 0x1c | 0x1f => string_len(after),
            0x26 => {
                let name = string_len(after);
                name + string_len(&after[name..])
            }
            other => panic!("0x{other:02x} is no CONNACK property: {packet:02x?}"),
        };
        properties.push((identifier, after[..value_len].to_vec()));
        rest = &after[value_len..];
    }
    ConnAckBytes {
        flags,
        reason_code,
        properties,
    }
}

/// A broker announcing the given Receive Maximum, Maximum Packet Size 1 MiB
/// and Topic Alias Maximum 64 (and nothing else: retain, QoS 2 and the rest
/// at what their absence means).
fn broker_with_receive_maximum(receive_maximum: u16) -> shardmq_shards::BrokerHandle {
    start_broker_with(Config {
        receive_maximum,
        maximum_packet_size: 1024 * 1024,
        topic_alias_maximum: 64,
        ..Config::default()
    })
}

/// After a CONNACK, the connection works: PINGREQ gets PINGRESP.
fn assert_pings(wire: &mut Wire) {
    wire.send(&PINGREQ);
    assert_eq!(wire.packet_as_sent(), PINGRESP);
}

#[test]
fn connect_bytes_are_those_of_the_bug_report() {
    assert_eq!(connect_bytes("maxpkt10", Some(10)), CONNECT_MAXIMUM_10);
}

#[test]
fn maximum_packet_size_10_gets_a_connack_of_10_bytes_and_a_working_connection() {
    // Receive Maximum 65,535 is what its absence means, so the CONNACK need
    // only say Maximum Packet Size (5 bytes) besides the 5 of a bare one.
    let broker = broker_with_receive_maximum(u16::MAX);
    let address = broker.local_addr();

    // Without a maximum the CONNACK also says Topic Alias Maximum: 13 bytes.
    let mut unlimited = send_connect(address, &connect_bytes("unlimited", None));
    let connack = unlimited.packet_as_sent();
    assert_eq!(connack.len(), 13, "{connack:02x?}");
    assert_eq!(
        parse_connack(&connack).property(0x22),
        Some(&[0x00, 0x40][..])
    );

    let mut limited = send_connect(address, &CONNECT_MAXIMUM_10);
    let connack = limited.packet_as_sent();
    assert!(connack.len() <= 10, "{connack:02x?}");
    let parsed = parse_connack(&connack);
    assert_eq!((parsed.flags, parsed.reason_code), (0x00, 0x00));
    // Left out: Topic Alias Maximum (absent means 0). Kept: Maximum Packet Size.
    assert_eq!(
        connack,
        [0x20, 0x08, 0x00, 0x00, 0x05, 0x27, 0x00, 0x10, 0x00, 0x00]
    );
    assert_pings(&mut limited);
    assert_pings(&mut unlimited);
    broker.shutdown();
}

#[test]
fn connack_that_cannot_leave_out_receive_maximum_needs_13_bytes() {
    // Receive Maximum 128 must be said: absent, the client would take 65,535.
    let broker = broker_with_receive_maximum(128);
    let address = broker.local_addr();

    let mut too_small = send_connect(address, &connect_bytes("maxpkt10", Some(10)));
    assert_closed_silently(&mut too_small, "Maximum Packet Size 10");

    let mut limited = send_connect(address, &connect_bytes("maxpkt13", Some(13)));
    let connack = limited.packet_as_sent();
    assert_eq!(connack.len(), 13, "{connack:02x?}");
    let parsed = parse_connack(&connack);
    assert_eq!((parsed.flags, parsed.reason_code), (0x00, 0x00));
    assert_eq!(parsed.properties.len(), 2, "{parsed:02x?}");
    assert_eq!(parsed.property(0x21), Some(&[0x00, 0x80][..]));
    assert_eq!(parsed.property(0x27), Some(&[0x00, 0x10, 0x00, 0x00][..]));
    assert_pings(&mut limited);
    broker.shutdown();
}

#[test]
fn maximum_packet_size_1_gets_no_connack_and_a_closed_connection_only() {
    let broker = start_broker();
    let address = broker.local_addr();
    let mut incumbent = send_connect(address, &connect_bytes("incumbent", None));
    let connack = parse_connack(&incumbent.packet_as_sent());
    assert_eq!(connack.reason_code, 0x00);

    // Not even a refusal fits: the connection is closed and nothing sent,
    // whether the client id is new or that of a connected client.
    for client_id in ["newcomer", "incumbent", ""] {
        let mut tiny = send_connect(address, &connect_bytes(client_id, Some(1)));
        assert_closed_silently(&mut tiny, &format!("client id {client_id:?}"));
    }

    // The connected client was not taken over, and others still connect.
    assert_pings(&mut incumbent);
    let mut newcomer = send_connect(address, &connect_bytes("newcomer", None));
    assert_eq!(parse_connack(&newcomer.packet_as_sent()).reason_code, 0x00);
    assert_pings(&mut newcomer);
    broker.shutdown();
}

#[test]
fn empty_client_id_whose_assigned_identifier_cannot_fit_is_refused_with_0x85() {
    let broker = start_broker();
    let address = broker.local_addr();

    // The Assigned Client Identifier must be sent [MQTT-3.2.2-16]; it is
    // "shardmq-…", 11 bytes at least as a property, and a CONNACK without it
    // (at most 13 bytes here) fits 20 while one with it does not. The broker
    // refuses the empty id with 0x85 (Client Identifier not valid) and closes
    // [MQTT-3.1.3-8], [MQTT-3.2.2-7].
    let mut refused = send_connect(address, &connect_bytes("", Some(20)));
    assert_eq!(refused.read_until_closed(), [0x20, 0x03, 0x00, 0x85, 0x00]);

    // Under 5 bytes, not even that refusal fits.
    let mut tiny = send_connect(address, &connect_bytes("", Some(4)));
    assert_closed_silently(&mut tiny, "Maximum Packet Size 4");

    // With room for it, the identifier is kept and Topic Alias Maximum goes.
    let mut unlimited = send_connect(address, &connect_bytes("", None));
    let full = unlimited.packet_as_sent();
    let parsed = parse_connack(&full);
    assert_eq!(parsed.reason_code, 0x00);
    assert!(parsed.property(0x12).is_some_and(|id| id.len() > 2));
    assert!(parsed.property(0x22).is_some());
    let maximum = u32::try_from(full.len()).unwrap() - 1;
    let mut limited = send_connect(address, &connect_bytes("", Some(maximum)));
    let connack = limited.packet_as_sent();
    assert!(connack.len() <= maximum as usize, "{connack:02x?}");
    let parsed = parse_connack(&connack);
    assert_eq!(parsed.reason_code, 0x00);
    assert!(parsed.property(0x12).is_some_and(|id| id.len() > 2));
    assert_eq!(parsed.property(0x22), None);
    assert_pings(&mut limited);
    assert_pings(&mut unlimited);
    broker.shutdown();
}
