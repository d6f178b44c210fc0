//! Driving the sessions of a shard: packets, timers, deliveries and lost
//! connections in, and the actions the sessions ask for run in order.
//!
//! Sessions are stored by a shard-local `SessionKey` (a `Copy` number the trie
//! and the timer queue can hold) with an index from client id to key. Every call
//! into a session borrows the table only for that call; the actions it returns
//! are run afterwards, so delivering to other sessions never meets a borrow.

use std::rc::Rc;

use shardmq::limits;
use shardmq::protocol::{Disconnect, DisconnectProperties, Packet, ProtocolError, ReasonCode};
use shardmq::session::{PlainDelivery, SubscriptionMatch, TimerKind};

use super::connection::Connection;
use super::store::SessionKey;
use super::Shard;

/// DISCONNECT 0x8B (Server shutting down), sent to 5.0 clients on stop.
pub fn send_server_shutting_down(connection: &Connection) {
    if connection.protocol_version.is_v5() {
        connection.send(Packet::Disconnect(Disconnect {
            reason_code: ReasonCode::ServerShuttingDown,
            properties: DisconnectProperties::default(),
        }));
    }
}

impl Shard {
    /// A packet decoded from `connection`.
    pub(super) fn on_packet(&self, connection: &Rc<Connection>, packet: Packet) {
        let now_ms = self.now_ms();
        let key = connection.session_key;
        let mut actions = self.dispatcher.take_buffer();
        let mark = self.journal_mark();
        // One lookup finds the session and checks it is still this connection's.
        let handled = self.store.with_served(key, connection, |entry| {
            entry.session.handle_packet(packet, now_ms, &mut actions)
        });
        if handled.is_none() {
            self.dispatcher.return_buffer(actions);
            connection.close();
            return;
        }
        let answered = self.run_actions(key, Some(connection), &mut actions);
        self.hold_until_durable(connection, mark, answered);
        self.dispatcher.return_buffer(actions);
    }

    /// The client sent bytes that break the protocol: DISCONNECT with the reason
    /// (5.0), close, and the session carries on as after a lost connection.
    pub(super) fn on_protocol_error(&self, connection: &Rc<Connection>, error: ProtocolError) {
        tracing::debug!(connection = connection.id, peer = %connection.peer, %error, "malformed packet");
        if connection.protocol_version.is_v5() {
            connection.send(Packet::Disconnect(Disconnect {
                reason_code: error.reason_code(),
                properties: DisconnectProperties::default(),
            }));
        }
        self.on_connection_lost(connection);
    }

    /// The socket of `connection` closed or failed without the session closing it.
    pub(super) fn on_connection_lost(&self, connection: &Rc<Connection>) {
        connection.close();
        self.connections.detach(connection.id);
        let key = connection.session_key;
        let now_ms = self.now_ms();
        let mut actions = Vec::new();
        let served = self.store.with_served(key, connection, |entry| {
            entry.connection = None;
            entry.session.connection_lost(now_ms, &mut actions);
        });
        if served.is_some() {
            self.run_actions(key, None, &mut actions);
        }
    }

    /// Fires the session timers that are due, at most
    /// `limits::TIMER_FIRES_PER_TICK_MAX` of them. A timer may publish a
    /// will, so none fires while an outbox is congested: they fire late.
    pub(super) fn fire_due_timers(&self) {
        let now_ms = self.now_ms();
        for _ in 0..limits::TIMER_FIRES_PER_TICK_MAX {
            if self.mesh.is_congested() {
                break;
            }
            let Some((key, timer)) = self.store.pop_due_timer(now_ms) else {
                break;
            };
            let mut actions = Vec::new();
            let connection = self.store.with(key, |entry| {
                entry.session.handle_timer(timer, now_ms, &mut actions);
                entry.connection.clone()
            });
            if let Some(connection) = connection {
                self.run_actions(key, connection.as_ref(), &mut actions);
            }
        }
    }

    /// Runs the keep-alive timer of every connection whose deadline passed
    /// and, when `park_idle_ms` is given, asks the connections idle that long
    /// to park: one pass over the connections every
    /// `limits::CONNECTION_SWEEP_MS` (or more often, for a short
    /// `idle_park_ms`). A keep-alive expiry may publish a will, so none runs
    /// while an outbox is congested: it runs at a later sweep.
    pub(super) fn sweep_connections(&self, now_ms: u64, park_idle_ms: Option<u64>) {
        let congested = self.mesh.is_congested();
        let mut due = Vec::new();
        self.connections.for_each(|connection| {
            if !congested && connection.take_due_keep_alive(now_ms) {
                due.push(Rc::clone(connection));
            }
            if let Some(idle_ms) = park_idle_ms {
                connection.sweep_idle(now_ms, idle_ms);
            }
        });
        for connection in due {
            let key = connection.session_key;
            let mut actions = Vec::new();
            let served = self.store.with_served(key, &connection, |entry| {
                entry
                    .session
                    .handle_timer(TimerKind::KeepAlive, now_ms, &mut actions)
            });
            if served.is_some() {
                self.run_actions(key, Some(&connection), &mut actions);
            }
        }
    }

    /// Delivers `message` to the local session `key` through its `matched`
    /// subscriptions. A plain QoS 0 delivery (see
    /// [`shardmq::session::Session::deliver_plain`]) is written from the
    /// shared message; any other goes through the session's actions.
    pub(super) fn deliver(
        &self,
        key: SessionKey,
        message: &shardmq::session::SharedMessage,
        matched: &[SubscriptionMatch],
        now_ms: u64,
    ) {
        let mut actions = Vec::new();
        let general = self.store.with(key, |entry| {
            if let Some(connection) = &entry.connection {
                match entry.session.deliver_plain(message, matched, now_ms) {
                    PlainDelivery::Skipped => return None,
                    PlainDelivery::Plain { retain } => {
                        if !connection.send_message(message, retain) {
                            self.count_dropped_qos0(connection);
                        }
                        return None;
                    }
                    PlainDelivery::General => {}
                }
            }
            actions = self.dispatcher.take_buffer();
            entry
                .session
                .deliver(message, matched, now_ms, &mut actions);
            Some(entry.connection.clone())
        });
        let Some(Some(connection)) = general else {
            return;
        };
        self.run_actions(key, connection.as_ref(), &mut actions);
        self.dispatcher.return_buffer(actions);
        if let Some(connection) = connection {
            self.count_dropped_qos0(&connection);
        }
    }

    /// Adds the QoS 0 deliveries `connection` dropped to the shard's count.
    fn count_dropped_qos0(&self, connection: &Connection) {
        let dropped = connection.take_dropped_qos0();
        if dropped > 0 {
            self.stats.qos0_dropped.add(dropped);
        }
    }

    /// Delivers the retained messages matching a new subscription to session
    /// `key`: as many as its inflight window and queue can hold, in topic
    /// order; more would only be dropped by its queue.
    pub(super) fn deliver_retained(
        &self,
        key: SessionKey,
        connection: Option<&Rc<Connection>>,
        topic_filter: &str,
        subscription: &SubscriptionMatch,
    ) {
        let now_ms = self.now_ms();
        let limit =
            self.config.max_queued_messages + usize::from(self.config.outbound_inflight_maximum);
        let messages = self.router.retained_matching(topic_filter, now_ms, limit);
        let mut actions = Vec::new();
        for message in &messages {
            self.journal_retained_delivery(key, message, subscription);
            self.store.with(key, |entry| {
                entry
                    .session
                    .deliver_retained(message, subscription, now_ms, &mut actions)
            });
            self.run_actions(key, connection, &mut actions);
        }
    }
}
