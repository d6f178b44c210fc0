//! # shardmq-loadgen: the MQTT load generator behind the `loadgen` binary
//!
//! A glommio client, sharded across cores, that opens many MQTT connections,
//! publishes on an open-loop schedule and records latencies in HdrHistograms.

#![warn(missing_docs)]
