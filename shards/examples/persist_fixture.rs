//! Writes a data directory for start-up measurements: `--sessions` offline
//! persistent sessions (one QoS 1 subscription each) and `--retained` retained
//! messages, laid out for `--shards` shards exactly as a broker would leave it.
//!
//! ```text
//! cargo run --release -p shardmq-shards --example persist_fixture -- \
//!     --dir /tmp/fixture --sessions 100000 --retained 0
//! shardmq --data-dir /tmp/fixture --shards 2
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use shardmq::persist::schema::{
    MessagePropertiesRecord, MessageRecord, ProtocolVersionRecord, QosRecord, SubscriptionRecord,
};
use shardmq::persist::{JournalRecord, Replay};
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
    /// Payload size of each retained message, bytes.
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
            client_id,
            session_expiry_interval_s: SESSION_EXPIRY_INTERVAL_S,
            expires_at_wall_ms: Some(expires_at_wall_ms),
            will_due: None,
        });
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
        "wrote {} sessions and {} retained messages for {} shards into {} in {} ms",
        args.sessions,
        args.retained,
        args.shards,
        args.dir.display(),
        started.elapsed().as_millis()
    );
    ExitCode::SUCCESS
}
