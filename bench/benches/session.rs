//! The session state machine on the publish path, per message, with a 64 B
//! payload and connected v5 sessions.
//!
//! - `session_inbound_64B`: [`Session::handle_packet`] of a client's PUBLISH at
//!   QoS 0, 1 and 2 (for QoS 2, the PUBLISH and its PUBREL).
//! - `session_outbound_64B`: [`Session::deliver`] of a shared message at QoS 0,
//!   and at QoS 1 followed by the client's PUBACK, so the inflight window never
//!   fills and every delivery is sent at once; and at QoS 0 of a message with
//!   properties (a user property and a content type) that every subscriber
//!   gets unchanged.
//! - `publish_path_qos1_64B`: one QoS 1 message through the server: decode the
//!   PUBLISH from the publisher's read buffer, handle it, deliver it to one
//!   subscriber, encode the subscriber's PUBLISH and the publisher's PUBACK,
//!   then handle the subscriber's PUBACK (as a packet, so the window never
//!   fills). The trie walk between routing and delivery is left out: the trie
//!   bench measures it.
//!
//! Every group reports throughput in messages. Sessions, packets and buffers
//! are built outside the timed part; the action `Vec`s and output buffers are
//! reused and cleared, as the runtime does. Each bench runs its operation once
//! before timing and checks the actions, so a change in the session's
//! behaviour fails the bench instead of measuring something else.
//!
//! Run: `cargo bench -p shardmq-bench --bench session` (add `-- --quick` on a
//! busy machine).

use std::hint::black_box;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use bytestring::ByteString;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use shardmq::protocol::{
    self, Connect, ConnectProperties, Packet, PacketId, ProtocolVersion, Publish,
    PublishProperties, PublishResponse, QoS,
};
use shardmq::session::{
    Action, ConnectOutcome, Message, Session, SessionConfig, SharedMessage, SubscriptionMatch,
};

const TOPIC_NAME: &str = "sensors/building-7/floor-3/temperature";
const PAYLOAD_LEN: usize = 64;
const PACKET_ID: PacketId = 42;
const NOW_MS: u64 = 1_000_000;
const PUBLISHER: &str = "publisher";
const SUBSCRIBER: &str = "subscriber";

/// A session accepted from a v5 CONNECT with Clean Start and the default config.
fn connected_v5_session(client_id: &str) -> Session {
    let connect = Connect {
        protocol_version: ProtocolVersion::V5,
        clean_start: true,
        keep_alive_s: 60,
        client_id: ByteString::from(client_id),
        will: None,
        username: None,
        password: None,
        properties: ConnectProperties::default(),
    };
    let mut actions = Vec::new();
    let outcome = Session::connect(
        connect,
        None,
        None,
        &Arc::new(SessionConfig::default()),
        &Arc::default(),
        NOW_MS,
        &mut actions,
    );
    match outcome {
        ConnectOutcome::Accepted(session) => session,
        ConnectOutcome::Refused { .. } => panic!("connect refused: {actions:?}"),
    }
}

fn payload() -> Bytes {
    Bytes::from(vec![0xA5; PAYLOAD_LEN])
}

/// A client's PUBLISH; the packet id is set for QoS 1 and 2.
fn client_publish(qos: QoS) -> Publish {
    Publish {
        dup: false,
        qos,
        retain: false,
        topic_name: ByteString::from_static(TOPIC_NAME),
        packet_id: (qos != QoS::AtMostOnce).then_some(PACKET_ID),
        properties: None,
        payload: payload(),
    }
}

/// A message routed to a subscriber, published at `qos`.
fn routed_message(qos: QoS) -> SharedMessage {
    Arc::new(Message {
        topic_name: ByteString::from_static(TOPIC_NAME),
        payload: payload(),
        qos,
        retain: false,
        properties: Default::default(),
        expires_at_ms: None,
        publisher: ByteString::from_static(PUBLISHER),
    })
}

/// A QoS 0 message with properties that a delivery passes on unchanged.
fn routed_message_with_properties() -> SharedMessage {
    let mut message = Arc::unwrap_or_clone(routed_message(QoS::AtMostOnce));
    message.properties = PublishProperties {
        user_properties: vec![("site".into(), "building-7".into())],
        content_type: Some(ByteString::from_static("application/json")),
        ..PublishProperties::default()
    }
    .into();
    Arc::new(message)
}

/// A plain subscription granted at `qos`, as the trie hands it to `deliver`.
fn subscription(qos: QoS) -> [SubscriptionMatch; 1] {
    [SubscriptionMatch {
        qos,
        subscription_identifier: None,
        no_local: false,
        retain_as_published: false,
    }]
}

