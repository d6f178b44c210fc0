//! The command line, in the spirit of emqtt-bench: one subcommand per
//! scenario, shared options for everything else.

use std::net::{IpAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use shardmq::protocol::{ProtocolVersion, QoS};
use shardmq_loadgen::{
    ClientCertificate, Scenario, ScenarioKind, TlsOptions, TransportOptions, WebSocketOptions,
};

/// A sharded MQTT load generator.
#[derive(Debug, Parser)]
#[command(name = "loadgen", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Open and hold N idle connections; report CONNACK latency and broker memory.
    Conn {
        /// Connections to open.
        #[arg(short = 'c', long, default_value_t = 1000)]
        connections: u32,
        #[command(flatten)]
        common: Common,
    },
    /// Publishers only.
    Pub {
        /// Publishers.
        #[arg(short = 'c', long, default_value_t = 1)]
        publishers: u32,
        #[command(flatten)]
        common: Common,
    },
    /// Subscribers only (messages come from another process; not timed).
    Sub {
        /// Subscribers.
        #[arg(short = 'c', long, default_value_t = 1)]
        subscribers: u32,
        #[command(flatten)]
        common: Common,
    },
    /// N publishers, N subscribers, one topic per pair.
    P2p {
        /// Pairs.
        #[arg(short = 'c', long, default_value_t = 1)]
        pairs: u32,
        #[command(flatten)]
        common: Common,
    },
    /// N publishers, M subscribers on a wildcard or a shared subscription.
    FanIn {
        /// Publishers.
        #[arg(short = 'c', long, default_value_t = 10)]
        publishers: u32,
        /// Subscribers.
        #[arg(short = 'm', long, default_value_t = 1)]
        subscribers: u32,
        /// Subscribe as members of `$share/GROUP/...` instead.
        #[arg(long)]
        shared_group: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// P publishers, N subscribers all on the same topic.
    FanOut {
        /// Publishers.
        #[arg(short = 'p', long, default_value_t = 1)]
        publishers: u32,
        /// Subscribers.
        #[arg(short = 'c', long, default_value_t = 10)]
        subscribers: u32,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Debug, Args)]
struct Common {
    /// Broker host.
    #[arg(short = 'H', long, default_value = "127.0.0.1")]
    host: String,
    /// Broker port.
    #[arg(short = 'P', long, default_value_t = 1883)]
    port: u16,
    /// Connect over TLS (with --ws: WebSocket over TLS).
    #[arg(long)]
    tls: bool,
    /// CA certificates (PEM) the broker's certificate must chain to.
    #[arg(long, requires = "tls")]
    cafile: Option<PathBuf>,
    /// Accept any broker certificate, for brokers with self-signed ones.
    #[arg(long, requires = "tls", conflicts_with = "cafile")]
    insecure: bool,
    /// Client certificate chain (PEM), for brokers that ask for one.
    #[arg(long, requires_all = ["tls", "key"])]
    cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, requires_all = ["tls", "cert"])]
    key: Option<PathBuf>,
    /// The name the broker's certificate must carry (default: --host).
    #[arg(long, requires = "tls")]
    server_name: Option<String>,
    /// MQTT over WebSocket (with --tls: over TLS).
    #[arg(long)]
    ws: bool,
    /// The WebSocket request path.
    #[arg(long, default_value = "/mqtt")]
    ws_path: String,
    /// Executor threads (default: all CPUs).
    #[arg(long)]
    shards: Option<usize>,
    /// CPU of the first shard; the others follow it, among the CPUs loadgen
    /// may use (see `taskset`).
    #[arg(long, default_value_t = 0)]
    first_cpu: usize,
    /// Protocol level: 4 (3.1.1) or 5.
    #[arg(short = 'V', long = "protocol-version", default_value_t = 4)]
    protocol_version: u8,
    /// QoS 0, 1 or 2.
    #[arg(short = 'q', long, default_value_t = 0)]
    qos: u8,
    /// Client id template: %i index, %s shard, %r role.
    #[arg(long)]
    client_id: Option<String>,
    /// Topic name template for publishers.
    #[arg(short = 't', long)]
    topic: Option<String>,
    /// Topic filter template for subscribers.
    #[arg(long)]
    filter: Option<String>,
    /// User Name.
    #[arg(short = 'u', long)]
    username: Option<String>,
    /// Password.
    #[arg(long)]
    password: Option<String>,
    /// Local addresses to connect from, comma separated, used in turn.
    #[arg(long, value_delimiter = ',')]
    bind: Vec<IpAddr>,
    /// New connections per second, over all shards (0: no limit).
    #[arg(long, default_value_t = 0.0)]
    connect_rate: f64,
    /// Keep Alive, seconds (0: off).
    #[arg(short = 'k', long, default_value_t = 60)]
    keep_alive: u16,
    /// Persistent sessions: Clean Start 0, and under 5.0 this Session Expiry
    /// Interval, seconds (0: clean sessions).
    #[arg(long, default_value_t = 0)]
    session_expiry: u32,
    /// Messages per second per publisher (0: flat out).
    #[arg(short = 'r', long, default_value_t = 0.0)]
    rate: f64,
    /// Messages per second over all publishers; overrides --rate.
    #[arg(long, default_value_t = 0.0)]
    total_rate: f64,
    /// Unacknowledged QoS 1/2 messages per connection when flat out.
    #[arg(long, default_value_t = shardmq_loadgen::limits::INFLIGHT_DEFAULT)]
    inflight: u16,
    /// Payload size, bytes (at least 24).
    #[arg(short = 's', long, default_value_t = 64)]
    size: usize,
    /// Seconds of sending excluded from the figures.
    #[arg(long, default_value_t = 0.0)]
    warmup: f64,
    /// Seconds of measured sending (conn: seconds to hold).
    #[arg(short = 'd', long, default_value_t = 10.0)]
    duration: f64,
    /// Messages per publisher, at most (0: no limit).
    #[arg(short = 'n', long, default_value_t = 0)]
    count: u64,
    /// Seconds to wait for deliveries after sending stops.
    #[arg(long, default_value_t = 5.0)]
    drain: f64,
    /// Milliseconds between the last SUBACK and the first publish.
    #[arg(long, default_value_t = 100)]
    settle_ms: u64,
    /// The broker's pid, for its CPU time and memory.
    #[arg(long)]
    broker_pid: Option<u32>,
    /// Write the report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// No progress lines on stderr.
    #[arg(long)]
    quiet: bool,
}

