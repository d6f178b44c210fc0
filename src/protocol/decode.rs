//! The second phase of decoding: one complete frame into a [`Packet`].
//!
//! [`decode`] first reads the fixed header with [`peek_frame_at`] (which refuses
//! an oversized packet before its body is buffered), waits for the whole frame,
//! splits it off the read buffer and parses it. Every string, binary field and
//! payload of the result is a slice of that frame.

use std::sync::Arc;

use bytes::BytesMut;

use super::error::ProtocolError;
use super::framing::{peek_frame_at, FrameHeader, PacketType};
use super::packet::*;
use super::properties::PublishProperties;
use super::properties_codec::{decode_properties, decode_shared_properties, WILL_PROPERTIES};
use super::reader::Reader;
use super::reason::ReasonCode;
use super::reason_codes;

/// Decodes one packet from the front of `buf`, splitting its bytes off.
///
/// `Ok(None)` means more bytes are needed; nothing was consumed. `version` is
/// the level agreed by CONNECT; CONNECT itself is decoded at its own level. A
/// packet over `maximum_packet_size` (fixed header included) is refused from
/// its fixed header alone. An error ends the connection (close it with
/// [`ProtocolError::reason_code`]); the bad frame may or may not have been
/// consumed, and `buf` is not to be decoded from again.
pub fn decode(
    buf: &mut BytesMut,
    version: ProtocolVersion,
    maximum_packet_size: u32,
) -> Result<Option<Packet>, ProtocolError> {
    let Some(header) = peek_frame_at(buf, maximum_packet_size, version)? else {
        return Ok(None);
    };
    if buf.len() < header.frame_len() {
        return Ok(None);
    }
    let frame = buf.split_to(header.frame_len()).freeze();
    let mut reader = Reader::new(frame, header.header_len);
    // PUBLISH is most of the traffic: decoded here, without the match over
    // every packet type and the large stack frame that match needs.
    let packet = if header.packet_type == PacketType::Publish {
        Packet::Publish(decode_publish(header.flags, &mut reader, version.is_v5())?)
    } else {
        decode_body(&header, &mut reader, version)?
    };
    if !reader.is_empty() {
        return Err(ProtocolError::TrailingBytes {
            packet_type: header.packet_type as u8,
        });
    }
    Ok(Some(packet))
}

#[inline(never)]
fn decode_body(
    header: &FrameHeader,
    reader: &mut Reader,
    version: ProtocolVersion,
) -> Result<Packet, ProtocolError> {
    let v5 = version.is_v5();
    Ok(match header.packet_type {
        PacketType::Connect => Packet::Connect(Box::new(decode_connect(reader)?)),
        PacketType::ConnAck => Packet::ConnAck(Box::new(decode_connack(reader, v5)?)),
        PacketType::Publish => Packet::Publish(decode_publish(header.flags, reader, v5)?),
        PacketType::PubAck => {
            Packet::PubAck(decode_publish_response(PacketType::PubAck, reader, v5)?)
        }
        PacketType::PubRec => {
            Packet::PubRec(decode_publish_response(PacketType::PubRec, reader, v5)?)
        }
        PacketType::PubRel => {
            Packet::PubRel(decode_publish_response(PacketType::PubRel, reader, v5)?)
        }
        PacketType::PubComp => {
            Packet::PubComp(decode_publish_response(PacketType::PubComp, reader, v5)?)
        }
        PacketType::Subscribe => Packet::Subscribe(decode_subscribe(reader, v5)?),
        PacketType::SubAck => Packet::SubAck(decode_suback(reader, v5)?),
        PacketType::Unsubscribe => Packet::Unsubscribe(decode_unsubscribe(reader, v5)?),
        PacketType::UnsubAck => Packet::UnsubAck(decode_unsuback(reader, v5)?),
        PacketType::PingReq => Packet::PingReq,
        PacketType::PingResp => Packet::PingResp,
        PacketType::Disconnect => Packet::Disconnect(decode_disconnect(reader, v5)?),
        PacketType::Auth if v5 => Packet::Auth(Box::new(decode_auth(reader)?)),
        PacketType::Auth => {
            return Err(ProtocolError::ReservedPacketType {
                packet_type: PacketType::Auth as u8,
            })
        }
    })
}

