//! Routing on the shard: a message published here or forwarded from another
//! shard goes where the router says (see [`super::router`]), ring messages
//! from the other shards are applied, and subscription transitions are sent
//! to them.

use std::rc::Rc;

use bytestring::ByteString;
use shardmq::limits;
use shardmq::persist::InboundQos2Record;
use shardmq::session::{SharedMessage, SubscriptionMatch};

use super::router::{Routes, SharedTarget};
use super::store::SessionKey;
use super::{Connection, Shard, ShardMessage};

impl Shard {
    /// Routes a message a local session published (or a will); stores it as
    /// the retained message of its topic first when it is one.
    ///
    /// True when the message matched a subscription (see [`Routes::matched`]).
    pub(super) fn publish(
        &self,
        message: SharedMessage,
        inbound_qos2: Option<InboundQos2Record>,
    ) -> bool {
        if message.retain {
            self.retain(&message);
        }
        let mut routes = self.router.route_publish(&message.topic_name);
        let matched = routes.matched(self.index);
        routes.for_each_forward(self.index, |shard, plain, share_groups| {
            self.note_forwarded(shard, &message);
            self.mesh.push(
                shard,
                ShardMessage::Publish {
                    message: SharedMessage::clone(&message),
                    plain,
                    share_groups,
                },
            );
        });
        self.deliver_local(&message, &mut routes, inbound_qos2);
        self.router.done(routes);
        matched
    }

    /// Stores a retained message published here and, when it took, tells the
    /// other shards, the journal and the publisher's barrier.
    fn retain(&self, message: &SharedMessage) {
        // Kept for long and by every shard: one copy of its own, pinning no
        // read buffer.
        let retained = SharedMessage::new(message.detached());
        let Some(stamp) = self.router.retain(&retained, self.now_ms()) else {
            return;
        };
        self.journal_retained(&retained);
        self.mesh.broadcast_with(|| ShardMessage::Retained {
            message: SharedMessage::clone(&retained),
            stamp,
        });
        self.replication.note_retained_changed();
    }

    /// Delivers to the local sessions of `routes`, once per session with all
    /// its matching subscriptions. `inbound_qos2`: the flow the publisher's
    /// session opened, for the journal.
    fn deliver_local(
        &self,
        message: &SharedMessage,
        routes: &mut Routes,
        inbound_qos2: Option<InboundQos2Record>,
    ) {
        self.journal_accepted(message, routes.local(), inbound_qos2);
        if routes.local_len() == 0 {
            return;
        }
        let now_ms = self.now_ms();
        routes.for_each_session(|key, matched| self.deliver(key, message, matched, now_ms));
    }

    /// Applies one message from shard `from`'s ring.
    pub(super) fn on_ring_message(self: &Rc<Self>, from: usize, message: ShardMessage) {
        match message {
            ShardMessage::Publish {
                message,
                plain,
                share_groups,
            } => self.receive_publish(&message, plain, &share_groups),
            ShardMessage::Subscription {
                from: shard,
                topic_filter,
                subscribed,
            } => {
                if let Err(error) = self
                    .router
                    .apply_transition(&topic_filter, shard, subscribed)
                {
                    tracing::warn!(%topic_filter, from, ?error, "bad subscription transition");
                }
            }
            ShardMessage::Retained { message, stamp } => {
                if self.router.apply_retained(&message, stamp, self.now_ms()) {
                    self.journal_retained(&message);
                }
            }
            ShardMessage::HandOff(handoff) => self.receive_handoff(*handoff),
            ShardMessage::Barrier { from, token } => {
                self.mesh.push(from, ShardMessage::BarrierPassed { token })
            }
            ShardMessage::DurableBarrier { from, token } => self.on_durable_barrier(from, token),
            ShardMessage::BarrierPassed { token } => self.replication.passed(token),
            ShardMessage::DeliveryBacklog { from, over } => {
                self.flow.set_remote(from, over);
                self.settle_flow();
            }
        }
    }

    fn receive_publish(&self, message: &SharedMessage, plain: bool, share_groups: &[SharedTarget]) {
        let mut routes = self
            .router
            .route_received(&message.topic_name, plain, share_groups);
        if routes.local_len() >= limits::DETACH_DELIVERIES_MIN {
            // Every delivery clones and drops the message's buffers; on a copy
            // of its own that counting stays in this core's cache instead of
            // bouncing between the cores that share the original.
            let message = SharedMessage::new(message.detached());
            self.deliver_local(&message, &mut routes, None);
        } else if routes.local_len() > 0 {
            self.deliver_local(message, &mut routes, None);
        }
        self.router.done(routes);
    }

    /// Adds a local subscription and tells the other shards when it is the first
    /// on its filter; then sends the matching retained messages if asked.
    pub(super) fn subscribe(
        &self,
        key: SessionKey,
        connection: Option<&Rc<Connection>>,
        topic_filter: &ByteString,
        subscription: SubscriptionMatch,
        send_retained: bool,
    ) {
        match self.router.subscribe(topic_filter, key, subscription) {
            Ok(first_local) => {
                if first_local {
                    self.mesh.broadcast_with(|| ShardMessage::Subscription {
                        from: self.index,
                        topic_filter: topic_filter.clone(),
                        subscribed: true,
                    });
                }
                self.replication.note_subscribed(topic_filter, first_local);
            }
            Err(error) => {
                tracing::debug!(%topic_filter, ?error, "subscription not added");
                return;
            }
        }
        if send_retained {
            self.deliver_retained(key, connection, topic_filter, &subscription);
        }
    }

    /// Removes a local subscription and tells the other shards when it was the
    /// last on its filter.
    pub(super) fn unsubscribe(&self, key: SessionKey, topic_filter: &ByteString) {
        if self.router.unsubscribe(topic_filter, key) {
            self.mesh.broadcast_with(|| ShardMessage::Subscription {
                from: self.index,
                topic_filter: topic_filter.clone(),
                subscribed: false,
            });
        }
    }
}
