//! [`RetainedStore`]: the retained messages by topic name, bounded, with
//! their expiry and the matching of a filter against them.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ops::Bound;

use ahash::AHashMap as HashMap;

use bytestring::ByteString;

use super::Stamp;
use crate::limits;
use crate::session::SharedMessage;
use crate::topic::{matches, parse_topic_filter};

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
    /// bytes, a message counting its topic name, payload and variable-length
    /// properties.
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
    pub(super) fn len(&self) -> usize {
        self.by_topic.len()
    }

    /// What the stored messages count against `max_bytes`.
    #[cfg(test)]
    pub(super) fn bytes(&self) -> usize {
        self.bytes
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
