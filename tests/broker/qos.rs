//! QoS 1 and QoS 2 across a disconnect: a subscriber that leaves mid-flow and
//! resumes gets every message, and none twice. Raw bytes ([`Wire`]) let the
//! test stop a flow at any step and choose the packet ids.

use crate::common::{client_id_on, start_broker};
use crate::wire::{ack, Connect, Publish, Wire, PUBCOMP, PUBREC, PUBREL, V3_1_1, V5};

/// A 5.0 CONNECT resuming (or starting) a session kept for 5 minutes.
fn persistent_v5(client_id: &str) -> Connect {
    Connect::persistent(client_id, 300)
}

#[test]
fn qos1_delivery_unacknowledged_at_disconnect_is_resent_once_on_resume() {
    let broker = start_broker();
    let address = broker.local_addr();
    let subscriber_id = client_id_on(1, "qos1-sub");
    let (mut subscriber, _) = Wire::accepted(address, &persistent_v5(&subscriber_id));
    subscriber.subscribe("jobs/qos1", 1);
    let mut publisher = Wire::clean(address, V3_1_1, &client_id_on(0, "qos1-pub"));
    publisher.publish("jobs/qos1", "first", 1, false);
    let unacknowledged = subscriber.recv_publish();
    assert_eq!(unacknowledged.payload, b"first");
    drop(subscriber);

    publisher.publish("jobs/qos1", "second", 1, false);
    let (mut resumed, connack) = Wire::accepted(address, &persistent_v5(&subscriber_id));
    assert!(connack.session_present);
    let resent = resumed.recv_publish_acked();
    assert_eq!(resent.payload, b"first");
    assert!(resent.dup, "a resent PUBLISH carries DUP");
    assert_eq!(resent.packet_id, unacknowledged.packet_id);
    assert_eq!(resumed.recv_publish_acked().payload, b"second");
    publisher.publish("jobs/qos1", "third", 1, false);
    assert_eq!(resumed.recv_publish_acked().payload, b"third");
    broker.shutdown();
}

#[test]
fn qos2_delivery_interrupted_after_pubrec_completes_once_on_resume() {
    let broker = start_broker();
    let address = broker.local_addr();
    let subscriber_id = client_id_on(0, "qos2-sub");
    let (mut subscriber, _) = Wire::accepted(address, &persistent_v5(&subscriber_id));
    subscriber.subscribe("jobs/qos2", 2);
    let mut publisher = Wire::clean(address, V5, &client_id_on(1, "qos2-pub"));
    publisher.publish("jobs/qos2", "only-once", 2, false);
    let publish = subscriber.recv_publish();
    let packet_id = publish.packet_id.expect("QoS 2 has a packet id");
    subscriber.send(&ack(PUBREC, packet_id));
    subscriber.expect_ack(PUBREL, packet_id);
    drop(subscriber);

    let (mut resumed, connack) = Wire::accepted(address, &persistent_v5(&subscriber_id));
    assert!(connack.session_present);
    // The PUBREL again.
    resumed.expect_ack(PUBREL, packet_id);
    resumed.send(&ack(PUBCOMP, packet_id));
    publisher.publish("jobs/qos2", "next", 2, false);
    assert_eq!(resumed.recv_publish_acked().payload, b"next");
    broker.shutdown();
}

#[test]
fn qos2_publish_resumed_with_pubrel_is_delivered_once() {
    let broker = start_broker();
    let address = broker.local_addr();
    let mut subscriber =
        Wire::subscriber(address, V3_1_1, &client_id_on(0, "in2-sub"), "jobs/in2", 2);
    let publisher_id = client_id_on(1, "in2-pub");
    let (mut publisher, _) = Wire::accepted(address, &persistent_v5(&publisher_id));
    let once = Publish {
        packet_id: Some(5),
        ..Publish::new("jobs/in2", "once", 2)
    };
    publisher.send_publish(&once);
    publisher.expect_ack(PUBREC, 5);
    drop(publisher);

    let (mut resumed, connack) = Wire::accepted(address, &persistent_v5(&publisher_id));
    assert!(connack.session_present);
    // The client may send the PUBLISH again before PUBREL; it must not double.
    resumed.send_publish(&Publish { dup: true, ..once });
    resumed.expect_ack(PUBREC, 5);
    resumed.send(&ack(PUBREL, 5));
    resumed.expect_ack(PUBCOMP, 5);
    assert_eq!(subscriber.recv_publish_acked().payload, b"once");
    resumed.publish("jobs/in2", "marker", 2, false);
    assert_eq!(subscriber.recv_publish_acked().payload, b"marker");
    broker.shutdown();
}
