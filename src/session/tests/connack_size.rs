//! A CONNACK never exceeds the client's Maximum Packet Size [MQTT-3.1.2-24]:
//! optional properties are left out in a set order until it fits, and a client
//! that cannot take even what it must know gets no CONNACK, only the close.

use std::sync::Arc;

use bytes::BytesMut;
use bytestring::ByteString;

use super::support::*;
use crate::protocol::*;
use crate::session::connect::leave_out_until_fits;
use crate::session::{refuse_connect, Action, ConnectOutcome, Session, SessionConfig};

/// A v5 CONNECT (Clean Start, Keep Alive 60 s) with the given Maximum Packet Size.
fn v5_connect_limited(client_id: &str, maximum_packet_size: Option<u32>) -> Connect {
    let mut connect = v5_connect(client_id);
    connect.properties.maximum_packet_size = maximum_packet_size;
    connect
}

/// `Session::connect` with `config` and `assigned` as the generated client id,
/// after checking that `refuse_connect` (told only whether there is one) refuses
/// exactly when `refuse_connect_refuses`, with the same actions then.
fn connect_with(
    connect: Connect,
    assigned: Option<&str>,
    existing: Option<Session>,
    config: &SessionConfig,
    refuse_connect_refuses: bool,
) -> (ConnectOutcome, Vec<Action>) {
    let mut asked = Vec::new();
    let refused_early = refuse_connect(&connect, assigned.is_some(), config, &mut asked);
    assert_eq!(refused_early, refuse_connect_refuses, "{asked:?}");
    let mut actions = Vec::new();
    let outcome = Session::connect(
        connect,
        assigned.map(ByteString::from),
        existing,
        &Arc::new(config.clone()),
        &Arc::default(),
        0,
        &mut actions,
    );
    if refused_early {
        assert_eq!(asked, actions, "refuse_connect and connect refuse alike");
    }
    (outcome, actions)
}

/// The CONNACK accepting `connect` under `config`.
fn accepted_connack(connect: Connect, assigned: Option<&str>, config: &SessionConfig) -> ConnAck {
    let (outcome, actions) = connect_with(connect, assigned, None, config, false);
    assert!(
        matches!(outcome, ConnectOutcome::Accepted(_)),
        "refused: {actions:?}"
    );
    connack(&actions).clone()
}

/// The encoded CONNACK.
fn bytes_of(connack: &ConnAck) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode(
        &Packet::ConnAck(Box::new(connack.clone())),
        ProtocolVersion::V5,
        &mut out,
    )
    .expect("the CONNACK encodes");
    out.to_vec()
}

/// The only action is the close, with `reason_code`: no CONNACK.
fn assert_closed_without_connack(actions: &[Action], reason_code: ReasonCode) {
    assert_eq!(
        actions,
        [Action::Close {
            reason_code,
            violation: None
        }]
    );
}

/// A server that announces nothing: every limit is what absence means.
fn config_announcing_nothing() -> SessionConfig {
    SessionConfig {
        receive_maximum: u16::MAX,
        maximum_packet_size: crate::limits::REMAINING_LENGTH_MAX + 5,
        topic_alias_maximum: 0,
        ..SessionConfig::default()
    }
}

#[test]
fn default_connack_is_16_bytes_and_fits_16_unchanged() {
    let config = SessionConfig::default();
    let unlimited = accepted_connack(v5_connect_limited("c", None), None, &config);
    // 20 0e 00 00 0b, then Receive Maximum (21 + 2 bytes), Maximum Packet Size
    // (27 + 4 bytes) and Topic Alias Maximum (22 + 2 bytes) (3.2.2.3).
    assert_eq!(bytes_of(&unlimited).len(), 16);
    for maximum in [16, 17, 1000, u32::MAX] {
        let limited = accepted_connack(v5_connect_limited("c", Some(maximum)), None, &config);
        assert_eq!(limited, unlimited, "maximum {maximum}");
    }
}

