//! Session lifecycle end to end: takeover from the other shard, wills, will
//! delay and keep-alive. Wills go through rumqttc; takeover and keep-alive,
//! where the test must see the broker's very DISCONNECT or keep a client
//! silent, through [`Wire`].

use std::time::Duration;

use rumqttc::v5::mqttbytes::v5::{ConnectProperties, LastWill, LastWillProperties};
use rumqttc::v5::mqttbytes::QoS;
use shardmq_shards::BrokerHandle;

use crate::common::{client_id_on, run_then_shut_down, start_broker};
use crate::rumqtt::{V311, V5};
use crate::wire::{ack, reason, Connect, Properties, Received, Will, Wire, PUBACK, V3_1_1};

/// The kernel picks the accept shard: connects `connect` again and again,
/// each connection taking over from the one before (checked by
/// `taken_over`), until one arrived on the other shard and was handed to
/// the home shard (each attempt misses with probability 1/2). Returns the
/// last connection and its CONNACK's Session Present.
fn take_over_from_the_other_shard(
    broker: &BrokerHandle,
    mut first: Wire,
    connect: &Connect,
    taken_over: impl Fn(&mut Wire),
    each_new: impl Fn(&mut Wire, bool),
) -> Wire {
    for _ in 0..20 {
        let handoffs_before = broker.handoffs();
        let (mut second, connack) = Wire::accepted(broker.local_addr(), connect);
        let crossed_shards = broker.handoffs() > handoffs_before;
        each_new(&mut second, connack.session_present);
        taken_over(&mut first);
        first = second;
        if crossed_shards {
            return first;
        }
    }
    panic!("no takeover came from the other shard");
}

#[test]
fn takeover_from_the_other_shard_disconnects_the_old_v5_connection_with_0x8e() {
    let broker = start_broker();
    let connect = Connect::new(crate::wire::V5, &client_id_on(1, "twin"));
    let (first, _) = Wire::accepted(broker.local_addr(), &connect);
    let mut last = take_over_from_the_other_shard(
        &broker,
        first,
        &connect,
        |old| {
            assert_eq!(
                old.expect_disconnect(reason::SESSION_TAKEN_OVER),
                Properties::default()
            )
        },
        |_, _| {},
    );
    last.ping();
    broker.shutdown();
}

/// A subscribed session with one QoS 1 delivery unacknowledged, taken over
/// from the other shard at `level`: the old connection ends as `taken_over`
/// checks, and the new one has the session, its delivery and its
/// subscription.
fn takeover_from_the_other_shard_carries_the_session_over(
    connect: Connect,
    taken_over: impl Fn(&mut Wire),
) {
    let broker = start_broker();
    let address = broker.local_addr();
    let (mut first, _) = Wire::accepted(address, &connect);
    first.subscribe("twin/#", 1);
    let mut publisher = Wire::clean(address, V3_1_1, &client_id_on(0, "twin-pub"));
    publisher.publish("twin/a", "unacknowledged", 1, false);
    assert_eq!(first.recv_publish().payload, b"unacknowledged");
    let mut last = take_over_from_the_other_shard(
        &broker,
        first,
        &connect,
        taken_over,
        |new, session_present| {
            assert!(session_present, "the session was taken over, not restarted");
            let resent = new.recv_publish();
            assert_eq!(resent.payload, b"unacknowledged");
            assert!(resent.dup, "a resent PUBLISH carries DUP");
        },
    );
    last.send(&ack(PUBACK, 1));
    publisher.publish("twin/b", "routed", 1, false);
    assert_eq!(last.recv_publish_acked().payload, b"routed");
    last.ping();
    broker.shutdown();
}

#[test]
fn takeover_from_the_other_shard_carries_a_v5_session_over_and_sends_0x8e_to_the_old_connection() {
    takeover_from_the_other_shard_carries_the_session_over(
        Connect::persistent(&client_id_on(1, "twin5"), 300),
        |old| {
            old.expect_disconnect(reason::SESSION_TAKEN_OVER);
        },
    );
}

#[test]
fn takeover_from_the_other_shard_carries_a_v3_1_1_session_over_and_closes_the_old_connection() {
    let connect = Connect {
        clean_start: false,
        ..Connect::new(V3_1_1, &client_id_on(1, "twin311"))
    };
    takeover_from_the_other_shard_carries_the_session_over(connect, |old| {
        assert_eq!(old.received_until_closed(), Vec::<Received>::new())
    });
}

