//! SUBSCRIBE and UNSUBSCRIBE: codes, options, identifiers, retain handling.

use bytestring::ByteString;

use super::support::*;
use crate::protocol::*;
use crate::session::{Action, Session, SessionConfig};

fn subscribe(
    filters: &[(&str, SubscriptionOptions)],
    subscription_identifier: Option<u32>,
) -> Packet {
    Packet::Subscribe(Subscribe {
        packet_id: 10,
        properties: SubscribeProperties {
            subscription_identifier,
            ..SubscribeProperties::default()
        },
        filters: filters
            .iter()
            .map(|(topic_filter, options)| (ByteString::from(*topic_filter), *options))
            .collect(),
    })
}

fn options(qos: QoS) -> SubscriptionOptions {
    SubscriptionOptions {
        qos,
        ..SubscriptionOptions::default()
    }
}

fn suback_codes(actions: &[Action]) -> Vec<ReasonCode> {
    sent(actions)
        .into_iter()
        .find_map(|packet| match packet {
            Packet::SubAck(suback) => Some(suback.reason_codes.clone()),
            _ => None,
        })
        .expect("a SUBACK")
}

fn subscribe_actions(actions: &[Action]) -> Vec<&Action> {
    actions
        .iter()
        .filter(|action| matches!(action, Action::Subscribe { .. }))
        .collect()
}

fn v5_session() -> Session {
    accept(v5_persistent_connect("c", 600), None, 0).0
}

#[test]
fn granted_qos_is_the_lower_of_requested_and_maximum_qos() {
    let config = SessionConfig {
        maximum_qos: QoS::AtLeastOnce,
        ..SessionConfig::default()
    };
    let (mut session, _) = accept_with(v5_connect("c"), None, &config, 0);
    let packet = subscribe(
        &[
            ("a", options(QoS::ExactlyOnce)),
            ("b", options(QoS::AtMostOnce)),
        ],
        None,
    );
    let actions = feed(&mut session, packet, 1);
    assert_eq!(
        suback_codes(&actions),
        vec![ReasonCode::GrantedQos1, ReasonCode::Success]
    );
    let Action::Subscribe { options, .. } = subscribe_actions(&actions)[0] else {
        unreachable!();
    };
    assert_eq!(options.qos, QoS::AtLeastOnce);
}

#[test]
fn suback_comes_before_the_subscribe_actions() {
    let mut session = v5_session();
    let actions = feed(
        &mut session,
        subscribe(&[("a", options(QoS::AtMostOnce))], None),
        1,
    );
    assert!(matches!(actions[0], Action::Acknowledge(Packet::SubAck(_))));
    assert!(matches!(actions[1], Action::Subscribe { .. }));
}

#[test]
fn invalid_filter_gets_0x8f_under_v5_and_0x80_under_v3_1_1() {
    let packet = || {
        subscribe(
            &[
                ("a/#/b", options(QoS::AtMostOnce)),
                ("ok", options(QoS::AtMostOnce)),
            ],
            None,
        )
    };
    let mut session = v5_session();
    let actions = feed(&mut session, packet(), 1);
    assert_eq!(
        suback_codes(&actions),
        vec![ReasonCode::TopicFilterInvalid, ReasonCode::Success]
    );
    assert_eq!(subscribe_actions(&actions).len(), 1);
    let (mut session, _) = accept(connect_of(ProtocolVersion::V3_1_1, "c", true), None, 0);
    let actions = feed(&mut session, packet(), 1);
    assert_eq!(
        suback_codes(&actions),
        vec![ReasonCode::UnspecifiedError, ReasonCode::Success]
    );
}

#[test]
fn subscription_identifier_is_kept_per_subscription() {
    let mut session = v5_session();
    feed(
        &mut session,
        subscribe(&[("a", options(QoS::AtMostOnce))], Some(7)),
        1,
    );
    let actions = feed(
        &mut session,
        subscribe(&[("b", options(QoS::AtMostOnce))], None),
        2,
    );
    let Action::Subscribe {
        subscription_identifier,
        ..
    } = subscribe_actions(&actions)[0]
    else {
        unreachable!();
    };
    assert_eq!(*subscription_identifier, None);
    let mut stored: Vec<(String, Option<u32>)> = session
        .subscriptions()
        .map(|(topic_filter, _, identifier)| (topic_filter.to_string(), identifier))
        .collect();
    stored.sort();
    assert_eq!(
        stored,
        vec![("a".to_string(), Some(7)), ("b".to_string(), None)]
    );
}

