//! Encoding of every packet, for a given protocol level.
//!
//! The body is written by one generic function run twice (see
//! [`super::writer`]): once counting, to get the remaining length, then into
//! the output reserved to the exact frame size. Under 3.1/3.1.1 properties are
//! left out and reason codes become the return codes of that level.
//!
//! PUBLISH, most of what a broker writes, has a path of its own: its length is
//! a sum of its few fields, and without properties it is appended in four
//! pieces (fixed header with the topic length, topic, packet id and property
//! length, payload), the two short ones each built in a register and stored
//! as one word. `bench/examples/codec_ops.rs` counts its instructions beside
//! the mqttbytes crate's, and times the two in alternation.

use bytes::BytesMut;

use super::error::EncodeError;
use super::framing::{variable_byte_integer_len, PacketType, FIXED_HEADER_LEN_MAX};
use super::packet::*;
use super::properties_codec::{encode_properties, properties_len, PropertySet};
use super::reason::ReasonCode;
use super::reason_codes;
use super::writer::{LenCounter, Sink, SliceWriter};
use crate::limits::REMAINING_LENGTH_MAX;

impl Packet {
    /// The control packet type.
    pub fn packet_type(&self) -> PacketType {
        match self {
            Packet::Connect(_) => PacketType::Connect,
            Packet::ConnAck(_) => PacketType::ConnAck,
            Packet::Publish(_) => PacketType::Publish,
            Packet::PubAck(_) => PacketType::PubAck,
            Packet::PubRec(_) => PacketType::PubRec,
            Packet::PubRel(_) => PacketType::PubRel,
            Packet::PubComp(_) => PacketType::PubComp,
            Packet::Subscribe(_) => PacketType::Subscribe,
            Packet::SubAck(_) => PacketType::SubAck,
            Packet::Unsubscribe(_) => PacketType::Unsubscribe,
            Packet::UnsubAck(_) => PacketType::UnsubAck,
            Packet::PingReq => PacketType::PingReq,
            Packet::PingResp => PacketType::PingResp,
            Packet::Disconnect(_) => PacketType::Disconnect,
            Packet::Auth(_) => PacketType::Auth,
        }
    }
}

/// Appends the encoding of `packet` for `version` to `out`, reserving the
/// exact frame size once. CONNECT is encoded at its own `protocol_version`.
/// On error nothing is written.
///
/// The frame is `out.len()` after minus before; [`encoded_len`] gives it
/// without encoding (for PUBLISH, a few additions when it has no properties).
pub fn encode(
    packet: &Packet,
    version: ProtocolVersion,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    match packet {
        Packet::Publish(publish) => encode_publish(&publish.borrowed(), version.is_v5(), out),
        _ => encode_other(packet, version, out),
    }
}

/// Every packet but PUBLISH: counted, then written into the frame grown once.
/// Kept out of line so [`encode`] stays small for PUBLISH.
#[inline(never)]
fn encode_other(
    packet: &Packet,
    version: ProtocolVersion,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    let remaining_length = remaining_length(packet, version)?;
    let frame_len = 1 + variable_byte_integer_len(remaining_length) + remaining_length as usize;
    let start = out.len();
    out.resize(start + frame_len, 0);
    let mut writer = SliceWriter::new(&mut out[start..]);
    writer.u8(first_byte(packet));
    let written = writer
        .variable_byte_integer(remaining_length)
        .and_then(|()| write_body(packet, version, &mut writer));
    // The counting pass checked every field, so writing cannot fail or differ.
    assert!(
        written.is_ok() && writer.position == frame_len,
        "counted and written frames differ"
    );
    Ok(())
}

