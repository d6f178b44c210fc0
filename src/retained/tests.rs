//! The retained store: replacement and clearing, bounds, expiry, matching
//! and the convergence of replicas that take racing updates in any order.

use std::sync::Arc;

use bytes::Bytes;
use bytestring::ByteString;

use super::{RetainedStore, Stamp, Update};
use crate::limits;
use crate::protocol::QoS;
use crate::session::{Message, SharedMessage};

fn retained(topic_name: &str, payload: &'static [u8], expires_at_ms: Option<u64>) -> SharedMessage {
    Arc::new(Message {
        topic_name: ByteString::from(topic_name),
        payload: Bytes::from_static(payload),
        qos: QoS::AtMostOnce,
        retain: true,
        properties: Default::default(),
        expires_at_ms,
        publisher: ByteString::from("publisher"),
    })
}

/// Stamps in the order they are taken, as one shard gives them.
fn stamp() -> Stamp {
    thread_local!(static SEQUENCE: std::cell::Cell<u64> = const { std::cell::Cell::new(0) });
    let sequence = SEQUENCE.with(|cell| {
        cell.set(cell.get() + 1);
        cell.get()
    });
    Stamp {
        at_ms: 0,
        shard: 0,
        sequence,
    }
}

fn topics(messages: &[SharedMessage]) -> Vec<&str> {
    messages
        .iter()
        .map(|message| &*message.topic_name)
        .collect()
}

#[test]
fn empty_payload_deletes_and_newer_message_replaces() {
    let mut store = RetainedStore::new(usize::MAX, usize::MAX);
    store.apply(&retained("a/1", b"x", None), stamp(), 0);
    store.apply(&retained("a/2", b"y", None), stamp(), 0);
    store.apply(&retained("a/1", b"z", None), stamp(), 0);
    store.apply(&retained("a/2", b"", None), stamp(), 0);
    let found = store.matching("a/#", 0, usize::MAX);
    assert_eq!(topics(&found), vec!["a/1"]);
    assert_eq!(&found[0].payload[..], b"z");
}

#[test]
fn wildcards_skip_dollar_topics_and_expired_messages() {
    let mut store = RetainedStore::new(usize::MAX, usize::MAX);
    store.apply(&retained("$SYS/load", b"1", None), stamp(), 0);
    store.apply(&retained("room/light", b"on", None), stamp(), 0);
    store.apply(&retained("room/door", b"shut", Some(100)), stamp(), 0);
    assert_eq!(
        topics(&store.matching("#", 50, usize::MAX)),
        vec!["room/door", "room/light"]
    );
    assert_eq!(
        topics(&store.matching("#", 100, usize::MAX)),
        vec!["room/light"]
    );
    assert_eq!(
        topics(&store.matching("$SYS/+", 0, usize::MAX)),
        vec!["$SYS/load"]
    );
}

#[test]
fn sweep_removes_expired_messages_and_keeps_the_rest() {
    let mut store = RetainedStore::new(usize::MAX, usize::MAX);
    store.apply(&retained("a/soon", b"1", Some(100)), stamp(), 0);
    store.apply(&retained("a/later", b"2", Some(200)), stamp(), 0);
    store.apply(&retained("a/never", b"3", None), stamp(), 0);
    assert_eq!(store.sweep_expired(99), 0);
    assert_eq!(store.sweep_expired(100), 1);
    assert_eq!(store.len(), 2);
    assert_eq!(store.sweep_expired(10_000), 1);
    assert_eq!(
        topics(&store.matching("#", 10_000, usize::MAX)),
        vec!["a/never"]
    );
    assert_eq!(store.len(), 1);
}

#[test]
fn replacing_an_expiring_message_keeps_the_new_one_past_the_old_expiry() {
    let mut store = RetainedStore::new(usize::MAX, usize::MAX);
    store.apply(&retained("a/1", b"old", Some(100)), stamp(), 0);
    store.apply(&retained("a/1", b"new", Some(500)), stamp(), 0);
    store.apply(&retained("a/2", b"gone", Some(100)), stamp(), 0);
    store.apply(&retained("a/2", b"", None), stamp(), 0);
    assert_eq!(store.sweep_expired(100), 0);
    assert_eq!(store.len(), 1);
    assert_eq!(
        &store.matching("a/1", 100, usize::MAX)[0].payload[..],
        b"new"
    );
    store.apply(&retained("a/1", b"kept", None), stamp(), 0);
    assert_eq!(store.sweep_expired(1_000), 0);
    assert_eq!(store.len(), 1);
}

