//! Bursts of QoS 1/2 messages that the subscribers cannot take as fast as the
//! publishers send them: nothing is lost and the publishers are slowed instead
//! (a shard whose delivery backlog nears `delivery_budget_bytes` stops every
//! shard reading PUBLISH packets), and a subscriber that stops reading
//! altogether is cut out of the budget (its excess dropped and counted) or
//! disconnected, without holding up the healthy ones or the broker's memory.
//! Clients that publish and subscribe on one connection must still have their
//! acknowledgements read while they are paused at a PUBLISH.
//!
//! The clients share no code with the broker: rumqttc, 3.1.1 and 5.0, for the
//! ones that read, and for one that never reads a plain socket with a tiny
//! receive buffer, sending CONNECT and SUBSCRIBE bytes written out by hand.
//!
//! Every message carries its publisher's index and sequence number, so each
//! subscriber checks that it got each publisher's messages once each and in
//! order; it reads until it has as many as were sent and an end marker
//! published once every publisher is done, so a duplicate arriving before
//! the marker is seen too. The tests of this module run one at a time
//! ([`serial`]): each keeps both cores of a small machine busy, and one
//! measures the process's memory.

use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use shardmq_shards::{BrokerHandle, Config, SlowSubscriberAction, StatsSnapshot};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::timeout;

use crate::common::{client_id_on, start_broker_with, SHARDS, TEST_TIMEOUT};
use crate::wire::{read_packet, read_variable_byte_integer};

/// The topic of every burst.
const TOPIC: &str = "burst/data";

/// Upper bound of a whole burst, from the first publish to the last delivery:
/// several times what the longest takes on a loaded two-core machine in a
/// debug build (under 8 s).
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// Largest packet the rumqttc clients send or take.
const MAX_PACKET_BYTES: usize = 64 * 1024;

/// The publisher index of the end marker.
const MARKER: u32 = u32::MAX;

/// A small delivery budget: 48 KiB of backlog on a shard pauses the publishers.
const SMALL_BUDGET_BYTES: usize = 64 * 1024;

/// What the subscribers of the fan-out and fan-in bursts do to be slower than
/// the publishers: they read from a small socket buffer and stop polling their
/// connection (reading and acknowledging nothing) for `pause` after every
/// `every` messages. This sleep is the slowness under test, not a wait for an
/// event.
const SLOW_READER: Pace = Pace {
    every: 25,
    pause: Duration::from_millis(2),
};

/// Receive buffer of a slow reader's socket, bytes.
const SLOW_READER_RECEIVE_BUFFER_BYTES: u32 = 8 * 1024;

/// One burst at a time: see the module documentation.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The MQTT version a rumqttc client speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Version {
    V311,
    V5,
}

impl Version {
    /// 3.1.1 for even indexes, 5.0 for odd ones.
    fn alternating(index: usize) -> Version {
        if index % 2 == 0 {
            Version::V311
        } else {
            Version::V5
        }
    }
}

/// The QoS of a burst.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Qos {
    AtLeastOnce,
    ExactlyOnce,
}

impl Qos {
    fn v311(self) -> rumqttc::QoS {
        match self {
            Qos::AtLeastOnce => rumqttc::QoS::AtLeastOnce,
            Qos::ExactlyOnce => rumqttc::QoS::ExactlyOnce,
        }
    }

    fn v5(self) -> rumqttc::v5::mqttbytes::QoS {
        match self {
            Qos::AtLeastOnce => rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
            Qos::ExactlyOnce => rumqttc::v5::mqttbytes::QoS::ExactlyOnce,
        }
    }
}

/// How a subscriber slows itself down (see [`SLOW_READER`]).
#[derive(Clone, Copy, Debug)]
struct Pace {
    every: usize,
    pause: Duration,
}

/// A payload of `size` bytes (at least 8) starting with the publisher's index
/// and the message's sequence number.
fn payload(publisher: u32, sequence: u32, size: usize) -> Vec<u8> {
    let mut payload = Vec::with_capacity(size.max(8));
    payload.extend_from_slice(&publisher.to_be_bytes());
    payload.extend_from_slice(&sequence.to_be_bytes());
    payload.resize(size.max(8), 0x5A);
    payload
}

/// What one subscriber received.
#[derive(Debug)]
struct Received {
    /// The sequence numbers from each publisher, in arrival order.
    by_publisher: Vec<Vec<u32>>,
    /// Messages received, the marker aside; shared, to be reported if the
    /// burst does not complete.
    total: Arc<AtomicUsize>,
    marker_seen: bool,
}

impl Received {
    fn new(publishers: usize, total: Arc<AtomicUsize>) -> Received {
        Received {
            by_publisher: vec![Vec::new(); publishers],
            total,
            marker_seen: false,
        }
    }

    fn total(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }

    /// True once it has the marker and `expected` messages.
    fn is_complete(&self, expected: usize) -> bool {
        self.marker_seen && self.total() >= expected
    }

