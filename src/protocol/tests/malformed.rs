//! One test per rule a peer can break: the error names the rule and maps to
//! the v5 reason code the connection is closed with.

use bytes::BytesMut;

use crate::limits;
use crate::protocol::*;

use super::{decode_all, V3, V4, V5};

fn assert_refused(
    version: ProtocolVersion,
    bytes: &[u8],
    error: ProtocolError,
    reason_code: ReasonCode,
) {
    assert_eq!(decode_all(bytes, version), Err(error));
    assert_eq!(error.reason_code(), reason_code);
}

/// A v3.1.1 CONNECT with the given flags byte and payload after the client id "c".
fn connect_v4(flags: u8, tail: &[u8]) -> Vec<u8> {
    let mut body = vec![0, 4, b'M', b'Q', b'T', b'T', 4, flags, 0, 60, 0, 1, b'c'];
    body.extend_from_slice(tail);
    frame(0x10, &body)
}

fn frame(first_byte: u8, body: &[u8]) -> Vec<u8> {
    assert!(body.len() < 128);
    let mut bytes = vec![first_byte, body.len() as u8];
    bytes.extend_from_slice(body);
    bytes
}

#[test]
fn packet_type_0_is_reserved() {
    assert_refused(
        V4,
        &[0x00, 0],
        ProtocolError::ReservedPacketType { packet_type: 0 },
        ReasonCode::ProtocolError,
    );
}

#[test]
fn auth_below_5_is_a_reserved_packet_type() {
    assert_refused(
        V4,
        &[0xF0, 0],
        ProtocolError::ReservedPacketType { packet_type: 15 },
        ReasonCode::ProtocolError,
    );
}

#[test]
fn reserved_fixed_header_flags_mqtt_2_1_3_1() {
    let cases: [(u8, &[u8]); 5] = [
        (0xC1, &[0xC1, 0]),
        (0x60, &[0x60, 2, 0, 1]),
        (0x80, &[0x80, 6, 0, 1, 0, 1, b'a', 0]),
        (0xA0, &[0xA0, 5, 0, 1, 0, 1, b'a']),
        (0x4F, &[0x4F, 2, 0, 1]),
    ];
    for (first_byte, bytes) in cases {
        let error = ProtocolError::InvalidFixedHeaderFlags {
            packet_type: first_byte >> 4,
            flags: first_byte & 0x0F,
        };
        assert_refused(V4, bytes, error, ReasonCode::MalformedPacket);
    }
}

#[test]
fn remaining_length_of_five_bytes_is_malformed() {
    assert_refused(
        V4,
        &[0x30, 0x80, 0x80, 0x80, 0x80, 0x01],
        ProtocolError::VariableByteIntegerTooLong,
        ReasonCode::MalformedPacket,
    );
    let mut buf = BytesMut::from(&[0x30, 0xFF, 0xFF, 0xFF, 0xFF][..]);
    assert_eq!(
        decode(&mut buf, V4, u32::MAX),
        Err(ProtocolError::VariableByteIntegerTooLong)
    );
}

#[test]
fn remaining_length_not_in_shortest_form_mqtt_1_5_5_1() {
    assert_refused(
        V5,
        &[0xC0, 0x80, 0x00],
        ProtocolError::VariableByteIntegerNotMinimal,
        ReasonCode::MalformedPacket,
    );
}

#[test]
fn packet_over_maximum_size_is_refused_from_the_fixed_header() {
    // 200 MB announced, five bytes present: refused before anything is buffered.
    let mut buf = BytesMut::from(&[0x30, 0x80, 0x84, 0xAF, 0x5F][..]);
    let error = decode(&mut buf, V5, limits::MAXIMUM_PACKET_SIZE_DEFAULT).unwrap_err();
    assert_eq!(
        error,
        ProtocolError::PacketTooLarge {
            packet_size: 200_000_005,
            maximum_packet_size: limits::MAXIMUM_PACKET_SIZE_DEFAULT,
        }
    );
    assert_eq!(error.reason_code(), ReasonCode::PacketTooLarge);
    assert_eq!(buf.len(), 5);
}

