//! Known byte vectors: each packet type decodes to the expected value at each
//! level, and encodes back to the same bytes.

use bytes::{Bytes, BytesMut};
use bytestring::ByteString;

use crate::protocol::*;

use super::{decode_all, V3, V4, V5};

/// Decodes `bytes` at `version`, checks the result, then re-encodes it and
/// checks the bytes and `encoded_len`.
fn assert_vector(version: ProtocolVersion, bytes: &[u8], expected: Packet) {
    assert_eq!(decode_all(bytes, version), Ok(expected.clone()));
    let mut out = BytesMut::new();
    encode(&expected, version, &mut out).unwrap();
    assert_eq!(&out[..], bytes);
    assert_eq!(encoded_len(&expected, version), Ok(bytes.len()));
}

fn string(value: &'static str) -> ByteString {
    ByteString::from_static(value)
}

fn connect(version: ProtocolVersion) -> Connect {
    Connect {
        protocol_version: version,
        clean_start: true,
        keep_alive_s: 60,
        client_id: string("c"),
        will: None,
        username: None,
        password: None,
        properties: Default::default(),
    }
}

#[test]
fn connect_3_1_uses_protocol_name_mqisdp_and_level_3() {
    let bytes = [
        0x10, 15, 0, 6, b'M', b'Q', b'I', b's', b'd', b'p', 3, 0x02, 0, 60, 0, 1, b'c',
    ];
    assert_vector(V3, &bytes, Packet::Connect(Box::new(connect(V3))));
}

#[test]
fn connect_3_1_1_with_will_username_and_password() {
    #[rustfmt::skip]
    let bytes = [
        0x10, 28, 0, 4, b'M', b'Q', b'T', b'T', 4, 0b1110_1110, 0, 60,
        0, 1, b'c', // client id
        0, 1, b't', 0, 2, b'w', b'p', // will topic and payload
        0, 1, b'u', 0, 3, b'p', b'w', b'd', // user name and password
    ];
    let mut expected = connect(V4);
    expected.will = Some(LastWill {
        topic_name: string("t"),
        payload: Bytes::from_static(b"wp"),
        qos: QoS::AtLeastOnce,
        retain: true,
        properties: Default::default(),
    });
    expected.username = Some(string("u"));
    expected.password = Some(Bytes::from_static(b"pwd"));
    assert_vector(V4, &bytes, Packet::Connect(Box::new(expected)));
}

#[test]
fn connect_is_decoded_at_its_own_level_whatever_the_agreed_one() {
    let bytes = [
        0x10, 14, 0, 4, b'M', b'Q', b'T', b'T', 5, 0x02, 0, 60, 0, 0, 1, b'c',
    ];
    assert_eq!(
        decode_all(&bytes, V4),
        Ok(Packet::Connect(Box::new(connect(V5))))
    );
}

#[test]
fn connect_5_with_properties_and_will_properties() {
    #[rustfmt::skip]
    let bytes = [
        0x10, 34, 0, 4, b'M', b'Q', b'T', b'T', 5, 0b0000_0110, 0, 60,
        8, 0x11, 0, 0, 0, 10, 0x21, 0, 20, // session expiry 10, receive maximum 20
        0, 1, b'c', // client id
        5, 0x18, 0, 0, 0, 5, // will delay 5
        0, 1, b't', 0, 1, b'x', // will topic and payload
    ];
    let mut expected = connect(V5);
    expected.properties.session_expiry_interval_s = Some(10);
    expected.properties.receive_maximum = Some(20);
    expected.will = Some(LastWill {
        topic_name: string("t"),
        payload: Bytes::from_static(b"x"),
        qos: QoS::AtMostOnce,
        retain: false,
        properties: WillProperties {
            will_delay_interval_s: Some(5),
            ..Default::default()
        },
    });
    assert_vector(V5, &bytes, Packet::Connect(Box::new(expected)));
}

#[test]
fn connack_3_1_1_return_codes_map_to_reason_codes() {
    let cases = [
        (0, ReasonCode::Success),
        (1, ReasonCode::UnsupportedProtocolVersion),
        (2, ReasonCode::ClientIdentifierNotValid),
        (3, ReasonCode::ServerUnavailable),
        (4, ReasonCode::BadUserNameOrPassword),
        (5, ReasonCode::NotAuthorized),
    ];
    for (return_code, reason_code) in cases {
        let expected = Packet::ConnAck(Box::new(ConnAck {
            session_present: return_code == 0,
            reason_code,
            properties: Default::default(),
        }));
        assert_vector(
            V4,
            &[0x20, 2, u8::from(return_code == 0), return_code],
            expected,
        );
    }
}