    fn record(&mut self, payload: &[u8]) -> Result<(), String> {
        let (Some(publisher), Some(sequence)) = (payload.get(..4), payload.get(4..8)) else {
            return Err(format!("a payload of {} bytes", payload.len()));
        };
        let publisher = u32::from_be_bytes(publisher.try_into().unwrap());
        let sequence = u32::from_be_bytes(sequence.try_into().unwrap());
        if publisher == MARKER {
            self.marker_seen = true;
            return Ok(());
        }
        self.by_publisher
            .get_mut(publisher as usize)
            .ok_or_else(|| format!("a message from unknown publisher {publisher}"))?
            .push(sequence);
        self.total.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Panics unless every publisher's `per_publisher` messages arrived, each
    /// once, in the order they were sent.
    fn assert_complete(&self, subscriber: &str, per_publisher: u32) {
        for (publisher, sequences) in self.by_publisher.iter().enumerate() {
            if sequences.iter().copied().eq(0..per_publisher) {
                continue;
            }
            let distinct = sequences.iter().collect::<HashSet<_>>().len();
            let first_wrong = sequences
                .iter()
                .zip(0..)
                .position(|(got, expected)| *got != expected)
                .unwrap_or(sequences.len());
            let around = first_wrong.saturating_sub(3)..(first_wrong + 7).min(sequences.len());
            panic!(
                "subscriber {subscriber} got {} messages ({distinct} distinct) of {per_publisher} \
                 from publisher {publisher}; the first one out of place is at index \
                 {first_wrong}, around it: {:?}",
                sequences.len(),
                &sequences[around]
            );
        }
    }
}

/// A rumqttc subscriber to [`TOPIC`].
#[derive(Clone, Debug)]
struct SubscriberSpec {
    version: Version,
    client_id: String,
    qos: Qos,
    pace: Option<Pace>,
    /// Receive buffer of its socket, bytes.
    receive_buffer: Option<u32>,
    /// The Receive Maximum it asks for (5.0 only), the broker's in-flight
    /// window to it.
    receive_maximum: Option<u16>,
}

/// A running subscriber.
struct Subscriber {
    client_id: String,
    /// Ends once the subscriber has everything and the marker.
    task: JoinHandle<Result<Received, String>>,
    /// Messages received so far.
    total: Arc<AtomicUsize>,
}

/// A rumqttc publisher of `count` messages of `payload_bytes` to [`TOPIC`].
#[derive(Clone, Debug)]
struct PublisherSpec {
    version: Version,
    client_id: String,
    index: u32,
    count: u32,
    qos: Qos,
    payload_bytes: usize,
}

/// A running publisher.
struct Publisher {
    client_id: String,
    /// Ends once every message is acknowledged.
    task: JoinHandle<Result<(), String>>,
    /// Messages acknowledged so far.
    acknowledged: Arc<AtomicUsize>,
}

fn network_options(receive_buffer: Option<u32>) -> rumqttc::NetworkOptions {
    let mut network = rumqttc::NetworkOptions::new();
    // rumqttc gives up a write blocked this long: longer than any pause here.
    network.set_connection_timeout(30);
    if let Some(bytes) = receive_buffer {
        network.set_tcp_recv_buffer_size(bytes);
    }
    network
}

/// Connects a rumqttc subscriber and returns once its subscription is
/// acknowledged; its task reads until it has `expected` messages from
/// `publishers` publishers and the marker.
async fn subscriber(
    port: u16,
    spec: SubscriberSpec,
    publishers: usize,
    expected: usize,
) -> Subscriber {
    let total = Arc::new(AtomicUsize::new(0));
    let received = Received::new(publishers, Arc::clone(&total));
    let client_id = spec.client_id.clone();
    let task = match spec.version {
        Version::V311 => subscriber_v311(port, spec, received, expected).await,
        Version::V5 => subscriber_v5(port, spec, received, expected).await,
    };
    Subscriber {
        client_id,
        task,
        total,
    }
}

async fn subscriber_v311(
    port: u16,
    spec: SubscriberSpec,
    mut received: Received,
    expected: usize,
) -> JoinHandle<Result<Received, String>> {
    use rumqttc::{Event, Packet};

    let client_id = spec.client_id;
    assert_eq!(spec.receive_maximum, None, "3.1.1 has no Receive Maximum");
    let mut options = rumqttc::MqttOptions::new(&client_id, "127.0.0.1", port);
    options.set_keep_alive(Duration::from_secs(30));
    options.set_max_packet_size(MAX_PACKET_BYTES, MAX_PACKET_BYTES);
    let (client, mut event_loop) = rumqttc::AsyncClient::new(options, 16);
    event_loop.set_network_options(network_options(spec.receive_buffer));
    client.subscribe(TOPIC, spec.qos.v311()).await.unwrap();
    let subscribed = timeout(TEST_TIMEOUT, async {
        loop {
            match event_loop.poll().await {
                Ok(Event::Incoming(Packet::SubAck(suback))) => {
                    return Ok(suback.return_codes);
                }
                Ok(_) => {}
                Err(error) => return Err(error.to_string()),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{client_id}: no SUBACK within {TEST_TIMEOUT:?}"))
    .unwrap_or_else(|error| panic!("{client_id}: {error}"));
    assert!(
        subscribed
            .iter()
            .all(|code| matches!(code, rumqttc::SubscribeReasonCode::Success(_))),
        "{client_id}: subscription refused: {subscribed:?}"
    );
    tokio::spawn(async move {
        // Dropping the client would end the event loop.
        let _client = client;
        while !received.is_complete(expected) {
            match event_loop.poll().await {
                Ok(Event::Incoming(Packet::Publish(publish))) => {
                    received.record(&publish.payload)?;
                    if let Some(pace) = spec.pace {
                        if received.total() % pace.every == 0 {
                            tokio::time::sleep(pace.pause).await;
                        }
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    return Err(format!(
                        "{client_id}: connection failed after {} messages: {error}",
                        received.total()
                    ))
                }
            }
        }
        Ok(received)
    })
}

async fn subscriber_v5(
    port: u16,
    spec: SubscriberSpec,
    mut received: Received,
    expected: usize,
) -> JoinHandle<Result<Received, String>> {
    use rumqttc::v5::mqttbytes::v5::{Packet, SubscribeReasonCode};
    use rumqttc::v5::Event;

    let client_id = spec.client_id;
    let mut options = rumqttc::v5::MqttOptions::new(&client_id, "127.0.0.1", port);
    options.set_keep_alive(Duration::from_secs(30));
    options.set_max_packet_size(Some(MAX_PACKET_BYTES as u32));
    options.set_receive_maximum(spec.receive_maximum);
    options.set_connection_timeout(30);
    options.set_network_options(network_options(spec.receive_buffer));
    let (client, mut event_loop) = rumqttc::v5::AsyncClient::new(options, 16);
    client.subscribe(TOPIC, spec.qos.v5()).await.unwrap();
    let subscribed = timeout(TEST_TIMEOUT, async {
        loop {
            match event_loop.poll().await {
                Ok(Event::Incoming(Packet::SubAck(suback))) => return Ok(suback.return_codes),
                Ok(_) => {}
                Err(error) => return Err(error.to_string()),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{client_id}: no SUBACK within {TEST_TIMEOUT:?}"))
    .unwrap_or_else(|error| panic!("{client_id}: {error}"));
    assert!(
        subscribed
            .iter()
            .all(|code| matches!(code, SubscribeReasonCode::Success(_))),
        "{client_id}: subscription refused: {subscribed:?}"
    );
    tokio::spawn(async move {
        let _client = client;
        while !received.is_complete(expected) {
            match event_loop.poll().await {
                Ok(Event::Incoming(Packet::Publish(publish))) => {
                    received.record(&publish.payload)?;
                    if let Some(pace) = spec.pace {
                        if received.total() % pace.every == 0 {
                            tokio::time::sleep(pace.pause).await;
                        }
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    return Err(format!(
                        "{client_id}: connection failed after {} messages: {error}",
                        received.total()
                    ))
                }
            }
        }
        Ok(received)
    })
}

/// Starts a rumqttc publisher that sends its messages as fast as its client
/// lets it; its task ends once every one is acknowledged (PUBACK, or PUBCOMP
/// at QoS 2).
fn publisher(port: u16, spec: PublisherSpec) -> Publisher {
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let client_id = spec.client_id.clone();
    let task = match spec.version {
        Version::V311 => publisher_v311(port, spec, Arc::clone(&acknowledged)),
        Version::V5 => publisher_v5(port, spec, Arc::clone(&acknowledged)),
    };
    Publisher {
        client_id,
        task,
        acknowledged,
    }
}

fn publisher_v311(
    port: u16,
    spec: PublisherSpec,
    acknowledged: Arc<AtomicUsize>,
) -> JoinHandle<Result<(), String>> {
    use rumqttc::{Event, Packet};

    let PublisherSpec {
        client_id,
        index,
        count,
        qos,
        payload_bytes,
        ..
    } = spec;
    let mut options = rumqttc::MqttOptions::new(&client_id, "127.0.0.1", port);
    options.set_keep_alive(Duration::from_secs(30));
    options.set_max_packet_size(MAX_PACKET_BYTES, MAX_PACKET_BYTES);
    let (client, mut event_loop) = rumqttc::AsyncClient::new(options, 64);
    event_loop.set_network_options(network_options(None));
    let sender = client.clone();
    tokio::spawn(async move {
        for sequence in 0..count {
            let message = payload(index, sequence, payload_bytes);
            let sent = sender.publish(TOPIC, qos.v311(), false, message).await;
            if sent.is_err() {
                return;
            }
        }
    });
    tokio::spawn(async move {
        let _client = client;
        while acknowledged.load(Ordering::Relaxed) < count as usize {
            match event_loop.poll().await {
                Ok(Event::Incoming(Packet::PubAck(_))) if qos == Qos::AtLeastOnce => {
                    acknowledged.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Event::Incoming(Packet::PubComp(_))) if qos == Qos::ExactlyOnce => {
                    acknowledged.fetch_add(1, Ordering::Relaxed);
                }
                Ok(_) => {}
                Err(error) => {
                    return Err(format!(
                        "{client_id}: connection failed after {} of {count} \
                         acknowledgements: {error}",
                        acknowledged.load(Ordering::Relaxed)
                    ))
                }
            }
        }
        Ok(())
    })
}

fn publisher_v5(
    port: u16,
    spec: PublisherSpec,
    acknowledged: Arc<AtomicUsize>,
) -> JoinHandle<Result<(), String>> {
    use rumqttc::v5::mqttbytes::v5::{Packet, PubAckReason, PubCompReason};
    use rumqttc::v5::Event;

    let PublisherSpec {
        client_id,
        index,
        count,
        qos,
        payload_bytes,
        ..
    } = spec;
    let mut options = rumqttc::v5::MqttOptions::new(&client_id, "127.0.0.1", port);
    options.set_keep_alive(Duration::from_secs(30));
    options.set_max_packet_size(Some(MAX_PACKET_BYTES as u32));
    options.set_connection_timeout(30);
    options.set_network_options(network_options(None));
    let (client, mut event_loop) = rumqttc::v5::AsyncClient::new(options, 64);
    let sender = client.clone();
    tokio::spawn(async move {
        for sequence in 0..count {
            let message = payload(index, sequence, payload_bytes);
            let sent = sender.publish(TOPIC, qos.v5(), false, message).await;
            if sent.is_err() {
                return;
            }
        }
    });
    tokio::spawn(async move {
        let _client = client;
        while acknowledged.load(Ordering::Relaxed) < count as usize {
            match event_loop.poll().await {
                Ok(Event::Incoming(Packet::PubAck(ack))) if qos == Qos::AtLeastOnce => {
                    if ack.reason != PubAckReason::Success {
                        return Err(format!("{client_id}: {ack:?}"));
                    }
                    acknowledged.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Event::Incoming(Packet::PubComp(comp))) if qos == Qos::ExactlyOnce => {
                    if comp.reason != PubCompReason::Success {
                        return Err(format!("{client_id}: {comp:?}"));
                    }
                    acknowledged.fetch_add(1, Ordering::Relaxed);
                }
                Ok(_) => {}
                Err(error) => {
                    return Err(format!(
                        "{client_id}: connection failed after {} of {count} \
                         acknowledgements: {error}",
                        acknowledged.load(Ordering::Relaxed)
                    ))
                }
            }
        }
        Ok(())
    })
}

/// The resident memory of this process, KiB.
fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().strip_suffix("kB"))
        .and_then(|value| value.trim().parse().ok())
        .expect("a VmRSS line in kB")
}

/// Runs a burst against `broker` on a client runtime of two workers, as on a
/// small machine: the subscribers connect and subscribe first, then every
/// publisher starts at once; once every publisher had all its messages
/// acknowledged, the end marker is published, and each subscriber must have
/// received every publisher's `per_publisher` messages, once each and in
/// order. Panics otherwise, or if that takes longer than [`RUN_TIMEOUT`], with
/// how far each client got. Returns how much the process's resident memory
/// grew from before the first client connected to the end, KiB.
fn drive(
    name: &str,
    broker: &BrokerHandle,
    subscribers: Vec<SubscriberSpec>,
    publishers: Vec<PublisherSpec>,
) -> i64 {
    let port = broker.local_addr().port();
    let per_publisher = publishers.first().map_or(0, |spec| spec.count);
    assert!(publishers.iter().all(|spec| spec.count == per_publisher));
    let expected = publishers.len() * per_publisher as usize;
    let publisher_count = publishers.len();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("the client runtime starts");
    let resident_before = resident_kib();
    let growth_kib = runtime.block_on(async {
        let mut running_subscribers = Vec::new();
        for spec in subscribers {
            running_subscribers.push(subscriber(port, spec, publisher_count, expected).await);
        }
        let mut running_publishers: Vec<Publisher> = publishers
            .into_iter()
            .map(|spec| publisher(port, spec))
            .collect();
        let progress = |subscribers: &[Subscriber], publishers: &[Publisher]| {
            let subscribers: Vec<String> = subscribers
                .iter()
                .map(|s| format!("{} {}", s.client_id, s.total.load(Ordering::Relaxed)))
                .collect();
            let publishers: Vec<String> = publishers
                .iter()
                .map(|p| format!("{} {}", p.client_id, p.acknowledged.load(Ordering::Relaxed)))
                .collect();
            format!(
                "messages received of {expected}: {subscribers:?}; acknowledged of \
                 {per_publisher}: {publishers:?}; broker counters: {:?}",
                broker.stats()
            )
        };
        let run = async {
            for publisher in running_publishers.iter_mut() {
                (&mut publisher.task)
                    .await
                    .unwrap_or_else(|error| panic!("{} panicked: {error}", publisher.client_id))
                    .unwrap_or_else(|error| panic!("publisher {error}"));
            }
            let marker = PublisherSpec {
                version: Version::V311,
                client_id: client_id_on(0, &format!("{name}-marker")),
                index: MARKER,
                count: 1,
                qos: Qos::AtLeastOnce,
                payload_bytes: 8,
            };
            publisher(port, marker)
                .task
                .await
                .unwrap()
                .unwrap_or_else(|error| panic!("marker {error}"));
            for subscriber in running_subscribers.iter_mut() {
                let received = (&mut subscriber.task)
                    .await
                    .unwrap_or_else(|error| panic!("{} panicked: {error}", subscriber.client_id))
                    .unwrap_or_else(|error| panic!("subscriber {error}"));
                received.assert_complete(&subscriber.client_id, per_publisher);
            }
        };
        if timeout(RUN_TIMEOUT, run).await.is_err() {
            panic!(
                "{name}: the burst did not complete within {RUN_TIMEOUT:?}; {}",
                progress(&running_subscribers, &running_publishers)
            );
        }
        resident_kib() as i64 - resident_before as i64
    });
    runtime.shutdown_background();
    growth_kib
}

/// The shape of a fan-out or fan-in burst.
#[derive(Clone, Copy, Debug)]
struct Burst {
    publishers: usize,
    messages_per_publisher: u32,
    payload_bytes: usize,
    subscribers: usize,
    qos: Qos,
    /// The version of the first subscriber and the first publisher; the others
    /// alternate between 3.1.1 and 5.0 from there.
    first_version: Version,
    /// The Receive Maximum of the 5.0 subscribers.
    receive_maximum: Option<u16>,
}

/// Runs `burst` against a broker of two shards configured by `config`, with
/// subscribers that read slower than the publishers send ([`SLOW_READER`]),
/// spread over both shards, and publishers spread so that most messages
/// cross from one shard to the other. Returns the broker's counters at the end.
fn run_burst(name: &str, config: Config, burst: Burst) -> StatsSnapshot {
    let started = Instant::now();
    let broker = start_broker_with(config);
    let version = |index: usize| match burst.first_version {
        Version::V311 => Version::alternating(index),
        Version::V5 => Version::alternating(index + 1),
    };
    let subscribers = (0..burst.subscribers)
        .map(|index| SubscriberSpec {
            version: version(index),
            client_id: client_id_on(index % SHARDS, &format!("{name}-sub-{index}")),
            qos: burst.qos,
            pace: Some(SLOW_READER),
            receive_buffer: Some(SLOW_READER_RECEIVE_BUFFER_BYTES),
            receive_maximum: burst
                .receive_maximum
                .filter(|_| version(index) == Version::V5),
        })
        .collect();
    let publishers = (0..burst.publishers)
        .map(|index| PublisherSpec {
            version: version(index),
            client_id: client_id_on((index + 1) % SHARDS, &format!("{name}-pub-{index}")),
            index: index as u32,
            count: burst.messages_per_publisher,
            qos: burst.qos,
            payload_bytes: burst.payload_bytes,
        })
        .collect();
    drive(name, &broker, subscribers, publishers);
    let stats = broker.stats();
    broker.shutdown();
    eprintln!("{name}: {:?}, {stats:?}", started.elapsed());
    stats
}

/// 20 publishers send 200 QoS 1 messages each flat out, to 20 subscribers that
/// read slower: 80,000 deliveries.
const FAN_OUT: Burst = Burst {
    publishers: 20,
    messages_per_publisher: 200,
    payload_bytes: 64,
    subscribers: 20,
    qos: Qos::AtLeastOnce,
    first_version: Version::V311,
    receive_maximum: None,
};

#[test]
fn a_qos1_burst_fanned_out_to_slow_readers_loses_nothing() {
    let _serial = serial();
    let stats = run_burst("fan-out", Config::default(), FAN_OUT);
    assert_eq!(stats.session_drops.dropped_queue_full, 0, "{stats:?}");
}

/// A delivery budget and a queue bound that a burst passes many times over:
/// before publishers were paused for the budget, a subscriber more than ten
/// messages behind its in-flight window lost what came next. The window is
/// small too (32 instead of 1,024), so that the subscribers fall behind it
/// while the publishers are still sending, not only once they are done.
fn small_budget() -> Config {
    Config {
        delivery_budget_bytes: SMALL_BUDGET_BYTES,
        max_queued_messages: 10,
        outbound_inflight_maximum: 32,
        ..Config::default()
    }
}

#[test]
fn a_qos1_burst_fanned_out_over_a_small_delivery_budget_pauses_the_publishers_and_loses_nothing() {
    let _serial = serial();
    let stats = run_burst("fan-out-small", small_budget(), FAN_OUT);
    assert_eq!(stats.session_drops.dropped_queue_full, 0, "{stats:?}");
    // The burst went through the budget, not around it.
    assert!(stats.publisher_pauses > 0, "{stats:?}");
}

#[test]
fn a_qos1_burst_fanned_in_to_one_slow_reader_over_a_small_delivery_budget_loses_nothing() {
    let _serial = serial();
    let stats = run_burst(
        "fan-in",
        small_budget(),
        Burst {
            publishers: 50,
            messages_per_publisher: 100,
            payload_bytes: 64,
            subscribers: 1,
            qos: Qos::AtLeastOnce,
            first_version: Version::V311,
            receive_maximum: None,
        },
    );
    assert_eq!(stats.session_drops.dropped_queue_full, 0, "{stats:?}");
    assert!(stats.publisher_pauses > 0, "{stats:?}");
}

#[test]
fn a_qos2_burst_fanned_in_to_one_slow_reader_over_a_small_delivery_budget_arrives_exactly_once() {
    let _serial = serial();
    // `Received::assert_complete` refuses a duplicate as well as a gap.
    let stats = run_burst(
        "fan-in-qos2",
        small_budget(),
        Burst {
            publishers: 20,
            messages_per_publisher: 100,
            payload_bytes: 256,
            subscribers: 1,
            qos: Qos::ExactlyOnce,
            first_version: Version::V5,
            // The client's own window, lower than the broker's.
            receive_maximum: Some(16),
        },
    );
    assert_eq!(stats.session_drops.dropped_queue_full, 0, "{stats:?}");
    assert!(stats.publisher_pauses > 0, "{stats:?}");
}

// Clients that publish and subscribe on one connection.

/// A rumqttc client that subscribes to [`TOPIC`] and then publishes `count`
/// messages of `payload_bytes` to it, all at QoS 1, reading as [`SLOW_READER`]
/// does.
struct PeerSpec {
    version: Version,
    client_id: String,
    index: u32,
    peers: usize,
    count: u32,
    payload_bytes: usize,
    /// Turns true once every peer is subscribed: it starts publishing then.
    start: watch::Receiver<bool>,
}

/// A running peer.
struct Peer {
    /// Ends once it received everyone's messages (`peers` × `count`) and the
    /// marker, and its own were all acknowledged.
    subscriber: Subscriber,
    /// Its messages acknowledged so far.
    acknowledged: Arc<AtomicUsize>,
    /// Told once all of them are.
    published: oneshot::Receiver<()>,
}

/// What a peer's event loop does with each event, whatever its version.
struct PeerState {
    client_id: String,
    received: Received,
    expected: usize,
    count: u32,
    acknowledged: Arc<AtomicUsize>,
    published: Option<oneshot::Sender<()>>,
}

impl PeerState {
    /// A PUBLISH came; paces the reading as [`SLOW_READER`] does.
    async fn on_publish(&mut self, payload: &[u8]) -> Result<(), String> {
        self.received.record(payload)?;
        if self.received.total() % SLOW_READER.every == 0 {
            tokio::time::sleep(SLOW_READER.pause).await;
        }
        Ok(())
    }

    fn on_acknowledgement(&mut self) {
        let acknowledged = self.acknowledged.fetch_add(1, Ordering::Relaxed) + 1;
        if acknowledged == self.count as usize {
            if let Some(published) = self.published.take() {
                let _ = published.send(());
            }
        }
    }

    fn is_done(&self) -> bool {
        self.published.is_none() && self.received.is_complete(self.expected)
    }

    fn failed(&self, error: impl std::fmt::Display) -> String {
        format!(
            "{}: connection failed after {} messages received and {} acknowledged: {error}",
            self.client_id,
            self.received.total(),
            self.acknowledged.load(Ordering::Relaxed)
        )
    }
}

/// Connects a peer and returns once its subscription is acknowledged.
async fn peer(port: u16, spec: PeerSpec) -> Peer {
    let total = Arc::new(AtomicUsize::new(0));
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let (published, published_receiver) = oneshot::channel();
    let state = PeerState {
        client_id: spec.client_id.clone(),
        received: Received::new(spec.peers, Arc::clone(&total)),
        expected: spec.peers * spec.count as usize,
        count: spec.count,
        acknowledged: Arc::clone(&acknowledged),
        published: Some(published),
    };
    let client_id = spec.client_id.clone();
    let task = match spec.version {
        Version::V311 => peer_v311(port, spec, state).await,
        Version::V5 => peer_v5(port, spec, state).await,
    };
    Peer {
        subscriber: Subscriber {
            client_id,
            task,
            total,
        },
        acknowledged,
        published: published_receiver,
    }
}

/// What a peer does once its client is made, the same with either rumqttc
/// API (3.1.1 or 5.0; their types differ, so this is a macro over the
/// caller's `Event`, `Packet` and `QoS`): subscribe and wait for the SUBACK,
/// publish `spec.count` messages once the start is given, and read until
/// `state` is done.
macro_rules! drive_peer {
    ($client:ident, $event_loop:ident, $spec:ident, $state:ident) => {{
        let (client, mut event_loop, spec, mut state) = ($client, $event_loop, $spec, $state);
        client.subscribe(TOPIC, QoS::AtLeastOnce).await.unwrap();
        timeout(TEST_TIMEOUT, async {
            loop {
                match event_loop.poll().await {
                    Ok(Event::Incoming(Packet::SubAck(_))) => return,
                    Ok(_) => {}
                    Err(error) => panic!("{}: {error}", spec.client_id),
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{}: no SUBACK within {TEST_TIMEOUT:?}", spec.client_id));
        let sender = client.clone();
        let mut start = spec.start;
        tokio::spawn(async move {
            if start.wait_for(|started| *started).await.is_err() {
                return;
            }
            for sequence in 0..spec.count {
                let message = payload(spec.index, sequence, spec.payload_bytes);
                if sender
                    .publish(TOPIC, QoS::AtLeastOnce, false, message)
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
        tokio::spawn(async move {
            let _client = client;
            while !state.is_done() {
                match event_loop.poll().await {
                    Ok(Event::Incoming(Packet::Publish(publish))) => {
                        state.on_publish(&publish.payload).await?
                    }
                    Ok(Event::Incoming(Packet::PubAck(_))) => state.on_acknowledgement(),
                    Ok(_) => {}
                    Err(error) => return Err(state.failed(error)),
                }
            }
            Ok(state.received)
        })
    }};
}

async fn peer_v311(
    port: u16,
    spec: PeerSpec,
    state: PeerState,
) -> JoinHandle<Result<Received, String>> {
    use rumqttc::{Event, Packet, QoS};

    let mut options = rumqttc::MqttOptions::new(&spec.client_id, "127.0.0.1", port);
    options.set_keep_alive(Duration::from_secs(30));
    options.set_max_packet_size(MAX_PACKET_BYTES, MAX_PACKET_BYTES);
    let (client, mut event_loop) = rumqttc::AsyncClient::new(options, 64);
    event_loop.set_network_options(network_options(Some(SLOW_READER_RECEIVE_BUFFER_BYTES)));
    drive_peer!(client, event_loop, spec, state)
}

async fn peer_v5(
    port: u16,
    spec: PeerSpec,
    state: PeerState,
) -> JoinHandle<Result<Received, String>> {
    use rumqttc::v5::mqttbytes::v5::Packet;
    use rumqttc::v5::mqttbytes::QoS;
    use rumqttc::v5::Event;

    let mut options = rumqttc::v5::MqttOptions::new(&spec.client_id, "127.0.0.1", port);
    options.set_keep_alive(Duration::from_secs(30));
    options.set_max_packet_size(Some(MAX_PACKET_BYTES as u32));
    options.set_connection_timeout(30);
    options.set_network_options(network_options(Some(SLOW_READER_RECEIVE_BUFFER_BYTES)));
    let (client, event_loop) = rumqttc::v5::AsyncClient::new(options, 64);
    drive_peer!(client, event_loop, spec, state)
}

/// Runs `peers` clients, alternating 3.1.1 and 5.0 and spread over both
/// shards, that each publish `count` QoS 1 messages of `payload_bytes` to the
/// topic they all subscribe to, against a broker configured by `config`;
/// panics unless each peer had its messages acknowledged and got everyone's,
/// once each and in order, within [`RUN_TIMEOUT`]. Returns the counters then.
fn run_peers(
    name: &str,
    config: Config,
    peers: usize,
    count: u32,
    payload_bytes: usize,
) -> StatsSnapshot {
    let started = Instant::now();
    let broker = start_broker_with(config);
    let port = broker.local_addr().port();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("the client runtime starts");
    runtime.block_on(async {
        let (start, started) = watch::channel(false);
        let mut running = Vec::new();
        for index in 0..peers {
            let spec = PeerSpec {
                start: started.clone(),
                version: Version::alternating(index),
                client_id: client_id_on(index % SHARDS, &format!("{name}-{index}")),
                index: index as u32,
                peers,
                count,
                payload_bytes,
            };
            running.push(peer(port, spec).await);
        }
        start.send(true).unwrap();
        let run = async {
            for peer in running.iter_mut() {
                (&mut peer.published).await.unwrap_or_else(|_| {
                    panic!(
                        "{} ended before its messages were acknowledged",
                        peer.subscriber.client_id
                    )
                });
            }
            let marker = PublisherSpec {
                version: Version::V311,
                client_id: client_id_on(0, &format!("{name}-marker")),
                index: MARKER,
                count: 1,
                qos: Qos::AtLeastOnce,
                payload_bytes: 8,
            };
            publisher(port, marker)
                .task
                .await
                .unwrap()
                .unwrap_or_else(|error| panic!("marker {error}"));
            for peer in running.iter_mut() {
                let subscriber = &mut peer.subscriber;
                let received = (&mut subscriber.task)
                    .await
                    .unwrap_or_else(|error| panic!("{} panicked: {error}", subscriber.client_id))
                    .unwrap_or_else(|error| panic!("peer {error}"));
                received.assert_complete(&subscriber.client_id, count);
            }
        };
        if timeout(RUN_TIMEOUT, run).await.is_err() {
            let progress: Vec<String> = running
                .iter()
                .map(|peer| {
                    format!(
                        "{} received {} of {}, had {} of {count} acknowledged",
                        peer.subscriber.client_id,
                        peer.subscriber.total.load(Ordering::Relaxed),
                        peers * count as usize,
                        peer.acknowledged.load(Ordering::Relaxed)
                    )
                })
                .collect();
            panic!(
                "{name}: the burst did not complete within {RUN_TIMEOUT:?}: {progress:?}; \
                 broker counters: {:?}",
                broker.stats()
            );
        }
    });
    runtime.shutdown_background();
    let stats = broker.stats();
    broker.shutdown();
    eprintln!("{name}: {:?}, {stats:?}", started.elapsed());
    stats
}

#[test]
fn clients_that_publish_and_subscribe_over_a_small_delivery_budget_lose_nothing() {
    let _serial = serial();
    let stats = run_peers("peers", small_budget(), 10, 200, 64);
    assert_eq!(stats.session_drops.dropped_queue_full, 0, "{stats:?}");
    // A peer paused at its PUBLISH still had its acknowledgements read.
    assert_eq!(stats.stalled_subscribers, 0, "{stats:?}");
    assert!(stats.publisher_pauses > 0, "{stats:?}");
}

/// A peer paused at a PUBLISH has up to its client's in-flight window of
/// PUBLISHes (rumqttc: 100 at 3.1.1, the broker's Receive Maximum of 128 at
/// 5.0) ahead of its PUBACKs: with 1 KiB payloads, more than a small
/// read-ahead would find. The broker reads ahead far enough
/// (`limits::PAUSED_READ_AHEAD_BYTES`) for the acknowledgements of a window
/// of such messages, so no peer is taken for stuck and nothing is dropped.
#[test]
fn clients_that_publish_and_subscribe_1_kib_messages_over_a_small_delivery_budget_lose_nothing() {
    let _serial = serial();
    let stats = run_peers("peers-1k", small_budget(), 10, 200, 1024);
    assert_eq!(stats.session_drops.dropped_queue_full, 0, "{stats:?}");
    assert_eq!(stats.stalled_subscribers, 0, "{stats:?}");
    assert!(stats.publisher_pauses > 0, "{stats:?}");
}

// A subscriber that never reads, beside healthy ones.

/// Receive buffer of the stuck subscriber's socket, asked for before it
/// connects so that its window is small from the handshake on.
const STUCK_RECEIVE_BUFFER_BYTES: usize = 4 * 1024;

/// A 3.1.1 CONNECT (MQTT 3.1.1 section 3.1).
const STUCK_CONNECT_V311: [u8; 22] = [
    0x10, 20, // CONNECT; remaining length 10 (variable header) + 10 (payload)
    0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name
    0x04, // protocol level 4: 3.1.1
    0x02, // connect flags: Clean Session
    0x00, 0x00, // Keep Alive 0: never timed out for its silence
    0x00, 0x08, b's', b't', b'u', b'c', b'k', b'3', b'1', b'1', // client id "stuck311"
];

/// A 3.1.1 SUBSCRIBE to "burst/data" at QoS 1 (3.1.1 section 3.8).
const STUCK_SUBSCRIBE_V311: [u8; 17] = [
    0x82, 15, // SUBSCRIBE with its reserved flags 0b0010; remaining length 15
    0x00, 0x01, // packet identifier 1
    0x00, 0x0A, b'b', b'u', b'r', b's', b't', b'/', b'd', b'a', b't', b'a', // topic filter
    0x01, // requested QoS 1
];

/// A 5.0 CONNECT (MQTT 5.0 section 3.1): no Session Expiry Interval, so the
/// session ends with the connection.
const STUCK_CONNECT_V5: [u8; 23] = [
    0x10, 21, // CONNECT; remaining length 11 (variable header) + 10 (payload)
    0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name
    0x05, // protocol version 5
    0x02, // connect flags: Clean Start
    0x00, 0x00, // Keep Alive 0
    0x00, // property length 0
    0x00, 0x08, b's', b't', b'u', b'c', b'k', b'5', b'0', b'0', // client id "stuck500"
];

/// A 5.0 SUBSCRIBE to "burst/data" at QoS 1 (5.0 section 3.8).
const STUCK_SUBSCRIBE_V5: [u8; 18] = [
    0x82, 16, // SUBSCRIBE with its reserved flags 0b0010; remaining length 16
    0x00, 0x01, // packet identifier 1
    0x00, // property length 0
    0x00, 0x0A, b'b', b'u', b'r', b's', b't', b'/', b'd', b'a', b't', b'a', // topic filter
    0x01, // subscription options: QoS 1
];

/// The first byte of a 5.0 DISCONNECT (packet type 14).
const DISCONNECT: u8 = 0xE0;

/// 5.0 reason code 0x97, Quota exceeded.
const QUOTA_EXCEEDED: u8 = 0x97;

/// Splits `bytes` into MQTT packets (first byte and body); also returns how
/// many bytes at the end do not make a whole packet.
fn split_packets(mut bytes: &[u8]) -> (Vec<(u8, &[u8])>, usize) {
    let mut packets = Vec::new();
    while bytes.len() >= 2 {
        // Panics on a remaining length longer than 4 bytes.
        let Some((length, length_bytes)) = read_variable_byte_integer(&bytes[1..]) else {
            break;
        };
        let start = 1 + length_bytes;
        if bytes.len() < start + length {
            break;
        }
        packets.push((bytes[0], &bytes[start..start + length]));
        bytes = &bytes[start + length..];
    }
    (packets, bytes.len())
}

/// Connects a subscriber over a socket with a tiny receive buffer, sends
/// `connect` and `subscribe` and reads their acknowledgements: after that it
/// reads nothing until the test says so.
fn stuck_subscriber(address: SocketAddr, connect: &[u8], subscribe: &[u8]) -> TcpStream {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).unwrap();
    socket
        .set_recv_buffer_size(STUCK_RECEIVE_BUFFER_BYTES)
        .unwrap();
    socket.connect(&SockAddr::from(address)).unwrap();
    let mut stream = TcpStream::from(socket);
    stream.set_read_timeout(Some(TEST_TIMEOUT)).unwrap();
    stream.write_all(connect).unwrap();
    let (first, body) = read_packet(&mut stream).expect("a CONNACK");
    // CONNACK; the return code (3.1.1) or reason code (5.0) follows the flags.
    assert_eq!(
        first, 0x20,
        "expected CONNACK, got {first:#04x} {body:02x?}"
    );
    assert_eq!(body.get(1), Some(&0x00), "CONNECT refused: {body:02x?}");
    stream.write_all(subscribe).unwrap();
    let (first, body) = read_packet(&mut stream).expect("a SUBACK");
    // SUBACK for packet identifier 1, granting QoS 1 (the last byte).
    assert_eq!(first, 0x90, "expected SUBACK, got {first:#04x} {body:02x?}");
    assert_eq!(&body[..2], &[0x00, 0x01], "SUBACK {body:02x?}");
    assert_eq!(body.last(), Some(&0x01), "QoS 1 not granted: {body:02x?}");
    stream
}

/// How a connection ended for the client.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// End of stream.
    Closed,
    /// Reset by the broker.
    Reset,
}

/// Reads everything the broker sends until it ends the connection; panics if a
/// read waits [`TEST_TIMEOUT`] or the whole takes longer than [`RUN_TIMEOUT`].
fn read_until_closed(stream: &mut TcpStream) -> (Vec<u8>, End) {
    let deadline = Instant::now() + RUN_TIMEOUT;
    let mut bytes = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        assert!(
            Instant::now() < deadline,
            "the broker still sent after {RUN_TIMEOUT:?} ({} bytes)",
            bytes.len()
        );
        match stream.read(&mut chunk) {
            Ok(0) => return (bytes, End::Closed),
            Ok(count) => bytes.extend_from_slice(&chunk[..count]),
            Err(error) if error.kind() == io::ErrorKind::ConnectionReset => {
                return (bytes, End::Reset)
            }
            Err(error) => panic!(
                "the connection was neither closed nor reset after {} bytes: {error}",
                bytes.len()
            ),
        }
    }
}

/// Healthy subscribers beside the stuck one.
const HEALTHY_SUBSCRIBERS: usize = 3;

/// Publishers of the stuck-subscriber bursts.
const STUCK_PUBLISHERS: usize = 5;

/// The configuration of the stuck-subscriber bursts: a budget the burst passes
/// many times over, a short stall timeout.
fn stuck_config(slow_subscriber_action: SlowSubscriberAction) -> Config {
    Config {
        delivery_budget_bytes: 256 * 1024,
        slow_subscriber_timeout_ms: 1_000,
        slow_subscriber_action,
        max_queued_messages: 100,
        ..Config::default()
    }
}

/// Runs a burst of [`STUCK_PUBLISHERS`] rumqttc publishers, each sending
/// `messages_per_publisher` messages of `payload_bytes`, to
/// [`HEALTHY_SUBSCRIBERS`] rumqttc subscribers speaking `healthy` that read as
/// fast as they can, beside a subscriber the caller connected that reads
/// nothing. Returns the counters at the end, and how much the resident memory
/// grew over the burst, KiB.
fn run_beside_stuck(
    name: &str,
    broker: &BrokerHandle,
    healthy: Version,
    messages_per_publisher: u32,
    payload_bytes: usize,
) -> (StatsSnapshot, i64) {
    let subscribers = (0..HEALTHY_SUBSCRIBERS)
        .map(|index| SubscriberSpec {
            version: healthy,
            client_id: client_id_on(index % SHARDS, &format!("{name}-healthy-{index}")),
            qos: Qos::AtLeastOnce,
            pace: None,
            receive_buffer: None,
            receive_maximum: None,
        })
        .collect();
    let publishers = (0..STUCK_PUBLISHERS)
        .map(|index| PublisherSpec {
            version: Version::alternating(index),
            client_id: client_id_on(index % SHARDS, &format!("{name}-pub-{index}")),
            index: index as u32,
            count: messages_per_publisher,
            qos: Qos::AtLeastOnce,
            payload_bytes,
        })
        .collect();
    let growth_kib = drive(name, broker, subscribers, publishers);
    (broker.stats(), growth_kib)
}

/// Messages each publisher sends in the memory-bound test: 10,000 messages of
/// [`STUCK_DROP_PAYLOAD_BYTES`], 160 MiB, more than the bound, so that a
/// broker keeping what the stuck subscriber does not read would pass it.
const STUCK_DROP_MESSAGES_PER_PUBLISHER: u32 = 2_000;
const STUCK_DROP_PAYLOAD_BYTES: usize = 16 * 1024;

/// Outbound QoS 1 messages in flight per subscriber in the memory-bound test:
/// the window holds its messages outside the delivery budget, so it is kept
/// small for the bound to be tight.
const STUCK_DROP_INFLIGHT: u16 = 64;

#[test]
fn a_stuck_subscriber_beside_healthy_ones_loses_its_excess_and_holds_up_nobody() {
    let _serial = serial();
    let started = Instant::now();
    let config = Config {
        outbound_inflight_maximum: STUCK_DROP_INFLIGHT,
        ..stuck_config(SlowSubscriberAction::Drop)
    };
    let payload = STUCK_DROP_PAYLOAD_BYTES;
    let total_bytes = STUCK_PUBLISHERS * STUCK_DROP_MESSAGES_PER_PUBLISHER as usize * payload;
    // What the process may rightly hold at the end: both shards' budgets, the
    // stuck subscriber's bounded queue, every subscriber's in-flight window,
    // and 128 MiB for the rest: allocator arenas and fragmentation, the
    // rumqttc clients in this process (each publisher keeps its
    // unacknowledged messages), tests of other modules running meanwhile.
    // Growth measured over passing runs: 12 to 57 MiB; with no budget and no
    // stall timeout, so that the stuck subscriber's queue keeps everything:
    // about 300 MiB.
    let bound_bytes = SHARDS * config.delivery_budget_bytes
        + config.max_queued_messages * payload
        + (HEALTHY_SUBSCRIBERS + 1) * usize::from(STUCK_DROP_INFLIGHT) * payload
        + 128 * 1024 * 1024;
    // Even a broker that kept each message only once would pass the bound.
    assert!(bound_bytes < total_bytes);
    let broker = start_broker_with(config);
    let stuck = stuck_subscriber(
        broker.local_addr(),
        &STUCK_CONNECT_V311,
        &STUCK_SUBSCRIBE_V311,
    );
    let (stats, growth_kib) = run_beside_stuck(
        "stuck-drop",
        &broker,
        Version::V311,
        STUCK_DROP_MESSAGES_PER_PUBLISHER,
        payload,
    );
    eprintln!(
        "stuck-drop: {:?}, resident memory grew {growth_kib} KiB (bound {} KiB), {stats:?}",
        started.elapsed(),
        bound_bytes / 1024
    );
    assert!(stats.stalled_subscribers >= 1, "{stats:?}");
    assert_eq!(stats.stalled_subscribers_disconnected, 0, "{stats:?}");
    // What the stuck subscriber's bounded queue could not take.
    assert!(stats.session_drops.dropped_queue_full > 0, "{stats:?}");
    assert!(
        growth_kib < (bound_bytes / 1024) as i64,
        "resident memory grew {growth_kib} KiB over the burst, past {} KiB",
        bound_bytes / 1024
    );
    drop(stuck);
    broker.shutdown();
}

#[test]
fn a_stuck_v5_subscriber_beside_healthy_ones_is_disconnected_when_the_action_says_so() {
    let _serial = serial();
    let started = Instant::now();
    let broker = start_broker_with(stuck_config(SlowSubscriberAction::Disconnect));
    let mut stuck = stuck_subscriber(broker.local_addr(), &STUCK_CONNECT_V5, &STUCK_SUBSCRIBE_V5);
    // 5,000 messages of 1 KiB: the budget twenty times over.
    let (stats, _) = run_beside_stuck("stuck-disconnect", &broker, Version::V5, 1_000, 1024);
    assert!(stats.stalled_subscribers >= 1, "{stats:?}");
    assert!(stats.stalled_subscribers_disconnected >= 1, "{stats:?}");
    // Now it reads: whatever reached its socket, then the end of the
    // connection, with DISCONNECT 0x97 last if the broker could still write
    // it before giving up on the socket.
    let (bytes, end) = read_until_closed(&mut stuck);
    let (packets, partial) = split_packets(&bytes);
    eprintln!(
        "stuck-disconnect: {:?}; the stuck subscriber read {} bytes, {} packets, {partial} \
         bytes of a partial packet, the last {:02x?}, then {end:?}; {stats:?}",
        started.elapsed(),
        bytes.len(),
        packets.len(),
        packets
            .last()
            .map(|(first, body)| (first, &body[..body.len().min(4)])),
    );
    if let Some(position) = packets.iter().position(|(first, _)| *first == DISCONNECT) {
        assert_eq!(position, packets.len() - 1, "DISCONNECT is the last packet");
        assert_eq!(partial, 0, "nothing follows the DISCONNECT");
        assert_eq!(packets[position].1.first(), Some(&QUOTA_EXCEEDED));
    }
    broker.shutdown();
}
