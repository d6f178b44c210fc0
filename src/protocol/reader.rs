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
        let bytes = self.binary()?;
        // Only U+0000 matters here: the combined scan would fall back to two
        // byte-by-byte passes for every topic filter holding a wildcard.
        if bytes.contains(&0) {
            return Err(ProtocolError::NullCharacter);
        }
        ByteString::try_from(bytes).map_err(|_| ProtocolError::InvalidUtf8)
    }

    /// A topic name: a UTF-8 Encoded String without a wildcard character
    /// [MQTT-3.3.2-2], the wildcards found in the same pass as U+0000. UTF-8
    /// validation (which has its own ASCII fast path) comes between the two
    /// checks, so a string breaking several rules is refused for the same
    /// rule as by [`Reader::string`].
    #[inline]
    pub(crate) fn topic_name(&mut self) -> Result<ByteString, ProtocolError> {
        let bytes = self.binary()?;
        let (null, wildcard) = find_null_and_wildcard(&bytes);
        if null {
            return Err(ProtocolError::NullCharacter);
        }
        let topic_name = ByteString::try_from(bytes).map_err(|_| ProtocolError::InvalidUtf8)?;
        if wildcard {
            return Err(ProtocolError::TopicNameWildcard);
        }
        Ok(topic_name)
    }

    /// Splits off a reader over the next `len` bytes (a property block).
    pub(crate) fn sub_reader(&mut self, len: usize) -> Result<Reader, ProtocolError> {
        Ok(Reader {
            unread: self.bytes(len)?,
        })
    }
}

/// A byte of value 1 in every lane of a word.
const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
/// The high bit of every lane of a word.
const HIGH_BITS: u64 = u64::from_ne_bytes([0x80; 8]);
/// Set in every lane: turns `#` (0x23) into `+` (0x2B) and no other byte into
/// either, so one comparison finds both wildcard characters.
const WILDCARD_FOLD: u64 = u64::from_ne_bytes([0x08; 8]);
/// `+` in every lane.
const PLUS: u64 = u64::from_ne_bytes([b'+'; 8]);
/// A byte that is neither 0 nor a wildcard, to pad the last word of a short string.
const NEUTRAL_BYTE: u8 = b'a';

/// Non-zero in the high bit of some lane when a lane of `word` is 0. Lanes
/// above a zero lane may be flagged too, which is harmless as only "any" is
/// asked. The caller masks with [`HIGH_BITS`] once, after folding words together.
#[inline]
fn zero_lanes(word: u64) -> u64 {
    word.wrapping_sub(ONES) & !word
}

/// Whether `bytes` holds U+0000 (the byte 0 in UTF-8, which no other
/// character contains) and whether it holds `+` or `#`. One pass, eight bytes
/// a word and without branches per byte, looking for either at once: it runs
/// over every topic name and string a client sends, and finds neither in
/// almost all of them. Which of the two is there is settled byte by byte.
#[inline]
pub(crate) fn find_null_and_wildcard(bytes: &[u8]) -> (bool, bool) {
    let mut found = 0u64;
    let mut scan =
        |word: u64| found |= zero_lanes(word) | zero_lanes((word | WILDCARD_FOLD) ^ PLUS);
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        scan(u64::from_le_bytes(word.try_into().expect("chunks of 8")));
    }
    let rest = words.remainder();
    if let Some(last) = bytes.len().checked_sub(8).filter(|_| !rest.is_empty()) {
        // The last eight bytes again: scanning a byte twice changes nothing.
        scan(u64::from_le_bytes(
            bytes[last..].try_into().expect("eight bytes"),
        ));
    } else if !rest.is_empty() {
        // Shorter than a word: the bytes, padded with a neutral one.
        let mut padded = [NEUTRAL_BYTE; 8];
        for (slot, &byte) in padded.iter_mut().zip(rest) {
            *slot = byte;
        }
        scan(u64::from_le_bytes(padded));
    }
    if found & HIGH_BITS == 0 {
        return (false, false);
    }
    (
        bytes.contains(&0),
        bytes.iter().any(|&byte| byte == b'+' || byte == b'#'),
    )
}
