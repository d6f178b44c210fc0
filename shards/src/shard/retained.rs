//! A shard's replica of the retained messages.
//!
//! Every shard holds every retained message (updates are broadcast over the
//! rings), so a SUBSCRIBE is answered from local memory. Messages are kept in
//! topic order: a filter's matches are found by scanning only the topics that
//! start with its levels before the first wildcard, and at most as many as the
//! subscriber can take are collected, so one SUBSCRIBE costs work in
//! proportion to what it can receive, not to the whole set.
//!
//! The set is bounded in messages and in bytes (`max_retained_messages`,
//! `max_retained_bytes`). The shard a retained PUBLISH arrives on decides
//! against its replica ([`RetainedStore::retain`]) and only what it kept is
//! replicated; the others apply that decision as it comes
//! ([`RetainedStore::apply`]), so the replicas never disagree about a message
//! one of them refused. Publishers on two shards racing for the last room may
//! pass the bound by the few updates under way on the rings.
//!
//! Updates of one topic can be decided on two shards at once; each carries a
//! [`Stamp`] and every replica keeps the one with the latest, so the replicas
//! agree whatever order the rings bring them in (clears are remembered for a
//! while for the same reason).
//!
//! A message with a Message Expiry Interval is never sent once expired, and is
//! removed, with its payload, by [`RetainedStore::sweep_expired`] on the timer
//! tick. An index ordered by expiry time holds exactly the stored messages that
//! expire, so a sweep looks only at what is due, at most
//! `limits::RETAINED_EXPIRIES_PER_TICK_MAX` of them per tick.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ops::Bound;

use ahash::AHashMap as HashMap;

use bytestring::ByteString;
use shardmq::limits;
use shardmq::session::SharedMessage;
use shardmq::topic::{matches, parse_topic_filter};

/// Where a retained update stands in the one order in which every replica
/// takes the updates of a topic: the later stamp wins, whichever arrives
/// first. Two shards may take retained PUBLISHes to one topic at the same
/// moment and each applies its own before the other's arrives; without the
/// stamps each replica would keep the last one it received, and subscribers
/// on different shards would see different retained messages for ever.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Stamp {
    /// The deciding shard's clock when it took the PUBLISH.
    pub at_ms: u64,
    /// The deciding shard.
    pub shard: usize,
    /// That shard's count of retained updates, ordering its own.
    pub sequence: u64,
}

/// What became of a retained update.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Update {
    /// Stored or cleared.
    Applied,
    /// A later update of the topic was applied already; nothing changed.
    Stale,
    /// A new message past the store's bounds: not retained.
    Refused,
}

/// A stored retained message.
#[derive(Debug)]
struct Stored {
    message: SharedMessage,
    stamp: Stamp,
}

/// Retained messages by topic name.
#[derive(Debug)]
pub struct RetainedStore {
    by_topic: BTreeMap<ByteString, Stored>,
    /// (expiry time, topic name) of every stored message that expires.
    by_expiry: BTreeSet<(u64, ByteString)>,
    /// Topics cleared lately, with the clear's stamp: an older update still
    /// on its way must not bring them back.
    cleared: HashMap<ByteString, Stamp>,
    /// The clears in the order they were applied, with when, to forget them
    /// after `limits::RETAINED_CLEARED_KEEP_MS` or past
    /// `limits::RETAINED_CLEARED_MAX`.
    cleared_order: VecDeque<(u64, ByteString, Stamp)>,
    /// [`stored_size`] of everything stored.
    bytes: usize,
    max_messages: usize,
    max_bytes: usize,
}

impl RetainedStore {
    /// An empty store holding at most `max_messages` messages and `max_bytes`
    /// bytes (see [`stored_size`]).
    pub fn new(max_messages: usize, max_bytes: usize) -> RetainedStore {
        RetainedStore {
            by_topic: BTreeMap::new(),
            by_expiry: BTreeSet::new(),
            cleared: HashMap::default(),
            cleared_order: VecDeque::new(),
            bytes: 0,
            max_messages,
            max_bytes,
        }
    }

    /// A retained PUBLISH this shard decides on, at `stamp`: stores `message`
    /// as its topic's retained message, or clears the topic when the payload
    /// is empty [MQTT-3.3.1-6, MQTT-3.3.1-7]. A new message that would pass
    /// the store's bounds is refused: it is not retained and must not be
    /// replicated.
    pub fn retain(&mut self, message: &SharedMessage, stamp: Stamp, now_ms: u64) -> Update {
        if !message.payload.is_empty() {
            let replaced = self
                .by_topic
                .get(&message.topic_name)
                .map_or(0, |stored| stored_size(&stored.message));
            let count = self.by_topic.len() + usize::from(replaced == 0);
            let bytes = self.bytes - replaced + stored_size(message);
            if count > self.max_messages || bytes > self.max_bytes {
                tracing::debug!(topic_name = %message.topic_name, "retained store full; not retained");
                return Update::Refused;
            }
        }
        self.apply(message, stamp, now_ms)
    }