/// PUBLISH, the packet on the hot path. Its remaining length is computed once,
/// field by field (which checks every field). Without properties, the fixed
/// header with the topic name's length, and the packet id with an empty
/// property length, are each built in a register and stored as one word,
/// around the topic name and before the payload, appended as they are.
#[inline]
fn encode_publish(
    publish: &PublishRef<'_>,
    v5: bool,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    if v5 && publish.properties.is_some_and(|set| !set.is_empty()) {
        return encode_publish_with_properties(publish, out);
    }
    let topic_name = publish.topic_name.as_bytes();
    // After the topic name: the packet id, then under v5 a Property Length of
    // 0, which is the zero byte after the packet id in the word.
    let (tail, tail_len) = match (publish.qos, publish.packet_id) {
        (QoS::AtMostOnce, None) => (0, usize::from(v5)),
        (QoS::AtLeastOnce | QoS::ExactlyOnce, Some(packet_id)) if packet_id != 0 => (
            u32::from(u16::from_le_bytes(packet_id.to_be_bytes())),
            2 + usize::from(v5),
        ),
        _ => return Err(publish_error(publish, v5)),
    };
    let remaining_length = 2 + topic_name.len() + tail_len + publish.payload.len();
    let (Ok(topic_len), Ok(remaining_length)) = (
        u16::try_from(topic_name.len()),
        checked_remaining_length(remaining_length),
    ) else {
        return Err(publish_error(publish, v5));
    };
    let (head, head_len) = publish_head(publish_first_byte(publish), remaining_length, topic_len);
    // Head and tail are appended as whole words, one store each, and the
    // buffer is then cut back to their real length: the spare bytes are
    // overwritten by what follows. The reservation covers the spare bytes, so
    // it stays the only one.
    let frame_len = head_len + topic_name.len() + tail_len + publish.payload.len();
    out.reserve(frame_len + PUBLISH_SPARE_LEN);
    let start = out.len();
    out.extend_from_slice(&head.to_le_bytes());
    out.truncate(start + head_len);
    out.extend_from_slice(topic_name);
    let tail_start = out.len();
    out.extend_from_slice(&tail.to_le_bytes());
    out.truncate(tail_start + tail_len);
    out.extend_from_slice(publish.payload);
    Ok(())
}

/// Why [`encode_publish`] refuses `publish`, which it found invalid: the
/// checks again, one by one, in the order [`encoded_len`] makes them. Out of
/// line and cold, so the valid case runs straight through.
#[cold]
#[inline(never)]
fn publish_error(publish: &PublishRef<'_>, v5: bool) -> EncodeError {
    publish_remaining_length(publish, v5)
        .and_then(checked_remaining_length)
        .expect_err("encode_publish refuses only what the length pass refuses")
}

/// The bytes of the word [`publish_head`] packs.
const PUBLISH_HEAD_WORD_LEN: usize = 8;

/// The bytes of the word holding a PUBLISH's packet id and Property Length.
const PUBLISH_TAIL_WORD_LEN: usize = 4;

/// Room reserved beyond a PUBLISH frame for the spare bytes of its words:
/// the tail word's, when it ends the frame; the head word's, when the frame
/// is the shortest head alone.
const PUBLISH_SPARE_LEN: usize = PUBLISH_TAIL_WORD_LEN;

// The longest head, a four-byte remaining length and the topic length, fits
// its word; the shortest frame (a 4-byte head) plus the spare room holds it.
const _: () = assert!(FIXED_HEADER_LEN_MAX + 2 <= PUBLISH_HEAD_WORD_LEN);
const _: () = assert!(4 + PUBLISH_SPARE_LEN >= PUBLISH_HEAD_WORD_LEN);

