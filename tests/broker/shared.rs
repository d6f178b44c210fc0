//! Shared subscriptions with members homed on different shards, through
//! rumqttc (MQTT 5.0).

use std::collections::BTreeSet;

use rumqttc::v5::mqttbytes::QoS;
use tokio::sync::mpsc;

use crate::common::{client_id_on, run_then_shut_down, start_broker};
use crate::rumqtt::V5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_subscription_gives_each_message_to_exactly_one_member_on_either_shard() {
    const MESSAGES: usize = 40;
    let broker = start_broker();
    let port = broker.local_addr().port();
    run_then_shut_down(broker, async {
        let (received_sender, mut received) = mpsc::unbounded_channel::<(usize, String)>();
        for shard in 0..2 {
            let mut member = V5::clean(&client_id_on(shard, "worker"), port).await;
            member
                .subscribe("$share/workers/tasks/+", QoS::AtLeastOnce)
                .await;
            let sender = received_sender.clone();
            tokio::spawn(async move {
                while let Some(publish) = member.try_next_publish().await {
                    let payload = String::from_utf8(publish.payload.to_vec()).unwrap();
                    if sender.send((shard, payload)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(received_sender);
        let mut publisher = V5::clean(&client_id_on(0, "boss"), port).await;
        for index in 0..MESSAGES {
            publisher
                .publish(
                    "tasks/build",
                    format!("task-{index}"),
                    QoS::AtLeastOnce,
                    false,
                )
                .await;
        }
        let mut payloads = BTreeSet::new();
        let mut per_member = [0usize; 2];
        for _ in 0..MESSAGES {
            let (member, payload) = received
                .recv()
                .await
                .expect("every task reaches some member");
            assert!(
                payloads.insert(payload.clone()),
                "{payload} delivered twice"
            );
            per_member[member] += 1;
        }
        assert_eq!(payloads.len(), MESSAGES);
        assert!(
            per_member.iter().all(|&count| count > 0),
            "both members got work: {per_member:?}"
        );
    })
    .await;
}
