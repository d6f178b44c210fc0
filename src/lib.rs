//! # shardmq: the sans-I/O core of an MQTT broker
//!
//! Everything MQTT means, with no runtime, socket, file or clock in it. The
//! thread-per-core server (`shardmq-shards`) and the load generator
//! (`shardmq-loadgen`) are built on top of it.
//!
//! ## Layout
//!
//! - [`protocol`]: the codec for MQTT 3.1, 3.1.1 and 5.0. Two-phase framing (fixed
//!   header and remaining length checked against the maximum packet size before the
//!   body is buffered), zero-copy payloads, typed errors that name the spec rule
//!   they break and the v5 reason code to disconnect with.
//! - [`topic`]: topic-name and topic-filter rules, `$share/` parsing and the
//!   subscription trie every shard keeps a replica of.
//! - [`session`]: the per-client state machine: packets, timers and routed
//!   messages in, actions out, with the time passed in by the caller.
//! - [`retained`]: the retained-message store every shard keeps a replica of,
//!   bounded, with expiry, and the stamps that make the replicas agree on
//!   racing updates.
//! - [`auth`]: the password file, the ACL file and the authenticator
//!   asked once per CONNECT, parsed from text and checked without I/O.
//! - [`counter`]: the single-writer count every statistic is kept in, one
//!   set per shard, summed by whoever reads them.
//! - [`timers`]: a bounded queue of deadlines, fired in order; a shard keeps
//!   its session timers in one.
//! - [`persist`]: the snapshot and journal formats, and replay of both, as bytes
//!   in and out.
//! - [`limits`]: every bound in one place.
//!
//! Dependencies run one way: `protocol` <- `topic` <- `session` <- `persist`
//! (and `retained` sits beside `persist`, on `session`). The session state
//! machine knows nothing of how it is stored: converting a session to and from
//! the persisted schema and the journal records lives in [`persist`].

#![warn(missing_docs)]

pub mod auth;
pub mod counter;
pub mod limits;
pub mod persist;
pub mod protocol;
pub mod retained;
pub mod session;
pub mod timers;
pub mod topic;
