//! CONNECT handling: protocol levels, client ids, Clean Start, Session Present,
//! and what CONNACK tells a v5 client.

use std::sync::Arc;

use bytestring::ByteString;

use super::support::*;
use crate::protocol::*;
use crate::session::{needs_assigned_client_id, Action, ConnectOutcome, Session, SessionConfig};

#[test]
fn v3_1_client_id_longer_than_23_chars_is_identifier_rejected() {
    let connect = connect_of(ProtocolVersion::V3_1, "abcdefghijklmnopqrstuvwx", true);
    let actions = refused(connect);
    assert_eq!(
        connack(&actions).reason_code,
        ReasonCode::ClientIdentifierNotValid
    );
    assert_eq!(
        close_reason(&actions),
        Some(ReasonCode::ClientIdentifierNotValid)
    );
}

#[test]
fn v3_1_client_id_of_23_chars_is_accepted() {
    let connect = connect_of(ProtocolVersion::V3_1, "abcdefghijklmnopqrstuvw", true);
    let (session, actions) = accept(connect, None, 0);
    assert_eq!(connack(&actions).reason_code, ReasonCode::Success);
    assert_eq!(session.protocol_version(), ProtocolVersion::V3_1);
}

#[test]
fn v3_1_1_empty_client_id_with_clean_session_0_is_identifier_rejected() {
    let connect = connect_of(ProtocolVersion::V3_1_1, "", false);
    assert!(!needs_assigned_client_id(&connect));
    let actions = refused(connect);
    assert_eq!(
        connack(&actions).reason_code,
        ReasonCode::ClientIdentifierNotValid
    );
}

#[test]
fn v3_1_1_empty_client_id_with_clean_session_1_runs_under_the_assigned_id() {
    let connect = connect_of(ProtocolVersion::V3_1_1, "", true);
    assert!(needs_assigned_client_id(&connect));
    let mut actions = Vec::new();
    let assigned = Some(ByteString::from("auto-1"));
    let config = SessionConfig::default();
    let ConnectOutcome::Accepted(session) = Session::connect(
        connect,
        assigned,
        None,
        &Arc::new(config.clone()),
        &Arc::default(),
        0,
        &mut actions,
    ) else {
        panic!("refused: {actions:?}");
    };
    assert_eq!(session.client_id(), "auto-1");
    assert_eq!(connack(&actions).reason_code, ReasonCode::Success);
}

#[test]
fn v5_empty_client_id_gets_assigned_client_identifier_in_connack() {
    let connect = v5_persistent_connect("", 60);
    assert!(needs_assigned_client_id(&connect));
    let mut actions = Vec::new();
    let assigned = Some(ByteString::from("auto-2"));
    let config = SessionConfig::default();
    let outcome = Session::connect(
        connect,
        assigned,
        None,
        &Arc::new(config.clone()),
        &Arc::default(),
        0,
        &mut actions,
    );
    assert!(matches!(outcome, ConnectOutcome::Accepted(_)));
    let connack = connack(&actions);
    assert_eq!(
        connack.properties.assigned_client_identifier.as_deref(),
        Some("auto-2")
    );
    assert!(!connack.session_present);
}

#[test]
fn empty_client_id_without_an_assigned_one_is_refused() {
    let actions = refused(v5_connect(""));
    assert_eq!(
        connack(&actions).reason_code,
        ReasonCode::ClientIdentifierNotValid
    );
}

#[test]
fn session_present_only_when_resuming_a_stored_session() {
    let (mut first, _) = accept(v5_persistent_connect("c", 60), None, 0);
    let mut actions = Vec::new();
    first.connection_lost(10, &mut actions);
    let (mut second, actions) = accept(v5_persistent_connect("c", 60), Some(first), 20);
    assert!(connack(&actions).session_present);
    second.connection_lost(25, &mut Vec::new());
    let (_, actions) = accept(v5_connect("c"), Some(second), 30);
    assert!(!connack(&actions).session_present);
    let (_, actions) = accept(v5_persistent_connect("d", 60), None, 0);
    assert!(!connack(&actions).session_present);
}

#[test]
fn v3_1_1_clean_session_1_never_reports_a_session_present() {
    let connect = connect_of(ProtocolVersion::V3_1_1, "c", false);
    let (mut first, _) = accept(connect, None, 0);
    first.connection_lost(10, &mut Vec::new());
    let (_, actions) = accept(
        connect_of(ProtocolVersion::V3_1_1, "c", true),
        Some(first),
        20,
    );
    assert!(!connack(&actions).session_present);
}

#[test]
fn clean_start_ends_the_stored_session_and_removes_its_subscriptions() {
    let (mut first, _) = accept(v5_persistent_connect("c", 60), None, 0);
    let subscribe = Subscribe {
        packet_id: 1,
        properties: SubscribeProperties::default(),
        filters: vec![(ByteString::from("a/b"), SubscriptionOptions::default())],
    };
    feed(&mut first, Packet::Subscribe(subscribe), 1);
    first.connection_lost(2, &mut Vec::new());
    let (second, actions) = accept(v5_connect("c"), Some(first), 3);
    assert!(actions.contains(&Action::Unsubscribe {
        topic_filter: ByteString::from("a/b")
    }));
    assert_eq!(second.subscriptions().count(), 0);
}

