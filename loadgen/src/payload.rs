//! The header every loadgen payload starts with.
//!
//! Layout, little-endian: intended send time (u64, ns since the run's epoch),
//! sequence number (u64, per publisher, from 0), publisher index (u32), magic
//! (u32). The rest of the payload, up to `--size`, is zero padding. Carrying the
//! intended time, not the actual one, is what makes latency open-loop: a
//! message that left late because loadgen or the broker fell behind is
//! charged the delay.

use bytes::{BufMut, Bytes, BytesMut};

use crate::limits::PAYLOAD_HEADER_LEN;

/// Marks a payload as written by loadgen ("LGv1").
pub const PAYLOAD_MAGIC: u32 = u32::from_le_bytes(*b"LGv1");

/// What a payload header says about its message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PayloadHeader {
    /// When the message was meant to be sent, ns since the run's epoch.
    pub intended_ns: u64,
    /// The publisher's sequence number for it, from 0.
    pub sequence: u64,
    /// Which publisher sent it.
    pub publisher_index: u32,
}

impl PayloadHeader {
    /// Appends a payload of `size` bytes (at least the header) to `arena` and
    /// splits it off, so that payloads share one allocation between flushes.
    pub fn write_payload(&self, size: usize, arena: &mut BytesMut) -> Bytes {
        assert!(
            size >= PAYLOAD_HEADER_LEN,
            "payload smaller than its header"
        );
        arena.reserve(size);
        arena.put_u64_le(self.intended_ns);
        arena.put_u64_le(self.sequence);
        arena.put_u32_le(self.publisher_index);
        arena.put_u32_le(PAYLOAD_MAGIC);
        arena.put_bytes(0, size - PAYLOAD_HEADER_LEN);
        arena.split().freeze()
    }

    /// Reads the header of a payload; `None` when it is too short or was not
    /// written by loadgen.
    pub fn read(payload: &[u8]) -> Option<PayloadHeader> {
        let header = payload.get(..PAYLOAD_HEADER_LEN)?;
        let word = |at: usize| u64::from_le_bytes(header[at..at + 8].try_into().expect("8 bytes"));
        let half = |at: usize| u32::from_le_bytes(header[at..at + 4].try_into().expect("4 bytes"));
        if half(20) != PAYLOAD_MAGIC {
            return None;
        }
        Some(PayloadHeader {
            intended_ns: word(0),
            sequence: word(8),
            publisher_index: half(16),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: PayloadHeader = PayloadHeader {
        intended_ns: 1_234_567_890_123,
        sequence: 77,
        publisher_index: 9,
    };

    #[test]
    fn header_round_trips_through_a_padded_payload() {
        let mut arena = BytesMut::new();
        let payload = HEADER.write_payload(64, &mut arena);
        assert_eq!(payload.len(), 64);
        assert_eq!(PayloadHeader::read(&payload), Some(HEADER));
        assert!(payload[PAYLOAD_HEADER_LEN..].iter().all(|&b| b == 0));
    }

    #[test]
    fn payload_of_exactly_header_size_round_trips() {
        let mut arena = BytesMut::new();
        let payload = HEADER.write_payload(PAYLOAD_HEADER_LEN, &mut arena);
        assert_eq!(PayloadHeader::read(&payload), Some(HEADER));
    }

    #[test]
    fn short_payload_is_not_a_header() {
        let mut arena = BytesMut::new();
        let payload = HEADER.write_payload(PAYLOAD_HEADER_LEN, &mut arena);
        assert_eq!(
            PayloadHeader::read(&payload[..PAYLOAD_HEADER_LEN - 1]),
            None
        );
    }

    #[test]
    fn foreign_payload_without_magic_is_not_a_header() {
        assert_eq!(PayloadHeader::read(&[0xAB; 32]), None);
    }

    #[test]
    fn consecutive_payloads_from_one_arena_are_independent() {
        let mut arena = BytesMut::new();
        let first = HEADER.write_payload(32, &mut arena);
        let second = PayloadHeader {
            sequence: 78,
            ..HEADER
        }
        .write_payload(32, &mut arena);
        assert_eq!(PayloadHeader::read(&first).map(|h| h.sequence), Some(77));
        assert_eq!(PayloadHeader::read(&second).map(|h| h.sequence), Some(78));
    }
}