/// The fixed header of a PUBLISH and its topic name's length prefix, packed
/// in wire order into the low bytes of a little-endian word, with their
/// length (4 to 7 bytes). `remaining_length` was checked by
/// [`checked_remaining_length`].
///
/// Built in a register rather than in a byte array on the stack: an array
/// written byte by byte and then copied out whole is read back with loads
/// wider than the stores that wrote it, which the processor cannot forward
/// and must wait out.
#[inline]
fn publish_head(first_byte: u8, remaining_length: u32, topic_len: u16) -> (u64, usize) {
    // Big-endian on the wire: the high byte lands at the lower address.
    // Remaining lengths of one and two bytes (frames up to 16 KiB) are the
    // common ones, and have their words built without a loop.
    let topic_len = u64::from(u16::from_le_bytes(topic_len.to_be_bytes()));
    if remaining_length < 128 {
        let head = u64::from(first_byte) | u64::from(remaining_length) << 8 | topic_len << 16;
        return (head, 4);
    }
    if remaining_length < 128 * 128 {
        let low = u64::from(remaining_length % 128) | 0x80;
        let high = u64::from(remaining_length / 128);
        let head = u64::from(first_byte) | low << 8 | high << 16 | topic_len << 24;
        return (head, 5);
    }
    let mut head = u64::from(first_byte);
    let mut len = 1;
    let mut rest = remaining_length;
    loop {
        let mut byte = rest % 128;
        rest /= 128;
        if rest > 0 {
            byte |= 0x80;
        }
        head |= u64::from(byte) << (8 * len);
        len += 1;
        if rest == 0 {
            break;
        }
    }
    (head | topic_len << (8 * len), len + 2)
}

/// A v5 PUBLISH with properties: appended field by field after one reservation.
#[inline(never)]
fn encode_publish_with_properties(
    publish: &PublishRef<'_>,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    let remaining_length = checked_remaining_length(publish_remaining_length(publish, true)?)?;
    let frame_len = 1 + variable_byte_integer_len(remaining_length) + remaining_length as usize;
    let start = out.len();
    out.reserve(frame_len);
    out.u8(publish_first_byte(publish));
    let written = out
        .variable_byte_integer(remaining_length)
        .and_then(|()| write_publish_head(publish, true, out));
    out.raw(publish.payload);
    // The length pass checked every field, so writing cannot fail or differ.
    assert!(
        written.is_ok() && out.len() - start == frame_len,
        "counted and written frames differ"
    );
    Ok(())
}

/// Appends the PUBLISH `publish` for `version` to `out`, as [`encode`] does
/// for a [`Packet::Publish`] with the same fields: a delivery written from
/// the parts of a shared message, without a packet holding references to
/// them. On error nothing is written.
pub fn encode_publish_ref(
    publish: &PublishRef<'_>,
    version: ProtocolVersion,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    encode_publish(publish, version.is_v5(), out)
}

/// The exact number of bytes [`encode_publish_ref`] writes for `publish`.
#[inline]
pub fn publish_ref_len(
    publish: &PublishRef<'_>,
    version: ProtocolVersion,
) -> Result<usize, EncodeError> {
    let remaining_length =
        checked_remaining_length(publish_remaining_length(publish, version.is_v5())?)?;
    Ok(1 + variable_byte_integer_len(remaining_length) + remaining_length as usize)
}

/// The exact number of bytes [`encode`] writes for `packet`, fixed header
/// included: what to compare with a peer's Maximum Packet Size.
pub fn encoded_len(packet: &Packet, version: ProtocolVersion) -> Result<usize, EncodeError> {
    let remaining_length = remaining_length(packet, version)?;
    Ok(1 + variable_byte_integer_len(remaining_length) + remaining_length as usize)
}

#[inline]
fn remaining_length(packet: &Packet, version: ProtocolVersion) -> Result<u32, EncodeError> {
    let len = match packet {
        Packet::Publish(publish) => publish_remaining_length(&publish.borrowed(), version.is_v5())?,
        _ => {
            let mut counter = LenCounter::default();
            write_body(packet, version, &mut counter)?;
            counter.len
        }
    };
    checked_remaining_length(len)
}

/// `len` as a Remaining Length, if it fits in one.
#[inline]
fn checked_remaining_length(len: usize) -> Result<u32, EncodeError> {
    match u32::try_from(len) {
        Ok(len) if len <= REMAINING_LENGTH_MAX => Ok(len),
        _ => Err(EncodeError::PacketTooLarge),
    }
}

