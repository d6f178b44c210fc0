//! The subscription trie on the publish path: matching one topic name against
//! 1,000 and 100,000 filters, and subscribe/unsubscribe churn.
//!
//! The filters model a device fleet: per site and device an exact filter
//! (`site/{n}/device/{m}/temp`) and a wildcard one (`site/{n}/+/{m}/#`), plus
//! per site a shared subscription with remote members and a site-wide `#`
//! watched by another shard.
//!
//! Run: `cargo bench -p shardmq-bench --bench trie` (add `-- --quick` on a busy
//! machine).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use shardmq::topic::{MatchVisitor, SharedGroupMatch, SubscriptionTrie};

/// What a subscription carries in the server: options and an identifier.
#[derive(Clone, Copy)]
struct Subscription {
    maximum_qos: u8,
    subscription_identifier: u32,
}

/// Counts what a match reports, as a server would touch each delivery.
#[derive(Default)]
struct Deliveries {
    local: usize,
    groups: usize,
}

impl MatchVisitor<u64, Subscription> for Deliveries {
    fn local(&mut self, _topic_filter: &str, key: &u64, value: &Subscription) {
        black_box((key, value.maximum_qos, value.subscription_identifier));
        self.local += 1;
    }

    fn shared(&mut self, group: SharedGroupMatch<'_, u64, Subscription>) {
        black_box((group.local_members.len(), group.remote_shards));
        self.groups += 1;
    }
}

/// A fleet of `sites * devices_per_site` devices: two filters per device.
fn fleet(sites: u64, devices_per_site: u64) -> SubscriptionTrie<u64, Subscription> {
    let mut trie = SubscriptionTrie::new();
    let subscription = Subscription {
        maximum_qos: 1,
        subscription_identifier: 7,
    };
    let mut key = 0u64;
    for site in 0..sites {
        for device in 0..devices_per_site {
            let exact = format!("site/{site}/device/{device}/temp");
            let wildcard = format!("site/{site}/+/{device}/#");
            for topic_filter in [exact, wildcard] {
                trie.insert(&topic_filter, key, subscription)
                    .expect("valid filter");
                key += 1;
            }
        }
        let shared = format!("$share/dashboards/site/{site}/device/+/temp");
        trie.insert(&shared, key, subscription)
            .expect("valid filter");
        trie.add_remote(&shared, (site % 8) as usize)
            .expect("valid filter");
        trie.add_remote(&format!("site/{site}/#"), ((site + 1) % 8) as usize)
            .expect("valid filter");
        key += 1;
    }
    trie
}

fn match_topic(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("trie_match");
    for (sites, devices_per_site) in [(10, 50), (100, 500)] {
        let trie = fleet(sites, devices_per_site);
        let filters = trie.filter_count();
        let hit = format!("site/{}/device/{}/temp", sites / 2, devices_per_site / 3);
        let miss = format!("site/{}/gateway/status", sites / 2);
        group.bench_with_input(
            BenchmarkId::new("hit", filters),
            &hit,
            |bench, topic_name| {
                bench.iter(|| {
                    let mut deliveries = Deliveries::default();
                    let remote_shards = trie.match_topic(black_box(topic_name), &mut deliveries);
                    assert_eq!(deliveries.local, 2);
                    black_box((remote_shards, deliveries.groups))
                })
            },
        );
        group.bench_with_input(
            BenchmarkId::new("miss", filters),
            &miss,
            |bench, topic_name| {
                bench.iter(|| {
                    let mut deliveries = Deliveries::default();
                    let remote_shards = trie.match_topic(black_box(topic_name), &mut deliveries);
                    black_box((remote_shards, deliveries.local))
                })
            },
        );
    }
    group.finish();
}

fn insert_remove(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("trie_churn");
    let mut trie = fleet(100, 500);
    let filters = trie.filter_count();
    let subscription = Subscription {
        maximum_qos: 0,
        subscription_identifier: 0,
    };
    let new_branch = "site/7/valve/12/pressure";
    let existing_filter = "site/7/device/12/temp";
    group.bench_function(
        BenchmarkId::new("insert_remove_new_branch", filters),
        |bench| {
            bench.iter(|| {
                trie.insert(black_box(new_branch), u64::MAX, subscription)
                    .expect("valid filter");
                trie.remove(black_box(new_branch), &u64::MAX)
                    .expect("valid filter")
            })
        },
    );
    group.bench_function(
        BenchmarkId::new("insert_remove_existing_filter", filters),
        |bench| {
            bench.iter(|| {
                trie.insert(black_box(existing_filter), u64::MAX, subscription)
                    .expect("valid filter");
                trie.remove(black_box(existing_filter), &u64::MAX)
                    .expect("valid filter")
            })
        },
    );
    group.finish();
}

criterion_group!(benches, match_topic, insert_remove);
criterion_main!(benches);
