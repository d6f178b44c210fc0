//! A client that speaks in raw bytes, and the specification's encoding rules
//! to build and read those bytes with. Nothing here uses shardmq's codec (only
//! `std::net` and `std::io`), so the tests built on it check the broker
//! against the specification's text and not against its own encoder and
//! decoder, where a shared fault could hide. The packets themselves are in
//! [`packets`]; here are the encoding primitives (1.5), the framing (2.1) and
//! the client, from single bytes up to whole flows (subscribe, publish and
//! acknowledge).

mod packets;

use std::io::{self, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};

pub use packets::{
    ack, property, reason, subscribe, Ack, ConnAck, Connect, Properties, Publish, Received, Will,
    DISCONNECT, PINGREQ, PUBACK, PUBCOMP, PUBREC, PUBREL, V3_1, V3_1_1, V5,
};

use crate::common::TEST_TIMEOUT;

/// A Variable Byte Integer (1.5.5): seven bits a byte, low first, the top bit
/// set on every byte but the last.
pub fn variable_byte_integer(mut value: usize) -> Vec<u8> {
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

/// The Variable Byte Integer (1.5.5) at the start of `bytes`, with its length;
/// `None` when `bytes` ends inside it. Panics on one of more than four bytes.
pub fn read_variable_byte_integer(bytes: &[u8]) -> Option<(usize, usize)> {
    let mut value = 0;
    for (index, byte) in bytes.iter().enumerate().take(4) {
        value |= usize::from(byte & 0x7f) << (7 * index);
        if byte & 0x80 == 0 {
            return Some((value, index + 1));
        }
    }
    assert!(bytes.len() < 4, "a Variable Byte Integer of 5 bytes");
    None
}

/// A UTF-8 Encoded String (1.5.4): its length in two bytes, big-endian, then
/// its bytes.
pub fn string(text: &str) -> Vec<u8> {
    let length = u16::try_from(text.len()).expect("a string the wire can carry");
    let mut bytes = length.to_be_bytes().to_vec();
    bytes.extend_from_slice(text.as_bytes());
    bytes
}

/// A whole packet: its first byte (type and flags), the Remaining Length, the
/// rest (2.1.1).
pub fn packet(first_byte: u8, rest: &[u8]) -> Vec<u8> {
    let mut bytes = vec![first_byte];
    bytes.extend(variable_byte_integer(rest.len()));
    bytes.extend_from_slice(rest);
    bytes
}

/// Reads one packet off `stream` just as it was sent (first byte, Remaining
/// Length, rest), with where its rest begins.
fn read_packet_as_sent(stream: &mut impl Read) -> io::Result<(Vec<u8>, usize)> {
    let mut bytes = vec![0u8];
    stream.read_exact(&mut bytes)?;
    let mut length = 0usize;
    for shift in [0, 7, 14, 21] {
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte)?;
        bytes.push(byte[0]);
        length |= usize::from(byte[0] & 0x7f) << shift;
        if byte[0] & 0x80 == 0 {
            let rest_start = bytes.len();
            bytes.resize(rest_start + length, 0);
            stream.read_exact(&mut bytes[rest_start..])?;
            return Ok((bytes, rest_start));
        }
    }
    Err(io::Error::new(
        ErrorKind::InvalidData,
        "remaining length longer than 4 bytes",
    ))
}

/// Reads one packet off `stream`: its first byte and what follows its
/// Remaining Length.
pub fn read_packet(stream: &mut impl Read) -> io::Result<(u8, Vec<u8>)> {
    let (mut bytes, rest_start) = read_packet_as_sent(stream)?;
    let first_byte = bytes[0];
    Ok((first_byte, bytes.split_off(rest_start)))
}

/// A client that speaks in raw bytes over a blocking socket whose reads wait
/// [`TEST_TIMEOUT`] at most.
pub struct Wire {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
    /// Protocol level of the CONNECT sent, which decides how packets parse.
    level: u8,
}

impl Wire {
    /// Opens a TCP connection to `address` and sends nothing yet; packets
    /// parse as 3.1.1 until a CONNECT says otherwise.
    pub fn open(address: SocketAddr) -> Wire {
        let stream = TcpStream::connect(address).expect("connect to the test broker");
        stream.set_read_timeout(Some(TEST_TIMEOUT)).unwrap();
        let reader = BufReader::new(stream.try_clone().unwrap());
        Wire {
            stream,
            reader,
            level: V3_1_1,
        }
    }

    /// Opens a connection, sends `connect` and returns the CONNACK's Session
    /// Present flag, reason code and properties.
    pub fn connect(address: SocketAddr, connect: &Connect) -> (Wire, ConnAck) {
        let mut wire = Wire::open(address);
        wire.set_nodelay();
        wire.send_connect(connect);
        let connack = wire.recv_connack();
        (wire, connack)
    }

