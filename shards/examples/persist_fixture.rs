//! Writes a data directory for start-up measurements: `--sessions` offline
//! persistent sessions (one QoS 1 subscription each, `fixture/{index}`, and
//! `--queued` QoS 1 messages queued for each) and `--retained` retained
//! messages, laid out for `--shards` shards exactly as a broker would leave it.
//!
//! Session `fixture-{index}` queues messages on its own topic `fixture/{index}`,
//! payload `--payload-size` bytes: the sequence number `0..queued` as 4 bytes
//! big-endian, then filler, so a client that resumes can check it got each once.
//!
//! ```text
//! cargo run --release -p shardmq-shards --example persist_fixture -- \
//!     --dir /tmp/fixture --sessions 100000 --queued 10 --retained 0
//! shardmq --data-dir /tmp/fixture --shards 2
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use shardmq::persist::schema::{
    MessagePropertiesRecord, MessageRecord, ProtocolVersionRecord, QosRecord, SubscriptionRecord,
};
use shardmq::persist::{JournalRecord, Replay, TargetRecord};
use shardmq::protocol::{QoS, SubscriptionOptions};
use shardmq::session::QueueBounds;
use shardmq_shards::persist::{wall_clock_ms, write_data_dir};

/// Session expiry of the generated sessions: a day.
const SESSION_EXPIRY_INTERVAL_S: u32 = 86_400;

#[derive(Debug, Parser)]
struct Args {
    /// Data directory to write (created; must not be in use).
    #[arg(long)]
    dir: PathBuf,
    /// Persistent sessions.
    #[arg(long, default_value_t = 0)]
    sessions: usize,
    /// Retained messages.
    #[arg(long, default_value_t = 0)]
    retained: usize,
    /// QoS 1 messages queued for each session.
    #[arg(long, default_value_t = 0)]
    queued: u32,
    /// Payload size of each retained and each queued message, bytes (at least 4).
    #[arg(long, default_value_t = 64)]
    payload_size: usize,
    /// Shard count the directory is laid out for.
    #[arg(long, default_value_t = 2)]
    shards: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let started = Instant::now();
    let expires_at_wall_ms = wall_clock_ms() + u64::from(SESSION_EXPIRY_INTERVAL_S) * 1000;
    let mut replay = Replay::new(QueueBounds::default());
    for index in 0..args.sessions {
        let client_id = format!("fixture-{index}");
        replay.apply(JournalRecord::SessionConnected {
            client_id: client_id.clone(),
            session_present: false,
            protocol_version: ProtocolVersionRecord::V5,
            session_expiry_interval_s: SESSION_EXPIRY_INTERVAL_S,
            will: None,
        });
        let options = SubscriptionOptions {
            qos: QoS::AtLeastOnce,
            ..SubscriptionOptions::default()
        };
        replay.apply(JournalRecord::SubscriptionAdded {
            client_id: client_id.clone(),
            subscription: SubscriptionRecord::new(&format!("fixture/{index}"), options, None),
        });
        replay.apply(JournalRecord::SessionDisconnected {
            client_id: client_id.clone(),
            session_expiry_interval_s: SESSION_EXPIRY_INTERVAL_S,
            expires_at_wall_ms: Some(expires_at_wall_ms),
            will_due: None,
        });
        for sequence in 0..args.queued {
            replay.apply(queued_message(
                &client_id,
                index,
                sequence,
                args.payload_size,
            ));
        }
    }
    let (sessions, _) = replay.into_parts();
    let retained = (0..args.retained)
        .map(|index| MessageRecord {
            topic_name: format!("fixture/retained/{index}"),
            payload: vec![b'r'; args.payload_size],
            qos: QosRecord::AtLeastOnce,
            retain: true,
            properties: MessagePropertiesRecord::default(),
            expires_at_wall_ms: None,
            publisher: "fixture".to_owned(),
        })
        .collect();
    if let Err(error) = write_data_dir(&args.dir, args.shards, sessions, retained) {
        eprintln!("persist_fixture: {error}");
        return ExitCode::from(2);
    }
    println!(
        "wrote {} sessions ({} messages queued each) and {} retained messages for {} shards \
         into {} in {} ms",
        args.sessions,
        args.queued,
        args.retained,
        args.shards,
        args.dir.display(),
        started.elapsed().as_millis()
    );
    ExitCode::SUCCESS
}

/// Message `sequence` queued for session `client_id` (the `index`-th) on its topic.
fn queued_message(
    client_id: &str,
    index: usize,
    sequence: u32,
    payload_size: usize,
) -> JournalRecord {
    let mut payload = sequence.to_be_bytes().to_vec();
    payload.resize(payload_size.max(payload.len()), b'q');
    JournalRecord::MessageAccepted {
        inbound_qos2: None,
        message: MessageRecord {
            topic_name: format!("fixture/{index}"),
            payload,
            qos: QosRecord::AtLeastOnce,
            retain: false,
            properties: MessagePropertiesRecord::default(),
            expires_at_wall_ms: None,
            publisher: "fixture".to_owned(),
        },
        targets: vec![TargetRecord {
            client_id: client_id.to_owned(),
            qos: QosRecord::AtLeastOnce,
            retain: false,
            subscription_identifiers: Vec::new(),
        }],
    }
}
