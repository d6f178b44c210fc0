//! The ACL in the session: SUBACK and PUBACK/PUBREC codes for what it
//! refuses, deliveries filtered by read access, wills, and the owner a
//! takeover is checked against.

use std::sync::Arc;

use bytestring::ByteString;

use super::support::*;
use crate::auth::Acl;
use crate::protocol::*;
use crate::session::{Action, PublishRefusal, Session, SessionConfig, SessionMeters};

const RULES: &str = "\
user alice
topic readwrite alice/#
topic deny alice/secret
pattern read devices/%c/in
";

fn config() -> SessionConfig {
    SessionConfig {
        acl: Some(Arc::new(Acl::parse(RULES).unwrap())),
        ..SessionConfig::default()
    }
}

fn connect_as(version: ProtocolVersion, username: Option<&str>) -> Connect {
    let mut connect = connect_of(version, "dev1", true);
    connect.username = username.map(ByteString::from);
    connect
}

fn session(
    version: ProtocolVersion,
    username: Option<&str>,
    meters: &Arc<SessionMeters>,
) -> Session {
    accept_metered(connect_as(version, username), None, &config(), meters, 0).0
}

fn subscribe(filters: &[&str]) -> Packet {
    Packet::Subscribe(Subscribe {
        packet_id: 3,
        properties: SubscribeProperties::default(),
        filters: filters
            .iter()
            .map(|filter| (ByteString::from(*filter), SubscriptionOptions::default()))
            .collect(),
    })
}

fn suback_codes(actions: &[Action]) -> Vec<ReasonCode> {
    sent(actions)
        .into_iter()
        .find_map(|packet| match packet {
            Packet::SubAck(suback) => Some(suback.reason_codes),
            _ => None,
        })
        .expect("a SUBACK")
}