/// A 3.1.1 watcher of `status/+` on `shard`, subscribed.
async fn status_watcher(shard: usize, port: u16) -> V311 {
    let mut watcher = V311::clean(&client_id_on(shard, "watcher"), port).await;
    watcher
        .subscribe("status/+", rumqttc::QoS::AtLeastOnce)
        .await;
    watcher
}

/// A 3.1.1 client with a will of "gone" on `topic_name` at QoS 1.
async fn mortal(client_id: &str, topic_name: &str, port: u16) -> V311 {
    let mut options = V311::options(client_id, port);
    options.set_last_will(rumqttc::LastWill::new(
        topic_name,
        "gone",
        rumqttc::QoS::AtLeastOnce,
        false,
    ));
    V311::connect(options).await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn will_is_published_when_the_connection_drops() {
    let broker = start_broker();
    let port = broker.local_addr().port();
    run_then_shut_down(broker, async {
        let mut watcher = status_watcher(0, port).await;
        let dying = mortal(&client_id_on(1, "dying"), "status/dying", port).await;
        dying.drop_connection().await;
        let publish = watcher.next_publish().await;
        assert_eq!(publish.topic, "status/dying");
        assert_eq!(&publish.payload[..], b"gone");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn will_is_not_published_after_a_normal_disconnect() {
    let broker = start_broker();
    let port = broker.local_addr().port();
    run_then_shut_down(broker, async {
        let mut watcher = status_watcher(1, port).await;
        let polite = mortal(&client_id_on(0, "polite"), "status/polite", port).await;
        polite.disconnect().await;
        let mut publisher = V311::clean(&client_id_on(0, "after"), port).await;
        publisher
            .publish("status/marker", "m", rumqttc::QoS::AtLeastOnce, false)
            .await;
        assert_eq!(watcher.next_publish().await.topic, "status/marker");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delayed_will_is_published_once_the_delay_passes() {
    let broker = start_broker();
    let port = broker.local_addr().port();
    run_then_shut_down(broker, async {
        let mut watcher = V5::clean(&client_id_on(0, "watcher3"), port).await;
        watcher.subscribe("status/+", QoS::AtLeastOnce).await;
        let mut options = V5::options(&client_id_on(1, "delayed"), port);
        options.set_connect_properties(ConnectProperties {
            session_expiry_interval: Some(60),
            ..ConnectProperties::new()
        });
        let will_properties = LastWillProperties {
            delay_interval: Some(1),
            payload_format_indicator: None,
            message_expiry_interval: None,
            content_type: None,
            response_topic: None,
            correlation_data: None,
            user_properties: Vec::new(),
        };
        options.set_last_will(LastWill::new(
            "status/delayed",
            "late",
            QoS::AtLeastOnce,
            false,
            Some(will_properties),
        ));
        let (delayed, _) = V5::connect(options).await;
        delayed.drop_connection().await;
        let publish = watcher.next_publish().await;
        assert_eq!(&publish.topic[..], b"status/delayed");
        assert_eq!(&publish.payload[..], b"late");
    })
    .await;
}

#[test]
fn silent_client_is_closed_after_keep_alive_and_its_will_published() {
    let broker = start_broker();
    let address = broker.local_addr();
    let mut watcher =
        Wire::subscriber(address, V3_1_1, &client_id_on(1, "watcher4"), "status/+", 1);
    let connect = Connect {
        keep_alive_s: 1,
        will: Some(Will::new("status/silent", b"timed out")),
        ..Connect::new(crate::wire::V5, &client_id_on(0, "silent"))
    };
    let (mut silent, _) = Wire::accepted(address, &connect);
    assert_eq!(
        silent.expect_disconnect(reason::KEEP_ALIVE_TIMEOUT),
        Properties::default()
    );
    let publish = watcher.recv_publish_acked();
    assert_eq!(publish.topic_name, "status/silent");
    broker.shutdown();
}

#[test]
fn a_client_that_keeps_pinging_outlives_its_keep_alive() {
    let broker = start_broker();
    // Keep Alive 1 s: the broker closes after 1.5 s without a packet.
    let connect = Connect {
        keep_alive_s: 1,
        ..Connect::new(crate::wire::V5, &client_id_on(0, "pinger"))
    };
    let (mut pinger, _) = Wire::accepted(broker.local_addr(), &connect);
    // Three times the timeout, a packet every half second: each one moves
    // the deadline, so the connection must stay.
    for _ in 0..9 {
        std::thread::sleep(Duration::from_millis(500));
        pinger.ping();
    }
    broker.shutdown();
}
