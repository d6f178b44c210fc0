//! The queue behind the inflight window: its two bounds, both full-queue policies,
//! QoS 0 for offline clients, the byte accounting and the expiry purge.

use std::sync::Arc;

use bytes::Bytes;
use bytestring::ByteString;
use proptest::prelude::*;

use super::support::*;
use crate::protocol::*;
use crate::session::queue::queued_bytes;
use crate::session::{
    Message, QueueFullPolicy, Session, SessionConfig, SessionMeters, SharedMessage,
};

/// A message on `topic_name` with `payload_len` bytes of payload, expiring at
/// `expires_at_ms` when given.
fn sized(
    topic_name: &str,
    payload_len: usize,
    qos: QoS,
    expires_at_ms: Option<u64>,
) -> SharedMessage {
    Arc::new(Message {
        topic_name: ByteString::from(topic_name),
        payload: Bytes::from(vec![b'x'; payload_len]),
        qos,
        retain: false,
        properties: Default::default(),
        expires_at_ms,
        publisher: ByteString::from_static("p"),
    })
}

/// A persistent v5 session under `config`, its client gone at 1 ms.
fn offline_session(config: &SessionConfig) -> Session {
    let (mut session, _) = accept_with(v5_persistent_connect("c", 600), None, config, 0);
    session.connection_lost(1, &mut Vec::new());
    session
}

fn resume(session: Session, config: &SessionConfig, now_ms: u64) -> Vec<String> {
    let (_, actions) = accept_with(
        v5_persistent_connect("c", 600),
        Some(session),
        config,
        now_ms,
    );
    topics(&actions)
}

fn topics(actions: &[crate::session::Action]) -> Vec<String> {
    sent_publishes(actions)
        .iter()
        .map(|publish| publish.topic_name.to_string())
        .collect()
}

fn deliver_all(session: &mut Session, topic_names: &[&str], qos: QoS, now_ms: u64) {
    for topic_name in topic_names {
        deliver(session, &sized(topic_name, 8, qos, None), qos, now_ms);
    }
}

fn queue_sum(session: &Session) -> usize {
    session.state.queue.iter().map(queued_bytes).sum()
}

#[test]
fn offline_session_drops_qos0_by_default_and_counts_it() {
    let config = SessionConfig::default();
    let mut session = offline_session(&config);
    deliver_all(&mut session, &["zero"], QoS::AtMostOnce, 2);
    deliver_all(&mut session, &["one"], QoS::AtLeastOnce, 2);
    assert_eq!(session.queued_len(), 1);
    assert_eq!(session.stats().dropped_qos0_offline, 1);
    assert_eq!(session.stats().dropped_qos0, 0);
    assert_eq!(resume(session, &config, 3), vec!["one"]);
}

#[test]
fn offline_session_queues_qos0_when_queue_qos0_is_on() {
    let config = SessionConfig {
        queue_qos0: true,
        ..SessionConfig::default()
    };
    let mut session = offline_session(&config);
    deliver_all(&mut session, &["zero"], QoS::AtMostOnce, 2);
    assert_eq!(session.stats().dropped_qos0_offline, 0);
    assert_eq!(resume(session, &config, 3), vec!["zero"]);
}

#[test]
fn qos0_left_queued_for_a_connected_client_is_dropped_when_it_leaves_unless_queue_qos0() {
    // A connected client's QoS 0 goes out at once: it waits in the queue only
    // when it was queued while the client was away (here under a configuration
    // with queue_qos0 on), behind a QoS 1 message that waits for the window.
    let while_away = SessionConfig {
        queue_qos0: true,
        outbound_inflight_maximum: 1,
        ..SessionConfig::default()
    };
    for queue_qos0 in [false, true] {
        let config = SessionConfig {
            queue_qos0,
            ..while_away.clone()
        };
        let mut session = offline_session(&while_away);
        deliver_all(&mut session, &["one", "two"], QoS::AtLeastOnce, 2);
        deliver_all(&mut session, &["zero"], QoS::AtMostOnce, 2);
        let connect = v5_persistent_connect("c", 600);
        let (mut session, actions) = accept_with(connect, Some(session), &config, 3);
        assert_eq!(topics(&actions), vec!["one"]);
        assert_eq!(session.queued_len(), 2, "\"two\" and \"zero\" wait");
        session.connection_lost(4, &mut Vec::new());
        let dropped = u64::from(!queue_qos0);
        assert_eq!(session.stats().dropped_qos0_offline, dropped);
        assert_eq!(session.queued_len(), 2 - dropped as usize);
        assert_eq!(session.queued_bytes(), queue_sum(&session));
    }
}

