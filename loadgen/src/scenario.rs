//! What a run does: the scenario, buildable in code or from the command line.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use shardmq::protocol::{ProtocolVersion, QoS};

use crate::error::Error;
use crate::limits::{CONNECTIONS_MAX, PAYLOAD_HEADER_LEN, PAYLOAD_SIZE_MAX, SHARDS_MAX};
use crate::transport::TransportOptions;

/// The shape of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScenarioKind {
    /// Open and hold `connections` idle connections.
    Conn {
        /// Connections to open.
        connections: u32,
    },
    /// Publishers only; the broker's acknowledgements are measured.
    Pub,
    /// Subscribers only; messages come from elsewhere.
    Sub,
    /// Publisher `i` sends to topic `i`, which only subscriber `i` reads.
    PointToPoint,
    /// Every publisher's messages go to every subscriber of one filter, or to
    /// one member of a shared subscription group.
    FanIn {
        /// `Some(group)`: subscribers share `$share/group/<filter>`.
        shared_group: Option<String>,
    },
    /// Every subscriber receives every publisher's messages on the same topic.
    FanOut,
}

/// Everything a run needs. [`Scenario::new`] gives the defaults.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// What the run does.
    pub kind: ScenarioKind,
    /// The broker.
    pub broker: SocketAddr,
    /// How connections reach it: TCP (the default), TLS, WebSocket, or both.
    pub transport: TransportOptions,
    /// Executor threads, one per core.
    pub shards: usize,
    /// CPU the first shard is pinned to; shard `i` runs on the `i`-th CPU
    /// loadgen may use counting from it, wrapping (from the lowest when no
    /// CPU it may use is that high), so that loadgen can keep off the
    /// broker's cores.
    pub first_cpu: usize,
    /// Protocol level of every connection.
    pub protocol_version: ProtocolVersion,
    /// QoS of publishes and subscriptions.
    pub qos: QoS,
    /// Publishing connections.
    pub publishers: u32,
    /// Subscribing connections.
    pub subscribers: u32,
    /// Client identifier template (`%i`, `%s`, `%r`).
    pub client_id: String,
    /// Topic name template for publishers.
    pub topic_name: String,
    /// Topic filter template for subscribers.
    pub topic_filter: String,
    /// User Name for every connection.
    pub username: Option<String>,
    /// Password for every connection.
    pub password: Option<String>,
    /// Local addresses to connect from, used in turn; empty for the default.
    pub bind: Vec<IpAddr>,
    /// New connections per second over all shards; 0 for no limit.
    pub connect_rate_per_s: f64,
    /// Keep Alive sent in CONNECT; PINGREQ is sent when idle that long.
    pub keep_alive_s: u16,
    /// Above 0: persistent sessions (Clean Start 0, this Session Expiry Interval under 5.0).
    pub session_expiry_interval_s: u32,
    /// Messages per second per publisher; 0 (with `total_rate_per_s` 0) is flat out.
    pub rate_per_s: f64,
    /// Messages per second over all publishers; overrides `rate_per_s` when set.
    pub total_rate_per_s: f64,
    /// Unacknowledged QoS 1/2 publishes per connection.
    pub inflight: u16,
    /// Payload size, bytes, at least the payload header.
    pub payload_size: usize,
    /// Sending time excluded from the figures.
    pub warmup: Duration,
    /// Sending time measured (after the warmup); for `conn`, how long to hold.
    pub duration: Duration,
    /// Messages per publisher, at most; 0 for no limit.
    pub count: u64,
    /// How long to wait for deliveries once sending stopped.
    pub drain: Duration,
    /// Pause between the last SUBACK and the first publish, for brokers that
    /// apply subscriptions asynchronously.
    pub settle: Duration,
    /// The broker's pid, to read its CPU time and resident memory.
    pub broker_pid: Option<u32>,
    /// Print a progress line per second on stderr.
    pub progress: bool,
}

