//! The `shardmq` binary on a data directory: a SIGKILL under QoS 1 load, after a
//! periodic snapshot, loses no acknowledged message with `fsync = "always"`, and damaged files give the
//! documented outcome (a warning and the records before the damage, or exit
//! code 2 naming the file; `--recover` moves it aside). Every wait is bounded
//! by [`TEST_TIMEOUT`].

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use bytestring::ByteString;
use shardmq::persist::schema::ProtocolVersionRecord;
use shardmq::persist::{JournalRecord, JournalWriter, Replay, SNAPSHOT_HEADER_LEN};
use shardmq::protocol::{
    decode, encode, Connect, ConnectProperties, Packet, ProtocolVersion, Publish, PublishResponse,
    QoS, Subscribe, SubscribeProperties, SubscriptionOptions,
};
use shardmq::session::QueueBounds;
use shardmq_shards::home_shard;
use shardmq_shards::persist::write_data_dir;

const TEST_TIMEOUT: Duration = Duration::from_secs(20);

/// A `shardmq` child on a free port; its log lines arrive on `lines`.
struct BrokerProcess {
    child: Child,
    port: u16,
    lines: mpsc::Receiver<String>,
}

impl BrokerProcess {
    /// Starts the binary with `args` and waits until it serves.
    fn serving(args: &[&str]) -> BrokerProcess {
        let broker = BrokerProcess::spawn(args);
        broker.wait_for_line("listening for MQTT");
        broker
    }

    fn spawn(args: &[&str]) -> BrokerProcess {
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
        let mut child = Command::new(env!("CARGO_BIN_EXE_shardmq"))
            .env_remove("RUST_LOG")
            .args([
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--log-level",
                "info",
            ])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let (sender, lines) = mpsc::channel();
        for output in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let sender = sender.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(output).lines().map_while(Result::ok) {
                    if sender.send(line).is_err() {
                        return;
                    }
                }
            });
        }
        BrokerProcess { child, port, lines }
    }

    /// The first log line containing `needle`; panics on timeout.
    fn wait_for_line(&self, needle: &str) -> String {
        let mut seen = Vec::new();
        loop {
            let line = self.lines.recv_timeout(TEST_TIMEOUT).unwrap_or_else(|_| {
                panic!(
                    "no log line with {needle:?} in time; seen:\n{}",
                    seen.join("\n")
                )
            });
            if line.contains(needle) {
                return line;
            }
            seen.push(line);
        }
    }

    /// SIGKILL, and wait for the process to be gone.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, and the exit code.
    fn stop(mut self) -> Option<i32> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        wait_exit(&mut self.child)
    }
}

