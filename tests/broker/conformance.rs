//! Byte-level checks of protocol edges, each against the specification's text:
//! the bytes sent and expected are written out here, not produced by shardmq's
//! own codec, so a fault shared by its encoder and decoder cannot hide.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};

use crate::common::{start_broker, TEST_TIMEOUT};

/// A client that speaks in raw bytes.
struct Bytes {
    stream: TcpStream,
}

impl Bytes {
    fn open(address: SocketAddr) -> Bytes {
        let stream = TcpStream::connect(address).expect("connect to the test broker");
        stream.set_read_timeout(Some(TEST_TIMEOUT)).unwrap();
        Bytes { stream }
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
    let mut first = Bytes::open(address);
    first.send(&CONNECT_V3_1_PERSISTENT);
    first.expect(&CONNACK_ACCEPTED);
    // DISCONNECT: the session stays (Clean Session 0).
    first.send(&[0xe0, 0x00]);
    first.expect_closed();
    let mut second = Bytes::open(address);
    second.send(&CONNECT_V3_1_PERSISTENT);
    // 3.1.1 would say 0x01 here (Session Present); 3.1 has no such flag.
    second.expect(&CONNACK_ACCEPTED);
    broker.shutdown();
}

#[test]
fn a_v3_1_client_may_resend_pubrel_subscribe_and_unsubscribe_with_dup_set() {
    let broker = start_broker();
    let mut client = Bytes::open(broker.local_addr());
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
    let mut client = Bytes::open(broker.local_addr());
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
