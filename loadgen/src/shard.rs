//! One shard's run: spawn a task per connection, wait until they are set up,
//! meet the other shards at the start, then watch the clock and the run
//! control until the run is over, and hand back what the tasks recorded.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Sender;
use glommio::sync::Semaphore;

use crate::client::{self, Gates, Role};
use crate::context::ShardContext;
use crate::control::RunControl;
use crate::limits::{CONTROL_TICK_MS, PROGRESS_INTERVAL_MS};
use crate::plan::{self, RoleKind};
use crate::progress::ProgressSample;
use crate::publisher::Publisher;
use crate::scenario::{Scenario, ScenarioKind};
use crate::stats::ShardStats;
use crate::subscriber::Subscriber;
use crate::tracker::SequenceCounts;
use crate::transport::Connector;

/// What one subscriber received, per expected publisher.
#[derive(Clone, Debug)]
pub struct SubscriberResult {
    /// The subscriber's index.
    pub index: u32,
    /// First expected publisher; `counts[k]` is publisher `first_publisher + k`.
    pub first_publisher: u32,
    /// Per publisher.
    pub counts: Vec<SequenceCounts>,
}

/// What one shard hands back.
#[derive(Debug)]
pub struct ShardResult {
    /// Counters and latencies.
    pub stats: ShardStats,
    /// Messages each publisher of this shard wrote: (publisher index, count).
    pub published_by: Vec<(u32, u64)>,
    /// What each subscriber of this shard received.
    pub subscribers: Vec<SubscriberResult>,
    /// Intended time of the first message, ns since the epoch; 0 if the run
    /// never started.
    pub start_ns: u64,
}

/// Runs shard `shard` of `scenario` to the end, its connections opened by
/// `connector`.
pub async fn run_shard(
    shard: usize,
    scenario: Scenario,
    connector: Connector,
    control: Arc<RunControl>,
    progress: Sender<ProgressSample>,
) -> ShardResult {
    let _abort_on_panic = AbortOnPanic(control.clone());
    let ctx = Rc::new(ShardContext::new(shard, scenario, connector, control));
    let plans = plan::for_shard(&ctx.scenario, shard);
    let ready = Rc::new(Semaphore::new(0));
    let start = Rc::new(Semaphore::new(0));
    let connect_interval_ns = connect_interval_ns(&ctx.scenario);
    let setup_start_ns = ctx.now_ns();
    let mut roles = Vec::with_capacity(plans.len());
    let mut tasks = Vec::with_capacity(plans.len());
    for (k, plan) in plans.into_iter().enumerate() {
        let role = Rc::new(RefCell::new(match plan.role {
            RoleKind::Publisher => Role::Publisher(Publisher::new(plan.index, &plan.topic)),
            RoleKind::Subscriber => Role::Subscriber(Subscriber::new(
                plan.index,
                ctx.scenario.expected_publishers(plan.index),
                ctx.scenario.qos,
            )),
            RoleKind::Idle => Role::Idle,
        }));
        roles.push(role.clone());
        let gates = Gates {
            ready: ready.clone(),
            start: start.clone(),
        };
        let not_before_ns = setup_start_ns + connect_interval_ns * k as u64;
        tasks.push(glommio::spawn_local(client::run(
            ctx.clone(),
            plan,
            not_before_ns,
            role,
            gates,
        )));
    }
    let clients = tasks.len() as u64;
    let reporter = glommio::spawn_local(report_progress(ctx.clone(), progress.clone()));
    // Setup is bounded: every client signals once, failed or not.
    let _ = ready.acquire(clients).await;
    let Some(start_ns) = meet_other_shards(&ctx).await else {
        drop(tasks);
        return collect(&ctx, &roles, 0);
    };
    ctx.set_start(start_ns);
    start.signal(clients);
    watch_until_over(&ctx).await;
    ctx.control.mark_end();
    drop(reporter);
    send_progress(&ctx, &progress);
    drop(tasks);
    collect(&ctx, &roles, start_ns)
}