fn packet_id(reader: &mut Reader) -> Result<PacketId, ProtocolError> {
    match reader.u16()? {
        0 => Err(ProtocolError::ZeroPacketId),
        packet_id => Ok(packet_id),
    }
}

fn reason_code(
    reader: &mut Reader,
    packet_type: PacketType,
    allowed: &[u8],
) -> Result<ReasonCode, ProtocolError> {
    let value = reader.u8()?;
    let invalid = ProtocolError::InvalidReasonCode {
        packet_type: packet_type as u8,
        value,
    };
    if !allowed.contains(&value) {
        return Err(invalid);
    }
    ReasonCode::from_u8(value).ok_or(invalid)
}

fn decode_connect(reader: &mut Reader) -> Result<Connect, ProtocolError> {
    let protocol_name = reader.binary()?;
    let level = reader.u8()?;
    let protocol_version = match (&protocol_name[..], level) {
        (b"MQIsdp", 3) => ProtocolVersion::V3_1,
        (b"MQTT", 4) => ProtocolVersion::V3_1_1,
        (b"MQTT", 5) => ProtocolVersion::V5,
        (b"MQTT" | b"MQIsdp", _) => return Err(ProtocolError::UnsupportedProtocolLevel { level }),
        _ => return Err(ProtocolError::BadProtocolName),
    };
    let v5 = protocol_version.is_v5();
    let flags = ConnectFlags::decode(reader.u8()?, v5)?;
    let keep_alive_s = reader.u16()?;
    let properties = if v5 {
        decode_properties(reader, PacketType::Connect as u8)?
    } else {
        Default::default()
    };
    let client_id = reader.string()?;
    let will = match flags.will_qos {
        Some(qos) => Some(decode_will(reader, qos, flags.will_retain, v5)?),
        None => None,
    };
    let username = if flags.username {
        Some(reader.string()?)
    } else {
        None
    };
    let password = if flags.password {
        Some(reader.binary()?)
    } else {
        None
    };
    Ok(Connect {
        protocol_version,
        clean_start: flags.clean_start,
        keep_alive_s,
        client_id,
        will,
        username,
        password,
        properties,
    })
}

/// The Connect Flags byte (3.1.2.3), checked.
struct ConnectFlags {
    clean_start: bool,
    /// The Will QoS when the Will Flag is set.
    will_qos: Option<QoS>,
    will_retain: bool,
    password: bool,
    username: bool,
}

impl ConnectFlags {
    fn decode(byte: u8, v5: bool) -> Result<ConnectFlags, ProtocolError> {
        if byte & 0x01 != 0 {
            return Err(ProtocolError::ConnectReservedFlag);
        }
        let will = byte & 0x04 != 0;
        let will_qos_bits = (byte >> 3) & 0x03;
        let will_retain = byte & 0x20 != 0;
        let password = byte & 0x40 != 0;
        let username = byte & 0x80 != 0;
        let will_qos = if will {
            Some(QoS::from_u8(will_qos_bits).ok_or(ProtocolError::WillQosInvalid)?)
        } else {
            if will_qos_bits != 0 {
                return Err(ProtocolError::WillQosWithoutWill);
            }
            if will_retain {
                return Err(ProtocolError::WillRetainWithoutWill);
            }
            None
        };
        if password && !username && !v5 {
            return Err(ProtocolError::PasswordWithoutUsername);
        }
        Ok(ConnectFlags {
            clean_start: byte & 0x02 != 0,
            will_qos,
            will_retain,
            password,
            username,
        })
    }
}

fn decode_will(
    reader: &mut Reader,
    qos: QoS,
    retain: bool,
    v5: bool,
) -> Result<LastWill, ProtocolError> {
    let properties = if v5 {
        decode_properties(reader, WILL_PROPERTIES)?
    } else {
        Default::default()
    };
    let topic_name = reader.topic_name()?;
    if topic_name.is_empty() {
        return Err(ProtocolError::TopicNameEmpty);
    }
    let payload = reader.binary()?;
    Ok(LastWill {
        topic_name,
        payload,
        qos,
        retain,
        properties,
    })
}

