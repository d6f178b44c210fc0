//! What a session asks the runtime to do: the output of every session call.

use bytestring::ByteString;

use super::message::SharedMessage;
use crate::protocol::{Packet, ReasonCode, SubscriptionOptions};

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
// `Send` is by far the most common variant and the action Vec is reused, so boxing
// the packet would cost an allocation per packet to save memory nobody holds.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Write this packet to the session's connection.
    Send(Packet),
    /// Route this message to the subscribers of its topic, and store or clear it as
    /// the retained message of the topic when `retain` is set.
    Publish(SharedMessage),
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
    },
    /// The session is over for good: drop it, its timers and its subscriptions.
    EndSession,
}
