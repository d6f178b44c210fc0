//! The layer contract, for TCP and for a fake layer that needs a handshake
//! and transforms bytes both ways, driven the way a connection's task drives
//! a layer, with a "socket" that takes a set number of bytes per write.

use bytes::{BufMut, BytesMut};

use super::*;

/// What the fake's peer must send first.
pub(super) const HELLO: &[u8] = b"HELLO\n";
/// The fake's answer to it, written before any MQTT byte flows.
pub(super) const WELCOME: &[u8] = b"WELCOME\n";
/// The fake's farewell.
pub(super) const BYE: &[u8] = b"BYE\n";
/// The fake's frames carry their payload XORed with this.
pub(super) const MASK: u8 = 0x55;

/// A layer shaped like TLS or WebSocket: a handshake the peer opens and the
/// layer answers, then frames of one length byte and a masked payload, and a
/// farewell of its own.
#[derive(Debug, Default)]
pub(super) struct Fake {
    /// The handshake is done: frames flow.
    ready: bool,
    /// Wire bytes received that complete nothing yet.
    partial: BytesMut,
    /// Bytes of its own to write.
    own: BytesMut,
    /// The batch to seal.
    staging: BytesMut,
    closed: bool,
    seals: usize,
}

impl Fake {
    fn take_hello(&mut self) -> Result<(), TransportError> {
        let seen = self.partial.len().min(HELLO.len());
        if self.partial[..seen] != HELLO[..seen] {
            return Err(TransportError::new("fake", "the peer did not say HELLO"));
        }
        if seen == HELLO.len() {
            let _ = self.partial.split_to(seen);
            self.own.extend_from_slice(WELCOME);
            self.ready = true;
        }
        Ok(())
    }
}

impl Transport for Fake {
    fn receive(&mut self, wire: &[u8], plaintext: &mut BytesMut) -> Result<(), TransportError> {
        self.partial.extend_from_slice(wire);
        if !self.ready {
            self.take_hello()?;
        }
        while self.ready {
            let Some(&length) = self.partial.first() else {
                break;
            };
            let frame_len = 1 + usize::from(length);
            if self.partial.len() < frame_len {
                break;
            }
            let frame = self.partial.split_to(frame_len);
            plaintext.extend(frame[1..].iter().map(|byte| byte ^ MASK));
        }
        Ok(())
    }

    fn plaintext_buffer<'a>(&'a mut self, _wire: &'a mut WireOut) -> &'a mut BytesMut {
        &mut self.staging
    }

    fn seal(&mut self, wire: &mut WireOut) -> Result<(), TransportError> {
        assert!(
            self.ready || self.staging.is_empty(),
            "no MQTT byte before the handshake"
        );
        self.seals += 1;
        wire.bytes.extend_from_slice(&self.own.split());
        for chunk in self.staging.split().chunks(usize::from(u8::MAX)) {
            wire.bytes
                .put_u8(u8::try_from(chunk.len()).expect("a short chunk"));
            wire.bytes.extend(chunk.iter().map(|byte| byte ^ MASK));
        }
        Ok(())
    }

    fn wants_write(&self) -> bool {
        !self.own.is_empty()
    }

    fn close(&mut self) {
        if !std::mem::replace(&mut self.closed, true) {
            self.own.extend_from_slice(BYE);
        }
    }

    fn is_handshaking(&self) -> bool {
        !self.ready
    }

    fn can_park(&self) -> bool {
        self.partial.is_empty() && self.own.is_empty()
    }

    fn name(&self) -> &'static str {
        "fake"
    }
}

/// The fake's frame of `payload`, as its peer sends it.
pub(super) fn fake_frame(payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![u8::try_from(payload.len()).unwrap()];
    frame.extend(payload.iter().map(|byte| byte ^ MASK));
    frame
}

/// What a peer of the fake reads back from `wire`: its own bytes as they
/// are, framed payloads unmasked.
fn unframe(mut wire: &[u8]) -> Vec<u8> {
    let mut plaintext = Vec::new();
    for own in [WELCOME, BYE] {
        if let Some(rest) = wire.strip_prefix(own) {
            wire = rest;
        }
    }
    while let Some((&length, rest)) = wire.split_first() {
        let (payload, rest) = rest.split_at(usize::from(length));
        plaintext.extend(payload.iter().map(|byte| byte ^ MASK));
        wire = rest;
    }
    plaintext
}