fn decode_connack(reader: &mut Reader, v5: bool) -> Result<ConnAck, ProtocolError> {
    let flags = reader.u8()?;
    if flags & 0xFE != 0 {
        return Err(ProtocolError::ConnAckReservedFlags);
    }
    let reason_code = if v5 {
        reason_code(reader, PacketType::ConnAck, reason_codes::CONNACK)?
    } else {
        let value = reader.u8()?;
        reason_codes::connack_from_return_code(value).ok_or(ProtocolError::InvalidReasonCode {
            packet_type: PacketType::ConnAck as u8,
            value,
        })?
    };
    let properties = if v5 {
        decode_properties(reader, PacketType::ConnAck as u8)?
    } else {
        Default::default()
    };
    Ok(ConnAck {
        session_present: flags & 0x01 != 0,
        reason_code,
        properties,
    })
}

// Always inlined into `decode`: the call and the move of its result out cost
// about a twentieth of a PUBLISH decode.
#[inline(always)]
fn decode_publish(flags: u8, reader: &mut Reader, v5: bool) -> Result<Publish, ProtocolError> {
    let dup = flags & 0x08 != 0;
    let qos = QoS::from_u8((flags >> 1) & 0x03).ok_or(ProtocolError::PublishQosInvalid)?;
    let retain = flags & 0x01 != 0;
    if dup && qos == QoS::AtMostOnce {
        return Err(ProtocolError::DupOnQos0);
    }
    let topic_name = reader.topic_name()?;
    let packet_id = if qos == QoS::AtMostOnce {
        None
    } else {
        Some(packet_id(reader)?)
    };
    let properties: Option<Arc<PublishProperties>> = if v5 {
        decode_shared_properties(reader, PacketType::Publish as u8)?
    } else {
        None
    };
    let topic_alias = properties.as_ref().and_then(|set| set.topic_alias);
    if topic_name.is_empty() && topic_alias.is_none() {
        return Err(ProtocolError::TopicNameEmpty);
    }
    Ok(Publish {
        dup,
        qos,
        retain,
        topic_name,
        packet_id,
        properties,
        payload: reader.rest(),
    })
}

fn decode_publish_response(
    packet_type: PacketType,
    reader: &mut Reader,
    v5: bool,
) -> Result<PublishResponse, ProtocolError> {
    let packet_id = packet_id(reader)?;
    // Remaining length 2 under v5 is the short form: Success, no properties.
    if !v5 || reader.is_empty() {
        return Ok(PublishResponse::success(packet_id));
    }
    let allowed = match packet_type {
        PacketType::PubAck | PacketType::PubRec => reason_codes::PUBACK,
        _ => reason_codes::PUBREL,
    };
    let reason_code = reason_code(reader, packet_type, allowed)?;
    let properties = if reader.is_empty() {
        Default::default()
    } else {
        decode_properties(reader, packet_type as u8)?
    };
    Ok(PublishResponse {
        packet_id,
        reason_code,
        properties,
    })
}

fn decode_subscription_options(byte: u8, v5: bool) -> Result<SubscriptionOptions, ProtocolError> {
    let reserved_mask = if v5 { 0xC0 } else { 0xFC };
    if byte & reserved_mask != 0 {
        return Err(ProtocolError::SubscriptionOptionsReservedBits);
    }
    let qos = QoS::from_u8(byte & 0x03).ok_or(ProtocolError::SubscriptionQosInvalid)?;
    let retain_handling = match (byte >> 4) & 0x03 {
        0 => RetainHandling::SendAtSubscribe,
        1 => RetainHandling::SendAtNewSubscribe,
        2 => RetainHandling::DoNotSend,
        _ => return Err(ProtocolError::RetainHandlingInvalid),
    };
    Ok(SubscriptionOptions {
        qos,
        no_local: byte & 0x04 != 0,
        retain_as_published: byte & 0x08 != 0,
        retain_handling,
    })
}