#[test]
fn drop_newest_keeps_the_first_messages_and_counts_the_rest() {
    let config = SessionConfig {
        max_queued_messages: 3,
        ..SessionConfig::default()
    };
    let mut session = offline_session(&config);
    deliver_all(
        &mut session,
        &["1", "2", "3", "4", "5"],
        QoS::AtLeastOnce,
        2,
    );
    assert_eq!(session.stats().dropped_queue_full, 2);
    assert_eq!(resume(session, &config, 3), vec!["1", "2", "3"]);
}

#[test]
fn drop_oldest_keeps_the_latest_messages_and_counts_the_evicted() {
    let config = SessionConfig {
        max_queued_messages: 3,
        queue_full_policy: QueueFullPolicy::DropOldest,
        ..SessionConfig::default()
    };
    let mut session = offline_session(&config);
    deliver_all(
        &mut session,
        &["1", "2", "3", "4", "5"],
        QoS::AtLeastOnce,
        2,
    );
    assert_eq!(session.stats().dropped_queue_full, 2);
    assert_eq!(resume(session, &config, 3), vec!["3", "4", "5"]);
}

#[test]
fn drop_oldest_counts_an_evicted_qos0_message_as_qos0() {
    let config = SessionConfig {
        max_queued_messages: 1,
        queue_full_policy: QueueFullPolicy::DropOldest,
        queue_qos0: true,
        ..SessionConfig::default()
    };
    let mut session = offline_session(&config);
    deliver_all(&mut session, &["zero"], QoS::AtMostOnce, 2);
    deliver_all(&mut session, &["one"], QoS::AtLeastOnce, 2);
    assert_eq!(session.stats().dropped_qos0, 1);
    assert_eq!(session.stats().dropped_queue_full, 0);
    assert_eq!(resume(session, &config, 3), vec!["one"]);
}

#[test]
fn drop_oldest_never_evicts_a_message_in_flight() {
    let config = SessionConfig {
        max_queued_messages: 1,
        queue_full_policy: QueueFullPolicy::DropOldest,
        ..SessionConfig::default()
    };
    let mut connect = v5_persistent_connect("c", 600);
    connect.properties.receive_maximum = Some(1);
    let (mut session, _) = accept_with(connect, None, &config, 0);
    deliver_all(&mut session, &["sent", "2", "3"], QoS::AtLeastOnce, 1);
    assert_eq!(session.inflight_len(), 1);
    // Connected: queued past the bound; the bound applies once it leaves.
    assert_eq!(session.queued_len(), 2);
    session.connection_lost(2, &mut Vec::new());
    assert_eq!(session.queued_len(), 1);
    let (_, actions) = accept_with(v5_persistent_connect("c", 600), Some(session), &config, 3);
    let publishes = sent_publishes(&actions);
    assert_eq!(topics(&actions), vec!["sent", "3"]);
    assert!(publishes[0].dup, "the message in flight is resent");
}

#[test]
fn byte_bound_drops_the_newest_message_that_would_exceed_it() {
    let config = SessionConfig {
        max_queued_bytes: 2 * (1 + 100),
        ..SessionConfig::default()
    };
    let mut session = offline_session(&config);
    for topic_name in ["a", "b", "c"] {
        let message = sized(topic_name, 100, QoS::AtLeastOnce, None);
        deliver(&mut session, &message, QoS::AtLeastOnce, 2);
    }
    assert_eq!(session.queued_bytes(), 202);
    assert_eq!(session.stats().dropped_queue_full, 1);
    assert_eq!(resume(session, &config, 3), vec!["a", "b"]);
}

