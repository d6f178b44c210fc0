//! What every task of one shard shares: the scenario, the run control, the
//! shard's counters and the times that bound the run.

use std::cell::{Cell, RefCell};
use std::sync::Arc;

use glommio::sync::Semaphore;

use crate::control::RunControl;
use crate::limits::HANDSHAKES_PER_SHARD_MAX;
use crate::scenario::Scenario;
use crate::stats::ShardStats;
use crate::transport::Connector;

/// Shard-local state, shared by `Rc` between the shard's tasks.
pub struct ShardContext {
    /// This shard's index.
    pub shard: usize,
    /// The run's scenario.
    pub scenario: Scenario,
    /// Opens connections of the scenario's transport.
    pub connector: Connector,
    /// State shared with the other shards.
    pub control: Arc<RunControl>,
    /// This shard's counters.
    pub stats: RefCell<ShardStats>,
    /// Bounds the handshakes in progress at once.
    pub handshakes: Semaphore,
    /// Intended time of the first message, ns since the epoch; 0 until set.
    pub start_ns: Cell<u64>,
    /// Messages intended before this are warmup.
    pub warmup_end_ns: Cell<u64>,
    /// No message is sent after this.
    pub send_end_ns: Cell<u64>,
}

impl ShardContext {
    /// The context of shard `shard`.
    pub fn new(
        shard: usize,
        scenario: Scenario,
        connector: Connector,
        control: Arc<RunControl>,
    ) -> ShardContext {
        ShardContext {
            shard,
            scenario,
            connector,
            control,
            stats: RefCell::new(ShardStats::default()),
            handshakes: Semaphore::new(HANDSHAKES_PER_SHARD_MAX),
            start_ns: Cell::new(0),
            warmup_end_ns: Cell::new(0),
            send_end_ns: Cell::new(0),
        }
    }

    /// Fixes the run's timeline once every shard is ready.
    pub fn set_start(&self, start_ns: u64) {
        let warmup_end_ns = start_ns + self.scenario.warmup.as_nanos() as u64;
        self.start_ns.set(start_ns);
        self.warmup_end_ns.set(warmup_end_ns);
        self.send_end_ns
            .set(warmup_end_ns + self.scenario.duration.as_nanos() as u64);
    }

    /// Nanoseconds since the run's epoch.
    pub fn now_ns(&self) -> u64 {
        self.control.now_ns()
    }
}
