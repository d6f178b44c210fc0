//! Shared test fixtures: an in-process broker on 127.0.0.1:0 with two shards, a
//! raw MQTT client over a blocking socket (built on the shardmq codec, so a test
//! controls every byte and acknowledgement), and a timeout-and-shutdown frame
//! for async (rumqttc) tests. A
//! client free of that codec, for byte-level checks, is in [`crate::wire`].
//!
//! Every wait is bounded by [`TEST_TIMEOUT`]: a socket read timeout for raw
//! clients, `tokio::time::timeout` for rumqttc ones.

use std::future::Future;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use bytestring::ByteString;
use shardmq::protocol::{
    decode, encode, ConnAck, Connect, ConnectProperties, LastWill, Packet, ProtocolVersion,
    Publish, PublishResponse, QoS, ReasonCode, Subscribe, SubscribeProperties, SubscriptionOptions,
};
use shardmq_shards::{home_shard, Broker, BrokerHandle, Config};
use tokio::time::timeout;

/// Upper bound of every wait in these tests.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Shards of the test broker.
pub const SHARDS: usize = 2;

/// A broker on 127.0.0.1:0 with [`SHARDS`] unpinned shards.
pub fn start_broker() -> BrokerHandle {
    start_broker_with(Config::default())
}

/// A broker on 127.0.0.1:0 with [`SHARDS`] unpinned shards and `config` otherwise.
pub fn start_broker_with(config: Config) -> BrokerHandle {
    Broker::start(Config {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        shards: SHARDS,
        pin_shards: false,
        ..config
    })
    .expect("the test broker starts")
}

/// Runs an async test's body within [`TEST_TIMEOUT`], then shuts `broker`
/// down off the runtime's worker threads (the shutdown blocks).
pub async fn run_then_shut_down(broker: BrokerHandle, test: impl Future<Output = ()>) {
    timeout(TEST_TIMEOUT, test)
        .await
        .expect("test finished in time");
    tokio::task::spawn_blocking(move || broker.shutdown())
        .await
        .unwrap();
}

/// A client id starting with `prefix` whose home is `shard`.
pub fn client_id_on(shard: usize, prefix: &str) -> String {
    (0..10_000)
        .map(|index| format!("{prefix}-{index}"))
        .find(|client_id| home_shard(client_id, SHARDS) == shard)
        .expect("some id within 10000 tries hashes to every shard")
}

/// A CONNECT with the given level, id, Clean Start and Keep Alive.
pub fn connect_packet(
    protocol_version: ProtocolVersion,
    client_id: &str,
    clean_start: bool,
    keep_alive_s: u16,
) -> Connect {
    Connect {
        protocol_version,
        clean_start,
        keep_alive_s,
        client_id: ByteString::from(client_id),
        will: None,
        username: None,
        password: None,
        properties: ConnectProperties::default(),
    }
}

/// A will on `topic_name` at QoS 1.
pub fn will(topic_name: &str, payload: &'static [u8]) -> LastWill {
    LastWill {
        topic_name: ByteString::from(topic_name),
        payload: Bytes::from_static(payload),
        qos: QoS::AtLeastOnce,
        retain: false,
        properties: Default::default(),
    }
}

/// A PUBLISH.
pub fn publish_packet(
    topic_name: &str,
    payload: impl Into<Bytes>,
    qos: QoS,
    retain: bool,
    packet_id: Option<u16>,
) -> Packet {
    Packet::Publish(Publish {
        dup: false,
        qos,
        retain,
        topic_name: ByteString::from(topic_name),
        packet_id,
        properties: None,
        payload: payload.into(),
    })
}

/// A raw MQTT client: one blocking socket and the shardmq codec.
pub struct RawClient {
    stream: TcpStream,
    buffer: BytesMut,
    /// Protocol level of the CONNECT it sent.
    pub protocol_version: ProtocolVersion,
}

