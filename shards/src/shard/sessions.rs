//! Driving the sessions of a shard: packets, timers, deliveries and lost
//! connections in, and the actions the sessions ask for run in order.
//!
//! Sessions are stored by a shard-local [`SessionKey`] (a `Copy` number the trie
//! and the timer queue can hold) with an index from client id to key. Every call
//! into a session borrows the table only for that call; the actions it returns
//! are run afterwards, so delivering to other sessions never meets a borrow.

use std::rc::Rc;

use bytestring::ByteString;
use shardmq::limits;
use shardmq::protocol::{Disconnect, DisconnectProperties, Packet, ProtocolError, ReasonCode};
use shardmq::session::{Action, PlainDelivery, PublishRefusal, SubscriptionMatch, TimerKind};

use super::connection::Connection;
use super::journaling::PacketSummary;
use super::{SessionEntry, Shard};

/// A session's number on its home shard.
pub type SessionKey = u64;

/// The timer kinds the shard's timer queue holds, to disarm them all when a
/// session ends. Keep-alive lives on the connection (see
/// [`Shard::sweep_connections`]).
const QUEUED_TIMER_KINDS: [TimerKind; 2] = [TimerKind::WillDelay, TimerKind::SessionExpiry];

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
        let mut actions = self.take_action_buffer();
        let summary = PacketSummary::of(&packet);
        let mark = self.journal_mark();
        // One lookup finds the session and checks it is still this connection's.
        let handled = match self.entries.borrow_mut().get_mut(&key) {
            Some(entry) if serves(entry, connection) => {
                entry.session.handle_packet(packet, now_ms, &mut actions);
                true
            }
            _ => false,
        };
        if !handled {
            self.return_action_buffer(actions);
            connection.close();
            return;
        }
        self.journal_packet(key, &summary);
        self.run_actions(key, Some(connection), &mut actions);
        self.hold_until_durable(connection, mark, summary);
        self.return_action_buffer(actions);
    }

    /// The key of the session of `client_id`, if this shard holds one.
    pub(super) fn session_key_of(&self, client_id: &str) -> Option<SessionKey> {
        let client_keys = self.client_keys.borrow();
        let entries = self.entries.borrow();
        client_keys.find(client_id, |key| {
            entries
                .get(&key)
                .is_some_and(|entry| &**entry.session.client_id() == client_id)
        })
    }

    /// The session key of the session `connection` currently serves, if it does.
    fn current_key(&self, connection: &Connection) -> Option<SessionKey> {
        let key = connection.session_key;
        let entries = self.entries.borrow();
        serves(entries.get(&key)?, connection).then_some(key)
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
        self.connections.borrow_mut().remove(&connection.id);
        let Some(key) = self.current_key(connection) else {
            return;
        };
        let now_ms = self.now_ms();
        let mut actions = Vec::new();
        if let Some(entry) = self.entries.borrow_mut().get_mut(&key) {
            entry.connection = None;
            entry.session.connection_lost(now_ms, &mut actions);
        }
        self.run_actions(key, None, &mut actions);
        self.journal_disconnected(key);
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
            let due = self.timers.borrow_mut().pop_due(now_ms);
            let Some((key, timer)) = due else { break };
            let mut actions = Vec::new();
            let connection = {
                let mut entries = self.entries.borrow_mut();
                let Some(entry) = entries.get_mut(&key) else {
                    continue;
                };
                entry.session.handle_timer(timer, now_ms, &mut actions);
                entry.connection.clone()
            };
            let will_published = timer == TimerKind::WillDelay
                && actions
                    .iter()
                    .any(|action| matches!(action, Action::Publish(_)));
            self.run_actions(key, connection.as_ref(), &mut actions);
            if will_published {
                self.journal_will_published(key);
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
        for connection in self.connections.borrow().values() {
            if !congested && connection.take_due_keep_alive(now_ms) {
                due.push(Rc::clone(connection));
            }
            if let Some(idle_ms) = park_idle_ms {
                connection.sweep_idle(now_ms, idle_ms);
            }
        }
        for connection in due {
            let Some(key) = self.current_key(&connection) else {
                continue;
            };
            let mut actions = Vec::new();
            if let Some(entry) = self.entries.borrow_mut().get_mut(&key) {
                entry
                    .session
                    .handle_timer(TimerKind::KeepAlive, now_ms, &mut actions);
            }
            self.run_actions(key, Some(&connection), &mut actions);
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
        let mut entries = self.entries.borrow_mut();
        let Some(entry) = entries.get_mut(&key) else {
            return;
        };
        if let Some(connection) = &entry.connection {
            match entry.session.deliver_plain(message, matched, now_ms) {
                PlainDelivery::Skipped => return,
                PlainDelivery::Plain { retain } => {
                    if !connection.send_message(message, retain) {
                        self.count_dropped_qos0(connection);
                    }
                    return;
                }
                PlainDelivery::General => {}
            }
        }
        let mut actions = self.take_action_buffer();
        entry
            .session
            .deliver(message, matched, now_ms, &mut actions);
        let connection = entry.connection.clone();
        drop(entries);
        self.run_actions(key, connection.as_ref(), &mut actions);
        self.return_action_buffer(actions);
        if let Some(connection) = connection {
            self.count_dropped_qos0(&connection);
        }
    }

    /// Adds the QoS 0 deliveries `connection` dropped to the broker's count.
    fn count_dropped_qos0(&self, connection: &Connection) {
        let dropped = connection.take_dropped_qos0();
        if dropped > 0 {
            self.stats.qos0_dropped(dropped);
        }
    }

    /// Runs a session's actions in order, against `connection` for packets.
    pub(super) fn run_actions(
        &self,
        key: SessionKey,
        connection: Option<&Rc<Connection>>,
        actions: &mut Vec<Action>,
    ) {
        // Deliveries run their subscribers' actions from inside this call; only
        // the outermost call, the one whose client caused the changes, raises
        // the replication barrier.
        self.action_depth.set(self.action_depth.get() + 1);
        self.journal_before_actions(key, actions);
        let mut closed = false;
        // Whether the last message routed here matched a subscription, for
        // the answer that follows it.
        let mut matched = true;
        for action in actions.drain(..) {
            self.journal_action(key, &action);
            match action {
                Action::Send(packet) => {
                    if let Some(connection) = connection {
                        connection.send(packet);
                    }
                }
                Action::Deliver(delivery) => {
                    if let Some(connection) = connection {
                        connection.send_delivery(&delivery);
                    }
                }
                Action::Publish(message) => matched = self.publish(message),
                Action::AnswerPublish(mut answer) => {
                    if !matched {
                        answer_no_matching_subscribers(&mut answer);
                    }
                    if let Some(connection) = connection {
                        connection.send(answer);
                    }
                }
                Action::Subscribe {
                    topic_filter,
                    options,
                    subscription_identifier,
                    send_retained,
                } => self.subscribe(
                    key,
                    connection,
                    &topic_filter,
                    SubscriptionMatch::new(options, subscription_identifier),
                    send_retained,
                ),
                Action::Unsubscribe { topic_filter } => self.unsubscribe(key, &topic_filter),
                Action::ArmTimer {
                    timer: TimerKind::KeepAlive,
                    at_ms,
                } => {
                    // Only a connected session keeps alive, and it runs its
                    // actions with its connection.
                    if let Some(connection) = connection {
                        connection.arm_keep_alive(at_ms);
                    }
                }
                Action::CancelTimer(TimerKind::KeepAlive) => {
                    if let Some(connection) = connection {
                        connection.arm_keep_alive(u64::MAX);
                    }
                }
                Action::ArmTimer { timer, at_ms } => {
                    if self.timers.borrow_mut().arm((key, timer), at_ms).is_err() {
                        tracing::warn!(?timer, "timer queue full; timer not armed");
                    } else if at_ms < self.tick_at_ms.get() {
                        self.tick_wake.notify();
                    }
                }
                Action::CancelTimer(timer) => {
                    self.timers.borrow_mut().cancel(&(key, timer));
                }
                Action::Close {
                    reason_code,
                    violation,
                } => {
                    closed = true;
                    if let Some(connection) = connection {
                        tracing::debug!(
                            connection = connection.id,
                            peer = %connection.peer,
                            client_id = %self.client_id_of(key),
                            ?reason_code,
                            violation = violation.map(tracing::field::display),
                            "closing"
                        );
                        connection.close();
                        self.forget_connection(connection);
                        if let Some(entry) = self.entries.borrow_mut().get_mut(&key) {
                            if entry
                                .connection
                                .as_ref()
                                .is_some_and(|c| c.id == connection.id)
                            {
                                entry.connection = None;
                            }
                        }
                    }
                }
                Action::EndSession => self.end_session(key),
                Action::PublishRefused(refusal) => {
                    self.publish_refused(key, connection, &refusal);
                }
            }
        }
        if closed {
            self.journal_disconnected(key);
        }
        self.action_depth.set(self.action_depth.get() - 1);
        if self.action_depth.get() == 0 {
            self.raise_barrier_if_wanted(connection);
        }
    }

    /// The client id of session `key`, empty when the shard no longer holds it.
    fn client_id_of(&self, key: SessionKey) -> ByteString {
        self.entries
            .borrow()
            .get(&key)
            .map(|entry| entry.session.client_id().clone())
            .unwrap_or_default()
    }

    /// A PUBLISH session `key` did not route: counted when it was for `$SYS`,
    /// and logged (a refusal that closes the connection is also told by the
    /// [`Action::Close`] that follows it). Rare, so a debug line each.
    fn publish_refused(
        &self,
        key: SessionKey,
        connection: Option<&Rc<Connection>>,
        refusal: &PublishRefusal,
    ) {
        if matches!(refusal, PublishRefusal::SysTopic { .. }) {
            self.stats.sys_publish_refused();
        }
        // A PUBLISH always comes on a connection.
        let Some(connection) = connection else {
            return;
        };
        let client_id = self.client_id_of(key);
        match refusal {
            PublishRefusal::TopicNameInvalid(error) => tracing::debug!(
                connection = connection.id,
                peer = %connection.peer,
                %client_id,
                %error,
                "publish refused"
            ),
            PublishRefusal::SysTopic { topic_name } => tracing::debug!(
                connection = connection.id,
                peer = %connection.peer,
                %client_id,
                %topic_name,
                "publish refused: $SYS belongs to the broker"
            ),
        }
    }

    /// Drops session `key` with its timers and subscriptions.
    fn end_session(&self, key: SessionKey) {
        for timer in QUEUED_TIMER_KINDS {
            self.timers.borrow_mut().cancel(&(key, timer));
        }
        let Some(entry) = self.entries.borrow_mut().remove(&key) else {
            return;
        };
        self.client_keys
            .borrow_mut()
            .remove(entry.session.client_id(), key);
        let topic_filters: Vec<ByteString> = entry
            .session
            .subscriptions()
            .map(|(topic_filter, _, _)| topic_filter.clone())
            .collect();
        for topic_filter in topic_filters {
            self.unsubscribe(key, &topic_filter);
        }
        tracing::debug!(client_id = %entry.session.client_id(), "session ended");
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
        let messages = self.retained.borrow().matching(topic_filter, now_ms, limit);
        let mut actions = Vec::new();
        for message in &messages {
            self.journal_retained_delivery(key, message, subscription);
            if let Some(entry) = self.entries.borrow_mut().get_mut(&key) {
                entry
                    .session
                    .deliver_retained(message, subscription, now_ms, &mut actions);
            }
            self.run_actions(key, connection, &mut actions);
        }
    }

    fn take_action_buffer(&self) -> Vec<Action> {
        self.action_buffers.borrow_mut().pop().unwrap_or_default()
    }

    fn return_action_buffer(&self, actions: Vec<Action>) {
        let mut buffers = self.action_buffers.borrow_mut();
        if buffers.len() < ACTION_BUFFERS_KEPT {
            buffers.push(actions);
        }
    }
}

/// Gives a successful PUBACK or PUBREC the reason 0x10 (No matching
/// subscribers).
fn answer_no_matching_subscribers(answer: &mut Packet) {
    if let Packet::PubAck(response) | Packet::PubRec(response) = answer {
        if response.reason_code == ReasonCode::Success {
            response.reason_code = ReasonCode::NoMatchingSubscribers;
        }
    }
}

/// True when `entry`'s session is served by `connection` (not an older one).
fn serves(entry: &SessionEntry, connection: &Connection) -> bool {
    entry
        .connection
        .as_ref()
        .is_some_and(|current| current.id == connection.id)
}

/// Action buffers kept for reuse; deliveries nest at most a few deep.
const ACTION_BUFFERS_KEPT: usize = 8;
