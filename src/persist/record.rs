//! The journal's record types: one per change to persisted state between two
//! snapshots, each with what replay needs to redo it.
//!
//! Records name sessions by client id and outbound flows by packet id. A record is
//! written by the shard that owns the state it changes (a session's home shard;
//! every shard for retained messages, or one, as the runtime chooses), in the
//! order the changes happened there.
//!
//! ## What the runtime journals, and when
//!
//! A journaled session reports each change of its state as
//! `Action::Journal(change)`; the runtime appends
//! `session.journal_record(&change, ..)` when it runs that action, in order
//! with the session's other actions. The router adds the records only it can
//! make:
//!
//! | change or event | record |
//! | --- | --- |
//! | `Change::Connected` | `SessionConnected` |
//! | `Change::Subscribed` / `Change::Unsubscribed` | `SubscriptionAdded` / `SubscriptionRemoved` |
//! | `Change::Delivered` (a new outbound flow) | `MessageDelivered` |
//! | `Change::PubRecReceived` | `PubRecReceived` |
//! | `Change::Acknowledged` (PUBACK, PUBCOMP, a failed PUBREC) | `Acknowledged` |
//! | `Change::PubRelReceived` | `PubRelReceived` |
//! | `Change::Disconnected` | `SessionDisconnected` |
//! | `Change::WillPublished` (by its delay timer) | `WillPublished` |
//! | `Change::Ended` | `SessionEnded` |
//! | the router delivers a QoS 1/2 message to local journaled sessions | one `MessageAccepted`: `message.to_record(..)`, a `session.delivery_target(..)` per session; `inbound_qos2` from `Action::Publish` |
//! | the retained store changed | `RetainedSet` / `RetainedCleared` |
//!
//! A new snapshot starts a new journal: records refer to state as of the snapshot
//! they follow.

use rkyv::{Archive, Deserialize, Serialize};

use super::schema::{
    MessageRecord, ProtocolVersionRecord, QosRecord, SubscriptionRecord, WillDueRecord, WillRecord,
};

/// One session a message was routed to, with the QoS and flags of that delivery.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct TargetRecord {
    /// The subscriber's client id.
    pub client_id: String,
    /// Delivery QoS, 1 or 2 (QoS 0 deliveries are not journaled).
    pub qos: QosRecord,
    /// RETAIN flag on the wire.
    pub retain: bool,
    /// Subscription Identifiers of every matching subscription.
    pub subscription_identifiers: Vec<u32>,
}

/// An inbound QoS 2 PUBLISH answered with PUBREC: its packet id now awaits PUBREL.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct InboundQos2Record {
    /// The publisher's client id.
    pub client_id: String,
    /// The PUBLISH's packet id.
    pub packet_id: u16,
}

/// One change to persisted state.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum JournalRecord {
    /// A CONNECT was accepted. Without `session_present`, any earlier state of the
    /// client id is replaced by an empty session.
    SessionConnected {
        /// The client id (the assigned one when the client sent none).
        client_id: String,
        /// Whether the stored session was resumed.
        session_present: bool,
        /// Protocol level of the connection.
        protocol_version: ProtocolVersionRecord,
        /// Session Expiry Interval granted, seconds.
        session_expiry_interval_s: u32,
        /// The will of the connection.
        will: Option<WillRecord>,
    },
    /// The connection ended and the session stays: its expiry and will deadlines.
    SessionDisconnected {
        /// The client id.
        client_id: String,
        /// Session Expiry Interval in force (a v5 DISCONNECT may change it), seconds.
        session_expiry_interval_s: u32,
        /// When the session ends, wall clock; `None` never.
        expires_at_wall_ms: Option<u64>,
        /// When the will is due; `None` when no will is pending any more.
        will_due: Option<WillDueRecord>,
    },
    /// The session's will was published (or discarded): it is gone.
    WillPublished {
        /// The client id.
        client_id: String,
    },
    /// The session ended for good.
    SessionEnded {
        /// The client id.
        client_id: String,
    },
    /// A subscription was added or replaced.
    SubscriptionAdded {
        /// The subscriber's client id.
        client_id: String,
        /// The subscription with its granted options.
        subscription: SubscriptionRecord,
    },
    /// A subscription was removed.
    SubscriptionRemoved {
        /// The subscriber's client id.
        client_id: String,
        /// The filter as the client sent it.
        topic_filter: String,
    },
    /// A QoS 1/2 message was accepted and queued for these sessions, in the order
    /// the shard handed it to them.
    MessageAccepted {
        /// The inbound QoS 2 flow it opened on the publisher's session, if that
        /// session lives on the writing shard.
        inbound_qos2: Option<InboundQos2Record>,
        /// The message.
        message: MessageRecord,
        /// The sessions it was queued for, on the writing shard.
        targets: Vec<TargetRecord>,
    },
    /// A queued message went out under a packet id: the flow is in flight. The
    /// message is named by [`message_fingerprint`](super::message_fingerprint), so
    /// its content is journaled once.
    MessageDelivered {
        /// The subscriber's client id.
        client_id: String,
        /// The packet id of the flow.
        packet_id: u16,
        /// Fingerprint of the message's topic, publisher and payload.
        fingerprint: u64,
    },
    /// PUBREC for an outbound QoS 2 flow, answered with PUBREL: PUBCOMP is awaited.
    PubRecReceived {
        /// The subscriber's client id.
        client_id: String,
        /// The packet id of the flow.
        packet_id: u16,
    },
    /// An outbound flow is complete (PUBACK, PUBCOMP, or a PUBREC with a failure code).
    Acknowledged {
        /// The subscriber's client id.
        client_id: String,
        /// The packet id of the flow.
        packet_id: u16,
    },
    /// PUBREL for an inbound QoS 2 flow: the packet id is free again.
    PubRelReceived {
        /// The publisher's client id.
        client_id: String,
        /// The packet id of the flow.
        packet_id: u16,
    },
    /// The retained message of a topic was set (or replaced).
    RetainedSet {
        /// The message, whose topic is the key.
        message: MessageRecord,
    },
    /// The retained message of a topic was cleared.
    RetainedCleared {
        /// The topic.
        topic_name: String,
    },
}

impl JournalRecord {
    /// The kind byte written before the body, so a reader can tell what a record is
    /// without decoding it.
    pub fn kind(&self) -> u8 {
        match self {
            JournalRecord::SessionConnected { .. } => 1,
            JournalRecord::SessionDisconnected { .. } => 2,
            JournalRecord::WillPublished { .. } => 3,
            JournalRecord::SessionEnded { .. } => 4,
            JournalRecord::SubscriptionAdded { .. } => 5,
            JournalRecord::SubscriptionRemoved { .. } => 6,
            JournalRecord::MessageAccepted { .. } => 7,
            JournalRecord::MessageDelivered { .. } => 8,
            JournalRecord::PubRecReceived { .. } => 9,
            JournalRecord::Acknowledged { .. } => 10,
            JournalRecord::PubRelReceived { .. } => 11,
            JournalRecord::RetainedSet { .. } => 12,
            JournalRecord::RetainedCleared { .. } => 13,
        }
    }
}