#[test]
fn byte_bound_under_drop_oldest_evicts_until_the_new_message_fits() {
    let config = SessionConfig {
        max_queued_bytes: 300,
        queue_full_policy: QueueFullPolicy::DropOldest,
        ..SessionConfig::default()
    };
    let mut session = offline_session(&config);
    for topic_name in ["a", "b", "c"] {
        let message = sized(topic_name, 99, QoS::AtLeastOnce, None);
        deliver(&mut session, &message, QoS::AtLeastOnce, 2);
    }
    let large = sized("d", 199, QoS::AtLeastOnce, None);
    deliver(&mut session, &large, QoS::AtLeastOnce, 2);
    assert_eq!(session.stats().dropped_queue_full, 2);
    assert_eq!(session.queued_bytes(), 100 + 200);
    assert_eq!(resume(session, &config, 3), vec!["c", "d"]);
}

#[test]
fn message_larger_than_the_byte_bound_is_dropped_without_evicting_anything() {
    let config = SessionConfig {
        max_queued_bytes: 100,
        queue_full_policy: QueueFullPolicy::DropOldest,
        ..SessionConfig::default()
    };
    let mut session = offline_session(&config);
    deliver(
        &mut session,
        &sized("a", 10, QoS::AtLeastOnce, None),
        QoS::AtLeastOnce,
        2,
    );
    deliver(
        &mut session,
        &sized("b", 100, QoS::AtLeastOnce, None),
        QoS::AtLeastOnce,
        2,
    );
    assert_eq!(session.stats().dropped_queue_full, 1);
    assert_eq!(resume(session, &config, 3), vec!["a"]);
}

#[test]
fn queued_bytes_count_payload_topic_and_variable_length_properties() {
    let mut session = offline_session(&SessionConfig::default());
    let message = Arc::new(Message {
        properties: PublishProperties {
            response_topic: Some(ByteString::from_static("reply")),
            correlation_data: Some(Bytes::from_static(b"id")),
            content_type: Some(ByteString::from_static("text")),
            user_properties: vec![(ByteString::from_static("k"), ByteString::from_static("v"))],
            payload_format_indicator: Some(true),
            ..PublishProperties::default()
        }
        .into(),
        ..(*sized("topic", 10, QoS::AtLeastOnce, None)).clone()
    });
    let mut subscription = granted(QoS::AtLeastOnce);
    subscription.subscription_identifier = Some(7);
    session.deliver(&message, &[subscription], 2, &mut Vec::new());
    assert_eq!(session.queued_bytes(), 10 + 5 + 5 + 2 + 4 + 2 + 4);
}

#[test]
fn sending_queued_messages_releases_their_bytes() {
    let config = SessionConfig::default();
    let mut session = offline_session(&config);
    deliver_all(&mut session, &["a", "b"], QoS::AtLeastOnce, 2);
    assert_eq!(session.queued_bytes(), 2 * (1 + 8));
    let (session, _) = accept_with(v5_persistent_connect("c", 600), Some(session), &config, 3);
    assert_eq!(session.queued_len(), 0);
    assert_eq!(session.queued_bytes(), 0);
}

#[test]
fn purge_expired_removes_expired_messages_and_frees_their_bytes() {
    let mut session = offline_session(&SessionConfig::default());
    for (topic_name, expires_at_ms) in [
        ("soon", Some(1_000)),
        ("never", None),
        ("later", Some(5_000)),
    ] {
        let message = sized(topic_name, 10, QoS::AtLeastOnce, expires_at_ms);
        deliver(&mut session, &message, QoS::AtLeastOnce, 2);
    }
    assert_eq!(session.purge_expired(999), 0);
    assert_eq!(session.queued_len(), 3);
    assert_eq!(session.purge_expired(1_000), 1);
    assert_eq!(session.queued_bytes(), 15 + 15);
    assert_eq!(session.purge_expired(4_999), 0);
    assert_eq!(session.purge_expired(5_000), 1);
    assert_eq!(session.queued_len(), 1);
    assert_eq!(session.queued_bytes(), 15);
    assert_eq!(session.stats().dropped_expired, 2);
    assert_eq!(session.purge_expired(u64::MAX), 0);
}