impl Cli {
    /// The scenario and the JSON output path; `Err` names the bad option.
    pub fn into_scenario(self) -> Result<(Scenario, Option<PathBuf>), String> {
        let (kind, publishers, subscribers, common) = match self.command {
            Command::Conn {
                connections,
                common,
            } => (ScenarioKind::Conn { connections }, 0, 0, common),
            Command::Pub { publishers, common } => (ScenarioKind::Pub, publishers, 0, common),
            Command::Sub {
                subscribers,
                common,
            } => (ScenarioKind::Sub, 0, subscribers, common),
            Command::P2p { pairs, common } => (ScenarioKind::PointToPoint, pairs, pairs, common),
            Command::FanIn {
                publishers,
                subscribers,
                shared_group,
                common,
            } => (
                ScenarioKind::FanIn { shared_group },
                publishers,
                subscribers,
                common,
            ),
            Command::FanOut {
                publishers,
                subscribers,
                common,
            } => (ScenarioKind::FanOut, publishers, subscribers, common),
        };
        let broker = (common.host.as_str(), common.port)
            .to_socket_addrs()
            .map_err(|error| format!("cannot resolve --host {}: {error}", common.host))?
            .next()
            .ok_or_else(|| format!("--host {} has no address", common.host))?;
        let mut scenario = Scenario::new(kind, broker);
        scenario.transport = transport(&common)?;
        apply_common(&mut scenario, &common)?;
        scenario.publishers = publishers;
        scenario.subscribers = subscribers;
        scenario.validate().map_err(|error| error.to_string())?;
        Ok((scenario, common.json))
    }
}

