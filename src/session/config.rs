//! The server-side settings one session obeys, with defaults from [`crate::limits`].

use std::sync::Arc;

use bytestring::ByteString;

use crate::auth::Acl;
use crate::limits;
use crate::protocol::QoS;

/// What a session does with a message that finds its queue full (by count or by
/// bytes). Either way the message dropped is counted in
/// [`SessionStats`](super::SessionStats).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum QueueFullPolicy {
    /// Drop the arriving message: what was queued first goes out first, and the
    /// client never sees a hole inside what it receives. Mosquitto's behaviour.
    #[default]
    DropNewest,
    /// Evict the oldest queued messages until the arriving one fits: the client gets
    /// the latest state when it returns. A message already in flight is never evicted.
    DropOldest,
}

/// Server-side settings of a session, and nothing else: what the sessions of a
/// shard count together is in [`SessionMeters`](super::SessionMeters). The
/// runtime builds one from its configuration and passes it to
/// [`Session::connect`](super::Session::connect); the session keeps a copy, so
/// a changed configuration applies from the next CONNECT on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    /// Our Receive Maximum: inbound QoS 2 PUBLISHes awaiting PUBREL, at most. One more
    /// ends the connection with 0x93 (Receive Maximum exceeded). Sent in CONNACK (v5).
    pub receive_maximum: u16,
    /// Our Maximum Packet Size, bytes. Sent in CONNACK (v5); the codec enforces it.
    pub maximum_packet_size: u32,
    /// Our Topic Alias Maximum: inbound aliases per connection. Sent in CONNACK (v5).
    pub topic_alias_maximum: u16,
    /// Outbound topic aliases we assign per connection, at most; the client's Topic
    /// Alias Maximum lowers it. 0 turns outbound aliases off.
    pub outbound_topic_alias_maximum: u16,
    /// Outbound QoS 1/2 PUBLISHes in flight, at most; the client's Receive Maximum
    /// lowers it.
    pub outbound_inflight_maximum: u16,
    /// Outbound QoS 1/2 PUBLISHes in flight across the connected sessions of
    /// a shard (on [`SessionMeters::inflight_gauge`](super::SessionMeters::inflight_gauge)),
    /// past which a session with more than `limits::OUTBOUND_INFLIGHT_GUARANTEED`
    /// in flight queues the next ones until its own acknowledgements come back.
    pub outbound_inflight_shard_budget: usize,
    /// Highest QoS we accept in PUBLISH and grant in SUBACK.
    pub maximum_qos: QoS,
    /// Whether retained messages are supported. A PUBLISH with RETAIN when they are
    /// not ends the connection with 0x9A (Retain not supported).
    pub retain_available: bool,
    /// Messages queued per session while its client is offline or stalled
    /// (see [`SessionMeters::delivery_gauge`](super::SessionMeters::delivery_gauge));
    /// QoS 0 messages also while it is connected.
    pub max_queued_messages: usize,
    /// Bytes queued per session, as `session::queue::queued_bytes` estimates them,
    /// under the same conditions as `max_queued_messages`
    /// (payload, topic name and variable-length properties of each message).
    pub max_queued_bytes: usize,
    /// Whether QoS 0 messages are queued for a client that is offline. Off by
    /// default, like Mosquitto's `queue_qos0_messages`: QoS 0 promises no delivery,
    /// and holding it for absent clients is what fills queues. A connected client's
    /// QoS 0 goes out at once; QoS 0 still queued when a connection ends (left
    /// behind QoS 1/2 messages waiting for the inflight window since the client
    /// resumed) is dropped then, unless this is on.
    pub queue_qos0: bool,
    /// What a message that finds the queue full does.
    pub queue_full_policy: QueueFullPolicy,
    /// Whether a PUBLISH (or will) with Payload Format Indicator 1 must carry valid
    /// UTF-8 (3.3.2.3.2): if not, a QoS 1/2 PUBLISH is answered with 0x99 (Payload
    /// format invalid) and not routed, a QoS 0 one ends the connection with 0x99,
    /// and a CONNECT with such a will is refused with 0x99.
    pub validate_payload_format: bool,
    /// Response Information sent in CONNACK to a v5 client asking for it (Request
    /// Response Information 1), as the basis of its response topics; `None` never
    /// sends any, which the specification allows.
    pub response_information: Option<ByteString>,
    /// Subscriptions per session, at most; more are refused with 0x97 (Quota exceeded).
    pub max_subscriptions: usize,
    /// Levels a topic name in a PUBLISH, or a filter in a SUBSCRIBE (without
    /// its `$share/{group}/` prefix), may have: 1 to
    /// [`limits::TOPIC_LEVELS_MAX`]. A deeper topic name ends the connection
    /// with 0x90 (Topic Name invalid), a deeper filter is refused with 0x8F
    /// (Topic Filter invalid) or 0x80 (3.x). UNSUBSCRIBE is not held to it, so
    /// that a subscription made under a higher bound can always be removed.
    pub max_topic_levels: usize,
    /// Longest Session Expiry Interval granted, seconds. A longer request (or a 3.1.1
    /// Clean Session 0, which means "never") is lowered to it.
    pub session_expiry_interval_max_s: u32,
    /// Keep Alive imposed on every v5 client when set, seconds (sent as Server Keep
    /// Alive). 3.x clients cannot be told, so they keep their own.
    pub server_keep_alive_s: Option<u16>,
    /// Longest Keep Alive accepted, seconds. A longer one from a v5 client (or
    /// 0, "off", when this is below `u16::MAX`) is lowered to it and sent as
    /// Server Keep Alive; a 3.x client, which cannot be told, asking for more
    /// is refused with 0x85 (return code 2, identifier rejected), as
    /// Mosquitto refuses it.
    pub keep_alive_max_s: u16,
    /// Whether the runtime keeps a journal: sessions with state to keep then
    /// report its changes ([`Action::Journal`](super::Action::Journal), see
    /// [`Change`](super::Change)). Off by default.
    pub journal: bool,
    /// The compiled ACL file, when one is configured: SUBSCRIBE filters,
    /// PUBLISHes and deliveries are checked against it for the session's
    /// user (see [`crate::auth::acl`]); `None` allows everything. Replacing
    /// the `Arc` (a reloaded file) applies from the next CONNECT on.
    pub acl: Option<Arc<Acl>>,
}