#[test]
fn connack_with_every_property_we_send_that_fits_is_unchanged() {
    let config = SessionConfig {
        response_information: Some(ByteString::from("replies/")),
        server_keep_alive_s: Some(30),
        session_expiry_interval_max_s: 100,
        maximum_qos: QoS::AtLeastOnce,
        retain_available: false,
        ..SessionConfig::default()
    };
    let connect = |maximum| {
        let mut connect = v5_connect_limited("", maximum);
        connect.properties.request_response_information = Some(true);
        connect.properties.session_expiry_interval_s = Some(1000);
        connect
    };
    let unlimited = accepted_connack(connect(None), Some("auto-1"), &config);
    let len = bytes_of(&unlimited).len() as u32;
    let limited = accepted_connack(connect(Some(len)), Some("auto-1"), &config);
    assert_eq!(limited, unlimited);
}

#[test]
fn oversized_connack_loses_topic_alias_maximum_then_response_information_and_fits_exactly() {
    let config = SessionConfig {
        response_information: Some(ByteString::from("replies/")),
        server_keep_alive_s: Some(30),
        session_expiry_interval_max_s: 100,
        ..SessionConfig::default()
    };
    let connect = |maximum| {
        let mut connect = v5_connect_limited("c", Some(maximum));
        connect.properties.request_response_information = Some(true);
        connect.properties.session_expiry_interval_s = Some(1000);
        connect
    };
    let must_keep = ConnAckProperties {
        session_expiry_interval_s: Some(100),
        receive_maximum: Some(config.receive_maximum),
        maximum_packet_size: Some(config.maximum_packet_size),
        server_keep_alive_s: Some(30),
        ..ConnAckProperties::default()
    };
    let with_response_information = ConnAckProperties {
        response_information: Some(ByteString::from("replies/")),
        ..must_keep.clone()
    };
    let full = ConnAckProperties {
        topic_alias_maximum: Some(config.topic_alias_maximum),
        ..with_response_information.clone()
    };
    // Properties: 11 (5 bytes), 21 (3), 27 (5), 13 (3), 1A (3 + 8), 22 (3):
    // 30 bytes, so 1 + 1 + 1 + 30 = 33 remaining and 35 in all.
    assert_eq!(
        accepted_connack(connect(35), None, &config).properties,
        full
    );
    let cases = [
        // Topic Alias Maximum goes first, and the 32 bytes left fit 34 and 32.
        (34, &with_response_information, 32),
        (32, &with_response_information, 32),
        // Then Response Information: 21 bytes, of what the client must know.
        (31, &must_keep, 21),
        (21, &must_keep, 21),
    ];
    for (maximum, properties, len) in cases {
        let connack = accepted_connack(connect(maximum), None, &config);
        assert_eq!(&connack.properties, properties, "maximum {maximum}");
        assert_eq!(connack.reason_code, ReasonCode::Success);
        assert_eq!(bytes_of(&connack).len(), len, "maximum {maximum}");
    }
    let (outcome, actions) = connect_with(connect(20), None, None, &config, true);
    assert!(matches!(
        outcome,
        ConnectOutcome::Refused { existing: None }
    ));
    assert_closed_without_connack(&actions, ReasonCode::PacketTooLarge);
}

