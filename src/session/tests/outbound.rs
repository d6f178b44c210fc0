//! Messages to the client: packet ids, the inflight window, the queue, the
//! acknowledgement flows and the resend on resume.

use std::sync::Arc;

use super::support::*;
use crate::protocol::*;
use crate::session::{Session, SessionConfig, SessionMeters};

fn client_with_receive_maximum(receive_maximum: u16) -> Session {
    let mut connect = v5_persistent_connect("c", 600);
    connect.properties.receive_maximum = Some(receive_maximum);
    accept(connect, None, 0).0
}

#[test]
fn inflight_window_is_bounded_by_the_client_receive_maximum() {
    let mut session = client_with_receive_maximum(2);
    let message = message("t", QoS::AtLeastOnce, "p");
    let mut packet_ids = Vec::new();
    for now_ms in 1..=3 {
        let actions = deliver(&mut session, &message, QoS::AtLeastOnce, now_ms);
        packet_ids.extend(
            sent_publishes(&actions)
                .iter()
                .map(|publish| publish.packet_id),
        );
    }
    assert_eq!(packet_ids, vec![Some(1), Some(2)]);
    assert_eq!(session.inflight_len(), 2);
    assert_eq!(session.queued_len(), 1);
    let actions = feed(&mut session, Packet::PubAck(PublishResponse::success(1)), 4);
    let released = sent_publishes(&actions);
    assert_eq!(released.len(), 1);
    assert_eq!(released[0].packet_id, Some(3));
    assert_eq!(session.queued_len(), 0);
}

#[test]
fn inflight_window_is_bounded_by_our_own_limit() {
    let config = SessionConfig {
        outbound_inflight_maximum: 1,
        ..SessionConfig::default()
    };
    let (mut session, _) = accept_with(v5_connect("c"), None, &config, 0);
    let message = message("t", QoS::AtLeastOnce, "p");
    deliver(&mut session, &message, QoS::AtLeastOnce, 1);
    let actions = deliver(&mut session, &message, QoS::AtLeastOnce, 2);
    assert!(sent_publishes(&actions).is_empty());
    assert_eq!(session.queued_len(), 1);
}

#[test]
fn past_the_shard_budget_a_session_keeps_its_guaranteed_window_and_waits_for_its_acks() {
    use crate::limits::OUTBOUND_INFLIGHT_GUARANTEED as GUARANTEED;
    let config = SessionConfig {
        outbound_inflight_shard_budget: GUARANTEED + 10,
        ..SessionConfig::default()
    };
    let meters = Arc::new(SessionMeters::default());
    let (mut busy, _) = accept_metered(v5_connect("busy"), None, &config, &meters, 0);
    let (mut quiet, _) = accept_metered(v5_connect("quiet"), None, &config, &meters, 0);
    let message = message("t", QoS::AtLeastOnce, "p");
    // The busy session takes the whole budget: its guaranteed window and
    // the ten the budget has beyond it.
    for now_ms in 0..100 {
        deliver(&mut busy, &message, QoS::AtLeastOnce, now_ms);
    }
    assert_eq!(busy.inflight_len(), GUARANTEED + 10);
    assert_eq!(busy.queued_len(), 100 - GUARANTEED - 10);
    // The quiet one still has its guaranteed window, and no more.
    for now_ms in 0..GUARANTEED as u64 + 5 {
        deliver(&mut quiet, &message, QoS::AtLeastOnce, now_ms);
    }
    assert_eq!(quiet.inflight_len(), GUARANTEED);
    assert_eq!(quiet.queued_len(), 5);
    // An acknowledgement of the busy session brings none of its queue while
    // the shard is over budget; one of the quiet session's brings the next
    // of its own.
    let actions = feed(&mut busy, Packet::PubAck(PublishResponse::success(1)), 200);
    assert!(sent_publishes(&actions).is_empty());
    assert_eq!(busy.inflight_len(), GUARANTEED + 9);
    let actions = feed(&mut quiet, Packet::PubAck(PublishResponse::success(1)), 200);
    assert_eq!(sent_publishes(&actions).len(), 1);
    // Over budget, the busy session's acknowledgements refill its
    // guaranteed window only.
    for packet_id in 2..=12 {
        feed(
            &mut busy,
            Packet::PubAck(PublishResponse::success(packet_id)),
            201,
        );
    }
    assert_eq!(busy.inflight_len(), GUARANTEED);
    // A session that ends gives its flows back to the shard: the busy one's
    // next acknowledgement refills it up to the budget.
    drop(quiet);
    let actions = feed(&mut busy, Packet::PubAck(PublishResponse::success(13)), 300);
    assert_eq!(sent_publishes(&actions).len(), 11);
    assert_eq!(busy.inflight_len(), GUARANTEED + 10);
}

