//! WebSocket (RFC 6455, server side) carrying MQTT in binary frames (MQTT
//! 5.0 §6), as a layer over an inner [`Transport`]: `Ws<Tcp>` for `ws`,
//! `Ws<Tls>` for `wss`. The inner layer receives and seals its own way; this
//! one works on the bytes it hands up and down.
//!
//! - **Handshake** (`handshake`): the client's upgrade request is read into
//!   a bounded buffer and answered with `101` and the chosen MQTT
//!   subprotocol, or refused with an HTTP error; the answer is written
//!   through [`Transport::wants_write`] before any frame.
//! - **In** (`frame`): the inner layer appends the bytes of a read to the
//!   connection's plaintext buffer, and the frames in them are read in
//!   place: each data frame's payload is unmasked down over the headers, so
//!   only MQTT bytes stay, with no buffer and no copy of this layer's own.
//!   An MQTT packet may span frames and a frame may hold several packets:
//!   the codec frames MQTT. A ping is answered by a pong, a pong ignored,
//!   and a close frame or a broken rule ends the connection after a close
//!   frame of ours with the status code that says why.
//! - **Out**: a sealed batch is one binary frame. Its header's length
//!   depends on the batch's, so it is put in front once the batch is
//!   encoded, moving the batch up by 2 to 10 bytes (with the handshake
//!   answer or a pong, when one is waiting, ahead of it) in the inner
//!   layer's buffer: one move of the batch within its own buffer, no second
//!   buffer to keep.

mod frame;
mod handshake;

use std::sync::Arc;

use bytes::BytesMut;
use shardmq::limits;

use self::frame::{status, FrameReader, Stop};
use self::handshake::{Handshake, Step};
use super::{Transport, TransportError, WireOut};

/// The largest data frame a client may send when the broker takes packets
/// of at most `maximum_packet_size` bytes.
pub fn frame_payload_max(maximum_packet_size: u32) -> usize {
    usize::try_from(maximum_packet_size)
        .unwrap_or(usize::MAX)
        .saturating_add(limits::WS_FRAME_PAYLOAD_ALLOWANCE)
}

/// Where the WebSocket stands.
// The whole layer is boxed in `TransportLayer`: boxing the reader as well
// would be a second allocation per connection for no smaller footprint.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum State {
    /// The upgrade request is being read.
    Handshake(Handshake),
    /// Frames flow.
    Open(FrameReader),
    /// The handshake was refused, or a close frame was received or a rule
    /// broken: nothing more is read, and nothing but the answer written.
    Ended,
}

/// The WebSocket layer over `Inner`.
#[derive(Debug)]
pub struct Ws<Inner> {
    inner: Inner,
    /// The request path the handshake must name.
    path: Arc<str>,
    /// The largest data frame payload taken, bytes.
    frame_payload_max: usize,
    state: State,
    /// The handshake's answer, written ahead of everything else.
    reply: BytesMut,
    /// Our close frame (opcode, length and at most a status code), written
    /// after everything else; `None` once written or while not asked for.
    farewell: Option<[u8; 4]>,
    /// Our close frame was queued: no frame may follow it.
    farewell_queued: bool,
    /// The connection asked for its farewell: the inner layer's goes out
    /// after ours.
    closing: bool,
    /// The inner layer was asked for its farewell: at once when ours is
    /// written already (or there is none), else when sealing ours.
    inner_closed: bool,
}

impl<Inner: Transport> Ws<Inner> {
    /// A layer over `inner` serving the upgrade requests for `path` and data
    /// frames of at most `frame_payload_max` bytes (see
    /// [`frame_payload_max`]).
    ///
    /// The inner layer's [`Transport::plaintext_buffer`] must name the same
    /// buffer each time it is asked until the next seal: this layer asks
    /// again when sealing, to put the frame header in front of the batch.
    pub fn new(inner: Inner, path: Arc<str>, frame_payload_max: usize) -> Ws<Inner> {
        Ws {
            inner,
            path,
            frame_payload_max,
            state: State::Handshake(Handshake::default()),
            reply: BytesMut::new(),
            farewell: None,
            farewell_queued: false,
            closing: false,
            inner_closed: false,
        }
    }

