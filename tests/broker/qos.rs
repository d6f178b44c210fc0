//! QoS 1 and QoS 2 across a disconnect: a subscriber that leaves mid-flow and
//! resumes gets every message, and none twice.

use shardmq::protocol::{ConnectProperties, Packet, ProtocolVersion, PublishResponse, QoS};

use crate::common::{client_id_on, connect_packet, publish_packet, start_broker, RawClient};

fn persistent_v5(client_id: &str) -> shardmq::protocol::Connect {
    let mut connect = connect_packet(ProtocolVersion::V5, client_id, false, 0);
    connect.properties = ConnectProperties {
        session_expiry_interval_s: Some(300),
        ..ConnectProperties::default()
    };
    connect
}

#[test]
fn qos1_delivery_unacknowledged_at_disconnect_is_resent_once_on_resume() {
    let broker = start_broker();
    let address = broker.local_addr();
    let subscriber_id = client_id_on(1, "qos1-sub");
    let (mut subscriber, _) = RawClient::connected(address, persistent_v5(&subscriber_id));
    subscriber.subscribe("jobs/qos1", QoS::AtLeastOnce);
    let mut publisher = RawClient::clean(
        address,
        ProtocolVersion::V3_1_1,
        &client_id_on(0, "qos1-pub"),
    );
    publisher.publish("jobs/qos1", "first", QoS::AtLeastOnce, false);
    let unacknowledged = subscriber.recv_publish();
    assert_eq!(&unacknowledged.payload[..], b"first");
    drop(subscriber);

    publisher.publish("jobs/qos1", "second", QoS::AtLeastOnce, false);
    let (mut resumed, connack) = RawClient::connected(address, persistent_v5(&subscriber_id));
    assert!(connack.session_present);
    let resent = resumed.recv_publish_acked();
    assert_eq!(&resent.payload[..], b"first");
    assert!(resent.dup, "a resent PUBLISH carries DUP");
    assert_eq!(resent.packet_id, unacknowledged.packet_id);
    assert_eq!(&resumed.recv_publish_acked().payload[..], b"second");
    publisher.publish("jobs/qos1", "third", QoS::AtLeastOnce, false);
    assert_eq!(&resumed.recv_publish_acked().payload[..], b"third");
    broker.shutdown();
}

#[test]
fn qos2_delivery_interrupted_after_pubrec_completes_once_on_resume() {
    let broker = start_broker();
    let address = broker.local_addr();
    let subscriber_id = client_id_on(0, "qos2-sub");
    let (mut subscriber, _) = RawClient::connected(address, persistent_v5(&subscriber_id));
    subscriber.subscribe("jobs/qos2", QoS::ExactlyOnce);
    let mut publisher =
        RawClient::clean(address, ProtocolVersion::V5, &client_id_on(1, "qos2-pub"));
    publisher.publish("jobs/qos2", "only-once", QoS::ExactlyOnce, false);
    let publish = subscriber.recv_publish();
    let packet_id = publish.packet_id.expect("QoS 2 has a packet id");
    subscriber.send(&Packet::PubRec(PublishResponse::success(packet_id)));
    match subscriber.recv() {
        Packet::PubRel(response) => assert_eq!(response.packet_id, packet_id),
        other => panic!("expected PUBREL, got {other:?}"),
    }
    drop(subscriber);

    let (mut resumed, connack) = RawClient::connected(address, persistent_v5(&subscriber_id));
    assert!(connack.session_present);
    match resumed.recv() {
        Packet::PubRel(response) => assert_eq!(response.packet_id, packet_id),
        other => panic!("expected the PUBREL again, got {other:?}"),
    }
    resumed.send(&Packet::PubComp(PublishResponse::success(packet_id)));
    publisher.publish("jobs/qos2", "next", QoS::ExactlyOnce, false);
    assert_eq!(&resumed.recv_publish_acked().payload[..], b"next");
    broker.shutdown();
}

#[test]
fn qos2_publish_resumed_with_pubrel_is_delivered_once() {
    let broker = start_broker();
    let address = broker.local_addr();
    let mut subscriber = RawClient::clean(
        address,
        ProtocolVersion::V3_1_1,
        &client_id_on(0, "in2-sub"),
    );
    subscriber.subscribe("jobs/in2", QoS::ExactlyOnce);
    let publisher_id = client_id_on(1, "in2-pub");
    let (mut publisher, _) = RawClient::connected(address, persistent_v5(&publisher_id));
    publisher.send(&publish_packet(
        "jobs/in2",
        "once",
        QoS::ExactlyOnce,
        false,
        Some(5),
    ));
    match publisher.recv() {
        Packet::PubRec(response) => assert_eq!(response.packet_id, 5),
        other => panic!("expected PUBREC, got {other:?}"),
    }
    drop(publisher);

    let (mut resumed, connack) = RawClient::connected(address, persistent_v5(&publisher_id));
    assert!(connack.session_present);
    // The client may send the PUBLISH again before PUBREL; it must not double.
    let mut again = publish_packet("jobs/in2", "once", QoS::ExactlyOnce, false, Some(5));
    if let Packet::Publish(publish) = &mut again {
        publish.dup = true;
    }
    resumed.send(&again);
    match resumed.recv() {
        Packet::PubRec(response) => assert_eq!(response.packet_id, 5),
        other => panic!("expected PUBREC, got {other:?}"),
    }
    resumed.send(&Packet::PubRel(PublishResponse::success(5)));
    match resumed.recv() {
        Packet::PubComp(response) => assert_eq!(response.packet_id, 5),
        other => panic!("expected PUBCOMP, got {other:?}"),
    }
    assert_eq!(&subscriber.recv_publish_acked().payload[..], b"once");
    resumed.publish("jobs/in2", "marker", QoS::ExactlyOnce, false);
    assert_eq!(&subscriber.recv_publish_acked().payload[..], b"marker");
    broker.shutdown();
}