#[test]
fn flows_of_a_client_that_went_away_leave_the_shard_budget_until_it_returns() {
    use crate::limits::OUTBOUND_INFLIGHT_GUARANTEED as GUARANTEED;
    let config = SessionConfig {
        outbound_inflight_shard_budget: GUARANTEED + 10,
        ..SessionConfig::default()
    };
    let meters = Arc::new(SessionMeters::default());
    let message = message("t", QoS::AtLeastOnce, "p");
    let (mut away, _) = accept_metered(
        v5_persistent_connect("away", 600),
        None,
        &config,
        &meters,
        0,
    );
    for now_ms in 0..GUARANTEED as u64 + 10 {
        deliver(&mut away, &message, QoS::AtLeastOnce, now_ms);
    }
    assert_eq!(away.inflight_len(), GUARANTEED + 10);
    away.connection_lost(100, &mut Vec::new());
    // The stored session keeps its flows, but a connected client has the
    // budget to itself.
    let (mut present, _) = accept_metered(v5_connect("present"), None, &config, &meters, 100);
    for now_ms in 100..100 + GUARANTEED as u64 + 5 {
        deliver(&mut present, &message, QoS::AtLeastOnce, now_ms);
    }
    assert_eq!(present.inflight_len(), GUARANTEED + 5);
    assert_eq!(present.queued_len(), 0);
    // Back again, the resent flows count once more: the shard is over
    // budget and the other client keeps to what it has.
    let (away, actions) = accept_metered(
        v5_persistent_connect("away", 600),
        Some(away),
        &config,
        &meters,
        200,
    );
    assert_eq!(sent_publishes(&actions).len(), GUARANTEED + 10);
    assert_eq!(away.inflight_len(), GUARANTEED + 10);
    deliver(&mut present, &message, QoS::AtLeastOnce, 201);
    assert_eq!(present.inflight_len(), GUARANTEED + 5);
    assert_eq!(present.queued_len(), 1);
}

#[test]
fn the_shard_gauge_follows_takeover_restore_and_clean_start() {
    let config = SessionConfig::default();
    let meters = Arc::new(SessionMeters::default());
    let gauge = || meters.inflight_gauge.get();
    let message = message("t", QoS::AtLeastOnce, "p");
    let fill = |session: &mut Session, count: usize| {
        for now_ms in 0..count as u64 {
            deliver(session, &message, QoS::AtLeastOnce, now_ms);
        }
    };
    let (mut first, _) = accept_metered(v5_persistent_connect("c", 600), None, &config, &meters, 0);
    fill(&mut first, 3);
    assert_eq!(gauge(), 3);
    // Taken over and resumed: counted once, not twice, and not dropped.
    first.taken_over(10, &mut Vec::new());
    assert_eq!(gauge(), 0);
    let (mut second, _) = accept_metered(
        v5_persistent_connect("c", 600),
        Some(first),
        &config,
        &meters,
        10,
    );
    assert_eq!(gauge(), 3);
    // A snapshot taken while connected restores offline, off the gauge,
    // and counts again once its client resumes.
    fill(&mut second, 2);
    let snapshot = second.to_snapshot(20, 1_000_000);
    drop(second);
    assert_eq!(gauge(), 0);
    let restored = Session::from_snapshot(
        snapshot,
        &Arc::new(config.clone()),
        &meters,
        30,
        1_000_010,
        &mut Vec::new(),
    )
    .unwrap();
    assert_eq!(gauge(), 0);
    let (resumed, _) = accept_metered(
        v5_persistent_connect("c", 600),
        Some(restored),
        &config,
        &meters,
        40,
    );
    assert_eq!(resumed.inflight_len(), 5);
    assert_eq!(gauge(), 5);
    // Clean Start replaces it: its flows leave the gauge with it.
    let mut resumed = resumed;
    resumed.taken_over(50, &mut Vec::new());
    let (fresh, _) = accept_metered(v5_connect("c"), Some(resumed), &config, &meters, 50);
    assert_eq!(fresh.inflight_len(), 0);
    assert_eq!(gauge(), 0);
}