/// What the peer received and how many batches were reported written.
#[derive(Debug, Default)]
struct Written {
    peer: Vec<u8>,
    batches: usize,
}

/// Writes like a connection's task: fills the wire buffer when it is empty
/// (with the next of `batches`, or only the layer's own bytes), gives the
/// socket at most `socket_take` bytes per write, until nothing is left.
fn write_out<T: Transport>(
    layer: &mut T,
    wire: &mut WireOut,
    batches: &[&[u8]],
    socket_take: usize,
) -> Written {
    let mut batches = batches.iter();
    let mut written = Written::default();
    loop {
        if wire.is_empty() {
            let encode = |buffer: &mut BytesMut| match batches.next() {
                Some(batch) => {
                    assert!(buffer.is_empty(), "a batch is encoded into an empty buffer");
                    buffer.extend_from_slice(batch);
                    true
                }
                None => false,
            };
            if !wire.fill(layer, encode).expect("the layer seals") {
                return written;
            }
        }
        let take = wire.unwritten().len().min(socket_take);
        written.peer.extend_from_slice(&wire.unwritten()[..take]);
        if wire.advance(take) {
            written.batches += 1;
        }
    }
}

#[test]
fn tcp_received_bytes_come_out_as_plaintext_unchanged() {
    let mut tcp = Tcp;
    let mut plaintext = BytesMut::new();
    tcp.receive(&[0x30, 0x03], &mut plaintext).unwrap();
    tcp.receive(&[0x00, 0x01, b't'], &mut plaintext).unwrap();
    assert_eq!(&plaintext[..], &[0x30, 0x03, 0x00, 0x01, b't']);
    assert!(!tcp.wants_write());
}

#[test]
fn tcp_batch_is_encoded_into_the_wire_buffer_without_a_copy() {
    let mut tcp = Tcp;
    let mut wire = WireOut::default();
    let mut encoded_at = std::ptr::null();
    let filled = wire
        .fill(&mut tcp, |buffer| {
            buffer.extend_from_slice(b"packets");
            encoded_at = buffer.as_ptr();
            true
        })
        .unwrap();
    assert!(filled);
    assert_eq!(wire.unwritten(), b"packets");
    assert_eq!(wire.unwritten().as_ptr(), encoded_at);
}

#[test]
fn tcp_partial_writes_advance_an_offset_and_finish_the_batch_once() {
    let mut tcp = Tcp;
    let mut wire = WireOut::default();
    assert!(wire
        .fill(&mut tcp, |buffer| {
            buffer.extend_from_slice(b"abcdefgh");
            true
        })
        .unwrap());
    let allocation = wire.unwritten().as_ptr();
    assert!(!wire.advance(3));
    assert_eq!(wire.unwritten(), b"defgh");
    assert!(!wire.advance(4));
    assert_eq!(wire.unwritten(), b"h");
    assert!(wire.advance(1), "the last byte finishes the batch");
    assert!(wire.is_empty());
    // The next batch goes into the same allocation.
    assert!(wire
        .fill(&mut tcp, |buffer| {
            buffer.extend_from_slice(b"next");
            true
        })
        .unwrap());
    assert_eq!(wire.unwritten().as_ptr(), allocation);
}

#[test]
fn tcp_has_nothing_to_write_without_a_batch_nor_on_close() {
    let mut tcp = Tcp;
    let mut wire = WireOut::default();
    assert!(!tcp.wants_write());
    assert!(!wire.fill(&mut tcp, |_| false).unwrap());
    tcp.close();
    assert!(!tcp.wants_write());
    assert!(!wire.fill(&mut tcp, |_| false).unwrap());
    assert!(!tcp.is_handshaking());
    assert!(tcp.can_park());
}

#[test]
fn tcp_writes_every_batch_whole_and_in_order_through_short_socket_writes() {
    let mut tcp = Tcp;
    let mut wire = WireOut::default();
    let written = write_out(&mut tcp, &mut wire, &[b"first", b"second"], 2);
    assert_eq!(written.peer, b"firstsecond");
    assert_eq!(written.batches, 2);
}

#[test]
fn an_empty_wire_buffer_that_grew_large_is_released() {
    let mut tcp = Tcp;
    let mut wire = WireOut::default();
    let large = vec![0; limits::IDLE_BUFFER_KEEP_MAX + 1];
    assert!(wire
        .fill(&mut tcp, |buffer| {
            buffer.extend_from_slice(&large);
            true
        })
        .unwrap());
    wire.release_idle();
    assert_eq!(wire.unwritten().len(), large.len(), "kept while unwritten");
    assert!(wire.advance(large.len()));
    wire.release_idle();
    assert_eq!(wire.bytes.capacity(), 0);
}

