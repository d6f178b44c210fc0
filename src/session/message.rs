//! An application message as it is routed between sessions and shards, and what a
//! subscriber's subscription says about delivering it.

use std::ops::Deref;
use std::sync::Arc;

use bytes::Bytes;
use bytestring::ByteString;

use crate::protocol::properties::EMPTY_PUBLISH_PROPERTIES;
use crate::protocol::{
    LastWill, ProtocolVersion, Publish, PublishProperties, PublishRef, QoS, SubscriptionOptions,
};

/// A routed message: one allocation per published message, shared by every subscriber.
pub type SharedMessage = Arc<Message>;

/// An application message from a PUBLISH or a will, in the form every subscriber
/// shares. The properties are passed through to subscribers unchanged, except the
/// Message Expiry Interval, which is recomputed from `expires_at_ms` at delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Topic Name, never an alias.
    pub topic_name: ByteString,
    /// Application payload.
    pub payload: Bytes,
    /// QoS it was published with.
    pub qos: QoS,
    /// RETAIN flag it was published with.
    pub retain: bool,
    /// The v5 properties without Topic Alias, Subscription Identifiers and Message
    /// Expiry Interval (see `expires_at_ms`).
    pub properties: MessageProperties,
    /// When the message expires, on the runtime's clock; `None` never.
    pub expires_at_ms: Option<u64>,
    /// Client identifier of the publisher, for No Local.
    pub publisher: ByteString,
}

impl Message {
    /// The message a PUBLISH carries, received at `now_ms` from `publisher`.
    /// `topic_name` is the resolved name (the PUBLISH may carry only an alias).
    pub fn from_publish(
        publish: Publish,
        topic_name: ByteString,
        publisher: ByteString,
        now_ms: u64,
    ) -> Message {
        let mut properties = publish.properties;
        let message_expiry_interval_s = properties
            .as_deref()
            .and_then(|set| set.message_expiry_interval_s);
        let expires_at_ms = expiry_deadline_ms(message_expiry_interval_s, now_ms);
        if let Some(set) = properties.as_mut() {
            // Unshared after decoding, so the set is changed where it is and
            // becomes the message's without another allocation.
            let set = Arc::make_mut(set);
            set.topic_alias = None;
            set.message_expiry_interval_s = None;
            set.subscription_identifiers.clear();
        }
        Message {
            topic_name,
            payload: publish.payload,
            qos: publish.qos,
            retain: publish.retain,
            properties: properties.into(),
            expires_at_ms,
            publisher,
        }
    }

    /// A copy that shares no buffer with this message. Payload, topic and
    /// properties of a decoded message are slices of the read buffer they came
    /// in, all counted by one atomic reference count; a message kept for long
    /// (retained) would pin that whole buffer, and one handed to another core
    /// would have both cores update that count for every delivery, which costs
    /// far more than this one copy.
    pub fn detached(&self) -> Message {
        let properties = &self.properties;
        Message {
            topic_name: detached_string(&self.topic_name),
            payload: Bytes::copy_from_slice(&self.payload),
            qos: self.qos,
            retain: self.retain,
            properties: PublishProperties {
                payload_format_indicator: properties.payload_format_indicator,
                message_expiry_interval_s: properties.message_expiry_interval_s,
                topic_alias: properties.topic_alias,
                response_topic: properties.response_topic.as_deref().map(detached_string),
                correlation_data: properties
                    .correlation_data
                    .as_deref()
                    .map(Bytes::copy_from_slice),
                user_properties: properties
                    .user_properties
                    .iter()
                    .map(|(name, value)| (detached_string(name), detached_string(value)))
                    .collect(),
                subscription_identifiers: properties.subscription_identifiers.clone(),
                content_type: properties.content_type.as_deref().map(detached_string),
            }
            .into(),
            expires_at_ms: self.expires_at_ms,
            publisher: detached_string(&self.publisher),
        }
    }

    /// The message a will carries, published at `now_ms`.
    pub fn from_will(will: LastWill, publisher: ByteString, now_ms: u64) -> Message {
        let will_properties = will.properties;
        Message {
            topic_name: will.topic_name,
            payload: will.payload,
            qos: will.qos,
            retain: will.retain,
            properties: PublishProperties {
                payload_format_indicator: will_properties.payload_format_indicator,
                response_topic: will_properties.response_topic,
                correlation_data: will_properties.correlation_data,
                user_properties: will_properties.user_properties,
                content_type: will_properties.content_type,
                ..PublishProperties::default()
            }
            .into(),
            expires_at_ms: expiry_deadline_ms(will_properties.message_expiry_interval_s, now_ms),
            publisher,
        }
    }

