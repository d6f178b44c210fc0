//! Replay: a snapshot plus the journal written after it gives back the state the
//! live broker had.

use super::live::*;
use super::strategies::WALL_CLOCK_MS;
use crate::persist::schema::SessionSnapshot;
use crate::persist::*;
use crate::protocol::{Packet, Publish, PublishResponse, QoS};
use crate::session::{Action, QueueBounds, QueueFullPolicy, Session, SessionConfig, SharedMessage};
use rkyv::util::AlignedVec;

/// A live session next to the journal of what happened to it.
struct Journaled {
    session: Session,
    journal: Vec<u8>,
    writer: JournalWriter,
}

impl Journaled {
    /// "meter" connects under `config` with a fresh persistent session, journaled.
    fn connect_with(config: &SessionConfig, now_ms: u64) -> Journaled {
        let connect = persistent_connect("meter", 3_600, 30);
        let config = SessionConfig {
            journal: true,
            ..config.clone()
        };
        let (session, actions) = connect_with(connect, None, &config, now_ms);
        let mut live = Journaled {
            session,
            journal: Vec::new(),
            writer: JournalWriter::new(),
        };
        live.journal(&actions, now_ms);
        live
    }

    /// Writes the record of every change the session reported in `actions`,
    /// as the runtime does when it runs them.
    fn journal(&mut self, actions: &[Action], now_ms: u64) {
        for action in actions {
            if let Action::Journal(change) = action {
                if let Some(record) = self.session.journal_record(change, now_ms, wall_ms(now_ms)) {
                    self.write(record);
                }
            }
        }
    }

    /// Feeds `packet` from the client and journals what it changed.
    fn feed(&mut self, packet: Packet, now_ms: u64) -> Vec<Action> {
        let actions = feed(&mut self.session, packet, now_ms);
        self.journal(&actions, now_ms);
        actions
    }

    /// The connection ends, journaled as the runtime journals it.
    fn connection_lost(&mut self, now_ms: u64) {
        let mut actions = Vec::new();
        self.session.connection_lost(now_ms, &mut actions);
        assert!(
            actions
                .iter()
                .any(|action| matches!(action, Action::Journal(_))),
            "a journaled session reports its disconnection"
        );
        self.journal(&actions, now_ms);
    }

    /// Writes the sessions snapshot and starts a new journal, as the runtime does.
    fn snapshot(&mut self, now_ms: u64) -> AlignedVec {
        self.journal.clear();
        let sessions = vec![snapshot_at(&self.session, now_ms)];
        encode_snapshot(&SnapshotContents::Sessions(sessions)).expect("a small snapshot")
    }

    /// Subscribes and journals the subscription the session granted.
    fn subscribe(&mut self, topic_filter: &str, qos: QoS, now_ms: u64) {
        self.feed(subscribe(topic_filter, qos), now_ms);
    }

    fn write(&mut self, record: JournalRecord) {
        self.writer
            .append(&record, &mut self.journal)
            .expect("a small record");
    }

    /// Delivers `message` and journals it as the runtime does: accepted for this
    /// session, then delivered under the packet id the session chose, if it went out.
    fn deliver(&mut self, message: &SharedMessage, qos: QoS, now_ms: u64) -> Vec<Action> {
        let target = self.session.delivery_target(message, &[granted(qos)]);
        let actions = deliver(&mut self.session, message, qos, now_ms);
        self.write(JournalRecord::MessageAccepted {
            inbound_qos2: None,
            message: message.to_record(now_ms, wall_ms(now_ms)),
            targets: target.into_iter().collect(),
        });
        self.journal(&actions, now_ms);
        actions
    }

    /// The client acknowledges `packet_id` (QoS 1), journaled as the runtime
    /// journals it, with the first sends of the queued messages that follow.
    fn acknowledge(&mut self, packet_id: u16, now_ms: u64) {
        self.feed(Packet::PubAck(PublishResponse::success(packet_id)), now_ms);
    }
}

