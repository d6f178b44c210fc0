//! Replication barriers: a client's acknowledgement waits until every shard
//! applied what the client's packet changed.
//!
//! Subscription transitions and retained updates reach the other shards over
//! the rings, asynchronously. Without a barrier a client could get its SUBACK
//! (or the PUBACK of a retained publish), tell another client, and that
//! client's publish (or subscribe) could still be handled on a shard that has
//! not seen the change. So after such a change the shard sends a
//! [`ShardMessage::Barrier`] down every ring (rings are FIFO, so it arrives
//! after the change) and holds the connection's outbound packets until every
//! shard answered. A client subscribing to a filter whose transition is still
//! on its way joins that barrier. Only the connections involved wait, for one
//! ring round trip.

use std::rc::Rc;

use bytestring::ByteString;
use shardmq::topic::ShardSet;

use super::{Connection, Shard, ShardMessage};

/// One barrier on its way round the other shards.
pub(super) struct Barrier {
    /// Connections whose output waits for it.
    connections: Vec<Rc<Connection>>,
    /// Shards that have not answered yet.
    remaining: usize,
    /// Filters whose first-subscriber transition it follows.
    topic_filters: Vec<ByteString>,
}

/// What the actions being run changed, to decide on a barrier at their end.
#[derive(Default)]
pub(super) struct PendingChanges {
    /// Replicated state changed (a new filter transition or a retained update).
    changed: bool,
    /// Filters that got their first local subscriber.
    topic_filters: Vec<ByteString>,
    /// Barriers still under way for filters subscribed to again.
    joined: Vec<u64>,
}

impl Shard {
    /// Notes a retained update, which every shard must see before the publisher
    /// hears back.
    pub(super) fn note_retained_changed(&self) {
        self.pending_changes.borrow_mut().changed = true;
    }

    /// Notes a subscription; `first_local` when its transition was broadcast.
    pub(super) fn note_subscribed(&self, topic_filter: &ByteString, first_local: bool) {
        let mut pending = self.pending_changes.borrow_mut();
        if first_local {
            pending.changed = true;
            pending.topic_filters.push(topic_filter.clone());
        } else if let Some(&token) = self.filters_in_flight.borrow().get(topic_filter) {
            pending.joined.push(token);
        }
    }

    /// Sends a barrier for `connection` if the actions just run changed
    /// replicated state, and holds its output until every barrier it needs passed.
    pub(super) fn raise_barrier_if_wanted(&self, connection: Option<&Rc<Connection>>) {
        let pending = std::mem::take(&mut *self.pending_changes.borrow_mut());
        let Some(connection) = connection else {
            return;
        };
        if self.shard_count == 1 {
            return;
        }
        let mut barriers = self.barriers.borrow_mut();
        for token in pending.joined {
            if let Some(barrier) = barriers.get_mut(&token) {
                connection.hold();
                barrier.connections.push(Rc::clone(connection));
            }
        }
        if !pending.changed {
            return;
        }
        let token = self.next_barrier_token.get();
        self.next_barrier_token.set(token + 1);
        connection.hold();
        let mut filters_in_flight = self.filters_in_flight.borrow_mut();
        for topic_filter in &pending.topic_filters {
            filters_in_flight.insert(topic_filter.clone(), token);
        }
        barriers.insert(
            token,
            Barrier {
                connections: vec![Rc::clone(connection)],
                remaining: self.shard_count - 1,
                topic_filters: pending.topic_filters,
            },
        );
        self.mesh.broadcast_with(|| ShardMessage::Barrier {
            from: self.index,
            token,
        });
    }

    /// Holds `connection`'s output until every shard of `shards` answered that
    /// what this shard sent it before is durable there.
    pub(super) fn raise_durable_barrier(&self, connection: &Rc<Connection>, shards: ShardSet) {
        let token = self.next_barrier_token.get();
        self.next_barrier_token.set(token + 1);
        connection.hold();
        self.barriers.borrow_mut().insert(
            token,
            Barrier {
                connections: vec![Rc::clone(connection)],
                remaining: shards.len(),
                topic_filters: Vec::new(),
            },
        );
        for shard in shards.iter() {
            self.mesh.push(
                shard,
                ShardMessage::DurableBarrier {
                    from: self.index,
                    token,
                },
            );
        }
    }

    /// One shard answered barrier `token`; the last answer releases its connections.
    pub(super) fn barrier_passed(&self, token: u64) {
        let mut barriers = self.barriers.borrow_mut();
        let Some(barrier) = barriers.get_mut(&token) else {
            return;
        };
        barrier.remaining -= 1;
        if barrier.remaining > 0 {
            return;
        }
        let Some(barrier) = barriers.remove(&token) else {
            return;
        };
        let mut filters_in_flight = self.filters_in_flight.borrow_mut();
        for topic_filter in &barrier.topic_filters {
            if filters_in_flight.get(topic_filter) == Some(&token) {
                filters_in_flight.remove(topic_filter);
            }
        }
        for connection in barrier.connections {
            connection.release();
        }
    }

    /// Releases every held connection (on stop, when answers may never come).
    pub(super) fn release_all_barriers(&self) {
        self.filters_in_flight.borrow_mut().clear();
        for (_, barrier) in self.barriers.borrow_mut().drain() {
            for connection in barrier.connections {
                connection.release();
            }
        }
    }
}