/// DUP, QoS and RETAIN under the PUBLISH type nibble.
#[inline]
fn publish_first_byte(publish: &PublishRef<'_>) -> u8 {
    (PacketType::Publish as u8) << 4
        | u8::from(publish.dup) << 3
        | (publish.qos as u8) << 1
        | u8::from(publish.retain)
}

#[inline]
fn first_byte(packet: &Packet) -> u8 {
    match packet {
        Packet::Publish(publish) => publish_first_byte(&publish.borrowed()),
        _ => {
            let packet_type = packet.packet_type();
            (packet_type as u8) << 4 | packet_type.fixed_flags()
        }
    }
}

/// Writes the body after the fixed header; for PUBLISH (which
/// `encode_publish` writes), everything up to the payload.
fn write_body<S: Sink>(
    packet: &Packet,
    version: ProtocolVersion,
    sink: &mut S,
) -> Result<(), EncodeError> {
    let v5 = version.is_v5();
    match packet {
        Packet::Connect(connect) => write_connect(connect, sink),
        Packet::ConnAck(connack) => write_connack(connack, v5, sink),
        Packet::Publish(publish) => write_publish_head(&publish.borrowed(), v5, sink),
        Packet::PubAck(response) | Packet::PubRec(response) => write_publish_response(
            response,
            packet.packet_type(),
            reason_codes::PUBACK,
            v5,
            sink,
        ),
        Packet::PubRel(response) | Packet::PubComp(response) => write_publish_response(
            response,
            packet.packet_type(),
            reason_codes::PUBREL,
            v5,
            sink,
        ),
        Packet::Subscribe(subscribe) => write_subscribe(subscribe, v5, sink),
        Packet::SubAck(suback) => write_suback(suback, v5, sink),
        Packet::Unsubscribe(unsubscribe) => write_unsubscribe(unsubscribe, v5, sink),
        Packet::UnsubAck(unsuback) => write_unsuback(unsuback, v5, sink),
        Packet::PingReq | Packet::PingResp => Ok(()),
        Packet::Disconnect(disconnect) => write_disconnect(disconnect, v5, sink),
        Packet::Auth(auth) if v5 => write_auth(auth, sink),
        Packet::Auth(_) => Err(EncodeError::PacketNotInVersion {
            packet_type: PacketType::Auth as u8,
        }),
    }
}

#[inline]
fn write_packet_id<S: Sink>(sink: &mut S, packet_id: PacketId) -> Result<(), EncodeError> {
    if packet_id == 0 {
        return Err(EncodeError::ZeroPacketId);
    }
    sink.u16(packet_id);
    Ok(())
}

#[inline]
fn write_v5_properties<P: PropertySet, S: Sink>(
    properties: &P,
    v5: bool,
    sink: &mut S,
) -> Result<(), EncodeError> {
    if v5 {
        encode_properties(properties, sink)?;
    }
    Ok(())
}

fn check_reason_code(
    reason_code: ReasonCode,
    packet_type: PacketType,
    allowed: &[u8],
) -> Result<(), EncodeError> {
    if allowed.contains(&reason_code.as_u8()) {
        Ok(())
    } else {
        Err(EncodeError::ReasonCodeNotAllowed {
            packet_type: packet_type as u8,
            reason_code,
        })
    }
}

fn write_connect<S: Sink>(connect: &Connect, sink: &mut S) -> Result<(), EncodeError> {
    let version = connect.protocol_version;
    let v5 = version.is_v5();
    let protocol_name = if version == ProtocolVersion::V3_1 {
        "MQIsdp"
    } else {
        "MQTT"
    };
    sink.string(protocol_name)?;
    sink.u8(version as u8);
    let mut flags = u8::from(connect.username.is_some()) << 7
        | u8::from(connect.password.is_some()) << 6
        | u8::from(connect.clean_start) << 1;
    if let Some(will) = &connect.will {
        flags |= u8::from(will.retain) << 5 | (will.qos as u8) << 3 | 1 << 2;
    }
    sink.u8(flags);
    sink.u16(connect.keep_alive_s);
    write_v5_properties(&connect.properties, v5, sink)?;
    sink.string(&connect.client_id)?;
    if let Some(will) = &connect.will {
        write_v5_properties(&will.properties, v5, sink)?;
        sink.string(&will.topic_name)?;
        sink.binary(&will.payload)?;
    }
    if let Some(username) = &connect.username {
        sink.string(username)?;
    }
    if let Some(password) = &connect.password {
        sink.binary(password)?;
    }
    Ok(())
}