/// The wall clock of the live run: monotonic time plus a fixed offset.
fn wall_ms(now_ms: u64) -> u64 {
    WALL_CLOCK_MS + now_ms
}

fn replay(base: &[u8], journal: &[u8]) -> Replay {
    replay_with(QueueBounds::default(), base, journal)
}

fn replay_with(bounds: QueueBounds, base: &[u8], journal: &[u8]) -> Replay {
    let mut replay = Replay::new(bounds);
    let Ok(SnapshotContents::Sessions(sessions)) = decode_snapshot(base) else {
        panic!("the base snapshot reads back");
    };
    replay.load_sessions(sessions);
    for record in JournalReader::new(journal) {
        replay.apply(record.expect("an intact journal"));
    }
    replay
}

fn snapshot_at(session: &Session, now_ms: u64) -> SessionSnapshot {
    session.to_snapshot(now_ms, wall_ms(now_ms))
}

#[test]
fn snapshot_and_journal_replay_to_the_live_session() {
    // A window of three: what is delivered past it waits in the queue.
    let config = SessionConfig {
        outbound_inflight_maximum: 3,
        ..SessionConfig::default()
    };
    let mut live = Journaled::connect_with(&config, 100);
    live.subscribe("meters/#", QoS::ExactlyOnce, 200);
    let qos1 = message("meters/1", b"1", QoS::AtLeastOnce, "hub");
    let qos2 = message("meters/2", b"2", QoS::ExactlyOnce, "hub");
    let acknowledged = message("meters/3", b"3", QoS::AtLeastOnce, "hub");
    let acknowledged_sent = live.deliver(&acknowledged, QoS::AtLeastOnce, 230);
    live.deliver(&qos1, QoS::ExactlyOnce, 240);
    let qos2_sent = live.deliver(&qos2, QoS::ExactlyOnce, 245);
    let queued_before_snapshot = message("meters/0", b"0", QoS::AtLeastOnce, "hub");
    live.deliver(&queued_before_snapshot, QoS::AtLeastOnce, 250);
    assert_eq!(live.session.queued_len(), 1);
    let base = live.snapshot(300);

    let [acknowledged_id] = sent_packet_ids(&acknowledged_sent)[..] else {
        panic!("one PUBLISH: {acknowledged_sent:?}");
    };
    live.acknowledge(acknowledged_id, 400);
    let queued_after_snapshot = message("meters/4", b"4", QoS::ExactlyOnce, "hub");
    live.deliver(&queued_after_snapshot, QoS::ExactlyOnce, 500);
    let [qos2_id] = sent_packet_ids(&qos2_sent)[..] else {
        panic!("one PUBLISH: {qos2_sent:?}");
    };
    live.feed(Packet::PubRec(PublishResponse::success(qos2_id)), 610);

    let inbound = Publish {
        dup: false,
        qos: QoS::ExactlyOnce,
        retain: true,
        topic_name: "status/meter".into(),
        packet_id: Some(9),
        properties: None,
        payload: bytes::Bytes::from_static(b"up"),
    };
    let published = live.feed(Packet::Publish(inbound), 700);
    let Some(Action::Publish {
        message: routed,
        inbound_qos2: Some(packet_id),
    }) = published
        .iter()
        .find(|action| matches!(action, Action::Publish { .. }))
    else {
        panic!("the PUBLISH is routed, opening its QoS 2 flow: {published:?}");
    };
    live.write(JournalRecord::MessageAccepted {
        inbound_qos2: Some(InboundQos2Record {
            client_id: "meter".to_owned(),
            packet_id: *packet_id,
        }),
        message: routed.to_record(700, wall_ms(700)),
        targets: Vec::new(),
    });
    live.write(JournalRecord::RetainedSet {
        message: routed.to_record(700, wall_ms(700)),
    });

    live.connection_lost(800);
    let while_away = message("meters/5", b"5", QoS::ExactlyOnce, "hub");
    live.deliver(&while_away, QoS::ExactlyOnce, 900);

    let replayed = replay(&base, &live.journal);
    assert_eq!(replayed.skipped(), 0);
    let expected = snapshot_at(&live.session, 1_000);
    assert_eq!(expected.inflight.len(), 3);
    assert_eq!(expected.queue.len(), 2);
    assert_eq!(expected.awaiting_pubrel, vec![9]);
    assert_eq!(replayed.session("meter"), Some(expected));
    assert_eq!(
        replayed
            .retained("status/meter")
            .map(|message| &message.payload[..]),
        Some(&b"up"[..])
    );
}

