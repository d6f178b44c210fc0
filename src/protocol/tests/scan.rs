//! The word-at-a-time scan for U+0000 and wildcards agrees with a byte-by-byte
//! one, at every length and position, and decoding applies its findings.

use bytes::{BufMut, BytesMut};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;

use super::{decode_all, V4};
use crate::protocol::reader::find_null_and_wildcard;
use crate::protocol::ProtocolError;

/// Bytes that matter to the scan, with their neighbours in value and a few
/// of the bytes of multi-byte UTF-8, so each lane sees every case.
fn interesting_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        select(vec![
            0x00,
            0x01,
            b'#',
            b'+',
            b'"',
            b'*',
            b',',
            0x2B ^ 0x08,
            0x7F,
            0x80,
            0xC3,
            0xA9
        ]),
        any::<u8>(),
        Just(b'a'),
    ]
}

/// A QoS 0 PUBLISH with `topic_name` as raw bytes and a one-byte payload.
fn publish_frame(topic_name: &[u8]) -> BytesMut {
    let mut frame = BytesMut::new();
    frame.put_u8(0x30);
    frame.put_u8(u8::try_from(2 + topic_name.len() + 1).expect("a short topic"));
    frame.put_u16(u16::try_from(topic_name.len()).expect("a short topic"));
    frame.put_slice(topic_name);
    frame.put_u8(b'p');
    frame
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn scan_finds_what_a_byte_by_byte_scan_finds(bytes in vec(interesting_byte(), 0..40)) {
        let null = bytes.contains(&0);
        let wildcard = bytes.iter().any(|&byte| byte == b'+' || byte == b'#');
        prop_assert_eq!(find_null_and_wildcard(&bytes), (null, wildcard));
    }

    #[test]
    fn topic_name_is_refused_for_the_first_rule_it_breaks(bytes in vec(interesting_byte(), 0..40)) {
        let expected = if bytes.contains(&0) {
            Err(ProtocolError::NullCharacter)
        } else if std::str::from_utf8(&bytes).is_err() {
            Err(ProtocolError::InvalidUtf8)
        } else if bytes.iter().any(|&byte| byte == b'+' || byte == b'#') {
            Err(ProtocolError::TopicNameWildcard)
        } else if bytes.is_empty() {
            Err(ProtocolError::TopicNameEmpty)
        } else {
            Ok(())
        };
        let decoded = decode_all(&publish_frame(&bytes), V4).map(|_| ());
        prop_assert_eq!(decoded, expected);
    }
}
