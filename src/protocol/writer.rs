//! Where encoded fields go: a [`Sink`] writes the data types of section 1.5.
//!
//! The encoder is written once, generic over the sink, and run twice: with a
//! [`LenCounter`] to learn the exact remaining length (and check every field
//! fits its length prefix), then with a [`SliceWriter`] over the output grown
//! once to that size. So `encoded_len` is exact by construction and `encode`
//! reserves once. PUBLISH, whose few fields have their lengths added up
//! directly, is appended to its reserved `BytesMut` as a sink itself.

use bytes::BytesMut;

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
    #[inline]
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
    #[inline]
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
    #[inline]
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
    #[inline]
    fn u8(&mut self, _: u8) {
        self.len += 1;
    }
    #[inline]
    fn u16(&mut self, _: u16) {
        self.len += 2;
    }
    #[inline]
    fn u32(&mut self, _: u32) {
        self.len += 4;
    }
    #[inline]
    fn raw(&mut self, bytes: &[u8]) {
        self.len += bytes.len();
    }
    #[inline]
    fn variable_byte_integer(&mut self, value: u32) -> Result<(), EncodeError> {
        if value > REMAINING_LENGTH_MAX {
            return Err(EncodeError::ValueTooLarge { value });
        }
        self.len += variable_byte_integer_len(value);
        Ok(())
    }
}

/// A sink over a slice sized to the frame by a [`LenCounter`] pass. Each
/// write is an inlined copy into the slice, with a bounds check but no
/// capacity check.
pub(crate) struct SliceWriter<'a> {
    buf: &'a mut [u8],
    /// Bytes written so far.
    pub(crate) position: usize,
}

impl<'a> SliceWriter<'a> {
    /// A writer filling `buf` from its start.
    pub(crate) fn new(buf: &'a mut [u8]) -> SliceWriter<'a> {
        SliceWriter { buf, position: 0 }
    }
}

impl Sink for SliceWriter<'_> {
    #[inline]
    fn u8(&mut self, value: u8) {
        self.raw(&[value]);
    }
    #[inline]
    fn u16(&mut self, value: u16) {
        self.raw(&value.to_be_bytes());
    }
    #[inline]
    fn u32(&mut self, value: u32) {
        self.raw(&value.to_be_bytes());
    }
    #[inline]
    fn raw(&mut self, bytes: &[u8]) {
        // Sized by the counting pass: running out of room is a bug here, not input.
        let end = self.position + bytes.len();
        self.buf[self.position..end].copy_from_slice(bytes);
        self.position = end;
    }
}

/// Appends to the buffer. Used where the frame was reserved up front: each
/// write is then an inlined capacity check and copy, with no zero-filling
/// first. (`extend_from_slice` inlines; `BufMut::put_u8` and friends do not.)
impl Sink for BytesMut {
    #[inline]
    fn u8(&mut self, value: u8) {
        self.extend_from_slice(&[value]);
    }
    #[inline]
    fn u16(&mut self, value: u16) {
        self.extend_from_slice(&value.to_be_bytes());
    }
    #[inline]
    fn u32(&mut self, value: u32) {
        self.extend_from_slice(&value.to_be_bytes());
    }
    #[inline]
    fn raw(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}
