//! The per-client session state machine.
//!
//! A [`Session`] is plain data driven by three inputs, each with the current time
//! passed in by the runtime (`now_ms`, any monotonic millisecond clock):
//!
//! - a decoded packet from the client ([`Session::handle_packet`]),
//! - a timer it armed firing ([`Session::handle_timer`]),
//! - a message the trie routed to it ([`Session::deliver`], [`Session::deliver_retained`]),
//!
//! plus the lifecycle calls [`Session::connect`], [`Session::connection_lost`],
//! [`Session::taken_over`] and [`Session::close`], and the flow-control calls
//! [`Session::subscriber_stalled`] and [`Session::subscriber_progressed`].
//! Every output is an [`Action`] pushed onto a `Vec` the
//! caller owns and reuses, run by the runtime in order.
//!
//! ## The runtime's side, in short
//!
//! Per shard, build one [`SessionConfig`] (settings) and one [`SessionMeters`]
//! (the counts its sessions keep together), and pass both wherever a session is
//! made: [`Session::connect`], [`Session::from_snapshot`]. Then:
//!
//! 1. Decode CONNECT. If [`needs_assigned_client_id`], generate a unique id (it
//!    picks the home shard). On the home shard, take the stored session of that
//!    client id; if it is connected, call [`Session::taken_over`] on it and run
//!    those actions against the *old* connection. Then call [`Session::connect`].
//! 2. Feed every further packet of the connection to [`Session::handle_packet`].
//! 3. Deliver routed messages with [`Session::deliver`] (or first ask
//!    [`Session::deliver_plain`] whether the shared QoS 0 PUBLISH will do);
//!    after an [`Action::Subscribe`] with `send_retained`, the matching retained
//!    messages with [`Session::deliver_retained`]. Every delivery a session
//!    emits is written to its connection: the session holds nothing back for
//!    a full write buffer; the runtime's flow control (5.) does.
//! 4. When a packet fails to decode, end the connection as the codec error
//!    says (DISCONNECT with its reason code under 5.0) and call
//!    [`Session::connection_lost`], or call [`Session::close`] with that reason
//!    code, which does both. When the socket closes without an
//!    [`Action::Close`], call [`Session::connection_lost`]. Keep the
//!    disconnected session (and run its timers) until [`Action::EndSession`].
//! 5. Watch [`SessionMeters::delivery_gauge`]: the bytes queued for connected,
//!    reading clients, which are not held to the per-session bounds. Slow the
//!    publishers while it is high. When a connected client with a backlog
//!    ([`Session::holds_backlog`]) makes no progress for a while, call
//!    [`Session::subscriber_stalled`] (and [`Session::subscriber_progressed`]
//!    once it does again): its queue then keeps to the per-session bounds.
//! 6. Every [`QUEUE_PURGE_INTERVAL_MS`](crate::limits::QUEUE_PURGE_INTERVAL_MS),
//!    call [`Session::purge_expired`] on every stored session, connected or not, so
//!    expired messages queued for clients that stay away are freed.
//!
//! ## Files
//!
//! - `config`: [`SessionConfig`], settings only. `action`: [`Action`], [`TimerKind`].
//! - `message`: [`Message`], [`SubscriptionMatch`].
//! - `state`: the plain structs a session is made of (what a snapshot holds).
//! - `connect`: CONNECT, CONNACK, resume and clean start.
//! - `lifecycle`: DISCONNECT, keep-alive, will, session expiry, protocol errors.
//! - `violation`: [`Violation`], the rule a client broke, for the log.
//! - `inbound`: PUBLISH from the client, QoS 1/2 acknowledgements, Receive Maximum.
//! - `outbound`, `inflight`: messages to the client, the inflight window.
//! - `queue`: the queue behind the window, its bounds, policies and expiry purge.
//! - `meters`: [`SessionMeters`], what the sessions of a shard count together
//!   (`gauge`: [`Gauge`], one such count).
//! - `alias`: topic aliases both ways. `subscriptions`: SUBSCRIBE and UNSUBSCRIBE.
//! - `restore`: a session rebuilt from stored state, and the timers a restore arms.
//!   The persisted schema is not known here: the persist module converts a
//!   session to and from it ([`Session::to_snapshot`], [`Session::from_snapshot`],
//!   [`Session::journal_record`]), through the crate-private state below.

mod action;
mod alias;
mod change;
mod config;
mod connect;
mod gauge;
mod inbound;
mod inflight;
mod lifecycle;
mod message;
mod meters;
mod outbound;
mod queue;
mod restore;
mod state;
mod subscriptions;
#[cfg(test)]
mod tests;
mod violation;