    /// The QoS 0 PUBLISH of this message for a [`super::PlainDelivery::Plain`]
    /// delivery with this RETAIN flag: the whole topic name, and under v5 the
    /// message's own properties.
    pub fn plain_publish(&self, retain: bool, version: ProtocolVersion) -> PublishRef<'_> {
        PublishRef {
            dup: false,
            qos: QoS::AtMostOnce,
            retain,
            topic_name: &self.topic_name,
            packet_id: None,
            properties: if version.is_v5() {
                self.properties.borrowed()
            } else {
                None
            },
            payload: &self.payload,
        }
    }

    /// [`Message::plain_publish`] as a packet of its own, sharing the
    /// message's buffers: for a plain delivery that has to wait in a queue.
    pub fn plain_packet(&self, retain: bool, version: ProtocolVersion) -> Publish {
        Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain,
            topic_name: self.topic_name.clone(),
            packet_id: None,
            properties: if version.is_v5() {
                self.properties.shared()
            } else {
                None
            },
            payload: self.payload.clone(),
        }
    }

    /// True once the message's expiry time has come.
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expires_at_ms.is_some_and(|at_ms| now_ms >= at_ms)
    }

    /// The Message Expiry Interval to forward at `now_ms`: the whole seconds left,
    /// rounded up so an unexpired message never goes out with 0.
    pub fn remaining_expiry_interval_s(&self, now_ms: u64) -> Option<u32> {
        self.expires_at_ms.map(|at_ms| {
            let remaining_ms = at_ms.saturating_sub(now_ms);
            u32::try_from(remaining_ms.div_ceil(1000)).unwrap_or(u32::MAX)
        })
    }
}

/// A message's v5 properties, read as a [`PublishProperties`] through `Deref`.
///
/// Held once per message, behind an `Arc`, so a delivery that passes them on
/// unchanged hands the same set to the outgoing PUBLISH ([`Self::shared`])
/// instead of copying it per subscriber. The empty set is `None` inside and
/// never allocates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MessageProperties(Option<Arc<PublishProperties>>);

impl MessageProperties {
    /// The set as a PUBLISH's [`properties`](Publish::properties) field: the
    /// message's own allocation, shared, or `None` when empty.
    pub fn shared(&self) -> Option<Arc<PublishProperties>> {
        self.0.clone()
    }

    /// The set, borrowed, or `None` when empty.
    pub fn borrowed(&self) -> Option<&PublishProperties> {
        self.0.as_deref()
    }
}

impl From<Option<Arc<PublishProperties>>> for MessageProperties {
    /// A PUBLISH's set as a message's; an empty set becomes none.
    fn from(properties: Option<Arc<PublishProperties>>) -> MessageProperties {
        MessageProperties(properties.filter(|set| !set.is_empty()))
    }
}

impl From<PublishProperties> for MessageProperties {
    fn from(properties: PublishProperties) -> MessageProperties {
        MessageProperties(properties.boxed())
    }
}

impl Deref for MessageProperties {
    type Target = PublishProperties;

    fn deref(&self) -> &PublishProperties {
        self.0.as_deref().unwrap_or(&EMPTY_PUBLISH_PROPERTIES)
    }
}

fn expiry_deadline_ms(message_expiry_interval_s: Option<u32>, now_ms: u64) -> Option<u64> {
    message_expiry_interval_s.map(|interval_s| now_ms.saturating_add(u64::from(interval_s) * 1000))
}

/// What the subscription trie stores for one local subscriber of a filter, and hands
/// to [`Session::deliver`](super::Session::deliver) for every filter of that client
/// matching a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubscriptionMatch {
    /// The granted QoS of the subscription.
    pub qos: QoS,
    /// The v5 Subscription Identifier of the subscription.
    pub subscription_identifier: Option<u32>,
    /// No Local: never deliver the client's own messages through this subscription.
    pub no_local: bool,
    /// Retain As Published: keep the RETAIN flag on delivery through this subscription.
    pub retain_as_published: bool,
}

impl SubscriptionMatch {
    /// The match for a subscription with these (granted) options, as carried by
    /// [`Action::Subscribe`](super::Action::Subscribe).
    pub fn new(options: SubscriptionOptions, subscription_identifier: Option<u32>) -> Self {
        SubscriptionMatch {
            qos: options.qos,
            subscription_identifier,
            no_local: options.no_local,
            retain_as_published: options.retain_as_published,
        }
    }
}

/// A string in an allocation of its own.
fn detached_string(string: &str) -> ByteString {
    ByteString::from(string.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_detached_message_is_equal_and_shares_no_buffer() {
        let received = Bytes::from_static(b"sensors/1hello\x00\x01");
        let message = Message {
            topic_name: ByteString::try_from(received.slice(0..9)).unwrap(),
            payload: received.slice(9..14),
            qos: QoS::AtLeastOnce,
            retain: true,
            properties: PublishProperties {
                correlation_data: Some(received.slice(14..)),
                user_properties: vec![("unit".into(), "C".into())],
                ..PublishProperties::default()
            }
            .into(),
            expires_at_ms: Some(5),
            publisher: "probe".into(),
        };
        let detached = message.detached();
        assert_eq!(detached, message);
        let inside = |bytes: &[u8]| received.as_ptr_range().contains(&bytes.as_ptr());
        assert!(!inside(&detached.payload));
        assert!(!inside(detached.topic_name.as_bytes()));
        assert!(!inside(
            detached.properties.correlation_data.as_deref().unwrap()
        ));
    }
}