#[test]
fn optional_properties_are_left_out_in_the_stated_order() {
    // What the client must know (Receive Maximum and Maximum Packet Size at
    // their defaults are among the optional ones here).
    let must_keep = ConnAckProperties {
        session_expiry_interval_s: Some(10),
        maximum_qos: Some(QoS::AtLeastOnce),
        assigned_client_identifier: Some(ByteString::from("auto-1")),
        server_keep_alive_s: Some(30),
        ..ConnAckProperties::default()
    };
    // The optional properties, in the order they are to be left out.
    let optional: [fn(&mut ConnAckProperties); 11] = [
        |p| p.reason_string = Some(ByteString::from("why")),
        |p| p.user_properties = vec![(ByteString::from("k"), ByteString::from("v")); 2],
        |p| p.wildcard_subscription_available = Some(true),
        |p| p.subscription_identifiers_available = Some(true),
        |p| p.shared_subscription_available = Some(true),
        |p| p.retain_available = Some(true),
        |p| p.receive_maximum = Some(u16::MAX),
        |p| p.maximum_packet_size = Some(crate::limits::REMAINING_LENGTH_MAX + 5),
        |p| p.server_reference = Some(ByteString::from("elsewhere:1883")),
        |p| p.topic_alias_maximum = Some(10),
        |p| p.response_information = Some(ByteString::from("replies/")),
    ];
    let len_of = |properties: &ConnAckProperties| {
        bytes_of(&ConnAck {
            session_present: false,
            reason_code: ReasonCode::Success,
            properties: properties.clone(),
        })
        .len() as u32
    };
    // sets[k]: the properties once the first k have been left out.
    let sets: Vec<ConnAckProperties> = (0..=optional.len())
        .map(|left_out| {
            let mut properties = must_keep.clone();
            for add in &optional[left_out..] {
                add(&mut properties);
            }
            properties
        })
        .collect();
    for (left_out, expected) in sets.iter().enumerate() {
        // Each step leaves something out, so each maximum stops at its own.
        let maximum = len_of(expected);
        let mut properties = sets[0].clone();
        assert!(leave_out_until_fits(&mut properties, maximum));
        assert_eq!(&properties, expected, "after {left_out} left out");
        assert_eq!(len_of(&properties), maximum, "fits exactly");
        if left_out > 0 {
            // One byte more is no room for the last one left out (2 bytes at
            // least), which stays out.
            let mut properties = sets[0].clone();
            assert!(leave_out_until_fits(&mut properties, maximum + 1));
            assert_eq!(&properties, expected, "maximum {}", maximum + 1);
        }
    }
    assert_eq!(sets[optional.len()], must_keep);
    let mut properties = sets[0].clone();
    assert!(!leave_out_until_fits(
        &mut properties,
        len_of(&must_keep) - 1
    ));
    assert_eq!(properties, must_keep, "every optional one is out");
}

#[test]
fn what_the_client_must_know_is_never_left_out() {
    let must_keep = ConnAckProperties {
        session_expiry_interval_s: Some(10),
        receive_maximum: Some(100),
        maximum_qos: Some(QoS::AtMostOnce),
        retain_available: Some(false),
        maximum_packet_size: Some(1000),
        assigned_client_identifier: Some(ByteString::from("auto-1")),
        server_keep_alive_s: Some(30),
        wildcard_subscription_available: Some(false),
        subscription_identifiers_available: Some(false),
        shared_subscription_available: Some(false),
        ..ConnAckProperties::default()
    };
    let mut properties = must_keep.clone();
    assert!(!leave_out_until_fits(&mut properties, 5));
    assert_eq!(properties, must_keep);
}

#[test]
fn bare_v5_connack_is_5_bytes_and_needs_a_maximum_of_5() {
    let config = config_announcing_nothing();
    let connack = accepted_connack(v5_connect_limited("c", Some(5)), None, &config);
    assert_eq!(bytes_of(&connack), [0x20, 0x03, 0x00, 0x00, 0x00]);
    let (outcome, actions) =
        connect_with(v5_connect_limited("c", Some(4)), None, None, &config, true);
    assert!(matches!(
        outcome,
        ConnectOutcome::Refused { existing: None }
    ));
    assert_closed_without_connack(&actions, ReasonCode::PacketTooLarge);
}

#[test]
fn maximum_packet_size_1_gets_no_connack_and_the_stored_session_back() {
    let (mut stored, _) = accept(v5_persistent_connect("c", 60), None, 0);
    stored.connection_lost(1, &mut Vec::new());
    let config = SessionConfig::default();
    let mut connect = v5_persistent_connect("c", 60);
    connect.properties.maximum_packet_size = Some(1);
    let (outcome, actions) = connect_with(connect, None, Some(stored), &config, true);
    assert_closed_without_connack(&actions, ReasonCode::PacketTooLarge);
    let ConnectOutcome::Refused {
        existing: Some(existing),
    } = outcome
    else {
        panic!("expected the stored session back");
    };
    assert_eq!(existing.client_id(), "c");
    assert!(!existing.is_connected());

    // The same for a new session, and with an empty client id.
    let (outcome, actions) =
        connect_with(v5_connect_limited("d", Some(1)), None, None, &config, true);
    assert!(matches!(
        outcome,
        ConnectOutcome::Refused { existing: None }
    ));
    assert_closed_without_connack(&actions, ReasonCode::PacketTooLarge);
    let (outcome, actions) = connect_with(
        v5_connect_limited("", Some(1)),
        Some("auto-1"),
        None,
        &config,
        true,
    );
    assert!(matches!(
        outcome,
        ConnectOutcome::Refused { existing: None }
    ));
    assert_closed_without_connack(&actions, ReasonCode::PacketTooLarge);
}