impl Scenario {
    /// A scenario of `kind` against `broker` with every other setting at its
    /// default: one connection per role, 3.1.1, QoS 0, flat out, 64 B
    /// payloads, 10 s, all CPUs.
    pub fn new(kind: ScenarioKind, broker: SocketAddr) -> Scenario {
        let (topic_name, topic_filter) = default_topics(&kind);
        Scenario {
            kind,
            broker,
            transport: TransportOptions::default(),
            shards: std::thread::available_parallelism().map_or(1, |n| n.get()),
            first_cpu: 0,
            protocol_version: ProtocolVersion::V3_1_1,
            qos: QoS::AtMostOnce,
            publishers: 1,
            subscribers: 1,
            client_id: "loadgen-%r-%i".to_string(),
            topic_name: topic_name.to_string(),
            topic_filter: topic_filter.to_string(),
            username: None,
            password: None,
            bind: Vec::new(),
            connect_rate_per_s: 0.0,
            keep_alive_s: 60,
            session_expiry_interval_s: 0,
            rate_per_s: 0.0,
            total_rate_per_s: 0.0,
            inflight: crate::limits::INFLIGHT_DEFAULT,
            payload_size: 64,
            warmup: Duration::ZERO,
            duration: Duration::from_secs(10),
            count: 0,
            drain: Duration::from_secs(5),
            settle: Duration::from_millis(100),
            broker_pid: None,
            progress: false,
        }
    }

    /// Publishing connections this scenario opens.
    pub fn publisher_count(&self) -> u32 {
        match self.kind {
            ScenarioKind::Conn { .. } | ScenarioKind::Sub => 0,
            _ => self.publishers,
        }
    }

    /// Subscribing connections this scenario opens.
    pub fn subscriber_count(&self) -> u32 {
        match self.kind {
            ScenarioKind::Conn { .. } | ScenarioKind::Pub => 0,
            ScenarioKind::PointToPoint => self.publishers,
            _ => self.subscribers,
        }
    }

    /// Idle connections this scenario opens.
    pub fn idle_count(&self) -> u32 {
        match self.kind {
            ScenarioKind::Conn { connections } => connections,
            _ => 0,
        }
    }

    /// The publishers whose messages subscriber `subscriber_index` should
    /// receive, as a range of publisher indices.
    pub fn expected_publishers(&self, subscriber_index: u32) -> std::ops::Range<u32> {
        match self.kind {
            ScenarioKind::PointToPoint => subscriber_index..subscriber_index + 1,
            ScenarioKind::FanIn { .. } | ScenarioKind::FanOut => 0..self.publisher_count(),
            ScenarioKind::Conn { .. } | ScenarioKind::Pub | ScenarioKind::Sub => 0..0,
        }
    }

    /// How many subscribers should receive each message of one publisher.
    pub fn receivers_per_message(&self) -> u64 {
        match &self.kind {
            ScenarioKind::PointToPoint => 1,
            ScenarioKind::FanIn {
                shared_group: Some(_),
            } => 1,
            ScenarioKind::FanIn { shared_group: None } | ScenarioKind::FanOut => {
                u64::from(self.subscriber_count())
            }
            ScenarioKind::Conn { .. } | ScenarioKind::Pub | ScenarioKind::Sub => 0,
        }
    }

    /// The topic filter template subscribers use: `topic_filter`, inside
    /// `$share/<group>/` for a shared fan-in.
    pub fn filter_template(&self) -> String {
        match &self.kind {
            ScenarioKind::FanIn {
                shared_group: Some(group),
            } => format!("$share/{group}/{}", self.topic_filter),
            _ => self.topic_filter.clone(),
        }
    }