#[test]
fn a_delivery_past_dropped_messages_drops_them_in_replay_too() {
    let mut live = busy_meter(&SessionConfig::default(), QoS::AtLeastOnce);
    let mut expiring = (*message("meters/x", b"x", QoS::AtLeastOnce, "hub")).clone();
    expiring.expires_at_ms = Some(150);
    live.deliver(&std::sync::Arc::new(expiring), QoS::AtLeastOnce, 100);
    let kept = message("meters/k", b"k", QoS::AtLeastOnce, "hub");
    live.deliver(&kept, QoS::AtLeastOnce, 100);

    live.acknowledge(1, 200);
    assert_eq!(live.session.stats().dropped_expired, 1);

    let empty = encode_snapshot(&SnapshotContents::Sessions(Vec::new())).expect("empty");
    let replayed = replay(&empty, &live.journal);
    let mut expected = snapshot_at(&live.session, 300);
    // Drop counters are kept by snapshots only: replay cannot tell why a message
    // was dropped, only that it was.
    expected.stats = Default::default();
    assert!(expected.queue.is_empty());
    assert_eq!(replayed.session("meter"), Some(expected));
}

#[test]
fn records_about_unknown_sessions_change_nothing_and_are_counted() {
    let mut replay = Replay::new(QueueBounds::default());
    replay.apply(JournalRecord::Acknowledged {
        client_id: "ghost".to_owned(),
        packet_id: 1,
    });
    replay.apply(JournalRecord::SessionEnded {
        client_id: "ghost".to_owned(),
    });
    assert_eq!(replay.skipped(), 2);
    assert_eq!(replay.into_parts(), (Vec::new(), Vec::new()));
}

#[test]
fn an_ended_session_and_a_cleared_retained_message_are_gone_after_replay() {
    let mut replay = Replay::new(QueueBounds::default());
    let (session, _) = connect(persistent_connect("meter", 600, 0), None, 0);
    replay.load_sessions([session.to_snapshot(0, WALL_CLOCK_MS)]);
    let retained = message("status/meter", b"up", QoS::AtMostOnce, "meter");
    replay.load_retained([retained.to_record(0, WALL_CLOCK_MS)]);
    replay.apply(JournalRecord::SessionEnded {
        client_id: "meter".to_owned(),
    });
    replay.apply(JournalRecord::RetainedCleared {
        topic_name: "status/meter".to_owned(),
    });
    assert_eq!(replay.skipped(), 0);
    assert_eq!(replay.into_parts(), (Vec::new(), Vec::new()));
}

/// "meter" with a window of one, subscribed to "meters/#" at `qos`, the window
/// taken by "meters/busy" (packet id 1), so whatever QoS 1/2 is delivered next
/// queues.
fn busy_meter(config: &SessionConfig, qos: QoS) -> Journaled {
    let config = SessionConfig {
        outbound_inflight_maximum: 1,
        ..config.clone()
    };
    let mut live = Journaled::connect_with(&config, 100);
    live.subscribe("meters/#", qos, 100);
    let busy = message("meters/busy", b"", QoS::AtLeastOnce, "hub");
    live.deliver(&busy, qos, 100);
    live
}

/// Messages of growing payloads, "meters/0" with 1 byte up to "meters/{n-1}".
fn growing_messages(count: usize) -> Vec<SharedMessage> {
    let payload: &'static [u8] = b"0123456789abcdef";
    (0..count)
        .map(|index| {
            let topic_name = format!("meters/{}", index % 10);
            message(&topic_name, &payload[..=index], QoS::AtLeastOnce, "hub")
        })
        .collect()
}

