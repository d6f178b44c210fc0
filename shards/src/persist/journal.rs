//! A shard's journal at runtime: records gathered into batches, one write and
//! one fdatasync per batch (group commit), on the executor's blocking thread so
//! the shard goes on serving while the disk works.
//!
//! Records are numbered as they are appended. While a batch is being written,
//! new records gather in the next one; the flusher task takes the oldest batch,
//! writes it (to the journal file of the snapshot sequence it belongs to) and,
//! under `fsync = "always"`, fdatasyncs it before it calls the waiters whose
//! records it covered: the acknowledgements held for durability go out then.
//! Under `"interval"` the flusher fdatasyncs at most every `fsync_interval_ms`
//! (and once the journal is idle that long); under `"never"` it only writes.
//!
//! A snapshot switches the journal to the next sequence at the instant the
//! state is captured ([`ShardJournal::rotate`]); the batch gathered so far still
//! goes to the old file, and batches are written in order, so a file is complete
//! before the next one is started.
//!
//! A journal file that cannot be opened, written or fdatasynced fails the journal
//! for good ([`FailStop`]): the error is logged with the file and the OS error,
//! the waiters are dropped without being called (what they would answer was not
//! made durable), later records are not written, and the broker is stopped.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use shardmq::limits;
use shardmq::persist::{JournalRecord, JournalWriter};

use super::failure::FailStop;
use super::layout::{sync_dir, FileKind, FileName};
use crate::config::FsyncMode;
use crate::wake::{Notify, WaitList};

/// Called once the records before it are durable.
type Waiter = Box<dyn FnOnce()>;

/// Records bound for one journal file, written with one write.
struct Batch {
    sequence: u64,
    bytes: Vec<u8>,
    last_record: u64,
}

/// A shard's journal (see the module doc).
pub struct ShardJournal {
    gen_dir: PathBuf,
    shard: usize,
    mode: FsyncMode,
    fsync_interval: Duration,
    writer: RefCell<JournalWriter>,
    batches: RefCell<VecDeque<Batch>>,
    spare: RefCell<Vec<u8>>,
    sequence: Cell<u64>,
    appended: Cell<u64>,
    written: Cell<u64>,
    durable: Cell<u64>,
    waiters: RefCell<VecDeque<(u64, Waiter)>>,
    /// The holder of the last waiter queued, when it was queued for one
    /// ([`ShardJournal::when_durable_for`]).
    last_holder: Cell<Option<u64>>,
    flusher_wake: Notify,
    written_wake: WaitList,
    closed: Cell<bool>,
    failed: Cell<bool>,
    fail_stop: Arc<FailStop>,
}

/// The journal file batches are being written to.
struct OpenFile {
    sequence: u64,
    path: PathBuf,
    file: Arc<File>,
}

impl ShardJournal {
    /// The journal of `shard` in `gen_dir`, starting at snapshot sequence `sequence`;
    /// a failure of its file stops the broker through `fail_stop`.
    pub fn new(
        gen_dir: &Path,
        shard: usize,
        sequence: u64,
        mode: FsyncMode,
        fsync_interval_ms: u64,
        fail_stop: Arc<FailStop>,
    ) -> ShardJournal {
        ShardJournal {
            gen_dir: gen_dir.to_path_buf(),
            shard,
            mode,
            fsync_interval: Duration::from_millis(fsync_interval_ms),
            writer: RefCell::new(JournalWriter::new()),
            batches: RefCell::new(VecDeque::new()),
            spare: RefCell::new(Vec::new()),
            sequence: Cell::new(sequence),
            appended: Cell::new(0),
            written: Cell::new(0),
            durable: Cell::new(0),
            waiters: RefCell::new(VecDeque::new()),
            last_holder: Cell::new(None),
            flusher_wake: Notify::default(),
            written_wake: WaitList::default(),
            closed: Cell::new(false),
            failed: Cell::new(false),
            fail_stop,
        }
    }

    /// True once a journal file failed: nothing appended is made durable any more.
    pub fn has_failed(&self) -> bool {
        self.failed.get()
    }

    /// When records become durable.
    pub fn mode(&self) -> FsyncMode {
        self.mode
    }

    /// The shard's current snapshot sequence.
    pub fn sequence(&self) -> u64 {
        self.sequence.get()
    }