#[test]
fn maximum_packet_size_counts_the_fixed_header() {
    let bytes = [0x30, 4, 0, 1, b'a', b'x'];
    let mut exact = BytesMut::from(&bytes[..]);
    assert!(decode(&mut exact, V4, 6).unwrap().is_some());
    let mut over = BytesMut::from(&bytes[..]);
    assert_eq!(
        decode(&mut over, V4, 5),
        Err(ProtocolError::PacketTooLarge {
            packet_size: 6,
            maximum_packet_size: 5,
        })
    );
}

#[test]
fn incomplete_frame_is_not_an_error_and_consumes_nothing() {
    let bytes = [0x30, 4, 0, 1, b'a', b'x'];
    for len in 0..bytes.len() {
        let mut buf = BytesMut::from(&bytes[..len]);
        assert_eq!(decode(&mut buf, V4, 1024), Ok(None));
        assert_eq!(buf.len(), len);
    }
}

#[test]
fn string_running_past_the_frame_is_malformed() {
    assert_refused(
        V4,
        &[0x30, 3, 0, 5, b'a'],
        ProtocolError::LengthPastFrame,
        ReasonCode::MalformedPacket,
    );
}

#[test]
fn property_length_running_past_the_frame_is_malformed() {
    assert_refused(
        V5,
        &[0x30, 5, 0, 1, b'a', 9, 0x01],
        ProtocolError::LengthPastFrame,
        ReasonCode::MalformedPacket,
    );
}

#[test]
fn trailing_bytes_inside_a_frame_are_malformed() {
    assert_refused(
        V4,
        &[0x40, 3, 0, 1, 0],
        ProtocolError::TrailingBytes { packet_type: 4 },
        ReasonCode::MalformedPacket,
    );
    assert_refused(
        V4,
        &[0xE0, 1, 0],
        ProtocolError::TrailingBytes { packet_type: 14 },
        ReasonCode::MalformedPacket,
    );
    assert_refused(
        V5,
        &[0xC0, 1, 0],
        ProtocolError::TrailingBytes { packet_type: 12 },
        ReasonCode::MalformedPacket,
    );
}

#[test]
fn invalid_utf8_mqtt_1_5_4_1() {
    // An overlong encoding, and a UTF-16 surrogate (U+D800) encoded as UTF-8.
    for topic_name in [&[0xC0, 0xAF][..], &[0xED, 0xA0, 0x80][..]] {
        let mut body = vec![0, topic_name.len() as u8];
        body.extend_from_slice(topic_name);
        assert_refused(
            V4,
            &frame(0x30, &body),
            ProtocolError::InvalidUtf8,
            ReasonCode::MalformedPacket,
        );
    }
}

#[test]
fn null_character_in_a_string_mqtt_1_5_4_2() {
    assert_refused(
        V4,
        &[0x30, 5, 0, 3, b'a', 0, b'b'],
        ProtocolError::NullCharacter,
        ReasonCode::MalformedPacket,
    );
}

#[test]
fn bad_protocol_name_mqtt_3_1_2_1() {
    let bytes = frame(0x10, &[0, 4, b'M', b'Q', b'T', b'X', 4, 2, 0, 60, 0, 0]);
    assert_refused(
        V4,
        &bytes,
        ProtocolError::BadProtocolName,
        ReasonCode::UnsupportedProtocolVersion,
    );
}

#[test]
fn unsupported_protocol_level_mqtt_3_1_2_2() {
    for (name, level) in [(&b"MQTT"[..], 6u8), (b"MQTT", 3), (b"MQIsdp", 4)] {
        let mut body = vec![0, name.len() as u8];
        body.extend_from_slice(name);
        body.extend_from_slice(&[level, 2, 0, 60, 0, 0]);
        assert_refused(
            V4,
            &frame(0x10, &body),
            ProtocolError::UnsupportedProtocolLevel { level },
            ReasonCode::UnsupportedProtocolVersion,
        );
    }
}

#[test]
fn connect_reserved_flag_mqtt_3_1_2_3() {
    assert_refused(
        V4,
        &connect_v4(0x03, &[]),
        ProtocolError::ConnectReservedFlag,
        ReasonCode::MalformedPacket,
    );
}