#[test]
fn connack_3_1_1_maps_v5_only_refusals_to_the_nearest_return_code() {
    let cases = [
        (ReasonCode::Banned, 5),
        (ReasonCode::BadAuthenticationMethod, 4),
        (ReasonCode::ServerBusy, 3),
    ];
    for (reason_code, return_code) in cases {
        let packet = Packet::ConnAck(Box::new(ConnAck {
            session_present: false,
            reason_code,
            properties: Default::default(),
        }));
        let mut out = BytesMut::new();
        encode(&packet, V4, &mut out).unwrap();
        assert_eq!(&out[..], &[0x20, 2, 0, return_code]);
    }
}

#[test]
fn connack_5_carries_reason_code_and_properties() {
    let bytes = [0x20, 7, 1, 0x00, 4, 0x24, 1, 0x25, 0];
    let expected = Packet::ConnAck(Box::new(ConnAck {
        session_present: true,
        reason_code: ReasonCode::Success,
        properties: ConnAckProperties {
            maximum_qos: Some(QoS::AtLeastOnce),
            retain_available: Some(false),
            ..Default::default()
        },
    }));
    assert_vector(V5, &bytes, expected);
}

fn publish(qos: QoS, packet_id: Option<PacketId>) -> Publish {
    Publish {
        dup: false,
        qos,
        retain: false,
        topic_name: string("a/b"),
        packet_id,
        properties: Default::default(),
        payload: Bytes::from_static(b"hi"),
    }
}

#[test]
fn publish_qos0_has_no_packet_id() {
    let bytes = [0x30, 7, 0, 3, b'a', b'/', b'b', b'h', b'i'];
    assert_vector(V4, &bytes, Packet::Publish(publish(QoS::AtMostOnce, None)));
    assert_vector(V3, &bytes, Packet::Publish(publish(QoS::AtMostOnce, None)));
}

#[test]
fn publish_qos1_carries_packet_id_and_flags() {
    let bytes = [0x3B, 9, 0, 3, b'a', b'/', b'b', 0, 7, b'h', b'i'];
    let mut expected = publish(QoS::AtLeastOnce, Some(7));
    expected.dup = true;
    expected.retain = true;
    assert_vector(V4, &bytes, Packet::Publish(expected));
}

#[test]
fn publish_5_with_topic_alias_may_have_an_empty_topic_name() {
    let bytes = [0x34, 10, 0, 0, 0, 9, 3, 0x23, 0, 5, b'h', b'i'];
    let mut expected = publish(QoS::ExactlyOnce, Some(9));
    expected.topic_name = ByteString::new();
    expected.properties_mut().topic_alias = Some(5);
    assert_vector(V5, &bytes, Packet::Publish(expected));
}

#[test]
fn publish_5_may_carry_several_subscription_identifiers() {
    let bytes = [
        0x30, 13, 0, 3, b'a', b'/', b'b', 5, 0x0B, 1, 0x0B, 0x80, 0x01, b'h', b'i',
    ];
    let mut expected = publish(QoS::AtMostOnce, None);
    expected.properties_mut().subscription_identifiers = smallvec::smallvec![1, 128];
    assert_vector(V5, &bytes, Packet::Publish(expected));
}

#[test]
fn publish_payload_is_a_slice_of_the_read_buffer() {
    let mut buf = BytesMut::from(&[0x30, 7, 0, 3, b'a', b'/', b'b', b'h', b'i'][..]);
    let base = buf.as_ptr() as usize;
    let Some(Packet::Publish(publish)) = decode(&mut buf, V4, 1024).unwrap() else {
        panic!("not a publish");
    };
    assert_eq!(publish.payload.as_ptr() as usize, base + 7);
    assert_eq!(publish.topic_name.as_bytes().as_ptr() as usize, base + 4);
}

#[test]
fn publish_responses_3_1_1_are_packet_id_only() {
    for (first_byte, make) in [
        (0x40, Packet::PubAck as fn(PublishResponse) -> Packet),
        (0x50, Packet::PubRec),
        (0x62, Packet::PubRel),
        (0x70, Packet::PubComp),
    ] {
        assert_vector(
            V4,
            &[first_byte, 2, 0x12, 0x34],
            make(PublishResponse::success(0x1234)),
        );
    }
}

#[test]
fn publish_responses_5_use_the_short_form_for_success_without_properties() {
    assert_vector(
        V5,
        &[0x40, 2, 0, 1],
        Packet::PubAck(PublishResponse::success(1)),
    );
}