fn write_connack<S: Sink>(connack: &ConnAck, v5: bool, sink: &mut S) -> Result<(), EncodeError> {
    sink.u8(u8::from(connack.session_present));
    if v5 {
        check_reason_code(
            connack.reason_code,
            PacketType::ConnAck,
            reason_codes::CONNACK,
        )?;
        sink.u8(connack.reason_code.as_u8());
        encode_properties(&connack.properties, sink)
    } else {
        let return_code = reason_codes::connack_to_return_code(connack.reason_code).ok_or(
            EncodeError::ReasonCodeNotAllowed {
                packet_type: PacketType::ConnAck as u8,
                reason_code: connack.reason_code,
            },
        )?;
        sink.u8(return_code);
        Ok(())
    }
}

/// PUBLISH's remaining length, computed field by field rather than by a
/// counting pass: it is the packet on the hot path.
#[inline]
fn publish_remaining_length(publish: &PublishRef<'_>, v5: bool) -> Result<usize, EncodeError> {
    let topic_len = publish.topic_name.len();
    if topic_len > usize::from(u16::MAX) {
        return Err(EncodeError::FieldTooLong { length: topic_len });
    }
    let packet_id_len = match (publish.qos, publish.packet_id) {
        (QoS::AtMostOnce, None) => 0,
        (QoS::AtLeastOnce | QoS::ExactlyOnce, Some(packet_id)) if packet_id != 0 => 2,
        (QoS::AtLeastOnce | QoS::ExactlyOnce, Some(_)) => return Err(EncodeError::ZeroPacketId),
        _ => return Err(EncodeError::PacketIdMismatch),
    };
    let properties_len = match publish.properties {
        _ if !v5 => 0,
        None => 1,
        Some(properties) if properties.is_empty() => 1,
        Some(properties) => {
            let len = properties_len(properties)?;
            if len > REMAINING_LENGTH_MAX {
                return Err(EncodeError::PacketTooLarge);
            }
            variable_byte_integer_len(len) + len as usize
        }
    };
    Ok(2 + topic_len + packet_id_len + properties_len + publish.payload.len())
}

/// Everything of a PUBLISH up to its payload, which [`encode`] appends.
#[inline]
fn write_publish_head<S: Sink>(
    publish: &PublishRef<'_>,
    v5: bool,
    sink: &mut S,
) -> Result<(), EncodeError> {
    sink.string(publish.topic_name)?;
    match (publish.qos, publish.packet_id) {
        (QoS::AtMostOnce, None) => {}
        (QoS::AtLeastOnce | QoS::ExactlyOnce, Some(packet_id)) => write_packet_id(sink, packet_id)?,
        _ => return Err(EncodeError::PacketIdMismatch),
    }
    write_v5_properties(publish.properties(), v5, sink)
}

fn write_publish_response<S: Sink>(
    response: &PublishResponse,
    packet_type: PacketType,
    allowed: &[u8],
    v5: bool,
    sink: &mut S,
) -> Result<(), EncodeError> {
    write_packet_id(sink, response.packet_id)?;
    if !v5 {
        return Ok(());
    }
    let no_properties = response.properties.is_empty();
    // The short form: remaining length 2 means Success without properties.
    if response.reason_code == ReasonCode::Success && no_properties {
        return Ok(());
    }
    check_reason_code(response.reason_code, packet_type, allowed)?;
    sink.u8(response.reason_code.as_u8());
    if no_properties {
        return Ok(());
    }
    encode_properties(&response.properties, sink)
}

