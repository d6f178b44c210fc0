//! A message and a delivery as stored: [`Message::to_record`],
//! [`Message::from_record`], the [`Message::fingerprint`] a journal names a
//! message by, the [`DeliveryRecord`] of a queued or in-flight delivery, and
//! what a stored delivery counts against a queue's bounds.
//!
//! Deadlines move between the monotonic clock the session runs on (`now_ms`) and
//! the wall clock (`wall_clock_ms`): both readings are passed in, taken together,
//! on save and on load.

use std::sync::Arc;

use bytes::Bytes;
use bytestring::ByteString;

use super::checksum::message_fingerprint;
use super::clock::{from_wall_clock_ms, to_wall_clock_ms};
use super::schema::{DeliveryRecord, MessagePropertiesRecord, MessageRecord, UserPropertyRecord};
use crate::protocol::{PublishProperties, QoS, UserProperties};
use crate::session::{accounted_bytes, Message, OutboundPublish, Queued};

impl Message {
    /// The message as stored (a retained message, or the content of a journal record).
    pub fn to_record(&self, now_ms: u64, wall_clock_ms: u64) -> MessageRecord {
        let properties = &self.properties;
        MessageRecord {
            topic_name: str::to_owned(&self.topic_name),
            payload: self.payload.to_vec(),
            qos: self.qos.into(),
            retain: self.retain,
            properties: MessagePropertiesRecord {
                payload_format_indicator: properties.payload_format_indicator,
                response_topic: properties.response_topic.as_deref().map(str::to_owned),
                correlation_data: properties
                    .correlation_data
                    .as_ref()
                    .map(|data| data.to_vec()),
                user_properties: user_property_records(&properties.user_properties),
                content_type: properties.content_type.as_deref().map(str::to_owned),
            },
            expires_at_wall_ms: self
                .expires_at_ms
                .map(|at_ms| to_wall_clock_ms(at_ms, now_ms, wall_clock_ms)),
            publisher: str::to_owned(&self.publisher),
        }
    }

    /// The message a stored one describes, its expiry back on the session's clock.
    pub fn from_record(record: MessageRecord, now_ms: u64, wall_clock_ms: u64) -> Message {
        let properties = record.properties;
        Message {
            topic_name: ByteString::from(record.topic_name),
            payload: Bytes::from(record.payload),
            qos: record.qos.into(),
            retain: record.retain,
            properties: PublishProperties {
                payload_format_indicator: properties.payload_format_indicator,
                response_topic: properties.response_topic.map(ByteString::from),
                correlation_data: properties.correlation_data.map(Bytes::from),
                user_properties: user_properties(properties.user_properties),
                content_type: properties.content_type.map(ByteString::from),
                ..PublishProperties::default()
            }
            .into(),
            expires_at_ms: record
                .expires_at_wall_ms
                .map(|at_wall_ms| from_wall_clock_ms(at_wall_ms, now_ms, wall_clock_ms)),
            publisher: ByteString::from(record.publisher),
        }
    }

    /// The fingerprint a
    /// [`JournalRecord::MessageDelivered`](super::JournalRecord::MessageDelivered)
    /// names this message by.
    pub fn fingerprint(&self) -> u64 {
        message_fingerprint(&self.topic_name, &self.publisher, &self.payload)
    }
}

/// A stored delivery counts what the delivery it restores to counts, so replay
/// fills a queue exactly as the live session did.
impl Queued for DeliveryRecord {
    fn queued_bytes(&self) -> usize {
        queued_bytes_of_record(self)
    }

    fn qos(&self) -> QoS {
        self.qos.into()
    }
}

/// The bytes a stored delivery is accounted at: the formula of the live queue
/// over the stored lengths.
fn queued_bytes_of_record(delivery: &DeliveryRecord) -> usize {
    let message = &delivery.message;
    let properties = &message.properties;
    let user_properties_len: usize = properties
        .user_properties
        .iter()
        .map(|pair| pair.name.len() + pair.value.len())
        .sum();
    accounted_bytes(
        message.payload.len() + message.topic_name.len(),
        properties.response_topic.as_ref().map_or(0, String::len),
        properties.correlation_data.as_ref().map_or(0, Vec::len),
        properties.content_type.as_ref().map_or(0, String::len),
        user_properties_len,
        delivery.subscription_identifiers.len(),
    )
}

pub(super) fn delivery_record(
    publish: &OutboundPublish,
    now_ms: u64,
    wall_clock_ms: u64,
) -> DeliveryRecord {
    DeliveryRecord {
        message: publish.message.to_record(now_ms, wall_clock_ms),
        qos: publish.qos.into(),
        retain: publish.retain,
        subscription_identifiers: publish.subscription_identifiers.to_vec(),
    }
}

pub(super) fn outbound_publish(
    delivery: DeliveryRecord,
    now_ms: u64,
    wall_clock_ms: u64,
) -> OutboundPublish {
    OutboundPublish {
        message: Arc::new(Message::from_record(
            delivery.message,
            now_ms,
            wall_clock_ms,
        )),
        qos: delivery.qos.into(),
        retain: delivery.retain,
        subscription_identifiers: delivery.subscription_identifiers.into_iter().collect(),
    }
}

pub(super) fn user_property_records(user_properties: &UserProperties) -> Vec<UserPropertyRecord> {
    user_properties
        .iter()
        .map(|(name, value)| UserPropertyRecord {
            name: str::to_owned(name),
            value: str::to_owned(value),
        })
        .collect()
}

pub(super) fn user_properties(records: Vec<UserPropertyRecord>) -> UserProperties {
    records
        .into_iter()
        .map(|record| {
            (
                ByteString::from(record.name),
                ByteString::from(record.value),
            )
        })
        .collect()
}
