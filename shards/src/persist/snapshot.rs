//! Writing a shard's snapshot pair and removing the files it replaces.
//!
//! The retained file is written first and the sessions file last: the pair is
//! complete, and replaces everything of lower sequence, once the sessions file
//! is in place. Only then are the older snapshots and journals removed.

use std::fs;
use std::io;
use std::path::Path;

use shardmq::persist::schema::{MessageRecord, SessionSnapshot};
use shardmq::persist::{
    encode_sessions_snapshot, encode_snapshot, SessionsFile, SnapshotContents, SnapshotError,
};

use super::error::PersistError;
use super::layout::{generation_files, write_atomically, FileKind, FileName};
use super::shard::Captured;

/// Writes snapshot pair `sequence` of `shard` into `gen_dir`; hands back the
/// sessions file as written (the records are dropped once encoded).
pub fn write_pair(
    gen_dir: &Path,
    shard: usize,
    sequence: u64,
    sessions: Vec<SessionSnapshot>,
    retained: Vec<MessageRecord>,
) -> Result<SessionsFile, PersistError> {
    write_retained(gen_dir, shard, sequence, retained)?;
    let path = gen_dir.join(sessions_file(shard, sequence).to_file_name());
    let file = SessionsFile::encode(sessions)
        .map_err(|error| PersistError::new(format!("{}: {error}", path.display())))?;
    write_atomically(&path, file.bytes())
        .map_err(|error| PersistError::io(&path, "cannot write", error))?;
    Ok(file)
}

/// Writes snapshot pair `sequence` of `shard` into `gen_dir` from the live state
/// `captured`: the sessions are encoded one record at a time
/// ([`encode_sessions_snapshot`]), never all as records at once.
pub fn write_captured(
    gen_dir: &Path,
    shard: usize,
    sequence: u64,
    captured: &Captured,
) -> Result<(), PersistError> {
    let (now_ms, wall_clock_ms) = (captured.now_ms, captured.wall_clock_ms);
    let retained = captured
        .retained
        .iter()
        .map(|message| message.to_record(now_ms, wall_clock_ms))
        .collect();
    write_retained(gen_dir, shard, sequence, retained)?;
    write_encoded(gen_dir, sessions_file(shard, sequence), || {
        encode_sessions_snapshot(&captured.sessions, now_ms, wall_clock_ms)
    })
}

/// Writes the retained file of pair `sequence` of `shard`, the first of the pair.
fn write_retained(
    gen_dir: &Path,
    shard: usize,
    sequence: u64,
    retained: Vec<MessageRecord>,
) -> Result<(), PersistError> {
    let name = FileName {
        shard,
        sequence,
        kind: FileKind::Retained,
    };
    let contents = SnapshotContents::Retained(retained);
    write_encoded(gen_dir, name, || encode_snapshot(&contents))
}

/// The name of the sessions file of pair `sequence` of `shard`.
fn sessions_file(shard: usize, sequence: u64) -> FileName {
    FileName {
        shard,
        sequence,
        kind: FileKind::Sessions,
    }
}

/// Writes the snapshot file `encode` makes, atomically.
fn write_encoded<Bytes: AsRef<[u8]>>(
    gen_dir: &Path,
    name: FileName,
    encode: impl FnOnce() -> Result<Bytes, SnapshotError>,
) -> Result<(), PersistError> {
    let path = gen_dir.join(name.to_file_name());
    let bytes =
        encode().map_err(|error| PersistError::new(format!("{}: {error}", path.display())))?;
    write_atomically(&path, bytes.as_ref())
        .map_err(|error| PersistError::io(&path, "cannot write", error))
}

/// Removes the snapshots and journals of `shard` older than `sequence`.
pub fn remove_older(gen_dir: &Path, shard: usize, sequence: u64) -> Result<(), PersistError> {
    for file in generation_files(gen_dir)? {
        if file.shard == shard && file.sequence < sequence {
            let path = gen_dir.join(file.to_file_name());
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(error) if error.kind() == io::ErrorKind::NotFound => {}
                Err(error) => return Err(PersistError::io(&path, "cannot remove", error)),
            }
        }
    }
    Ok(())
}
