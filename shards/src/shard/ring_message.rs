//! What crosses the rings between shards: one enum, so that each shard's
//! changes (subscriptions, retained updates, hand-offs, publishes) arrive in
//! the order it made them.

use bytestring::ByteString;
use shardmq::retained::Stamp;
use shardmq::session::SharedMessage;

use super::connect_read::HandOff;
use super::router::SharedTarget;

/// One message on a ring between two shards.
#[derive(Debug)]
pub enum ShardMessage {
    /// A published message to deliver on the receiving shard.
    Publish {
        /// The message, shared by every shard and subscriber.
        message: SharedMessage,
        /// Deliver to the receiving shard's non-shared subscribers.
        plain: bool,
        /// Share groups the sending shard picked the receiving shard for.
        share_groups: Vec<SharedTarget>,
    },
    /// Shard `from` now has (or no longer has) local subscribers on `topic_filter`
    /// (`$share/{group}/{filter}` form for a share group).
    Subscription {
        /// The shard whose subscribers changed.
        from: usize,
        /// The filter as subscribed.
        topic_filter: ByteString,
        /// True for "has", false for "no longer has".
        subscribed: bool,
    },
    /// A retained message to store, or to clear when its payload is empty.
    Retained {
        /// The retained message, or an empty payload for a clear.
        message: SharedMessage,
        /// Its place in the order every replica applies updates of its topic in.
        stamp: Stamp,
    },
    /// A connection moving to its home shard.
    HandOff(Box<HandOff>),
    /// Everything shard `from` sent before this is applied once it is read:
    /// answer with [`ShardMessage::BarrierPassed`].
    Barrier {
        /// The shard waiting.
        from: usize,
        /// Its barrier number.
        token: u64,
    },
    /// Like [`ShardMessage::Barrier`], answered once what shard `from` sent before
    /// is also durable in this shard's journal.
    DurableBarrier {
        /// The shard waiting.
        from: usize,
        /// Its barrier number.
        token: u64,
    },
    /// Shard `from`'s delivery backlog went over its budget (`over`) or back
    /// within it: its publishers and this shard's pause or resume (see
    /// [`super::flow`]).
    DeliveryBacklog {
        /// The shard whose backlog changed.
        from: usize,
        /// True for over budget.
        over: bool,
    },
    /// The answer to [`ShardMessage::Barrier`] and [`ShardMessage::DurableBarrier`].
    BarrierPassed {
        /// The barrier number.
        token: u64,
    },
}

impl crate::ring::RingItem for ShardMessage {
    fn may_wait(&self) -> bool {
        matches!(
            self,
            ShardMessage::Publish { .. } | ShardMessage::Retained { .. }
        )
    }
}
