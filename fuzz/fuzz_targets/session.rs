//! Drives the session state machine with arbitrary packet sequences: the
//! first byte picks the protocol level, Clean Start, the journal and the
//! stored session; the rest is decoded into packets, each handed to the
//! session with the clock advancing, interleaved with deliveries of a
//! routed message and the session's timers. Whatever the client sends,
//! the session must not panic, and every journal change it reports must
//! turn into a record.

#![no_main]

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use shardmq::protocol::{
    decode, Connect, ConnectProperties, ProtocolVersion, Publish, QoS, SubscriptionOptions,
};
use shardmq::session::{
    Action, ConnectOutcome, Message, Session, SessionConfig, SessionMeters, SubscriptionMatch,
    TimerKind,
};

const MAXIMUM_PACKET_SIZE: u32 = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let protocol_version = match flags % 3 {
        0 => ProtocolVersion::V3_1,
        1 => ProtocolVersion::V3_1_1,
        _ => ProtocolVersion::V5,
    };
    let config = Arc::new(SessionConfig {
        journal: flags & 0x08 != 0,
        receive_maximum: 4,
        outbound_inflight_maximum: 4,
        max_queued_messages: 8,
        ..SessionConfig::default()
    });
    let meters = Arc::new(SessionMeters::default());
    let connect = |clean_start| Connect {
        protocol_version,
        clean_start,
        keep_alive_s: 30,
        client_id: "fuzz".into(),
        will: None,
        username: None,
        password: None,
        properties: ConnectProperties::default(),
    };
    let mut actions = Vec::new();
    let ConnectOutcome::Accepted(mut session) = Session::connect(
        connect(flags & 0x04 == 0),
        None,
        None,
        &config,
        &meters,
        0,
        &mut actions,
    ) else {
        return;
    };
    let routed = Arc::new(Message::from_publish(
        Publish {
            dup: false,
            qos: QoS::ExactlyOnce,
            retain: false,
            topic_name: "fuzz/in".into(),
            packet_id: Some(1),
            properties: None,
            payload: Bytes::from_static(b"routed"),
        },
        "fuzz/in".into(),
        "publisher".into(),
        0,
    ));
    let matched = [SubscriptionMatch::new(
        SubscriptionOptions {
            qos: QoS::ExactlyOnce,
            ..SubscriptionOptions::default()
        },
        None,
    )];
    let mut buffer = BytesMut::from(rest);
    let mut now_ms = 0;
    while let Ok(Some(packet)) = decode(&mut buffer, protocol_version, MAXIMUM_PACKET_SIZE) {
        now_ms += 7;
        session.handle_packet(packet, now_ms, &mut actions);
        session.deliver(&routed, &matched, now_ms, &mut actions);
        check_journal(&session, &mut actions, now_ms);
    }
    for timer in [TimerKind::KeepAlive, TimerKind::WillDelay, TimerKind::SessionExpiry] {
        session.handle_timer(timer, now_ms + 3_600_000, &mut actions);
    }
    session.connection_lost(now_ms, &mut actions);
    check_journal(&session, &mut actions, now_ms);
    // A resume after all that, when the session was kept.
    if flags & 0x10 != 0 && !session.is_connected() {
        let _ = Session::connect(
            connect(false),
            None,
            Some(session),
            &config,
            &meters,
            now_ms + 1,
            &mut actions,
        );
    }
});

/// Turns every journal change among `actions` into its record, then forgets
/// the actions.
fn check_journal(session: &Session, actions: &mut Vec<Action>, now_ms: u64) {
    for action in actions.drain(..) {
        if let Action::Journal(change) = action {
            let _ = session.journal_record(&change, now_ms, now_ms);
        }
    }
}
