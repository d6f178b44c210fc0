//! # shardmq-shards: the thread-per-core runtime
//!
//! Runs the sans-I/O core of `shardmq` on one glommio executor per CPU: listeners,
//! connections, cross-shard rings, subscription-trie replicas and the timers.

#![warn(missing_docs)]
