//! Will messages: when they are published, delayed, cancelled.

use super::support::*;
use crate::protocol::*;
use crate::session::{Action, TimerKind};

fn with_will(will_delay_interval_s: Option<u32>, session_expiry_interval_s: u32) -> Connect {
    let mut connect = v5_persistent_connect("c", session_expiry_interval_s);
    connect.will = Some(will("status/c", will_delay_interval_s));
    connect
}

#[test]
fn will_on_abnormal_close_but_not_on_disconnect_0x00() {
    let (mut session, _) = accept(with_will(None, 0), None, 0);
    let mut actions = Vec::new();
    session.connection_lost(5, &mut actions);
    let wills = routed(&actions);
    assert_eq!(wills.len(), 1);
    assert_eq!(wills[0].topic_name, "status/c");
    assert_eq!(wills[0].publisher, "c");

    let (mut session, _) = accept(with_will(None, 0), None, 0);
    let actions = feed(&mut session, disconnect(ReasonCode::Success), 5);
    assert!(routed(&actions).is_empty());
    assert_eq!(close_reason(&actions), Some(ReasonCode::Success));
}

#[test]
fn will_published_on_disconnect_with_will_message() {
    let (mut session, _) = accept(with_will(None, 0), None, 0);
    let actions = feed(
        &mut session,
        disconnect(ReasonCode::DisconnectWithWillMessage),
        5,
    );
    assert_eq!(routed(&actions).len(), 1);
}

#[test]
fn will_published_on_protocol_error() {
    let (mut session, _) = accept(with_will(None, 0), None, 0);
    let actions = feed(&mut session, Packet::PingResp, 5);
    assert_eq!(disconnect_reason(&actions), Some(ReasonCode::ProtocolError));
    assert_eq!(routed(&actions).len(), 1);
}

#[test]
fn will_published_on_keep_alive_timeout() {
    let (mut session, _) = accept(with_will(None, 0), None, 0);
    let mut actions = Vec::new();
    session.handle_timer(TimerKind::KeepAlive, 90_000, &mut actions);
    assert_eq!(routed(&actions).len(), 1);
}

#[test]
fn will_delay_publishes_when_its_timer_fires() {
    let (mut session, _) = accept(with_will(Some(10), 3600), None, 0);
    let mut actions = Vec::new();
    session.connection_lost(1_000, &mut actions);
    assert!(routed(&actions).is_empty());
    assert_eq!(armed_at_ms(&actions, TimerKind::WillDelay), Some(11_000));
    let mut actions = Vec::new();
    session.handle_timer(TimerKind::WillDelay, 11_000, &mut actions);
    assert_eq!(routed(&actions).len(), 1);
    let mut actions = Vec::new();
    session.handle_timer(TimerKind::WillDelay, 12_000, &mut actions);
    assert!(routed(&actions).is_empty(), "a will is published once");
}

#[test]
fn will_delay_cancelled_by_reconnect() {
    let (mut session, _) = accept(with_will(Some(10), 3600), None, 0);
    session.connection_lost(1_000, &mut Vec::new());
    let (mut resumed, actions) = accept(v5_persistent_connect("c", 3600), Some(session), 5_000);
    assert!(actions.contains(&Action::CancelTimer(TimerKind::WillDelay)));
    assert!(routed(&actions).is_empty());
    let mut actions = Vec::new();
    resumed.handle_timer(TimerKind::WillDelay, 11_000, &mut actions);
    assert!(
        routed(&actions).is_empty(),
        "a stale timer publishes nothing"
    );
}

#[test]
fn a_clean_start_reconnect_within_the_will_delay_discards_the_pending_will() {
    let (mut session, _) = accept(with_will(Some(10), 3600), None, 0);
    session.connection_lost(1_000, &mut Vec::new());
    let (mut replaced, actions) = accept(v5_connect("c"), Some(session), 5_000);
    assert!(routed(&actions).is_empty(), "[MQTT-3.1.2-8]: back in time");
    assert!(actions.contains(&Action::CancelTimer(TimerKind::WillDelay)));
    let mut actions = Vec::new();
    replaced.connection_lost(6_000, &mut actions);
    assert!(routed(&actions).is_empty(), "the old will is gone for good");
}

#[test]
fn a_clean_start_reconnect_after_the_will_delay_publishes_a_will_its_timer_had_not_yet_run() {
    let (mut session, _) = accept(with_will(Some(10), 3600), None, 0);
    session.connection_lost(1_000, &mut Vec::new());
    let (_, actions) = accept(v5_connect("c"), Some(session), 11_000);
    assert_eq!(routed(&actions).len(), 1);
}