fn wait_exit(child: &mut Child) -> Option<i32> {
    for _ in 0..(TEST_TIMEOUT.as_millis() / 10) {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("the broker did not exit in time");
}

/// Runs the binary to completion: its exit code and everything it logged.
fn run_to_exit(args: &[&str]) -> (Option<i32>, String) {
    let mut broker = BrokerProcess::spawn(args);
    let code = wait_exit(&mut broker.child);
    let mut log = String::new();
    while let Ok(line) = broker.lines.recv_timeout(Duration::from_secs(1)) {
        log.push_str(&line);
        log.push('\n');
    }
    (code, log)
}

/// A blocking MQTT 5.0 client on the shardmq codec.
struct Client {
    stream: TcpStream,
    buffer: BytesMut,
}

impl Client {
    /// Connects with a session that outlives the connection by an hour; returns
    /// the client and `session_present`.
    fn persistent(port: u16, client_id: &str, clean_start: bool) -> (Client, bool) {
        Client::connect(port, client_id, clean_start, 3600)
    }

    /// Connects with a session that outlives the connection by
    /// `session_expiry_interval_s`; returns the client and `session_present`.
    fn connect(
        port: u16,
        client_id: &str,
        clean_start: bool,
        session_expiry_interval_s: u32,
    ) -> (Client, bool) {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(TEST_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        let mut client = Client {
            stream,
            buffer: BytesMut::new(),
        };
        client.send(&Packet::Connect(Box::new(Connect {
            protocol_version: ProtocolVersion::V5,
            clean_start,
            keep_alive_s: 0,
            client_id: ByteString::from(client_id),
            will: None,
            username: None,
            password: None,
            properties: ConnectProperties {
                session_expiry_interval_s: Some(session_expiry_interval_s),
                ..ConnectProperties::default()
            },
        })));
        match client.recv() {
            Some(Packet::ConnAck(connack)) => {
                assert!(!connack.reason_code.is_error(), "{connack:?}");
                (client, connack.session_present)
            }
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    fn send(&mut self, packet: &Packet) {
        let mut bytes = BytesMut::new();
        encode(packet, ProtocolVersion::V5, &mut bytes).unwrap();
        self.stream.write_all(&bytes).unwrap();
    }

    /// The next packet; `None` once the connection is closed or reset.
    fn recv(&mut self) -> Option<Packet> {
        loop {
            if let Some(packet) = decode(&mut self.buffer, ProtocolVersion::V5, 1 << 20).unwrap() {
                return Some(packet);
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

    fn subscribe(&mut self, topic_filter: &str) {
        self.send(&Packet::Subscribe(Subscribe {
            packet_id: 1,
            properties: SubscribeProperties::default(),
            filters: vec![(
                ByteString::from(topic_filter),
                SubscriptionOptions {
                    qos: QoS::AtLeastOnce,
                    ..SubscriptionOptions::default()
                },
            )],
        }));
        assert!(matches!(self.recv(), Some(Packet::SubAck(_))));
    }

    fn disconnect(mut self) {
        self.send(&Packet::Disconnect(shardmq::protocol::Disconnect {
            reason_code: shardmq::protocol::ReasonCode::Success,
            properties: Default::default(),
        }));
        while self.recv().is_some() {}
    }
}

/// A client id with prefix `prefix` whose home among 2 shards is `shard`.
fn client_id_on(shard: usize, prefix: &str) -> String {
    (0..10_000)
        .map(|index| format!("{prefix}-{index}"))
        .find(|client_id| home_shard(client_id, 2) == shard)
        .unwrap()
}

/// Acknowledged messages after which the broker is killed.
const MIDWAY_ACKS: usize = 2_000;

fn publish(sequence: u32) -> Packet {
    Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: false,
        topic_name: ByteString::from("load/seq"),
        packet_id: Some((sequence % 60_000 + 1) as u16),
        properties: None,
        payload: Bytes::from(sequence.to_be_bytes().to_vec()),
    })
}

/// Publishes QoS 1 messages, a window at a time, recording which sequence
/// numbers got their PUBACK, until the connection dies.
/// `midway` hears once `MIDWAY_ACKS` were acknowledged.
fn publish_until_killed(
    port: u16,
    client_id: String,
    acked: Arc<Mutex<BTreeSet<u32>>>,
    midway: mpsc::Sender<()>,
) {
    const WINDOW: u32 = 16;
    let (mut client, _) = Client::persistent(port, &client_id, true);
    let mut next = 0;
    loop {
        for sequence in next..next + WINDOW {
            let mut bytes = BytesMut::new();
            encode(&publish(sequence), ProtocolVersion::V5, &mut bytes).unwrap();
            if client.stream.write_all(&bytes).is_err() {
                return;
            }
        }
        for _ in 0..WINDOW {
            match client.recv() {
                Some(Packet::PubAck(response)) => {
                    let sequence = next + u32::from(response.packet_id - 1) % WINDOW;
                    let mut acked = acked.lock().unwrap();
                    acked.insert(sequence);
                    if acked.len() == MIDWAY_ACKS {
                        let _ = midway.send(());
                    }
                }
                _ => return,
            }
        }
        next += WINDOW;
    }
}

#[test]
fn sigkill_under_qos1_load_after_a_snapshot_loses_no_acknowledged_message_on_restart_with_3_shards()
{
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("shardmq.toml");
    std::fs::write(
        &config,
        "max_queued_messages = 1000000\n[persistence]\nfsync = \"always\"\nsnapshot_interval_s = 1\n",
    )
    .unwrap();
    let data_dir = dir.path().join("data");
    let args = [
        "--config",
        config.to_str().unwrap(),
        "--data-dir",
        data_dir.to_str().unwrap(),
        "--shards",
        "2",
    ];
    let subscriber_id = client_id_on(1, "crash-subscriber");
    let broker = BrokerProcess::serving(&args);
    let (mut subscriber, _) = Client::persistent(broker.port, &subscriber_id, true);
    subscriber.subscribe("load/#");
    subscriber.disconnect();

    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let (midway_sender, midway) = mpsc::channel();
    let publisher = {
        let (port, acked) = (broker.port, Arc::clone(&acked));
        let publisher_id = client_id_on(0, "crash-publisher");
        std::thread::spawn(move || publish_until_killed(port, publisher_id, acked, midway_sender))
    };
    midway
        .recv_timeout(TEST_TIMEOUT)
        .expect("the load got under way");
    // A periodic snapshot under load: the journal switches files mid-stream.
    broker.wait_for_line("snapshot written");
    broker.kill();
    publisher.join().unwrap();
    let acked = acked.lock().unwrap().clone();

    // Restarted with another shard count: the journals are replayed and the
    // sessions moved to their new home shards.
    let mut restart_args = args;
    restart_args[5] = "3";
    let broker = BrokerProcess::serving(&restart_args);
    let (mut subscriber, present) = Client::persistent(broker.port, &subscriber_id, false);
    assert!(present, "the subscriber's session was lost");
    let mut received = BTreeSet::new();
    while !acked.is_subset(&received) {
        match subscriber.recv() {
            Some(Packet::Publish(publish)) => {
                let payload: [u8; 4] = publish.payload[..].try_into().unwrap();
                received.insert(u32::from_be_bytes(payload));
                let packet_id = publish.packet_id.unwrap();
                subscriber.send(&Packet::PubAck(PublishResponse::success(packet_id)));
            }
            other => panic!(
                "expected PUBLISH, got {other:?}; {} acknowledged messages missing",
                acked.difference(&received).count()
            ),
        }
    }
    assert_eq!(broker.stop(), Some(0));
}

/// A data directory for one shard holding sessions `keeper` and `dropped`: both
/// in the journal when `in_journal`, else in the snapshot.
fn prepared_dir(in_journal: bool) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let connected = |client_id: &str| JournalRecord::SessionConnected {
        client_id: client_id.to_owned(),
        session_present: false,
        protocol_version: ProtocolVersionRecord::V5,
        session_expiry_interval_s: 3600,
        will: None,
    };
    let mut sessions = Vec::new();
    if !in_journal {
        let mut replay = Replay::new(QueueBounds::default());
        replay.apply(connected("keeper"));
        replay.apply(connected("dropped"));
        sessions = replay.into_parts().0;
    }
    write_data_dir(dir.path(), 1, sessions, Vec::new()).unwrap();
    let gen_dir = dir.path().join("gen-1");
    if in_journal {
        let mut bytes = Vec::new();
        let mut writer = JournalWriter::new();
        writer.append(&connected("keeper"), &mut bytes).unwrap();
        writer.append(&connected("dropped"), &mut bytes).unwrap();
        std::fs::write(gen_dir.join("shard-0-0.journal"), bytes).unwrap();
    }
    (dir, gen_dir)
}

/// Starts on `dir`, checks which of the prepared sessions exist, stops.
fn sessions_present(broker: BrokerProcess) -> (bool, bool) {
    let (keeper, keeper_present) = Client::persistent(broker.port, "keeper", false);
    let (dropped, dropped_present) = Client::persistent(broker.port, "dropped", false);
    keeper.disconnect();
    dropped.disconnect();
    assert_eq!(broker.stop(), Some(0));
    (keeper_present, dropped_present)
}

fn edit(path: &Path, change: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = std::fs::read(path).unwrap();
    change(&mut bytes);
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn truncated_journal_keeps_the_records_before_the_cut_and_warns() {
    let (dir, gen_dir) = prepared_dir(true);
    let journal = gen_dir.join("shard-0-0.journal");
    edit(&journal, |bytes| bytes.truncate(bytes.len() - 3));
    let broker =
        BrokerProcess::spawn(&["--data-dir", dir.path().to_str().unwrap(), "--shards", "1"]);
    let warning = broker.wait_for_line("journal damaged");
    assert!(warning.contains("shard-0-0.journal"), "{warning}");
    assert!(warning.contains("incomplete record"), "{warning}");
    broker.wait_for_line("listening for MQTT");
    assert_eq!(sessions_present(broker), (true, false));
}

#[test]
fn flipped_byte_in_a_journal_record_keeps_the_records_before_it_and_warns() {
    let (dir, gen_dir) = prepared_dir(true);
    let journal = gen_dir.join("shard-0-0.journal");
    edit(&journal, |bytes| {
        let last = bytes.len() - 5;
        bytes[last] ^= 0x40;
    });
    let broker =
        BrokerProcess::spawn(&["--data-dir", dir.path().to_str().unwrap(), "--shards", "1"]);
    let warning = broker.wait_for_line("journal damaged");
    assert!(warning.contains("checksum mismatch"), "{warning}");
    broker.wait_for_line("listening for MQTT");
    assert_eq!(sessions_present(broker), (true, false));
}

#[test]
fn flipped_byte_in_a_snapshot_exits_with_2_unless_recover_moves_it_aside() {
    let (dir, gen_dir) = prepared_dir(false);
    let snapshot = gen_dir.join("shard-0-0.sessions");
    edit(&snapshot, |bytes| bytes[SNAPSHOT_HEADER_LEN + 8] ^= 0x01);
    let data_dir = dir.path().to_str().unwrap();
    let (code, log) = run_to_exit(&["--data-dir", data_dir, "--shards", "1"]);
    assert_eq!(code, Some(2), "{log}");
    assert!(log.contains("shard-0-0.sessions"), "{log}");
    assert!(log.contains("checksum mismatch"), "{log}");

    let broker = BrokerProcess::spawn(&["--data-dir", data_dir, "--shards", "1", "--recover"]);
    let warning = broker.wait_for_line("damaged snapshot moved aside");
    assert!(warning.contains("shard-0-0.sessions"), "{warning}");
    broker.wait_for_line("listening for MQTT");
    let moved: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("gen-1-shard-0-0.sessions.damaged-"))
        .collect();
    assert_eq!(moved.len(), 1, "the damaged snapshot is kept aside");
    assert_eq!(sessions_present(broker), (false, false));
}

#[test]
fn snapshot_of_a_newer_format_exits_with_2_and_says_so() {
    let (dir, gen_dir) = prepared_dir(false);
    edit(&gen_dir.join("shard-0-0.retained"), |bytes| {
        bytes[8..12].copy_from_slice(&99u32.to_le_bytes())
    });
    let (code, log) = run_to_exit(&["--data-dir", dir.path().to_str().unwrap(), "--shards", "1"]);
    assert_eq!(code, Some(2), "{log}");
    assert!(log.contains("shard-0-0.retained"), "{log}");
    assert!(log.contains("newer shardmq: format 99"), "{log}");
}

#[test]
fn current_naming_a_missing_generation_exits_with_2() {
    let (dir, gen_dir) = prepared_dir(false);
    std::fs::remove_dir_all(gen_dir).unwrap();
    let (code, log) = run_to_exit(&["--data-dir", dir.path().to_str().unwrap(), "--shards", "1"]);
    assert_eq!(code, Some(2), "{log}");
    assert!(log.contains("CURRENT names generation 1"), "{log}");
}

#[test]
fn missing_current_beside_generations_exits_with_2_unless_recover_moves_them_aside() {
    let (dir, _) = prepared_dir(false);
    std::fs::remove_file(dir.path().join("CURRENT")).unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let (code, log) = run_to_exit(&["--data-dir", data_dir, "--shards", "1"]);
    assert_eq!(code, Some(2), "{log}");
    assert!(log.contains("no CURRENT file"), "{log}");

    let broker = BrokerProcess::serving(&["--data-dir", data_dir, "--shards", "1", "--recover"]);
    let kept_aside = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .any(|name| name.starts_with("gen-1.damaged-"));
    assert!(kept_aside, "the unreferenced generation is kept aside");
    assert_eq!(sessions_present(broker), (false, false));
}

#[test]
fn retained_message_in_flight_at_a_sigkill_is_sent_again_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let args = ["--data-dir", data_dir, "--shards", "2"];
    let broker = BrokerProcess::serving(&args);
    let (mut publisher, _) = Client::persistent(broker.port, "retained-publisher", true);
    publisher.send(&Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: true,
        topic_name: ByteString::from("cfg/a"),
        packet_id: Some(1),
        properties: None,
        payload: Bytes::from_static(b"setting"),
    }));
    assert!(matches!(publisher.recv(), Some(Packet::PubAck(_))));
    let (mut subscriber, _) = Client::persistent(broker.port, "retained-reader", true);
    // The SUBACK comes once the subscription and the retained delivery are on disk.
    subscriber.subscribe("cfg/#");
    match subscriber.recv() {
        Some(Packet::Publish(publish)) => assert_eq!(&publish.payload[..], b"setting"),
        other => panic!("expected the retained PUBLISH, got {other:?}"),
    }
    broker.kill();

    let broker = BrokerProcess::serving(&args);
    let (mut subscriber, present) = Client::persistent(broker.port, "retained-reader", false);
    assert!(present);
    match subscriber.recv() {
        Some(Packet::Publish(publish)) => {
            assert_eq!(&publish.payload[..], b"setting");
            assert!(publish.retain);
        }
        other => panic!("expected the unacknowledged retained PUBLISH again, got {other:?}"),
    }
    assert_eq!(broker.stop(), Some(0));
}

#[test]
fn inbound_qos2_flow_open_at_a_sigkill_completes_once_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let args = ["--data-dir", data_dir, "--shards", "2"];
    let qos2_publish = |dup: bool| {
        Packet::Publish(Publish {
            dup,
            qos: QoS::ExactlyOnce,
            retain: false,
            topic_name: ByteString::from("q2/x"),
            packet_id: Some(9),
            properties: None,
            payload: Bytes::from_static(b"once"),
        })
    };
    let broker = BrokerProcess::serving(&args);
    let subscriber_id = client_id_on(1, "q2-subscriber");
    let publisher_id = client_id_on(0, "q2-publisher");
    let (mut subscriber, _) = Client::persistent(broker.port, &subscriber_id, true);
    subscriber.subscribe("q2/#");
    subscriber.disconnect();
    let (mut publisher, _) = Client::persistent(broker.port, &publisher_id, true);
    publisher.send(&qos2_publish(false));
    assert!(matches!(publisher.recv(), Some(Packet::PubRec(r)) if r.packet_id == 9));
    broker.kill();

    let broker = BrokerProcess::serving(&args);
    let (mut publisher, present) = Client::persistent(broker.port, &publisher_id, false);
    assert!(present);
    publisher.send(&qos2_publish(true));
    assert!(matches!(publisher.recv(), Some(Packet::PubRec(r)) if r.packet_id == 9));
    publisher.send(&Packet::PubRel(PublishResponse::success(9)));
    match publisher.recv() {
        Some(Packet::PubComp(response)) => {
            assert_eq!(response.packet_id, 9);
            assert!(!response.reason_code.is_error(), "{response:?}");
        }
        other => panic!("expected PUBCOMP, got {other:?}"),
    }
    let (mut subscriber, present) = Client::persistent(broker.port, &subscriber_id, false);
    assert!(present);
    match subscriber.recv() {
        Some(Packet::Publish(publish)) => {
            assert_eq!(&publish.payload[..], b"once");
            subscriber.send(&Packet::PubAck(PublishResponse::success(
                publish.packet_id.unwrap(),
            )));
        }
        other => panic!("expected the message, got {other:?}"),
    }
    subscriber.send(&Packet::PingReq);
    assert_eq!(subscriber.recv(), Some(Packet::PingResp), "delivered once");
    assert_eq!(broker.stop(), Some(0));
}