#[test]
fn publish_responses_5_with_reason_code_only_have_remaining_length_3() {
    let expected = Packet::PubRec(PublishResponse {
        packet_id: 1,
        reason_code: ReasonCode::NoMatchingSubscribers,
        properties: Default::default(),
    });
    assert_vector(V5, &[0x50, 3, 0, 1, 0x10], expected);
}

#[test]
fn publish_responses_5_with_properties() {
    let expected = Packet::PubComp(PublishResponse {
        packet_id: 1,
        reason_code: ReasonCode::PacketIdentifierNotFound,
        properties: AckProperties {
            reason_string: Some(string("no")),
            user_properties: Vec::new(),
        },
    });
    assert_vector(
        V5,
        &[0x70, 9, 0, 1, 0x92, 5, 0x1F, 0, 2, b'n', b'o'],
        expected,
    );
}

#[test]
fn publish_response_5_with_success_and_empty_properties_decodes_as_short_form() {
    assert_eq!(
        decode_all(&[0x40, 4, 0, 1, 0, 0], V5),
        Ok(Packet::PubAck(PublishResponse::success(1)))
    );
}

#[test]
fn subscribe_3_1_1_options_carry_only_qos() {
    let bytes = [0x82, 8, 0, 1, 0, 3, b'a', b'/', b'#', 2];
    let expected = Packet::Subscribe(Subscribe {
        packet_id: 1,
        properties: Default::default(),
        filters: vec![(
            string("a/#"),
            SubscriptionOptions {
                qos: QoS::ExactlyOnce,
                ..Default::default()
            },
        )],
    });
    assert_vector(V4, &bytes, expected);
}

#[test]
fn subscribe_5_options_and_subscription_identifier() {
    let bytes = [
        0x82,
        13,
        0,
        1,
        2,
        0x0B,
        7,
        0,
        1,
        b'a',
        0b0010_1101,
        0,
        1,
        b'b',
        0,
    ];
    let expected = Packet::Subscribe(Subscribe {
        packet_id: 1,
        properties: SubscribeProperties {
            subscription_identifier: Some(7),
            user_properties: Vec::new(),
        },
        filters: vec![
            (
                string("a"),
                SubscriptionOptions {
                    qos: QoS::AtLeastOnce,
                    no_local: true,
                    retain_as_published: true,
                    retain_handling: RetainHandling::DoNotSend,
                },
            ),
            (string("b"), SubscriptionOptions::default()),
        ],
    });
    assert_vector(V5, &bytes, expected);
}

#[test]
fn suback_3_1_1_failure_is_0x80() {
    let expected = Packet::SubAck(SubAck {
        packet_id: 1,
        properties: Default::default(),
        reason_codes: vec![ReasonCode::GrantedQos1, ReasonCode::UnspecifiedError],
    });
    assert_vector(V4, &[0x90, 4, 0, 1, 0x01, 0x80], expected);
}

#[test]
fn suback_3_1_1_encodes_every_v5_failure_as_0x80() {
    let packet = Packet::SubAck(SubAck {
        packet_id: 1,
        properties: Default::default(),
        reason_codes: vec![ReasonCode::TopicFilterInvalid, ReasonCode::Success],
    });
    let mut out = BytesMut::new();
    encode(&packet, V4, &mut out).unwrap();
    assert_eq!(&out[..], &[0x90, 4, 0, 1, 0x80, 0x00]);
}

#[test]
fn suback_5_keeps_its_reason_codes() {
    let expected = Packet::SubAck(SubAck {
        packet_id: 1,
        properties: Default::default(),
        reason_codes: vec![ReasonCode::GrantedQos2, ReasonCode::QuotaExceeded],
    });
    assert_vector(V5, &[0x90, 5, 0, 1, 0, 0x02, 0x97], expected);
}

#[test]
fn unsubscribe_carries_filters() {
    let expected = Packet::Unsubscribe(Unsubscribe {
        packet_id: 1,
        properties: Default::default(),
        filters: vec![string("a"), string("b/+")],
    });
    assert_vector(
        V4,
        &[0xA2, 10, 0, 1, 0, 1, b'a', 0, 3, b'b', b'/', b'+'],
        expected.clone(),
    );
    assert_vector(
        V5,
        &[0xA2, 11, 0, 1, 0, 0, 1, b'a', 0, 3, b'b', b'/', b'+'],
        expected,
    );
}

#[test]
fn unsuback_3_1_1_has_no_reason_codes() {
    let expected = Packet::UnsubAck(UnsubAck {
        packet_id: 1,
        properties: Default::default(),
        reason_codes: Vec::new(),
    });
    assert_vector(V4, &[0xB0, 2, 0, 1], expected);
}

