//! A shard's replica of the retained messages.
//!
//! Every shard holds every retained message (updates are broadcast over the
//! rings), so a SUBSCRIBE is answered from local memory. Lookup by wildcard scans
//! the set: subscribing is rare next to publishing.
//!
//! The set is bounded in messages and in bytes (`max_retained_messages`,
//! `max_retained_bytes`). The shard a retained PUBLISH arrives on decides
//! against its replica ([`RetainedStore::retain`]) and only what it kept is
//! replicated; the others apply that decision as it comes
//! ([`RetainedStore::apply`]), so the replicas never disagree about a message
//! one of them refused. Publishers on two shards racing for the last room may
//! pass the bound by the few updates under way on the rings.
//!
//! A message with a Message Expiry Interval is never sent once expired, and is
//! removed, with its payload, by [`RetainedStore::sweep_expired`] on the timer
//! tick. An index ordered by expiry time holds exactly the stored messages that
//! expire, so a sweep looks only at what is due, at most
//! `limits::RETAINED_EXPIRIES_PER_TICK_MAX` of them per tick.

use std::collections::BTreeSet;

use ahash::AHashMap as HashMap;

use bytestring::ByteString;
use shardmq::limits;
use shardmq::session::SharedMessage;
use shardmq::topic::{matches, parse_topic_filter};

