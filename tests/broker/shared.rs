//! Shared subscriptions with members homed on different shards.

use std::collections::BTreeSet;
use std::sync::mpsc;

use shardmq::protocol::{ProtocolVersion, QoS};

use crate::common::{client_id_on, connect_packet, start_broker, RawClient, TEST_TIMEOUT};

#[test]
fn shared_subscription_gives_each_message_to_exactly_one_member_on_either_shard() {
    const MESSAGES: usize = 40;
    let broker = start_broker();
    let address = broker.local_addr();
    let (received_sender, received) = mpsc::channel::<(usize, String)>();
    let mut members = Vec::new();
    for shard in 0..2 {
        let (mut member, _) = RawClient::connected(
            address,
            connect_packet(ProtocolVersion::V5, &client_id_on(shard, "worker"), true, 0),
        );
        member.subscribe("$share/workers/tasks/+", QoS::AtLeastOnce);
        members.push(member);
    }
    for (shard, mut member) in members.into_iter().enumerate() {
        let sender = received_sender.clone();
        std::thread::spawn(move || {
            while let Some(shardmq::protocol::Packet::Publish(publish)) = member.try_recv() {
                if let Some(packet_id) = publish.packet_id {
                    member.send(&shardmq::protocol::Packet::PubAck(
                        shardmq::protocol::PublishResponse::success(packet_id),
                    ));
                }
                let payload = String::from_utf8(publish.payload.to_vec()).unwrap();
                if sender.send((shard, payload)).is_err() {
                    return;
                }
            }
        });
    }
    drop(received_sender);
    let mut publisher = RawClient::clean(address, ProtocolVersion::V5, &client_id_on(0, "boss"));
    for index in 0..MESSAGES {
        publisher.publish(
            "tasks/build",
            format!("task-{index}"),
            QoS::AtLeastOnce,
            false,
        );
    }
    let mut payloads = BTreeSet::new();
    let mut per_member = [0usize; 2];
    for _ in 0..MESSAGES {
        let (member, payload) = received
            .recv_timeout(TEST_TIMEOUT)
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
    broker.shutdown();
}