#[test]
fn refused_filters_get_0x87_under_5_and_0x80_under_3_1_1_and_are_not_subscribed() {
    let meters = Arc::default();
    let filters = ["alice/x", "bob/x", "alice/secret", "devices/dev1/in"];
    let mut v5 = session(ProtocolVersion::V5, Some("alice"), &meters);
    let actions = feed(&mut v5, subscribe(&filters), 0);
    assert_eq!(
        suback_codes(&actions),
        [
            ReasonCode::Success,
            ReasonCode::NotAuthorized,
            ReasonCode::NotAuthorized,
            ReasonCode::Success
        ]
    );
    let subscribed: Vec<_> = actions
        .iter()
        .filter_map(|action| match action {
            Action::Subscribe { topic_filter, .. } => Some(topic_filter.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(subscribed, ["alice/x", "devices/dev1/in"]);
    let mut v3 = session(ProtocolVersion::V3_1_1, Some("alice"), &meters);
    let actions = feed(&mut v3, subscribe(&filters), 0);
    assert_eq!(
        suback_codes(&actions),
        [
            ReasonCode::Success,
            ReasonCode::UnspecifiedError,
            ReasonCode::UnspecifiedError,
            ReasonCode::Success
        ]
    );
    assert_eq!(meters.acl_denials.subscribe.get(), 4);
}

#[test]
fn a_refused_publish_is_answered_0x87_under_5_and_not_routed() {
    let meters = Arc::default();
    let mut v5 = session(ProtocolVersion::V5, Some("alice"), &meters);
    for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let actions = feed(&mut v5, Packet::Publish(publish("bob/x", qos, Some(7))), 0);
        assert!(routed(&actions).is_empty(), "{actions:?}");
        let answer = sent(&actions).into_iter().find_map(|packet| match packet {
            Packet::PubAck(response) if qos == QoS::AtLeastOnce => Some(response.reason_code),
            Packet::PubRec(response) if qos == QoS::ExactlyOnce => Some(response.reason_code),
            _ => None,
        });
        assert_eq!(answer, Some(ReasonCode::NotAuthorized), "{actions:?}");
        assert!(
            actions.contains(&Action::PublishRefused(PublishRefusal::NotAuthorized {
                topic_name: "bob/x".into()
            }))
        );
    }
    let actions = feed(
        &mut v5,
        Packet::Publish(publish("alice/x", QoS::AtLeastOnce, Some(8))),
        0,
    );
    assert_eq!(routed(&actions).len(), 1);
    assert_eq!(meters.acl_denials.publish.get(), 2);
}

#[test]
fn a_refused_publish_under_3_1_1_is_acknowledged_as_a_success_and_dropped() {
    let meters = Arc::default();
    let mut v3 = session(ProtocolVersion::V3_1_1, Some("alice"), &meters);
    let actions = feed(
        &mut v3,
        Packet::Publish(publish("alice/secret", QoS::AtLeastOnce, Some(7))),
        0,
    );
    assert!(routed(&actions).is_empty());
    assert!(sent(&actions)
        .iter()
        .any(|packet| matches!(packet, Packet::PubAck(r) if r.reason_code == ReasonCode::Success)));
    let actions = feed(
        &mut v3,
        Packet::Publish(publish("bob/x", QoS::AtMostOnce, None)),
        0,
    );
    assert!(routed(&actions).is_empty() && sent(&actions).is_empty());
}

#[test]
fn messages_the_subscriber_may_not_read_are_not_delivered() {
    let meters = Arc::default();
    let mut alice = session(ProtocolVersion::V5, Some("alice"), &meters);
    let allowed = deliver(
        &mut alice,
        &message("alice/x", QoS::AtLeastOnce, "p"),
        QoS::AtLeastOnce,
        0,
    );
    assert_eq!(sent_publishes(&allowed).len(), 1);
    for topic_name in ["alice/secret", "bob/x"] {
        let denied = deliver(
            &mut alice,
            &message(topic_name, QoS::AtLeastOnce, "p"),
            QoS::AtLeastOnce,
            0,
        );
        assert!(sent_publishes(&denied).is_empty(), "{topic_name}");
        let plain = alice.deliver_plain(
            &message(topic_name, QoS::AtMostOnce, "p"),
            &[granted(QoS::AtMostOnce)],
            0,
        );
        assert_eq!(
            plain,
            crate::session::PlainDelivery::Skipped,
            "{topic_name}"
        );
    }
    assert_eq!(meters.acl_denials.read.get(), 4);
}

#[test]
fn anonymous_clients_get_the_anonymous_rules_and_the_patterns() {
    let meters = Arc::default();
    let mut anonymous = session(ProtocolVersion::V5, None, &meters);
    let actions = feed(
        &mut anonymous,
        subscribe(&["alice/x", "devices/dev1/in"]),
        0,
    );
    assert_eq!(
        suback_codes(&actions),
        [ReasonCode::NotAuthorized, ReasonCode::Success]
    );
}

#[test]
fn a_will_the_client_may_not_publish_is_dropped_and_the_connect_accepted() {
    let meters: Arc<SessionMeters> = Arc::default();
    let mut connect = connect_as(ProtocolVersion::V5, Some("alice"));
    connect.will = Some(will("bob/gone", None));
    let (_, actions) = accept_metered(connect, None, &config(), &meters, 0);
    assert_eq!(connack(&actions).reason_code, ReasonCode::Success);
    assert!(
        actions.contains(&Action::PublishRefused(PublishRefusal::NotAuthorized {
            topic_name: "bob/gone".into()
        }))
    );
    assert_eq!(meters.acl_denials.publish.get(), 1);
}

#[test]
fn a_session_may_be_taken_over_by_its_own_user_only() {
    let (alice, _) = accept(connect_as(ProtocolVersion::V5, Some("alice")), None, 0);
    assert_eq!(alice.username(), Some("alice"));
    assert!(alice.may_be_taken_over_by(Some("alice")));
    assert!(!alice.may_be_taken_over_by(Some("bob")));
    assert!(!alice.may_be_taken_over_by(None));
    let (anonymous, _) = accept(connect_as(ProtocolVersion::V5, None), None, 0);
    assert!(anonymous.may_be_taken_over_by(None));
    assert!(!anonymous.may_be_taken_over_by(Some("alice")));
}

#[test]
fn without_an_acl_everything_is_allowed() {
    let (mut session, _) = accept(connect_as(ProtocolVersion::V5, Some("alice")), None, 0);
    let actions = feed(&mut session, subscribe(&["#", "bob/x"]), 0);
    assert_eq!(
        suback_codes(&actions),
        [ReasonCode::Success, ReasonCode::Success]
    );
}