    /// The layer the WebSocket frames travel in.
    pub fn inner(&self) -> &Inner {
        &self.inner
    }

    /// Bytes held for a handshake or a partial frame header: bounded by
    /// [`limits::WS_HANDSHAKE_BYTES_MAX`] and 14.
    #[cfg(test)]
    fn held(&self) -> usize {
        match &self.state {
            State::Handshake(handshake) => handshake.held(),
            State::Open(reader) => reader.held(),
            State::Ended => 0,
        }
    }

    /// Queues our close frame with `code` (none: an empty close frame),
    /// unless one is queued already.
    fn queue_farewell(&mut self, code: Option<u16>) {
        if std::mem::replace(&mut self.farewell_queued, true) {
            return;
        }
        let mut close = [0x80 | frame::CLOSE, 0, 0, 0];
        if let Some(code) = code {
            close[1] = 2;
            close[2..].copy_from_slice(&code.to_be_bytes());
        }
        self.farewell = Some(close);
    }

    /// Reading stopped: our close frame answers, and the connection ends.
    fn stopped(&mut self, stop: Stop) -> TransportError {
        self.state = State::Ended;
        self.queue_farewell(stop.code);
        TransportError::new(self.name(), stop)
    }

    /// Takes the bytes of `plaintext[start..]` as handshake bytes. Returns
    /// where frames start in `plaintext` when the handshake is accepted
    /// (the bytes after it are frames sent without waiting), `None` when it
    /// is still incomplete.
    fn read_handshake(
        &mut self,
        plaintext: &mut BytesMut,
        start: usize,
    ) -> Result<Option<usize>, TransportError> {
        let State::Handshake(handshake) = &mut self.state else {
            return Ok(Some(start));
        };
        match handshake.receive(&plaintext[start..], &self.path) {
            Step::Incomplete => {
                plaintext.truncate(start);
                Ok(None)
            }
            Step::Accepted { reply, consumed } => {
                self.reply = reply;
                self.state = State::Open(FrameReader::new(self.frame_payload_max));
                Ok(Some(start + consumed))
            }
            Step::Refused { reply, reason } => {
                plaintext.truncate(start);
                self.reply = reply;
                self.state = State::Ended;
                Err(TransportError::new(self.name(), reason))
            }
        }
    }

    /// The bytes that go before the batch: the handshake's answer and a
    /// pong; none once the connection is ending.
    fn take_prefix(&mut self) -> (BytesMut, Option<frame::ControlPayload>) {
        let reply = std::mem::take(&mut self.reply);
        let ping = match &mut self.state {
            State::Open(reader) if !self.farewell_queued => reader.take_ping(),
            _ => None,
        };
        (reply, ping)
    }
}

impl<Inner: Transport> Transport for Ws<Inner> {
    fn receive(&mut self, wire: &[u8], plaintext: &mut BytesMut) -> Result<(), TransportError> {
        if matches!(self.state, State::Ended) {
            return Err(TransportError::new(self.name(), "the WebSocket is closed"));
        }
        let start = plaintext.len();
        if let Err(error) = self.inner.receive(wire, plaintext) {
            plaintext.truncate(start);
            self.state = State::Ended;
            return Err(error);
        }
        let Some(frames_at) = self.read_handshake(plaintext, start)? else {
            return Ok(());
        };
        let State::Open(reader) = &mut self.state else {
            unreachable!("an accepted handshake opens the WebSocket");
        };
        let read = reader.read(&mut plaintext[..], frames_at, start);
        match read.stop {
            None => {
                plaintext.truncate(read.end);
                Ok(())
            }
            // The client closed right after sending MQTT bytes (a DISCONNECT,
            // say): those are handled first, and the next read reports the
            // end. The echo goes out now, so a client waiting for it closes
            // its side.
            Some(stop) if stop.by_client && read.end > start => {
                plaintext.truncate(read.end);
                self.state = State::Ended;
                self.queue_farewell(stop.code);
                Ok(())
            }
            Some(stop) => {
                plaintext.truncate(start);
                Err(self.stopped(stop))
            }
        }
    }