fn apply_common(scenario: &mut Scenario, common: &Common) -> Result<(), String> {
    if let Some(shards) = common.shards {
        scenario.shards = shards;
    }
    scenario.first_cpu = common.first_cpu;
    scenario.protocol_version = match common.protocol_version {
        4 => ProtocolVersion::V3_1_1,
        5 => ProtocolVersion::V5,
        other => return Err(format!("--protocol-version {other}: use 4 (3.1.1) or 5")),
    };
    scenario.qos =
        QoS::from_u8(common.qos).ok_or_else(|| format!("--qos {}: use 0, 1 or 2", common.qos))?;
    if let Some(client_id) = &common.client_id {
        scenario.client_id = client_id.clone();
    }
    if let Some(topic) = &common.topic {
        scenario.topic_name = topic.clone();
        scenario.topic_filter = topic.clone();
    }
    if let Some(filter) = &common.filter {
        scenario.topic_filter = filter.clone();
    }
    scenario.username = common.username.clone();
    scenario.password = common.password.clone();
    scenario.bind = common.bind.clone();
    scenario.connect_rate_per_s = common.connect_rate;
    scenario.keep_alive_s = common.keep_alive;
    scenario.session_expiry_interval_s = common.session_expiry;
    scenario.rate_per_s = common.rate;
    scenario.total_rate_per_s = common.total_rate;
    scenario.inflight = common.inflight;
    scenario.payload_size = common.size;
    scenario.warmup = seconds("--warmup", common.warmup)?;
    scenario.duration = seconds("--duration", common.duration)?;
    scenario.count = common.count;
    scenario.drain = seconds("--drain", common.drain)?;
    scenario.settle = Duration::from_millis(common.settle_ms);
    scenario.broker_pid = common.broker_pid;
    scenario.progress = !common.quiet;
    Ok(())
}

fn transport(common: &Common) -> Result<TransportOptions, String> {
    let tls = common.tls.then(|| TlsOptions {
        ca_file: common.cafile.clone(),
        insecure: common.insecure,
        client_certificate: common.cert.clone().zip(common.key.clone()).map(
            |(cert_file, key_file)| ClientCertificate {
                cert_file,
                key_file,
            },
        ),
        server_name: common
            .server_name
            .clone()
            .unwrap_or_else(|| common.host.clone()),
    });
    if tls
        .as_ref()
        .is_some_and(|tls| tls.ca_file.is_none() && !tls.insecure)
    {
        return Err("--tls needs --cafile, or --insecure to skip verification".to_string());
    }
    if !common.ws && common.ws_path != "/mqtt" {
        return Err("--ws-path needs --ws".to_string());
    }
    let host = if common.host.contains(':') {
        format!("[{}]:{}", common.host, common.port)
    } else {
        format!("{}:{}", common.host, common.port)
    };
    let websocket = common.ws.then(|| WebSocketOptions {
        path: common.ws_path.clone(),
        host,
    });
    Ok(TransportOptions { tls, websocket })
}

fn seconds(option: &str, value: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(value)
        .map_err(|_| format!("{option} {value}: must be a number of seconds, 0 or more"))
}

