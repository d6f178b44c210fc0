//! The connections of one shard: those attached to a session here, the
//! count of tasks alive and of connections still reading their CONNECT, and
//! the closing ones watched until their last bytes are out.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use ahash::AHashMap as HashMap;
use shardmq::limits;

use super::Connection;

/// The shard's connections; see the module documentation.
#[derive(Default)]
pub(super) struct ConnectionSet {
    /// Attached connections, by id.
    attached: RefCell<HashMap<u64, Rc<Connection>>>,
    next_id: Cell<u64>,
    /// Connection tasks alive: the connections not parked, including
    /// refused or closing ones still writing their last packets.
    live_tasks: Cell<usize>,
    /// Accepted connections whose CONNECT is still being read here.
    reading_connect: Cell<usize>,
    /// Closing connections by the time their socket is shut down if they
    /// have not finished writing, oldest first.
    closing: RefCell<VecDeque<(u64, Rc<Connection>)>>,
}

impl ConnectionSet {
    /// An id for a new connection, unique on this shard.
    pub(super) fn next_id(&self) -> u64 {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        id
    }

    /// `connection` is attached to its session.
    pub(super) fn attach(&self, connection: &Rc<Connection>) {
        self.attached
            .borrow_mut()
            .insert(connection.id, Rc::clone(connection));
    }

    /// Takes connection `id` out; true when it was attached.
    pub(super) fn detach(&self, id: u64) -> bool {
        self.attached.borrow_mut().remove(&id).is_some()
    }

    /// The attached connection `id`.
    pub(super) fn get(&self, id: u64) -> Option<Rc<Connection>> {
        self.attached.borrow().get(&id).cloned()
    }

    /// Every attached connection, shared (the caller may change the set).
    pub(super) fn all(&self) -> Vec<Rc<Connection>> {
        self.attached.borrow().values().cloned().collect()
    }

    /// Runs `visit` on every attached connection; it must not change the set.
    pub(super) fn for_each(&self, mut visit: impl FnMut(&Rc<Connection>)) {
        for connection in self.attached.borrow().values() {
            visit(connection);
        }
    }

    /// Attached connections plus those still reading their CONNECT: what
    /// `limits::CONNECTIONS_PER_SHARD_MAX` bounds.
    pub(super) fn load(&self) -> usize {
        self.attached.borrow().len() + self.reading_connect.get()
    }

    /// An accepted connection starts reading its CONNECT here.
    pub(super) fn connect_read_started(&self) {
        self.reading_connect.set(self.reading_connect.get() + 1);
    }

    /// It is done with it (attached, handed off or gone).
    pub(super) fn connect_read_ended(&self) {
        let reading = self.reading_connect.get();
        assert!(reading > 0, "a CONNECT read ended that never started");
        self.reading_connect.set(reading - 1);
    }

    /// One more connection task alive.
    pub(super) fn task_started(&self) {
        self.live_tasks.set(self.live_tasks.get() + 1);
    }

    /// A connection task ended (closed or parked).
    pub(super) fn task_ended(&self) {
        let live = self.live_tasks.get();
        assert!(live > 0, "a connection task ended that never started");
        self.live_tasks.set(live - 1);
    }

    /// Connection tasks alive.
    pub(super) fn live_tasks(&self) -> usize {
        self.live_tasks.get()
    }

    /// Watches `connection`, found closing at `now_ms`: unless it finishes
    /// writing within `limits::CLOSE_FLUSH_MS`, [`ConnectionSet::abort_slow_closes`]
    /// shuts its socket down.
    pub(super) fn watch_closing(&self, connection: &Rc<Connection>, now_ms: u64) {
        self.closing
            .borrow_mut()
            .push_back((now_ms + limits::CLOSE_FLUSH_MS, Rc::clone(connection)));
    }

    /// Shuts down the connections that could not write their last packets
    /// by `now_ms`: a client that stopped reading never takes them.
    pub(super) fn abort_slow_closes(&self, now_ms: u64) {
        let mut closing = self.closing.borrow_mut();
        while let Some((deadline_ms, connection)) = closing.front() {
            if connection.is_finished() {
                closing.pop_front();
            } else if *deadline_ms <= now_ms {
                tracing::debug!(connection = connection.id, peer = %connection.peer, "closing took too long; socket shut down");
                connection.abort();
                closing.pop_front();
            } else {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listener::Admission;
    use shardmq::protocol::ProtocolVersion;

    fn connection(set: &ConnectionSet) -> Rc<Connection> {
        Rc::new(Connection::new(
            set.next_id(),
            0,
            "127.0.0.1:1883".parse().expect("an address"),
            ProtocolVersion::V5,
            Admission::default(),
        ))
    }

    #[test]
    fn the_load_counts_attached_connections_and_those_reading_their_connect() {
        let set = ConnectionSet::default();
        let first = connection(&set);
        let second = connection(&set);
        assert_ne!(first.id, second.id);
        set.attach(&first);
        set.connect_read_started();
        assert_eq!(set.load(), 2);
        set.connect_read_ended();
        assert!(set.detach(first.id));
        assert!(!set.detach(first.id));
        assert_eq!(set.load(), 0);
    }

    #[test]
    fn a_close_that_does_not_finish_in_time_is_aborted_and_one_that_does_is_forgotten() {
        let set = ConnectionSet::default();
        let slow = connection(&set);
        slow.close();
        set.watch_closing(&slow, 0);
        set.abort_slow_closes(limits::CLOSE_FLUSH_MS - 1);
        assert!(!slow.is_aborted());
        set.abort_slow_closes(limits::CLOSE_FLUSH_MS);
        assert!(slow.is_aborted());
    }

    #[test]
    #[should_panic(expected = "never started")]
    fn a_task_ending_twice_is_a_bug_not_a_count() {
        let set = ConnectionSet::default();
        set.task_started();
        set.task_ended();
        set.task_ended();
    }
}
