//! The data directory on disk: which file holds what, how a file is replaced
//! atomically, and the lock that keeps a second broker out.
//!
//! ```text
//! DIR/LOCK                       flock'ed by the running broker
//! DIR/CURRENT                    "N\n": the generation in use
//! DIR/gen-N/shard-I-S.retained   snapshot S of shard I: retained messages it owns
//! DIR/gen-N/shard-I-S.sessions   snapshot S of shard I: its sessions (written last)
//! DIR/gen-N/shard-I-S.journal    records of shard I since snapshot S
//! ```
//!
//! A generation is written whole at start-up (from the previous one, under the
//! current shard count) before `CURRENT` names it, so a crash while it is
//! written leaves the previous generation in force. Inside a generation a
//! shard's snapshot pair `S` is complete once its sessions file exists: files
//! are written to a temporary name, fsynced, renamed, and the directory fsynced.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use nix::fcntl::{flock, FlockArg};

use super::error::PersistError;

/// Name of the file naming the generation in use.
pub const CURRENT_FILE: &str = "CURRENT";

/// Name of the lock file.
pub const LOCK_FILE: &str = "LOCK";

/// Suffix of a file being written; never read back.
const TEMP_SUFFIX: &str = ".tmp";

/// What a file of a generation holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FileKind {
    /// Retained-message snapshot.
    Retained,
    /// Session snapshot; its presence completes a snapshot pair.
    Sessions,
    /// Journal.
    Journal,
}

impl FileKind {
    fn extension(self) -> &'static str {
        match self {
            FileKind::Retained => "retained",
            FileKind::Sessions => "sessions",
            FileKind::Journal => "journal",
        }
    }
}

/// One file of a generation, by shard, sequence and kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FileName {
    /// The shard that wrote it.
    pub shard: usize,
    /// Its snapshot sequence.
    pub sequence: u64,
    /// What it holds.
    pub kind: FileKind,
}

impl FileName {
    /// `shard-I-S.kind`.
    pub fn to_file_name(self) -> String {
        format!(
            "shard-{}-{}.{}",
            self.shard,
            self.sequence,
            self.kind.extension()
        )
    }

    /// The file this name stands for, or `None` for any other file.
    pub fn parse(name: &str) -> Option<FileName> {
        let rest = name.strip_prefix("shard-")?;
        let (stem, extension) = rest.split_once('.')?;
        let kind = [FileKind::Retained, FileKind::Sessions, FileKind::Journal]
            .into_iter()
            .find(|kind| kind.extension() == extension)?;
        let (shard, sequence) = stem.split_once('-')?;
        Some(FileName {
            shard: shard.parse().ok()?,
            sequence: sequence.parse().ok()?,
            kind,
        })
    }
}

/// The directory of generation `generation`.
pub fn generation_dir(dir: &Path, generation: u64) -> PathBuf {
    dir.join(format!("gen-{generation}"))
}

/// The generation a directory entry named `name` holds, if it is one.
pub fn parse_generation(name: &str) -> Option<u64> {
    name.strip_prefix("gen-")?.parse().ok()
}

/// Writes `bytes` as `path`: temporary file, fsync, rename, fsync of the directory.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut temp_name = path.as_os_str().to_owned();
    temp_name.push(TEMP_SUFFIX);
    let temp = PathBuf::from(temp_name);
    {
        let mut file = File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    fs::rename(&temp, path)?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Fsyncs a directory, so the entries created, renamed or removed in it last.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Reads `DIR/CURRENT`: `None` when there is none.
pub fn read_current(dir: &Path) -> Result<Option<u64>, PersistError> {
    let path = dir.join(CURRENT_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(PersistError::io(&path, "cannot read", error)),
    };
    text.trim().parse().map(Some).map_err(|_| {
        PersistError::damaged(
            &path,
            format!(
                "holds {:?}, not a generation number; write the number of the newest \
                 gen-N directory into it",
                text.trim()
            ),
        )
    })
}

/// Makes `generation` the one in use.
pub fn write_current(dir: &Path, generation: u64) -> Result<(), PersistError> {
    let path = dir.join(CURRENT_FILE);
    write_atomically(&path, format!("{generation}\n").as_bytes())
        .map_err(|error| PersistError::io(&path, "cannot write", error))
}

/// The generations present in `dir`, ascending.
pub fn generations(dir: &Path) -> Result<Vec<u64>, PersistError> {
    let entries = fs::read_dir(dir).map_err(|error| PersistError::io(dir, "cannot list", error))?;
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|error| PersistError::io(dir, "cannot list", error))?;
        if let Some(generation) = entry.file_name().to_str().and_then(parse_generation) {
            found.push(generation);
        }
    }
    found.sort_unstable();
    Ok(found)
}

/// The snapshot and journal files of a generation directory, sorted by shard,
/// sequence and kind. Temporary files and anything else are left out.
pub fn generation_files(gen_dir: &Path) -> Result<Vec<FileName>, PersistError> {
    let entries =
        fs::read_dir(gen_dir).map_err(|error| PersistError::io(gen_dir, "cannot list", error))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|error| PersistError::io(gen_dir, "cannot list", error))?;
        if let Some(name) = entry.file_name().to_str().and_then(FileName::parse) {
            files.push(name);
        }
    }
    files.sort_unstable();
    Ok(files)
}

/// The lock on a data directory, held while the broker runs.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

impl DirLock {
    /// Takes the lock on `dir`, or says which directory another broker holds.
    pub fn acquire(dir: &Path) -> Result<DirLock, PersistError> {
        let path = dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|error| PersistError::io(&path, "cannot open", error))?;
        flock(file.as_raw_fd(), FlockArg::LockExclusiveNonblock).map_err(|errno| {
            PersistError::new(format!(
                "data directory {} is in use by another shardmq (lock {} held: {errno}); \
                 stop it or choose another --data-dir",
                dir.display(),
                path.display()
            ))
        })?;
        Ok(DirLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_round_trip_and_strangers_are_ignored() {
        let name = FileName {
            shard: 3,
            sequence: 17,
            kind: FileKind::Journal,
        };
        assert_eq!(name.to_file_name(), "shard-3-17.journal");
        assert_eq!(FileName::parse("shard-3-17.journal"), Some(name));
        assert_eq!(FileName::parse("shard-3-17.journal.tmp"), None);
        assert_eq!(FileName::parse("shard-3.sessions"), None);
        assert_eq!(FileName::parse("notes.txt"), None);
    }

    #[test]
    fn second_lock_on_a_directory_is_refused_and_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let first = DirLock::acquire(dir.path()).unwrap();
        let error = DirLock::acquire(dir.path()).unwrap_err();
        assert!(error.to_string().contains("in use"), "{error}");
        drop(first);
        DirLock::acquire(dir.path()).unwrap();
    }
}
