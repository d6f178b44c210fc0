//! Packets a client must not send, and what happens after the session closed.

use super::support::*;
use crate::protocol::*;

#[test]
fn second_connect_is_a_protocol_error() {
    let (mut session, _) = accept(v5_connect("c"), None, 0);
    let actions = feed(&mut session, Packet::Connect(Box::new(v5_connect("c"))), 1);
    assert_eq!(disconnect_reason(&actions), Some(ReasonCode::ProtocolError));
    assert_eq!(close_reason(&actions), Some(ReasonCode::ProtocolError));
    assert!(!session.is_connected());
}

#[test]
fn packets_only_a_server_sends_are_protocol_errors() {
    let packets = [
        Packet::ConnAck(Box::new(ConnAck {
            session_present: false,
            reason_code: ReasonCode::Success,
            properties: ConnAckProperties::default(),
        })),
        Packet::SubAck(SubAck {
            packet_id: 1,
            properties: AckProperties::default(),
            reason_codes: vec![ReasonCode::Success],
        }),
        Packet::UnsubAck(UnsubAck {
            packet_id: 1,
            properties: AckProperties::default(),
            reason_codes: Vec::new(),
        }),
        Packet::PingResp,
    ];
    for packet in packets {
        let (mut session, _) = accept(v5_connect("c"), None, 0);
        let actions = feed(&mut session, packet, 1);
        assert_eq!(disconnect_reason(&actions), Some(ReasonCode::ProtocolError));
    }
}

#[test]
fn v3_1_1_protocol_error_closes_without_disconnect() {
    let (mut session, _) = accept(connect_of(ProtocolVersion::V3_1_1, "c", true), None, 0);
    let actions = feed(&mut session, Packet::PingResp, 1);
    assert_eq!(disconnect_reason(&actions), None);
    assert_eq!(close_reason(&actions), Some(ReasonCode::ProtocolError));
}

#[test]
fn packets_after_the_session_closed_are_ignored() {
    let (mut session, _) = accept(v5_persistent_connect("c", 60), None, 0);
    feed(&mut session, Packet::PingResp, 1);
    let actions = feed(
        &mut session,
        Packet::Publish(publish("a", QoS::AtLeastOnce, Some(1))),
        2,
    );
    assert!(actions.is_empty());
    let mut actions = Vec::new();
    session.connection_lost(3, &mut actions);
    assert!(actions.is_empty(), "the connection was already ended");
}

#[test]
fn qos1_publish_without_packet_id_is_malformed() {
    let (mut session, _) = accept(v5_connect("c"), None, 0);
    let actions = feed(
        &mut session,
        Packet::Publish(publish("a", QoS::AtLeastOnce, None)),
        1,
    );
    assert_eq!(
        disconnect_reason(&actions),
        Some(ReasonCode::MalformedPacket)
    );
    assert!(routed(&actions).is_empty());
}

#[test]
fn server_close_after_a_decode_error_sends_disconnect_and_publishes_the_will() {
    let mut connect = v5_connect("c");
    connect.will = Some(will("status/c", None));
    let (mut session, _) = accept(connect, None, 0);
    let mut actions = Vec::new();
    session.close(ReasonCode::MalformedPacket, 1, &mut actions);
    assert_eq!(
        disconnect_reason(&actions),
        Some(ReasonCode::MalformedPacket)
    );
    assert_eq!(close_reason(&actions), Some(ReasonCode::MalformedPacket));
    assert_eq!(routed(&actions).len(), 1);
    let mut actions = Vec::new();
    session.close(ReasonCode::ServerShuttingDown, 2, &mut actions);
    assert!(actions.is_empty());
}
