//! Fairness of shared subscriptions through rumqttc (MQTT 5.0): each share
//! group on each filter takes its own round-robin turns, so a publish matching
//! several groups gives each of them its share, whatever the others match.
//!
//! The publishing shard picks, per group, the next shard among those with
//! members; that shard picks its next local member. The placements below keep
//! every expected count exact: a group's members all on one shard, or spread
//! evenly over both with an even number of matches per shard.

use std::collections::BTreeMap;

use rumqttc::v5::mqttbytes::v5::{Packet, SubscribeReasonCode};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, Event};
use tokio::sync::mpsc;
use tokio::time::{timeout_at, Instant};

use crate::common::{client_id_on, run_then_shut_down, start_broker, TEST_TIMEOUT};
use crate::rumqtt::spawn_v5;

/// A member of a share group: its label, home shard and `$share/...` filter.
struct Member {
    label: &'static str,
    shard: usize,
    topic_filter: &'static str,
}

/// Connects every member on its home shard, subscribes it at QoS 1 and waits
/// for its SUBACK (sent once every shard applied the subscription), then
/// forwards the label of each PUBLISH it receives to the returned channel.
/// The clients are returned to keep their connections open.
async fn join(
    port: u16,
    members: &[Member],
) -> (Vec<AsyncClient>, mpsc::UnboundedReceiver<&'static str>) {
    let (deliveries, received) = mpsc::unbounded_channel();
    let mut clients = Vec::new();
    for member in members {
        let client_id = client_id_on(member.shard, &format!("fair-{}", member.label));
        let (client, mut events) = spawn_v5(&client_id, port);
        client
            .subscribe(member.topic_filter, QoS::AtLeastOnce)
            .await
            .unwrap();
        loop {
            if let Event::Incoming(Packet::SubAck(suback)) =
                events.recv().await.expect("the event loop ended")
            {
                assert!(
                    suback
                        .return_codes
                        .iter()
                        .all(|code| matches!(code, SubscribeReasonCode::Success(_))),
                    "{} refused: {suback:?}",
                    member.topic_filter
                );
                break;
            }
        }
        let (label, deliveries) = (member.label, deliveries.clone());
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                if let Event::Incoming(Packet::Publish(_)) = event {
                    if deliveries.send(label).is_err() {
                        return;
                    }
                }
            }
        });
        clients.push(client);
    }
    (clients, received)
}

/// Publishes each of `topic_names` once at QoS 1 from a client homed on
/// `shard`; returns the client and its events, to keep it connected.
async fn publish_all(
    port: u16,
    shard: usize,
    topic_names: &[&str],
) -> (AsyncClient, mpsc::UnboundedReceiver<Event>) {
    let (publisher, events) = spawn_v5(&client_id_on(shard, "fair-publisher"), port);
    for topic_name in topic_names {
        publisher
            .publish(*topic_name, QoS::AtLeastOnce, false, "job")
            .await
            .unwrap();
    }
    (publisher, events)
}

/// Waits for `total` deliveries (bounded by [`TEST_TIMEOUT`]) and counts them
/// per member label.
async fn count_deliveries(
    received: &mut mpsc::UnboundedReceiver<&'static str>,
    total: usize,
) -> BTreeMap<&'static str, usize> {
    let deadline = Instant::now() + TEST_TIMEOUT;
    let mut counts = BTreeMap::new();
    for delivered in 0..total {
        match timeout_at(deadline, received.recv()).await {
            Ok(Some(label)) => *counts.entry(label).or_insert(0) += 1,
            _ => panic!("{delivered} of {total} deliveries in time: {counts:?}"),
        }
    }
    counts
}