    /// Records appended so far; [`ShardJournal::when_durable`] takes such a count.
    pub fn appended(&self) -> u64 {
        self.appended.get()
    }

    /// Appends `record` to the batch being gathered (dropped once the journal failed).
    pub fn append(&self, record: &JournalRecord) {
        if self.failed.get() {
            return;
        }
        let mut batches = self.batches.borrow_mut();
        let sequence = self.sequence.get();
        let open = batches.back().is_some_and(|batch| {
            batch.sequence == sequence && batch.bytes.len() < limits::JOURNAL_BATCH_BYTES_MAX
        });
        if !open {
            let bytes = std::mem::take(&mut *self.spare.borrow_mut());
            batches.push_back(Batch {
                sequence,
                bytes,
                last_record: self.appended.get(),
            });
        }
        let Some(batch) = batches.back_mut() else {
            unreachable!("a batch was pushed above");
        };
        match self.writer.borrow_mut().append(record, &mut batch.bytes) {
            Ok(_) => {
                self.appended.set(self.appended.get() + 1);
                batch.last_record = self.appended.get();
                self.flusher_wake.notify();
            }
            Err(error) => {
                // Whatever waits on this record would be acknowledged without
                // it: as unsafe as a failed write. Records are bounded so that
                // nothing a client sends gets here.
                drop(batches);
                let path = self.journal_path(sequence);
                let error = std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{} record not encodable: {error}", record.kind()),
                );
                self.fail(&path, "append", &error);
            }
        }
    }

    /// Runs `waiter` once the first `appended` records are durable: at once when
    /// they are, or when the mode never holds anything; never once the journal
    /// failed.
    pub fn when_durable(&self, appended: u64, waiter: Waiter) {
        if self.failed.get() {
            return;
        }
        if self.mode != FsyncMode::Always || self.durable.get() >= appended {
            waiter();
            return;
        }
        self.waiters.borrow_mut().push_back((appended, waiter));
        self.last_holder.set(None);
    }

    /// [`ShardJournal::when_durable`] for a waiter that releases what `holder`
    /// (a connection id) holds back, so that [`ShardJournal::extend_hold`] can
    /// find it.
    pub fn when_durable_for(&self, holder: u64, appended: u64, waiter: Waiter) {
        let queued_before = self.waiters.borrow().len();
        self.when_durable(appended, waiter);
        if self.waiters.borrow().len() > queued_before {
            self.last_holder.set(Some(holder));
        }
    }

    /// When the last waiter queued is `holder`'s, makes it wait for the first
    /// `appended` records instead and returns true: one release then covers
    /// every answer a connection sent in a row, instead of one waiter and one
    /// hold per packet. False when it is not (nothing changed).
    pub fn extend_hold(&self, holder: u64, appended: u64) -> bool {
        if self.last_holder.get() != Some(holder) {
            return false;
        }
        match self.waiters.borrow_mut().back_mut() {
            Some((waiting_for, _)) => {
                *waiting_for = (*waiting_for).max(appended);
                true
            }
            None => false,
        }
    }

    /// True when some appended record is not durable yet.
    pub fn has_pending(&self) -> bool {
        self.durable.get() < self.appended.get()
    }

    /// Starts the next snapshot sequence; returns it. Records appended from now
    /// on go to its journal.
    pub fn rotate(&self) -> u64 {
        let next = self.sequence.get() + 1;
        self.sequence.set(next);
        next
    }

    /// Waits until every record appended before the call is written; false when
    /// the journal failed instead.
    pub async fn written_through(&self, appended: u64) -> bool {
        self.flusher_wake.notify();
        self.written_wake
            .wait_until(|| self.written.get() >= appended || self.failed.get())
            .await;
        self.written.get() >= appended && !self.failed.get()
    }

    /// Lets the flusher end once everything appended is written.
    pub fn close(&self) {
        self.closed.set(true);
        self.flusher_wake.notify();
    }

    /// The flusher task: writes batches in order until [`ShardJournal::close`], or
    /// until a journal file fails.
    pub async fn run_flusher(self: std::rc::Rc<Self>) {
        let mut file: Option<OpenFile> = None;
        let mut last_sync = Instant::now();
        let mut unsynced = false;
        loop {
            let batch = self.batches.borrow_mut().pop_front();
            let Some(batch) = batch else {
                if self.closed.get() {
                    break;
                }
                if unsynced {
                    let timeout = glommio::timer::sleep(self.fsync_interval);
                    futures_lite::future::or(self.flusher_wake.wait(), timeout).await;
                    if last_sync.elapsed() >= self.fsync_interval {
                        if let Some(open) = &file {
                            if let Err(error) = self.sync(open).await {
                                return self.fail(&open.path, "fdatasync", &error);
                            }
                        }
                        unsynced = false;
                        last_sync = Instant::now();
                    }
                } else {
                    self.flusher_wake.wait().await;
                }
                continue;
            };
            let open = match file.take() {
                Some(open) if open.sequence == batch.sequence => open,
                _ => match self.open_file(batch.sequence).await {
                    Ok(open) => open,
                    Err((path, error)) => return self.fail(&path, "open", &error),
                },
            };
            let sync_now = match self.mode {
                FsyncMode::Always => true,
                FsyncMode::Interval => last_sync.elapsed() >= self.fsync_interval,
                FsyncMode::Never => false,
            };
            let last_record = batch.last_record;
            let writing = Arc::clone(&open.file);
            let (bytes, outcome) = glommio::executor()
                .spawn_blocking(move || {
                    let mut bytes = batch.bytes;
                    let outcome = (&*writing)
                        .write_all(&bytes)
                        .map_err(|error| ("write", error))
                        .and_then(|()| match sync_now {
                            true => writing.sync_data().map_err(|error| ("fdatasync", error)),
                            false => Ok(()),
                        });
                    bytes.clear();
                    (bytes, outcome)
                })
                .await;
            self.recycle(bytes);
            if let Err((operation, error)) = outcome {
                return self.fail(&open.path, operation, &error);
            }
            if sync_now {
                last_sync = Instant::now();
                unsynced = false;
            } else {
                unsynced = self.mode == FsyncMode::Interval;
            }
            self.written.set(last_record);
            self.durable.set(last_record);
            self.written_wake.wake_all();
            self.release_waiters();
            file = Some(open);
        }
        if let Some(open) = file {
            if let Err(error) = self.sync(&open).await {
                self.fail(&open.path, "fdatasync", &error);
            }
        }
    }

    /// The journal file `path` failed at `operation`: fail-stop (see the module doc).
    fn fail(&self, path: &Path, operation: &str, error: &std::io::Error) {
        let reason = format!(
            "journal {operation} failed on {}: {error}; stopping: no acknowledgement \
             that waits for it is sent, clients resend unacknowledged messages after \
             the restart",
            path.display()
        );
        tracing::error!(shard = self.shard, "{reason}");
        self.failed.set(true);
        self.batches.borrow_mut().clear();
        self.waiters.borrow_mut().clear();
        self.last_holder.set(None);
        self.written_wake.wake_all();
        self.fail_stop.fail(reason);
    }

    fn recycle(&self, bytes: Vec<u8>) {
        let mut spare = self.spare.borrow_mut();
        if spare.capacity() < bytes.capacity()
            && bytes.capacity() <= limits::JOURNAL_BATCH_BYTES_MAX
        {
            *spare = bytes;
        }
    }

    fn release_waiters(&self) {
        let durable = self.durable.get();
        loop {
            let due = {
                let mut waiters = self.waiters.borrow_mut();
                let due = match waiters.front() {
                    Some((appended, _)) if *appended <= durable => waiters.pop_front(),
                    _ => None,
                };
                if waiters.is_empty() {
                    self.last_holder.set(None);
                }
                due
            };
            let Some((_, waiter)) = due else { break };
            waiter();
        }
    }

    /// Opens (creating) the journal file of `sequence` for appending; the new
    /// directory entry is made durable before any record relies on it.
    /// The journal file of snapshot sequence `sequence`.
    fn journal_path(&self, sequence: u64) -> PathBuf {
        self.gen_dir.join(
            FileName {
                shard: self.shard,
                sequence,
                kind: FileKind::Journal,
            }
            .to_file_name(),
        )
    }

    async fn open_file(&self, sequence: u64) -> Result<OpenFile, (PathBuf, std::io::Error)> {
        let path = self.journal_path(sequence);
        let gen_dir = self.gen_dir.clone();
        let opening = path.clone();
        let opened = glommio::executor()
            .spawn_blocking(move || {
                let file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&opening)?;
                sync_dir(&gen_dir)?;
                Ok::<_, std::io::Error>(file)
            })
            .await;
        match opened {
            Ok(file) => Ok(OpenFile {
                sequence,
                path,
                file: Arc::new(file),
            }),
            Err(error) => Err((path, error)),
        }
    }

    async fn sync(&self, open: &OpenFile) -> std::io::Result<()> {
        let file = Arc::clone(&open.file);
        glommio::executor()
            .spawn_blocking(move || file.sync_data())
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use glommio::LocalExecutorBuilder;
    use shardmq::persist::{JournalReader, JournalRecord};

    use super::*;

    fn ended(client_id: &str) -> JournalRecord {
        JournalRecord::SessionEnded {
            client_id: client_id.to_owned(),
        }
    }

    fn records_in(path: &Path) -> Vec<JournalRecord> {
        let bytes = std::fs::read(path).unwrap_or_default();
        JournalReader::new(&bytes).map(Result::unwrap).collect()
    }

    #[test]
    fn records_reach_the_file_of_their_sequence_before_their_waiters_run() {
        let dir = tempfile::tempdir().unwrap();
        let gen_dir = dir.path().to_path_buf();
        LocalExecutorBuilder::default()
            .spawn(move || async move {
                let journal = Rc::new(ShardJournal::new(
                    &gen_dir,
                    0,
                    0,
                    FsyncMode::Always,
                    1000,
                    Arc::new(FailStop::new(Arc::default())),
                ));
                let flusher = glommio::spawn_local(Rc::clone(&journal).run_flusher());
                let seen: Rc<RefCell<Vec<Vec<JournalRecord>>>> = Rc::default();
                let file_0 = gen_dir.join("shard-0-0.journal");
                let file_1 = gen_dir.join("shard-0-1.journal");
                journal.append(&ended("a"));
                journal.append(&ended("b"));
                let waiter_seen = Rc::clone(&seen);
                let path = file_0.clone();
                journal.when_durable(
                    journal.appended(),
                    Box::new(move || waiter_seen.borrow_mut().push(records_in(&path))),
                );
                let before_rotation = journal.appended();
                assert_eq!(journal.rotate(), 1);
                journal.append(&ended("c"));
                journal.written_through(before_rotation).await;
                journal.close();
                flusher.await;
                assert_eq!(seen.borrow()[0], vec![ended("a"), ended("b")]);
                assert_eq!(records_in(&file_0), vec![ended("a"), ended("b")]);
                assert_eq!(records_in(&file_1), vec![ended("c")]);
                assert!(!journal.has_pending());
            })
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn an_extended_hold_is_released_once_after_the_later_records_are_durable() {
        let dir = tempfile::tempdir().unwrap();
        let gen_dir = dir.path().to_path_buf();
        LocalExecutorBuilder::default()
            .spawn(move || async move {
                let fail_stop = Arc::new(FailStop::new(Arc::default()));
                let journal = Rc::new(ShardJournal::new(
                    &gen_dir,
                    0,
                    0,
                    FsyncMode::Always,
                    1000,
                    fail_stop,
                ));
                let seen: Rc<RefCell<Vec<Vec<JournalRecord>>>> = Rc::default();
                // The second record goes to the next file, in a batch of its own:
                // a waiter released after the first batch would not see it.
                let path = gen_dir.join("shard-0-1.journal");
                journal.append(&ended("a"));
                let waiter_seen = Rc::clone(&seen);
                let waiter_path = path.clone();
                journal.when_durable_for(
                    7,
                    journal.appended(),
                    Box::new(move || waiter_seen.borrow_mut().push(records_in(&waiter_path))),
                );
                journal.rotate();
                journal.append(&ended("b"));
                assert!(!journal.extend_hold(8, journal.appended()));
                assert!(journal.extend_hold(7, journal.appended()));
                let flusher = glommio::spawn_local(Rc::clone(&journal).run_flusher());
                assert!(journal.written_through(journal.appended()).await);
                journal.close();
                flusher.await;
                assert_eq!(*seen.borrow(), vec![vec![ended("b")]]);
                assert!(!journal.extend_hold(7, journal.appended()));
            })
            .unwrap()
            .join()
            .unwrap();
    }
}