impl RawClient {
    /// Opens a TCP connection with [`TEST_TIMEOUT`] as read timeout.
    pub fn open(address: SocketAddr, protocol_version: ProtocolVersion) -> RawClient {
        let stream = TcpStream::connect(address).expect("connect to the test broker");
        stream.set_read_timeout(Some(TEST_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        RawClient {
            stream,
            buffer: BytesMut::new(),
            protocol_version,
        }
    }

    /// Connects, sends `connect` and returns the client with the CONNACK.
    pub fn connect(address: SocketAddr, connect: Connect) -> (RawClient, ConnAck) {
        let mut client = RawClient::open(address, connect.protocol_version);
        client.send(&Packet::Connect(Box::new(connect)));
        match client.recv() {
            Packet::ConnAck(connack) => (client, *connack),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    /// Connects a client that must be accepted.
    pub fn connected(address: SocketAddr, connect: Connect) -> (RawClient, ConnAck) {
        let (client, connack) = RawClient::connect(address, connect);
        assert!(
            !connack.reason_code.is_error(),
            "CONNECT refused: {connack:?}"
        );
        (client, connack)
    }

    /// Connects an accepted clean-start client with no keep-alive, as most tests
    /// need for a watcher or a publisher.
    pub fn clean(
        address: SocketAddr,
        protocol_version: ProtocolVersion,
        client_id: &str,
    ) -> RawClient {
        RawClient::connected(
            address,
            connect_packet(protocol_version, client_id, true, 0),
        )
        .0
    }

    /// Sends one packet.
    pub fn send(&mut self, packet: &Packet) {
        let mut bytes = BytesMut::new();
        encode(packet, self.protocol_version, &mut bytes).expect("test packets encode");
        self.send_bytes(&bytes);
    }

    /// Sends raw bytes.
    pub fn send_bytes(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write to the broker");
    }

    /// The next packet; panics on timeout or end of stream.
    pub fn recv(&mut self) -> Packet {
        self.try_recv()
            .unwrap_or_else(|| panic!("connection closed while waiting for a packet"))
    }

    /// The next packet, or `None` when the broker closed the connection.
    pub fn try_recv(&mut self) -> Option<Packet> {
        loop {
            match decode(&mut self.buffer, self.protocol_version, u32::MAX >> 4) {
                Ok(Some(packet)) => return Some(packet),
                Ok(None) => {}
                Err(error) => panic!("broker sent a malformed packet: {error}"),
            }
            let mut chunk = [0u8; 16 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(count) => self.buffer.extend_from_slice(&chunk[..count]),
                Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => return None,
                Err(error) => panic!("no packet within {TEST_TIMEOUT:?}: {error}"),
            }
        }
    }

    /// Waits for the broker to close the connection, returning the packets it
    /// sent before closing.
    pub fn expect_closed(&mut self) -> Vec<Packet> {
        let mut packets = Vec::new();
        while let Some(packet) = self.try_recv() {
            packets.push(packet);
        }
        packets
    }

    /// Waits for the broker to close the connection after one DISCONNECT
    /// with `reason_code`, and nothing else.
    pub fn expect_disconnect(&mut self, reason_code: ReasonCode) {
        let packets = self.expect_closed();
        assert!(
            matches!(packets.as_slice(), [Packet::Disconnect(disconnect)] if disconnect.reason_code == reason_code),
            "expected DISCONNECT {reason_code:?}, got {packets:?}"
        );
    }

    /// The next PUBLISH, answering nothing; panics on any other packet.
    pub fn recv_publish(&mut self) -> Publish {
        match self.recv() {
            Packet::Publish(publish) => publish,
            other => panic!("expected PUBLISH, got {other:?}"),
        }
    }

    /// The next PUBLISH, acknowledged as its QoS asks (PUBACK, or PUBREC then PUBCOMP).
    pub fn recv_publish_acked(&mut self) -> Publish {
        let publish = self.recv_publish();
        match (publish.qos, publish.packet_id) {
            (QoS::AtLeastOnce, Some(packet_id)) => {
                self.send(&Packet::PubAck(PublishResponse::success(packet_id)))
            }
            (QoS::ExactlyOnce, Some(packet_id)) => {
                self.send(&Packet::PubRec(PublishResponse::success(packet_id)));
                match self.recv() {
                    Packet::PubRel(response) => assert_eq!(response.packet_id, packet_id),
                    other => panic!("expected PUBREL, got {other:?}"),
                }
                self.send(&Packet::PubComp(PublishResponse::success(packet_id)));
            }
            _ => {}
        }
        publish
    }

    /// Subscribes to one filter and waits for the SUBACK.
    pub fn subscribe(&mut self, topic_filter: &str, qos: QoS) {
        self.subscribe_with(topic_filter, qos, None);
    }

    /// Subscribes to one filter with a v5 Subscription Identifier.
    pub fn subscribe_with(
        &mut self,
        topic_filter: &str,
        qos: QoS,
        subscription_identifier: Option<u32>,
    ) {
        self.send(&Packet::Subscribe(Subscribe {
            packet_id: 1,
            properties: SubscribeProperties {
                subscription_identifier,
                user_properties: Vec::new(),
            },
            filters: vec![(
                ByteString::from(topic_filter),
                SubscriptionOptions {
                    qos,
                    ..SubscriptionOptions::default()
                },
            )],
        }));
        match self.recv() {
            Packet::SubAck(suback) => {
                assert!(
                    !suback.reason_codes[0].is_error(),
                    "subscription to {topic_filter} refused: {suback:?}"
                );
            }
            other => panic!("expected SUBACK, got {other:?}"),
        }
    }

    /// Publishes and, for QoS 1 and 2, completes the flow.
    pub fn publish(&mut self, topic_name: &str, payload: impl Into<Bytes>, qos: QoS, retain: bool) {
        let packet_id = (qos != QoS::AtMostOnce).then_some(1);
        self.send(&publish_packet(topic_name, payload, qos, retain, packet_id));
        match qos {
            QoS::AtMostOnce => {}
            QoS::AtLeastOnce => match self.recv() {
                Packet::PubAck(response) => assert_eq!(response.packet_id, 1),
                other => panic!("expected PUBACK, got {other:?}"),
            },
            QoS::ExactlyOnce => {
                match self.recv() {
                    Packet::PubRec(response) => assert_eq!(response.packet_id, 1),
                    other => panic!("expected PUBREC, got {other:?}"),
                }
                self.send(&Packet::PubRel(PublishResponse::success(1)));
                match self.recv() {
                    Packet::PubComp(response) => assert_eq!(response.packet_id, 1),
                    other => panic!("expected PUBCOMP, got {other:?}"),
                }
            }
        }
    }

    /// Sends DISCONNECT (normal) and waits for the broker to close.
    pub fn disconnect(mut self) {
        self.send(&Packet::Disconnect(shardmq::protocol::Disconnect {
            reason_code: shardmq::protocol::ReasonCode::Success,
            properties: Default::default(),
        }));
        self.expect_closed();
    }

    /// The socket, e.g. to shrink its receive buffer.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }
}
