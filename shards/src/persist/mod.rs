//! Persistence at runtime: the data directory, start-up recovery, each shard's
//! journal with group commit, and its periodic snapshots.
//!
//! The byte formats (snapshot file, journal record, replay) live in the core,
//! `shardmq::persist`; this module moves them to and from files.
//!
//! - `layout`: file names, `CURRENT`, atomic replacement, the directory lock.
//! - `load`: one generation read back, damage handled (see there).
//! - `startup`: [`open`]: lock, load, rewrite under the current shard count,
//!   switch `CURRENT`, hand each shard its state; [`write_data_dir`] for tools.
//! - `journal`: [`ShardJournal`], batches, the flusher task and durability waiters.
//! - `snapshot`: writing a shard's snapshot pair, removing what it replaces.
//! - `shard`: [`ShardPersistence`], what a running shard keeps of all this.
//!
//! ## What each `fsync` mode guarantees
//!
//! - `always`: a PUBACK/PUBREC (and a persistent session's SUBACK) is sent only
//!   after every record the packet caused is fdatasynced, on every shard that
//!   stored it. Acknowledged state survives a process crash and a power loss.
//! - `interval`: records are written as soon as the previous write returned,
//!   fdatasynced every `fsync_interval_ms`; nothing is held. A process crash
//!   loses the records of the batch not yet written (milliseconds); a power
//!   loss loses up to `fsync_interval_ms` more.
//! - `never`: like `interval` without the fdatasync: a power loss loses what
//!   the kernel had not written back (up to its dirty-page expiry, ~30 s).

mod error;
mod journal;
mod layout;
mod load;
mod shard;
mod snapshot;
mod startup;

pub use error::PersistError;
pub use journal::ShardJournal;
pub use layout::{DirLock, CURRENT_FILE, LOCK_FILE};
pub use load::LoadOptions;
pub use shard::{wall_clock_ms, PersistSetup, ShardPersistence};
pub use startup::{open, write_data_dir, Opened, ShardRestore};
