//! A shard's replica of the retained messages.
//!
//! Every shard holds every retained message (updates are broadcast over the
//! rings), so a SUBSCRIBE is answered from local memory. Lookup by wildcard scans
//! the set: subscribing is rare next to publishing, and the set is bounded by
//! `limits::RETAINED_MESSAGES_MAX`.

use ahash::AHashMap as HashMap;

use bytestring::ByteString;
use shardmq::limits;
use shardmq::session::SharedMessage;
use shardmq::topic::{matches, parse_topic_filter};

/// Retained messages by topic name.
#[derive(Debug, Default)]
pub struct RetainedStore {
    by_topic: HashMap<ByteString, SharedMessage>,
}

impl RetainedStore {
    /// Stores `message` as its topic's retained message, or clears the topic when
    /// the payload is empty [MQTT-3.3.1-6, MQTT-3.3.1-7].
    pub fn update(&mut self, message: &SharedMessage) {
        if message.payload.is_empty() {
            self.by_topic.remove(&message.topic_name);
            return;
        }
        if self.by_topic.len() >= limits::RETAINED_MESSAGES_MAX
            && !self.by_topic.contains_key(&message.topic_name)
        {
            tracing::debug!(topic_name = %message.topic_name, "retained store full; not retained");
            return;
        }
        self.by_topic
            .insert(message.topic_name.clone(), SharedMessage::clone(message));
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
    fn shared_subscriptions_get_no_retained_messages() {
        let mut store = RetainedStore::default();
        store.update(&retained("room/light", b"on", None));
        assert!(store.matching("$share/group/room/+", 0).is_empty());
    }
}
