//! A shard's replica of the retained messages.
//!
//! Every shard holds every retained message (updates are broadcast over the
//! rings), so a SUBSCRIBE is answered from local memory. Lookup by wildcard scans
//! the set: subscribing is rare next to publishing, and the set is bounded by
//! `limits::RETAINED_MESSAGES_MAX`.
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
#[derive(Debug, Default)]
pub struct RetainedStore {
    by_topic: HashMap<ByteString, SharedMessage>,
    /// (expiry time, topic name) of every stored message that expires.
    by_expiry: BTreeSet<(u64, ByteString)>,
}

impl RetainedStore {
    /// Stores `message` as its topic's retained message, or clears the topic when
    /// the payload is empty [MQTT-3.3.1-6, MQTT-3.3.1-7].
    pub fn update(&mut self, message: &SharedMessage) {
        if message.payload.is_empty() {
            self.remove(&message.topic_name);
            return;
        }
        if self.by_topic.len() >= limits::RETAINED_MESSAGES_MAX
            && !self.by_topic.contains_key(&message.topic_name)
        {
            tracing::debug!(topic_name = %message.topic_name, "retained store full; not retained");
            return;
        }
        let replaced = self
            .by_topic
            .insert(message.topic_name.clone(), SharedMessage::clone(message));
        if let Some(expires_at_ms) = replaced.and_then(|replaced| replaced.expires_at_ms) {
            self.by_expiry
                .remove(&(expires_at_ms, message.topic_name.clone()));
        }
        if let Some(expires_at_ms) = message.expires_at_ms {
            self.by_expiry
                .insert((expires_at_ms, message.topic_name.clone()));
        }
    }

    /// Removes the retained message of `topic_name`, if any.
    fn remove(&mut self, topic_name: &ByteString) {
        let removed = self.by_topic.remove(topic_name);
        if let Some(expires_at_ms) = removed.and_then(|removed| removed.expires_at_ms) {
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
            self.by_topic.remove(&topic_name);
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

    fn topics(messages: &[SharedMessage]) -> Vec<&str> {
        messages
            .iter()
            .map(|message| &*message.topic_name)
            .collect()
    }

    #[test]
    fn empty_payload_deletes_and_newer_message_replaces() {
        let mut store = RetainedStore::default();
        store.update(&retained("a/1", b"x", None));
        store.update(&retained("a/2", b"y", None));
        store.update(&retained("a/1", b"z", None));
        store.update(&retained("a/2", b"", None));
        let found = store.matching("a/#", 0);
        assert_eq!(topics(&found), vec!["a/1"]);
        assert_eq!(&found[0].payload[..], b"z");
    }

    #[test]
    fn wildcards_skip_dollar_topics_and_expired_messages() {
        let mut store = RetainedStore::default();
        store.update(&retained("$SYS/load", b"1", None));
        store.update(&retained("room/light", b"on", None));
        store.update(&retained("room/door", b"shut", Some(100)));
        assert_eq!(
            topics(&store.matching("#", 50)),
            vec!["room/door", "room/light"]
        );
        assert_eq!(topics(&store.matching("#", 100)), vec!["room/light"]);
        assert_eq!(topics(&store.matching("$SYS/+", 0)), vec!["$SYS/load"]);
    }

    #[test]
    fn sweep_removes_expired_messages_and_keeps_the_rest() {
        let mut store = RetainedStore::default();
        store.update(&retained("a/soon", b"1", Some(100)));
        store.update(&retained("a/later", b"2", Some(200)));
        store.update(&retained("a/never", b"3", None));
        assert_eq!(store.sweep_expired(99), 0);
        assert_eq!(store.sweep_expired(100), 1);
        assert_eq!(store.len(), 2);
        assert_eq!(store.sweep_expired(10_000), 1);
        assert_eq!(topics(&store.matching("#", 10_000)), vec!["a/never"]);
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn replacing_an_expiring_message_keeps_the_new_one_past_the_old_expiry() {
        let mut store = RetainedStore::default();
        store.update(&retained("a/1", b"old", Some(100)));
        store.update(&retained("a/1", b"new", Some(500)));
        store.update(&retained("a/2", b"gone", Some(100)));
        store.update(&retained("a/2", b"", None));
        assert_eq!(store.sweep_expired(100), 0);
        assert_eq!(store.len(), 1);
        assert_eq!(&store.matching("a/1", 100)[0].payload[..], b"new");
        store.update(&retained("a/1", b"kept", None));
        assert_eq!(store.sweep_expired(1_000), 0);
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn one_sweep_removes_at_most_its_bound() {
        let mut store = RetainedStore::default();
        let total = limits::RETAINED_EXPIRIES_PER_TICK_MAX + 5;
        for index in 0..total {
            let message = Arc::new(Message {
                topic_name: ByteString::from(format!("bulk/{index}")),
                ..Message::clone(&retained("bulk", b"x", Some(10)))
            });
            store.update(&message);
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
        let mut store = RetainedStore::default();
        store.update(&retained("room/light", b"on", None));
        assert!(store.matching("$share/group/room/+", 0).is_empty());
    }
}