#[test]
fn refusal_connack_is_withheld_from_a_client_that_allows_fewer_than_5_bytes() {
    let config = SessionConfig::default();
    let bad_auth = |maximum| {
        let mut connect = v5_connect_limited("c", maximum);
        connect.properties.authentication_method = Some(ByteString::from("x"));
        connect
    };
    let (_, actions) = connect_with(bad_auth(Some(4)), None, None, &config, true);
    assert_closed_without_connack(&actions, ReasonCode::BadAuthenticationMethod);
    let (_, actions) = connect_with(bad_auth(Some(5)), None, None, &config, true);
    assert_eq!(
        bytes_of(connack(&actions)),
        [
            0x20,
            0x03,
            0x00,
            ReasonCode::BadAuthenticationMethod.as_u8(),
            0x00
        ]
    );
    // Maximum Packet Size 0 is the Protocol Error refused, not a limit.
    let (_, actions) = connect_with(v5_connect_limited("c", Some(0)), None, None, &config, true);
    assert_eq!(connack(&actions).reason_code, ReasonCode::ProtocolError);
}

#[test]
fn assigned_client_identifier_is_kept_while_optional_properties_go() {
    let config = SessionConfig::default();
    // 16 bytes, plus 12 00 06 "auto-1": 25; without Topic Alias Maximum, 22.
    let connack = accepted_connack(v5_connect_limited("", Some(24)), Some("auto-1"), &config);
    assert_eq!(bytes_of(&connack).len(), 22);
    assert_eq!(
        connack.properties.assigned_client_identifier.as_deref(),
        Some("auto-1")
    );
    assert_eq!(connack.properties.topic_alias_maximum, None);
}

#[test]
fn assigned_client_identifier_that_cannot_fit_is_refused_with_0x85() {
    let config = SessionConfig::default();
    // Without the identifier the CONNACK is 13 bytes and fits 21, with it
    // (12 00 06 "auto-1") 22: the client is told to bring an id of its own.
    // refuse_connect, which does not see the identifier, leaves it to connect.
    let (outcome, actions) = connect_with(
        v5_connect_limited("", Some(21)),
        Some("auto-1"),
        None,
        &config,
        false,
    );
    assert!(matches!(
        outcome,
        ConnectOutcome::Refused { existing: None }
    ));
    assert_eq!(bytes_of(connack(&actions)), [0x20, 0x03, 0x00, 0x85, 0x00]);
    assert_eq!(
        close_reason(&actions),
        Some(ReasonCode::ClientIdentifierNotValid)
    );
    assert_eq!(actions.len(), 2, "{actions:?}");

    // With an id of its own, the whole CONNACK (16 bytes) fits the same 21.
    let connack = accepted_connack(v5_connect_limited("mine", Some(21)), None, &config);
    assert_eq!(bytes_of(&connack).len(), 16);

    // Below 13 bytes no CONNACK fits, with or without the identifier, and
    // refuse_connect knows that much already.
    let (_, actions) = connect_with(
        v5_connect_limited("", Some(12)),
        Some("auto-1"),
        None,
        &config,
        true,
    );
    assert_closed_without_connack(&actions, ReasonCode::PacketTooLarge);
}

#[test]
fn v3_1_1_connect_is_untouched() {
    let (_, actions) = accept(connect_of(ProtocolVersion::V3_1_1, "c", true), None, 0);
    assert_eq!(connack(&actions).properties, ConnAckProperties::default());
}