#[test]
fn will_qos_without_will_flag_mqtt_3_1_2_11() {
    assert_refused(
        V4,
        &connect_v4(0x08, &[]),
        ProtocolError::WillQosWithoutWill,
        ReasonCode::MalformedPacket,
    );
}

#[test]
fn will_qos_3_mqtt_3_1_2_12() {
    assert_refused(
        V4,
        &connect_v4(0x1C, &[0, 1, b't', 0, 0]),
        ProtocolError::WillQosInvalid,
        ReasonCode::MalformedPacket,
    );
}

#[test]
fn will_retain_without_will_flag_mqtt_3_1_2_13() {
    assert_refused(
        V4,
        &connect_v4(0x20, &[]),
        ProtocolError::WillRetainWithoutWill,
        ReasonCode::MalformedPacket,
    );
}

#[test]
fn will_topic_with_wildcard_is_refused() {
    assert_refused(
        V4,
        &connect_v4(0x04, &[0, 1, b'#', 0, 0]),
        ProtocolError::TopicNameWildcard,
        ReasonCode::TopicNameInvalid,
    );
}

#[test]
fn password_without_username_mqtt_3_1_2_22() {
    assert_refused(
        V4,
        &connect_v4(0x40, &[0, 1, b'p']),
        ProtocolError::PasswordWithoutUsername,
        ReasonCode::MalformedPacket,
    );
}

#[test]
fn password_without_username_is_allowed_in_5() {
    let bytes = frame(
        0x10,
        &[
            0, 4, b'M', b'Q', b'T', b'T', 5, 0x40, 0, 60, 0, 0, 1, b'c', 0, 1, b'p',
        ],
    );
    let Ok(Packet::Connect(connect)) = decode_all(&bytes, V5) else {
        panic!("CONNECT refused");
    };
    assert_eq!(connect.username, None);
    assert_eq!(connect.password.as_deref(), Some(&b"p"[..]));
}

#[test]
fn connack_reserved_flags_mqtt_3_2_2_1() {
    assert_refused(
        V4,
        &[0x20, 2, 0x02, 0],
        ProtocolError::ConnAckReservedFlags,
        ReasonCode::MalformedPacket,
    );
}

#[test]
fn connack_unknown_return_code_is_refused() {
    assert_refused(
        V4,
        &[0x20, 2, 0, 6],
        ProtocolError::InvalidReasonCode {
            packet_type: 2,
            value: 6,
        },
        ReasonCode::MalformedPacket,
    );
}

#[test]
fn publish_qos_3_mqtt_3_3_1_4() {
    assert_refused(
        V4,
        &[0x36, 5, 0, 1, b'a', 0, 1],
        ProtocolError::PublishQosInvalid,
        ReasonCode::MalformedPacket,
    );
}

#[test]
fn publish_dup_on_qos_0_mqtt_3_3_1_2() {
    assert_refused(
        V4,
        &[0x38, 3, 0, 1, b'a'],
        ProtocolError::DupOnQos0,
        ReasonCode::MalformedPacket,
    );
}

#[test]
fn publish_topic_with_wildcard_mqtt_3_3_2_2() {
    for wildcard in [b'+', b'#'] {
        assert_refused(
            V4,
            &[0x30, 5, 0, 3, b'a', b'/', wildcard],
            ProtocolError::TopicNameWildcard,
            ReasonCode::TopicNameInvalid,
        );
    }
}

#[test]
fn publish_empty_topic_without_alias_is_refused() {
    assert_refused(
        V4,
        &[0x30, 2, 0, 0],
        ProtocolError::TopicNameEmpty,
        ReasonCode::ProtocolError,
    );
    assert_refused(
        V5,
        &[0x30, 3, 0, 0, 0],
        ProtocolError::TopicNameEmpty,
        ReasonCode::ProtocolError,
    );
}