    /// [`Wire::connect`] for a CONNECT that must be accepted.
    pub fn accepted(address: SocketAddr, connect: &Connect) -> (Wire, ConnAck) {
        let (wire, connack) = Wire::connect(address, connect);
        assert_eq!(connack.reason_code, reason::SUCCESS, "CONNECT refused");
        (wire, connack)
    }

    /// An accepted client at `level` with Clean Start and no Keep Alive, as
    /// most tests need for a watcher or a publisher.
    pub fn clean(address: SocketAddr, level: u8, client_id: &str) -> Wire {
        Wire::accepted(address, &Connect::new(level, client_id)).0
    }

    /// A [`Wire::clean`] client subscribed to `topic_filter` at `qos`.
    pub fn subscriber(
        address: SocketAddr,
        level: u8,
        client_id: &str,
        topic_filter: &str,
        qos: u8,
    ) -> Wire {
        let mut wire = Wire::clean(address, level, client_id);
        wire.subscribe(topic_filter, qos);
        wire
    }

    /// Sends `connect`; what follows parses at its level.
    pub fn send_connect(&mut self, connect: &Connect) {
        self.level = connect.level;
        self.send(&connect.encode());
    }

    /// Sends every segment as soon as it is written (`TCP_NODELAY`).
    pub fn set_nodelay(&self) {
        self.stream.set_nodelay(true).unwrap();
    }

