//! Topic aliases of one connection, both ways (3.3.2.3.4).
//!
//! Inbound, the client defines aliases up to our Topic Alias Maximum. Outbound, we
//! assign an alias to each new topic until the client's Topic Alias Maximum (or our
//! own cap) is used up, then send full topic names for further topics: no eviction,
//! so an alias never changes meaning within a connection and no LRU bookkeeping
//! runs per message.
//!
//! Both tables are boxed on first use: most connections never use an alias,
//! and every connected session holds both.

use bytestring::ByteString;

use super::state::FastMap;
use super::Violation;

/// Aliases the client defined on this connection.
#[derive(Clone, Debug, Default)]
pub(crate) struct InboundTopicAliases {
    maximum: u16,
    // Boxed so that a connection without aliases holds one word, not three.
    #[allow(clippy::box_collection)]
    topics: Option<Box<Vec<Option<ByteString>>>>,
}

impl InboundTopicAliases {
    /// No aliases yet, accepting up to `maximum`.
    pub(crate) fn new(maximum: u16) -> Self {
        InboundTopicAliases {
            maximum,
            topics: None,
        }
    }

    /// The topic name a PUBLISH stands for, defining or using `topic_alias`.
    /// Alias 0 or above our maximum is 0x94 (Topic Alias invalid); an empty topic with
    /// an unknown alias, or with none, is 0x82 (Protocol Error).
    pub(crate) fn resolve(
        &mut self,
        topic_name: ByteString,
        topic_alias: Option<u16>,
    ) -> Result<ByteString, Violation> {
        let Some(topic_alias) = topic_alias else {
            if topic_name.is_empty() {
                return Err(Violation::TopicNameEmpty);
            }
            return Ok(topic_name);
        };
        if topic_alias == 0 {
            return Err(Violation::TopicAliasZero);
        }
        if topic_alias > self.maximum {
            return Err(Violation::TopicAliasAboveMaximum);
        }
        let index = usize::from(topic_alias - 1);
        if topic_name.is_empty() {
            return self
                .topics
                .as_ref()
                .and_then(|topics| topics.get(index))
                .and_then(Clone::clone)
                .ok_or(Violation::TopicAliasUnknown);
        }
        let topics = self.topics.get_or_insert_with(Box::default);
        if topics.len() <= index {
            topics.resize(index + 1, None);
        }
        topics[index] = Some(topic_name.clone());
        Ok(topic_name)
    }
}

/// How an outbound PUBLISH names its topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OutboundAlias {
    /// The topic has this alias already: send the alias and an empty topic name.
    Known(u16),
    /// The topic gets this alias now: send both; [`OutboundTopicAliases::assign`] it
    /// once the PUBLISH is actually sent.
    New(u16),
    /// No alias: send the topic name alone.
    None,
}

/// Aliases we assigned on this connection.
#[derive(Clone, Debug, Default)]
pub(crate) struct OutboundTopicAliases {
    maximum: u16,
    assigned: Option<Box<FastMap<ByteString, u16>>>,
}

impl OutboundTopicAliases {
    /// No aliases yet, assigning up to `maximum` (0: never).
    pub(crate) fn new(maximum: u16) -> Self {
        OutboundTopicAliases {
            maximum,
            assigned: None,
        }
    }

    /// How to name `topic_name` in the next PUBLISH.
    pub(crate) fn lookup(&self, topic_name: &ByteString) -> OutboundAlias {
        if self.maximum == 0 {
            return OutboundAlias::None;
        }
        let assigned = match &self.assigned {
            Some(assigned) => {
                if let Some(topic_alias) = assigned.get(topic_name) {
                    return OutboundAlias::Known(*topic_alias);
                }
                assigned.len()
            }
            None => 0,
        };
        if assigned < usize::from(self.maximum) {
            // Aliases are handed out in order and never freed, so the next is len + 1.
            OutboundAlias::New(assigned as u16 + 1)
        } else {
            OutboundAlias::None
        }
    }

    /// Records the alias [`lookup`](Self::lookup) proposed as `OutboundAlias::New`.
    pub(crate) fn assign(&mut self, topic_name: ByteString, topic_alias: u16) {
        let assigned = self.assigned.get_or_insert_with(Box::default);
        assert_eq!(usize::from(topic_alias), assigned.len() + 1);
        assigned.insert(topic_name, topic_alias);
    }
}
