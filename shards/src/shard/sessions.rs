//! Driving the sessions of a shard: packets, timers, deliveries and lost
//! connections in, and the actions the sessions ask for run in order.
//!
//! Sessions are stored by a shard-local `SessionKey` (a `Copy` number the trie
//! and the timer queue can hold) with an index from client id to key. Every call
//! into a session borrows the table only for that call; the actions it returns
//! are run afterwards, so delivering to other sessions never meets a borrow.

use std::rc::Rc;

use bytestring::ByteString;
use shardmq::limits;
use shardmq::protocol::{Disconnect, DisconnectProperties, Packet, ProtocolError, ReasonCode};
use shardmq::session::{Action, PlainDelivery, PublishRefusal, SubscriptionMatch, TimerKind};

use super::connection::Connection;
use super::store::SessionKey;
use super::{Shard, ShardMessage};

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
        let mark = self.journal_mark();
        // One lookup finds the session and checks it is still this connection's.
        let handled = self.store.with_served(key, connection, |entry| {
            entry.session.handle_packet(packet, now_ms, &mut actions)
        });
        if handled.is_none() {
            self.return_action_buffer(actions);
            connection.close();
            return;
        }
        let answered = self.run_actions(key, Some(connection), &mut actions);
        self.hold_until_durable(connection, mark, answered);
        self.return_action_buffer(actions);
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
            actions = self.take_action_buffer();
            entry
                .session
                .deliver(message, matched, now_ms, &mut actions);
            Some(entry.connection.clone())
        });
        let Some(Some(connection)) = general else {
            return;
        };
        self.run_actions(key, connection.as_ref(), &mut actions);
        self.return_action_buffer(actions);
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

    /// Runs a session's actions in order, against `connection` for packets.
    /// True when an answer among them waits for durability
    /// ([`Action::Acknowledge`], [`Action::AnswerPublish`]).
    pub(super) fn run_actions(
        &self,
        key: SessionKey,
        connection: Option<&Rc<Connection>>,
        actions: &mut Vec<Action>,
    ) -> bool {
        // Deliveries run their subscribers' actions from inside this call; only
        // the outermost call, the one whose client caused the changes, raises
        // the replication barrier.
        self.action_depth.set(self.action_depth.get() + 1);
        let mut answered = false;
        // Whether the last message routed here matched a subscription, for
        // the answer that follows it.
        let mut matched = true;
        for action in actions.drain(..) {
            match action {
                Action::Send(packet) => {
                    if let Some(connection) = connection {
                        connection.send(packet);
                    }
                }
                Action::Acknowledge(packet) => {
                    answered = true;
                    if let Some(connection) = connection {
                        connection.send(packet);
                    }
                }
                Action::Journal(change) => self.journal_change(key, &change),
                Action::Deliver(delivery) => {
                    if let Some(connection) = connection {
                        connection.send_delivery(&delivery);
                    }
                }
                Action::Publish {
                    message,
                    inbound_qos2,
                } => {
                    let inbound_qos2 =
                        inbound_qos2.and_then(|packet_id| self.inbound_qos2_record(key, packet_id));
                    matched = self.publish(message, inbound_qos2);
                }
                Action::AnswerPublish(mut answer) => {
                    answered = true;
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
                    if self.store.arm_timer(key, timer, at_ms).is_err() {
                        tracing::warn!(?timer, "timer queue full; timer not armed");
                    } else if at_ms < self.tick_at_ms.get() {
                        self.tick_wake.notify();
                    }
                }
                Action::CancelTimer(timer) => {
                    self.store.cancel_timer(key, timer);
                }
                Action::Close {
                    reason_code,
                    violation,
                } => {
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
                        self.store.with_served(key, connection, |entry| {
                            entry.connection = None;
                        });
                    }
                }
                Action::EndSession => self.end_session(key),
                Action::PublishRefused(refusal) => {
                    self.publish_refused(key, connection, &refusal);
                }
            }
        }
        self.action_depth.set(self.action_depth.get() - 1);
        if self.action_depth.get() == 0 {
            if let Some(token) = self.replication.raise_if_wanted(connection) {
                self.mesh.broadcast_with(|| ShardMessage::Barrier {
                    from: self.index,
                    token,
                });
            }
        }
        answered
    }

    /// The client id of session `key`, empty when the shard no longer holds it.
    fn client_id_of(&self, key: SessionKey) -> ByteString {
        self.store
            .with(key, |entry| entry.session.client_id().clone())
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
            self.stats.sys_publishes_refused.add(1);
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
        let Some(session) = self.store.remove(key) else {
            return;
        };
        let topic_filters: Vec<ByteString> = session
            .subscriptions()
            .map(|(topic_filter, _, _)| topic_filter.clone())
            .collect();
        for topic_filter in topic_filters {
            self.unsubscribe(key, &topic_filter);
        }
        tracing::debug!(client_id = %session.client_id(), "session ended");
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

/// Action buffers kept for reuse; deliveries nest at most a few deep.
const ACTION_BUFFERS_KEPT: usize = 8;
