//! loadgen's library API against the in-process broker: short bounded runs
//! (`p2p`, shared `fan-in`) in which everything sent must arrive exactly once.

use std::time::Duration;

use shardmq::protocol::{ProtocolVersion, QoS};
use shardmq_loadgen::{run, Scenario, ScenarioKind};

use crate::common::start_broker;

/// Publisher/subscriber pairs of each run.
const PAIRS: u32 = 8;

/// Messages each publisher sends.
const MESSAGES_PER_PUBLISHER: u64 = 250;

fn assert_p2p_exactly_once(qos: QoS, protocol_version: ProtocolVersion) {
    let broker = start_broker();
    let mut scenario = Scenario::new(ScenarioKind::PointToPoint, broker.local_addr());
    scenario.shards = 2;
    scenario.publishers = PAIRS;
    scenario.qos = qos;
    scenario.protocol_version = protocol_version;
    scenario.count = MESSAGES_PER_PUBLISHER;
    // Bounds, not expectations: the run ends once every flow is complete.
    scenario.duration = Duration::from_secs(30);
    scenario.drain = Duration::from_secs(10);
    scenario.settle = Duration::ZERO;
    let report = run(&scenario).expect("the run starts");
    let total = u64::from(PAIRS) * MESSAGES_PER_PUBLISHER;
    assert_eq!(
        report.connections_established,
        2 * u64::from(PAIRS),
        "{report:#?}"
    );
    assert_eq!(report.published, total, "{report:#?}");
    assert_eq!(report.acknowledged, total, "{report:#?}");
    assert_eq!(report.expected_deliveries, total, "{report:#?}");
    assert_eq!(report.delivered, total, "{report:#?}");
    assert_eq!(report.lost, 0, "{report:#?}");
    assert_eq!(report.duplicates, 0, "{report:#?}");
    assert_eq!(report.errors.total(), 0, "{report:#?}");
    assert!(!report.is_failure(), "{report:#?}");
    broker.shutdown();
}

#[test]
fn loadgen_p2p_qos1_gets_every_message_exactly_once() {
    assert_p2p_exactly_once(QoS::AtLeastOnce, ProtocolVersion::V3_1_1);
}

#[test]
fn loadgen_p2p_qos2_over_v5_gets_every_message_exactly_once() {
    assert_p2p_exactly_once(QoS::ExactlyOnce, ProtocolVersion::V5);
}

#[test]
fn loadgen_shared_fan_in_gives_each_message_to_exactly_one_member() {
    let broker = start_broker();
    let mut scenario = Scenario::new(
        ScenarioKind::FanIn {
            shared_group: Some("workers".into()),
        },
        broker.local_addr(),
    );
    scenario.shards = 2;
    scenario.publishers = 4;
    scenario.subscribers = 6;
    scenario.qos = QoS::AtLeastOnce;
    scenario.count = MESSAGES_PER_PUBLISHER;
    scenario.duration = Duration::from_secs(30);
    scenario.drain = Duration::from_secs(10);
    scenario.settle = Duration::ZERO;
    let report = run(&scenario).expect("the run starts");
    let total = 4 * MESSAGES_PER_PUBLISHER;
    assert_eq!(report.connections_established, 10, "{report:#?}");
    assert_eq!(report.expected_deliveries, total, "{report:#?}");
    assert_eq!(report.delivered, total, "{report:#?}");
    assert_eq!(report.lost, 0, "{report:#?}");
    assert_eq!(report.duplicates, 0, "{report:#?}");
    assert_eq!(report.shared_group_duplicates, 0, "{report:#?}");
    assert_eq!(report.errors.total(), 0, "{report:#?}");
    broker.shutdown();
}
