//! The figures of a finished run: merged from every shard, printed as a table
//! or written as JSON.

use std::fmt::Write;

use serde::Serialize;

use crate::control::ProcessSample;
use crate::latency::{Latencies, LatencySummary};
use crate::scenario::{Scenario, ScenarioKind};
use crate::shard::ShardResult;
use crate::stats::{ErrorCounts, ShardStats};
use crate::tracker::{lost, SequenceCounts};

/// Everything a run measured.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    /// Scenario name: conn, pub, sub, p2p, fan-in, fan-out.
    pub scenario: String,
    /// Broker address.
    pub broker: String,
    /// How connections reached it: tcp, tls, ws or wss.
    pub transport: String,
    /// Loadgen shards.
    pub shards: usize,
    /// Protocol level (4 or 5).
    pub protocol_level: u8,
    /// QoS of the run.
    pub qos: u8,
    /// Payload size, bytes.
    pub payload_size: usize,
    /// Connections the scenario asked for.
    pub connections_planned: u64,
    /// Connections set up.
    pub connections_established: u64,
    /// TLS handshakes that resumed a session (of `connections_established`);
    /// `None` without TLS.
    pub tls_handshakes_resumed: Option<u64>,
    /// Seconds from the end of the warmup to the last message written.
    pub publish_window_s: f64,
    /// Messages written, warmup included.
    pub published: u64,
    /// Messages written per second after the warmup.
    pub published_per_s: f64,
    /// Messages received, warmup and duplicates included.
    pub delivered: u64,
    /// Messages received per second after the warmup.
    pub delivered_per_s: f64,
    /// QoS 1/2 flows completed.
    pub acknowledged: u64,
    /// Deliveries that should have happened (messages x their receivers).
    pub expected_deliveries: u64,
    /// Expected deliveries that never arrived (after the drain).
    pub lost: u64,
    /// Deliveries of a message the subscriber already had; in a
    /// shared-subscription run, of a message any member of the group had.
    pub duplicates: u64,
    /// Of those, deliveries of a message another member of the share group
    /// had received (a message the broker gave to two members).
    pub shared_group_duplicates: u64,
    /// Deliveries that arrived after a later message of the same publisher.
    pub reordered: u64,
    /// Intended send time to delivery.
    pub latency_delivery: LatencySummary,
    /// Intended send time to PUBACK/PUBCOMP.
    pub latency_acknowledgement: LatencySummary,
    /// CONNECT to CONNACK.
    pub latency_connack: LatencySummary,
    /// Everything that went wrong.
    pub errors: ErrorCounts,
    /// Loadgen's CPU time over the measured phase, microseconds.
    pub loadgen_cpu_us: Option<u64>,
    /// The broker's CPU time over the measured phase, microseconds.
    pub broker_cpu_us: Option<u64>,
    /// Broker CPU time per delivered message, microseconds.
    pub broker_cpu_us_per_delivery: Option<f64>,
    /// Broker resident memory before any connection, bytes.
    pub broker_rss_before_bytes: Option<u64>,
    /// Broker resident memory at the end of the measured phase, bytes.
    pub broker_rss_after_bytes: Option<u64>,
    /// Growth of the broker's resident memory per established connection, bytes.
    pub broker_rss_per_connection_bytes: Option<f64>,
}

impl Report {
    /// True when the scenario could not be carried out as asked: no
    /// connection came up, some could not be set up, or some dropped mid-run.
    pub fn is_failure(&self) -> bool {
        self.connections_established == 0
            || self.errors.setup_failures() > 0
            || self.errors.run_failures() > 0
    }

