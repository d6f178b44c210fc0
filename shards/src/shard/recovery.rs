//! What a shard starts from and what it leaves: restoring the state
//! start-up hands it (sessions, trie replica, retained replica) and taking its
//! snapshots (capture, journal switch, write), every `snapshot_interval_s` and
//! once more on stop.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Instant;

use shardmq::persist::schema::SessionSnapshot;
use shardmq::retained::Stamp;
use shardmq::session::{Action, Session, SubscriptionMatch};

use super::store::SessionKey;
use super::Shard;
use crate::home::home_shard;
use crate::persist::{wall_clock_ms, Captured, ShardRestore};

impl Shard {
    /// Loads the state the shard starts from: sessions, its trie replica (local
    /// and remote) and the retained replica; then runs what the restored
    /// sessions ask for (timers, wills of sessions whose connection was lost).
    pub(super) fn restore(&self, restore: ShardRestore) {
        let now_ms = self.now_ms();
        let wall_ms = wall_clock_ms();
        let mut pending: Vec<(SessionKey, Vec<Action>)> = Vec::new();
        let mut restore_one = |snapshot| {
            if let Some(pending_one) = self.restore_session(snapshot, now_ms, wall_ms) {
                pending.push(pending_one);
            }
        };
        if let Some(file) = &restore.sessions {
            if let Err(error) = file.for_each_session(&mut restore_one) {
                tracing::error!(shard = self.index, %error, "stored sessions not all restored");
            }
        }
        for (topic_filter, shard) in &restore.remote_filters {
            if let Err(error) = self.router.apply_transition(topic_filter, *shard, true) {
                tracing::warn!(%topic_filter, ?error, "stored remote subscription not restored");
            }
        }
        for message in restore.retained.messages(now_ms, wall_ms) {
            self.router
                .apply_retained(message, Stamp::default(), now_ms);
        }
        tracing::info!(
            shard = self.index,
            sessions = pending.len(),
            remote_filters = restore.remote_filters.len(),
            retained = restore.retained.len(),
            "shard state restored"
        );
        for (key, mut actions) in pending {
            self.run_actions(key, None, &mut actions);
        }
    }

    /// One stored session made live and entered in the shard's tables; its key and
    /// the actions it asks for (run once every session is in).
    fn restore_session(
        &self,
        snapshot: SessionSnapshot,
        now_ms: u64,
        wall_ms: u64,
    ) -> Option<(SessionKey, Vec<Action>)> {
        let mut actions = Vec::new();
        let session = match Session::from_snapshot(
            snapshot,
            &self.access.session_config(),
            &self.session_meters,
            now_ms,
            wall_ms,
            &mut actions,
        ) {
            Ok(session) => session,
            Err(error) => {
                tracing::warn!(%error, "stored session not restored");
                return None;
            }
        };
        let subscriptions: Vec<_> = session
            .subscriptions()
            .map(|(topic_filter, options, subscription_identifier)| {
                (
                    topic_filter.clone(),
                    SubscriptionMatch::new(options, subscription_identifier),
                )
            })
            .collect();
        let key = self.store.restore(session);
        for (topic_filter, value) in subscriptions {
            if let Err(error) = self.router.subscribe(&topic_filter, key, value) {
                tracing::warn!(%topic_filter, ?error, "stored subscription not restored");
            }
        }
        Some((key, actions))
    }

    /// Captures the shard's persisted state and switches its journal at the same
    /// instant, then writes the snapshot.
    pub(super) async fn take_snapshot(&self) {
        let Some(persistence) = self.persistence() else {
            return;
        };
        let started = std::time::Instant::now();
        let captured = self.capture();
        let appended_before = persistence.journal.appended();
        let sequence = persistence.journal.rotate();
        let capture_ms = started.elapsed().as_millis() as u64;
        persistence
            .write_snapshot(sequence, appended_before, captured, capture_ms)
            .await;
    }

    /// Copies of the persisted sessions and of the retained messages this shard
    /// owns; their conversion to records happens off the shard thread.
    fn capture(&self) -> Captured {
        let mut sessions = Vec::new();
        self.store.for_each(|entry| {
            if entry.session.is_journaled() {
                sessions.push(entry.session.clone());
            }
        });
        let retained = self.router.retained_where(|message| {
            home_shard(&message.topic_name, self.shard_count) == self.index
        });
        Captured {
            sessions,
            retained,
            now_ms: self.now_ms(),
            wall_clock_ms: wall_clock_ms(),
        }
    }
}

/// When a shard's next snapshot is due, and the one being written.
pub(super) struct SnapshotSchedule {
    next_at: Option<Instant>,
    running: Option<glommio::Task<()>>,
    busy: Rc<Cell<bool>>,
}

impl SnapshotSchedule {
    pub(super) fn new(shard: &Shard) -> SnapshotSchedule {
        SnapshotSchedule {
            next_at: shard
                .persistence
                .as_ref()
                .map(|persistence| Instant::now() + persistence.snapshot_interval()),
            running: None,
            busy: Rc::new(Cell::new(false)),
        }
    }

    /// How long until the next snapshot is due, ms; `None` without persistence.
    pub(super) fn due_in_ms(&self) -> Option<u64> {
        self.next_at.map(|at| {
            u64::try_from(at.saturating_duration_since(Instant::now()).as_millis())
                .unwrap_or(u64::MAX)
        })
    }

    /// Starts a snapshot when one is due and none is being written.
    pub(super) fn start_if_due(&mut self, shard: &Rc<Shard>) {
        let (Some(next_at), Some(persistence)) = (self.next_at, &shard.persistence) else {
            return;
        };
        if self.busy.get() || Instant::now() < next_at {
            return;
        }
        self.next_at = Some(Instant::now() + persistence.snapshot_interval());
        let task_shard = Rc::clone(shard);
        let busy = Rc::clone(&self.busy);
        busy.set(true);
        self.running = Some(glommio::spawn_local(async move {
            task_shard.take_snapshot().await;
            busy.set(false);
        }));
    }

    /// On stop, after the clients were disconnected: waits for a snapshot under
    /// way, then writes the final one, unless a journal failed (fail-stop: no
    /// more writes; the restart replays what is on disk).
    pub(super) async fn finish(&mut self, shard: &Rc<Shard>) {
        if let Some(running) = self.running.take() {
            running.await;
        }
        let failed = shard
            .persistence()
            .is_some_and(|persistence| persistence.broker_failed());
        if failed {
            tracing::warn!(
                shard = shard.index,
                "no final snapshot: a journal failed; the restart replays what is on disk"
            );
            return;
        }
        shard.take_snapshot().await;
    }
}