#[test]
fn zero_packet_id_mqtt_2_2_1_3() {
    let cases: [&[u8]; 4] = [
        &[0x32, 5, 0, 1, b'a', 0, 0],
        &[0x40, 2, 0, 0],
        &[0x82, 6, 0, 0, 0, 1, b'a', 0],
        &[0xA2, 5, 0, 0, 0, 1, b'a'],
    ];
    for bytes in cases {
        assert_refused(
            V4,
            bytes,
            ProtocolError::ZeroPacketId,
            ReasonCode::ProtocolError,
        );
    }
}

#[test]
fn unknown_property_is_malformed() {
    assert_refused(
        V5,
        &[0x30, 6, 0, 1, b'a', 2, 0x05, 0],
        ProtocolError::UnknownProperty { id: 0x05 },
        ReasonCode::MalformedPacket,
    );
}

#[test]
fn property_not_allowed_in_the_packet_is_malformed() {
    // Receive Maximum in PUBLISH.
    assert_refused(
        V5,
        &[0x30, 7, 0, 1, b'a', 3, 0x21, 0, 1],
        ProtocolError::PropertyNotAllowed {
            id: 0x21,
            packet_type: 3,
        },
        ReasonCode::MalformedPacket,
    );
    // Session Expiry Interval in SUBACK.
    assert_refused(
        V5,
        &[0x90, 9, 0, 1, 5, 0x11, 0, 0, 0, 1, 0],
        ProtocolError::PropertyNotAllowed {
            id: 0x11,
            packet_type: 9,
        },
        ReasonCode::MalformedPacket,
    );
}

#[test]
fn duplicate_property_is_a_protocol_error() {
    assert_refused(
        V5,
        &[0x30, 10, 0, 1, b'a', 6, 0x23, 0, 1, 0x23, 0, 2],
        ProtocolError::DuplicateProperty { id: 0x23 },
        ReasonCode::ProtocolError,
    );
}

#[test]
fn user_property_may_repeat() {
    let bytes = [
        0x30, 16, 0, 1, b'a', 12, 0x26, 0, 1, b'k', 0, 0, 0x26, 0, 1, b'k', 0, 0,
    ];
    let Ok(Packet::Publish(publish)) = decode_all(&bytes, V5) else {
        panic!("PUBLISH refused");
    };
    assert_eq!(publish.properties().user_properties.len(), 2);
}

#[test]
fn property_values_out_of_range_are_protocol_errors() {
    let cases: [(&[u8], u8, u32); 4] = [
        (&[0x21, 0, 0], 0x21, 0),       // Receive Maximum 0
        (&[0x27, 0, 0, 0, 0], 0x27, 0), // Maximum Packet Size 0
        (&[0x17, 2], 0x17, 2),          // Request Problem Information 2
        (&[0x19, 7], 0x19, 7),          // Request Response Information 7
    ];
    for (properties, id, value) in cases {
        let mut body = vec![0, 4, b'M', b'Q', b'T', b'T', 5, 2, 0, 60];
        body.push(properties.len() as u8);
        body.extend_from_slice(properties);
        body.extend_from_slice(&[0, 0]);
        assert_refused(
            V5,
            &frame(0x10, &body),
            ProtocolError::PropertyValueInvalid { id, value },
            ReasonCode::ProtocolError,
        );
    }
}

#[test]
fn payload_format_indicator_above_1_is_a_protocol_error() {
    assert_refused(
        V5,
        &[0x30, 6, 0, 1, b'a', 2, 0x01, 2],
        ProtocolError::PropertyValueInvalid { id: 0x01, value: 2 },
        ReasonCode::ProtocolError,
    );
}

#[test]
fn maximum_qos_2_is_a_protocol_error() {
    assert_refused(
        V5,
        &[0x20, 5, 0, 0, 2, 0x24, 2],
        ProtocolError::PropertyValueInvalid { id: 0x24, value: 2 },
        ReasonCode::ProtocolError,
    );
}

#[test]
fn topic_alias_0_mqtt_3_3_2_8() {
    assert_refused(
        V5,
        &[0x30, 7, 0, 1, b'a', 3, 0x23, 0, 0],
        ProtocolError::TopicAliasZero,
        ReasonCode::TopicAliasInvalid,
    );
}