#[test]
fn queueing_a_message_drops_the_queued_messages_that_expired() {
    let mut session = offline_session(&SessionConfig::default());
    let expiring = sized("expiring", 10, QoS::AtLeastOnce, Some(1_000));
    deliver(&mut session, &expiring, QoS::AtLeastOnce, 2);
    deliver_all(&mut session, &["fresh"], QoS::AtLeastOnce, 1_000);
    assert_eq!(session.queued_len(), 1);
    assert_eq!(session.stats().dropped_expired, 1);
}

#[test]
fn a_full_queue_makes_room_by_dropping_expired_messages_first() {
    let config = SessionConfig {
        max_queued_messages: 2,
        ..SessionConfig::default()
    };
    let mut session = offline_session(&config);
    let expiring = sized("expiring", 10, QoS::AtLeastOnce, Some(1_000));
    deliver(&mut session, &expiring, QoS::AtLeastOnce, 2);
    deliver_all(&mut session, &["kept"], QoS::AtLeastOnce, 2);
    deliver_all(&mut session, &["new"], QoS::AtLeastOnce, 1_000);
    assert_eq!(session.stats().dropped_queue_full, 0);
    assert_eq!(session.stats().dropped_expired, 1);
    assert_eq!(resume(session, &config, 1_001), vec!["kept", "new"]);
}

#[test]
fn purge_expired_never_touches_a_message_in_flight() {
    let mut connect = v5_persistent_connect("c", 600);
    connect.properties.receive_maximum = Some(1);
    let (mut session, _) = accept(connect, None, 0);
    let expiring = sized("expiring", 10, QoS::AtLeastOnce, Some(1_000));
    deliver(&mut session, &expiring, QoS::AtLeastOnce, 1);
    deliver(&mut session, &expiring, QoS::AtLeastOnce, 1);
    assert_eq!(session.purge_expired(1_000), 1);
    assert_eq!(session.inflight_len(), 1);
    assert_eq!(session.queued_len(), 0);
}

#[test]
fn restore_under_a_lower_bound_applies_the_policy() {
    let config = SessionConfig::default();
    let mut session = offline_session(&config);
    deliver_all(&mut session, &["1", "2", "3"], QoS::AtLeastOnce, 2);
    let snapshot = session.to_snapshot(3, 1_000_000);
    let lowered = SessionConfig {
        max_queued_messages: 2,
        queue_full_policy: QueueFullPolicy::DropOldest,
        ..SessionConfig::default()
    };
    let restored = Session::from_snapshot(
        snapshot,
        &Arc::new(lowered.clone()),
        &Arc::default(),
        10,
        1_000_007,
        &mut Vec::new(),
    )
    .unwrap();
    assert_eq!(restored.stats().dropped_queue_full, 1);
    assert_eq!(resume(restored, &lowered, 11), vec!["2", "3"]);
}

/// One step of the byte-accounting property test.
#[derive(Clone, Debug)]
enum Step {
    /// A message routed to the session.
    Deliver {
        topic_len: usize,
        payload_len: usize,
        qos: QoS,
        expiry_ms: Option<u64>,
    },
    /// The client acknowledges its oldest unacknowledged QoS 1 message.
    Acknowledge,
    /// The connection drops.
    Disconnect,
    /// The client comes back with this Receive Maximum.
    Reconnect(u16),
    /// The runtime's periodic purge.
    Purge,
    /// Time passes.
    Wait(u64),
    /// The broker restarts: the session is snapshotted and restored.
    Restart,
    /// The runtime reports the client stuck (`true`) or making progress again.
    Stalled(bool),
}