#[test]
fn one_sweep_removes_at_most_its_bound() {
    let mut store = RetainedStore::new(usize::MAX, usize::MAX);
    let total = limits::RETAINED_EXPIRIES_PER_TICK_MAX + 5;
    for index in 0..total {
        let message = Arc::new(Message {
            topic_name: ByteString::from(format!("bulk/{index}")),
            ..Message::clone(&retained("bulk", b"x", Some(10)))
        });
        store.apply(&message, stamp(), 0);
    }
    assert_eq!(
        store.sweep_expired(10),
        limits::RETAINED_EXPIRIES_PER_TICK_MAX
    );
    assert_eq!(store.sweep_expired(10), 5);
    assert_eq!(store.len(), 0);
}

#[test]
fn shared_subscriptions_get_no_retained_messages() {
    let mut store = RetainedStore::new(usize::MAX, usize::MAX);
    store.apply(&retained("room/light", b"on", None), stamp(), 0);
    assert!(store
        .matching("$share/group/room/+", 0, usize::MAX)
        .is_empty());
}

#[test]
fn a_new_message_past_either_bound_is_not_retained_but_replacing_and_clearing_work() {
    // "a/1" + "xxxx" counts 7 bytes.
    let mut store = RetainedStore::new(2, 16);
    assert_eq!(
        store.retain(&retained("a/1", b"xxxx", None), stamp(), 0),
        Update::Applied
    );
    assert_eq!(
        store.retain(&retained("a/2", b"yyyy", None), stamp(), 0),
        Update::Applied
    );
    assert_eq!(
        store.retain(&retained("a/3", b"z", None), stamp(), 0),
        Update::Refused,
        "third message"
    );
    assert_eq!(
        store.retain(&retained("a/1", b"xxxxxx", None), stamp(), 0),
        Update::Applied,
        "replacing"
    );
    assert_eq!(
        store.retain(&retained("a/1", b"xxxxxxxxxx", None), stamp(), 0),
        Update::Refused,
        "bytes"
    );
    assert_eq!(
        &store.matching("a/1", 0, usize::MAX)[0].payload[..],
        b"xxxxxx"
    );
    assert_eq!(
        store.retain(&retained("a/2", b"", None), stamp(), 0),
        Update::Applied,
        "clearing"
    );
    assert_eq!(
        store.retain(&retained("a/3", b"zzzz", None), stamp(), 0),
        Update::Applied
    );
    assert_eq!(
        topics(&store.matching("a/+", 0, usize::MAX)),
        vec!["a/1", "a/3"]
    );
}

#[test]
fn a_replicated_update_is_applied_past_the_bounds_and_its_bytes_are_freed() {
    let mut store = RetainedStore::new(1, 8);
    store.apply(&retained("a/1", b"xxxx", None), stamp(), 0);
    store.apply(&retained("a/2", b"yyyy", Some(10)), stamp(), 0);
    assert_eq!(store.len(), 2);
    assert_eq!(
        store.retain(&retained("a/3", b"z", None), stamp(), 0),
        Update::Refused
    );
    assert_eq!(store.sweep_expired(10), 1);
    store.apply(&retained("a/1", b"", None), stamp(), 0);
    assert_eq!(
        store.retain(&retained("a/3", b"zzzz", None), stamp(), 0),
        Update::Applied
    );
    assert_eq!(store.bytes(), 7);
}