    /// Applies a retained update at `stamp` (one another shard decided on, or
    /// start-up restored) unless a later one of its topic was applied: stores
    /// or clears without checking the bounds.
    pub fn apply(&mut self, message: &SharedMessage, stamp: Stamp, now_ms: u64) -> Update {
        let topic_name = &message.topic_name;
        let latest = match self.by_topic.get(topic_name) {
            Some(stored) => Some(stored.stamp),
            None => self.cleared.get(topic_name).copied(),
        };
        if latest.is_some_and(|latest| latest > stamp) {
            return Update::Stale;
        }
        self.remove(topic_name);
        if message.payload.is_empty() {
            self.cleared.insert(topic_name.clone(), stamp);
            self.cleared_order
                .push_back((now_ms, topic_name.clone(), stamp));
            return Update::Applied;
        }
        self.cleared.remove(topic_name);
        self.bytes += stored_size(message);
        self.by_topic.insert(
            topic_name.clone(),
            Stored {
                message: SharedMessage::clone(message),
                stamp,
            },
        );
        if let Some(expires_at_ms) = message.expires_at_ms {
            self.by_expiry.insert((expires_at_ms, topic_name.clone()));
        }
        Update::Applied
    }

    /// Removes the retained message of `topic_name`, if any.
    fn remove(&mut self, topic_name: &ByteString) {
        let Some(removed) = self.by_topic.remove(topic_name) else {
            return;
        };
        self.bytes -= stored_size(&removed.message);
        if let Some(expires_at_ms) = removed.message.expires_at_ms {
            self.by_expiry.remove(&(expires_at_ms, topic_name.clone()));
        }
    }

    /// Forgets the clears applied `limits::RETAINED_CLEARED_KEEP_MS` before
    /// `now_ms`, far longer than any update stays on a ring, and the oldest
    /// beyond `limits::RETAINED_CLEARED_MAX`.
    fn forget_old_clears(&mut self, now_ms: u64) {
        while let Some((applied_ms, _, _)) = self.cleared_order.front() {
            let due = applied_ms.saturating_add(limits::RETAINED_CLEARED_KEEP_MS) <= now_ms
                || self.cleared_order.len() > limits::RETAINED_CLEARED_MAX;
            if !due {
                break;
            }
            let Some((_, topic_name, stamp)) = self.cleared_order.pop_front() else {
                break;
            };
            if self.cleared.get(&topic_name) == Some(&stamp) {
                self.cleared.remove(&topic_name);
            }
        }
    }

    /// Removes up to `limits::RETAINED_EXPIRIES_PER_TICK_MAX` messages expired
    /// at `now_ms`, earliest first; returns how many it removed. The rest go
    /// on the next ticks.
    pub fn sweep_expired(&mut self, now_ms: u64) -> usize {
        self.forget_old_clears(now_ms);
        let mut removed = 0;
        while removed < limits::RETAINED_EXPIRIES_PER_TICK_MAX {
            let due = self
                .by_expiry
                .first()
                .is_some_and(|(expires_at_ms, _)| *expires_at_ms <= now_ms);
            if !due {
                break;
            }
            let Some((_, topic_name)) = self.by_expiry.pop_first() else {
                break;
            };
            if let Some(stored) = self.by_topic.remove(&topic_name) {
                self.bytes -= stored_size(&stored.message);
            }
            removed += 1;
        }
        removed
    }

    /// Retained messages stored.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.by_topic.len()
    }

    /// Every retained message, in no particular order.
    pub fn messages(&self) -> impl Iterator<Item = &SharedMessage> + '_ {
        self.by_topic.values().map(|stored| &stored.message)
    }

    /// The first `limit` unexpired retained messages matching `topic_filter`,
    /// in topic order; none for a shared subscription, which gets no retained
    /// messages.
    pub fn matching(&self, topic_filter: &str, now_ms: u64, limit: usize) -> Vec<SharedMessage> {
        let Ok(parsed) = parse_topic_filter(topic_filter) else {
            return Vec::new();
        };
        if parsed.share_group.is_some() {
            return Vec::new();
        }
        let filter = parsed.topic_filter;
        let Some(wildcard) = filter.find(['+', '#']) else {
            return self
                .by_topic
                .get(filter)
                .map(|stored| &stored.message)
                .filter(|message| !message.is_expired(now_ms))
                .into_iter()
                .take(limit)
                .cloned()
                .collect();
        };
        // "a/#" matches "a" too: the prefix ends before the separator.
        let prefix = filter[..wildcard]
            .strip_suffix('/')
            .unwrap_or(&filter[..wildcard]);
        self.by_topic
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|(topic_name, _)| topic_name.starts_with(prefix))
            .map(|(_, stored)| &stored.message)
            .filter(|message| !message.is_expired(now_ms))
            .filter(|message| matches(filter, &message.topic_name))
            .take(limit)
            .cloned()
            .collect()
    }
}

/// What a retained message counts against `max_retained_bytes`: its topic
/// name, payload and the variable-length properties.
fn stored_size(message: &SharedMessage) -> usize {
    let properties = &message.properties;
    let optional = |value: Option<&[u8]>| value.map_or(0, <[u8]>::len);
    message.topic_name.len()
        + message.payload.len()
        + optional(properties.response_topic.as_deref().map(str::as_bytes))
        + optional(properties.correlation_data.as_deref())
        + optional(properties.content_type.as_deref().map(str::as_bytes))
        + properties
            .user_properties
            .iter()
            .map(|(name, value)| name.len() + value.len())
            .sum::<usize>()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;
    use shardmq::protocol::QoS;
    use shardmq::session::Message;

    use super::*;

    fn retained(
        topic_name: &str,
        payload: &'static [u8],
        expires_at_ms: Option<u64>,
    ) -> SharedMessage {
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
        assert_eq!(store.bytes, 7);
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
}
