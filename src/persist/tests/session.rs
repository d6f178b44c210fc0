//! A session written to a snapshot and restored is the session it was, with its
//! deadlines moved to the new process's clock and the right timers to arm.

use std::sync::Arc;

use proptest::prelude::*;

use super::live::*;
use super::strategies::{disconnected_session, WALL_CLOCK_MS};
use crate::persist::schema::{FlightRecord, FlightStageRecord, WillDueRecord};
use crate::persist::*;
use crate::protocol::{Packet, PublishResponse, QoS};
use crate::session::{Action, Queued, Session, SessionConfig, TimerKind};

/// The monotonic clock of the process that restores, far from the one that saved.
const RESTORE_NOW_MS: u64 = 50_000_000;

fn restore(snapshot: SessionSnapshot, now_ms: u64, wall_clock_ms: u64) -> (Session, Vec<Action>) {
    let mut actions = Vec::new();
    let session = Session::from_snapshot(
        snapshot,
        &Arc::new(SessionConfig::default()),
        &Arc::default(),
        now_ms,
        wall_clock_ms,
        &mut actions,
    )
    .expect("a valid snapshot");
    (session, actions)
}

use crate::persist::schema::SessionSnapshot;

proptest! {
    #[test]
    fn a_stored_queue_is_accounted_the_bytes_of_the_queue_it_restores_to(
        snapshot in disconnected_session(),
    ) {
        let stored_bytes: usize = snapshot.queue.iter().map(Queued::queued_bytes).sum();
        let (session, _) = restore(snapshot, RESTORE_NOW_MS, WALL_CLOCK_MS);
        prop_assert_eq!(session.queued_bytes(), stored_bytes);
    }

    #[test]
    fn a_restored_session_snapshots_to_what_it_was_restored_from(
        snapshot in disconnected_session(),
        elapsed_ms in 0..1_000_000u64,
    ) {
        let wall_clock_ms = WALL_CLOCK_MS + elapsed_ms;
        let (session, _) = restore(snapshot.clone(), RESTORE_NOW_MS, wall_clock_ms);
        prop_assert!(!session.is_connected());
        prop_assert_eq!(session.to_snapshot(RESTORE_NOW_MS + 7, wall_clock_ms + 7), snapshot);
    }

    #[test]
    fn a_restored_session_arms_its_will_and_expiry_at_their_wall_clock_times(
        snapshot in disconnected_session(),
    ) {
        let (_, actions) = restore(snapshot.clone(), RESTORE_NOW_MS, WALL_CLOCK_MS);
        let on_restore_clock = |at_wall_ms: u64| RESTORE_NOW_MS + at_wall_ms - WALL_CLOCK_MS;
        let expected_will = match snapshot.will_due {
            Some(WillDueRecord::At(at_wall_ms)) => Some(on_restore_clock(at_wall_ms)),
            Some(WillDueRecord::WithSessionEnd) | None => None,
        };
        prop_assert_eq!(armed_at_ms(&actions, TimerKind::WillDelay), expected_will);
        prop_assert_eq!(
            armed_at_ms(&actions, TimerKind::SessionExpiry),
            snapshot.expires_at_wall_ms.map(on_restore_clock)
        );
        prop_assert_eq!(actions.len(), usize::from(expected_will.is_some())
            + usize::from(snapshot.expires_at_wall_ms.is_some()));
    }

    #[test]
    fn a_session_survives_the_snapshot_file(snapshot in disconnected_session()) {
        let contents = SnapshotContents::Sessions(vec![snapshot.clone()]);
        let file = encode_snapshot(&contents).expect("a small snapshot");
        let Ok(SnapshotContents::Sessions(mut sessions)) = decode_snapshot(&file) else {
            panic!("the snapshot reads back");
        };
        let (session, _) = restore(sessions.remove(0), RESTORE_NOW_MS, WALL_CLOCK_MS);
        prop_assert_eq!(session.to_snapshot(RESTORE_NOW_MS, WALL_CLOCK_MS), snapshot);
    }
}