#[test]
fn subscription_identifier_0_is_a_protocol_error() {
    assert_refused(
        V5,
        &[0x82, 9, 0, 1, 2, 0x0B, 0, 0, 1, b'a', 0],
        ProtocolError::PropertyValueInvalid { id: 0x0B, value: 0 },
        ReasonCode::ProtocolError,
    );
}

#[test]
fn authentication_data_without_method_is_a_protocol_error() {
    assert_refused(
        V5,
        &[0xF0, 6, 0x18, 4, 0x16, 0, 1, b'x'],
        ProtocolError::AuthenticationDataWithoutMethod,
        ReasonCode::ProtocolError,
    );
}

#[test]
fn reason_code_not_defined_for_the_packet_is_malformed() {
    // Packet Identifier not found (0x92) is a PUBREL code, not a PUBACK one.
    assert_refused(
        V5,
        &[0x40, 3, 0, 1, 0x92],
        ProtocolError::InvalidReasonCode {
            packet_type: 4,
            value: 0x92,
        },
        ReasonCode::MalformedPacket,
    );
    assert_refused(
        V5,
        &[0xE0, 1, 0x18],
        ProtocolError::InvalidReasonCode {
            packet_type: 14,
            value: 0x18,
        },
        ReasonCode::MalformedPacket,
    );
    assert_refused(
        V4,
        &[0x90, 3, 0, 1, 0x81],
        ProtocolError::InvalidReasonCode {
            packet_type: 9,
            value: 0x81,
        },
        ReasonCode::MalformedPacket,
    );
}

#[test]
fn empty_subscribe_mqtt_3_8_3_2() {
    assert_refused(
        V4,
        &[0x82, 2, 0, 1],
        ProtocolError::SubscribeEmpty,
        ReasonCode::ProtocolError,
    );
    assert_refused(
        V5,
        &[0x82, 3, 0, 1, 0],
        ProtocolError::SubscribeEmpty,
        ReasonCode::ProtocolError,
    );
}

#[test]
fn empty_unsubscribe_mqtt_3_10_3_2() {
    assert_refused(
        V4,
        &[0xA2, 2, 0, 1],
        ProtocolError::UnsubscribeEmpty,
        ReasonCode::ProtocolError,
    );
}

#[test]
fn subscription_options_reserved_bits_mqtt_3_8_3_5() {
    assert_refused(
        V5,
        &[0x82, 7, 0, 1, 0, 0, 1, b'a', 0x40],
        ProtocolError::SubscriptionOptionsReservedBits,
        ReasonCode::MalformedPacket,
    );
    // Bits that are options in 5.0 are reserved in 3.1.1.
    assert_refused(
        V4,
        &[0x82, 6, 0, 1, 0, 1, b'a', 0x04],
        ProtocolError::SubscriptionOptionsReservedBits,
        ReasonCode::MalformedPacket,
    );
}

#[test]
fn subscription_qos_3_is_refused() {
    assert_refused(
        V3,
        &[0x82, 6, 0, 1, 0, 1, b'a', 0x03],
        ProtocolError::SubscriptionQosInvalid,
        ReasonCode::ProtocolError,
    );
}

#[test]
fn retain_handling_3_is_a_protocol_error() {
    assert_refused(
        V5,
        &[0x82, 7, 0, 1, 0, 0, 1, b'a', 0x30],
        ProtocolError::RetainHandlingInvalid,
        ReasonCode::ProtocolError,
    );
}

#[test]
fn every_error_message_names_its_rule() {
    let errors = [
        ProtocolError::TopicNameWildcard,
        ProtocolError::InvalidFixedHeaderFlags {
            packet_type: 12,
            flags: 1,
        },
        ProtocolError::NullCharacter,
        ProtocolError::ConnectReservedFlag,
    ];
    let expected_ids = [
        "[MQTT-3.3.2-2]",
        "[MQTT-2.1.3-1]",
        "[MQTT-1.5.4-2]",
        "[MQTT-3.1.2-3]",
    ];
    for (error, id) in errors.iter().zip(expected_ids) {
        assert!(error.to_string().contains(id), "{error} lacks {id}");
    }
}