    /// Checks the settings against each other and the limits.
    pub fn validate(&self) -> Result<(), Error> {
        let invalid = |what: &str| Err(Error::InvalidScenario(what.to_string()));
        if self.shards == 0 || self.shards > SHARDS_MAX {
            return invalid(&format!("shards must be 1..={SHARDS_MAX}"));
        }
        let total = u64::from(self.publisher_count())
            + u64::from(self.subscriber_count())
            + u64::from(self.idle_count());
        if total == 0 || total > u64::from(CONNECTIONS_MAX) {
            return invalid(&format!(
                "connections must be 1..={CONNECTIONS_MAX} in total"
            ));
        }
        if !(PAYLOAD_HEADER_LEN..=PAYLOAD_SIZE_MAX).contains(&self.payload_size) {
            return invalid(&format!(
                "payload size must be {PAYLOAD_HEADER_LEN}..={PAYLOAD_SIZE_MAX} bytes"
            ));
        }
        if self.inflight == 0 {
            return invalid("inflight must be at least 1");
        }
        for rate in [
            self.rate_per_s,
            self.total_rate_per_s,
            self.connect_rate_per_s,
        ] {
            if !(rate >= 0.0 && rate.is_finite()) {
                return invalid("rates must be finite and not negative");
            }
        }
        if self.duration.is_zero() {
            return invalid("duration must be above 0: it bounds every run");
        }
        if let Some(tls) = &self.transport.tls {
            if tls.ca_file.is_none() && !tls.insecure {
                return invalid("TLS needs a CA file to verify the broker, or insecure mode");
            }
        }
        if self.protocol_version == ProtocolVersion::V3_1 {
            return invalid("protocol level 3 (3.1) is not supported by loadgen; use 4 or 5");
        }
        Ok(())
    }
}

fn default_topics(kind: &ScenarioKind) -> (&'static str, &'static str) {
    match kind {
        ScenarioKind::PointToPoint | ScenarioKind::Pub | ScenarioKind::Conn { .. } => {
            ("loadgen/p2p/%i", "loadgen/p2p/%i")
        }
        ScenarioKind::Sub => ("loadgen/p2p/%i", "loadgen/#"),
        ScenarioKind::FanIn { .. } => ("loadgen/in/%i", "loadgen/in/+"),
        ScenarioKind::FanOut => ("loadgen/out", "loadgen/out"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn broker() -> SocketAddr {
        "127.0.0.1:1883".parse().unwrap()
    }

    #[test]
    fn point_to_point_pairs_each_subscriber_with_one_publisher() {
        let mut scenario = Scenario::new(ScenarioKind::PointToPoint, broker());
        scenario.publishers = 4;
        assert_eq!(scenario.subscriber_count(), 4);
        assert_eq!(scenario.expected_publishers(2), 2..3);
        assert_eq!(scenario.receivers_per_message(), 1);
    }

    #[test]
    fn shared_fan_in_delivers_each_message_once_per_group() {
        let mut scenario = Scenario::new(
            ScenarioKind::FanIn {
                shared_group: Some("g".into()),
            },
            broker(),
        );
        scenario.publishers = 10;
        scenario.subscribers = 3;
        assert_eq!(scenario.receivers_per_message(), 1);
        assert_eq!(scenario.filter_template(), "$share/g/loadgen/in/+");
    }

    #[test]
    fn fan_out_delivers_each_message_to_every_subscriber() {
        let mut scenario = Scenario::new(ScenarioKind::FanOut, broker());
        scenario.subscribers = 1000;
        assert_eq!(scenario.receivers_per_message(), 1000);
        assert_eq!(scenario.expected_publishers(999), 0..1);
    }

    #[test]
    fn payload_smaller_than_its_header_is_rejected() {
        let mut scenario = Scenario::new(ScenarioKind::PointToPoint, broker());
        scenario.payload_size = PAYLOAD_HEADER_LEN - 1;
        assert!(scenario.validate().is_err());
        scenario.payload_size = PAYLOAD_HEADER_LEN;
        assert!(scenario.validate().is_ok());
    }
}