    /// The summary table, one figure per line.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let mut row = |name: &str, value: String| {
            writeln!(out, "| {name:<34} | {value:>22} |").expect("writing to a String");
        };
        row(
            "scenario",
            format!(
                "{} qos{} v{} {}",
                self.scenario, self.qos, self.protocol_level, self.transport
            ),
        );
        row(
            "connections up / planned",
            format!(
                "{} / {}",
                self.connections_established, self.connections_planned
            ),
        );
        if let Some(resumed) = self.tls_handshakes_resumed {
            row("TLS handshakes resumed", resumed.to_string());
        }
        row(
            "published (msgs/s)",
            format!("{} ({:.0})", self.published, self.published_per_s),
        );
        row(
            "delivered (msgs/s)",
            format!("{} ({:.0})", self.delivered, self.delivered_per_s),
        );
        row(
            "lost / duplicates / reordered",
            format!("{} / {} / {}", self.lost, self.duplicates, self.reordered),
        );
        if self.shared_group_duplicates > 0 {
            row(
                "duplicates across group members",
                self.shared_group_duplicates.to_string(),
            );
        }
        for (name, latency) in [
            ("delivery latency", &self.latency_delivery),
            ("ack latency", &self.latency_acknowledgement),
            ("connack latency", &self.latency_connack),
        ] {
            if latency.count > 0 {
                row(
                    &format!("{name} p50/p90/p99 us"),
                    format!(
                        "{} / {} / {}",
                        latency.p50_us, latency.p90_us, latency.p99_us
                    ),
                );
                row(
                    &format!("{name} p99.9/max us"),
                    format!("{} / {}", latency.p999_us, latency.max_us),
                );
            }
        }
        row("errors", self.errors.total().to_string());
        for (kind, count) in error_details(&self.errors) {
            row(&format!("  {kind}"), count);
        }
        let optional = |value: Option<String>| value.unwrap_or_else(|| "-".to_string());
        row(
            "loadgen CPU ms",
            optional(self.loadgen_cpu_us.map(|us| (us / 1000).to_string())),
        );
        row(
            "broker CPU ms",
            optional(self.broker_cpu_us.map(|us| (us / 1000).to_string())),
        );
        row(
            "broker CPU us / delivery",
            optional(self.broker_cpu_us_per_delivery.map(|us| format!("{us:.2}"))),
        );
        row(
            "broker RSS before / after KiB",
            match (self.broker_rss_before_bytes, self.broker_rss_after_bytes) {
                (Some(before), Some(after)) => format!("{} / {}", before / 1024, after / 1024),
                _ => "-".to_string(),
            },
        );
        row(
            "broker RSS / connection B",
            optional(
                self.broker_rss_per_connection_bytes
                    .map(|b| format!("{b:.0}")),
            ),
        );
        out
    }
}

/// The non-zero error counts by kind, reason codes spelled out.
fn error_details(errors: &ErrorCounts) -> Vec<(String, String)> {
    let value = serde_json::to_value(errors).expect("error counts serialize");
    let Some(kinds) = value.as_object() else {
        return Vec::new();
    };
    let mut details = Vec::new();
    for (kind, count) in kinds {
        match count {
            serde_json::Value::Number(n) if n.as_u64() != Some(0) => {
                details.push((kind.clone(), n.to_string()))
            }
            serde_json::Value::Object(codes) => {
                for (code, n) in codes {
                    details.push((format!("{kind} {code}"), n.to_string()));
                }
            }
            _ => {}
        }
    }
    details
}

/// The scenario's name as on the command line.
pub fn scenario_name(kind: &ScenarioKind) -> &'static str {
    match kind {
        ScenarioKind::Conn { .. } => "conn",
        ScenarioKind::Pub => "pub",
        ScenarioKind::Sub => "sub",
        ScenarioKind::PointToPoint => "p2p",
        ScenarioKind::FanIn { .. } => "fan-in",
        ScenarioKind::FanOut => "fan-out",
    }
}

/// Samples of the processes at the edges of the run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Samples {
    /// Before any connection.
    pub before_setup: ProcessSample,
    /// When the measured phase began.
    pub start: Option<ProcessSample>,
    /// When it ended.
    pub end: Option<ProcessSample>,
}

