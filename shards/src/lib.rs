//! # shardmq-shards: the thread-per-core runtime
//!
//! Runs the sans-I/O core of `shardmq` on one glommio executor per CPU.
//!
//! ## Layout
//!
//! - [`config`]: the configuration, its embedded defaults and the TOML file.
//! - `broker`: [`Broker::start`] and the [`BrokerHandle`] tests and `main` hold.
//! - [`persist`]: the data directory, start-up recovery, journals and snapshots.
//! - `listener`: SO_REUSEPORT listeners, one per address on every shard, and accepting.
//! - `home`: [`home_shard`], the shard that owns a client id.
//! - `ring`: the full mesh of bounded SPSC rings between shards, with local outboxes.
//! - `shard`: one shard's state and tasks: connections, sessions, the trie replica,
//!   the retained-message replica (a `shardmq::retained::RetainedStore`), routing
//!   and the timer tick over a `shardmq::timers::TimerQueue`.
//! - `seeds`: the per-process random seeds of the trie replicas' label hashing.
//! - `transport`: the sans-I/O transport layers between socket and codec, one
//!   contract for all (bytes in, MQTT bytes out, batches sealed into wire bytes
//!   once, "wants to write", errors); TCP now, TLS and WebSocket to come.
//!   Listeners carry the kind of layer their connections get.
//! - `stats`: the counters, one set per shard written by its thread alone,
//!   summed on demand.
//! - `stop`: the broker-wide stop request the shards wait for.
//! - `wake`: small single-threaded wake-up primitives.

#![warn(missing_docs)]

mod broker;
pub mod config;
mod home;
mod listener;
pub mod persist;
mod ring;
mod seeds;
mod shard;
mod stats;
mod stop;
mod transport;
mod wake;

pub use broker::{allowed_cpus, Broker, BrokerHandle, StartError, StopHandle};
pub use config::{Config, ConfigError, FsyncMode, PersistenceConfig, SlowSubscriberAction};
pub use home::home_shard;
pub use listener::BindError;
pub use stats::{BrokerStats, StatsSnapshot};
