//! Replication barriers: a client's acknowledgement waits until every shard
//! applied what the client's packet changed.
//!
//! Subscription transitions and retained updates reach the other shards over
//! the rings, asynchronously. Without a barrier a client could get its SUBACK
//! (or the PUBACK of a retained publish), tell another client, and that
//! client's publish (or subscribe) could still be handled on a shard that has
//! not seen the change. So after such a change the shard sends a
//! [`ShardMessage::Barrier`](super::ShardMessage::Barrier) down every ring
//! (rings are FIFO, so it arrives after the change) and holds the connection's
//! outbound packets until every shard answered. A client subscribing to a
//! filter whose transition is still on its way joins that barrier. Only the
//! connections involved wait, for one ring round trip.
//!
//! [`Replication`] owns the barriers under way and the changes noted while a
//! client's actions run. It decides; the shard sends what it decided over the
//! rings (a barrier token to broadcast, or to push to some shards).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use ahash::AHashMap as HashMap;
use bytestring::ByteString;
use shardmq::topic::ShardSet;

use super::Connection;

/// The barriers of one shard and what the actions being run changed.
pub(super) struct Replication {
    /// Shards besides this one: answers a broadcast barrier waits for.
    other_shards: usize,
    /// What the actions being run changed, decided on at their end.
    pending: RefCell<PendingChanges>,
    /// The number of the next barrier.
    next_token: Cell<u64>,
    /// Barriers on their way round, by number.
    barriers: RefCell<HashMap<u64, Barrier>>,
    /// Filters whose first-subscriber transition is on its way, with the
    /// barrier that follows it: a later subscriber to one joins that barrier.
    filters_in_flight: RefCell<HashMap<ByteString, u64>>,
}

/// One barrier on its way round the other shards.
struct Barrier {
    /// Connections whose output waits for it.
    connections: Vec<Rc<Connection>>,
    /// Shards that have not answered yet.
    remaining: usize,
    /// Filters whose first-subscriber transition it follows.
    topic_filters: Vec<ByteString>,
}

/// What the actions being run changed, to decide on a barrier at their end.
#[derive(Default)]
struct PendingChanges {
    /// Replicated state changed (a new filter transition or a retained update).
    changed: bool,
    /// Filters that got their first local subscriber.
    topic_filters: Vec<ByteString>,
    /// Barriers still under way for filters subscribed to again.
    joined: Vec<u64>,
}

impl Replication {
    /// The barriers of one of `shard_count` shards.
    pub(super) fn new(shard_count: usize) -> Replication {
        assert!(shard_count > 0, "a broker has at least one shard");
        Replication {
            other_shards: shard_count - 1,
            pending: RefCell::new(PendingChanges::default()),
            next_token: Cell::new(0),
            barriers: RefCell::new(HashMap::new()),
            filters_in_flight: RefCell::new(HashMap::new()),
        }
    }

    /// Notes a retained update, which every shard must see before the
    /// publisher hears back.
    pub(super) fn note_retained_changed(&self) {
        self.pending.borrow_mut().changed = true;
    }

    /// Notes a subscription; `first_local` when its transition was broadcast.
    pub(super) fn note_subscribed(&self, topic_filter: &ByteString, first_local: bool) {
        let mut pending = self.pending.borrow_mut();
        if first_local {
            pending.changed = true;
            pending.topic_filters.push(topic_filter.clone());
        } else if let Some(&token) = self.filters_in_flight.borrow().get(topic_filter) {
            pending.joined.push(token);
        }
    }

    /// At the end of a client's actions: holds `connection`'s output until
    /// every barrier it needs passed. The token of a new barrier, for the
    /// caller to broadcast, when the actions changed replicated state. The
    /// noted changes are cleared either way.
    pub(super) fn raise_if_wanted(&self, connection: Option<&Rc<Connection>>) -> Option<u64> {
        let pending = std::mem::take(&mut *self.pending.borrow_mut());
        let connection = connection?;
        if self.other_shards == 0 {
            return None;
        }
        let mut barriers = self.barriers.borrow_mut();
        for token in pending.joined {
            if let Some(barrier) = barriers.get_mut(&token) {
                connection.hold();
                barrier.connections.push(Rc::clone(connection));
            }
        }
        if !pending.changed {
            return None;
        }
        let token = self.take_token();
        connection.hold();
        let mut filters_in_flight = self.filters_in_flight.borrow_mut();
        for topic_filter in &pending.topic_filters {
            filters_in_flight.insert(topic_filter.clone(), token);
        }
        barriers.insert(
            token,
            Barrier {
                connections: vec![Rc::clone(connection)],
                remaining: self.other_shards,
                topic_filters: pending.topic_filters,
            },
        );
        Some(token)
    }

