//! The client side of MQTT over WebSocket (RFC 6455, MQTT 5.0 section 6),
//! sans-I/O: the HTTP/1.1 upgrade, masked binary frames out, frames in.
//!
//! Hand-written rather than taken from a WebSocket crate: this is only the
//! client half a benchmark needs, and it sits on loadgen's hot path, where it
//! frames a whole write batch at once into the connection's own buffer and
//! streams received payloads straight into the MQTT read buffer (a crate's
//! message-at-a-time API would copy and allocate per message). What it does
//! not do: extensions (none is offered, so none may be used), text frames
//! (MQTT forbids them, [MQTT-6.0.0-1]), sending fragmented messages.

use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;

use crate::limits::{WEBSOCKET_UPGRADE_HEADERS_MAX, WEBSOCKET_UPGRADE_MAX};
use crate::read_buffer::ReadBuffer;

/// The GUID RFC 6455 appends to the key before hashing it (section 1.3).
const ACCEPT_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The largest payload of a control frame (RFC 6455 section 5.5).
const CONTROL_PAYLOAD_MAX: u64 = 125;

/// Frame opcodes (RFC 6455 section 5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opcode {
    /// A further fragment of a message.
    Continuation = 0x0,
    /// UTF-8 text; never carries MQTT.
    Text = 0x1,
    /// Binary data: MQTT packets.
    Binary = 0x2,
    /// The closing handshake.
    Close = 0x8,
    /// Asks for a pong.
    Ping = 0x9,
    /// Answers a ping.
    Pong = 0xA,
}

impl Opcode {
    fn from_u8(value: u8) -> Option<Opcode> {
        Some(match value {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            _ => return None,
        })
    }

    fn is_control(self) -> bool {
        (self as u8) & 0x8 != 0
    }
}

/// What the peer did wrong, in the handshake or in a frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WebSocketError {
    /// The upgrade answer was not `101 Switching Protocols`.
    UpgradeRefused(u16),
    /// The upgrade answer is not valid HTTP/1.1 or too long.
    UpgradeMalformed(String),
    /// The upgrade answer lacks `Upgrade: websocket` or `Connection: Upgrade`.
    UpgradeHeaderMissing(&'static str),
    /// `Sec-WebSocket-Accept` is not the digest of the key sent.
    AcceptMismatch,
    /// The server chose a subprotocol other than `mqtt`.
    SubprotocolMismatch(String),
    /// RSV1-3 set without an extension negotiated (RFC 6455 section 5.2).
    ReservedBitsSet,
    /// A frame from the server was masked (RFC 6455 section 5.1).
    MaskedByServer,
    /// An opcode RFC 6455 does not define.
    UnknownOpcode(u8),
    /// A text frame: MQTT travels in binary frames only [MQTT-6.0.0-1].
    TextFrame,
    /// A continuation with no message begun, or a new message before the
    /// last one ended (RFC 6455 section 5.4).
    FragmentationBroken,
    /// A control frame fragmented or above 125 bytes (RFC 6455 section 5.5).
    ControlFrameInvalid,
    /// A 64-bit payload length with its most significant bit set.
    LengthInvalid,
}

impl fmt::Display for WebSocketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WebSocketError::UpgradeRefused(status) => {
                write!(
                    f,
                    "WebSocket upgrade refused: HTTP {status} (is --ws-path right?)"
                )
            }
            WebSocketError::UpgradeMalformed(why) => {
                write!(f, "WebSocket upgrade answer malformed: {why}")
            }
            WebSocketError::UpgradeHeaderMissing(header) => {
                write!(f, "WebSocket upgrade answer lacks {header}")
            }
            WebSocketError::AcceptMismatch => {
                write!(f, "Sec-WebSocket-Accept does not match the key sent")
            }
            WebSocketError::SubprotocolMismatch(chosen) => {
                write!(f, "the server chose subprotocol {chosen:?}, not mqtt")
            }
            WebSocketError::ReservedBitsSet => write!(f, "frame with RSV bits set"),
            WebSocketError::MaskedByServer => write!(f, "masked frame from the server"),
            WebSocketError::UnknownOpcode(opcode) => write!(f, "unknown opcode {opcode:#x}"),
            WebSocketError::TextFrame => {
                write!(
                    f,
                    "text frame: MQTT is carried in binary frames only [MQTT-6.0.0-1]"
                )
            }
            WebSocketError::FragmentationBroken => write!(f, "fragments out of order"),
            WebSocketError::ControlFrameInvalid => {
                write!(f, "control frame fragmented or above 125 bytes")
            }
            WebSocketError::LengthInvalid => write!(f, "payload length above 2^63"),
        }
    }
}

