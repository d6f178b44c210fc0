//! [`SessionMeters`]: what the sessions of one shard count together, beside
//! their [`SessionConfig`](super::SessionConfig), which holds settings alone.

use std::sync::Arc;

use super::gauge::Gauge;
use super::state::DropTally;
use crate::counter::Counter;

/// The counts the sessions of one shard keep together: runtime state, one set
/// per shard, made by the runtime when the shard starts and passed with the
/// configuration wherever a session is made
/// ([`Session::connect`](super::Session::connect),
/// [`Session::from_snapshot`](super::Session::from_snapshot)). The session
/// keeps a handle beside its configuration. Every session of a shard must be
/// given the same meters: the budgets they enforce are the shard's.
#[derive(Debug, Default)]
pub struct SessionMeters {
    /// Outbound QoS 1/2 flows open across the connected sessions, held to
    /// [`SessionConfig::outbound_inflight_shard_budget`](super::SessionConfig::outbound_inflight_shard_budget):
    /// past it, a session with more than `limits::OUTBOUND_INFLIGHT_GUARANTEED`
    /// in flight queues the next ones until its own acknowledgements come back.
    pub inflight_gauge: Arc<Gauge>,
    /// Bytes queued (as `session::queue::queued_bytes` counts them) by the
    /// sessions whose client is connected and keeps reading: the shard's
    /// delivery backlog, which the runtime holds within its budget by pausing
    /// publishers. Their queues are not held to
    /// [`SessionConfig::max_queued_messages`](super::SessionConfig::max_queued_messages)
    /// and [`SessionConfig::max_queued_bytes`](super::SessionConfig::max_queued_bytes)
    /// for QoS 1/2 messages; an offline session's, or a stalled subscriber's
    /// ([`Session::subscriber_stalled`](super::Session::subscriber_stalled)),
    /// are, and count here no more.
    pub delivery_gauge: Arc<Gauge>,
    /// Where the sessions count what they drop, on top of their own
    /// [`SessionStats`](super::SessionStats).
    pub drop_tally: Arc<DropTally>,
    /// Where the sessions count what the ACL refused them.
    pub acl_denials: Arc<AclDenials>,
}

/// What the ACL refused the sessions counting on it, by kind: written from
/// the one thread its sessions run on, read from any.
#[derive(Debug, Default)]
pub struct AclDenials {
    /// SUBSCRIBE filters refused (SUBACK 0x87, or 0x80 under 3.x).
    pub subscribe: Counter,
    /// PUBLISHes not routed (and wills not stored).
    pub publish: Counter,
    /// Messages not delivered to a subscriber that may not read their topic.
    pub read: Counter,
}

impl SessionMeters {
    /// Fresh gauges, with drops counted on `drop_tally` (one the runtime
    /// reads, e.g. for its statistics).
    pub fn with_drop_tally(drop_tally: Arc<DropTally>) -> SessionMeters {
        SessionMeters {
            drop_tally,
            ..SessionMeters::default()
        }
    }

    /// As [`SessionMeters::with_drop_tally`], with ACL refusals counted on
    /// `acl_denials`.
    pub fn with_tallies(drop_tally: Arc<DropTally>, acl_denials: Arc<AclDenials>) -> SessionMeters {
        SessionMeters {
            drop_tally,
            acl_denials,
            ..SessionMeters::default()
        }
    }
}