/// Retained messages by topic name.
#[derive(Debug)]
pub struct RetainedStore {
    by_topic: HashMap<ByteString, SharedMessage>,
    /// (expiry time, topic name) of every stored message that expires.
    by_expiry: BTreeSet<(u64, ByteString)>,
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
            by_topic: HashMap::default(),
            by_expiry: BTreeSet::new(),
            bytes: 0,
            max_messages,
            max_bytes,
        }
    }

    /// A retained PUBLISH received on this shard: stores `message` as its
    /// topic's retained message, or clears the topic when the payload is empty
    /// [MQTT-3.3.1-6, MQTT-3.3.1-7]. False when a new message would pass the
    /// store's bounds: it is not retained (and must not be replicated).
    pub fn retain(&mut self, message: &SharedMessage) -> bool {
        if !message.payload.is_empty() {
            let replaced = self
                .by_topic
                .get(&message.topic_name)
                .map_or(0, stored_size);
            let count = self.by_topic.len() + usize::from(replaced == 0);
            let bytes = self.bytes - replaced + stored_size(message);
            if count > self.max_messages || bytes > self.max_bytes {
                tracing::debug!(topic_name = %message.topic_name, "retained store full; not retained");
                return false;
            }
        }
        self.apply(message);
        true
    }

    /// Applies a retained update another shard decided on (or start-up
    /// restored): stores or clears without checking the bounds.
    pub fn apply(&mut self, message: &SharedMessage) {
        self.remove(&message.topic_name);
        if message.payload.is_empty() {
            return;
        }
        self.bytes += stored_size(message);
        self.by_topic
            .insert(message.topic_name.clone(), SharedMessage::clone(message));
        if let Some(expires_at_ms) = message.expires_at_ms {
            self.by_expiry
                .insert((expires_at_ms, message.topic_name.clone()));
        }
    }

    /// Removes the retained message of `topic_name`, if any.
    fn remove(&mut self, topic_name: &ByteString) {
        let Some(removed) = self.by_topic.remove(topic_name) else {
            return;
        };
        self.bytes -= stored_size(&removed);
        if let Some(expires_at_ms) = removed.expires_at_ms {
            self.by_expiry.remove(&(expires_at_ms, topic_name.clone()));
        }
    }

    /// Removes up to `limits::RETAINED_EXPIRIES_PER_TICK_MAX` messages expired
    /// at `now_ms`, earliest first; returns how many it removed. The rest go
    /// on the next ticks.
    pub fn sweep_expired(&mut self, now_ms: u64) -> usize {
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
            if let Some(message) = self.by_topic.remove(&topic_name) {
                self.bytes -= stored_size(&message);
            }
            removed += 1;
        }
        if removed > 0 && self.by_topic.capacity() > 4 * self.by_topic.len().max(16) {
            self.by_topic.shrink_to_fit();
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
        self.by_topic.values()
    }

    /// The unexpired retained messages matching `topic_filter`; none for a shared
    /// subscription, which gets no retained messages.
    pub fn matching(&self, topic_filter: &str, now_ms: u64) -> Vec<SharedMessage> {
        let Ok(parsed) = parse_topic_filter(topic_filter) else {
            return Vec::new();
        };
        if parsed.share_group.is_some() {
            return Vec::new();
        }
        let mut found: Vec<SharedMessage> = self
            .by_topic
            .values()
            .filter(|message| !message.is_expired(now_ms))
            .filter(|message| matches(parsed.topic_filter, &message.topic_name))
            .cloned()
            .collect();
        found.sort_by(|a, b| a.topic_name.cmp(&b.topic_name));
        found
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
    use shardmq::protocol::{PublishProperties, QoS};
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
            properties: PublishProperties::default(),
            expires_at_ms,
            publisher: ByteString::from("publisher"),
        })
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
        store.apply(&retained("a/1", b"x", None));
        store.apply(&retained("a/2", b"y", None));
        store.apply(&retained("a/1", b"z", None));
        store.apply(&retained("a/2", b"", None));
        let found = store.matching("a/#", 0);
        assert_eq!(topics(&found), vec!["a/1"]);
        assert_eq!(&found[0].payload[..], b"z");
    }

    #[test]
    fn wildcards_skip_dollar_topics_and_expired_messages() {
        let mut store = RetainedStore::new(usize::MAX, usize::MAX);
        store.apply(&retained("$SYS/load", b"1", None));
        store.apply(&retained("room/light", b"on", None));
        store.apply(&retained("room/door", b"shut", Some(100)));
        assert_eq!(
            topics(&store.matching("#", 50)),
            vec!["room/door", "room/light"]
        );
        assert_eq!(topics(&store.matching("#", 100)), vec!["room/light"]);
        assert_eq!(topics(&store.matching("$SYS/+", 0)), vec!["$SYS/load"]);
    }

    #[test]
    fn sweep_removes_expired_messages_and_keeps_the_rest() {
        let mut store = RetainedStore::new(usize::MAX, usize::MAX);
        store.apply(&retained("a/soon", b"1", Some(100)));
        store.apply(&retained("a/later", b"2", Some(200)));
        store.apply(&retained("a/never", b"3", None));
        assert_eq!(store.sweep_expired(99), 0);
        assert_eq!(store.sweep_expired(100), 1);
        assert_eq!(store.len(), 2);
        assert_eq!(store.sweep_expired(10_000), 1);
        assert_eq!(topics(&store.matching("#", 10_000)), vec!["a/never"]);
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn replacing_an_expiring_message_keeps_the_new_one_past_the_old_expiry() {
        let mut store = RetainedStore::new(usize::MAX, usize::MAX);
        store.apply(&retained("a/1", b"old", Some(100)));
        store.apply(&retained("a/1", b"new", Some(500)));
        store.apply(&retained("a/2", b"gone", Some(100)));
        store.apply(&retained("a/2", b"", None));
        assert_eq!(store.sweep_expired(100), 0);
        assert_eq!(store.len(), 1);
        assert_eq!(&store.matching("a/1", 100)[0].payload[..], b"new");
        store.apply(&retained("a/1", b"kept", None));
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
            store.apply(&message);
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
        store.apply(&retained("room/light", b"on", None));
        assert!(store.matching("$share/group/room/+", 0).is_empty());
    }

    #[test]
    fn a_new_message_past_either_bound_is_not_retained_but_replacing_and_clearing_work() {
        // "a/1" + "xxxx" counts 7 bytes.
        let mut store = RetainedStore::new(2, 16);
        assert!(store.retain(&retained("a/1", b"xxxx", None)));
        assert!(store.retain(&retained("a/2", b"yyyy", None)));
        assert!(!store.retain(&retained("a/3", b"z", None)), "third message");
        assert!(store.retain(&retained("a/1", b"xxxxxx", None)), "replacing");
        assert!(
            !store.retain(&retained("a/1", b"xxxxxxxxxx", None)),
            "bytes"
        );
        assert_eq!(&store.matching("a/1", 0)[0].payload[..], b"xxxxxx");
        assert!(store.retain(&retained("a/2", b"", None)), "clearing");
        assert!(store.retain(&retained("a/3", b"zzzz", None)));
        assert_eq!(topics(&store.matching("a/+", 0)), vec!["a/1", "a/3"]);
    }

    #[test]
    fn a_replicated_update_is_applied_past_the_bounds_and_its_bytes_are_freed() {
        let mut store = RetainedStore::new(1, 8);
        store.apply(&retained("a/1", b"xxxx", None));
        store.apply(&retained("a/2", b"yyyy", Some(10)));
        assert_eq!(store.len(), 2);
        assert!(!store.retain(&retained("a/3", b"z", None)));
        assert_eq!(store.sweep_expired(10), 1);
        store.apply(&retained("a/1", b"", None));
        assert!(store.retain(&retained("a/3", b"zzzz", None)));
        assert_eq!(store.bytes, 7);
    }
}
