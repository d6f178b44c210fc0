//! The effect dispatcher: runs the actions a session asked for, in order,
//! against the shard's parts (the connection, the router, the store, the
//! replication barriers, the journal, the timers).
//!
//! Deliveries run their subscribers' actions from inside a run; [`Dispatcher`]
//! keeps the depth, so that only the outermost run, the one whose client
//! caused the changes, raises the replication barrier, and the action buffers
//! reused across runs.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use bytestring::ByteString;
use shardmq::protocol::{Packet, ReasonCode};
use shardmq::session::{Action, PublishRefusal, SubscriptionMatch, TimerKind};

use super::connection::Connection;
use super::store::SessionKey;
use super::{Shard, ShardMessage};

/// Action buffers kept for reuse; deliveries nest at most a few deep.
const ACTION_BUFFERS_KEPT: usize = 8;

/// How deep runs of actions nest, and the buffers they reuse.
#[derive(Default)]
pub(super) struct Dispatcher {
    depth: Cell<usize>,
    buffers: RefCell<Vec<Vec<Action>>>,
}

impl Dispatcher {
    /// A run of actions starts.
    pub(super) fn enter(&self) {
        self.depth.set(self.depth.get() + 1);
    }

    /// A run of actions ends; true when it was the outermost.
    pub(super) fn leave(&self) -> bool {
        let depth = self.depth.get();
        assert!(depth > 0, "a run of actions ended that never started");
        self.depth.set(depth - 1);
        depth == 1
    }

    /// An empty action buffer, reused when one is kept.
    pub(super) fn take_buffer(&self) -> Vec<Action> {
        self.buffers.borrow_mut().pop().unwrap_or_default()
    }

    /// Gives `actions`, emptied, back for reuse.
    pub(super) fn return_buffer(&self, actions: Vec<Action>) {
        debug_assert!(actions.is_empty(), "actions were left unrun");
        let mut buffers = self.buffers.borrow_mut();
        if buffers.len() < ACTION_BUFFERS_KEPT {
            buffers.push(actions);
        }
    }
}

impl Shard {
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
        self.dispatcher.enter();
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
                    } else {
                        self.tick.armed(at_ms);
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
        if self.dispatcher.leave() {
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

    /// A PUBLISH session `key` did not route: counted when it was for `$SYS`
    /// (ACL refusals are counted by the session, in its meters' `acl_denials`),
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
        let (topic_name, why) = match refusal {
            PublishRefusal::TopicNameInvalid(error) => {
                tracing::debug!(
                    connection = connection.id,
                    peer = %connection.peer,
                    %client_id,
                    %error,
                    "publish refused"
                );
                return;
            }
            PublishRefusal::SysTopic { topic_name } => (topic_name, "$SYS belongs to the broker"),
            PublishRefusal::NotAuthorized { topic_name } => {
                (topic_name, "the ACL does not allow it")
            }
        };
        tracing::debug!(
            connection = connection.id,
            peer = %connection.peer,
            %client_id,
            %topic_name,
            why,
            "publish refused"
        );
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_outermost_run_is_told_it_ended_last() {
        let dispatcher = Dispatcher::default();
        dispatcher.enter();
        dispatcher.enter();
        assert!(!dispatcher.leave());
        assert!(dispatcher.leave());
    }

    #[test]
    fn buffers_are_reused_up_to_a_bound() {
        let dispatcher = Dispatcher::default();
        let buffers: Vec<Vec<Action>> = (0..ACTION_BUFFERS_KEPT + 2)
            .map(|_| Vec::with_capacity(4))
            .collect();
        for buffer in buffers {
            dispatcher.return_buffer(buffer);
        }
        assert_eq!(dispatcher.buffers.borrow().len(), ACTION_BUFFERS_KEPT);
        assert!(dispatcher.take_buffer().capacity() >= 4);
    }

    #[test]
    fn a_successful_answer_to_a_publish_nobody_receives_says_so() {
        use shardmq::protocol::PublishResponse;
        let mut answer = Packet::PubAck(PublishResponse::success(1));
        answer_no_matching_subscribers(&mut answer);
        assert!(
            matches!(answer, Packet::PubAck(r) if r.reason_code == ReasonCode::NoMatchingSubscribers)
        );
        let mut refused = Packet::PubRec(PublishResponse {
            reason_code: ReasonCode::TopicNameInvalid,
            ..PublishResponse::success(2)
        });
        answer_no_matching_subscribers(&mut refused);
        assert!(
            matches!(refused, Packet::PubRec(r) if r.reason_code == ReasonCode::TopicNameInvalid)
        );
    }
}
