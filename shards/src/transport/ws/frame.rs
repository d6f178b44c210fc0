//! WebSocket framing (RFC 6455 §5) for the server side: reading a client's
//! masked frames in place, and the few frames a server writes.
//!
//! Hand-written rather than taken from a WebSocket crate: those own a stream
//! and hand out one allocated message per frame, where this layer unmasks
//! each data frame's payload straight into the connection's plaintext
//! buffer, in place over the wire bytes it arrived in, as soon as any of it
//! arrives. The reader holds no heap memory: a partial frame header and a
//! control frame's payload (at most 125 bytes) wait in fixed arrays.

use std::fmt;

/// The longest frame header: 2 bytes, 8 of extended length, 4 of mask key.
const HEADER_MAX: usize = 14;

/// The longest control frame payload (§5.5).
pub const CONTROL_PAYLOAD_MAX: usize = 125;

const OPCODE_CONTINUATION: u8 = 0x0;
const OPCODE_TEXT: u8 = 0x1;
const OPCODE_BINARY: u8 = 0x2;
const OPCODE_CLOSE: u8 = 0x8;
const OPCODE_PING: u8 = 0x9;
const OPCODE_PONG: u8 = 0xA;

/// Close status codes (§7.4.1) this layer sends.
pub mod status {
    /// Normal closure: the broker ends the connection.
    pub const NORMAL: u16 = 1000;
    /// The client broke the framing rules.
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// The client sent a text frame: MQTT rides in binary frames.
    pub const UNSUPPORTED_DATA: u16 = 1003;
    /// A close frame's reason is not UTF-8.
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// A data frame is longer than the broker takes.
    pub const TOO_BIG: u16 = 1009;
}

/// Why reading frames stops: the connection ends, after a close frame with
/// `code` (none for a client's close frame that carried none, which is
/// echoed as it came).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stop {
    /// The status code of the close frame to answer with.
    pub code: Option<u16>,
    /// What happened, for the log.
    pub reason: &'static str,
    /// The client sent a close frame, rather than breaking a rule.
    pub by_client: bool,
}

impl Stop {
    fn protocol_error(reason: &'static str) -> Stop {
        Stop {
            code: Some(status::PROTOCOL_ERROR),
            reason,
            by_client: false,
        }
    }
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code {
            Some(code) => write!(f, "{} (close {code})", self.reason),
            None => f.write_str(self.reason),
        }
    }
}

impl std::error::Error for Stop {}

/// The frame whose payload is being read.
#[derive(Debug, Clone, Copy)]
struct Frame {
    opcode: u8,
    fin: bool,
    mask: [u8; 4],
    /// Payload bytes read so far, which also says where in the mask key the
    /// next byte is.
    read: u64,
    length: u64,
}

/// What one [`FrameReader::read`] did.
#[derive(Debug)]
pub struct Read {
    /// Where the unmasked payload ends.
    pub end: usize,
    /// Why reading stopped before the end of the bytes, if it did.
    pub stop: Option<Stop>,
}

/// A control frame's payload: a ping's to echo, a close frame's to check.
#[derive(Debug, Clone, Copy)]
pub struct ControlPayload {
    bytes: [u8; CONTROL_PAYLOAD_MAX],
    len: u8,
}

impl ControlPayload {
    const EMPTY: ControlPayload = ControlPayload {
        bytes: [0; CONTROL_PAYLOAD_MAX],
        len: 0,
    };

    /// The payload bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// Reads a client's frames, a state machine over whatever bytes each read
/// brings.
#[derive(Debug, Clone)]
pub struct FrameReader {
    /// The largest data frame payload taken, bytes.
    payload_max: u64,
    /// The bytes of a header that is not complete yet.
    header: [u8; HEADER_MAX],
    header_len: usize,
    /// The frame whose payload comes next, once its header is read.
    frame: Option<Frame>,
    /// A binary message was begun and awaits its continuation frames.
    in_message: bool,
    /// The payload of the control frame being read.
    control: ControlPayload,
    /// The most recent ping not answered yet (§5.5.3 lets a pong answer
    /// only the most recent of several).
    ping: Option<ControlPayload>,
}

impl FrameReader {
    /// A reader taking data frames of at most `payload_max` bytes.
    pub fn new(payload_max: usize) -> FrameReader {
        FrameReader {
            payload_max: u64::try_from(payload_max).unwrap_or(u64::MAX),
            header: [0; HEADER_MAX],
            header_len: 0,
            frame: None,
            in_message: false,
            control: ControlPayload::EMPTY,
            ping: None,
        }
    }

    /// True when no frame is partly read.
    pub fn is_between_frames(&self) -> bool {
        self.header_len == 0 && self.frame.is_none()
    }

    /// Bytes of a partial header held.
    #[cfg(test)]
    pub fn held(&self) -> usize {
        self.header_len
    }

    /// The payload of the most recent ping not answered yet.
    pub fn unanswered_ping(&self) -> Option<&ControlPayload> {
        self.ping.as_ref()
    }

    /// The ping is answered.
    pub fn take_ping(&mut self) -> Option<ControlPayload> {
        self.ping.take()
    }

