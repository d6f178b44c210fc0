//! Delivery flow control: a burst slows the publishers instead of losing
//! messages, within a memory budget per shard.
//!
//! The sessions of a shard count the bytes queued for their connected, reading
//! subscribers on one gauge (`SessionMeters::delivery_gauge`), and queue QoS
//! 1/2 messages for them without a per-session bound. [`DeliveryFlow`] watches
//! that gauge: once it reaches three quarters of `delivery_budget_bytes` the
//! shard is *over budget* until it falls to half (hysteresis, so publishers are
//! not flapped). Over budget, the shard tells every other shard over the rings
//! (one message per change, never one per publish: no cross-core traffic on
//! the message path), and while any shard is over budget the connection tasks
//! of every shard stop before their next PUBLISH packet and read no more from
//! that client: TCP backpressure reaches the publishers. Subscribers are still
//! read, so their acknowledgements drain the backlog.
//!
//! What arrives after the pause starts is what was already on its way: ring
//! items and outboxes from other shards, bounded by `limits::RING_CAPACITY`
//! and `limits::RING_OUTBOX_PUBLISH_MAX` per pair of shards; the last quarter
//! of the budget is for them.
//!
//! A subscriber that makes no progress (writes nothing) for
//! `slow_subscriber_timeout_ms` while messages wait for it is stuck, not
//! slow: its session leaves the budget and keeps to the offline bounds, or it
//! is disconnected (`slow_subscriber_action`), so that one stuck client never
//! holds the publishers and everyone else for longer than that timeout.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};

use shardmq::limits;
use shardmq::protocol::ReasonCode;
use shardmq::session::Gauge;

use super::connection::Progress;
use super::{Connection, Shard, ShardMessage};
use crate::config::SlowSubscriberAction;
use crate::wake::WaitList;

/// One shard's view of the delivery budgets: its own and the other shards'.
#[derive(Debug)]
pub struct DeliveryFlow {
    /// Bytes queued for this shard's connected subscribers.
    gauge: Arc<Gauge>,
    pause_at_bytes: usize,
    resume_at_bytes: usize,
    /// This shard's backlog reached `pause_at_bytes` and has not yet fallen to
    /// `resume_at_bytes`.
    over_budget: Cell<bool>,
    /// The other shards that said they are over budget, by index.
    remote_over_budget: RefCell<Vec<bool>>,
    /// How many of `remote_over_budget` are set.
    remote_over_count: Cell<usize>,
    /// Publishers' tasks waiting for the pause to lift.
    waiters: WaitList,
    /// Since when publishing is paused on this shard, ms.
    paused_since_ms: Cell<Option<u64>>,
}

/// What a change of the budgets did to this shard's publishers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PauseChange {
    /// Nothing changed.
    None,
    /// Publishing was paused at this time, ms.
    Paused,
    /// Publishing resumed after this long a pause, ms.
    Resumed {
        /// How long publishing was paused, ms.
        paused_ms: u64,
    },
}

impl DeliveryFlow {
    /// The flow of a shard of `shard_count` whose sessions count on `gauge`,
    /// with a budget of `budget_bytes`.
    pub fn new(gauge: Arc<Gauge>, budget_bytes: usize, shard_count: usize) -> DeliveryFlow {
        DeliveryFlow {
            gauge,
            pause_at_bytes: limits::delivery_pause_at_bytes(budget_bytes),
            resume_at_bytes: limits::delivery_resume_at_bytes(budget_bytes),
            over_budget: Cell::new(false),
            remote_over_budget: RefCell::new(vec![false; shard_count]),
            remote_over_count: Cell::new(0),
            waiters: WaitList::default(),
            paused_since_ms: Cell::new(None),
        }
    }

    /// Bytes queued for this shard's connected subscribers now.
    pub fn backlog_bytes(&self) -> usize {
        self.gauge.get()
    }

    /// Looks at the gauge: `Some(over)` when this shard just went over budget
    /// (`true`) or back within it (`false`), for the caller to tell the other
    /// shards.
    pub fn check_budget(&self) -> Option<bool> {
        let bytes = self.gauge.get();
        let over = self.over_budget.get();
        let now_over = if over {
            bytes > self.resume_at_bytes
        } else {
            bytes >= self.pause_at_bytes
        };
        (now_over != over).then(|| {
            self.over_budget.set(now_over);
            now_over
        })
    }

    /// Shard `shard` said it is over budget (`true`) or back within it.
    pub fn set_remote(&self, shard: usize, over: bool) {
        let mut remote = self.remote_over_budget.borrow_mut();
        let Some(flag) = remote.get_mut(shard) else {
            return;
        };
        if *flag != over {
            *flag = over;
            let count = self.remote_over_count.get();
            self.remote_over_count
                .set(if over { count + 1 } else { count - 1 });
        }
    }

    /// True while this shard's publishers must wait: some shard, this one or
    /// another, is over budget.
    pub fn is_paused(&self) -> bool {
        self.over_budget.get() || self.remote_over_count.get() > 0
    }

