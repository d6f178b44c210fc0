//! Session expiry: the timer, its interval under each protocol level, DISCONNECT.

use super::support::*;
use crate::protocol::*;
use crate::session::{Action, SessionConfig, TimerKind};

#[test]
fn session_expiry_timer_ends_the_disconnected_session() {
    let (mut session, _) = accept(v5_persistent_connect("c", 60), None, 0);
    let mut actions = Vec::new();
    session.connection_lost(1_000, &mut actions);
    assert_eq!(
        armed_at_ms(&actions, TimerKind::SessionExpiry),
        Some(61_000)
    );
    assert!(!ends_session(&actions));
    let mut actions = Vec::new();
    session.handle_timer(TimerKind::SessionExpiry, 60_999, &mut actions);
    assert!(!ends_session(&actions), "not due yet");
    assert_eq!(
        armed_at_ms(&actions, TimerKind::SessionExpiry),
        Some(61_000)
    );
    let mut actions = Vec::new();
    session.handle_timer(TimerKind::SessionExpiry, 61_000, &mut actions);
    assert!(ends_session(&actions));
}

#[test]
fn session_expiry_zero_ends_the_session_on_disconnect() {
    let (mut session, _) = accept(v5_connect("c"), None, 0);
    let actions = feed(&mut session, disconnect(ReasonCode::Success), 1);
    assert!(ends_session(&actions));
}

#[test]
fn v3_1_1_persistent_session_lives_as_long_as_the_configured_cap() {
    let config = SessionConfig {
        session_expiry_interval_max_s: 3600,
        ..SessionConfig::default()
    };
    let connect = connect_of(ProtocolVersion::V3_1_1, "c", false);
    let (mut session, _) = accept_with(connect, None, &config, 0);
    let mut actions = Vec::new();
    session.connection_lost(0, &mut actions);
    assert_eq!(
        armed_at_ms(&actions, TimerKind::SessionExpiry),
        Some(3_600_000)
    );
}

#[test]
fn v3_1_1_persistent_session_never_expires_without_a_cap() {
    let config = SessionConfig {
        session_expiry_interval_max_s: u32::MAX,
        ..SessionConfig::default()
    };
    let connect = connect_of(ProtocolVersion::V3_1_1, "c", false);
    let (mut session, _) = accept_with(connect, None, &config, 0);
    let mut actions = Vec::new();
    session.connection_lost(0, &mut actions);
    assert_eq!(armed_at_ms(&actions, TimerKind::SessionExpiry), None);
    assert!(!ends_session(&actions));
}

#[test]
fn disconnect_changes_the_session_expiry_interval() {
    let (mut session, _) = accept(v5_persistent_connect("c", 60), None, 0);
    let packet = Packet::Disconnect(Disconnect {
        reason_code: ReasonCode::Success,
        properties: DisconnectProperties {
            session_expiry_interval_s: Some(5),
            ..DisconnectProperties::default()
        },
    });
    let actions = feed(&mut session, packet, 1_000);
    assert_eq!(armed_at_ms(&actions, TimerKind::SessionExpiry), Some(6_000));
}

#[test]
fn disconnect_cannot_raise_session_expiry_from_zero() {
    let (mut session, _) = accept(v5_connect("c"), None, 0);
    let packet = Packet::Disconnect(Disconnect {
        reason_code: ReasonCode::Success,
        properties: DisconnectProperties {
            session_expiry_interval_s: Some(5),
            ..DisconnectProperties::default()
        },
    });
    let actions = feed(&mut session, packet, 1_000);
    assert_eq!(disconnect_reason(&actions), Some(ReasonCode::ProtocolError));
    assert!(ends_session(&actions));
}

#[test]
fn resume_cancels_the_expiry_and_a_stale_timer_is_ignored() {
    let (mut session, _) = accept(v5_persistent_connect("c", 60), None, 0);
    session.connection_lost(0, &mut Vec::new());
    let (mut resumed, actions) = accept(v5_persistent_connect("c", 60), Some(session), 1_000);
    assert!(actions.contains(&Action::CancelTimer(TimerKind::SessionExpiry)));
    let mut actions = Vec::new();
    resumed.handle_timer(TimerKind::SessionExpiry, 60_000, &mut actions);
    assert!(actions.is_empty());
    assert!(resumed.is_connected());
}
