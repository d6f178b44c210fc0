//! Property tests: encoding then decoding is the identity for valid packets of
//! every level, and no input, arbitrary or truncated, makes decoding panic.

use bytes::BytesMut;
use proptest::prelude::*;

use crate::protocol::*;

use super::strategies::{packet, version};

/// A valid packet with the level to encode it at.
fn versioned_packet() -> impl Strategy<Value = (ProtocolVersion, Packet)> {
    version().prop_flat_map(|version| packet(version).prop_map(move |packet| (version, packet)))
}

fn encoded(packet: &Packet, version: ProtocolVersion) -> BytesMut {
    let mut out = BytesMut::new();
    encode(packet, version, &mut out).expect("a valid packet encodes");
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn encode_then_decode_is_the_identity((version, packet) in versioned_packet()) {
        let mut buf = encoded(&packet, version);
        prop_assert_eq!(encoded_len(&packet, version), Ok(buf.len()));
        let decoded = decode(&mut buf, version, u32::MAX);
        prop_assert_eq!(decoded, Ok(Some(packet)));
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn encode_appends_after_existing_bytes((version, packet) in versioned_packet()) {
        let mut buf = BytesMut::from(&[0xC0, 0][..]);
        encode(&packet, version, &mut buf).expect("a valid packet encodes");
        prop_assert_eq!(decode(&mut buf, version, u32::MAX), Ok(Some(Packet::PingReq)));
        prop_assert_eq!(decode(&mut buf, version, u32::MAX), Ok(Some(packet)));
    }

    #[test]
    fn truncated_frame_needs_more_bytes_and_consumes_nothing(
        (version, packet) in versioned_packet(),
        cut in any::<prop::sample::Index>(),
    ) {
        let full = encoded(&packet, version);
        let len = cut.index(full.len());
        let mut buf = BytesMut::from(&full[..len]);
        prop_assert_eq!(decode(&mut buf, version, u32::MAX), Ok(None));
        prop_assert_eq!(buf.len(), len);
    }

    #[test]
    fn frame_over_the_maximum_size_is_refused_before_its_body(
        (version, packet) in versioned_packet(),
    ) {
        let full = encoded(&packet, version);
        let maximum_packet_size = (full.len() - 1) as u32;
        let header_len = peek_frame(&full, u32::MAX).unwrap().unwrap().header_len;
        let mut buf = BytesMut::from(&full[..header_len]);
        let refused = decode(&mut buf, version, maximum_packet_size);
        prop_assert_eq!(
            refused,
            Err(ProtocolError::PacketTooLarge {
                packet_size: full.len() as u32,
                maximum_packet_size,
            })
        );
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        version in version(),
        bytes in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        let mut buf = BytesMut::from(&bytes[..]);
        while let Ok(Some(_)) = decode(&mut buf, version, u32::MAX) {}
    }

    #[test]
    fn corrupted_valid_frames_never_panic_and_round_trip_if_accepted(
        (version, packet) in versioned_packet(),
        position in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let mut bytes = encoded(&packet, version).to_vec();
        let index = position.index(bytes.len());
        bytes[index] = byte;
        let mut buf = BytesMut::from(&bytes[..]);
        if let Ok(Some(decoded)) = decode(&mut buf, version, u32::MAX) {
            let version = match &decoded {
                Packet::Connect(connect) => connect.protocol_version,
                _ => version,
            };
            let mut again = encoded(&decoded, version);
            prop_assert_eq!(decode(&mut again, version, u32::MAX), Ok(Some(decoded)));
        }
    }
}