/// Merges the shards' results into the report.
/// `group` is what the share group received per publisher, in a
/// shared-subscription run.
pub fn build(
    scenario: &Scenario,
    shards: &[ShardResult],
    group: Option<&[SequenceCounts]>,
    samples: Samples,
) -> Report {
    let mut stats = ShardStats::default();
    let mut latencies = Latencies::default();
    for shard in shards {
        merge_stats(&mut stats, &shard.stats);
        latencies.merge(&shard.stats.latencies);
    }
    let Accounting {
        expected: expected_deliveries,
        lost,
        duplicates,
        shared_group_duplicates,
        reordered,
    } = delivery_accounting(scenario, shards, group);
    let start_ns = shards.iter().map(|s| s.start_ns).max().unwrap_or(0);
    let warmup_end_ns = start_ns + scenario.warmup.as_nanos() as u64;
    let rate = |count: u64, until_ns: u64| {
        let window_s = until_ns.saturating_sub(warmup_end_ns) as f64 / 1e9;
        if window_s > 0.0 {
            count as f64 / window_s
        } else {
            0.0
        }
    };
    let cpu = |pick: fn(&ProcessSample) -> Option<u64>| match (samples.start, samples.end) {
        (Some(start), Some(end)) => Some(pick(&end)?.saturating_sub(pick(&start)?)),
        _ => None,
    };
    let broker_cpu_us = cpu(|s| s.broker_cpu_us);
    let rss_after = samples.end.and_then(|s| s.broker_rss_bytes);
    let rss_before = samples.before_setup.broker_rss_bytes;
    Report {
        scenario: scenario_name(&scenario.kind).to_string(),
        broker: scenario.broker.to_string(),
        transport: scenario.transport.name().to_string(),
        shards: scenario.shards,
        protocol_level: scenario.protocol_version as u8,
        qos: scenario.qos as u8,
        payload_size: scenario.payload_size,
        connections_planned: u64::from(scenario.publisher_count())
            + u64::from(scenario.subscriber_count())
            + u64::from(scenario.idle_count()),
        connections_established: stats.connections_established,
        tls_handshakes_resumed: scenario
            .transport
            .tls
            .is_some()
            .then_some(stats.tls_resumed),
        publish_window_s: stats.last_publish_ns.saturating_sub(warmup_end_ns) as f64 / 1e9,
        published: stats.published,
        published_per_s: rate(stats.published_measured, stats.last_publish_ns),
        delivered: stats.delivered,
        delivered_per_s: rate(stats.delivered_measured, stats.last_delivery_ns),
        acknowledged: stats.acknowledged,
        expected_deliveries,
        lost,
        duplicates,
        shared_group_duplicates,
        reordered,
        latency_delivery: latencies.delivery.summary(),
        latency_acknowledgement: latencies.acknowledgement.summary(),
        latency_connack: latencies.connack.summary(),
        errors: stats.errors,
        loadgen_cpu_us: cpu(|s| s.loadgen_cpu_us),
        broker_cpu_us,
        broker_cpu_us_per_delivery: broker_cpu_us
            .filter(|_| stats.delivered > 0)
            .map(|us| us as f64 / stats.delivered as f64),
        broker_rss_before_bytes: rss_before,
        broker_rss_after_bytes: rss_after,
        broker_rss_per_connection_bytes: match (rss_before, rss_after) {
            (Some(before), Some(after)) if stats.connections_established > 0 => {
                Some((after as f64 - before as f64) / stats.connections_established as f64)
            }
            _ => None,
        },
    }
}

fn merge_stats(total: &mut ShardStats, shard: &ShardStats) {
    total.connections_established += shard.connections_established;
    total.tls_resumed += shard.tls_resumed;
    total.published += shard.published;
    total.published_measured += shard.published_measured;
    total.last_publish_ns = total.last_publish_ns.max(shard.last_publish_ns);
    total.acknowledged += shard.acknowledged;
    total.delivered += shard.delivered;
    total.delivered_measured += shard.delivered_measured;
    total.last_delivery_ns = total.last_delivery_ns.max(shard.last_delivery_ns);
    total.errors.merge(&shard.errors);
}

/// What the subscribers received, against what they should have.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Accounting {
    expected: u64,
    lost: u64,
    duplicates: u64,
    shared_group_duplicates: u64,
    reordered: u64,
}

