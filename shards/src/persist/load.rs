//! Reading one generation back: for every shard that wrote it, the newest
//! complete snapshot pair, then its journals in order on top.
//!
//! Damage is handled by what it costs: a torn or corrupt journal tail (a crash
//! cut a write short, or a bad sector) is logged with file, offset and reason,
//! the file truncated there and the records before it kept. A snapshot that
//! cannot be read is an error that names the file, unless `recover` is set:
//! then the file is moved out of the generation as `*.damaged-<unix time>` and
//! the shard starts from what remains (the journals alone), which is logged.

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use shardmq::persist::schema::{MessageRecord, SessionSnapshot};
use shardmq::persist::{decode_snapshot, JournalReader, Replay, SnapshotContents};
use shardmq::session::QueueBounds;

use super::error::PersistError;
use super::layout::{generation_files, FileKind, FileName};

/// What a generation holds, merged over the shards that wrote it.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Every session.
    pub sessions: Vec<SessionSnapshot>,
    /// Every retained message.
    pub retained: Vec<MessageRecord>,
    /// Journal records applied.
    pub records: u64,
    /// Records that named state that did not exist.
    pub skipped: u64,
    /// Shards the generation was written by.
    pub shard_count: usize,
}

/// How to treat damage while loading.
#[derive(Clone, Copy, Debug)]
pub struct LoadOptions {
    /// Move unreadable snapshots aside instead of refusing to start.
    pub recover: bool,
    /// Queue bounds and policy of the sessions, which replay applies as the live
    /// queue does.
    pub queue: QueueBounds,
}

/// Loads generation directory `gen_dir`; damaged files are moved into `aside_dir`.
pub fn load_generation(
    gen_dir: &Path,
    aside_dir: &Path,
    options: LoadOptions,
) -> Result<Loaded, PersistError> {
    let files = generation_files(gen_dir)?;
    let shard_count = files.iter().map(|file| file.shard + 1).max().unwrap_or(0);
    let mut loaded = Loaded {
        shard_count,
        ..Loaded::default()
    };
    for shard in 0..shard_count {
        let shard_files: Vec<FileName> = files
            .iter()
            .copied()
            .filter(|file| file.shard == shard)
            .collect();
        let replay = load_shard(gen_dir, aside_dir, &shard_files, options, &mut loaded)?;
        loaded.skipped += replay.skipped();
        let (sessions, retained) = replay.into_parts();
        loaded.sessions.extend(sessions);
        loaded.retained.extend(retained);
    }
    Ok(loaded)
}

fn load_shard(
    gen_dir: &Path,
    aside_dir: &Path,
    files: &[FileName],
    options: LoadOptions,
    loaded: &mut Loaded,
) -> Result<Replay, PersistError> {
    let mut replay = Replay::new(options.queue);
    let mut complete: Vec<u64> = files
        .iter()
        .filter(|file| file.kind == FileKind::Sessions)
        .map(|file| file.sequence)
        .filter(|sequence| {
            files
                .iter()
                .any(|file| file.kind == FileKind::Retained && file.sequence == *sequence)
        })
        .collect();
    complete.sort_unstable();
    let mut base = None;
    let mut damaged = None;
    while let Some(sequence) = complete.pop() {
        match read_pair(gen_dir, files[0].shard, sequence) {
            Ok((sessions, retained)) => {
                replay.load_sessions(sessions);
                replay.load_retained(retained);
                base = Some(sequence);
                break;
            }
            Err((path, problem)) if options.recover => {
                let aside = move_aside(&path, gen_dir, aside_dir)?;
                tracing::warn!(
                    file = %path.display(),
                    moved_to = %aside.display(),
                    %problem,
                    "damaged snapshot moved aside; starting from the journals alone"
                );
                damaged = Some(sequence);
            }
            Err((path, problem)) => return Err(PersistError::damaged(&path, problem)),
        }
    }
    // Without a readable pair, the journals written after the damaged one still
    // apply (on empty state); older ones were deleted with their snapshots.
    let from_sequence = base.or(damaged).unwrap_or(0);
    for file in files
        .iter()
        .filter(|file| file.kind == FileKind::Journal && file.sequence >= from_sequence)
    {
        let path = gen_dir.join(file.to_file_name());
        loaded.records += replay_journal(&path, &mut replay)?;
    }
    Ok(replay)
}

type PairOrDamage = Result<(Vec<SessionSnapshot>, Vec<MessageRecord>), (PathBuf, String)>;

/// Reads the snapshot pair `sequence` of `shard`, or the file that failed and why.
fn read_pair(gen_dir: &Path, shard: usize, sequence: u64) -> PairOrDamage {
    let read = |kind: FileKind| {
        let path = gen_dir.join(
            FileName {
                shard,
                sequence,
                kind,
            }
            .to_file_name(),
        );
        let contents = fs::read(&path)
            .map_err(|error| error.to_string())
            .and_then(|bytes| decode_snapshot(&bytes).map_err(|error| error.to_string()));
        contents.map_err(|problem| (path, problem))
    };
    let retained = match read(FileKind::Retained)? {
        SnapshotContents::Retained(retained) => retained,
        SnapshotContents::Sessions(_) => {
            return Err((
                gen_dir.join(format!("shard-{shard}-{sequence}.retained")),
                "holds sessions where retained messages belong".to_owned(),
            ))
        }
    };
    let sessions = match read(FileKind::Sessions)? {
        SnapshotContents::Sessions(sessions) => sessions,
        SnapshotContents::Retained(_) => {
            return Err((
                gen_dir.join(format!("shard-{shard}-{sequence}.sessions")),
                "holds retained messages where sessions belong".to_owned(),
            ))
        }
    };
    Ok((sessions, retained))
}

/// Applies the records of the journal at `path`; a torn tail is logged and cut off.
pub fn replay_journal(path: &Path, replay: &mut Replay) -> Result<u64, PersistError> {
    let bytes = fs::read(path).map_err(|error| PersistError::io(path, "cannot read", error))?;
    let mut applied = 0;
    for record in JournalReader::new(&bytes) {
        match record {
            Ok(record) => {
                replay.apply(record);
                applied += 1;
            }
            Err(torn) => {
                tracing::warn!(
                    file = %path.display(),
                    offset = torn.valid_up_to,
                    reason = %torn.reason,
                    kept_records = applied,
                    "journal damaged; truncating it there and keeping the records before"
                );
                truncate(path, torn.valid_up_to as u64)?;
            }
        }
    }
    Ok(applied)
}

fn truncate(path: &Path, length: u64) -> Result<(), PersistError> {
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|error| PersistError::io(path, "cannot open", error))?;
    file.set_len(length)
        .and_then(|()| file.sync_all())
        .map_err(|error| PersistError::io(path, "cannot truncate", error))
}

/// Moves a damaged file of `gen_dir` to `aside_dir` as `<gen>-<name>.damaged-<unix time>`,
/// so it outlives the generation; returns where it went.
pub fn move_aside(path: &Path, gen_dir: &Path, aside_dir: &Path) -> Result<PathBuf, PersistError> {
    let unix_time_s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let generation = gen_dir
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let aside = aside_dir.join(format!("{generation}-{name}.damaged-{unix_time_s}"));
    fs::rename(path, &aside).map_err(|error| PersistError::io(path, "cannot move aside", error))?;
    Ok(aside)
}
