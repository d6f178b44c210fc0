//! Session features end to end: topic aliases, flow control, session expiry and
//! the DISCONNECT sent when the broker stops. Raw bytes ([`Wire`]): the test
//! chooses the alias and the empty topic name, leaves deliveries
//! unacknowledged, drops a connection without DISCONNECT and reads the
//! broker's very DISCONNECT.

use crate::common::{client_id_on, start_broker};
use crate::wire::{
    ack, property, reason, Connect, Properties, Publish, Will, Wire, PUBACK, V3_1_1, V5,
};

#[test]
fn inbound_topic_alias_stands_for_its_topic_name() {
    let broker = start_broker();
    let address = broker.local_addr();
    let mut subscriber = Wire::subscriber(
        address,
        V3_1_1,
        &client_id_on(0, "alias-sub"),
        "vehicles/+/position",
        0,
    );
    let (mut publisher, connack) =
        Wire::accepted(address, &Connect::new(V5, &client_id_on(1, "alias-pub")));
    assert!(
        connack
            .properties
            .integer(property::TOPIC_ALIAS_MAXIMUM)
            .unwrap_or(0)
            >= 1
    );
    for (topic_name, payload) in [("vehicles/7/position", "a"), ("", "b")] {
        publisher.send_publish(&Publish {
            properties: Properties::default().with_integer(property::TOPIC_ALIAS, 1),
            ..Publish::new(topic_name, payload, 0)
        });
    }
    for payload in ["a", "b"] {
        let publish = subscriber.recv_publish();
        assert_eq!(publish.topic_name, "vehicles/7/position");
        assert_eq!(publish.payload, payload.as_bytes());
    }
    broker.shutdown();
}

#[test]
fn receive_maximum_limits_unacknowledged_deliveries() {
    let broker = start_broker();
    let address = broker.local_addr();
    let narrow = Connect {
        properties: Properties::default().with_integer(property::RECEIVE_MAXIMUM, 2),
        ..Connect::new(V5, &client_id_on(1, "narrow"))
    };
    let (mut subscriber, _) = Wire::accepted(address, &narrow);
    subscriber.subscribe("window", 1);
    let mut publisher = Wire::clean(address, V5, &client_id_on(0, "wide"));
    for index in 0..5 {
        publisher.publish("window", format!("{index}"), 1, false);
    }
    let first = subscriber.recv_publish();
    let second = subscriber.recv_publish();
    assert_eq!(
        (&first.payload[..], &second.payload[..]),
        (&b"0"[..], &b"1"[..])
    );
    // Every publish was accepted (PUBACKed) before this PINGREQ, so a third
    // delivery would already be ahead of the PINGRESP.
    subscriber.ping();
    subscriber.send(&ack(PUBACK, first.packet_id.unwrap()));
    assert_eq!(subscriber.recv_publish().payload, b"2");
    broker.shutdown();
}

#[test]
fn session_expiry_ends_the_session_and_publishes_a_will_delayed_beyond_it() {
    let broker = start_broker();
    let address = broker.local_addr();
    let mut watcher =
        Wire::subscriber(address, V5, &client_id_on(1, "expiry-watch"), "expiry/+", 1);
    let client_id = client_id_on(0, "expiring");
    let connect = Connect {
        properties: Properties::default().with_integer(property::SESSION_EXPIRY_INTERVAL, 1),
        will: Some(Will {
            properties: Properties::default().with_integer(property::WILL_DELAY_INTERVAL, 3600),
            ..Will::new("expiry/gone", b"expired")
        }),
        ..Connect::new(V5, &client_id)
    };
    let (expiring, _) = Wire::accepted(address, &connect);
    drop(expiring);
    // The will waits for the session to end, which its expiry decides.
    assert_eq!(watcher.recv_publish_acked().payload, b"expired");
    let resume = Connect {
        clean_start: false,
        ..Connect::new(V5, &client_id)
    };
    let (_, connack) = Wire::accepted(address, &resume);
    assert!(!connack.session_present, "the expired session is gone");
    broker.shutdown();
}

#[test]
fn stopping_the_broker_sends_server_shutting_down_to_v5_clients() {
    let broker = start_broker();
    let mut client = Wire::clean(broker.local_addr(), V5, "stay");
    broker.request_stop();
    client.expect_disconnect(reason::SERVER_SHUTTING_DOWN);
    broker.join();
}