    /// Reads the frames in `buffer[from..]`, moving the unmasked payload of
    /// data frames down to `buffer[to..]`, and says where that payload ends:
    /// the caller truncates `buffer` there. `to <= from`; the bytes in
    /// between and the frames' headers are overwritten. Reading ends early
    /// at a [`Stop`]: the payload before it is kept, and the reader must not
    /// be given more bytes.
    pub fn read(&mut self, buffer: &mut [u8], from: usize, to: usize) -> Read {
        assert!(to <= from && from <= buffer.len());
        let mut write_at = to;
        let stop = self.read_frames(buffer, from, &mut write_at).err();
        Read {
            end: write_at,
            stop,
        }
    }

    fn read_frames(
        &mut self,
        buffer: &mut [u8],
        from: usize,
        write_at: &mut usize,
    ) -> Result<(), Stop> {
        let mut read_at = from;
        while read_at < buffer.len() {
            let Some(mut frame) = self.frame else {
                read_at += self.read_header(&buffer[read_at..])?;
                if self.frame.is_some_and(|frame| frame.length == 0) {
                    self.frame_done()?;
                }
                continue;
            };
            let left = frame.length - frame.read;
            let count = usize::try_from(left)
                .unwrap_or(usize::MAX)
                .min(buffer.len() - read_at);
            let phase = usize::try_from(frame.read % 4).expect("below 4");
            if is_control(frame.opcode) {
                let at = usize::try_from(frame.read).expect("a control payload is short");
                let control = &mut self.control.bytes[at..at + count];
                control.copy_from_slice(&buffer[read_at..read_at + count]);
                unmask(control, frame.mask, phase);
            } else {
                unmask_move(buffer, read_at, *write_at, count, frame.mask, phase);
                *write_at += count;
            }
            read_at += count;
            frame.read += u64::try_from(count).expect("a count fits 64 bits");
            self.frame = Some(frame);
            if frame.read == frame.length {
                self.frame_done()?;
            }
        }
        Ok(())
    }

    /// Takes header bytes from `bytes` (not empty); once the header is
    /// complete, checks it and starts its frame. Returns the bytes taken.
    fn read_header(&mut self, bytes: &[u8]) -> Result<usize, Stop> {
        // The first two bytes say how long the header is; take those first.
        let wanted = if self.header_len < 2 {
            2
        } else {
            header_len(self.header[1])
        };
        let count = (wanted - self.header_len).min(bytes.len());
        self.header[self.header_len..self.header_len + count].copy_from_slice(&bytes[..count]);
        self.header_len += count;
        if self.header_len == 2 {
            check_first_bytes(self.header[0], self.header[1], self.in_message)?;
        }
        if self.header_len < 2 || self.header_len < header_len(self.header[1]) {
            return Ok(count);
        }
        let frame = parse_header(&self.header[..self.header_len]);
        self.header_len = 0;
        if frame.length >> 63 != 0 {
            return Err(Stop::protocol_error(
                "frame length with its most significant bit set",
            ));
        }
        if !is_control(frame.opcode) && frame.length > self.payload_max {
            return Err(Stop {
                code: Some(status::TOO_BIG),
                reason: "data frame longer than the broker takes",
                by_client: false,
            });
        }
        self.frame = Some(frame);
        Ok(count)
    }

