//! What a session reports for the journal ([`Action::Journal`]) and which of its
//! answers wait for durability ([`Action::Acknowledge`], [`Action::AnswerPublish`]).

use super::support::*;
use crate::protocol::*;
use crate::session::{Action, Change, Session, SessionConfig};

fn journaling() -> SessionConfig {
    SessionConfig {
        journal: true,
        ..SessionConfig::default()
    }
}

fn changes(actions: &[Action]) -> Vec<Change> {
    actions
        .iter()
        .filter_map(|action| match action {
            Action::Journal(change) => Some(change.clone()),
            _ => None,
        })
        .collect()
}

/// A persistent v5 session under a journal, subscribed to "t/#" at QoS 2.
fn journaled_subscriber() -> Session {
    let (mut session, actions) =
        accept_with(v5_persistent_connect("meter", 600), None, &journaling(), 0);
    assert_eq!(
        changes(&actions),
        vec![Change::Connected {
            session_present: false
        }]
    );
    feed(&mut session, subscribe_packet("t/#", QoS::ExactlyOnce), 0);
    session
}

fn subscribe_packet(topic_filter: &str, qos: QoS) -> Packet {
    Packet::Subscribe(Subscribe {
        packet_id: 1,
        properties: SubscribeProperties::default(),
        filters: vec![(
            topic_filter.into(),
            SubscriptionOptions {
                qos,
                ..SubscriptionOptions::default()
            },
        )],
    })
}

#[test]
fn a_session_without_state_to_keep_reports_nothing_even_under_a_journal() {
    let config = journaling();
    let (mut session, mut actions) = accept_with(v5_connect("clean"), None, &config, 0);
    actions.extend(feed(
        &mut session,
        subscribe_packet("t/#", QoS::AtLeastOnce),
        0,
    ));
    actions.extend(deliver(
        &mut session,
        &message("t/1", QoS::AtLeastOnce, "p"),
        QoS::AtLeastOnce,
        0,
    ));
    assert!(!session.is_journaled());
    assert_eq!(changes(&actions), Vec::new());
}

#[test]
fn a_persistent_session_reports_nothing_without_a_journal() {
    let (mut session, mut actions) = accept(v5_persistent_connect("meter", 600), None, 0);
    actions.extend(feed(
        &mut session,
        subscribe_packet("t/#", QoS::AtLeastOnce),
        0,
    ));
    assert!(!session.is_journaled());
    assert_eq!(changes(&actions), Vec::new());
}

#[test]
fn a_clean_session_replacing_a_journaled_one_is_journaled_so_the_old_one_ends_on_disk() {
    let config = journaling();
    let old = journaled_subscriber();
    let mut taken_over = old;
    taken_over.taken_over(10, &mut Vec::new());
    let (session, actions) = accept_with(v5_connect("meter"), Some(taken_over), &config, 10);
    assert!(session.is_journaled());
    assert_eq!(
        changes(&actions).first(),
        Some(&Change::Connected {
            session_present: false
        })
    );
}

#[test]
fn a_mqtt_3_1_resume_is_journaled_as_resumed_though_its_connack_cannot_say_so() {
    let config = journaling();
    let mut connect = connect_of(ProtocolVersion::V3_1, "meter", false);
    connect.client_id = "meter".into();
    let (mut first, _) = accept_with(connect.clone(), None, &config, 0);
    first.connection_lost(5, &mut Vec::new());
    let (_, actions) = accept_with(connect, Some(first), &config, 10);
    assert!(
        !connack(&actions).session_present,
        "3.1 has no Session Present flag"
    );
    assert_eq!(
        changes(&actions).first(),
        Some(&Change::Connected {
            session_present: true
        })
    );
}

#[test]
fn a_qos1_delivery_is_reported_before_its_publish_and_its_puback_completes_it() {
    let mut session = journaled_subscriber();
    let actions = deliver(
        &mut session,
        &message("t/1", QoS::AtLeastOnce, "p"),
        QoS::AtLeastOnce,
        1,
    );
    let delivered = actions
        .iter()
        .position(|action| matches!(action, Action::Journal(Change::Delivered(_))))
        .expect("the new flow is reported");
    let publish = actions
        .iter()
        .position(|action| matches!(action, Action::Deliver(_)))
        .expect("the PUBLISH goes out");
    assert!(
        delivered < publish,
        "the record comes before the PUBLISH: {actions:?}"
    );
    let [Change::Delivered(packet_id)] = changes(&actions)[..] else {
        panic!("one change: {actions:?}");
    };
    let acked = feed(
        &mut session,
        Packet::PubAck(PublishResponse::success(packet_id)),
        2,
    );
    assert_eq!(changes(&acked), vec![Change::Acknowledged(packet_id)]);
    let unknown = feed(
        &mut session,
        Packet::PubAck(PublishResponse::success(packet_id)),
        3,
    );
    assert_eq!(
        changes(&unknown),
        Vec::new(),
        "a flow already complete changes nothing"
    );
}

#[test]
fn a_qos2_publish_from_a_journaled_client_opens_its_flow_in_the_routed_message() {
    let mut session = journaled_subscriber();
    let actions = feed(
        &mut session,
        Packet::Publish(publish("t/in", QoS::ExactlyOnce, Some(7))),
        1,
    );
    assert!(
        matches!(
            actions.as_slice(),
            [
                Action::Publish {
                    inbound_qos2: Some(7),
                    ..
                },
                Action::AnswerPublish(Packet::PubRec(_))
            ]
        ),
        "{actions:?}"
    );
    let released = feed(&mut session, Packet::PubRel(PublishResponse::success(7)), 2);
    assert!(
        matches!(
            released.as_slice(),
            [
                Action::Journal(Change::PubRelReceived(7)),
                Action::Acknowledge(Packet::PubComp(_))
            ]
        ),
        "{released:?}"
    );
}

#[test]
fn without_a_journal_a_qos2_publish_names_no_flow() {
    let (mut session, _) = accept(v5_persistent_connect("meter", 600), None, 0);
    let actions = feed(
        &mut session,
        Packet::Publish(publish("t/in", QoS::ExactlyOnce, Some(7))),
        1,
    );
    assert!(
        matches!(
            actions.first(),
            Some(Action::Publish {
                inbound_qos2: None,
                ..
            })
        ),
        "{actions:?}"
    );
}

#[test]
fn answers_to_requests_wait_for_durability_and_other_packets_do_not() {
    let (mut session, _) = accept(connect_of(ProtocolVersion::V3_1_1, "c", true), None, 0);
    let suback = feed(&mut session, subscribe_packet("t/#", QoS::AtLeastOnce), 1);
    assert!(
        matches!(suback[0], Action::Acknowledge(Packet::SubAck(_))),
        "{suback:?}"
    );
    let puback = feed(
        &mut session,
        Packet::Publish(publish("t/x", QoS::AtLeastOnce, Some(3))),
        2,
    );
    assert!(
        matches!(puback.last(), Some(Action::Acknowledge(Packet::PubAck(_)))),
        "a 3.1.1 PUBACK has no reason code for the router to set: {puback:?}"
    );
    let pong = feed(&mut session, Packet::PingReq, 3);
    assert_eq!(pong, vec![Action::Send(Packet::PingResp)]);
}

#[test]
fn a_journaled_session_reports_its_disconnection_after_its_will_and_timers() {
    let mut session = journaled_subscriber();
    let mut actions = Vec::new();
    session.connection_lost(5, &mut actions);
    assert!(
        matches!(actions.last(), Some(Action::Journal(Change::Disconnected))),
        "{actions:?}"
    );
}