#[test]
fn a_listener_kind_makes_its_layer() {
    let layer = TransportKind::Tcp
        .new_layer(limits::MAXIMUM_PACKET_SIZE_DEFAULT)
        .unwrap();
    assert_eq!(layer.name(), "tcp");
    assert!(layer.can_park());
}

#[test]
fn handshake_bytes_are_written_before_any_plaintext_flows_and_finish_no_batch() {
    let mut fake = Fake::default();
    let mut plaintext = BytesMut::new();
    let mut wire = WireOut::default();
    fake.receive(&HELLO[..2], &mut plaintext).unwrap();
    assert!(fake.is_handshaking());
    assert!(!fake.wants_write());
    assert!(!wire.fill(&mut fake, |_| false).unwrap());
    fake.receive(&HELLO[2..], &mut plaintext).unwrap();
    assert!(plaintext.is_empty(), "a handshake carries no MQTT bytes");
    assert!(!fake.is_handshaking());
    assert!(
        fake.wants_write(),
        "the handshake answer waits without any plaintext"
    );
    let written = write_out(&mut fake, &mut wire, &[], 3);
    assert_eq!(written.peer, WELCOME);
    assert_eq!(written.batches, 0);
    assert!(!fake.wants_write());
}

#[test]
fn frames_split_across_reads_come_out_as_plaintext_once_complete() {
    let mut fake = Fake::default();
    let mut plaintext = BytesMut::new();
    let mut wire_in = HELLO.to_vec();
    wire_in.extend(fake_frame(b"CONNECT"));
    wire_in.extend(fake_frame(b"PUBLISH"));
    let (first, second) = wire_in.split_at(HELLO.len() + 4);
    fake.receive(first, &mut plaintext).unwrap();
    assert_eq!(&plaintext[..], b"", "no frame is complete yet");
    assert!(!fake.can_park(), "a partial frame is held");
    fake.receive(second, &mut plaintext).unwrap();
    assert_eq!(&plaintext[..], b"CONNECTPUBLISH");
}

#[test]
fn a_batch_is_sealed_once_however_many_writes_it_takes() {
    let mut fake = Fake::default();
    fake.receive(HELLO, &mut BytesMut::new()).unwrap();
    let mut wire = WireOut::default();
    let _ = write_out(&mut fake, &mut wire, &[], usize::MAX);
    let seals_before = fake.seals;
    let written = write_out(&mut fake, &mut wire, &[b"CONNACK and a PUBLISH"], 1);
    assert_eq!(fake.seals - seals_before, 1);
    assert_eq!(written.batches, 1);
    assert_eq!(unframe(&written.peer), b"CONNACK and a PUBLISH");
}

#[test]
fn bytes_of_the_layers_own_go_out_with_the_next_batch_ahead_of_it() {
    let mut fake = Fake::default();
    fake.receive(HELLO, &mut BytesMut::new()).unwrap();
    let mut wire = WireOut::default();
    let written = write_out(&mut fake, &mut wire, &[b"CONNACK"], 5);
    assert!(written.peer.starts_with(WELCOME));
    assert_eq!(unframe(&written.peer), b"CONNACK");
    assert_eq!(written.batches, 1);
    assert_eq!(
        fake.seals, 1,
        "the answer and the batch are sealed together"
    );
}

#[test]
fn the_farewell_is_written_once_after_the_last_batch() {
    let mut fake = Fake::default();
    fake.receive(HELLO, &mut BytesMut::new()).unwrap();
    let mut wire = WireOut::default();
    let _ = write_out(&mut fake, &mut wire, &[b"DISCONNECT"], usize::MAX);
    fake.close();
    fake.close();
    let written = write_out(&mut fake, &mut wire, &[], 2);
    assert_eq!(written.peer, BYE);
    assert_eq!(written.batches, 0);
    assert!(!fake.wants_write());
}

#[test]
fn a_layer_error_names_the_layer_and_what_failed() {
    let mut fake = Fake::default();
    let error = fake
        .receive(b"GET / HTTP/1.1\r\n", &mut BytesMut::new())
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "fake layer failed: the peer did not say HELLO"
    );
}
