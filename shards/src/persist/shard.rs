//! What a running shard keeps of persistence: its journal, where its snapshots
//! go, and the little state that links a packet to the records it caused.

use std::cell::Cell;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use shardmq::session::{Session, SharedMessage};
use shardmq::topic::ShardSet;

use super::error::PersistError;
use super::failure::FailStop;
use super::journal::ShardJournal;
use super::snapshot::{remove_older, write_captured};
use super::startup::ShardRestore;
use crate::config::{FsyncMode, PersistenceConfig};

/// What a shard is given to persist with; built by `Broker::start`.
#[derive(Debug)]
pub struct PersistSetup {
    /// The generation directory the shard writes into.
    pub gen_dir: PathBuf,
    /// The state it starts from.
    pub restore: ShardRestore,
    /// The `[persistence]` settings.
    pub config: PersistenceConfig,
    /// Stops the broker when the journal fails.
    pub fail_stop: Arc<FailStop>,
}

/// A shard's persistence state.
pub struct ShardPersistence {
    /// The shard's journal.
    pub journal: Rc<ShardJournal>,
    gen_dir: PathBuf,
    index: usize,
    snapshot_interval: Duration,
    durable_shards: Cell<ShardSet>,
    fail_stop: Arc<FailStop>,
}

impl ShardPersistence {
    /// The persistence of shard `index`, its journal at snapshot sequence 0.
    pub fn new(index: usize, setup: &PersistSetup) -> ShardPersistence {
        let config = &setup.config;
        ShardPersistence {
            journal: Rc::new(ShardJournal::new(
                &setup.gen_dir,
                index,
                0,
                config.fsync,
                config.fsync_interval_ms,
                Arc::clone(&setup.fail_stop),
            )),
            gen_dir: setup.gen_dir.clone(),
            index,
            snapshot_interval: Duration::from_secs(config.snapshot_interval_s),
            durable_shards: Cell::new(ShardSet::default()),
            fail_stop: Arc::clone(&setup.fail_stop),
        }
    }

    /// True once a journal of any shard failed and the broker is stopping for it:
    /// answers held for durability must never be sent.
    pub fn broker_failed(&self) -> bool {
        self.fail_stop.has_failed()
    }

    /// Time between two snapshots.
    pub fn snapshot_interval(&self) -> Duration {
        self.snapshot_interval
    }

    /// True when acknowledgements wait for durability.
    pub fn holds_acknowledgements(&self) -> bool {
        self.journal.mode() == FsyncMode::Always
    }

    /// Notes that `shard` stored records for the packet being handled.
    pub fn note_remote_records(&self, shard: usize) {
        if shard != self.index && self.holds_acknowledgements() {
            let mut shards = self.durable_shards.get();
            shards.insert(shard);
            self.durable_shards.set(shards);
        }
    }

    /// The shards noted since the last call.
    pub fn take_remote_records(&self) -> ShardSet {
        self.durable_shards.replace(ShardSet::default())
    }

    /// Writes a snapshot of `captured`, taken at the instant
    /// the journal switched to sequence `sequence`, then removes what it replaces
    /// once the old journal is written out (`appended_before`: records before
    /// the switch). A failure keeps the older files, which still load.
    /// `capture_ms`: how long the capture held the shard, for the log.
    pub async fn write_snapshot(
        &self,
        sequence: u64,
        appended_before: u64,
        captured: Captured,
        capture_ms: u64,
    ) {
        let started = std::time::Instant::now();
        let (gen_dir, index) = (self.gen_dir.clone(), self.index);
        let session_count = captured.sessions.len();
        let written = glommio::executor()
            .spawn_blocking(move || write_captured(&gen_dir, index, sequence, &captured))
            .await;
        if let Err(error) = written {
            tracing::error!(shard = index, %error, "snapshot not written; the journal keeps the state");
            return;
        }
        if !self.journal.written_through(appended_before).await {
            tracing::warn!(
                shard = index,
                sequence,
                "snapshot written, but the journal failed: older files kept"
            );
            return;
        }
        let gen_dir = self.gen_dir.clone();
        let removed: Result<(), PersistError> = glommio::executor()
            .spawn_blocking(move || remove_older(&gen_dir, index, sequence))
            .await;
        if let Err(error) = removed {
            tracing::warn!(shard = index, %error, "old snapshot files not removed");
        }
        tracing::info!(
            shard = index,
            sequence,
            sessions = session_count,
            capture_ms,
            write_ms = started.elapsed().as_millis() as u64,
            "snapshot written"
        );
    }
}

/// A shard's persisted state at one instant, as copies of the live values
/// (messages are shared, not copied); encoded on a blocking thread.
pub struct Captured {
    /// The persisted sessions.
    pub sessions: Vec<Session>,
    /// The retained messages the shard owns.
    pub retained: Vec<SharedMessage>,
    /// The shard's clock at the capture.
    pub now_ms: u64,
    /// The wall clock at the capture.
    pub wall_clock_ms: u64,
}

/// Milliseconds since the Unix epoch: the wall clock persisted deadlines use.
pub fn wall_clock_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}
