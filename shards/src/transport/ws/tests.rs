//! The WebSocket layer against an independent implementation, the
//! `tungstenite` client over in-memory buffers, and against the examples of
//! RFC 6455; and arbitrary bytes, before and after the handshake.

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::rc::Rc;

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use shardmq::protocol::{decode, Packet, ProtocolVersion};
use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::HandshakeError;
use tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tungstenite::protocol::frame::Frame;
use tungstenite::protocol::CloseFrame;
use tungstenite::{Message, WebSocket};

use super::handshake::accept_value;
use super::*;
use crate::transport::{Tcp, TransportKind};

const PATH: &str = "/mqtt";
const PAYLOAD_MAX: usize = 1024;

fn layer() -> Ws<Tcp> {
    Ws::new(Tcp, Arc::from(PATH), PAYLOAD_MAX)
}

/// The bytes between the client and the layer, both ways.
#[derive(Debug, Default)]
struct Buffers {
    to_server: Vec<u8>,
    to_client: Vec<u8>,
}

/// The client's end of an in-memory connection: reads what the layer wrote,
/// `WouldBlock` when there is nothing yet.
#[derive(Debug)]
struct Pipe(Rc<RefCell<Buffers>>);

impl Read for Pipe {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let mut buffers = self.0.borrow_mut();
        if buffers.to_client.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let count = out.len().min(buffers.to_client.len());
        out[..count].copy_from_slice(&buffers.to_client[..count]);
        buffers.to_client.drain(..count);
        Ok(count)
    }
}

impl Write for Pipe {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().to_server.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes like a connection's task: fills the wire buffer with `batch` (if
/// any) and what the layer wants to write, gives the socket at most
/// `socket_take` bytes per write, until nothing is left. Returns the bytes
/// written and how many batches were reported written.
fn write_out<T: Transport>(
    layer: &mut T,
    batch: Option<&[u8]>,
    socket_take: usize,
) -> (Vec<u8>, usize) {
    let mut wire = WireOut::default();
    let mut batch = batch;
    let mut written = Vec::new();
    let mut batches = 0;
    loop {
        if wire.is_empty() {
            let encode = |buffer: &mut BytesMut| match batch.take() {
                Some(batch) => {
                    assert!(buffer.is_empty());
                    buffer.extend_from_slice(batch);
                    true
                }
                None => false,
            };
            if !wire.fill(layer, encode).expect("the layer seals") {
                return (written, batches);
            }
        }
        let take = wire.unwritten().len().min(socket_take);
        written.extend_from_slice(&wire.unwritten()[..take]);
        if wire.advance(take) {
            batches += 1;
        }
    }
}

/// A tungstenite client connected to `layer` through the handshake.
struct Client {
    socket: WebSocket<Pipe>,
    buffers: Rc<RefCell<Buffers>>,
}

impl Client {
    /// Opens the WebSocket offering `subprotocols`; returns the client and
    /// the server's `Sec-WebSocket-Protocol`.
    fn connect(layer: &mut Ws<Tcp>, subprotocols: &str) -> (Client, String) {
        let buffers = Rc::new(RefCell::new(Buffers::default()));
        let mut request = format!("ws://broker.test{PATH}")
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", subprotocols.parse().unwrap());
        let midway = match tungstenite::client(request, Pipe(Rc::clone(&buffers))) {
            Err(HandshakeError::Interrupted(midway)) => midway,
            other => panic!("the client waits for the reply: {:?}", other.map(|_| ())),
        };
        let request_bytes = std::mem::take(&mut buffers.borrow_mut().to_server);
        let mut plaintext = BytesMut::new();
        layer.receive(&request_bytes, &mut plaintext).unwrap();
        assert!(plaintext.is_empty());
        assert!(!layer.is_handshaking());
        let (reply, batches) = write_out(layer, None, usize::MAX);
        assert_eq!(batches, 0);
        buffers.borrow_mut().to_client.extend_from_slice(&reply);
        let (socket, response) = midway.handshake().expect("the client accepts the reply");
        let subprotocol = response.headers()["Sec-WebSocket-Protocol"]
            .to_str()
            .unwrap()
            .to_owned();
        (Client { socket, buffers }, subprotocol)
    }