#[test]
fn retain_handling_1_sends_retained_only_for_a_new_subscription() {
    let mut session = v5_session();
    let on_new = SubscriptionOptions {
        retain_handling: RetainHandling::SendAtNewSubscribe,
        ..options(QoS::AtMostOnce)
    };
    let send_retained = |actions: &[Action]| match subscribe_actions(actions)[0] {
        Action::Subscribe { send_retained, .. } => *send_retained,
        _ => unreachable!(),
    };
    let actions = feed(&mut session, subscribe(&[("a", on_new)], None), 1);
    assert!(send_retained(&actions));
    let actions = feed(&mut session, subscribe(&[("a", on_new)], None), 2);
    assert!(!send_retained(&actions));
    let always = options(QoS::AtMostOnce);
    let actions = feed(&mut session, subscribe(&[("a", always)], None), 3);
    assert!(send_retained(&actions));
    let never = SubscriptionOptions {
        retain_handling: RetainHandling::DoNotSend,
        ..always
    };
    let actions = feed(&mut session, subscribe(&[("b", never)], None), 4);
    assert!(!send_retained(&actions));
}

#[test]
fn shared_subscription_never_sends_retained_messages() {
    let mut session = v5_session();
    let actions = feed(
        &mut session,
        subscribe(&[("$share/g/a", options(QoS::AtMostOnce))], None),
        1,
    );
    let Action::Subscribe { send_retained, .. } = subscribe_actions(&actions)[0] else {
        unreachable!();
    };
    assert!(!send_retained);
}

#[test]
fn no_local_on_a_shared_subscription_is_a_protocol_error() {
    let mut session = v5_session();
    let no_local = SubscriptionOptions {
        no_local: true,
        ..options(QoS::AtMostOnce)
    };
    let actions = feed(
        &mut session,
        subscribe(&[("$share/g/a", no_local)], None),
        1,
    );
    assert_eq!(disconnect_reason(&actions), Some(ReasonCode::ProtocolError));
    assert!(subscribe_actions(&actions).is_empty());
}

#[test]
fn subscriptions_beyond_the_limit_get_quota_exceeded() {
    let config = SessionConfig {
        max_subscriptions: 1,
        ..SessionConfig::default()
    };
    let (mut session, _) = accept_with(v5_connect("c"), None, &config, 0);
    let packet = subscribe(
        &[
            ("a", options(QoS::AtMostOnce)),
            ("b", options(QoS::AtMostOnce)),
            ("a", options(QoS::AtLeastOnce)),
        ],
        None,
    );
    let actions = feed(&mut session, packet, 1);
    assert_eq!(
        suback_codes(&actions),
        vec![
            ReasonCode::Success,
            ReasonCode::QuotaExceeded,
            ReasonCode::GrantedQos1
        ]
    );
}

#[test]
fn unsubscribe_answers_0x11_for_an_unknown_filter_under_v5() {
    let mut session = v5_session();
    feed(
        &mut session,
        subscribe(&[("a", options(QoS::AtMostOnce))], None),
        1,
    );
    let packet = Packet::Unsubscribe(Unsubscribe {
        packet_id: 11,
        properties: UnsubscribeProperties::default(),
        filters: vec![ByteString::from("a"), ByteString::from("zzz")],
    });
    let actions = feed(&mut session, packet, 2);
    assert_eq!(
        actions[0],
        Action::Unsubscribe {
            topic_filter: ByteString::from("a")
        }
    );
    let Packet::UnsubAck(unsuback) = sent(&actions)[0].clone() else {
        panic!("expected UNSUBACK");
    };
    assert_eq!(unsuback.packet_id, 11);
    assert_eq!(
        unsuback.reason_codes,
        vec![ReasonCode::Success, ReasonCode::NoSubscriptionExisted]
    );
    assert_eq!(session.subscriptions().count(), 0);
}

#[test]
fn subscriptions_survive_a_reconnect_of_a_persistent_session() {
    let mut session = v5_session();
    feed(
        &mut session,
        subscribe(&[("a", options(QoS::AtLeastOnce))], Some(2)),
        1,
    );
    session.connection_lost(2, &mut Vec::new());
    let (resumed, _) = accept(v5_persistent_connect("c", 600), Some(session), 3);
    let stored: Vec<_> = resumed.subscriptions().collect();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].1.qos, QoS::AtLeastOnce);
    assert_eq!(stored[0].2, Some(2));
}