    /// The socket, e.g. to shrink its receive buffer.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write to the broker");
    }

    /// Sends `publish` encoded at the connection's level.
    pub fn send_publish(&mut self, publish: &Publish) {
        self.send(&publish.encode(self.level));
    }

    /// Reads exactly `expected.len()` bytes and checks they are `expected`.
    pub fn expect(&mut self, expected: &[u8]) {
        let mut got = vec![0; expected.len()];
        self.reader
            .read_exact(&mut got)
            .unwrap_or_else(|error| panic!("waiting for {expected:02x?}: {error}"));
        assert_eq!(got, expected, "expected {expected:02x?}, got {got:02x?}");
    }

    /// Reads one packet: its first byte and what follows its Remaining Length.
    pub fn packet(&mut self) -> (u8, Vec<u8>) {
        read_packet(&mut self.reader).unwrap_or_else(|error| panic!("a packet: {error}"))
    }

    /// Reads one whole packet just as it was sent: its first byte, its
    /// Remaining Length and that many bytes.
    pub fn packet_as_sent(&mut self) -> Vec<u8> {
        read_packet_as_sent(&mut self.reader)
            .unwrap_or_else(|error| panic!("a packet from the broker: {error}"))
            .0
    }

    /// The next packet, parsed; panics on timeout or a closed connection.
    pub fn recv(&mut self) -> Received {
        self.try_recv()
            .unwrap_or_else(|| panic!("connection closed while waiting for a packet"))
    }

    /// The next packet, parsed, or `None` when the broker closed the
    /// connection.
    pub fn try_recv(&mut self) -> Option<Received> {
        match read_packet(&mut self.reader) {
            Ok((first_byte, rest)) => Some(Received::parse(self.level, first_byte, &rest)),
            Err(error) if closed(&error) => None,
            Err(error) => panic!("no packet within {TEST_TIMEOUT:?}: {error}"),
        }
    }

    /// The next packet, which must be a CONNACK.
    pub fn recv_connack(&mut self) -> ConnAck {
        match self.recv() {
            Received::ConnAck(connack) => connack,
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    /// The next packet, which must be a PUBLISH; answers nothing.
    pub fn recv_publish(&mut self) -> Publish {
        match self.recv() {
            Received::Publish(publish) => publish,
            other => panic!("expected PUBLISH, got {other:?}"),
        }
    }

    /// The next PUBLISH, acknowledged as its QoS asks: PUBACK (3.4), or
    /// PUBREC, the PUBREL awaited, then PUBCOMP (4.3.3).
    pub fn recv_publish_acked(&mut self) -> Publish {
        let publish = self.recv_publish();
        match (publish.qos, publish.packet_id) {
            (1, Some(packet_id)) => self.send(&ack(PUBACK, packet_id)),
            (2, Some(packet_id)) => {
                self.send(&ack(PUBREC, packet_id));
                self.expect_ack(PUBREL, packet_id);
                self.send(&ack(PUBCOMP, packet_id));
            }
            _ => {}
        }
        publish
    }

    /// The next packet, which must be the acknowledgement `first_byte`
    /// (PUBACK, PUBREC, PUBREL or PUBCOMP) of `packet_id`; returns it.
    pub fn expect_ack(&mut self, first_byte: u8, packet_id: u16) -> Ack {
        let (kind, ack) = match self.recv() {
            Received::PubAck(ack) => (PUBACK, ack),
            Received::PubRec(ack) => (PUBREC, ack),
            Received::PubRel(ack) => (PUBREL, ack),
            Received::PubComp(ack) => (PUBCOMP, ack),
            other => panic!("expected {first_byte:#04x} {packet_id}, got {other:?}"),
        };
        assert_eq!(
            (kind, ack.packet_id),
            (first_byte, packet_id),
            "expected {first_byte:#04x} {packet_id}, got {kind:#04x} {ack:?}"
        );
        ack
    }

    /// Subscribes to one filter with packet id 1 and waits for a SUBACK
    /// granting it.
    pub fn subscribe(&mut self, topic_filter: &str, qos: u8) {
        self.subscribe_with(topic_filter, qos, Properties::default());
    }

    /// [`Wire::subscribe`] with 5.0 SUBSCRIBE properties.
    pub fn subscribe_with(&mut self, topic_filter: &str, qos: u8, properties: Properties) {
        self.send(&subscribe(
            self.level,
            1,
            &[(topic_filter, qos)],
            &properties,
        ));
        match self.recv() {
            // A reason code of 0x80 or above refuses (3.9.3).
            Received::SubAck {
                packet_id: 1,
                reason_codes,
            } if reason_codes.len() == 1 && reason_codes[0] < 0x80 => {}
            other => panic!("subscription to {topic_filter} not granted: {other:?}"),
        }
    }

    /// Publishes with packet id 1 and, at QoS 1 and 2, completes the flow
    /// (4.3.2, 4.3.3).
    pub fn publish(
        &mut self,
        topic_name: &str,
        payload: impl Into<Vec<u8>>,
        qos: u8,
        retain: bool,
    ) {
        self.send_publish(&Publish {
            retain,
            ..Publish::new(topic_name, payload, qos)
        });
        match qos {
            0 => {}
            1 => {
                self.expect_ack(PUBACK, 1);
            }
            _ => {
                self.expect_ack(PUBREC, 1);
                self.send(&ack(PUBREL, 1));
                self.expect_ack(PUBCOMP, 1);
            }
        }
    }

    /// Sends PINGREQ and expects PINGRESP next: whatever the broker had to
    /// send before it has been read.
    pub fn ping(&mut self) {
        self.send(&PINGREQ);
        assert_eq!(self.recv(), Received::PingResp);
    }

    /// Sends DISCONNECT (normal) and waits for the broker to close.
    pub fn disconnect(mut self) {
        self.send(&DISCONNECT);
        self.received_until_closed();
    }

    /// Every packet the broker sends until it closes the connection.
    pub fn received_until_closed(&mut self) -> Vec<Received> {
        std::iter::from_fn(|| self.try_recv()).collect()
    }

    /// Waits for the broker to close the connection after one DISCONNECT
    /// with `reason_code` and nothing else; returns its properties.
    pub fn expect_disconnect(&mut self, reason_code: u8) -> Properties {
        match self.received_until_closed().as_slice() {
            [Received::Disconnect {
                reason_code: got,
                properties,
            }] if *got == reason_code => properties.clone(),
            other => panic!("expected DISCONNECT {reason_code:#04x}, got {other:?}"),
        }
    }

    /// Waits for the broker to close the connection, with nothing more sent.
    pub fn expect_closed(&mut self) {
        let mut byte = [0; 1];
        match self.reader.read(&mut byte) {
            Ok(0) => {}
            Err(error) if closed(&error) => {}
            Ok(_) => panic!("expected the connection closed, got byte {:02x}", byte[0]),
            Err(error) => panic!("expected the connection closed: {error}"),
        }
    }

    /// Every byte the broker sends until it closes the connection; panics if
    /// it keeps it open for [`TEST_TIMEOUT`].
    pub fn read_until_closed(&mut self) -> Vec<u8> {
        let mut received = Vec::new();
        let mut buffer = [0; 256];
        loop {
            match self.reader.read(&mut buffer) {
                Ok(0) => return received,
                Ok(len) => received.extend_from_slice(&buffer[..len]),
                Err(error) if closed(&error) => return received,
                Err(error) => {
                    panic!("the broker kept the connection open ({error}), after {received:02x?}")
                }
            }
        }
    }
}

/// Whether a read error means the broker closed the connection (an end of
/// stream inside a packet, or a reset).
fn closed(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
    )
}
