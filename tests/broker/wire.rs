//! A client that speaks in raw bytes, and the specification's encoding rules
//! to build and read those bytes with. Nothing here uses shardmq's codec (only
//! `std::net` and `std::io`), so the tests built on it check the broker
//! against the specification's text and not against its own encoder and
//! decoder, where a shared fault could hide.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};

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
}

impl Wire {
    /// Opens a TCP connection to `address` and sends nothing yet.
    pub fn open(address: SocketAddr) -> Wire {
        let stream = TcpStream::connect(address).expect("connect to the test broker");
        stream.set_read_timeout(Some(TEST_TIMEOUT)).unwrap();
        Wire { stream }
    }

    /// Sends every segment as soon as it is written (`TCP_NODELAY`).
    pub fn set_nodelay(&self) {
        self.stream.set_nodelay(true).unwrap();
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write to the broker");
    }

    /// Reads exactly `expected.len()` bytes and checks they are `expected`.
    pub fn expect(&mut self, expected: &[u8]) {
        let mut got = vec![0; expected.len()];
        self.stream
            .read_exact(&mut got)
            .unwrap_or_else(|error| panic!("waiting for {expected:02x?}: {error}"));
        assert_eq!(got, expected, "expected {expected:02x?}, got {got:02x?}");
    }

    /// Reads one packet: its first byte and what follows its Remaining Length.
    pub fn packet(&mut self) -> (u8, Vec<u8>) {
        read_packet(&mut self.stream).unwrap_or_else(|error| panic!("a packet: {error}"))
    }

    /// Reads one whole packet just as it was sent: its first byte, its
    /// Remaining Length and that many bytes.
    pub fn packet_as_sent(&mut self) -> Vec<u8> {
        read_packet_as_sent(&mut self.stream)
            .unwrap_or_else(|error| panic!("a packet from the broker: {error}"))
            .0
    }

    /// Waits for the broker to close the connection, with nothing more sent.
    pub fn expect_closed(&mut self) {
        let mut byte = [0; 1];
        match self.stream.read(&mut byte) {
            Ok(0) => {}
            Err(error) if error.kind() == ErrorKind::ConnectionReset => {}
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
            match self.stream.read(&mut buffer) {
                Ok(0) => return received,
                Ok(len) => received.extend_from_slice(&buffer[..len]),
                Err(error)
                    if matches!(
                        error.kind(),
                        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
                    ) =>
                {
                    return received
                }
                Err(error) => {
                    panic!("the broker kept the connection open ({error}), after {received:02x?}")
                }
            }
        }
    }
}