impl std::error::Error for WebSocketError {}

/// The upgrade request for `path` on `host`, and the `Sec-WebSocket-Accept`
/// the answer must carry.
pub fn upgrade_request(host: &str, path: &str, key: &[u8; 16]) -> (Vec<u8>, String) {
    let key = BASE64.encode(key);
    let request = format!(
        "GET {path} HTTP/1.1\r\n\
         Host: {host}\r\n\
         Upgrade: websocket\r\n\
         Connection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\n\
         Sec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: mqtt\r\n\
         \r\n"
    );
    (request.into_bytes(), accept_for(&key))
}

/// `Sec-WebSocket-Accept` for `key` (RFC 6455 section 4.2.2).
pub fn accept_for(key: &str) -> String {
    let digest = ring::digest::digest(
        &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        format!("{key}{ACCEPT_GUID}").as_bytes(),
    );
    BASE64.encode(digest.as_ref())
}

/// Reads the upgrade answer from the front of `received`: `Ok(None)` while
/// it is incomplete, else the length of its head (frames may follow it).
pub fn read_upgrade_answer(
    received: &[u8],
    expected_accept: &str,
) -> Result<Option<usize>, WebSocketError> {
    let mut headers = [httparse::EMPTY_HEADER; WEBSOCKET_UPGRADE_HEADERS_MAX];
    let mut answer = httparse::Response::new(&mut headers);
    let head_len = match answer.parse(received) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if received.len() < WEBSOCKET_UPGRADE_MAX => return Ok(None),
        Ok(httparse::Status::Partial) => {
            return Err(WebSocketError::UpgradeMalformed(format!(
                "no end of headers in {WEBSOCKET_UPGRADE_MAX} bytes"
            )))
        }
        Err(error) => return Err(WebSocketError::UpgradeMalformed(error.to_string())),
    };
    let status = answer.code.unwrap_or(0);
    if status != 101 {
        return Err(WebSocketError::UpgradeRefused(status));
    }
    let header = |name: &str| {
        answer
            .headers
            .iter()
            .find(|header| header.name.eq_ignore_ascii_case(name))
            .map(|header| String::from_utf8_lossy(header.value).trim().to_string())
    };
    if !header("Upgrade").is_some_and(|value| value.eq_ignore_ascii_case("websocket")) {
        return Err(WebSocketError::UpgradeHeaderMissing("Upgrade: websocket"));
    }
    let connection_upgrades = header("Connection").is_some_and(|value| {
        value
            .split(',')
            .any(|token| token.trim().eq_ignore_ascii_case("upgrade"))
    });
    if !connection_upgrades {
        return Err(WebSocketError::UpgradeHeaderMissing("Connection: Upgrade"));
    }
    if header("Sec-WebSocket-Accept").as_deref() != Some(expected_accept) {
        return Err(WebSocketError::AcceptMismatch);
    }
    // RFC 6455 lets a server leave the subprotocol out; choosing another is wrong.
    if let Some(chosen) = header("Sec-WebSocket-Protocol") {
        if chosen != "mqtt" {
            return Err(WebSocketError::SubprotocolMismatch(chosen));
        }
    }
    Ok(Some(head_len))
}