/// The live session and its replay (from an empty snapshot) under `config` agree.
fn assert_replay_matches_live(live: &Journaled, config: &SessionConfig, now_ms: u64) {
    let empty = encode_snapshot(&SnapshotContents::Sessions(Vec::new())).expect("empty");
    let replayed = replay_with(config.queue_bounds(), &empty, &live.journal);
    assert_eq!(replayed.skipped(), 0);
    assert_eq!(
        replayed.session("meter"),
        Some(snapshot_at(&live.session, now_ms))
    );
}

#[test]
fn replay_under_a_byte_limit_keeps_the_queue_the_live_offline_session_kept() {
    let config = SessionConfig {
        max_queued_bytes: 40,
        outbound_inflight_maximum: 1,
        ..SessionConfig::default()
    };
    let mut live = busy_meter(&config, QoS::ExactlyOnce);
    live.connection_lost(150);
    for (index, message) in growing_messages(8).iter().enumerate() {
        live.deliver(message, QoS::AtLeastOnce, 200 + index as u64);
    }

    let stats = live.session.stats();
    assert!(stats.dropped_queue_full > 0, "the byte limit was reached");
    assert!(live.session.queued_bytes() <= 40);
    assert_replay_matches_live(&live, &config, 400);
}

#[test]
fn replay_queues_unbounded_while_connected_and_trims_like_live_when_the_client_leaves() {
    let config = SessionConfig {
        max_queued_messages: 3,
        max_queued_bytes: 20,
        queue_full_policy: QueueFullPolicy::DropOldest,
        ..SessionConfig::default()
    };
    let mut live = busy_meter(&config, QoS::ExactlyOnce);
    for (index, message) in growing_messages(9).iter().enumerate() {
        live.deliver(message, QoS::ExactlyOnce, 200 + index as u64);
    }
    assert_eq!(
        live.session.queued_len(),
        9,
        "a connected client loses nothing"
    );
    assert_eq!(live.session.stats().dropped_queue_full, 0);
    assert_replay_matches_live(&live, &config, 300);

    live.connection_lost(310);
    assert!(live.session.stats().dropped_queue_full >= 6);
    assert!(live.session.queued_len() <= 3 && live.session.queued_bytes() <= 20);
    assert_replay_matches_live(&live, &config, 400);
}

#[test]
fn replay_drops_queued_qos0_when_the_connection_ends_unless_queue_qos0() {
    for queue_qos0 in [false, true] {
        let config = SessionConfig {
            queue_qos0,
            ..SessionConfig::default()
        };
        // A connected client's QoS 0 goes out at once: it waits in the queue
        // only when it was queued while the client was away (here under a
        // configuration with queue_qos0 on), behind QoS 1 waiting for the window.
        let while_away = SessionConfig {
            queue_qos0: true,
            ..config.clone()
        };
        let mut live = busy_meter(&while_away, QoS::AtLeastOnce);
        live.connection_lost(150);
        let qos1 = message("meters/1", b"1", QoS::AtLeastOnce, "hub");
        deliver(&mut live.session, &qos1, QoS::AtLeastOnce, 200);
        let qos0 = message("meters/0", b"0", QoS::AtMostOnce, "hub");
        deliver(&mut live.session, &qos0, QoS::AtMostOnce, 210);
        let config = SessionConfig {
            outbound_inflight_maximum: 1,
            journal: true,
            ..config
        };
        let connect = persistent_connect("meter", 3_600, 30);
        live.session = connect_with(connect, Some(live.session), &config, 250).0;
        assert_eq!(live.session.queued_len(), 2, "meters/1 and meters/0 wait");
        let base = live.snapshot(300);
        live.connection_lost(400);

        let replayed = replay_with(config.queue_bounds(), &base, &live.journal);
        let expected = snapshot_at(&live.session, 500);
        assert_eq!(expected.queue.len(), if queue_qos0 { 2 } else { 1 });
        assert_eq!(replayed.session("meter"), Some(expected));
    }
}