#[test]
fn a_will_with_a_delay_is_not_published_when_a_clean_start_takeover_comes_within_it() {
    let (mut old, _) = accept(with_will(Some(10), 3600), None, 0);
    let mut actions = Vec::new();
    old.taken_over(5, &mut actions);
    assert!(routed(&actions).is_empty());
    let (_, actions) = accept(v5_connect("c"), Some(old), 5);
    assert!(routed(&actions).is_empty());
}

#[test]
fn will_published_at_session_end_when_the_session_expires_before_the_will_delay() {
    let (mut session, _) = accept(with_will(Some(100), 10), None, 0);
    let mut actions = Vec::new();
    session.connection_lost(0, &mut actions);
    assert_eq!(armed_at_ms(&actions, TimerKind::WillDelay), None);
    assert!(routed(&actions).is_empty());
    let mut actions = Vec::new();
    session.handle_timer(TimerKind::SessionExpiry, 10_000, &mut actions);
    assert_eq!(routed(&actions).len(), 1);
    assert!(ends_session(&actions));
}

#[test]
fn will_with_delay_is_published_at_once_when_the_session_ends_at_once() {
    let (mut session, _) = accept(with_will(Some(100), 0), None, 0);
    let mut actions = Vec::new();
    session.connection_lost(0, &mut actions);
    assert_eq!(routed(&actions).len(), 1);
    assert!(ends_session(&actions));
}

/// [MQTT-3.1.4-3]: on takeover "the existing Client's Will Message is
/// published as described in section 3.1.2.5": without a delay, at once, the
/// new connection resuming the persistent session or not.
#[test]
fn takeover_sends_session_taken_over_to_the_old_connection_and_publishes_the_will() {
    let (mut old, _) = accept(with_will(None, 3600), None, 0);
    let mut actions = Vec::new();
    old.taken_over(5, &mut actions);
    assert_eq!(
        disconnect_reason(&actions),
        Some(ReasonCode::SessionTakenOver)
    );
    assert_eq!(close_reason(&actions), Some(ReasonCode::SessionTakenOver));
    assert_eq!(routed(&actions).len(), 1);
    assert!(!ends_session(&actions));
    let (_, actions) = accept(v5_persistent_connect("c", 3600), Some(old), 5);
    assert!(connack(&actions).session_present);
}

#[test]
fn will_carries_its_properties_to_subscribers() {
    let mut connect = with_will(None, 0);
    let last_will = connect.will.as_mut().unwrap();
    last_will.properties.content_type = Some("text/plain".into());
    last_will.properties.message_expiry_interval_s = Some(30);
    let (mut session, _) = accept(connect, None, 0);
    let mut actions = Vec::new();
    session.connection_lost(1_000, &mut actions);
    let message = routed(&actions)[0];
    assert_eq!(
        message.properties.content_type.as_deref(),
        Some("text/plain")
    );
    assert_eq!(message.expires_at_ms, Some(31_000));
}

#[test]
fn will_published_on_disconnect_with_an_error_code() {
    let (mut session, _) = accept(with_will(None, 0), None, 0);
    let actions = feed(&mut session, disconnect(ReasonCode::UnspecifiedError), 5);
    assert_eq!(routed(&actions).len(), 1);
}

#[test]
fn v3_1_1_disconnect_discards_the_will() {
    let mut connect = connect_of(ProtocolVersion::V3_1_1, "c", true);
    connect.will = Some(will("status/c", None));
    let (mut session, _) = accept(connect, None, 0);
    let actions = feed(&mut session, disconnect(ReasonCode::Success), 5);
    assert!(routed(&actions).is_empty());
}

#[test]
fn a_will_on_a_sys_topic_is_refused_and_never_published_but_its_connect_is_accepted() {
    let mut connect = v5_persistent_connect("c", 3600);
    connect.will = Some(will("$SYS/broker/fake", None));
    let (mut session, actions) = accept(connect, None, 0);
    assert!(actions.iter().any(|action| matches!(
        action,
        Action::PublishRefused(crate::session::PublishRefusal::SysTopic { topic_name })
            if topic_name == "$SYS/broker/fake"
    )));
    let mut actions = Vec::new();
    session.connection_lost(5, &mut actions);
    assert!(routed(&actions).is_empty());
}
