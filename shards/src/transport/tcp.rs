//! Plain TCP: the identity layer. Wire bytes are MQTT bytes both ways, and
//! the buffer packets are encoded into is the one written to the socket.

use bytes::BytesMut;

use super::{Transport, TransportError, WireOut};

/// The TCP layer: no state at all.
#[derive(Debug, Default)]
pub struct Tcp;

impl Transport for Tcp {
    fn receive(&mut self, wire: &[u8], plaintext: &mut BytesMut) -> Result<(), TransportError> {
        plaintext.extend_from_slice(wire);
        Ok(())
    }

    fn plaintext_buffer<'a>(&'a mut self, wire: &'a mut WireOut) -> &'a mut BytesMut {
        &mut wire.bytes
    }

    fn seal(&mut self, _wire: &mut WireOut) -> Result<(), TransportError> {
        // The packets were encoded into the wire buffer itself.
        Ok(())
    }

    fn wants_write(&self) -> bool {
        false
    }

    fn close(&mut self) {}

    fn is_handshaking(&self) -> bool {
        false
    }

    fn can_park(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "tcp"
    }
}