/// Expected deliveries, lost, duplicates and reordered over every subscriber.
/// Members of a shared subscription split each publisher's messages between
/// them, so loss and duplicates are counted per publisher over the whole
/// group there, from `group` (what the group received per publisher).
fn delivery_accounting(
    scenario: &Scenario,
    shards: &[ShardResult],
    group: Option<&[SequenceCounts]>,
) -> Accounting {
    let mut sent = vec![0u64; scenario.publisher_count() as usize];
    for (index, count) in shards.iter().flat_map(|s| s.published_by.iter()) {
        sent[*index as usize] = *count;
    }
    let mut accounting = Accounting::default();
    let mut member_duplicates = 0;
    for subscriber in shards.iter().flat_map(|s| s.subscribers.iter()) {
        for (k, counts) in subscriber.counts.iter().enumerate() {
            let publisher = subscriber.first_publisher as usize + k;
            member_duplicates += counts.duplicates;
            accounting.reordered += counts.reordered;
            if group.is_none() {
                accounting.expected += sent[publisher];
                accounting.lost += lost(sent[publisher], counts.distinct);
            }
        }
    }
    let Some(group) = group else {
        accounting.duplicates = member_duplicates;
        return accounting;
    };
    if scenario.subscriber_count() > 0 {
        for (publisher, &count) in sent.iter().enumerate() {
            let received = group.get(publisher).copied().unwrap_or_default();
            accounting.expected += count;
            accounting.lost += lost(count, received.distinct);
            accounting.duplicates += received.duplicates;
        }
    }
    // A member's own duplicate is also one of the group; the rest went to
    // two members.
    accounting.shared_group_duplicates = accounting.duplicates.saturating_sub(member_duplicates);
    accounting
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shard::SubscriberResult;

    fn result(published_by: Vec<(u32, u64)>, subscribers: Vec<SubscriberResult>) -> ShardResult {
        ShardResult {
            stats: ShardStats::default(),
            published_by,
            subscribers,
            start_ns: 1,
        }
    }

    fn received(index: u32, first_publisher: u32, distinct: &[u64]) -> SubscriberResult {
        SubscriberResult {
            index,
            first_publisher,
            counts: distinct
                .iter()
                .map(|&distinct| SequenceCounts {
                    distinct,
                    ..SequenceCounts::default()
                })
                .collect(),
        }
    }

    #[test]
    fn loss_is_counted_per_subscriber_for_every_publisher_it_expects() {
        let mut scenario = Scenario::new(ScenarioKind::FanOut, "127.0.0.1:1883".parse().unwrap());
        scenario.publishers = 2;
        scenario.subscribers = 2;
        let shards = [
            result(vec![(0, 100)], vec![received(0, 0, &[100, 90])]),
            result(vec![(1, 100)], vec![received(1, 0, &[100, 100])]),
        ];
        let accounting = delivery_accounting(&scenario, &shards, None);
        assert_eq!(accounting.expected, 400);
        assert_eq!(accounting.lost, 10);
    }

    #[test]
    fn message_given_to_two_members_of_a_share_group_is_a_duplicate_not_a_delivery() {
        let mut scenario = Scenario::new(
            ScenarioKind::FanIn {
                shared_group: Some("g".into()),
            },
            "127.0.0.1:1883".parse().unwrap(),
        );
        scenario.publishers = 1;
        scenario.subscribers = 2;
        // 100 sent: one went to both members, one to neither.
        let shards = [result(
            vec![(0, 100)],
            vec![received(0, 0, &[60]), received(1, 0, &[40])],
        )];
        let group = [SequenceCounts {
            distinct: 99,
            duplicates: 1,
            reordered: 0,
        }];
        let accounting = delivery_accounting(&scenario, &shards, Some(&group));
        assert_eq!(accounting.expected, 100);
        assert_eq!(accounting.lost, 1);
        assert_eq!(accounting.duplicates, 1);
        assert_eq!(accounting.shared_group_duplicates, 1);
    }

    #[test]
    fn table_names_each_kind_of_error_with_its_reason_code() {
        let mut report = Report::default();
        report.errors.connect_failed = 3;
        report
            .errors
            .connack_refused
            .add(shardmq::protocol::ReasonCode::NotAuthorized);
        let table = report.table();
        assert!(table.contains("connect_failed"), "{table}");
        assert!(
            table.contains("connack_refused 0x87 NotAuthorized"),
            "{table}"
        );
        assert!(!table.contains("protocol_errors"), "{table}");
    }

    #[test]
    fn report_without_connections_is_a_failure() {
        assert!(Report::default().is_failure());
    }
}
