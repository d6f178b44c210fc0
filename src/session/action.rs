//! What a session asks the runtime to do: the output of every session call.

use std::sync::Arc;

use bytestring::ByteString;

use super::change::Change;
use super::message::SharedMessage;
use super::violation::Violation;
use crate::protocol::{
    Packet, PacketId, Publish, PublishProperties, PublishRef, QoS, ReasonCode, SubscriptionOptions,
};
use crate::topic::TopicError;

/// The timers a session arms. The runtime keeps at most one of each kind per
/// session: [`Action::ArmTimer`] replaces an armed timer of the same kind.
///
/// A timer that fires late or after its cause went away is harmless: the session
/// checks its own deadlines in [`Session::handle_timer`](super::Session::handle_timer)
/// and ignores (or re-arms) a timer that is not due.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimerKind {
    /// No packet within 1.5 times the Keep Alive: close the connection.
    KeepAlive,
    /// The Will Delay Interval has passed since the connection ended: publish the will.
    WillDelay,
    /// The Session Expiry Interval has passed since the connection ended: end the session.
    SessionExpiry,
}

/// One thing the runtime must do, in the order the session emitted them.
// `Send` and `Deliver` are by far the most common variants and the action Vec is
// reused, so boxing the packet would cost an allocation per packet to save memory
// nobody holds.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Write this packet to the session's connection.
    Send(Packet),
    /// Write this answer to a request of the client (SUBACK, UNSUBACK, PUBREL
    /// to its PUBREC, PUBCOMP to its PUBREL, the PUBACK or PUBREC to a PUBLISH
    /// that was not routed): it tells the client the request's effect is
    /// stored, so where acknowledgements wait for durability (`fsync =
    /// "always"`) it goes out only once every [`Action::Journal`] before it is
    /// on disk.
    Acknowledge(Packet),
    /// Write this PUBLISH of a routed message to the session's connection.
    Deliver(Delivery),
    /// Route this message to the subscribers of its topic, and store or clear it as
    /// the retained message of the topic when `retain` is set.
    Publish {
        /// The message.
        message: SharedMessage,
        /// Set by a journaled session for a QoS 2 PUBLISH from its client: the
        /// message opens the inbound flow of this packet id, which is journaled
        /// in the same record as the message (a restart then answers the
        /// client's resend with PUBREC without routing it again).
        inbound_qos2: Option<PacketId>,
    },
    /// Write this PUBACK or PUBREC (5.0 only), the answer to the PUBLISH that
    /// the [`Action::Publish`] just before it routed: as it is when the message
    /// matched a subscription, with 0x10 (No matching subscribers) when the
    /// router found none. The server MAY say so (3.4.2.1, 3.5.2.1), and it tells
    /// a client that its topic reaches nobody, as Mosquitto does; only the
    /// router knows, so the session leaves the code to it. Waits for
    /// durability as [`Action::Acknowledge`] does.
    AnswerPublish(Packet),
    /// Append the journal record of this change of the session's durable
    /// state (see [`Change`]), before running the actions after it. Only a
    /// journaled session emits it.
    Journal(Change),
    /// Add (or replace) this client's subscription in the trie. When `send_retained`
    /// is set, deliver the retained messages matching `topic_filter` through
    /// [`Session::deliver_retained`](super::Session::deliver_retained). Emitted after
    /// the SUBACK, so the retained messages follow it on the wire.
    Subscribe {
        /// The filter as the client sent it, `$share/{group}/` prefix included.
        topic_filter: ByteString,
        /// The options, with `qos` already lowered to the granted QoS.
        options: SubscriptionOptions,
        /// The v5 Subscription Identifier to report in matching PUBLISHes.
        subscription_identifier: Option<u32>,
        /// Whether the retained messages matching the filter are to be sent now.
        send_retained: bool,
    },
    /// Remove this client's subscription to `topic_filter` from the trie.
    Unsubscribe {
        /// The filter as the client sent it.
        topic_filter: ByteString,
    },
    /// Arm (or re-arm) the session's timer of this kind to fire at `at_ms`.
    ArmTimer {
        /// Which timer.
        timer: TimerKind,
        /// When it fires, on the clock the runtime passes as `now_ms`.
        at_ms: u64,
    },
    /// Disarm the session's timer of this kind, if armed.
    CancelTimer(TimerKind),
    /// Flush what was sent so far, then close the connection. The session already
    /// counts itself disconnected; do not call
    /// [`Session::connection_lost`](super::Session::connection_lost) for it.
    Close {
        /// Why, for the log (any DISCONNECT to the client was sent before).
        reason_code: ReasonCode,
        /// The rule the client broke, when that is why (for the log, at
        /// debug level: a client's error is not the broker's).
        violation: Option<Violation>,
    },
    /// The session is over for good: drop it, its timers and its subscriptions.
    EndSession,
    /// A PUBLISH from the client was not routed, for the runtime to log and
    /// count; nothing else is to be done for it. Whatever answers it (a PUBACK
    /// or PUBREC, a DISCONNECT and [`Action::Close`]) comes with the other
    /// actions.
    PublishRefused(PublishRefusal),
}

