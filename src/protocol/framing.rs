//! The first phase of decoding: the fixed header (section 2.1) and the
//! Variable Byte Integer it carries (section 1.5.5).
//!
//! [`peek_frame`] reads only the fixed header, so a caller learns the packet
//! type and the whole frame length, and a packet over the maximum packet size is
//! refused before a byte of its body is buffered.

use super::error::ProtocolError;
use super::packet::ProtocolVersion;
use crate::limits::REMAINING_LENGTH_MAX;

/// The longest Variable Byte Integer, bytes.
pub const VARIABLE_BYTE_INTEGER_LEN_MAX: usize = 4;

/// The longest fixed header: the type byte and a four-byte remaining length.
pub const FIXED_HEADER_LEN_MAX: usize = 1 + VARIABLE_BYTE_INTEGER_LEN_MAX;

/// The control packet type, the high nibble of the first byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PacketType {
    /// CONNECT.
    Connect = 1,
    /// CONNACK.
    ConnAck = 2,
    /// PUBLISH.
    Publish = 3,
    /// PUBACK.
    PubAck = 4,
    /// PUBREC.
    PubRec = 5,
    /// PUBREL.
    PubRel = 6,
    /// PUBCOMP.
    PubComp = 7,
    /// SUBSCRIBE.
    Subscribe = 8,
    /// SUBACK.
    SubAck = 9,
    /// UNSUBSCRIBE.
    Unsubscribe = 10,
    /// UNSUBACK.
    UnsubAck = 11,
    /// PINGREQ.
    PingReq = 12,
    /// PINGRESP.
    PingResp = 13,
    /// DISCONNECT.
    Disconnect = 14,
    /// AUTH (5.0 only).
    Auth = 15,
}

impl PacketType {
    /// The type for a packet type nibble; `None` for the reserved value 0.
    pub fn from_u8(value: u8) -> Option<PacketType> {
        use PacketType::*;
        Some(match value {
            1 => Connect,
            2 => ConnAck,
            3 => Publish,
            4 => PubAck,
            5 => PubRec,
            6 => PubRel,
            7 => PubComp,
            8 => Subscribe,
            9 => SubAck,
            10 => Unsubscribe,
            11 => UnsubAck,
            12 => PingReq,
            13 => PingResp,
            14 => Disconnect,
            15 => Auth,
            _ => return None,
        })
    }

    /// The flags nibble every packet type but PUBLISH must carry [MQTT-2.1.3-1].
    pub fn fixed_flags(self) -> u8 {
        match self {
            PacketType::PubRel | PacketType::Subscribe | PacketType::Unsubscribe => 0b0010,
            _ => 0,
        }
    }

    /// True when `flags` are allowed on this type (not PUBLISH) at `version`:
    /// [`PacketType::fixed_flags`], and under MQTT 3.1 also with DUP (0b1000) on
    /// PUBREL, SUBSCRIBE and UNSUBSCRIBE, which 3.1 lets a client set when it
    /// resends them (3.1, 2.1); 3.1.1 fixed those flags [MQTT-2.1.3-1].
    pub fn flags_allowed(self, flags: u8, version: ProtocolVersion) -> bool {
        let fixed = self.fixed_flags();
        flags == fixed
            || (version == ProtocolVersion::V3_1 && fixed != 0 && flags == fixed | 0b1000)
    }
}

/// A parsed fixed header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// The control packet type.
    pub packet_type: PacketType,
    /// The low nibble of the first byte (PUBLISH's DUP, QoS and RETAIN).
    pub flags: u8,
    /// Length of the fixed header itself, 2 to 5 bytes.
    pub header_len: usize,
    /// The Remaining Length: bytes of the frame after the fixed header.
    pub remaining_length: u32,
}

impl FrameHeader {
    /// Length of the whole frame, fixed header included, bytes.
    pub fn frame_len(&self) -> usize {
        self.header_len + self.remaining_length as usize
    }
}

/// Reads the fixed header at the front of `buf` without consuming anything.
///
/// `Ok(None)` until the whole fixed header is there. The packet type must be
/// defined and its flags right; the frame length must not exceed
/// `maximum_packet_size`, checked here so the caller never buffers an
/// oversized body. The frame itself may still be incomplete.
#[inline]
pub fn peek_frame(
    buf: &[u8],
    maximum_packet_size: u32,
) -> Result<Option<FrameHeader>, ProtocolError> {
    peek_frame_at(buf, maximum_packet_size, ProtocolVersion::V3_1_1)
}

/// [`peek_frame`] for a connection at protocol level `version`, whose rules for
/// the fixed header's flags it applies (see [`PacketType::flags_allowed`]).
#[inline]
pub fn peek_frame_at(
    buf: &[u8],
    maximum_packet_size: u32,
    version: ProtocolVersion,
) -> Result<Option<FrameHeader>, ProtocolError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let type_nibble = first >> 4;
    let flags = first & 0x0F;
    let packet_type =
        PacketType::from_u8(type_nibble).ok_or(ProtocolError::ReservedPacketType {
            packet_type: type_nibble,
        })?;
    if packet_type != PacketType::Publish && !packet_type.flags_allowed(flags, version) {
        return Err(ProtocolError::InvalidFixedHeaderFlags {
            packet_type: type_nibble,
            flags,
        });
    }
    let Some((remaining_length, varint_len)) = read_variable_byte_integer(&buf[1..])? else {
        return Ok(None);
    };
    let header = FrameHeader {
        packet_type,
        flags,
        header_len: 1 + varint_len,
        remaining_length,
    };
    // Lossless: at most REMAINING_LENGTH_MAX + 5 bytes, well inside u32.
    let packet_size = header.frame_len() as u32;
    if packet_size > maximum_packet_size {
        return Err(ProtocolError::PacketTooLarge {
            packet_size,
            maximum_packet_size,
        });
    }
    Ok(Some(header))
}

/// Reads a Variable Byte Integer from the front of `buf`: its value and length
/// in bytes, or `None` if `buf` ends before its last byte.
#[inline]
pub fn read_variable_byte_integer(buf: &[u8]) -> Result<Option<(u32, usize)>, ProtocolError> {
    let mut value: u32 = 0;
    for (index, &byte) in buf.iter().enumerate() {
        if index == VARIABLE_BYTE_INTEGER_LEN_MAX {
            return Err(ProtocolError::VariableByteIntegerTooLong);
        }
        value |= u32::from(byte & 0x7F) << (7 * index);
        if byte & 0x80 == 0 {
            // A last byte of 0 after the first means a shorter encoding existed.
            if byte == 0 && index > 0 {
                return Err(ProtocolError::VariableByteIntegerNotMinimal);
            }
            return Ok(Some((value, index + 1)));
        }
    }
    if buf.len() >= VARIABLE_BYTE_INTEGER_LEN_MAX {
        return Err(ProtocolError::VariableByteIntegerTooLong);
    }
    Ok(None)
}

/// Number of bytes the Variable Byte Integer encoding of `value` takes.
pub fn variable_byte_integer_len(value: u32) -> usize {
    assert!(
        value <= REMAINING_LENGTH_MAX,
        "variable byte integer out of range"
    );
    match value {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}