/// Sends a progress sample every interval, setup included, until cancelled.
async fn report_progress(ctx: Rc<ShardContext>, progress: Sender<ProgressSample>) {
    loop {
        glommio::timer::sleep(Duration::from_millis(PROGRESS_INTERVAL_MS)).await;
        send_progress(&ctx, &progress);
    }
}

/// Aborts the run if this shard panics, so that the other shards do not wait
/// for it at the start barrier forever.
struct AbortOnPanic(Arc<RunControl>);

impl Drop for AbortOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.abort();
        }
    }
}

/// Nanoseconds between this shard's connection attempts.
fn connect_interval_ns(scenario: &Scenario) -> u64 {
    if scenario.connect_rate_per_s == 0.0 {
        return 0;
    }
    (1e9 * scenario.shards as f64 / scenario.connect_rate_per_s) as u64
}

/// Waits at the start barrier; `None` when the run was aborted.
async fn meet_other_shards(ctx: &ShardContext) -> Option<u64> {
    if let Some(start_ns) = ctx.control.arrive() {
        return Some(start_ns);
    }
    // Every shard is in its setup at this point or just finishing it; a short
    // poll costs nothing next to the handshakes it waits for.
    loop {
        glommio::timer::sleep(Duration::from_millis(1)).await;
        if ctx.control.is_aborted() {
            return None;
        }
        if let Some(start_ns) = ctx.control.start_ns() {
            return Some(start_ns);
        }
    }
}

async fn watch_until_over(ctx: &ShardContext) {
    loop {
        glommio::timer::sleep(Duration::from_millis(CONTROL_TICK_MS)).await;
        let distinct = std::mem::take(&mut ctx.stats.borrow_mut().distinct_unreported);
        ctx.control.add_distinct_deliveries(distinct);
        if is_over(ctx) {
            return;
        }
    }
}

fn send_progress(ctx: &ShardContext, progress: &Sender<ProgressSample>) {
    let mut stats = ctx.stats.borrow_mut();
    let sample = ProgressSample {
        shard: ctx.shard,
        published: stats.published,
        delivered: stats.delivered,
        connections_up: stats.connections_up,
        errors: stats.errors.total(),
        interval_delivery: stats.take_interval_delivery(),
        interval_connack: std::mem::take(&mut stats.interval_connack),
    };
    // A full queue means the printing thread is behind; a lost line is fine.
    let _ = progress.try_send(sample);
}

fn is_over(ctx: &ShardContext) -> bool {
    let control = &ctx.control;
    let now_ns = ctx.now_ns();
    let scenario = &ctx.scenario;
    let start_ns = ctx.start_ns.get();
    match scenario.kind {
        ScenarioKind::Conn { .. } => now_ns >= start_ns + scenario.duration.as_nanos() as u64,
        ScenarioKind::Sub => now_ns >= ctx.send_end_ns.get(),
        _ => {
            let drain_ns = scenario.drain.as_nanos() as u64;
            let mut deadline_ns = ctx.send_end_ns.get() + drain_ns;
            if let Some(stopped_ns) = control.sending_stopped_ns() {
                deadline_ns = deadline_ns.min(stopped_ns + drain_ns);
            }
            now_ns >= deadline_ns || control.all_delivered()
        }
    }
}

fn collect(ctx: &ShardContext, roles: &[Rc<RefCell<Role>>], start_ns: u64) -> ShardResult {
    let mut published_by = Vec::new();
    let mut subscribers = Vec::new();
    for role in roles {
        match &*role.borrow() {
            Role::Publisher(publisher) => published_by.push((publisher.index(), publisher.sent())),
            Role::Subscriber(subscriber) => subscribers.push(SubscriberResult {
                index: subscriber.index(),
                first_publisher: subscriber.publishers().start,
                counts: subscriber.counts(),
            }),
            Role::Idle => {}
        }
    }
    let mut stats = ctx.stats.borrow_mut();
    // Deliveries since the last progress sample join the measured ones.
    stats.take_interval_delivery();
    ShardResult {
        stats: stats.clone(),
        published_by,
        subscribers,
        start_ns,
    }
}