    /// Sends `message` and returns the wire bytes it made.
    fn send(&mut self, message: Message) -> Vec<u8> {
        self.socket.send(message).unwrap();
        std::mem::take(&mut self.buffers.borrow_mut().to_server)
    }

    /// Reads the next message from `wire`, bytes the layer wrote.
    fn read(&mut self, wire: &[u8]) -> Message {
        self.buffers.borrow_mut().to_client.extend_from_slice(wire);
        self.socket.read().unwrap()
    }
}

/// A client frame of `payload`, masked with `mask`, written by hand.
fn client_frame(first_byte: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut frame = vec![first_byte];
    match payload.len() {
        short @ 0..=125 => frame.push(0x80 | short as u8),
        medium @ 126..=0xFFFF => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(medium as u16).to_be_bytes());
        }
        long => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(long as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend(
        payload
            .iter()
            .enumerate()
            .map(|(at, byte)| byte ^ mask[at % 4]),
    );
    frame
}

/// An opened layer, through a hand-written upgrade request.
fn opened() -> Ws<Tcp> {
    let mut ws = layer();
    let mut plaintext = BytesMut::new();
    ws.receive(&request("GET", PATH, "13", "mqtt"), &mut plaintext)
        .unwrap();
    let _ = write_out(&mut ws, None, usize::MAX);
    ws
}

/// An upgrade request with RFC 6455 §1.3's key.
fn request(method: &str, path: &str, version: &str, subprotocol: &str) -> Vec<u8> {
    let protocol = if subprotocol.is_empty() {
        String::new()
    } else {
        format!("Sec-WebSocket-Protocol: {subprotocol}\r\n")
    };
    format!(
        "{method} {path} HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
         Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         {protocol}Sec-WebSocket-Version: {version}\r\n\r\n"
    )
    .into_bytes()
}

/// The status line and whether the reply names `header`, for a request
/// that is refused.
fn refusal(request: &[u8]) -> String {
    let mut ws = layer();
    let error = ws.receive(request, &mut BytesMut::new()).unwrap_err();
    assert!(error.to_string().starts_with("ws layer failed"), "{error}");
    assert!(ws.wants_write(), "the refusal is written");
    let (reply, _) = write_out(&mut ws, None, usize::MAX);
    assert!(
        ws.receive(b"more", &mut BytesMut::new()).is_err(),
        "nothing is read after a refusal"
    );
    String::from_utf8(reply).unwrap()
}

#[test]
fn the_accept_value_is_the_one_of_rfc_6455_section_1_3() {
    assert_eq!(
        accept_value(b"dGhlIHNhbXBsZSBub25jZQ=="),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
    let mut ws = layer();
    ws.receive(&request("GET", PATH, "13", "mqtt"), &mut BytesMut::new())
        .unwrap();
    let (reply, _) = write_out(&mut ws, None, usize::MAX);
    let reply = String::from_utf8(reply).unwrap();
    assert!(
        reply.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{reply}"
    );
    assert!(
        reply.contains("\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
        "{reply}"
    );
    assert!(reply.ends_with("\r\n\r\n"));
}

#[test]
fn a_tungstenite_client_completes_the_handshake_and_gets_mqtt_echoed() {
    let mut ws = layer();
    let (_client, subprotocol) = Client::connect(&mut ws, "mqtt");
    assert_eq!(subprotocol, "mqtt");
    assert!(ws.can_park());
}

#[test]
fn the_first_mqtt_subprotocol_the_client_offers_is_echoed() {
    let mut ws = layer();
    let (_client, subprotocol) = Client::connect(&mut ws, "chat, mqttv3.1, mqtt");
    assert_eq!(subprotocol, "mqttv3.1");
}

#[test]
fn a_request_split_into_single_bytes_is_answered_once_complete() {
    let mut ws = layer();
    let mut plaintext = BytesMut::new();
    let bytes = request("GET", PATH, "13", "mqtt");
    for byte in &bytes[..bytes.len() - 1] {
        ws.receive(std::slice::from_ref(byte), &mut plaintext)
            .unwrap();
        assert!(ws.is_handshaking() && !ws.wants_write());
    }
    ws.receive(&bytes[bytes.len() - 1..], &mut plaintext)
        .unwrap();
    assert!(!ws.is_handshaking() && ws.wants_write());
    assert!(plaintext.is_empty());
}

#[test]
fn frames_sent_with_the_request_are_read_after_it() {
    let mut ws = layer();
    let mut plaintext = BytesMut::new();
    let mut bytes = request("GET", PATH, "13", "mqtt");
    bytes.extend(client_frame(0x82, &[0xC0, 0x00], [1, 2, 3, 4]));
    ws.receive(&bytes, &mut plaintext).unwrap();
    assert_eq!(&plaintext[..], &[0xC0, 0x00]);
    // The answer still goes out ahead of the first frame.
    let (wire, _) = write_out(&mut ws, Some(&[0xD0, 0x00]), 7);
    assert!(wire.starts_with(b"HTTP/1.1 101"));
    assert!(wire.ends_with(&[0x82, 0x02, 0xD0, 0x00]));
}

#[test]
fn a_request_for_another_path_gets_404() {
    let reply = refusal(&request("GET", "/other", "13", "mqtt"));
    assert!(reply.starts_with("HTTP/1.1 404 "), "{reply}");
}

#[test]
fn a_request_with_a_query_string_on_the_path_is_accepted() {
    let mut ws = layer();
    ws.receive(
        &request("GET", "/mqtt?token=1", "13", "mqtt"),
        &mut BytesMut::new(),
    )
    .unwrap();
    assert!(!ws.is_handshaking());
}

#[test]
fn another_websocket_version_gets_426_naming_version_13() {
    let reply = refusal(&request("GET", PATH, "8", "mqtt"));
    assert!(reply.starts_with("HTTP/1.1 426 "), "{reply}");
    assert!(
        reply.contains("\r\nSec-WebSocket-Version: 13\r\n"),
        "{reply}"
    );
}

#[test]
fn a_request_without_a_key_gets_400() {
    let bytes = String::from_utf8(request("GET", PATH, "13", "mqtt"))
        .unwrap()
        .replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "");
    let reply = refusal(bytes.as_bytes());
    assert!(reply.starts_with("HTTP/1.1 400 "), "{reply}");
}

#[test]
fn a_key_that_is_not_16_bytes_gets_400() {
    let bytes = String::from_utf8(request("GET", PATH, "13", "mqtt"))
        .unwrap()
        .replace("dGhlIHNhbXBsZSBub25jZQ==", "c2hvcnQ=");
    assert!(refusal(bytes.as_bytes()).starts_with("HTTP/1.1 400 "));
}

#[test]
fn a_request_without_upgrade_or_connection_upgrade_gets_400() {
    for (from, to) in [
        ("Upgrade: websocket\r\n", ""),
        (
            "Connection: keep-alive, Upgrade\r\n",
            "Connection: keep-alive\r\n",
        ),
    ] {
        let bytes = String::from_utf8(request("GET", PATH, "13", "mqtt"))
            .unwrap()
            .replace(from, to);
        assert!(
            refusal(bytes.as_bytes()).starts_with("HTTP/1.1 400 "),
            "{from}"
        );
    }
}

#[test]
fn a_post_or_a_request_offering_no_mqtt_subprotocol_gets_400() {
    assert!(refusal(&request("POST", PATH, "13", "mqtt")).starts_with("HTTP/1.1 400 "));
    assert!(refusal(&request("GET", PATH, "13", "")).starts_with("HTTP/1.1 400 "));
    assert!(refusal(&request("GET", PATH, "13", "chat")).starts_with("HTTP/1.1 400 "));
}

#[test]
fn a_header_block_past_the_bound_gets_431_without_waiting_for_its_end() {
    let mut ws = layer();
    let mut plaintext = BytesMut::new();
    let mut bytes = b"GET /mqtt HTTP/1.1\r\nX-Filler: ".to_vec();
    bytes.resize(limits::WS_HANDSHAKE_BYTES_MAX - 1, b'a');
    ws.receive(&bytes, &mut plaintext).unwrap();
    assert_eq!(ws.held(), limits::WS_HANDSHAKE_BYTES_MAX - 1);
    assert!(ws.receive(b"aaaa", &mut plaintext).is_err());
    let (reply, _) = write_out(&mut ws, None, usize::MAX);
    assert!(reply.starts_with(b"HTTP/1.1 431 "));
}

#[test]
fn a_masked_binary_message_of_rfc_6455_section_5_7_comes_out_unmasked() {
    let mut ws = opened();
    let mut plaintext = BytesMut::new();
    // The RFC's single-frame masked "Hello", as a binary frame.
    let frame = [
        0x82, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    ws.receive(&frame, &mut plaintext).unwrap();
    assert_eq!(&plaintext[..], b"Hello");
}

#[test]
fn binary_messages_from_tungstenite_come_out_as_their_payload() {
    let mut ws = Ws::new(Tcp, Arc::from(PATH), 100_000);
    let (mut client, _) = Client::connect(&mut ws, "mqtt");
    let mut plaintext = BytesMut::from(&b"kept"[..]);
    // Short, 16-bit and 64-bit lengths; odd sizes cross the word-wise unmasking.
    let payloads: Vec<Vec<u8>> = [3usize, 125, 126, 1000, 70_000]
        .iter()
        .map(|&len| (0..len).map(|at| (at * 7 % 251) as u8).collect())
        .collect();
    let mut expected = b"kept".to_vec();
    for payload in &payloads {
        let wire = client.send(Message::Binary(Bytes::from(payload.clone())));
        ws.receive(&wire, &mut plaintext).unwrap();
        expected.extend_from_slice(payload);
    }
    assert_eq!(&plaintext[..], &expected[..]);
}

#[test]
fn a_fragmented_message_is_reassembled_with_a_ping_between_its_fragments() {
    let mut ws = layer();
    let (mut client, _) = Client::connect(&mut ws, "mqtt");
    let mut plaintext = BytesMut::new();
    let mut wire = client.send(Message::Frame(Frame::message(
        &b"frag"[..],
        OpCode::Data(Data::Binary),
        false,
    )));
    wire.extend(client.send(Message::Ping(Bytes::from_static(b"p"))));
    wire.extend(client.send(Message::Frame(Frame::message(
        &b"men"[..],
        OpCode::Data(Data::Continue),
        false,
    ))));
    wire.extend(client.send(Message::Frame(Frame::message(
        &b"ted"[..],
        OpCode::Data(Data::Continue),
        true,
    ))));
    for byte in &wire {
        ws.receive(std::slice::from_ref(byte), &mut plaintext)
            .unwrap();
    }
    assert_eq!(&plaintext[..], b"fragmented");
    assert!(!ws.can_park(), "a pong is waiting");
    let (reply, _) = write_out(&mut ws, None, usize::MAX);
    assert_eq!(client.read(&reply), Message::Pong(Bytes::from_static(b"p")));
}

#[test]
fn mqtt_packets_split_across_frames_and_packed_in_one_decode_whole() {
    let mut ws = opened();
    let mut plaintext = BytesMut::new();
    let publish = [0x30, 0x07, 0x00, 0x01, b't', b'h', b'e', b'l', b'o'];
    let pingreq = [0xC0, 0x00];
    // The PUBLISH across two frames, then PINGREQ and PUBLISH in one.
    let mut wire = client_frame(0x82, &publish[..4], [9, 8, 7, 6]);
    wire.extend(client_frame(0x82, &publish[4..], [5, 4, 3, 2]));
    let mut both = pingreq.to_vec();
    both.extend_from_slice(&publish);
    wire.extend(client_frame(0x82, &both, [0xFF, 0, 0xAA, 0x55]));
    ws.receive(&wire, &mut plaintext).unwrap();
    let version = ProtocolVersion::V3_1_1;
    let mut packets = Vec::new();
    while let Some(packet) = decode(&mut plaintext, version, 1024).unwrap() {
        packets.push(packet);
    }
    assert_eq!(packets.len(), 3);
    assert!(matches!(&packets[0], Packet::Publish(publish) if &publish.payload[..] == b"helo"));
    assert!(matches!(packets[1], Packet::PingReq));
    assert!(matches!(&packets[2], Packet::Publish(publish) if &publish.payload[..] == b"helo"));
}

#[test]
fn a_ping_of_rfc_6455_section_5_7_is_answered_with_its_pong() {
    let mut ws = opened();
    let mut plaintext = BytesMut::new();
    // The RFC's "Hello" ping, masked as a client's must be.
    let ping = client_frame(0x89, b"Hello", [0x37, 0xfa, 0x21, 0x3d]);
    ws.receive(&ping, &mut plaintext).unwrap();
    assert!(plaintext.is_empty());
    assert!(ws.wants_write());
    let (wire, batches) = write_out(&mut ws, None, usize::MAX);
    assert_eq!(wire, [0x8a, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    assert_eq!(batches, 0);
    assert!(ws.can_park());
}

#[test]
fn only_the_latest_of_several_pings_is_answered_and_pongs_are_ignored() {
    let mut ws = opened();
    let mut plaintext = BytesMut::new();
    let mut wire = client_frame(0x89, b"one", [1, 1, 1, 1]);
    wire.extend(client_frame(0x8A, b"unsolicited", [2, 2, 2, 2]));
    wire.extend(client_frame(0x89, b"two", [3, 3, 3, 3]));
    ws.receive(&wire, &mut plaintext).unwrap();
    let (wire, _) = write_out(&mut ws, None, usize::MAX);
    assert_eq!(wire, [&[0x8a, 0x03][..], b"two"].concat());
}

#[test]
fn a_pong_goes_out_ahead_of_the_batch_sealed_with_it() {
    let mut ws = layer();
    let (mut client, _) = Client::connect(&mut ws, "mqtt");
    let ping = client.send(Message::Ping(Bytes::from_static(b"hb")));
    ws.receive(&ping, &mut BytesMut::new()).unwrap();
    let (wire, batches) = write_out(&mut ws, Some(b"CONNACK"), 3);
    assert_eq!(batches, 1);
    assert_eq!(client.read(&wire), Message::Pong(Bytes::from_static(b"hb")));
    assert_eq!(
        client.read(&[]),
        Message::Binary(Bytes::from_static(b"CONNACK"))
    );
}

#[test]
fn a_batch_is_one_unmasked_binary_frame_written_across_partial_writes() {
    for len in [1usize, 125, 126, 300, 65_535, 65_536, 70_000] {
        let mut ws = layer();
        let (mut client, _) = Client::connect(&mut ws, "mqtt");
        let batch: Vec<u8> = (0..len).map(|at| (at % 253) as u8).collect();
        let (wire, batches) = write_out(&mut ws, Some(&batch), 1000);
        let header_len = match len {
            0..=125 => 2,
            126..=65_535 => 4,
            _ => 10,
        };
        assert_eq!(batches, 1, "one batch, reported once");
        assert_eq!(wire.len(), header_len + len, "one frame, no re-framing");
        assert_eq!(wire[0], 0x82, "final binary frame");
        assert_eq!(wire[1] & 0x80, 0, "unmasked");
        assert_eq!(client.read(&wire), Message::Binary(Bytes::from(batch)));
    }
}

#[test]
fn the_header_lengths_are_those_of_rfc_6455_section_5_7() {
    assert_eq!(
        &frame::header(frame::BINARY, 256).0[..4],
        [0x82, 0x7E, 0x01, 0x00]
    );
    let (long, len) = frame::header(frame::BINARY, 65_536);
    assert_eq!(&long[..len], [0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]);
}

/// What `wire` makes the layer answer: the error and what it then writes.
fn stopped_by(ws: &mut Ws<Tcp>, wire: &[u8]) -> (String, Vec<u8>) {
    let mut plaintext = BytesMut::new();
    let error = ws.receive(wire, &mut plaintext).unwrap_err().to_string();
    assert!(
        plaintext.is_empty(),
        "nothing of a failed read is handed on"
    );
    let (reply, _) = write_out(ws, Some(b"dropped"), usize::MAX);
    assert!(!ws.wants_write());
    assert!(
        ws.receive(&[0x82], &mut plaintext).is_err(),
        "nothing more is read"
    );
    (error, reply)
}

fn close_frame(code: u16) -> Vec<u8> {
    [&[0x88, 0x02][..], &code.to_be_bytes()].concat()
}

#[test]
fn a_close_frame_is_echoed_and_ends_the_connection() {
    let mut ws = layer();
    let (mut client, _) = Client::connect(&mut ws, "mqtt");
    let wire = client.send(Message::Close(Some(CloseFrame {
        code: CloseCode::Away,
        reason: "bye".into(),
    })));
    let (error, reply) = stopped_by(&mut ws, &wire);
    assert!(error.contains("closed by the client"), "{error}");
    assert_eq!(reply, close_frame(1001));
    ws.close();
    assert!(!ws.wants_write(), "one close frame only");
}

#[test]
fn mqtt_bytes_ahead_of_a_close_frame_are_handed_on_first() {
    let mut ws = opened();
    let mut plaintext = BytesMut::new();
    let mut wire = client_frame(0x82, &[0xE0, 0x00], [1, 2, 3, 4]);
    wire.extend(client_frame(0x88, &1000u16.to_be_bytes(), [5, 6, 7, 8]));
    ws.receive(&wire, &mut plaintext).unwrap();
    assert_eq!(&plaintext[..], &[0xE0, 0x00], "the DISCONNECT is handled");
    let (reply, _) = write_out(&mut ws, Some(b"dropped"), usize::MAX);
    assert_eq!(reply, close_frame(1000));
    assert!(ws.receive(&[0x82], &mut plaintext).is_err());
}

#[test]
fn an_unmasked_frame_gets_close_1002() {
    let mut ws = opened();
    let (error, reply) = stopped_by(&mut ws, &[0x82, 0x02, 0xC0, 0x00]);
    assert!(error.contains("unmasked"), "{error}");
    assert_eq!(reply, close_frame(1002));
}

#[test]
fn a_text_frame_gets_close_1003() {
    let mut ws = layer();
    let (mut client, _) = Client::connect(&mut ws, "mqtt");
    let wire = client.send(Message::text("hello"));
    let (_, reply) = stopped_by(&mut ws, &wire);
    assert_eq!(reply, close_frame(1003));
    match client.read(&reply) {
        Message::Close(Some(close)) => assert_eq!(close.code, CloseCode::Unsupported),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_frame_longer_than_the_bound_gets_close_1009_from_its_header() {
    let mut ws = layer();
    let (mut client, _) = Client::connect(&mut ws, "mqtt");
    let wire = client.send(Message::Binary(Bytes::from(vec![0; PAYLOAD_MAX + 1])));
    // The header alone is enough to refuse it.
    let (_, reply) = stopped_by(&mut ws, &wire[..8]);
    match client.read(&reply) {
        Message::Close(Some(close)) => assert_eq!(close.code, CloseCode::Size),
        other => panic!("{other:?}"),
    }
    let mut ws = opened();
    let fits = client_frame(0x82, &vec![0; PAYLOAD_MAX], [1, 2, 3, 4]);
    ws.receive(&fits, &mut BytesMut::new()).unwrap();
}

#[test]
fn reserved_bits_unknown_opcodes_and_broken_fragmentation_get_close_1002() {
    let mask = [1, 2, 3, 4];
    let cases = [
        client_frame(0xC2, b"x", mask),      // RSV1
        client_frame(0x83, b"x", mask),      // reserved data opcode
        client_frame(0x8B, b"x", mask),      // reserved control opcode
        client_frame(0x80, b"x", mask),      // continuation of nothing
        client_frame(0x09, b"x", mask),      // fragmented ping
        client_frame(0x89, &[0; 126], mask), // long ping
        client_frame(0x88, &[3], mask),      // close of one byte
        client_frame(0x88, &1005u16.to_be_bytes(), mask),
        [
            client_frame(0x02, b"x", mask),
            client_frame(0x82, b"y", mask),
        ]
        .concat(),
    ];
    for wire in cases {
        let mut ws = opened();
        let (error, reply) = stopped_by(&mut ws, &wire);
        assert_eq!(reply, close_frame(1002), "{error}");
    }
}

#[test]
fn the_farewell_is_one_normal_close_frame() {
    let mut ws = opened();
    ws.close();
    ws.close();
    let (wire, batches) = write_out(&mut ws, None, 1);
    assert_eq!(wire, close_frame(1000));
    assert_eq!(batches, 0);
    assert!(!ws.wants_write());
    // No farewell before the upgrade: there is no WebSocket to close.
    let mut ws = layer();
    ws.close();
    assert!(!ws.wants_write());
}

#[test]
fn a_listener_kind_makes_a_websocket_layer() {
    let kind = TransportKind::Ws {
        path: Arc::from(crate::config::WEBSOCKET_PATH_DEFAULT),
    };
    let mut layer = kind.new_layer(limits::MAXIMUM_PACKET_SIZE_DEFAULT).unwrap();
    assert_eq!(layer.name(), "ws");
    assert!(layer.is_handshaking());
    assert!(!layer.can_park());
    layer
        .receive(&request("GET", "/mqtt", "13", "mqtt"), &mut BytesMut::new())
        .unwrap();
    assert!(!layer.is_handshaking() && layer.wants_write());
}

proptest! {
    #[test]
    fn arbitrary_bytes_before_the_handshake_never_panic_nor_overfill(
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..3000), 0..8),
        prefix in proptest::sample::select(vec![&b""[..], b"GET /mqtt HTTP/1.1\r\n", b"GET /mqtt HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"]),
    ) {
        let mut ws = layer();
        let mut plaintext = BytesMut::new();
        let mut failed = ws.receive(prefix, &mut plaintext).is_err();
        for chunk in chunks.iter().filter(|chunk| !chunk.is_empty()) {
            if failed {
                break;
            }
            let handshaking = ws.is_handshaking();
            let before = plaintext.len();
            failed = ws.receive(chunk, &mut plaintext).is_err();
            prop_assert!(ws.held() <= limits::WS_HANDSHAKE_BYTES_MAX);
            if handshaking {
                prop_assert!(plaintext.len() - before <= chunk.len());
            }
            let (reply, _) = write_out(&mut ws, None, usize::MAX);
            prop_assert!(reply.len() <= 512);
        }
    }

    #[test]
    fn arbitrary_bytes_after_the_handshake_never_panic_nor_overfill(
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..600), 1..8),
        mask_bit in any::<bool>(),
    ) {
        let mut ws = opened();
        let mut plaintext = BytesMut::new();
        for mut chunk in chunks {
            // Masked headers more often, so frames get past the first check.
            if mask_bit && chunk.len() > 1 {
                chunk[1] |= 0x80;
            }
            let before = plaintext.len();
            let failed = ws.receive(&chunk, &mut plaintext).is_err();
            prop_assert!(ws.held() <= 14);
            prop_assert!(plaintext.len() - before <= chunk.len());
            let (reply, _) = write_out(&mut ws, Some(b"batch"), 7);
            prop_assert!(reply.len() <= 2 + 125 + 2 + 5 + 4);
            if failed {
                break;
            }
        }
    }

    #[test]
    fn payloads_come_out_whole_however_framed_and_read(
        payload in proptest::collection::vec(any::<u8>(), 0..3000),
        frame_cuts in proptest::collection::vec(0usize..3000, 0..6),
        read_cuts in proptest::collection::vec(0usize..4000, 0..10),
        masks in proptest::collection::vec(any::<[u8; 4]>(), 7),
    ) {
        let mut cuts: Vec<usize> = frame_cuts.into_iter().filter(|&cut| cut <= payload.len()).collect();
        cuts.push(0);
        cuts.push(payload.len());
        cuts.sort_unstable();
        let pieces: Vec<&[u8]> = cuts.windows(2).map(|pair| &payload[pair[0]..pair[1]]).collect();
        let mut wire = Vec::new();
        for (index, piece) in pieces.iter().enumerate() {
            let opcode = if index == 0 { 0x2 } else { 0x0 };
            let fin = if index == pieces.len() - 1 { 0x80 } else { 0 };
            wire.extend(client_frame(fin | opcode, piece, masks[index % masks.len()]));
        }
        let mut ws = Ws::new(Tcp, Arc::from(PATH), 4096);
        ws.receive(&request("GET", PATH, "13", "mqtt"), &mut BytesMut::new()).unwrap();
        let mut plaintext = BytesMut::new();
        let mut read_cuts: Vec<usize> = read_cuts.into_iter().filter(|&cut| cut <= wire.len()).collect();
        read_cuts.push(0);
        read_cuts.push(wire.len());
        read_cuts.sort_unstable();
        for pair in read_cuts.windows(2).filter(|pair| pair[0] < pair[1]) {
            ws.receive(&wire[pair[0]..pair[1]], &mut plaintext).unwrap();
        }
        prop_assert_eq!(&plaintext[..], &payload[..]);
        prop_assert!(ws.can_park() || ws.wants_write());
    }
}

#[test]
fn over_an_inner_layer_frames_ride_inside_its_records_and_its_farewell_goes_last() {
    use crate::transport::tests::{fake_frame, Fake, BYE, HELLO, MASK, WELCOME};
    let mut ws = Ws::new(Fake::default(), Arc::from(PATH), PAYLOAD_MAX);
    let mut plaintext = BytesMut::new();
    let mut wire = HELLO.to_vec();
    wire.extend(fake_frame(&request("GET", PATH, "13", "mqtt")));
    wire.extend(fake_frame(&client_frame(0x82, &[0xC0, 0x00], [1, 2, 3, 4])));
    ws.receive(&wire, &mut plaintext).unwrap();
    assert_eq!(&plaintext[..], &[0xC0, 0x00]);
    let (out, batches) = write_out(&mut ws, Some(&[0xD0, 0x00]), 5);
    assert_eq!(batches, 1);
    let rest = out
        .strip_prefix(WELCOME)
        .expect("the inner handshake first");
    let (length, record) = rest.split_first().unwrap();
    assert_eq!(usize::from(*length), record.len(), "one inner record");
    let inner: Vec<u8> = record.iter().map(|byte| byte ^ MASK).collect();
    assert!(inner.starts_with(b"HTTP/1.1 101 "));
    assert!(inner.ends_with(&[0x82, 0x02, 0xD0, 0x00]));
    ws.close();
    let (out, _) = write_out(&mut ws, None, 1);
    assert_eq!(out, [fake_frame(&close_frame(1000)), BYE.to_vec()].concat());
    assert!(!ws.wants_write());
}
