//! # shardmq-bench: benchmarks of shardmq
//!
//! The criterion benches live in `benches/`; `bench/compare.sh` runs the
//! side-by-side benchmark of shardmq and its peer brokers with `loadgen`.

#![warn(missing_docs)]