#[test]
fn replicas_taking_racing_updates_in_either_order_end_up_equal() {
    let early = |shard| Stamp {
        at_ms: 10,
        shard,
        sequence: 1,
    };
    let set_on_0 = (retained("door", b"open", None), early(0));
    let set_on_1 = (retained("door", b"shut", None), early(1));
    let clear_later = (
        retained("door", b"", None),
        Stamp {
            at_ms: 11,
            ..early(0)
        },
    );
    let orders = [
        [&set_on_0, &set_on_1, &clear_later],
        [&set_on_1, &set_on_0, &clear_later],
        [&clear_later, &set_on_1, &set_on_0],
        [&set_on_0, &clear_later, &set_on_1],
    ];
    for order in &orders[..2] {
        let mut replica = RetainedStore::new(10, 1_000);
        for (message, stamp) in &order[..2] {
            replica.apply(message, *stamp, 0);
        }
        assert_eq!(
            &replica.matching("door", 0, usize::MAX)[0].payload[..],
            b"shut"
        );
    }
    for order in orders {
        let mut replica = RetainedStore::new(10, 1_000);
        for (message, stamp) in order {
            replica.apply(message, *stamp, 0);
        }
        assert!(
            replica.matching("door", 0, usize::MAX).is_empty(),
            "the clear is last"
        );
    }
}

#[test]
fn a_clear_is_remembered_for_its_keep_time_only() {
    let mut store = RetainedStore::new(10, 1_000);
    let old = Stamp::default();
    store.apply(&retained("door", b"", None), stamp(), 0);
    assert_eq!(
        store.apply(&retained("door", b"late", None), old, 0),
        Update::Stale
    );
    store.sweep_expired(limits::RETAINED_CLEARED_KEEP_MS);
    assert_eq!(
        store.apply(&retained("door", b"late", None), old, 0),
        Update::Applied
    );
}

#[test]
fn matching_scans_from_the_literal_prefix_and_stops_at_the_limit() {
    let mut store = RetainedStore::new(100, 10_000);
    for topic_name in ["a", "a/b", "a/b/c", "a/c", "ab/b", "b/b", "$SYS/a"] {
        store.apply(&retained(topic_name, b"x", None), stamp(), 0);
    }
    let found = |filter, limit| topics(&store.matching(filter, 0, limit)).join(" ");
    assert_eq!(found("a/#", usize::MAX), "a a/b a/b/c a/c");
    assert_eq!(found("a/+", usize::MAX), "a/b a/c");
    assert_eq!(found("+/b", usize::MAX), "a/b ab/b b/b");
    assert_eq!(found("#", 2), "a a/b");
    assert_eq!(found("a/b", usize::MAX), "a/b");
    assert_eq!(found("a/b", 0), "");
    assert_eq!(found("$SYS/#", usize::MAX), "$SYS/a");
}

#[test]
fn leading_wildcards_do_not_match_dollar_topics_but_a_literal_dollar_level_does() {
    let mut store = RetainedStore::new(100, 10_000);
    for topic_name in ["$SYS/load", "$SYS/broker/uptime", "$other/x", "sys/load"] {
        store.apply(&retained(topic_name, b"x", None), stamp(), 0);
    }
    let found = |filter| topics(&store.matching(filter, 0, usize::MAX)).join(" ");
    assert_eq!(found("#"), "sys/load");
    assert_eq!(found("+/load"), "sys/load");
    assert_eq!(found("+/+/uptime"), "");
    assert_eq!(found("$SYS/#"), "$SYS/broker/uptime $SYS/load");
    assert_eq!(found("$other/+"), "$other/x");
}

#[test]
fn a_stale_update_changes_nothing() {
    let mut store = RetainedStore::new(10, 1_000);
    let late = Stamp {
        at_ms: 20,
        shard: 0,
        sequence: 1,
    };
    let early = Stamp { at_ms: 10, ..late };
    store.apply(&retained("door", b"open", None), late, 0);
    assert_eq!(
        store.apply(&retained("door", b"shut", None), early, 0),
        Update::Stale
    );
    assert_eq!(
        store.apply(&retained("door", b"", None), early, 0),
        Update::Stale,
        "an older clear"
    );
    assert_eq!(
        &store.matching("door", 0, usize::MAX)[0].payload[..],
        b"open"
    );
    assert_eq!(store.bytes(), "door".len() + "open".len());
}

#[test]
fn a_bad_filter_matches_nothing() {
    let mut store = RetainedStore::new(10, 1_000);
    store.apply(&retained("a/b", b"x", None), stamp(), 0);
    assert!(store.matching("a/#/b", 0, usize::MAX).is_empty());
    assert!(store.matching("a+", 0, usize::MAX).is_empty());
}