fn step() -> impl Strategy<Value = Step> {
    let qos = prop::sample::select(vec![QoS::AtMostOnce, QoS::AtLeastOnce]);
    prop_oneof![
        4 => (1..20usize, 0..200usize, qos, prop::option::of(1..2_000u64)).prop_map(
            |(topic_len, payload_len, qos, expiry_ms)| Step::Deliver {
                topic_len,
                payload_len,
                qos,
                expiry_ms,
            }
        ),
        1 => Just(Step::Acknowledge),
        1 => Just(Step::Disconnect),
        1 => (1..4u16).prop_map(Step::Reconnect),
        1 => any::<bool>().prop_map(Step::Stalled),
        1 => Just(Step::Purge),
        1 => (0..1_000u64).prop_map(Step::Wait),
        1 => Just(Step::Restart),
    ]
}

/// The wall clock while the property test runs; it never moves, as only queue
/// contents matter there.
const WALL_CLOCK_MS: u64 = 1_700_000_000_000;

fn policy() -> impl Strategy<Value = QueueFullPolicy> {
    prop::sample::select(vec![
        QueueFullPolicy::DropNewest,
        QueueFullPolicy::DropOldest,
    ])
}

fn run_step(
    session: Session,
    step: &Step,
    config: &SessionConfig,
    meters: &Arc<SessionMeters>,
    now_ms: &mut u64,
) -> Session {
    let mut session = session;
    let mut actions = Vec::new();
    match *step {
        Step::Deliver {
            topic_len,
            payload_len,
            qos,
            expiry_ms,
        } => {
            let topic_name = "t".repeat(topic_len);
            let expires_at_ms = expiry_ms.map(|expiry_ms| *now_ms + expiry_ms);
            let message = sized(&topic_name, payload_len, qos, expires_at_ms);
            session.deliver(&message, &[granted(qos)], *now_ms, &mut actions);
        }
        Step::Acknowledge => {
            if let Some(packet_id) = session.state.inflight.packet_ids_in_order().first() {
                let puback = Packet::PubAck(PublishResponse::success(*packet_id));
                session.handle_packet(puback, *now_ms, &mut actions);
            }
        }
        Step::Disconnect => session.connection_lost(*now_ms, &mut actions),
        Step::Reconnect(receive_maximum) if !session.is_connected() => {
            let mut connect = v5_persistent_connect("c", 600);
            connect.properties.receive_maximum = Some(receive_maximum);
            session = accept_metered(connect, Some(session), config, meters, *now_ms).0;
        }
        Step::Reconnect(_) => {}
        Step::Purge => {
            session.purge_expired(*now_ms);
        }
        Step::Wait(elapsed_ms) => *now_ms += elapsed_ms,
        Step::Stalled(true) => {
            session.subscriber_stalled();
        }
        Step::Stalled(false) => session.subscriber_progressed(),
        Step::Restart => {
            let snapshot = session.to_snapshot(*now_ms, WALL_CLOCK_MS);
            session = Session::from_snapshot(
                snapshot,
                &Arc::new(config.clone()),
                meters,
                *now_ms,
                WALL_CLOCK_MS,
                &mut actions,
            )
            .expect("a snapshot of a live session restores");
        }
    }
    session
}

proptest! {
    #[test]
    fn queued_bytes_add_up_on_the_gauge_and_both_bounds_hold_unless_connected_and_reading(
        max_queued_messages in 1..6usize,
        max_queued_bytes in 1..600usize,
        queue_full_policy in policy(),
        queue_qos0 in any::<bool>(),
        steps in prop::collection::vec(step(), 1..80),
    ) {
        let config = SessionConfig {
            max_queued_messages,
            max_queued_bytes,
            queue_full_policy,
            queue_qos0,
            ..SessionConfig::default()
        };
        let mut now_ms = 0;
        let meters = Arc::new(SessionMeters::default());
        let mut session =
            accept_metered(v5_persistent_connect("c", 600), None, &config, &meters, now_ms).0;
        let gauge = &meters.delivery_gauge;
        for step in &steps {
            session = run_step(session, step, &config, &meters, &mut now_ms);
            prop_assert_eq!(session.queued_bytes(), queue_sum(&session));
            // Bytes in equal bytes out: the shard's gauge holds exactly the
            // queue of a client connected and reading, nothing otherwise.
            let counted = session.is_connected() && !session.is_stalled();
            prop_assert_eq!(gauge.get(), if counted { session.queued_bytes() } else { 0 });
            if !counted {
                prop_assert!(session.queued_len() <= max_queued_messages);
                prop_assert!(session.queued_bytes() <= max_queued_bytes);
            }
        }
        drop(session);
        prop_assert_eq!(gauge.get(), 0, "a session gone leaves nothing on the gauge");
    }
}