fn decode_subscribe(reader: &mut Reader, v5: bool) -> Result<Subscribe, ProtocolError> {
    let packet_id = packet_id(reader)?;
    let properties = if v5 {
        decode_properties(reader, PacketType::Subscribe as u8)?
    } else {
        Default::default()
    };
    // Grows with what is read: each entry takes at least three bytes of the frame.
    let mut filters = Vec::new();
    while !reader.is_empty() {
        let topic_filter = reader.string()?;
        let options = decode_subscription_options(reader.u8()?, v5)?;
        filters.push((topic_filter, options));
    }
    if filters.is_empty() {
        return Err(ProtocolError::SubscribeEmpty);
    }
    Ok(Subscribe {
        packet_id,
        properties,
        filters,
    })
}

fn decode_suback(reader: &mut Reader, v5: bool) -> Result<SubAck, ProtocolError> {
    let packet_id = packet_id(reader)?;
    let properties = if v5 {
        decode_properties(reader, PacketType::SubAck as u8)?
    } else {
        Default::default()
    };
    let allowed = if v5 {
        reason_codes::SUBACK
    } else {
        reason_codes::SUBACK_V3
    };
    let mut reason_codes = Vec::new();
    while !reader.is_empty() {
        reason_codes.push(reason_code(reader, PacketType::SubAck, allowed)?);
    }
    Ok(SubAck {
        packet_id,
        properties,
        reason_codes,
    })
}

fn decode_unsubscribe(reader: &mut Reader, v5: bool) -> Result<Unsubscribe, ProtocolError> {
    let packet_id = packet_id(reader)?;
    let properties = if v5 {
        decode_properties(reader, PacketType::Unsubscribe as u8)?
    } else {
        Default::default()
    };
    let mut filters = Vec::new();
    while !reader.is_empty() {
        filters.push(reader.string()?);
    }
    if filters.is_empty() {
        return Err(ProtocolError::UnsubscribeEmpty);
    }
    Ok(Unsubscribe {
        packet_id,
        properties,
        filters,
    })
}

fn decode_unsuback(reader: &mut Reader, v5: bool) -> Result<UnsubAck, ProtocolError> {
    let packet_id = packet_id(reader)?;
    if !v5 {
        return Ok(UnsubAck {
            packet_id,
            properties: Default::default(),
            reason_codes: Vec::new(),
        });
    }
    let properties = decode_properties(reader, PacketType::UnsubAck as u8)?;
    let mut reason_codes = Vec::new();
    while !reader.is_empty() {
        reason_codes.push(reason_code(
            reader,
            PacketType::UnsubAck,
            reason_codes::UNSUBACK,
        )?);
    }
    Ok(UnsubAck {
        packet_id,
        properties,
        reason_codes,
    })
}

fn decode_disconnect(reader: &mut Reader, v5: bool) -> Result<Disconnect, ProtocolError> {
    // Remaining length 0 (always, below v5) means a normal disconnection.
    if !v5 || reader.is_empty() {
        return Ok(Disconnect {
            reason_code: ReasonCode::Success,
            properties: Default::default(),
        });
    }
    let reason_code = reason_code(reader, PacketType::Disconnect, reason_codes::DISCONNECT)?;
    let properties = if reader.is_empty() {
        Default::default()
    } else {
        decode_properties(reader, PacketType::Disconnect as u8)?
    };
    Ok(Disconnect {
        reason_code,
        properties,
    })
}

fn decode_auth(reader: &mut Reader) -> Result<Auth, ProtocolError> {
    if reader.is_empty() {
        return Ok(Auth {
            reason_code: ReasonCode::Success,
            properties: Default::default(),
        });
    }
    let reason_code = reason_code(reader, PacketType::Auth, reason_codes::AUTH)?;
    let properties = if reader.is_empty() {
        Default::default()
    } else {
        decode_properties(reader, PacketType::Auth as u8)?
    };
    Ok(Auth {
        reason_code,
        properties,
    })
}
