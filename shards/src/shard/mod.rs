//! One shard: its state and its tasks.
//!
//! A shard owns its connections, the sessions whose client id it is home to, its
//! replica of the subscription trie, its replica of the retained messages
//! (`shardmq::retained`) and its timer queue (`shardmq::timers`), all in
//! `RefCell`s on one thread: no locks, no atomics on the message path. Its
//! tasks are the accept loop, one per connection, one consumer per inbound
//! ring, one pump per outbound ring and the timer tick. The tick is the one
//! glommio timer behind every session timer of the shard: it sleeps until the
//! earliest deadline (at least `limits::TIMER_TICK_MS`, at most
//! `limits::TIMER_TICK_IDLE_MS`; arming an earlier one, or a stop request,
//! wakes it) and fires whatever is due. It also notices a stop request and,
//! every `limits::QUEUE_PURGE_INTERVAL_MS`, purges expired messages from
//! session queues.
//!
//! ## Parts: each owns its state, reached through its methods
//!
//! | module | owns | may touch |
//! | --- | --- | --- |
//! | `store` | the sessions by key and by client id, their will and expiry timers | nothing else |
//! | `router` | the trie replica, the retained replica and its stamps, the walk's buffers | nothing else |
//! | `replication` | barriers under way, filters in flight, changes noted during a run | the connections it holds |
//! | `connections` | attached connections, ids, live tasks, CONNECTs being read, closes watched | the connections |
//! | `dispatch` | the depth of nested runs of actions and their buffers | nothing else |
//! | `clock` | the shard's clock reading and the tick's wake-up | nothing else |
//! | `flow` (`DeliveryFlow`) | the delivery budgets of this shard and the others | nothing else |
//! | `parking` (`ParkingLot`) | parked sockets and their epoll watcher | the sockets |
//! | `connection` | one connection's outbound queue and the flags its task obeys | nothing else |
//! | `access` | the authentication files and ACL in force, the failed-authentication throttle (`throttle`) | nothing else |
//!
//! ## Glue: how the parts work together (`impl Shard`)
//!
//! - `dispatch`: runs the actions a session asked for against the parts.
//! - `sessions`: packets, timers, deliveries and lost connections into sessions.
//! - `routing`: delivering and forwarding what the router decided; ring
//!   messages from the other shards.
//! - `attach`: CONNECT accepted: hand-off to the home shard, takeover, resume.
//! - `journaling`: the records sessions and the router ask for; answers held
//!   until durable.
//! - `flow`: publishers paused while a backlog is over budget; stalled
//!   subscribers cut out of it.
//! - `parking`: idle connections parked and brought back.
//! - `recovery`: restoring the state start-up hands the shard; its snapshots.
//!
//! ## Tasks and their files
//!
//! - `connect_read`: a new connection's transport handshake and CONNECT, and
//!   its hand-off to the home shard.
//! - `task`: a connection's one task: reading and handling packets, writing.
//! - `read_ahead`: the acknowledgements behind a PUBLISH paused by `flow`.
//! - `ring_message`: what crosses the rings between shards.

mod access;
mod attach;
mod clock;
mod connect_read;
mod connection;
mod connections;
mod dispatch;
mod flow;
mod journaling;
mod parking;
mod read_ahead;
mod recovery;
mod replication;
mod ring_message;
mod router;
mod routing;
mod sessions;
mod store;
mod task;
mod throttle;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::future;
use shardmq::limits;
use shardmq::session::{SessionConfig, SessionMeters};

use crate::config::Config;
use crate::listener::{accept_turn, idle_poll, Listener};
use crate::persist::{PersistSetup, ShardPersistence};
use crate::ring::{Inbound, Mesh, RingEnds};
use crate::stats::ShardCounters;
use crate::stop::StopSignal;
pub use connection::Connection;
pub use ring_message::ShardMessage;
use store::SessionStore;

/// Everything a shard thread starts from; built by `Broker::start`.
pub struct ShardSetup {
    /// This shard's index.
    pub index: usize,
    /// Number of shards.
    pub shard_count: usize,
    /// The broker configuration.
    pub config: Config,
    /// This shard's listeners, each with the transport its connections speak.
    pub listeners: Vec<Listener>,
    /// This shard's ring ends.
    pub rings: RingEnds<ShardMessage>,
    /// Requested when the broker is to stop.
    pub stop: Arc<StopSignal>,
    /// This shard's counters, registered in the broker's statistics.
    pub stats: Arc<ShardCounters>,
    /// The instant `now_ms` counts from, the same on every shard.
    pub epoch: Instant,
    /// Told once the rings are connected and the shard is serving.
    pub ready: std::sync::mpsc::SyncSender<()>,
    /// The data directory and the state to start from, when persistence is on.
    pub persistence: Option<PersistSetup>,
    /// Seeds of the trie replica's label hashing, random per broker start.
    pub label_seeds: [u64; 4],
    /// The authentication and ACL files, shared by the shards.
    pub auth: Arc<crate::auth::AuthRegistry>,
}

