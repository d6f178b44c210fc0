//! Resumes sessions a `persist_fixture --queued N` directory holds and drains their
//! queues: `--clients` of the sessions `fixture-{first}..` reconnect (MQTT 5.0,
//! Clean Start 0), acknowledge every QoS 1 PUBLISH and check that each got the
//! messages `0..queued` once each, in order. Exits 1 when one did not.
//!
//! ```text
//! cargo run --release -p shardmq-shards --example resume_drain -- \
//!     --port 1883 --clients 300 --queued 10
//! ```

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use bytestring::ByteString;
use clap::Parser;
use shardmq::protocol::{
    decode, encode, Connect, ConnectProperties, Disconnect, Packet, ProtocolVersion,
    PublishResponse, ReasonCode,
};

/// How long one read may wait before the client gives up.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest packet accepted from the broker, bytes.
const MAXIMUM_PACKET_SIZE: u32 = 1 << 20;

#[derive(Debug, Parser)]
struct Args {
    /// Broker port on 127.0.0.1.
    #[arg(long, default_value_t = 1883)]
    port: u16,
    /// Sessions to resume.
    #[arg(long, default_value_t = 300)]
    clients: usize,
    /// Index of the first session to resume (`fixture-{first}`).
    #[arg(long, default_value_t = 0)]
    first: usize,
    /// Messages each session holds.
    #[arg(long, default_value_t = 10)]
    queued: u32,
    /// Clients resumed at once, each on its own thread.
    #[arg(long, default_value_t = 16)]
    threads: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let started = Instant::now();
    let threads = args.threads.clamp(1, args.clients.max(1));
    let failures: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|worker| {
                let args = &args;
                scope.spawn(move || {
                    (worker..args.clients)
                        .step_by(threads)
                        .filter_map(|offset| {
                            let client_id = format!("fixture-{}", args.first + offset);
                            resume_and_drain(args.port, &client_id, args.queued)
                                .err()
                                .map(|problem| format!("{client_id}: {problem}"))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| worker.join().unwrap_or_default())
            .collect()
    });
    for failure in &failures {
        eprintln!("resume_drain: {failure}");
    }
    println!(
        "{} sessions resumed, {} drained {} messages each correctly, in {} ms",
        args.clients,
        args.clients - failures.len(),
        args.queued,
        started.elapsed().as_millis()
    );
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// One session resumed, its queue received and acknowledged, then a clean
/// DISCONNECT (the session stays).
fn resume_and_drain(port: u16, client_id: &str, queued: u32) -> Result<(), String> {
    let mut connection = Connection::open(port).map_err(|error| error.to_string())?;
    connection.send(&Packet::Connect(Box::new(Connect {
        protocol_version: ProtocolVersion::V5,
        clean_start: false,
        keep_alive_s: 0,
        client_id: ByteString::from(client_id),
        will: None,
        username: None,
        password: None,
        properties: ConnectProperties {
            session_expiry_interval_s: Some(86_400),
            ..ConnectProperties::default()
        },
    })))?;
    match connection.recv()? {
        Packet::ConnAck(connack) if connack.session_present => {}
        other => return Err(format!("expected CONNACK with a session, got {other:?}")),
    }
    for expected in 0..queued {
        let publish = match connection.recv()? {
            Packet::Publish(publish) => publish,
            other => return Err(format!("expected PUBLISH {expected}, got {other:?}")),
        };
        let sequence = publish
            .payload
            .get(..4)
            .map(|bytes| u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]));
        if sequence != Some(expected) {
            return Err(format!("expected message {expected}, got {sequence:?}"));
        }
        let Some(packet_id) = publish.packet_id else {
            return Err(format!("message {expected} came at QoS 0"));
        };
        connection.send(&Packet::PubAck(PublishResponse::success(packet_id)))?;
    }
    connection.send(&Packet::Disconnect(Disconnect {
        reason_code: ReasonCode::Success,
        properties: Default::default(),
    }))
}

/// A blocking MQTT 5.0 connection on the shardmq codec.
struct Connection {
    stream: TcpStream,
    buffer: BytesMut,
}

impl Connection {
    fn open(port: u16) -> std::io::Result<Connection> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(READ_TIMEOUT))?;
        stream.set_nodelay(true)?;
        Ok(Connection {
            stream,
            buffer: BytesMut::new(),
        })
    }

    fn send(&mut self, packet: &Packet) -> Result<(), String> {
        let mut bytes = BytesMut::new();
        encode(packet, ProtocolVersion::V5, &mut bytes).map_err(|error| error.to_string())?;
        self.stream
            .write_all(&bytes)
            .map_err(|error| error.to_string())
    }

    fn recv(&mut self) -> Result<Packet, String> {
        loop {
            let decoded = decode(&mut self.buffer, ProtocolVersion::V5, MAXIMUM_PACKET_SIZE)
                .map_err(|error| error.to_string())?;
            if let Some(packet) = decoded {
                return Ok(packet);
            }
            let mut chunk = [0u8; 16 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err("connection closed".to_owned()),
                Ok(count) => self.buffer.extend_from_slice(&chunk[..count]),
                Err(error) => return Err(error.to_string()),
            }
        }
    }
}
