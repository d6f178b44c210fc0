//! The on-disk schema of persisted state: the rkyv types of a session, a message and
//! a retained message, shared by snapshots and journal records.
//!
//! These types are the disk format, versioned with
//! [`SNAPSHOT_FORMAT_VERSION`](super::SNAPSHOT_FORMAT_VERSION) and kept apart from the
//! in-memory session types, which may change shape freely: `session::snapshot`
//! converts between the two. Every enum here is closed, so rkyv's validation
//! (`bytecheck`) rejects an unknown QoS, protocol level or flight stage before any
//! conversion runs.
//!
//! Deadlines are wall-clock times (ms since the Unix epoch): the monotonic clock a
//! session runs on starts anew with every process, the wall clock does not.

use rkyv::{Archive, Deserialize, Serialize};

use crate::protocol::{ProtocolVersion, QoS, RetainHandling, SubscriptionOptions};

/// Quality of service, as stored.
#[derive(Archive, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum QosRecord {
    /// QoS 0.
    AtMostOnce,
    /// QoS 1.
    AtLeastOnce,
    /// QoS 2.
    ExactlyOnce,
}

impl From<QoS> for QosRecord {
    fn from(qos: QoS) -> QosRecord {
        match qos {
            QoS::AtMostOnce => QosRecord::AtMostOnce,
            QoS::AtLeastOnce => QosRecord::AtLeastOnce,
            QoS::ExactlyOnce => QosRecord::ExactlyOnce,
        }
    }
}

impl From<QosRecord> for QoS {
    fn from(qos: QosRecord) -> QoS {
        match qos {
            QosRecord::AtMostOnce => QoS::AtMostOnce,
            QosRecord::AtLeastOnce => QoS::AtLeastOnce,
            QosRecord::ExactlyOnce => QoS::ExactlyOnce,
        }
    }
}

/// Protocol level of a session's latest connection, as stored.
#[derive(Archive, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtocolVersionRecord {
    /// MQTT 3.1.
    V3_1,
    /// MQTT 3.1.1.
    V3_1_1,
    /// MQTT 5.0.
    V5,
}

impl From<ProtocolVersion> for ProtocolVersionRecord {
    fn from(protocol_version: ProtocolVersion) -> ProtocolVersionRecord {
        match protocol_version {
            ProtocolVersion::V3_1 => ProtocolVersionRecord::V3_1,
            ProtocolVersion::V3_1_1 => ProtocolVersionRecord::V3_1_1,
            ProtocolVersion::V5 => ProtocolVersionRecord::V5,
        }
    }
}

impl From<ProtocolVersionRecord> for ProtocolVersion {
    fn from(protocol_version: ProtocolVersionRecord) -> ProtocolVersion {
        match protocol_version {
            ProtocolVersionRecord::V3_1 => ProtocolVersion::V3_1,
            ProtocolVersionRecord::V3_1_1 => ProtocolVersion::V3_1_1,
            ProtocolVersionRecord::V5 => ProtocolVersion::V5,
        }
    }
}

/// Retain Handling subscription option, as stored.
#[derive(Archive, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetainHandlingRecord {
    /// Send retained messages at every subscribe.
    SendAtSubscribe,
    /// Send them only for a new subscription.
    SendAtNewSubscribe,
    /// Never send them.
    DoNotSend,
}

impl From<RetainHandling> for RetainHandlingRecord {
    fn from(retain_handling: RetainHandling) -> RetainHandlingRecord {
        match retain_handling {
            RetainHandling::SendAtSubscribe => RetainHandlingRecord::SendAtSubscribe,
            RetainHandling::SendAtNewSubscribe => RetainHandlingRecord::SendAtNewSubscribe,
            RetainHandling::DoNotSend => RetainHandlingRecord::DoNotSend,
        }
    }
}

