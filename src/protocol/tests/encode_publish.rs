//! PUBLISH encoding, which has a path of its own: every Remaining Length size
//! round-trips, and a PUBLISH the codec refuses leaves the buffer untouched.

use bytes::{Bytes, BytesMut};
use bytestring::ByteString;

use super::{V4, V5};
use crate::protocol::*;

fn publish(qos: QoS, packet_id: Option<PacketId>, payload_len: usize) -> Publish {
    Publish {
        dup: false,
        qos,
        retain: true,
        topic_name: ByteString::from_static("a/b"),
        packet_id,
        properties: None,
        payload: Bytes::from(vec![0x5A; payload_len]),
    }
}

/// Encodes `packet` after two bytes already in the buffer, then checks the
/// frame's length against `encoded_len` and decodes it back.
fn assert_round_trip(packet: Packet, version: ProtocolVersion) {
    let mut buf = BytesMut::from(&[0xC0, 0][..]);
    encode(&packet, version, &mut buf).expect("a valid PUBLISH encodes");
    assert_eq!(encoded_len(&packet, version), Ok(buf.len() - 2));
    assert_eq!(
        decode(&mut buf, version, u32::MAX),
        Ok(Some(Packet::PingReq))
    );
    assert_eq!(decode(&mut buf, version, u32::MAX), Ok(Some(packet)));
    assert!(buf.is_empty());
}

#[test]
fn publish_round_trips_at_every_remaining_length_size() {
    // Remaining lengths either side of each Variable Byte Integer size step.
    for remaining_length in [127, 128, 16_383, 16_384, 2_097_151, 2_097_152] {
        for version in [V4, V5] {
            let head_len = 2 + 3 + 2 + usize::from(version.is_v5());
            let packet = publish(QoS::AtLeastOnce, Some(7), remaining_length - head_len);
            assert_round_trip(Packet::Publish(packet), version);
        }
    }
}

#[test]
fn publish_with_properties_round_trips_at_5() {
    let mut packet = publish(QoS::ExactlyOnce, Some(9), 300);
    packet.properties_mut().message_expiry_interval_s = Some(60);
    packet.properties_mut().user_properties = vec![("k".into(), "v".into())];
    assert_round_trip(Packet::Publish(packet), V5);
}

#[test]
fn empty_properties_encode_as_none() {
    let mut with_empty_set = publish(QoS::AtMostOnce, None, 4);
    with_empty_set.properties = Some(Default::default());
    let without = publish(QoS::AtMostOnce, None, 4);
    let (mut ours, mut theirs) = (BytesMut::new(), BytesMut::new());
    encode(&Packet::Publish(with_empty_set), V5, &mut ours).unwrap();
    encode(&Packet::Publish(without), V5, &mut theirs).unwrap();
    assert_eq!(ours, theirs);
}

/// Encoding `publish` fails with `error` at both levels, and writes nothing.
fn assert_refused(publish: Publish, error: EncodeError) {
    let packet = Packet::Publish(publish);
    for version in [V4, V5] {
        let mut buf = BytesMut::from(&b"kept"[..]);
        assert_eq!(encode(&packet, version, &mut buf), Err(error));
        assert_eq!(encoded_len(&packet, version), Err(error));
        assert_eq!(&buf[..], b"kept");
    }
}

#[test]
fn publish_with_packet_id_zero_is_refused() {
    assert_refused(
        publish(QoS::AtLeastOnce, Some(0), 1),
        EncodeError::ZeroPacketId,
    );
}

#[test]
fn publish_packet_id_must_match_qos() {
    assert_refused(
        publish(QoS::AtLeastOnce, None, 1),
        EncodeError::PacketIdMismatch,
    );
    assert_refused(
        publish(QoS::AtMostOnce, Some(3), 1),
        EncodeError::PacketIdMismatch,
    );
}

#[test]
fn publish_topic_name_over_65535_bytes_is_refused() {
    let mut packet = publish(QoS::AtMostOnce, None, 1);
    packet.topic_name = ByteString::from("t".repeat(65_536));
    assert_refused(packet, EncodeError::FieldTooLong { length: 65_536 });
}

#[test]
fn publish_over_the_largest_remaining_length_is_refused() {
    let mut packet = publish(QoS::AtMostOnce, None, 0);
    // Zeroed, so the allocator hands out pages that are never touched.
    packet.payload = Bytes::from(vec![0; crate::limits::REMAINING_LENGTH_MAX as usize]);
    assert_refused(packet, EncodeError::PacketTooLarge);
}

/// The frame of a PUBLISH of topic `a/b` with `packet_id` and `payload`, as
/// the spec lays it out (section 3.3), for `version`.
fn expected_frame(
    qos: QoS,
    packet_id: Option<PacketId>,
    payload: &[u8],
    version: ProtocolVersion,
) -> Vec<u8> {
    let mut body = vec![0, 3, b'a', b'/', b'b'];
    if let Some(packet_id) = packet_id {
        body.extend_from_slice(&packet_id.to_be_bytes());
    }
    if version.is_v5() {
        body.push(0);
    }
    body.extend_from_slice(payload);
    let mut frame = vec![0x30 | (qos as u8) << 1 | 1, body.len() as u8];
    frame.extend_from_slice(&body);
    frame
}

#[test]
fn publish_frame_is_exact_and_ends_the_buffer_at_every_qos_and_level() {
    // The shortest frames end in the packet id, the Property Length or the
    // topic name itself, where the encoder's whole-word writes leave spare
    // bytes to cut off.
    for version in [V4, V5] {
        for (qos, packet_id) in [
            (QoS::AtMostOnce, None),
            (QoS::AtLeastOnce, Some(0x0102)),
            (QoS::ExactlyOnce, Some(0xFFFE)),
        ] {
            for payload_len in [0, 1, 5] {
                let packet = publish(qos, packet_id, payload_len);
                let expected = expected_frame(qos, packet_id, &packet.payload, version);
                let mut buf = BytesMut::from(&b"kept"[..]);
                encode(&Packet::Publish(packet), version, &mut buf).unwrap();
                assert_eq!(&buf[..4], b"kept");
                assert_eq!(
                    &buf[4..],
                    &expected[..],
                    "{qos:?} {version:?} {payload_len}"
                );
            }
        }
    }
}

#[test]
fn publish_breaking_two_rules_is_refused_for_the_one_encoded_len_names() {
    let mut packet = publish(QoS::AtLeastOnce, Some(0), 1);
    packet.topic_name = ByteString::from("t".repeat(65_536));
    assert_refused(packet, EncodeError::FieldTooLong { length: 65_536 });
}
