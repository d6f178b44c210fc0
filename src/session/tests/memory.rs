//! What offline sessions cost in memory, measured from the process's resident set
//! (`VmRSS` in `/proc/self/status`). Ignored by default: it builds 100,000 sessions
//! and is only meaningful on its own:
//!
//! `cargo test -p shardmq --lib session::tests::memory -- --ignored --nocapture`

use std::sync::Arc;

use bytes::Bytes;
use bytestring::ByteString;

use super::support::*;
use crate::protocol::*;
use crate::session::{Message, Session, SessionConfig};

const SESSIONS: usize = 100_000;
const QUEUED_PER_SESSION: usize = 10;
const PAYLOAD_LEN: usize = 64;

/// A generous ceiling for one offline session holding ten 64-byte messages of its
/// own, bytes; a change that blows the budget shows up here.
const BYTES_PER_SESSION_BUDGET: usize = 8 * 1024;

fn resident_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .expect("a VmRSS line");
    let kib: usize = line
        .split_whitespace()
        .nth(1)
        .and_then(|value| value.parse().ok())
        .expect("VmRSS in kB");
    kib * 1024
}

fn offline_subscribed_session(index: usize, config: &SessionConfig) -> Session {
    let client_id = format!("client-{index:06}");
    let (mut session, _) = accept_with(v5_persistent_connect(&client_id, 3600), None, config, 0);
    let subscribe = Packet::Subscribe(Subscribe {
        packet_id: 1,
        properties: SubscribeProperties::default(),
        filters: vec![(
            ByteString::from(format!("devices/{index:06}/#")),
            SubscriptionOptions {
                qos: QoS::AtLeastOnce,
                ..SubscriptionOptions::default()
            },
        )],
    });
    feed(&mut session, subscribe, 1);
    session.connection_lost(2, &mut Vec::new());
    session
}

fn telemetry(index: usize, sequence: usize) -> Arc<Message> {
    Arc::new(Message {
        topic_name: ByteString::from(format!("devices/{index:06}/telemetry")),
        payload: Bytes::from(vec![sequence as u8; PAYLOAD_LEN]),
        qos: QoS::AtLeastOnce,
        retain: false,
        properties: Default::default(),
        expires_at_ms: None,
        publisher: ByteString::from_static("gateway"),
    })
}

#[test]
#[ignore = "measures the whole process; run alone with --ignored --nocapture"]
fn offline_session_with_ten_queued_64_byte_messages_stays_within_its_memory_budget() {
    let config = SessionConfig::default();
    let before = resident_bytes();
    let mut sessions: Vec<Session> = (0..SESSIONS)
        .map(|index| offline_subscribed_session(index, &config))
        .collect();
    let with_sessions = resident_bytes();
    for (index, session) in sessions.iter_mut().enumerate() {
        for sequence in 0..QUEUED_PER_SESSION {
            deliver(session, &telemetry(index, sequence), QoS::AtLeastOnce, 3);
        }
    }
    let with_queues = resident_bytes();
    assert!(sessions
        .iter()
        .all(|session| session.queued_len() == QUEUED_PER_SESSION));

    // Fan-out: the same ten messages queued for every session of a second set.
    let shared: Vec<Arc<Message>> = (0..QUEUED_PER_SESSION)
        .map(|sequence| telemetry(0, sequence))
        .collect();
    let mut fanned_out: Vec<Session> = (SESSIONS..2 * SESSIONS)
        .map(|index| offline_subscribed_session(index, &config))
        .collect();
    let with_second_set = resident_bytes();
    for session in &mut fanned_out {
        for message in &shared {
            deliver(session, message, QoS::AtLeastOnce, 3);
        }
    }
    let with_shared_queues = resident_bytes();

    let session_bytes = (with_sessions - before) / SESSIONS;
    let queue_bytes = (with_queues - with_sessions) / SESSIONS;
    let shared_queue_bytes = (with_shared_queues - with_second_set) / SESSIONS;
    println!(
        "size_of Session {} B; per offline session with one subscription: {session_bytes} B; \
         its {QUEUED_PER_SESSION} queued {PAYLOAD_LEN} B messages: {queue_bytes} B \
         ({} B each); total {} B; the same ten messages shared by every session: \
         {shared_queue_bytes} B per session",
        std::mem::size_of::<Session>(),
        queue_bytes / QUEUED_PER_SESSION,
        session_bytes + queue_bytes,
    );
    assert!(fanned_out
        .iter()
        .all(|session| session.queued_len() == QUEUED_PER_SESSION));
    assert!(session_bytes + queue_bytes <= BYTES_PER_SESSION_BUDGET);
}