impl Default for SessionConfig {
    fn default() -> SessionConfig {
        SessionConfig {
            receive_maximum: limits::RECEIVE_MAXIMUM_DEFAULT,
            maximum_packet_size: limits::MAXIMUM_PACKET_SIZE_DEFAULT,
            topic_alias_maximum: limits::TOPIC_ALIAS_MAXIMUM_DEFAULT,
            outbound_topic_alias_maximum: limits::OUTBOUND_TOPIC_ALIAS_MAX_DEFAULT,
            outbound_inflight_maximum: limits::OUTBOUND_INFLIGHT_MAX_DEFAULT,
            outbound_inflight_shard_budget: limits::OUTBOUND_INFLIGHT_SHARD_BUDGET_DEFAULT,
            maximum_qos: QoS::ExactlyOnce,
            retain_available: true,
            max_queued_messages: limits::QUEUED_MESSAGES_MAX_DEFAULT,
            max_queued_bytes: limits::QUEUED_BYTES_MAX_DEFAULT,
            queue_qos0: false,
            queue_full_policy: QueueFullPolicy::DropNewest,
            validate_payload_format: true,
            response_information: None,
            max_subscriptions: limits::SUBSCRIPTIONS_PER_SESSION_MAX_DEFAULT,
            max_topic_levels: limits::TOPIC_LEVELS_MAX_DEFAULT,
            session_expiry_interval_max_s: limits::SESSION_EXPIRY_INTERVAL_MAX_S_DEFAULT,
            server_keep_alive_s: None,
            keep_alive_max_s: limits::KEEP_ALIVE_MAX_S_DEFAULT,
            journal: false,
            acl: None,
        }
    }
}
