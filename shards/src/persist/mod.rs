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
//! - `failure`: [`FailStop`]: a journal write or fsync that failed stops the broker.
//!
//! ## What each `fsync` mode guarantees
//!
//! - `always`: an answer that tells the client its packet's effect is kept
//!   (PUBACK/PUBREC to a publisher, PUBCOMP, SUBACK/UNSUBACK of a persistent
//!   session, and the PUBREL that follows a subscriber's PUBREC) is sent only
//!   after every record the packet caused is fdatasynced, on every shard that
//!   stored it. Nothing acknowledged is lost to a process crash or a power
//!   loss; QoS 2 stays exactly once. Deliveries are not held: after a crash a
//!   subscriber may get a QoS 1 message again whose PUBACK was not yet on disk.
//! - `interval`: records are written as soon as the previous write returned
//!   and fdatasynced every `fsync_interval_ms`; nothing is held. A process
//!   crash loses the records not yet written (the last milliseconds, which may
//!   include acknowledged messages); a power loss up to `fsync_interval_ms` more.
//! - `never`: like `interval` without the fdatasync: a power loss loses what
//!   the kernel had not written back yet (its dirty-page expiry, 30 s by default).
//!
//! In every mode, a journal write or fdatasync that fails stops the broker
//! (fail-stop, see `failure`): no answer held for durability is sent after it.
//!
//! Snapshots are always written with fsync (file, then directory), whatever
//! the mode; a clean stop writes one per shard after the clients are gone.

mod error;
mod failure;
mod journal;
mod layout;
mod load;
mod shard;
mod snapshot;
mod startup;

pub use error::PersistError;
pub use failure::{FailStop, EXIT_CODE_JOURNAL_FAILED};
pub use journal::ShardJournal;
pub use layout::{DirLock, CURRENT_FILE, LOCK_FILE};
pub use load::LoadOptions;
pub use shard::{wall_clock_ms, Captured, PersistSetup, ShardPersistence};
pub use startup::{open, open_on_own_thread, write_data_dir, Opened, ShardRestore};
