//! Opening the data directory at start-up, on the main thread before any shard
//! runs: lock it, load the generation `CURRENT` names, write the next
//! generation under the current shard count, switch `CURRENT` to it and remove
//! the old one, then hand every shard what it starts from.
//!
//! Sessions go to the home shard of their client id, retained messages to the
//! shard that owns their topic (the one that journals and snapshots it). Every
//! shard gets every retained message (its replica) and the filters the other
//! shards' sessions hold (the remote half of its trie replica), so no ring
//! traffic is needed before the shards serve.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use shardmq::persist::schema::{MessageRecord, SessionSnapshot};
use shardmq::persist::SessionsFile;
use shardmq::session::{Message, SharedMessage};

use super::error::PersistError;
use super::layout::{generation_dir, generations, read_current, sync_dir, write_current, DirLock};
use super::load::{load_generation, LoadOptions, Loaded};
use super::snapshot::write_pair;
use crate::home::home_shard;

/// The state one shard starts from.
#[derive(Debug, Default)]
pub struct ShardRestore {
    /// Sessions whose home is this shard, as the snapshot file written for it:
    /// the shard reads them back one at a time, so their records are made (and
    /// freed) on its own thread, not all at once on the main one.
    pub sessions: Option<SessionsFile>,
    /// `(topic_filter, shard)` for every filter another shard's sessions hold.
    pub remote_filters: Vec<(String, usize)>,
    /// Every retained message, shared by all shards.
    pub retained: Arc<RetainedRestore>,
}

/// The retained messages every shard restores: read once, converted once by
/// whichever shard comes first, and shared by all replicas, which would
/// otherwise each hold a copy of every payload.
#[derive(Debug, Default)]
pub struct RetainedRestore {
    records: Vec<MessageRecord>,
    messages: OnceLock<Vec<SharedMessage>>,
}

impl RetainedRestore {
    /// How many there are.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The messages, on the runtime clock at `now_ms` (`wall_clock_ms` on the
    /// wall clock) for the first caller; every later one gets the same ones.
    pub fn messages(&self, now_ms: u64, wall_clock_ms: u64) -> &[SharedMessage] {
        self.messages.get_or_init(|| {
            self.records
                .iter()
                .map(|record| {
                    SharedMessage::new(Message::from_record(record.clone(), now_ms, wall_clock_ms))
                })
                .collect()
        })
    }
}

/// An opened data directory: the lock, the generation in use and each shard's state.
#[derive(Debug)]
pub struct Opened {
    /// Held until the broker stops.
    pub lock: DirLock,
    /// The directory of the generation the shards write into.
    pub gen_dir: PathBuf,
    /// Per shard, what it starts from.
    pub shards: Vec<ShardRestore>,
}

/// Opens `dir` for a broker of `shard_count` shards (see the module doc).
pub fn open(dir: &Path, shard_count: usize, options: LoadOptions) -> Result<Opened, PersistError> {
    assert!(shard_count > 0, "a broker has at least one shard");
    let started = Instant::now();
    fs::create_dir_all(dir).map_err(|error| PersistError::io(dir, "cannot create", error))?;
    let lock = DirLock::acquire(dir)?;
    let (generation, loaded) = load_current(dir, options)?;
    let next = generation + 1;
    let gen_dir = generation_dir(dir, next);
    let session_count = loaded.sessions.len();
    let retained_count = loaded.retained.len();
    let shards = write_generation(&gen_dir, shard_count, loaded.sessions, loaded.retained)?;
    write_current(dir, next)?;
    remove_other_generations(dir, next)?;
    tracing::info!(
        dir = %dir.display(),
        generation = next,
        previous_shards = loaded.shard_count,
        shards = shard_count,
        sessions = session_count,
        retained = retained_count,
        journal_records = loaded.records,
        records_skipped = loaded.skipped,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "persistent state loaded"
    );
    Ok(Opened {
        lock,
        gen_dir,
        shards,
    })
}

