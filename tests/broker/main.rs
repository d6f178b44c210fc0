//! End-to-end tests of the broker over loopback: an in-process broker with two
//! shards, driven by rumqttc and by raw clients that control every byte.

mod auth;
mod bursts;
mod common;
mod conformance;
mod connack_size;
mod fan_out;
mod features;
mod loadgen_runs;
mod parking;
mod persistence;
mod qos;
mod refused_connect;
mod retained;
mod retained_expiry;
mod robustness;
mod routing;
mod rumqtt;
mod session_limits;
mod sessions;
mod shared;
mod shared_fairness;
mod topic_rules;
mod wire;