/// Parses a command line as the binary would.
#[cfg(test)]
fn parse(args: &[&str]) -> Result<(Scenario, Option<PathBuf>), String> {
    Cli::try_parse_from(args)
        .map_err(|error| error.to_string())?
        .into_scenario()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    #[test]
    fn p2p_options_become_the_scenario() {
        let (scenario, json) = parse(&[
            "loadgen",
            "p2p",
            "-c",
            "100",
            "-q",
            "1",
            "-V",
            "5",
            "--size",
            "64",
            "--total-rate",
            "20000",
            "--bind",
            "127.0.0.1,127.0.0.2",
            "--json",
            "out.json",
            "--port",
            "18830",
        ])
        .unwrap();
        assert_eq!(scenario.kind, ScenarioKind::PointToPoint);
        assert_eq!(scenario.subscriber_count(), 100);
        assert_eq!(scenario.qos, QoS::AtLeastOnce);
        assert_eq!(scenario.protocol_version, ProtocolVersion::V5);
        assert_eq!(scenario.total_rate_per_s, 20_000.0);
        assert_eq!(scenario.bind.len(), 2);
        assert_eq!(scenario.broker, SocketAddr::from(([127, 0, 0, 1], 18830)));
        assert_eq!(json, Some(PathBuf::from("out.json")));
    }

    #[test]
    fn bad_qos_and_protocol_version_are_refused_with_the_option_named() {
        assert!(parse(&["loadgen", "p2p", "-q", "3"])
            .unwrap_err()
            .contains("--qos"));
        assert!(parse(&["loadgen", "p2p", "-V", "3"])
            .unwrap_err()
            .contains("--protocol-version"));
    }

    #[test]
    fn tls_and_ws_options_become_the_transport() {
        let (scenario, _) = parse(&[
            "loadgen",
            "p2p",
            "--host",
            "localhost",
            "--port",
            "8884",
            "--tls",
            "--cafile",
            "ca.pem",
            "--cert",
            "client.pem",
            "--key",
            "client.key",
            "--ws",
        ])
        .unwrap();
        let transport = &scenario.transport;
        assert_eq!(transport.name(), "wss");
        let tls = transport.tls.as_ref().unwrap();
        assert_eq!(tls.server_name, "localhost");
        assert_eq!(tls.ca_file, Some(PathBuf::from("ca.pem")));
        let client = tls.client_certificate.as_ref().unwrap();
        assert_eq!(client.key_file, PathBuf::from("client.key"));
        let websocket = transport.websocket.as_ref().unwrap();
        assert_eq!(websocket.path, "/mqtt");
        assert_eq!(websocket.host, "localhost:8884");

        let (scenario, _) = parse(&["loadgen", "p2p", "--tls", "--insecure"]).unwrap();
        assert_eq!(scenario.transport.name(), "tls");
        let (scenario, _) = parse(&["loadgen", "p2p", "--ws", "--ws-path", "/"]).unwrap();
        assert_eq!(scenario.transport.websocket.unwrap().path, "/");
        let (scenario, _) = parse(&["loadgen", "p2p"]).unwrap();
        assert_eq!(scenario.transport.name(), "tcp");
    }

    #[test]
    fn tls_options_that_do_not_fit_are_refused() {
        let refused = |args: &[&str]| parse(args).unwrap_err();
        assert!(refused(&["loadgen", "p2p", "--tls"]).contains("--cafile"));
        assert!(refused(&["loadgen", "p2p", "--cafile", "ca.pem"]).contains("--tls"));
        assert!(
            refused(&["loadgen", "p2p", "--tls", "--cafile", "a", "--insecure"])
                .contains("--insecure")
        );
        assert!(
            refused(&["loadgen", "p2p", "--tls", "--insecure", "--cert", "c"]).contains("--key")
        );
        assert!(refused(&["loadgen", "p2p", "--ws-path", "/x"]).contains("--ws"));
    }

    #[test]
    fn shared_fan_in_subscribes_to_a_share_filter() {
        let (scenario, _) = parse(&[
            "loadgen",
            "fan-in",
            "-c",
            "8",
            "-m",
            "2",
            "--shared-group",
            "g",
        ])
        .unwrap();
        assert_eq!(scenario.filter_template(), "$share/g/loadgen/in/+");
        assert_eq!(scenario.receivers_per_message(), 1);
    }
}