/// [`open`] on a thread of its own, which ends before the shards start.
///
/// Loading holds every stored session as owned records for a while (hundreds of
/// megabytes for 100,000 sessions with queued messages). Allocated on the main
/// thread, that memory would stay with the process after it is freed (the
/// allocator gives the main heap back only from its top); allocated on a thread
/// that ends, it is given back or reused by the shard threads started next.
pub fn open_on_own_thread(
    dir: &Path,
    shard_count: usize,
    options: LoadOptions,
) -> Result<Opened, PersistError> {
    std::thread::scope(|scope| {
        let loading = std::thread::Builder::new()
            .name("shardmq-load".to_owned())
            .spawn_scoped(scope, || open(dir, shard_count, options))
            .map_err(|error| {
                PersistError::new(format!("cannot start the loading thread: {error}"))
            })?;
        loading
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// The generation `CURRENT` names and what it holds; generation 0 and nothing for
/// a new directory.
fn load_current(dir: &Path, options: LoadOptions) -> Result<(u64, Loaded), PersistError> {
    let present = generations(dir)?;
    let Some(generation) = read_current(dir)? else {
        if present.is_empty() {
            tracing::info!(dir = %dir.display(), "new data directory");
            return Ok((0, Loaded::default()));
        }
        let message = format!(
            "{}: no CURRENT file, but generation directories {present:?} exist; a first \
             start was interrupted or CURRENT was removed: write the newest generation \
             number into CURRENT",
            dir.display()
        );
        if !options.recover {
            return Err(PersistError::new(message));
        }
        tracing::warn!("{message}; --recover: starting from an empty state");
        set_generations_aside(dir, &present)?;
        let last = present.last().copied().unwrap_or(0);
        return Ok((last, Loaded::default()));
    };
    let gen_dir = generation_dir(dir, generation);
    if !gen_dir.is_dir() {
        let message = format!(
            "{}: CURRENT names generation {generation}, but {} does not exist",
            dir.display(),
            gen_dir.display()
        );
        if !options.recover {
            return Err(PersistError::new(format!(
                "{message} (start with --recover to start from an empty state)"
            )));
        }
        tracing::warn!("{message}; --recover: starting from an empty state");
        set_generations_aside(dir, &present)?;
        return Ok((
            generation.max(present.last().copied().unwrap_or(0)),
            Loaded::default(),
        ));
    }
    let loaded = load_generation(&gen_dir, dir, options)?;
    Ok((generation.max(present.last().copied().unwrap_or(0)), loaded))
}

/// Under `--recover`, with no usable `CURRENT`: keeps the generation directories
/// found as `gen-N.damaged-<unix time>` instead of removing them with the rest.
fn set_generations_aside(dir: &Path, present: &[u64]) -> Result<(), PersistError> {
    let unix_time_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    for generation in present {
        let gen_dir = generation_dir(dir, *generation);
        let aside = dir.join(format!("gen-{generation}.damaged-{unix_time_s}"));
        fs::rename(&gen_dir, &aside)
            .map_err(|error| PersistError::io(&gen_dir, "cannot move aside", error))?;
        tracing::warn!(from = %gen_dir.display(), to = %aside.display(), "generation moved aside");
    }
    Ok(())
}

/// Writes a complete generation into `gen_dir` (replacing a partial one a crash
/// left) and returns what each shard starts from.
pub fn write_generation(
    gen_dir: &Path,
    shard_count: usize,
    sessions: Vec<SessionSnapshot>,
    retained: Vec<MessageRecord>,
) -> Result<Vec<ShardRestore>, PersistError> {
    if gen_dir.exists() {
        fs::remove_dir_all(gen_dir)
            .map_err(|error| PersistError::io(gen_dir, "cannot remove", error))?;
    }
    fs::create_dir_all(gen_dir)
        .map_err(|error| PersistError::io(gen_dir, "cannot create", error))?;
    let mut per_shard: Vec<Vec<SessionSnapshot>> = (0..shard_count).map(|_| Vec::new()).collect();
    let mut filters: BTreeSet<(String, usize)> = BTreeSet::new();
    for session in sessions {
        let home = home_shard(&session.client_id, shard_count);
        for subscription in &session.subscriptions {
            filters.insert((subscription.topic_filter.clone(), home));
        }
        per_shard[home].push(session);
    }
    let mut owned: Vec<Vec<MessageRecord>> = (0..shard_count).map(|_| Vec::new()).collect();
    for message in &retained {
        owned[home_shard(&message.topic_name, shard_count)].push(message.clone());
    }
    let retained = Arc::new(RetainedRestore {
        records: retained,
        messages: OnceLock::new(),
    });
    let mut shards = Vec::with_capacity(shard_count);
    for (index, (sessions, owned)) in per_shard.into_iter().zip(owned).enumerate() {
        let sessions = write_pair(gen_dir, index, 0, sessions, owned)?;
        shards.push(ShardRestore {
            sessions: Some(sessions),
            remote_filters: filters
                .iter()
                .filter(|(_, shard)| *shard != index)
                .cloned()
                .collect(),
            retained: Arc::clone(&retained),
        });
    }
    sync_dir(gen_dir).map_err(|error| PersistError::io(gen_dir, "cannot sync", error))?;
    if let Some(parent) = gen_dir.parent() {
        sync_dir(parent).map_err(|error| PersistError::io(parent, "cannot sync", error))?;
    }
    Ok(shards)
}

/// Removes every generation but `keep`, and leftovers of interrupted writes.
fn remove_other_generations(dir: &Path, keep: u64) -> Result<(), PersistError> {
    for generation in generations(dir)? {
        if generation != keep {
            let gen_dir = generation_dir(dir, generation);
            fs::remove_dir_all(&gen_dir)
                .map_err(|error| PersistError::io(&gen_dir, "cannot remove", error))?;
        }
    }
    sync_dir(dir).map_err(|error| PersistError::io(dir, "cannot sync", error))
}

/// Writes a data directory holding `sessions` and `retained` as a broker of
/// `shard_count` shards would leave it: for tools that prepare state (load
/// tests, benchmarks). `dir` must not be in use.
pub fn write_data_dir(
    dir: &Path,
    shard_count: usize,
    sessions: Vec<SessionSnapshot>,
    retained: Vec<MessageRecord>,
) -> Result<(), PersistError> {
    fs::create_dir_all(dir).map_err(|error| PersistError::io(dir, "cannot create", error))?;
    let _lock = DirLock::acquire(dir)?;
    let generation = generations(dir)?.last().copied().unwrap_or(0) + 1;
    write_generation(
        &generation_dir(dir, generation),
        shard_count,
        sessions,
        retained,
    )?;
    write_current(dir, generation)?;
    remove_other_generations(dir, generation)
}
