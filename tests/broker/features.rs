//! Session features end to end: topic aliases, flow control, session expiry and
//! the DISCONNECT sent when the broker stops.

use bytes::Bytes;
use bytestring::ByteString;
use shardmq::protocol::{
    ConnectProperties, Packet, ProtocolVersion, Publish, PublishProperties, PublishResponse, QoS,
    ReasonCode, WillProperties,
};

use crate::common::{client_id_on, connect_packet, start_broker, will, RawClient};

#[test]
fn inbound_topic_alias_stands_for_its_topic_name() {
    let broker = start_broker();
    let address = broker.local_addr();
    let mut subscriber = RawClient::clean(
        address,
        ProtocolVersion::V3_1_1,
        &client_id_on(0, "alias-sub"),
    );
    subscriber.subscribe("vehicles/+/position", QoS::AtMostOnce);
    let (mut publisher, connack) = RawClient::connected(
        address,
        connect_packet(ProtocolVersion::V5, &client_id_on(1, "alias-pub"), true, 0),
    );
    assert!(connack.properties.topic_alias_maximum.unwrap_or(0) >= 1);
    for (topic_name, payload) in [("vehicles/7/position", "a"), ("", "b")] {
        publisher.send(&Packet::Publish(Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: false,
            topic_name: ByteString::from(topic_name),
            packet_id: None,
            properties: PublishProperties {
                topic_alias: Some(1),
                ..PublishProperties::default()
            },
            payload: Bytes::from(payload),
        }));
    }
    for payload in ["a", "b"] {
        let publish = subscriber.recv_publish();
        assert_eq!(publish.topic_name, "vehicles/7/position");
        assert_eq!(&publish.payload[..], payload.as_bytes());
    }
    broker.shutdown();
}

#[test]
fn receive_maximum_limits_unacknowledged_deliveries() {
    let broker = start_broker();
    let address = broker.local_addr();
    let mut connect = connect_packet(ProtocolVersion::V5, &client_id_on(1, "narrow"), true, 0);
    connect.properties = ConnectProperties {
        receive_maximum: Some(2),
        ..ConnectProperties::default()
    };
    let (mut subscriber, _) = RawClient::connected(address, connect);
    subscriber.subscribe("window", QoS::AtLeastOnce);
    let mut publisher = RawClient::clean(address, ProtocolVersion::V5, &client_id_on(0, "wide"));
    for index in 0..5 {
        publisher.publish("window", format!("{index}"), QoS::AtLeastOnce, false);
    }
    let first = subscriber.recv_publish();
    let second = subscriber.recv_publish();
    assert_eq!(
        (&first.payload[..], &second.payload[..]),
        (&b"0"[..], &b"1"[..])
    );
    // Every publish was accepted (PUBACKed) before this PINGREQ, so a third
    // delivery would already be ahead of the PINGRESP.
    subscriber.send(&Packet::PingReq);
    assert_eq!(subscriber.recv(), Packet::PingResp);
    subscriber.send(&Packet::PubAck(PublishResponse::success(
        first.packet_id.unwrap(),
    )));
    assert_eq!(&subscriber.recv_publish().payload[..], b"2");
    broker.shutdown();
}

#[test]
fn session_expiry_ends_the_session_and_publishes_a_will_delayed_beyond_it() {
    let broker = start_broker();
    let address = broker.local_addr();
    let mut watcher = RawClient::clean(
        address,
        ProtocolVersion::V5,
        &client_id_on(1, "expiry-watch"),
    );
    watcher.subscribe("expiry/+", QoS::AtLeastOnce);
    let client_id = client_id_on(0, "expiring");
    let mut connect = connect_packet(ProtocolVersion::V5, &client_id, true, 0);
    connect.properties = ConnectProperties {
        session_expiry_interval_s: Some(1),
        ..ConnectProperties::default()
    };
    let mut late_will = will("expiry/gone", b"expired");
    late_will.properties = WillProperties {
        will_delay_interval_s: Some(3600),
        ..WillProperties::default()
    };
    connect.will = Some(late_will);
    let (expiring, _) = RawClient::connected(address, connect);
    drop(expiring);
    // The will waits for the session to end, which its expiry decides.
    assert_eq!(&watcher.recv_publish_acked().payload[..], b"expired");
    let (_, connack) = RawClient::connected(
        address,
        connect_packet(ProtocolVersion::V5, &client_id, false, 0),
    );
    assert!(!connack.session_present, "the expired session is gone");
    broker.shutdown();
}

#[test]
fn stopping_the_broker_sends_server_shutting_down_to_v5_clients() {
    let broker = start_broker();
    let (mut client, _) = RawClient::connected(
        broker.local_addr(),
        connect_packet(ProtocolVersion::V5, "stay", true, 0),
    );
    broker.request_stop();
    let packets = client.expect_closed();
    assert!(
        matches!(packets.as_slice(), [Packet::Disconnect(disconnect)] if disconnect.reason_code == ReasonCode::ServerShuttingDown),
        "{packets:?}"
    );
    broker.join();
}
