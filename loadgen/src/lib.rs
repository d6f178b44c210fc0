//! # shardmq-loadgen: the MQTT load generator behind the `loadgen` binary
//!
//! A glommio client, sharded across cores like the broker, that opens many
//! MQTT connections, publishes on an open-loop schedule with the intended send
//! time and a sequence number in every payload, and records latencies in
//! HdrHistograms merged across shards. It works against any MQTT broker.
//!
//! ```no_run
//! use shardmq_loadgen::{run, Scenario, ScenarioKind};
//!
//! let mut scenario = Scenario::new(ScenarioKind::PointToPoint, "127.0.0.1:1883".parse().unwrap());
//! scenario.publishers = 4;
//! scenario.count = 200;
//! let report = run(&scenario).unwrap();
//! assert_eq!(report.lost, 0);
//! ```
//!
//! ## Layout
//!
//! - [`scenario`]: what a run does; [`run`] carries it out, [`report`] is what it measured.
//! - [`shard`]: one executor's part of a run; [`control`]: what shards share.
//! - [`client`]: the task behind one connection; [`setup`], [`publisher`],
//!   [`subscriber`] its phases and roles; [`connection`]: socket and codec,
//!   [`read_buffer`] what it received; [`transport`]: TLS and WebSocket.
//! - [`schedule`], [`payload`], [`inflight`], [`tracker`], [`group`],
//!   [`latency`]: the measuring parts, each testable on its own.
//! - [`plan`], [`template`]: which connections exist and what they are called.
//! - [`progress`], [`procstat`], [`stats`]: progress lines, `/proc` readings, counters.
//! - [`limits`]: every bound of loadgen.

#![warn(missing_docs)]

pub mod client;
pub mod connection;
pub mod context;
pub mod control;
pub mod error;
pub mod group;
pub mod inflight;
pub mod latency;
pub mod limits;
pub mod payload;
pub mod plan;
pub mod procstat;
pub mod progress;
pub mod publisher;
pub mod read_buffer;
pub mod report;
pub mod scenario;
pub mod schedule;
pub mod setup;
pub mod shard;
pub mod stats;
pub mod subscriber;
pub mod template;
pub mod tracker;
pub mod transport;

mod run;

pub use error::Error;
pub use report::Report;
pub use run::run;
pub use scenario::{Scenario, ScenarioKind};
pub use transport::{ClientCertificate, TlsOptions, TransportOptions, WebSocketOptions};