    /// Holds `connection`'s output until every shard of `shards` answered
    /// that what this shard sent it before is durable there. The token to
    /// send them.
    pub(super) fn raise_durable(&self, connection: &Rc<Connection>, shards: ShardSet) -> u64 {
        assert!(!shards.is_empty(), "a durable barrier waits for some shard");
        let token = self.take_token();
        connection.hold();
        self.barriers.borrow_mut().insert(
            token,
            Barrier {
                connections: vec![Rc::clone(connection)],
                remaining: shards.len(),
                topic_filters: Vec::new(),
            },
        );
        token
    }

    /// One shard answered barrier `token`; the last answer releases its
    /// connections. A token not under way was released on stop.
    pub(super) fn passed(&self, token: u64) {
        let mut barriers = self.barriers.borrow_mut();
        let Some(barrier) = barriers.get_mut(&token) else {
            return;
        };
        assert!(
            barrier.remaining > 0,
            "barrier {token} answered once too often"
        );
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
    pub(super) fn release_all(&self) {
        self.filters_in_flight.borrow_mut().clear();
        for (_, barrier) in self.barriers.borrow_mut().drain() {
            for connection in barrier.connections {
                connection.release();
            }
        }
    }

    fn take_token(&self) -> u64 {
        let token = self.next_token.get();
        self.next_token.set(token + 1);
        token
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listener::Admission;
    use shardmq::protocol::ProtocolVersion;

    fn connection(id: u64) -> Rc<Connection> {
        Rc::new(Connection::new(
            id,
            id,
            "127.0.0.1:1883".parse().expect("an address"),
            ProtocolVersion::V5,
            Admission::default(),
        ))
    }

    fn filter(topic_filter: &'static str) -> ByteString {
        ByteString::from_static(topic_filter)
    }

    #[test]
    fn a_first_subscription_holds_its_client_until_every_other_shard_answered() {
        let replication = Replication::new(3);
        let client = connection(1);
        replication.note_subscribed(&filter("a/#"), true);
        let token = replication
            .raise_if_wanted(Some(&client))
            .expect("a barrier to broadcast");
        assert!(client.is_held());
        replication.passed(token);
        assert!(client.is_held(), "one of two shards answered");
        replication.passed(token);
        assert!(!client.is_held());
    }

    #[test]
    fn a_second_subscriber_to_a_filter_on_its_way_joins_its_barrier_without_a_new_one() {
        let replication = Replication::new(2);
        let (first, second) = (connection(1), connection(2));
        replication.note_subscribed(&filter("a/#"), true);
        let token = replication
            .raise_if_wanted(Some(&first))
            .expect("a barrier");
        replication.note_subscribed(&filter("a/#"), false);
        assert_eq!(replication.raise_if_wanted(Some(&second)), None);
        assert!(
            second.is_held(),
            "the transition it relies on is still on its way"
        );
        replication.passed(token);
        assert!(!first.is_held() && !second.is_held());
        replication.note_subscribed(&filter("a/#"), false);
        assert_eq!(replication.raise_if_wanted(Some(&second)), None);
        assert!(!second.is_held(), "nothing under way any more");
    }

    #[test]
    fn nothing_changed_or_one_shard_holds_nobody() {
        let client = connection(1);
        let replication = Replication::new(2);
        assert_eq!(replication.raise_if_wanted(Some(&client)), None);
        let alone = Replication::new(1);
        alone.note_retained_changed();
        assert_eq!(alone.raise_if_wanted(Some(&client)), None);
        assert!(!client.is_held());
    }

    #[test]
    fn changes_noted_without_a_connection_are_forgotten() {
        let replication = Replication::new(2);
        replication.note_retained_changed();
        assert_eq!(replication.raise_if_wanted(None), None);
        let client = connection(1);
        assert_eq!(replication.raise_if_wanted(Some(&client)), None);
    }

    #[test]
    fn a_durable_barrier_waits_for_the_named_shards_only() {
        let replication = Replication::new(4);
        let client = connection(1);
        let mut shards = ShardSet::default();
        shards.insert(3);
        let token = replication.raise_durable(&client, shards);
        assert!(client.is_held());
        replication.passed(token);
        assert!(!client.is_held());
    }

    #[test]
    fn answers_after_a_release_on_stop_are_ignored() {
        let replication = Replication::new(2);
        let client = connection(1);
        replication.note_retained_changed();
        let token = replication
            .raise_if_wanted(Some(&client))
            .expect("a barrier");
        replication.release_all();
        assert!(!client.is_held());
        replication.passed(token);
        assert!(!client.is_held());
    }
}