/// The state of one shard: its settings, and the parts that own the rest.
/// Each part lives in its own module, owns its fields and is reached through
/// its methods only; the `impl Shard` files (`attach`, `dispatch`,
/// `journaling`, `routing`, `sessions`, `flow`, `parking`, `recovery`) are
/// the glue that makes them work together.
pub struct Shard {
    /// This shard's index.
    index: usize,
    /// Number of shards.
    shard_count: usize,
    /// The broker configuration.
    config: Config,
    /// The settings every session of the shard runs under, with the
    /// authentication files in force.
    access: access::Access,
    /// The counts this shard's sessions keep together (its delivery backlog
    /// among them, which `flow` reads).
    session_meters: Arc<SessionMeters>,
    /// Milliseconds since the broker started, as the sessions see them.
    clock: clock::ShardClock,
    /// This shard's counters (see `crate::stats`).
    stats: Arc<ShardCounters>,
    /// This shard's ends of the rings to the other shards.
    mesh: Rc<Mesh<ShardMessage>>,
    /// The sessions this shard is home to, and their timers.
    store: SessionStore,
    /// The connections attached here, tasks alive, closes watched.
    connections: connections::ConnectionSet,
    /// The trie and retained replicas: where a message goes.
    router: router::Router,
    /// Runs the sessions' actions against the parts.
    dispatcher: dispatch::Dispatcher,
    /// Barriers holding clients until the other shards applied their changes.
    replication: replication::Replication,
    /// The one buffer every socket read of the shard goes through; only the
    /// bytes received are kept (see `task`).
    read_scratch: RefCell<Vec<u8>>,
    /// Client ids this shard assigned so far (see `attach`).
    next_assigned_id: Cell<u64>,
    /// The shard is stopping: the accept loop ends.
    stopping: Cell<bool>,
    /// The journal and snapshots, when the broker has a data directory.
    persistence: Option<Rc<ShardPersistence>>,
    /// `None` when the lot could not be set up (then nothing parks).
    parking: Option<parking::ParkingLot>,
    /// When the tick next wakes, ms: a timer armed earlier wakes it sooner.
    tick: clock::TickWake,
    /// The delivery budgets of this shard and the others.
    flow: flow::DeliveryFlow,
}