impl From<RetainHandlingRecord> for RetainHandling {
    fn from(retain_handling: RetainHandlingRecord) -> RetainHandling {
        match retain_handling {
            RetainHandlingRecord::SendAtSubscribe => RetainHandling::SendAtSubscribe,
            RetainHandlingRecord::SendAtNewSubscribe => RetainHandling::SendAtNewSubscribe,
            RetainHandlingRecord::DoNotSend => RetainHandling::DoNotSend,
        }
    }
}

/// One User Property (0x26) pair.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct UserPropertyRecord {
    /// The name.
    pub name: String,
    /// The value.
    pub value: String,
}

/// The v5 properties a routed message carries through to its subscribers. Topic
/// Alias, Subscription Identifiers and Message Expiry Interval are per delivery
/// (or, for the expiry, [`MessageRecord::expires_at_wall_ms`]), so they are not stored.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct MessagePropertiesRecord {
    /// Payload Format Indicator (0x01).
    pub payload_format_indicator: Option<bool>,
    /// Response Topic (0x08).
    pub response_topic: Option<String>,
    /// Correlation Data (0x09).
    pub correlation_data: Option<Vec<u8>>,
    /// User Property (0x26), in order.
    pub user_properties: Vec<UserPropertyRecord>,
    /// Content Type (0x03).
    pub content_type: Option<String>,
}

/// An application message: a queued or inflight delivery's content, or a retained
/// message (a retained snapshot is a list of these, one per topic).
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct MessageRecord {
    /// Topic Name.
    pub topic_name: String,
    /// Application payload.
    pub payload: Vec<u8>,
    /// QoS it was published with.
    pub qos: QosRecord,
    /// RETAIN flag it was published with.
    pub retain: bool,
    /// The properties passed through to subscribers.
    pub properties: MessagePropertiesRecord,
    /// When the message expires, wall clock; `None` never. The remaining Message
    /// Expiry Interval follows from it at each delivery.
    pub expires_at_wall_ms: Option<u64>,
    /// Client identifier of the publisher, for No Local.
    pub publisher: String,
}

/// One message on its way to one client, with the QoS and flags of that delivery.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// The message.
    pub message: MessageRecord,
    /// Delivery QoS.
    pub qos: QosRecord,
    /// RETAIN flag on the wire.
    pub retain: bool,
    /// Subscription Identifiers of every matching subscription.
    pub subscription_identifiers: Vec<u32>,
}

/// Where one outbound QoS 1/2 flow stands.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum FlightStageRecord {
    /// QoS 1 PUBLISH sent, PUBACK awaited.
    AwaitingPubAck(DeliveryRecord),
    /// QoS 2 PUBLISH sent, PUBREC awaited.
    AwaitingPubRec(DeliveryRecord),
    /// QoS 2 PUBREL sent, PUBCOMP awaited.
    AwaitingPubComp,
}

/// One outbound QoS 1/2 flow and its packet id.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct FlightRecord {
    /// Packet Identifier, never 0.
    pub packet_id: u16,
    /// Where the flow stands.
    pub stage: FlightStageRecord,
}

/// One subscription with its granted options.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct SubscriptionRecord {
    /// The filter as the client sent it, `$share/{group}/` prefix included.
    pub topic_filter: String,
    /// Granted QoS.
    pub qos: QosRecord,
    /// No Local.
    pub no_local: bool,
    /// Retain As Published.
    pub retain_as_published: bool,
    /// Retain Handling.
    pub retain_handling: RetainHandlingRecord,
    /// The v5 Subscription Identifier.
    pub subscription_identifier: Option<u32>,
}

impl SubscriptionRecord {
    /// The record of a subscription to `topic_filter` with its granted `options`,
    /// as [`Action::Subscribe`](crate::session::Action::Subscribe) carries them.
    pub fn new(
        topic_filter: &str,
        options: SubscriptionOptions,
        subscription_identifier: Option<u32>,
    ) -> SubscriptionRecord {
        SubscriptionRecord {
            topic_filter: topic_filter.to_owned(),
            qos: options.qos.into(),
            no_local: options.no_local,
            retain_as_published: options.retain_as_published,
            retain_handling: options.retain_handling.into(),
            subscription_identifier,
        }
    }

