//! # shardmq-shards: the thread-per-core runtime
//!
//! Runs the sans-I/O core of `shardmq` on one glommio executor per CPU. The
//! core decides everything MQTT means and says it in `Action`s; this crate
//! moves bytes, runs timers, carries messages between shards and writes the
//! journal, and re-derives nothing the core knows.
//!
//! ## Layout
//!
//! - [`config`]: the configuration, its embedded defaults and the TOML file.
//! - `broker`: [`Broker::start`] and the [`BrokerHandle`] tests and `main` hold.
//! - `listener`: SO_REUSEPORT listeners, one per address on every shard, each
//!   with the kind of transport its connections get, and accepting.
//! - `transport`: the sans-I/O transport layers between socket and codec, one
//!   contract for all (bytes in, MQTT bytes out, batches sealed into wire
//!   bytes once, "wants to write", errors), one file per transport: TCP,
//!   TLS (rustls, its listener's material reloadable on SIGHUP), and
//!   WebSocket over either (`ws`, `wss`).
//! - `shard`: one shard, as a few owned parts (session store, router,
//!   replication barriers, connection set, dispatcher, clock, delivery flow,
//!   parking lot) and the glue that makes them work together; its module doc
//!   has the table of what each part owns.
//! - `ring`: the full mesh of bounded SPSC rings between shards, with local outboxes.
//! - `home`: [`home_shard`], the shard that owns a client id.
//! - [`auth`]: the password and ACL files of `[auth]`, loaded at start and
//!   reloaded whole (SIGHUP); the shards read them once per CONNECT.
//! - [`passwd`]: `shardmq passwd`, Mosquitto password files written.
//! - [`persist`]: the data directory, start-up recovery, journals and snapshots.
//! - `seeds`: the per-process random seeds of the trie replicas' label hashing.
//! - `stats`: the counters, one set per shard written by its thread alone,
//!   summed on demand.
//! - `stop`: the broker-wide stop request the shards wait for.
//! - `wake`: small single-threaded wake-up primitives.
//!
//! ## A connection's life
//!
//! 1. Every shard accepts on every listener (`listener`); the accepting shard
//!    runs the connection's transport handshake and reads its CONNECT
//!    (`shard::connect_read`).
//! 2. The CONNECT names the client id and so the home shard (`home`); a
//!    connection that landed elsewhere travels there over the ring, socket,
//!    transport state and unread bytes together.
//! 3. On its home shard it is attached to its session (`shard::attach`:
//!    takeover, resume or a new session) and gets one task (`shard::task`)
//!    that reads, decodes and hands each packet to the session, then writes
//!    what the session queued, a batch per write.
//! 4. Idle, it is parked: its task ends and epoll watches the socket
//!    (`shard::parking`); it comes back with a new task.
//!
//! ## A QoS 1 PUBLISH, module by module
//!
//! `task` reads and decodes it under one clock reading; `sessions` hands it
//! to the session from the `store`; the session answers with
//! `Action::Publish` and `Action::AnswerPublish`, which `dispatch` runs:
//! `routing` asks the `router` where the message goes, pushes it once to each
//! other shard that has subscribers (`ring`), journals it for the journaled
//! sessions it reaches here (`journaling`) and delivers it to each local
//! session once; the PUBACK is queued on the connection, and held until the
//! journal is durable where acknowledgements wait for it. On the receiving
//! shard the ring consumer walks that shard's `router` and delivers the same
//! way.

#![warn(missing_docs)]

pub mod auth;
mod broker;
pub mod config;
mod home;
mod listener;
pub mod passwd;
pub mod persist;
mod ring;
mod seeds;
mod shard;
mod stats;
mod stop;
mod transport;
mod wake;

/// The test PKI the integration tests use too.
#[cfg(test)]
#[path = "../tests/pki/mod.rs"]
mod test_pki;

pub use broker::{allowed_cpus, Broker, BrokerHandle, StartError, StopHandle, TlsReloader};
pub use config::{
    Config, ConfigError, FsyncMode, ListenerConfig, ListenerTransport, PersistenceConfig,
    SlowSubscriberAction,
};
pub use home::home_shard;
pub use listener::BindError;
pub use stats::{BrokerStats, StatsSnapshot};
