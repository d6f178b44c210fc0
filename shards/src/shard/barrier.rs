//! Replication barriers: a client's acknowledgement waits until every shard
//! applied what the client's packet changed.
//!
//! Subscription transitions and retained updates reach the other shards over
//! the rings, asynchronously. Without a barrier a client could get its SUBACK
//! (or the PUBACK of a retained publish), tell another client, and that
//! client's publish (or subscribe) could still be handled on a shard that has
//! not seen the change. So after such a change the shard sends a
//! [`ShardMessage::Barrier`] down every ring (rings are FIFO, so it arrives
//! after the change) and holds the connection's outbound bytes until every
//! shard answered. Only the connection that caused the change waits, for one
//! ring round trip, and only when a filter gains its first subscriber on this
//! shard or a retained message changes.

use std::rc::Rc;

use super::{Connection, Shard, ShardMessage};

impl Shard {
    /// Sends a barrier for `connection` if the actions just run changed
    /// replicated state, and holds its output until the barrier passes.
    pub(super) fn raise_barrier_if_wanted(&self, connection: Option<&Rc<Connection>>) {
        if !self.barrier_wanted.replace(false) || self.shard_count == 1 {
            return;
        }
        let Some(connection) = connection else {
            return;
        };
        let token = self.next_barrier_token.get();
        self.next_barrier_token.set(token + 1);
        connection.hold();
        self.barriers
            .borrow_mut()
            .insert(token, (Rc::clone(connection), self.shard_count - 1));
        self.mesh.broadcast_with(|| ShardMessage::Barrier {
            from: self.index,
            token,
        });
    }

    /// One shard answered barrier `token`; the last answer releases the connection.
    pub(super) fn barrier_passed(&self, token: u64) {
        let mut barriers = self.barriers.borrow_mut();
        let Some((_, remaining)) = barriers.get_mut(&token) else {
            return;
        };
        *remaining -= 1;
        if *remaining == 0 {
            if let Some((connection, _)) = barriers.remove(&token) {
                connection.release();
            }
        }
    }

    /// Releases every held connection (on stop, when answers may never come).
    pub(super) fn release_all_barriers(&self) {
        for (_, (connection, _)) in self.barriers.borrow_mut().drain() {
            connection.release();
        }
    }
}