/// A connected client with a window of one, sent messages "1" to "5" at 1
/// ms: "1" in flight, the others queued.
fn five_delivered_with_a_window_of_one(
    config: &SessionConfig,
    meters: &Arc<SessionMeters>,
) -> Session {
    let mut connect = v5_persistent_connect("c", 600);
    connect.properties.receive_maximum = Some(1);
    let (mut session, _) = accept_metered(connect, None, config, meters, 0);
    deliver_all(
        &mut session,
        &["1", "2", "3", "4", "5"],
        QoS::AtLeastOnce,
        1,
    );
    session
}

#[test]
fn a_connected_reading_client_is_queued_past_the_bounds_and_counted_on_the_shard_gauge() {
    let config = SessionConfig {
        max_queued_messages: 2,
        ..SessionConfig::default()
    };
    let meters = Arc::new(SessionMeters::default());
    let session = five_delivered_with_a_window_of_one(&config, &meters);
    assert_eq!(session.inflight_len(), 1);
    assert_eq!(session.queued_len(), 4);
    assert_eq!(session.stats().dropped_queue_full, 0);
    assert!(session.holds_backlog());
    assert_eq!(meters.delivery_gauge.get(), queue_sum(&session));
}

#[test]
fn a_stalled_client_leaves_the_gauge_keeps_to_its_bounds_and_returns_when_it_progresses() {
    let config = SessionConfig {
        max_queued_messages: 2,
        ..SessionConfig::default()
    };
    let meters = Arc::new(SessionMeters::default());
    let mut session = five_delivered_with_a_window_of_one(&config, &meters);
    assert!(session.subscriber_stalled());
    assert!(!session.subscriber_stalled(), "reported once");
    // The newest go under drop_newest; the oldest waiting stay.
    assert_eq!(session.queued_len(), 2);
    assert_eq!(session.stats().dropped_queue_full, 2);
    assert_eq!(meters.delivery_gauge.get(), 0);
    assert!(!session.holds_backlog());
    deliver_all(&mut session, &["6"], QoS::AtLeastOnce, 2);
    assert_eq!(
        session.stats().dropped_queue_full,
        3,
        "bounded while stalled"
    );
    session.subscriber_progressed();
    assert_eq!(meters.delivery_gauge.get(), queue_sum(&session));
    deliver_all(&mut session, &["7"], QoS::AtLeastOnce, 3);
    assert_eq!(session.queued_len(), 3, "unbounded again");
    let mut actions = Vec::new();
    let puback = Packet::PubAck(PublishResponse::success(1));
    session.handle_packet(puback, 4, &mut actions);
    assert_eq!(topics(&actions), vec!["2"]);
}

#[test]
fn the_bounds_apply_once_the_client_leaves_and_the_gauge_lets_go_of_its_queue() {
    let config = SessionConfig {
        max_queued_messages: 2,
        queue_full_policy: QueueFullPolicy::DropOldest,
        ..SessionConfig::default()
    };
    let meters = Arc::new(SessionMeters::default());
    let mut session = five_delivered_with_a_window_of_one(&config, &meters);
    session.connection_lost(2, &mut Vec::new());
    assert_eq!(meters.delivery_gauge.get(), 0);
    assert_eq!(session.stats().dropped_queue_full, 2);
    assert_eq!(resume(session, &config, 3), vec!["1", "4", "5"]);
    assert_eq!(meters.delivery_gauge.get(), 0, "all of it went out");
}
