//! Keep-alive: the 1.5x rule, re-arming, PINGREQ, and what a timeout sends.

use super::support::*;
use crate::protocol::*;
use crate::session::{refuse_connect, SessionConfig, TimerKind};

#[test]
fn keep_alive_expiry_closes_with_0x8d_after_one_and_a_half_intervals() {
    let (mut session, actions) = accept(v5_connect("c"), None, 1_000);
    assert_eq!(armed_at_ms(&actions, TimerKind::KeepAlive), Some(91_000));
    let mut actions = Vec::new();
    session.handle_timer(TimerKind::KeepAlive, 91_000, &mut actions);
    assert_eq!(
        disconnect_reason(&actions),
        Some(ReasonCode::KeepAliveTimeout)
    );
    assert_eq!(close_reason(&actions), Some(ReasonCode::KeepAliveTimeout));
    assert!(!session.is_connected());
}

#[test]
fn keep_alive_timer_rearms_for_the_deadline_of_the_latest_packet() {
    let (mut session, _) = accept(v5_connect("c"), None, 0);
    feed(&mut session, Packet::PingReq, 50_000);
    let mut actions = Vec::new();
    session.handle_timer(TimerKind::KeepAlive, 90_000, &mut actions);
    assert!(session.is_connected());
    assert_eq!(armed_at_ms(&actions, TimerKind::KeepAlive), Some(140_000));
    assert_eq!(close_reason(&actions), None);
}

#[test]
fn pingreq_is_answered_with_pingresp() {
    let (mut session, _) = accept(v5_connect("c"), None, 0);
    let actions = feed(&mut session, Packet::PingReq, 1);
    assert_eq!(sent(&actions), vec![Packet::PingResp]);
}

#[test]
fn keep_alive_zero_arms_no_timer() {
    let mut connect = v5_connect("c");
    connect.keep_alive_s = 0;
    let (mut session, actions) = accept(connect, None, 0);
    assert_eq!(armed_at_ms(&actions, TimerKind::KeepAlive), None);
    let mut actions = Vec::new();
    session.handle_timer(TimerKind::KeepAlive, u64::MAX / 2, &mut actions);
    assert!(session.is_connected());
}

#[test]
fn server_keep_alive_override_sets_the_deadline() {
    let config = SessionConfig {
        server_keep_alive_s: Some(10),
        ..SessionConfig::default()
    };
    let (_, actions) = accept_with(v5_connect("c"), None, &config, 0);
    assert_eq!(armed_at_ms(&actions, TimerKind::KeepAlive), Some(15_000));
}

#[test]
fn keep_alive_above_the_maximum_is_lowered() {
    let config = SessionConfig {
        keep_alive_max_s: 20,
        ..SessionConfig::default()
    };
    let (_, actions) = accept_with(v5_connect("c"), None, &config, 0);
    assert_eq!(connack(&actions).properties.server_keep_alive_s, Some(20));
    assert_eq!(armed_at_ms(&actions, TimerKind::KeepAlive), Some(30_000));
}

#[test]
fn keep_alive_timeout_under_v3_1_1_closes_without_disconnect() {
    let connect = connect_of(ProtocolVersion::V3_1_1, "c", true);
    let (mut session, _) = accept(connect, None, 0);
    let mut actions = Vec::new();
    session.handle_timer(TimerKind::KeepAlive, 90_000, &mut actions);
    assert_eq!(disconnect_reason(&actions), None);
    assert_eq!(close_reason(&actions), Some(ReasonCode::KeepAliveTimeout));
}

#[test]
fn v3_1_1_client_keeps_its_own_keep_alive_despite_the_override() {
    let config = SessionConfig {
        server_keep_alive_s: Some(10),
        ..SessionConfig::default()
    };
    let connect = connect_of(ProtocolVersion::V3_1_1, "c", true);
    let (_, actions) = accept_with(connect, None, &config, 0);
    assert_eq!(armed_at_ms(&actions, TimerKind::KeepAlive), Some(90_000));
}

#[test]
fn a_3_x_keep_alive_above_the_maximum_is_refused_as_mosquitto_refuses_it() {
    let config = SessionConfig {
        keep_alive_max_s: 20,
        ..SessionConfig::default()
    };
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V3_1] {
        let mut connect = connect_of(version, "c", true);
        connect.keep_alive_s = 21;
        let mut actions = Vec::new();
        assert!(refuse_connect(&connect, false, &config, &mut actions));
        assert_eq!(
            connack(&actions).reason_code,
            ReasonCode::ClientIdentifierNotValid
        );
        connect.keep_alive_s = 20;
        let (_, actions) = accept_with(connect, None, &config, 0);
        assert_eq!(armed_at_ms(&actions, TimerKind::KeepAlive), Some(30_000));
    }
}