    fn plaintext_buffer<'a>(&'a mut self, wire: &'a mut WireOut) -> &'a mut BytesMut {
        self.inner.plaintext_buffer(wire)
    }

    fn seal(&mut self, wire: &mut WireOut) -> Result<(), TransportError> {
        let handshaking = matches!(self.state, State::Handshake(_));
        let dropping = self.farewell_queued || matches!(self.state, State::Ended);
        let (reply, ping) = self.take_prefix();
        let farewell = self.farewell.take();
        let buffer = self.inner.plaintext_buffer(wire);
        assert!(
            !handshaking || buffer.is_empty(),
            "no MQTT byte before the WebSocket handshake"
        );
        if dropping {
            buffer.clear();
        }
        let batch_len = buffer.len();
        let (pong_header, pong_header_len) = match &ping {
            Some(ping) => frame::header(frame::PONG, ping.as_slice().len()),
            None => ([0; 10], 0),
        };
        let pong = ping.as_ref().map_or(&[][..], |ping| ping.as_slice());
        let (data_header, data_header_len) = if batch_len > 0 {
            frame::header(frame::BINARY, batch_len)
        } else {
            ([0; 10], 0)
        };
        let prefix: [&[u8]; 4] = [
            &reply,
            &pong_header[..pong_header_len],
            pong,
            &data_header[..data_header_len],
        ];
        let prefix_len: usize = prefix.iter().map(|part| part.len()).sum();
        if prefix_len > 0 {
            buffer.resize(prefix_len + batch_len, 0);
            buffer.copy_within(..batch_len, prefix_len);
            let mut at = 0;
            for part in prefix {
                buffer[at..at + part.len()].copy_from_slice(part);
                at += part.len();
            }
        }
        if let Some(close) = &farewell {
            let len = 2 + usize::from(close[1]);
            buffer.extend_from_slice(&close[..len]);
        }
        self.inner.seal(wire)?;
        if self.closing && !self.inner_closed {
            // The inner layer's farewell (TLS close_notify) follows ours.
            self.inner_closed = true;
            self.inner.close();
            if self.inner.wants_write() {
                self.inner.seal(wire)?;
            }
        }
        Ok(())
    }

    fn wants_write(&self) -> bool {
        let pong = match &self.state {
            State::Open(reader) => !self.farewell_queued && reader.unanswered_ping().is_some(),
            _ => false,
        };
        !self.reply.is_empty() || pong || self.farewell.is_some() || self.inner.wants_write()
    }

    fn close(&mut self) {
        if std::mem::replace(&mut self.closing, true) {
            return;
        }
        if matches!(self.state, State::Open(_)) {
            self.queue_farewell(Some(status::NORMAL));
        }
        if self.farewell.is_none() {
            // Nothing of ours is left to write ahead of the inner farewell.
            self.inner_closed = true;
            self.inner.close();
        }
    }

    fn is_handshaking(&self) -> bool {
        matches!(self.state, State::Handshake(_)) || self.inner.is_handshaking()
    }

    fn can_park(&self) -> bool {
        let between_frames = match &self.state {
            State::Open(reader) => reader.is_between_frames(),
            _ => false,
        };
        between_frames && !self.wants_write() && self.inner.can_park()
    }

    fn name(&self) -> &'static str {
        match self.inner.name() {
            "tls" => "wss",
            _ => "ws",
        }
    }
}

#[cfg(test)]
mod tests;
