//! A cursor over one received frame that reads the data types of section 1.5.
//!
//! Strings and binary data come out as `Bytes` slices of the frame (a reference
//! count bump, no copy). Every read checks the frame bounds, so a length that
//! promises more than the frame holds is [`ProtocolError::LengthPastFrame`].

use bytes::Bytes;
use bytestring::ByteString;

use super::error::ProtocolError;
use super::framing::read_variable_byte_integer;

/// Reads fields from a frame body, front to back.
pub(crate) struct Reader {
    frame: Bytes,
    position: usize,
}

impl Reader {
    /// A reader over `frame`, starting at `position`.
    pub(crate) fn new(frame: Bytes, position: usize) -> Reader {
        assert!(position <= frame.len());
        Reader { frame, position }
    }

    /// Bytes not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.frame.len() - self.position
    }

    /// True when every byte was read.
    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    fn take(&mut self, len: usize) -> Result<&[u8], ProtocolError> {
        if len > self.remaining() {
            return Err(ProtocolError::LengthPastFrame);
        }
        let start = self.position;
        self.position += len;
        Ok(&self.frame[start..self.position])
    }

    /// A Byte.
    pub(crate) fn u8(&mut self) -> Result<u8, ProtocolError> {
        Ok(self.take(1)?[0])
    }

    /// A Two Byte Integer.
    pub(crate) fn u16(&mut self) -> Result<u16, ProtocolError> {
        let bytes = self.take(2)?;
        Ok(u16::from_be_bytes([bytes[0], bytes[1]]))
    }

    /// A Four Byte Integer.
    pub(crate) fn u32(&mut self) -> Result<u32, ProtocolError> {
        let bytes = self.take(4)?;
        Ok(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    /// A Variable Byte Integer.
    pub(crate) fn variable_byte_integer(&mut self) -> Result<u32, ProtocolError> {
        let rest = &self.frame[self.position..];
        match read_variable_byte_integer(rest)? {
            Some((value, len)) => {
                self.position += len;
                Ok(value)
            }
            None => Err(ProtocolError::LengthPastFrame),
        }
    }

    /// The next `len` bytes, as a slice of the frame.
    pub(crate) fn bytes(&mut self, len: usize) -> Result<Bytes, ProtocolError> {
        if len > self.remaining() {
            return Err(ProtocolError::LengthPastFrame);
        }
        let start = self.position;
        self.position += len;
        Ok(self.frame.slice(start..self.position))
    }

    /// Everything not read yet.
    pub(crate) fn rest(&mut self) -> Bytes {
        let start = self.position;
        self.position = self.frame.len();
        self.frame.slice(start..)
    }

    /// Binary Data: a two-byte length and that many bytes.
    pub(crate) fn binary(&mut self) -> Result<Bytes, ProtocolError> {
        let len = self.u16()?;
        self.bytes(usize::from(len))
    }

    /// A UTF-8 Encoded String: well-formed UTF-8 [MQTT-1.5.4-1] without U+0000
    /// [MQTT-1.5.4-2].
    pub(crate) fn string(&mut self) -> Result<ByteString, ProtocolError> {
        let bytes = self.binary()?;
        // U+0000 is the byte 0 in UTF-8, and no other character contains that byte.
        if bytes.contains(&0) {
            return Err(ProtocolError::NullCharacter);
        }
        ByteString::try_from(bytes).map_err(|_| ProtocolError::InvalidUtf8)
    }

    /// Splits off a reader over the next `len` bytes (a property block).
    pub(crate) fn sub_reader(&mut self, len: usize) -> Result<Reader, ProtocolError> {
        let frame = self.bytes(len)?;
        Ok(Reader::new(frame, 0))
    }
}
