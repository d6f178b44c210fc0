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
    with_empty_set.properties = Some(Box::default());
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