pub use action::{Action, Delivery, PublishRefusal, TimerKind};
pub use change::Change;
pub use config::{QueueFullPolicy, SessionConfig};
pub use connect::{
    needs_assigned_client_id, refuse_connect, refuse_unauthenticated, ConnectOutcome,
};
pub use gauge::Gauge;
pub use message::{Message, MessageProperties, SharedMessage, SubscriptionMatch};
pub use meters::{AclDenials, SessionMeters};
pub use outbound::PlainDelivery;
pub use queue::QueueBounds;
pub use restore::RestoreError;
pub use state::{DropTally, SessionStats};
pub use violation::Violation;
// The parts persist converts to and from its schema, and what replay rebuilds
// a queue with; nothing else of the crate reaches into them.
pub(crate) use inflight::{Flight, FlightStage, OutboundInflight};
pub(crate) use outbound::OutboundPublish;
pub(crate) use queue::{accounted_bytes, count_dropped_full, BoundedQueue, OutboundQueue, Queued};
pub(crate) use state::{DropCounters, SessionState, SubscriptionRecord};

use std::sync::Arc;

use bytestring::ByteString;

use crate::auth::{AclAccess, AclSubject};
use crate::protocol::{Packet, ProtocolVersion, SubscriptionOptions};
use state::{ConnectionState, DropField};

/// One client's session: what outlives its connections (subscriptions, unfinished
/// QoS flows, queued messages, will, expiry) and, while connected, the state of
/// the current connection.
#[derive(Clone, Debug)]
pub struct Session {
    /// Shared by every session of a shard: one copy, not one per session.
    config: Arc<SessionConfig>,
    /// The shard's counts, shared like `config`.
    meters: Arc<SessionMeters>,
    state: SessionState,
    /// Boxed: an offline session, often the most common kind, holds none.
    connection: Option<Box<ConnectionState>>,
    /// Reports its changes to the journal (see [`Change`]).
    journaled: bool,
    /// Who the session belongs to, for ACL checks and takeovers.
    owner: SessionOwner,
}

/// The user a session belongs to. Not stored with the session: one restored
/// from disk is [`SessionOwner::Unknown`] until its client connects again,
/// and is checked against the ACL as anonymous meanwhile.
#[derive(Clone, Debug, PartialEq, Eq)]
enum SessionOwner {
    /// Restored, its client not back yet.
    Unknown,
    /// Connected in this run as this user (`None`: anonymous).
    User(Option<ByteString>),
}

impl SessionOwner {
    fn username(&self) -> Option<&str> {
        match self {
            SessionOwner::User(username) => username.as_deref(),
            SessionOwner::Unknown => None,
        }
    }
}

impl Session {
    /// True when the session reports its changes to the journal (see [`Change`]).
    pub fn is_journaled(&self) -> bool {
        self.journaled
    }

    /// Reports the change `change` makes, when the session is journaled.
    fn journal(&self, change: impl FnOnce() -> Change, actions: &mut Vec<Action>) {
        if self.journaled {
            actions.push(Action::Journal(change()));
        }
    }

    /// A packet decoded from this session's connection, received at `now_ms`.
    ///
    /// Packets arriving after the session closed its connection (still buffered
    /// when the runtime ran [`Action::Close`]) are ignored.
    pub fn handle_packet(&mut self, packet: Packet, now_ms: u64, actions: &mut Vec<Action>) {
        let Some(connection) = self.connection.as_mut() else {
            return;
        };
        connection.last_packet_ms = now_ms;
        match packet {
            Packet::Publish(publish) => self.handle_publish(publish, now_ms, actions),
            Packet::PubAck(response) => self.handle_puback(response, now_ms, actions),
            Packet::PubRec(response) => self.handle_pubrec(response, now_ms, actions),
            Packet::PubRel(response) => self.handle_pubrel(response, actions),
            Packet::PubComp(response) => self.handle_pubcomp(response, now_ms, actions),
            Packet::Subscribe(subscribe) => self.handle_subscribe(subscribe, now_ms, actions),
            Packet::Unsubscribe(unsubscribe) => self.handle_unsubscribe(unsubscribe, actions),
            Packet::PingReq => actions.push(Action::Send(Packet::PingResp)),
            Packet::Disconnect(disconnect) => self.handle_disconnect(disconnect, now_ms, actions),
            Packet::Connect(_) => {
                self.protocol_violation(Violation::SecondConnect, now_ms, actions)
            }
            Packet::ConnAck(_) | Packet::SubAck(_) | Packet::UnsubAck(_) | Packet::PingResp => {
                self.protocol_violation(Violation::ServerOnlyPacket, now_ms, actions)
            }
            // AUTH needs an Authentication Method, which we never accept in CONNECT.
            Packet::Auth(_) => {
                self.protocol_violation(Violation::AuthWithoutAuthenticationMethod, now_ms, actions)
            }
        }
    }