    /// The current frame's payload is read.
    fn frame_done(&mut self) -> Result<(), Stop> {
        let frame = self.frame.take().expect("a frame is being read");
        match frame.opcode {
            OPCODE_PING => {
                let mut ping = self.control;
                ping.len = u8::try_from(frame.length).expect("a control payload is short");
                self.ping = Some(ping);
                Ok(())
            }
            OPCODE_PONG => Ok(()),
            OPCODE_CLOSE => {
                let length = usize::try_from(frame.length).expect("a control payload is short");
                Err(close_received(&self.control.bytes[..length]))
            }
            _ => {
                self.in_message = !frame.fin;
                Ok(())
            }
        }
    }
}

/// The header length the second header byte announces.
fn header_len(second: u8) -> usize {
    let extended = match second & 0x7F {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let mask = if second & 0x80 != 0 { 4 } else { 0 };
    2 + extended + mask
}

fn is_control(opcode: u8) -> bool {
    opcode & 0x8 != 0
}

/// Checks what the first two header bytes settle, before the rest of the
/// header arrives.
fn check_first_bytes(first: u8, second: u8, in_message: bool) -> Result<(), Stop> {
    let fin = first & 0x80 != 0;
    let opcode = first & 0x0F;
    if first & 0x70 != 0 {
        return Err(Stop::protocol_error("reserved bits set"));
    }
    if second & 0x80 == 0 {
        return Err(Stop::protocol_error("unmasked client frame"));
    }
    match opcode {
        OPCODE_BINARY if in_message => Err(Stop::protocol_error(
            "new data frame inside a fragmented message",
        )),
        OPCODE_CONTINUATION if !in_message => Err(Stop::protocol_error(
            "continuation frame outside a fragmented message",
        )),
        OPCODE_CONTINUATION | OPCODE_BINARY => Ok(()),
        OPCODE_TEXT => Err(Stop {
            code: Some(status::UNSUPPORTED_DATA),
            reason: "text frame (MQTT rides in binary frames)",
            by_client: false,
        }),
        OPCODE_CLOSE | OPCODE_PING | OPCODE_PONG
            if !fin || usize::from(second & 0x7F) > CONTROL_PAYLOAD_MAX =>
        {
            Err(Stop::protocol_error("fragmented or long control frame"))
        }
        OPCODE_CLOSE | OPCODE_PING | OPCODE_PONG => Ok(()),
        _ => Err(Stop::protocol_error("unknown opcode")),
    }
}

/// The frame a complete, checked, masked header starts.
fn parse_header(header: &[u8]) -> Frame {
    let (length, rest) = match header[1] & 0x7F {
        126 => (
            u64::from(u16::from_be_bytes([header[2], header[3]])),
            &header[4..],
        ),
        127 => (
            u64::from_be_bytes(header[2..10].try_into().expect("8 length bytes")),
            &header[10..],
        ),
        short => (u64::from(short), &header[2..]),
    };
    Frame {
        opcode: header[0] & 0x0F,
        fin: header[0] & 0x80 != 0,
        mask: rest.try_into().expect("4 mask bytes"),
        read: 0,
        length,
    }
}

/// What a client's close frame with `payload` asks to answer (§5.5.1,
/// §7.4): its status code echoed, or a protocol error.
fn close_received(payload: &[u8]) -> Stop {
    let Some((code, reason)) = payload.split_first_chunk::<2>() else {
        if payload.is_empty() {
            return Stop {
                code: None,
                reason: "closed by the client",
                by_client: true,
            };
        }
        return Stop::protocol_error("close frame of one byte");
    };
    let code = u16::from_be_bytes(*code);
    // Codes a close frame may carry: the defined ones less those that only
    // name a state (1004-1006, 1015), and those for libraries and apps.
    if !matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999) {
        return Stop::protocol_error("close frame with an invalid status code");
    }
    if std::str::from_utf8(reason).is_err() {
        return Stop {
            code: Some(status::INVALID_PAYLOAD),
            reason: "close frame reason is not UTF-8",
            by_client: false,
        };
    }
    Stop {
        code: Some(code),
        reason: "closed by the client",
        by_client: true,
    }
}

/// The mask key rotated so its first byte masks a byte at `phase` in the
/// payload, repeated to 8 bytes.
fn mask_word(mask: [u8; 4], phase: usize) -> [u8; 8] {
    let mut word = [0; 8];
    for (index, byte) in word.iter_mut().enumerate() {
        *byte = mask[(phase + index) % 4];
    }
    word
}

/// Unmasks `payload`, whose first byte is at `phase` in its frame's payload.
fn unmask(payload: &mut [u8], mask: [u8; 4], phase: usize) {
    let key = mask_word(mask, phase);
    for (index, byte) in payload.iter_mut().enumerate() {
        *byte ^= key[index % 4];
    }
}

/// Unmasks the `count` payload bytes at `buffer[from..]` (the first at
/// `phase` in its frame's payload) into `buffer[to..]`, `to <= from`, eight
/// bytes at a time: each word is read before it is written, so the move is
/// safe however close `to` is to `from`.
fn unmask_move(
    buffer: &mut [u8],
    from: usize,
    to: usize,
    count: usize,
    mask: [u8; 4],
    phase: usize,
) {
    debug_assert!(to <= from && from + count <= buffer.len());
    let key = mask_word(mask, phase);
    let key_word = u64::from_ne_bytes(key);
    let words = count / 8;
    for index in 0..words {
        let at = index * 8;
        let word = u64::from_ne_bytes(
            buffer[from + at..from + at + 8]
                .try_into()
                .expect("8 bytes"),
        );
        buffer[to + at..to + at + 8].copy_from_slice(&(word ^ key_word).to_ne_bytes());
    }
    for at in words * 8..count {
        buffer[to + at] = buffer[from + at] ^ key[at % 4];
    }
}

/// A server frame header (final, unmasked) for a payload of `length` bytes:
/// the buffer and how many of its bytes the header takes. `opcode` is
/// binary, pong or close.
pub fn header(opcode: u8, length: usize) -> ([u8; 10], usize) {
    let mut header = [0; 10];
    header[0] = 0x80 | opcode;
    if length < 126 {
        header[1] = u8::try_from(length).expect("below 126");
        (header, 2)
    } else if let Ok(short) = u16::try_from(length) {
        header[1] = 126;
        header[2..4].copy_from_slice(&short.to_be_bytes());
        (header, 4)
    } else {
        header[1] = 127;
        let long = u64::try_from(length).expect("a length fits 64 bits");
        header[2..10].copy_from_slice(&long.to_be_bytes());
        (header, 10)
    }
}

/// The opcode of a binary data frame.
pub const BINARY: u8 = OPCODE_BINARY;
/// The opcode of a pong.
pub const PONG: u8 = OPCODE_PONG;
/// The opcode of a close frame.
pub const CLOSE: u8 = OPCODE_CLOSE;