#[test]
fn an_offline_session_keeps_its_queue_flows_and_deadlines_across_a_restart() {
    let saved_now_ms = 1_000;
    let (mut session, _) = connect(persistent_connect("meter", 3_600, 30), None, saved_now_ms);
    feed(
        &mut session,
        subscribe("meters/#", QoS::ExactlyOnce),
        saved_now_ms,
    );
    let first = message("meters/1", b"1", QoS::ExactlyOnce, "hub");
    let sent = deliver(&mut session, &first, QoS::ExactlyOnce, saved_now_ms);
    let [first_packet_id] = sent_packet_ids(&sent)[..] else {
        panic!("one PUBLISH sent: {sent:?}");
    };
    feed(
        &mut session,
        Packet::PubRec(PublishResponse::success(first_packet_id)),
        saved_now_ms,
    );
    let mut lost = Vec::new();
    session.connection_lost(saved_now_ms, &mut lost);
    let second = message("meters/2", b"2", QoS::AtLeastOnce, "hub");
    deliver(&mut session, &second, QoS::AtLeastOnce, saved_now_ms + 10);

    let snapshot = session.to_snapshot(saved_now_ms + 20, WALL_CLOCK_MS);
    assert_eq!(
        snapshot.inflight,
        vec![FlightRecord {
            packet_id: first_packet_id,
            stage: FlightStageRecord::AwaitingPubComp,
        }]
    );
    assert_eq!(snapshot.queue.len(), 1);
    assert_eq!(
        snapshot.expires_at_wall_ms,
        Some(WALL_CLOCK_MS - 20 + 3_600_000)
    );
    assert_eq!(
        snapshot.will_due,
        Some(WillDueRecord::At(WALL_CLOCK_MS - 20 + 30_000))
    );

    let (restored, timers) = restore(snapshot, RESTORE_NOW_MS, WALL_CLOCK_MS + 5_000);
    assert_eq!(
        armed_at_ms(&timers, TimerKind::WillDelay),
        Some(RESTORE_NOW_MS - 5_000 - 20 + 30_000)
    );
    assert_eq!(
        armed_at_ms(&timers, TimerKind::SessionExpiry),
        Some(RESTORE_NOW_MS - 5_000 - 20 + 3_600_000)
    );
    let subscriptions: Vec<_> = restored.subscriptions().collect();
    assert_eq!(subscriptions.len(), 1);
    assert_eq!(subscriptions[0].0, "meters/#");

    let (_, resumed) = connect(
        persistent_connect("meter", 3_600, 30),
        Some(restored),
        RESTORE_NOW_MS + 1,
    );
    let pubrel_resent = resumed.iter().any(|action| {
        matches!(action, Action::Send(Packet::PubRel(pubrel)) if pubrel.packet_id == first_packet_id)
    });
    assert!(
        pubrel_resent,
        "the QoS 2 flow resumes with PUBREL: {resumed:?}"
    );
    let payloads: Vec<_> = resumed
        .iter()
        .filter_map(|action| match action {
            Action::Deliver(delivery) => Some(delivery.message.payload.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(payloads, vec![bytes::Bytes::from_static(b"2")]);
}

#[test]
fn a_session_connected_at_the_snapshot_restores_as_a_lost_connection() {
    let (session, _) = connect(persistent_connect("meter", 600, 30), None, 1_000);
    let snapshot = session.to_snapshot(2_000, WALL_CLOCK_MS);
    assert!(snapshot.connected);

    let (restored, actions) = restore(snapshot, RESTORE_NOW_MS, WALL_CLOCK_MS + 60_000);
    assert!(!restored.is_connected());
    assert_eq!(
        armed_at_ms(&actions, TimerKind::WillDelay),
        Some(RESTORE_NOW_MS + 30_000)
    );
    assert_eq!(
        armed_at_ms(&actions, TimerKind::SessionExpiry),
        Some(RESTORE_NOW_MS + 600_000)
    );
}

#[test]
fn a_connected_session_without_expiry_ends_at_restore_with_its_will() {
    let (session, _) = connect(persistent_connect("meter", 0, 0), None, 1_000);
    let (_, actions) = restore(session.to_snapshot(1_000, WALL_CLOCK_MS), 5, WALL_CLOCK_MS);
    assert!(actions
        .iter()
        .any(|action| matches!(action, Action::Publish { message: will, .. } if will.topic_name == "wills/meter")));
    assert_eq!(actions.last(), Some(&Action::EndSession));
}

#[test]
fn a_snapshot_with_two_flows_under_one_packet_id_is_refused() {
    let (session, _) = connect(persistent_connect("meter", 600, 30), None, 1_000);
    let mut snapshot = session.to_snapshot(1_000, WALL_CLOCK_MS);
    let flight = FlightRecord {
        packet_id: 4,
        stage: FlightStageRecord::AwaitingPubComp,
    };
    snapshot.inflight = vec![flight.clone(), flight];
    let mut actions = Vec::new();
    let result = Session::from_snapshot(
        snapshot,
        &Arc::new(SessionConfig::default()),
        &Arc::default(),
        0,
        WALL_CLOCK_MS,
        &mut actions,
    );
    let error = result.expect_err("duplicate packet ids are refused");
    assert_eq!(error.problem, "two outbound flows share a packet id");
    assert!(actions.is_empty());
}

#[test]
fn a_retained_message_keeps_its_content_and_expiry_across_clocks() {
    let mut message = (*message("meters/1", b"21.5", QoS::AtLeastOnce, "hub")).clone();
    message.retain = true;
    message.expires_at_ms = Some(1_000 + 90_000);
    let record = message.to_record(1_000, WALL_CLOCK_MS);
    assert_eq!(record.expires_at_wall_ms, Some(WALL_CLOCK_MS + 90_000));
    let restored =
        crate::session::Message::from_record(record, RESTORE_NOW_MS, WALL_CLOCK_MS + 10_000);
    assert_eq!(restored.expires_at_ms, Some(RESTORE_NOW_MS + 80_000));
    assert_eq!(
        crate::session::Message {
            expires_at_ms: message.expires_at_ms,
            ..restored
        },
        message
    );
}

proptest! {
    #[test]
    fn restoring_and_resuming_any_decodable_session_never_panics(
        snapshot in disconnected_session(),
        connected in any::<bool>(),
        packet_ids in proptest::collection::vec(0..4u16, 0..4),
    ) {
        let mut snapshot = snapshot;
        snapshot.connected = connected;
        snapshot.inflight = packet_ids
            .into_iter()
            .map(|packet_id| FlightRecord {
                packet_id,
                stage: FlightStageRecord::AwaitingPubComp,
            })
            .collect();
        let connect_packet = persistent_connect(&snapshot.client_id, 600, 5);
        let mut actions = Vec::new();
        let restored = Session::from_snapshot(
            snapshot,
            &Arc::new(SessionConfig::default()),
            &Arc::default(),
            RESTORE_NOW_MS,
            WALL_CLOCK_MS,
            &mut actions,
        );
        let Ok(restored) = restored else {
            return Ok(());
        };
        if !actions.contains(&Action::EndSession) {
            let (mut session, _) = connect(connect_packet, Some(restored), RESTORE_NOW_MS);
            let message = message("a/b", b"x", QoS::ExactlyOnce, "hub");
            deliver(&mut session, &message, QoS::ExactlyOnce, RESTORE_NOW_MS);
            prop_assert!(session.is_connected());
        }
    }
}