fn write_subscription_options<S: Sink>(options: &SubscriptionOptions, v5: bool, sink: &mut S) {
    let mut byte = options.qos as u8;
    if v5 {
        byte |= u8::from(options.no_local) << 2
            | u8::from(options.retain_as_published) << 3
            | (options.retain_handling as u8) << 4;
    }
    sink.u8(byte);
}

fn write_subscribe<S: Sink>(
    subscribe: &Subscribe,
    v5: bool,
    sink: &mut S,
) -> Result<(), EncodeError> {
    if subscribe.filters.is_empty() {
        return Err(EncodeError::NoTopicFilters);
    }
    write_packet_id(sink, subscribe.packet_id)?;
    write_v5_properties(&subscribe.properties, v5, sink)?;
    for (topic_filter, options) in &subscribe.filters {
        sink.string(topic_filter)?;
        write_subscription_options(options, v5, sink);
    }
    Ok(())
}

fn write_suback<S: Sink>(suback: &SubAck, v5: bool, sink: &mut S) -> Result<(), EncodeError> {
    write_packet_id(sink, suback.packet_id)?;
    write_v5_properties(&suback.properties, v5, sink)?;
    for &reason_code in &suback.reason_codes {
        let value = if v5 {
            check_reason_code(reason_code, PacketType::SubAck, reason_codes::SUBACK)?;
            reason_code.as_u8()
        } else {
            reason_codes::suback_to_return_code(reason_code).ok_or(
                EncodeError::ReasonCodeNotAllowed {
                    packet_type: PacketType::SubAck as u8,
                    reason_code,
                },
            )?
        };
        sink.u8(value);
    }
    Ok(())
}

fn write_unsubscribe<S: Sink>(
    unsubscribe: &Unsubscribe,
    v5: bool,
    sink: &mut S,
) -> Result<(), EncodeError> {
    if unsubscribe.filters.is_empty() {
        return Err(EncodeError::NoTopicFilters);
    }
    write_packet_id(sink, unsubscribe.packet_id)?;
    write_v5_properties(&unsubscribe.properties, v5, sink)?;
    for topic_filter in &unsubscribe.filters {
        sink.string(topic_filter)?;
    }
    Ok(())
}

fn write_unsuback<S: Sink>(unsuback: &UnsubAck, v5: bool, sink: &mut S) -> Result<(), EncodeError> {
    write_packet_id(sink, unsuback.packet_id)?;
    if !v5 {
        return Ok(());
    }
    encode_properties(&unsuback.properties, sink)?;
    for &reason_code in &unsuback.reason_codes {
        check_reason_code(reason_code, PacketType::UnsubAck, reason_codes::UNSUBACK)?;
        sink.u8(reason_code.as_u8());
    }
    Ok(())
}

fn write_disconnect<S: Sink>(
    disconnect: &Disconnect,
    v5: bool,
    sink: &mut S,
) -> Result<(), EncodeError> {
    if !v5 {
        return Ok(());
    }
    let no_properties = disconnect.properties.is_empty();
    // Remaining length 0 means a normal disconnection without properties.
    if disconnect.reason_code == ReasonCode::Success && no_properties {
        return Ok(());
    }
    check_reason_code(
        disconnect.reason_code,
        PacketType::Disconnect,
        reason_codes::DISCONNECT,
    )?;
    sink.u8(disconnect.reason_code.as_u8());
    if no_properties {
        return Ok(());
    }
    encode_properties(&disconnect.properties, sink)
}

fn write_auth<S: Sink>(auth: &Auth, sink: &mut S) -> Result<(), EncodeError> {
    // Remaining length 0 is the only short form AUTH has (3.15.2.1).
    if auth.reason_code == ReasonCode::Success && auth.properties.is_empty() {
        return Ok(());
    }
    check_reason_code(auth.reason_code, PacketType::Auth, reason_codes::AUTH)?;
    sink.u8(auth.reason_code.as_u8());
    encode_properties(&auth.properties, sink)
}
