//! Shared test fixtures: an in-process broker on 127.0.0.1:0 with two shards,
//! client ids homed on a chosen shard, and a timeout-and-shutdown frame for
//! async (rumqttc) tests. The clients are rumqttc ([`crate::rumqtt`]) and a
//! raw one that controls every byte ([`crate::wire`]); neither uses shardmq's
//! codec.
//!
//! Every wait is bounded by [`TEST_TIMEOUT`]: a socket read timeout for raw
//! clients, `tokio::time::timeout` for rumqttc ones.

use std::future::Future;
use std::time::Duration;

use shardmq_shards::{home_shard, Broker, BrokerHandle, Config};
use tokio::time::timeout;

/// Upper bound of every wait in these tests.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Shards of the test broker.
pub const SHARDS: usize = 2;

/// A broker on 127.0.0.1:0 with [`SHARDS`] unpinned shards.
pub fn start_broker() -> BrokerHandle {
    start_broker_with(Config::default())
}

/// A broker on 127.0.0.1:0 with [`SHARDS`] unpinned shards and `config` otherwise.
pub fn start_broker_with(config: Config) -> BrokerHandle {
    Broker::start(Config {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        shards: SHARDS,
        pin_shards: false,
        ..config
    })
    .expect("the test broker starts")
}

/// Runs an async test's body within [`TEST_TIMEOUT`], then shuts `broker`
/// down off the runtime's worker threads (the shutdown blocks).
pub async fn run_then_shut_down(broker: BrokerHandle, test: impl Future<Output = ()>) {
    timeout(TEST_TIMEOUT, test)
        .await
        .expect("test finished in time");
    tokio::task::spawn_blocking(move || broker.shutdown())
        .await
        .unwrap();
}

/// A client id starting with `prefix` whose home is `shard`.
pub fn client_id_on(shard: usize, prefix: &str) -> String {
    (0..10_000)
        .map(|index| format!("{prefix}-{index}"))
        .find(|client_id| home_shard(client_id, SHARDS) == shard)
        .expect("some id within 10000 tries hashes to every shard")
}