/// Checks one group: its members' deliveries add up to the publishes the group
/// matched, each within one of the group's average.
fn assert_group_spread(
    counts: &BTreeMap<&'static str, usize>,
    labels: &[&'static str],
    matched: usize,
) {
    let group: Vec<usize> = labels
        .iter()
        .map(|label| counts.get(label).copied().unwrap_or(0))
        .collect();
    assert_eq!(
        group.iter().sum::<usize>(),
        matched,
        "{labels:?} got {group:?}"
    );
    // |count - matched / n| <= 1, in integers.
    let n = labels.len();
    assert!(
        group
            .iter()
            .all(|&count| (count * n).abs_diff(matched) <= n),
        "{labels:?} got {group:?}, more than one off their average"
    );
}

/// The case: `$share/one/t` on a, b, c and `$share/two/t` on d, e,
/// all homed on shard 0 (where both groups' member turns are taken), and 30
/// publishes to `t` from a client on `publisher_shard`. Each group gets every
/// publish: a = b = c = 10, d = e = 15.
async fn two_groups_on_one_filter(publisher_shard: usize) {
    const PUBLISHES: usize = 30;
    let broker = start_broker();
    let port = broker.local_addr().port();
    run_then_shut_down(broker, async {
        let member = |label, topic_filter| Member {
            label,
            shard: 0,
            topic_filter,
        };
        let members = [
            member("a", "$share/one/t"),
            member("b", "$share/one/t"),
            member("c", "$share/one/t"),
            member("d", "$share/two/t"),
            member("e", "$share/two/t"),
        ];
        let (_members, mut received) = join(port, &members).await;
        let _publisher = publish_all(port, publisher_shard, &["t"; PUBLISHES]).await;
        let counts = count_deliveries(&mut received, 2 * PUBLISHES).await;
        assert_group_spread(&counts, &["a", "b", "c"], PUBLISHES);
        assert_group_spread(&counts, &["d", "e"], PUBLISHES);
        let expected = BTreeMap::from([("a", 10), ("b", 10), ("c", 10), ("d", 15), ("e", 15)]);
        assert_eq!(counts, expected);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_groups_on_one_filter_each_spread_evenly_from_the_members_shard() {
    two_groups_on_one_filter(0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_groups_on_one_filter_each_spread_evenly_from_the_other_shard() {
    two_groups_on_one_filter(1).await;
}

/// Three groups on overlapping filters, members on both shards, evenly:
/// - `$share/g1/t/#`: g1-a, g1-b on shard 0, g1-c, g1-d on shard 1;
/// - `$share/g2/t/+`: g2-a on shard 0, g2-b on shard 1;
/// - `$share/g3/t/x`: g3-a on shard 0, g3-b on shard 1.
///
/// 8 rounds of `t/x`, `t/y`, `t/y/z` from a client on `publisher_shard`: g1
/// matches all 24, 12 per shard, 6 per member; g2 matches `t/x` and `t/y`, 16,
/// 8 per shard and member; g3 matches `t/x`, 8, 4 per shard and member. 48
/// deliveries in all.
///
/// A round takes 3 + 2 + 1 group turns, an even number: with one shard
/// cursor shared by every group (the bug), each round found it at the same
/// place, so g2 always went to shard 0 and g3 to shard 1 (g2-a 16, g3-b 8, the
/// others none), and g1 to shard 1 two times in three (4, 4, 8, 8).
async fn three_groups_on_overlapping_filters(publisher_shard: usize) {
    const ROUNDS: usize = 8;
    let broker = start_broker();
    let port = broker.local_addr().port();
    run_then_shut_down(broker, async {
        let member = |label, shard, topic_filter| Member {
            label,
            shard,
            topic_filter,
        };
        let members = [
            member("g1-a", 0, "$share/g1/t/#"),
            member("g1-b", 0, "$share/g1/t/#"),
            member("g1-c", 1, "$share/g1/t/#"),
            member("g1-d", 1, "$share/g1/t/#"),
            member("g2-a", 0, "$share/g2/t/+"),
            member("g2-b", 1, "$share/g2/t/+"),
            member("g3-a", 0, "$share/g3/t/x"),
            member("g3-b", 1, "$share/g3/t/x"),
        ];
        let (_members, mut received) = join(port, &members).await;
        let topic_names: Vec<&str> = (0..ROUNDS).flat_map(|_| ["t/x", "t/y", "t/y/z"]).collect();
        let _publisher = publish_all(port, publisher_shard, &topic_names).await;
        let (g1, g2, g3) = (3 * ROUNDS, 2 * ROUNDS, ROUNDS);
        let counts = count_deliveries(&mut received, g1 + g2 + g3).await;
        assert_group_spread(&counts, &["g1-a", "g1-b", "g1-c", "g1-d"], g1);
        assert_group_spread(&counts, &["g2-a", "g2-b"], g2);
        assert_group_spread(&counts, &["g3-a", "g3-b"], g3);
        let expected = BTreeMap::from([
            ("g1-a", 6),
            ("g1-b", 6),
            ("g1-c", 6),
            ("g1-d", 6),
            ("g2-a", 8),
            ("g2-b", 8),
            ("g3-a", 4),
            ("g3-b", 4),
        ]);
        assert_eq!(counts, expected);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_groups_on_overlapping_filters_each_spread_evenly_from_shard_0() {
    three_groups_on_overlapping_filters(0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_groups_on_overlapping_filters_each_spread_evenly_from_shard_1() {
    three_groups_on_overlapping_filters(1).await;
}
