//! Where encoded fields go: a [`Sink`] writes the data types of section 1.5.
//!
//! The encoder is written once, generic over the sink, and run twice: with a
//! [`LenCounter`] to learn the exact remaining length (and check every field
//! fits its length prefix), then with a `BytesMut` reserved to that size. So
//! `encoded_len` is exact by construction and `encode` reserves once.

use bytes::{BufMut, BytesMut};

use super::error::EncodeError;
use super::framing::variable_byte_integer_len;
use crate::limits::REMAINING_LENGTH_MAX;

/// The largest string or binary field, bytes (two-byte length prefix).
const FIELD_LEN_MAX: usize = u16::MAX as usize;

/// A destination for encoded fields.
pub(crate) trait Sink {
    /// A Byte.
    fn u8(&mut self, value: u8);
    /// A Two Byte Integer.
    fn u16(&mut self, value: u16);
    /// A Four Byte Integer.
    fn u32(&mut self, value: u32);
    /// Raw bytes, no length prefix.
    fn raw(&mut self, bytes: &[u8]);

    /// A Variable Byte Integer.
    fn variable_byte_integer(&mut self, value: u32) -> Result<(), EncodeError> {
        if value > REMAINING_LENGTH_MAX {
            return Err(EncodeError::ValueTooLarge { value });
        }
        let mut rest = value;
        loop {
            let mut byte = (rest % 128) as u8;
            rest /= 128;
            if rest > 0 {
                byte |= 0x80;
            }
            self.u8(byte);
            if rest == 0 {
                return Ok(());
            }
        }
    }

    /// Binary Data, or a UTF-8 Encoded String given as its bytes.
    fn binary(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        if bytes.len() > FIELD_LEN_MAX {
            return Err(EncodeError::FieldTooLong {
                length: bytes.len(),
            });
        }
        self.u16(bytes.len() as u16);
        self.raw(bytes);
        Ok(())
    }

    /// A UTF-8 Encoded String.
    fn string(&mut self, value: &str) -> Result<(), EncodeError> {
        self.binary(value.as_bytes())
    }
}

/// A sink that only counts bytes.
#[derive(Default)]
pub(crate) struct LenCounter {
    /// Bytes counted so far.
    pub(crate) len: usize,
}

impl Sink for LenCounter {
    fn u8(&mut self, _: u8) {
        self.len += 1;
    }
    fn u16(&mut self, _: u16) {
        self.len += 2;
    }
    fn u32(&mut self, _: u32) {
        self.len += 4;
    }
    fn raw(&mut self, bytes: &[u8]) {
        self.len += bytes.len();
    }
    fn variable_byte_integer(&mut self, value: u32) -> Result<(), EncodeError> {
        if value > REMAINING_LENGTH_MAX {
            return Err(EncodeError::ValueTooLarge { value });
        }
        self.len += variable_byte_integer_len(value);
        Ok(())
    }
}

impl Sink for BytesMut {
    fn u8(&mut self, value: u8) {
        self.put_u8(value);
    }
    fn u16(&mut self, value: u16) {
        self.put_u16(value);
    }
    fn u32(&mut self, value: u32) {
        self.put_u32(value);
    }
    fn raw(&mut self, bytes: &[u8]) {
        self.put_slice(bytes);
    }
}