#[test]
fn v5_session_expiry_above_the_cap_is_lowered_and_reported_in_connack() {
    let config = SessionConfig {
        session_expiry_interval_max_s: 100,
        ..SessionConfig::default()
    };
    let (_, actions) = accept_with(v5_persistent_connect("c", 1000), None, &config, 0);
    assert_eq!(
        connack(&actions).properties.session_expiry_interval_s,
        Some(100)
    );
    let (_, actions) = accept_with(v5_persistent_connect("c", 50), None, &config, 0);
    assert_eq!(connack(&actions).properties.session_expiry_interval_s, None);
}

#[test]
fn server_keep_alive_override_is_sent_in_connack() {
    let config = SessionConfig {
        server_keep_alive_s: Some(30),
        ..SessionConfig::default()
    };
    let (_, actions) = accept_with(v5_connect("c"), None, &config, 0);
    assert_eq!(connack(&actions).properties.server_keep_alive_s, Some(30));
    let (_, actions) = accept(v5_connect("c"), None, 0);
    assert_eq!(connack(&actions).properties.server_keep_alive_s, None);
}

#[test]
fn connack_announces_our_limits_to_a_v5_client() {
    let config = SessionConfig {
        maximum_qos: QoS::AtLeastOnce,
        retain_available: false,
        ..SessionConfig::default()
    };
    let (_, actions) = accept_with(v5_connect("c"), None, &config, 0);
    let properties = &connack(&actions).properties;
    assert_eq!(properties.receive_maximum, Some(config.receive_maximum));
    assert_eq!(properties.maximum_qos, Some(QoS::AtLeastOnce));
    assert_eq!(properties.retain_available, Some(false));
    assert_eq!(
        properties.topic_alias_maximum,
        Some(config.topic_alias_maximum)
    );
    assert_eq!(
        properties.maximum_packet_size,
        Some(config.maximum_packet_size)
    );
}

#[test]
fn v3_1_1_connack_carries_no_properties() {
    let (_, actions) = accept(connect_of(ProtocolVersion::V3_1_1, "c", true), None, 0);
    assert_eq!(connack(&actions).properties, ConnAckProperties::default());
}

#[test]
fn authentication_method_is_refused_with_bad_authentication_method() {
    let mut connect = v5_connect("c");
    connect.properties.authentication_method = Some(ByteString::from("SCRAM-SHA-1"));
    let actions = refused(connect);
    assert_eq!(
        connack(&actions).reason_code,
        ReasonCode::BadAuthenticationMethod
    );
}

#[test]
fn will_qos_above_maximum_is_refused_under_v5() {
    let mut connect = v5_connect("c");
    let mut last_will = will("w", None);
    last_will.qos = QoS::ExactlyOnce;
    connect.will = Some(last_will);
    let config = SessionConfig {
        maximum_qos: QoS::AtLeastOnce,
        ..SessionConfig::default()
    };
    let mut actions = Vec::new();
    let outcome = Session::connect(
        connect,
        None,
        None,
        &Arc::new(config.clone()),
        &Arc::default(),
        0,
        &mut actions,
    );
    assert!(matches!(outcome, ConnectOutcome::Refused { .. }));
    assert_eq!(connack(&actions).reason_code, ReasonCode::QosNotSupported);
}

#[test]
fn refused_connect_gives_the_stored_session_back_untouched() {
    let (mut stored, _) = accept(v5_persistent_connect("c", 60), None, 0);
    stored.connection_lost(1, &mut Vec::new());
    let mut connect = v5_connect("c");
    connect.properties.authentication_method = Some(ByteString::from("x"));
    let mut actions = Vec::new();
    let config = SessionConfig::default();
    let outcome = Session::connect(
        connect,
        None,
        Some(stored),
        &Arc::new(config.clone()),
        &Arc::default(),
        2,
        &mut actions,
    );
    let ConnectOutcome::Refused {
        existing: Some(existing),
    } = outcome
    else {
        panic!("expected the stored session back");
    };
    assert_eq!(existing.client_id(), "c");
    assert!(!existing.is_connected());
}

#[test]
fn takeover_of_a_session_with_expiry_0_starts_a_new_session() {
    let (mut old, _) = accept(v5_connect("c"), None, 0);
    let subscribe = Subscribe {
        packet_id: 1,
        properties: SubscribeProperties::default(),
        filters: vec![(ByteString::from("a"), SubscriptionOptions::default())],
    };
    feed(&mut old, Packet::Subscribe(subscribe), 1);
    old.taken_over(2, &mut Vec::new());
    let (new, actions) = accept(v5_persistent_connect("c", 60), Some(old), 3);
    assert!(!connack(&actions).session_present);
    assert_eq!(new.subscriptions().count(), 0);
    assert!(actions.contains(&Action::Unsubscribe {
        topic_filter: ByteString::from("a")
    }));
}

#[test]
fn refusal_connacks_encode_at_their_protocol_level() {
    let refusals = [
        connect_of(ProtocolVersion::V3_1, "abcdefghijklmnopqrstuvwx", true),
        connect_of(ProtocolVersion::V3_1_1, "", false),
        v5_connect(""),
    ];
    for connect in refusals {
        let version = connect.protocol_version;
        let actions = refused(connect);
        let mut out = bytes::BytesMut::new();
        let packet = Packet::ConnAck(Box::new(connack(&actions).clone()));
        assert_eq!(encode(&packet, version, &mut out), Ok(()), "{version:?}");
    }
}
