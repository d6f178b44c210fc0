//! A broker that ends a connection mid-run: loadgen counts it by reason code
//! and reports the scenario as not carried out. The broker here is a few lines
//! over the shared codec, so the moment it disconnects is exact.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use bytes::BytesMut;
use shardmq::protocol::{
    decode, encode, ConnAck, ConnAckProperties, Disconnect, DisconnectProperties, Packet,
    ProtocolVersion, QoS, ReasonCode,
};
use shardmq_loadgen::{run, Scenario, ScenarioKind};

/// Accepts one connection, accepts its CONNECT, and answers its first
/// PUBLISH with DISCONNECT (Server shutting down).
fn disconnect_after_first_publish(listener: TcpListener) {
    let (mut socket, _) = listener.accept().unwrap();
    let version = ProtocolVersion::V5;
    let mut input = BytesMut::new();
    let mut chunk = [0u8; 4096];
    loop {
        let packet = loop {
            if let Some(packet) = decode(&mut input, version, 1 << 20).unwrap() {
                break packet;
            }
            let read = socket.read(&mut chunk).unwrap();
            assert!(read > 0, "loadgen closed before publishing");
            input.extend_from_slice(&chunk[..read]);
        };
        let reply = match packet {
            Packet::Connect(_) => Packet::ConnAck(Box::new(ConnAck {
                session_present: false,
                reason_code: ReasonCode::Success,
                properties: ConnAckProperties::default(),
            })),
            Packet::Publish(_) => Packet::Disconnect(Disconnect {
                reason_code: ReasonCode::ServerShuttingDown,
                properties: DisconnectProperties::default(),
            }),
            other => panic!("unexpected {other:?}"),
        };
        let mut output = BytesMut::new();
        encode(&reply, version, &mut output).unwrap();
        socket.write_all(&output).unwrap();
        if matches!(reply, Packet::Disconnect(_)) {
            return;
        }
    }
}

#[test]
fn broker_disconnect_mid_run_is_counted_by_reason_code_and_fails_the_run() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address: SocketAddr = listener.local_addr().unwrap();
    let broker = std::thread::spawn(move || disconnect_after_first_publish(listener));
    let mut scenario = Scenario::new(ScenarioKind::Pub, address);
    scenario.shards = 1;
    scenario.protocol_version = ProtocolVersion::V5;
    scenario.qos = QoS::AtMostOnce;
    scenario.rate_per_s = 100.0;
    scenario.duration = Duration::from_secs(30);
    scenario.drain = Duration::from_secs(1);
    scenario.settle = Duration::ZERO;
    let report = run(&scenario).expect("the run starts");
    broker.join().unwrap();
    let disconnected = serde_json::to_value(&report.errors.disconnected_by_broker).unwrap();
    assert_eq!(disconnected["0x8B ServerShuttingDown"], 1, "{report:#?}");
    assert_eq!(report.connections_established, 1);
    assert!(report.is_failure());
}