#[test]
fn qos0_is_sent_even_when_the_window_is_full() {
    let mut session = client_with_receive_maximum(1);
    deliver(
        &mut session,
        &message("t", QoS::AtLeastOnce, "p"),
        QoS::AtLeastOnce,
        1,
    );
    let actions = deliver(
        &mut session,
        &message("t", QoS::AtMostOnce, "p"),
        QoS::AtLeastOnce,
        2,
    );
    assert_eq!(sent_publishes(&actions).len(), 1);
}

#[test]
fn packet_id_allocation_skips_ids_in_use() {
    let mut session = client_with_receive_maximum(u16::MAX);
    let message = message("t", QoS::AtLeastOnce, "p");
    deliver(&mut session, &message, QoS::AtLeastOnce, 1);
    for packet_id in 2..=u16::MAX {
        deliver(&mut session, &message, QoS::AtLeastOnce, 1);
        feed(
            &mut session,
            Packet::PubAck(PublishResponse::success(packet_id)),
            1,
        );
    }
    // Id 1 is still in flight; the counter wraps past 0 and 1.
    let actions = deliver(&mut session, &message, QoS::AtLeastOnce, 2);
    assert_eq!(sent_publishes(&actions)[0].packet_id, Some(2));
}

#[test]
fn qos2_outbound_flow_goes_pubrec_pubrel_pubcomp() {
    let (mut session, _) = accept(v5_connect("c"), None, 0);
    let actions = deliver(
        &mut session,
        &message("t", QoS::ExactlyOnce, "p"),
        QoS::ExactlyOnce,
        1,
    );
    let packet_id = sent_publishes(&actions)[0].packet_id.unwrap();
    let actions = feed(
        &mut session,
        Packet::PubRec(PublishResponse::success(packet_id)),
        2,
    );
    assert_eq!(
        sent(&actions),
        vec![Packet::PubRel(PublishResponse::success(packet_id))]
    );
    assert_eq!(session.inflight_len(), 1);
    feed(
        &mut session,
        Packet::PubComp(PublishResponse::success(packet_id)),
        3,
    );
    assert_eq!(session.inflight_len(), 0);
}

#[test]
fn pubrec_with_a_failure_code_ends_the_flow_without_pubrel() {
    let (mut session, _) = accept(v5_connect("c"), None, 0);
    deliver(
        &mut session,
        &message("t", QoS::ExactlyOnce, "p"),
        QoS::ExactlyOnce,
        1,
    );
    let mut pubrec = PublishResponse::success(1);
    pubrec.reason_code = ReasonCode::QuotaExceeded;
    let actions = feed(&mut session, Packet::PubRec(pubrec), 2);
    assert!(sent(&actions).is_empty());
    assert_eq!(session.inflight_len(), 0);
}

#[test]
fn pubrec_for_an_unknown_packet_id_gets_pubrel_0x92_under_v5() {
    let (mut session, _) = accept(v5_connect("c"), None, 0);
    let actions = feed(&mut session, Packet::PubRec(PublishResponse::success(5)), 1);
    let Packet::PubRel(pubrel) = sent(&actions)[0].clone() else {
        panic!("expected PUBREL");
    };
    assert_eq!(pubrel.reason_code, ReasonCode::PacketIdentifierNotFound);
}