    /// A timer this session armed fired at `now_ms`. A timer that is not due (its
    /// deadline moved, or its cause went away) is re-armed or ignored.
    pub fn handle_timer(&mut self, timer: TimerKind, now_ms: u64, actions: &mut Vec<Action>) {
        match timer {
            TimerKind::KeepAlive => self.keep_alive_timer(now_ms, actions),
            TimerKind::WillDelay => self.will_delay_timer(now_ms, actions),
            TimerKind::SessionExpiry => self.session_expiry_timer(now_ms, actions),
        }
    }

    /// Everything that outlives a connection, read-only: what a snapshot and
    /// a journal record are made of.
    pub(crate) fn state(&self) -> &SessionState {
        &self.state
    }

    /// True while a network connection is attached.
    pub fn is_connected(&self) -> bool {
        self.connection.is_some()
    }

    /// The client identifier (the assigned one when the client sent none).
    pub fn client_id(&self) -> &ByteString {
        &self.state.client_id
    }

    /// The user name the session's latest connection authenticated as
    /// (`None`: anonymous, or a session restored from disk whose client has
    /// not connected since).
    pub fn username(&self) -> Option<&str> {
        self.owner.username()
    }

    /// True when a client authenticated as `username` may take this session
    /// over: the same user, or a session restored from disk, whose user is
    /// not known.
    pub fn may_be_taken_over_by(&self, username: Option<&str>) -> bool {
        match &self.owner {
            SessionOwner::User(owner) => owner.as_deref() == username,
            SessionOwner::Unknown => true,
        }
    }

    /// The subject of this session's ACL checks.
    fn acl_subject(&self) -> AclSubject<'_> {
        AclSubject {
            username: self.username(),
            client_id: &self.state.client_id,
        }
    }

    /// True when the ACL (if any) lets this session `access` `topic_name`;
    /// a refusal is counted.
    pub(crate) fn acl_allows(&self, access: AclAccess, topic_name: &str) -> bool {
        let Some(acl) = self.config.acl.as_deref() else {
            return true;
        };
        let allowed = acl.check(&self.acl_subject(), access, topic_name);
        if !allowed {
            let denials = &self.meters.acl_denials;
            match access {
                AclAccess::Read => denials.read.add(1),
                AclAccess::Write => denials.publish.add(1),
            }
        }
        allowed
    }

    /// True when the ACL (if any) lets this session subscribe to
    /// `topic_filter`; a refusal is counted.
    pub(crate) fn acl_allows_subscribe(&self, topic_filter: &str) -> bool {
        let Some(acl) = self.config.acl.as_deref() else {
            return true;
        };
        let allowed = acl.check_subscribe(&self.acl_subject(), topic_filter);
        if !allowed {
            self.meters.acl_denials.subscribe.add(1);
        }
        allowed
    }

    /// Protocol level of the latest connection.
    pub fn protocol_version(&self) -> ProtocolVersion {
        self.state.protocol_version
    }

    /// Messages dropped instead of delivered, by cause.
    pub fn stats(&self) -> SessionStats {
        self.state.stats.get()
    }

    /// Outbound QoS 1/2 flows awaiting acknowledgement.
    pub fn inflight_len(&self) -> usize {
        self.state.inflight.len()
    }

    /// Messages queued behind the inflight window or for the client's return.
    pub fn queued_len(&self) -> usize {
        self.state.queue.len()
    }

    /// Bytes queued, counted as against [`SessionConfig::max_queued_bytes`]: payload,
    /// topic name and variable-length properties of each queued message.
    pub fn queued_bytes(&self) -> usize {
        self.state.queue.bytes()
    }

    /// Removes the queued messages expired at `now_ms`, frees them and counts them
    /// in [`SessionStats::dropped_expired`]; returns how many.
    ///
    /// Queues already drop expired messages whenever a message is queued or sent;
    /// this is for the sessions nothing touches, offline ones above all. The runtime
    /// calls it on every session of a shard every
    /// [`QUEUE_PURGE_INTERVAL_MS`](crate::limits::QUEUE_PURGE_INTERVAL_MS): it costs
    /// one comparison on a queue where nothing can have expired. It emits no action
    /// and never touches a message in flight.
    pub fn purge_expired(&mut self, now_ms: u64) -> usize {
        let purged = self.state.queue.purge_expired(now_ms);
        self.count_dropped(purged as u64, |stats| &mut stats.dropped_expired);
        purged
    }

    /// Counts `count` messages dropped, in the session's own counters and on
    /// the broker's tally.
    pub(crate) fn count_dropped(&mut self, count: u64, field: DropField) {
        self.state.stats.add(count, field, &self.meters.drop_tally);
    }

    /// The subscriptions with their granted options and Subscription Identifier,
    /// e.g. to rebuild the trie from a loaded snapshot.
    pub fn subscriptions(
        &self,
    ) -> impl Iterator<Item = (&ByteString, SubscriptionOptions, Option<u32>)> + '_ {
        self.state
            .subscriptions
            .iter()
            .map(|(topic_filter, record)| {
                (topic_filter, record.options, record.subscription_identifier)
            })
    }
}