    /// Ready when publishing is not paused; otherwise wakes the task of `cx`
    /// once it resumes.
    pub fn poll_resumed(&self, cx: &Context<'_>) -> Poll<()> {
        self.waiters.poll_until(cx, || !self.is_paused())
    }

    /// After the budgets changed, at `now_ms`: wakes the waiting publishers
    /// when the pause lifted, and says what changed.
    pub fn settle(&self, now_ms: u64) -> PauseChange {
        match (self.is_paused(), self.paused_since_ms.get()) {
            (true, None) => {
                self.paused_since_ms.set(Some(now_ms));
                PauseChange::Paused
            }
            (false, Some(since_ms)) => {
                self.paused_since_ms.set(None);
                self.waiters.wake_all();
                PauseChange::Resumed {
                    paused_ms: now_ms.saturating_sub(since_ms),
                }
            }
            _ => PauseChange::None,
        }
    }
}

impl Shard {
    /// Looks at this shard's delivery backlog; when it went over its budget or
    /// back within it, tells the other shards and pauses or resumes this
    /// shard's publishers.
    pub(super) fn check_delivery_budget(&self) {
        if let Some(over) = self.flow.check_budget() {
            tracing::debug!(
                shard = self.index,
                over,
                backlog_bytes = self.flow.backlog_bytes(),
                "delivery budget"
            );
            self.mesh.broadcast_with(|| ShardMessage::DeliveryBacklog {
                from: self.index,
                over,
            });
            self.settle_flow();
        }
    }

    /// After a change of any shard's budget: wakes the paused publishers when
    /// the pause lifted, and counts how long it lasted.
    pub(super) fn settle_flow(&self) {
        if let PauseChange::Resumed { paused_ms } = self.flow.settle(self.now_ms()) {
            self.stats.publishing_paused_ms.add(paused_ms);
        }
    }

    /// True when a PUBLISH must wait now: this shard's backlog (looked at
    /// first) or another's is over its budget.
    pub(super) fn publishing_paused(&self) -> bool {
        self.check_delivery_budget();
        self.flow.is_paused()
    }

    /// True while the session `connection` serves has messages in flight
    /// to its client, awaiting acknowledgements.
    pub(super) fn owes_acknowledgements(&self, connection: &Connection) -> bool {
        self.store
            .with(connection.session_key, |entry| {
                entry.session.inflight_len() > 0
            })
            .unwrap_or(false)
    }

    /// Finds the connected subscribers that wrote nothing for
    /// `slow_subscriber_timeout_ms` while messages waited for them, and
    /// handles them by `slow_subscriber_action`; a stalled one that wrote
    /// again counts against the budget again. One pass over the connections;
    /// a session is looked up only while the shard has a backlog, or for a
    /// stalled connection that wrote.
    pub(super) fn sweep_stalled_subscribers(&self, now_ms: u64) {
        let timeout_ms = self.config.slow_subscriber_timeout_ms;
        let backlog = self.flow.backlog_bytes() > 0;
        let mut resumed = Vec::new();
        let mut stalled = Vec::new();
        {
            self.connections
                .for_each(|connection| match connection.sweep_progress() {
                    Progress::Unchanged => {}
                    Progress::Resumed => resumed.push(Rc::clone(connection)),
                    Progress::Quiet if backlog => {
                        let waiting = self
                            .store
                            .with(connection.session_key, |entry| {
                                entry.session.holds_backlog()
                            })
                            .unwrap_or(false);
                        if connection.stalled_for(waiting, now_ms, timeout_ms) {
                            stalled.push(Rc::clone(connection));
                        }
                    }
                    Progress::Quiet => {}
                });
        }
        for connection in resumed {
            self.store.with(connection.session_key, |entry| {
                entry.session.subscriber_progressed()
            });
        }
        for connection in stalled {
            self.subscriber_stalled(&connection, now_ms);
        }
        self.check_delivery_budget();
    }

    /// `connection` made no progress for the timeout with messages waiting.
    fn subscriber_stalled(&self, connection: &Rc<Connection>, now_ms: u64) {
        let key = connection.session_key;
        let disconnect = self.config.slow_subscriber_action == SlowSubscriberAction::Disconnect;
        let mut actions = Vec::new();
        let stalled = self.store.with(key, |entry| {
            if !entry.session.subscriber_stalled() {
                return false;
            }
            tracing::debug!(
                connection = connection.id,
                peer = %connection.peer,
                client_id = %entry.session.client_id(),
                disconnect,
                "subscriber stalled"
            );
            if disconnect {
                // It does not read: what waits for it would hold the goodbye
                // back. Its QoS 1/2 messages stay with the session.
                connection.discard_output();
                entry
                    .session
                    .close(ReasonCode::QuotaExceeded, now_ms, &mut actions);
            }
            true
        });
        if stalled != Some(true) {
            return;
        }
        self.stats.stalled_subscribers.add(1);
        self.stats
            .stalled_subscribers_disconnected
            .add(u64::from(disconnect));
        self.run_actions(key, Some(connection), &mut actions);
    }
}