#[test]
fn resume_resends_unacknowledged_publish_with_dup_and_pubrel_in_order() {
    let (mut session, _) = accept(v5_persistent_connect("c", 600), None, 0);
    deliver(
        &mut session,
        &message("one", QoS::ExactlyOnce, "p"),
        QoS::ExactlyOnce,
        1,
    );
    deliver(
        &mut session,
        &message("two", QoS::AtLeastOnce, "p"),
        QoS::AtLeastOnce,
        1,
    );
    deliver(
        &mut session,
        &message("three", QoS::AtLeastOnce, "p"),
        QoS::AtLeastOnce,
        1,
    );
    feed(&mut session, Packet::PubRec(PublishResponse::success(1)), 2);
    feed(&mut session, Packet::PubAck(PublishResponse::success(3)), 2);
    session.connection_lost(3, &mut Vec::new());
    let (_, actions) = accept(v5_persistent_connect("c", 600), Some(session), 4);
    let resent = sent(&actions);
    assert!(matches!(resent[0], Packet::ConnAck(_)));
    assert_eq!(resent[1], Packet::PubRel(PublishResponse::success(1)));
    let Packet::Publish(publish) = &resent[2] else {
        panic!("expected the PUBLISH resent");
    };
    assert!(publish.dup);
    assert_eq!(publish.packet_id, Some(2));
    assert_eq!(publish.topic_name, "two");
    assert_eq!(resent.len(), 3);
}

#[test]
fn v3_1_1_resume_resends_unacknowledged_publish_with_dup() {
    let connect = || connect_of(ProtocolVersion::V3_1_1, "c", false);
    let (mut session, _) = accept(connect(), None, 0);
    deliver(
        &mut session,
        &message("t", QoS::AtLeastOnce, "p"),
        QoS::AtLeastOnce,
        1,
    );
    session.connection_lost(2, &mut Vec::new());
    let (_, actions) = accept(connect(), Some(session), 3);
    let publishes = sent_publishes(&actions);
    assert_eq!(publishes.len(), 1);
    assert!(publishes[0].dup);
}

#[test]
fn disconnected_persistent_session_queues_messages_and_sends_them_on_resume() {
    let config = SessionConfig {
        queue_qos0: true,
        ..SessionConfig::default()
    };
    let (mut session, _) = accept_with(v5_persistent_connect("c", 600), None, &config, 0);
    session.connection_lost(1, &mut Vec::new());
    let actions = deliver(
        &mut session,
        &message("a", QoS::AtLeastOnce, "p"),
        QoS::AtLeastOnce,
        2,
    );
    assert!(actions.is_empty());
    deliver(
        &mut session,
        &message("b", QoS::AtMostOnce, "p"),
        QoS::AtLeastOnce,
        2,
    );
    assert_eq!(session.queued_len(), 2);
    let (session, actions) =
        accept_with(v5_persistent_connect("c", 600), Some(session), &config, 3);
    let publishes = sent_publishes(&actions);
    assert_eq!(publishes.len(), 2);
    assert_eq!(publishes[0].topic_name, "a");
    assert!(!publishes[0].dup);
    assert_eq!(publishes[1].topic_name, "b");
    assert_eq!(session.queued_len(), 0);
}

#[test]
fn full_queue_drops_new_messages_and_counts_them() {
    let config = SessionConfig {
        max_queued_messages: 2,
        queue_qos0: true,
        ..SessionConfig::default()
    };
    let (mut session, _) = accept_with(v5_persistent_connect("c", 600), None, &config, 0);
    session.connection_lost(1, &mut Vec::new());
    for topic_name in ["a", "b", "c"] {
        deliver(
            &mut session,
            &message(topic_name, QoS::AtLeastOnce, "p"),
            QoS::AtLeastOnce,
            2,
        );
    }
    deliver(
        &mut session,
        &message("d", QoS::AtMostOnce, "p"),
        QoS::AtMostOnce,
        2,
    );
    assert_eq!(session.queued_len(), 2);
    assert_eq!(session.stats().dropped_queue_full, 1);
    assert_eq!(session.stats().dropped_qos0, 1);
    let (_, actions) = accept_with(v5_persistent_connect("c", 600), Some(session), &config, 3);
    let publishes = sent_publishes(&actions);
    let topics: Vec<&str> = publishes.iter().map(|p| &*p.topic_name).collect();
    assert_eq!(topics, vec!["a", "b"]);
}