    /// The granted options.
    pub fn options(&self) -> SubscriptionOptions {
        SubscriptionOptions {
            qos: self.qos.into(),
            no_local: self.no_local,
            retain_as_published: self.retain_as_published,
            retain_handling: self.retain_handling.into(),
        }
    }
}

/// The will of a session's latest connection, with its v5 properties.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct WillRecord {
    /// Will Topic.
    pub topic_name: String,
    /// Will Payload.
    pub payload: Vec<u8>,
    /// Will QoS.
    pub qos: QosRecord,
    /// Will Retain.
    pub retain: bool,
    /// Will Delay Interval (0x18), seconds.
    pub will_delay_interval_s: Option<u32>,
    /// Payload Format Indicator (0x01).
    pub payload_format_indicator: Option<bool>,
    /// Message Expiry Interval (0x02), seconds, counted from the will's publication.
    pub message_expiry_interval_s: Option<u32>,
    /// Content Type (0x03).
    pub content_type: Option<String>,
    /// Response Topic (0x08).
    pub response_topic: Option<String>,
    /// Correlation Data (0x09).
    pub correlation_data: Option<Vec<u8>>,
    /// User Property (0x26), in order.
    pub user_properties: Vec<UserPropertyRecord>,
}

/// When a pending will is published.
#[derive(Archive, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum WillDueRecord {
    /// At this wall-clock time, ms since the Unix epoch.
    At(u64),
    /// When the session ends (its Will Delay Interval is not shorter than its
    /// Session Expiry Interval).
    WithSessionEnd,
}

/// Counters of messages a session dropped instead of delivering.
#[derive(Archive, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionStatsRecord {
    /// QoS 0 messages dropped because the queue was full.
    pub dropped_qos0: u64,
    /// QoS 1/2 messages dropped because the queue was full.
    pub dropped_queue_full: u64,
    /// Messages dropped because they exceeded the client's Maximum Packet Size.
    pub dropped_too_large: u64,
    /// Messages dropped because they expired before delivery started.
    pub dropped_expired: u64,
    /// QoS 0 messages not queued because the client was offline.
    pub dropped_qos0_offline: u64,
}

/// Everything of one session that outlives its connections.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct SessionSnapshot {
    /// The client identifier.
    pub client_id: String,
    /// Protocol level of the latest connection.
    pub protocol_version: ProtocolVersionRecord,
    /// Session Expiry Interval in force, seconds; `u32::MAX` never expires.
    pub session_expiry_interval_s: u32,
    /// Whether a connection was attached when this was written. The connection is
    /// gone after a restart, so a restore ends it as a lost connection; for a
    /// session whose client was away, `expires_at_wall_ms` minus the expiry
    /// interval is when it was last connected.
    pub connected: bool,
    /// When the session ends, wall clock, while no connection is attached.
    pub expires_at_wall_ms: Option<u64>,
    /// The subscriptions, in no particular order.
    pub subscriptions: Vec<SubscriptionRecord>,
    /// Outbound QoS 1/2 flows, in the order they started (the resend order).
    pub inflight: Vec<FlightRecord>,
    /// The packet id handed out last, so new flows continue after it.
    pub last_packet_id: u16,
    /// Messages waiting for the inflight window or the client's return, in order.
    pub queue: Vec<DeliveryRecord>,
    /// Inbound QoS 2 packet ids answered with PUBREC and awaiting PUBREL, ascending.
    pub awaiting_pubrel: Vec<u16>,
    /// The will of the latest connection, until published or discarded.
    pub will: Option<WillRecord>,
    /// When the will is due, once its connection ended.
    pub will_due: Option<WillDueRecord>,
    /// Drop counters.
    pub stats: SessionStatsRecord,
}