/// The packet id of the PUBLISH among the actions.
fn sent_packet_id(actions: &[Action]) -> PacketId {
    actions
        .iter()
        .find_map(|action| match action {
            Action::Deliver(delivery) => delivery.packet_id,
            _ => None,
        })
        .expect("a PUBLISH with a packet id")
}

/// The kinds of the actions, to check a bench runs the intended path.
fn action_kinds(actions: &[Action]) -> Vec<&'static str> {
    actions
        .iter()
        .map(|action| match action {
            Action::Deliver(_) => "send PUBLISH",
            Action::Acknowledge(Packet::PubAck(_)) | Action::AnswerPublish(Packet::PubAck(_)) => {
                "send PUBACK"
            }
            Action::Acknowledge(Packet::PubRec(_)) | Action::AnswerPublish(Packet::PubRec(_)) => {
                "send PUBREC"
            }
            Action::Acknowledge(Packet::PubComp(_)) => "send PUBCOMP",
            Action::Send(_) | Action::Acknowledge(_) => "send other",
            Action::Publish { .. } => "route",
            _ => "other",
        })
        .collect()
}

fn inbound(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("session_inbound_64B");
    group.throughput(Throughput::Elements(1));
    let mut session = connected_v5_session(PUBLISHER);
    let mut actions = Vec::new();

    for (name, qos, expected) in [
        ("qos0", QoS::AtMostOnce, vec!["route"]),
        ("qos1", QoS::AtLeastOnce, vec!["route", "send PUBACK"]),
    ] {
        let publish = client_publish(qos);
        session.handle_packet(Packet::Publish(publish.clone()), NOW_MS, &mut actions);
        assert_eq!(action_kinds(&actions), expected);
        actions.clear();
        group.bench_function(name, |bench| {
            bench.iter_batched(
                || Packet::Publish(publish.clone()),
                |packet| {
                    session.handle_packet(packet, NOW_MS, &mut actions);
                    black_box(&actions);
                    actions.clear();
                },
                BatchSize::SmallInput,
            )
        });
    }

    let publish = client_publish(QoS::ExactlyOnce);
    let pubrel = Packet::PubRel(PublishResponse::success(PACKET_ID));
    session.handle_packet(Packet::Publish(publish.clone()), NOW_MS, &mut actions);
    session.handle_packet(pubrel.clone(), NOW_MS, &mut actions);
    assert_eq!(
        action_kinds(&actions),
        ["route", "send PUBREC", "send PUBCOMP"]
    );
    actions.clear();
    group.bench_function("qos2_publish_pubrel", |bench| {
        bench.iter_batched(
            || (Packet::Publish(publish.clone()), pubrel.clone()),
            |(publish, pubrel)| {
                session.handle_packet(publish, NOW_MS, &mut actions);
                session.handle_packet(pubrel, NOW_MS, &mut actions);
                black_box(&actions);
                actions.clear();
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn outbound(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("session_outbound_64B");
    group.throughput(Throughput::Elements(1));
    let mut session = connected_v5_session(SUBSCRIBER);
    let mut actions = Vec::new();

    let message = routed_message(QoS::AtMostOnce);
    let matched = subscription(QoS::AtMostOnce);
    session.deliver(&message, &matched, NOW_MS, &mut actions);
    assert_eq!(action_kinds(&actions), ["send PUBLISH"]);
    actions.clear();
    group.bench_function("qos0", |bench| {
        bench.iter(|| {
            session.deliver(black_box(&message), &matched, NOW_MS, &mut actions);
            black_box(&actions);
            actions.clear();
        })
    });

    let message_with_properties = routed_message_with_properties();
    session.deliver(&message_with_properties, &matched, NOW_MS, &mut actions);
    assert_eq!(action_kinds(&actions), ["send PUBLISH"]);
    actions.clear();
    group.bench_function("qos0_with_properties", |bench| {
        bench.iter(|| {
            session.deliver(
                black_box(&message_with_properties),
                &matched,
                NOW_MS,
                &mut actions,
            );
            black_box(&actions);
            actions.clear();
        })
    });

    let message = routed_message(QoS::AtLeastOnce);
    let matched = subscription(QoS::AtLeastOnce);
    let deliver_and_acknowledge = |session: &mut Session, actions: &mut Vec<Action>| {
        session.deliver(black_box(&message), &matched, NOW_MS, actions);
        let packet_id = sent_packet_id(actions);
        black_box(&*actions);
        actions.clear();
        let puback = Packet::PubAck(PublishResponse::success(packet_id));
        session.handle_packet(puback, NOW_MS, actions);
        black_box(&*actions);
        actions.clear();
    };
    deliver_and_acknowledge(&mut session, &mut actions);
    assert_eq!((session.inflight_len(), session.queued_len()), (0, 0));
    group.bench_function("qos1_with_puback", |bench| {
        bench.iter(|| deliver_and_acknowledge(&mut session, &mut actions))
    });
    assert_eq!((session.inflight_len(), session.queued_len()), (0, 0));
    group.finish();
}

/// One publisher and one subscriber, both v5, and the buffers a runtime keeps
/// per connection.
struct PublishPath {
    publisher: Session,
    subscriber: Session,
    matched: [SubscriptionMatch; 1],
    /// The publisher's PUBLISH as it arrives on the wire.
    frame: Bytes,
    read_buffer: BytesMut,
    publisher_actions: Vec<Action>,
    subscriber_actions: Vec<Action>,
    /// The packets the acknowledgement from the subscriber causes (none).
    acknowledgement_actions: Vec<Action>,
    write_buffer: BytesMut,
}

impl PublishPath {
    fn new() -> PublishPath {
        let mut frame = BytesMut::new();
        let packet = Packet::Publish(client_publish(QoS::AtLeastOnce));
        protocol::encode(&packet, ProtocolVersion::V5, &mut frame).expect("encodable PUBLISH");
        PublishPath {
            publisher: connected_v5_session(PUBLISHER),
            subscriber: connected_v5_session(SUBSCRIBER),
            matched: subscription(QoS::AtLeastOnce),
            frame: frame.freeze(),
            read_buffer: BytesMut::with_capacity(64 * 1024),
            publisher_actions: Vec::new(),
            subscriber_actions: Vec::new(),
            acknowledgement_actions: Vec::new(),
            write_buffer: BytesMut::with_capacity(64 * 1024),
        }
    }

    /// One message from the publisher's socket to the subscriber's PUBACK.
    ///
    /// The frame is copied into the publisher's read buffer, reused across
    /// messages, as a socket read fills it; decoding leaves the payload a slice
    /// of that buffer, as in the server. Both connections' writes go to one
    /// buffer: encoding costs the same whichever connection owns it.
    fn run(&mut self) {
        self.read_buffer.extend_from_slice(&self.frame);
        let packet = protocol::decode(
            &mut self.read_buffer,
            ProtocolVersion::V5,
            SessionConfig::default().maximum_packet_size,
        )
        .expect("a valid PUBLISH")
        .expect("a whole frame");
        self.publisher
            .handle_packet(packet, NOW_MS, &mut self.publisher_actions);
        self.write_buffer.clear();
        for action in self.publisher_actions.drain(..) {
            match action {
                Action::Publish { message, .. } => self.subscriber.deliver(
                    &message,
                    &self.matched,
                    NOW_MS,
                    &mut self.subscriber_actions,
                ),
                Action::Acknowledge(packet) | Action::AnswerPublish(packet) => {
                    protocol::encode(&packet, ProtocolVersion::V5, &mut self.write_buffer)
                        .expect("encodable PUBACK")
                }
                other => panic!("unexpected action for a QoS 1 PUBLISH: {other:?}"),
            }
        }
        let packet_id = sent_packet_id(&self.subscriber_actions);
        for action in self.subscriber_actions.drain(..) {
            match action {
                Action::Deliver(delivery) => protocol::encode_publish_ref(
                    &delivery.publish(),
                    ProtocolVersion::V5,
                    &mut self.write_buffer,
                )
                .expect("encodable PUBLISH"),
                other => panic!("unexpected action for a delivery: {other:?}"),
            }
        }
        black_box(&self.write_buffer);
        let puback = Packet::PubAck(PublishResponse::success(packet_id));
        self.subscriber
            .handle_packet(puback, NOW_MS, &mut self.acknowledgement_actions);
        black_box(&self.acknowledgement_actions);
        self.acknowledgement_actions.clear();
    }

    /// Checks that one run wrote the subscriber's PUBLISH (same size as the
    /// publisher's, both without properties) and a 4-byte PUBACK, and left no
    /// flow open.
    fn check(&mut self) {
        self.run();
        assert_eq!(self.write_buffer.len(), self.frame.len() + 4);
        assert!(self.read_buffer.is_empty());
        assert_eq!(
            (self.subscriber.inflight_len(), self.subscriber.queued_len()),
            (0, 0)
        );
    }
}

fn publish_path(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("publish_path_qos1_64B");
    group.throughput(Throughput::Elements(1));
    let mut path = PublishPath::new();
    path.check();
    group.bench_function("v5_one_subscriber", |bench| bench.iter(|| path.run()));
    path.check();
    group.finish();
}

criterion_group!(benches, inbound, outbound, publish_path);
criterion_main!(benches);