/// Runs one shard until the broker is asked to stop.
pub async fn run(setup: ShardSetup) {
    // A shard that failed to start never connects its ends of the rings; the
    // broker then asks the others to stop instead of leaving them waiting.
    let counters = Arc::clone(&setup.stats);
    let connected = future::or(async { Some(setup.rings.connect(counters).await) }, async {
        setup.stop.requested().await;
        None
    })
    .await;
    let Some((mesh, inbound)) = connected else {
        tracing::debug!(shard = setup.index, "stopped before the rings connected");
        return;
    };
    // The lot's watcher also reports waiting connections on the listeners,
    // so it runs even when idle connections are not parked.
    let (parking, doorbell) = match parking::ParkingLot::start(setup.index) {
        Ok((lot, doorbell)) => (Some(lot), Some(doorbell)),
        Err(error) => {
            tracing::warn!(shard = setup.index, %error, "idle connections will not be parked; listeners are polled");
            (None, None)
        }
    };
    let session_config = SessionConfig {
        journal: setup.persistence.is_some(),
        ..setup.config.session_config()
    };
    let session_meters = Arc::new(SessionMeters::with_tallies(
        setup.stats.session_drops(),
        setup.stats.acl_denials(),
    ));
    let flow = flow::DeliveryFlow::new(
        Arc::clone(&session_meters.delivery_gauge),
        setup.config.delivery_budget_bytes,
        setup.shard_count,
    );
    let router = router::Router::new(
        setup.index,
        setup.label_seeds,
        setup.config.max_retained_messages,
        setup.config.max_retained_bytes,
    );
    let shard = Rc::new(Shard {
        index: setup.index,
        shard_count: setup.shard_count,
        config: setup.config,
        access: access::Access::new(setup.auth, session_config),
        session_meters,
        clock: clock::ShardClock::new(setup.epoch),
        stats: setup.stats,
        mesh,
        store: SessionStore::new(),
        dispatcher: dispatch::Dispatcher::default(),
        replication: replication::Replication::new(setup.shard_count),
        connections: connections::ConnectionSet::default(),
        router,
        read_scratch: RefCell::new(vec![0; limits::READ_CHUNK_SIZE]),
        next_assigned_id: Cell::new(0),
        stopping: Cell::new(false),
        persistence: setup
            .persistence
            .as_ref()
            .map(|persist| Rc::new(ShardPersistence::new(setup.index, persist))),
        parking,
        tick: clock::TickWake::default(),
        flow,
    });
    let flusher = shard
        .persistence
        .as_ref()
        .map(|persistence| glommio::spawn_local(Rc::clone(&persistence.journal).run_flusher()));
    if let Some(persist) = setup.persistence {
        shard.restore(persist.restore);
    }
    if let Some(doorbell) = doorbell {
        glommio::spawn_local(parking::serve_doorbell(Rc::clone(&shard), doorbell)).detach();
        glommio::spawn_local(parking::serve_requests(Rc::clone(&shard))).detach();
    }
    for ring in inbound {
        glommio::spawn_local(consume_ring(Rc::clone(&shard), ring)).detach();
    }
    let accepting = glommio::spawn_local(accept_loop(Rc::clone(&shard), setup.listeners));
    tracing::debug!(shard = shard.index, "shard running");
    // The broker waits for this; if it gave up, nobody listens any more.
    let _ = setup.ready.send(());
    let mut snapshots = recovery::SnapshotSchedule::new(&shard);
    let mut next_purge_ms = limits::QUEUE_PURGE_INTERVAL_MS;
    // An idle connection parks after between one and one and a half
    // `idle_park_ms`.
    let park_idle_ms = (shard.parking.is_some() && shard.config.idle_park_ms > 0)
        .then_some(shard.config.idle_park_ms);
    let sweep_ms = park_idle_ms.map_or(limits::CONNECTION_SWEEP_MS, |idle_ms| {
        (idle_ms / 2).clamp(limits::TIMER_TICK_MS, limits::CONNECTION_SWEEP_MS)
    });
    let mut next_sweep_ms = sweep_ms;
    while !setup.stop.is_requested() {
        let now_ms = shard.now_ms();
        let due_ms = [
            shard.store.next_deadline_ms(),
            Some(next_sweep_ms),
            Some(next_purge_ms),
            snapshots
                .due_in_ms()
                .map(|in_ms| now_ms.saturating_add(in_ms)),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(u64::MAX);
        let sleep_ms = due_ms
            .saturating_sub(now_ms)
            .clamp(limits::TIMER_TICK_MS, limits::TIMER_TICK_IDLE_MS);
        shard.tick.sleeping_until(now_ms + sleep_ms);
        future::or(
            glommio::timer::sleep(Duration::from_millis(sleep_ms)),
            future::or(shard.tick.woken(), setup.stop.requested()),
        )
        .await;
        shard.tick.awake();
        shard.fire_due_timers();
        snapshots.start_if_due(&shard);
        let now_ms = shard.now_ms();
        if now_ms >= next_sweep_ms {
            shard.sweep_connections(now_ms, park_idle_ms);
            shard.sweep_stalled_subscribers(now_ms);
            next_sweep_ms = now_ms + sweep_ms;
        }
        shard.connections.abort_slow_closes(now_ms);
        if now_ms >= next_purge_ms {
            shard.purge_expired_messages(now_ms);
            next_purge_ms = now_ms + limits::QUEUE_PURGE_INTERVAL_MS;
        }
        // Expiries, stalls and lost connections lower the backlog too.
        shard.check_delivery_budget();
        shard.router.sweep_retained(now_ms);
    }
    shard.stopping.set(true);
    if let Some(lot) = &shard.parking {
        lot.wake_accept();
    }
    accepting.await;
    shard.disconnect_all().await;
    snapshots.finish(&shard).await;
    if let (Some(persistence), Some(flusher)) = (&shard.persistence, flusher) {
        persistence.journal.close();
        flusher.await;
    }
    tracing::debug!(shard = shard.index, "shard stopped");
}

/// Accept errors (e.g. out of file descriptors) repeat every turn; one log line
/// per this interval is enough, ms.
const ACCEPT_ERROR_LOG_INTERVAL_MS: u64 = 1_000;

/// Accepts connections until the shard stops. With nothing pending it waits
/// for the parking lot's watcher to report a waiting connection; without a
/// lot (or should the listeners not be watchable) it polls them every
/// `limits::ACCEPT_IDLE_POLL_MS`, as it also does while accepting fails.
async fn accept_loop(shard: Rc<Shard>, listeners: Vec<Listener>) {
    let mut next_error_log_ms = 0;
    let mut watched = match &shard.parking {
        Some(lot) => match lot.watch_listeners(&listeners) {
            Ok(()) => Some(lot),
            Err(error) => {
                tracing::warn!(shard = shard.index, %error, "listeners cannot be watched; polling them");
                None
            }
        },
        None => None,
    };
    while !shard.stopping.get() {
        let turn = accept_turn(&listeners);
        if let Some(error) = turn.errors.first() {
            let now_ms = shard.now_ms();
            if now_ms >= next_error_log_ms {
                tracing::warn!(shard = shard.index, %error, errors = turn.errors.len(), "accept failed");
                next_error_log_ms = now_ms + ACCEPT_ERROR_LOG_INTERVAL_MS;
            }
        }
        if turn.accepted.is_empty() {
            match watched {
                Some(lot) if turn.errors.is_empty() => match lot.rearm_listeners(&listeners) {
                    Ok(()) => lot.listeners_ready().await,
                    Err(error) => {
                        // Polled from now on, and said once.
                        tracing::warn!(shard = shard.index, %error, "listeners cannot be watched; polling them");
                        watched = None;
                        glommio::timer::sleep(idle_poll()).await;
                    }
                },
                _ => glommio::timer::sleep(idle_poll()).await,
            }
            continue;
        }
        for accepted in turn.accepted {
            shard.stats.connections_accepted.add(1);
            if shard.connections.load() >= limits::CONNECTIONS_PER_SHARD_MAX {
                shard.stats.connections_refused.add(1);
                continue;
            }
            let Some(admission) = accepted.limit.admit() else {
                shard.stats.connections_refused_by_limit.add(1);
                continue;
            };
            shard.connections.connect_read_started();
            let task_shard = Rc::clone(&shard);
            glommio::spawn_local(async move {
                connect_read::serve_accepted(
                    Rc::clone(&task_shard),
                    accepted.socket,
                    accepted.peer,
                    accepted.transport,
                    admission,
                )
                .await;
                task_shard.connections.connect_read_ended();
            })
            .detach();
        }
        glommio::yield_if_needed().await;
    }
}

/// Applies one inbound ring's messages; never waits on another shard.
///
/// A ring that holds messages is read without waiting, so the consumer takes
/// a turn after every `limits::RING_RECEIVE_BATCH_MAX` of them: the writers of
/// the subscribers it delivered to run before it reads on.
async fn consume_ring(shard: Rc<Shard>, ring: Inbound<ShardMessage>) {
    let mut batch = 0;
    while let Some(message) = ring.receiver.recv().await {
        shard.on_ring_message(ring.from, message);
        shard.check_delivery_budget();
        batch += 1;
        if batch == limits::RING_RECEIVE_BATCH_MAX {
            batch = 0;
            glommio::executor().yield_now().await;
        }
    }
}

impl Shard {
    /// Milliseconds since the broker started: the clock every session sees
    /// (see [`clock::ShardClock`]).
    fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// Frees the expired messages queued in this shard's sessions; offline ones are
    /// touched by nothing else. Costs one comparison per session with nothing due.
    fn purge_expired_messages(&self, now_ms: u64) {
        self.store.for_each(|entry| {
            entry.session.purge_expired(now_ms);
        });
    }

    /// Stops every connection: DISCONNECT 0x8B to 5.0 clients, then a flush
    /// bounded by `shutdown_flush_ms`.
    async fn disconnect_all(&self) {
        let connections = self.connections.all();
        self.abandon_held_answers();
        self.replication.release_all();
        for connection in &connections {
            sessions::send_server_shutting_down(connection);
            connection.close();
        }
        let counts = self.stats.snapshot();
        tracing::debug!(
            shard = self.index,
            ring_items_dropped = counts.ring_items_dropped,
            publishes_dropped_at_full_outbox = counts.ring_publishes_dropped,
            replication_past_outbox_bound = counts.ring_messages_over_capacity,
            "disconnecting all clients"
        );
        let deadline = Instant::now() + Duration::from_millis(self.config.shutdown_flush_ms);
        while Instant::now() < deadline && connections.iter().any(|c| !c.is_written_out()) {
            glommio::timer::sleep(Duration::from_millis(limits::TIMER_TICK_MS)).await;
        }
    }
}