#[test]
fn failed_journal_write_withholds_the_puback_disconnects_with_0x80_and_exits_with_3() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("shardmq.toml");
    std::fs::write(
        &config,
        "[persistence]\nfsync = \"always\"\nsnapshot_interval_s = 3600\n",
    )
    .unwrap();
    let data_dir = dir.path().join("data");
    let args = [
        "--config",
        config.to_str().unwrap(),
        "--data-dir",
        data_dir.to_str().unwrap(),
        "--shards",
        "1",
    ];
    let mut broker = BrokerProcess::serving(&args);
    // Nothing was journaled yet: the first record opens this file, and every
    // write to it fails with ENOSPC.
    let journal = data_dir.join("gen-1").join("shard-0-0.journal");
    assert!(!journal.exists());
    std::os::unix::fs::symlink("/dev/full", &journal).unwrap();

    // A retained QoS 1 message is journaled even from a clean session, and its
    // PUBACK waits for the journal.
    let (mut publisher, _) = Client::connect(broker.port, "doomed-publisher", true, 0);
    publisher.send(&Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: true,
        topic_name: ByteString::from("status/doomed"),
        packet_id: Some(1),
        properties: None,
        payload: Bytes::from_static(b"never durable"),
    }));
    let mut received = Vec::new();
    while let Some(packet) = publisher.recv() {
        received.push(packet);
    }
    assert!(
        !received
            .iter()
            .any(|packet| matches!(packet, Packet::PubAck(_))),
        "a PUBACK for a message that is not durable: {received:?}"
    );
    assert!(
        matches!(
            received[..],
            [Packet::Disconnect(ref disconnect)]
                if disconnect.reason_code == shardmq::protocol::ReasonCode::UnspecifiedError
        ),
        "expected only DISCONNECT 0x80: {received:?}"
    );

    let failure = broker.wait_for_line("journal write failed");
    assert!(
        failure.contains(&journal.display().to_string()),
        "{failure}"
    );
    assert!(failure.contains("No space left on device"), "{failure}");
    assert_eq!(wait_exit(&mut broker.child), Some(3));
    broker.wait_for_line("shardmq: stopped: journal write failed");
}
