//! A cursor over one received frame that reads the data types of section 1.5.
//!
//! Strings and binary data come out as `Bytes` slices of the frame (a reference
//! count bump, no copy). Every read checks the frame bounds, so a length that
//! promises more than the frame holds is [`ProtocolError::LengthPastFrame`].

use bytes::{Buf, Bytes};
use bytestring::ByteString;

use super::error::ProtocolError;
use super::framing::read_variable_byte_integer;

/// Reads fields from a frame body, front to back. Holds the unread part of
/// the frame: reading a number only moves its start, and the last field of a
/// packet (PUBLISH's payload) takes the rest without a reference count bump.
pub(crate) struct Reader {
    unread: Bytes,
}

impl Reader {
    /// A reader over `frame`, starting at `position`.
    pub(crate) fn new(mut frame: Bytes, position: usize) -> Reader {
        assert!(position <= frame.len());
        frame.advance(position);
        Reader { unread: frame }
    }

    /// True when every byte was read.
    pub(crate) fn is_empty(&self) -> bool {
        self.unread.is_empty()
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ProtocolError> {
        if self.unread.len() < N {
            return Err(ProtocolError::LengthPastFrame);
        }
        let mut array = [0; N];
        array.copy_from_slice(&self.unread[..N]);
        self.unread.advance(N);
        Ok(array)
    }

    /// A Byte.
    pub(crate) fn u8(&mut self) -> Result<u8, ProtocolError> {
        Ok(self.array::<1>()?[0])
    }

    /// A Two Byte Integer.
    pub(crate) fn u16(&mut self) -> Result<u16, ProtocolError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    /// A Four Byte Integer.
    pub(crate) fn u32(&mut self) -> Result<u32, ProtocolError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// A Variable Byte Integer.
    pub(crate) fn variable_byte_integer(&mut self) -> Result<u32, ProtocolError> {
        match read_variable_byte_integer(&self.unread)? {
            Some((value, len)) => {
                self.unread.advance(len);
                Ok(value)
            }
            None => Err(ProtocolError::LengthPastFrame),
        }
    }

    /// The next `len` bytes, as a slice of the frame.
    pub(crate) fn bytes(&mut self, len: usize) -> Result<Bytes, ProtocolError> {
        if len > self.unread.len() {
            return Err(ProtocolError::LengthPastFrame);
        }
        Ok(self.unread.split_to(len))
    }

    /// Everything not read yet.
    pub(crate) fn rest(&mut self) -> Bytes {
        std::mem::take(&mut self.unread)
    }

    /// Binary Data: a two-byte length and that many bytes.
    pub(crate) fn binary(&mut self) -> Result<Bytes, ProtocolError> {
        let len = self.u16()?;
        self.bytes(usize::from(len))
    }

    /// A UTF-8 Encoded String: well-formed UTF-8 [MQTT-1.5.4-1] without U+0000
    /// [MQTT-1.5.4-2].
    pub(crate) fn string(&mut self) -> Result<ByteString, ProtocolError> {
        self.checked_string(|_| false).map(|(string, _)| string)
    }

    /// A topic name: a UTF-8 Encoded String, and whether it holds a wildcard
    /// character (`+` or `#`), found in the same pass as U+0000.
    pub(crate) fn topic_name(&mut self) -> Result<(ByteString, bool), ProtocolError> {
        self.checked_string(|byte| byte == b'+' || byte == b'#')
    }

    /// A string, and whether any byte satisfies `flagged`. The scan is a
    /// branch-free fold so it vectorises; UTF-8 validation (which has its own
    /// ASCII fast path) comes after.
    #[inline]
    fn checked_string(
        &mut self,
        flagged: impl Fn(u8) -> bool,
    ) -> Result<(ByteString, bool), ProtocolError> {
        let bytes = self.binary()?;
        // U+0000 is the byte 0 in UTF-8, and no other character contains that byte.
        let (mut null, mut flag) = (0u8, 0u8);
        for &byte in bytes.iter() {
            null |= u8::from(byte == 0);
            flag |= u8::from(flagged(byte));
        }
        if null != 0 {
            return Err(ProtocolError::NullCharacter);
        }
        let string = ByteString::try_from(bytes).map_err(|_| ProtocolError::InvalidUtf8)?;
        Ok((string, flag != 0))
    }

    /// Splits off a reader over the next `len` bytes (a property block).
    pub(crate) fn sub_reader(&mut self, len: usize) -> Result<Reader, ProtocolError> {
        Ok(Reader {
            unread: self.bytes(len)?,
        })
    }
}