/// Appends one final frame of `opcode` carrying `payload`, masked with
/// `mask`, to `out`.
pub fn encode_frame(opcode: Opcode, payload: &[u8], mask: [u8; 4], out: &mut Vec<u8>) {
    const FIN: u8 = 0x80;
    const MASKED: u8 = 0x80;
    out.push(FIN | opcode as u8);
    match payload.len() {
        len @ 0..=125 => out.push(MASKED | len as u8),
        len @ 126..=0xFFFF => {
            out.push(MASKED | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            out.push(MASKED | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], mask);
}

/// XORs `bytes` with `mask` repeated (RFC 6455 section 5.3), eight bytes at
/// a time: a mask of four bytes lines up with every eight-byte word.
pub fn apply_mask(bytes: &mut [u8], mask: [u8; 4]) {
    let [m0, m1, m2, m3] = mask;
    let word = u64::from_ne_bytes([m0, m1, m2, m3, m0, m1, m2, m3]);
    let mut words = bytes.chunks_exact_mut(8);
    for chunk in &mut words {
        let masked = u64::from_ne_bytes(chunk.try_into().expect("chunks of 8")) ^ word;
        chunk.copy_from_slice(&masked.to_ne_bytes());
    }
    for (byte, mask_byte) in words.into_remainder().iter_mut().zip(mask.iter().cycle()) {
        *byte ^= mask_byte;
    }
}

/// A random mask for one frame.
pub fn random_mask() -> [u8; 4] {
    fastrand::u32(..).to_ne_bytes()
}

/// The frame being read.
#[derive(Clone, Copy, Debug)]
struct FrameInProgress {
    opcode: Opcode,
    fin: bool,
    remaining: u64,
}

/// Reads server frames as they arrive, in pieces of any size: data frames'
/// payloads go straight to the MQTT read buffer (so a packet may span frames
/// and a frame hold many packets), control frames are answered.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    /// The header read so far (2 to 10 bytes: server frames carry no mask).
    header: [u8; 10],
    header_len: usize,
    frame: Option<FrameInProgress>,
    /// A control frame's payload read so far, at most 125 bytes.
    control: Vec<u8>,
    /// A fragmented binary message has begun and not ended.
    in_message: bool,
    closed: bool,
}

impl FrameDecoder {
    /// Whether the server sent a Close frame; bytes after it are ignored.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Reads `input`: payload bytes to `data`, answers to pings and to a
    /// close (masked frames) to `replies`.
    pub fn receive(
        &mut self,
        mut input: &[u8],
        data: &mut ReadBuffer,
        replies: &mut Vec<u8>,
    ) -> Result<(), WebSocketError> {
        while !input.is_empty() && !self.closed {
            match self.frame {
                None => input = self.read_header(input)?,
                Some(mut frame) => {
                    let take = usize::try_from(frame.remaining)
                        .map_or(input.len(), |remaining| remaining.min(input.len()));
                    let (payload, rest) = input.split_at(take);
                    if frame.opcode.is_control() {
                        self.control.extend_from_slice(payload);
                    } else {
                        data.put(payload);
                    }
                    frame.remaining -= take as u64;
                    self.frame = Some(frame);
                    input = rest;
                }
            }
            // A frame ends with its last payload byte, or with its header
            // when it has no payload.
            if let Some(frame) = self.frame.filter(|frame| frame.remaining == 0) {
                self.end_frame(frame, replies);
            }
        }
        Ok(())
    }

    /// Reads header bytes from `input`, starts the frame once the header is
    /// whole, and returns the rest of `input`.
    fn read_header<'a>(&mut self, input: &'a [u8]) -> Result<&'a [u8], WebSocketError> {
        let wanted = match self.header_len {
            0 | 1 => 2,
            _ => match self.header[1] & 0x7F {
                126 => 4,
                127 => 10,
                _ => 2,
            },
        };
        let take = (wanted - self.header_len).min(input.len());
        self.header[self.header_len..self.header_len + take].copy_from_slice(&input[..take]);
        self.header_len += take;
        let rest = &input[take..];
        if self.header_len < wanted {
            return Ok(rest);
        }
        if wanted == 2 {
            self.check_first_bytes()?;
            if self.header[1] & 0x7F >= 126 {
                return Ok(rest);
            }
        }
        let remaining = match wanted {
            2 => u64::from(self.header[1] & 0x7F),
            4 => u64::from(u16::from_be_bytes([self.header[2], self.header[3]])),
            _ => {
                let length = u64::from_be_bytes(self.header[2..10].try_into().expect("8 bytes"));
                if length >> 63 != 0 {
                    return Err(WebSocketError::LengthInvalid);
                }
                length
            }
        };
        let frame = FrameInProgress {
            opcode: Opcode::from_u8(self.header[0] & 0x0F).expect("checked"),
            fin: self.header[0] & 0x80 != 0,
            remaining,
        };
        if frame.opcode.is_control() && remaining > CONTROL_PAYLOAD_MAX {
            return Err(WebSocketError::ControlFrameInvalid);
        }
        self.header_len = 0;
        self.frame = Some(frame);
        Ok(rest)
    }

    /// Checks the first two header bytes: flags, opcode, mask bit.
    fn check_first_bytes(&mut self) -> Result<(), WebSocketError> {
        let [first, second, ..] = self.header;
        if first & 0x70 != 0 {
            return Err(WebSocketError::ReservedBitsSet);
        }
        if second & 0x80 != 0 {
            return Err(WebSocketError::MaskedByServer);
        }
        let opcode_bits = first & 0x0F;
        let opcode =
            Opcode::from_u8(opcode_bits).ok_or(WebSocketError::UnknownOpcode(opcode_bits))?;
        let fin = first & 0x80 != 0;
        match opcode {
            Opcode::Text => return Err(WebSocketError::TextFrame),
            Opcode::Continuation if !self.in_message => {
                return Err(WebSocketError::FragmentationBroken)
            }
            Opcode::Binary if self.in_message => return Err(WebSocketError::FragmentationBroken),
            Opcode::Close | Opcode::Ping | Opcode::Pong if !fin => {
                return Err(WebSocketError::ControlFrameInvalid)
            }
            _ => {}
        }
        Ok(())
    }

    /// Ends `frame`: a message ends or goes on, a control frame is acted on.
    fn end_frame(&mut self, frame: FrameInProgress, replies: &mut Vec<u8>) {
        self.frame = None;
        match frame.opcode {
            Opcode::Binary | Opcode::Continuation => self.in_message = !frame.fin,
            Opcode::Ping => encode_frame(Opcode::Pong, &self.control, random_mask(), replies),
            Opcode::Close => {
                // Echo the status code, as RFC 6455 section 5.5.1 asks.
                let code = self.control.get(..2).unwrap_or(&[]);
                encode_frame(Opcode::Close, code, random_mask(), replies);
                self.closed = true;
            }
            Opcode::Pong | Opcode::Text => {}
        }
        self.control.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Decodes `input` fed in pieces of `piece` bytes.
    fn decode_in_pieces(
        input: &[u8],
        piece: usize,
    ) -> (Result<(), WebSocketError>, Vec<u8>, Vec<u8>, bool) {
        let mut decoder = FrameDecoder::default();
        let mut data = ReadBuffer::default();
        let mut replies = Vec::new();
        let mut result = Ok(());
        for chunk in input.chunks(piece.max(1)) {
            result = decoder.receive(chunk, &mut data, &mut replies);
            if result.is_err() {
                break;
            }
        }
        (result, data.unread().to_vec(), replies, decoder.is_closed())
    }

    /// Reads one masked client frame as a server would: (first byte, payload).
    fn read_client_frame(frame: &[u8]) -> (u8, Vec<u8>, usize) {
        assert_eq!(frame[1] & 0x80, 0x80, "client frames are masked");
        let (len, at) = match frame[1] & 0x7F {
            126 => (usize::from(u16::from_be_bytes([frame[2], frame[3]])), 4),
            127 => (
                u64::from_be_bytes(frame[2..10].try_into().unwrap()) as usize,
                10,
            ),
            len => (usize::from(len), 2),
        };
        let mask: [u8; 4] = frame[at..at + 4].try_into().unwrap();
        let mut payload = frame[at + 4..at + 4 + len].to_vec();
        for (i, byte) in payload.iter_mut().enumerate() {
            *byte ^= mask[i % 4];
        }
        (frame[0], payload, at + 4 + len)
    }

    #[test]
    fn the_rfc_6455_masked_hello_is_encoded_byte_for_byte() {
        // RFC 6455 section 5.7: a single-frame masked text message "Hello".
        let mut out = Vec::new();
        encode_frame(Opcode::Text, b"Hello", [0x37, 0xfa, 0x21, 0x3d], &mut out);
        assert_eq!(
            out,
            [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        );
    }

    #[test]
    fn lengths_take_the_7_16_and_64_bit_forms_at_their_bounds() {
        for (len, header) in [
            (125usize, vec![0x82, 0x80 | 125]),
            (126, vec![0x82, 0x80 | 126, 0x00, 0x7E]),
            (65535, vec![0x82, 0x80 | 126, 0xFF, 0xFF]),
            (65536, vec![0x82, 0x80 | 127, 0, 0, 0, 0, 0, 1, 0, 0]),
        ] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut out = Vec::new();
            encode_frame(Opcode::Binary, &payload, [1, 2, 3, 4], &mut out);
            assert_eq!(out[..header.len()], header[..], "{len}");
            let (first, read, frame_len) = read_client_frame(&out);
            assert_eq!(first, 0x82);
            assert_eq!(read, payload, "{len}");
            assert_eq!(frame_len, out.len());
        }
    }

    #[test]
    fn word_wise_masking_matches_the_rfc_byte_by_byte_definition() {
        let mask = [0xA1, 0x02, 0xF3, 0x44];
        for len in 0..40 {
            let original: Vec<u8> = (0..len).map(|i| (i * 31 + 7) as u8).collect();
            let mut masked = original.clone();
            apply_mask(&mut masked, mask);
            let expected: Vec<u8> = original
                .iter()
                .enumerate()
                .map(|(i, byte)| byte ^ mask[i % 4])
                .collect();
            assert_eq!(masked, expected, "{len}");
        }
    }

    #[test]
    fn the_rfc_6455_unmasked_frames_decode_in_any_split() {
        // RFC 6455 section 5.7: "Hel" + "lo" as two fragments (here binary,
        // MQTT's kind), then a 256-byte binary frame with the 16-bit length.
        let mut wire = vec![0x02, 0x03, b'H', b'e', b'l', 0x80, 0x02, b'l', b'o'];
        wire.extend_from_slice(&[0x82, 0x7E, 0x01, 0x00]);
        wire.extend((0..256).map(|i| i as u8));
        let mut expected = b"Hello".to_vec();
        expected.extend((0..256).map(|i| i as u8));
        for piece in 1..=wire.len() {
            let (result, data, replies, closed) = decode_in_pieces(&wire, piece);
            assert_eq!(result, Ok(()));
            assert_eq!(data, expected, "pieces of {piece}");
            assert!(replies.is_empty() && !closed);
        }
    }

    #[test]
    fn a_ping_between_fragments_is_answered_with_a_masked_pong_of_its_payload() {
        // RFC 6455 section 5.7's unmasked ping "Hello", inside a fragmented message.
        let wire = [
            &[0x02, 0x01, b'A'][..],
            &[0x89, 0x05, b'H', b'e', b'l', b'l', b'o'],
            &[0x8A, 0x00],
            &[0x80, 0x01, b'B'],
        ]
        .concat();
        for piece in 1..=wire.len() {
            let (result, data, replies, _) = decode_in_pieces(&wire, piece);
            assert_eq!(result, Ok(()));
            assert_eq!(data, b"AB");
            let (first, payload, len) = read_client_frame(&replies);
            assert_eq!((first, payload.as_slice()), (0x8A, &b"Hello"[..]));
            assert_eq!(len, replies.len(), "one pong, none for the pong received");
        }
    }

    #[test]
    fn a_close_is_echoed_with_its_status_code_and_ends_the_stream() {
        let wire = [0x82, 0x01, b'x', 0x88, 0x02, 0x03, 0xE9, 0x82, 0x01, b'y'];
        let (result, data, replies, closed) = decode_in_pieces(&wire, 1);
        assert_eq!(result, Ok(()));
        assert_eq!(data, b"x", "nothing is read after the close");
        assert!(closed);
        let (first, payload, _) = read_client_frame(&replies);
        assert_eq!((first, payload.as_slice()), (0x88, &[0x03, 0xE9][..]));
    }

    #[test]
    fn frames_a_server_may_not_send_are_refused() {
        let cases: [(&[u8], WebSocketError); 8] = [
            (&[0x81, 0x01, b'x'], WebSocketError::TextFrame),
            (&[0xC2, 0x01, b'x'], WebSocketError::ReservedBitsSet),
            (
                &[0x82, 0x81, 1, 2, 3, 4, b'x'],
                WebSocketError::MaskedByServer,
            ),
            (&[0x83, 0x00], WebSocketError::UnknownOpcode(3)),
            (&[0x80, 0x01, b'x'], WebSocketError::FragmentationBroken),
            (
                &[0x02, 0x00, 0x82, 0x00],
                WebSocketError::FragmentationBroken,
            ),
            (&[0x09, 0x00], WebSocketError::ControlFrameInvalid),
            (
                &[0x89, 0x7E, 0x00, 0x7E],
                WebSocketError::ControlFrameInvalid,
            ),
        ];
        for (wire, error) in cases {
            assert_eq!(
                decode_in_pieces(wire, wire.len()).0,
                Err(error),
                "{wire:x?}"
            );
        }
        let huge = [0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            decode_in_pieces(&huge, 3).0,
            Err(WebSocketError::LengthInvalid)
        );
    }

    #[test]
    fn the_rfc_6455_example_key_gets_its_accept() {
        // RFC 6455 section 1.3.
        assert_eq!(
            accept_for("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn an_upgrade_answer_is_checked_and_what_follows_it_left() {
        let (request, accept) = upgrade_request("broker:8080", "/mqtt", &[7; 16]);
        let request = String::from_utf8(request).unwrap();
        assert!(request.starts_with("GET /mqtt HTTP/1.1\r\nHost: broker:8080\r\n"));
        assert!(request.contains("\r\nSec-WebSocket-Protocol: mqtt\r\n"));
        assert!(request.ends_with("\r\n\r\n"));
        let answer = |status: &str, accept: &str, protocol: &str| {
            format!(
                "HTTP/1.1 {status}\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n\
                 Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Protocol: {protocol}\r\n\r\n"
            )
            .into_bytes()
        };
        let good = answer("101 Switching Protocols", &accept, "mqtt");
        let mut with_frame = good.clone();
        with_frame.extend_from_slice(&[0x82, 0x00]);
        assert_eq!(
            read_upgrade_answer(&with_frame, &accept),
            Ok(Some(good.len()))
        );
        assert_eq!(
            read_upgrade_answer(&good[..good.len() - 1], &accept),
            Ok(None)
        );
        assert_eq!(
            read_upgrade_answer(&answer("404 Not Found", &accept, "mqtt"), &accept),
            Err(WebSocketError::UpgradeRefused(404))
        );
        assert_eq!(
            read_upgrade_answer(&answer("101 OK", "bm90IGl0", "mqtt"), &accept),
            Err(WebSocketError::AcceptMismatch)
        );
        assert_eq!(
            read_upgrade_answer(&answer("101 OK", &accept, "mqttv3.1"), &accept),
            Err(WebSocketError::SubprotocolMismatch("mqttv3.1".into()))
        );
        let endless = [
            b"HTTP/1.1 101 OK\r\n".as_slice(),
            &[b'X'; WEBSOCKET_UPGRADE_MAX],
        ]
        .concat();
        assert!(read_upgrade_answer(&endless, &accept).is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_the_decoder(
            wire in proptest::collection::vec(any::<u8>(), 0..512),
            piece in 1usize..64,
        ) {
            let _ = decode_in_pieces(&wire, piece);
        }

        #[test]
        fn arbitrary_bytes_never_panic_the_upgrade_reader(
            wire in proptest::collection::vec(any::<u8>(), 0..512),
        ) {
            let _ = read_upgrade_answer(&wire, "x");
        }

        #[test]
        fn payloads_split_into_frames_arrive_whole_and_in_order(
            payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..8),
            piece in 1usize..100,
        ) {
            // Each payload as one unmasked server frame, as a broker sends them.
            let mut wire = Vec::new();
            for payload in &payloads {
                wire.push(0x82);
                if payload.len() < 126 {
                    wire.push(payload.len() as u8);
                } else {
                    wire.push(126);
                    wire.extend_from_slice(&(payload.len() as u16).to_be_bytes());
                }
                wire.extend_from_slice(payload);
            }
            let (result, data, _, _) = decode_in_pieces(&wire, piece);
            prop_assert_eq!(result, Ok(()));
            prop_assert_eq!(data, payloads.concat());
        }
    }
}
