//! A CONNECT the broker refuses leaves the session of its client id, and the
//! connection that session runs on, as they were.

use bytestring::ByteString;
use shardmq::protocol::{ConnectProperties, Packet, ProtocolVersion, QoS, ReasonCode};

use crate::common::{client_id_on, connect_packet, start_broker, RawClient};

#[test]
fn refused_connect_does_not_take_over_the_connected_session() {
    let broker = start_broker();
    let address = broker.local_addr();
    let client_id = client_id_on(1, "incumbent-with-a-long-client-id");
    let (mut incumbent, _) = RawClient::connected(
        address,
        connect_packet(ProtocolVersion::V5, &client_id, false, 0),
    );
    incumbent.subscribe("news/+", QoS::AtLeastOnce);

    let bad_auth = connect_packet(ProtocolVersion::V5, &client_id, true, 0);
    let bad_auth = shardmq::protocol::Connect {
        properties: ConnectProperties {
            authentication_method: Some(ByteString::from("no-such-method")),
            ..ConnectProperties::default()
        },
        ..bad_auth
    };
    // 3.1 allows client ids of at most 23 characters.
    let id_too_long_for_3_1 = connect_packet(ProtocolVersion::V3_1, &client_id, true, 0);
    for (refused, reason_code) in [
        (bad_auth, ReasonCode::BadAuthenticationMethod),
        (id_too_long_for_3_1, ReasonCode::ClientIdentifierNotValid),
    ] {
        let (mut intruder, connack) = RawClient::connect(address, refused);
        assert_eq!(connack.reason_code, reason_code);
        assert!(intruder.expect_closed().is_empty());
    }

    // The incumbent's connection is still open and its session still routes.
    incumbent.send(&Packet::PingReq);
    assert_eq!(incumbent.recv(), Packet::PingResp);
    let mut publisher =
        RawClient::clean(address, ProtocolVersion::V5, &client_id_on(0, "newsroom"));
    publisher.publish("news/today", "still here", QoS::AtLeastOnce, false);
    let delivered = incumbent.recv_publish_acked();
    assert_eq!(&delivered.payload[..], b"still here");
    broker.shutdown();
}