#[test]
fn unsuback_5_has_one_reason_code_per_filter() {
    let expected = Packet::UnsubAck(UnsubAck {
        packet_id: 1,
        properties: Default::default(),
        reason_codes: vec![ReasonCode::Success, ReasonCode::NoSubscriptionExisted],
    });
    assert_vector(V5, &[0xB0, 5, 0, 1, 0, 0x00, 0x11], expected);
}

#[test]
fn pings_have_no_body() {
    assert_vector(V4, &[0xC0, 0], Packet::PingReq);
    assert_vector(V5, &[0xD0, 0], Packet::PingResp);
}

#[test]
fn disconnect_3_1_1_has_no_body() {
    let expected = Packet::Disconnect(Disconnect {
        reason_code: ReasonCode::Success,
        properties: Default::default(),
    });
    assert_vector(V4, &[0xE0, 0], expected);
}

#[test]
fn disconnect_5_short_forms() {
    let success = Packet::Disconnect(Disconnect {
        reason_code: ReasonCode::Success,
        properties: Default::default(),
    });
    assert_vector(V5, &[0xE0, 0], success);
    let with_will = Packet::Disconnect(Disconnect {
        reason_code: ReasonCode::DisconnectWithWillMessage,
        properties: Default::default(),
    });
    assert_vector(V5, &[0xE0, 1, 0x04], with_will);
}

#[test]
fn disconnect_5_with_session_expiry() {
    let expected = Packet::Disconnect(Disconnect {
        reason_code: ReasonCode::Success,
        properties: DisconnectProperties {
            session_expiry_interval_s: Some(0),
            ..Default::default()
        },
    });
    assert_vector(V5, &[0xE0, 7, 0, 5, 0x11, 0, 0, 0, 0], expected);
}

#[test]
fn auth_5_short_form_and_continue() {
    let success = Packet::Auth(Box::new(Auth {
        reason_code: ReasonCode::Success,
        properties: Default::default(),
    }));
    assert_vector(V5, &[0xF0, 0], success);
    let continue_authentication = Packet::Auth(Box::new(Auth {
        reason_code: ReasonCode::ContinueAuthentication,
        properties: AuthProperties {
            authentication_method: Some(string("m")),
            ..Default::default()
        },
    }));
    assert_vector(
        V5,
        &[0xF0, 6, 0x18, 4, 0x15, 0, 1, b'm'],
        continue_authentication,
    );
}

#[test]
fn auth_cannot_be_encoded_below_5() {
    let packet = Packet::Auth(Box::new(Auth {
        reason_code: ReasonCode::Success,
        properties: Default::default(),
    }));
    let mut out = BytesMut::new();
    assert_eq!(
        encode(&packet, V4, &mut out),
        Err(EncodeError::PacketNotInVersion { packet_type: 15 })
    );
    assert!(out.is_empty());
}

#[test]
fn properties_are_left_out_below_5() {
    let mut publish = publish(QoS::AtMostOnce, None);
    publish.properties_mut().message_expiry_interval_s = Some(3);
    let mut out = BytesMut::new();
    encode(&Packet::Publish(publish), V4, &mut out).unwrap();
    assert_eq!(&out[..], &[0x30, 7, 0, 3, b'a', b'/', b'b', b'h', b'i']);
}

#[test]
fn decode_consumes_exactly_one_frame() {
    let mut buf = BytesMut::from(&[0xC0, 0, 0xD0, 0, 0xC0][..]);
    assert_eq!(decode(&mut buf, V4, 1024), Ok(Some(Packet::PingReq)));
    assert_eq!(decode(&mut buf, V4, 1024), Ok(Some(Packet::PingResp)));
    assert_eq!(decode(&mut buf, V4, 1024), Ok(None));
    assert_eq!(&buf[..], &[0xC0]);
}

#[test]
fn remaining_length_uses_multi_byte_encoding() {
    let payload = vec![7u8; 200];
    let mut expected = publish(QoS::AtMostOnce, None);
    expected.payload = Bytes::from(payload.clone());
    let mut bytes = vec![0x30, 0xCD, 0x01, 0, 3, b'a', b'/', b'b'];
    bytes.extend_from_slice(&payload);
    assert_vector(V4, &bytes, Packet::Publish(expected));
}

#[test]
fn peek_frame_reports_type_and_length_without_consuming() {
    let bytes = [0x32, 0xCD, 0x01];
    assert_eq!(
        peek_frame(&bytes, 1024),
        Ok(Some(FrameHeader {
            packet_type: PacketType::Publish,
            flags: 0x02,
            header_len: 3,
            remaining_length: 205,
        }))
    );
    assert_eq!(peek_frame(&bytes[..2], 1024), Ok(None));
}
