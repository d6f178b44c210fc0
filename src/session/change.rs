//! What a journaled session reports of its durable state: one [`Change`] per
//! event a restart must replay, in the order it happened, as
//! [`Action::Journal`](super::Action::Journal).
//!
//! A session is journaled when the runtime keeps a journal
//! ([`SessionConfig::journal`](super::SessionConfig::journal)) and the session
//! has state to keep: a Session Expiry Interval above 0, or it replaced a
//! journaled session (so that what that one stored is ended on disk too). A
//! session restored from disk is journaled. Sessions that are not emit no
//! [`Change`] at all: the common case costs nothing.
//!
//! The session says *what* changed; the persist module turns each change into
//! its journal record ([`Session::journal_record`](super::Session::journal_record)),
//! from the session as it stands when the runtime runs the action.

use bytestring::ByteString;

use crate::protocol::{PacketId, SubscriptionOptions};

/// One change to a journaled session's durable state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// [`Session::connect`](super::Session::connect) accepted the client.
    Connected {
        /// As in the CONNACK: the stored session was resumed.
        session_present: bool,
    },
    /// A new outbound QoS 1/2 flow: the [`Action::Deliver`](super::Action::Deliver)
    /// that follows sends its PUBLISH for the first time.
    Delivered(PacketId),
    /// The client's PUBREC for this outbound QoS 2 flow: PUBREL is due.
    PubRecReceived(PacketId),
    /// The outbound flow of this packet id is complete (PUBACK, PUBCOMP, or a
    /// PUBREC with a failure code).
    Acknowledged(PacketId),
    /// The client's PUBREL released this inbound QoS 2 flow.
    PubRelReceived(PacketId),
    /// A subscription was added or replaced.
    Subscribed {
        /// The filter as the client sent it.
        topic_filter: ByteString,
        /// Its options, QoS granted.
        options: SubscriptionOptions,
        /// Its v5 Subscription Identifier.
        subscription_identifier: Option<u32>,
    },
    /// A subscription was removed.
    Unsubscribed {
        /// The filter as the client sent it.
        topic_filter: ByteString,
    },
    /// The connection ended and the session stays: its expiry and any
    /// delayed will are running.
    Disconnected,
    /// The delayed will was published by its timer.
    WillPublished,
    /// The session is over for good.
    Ended,
}