/// Why a PUBLISH from the client was not routed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublishRefusal {
    /// Its topic name is not one the session accepts, most often for having
    /// more levels than
    /// [`SessionConfig::max_topic_levels`](super::SessionConfig::max_topic_levels):
    /// the connection is closed with 0x90 (Topic Name invalid).
    TopicNameInvalid(TopicError),
    /// Its topic name is in `$SYS`, which belongs to the broker
    /// ([`crate::topic::system`]): the message is dropped, QoS 1 and 2 are
    /// still acknowledged (with 0x90 under 5.0).
    SysTopic {
        /// The topic name, alias resolved.
        topic_name: ByteString,
    },
    /// The ACL does not let the client publish to its topic name: the
    /// message is dropped; QoS 1 and 2 are still acknowledged, with 0x87
    /// (Not authorized) under 5.0 and as a success under 3.x, as Mosquitto
    /// does. A will refused so is not stored, and its CONNECT is accepted.
    NotAuthorized {
        /// The topic name, alias resolved.
        topic_name: ByteString,
    },
}

/// A PUBLISH of a routed message to one client, holding the shared message
/// rather than handles to its buffers: a message delivered to a thousand
/// subscribers is counted once per delivery, not once per buffer, and the
/// runtime encodes the PUBLISH from it in place ([`Delivery::publish`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The message.
    pub message: SharedMessage,
    /// DUP flag: a resend.
    pub dup: bool,
    /// QoS of this delivery.
    pub qos: QoS,
    /// RETAIN flag on the wire.
    pub retain: bool,
    /// Packet Identifier: `Some` exactly when `qos` is 1 or 2.
    pub packet_id: Option<PacketId>,
    /// False when a Topic Alias the client already knows stands for the
    /// topic name, which is then left empty.
    pub with_topic_name: bool,
    /// The v5 properties of this delivery; `None` when there are none.
    pub properties: Option<Arc<PublishProperties>>,
}

impl Delivery {
    /// The PUBLISH, borrowed from the message.
    pub fn publish(&self) -> PublishRef<'_> {
        PublishRef {
            dup: self.dup,
            qos: self.qos,
            retain: self.retain,
            topic_name: if self.with_topic_name {
                &self.message.topic_name
            } else {
                ""
            },
            packet_id: self.packet_id,
            properties: self.properties.as_deref(),
            payload: &self.message.payload,
        }
    }

    /// The PUBLISH as a packet of its own, sharing the message's buffers.
    pub fn to_packet(&self) -> Publish {
        Publish {
            dup: self.dup,
            qos: self.qos,
            retain: self.retain,
            topic_name: if self.with_topic_name {
                self.message.topic_name.clone()
            } else {
                ByteString::new()
            },
            packet_id: self.packet_id,
            properties: self.properties.clone(),
            payload: self.message.payload.clone(),
        }
    }
}
