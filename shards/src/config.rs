//! Broker configuration: the embedded defaults, the TOML file and its validation.
//!
//! Every option is documented in `shardmq.example.toml` at the top of the
//! repository. Unknown keys are refused (`deny_unknown_fields`) so a typo never
//! silently falls back to a default.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use bytestring::ByteString;
use serde::Deserialize;
use shardmq::limits;
use shardmq::session::{QueueFullPolicy, SessionConfig};

use crate::transport::{Alpn, TlsFiles};

/// Where the broker listens when neither the file nor `--listen` says otherwise.
pub const LISTEN_DEFAULT: &str = "127.0.0.1:1883";

/// The whole broker configuration.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// TCP addresses to accept MQTT connections on.
    pub listen: Vec<SocketAddr>,
    /// Number of shards (executor threads); 0 means one per CPU the process
    /// may run on.
    pub shards: usize,
    /// Pin each shard to its own CPU.
    pub pin_shards: bool,
    /// Log filter in `RUST_LOG` syntax, e.g. `info` or `shardmq_shards=debug`.
    pub log_level: String,
    /// Largest packet accepted from a client, bytes (fixed header included).
    pub maximum_packet_size: u32,
    /// Time a connection has to send CONNECT, ms.
    pub connect_timeout_ms: u64,
    /// Time shutdown waits for the last packets to be written, ms.
    pub shutdown_flush_ms: u64,
    /// Time after which a connection that read and wrote nothing is parked
    /// (its task and stream released, its socket watched by epoll), ms; 0 never.
    pub idle_park_ms: u64,
    /// Unparked connections a shard serves before it parks a new
    /// connection that sends nothing after its CONNACK at once instead of
    /// after `idle_park_ms` (which, at 0, turns this off too).
    pub park_new_connections_above: usize,
    /// Entries of each of a shard's io_uring rings (1..=32768).
    pub io_ring_depth: u32,
    /// Inbound QoS 2 publishes a client may leave awaiting PUBREL (sent as Receive Maximum).
    pub receive_maximum: u16,
    /// Outbound QoS 1/2 publishes in flight per client; the client's Receive Maximum lowers it.
    pub outbound_inflight_maximum: u16,
    /// Outbound QoS 1/2 publishes in flight across one shard's clients before a
    /// client past its guaranteed few waits for its own acknowledgements.
    pub outbound_inflight_shard_budget: usize,
    /// Bytes a shard holds queued for its connected subscribers before its
    /// publishers are paused (from three quarters of it, until it is half).
    pub delivery_budget_bytes: usize,
    /// Time a connected subscriber with messages waiting may write nothing
    /// before it is treated as stuck, ms.
    pub slow_subscriber_timeout_ms: u64,
    /// What happens to a stuck subscriber.
    pub slow_subscriber_action: SlowSubscriberAction,
    /// Messages queued per session while it is offline or stuck.
    pub max_queued_messages: usize,
    /// Bytes queued per session while it is offline or stuck (payload, topic and
    /// variable-length properties).
    pub max_queued_bytes: usize,
    /// Whether QoS 0 messages are queued for offline clients.
    pub queue_qos0: bool,
    /// What a message that finds a session's queue full does.
    #[serde(with = "QueueFullPolicyKey")]
    pub queue_full_policy: QueueFullPolicy,
    /// Whether payloads flagged as UTF-8 (Payload Format Indicator 1) are checked.
    pub validate_payload_format: bool,
    /// Response Information for 5.0 clients that request it; unset sends none.
    pub response_information: Option<String>,
    /// Subscriptions one session may hold.
    pub max_subscriptions: usize,
    /// Levels a topic name or filter from a client may have, 1 to
    /// `limits::TOPIC_LEVELS_MAX`.
    pub max_topic_levels: usize,
    /// Topic aliases a client may define per connection (sent as Topic Alias Maximum).
    pub topic_alias_maximum: u16,
    /// Longest Session Expiry Interval granted, seconds.
    pub session_expiry_interval_max_s: u32,
    /// Longest Keep Alive accepted, seconds: a 5.0 client asking for more
    /// (or for none) is told this one; a 3.x client asking for more is
    /// refused. Mosquitto's name for it; `keep_alive_max_s` is read too.
    #[serde(rename = "max_keepalive", alias = "keep_alive_max_s")]
    pub keep_alive_max_s: u16,
    /// Whether retained messages are supported.
    pub retain_available: bool,
    /// Retained messages kept at most; a new topic beyond them is not retained.
    pub max_retained_messages: usize,
    /// Bytes of retained topic names and payloads kept at most; a message that
    /// would pass them is not retained.
    pub max_retained_bytes: usize,
    /// Snapshots and journal on disk; off unless `dir` is set.
    pub persistence: PersistenceConfig,
    /// Further listeners, each a `[[listener]]` table.
    #[serde(
        rename = "listener",
        deserialize_with = "ListenerConfig::deserialize_all"
    )]
    pub listeners: Vec<ListenerConfig>,
    /// Who may connect, and what each user may read and write.
    pub auth: AuthConfig,
}

/// The `[auth]` table: authentication (Mosquitto's password file) and
/// authorization (Mosquitto's ACL file).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Whether clients without a user name may connect. Unset: only while
    /// every listener is bound to loopback (see [`anonymous_allowed`]).
    pub allow_anonymous: Option<bool>,
    /// Mosquitto password file (`mosquitto_passwd` or `shardmq passwd`).
    pub password_file: Option<PathBuf>,
    /// Mosquitto ACL file; unset allows every client every topic.
    pub acl_file: Option<PathBuf>,
    /// Refuse a CONNECT whose client id has a session of another user
    /// (5.0: 0x87, 3.x: return code 5). `None` means the default, on.
    pub takeover_requires_same_username: Option<bool>,
}

impl AuthConfig {
    /// Whether a session may be taken over only by its own user.
    pub fn takeover_requires_same_username(&self) -> bool {
        self.takeover_requires_same_username.unwrap_or(true)
    }
}

/// Secure by default: whether anonymous clients are allowed with `auth` on
/// listeners bound to `addresses`. An explicit `allow_anonymous` decides;
/// unset, anonymous clients are allowed while every address is loopback,
/// refused when a password file is set, and otherwise the configuration is
/// refused, since it would open the broker to anyone on the network.
pub fn anonymous_allowed(auth: &AuthConfig, addresses: &[SocketAddr]) -> Result<bool, ConfigError> {
    if let Some(allowed) = auth.allow_anonymous {
        return Ok(allowed);
    }
    let exposed: Vec<String> = addresses
        .iter()
        .filter(|address| !address.ip().is_loopback())
        .map(ToString::to_string)
        .collect();
    match (exposed.is_empty(), auth.password_file.is_some()) {
        (true, _) => Ok(true),
        (false, true) => Ok(false),
        (false, false) => Err(ConfigError::new(format!(
            "listening on {} (not loopback) with neither `[auth] password_file` nor \
             `[auth] allow_anonymous`: anyone on the network could connect. Set \
             `password_file` (users from `shardmq passwd FILE USER`), or set \
             `allow_anonymous = true` to allow clients without credentials anyway",
            exposed.join(", ")
        ))),
    }
}

/// The `[persistence]` table: where and how the broker keeps its state across restarts.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct PersistenceConfig {
    /// Data directory; `None` keeps everything in memory only.
    pub dir: Option<PathBuf>,
    /// Time between two snapshots of a shard, seconds.
    pub snapshot_interval_s: u64,
    /// When journal writes reach the disk.
    pub fsync: FsyncMode,
    /// Period of the journal fsync under [`FsyncMode::Interval`], ms.
    pub fsync_interval_ms: u64,
    /// Move damaged snapshots aside and start from what can be read, instead of
    /// refusing to start. Set by `--recover` only, never by the file.
    #[serde(skip)]
    pub recover: bool,
}

impl Default for PersistenceConfig {
    fn default() -> PersistenceConfig {
        PersistenceConfig {
            dir: None,
            snapshot_interval_s: limits::SNAPSHOT_INTERVAL_S_DEFAULT,
            fsync: FsyncMode::Always,
            fsync_interval_ms: limits::FSYNC_INTERVAL_MS_DEFAULT,
            recover: false,
        }
    }
}

/// What the broker does with a connected subscriber that made no progress for
/// `slow_subscriber_timeout_ms` while messages waited for it.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SlowSubscriberAction {
    /// It stays connected; its queue leaves the shard's delivery budget and
    /// keeps to `max_queued_messages` and `max_queued_bytes`, past which
    /// `queue_full_policy` drops (and counts) messages, until it makes
    /// progress again.
    #[default]
    Drop,
    /// It is disconnected (5.0: DISCONNECT 0x97 Quota exceeded); its session
    /// keeps what an offline session keeps.
    Disconnect,
}

/// When the journal is flushed to stable storage.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FsyncMode {
    /// Every batch is fdatasynced before the acknowledgements it holds go out.
    Always,
    /// Batches are written at once and fdatasynced every `fsync_interval_ms`.
    Interval,
    /// Batches are written, the kernel decides when they reach the disk.
    Never,
}

impl Default for Config {
    fn default() -> Config {
        let session = SessionConfig::default();
        Config {
            listen: vec![LISTEN_DEFAULT.parse().expect("the default address parses")],
            shards: 0,
            pin_shards: true,
            log_level: "info".to_owned(),
            maximum_packet_size: limits::MAXIMUM_PACKET_SIZE_DEFAULT,
            connect_timeout_ms: limits::CONNECT_TIMEOUT_MS,
            shutdown_flush_ms: limits::SHUTDOWN_FLUSH_MS,
            idle_park_ms: limits::IDLE_PARK_MS_DEFAULT,
            park_new_connections_above: limits::PARK_NEW_CONNECTIONS_ABOVE_DEFAULT,
            io_ring_depth: limits::IO_RING_DEPTH,
            receive_maximum: session.receive_maximum,
            outbound_inflight_maximum: session.outbound_inflight_maximum,
            outbound_inflight_shard_budget: session.outbound_inflight_shard_budget,
            delivery_budget_bytes: limits::DELIVERY_BUDGET_BYTES_DEFAULT,
            slow_subscriber_timeout_ms: limits::SLOW_SUBSCRIBER_TIMEOUT_MS_DEFAULT,
            slow_subscriber_action: SlowSubscriberAction::Drop,
            max_queued_messages: session.max_queued_messages,
            max_queued_bytes: session.max_queued_bytes,
            queue_qos0: session.queue_qos0,
            queue_full_policy: session.queue_full_policy,
            validate_payload_format: session.validate_payload_format,
            response_information: session.response_information.as_deref().map(str::to_owned),
            max_subscriptions: session.max_subscriptions,
            max_topic_levels: session.max_topic_levels,
            topic_alias_maximum: session.topic_alias_maximum,
            session_expiry_interval_max_s: session.session_expiry_interval_max_s,
            keep_alive_max_s: session.keep_alive_max_s,
            retain_available: session.retain_available,
            max_retained_messages: limits::RETAINED_MESSAGES_DEFAULT,
            max_retained_bytes: limits::RETAINED_BYTES_DEFAULT,
            persistence: PersistenceConfig::default(),
            listeners: Vec::new(),
            auth: AuthConfig::default(),
        }
    }
}

/// The TOML spelling of [`QueueFullPolicy`]: `"drop_newest"` or `"drop_oldest"`.
#[derive(Deserialize)]
#[serde(remote = "QueueFullPolicy", rename_all = "snake_case")]
enum QueueFullPolicyKey {
    DropNewest,
    DropOldest,
}

/// Why a configuration was refused; the message names the file, key or value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    message: String,
}

impl ConfigError {
    /// An error with a message the operator can act on.
    pub fn new(message: impl Into<String>) -> ConfigError {
        ConfigError {
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Parses a TOML document; `origin` names it in error messages.
    pub fn from_toml(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let config: Config =
            toml::from_str(text).map_err(|error| ConfigError::new(format!("{origin}: {error}")))?;
        config
            .validate()
            .map_err(|error| ConfigError::new(format!("{origin}: {error}")))?;
        Ok(config)
    }

    /// Reads and parses a TOML file.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| {
            ConfigError::new(format!(
                "cannot read config file {}: {error}",
                path.display()
            ))
        })?;
        Config::from_toml(&text, &path.display().to_string())
    }

    /// Checks the values that the types alone do not bound.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.listen.is_empty() {
            return Err(ConfigError::new(
                "key `listen`: at least one address is needed, e.g. listen = [\"127.0.0.1:1883\"]",
            ));
        }
        if !(1..=limits::IO_RING_DEPTH_MAX).contains(&self.io_ring_depth) {
            return Err(ConfigError::new(format!(
                "key `io_ring_depth`: {} is outside 1..={}",
                self.io_ring_depth,
                limits::IO_RING_DEPTH_MAX
            )));
        }
        if self.shards > limits::SHARDS_MAX {
            return Err(ConfigError::new(format!(
                "key `shards`: {} is more than the maximum of {}",
                self.shards,
                limits::SHARDS_MAX
            )));
        }
        if self.maximum_packet_size < 64
            || self.maximum_packet_size > limits::REMAINING_LENGTH_MAX + 5
        {
            return Err(ConfigError::new(format!(
                "key `maximum_packet_size`: {} is outside 64..={}",
                self.maximum_packet_size,
                limits::REMAINING_LENGTH_MAX + 5
            )));
        }
        if self.maximum_packet_size as usize > limits::OUTBOUND_BYTES_MAX {
            return Err(ConfigError::new(format!(
                "key `maximum_packet_size`: {} is more than the per-connection outbound buffer of {} bytes",
                self.maximum_packet_size,
                limits::OUTBOUND_BYTES_MAX
            )));
        }
        for (key, value) in [
            ("receive_maximum", usize::from(self.receive_maximum)),
            (
                "outbound_inflight_maximum",
                usize::from(self.outbound_inflight_maximum),
            ),
            (
                "outbound_inflight_shard_budget",
                self.outbound_inflight_shard_budget,
            ),
            ("delivery_budget_bytes", self.delivery_budget_bytes),
            (
                "slow_subscriber_timeout_ms",
                usize::try_from(self.slow_subscriber_timeout_ms).unwrap_or(usize::MAX),
            ),
            ("max_queued_messages", self.max_queued_messages),
            ("max_queued_bytes", self.max_queued_bytes),
            ("max_keepalive", usize::from(self.keep_alive_max_s)),
            ("max_retained_messages", self.max_retained_messages),
            ("max_retained_bytes", self.max_retained_bytes),
        ] {
            if value == 0 {
                return Err(ConfigError::new(format!("key `{key}`: must be at least 1")));
            }
        }
        if !(1..=limits::TOPIC_LEVELS_MAX).contains(&self.max_topic_levels) {
            return Err(ConfigError::new(format!(
                "key `max_topic_levels`: {} is outside 1..={}",
                self.max_topic_levels,
                limits::TOPIC_LEVELS_MAX
            )));
        }
        if let Some(response_information) = &self.response_information {
            // An MQTT UTF-8 string: at most 65,535 bytes, no U+0000 [MQTT-1.5.4-2].
            if response_information.len() > usize::from(u16::MAX)
                || response_information.contains('\0')
            {
                return Err(ConfigError::new(
                    "key `response_information`: must be at most 65535 bytes without NUL characters",
                ));
            }
        }
        if self.connect_timeout_ms == 0 {
            return Err(ConfigError::new(
                "key `connect_timeout_ms`: must be at least 1",
            ));
        }
        self.validate_persistence()?;
        for (index, listener) in self.listeners.iter().enumerate() {
            listener
                .validate()
                .map_err(|error| ConfigError::new(format!("{}: {error}", listener.label(index))))?;
        }
        let addresses: Vec<SocketAddr> = self
            .listen
            .iter()
            .copied()
            .chain(self.listeners.iter().map(|listener| listener.address))
            .collect();
        anonymous_allowed(&self.auth, &addresses)?;
        tracing_subscriber::EnvFilter::try_new(&self.log_level).map_err(|error| {
            ConfigError::new(format!(
                "key `log_level`: `{}` is not a valid filter: {error}",
                self.log_level
            ))
        })?;
        Ok(())
    }

    fn validate_persistence(&self) -> Result<(), ConfigError> {
        let persistence = &self.persistence;
        if persistence.snapshot_interval_s == 0 {
            return Err(ConfigError::new(
                "key `persistence.snapshot_interval_s`: must be at least 1",
            ));
        }
        if persistence.fsync_interval_ms == 0 {
            return Err(ConfigError::new(
                "key `persistence.fsync_interval_ms`: must be at least 1",
            ));
        }
        if persistence
            .dir
            .as_ref()
            .is_some_and(|dir| dir.as_os_str().is_empty())
        {
            return Err(ConfigError::new(
                "key `persistence.dir`: empty; leave it out to run without persistence",
            ));
        }
        Ok(())
    }

    /// The settings every session of this broker obeys.
    pub fn session_config(&self) -> SessionConfig {
        SessionConfig {
            receive_maximum: self.receive_maximum,
            maximum_packet_size: self.maximum_packet_size,
            topic_alias_maximum: self.topic_alias_maximum,
            outbound_inflight_maximum: self.outbound_inflight_maximum,
            outbound_inflight_shard_budget: self.outbound_inflight_shard_budget,
            max_queued_messages: self.max_queued_messages,
            max_queued_bytes: self.max_queued_bytes,
            queue_qos0: self.queue_qos0,
            queue_full_policy: self.queue_full_policy,
            validate_payload_format: self.validate_payload_format,
            response_information: self.response_information.as_deref().map(ByteString::from),
            max_subscriptions: self.max_subscriptions,
            max_topic_levels: self.max_topic_levels,
            session_expiry_interval_max_s: self.session_expiry_interval_max_s,
            keep_alive_max_s: self.keep_alive_max_s,
            retain_available: self.retain_available,
            ..SessionConfig::default()
        }
    }

    /// The number of shards to run: the configured count, or one per CPU the
    /// process may run on.
    pub fn shard_count(&self) -> usize {
        if self.shards > 0 {
            return self.shards;
        }
        std::thread::available_parallelism()
            .map(|count| count.get())
            .unwrap_or(1)
            .min(limits::SHARDS_MAX)
    }
}

/// What a `[[listener]]`'s connections speak.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ListenerTransport {
    /// MQTT over plain TCP.
    Tcp,
    /// MQTT over TLS.
    Tls,
    /// MQTT over WebSocket.
    Ws,
    /// MQTT over WebSocket over TLS.
    Wss,
}

impl ListenerTransport {
    /// The name the configuration spells it with.
    pub fn name(self) -> &'static str {
        match self {
            ListenerTransport::Tcp => "tcp",
            ListenerTransport::Tls => "tls",
            ListenerTransport::Ws => "ws",
            ListenerTransport::Wss => "wss",
        }
    }

    /// True when its connections run over TLS.
    pub fn is_tls(self) -> bool {
        matches!(self, ListenerTransport::Tls | ListenerTransport::Wss)
    }

    /// True when its connections speak WebSocket.
    pub fn is_websocket(self) -> bool {
        matches!(self, ListenerTransport::Ws | ListenerTransport::Wss)
    }
}

/// The HTTP path a WebSocket listener upgrades on when it names none.
pub const WEBSOCKET_PATH_DEFAULT: &str = "/mqtt";

/// One `[[listener]]` table: a further address, its transport, its TLS
/// material and its connection limit. Names as Mosquitto's.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    /// Where to listen.
    pub address: SocketAddr,
    /// What the connections speak; plain TCP unless set.
    #[serde(default = "ListenerConfig::transport_default")]
    pub transport: ListenerTransport,
    /// The server's certificate chain, PEM (`tls`, `wss`).
    pub certfile: Option<PathBuf>,
    /// The server's private key, PEM: PKCS#8, RSA or SEC1 (`tls`, `wss`).
    pub keyfile: Option<PathBuf>,
    /// CA certificates client certificates are verified against, PEM.
    pub cafile: Option<PathBuf>,
    /// Refuse clients without a valid certificate (needs `cafile`).
    #[serde(default)]
    pub require_certificate: bool,
    /// The client certificate's subject CN becomes the username, and the
    /// password is dropped (needs `require_certificate`).
    #[serde(default)]
    pub use_identity_as_username: bool,
    /// The HTTP path of a WebSocket listener; [`WEBSOCKET_PATH_DEFAULT`] unless set.
    pub path: Option<String>,
    /// Connections open at once on this listener, over every shard; -1 is
    /// unlimited.
    #[serde(default = "ListenerConfig::max_connections_default")]
    pub max_connections: i64,
}

impl ListenerConfig {
    /// The `[[listener]]` tables, one at a time, so that an error in one
    /// (an unknown transport, an unknown key) names which.
    fn deserialize_all<'de, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<ListenerConfig>, D::Error> {
        let tables = Vec::<toml::Table>::deserialize(deserializer)?;
        tables
            .into_iter()
            .enumerate()
            .map(|(index, table)| {
                let address = match table.get("address") {
                    Some(toml::Value::String(address)) => address.clone(),
                    Some(other) => other.to_string(),
                    None => "no address".to_owned(),
                };
                let label = format!("listener {} ({address})", index + 1);
                // serde's message for an unknown variant names no key.
                if let Some(transport) = table.get("transport") {
                    let known = ["tcp", "tls", "ws", "wss"];
                    if !transport.as_str().is_some_and(|name| known.contains(&name)) {
                        return Err(serde::de::Error::custom(format!(
                            "{label}: key `transport`: {transport} is not one of \"tcp\", \"tls\", \"ws\", \"wss\""
                        )));
                    }
                }
                table.try_into().map_err(|error: toml::de::Error| {
                    serde::de::Error::custom(format!("{label}: {}", error.message()))
                })
            })
            .collect()
    }

    fn transport_default() -> ListenerTransport {
        ListenerTransport::Tcp
    }

    fn max_connections_default() -> i64 {
        -1
    }

    /// The listener as messages and logs name it: its place among the
    /// `[[listener]]` tables (from 1) and its address.
    pub fn label(&self, index: usize) -> String {
        format!("listener {} ({})", index + 1, self.address)
    }

    /// The connection limit; `None` when unlimited.
    pub fn connection_limit(&self) -> Option<usize> {
        usize::try_from(self.max_connections).ok()
    }

    /// The HTTP path a WebSocket listener upgrades on; `None` for others.
    pub fn websocket_path(&self) -> Option<&str> {
        self.transport
            .is_websocket()
            .then(|| self.path.as_deref().unwrap_or(WEBSOCKET_PATH_DEFAULT))
    }

    /// The TLS material's files, for a listener over TLS.
    pub fn tls_files(&self) -> Option<TlsFiles> {
        if !self.transport.is_tls() {
            return None;
        }
        Some(TlsFiles {
            certfile: self.certfile.clone()?,
            keyfile: self.keyfile.clone()?,
            cafile: self.cafile.clone(),
            require_certificate: self.require_certificate,
            alpn: if self.transport.is_websocket() {
                Alpn::WebSocket
            } else {
                Alpn::Mqtt
            },
        })
    }

    /// Checks the keys against the transport, and reads the TLS material.
    fn validate(&self) -> Result<(), ConfigError> {
        let transport = self.transport.name();
        if self.max_connections == 0 || self.max_connections < -1 {
            return Err(ConfigError::new(format!(
                "key `max_connections`: {} is neither -1 (unlimited) nor at least 1",
                self.max_connections
            )));
        }
        match &self.path {
            Some(_) if !self.transport.is_websocket() => {
                return Err(ConfigError::new(format!(
                    "key `path`: only a WebSocket listener (transport \"ws\" or \"wss\") has one, \
                     this one is \"{transport}\""
                )));
            }
            Some(path) if !path.starts_with('/') => {
                return Err(ConfigError::new(format!(
                    "key `path`: \"{path}\" does not start with /"
                )));
            }
            _ => {}
        }
        if !self.transport.is_tls() {
            let tls_keys = [
                ("certfile", self.certfile.is_some()),
                ("keyfile", self.keyfile.is_some()),
                ("cafile", self.cafile.is_some()),
                ("require_certificate", self.require_certificate),
                ("use_identity_as_username", self.use_identity_as_username),
            ];
            if let Some((key, _)) = tls_keys.iter().find(|(_, set)| *set) {
                return Err(ConfigError::new(format!(
                    "key `{key}`: a TLS key on a \"{transport}\" listener; \
                     set transport = \"tls\" (or \"wss\") or remove it"
                )));
            }
            return Ok(());
        }
        for (key, file) in [("certfile", &self.certfile), ("keyfile", &self.keyfile)] {
            if file.is_none() {
                return Err(ConfigError::new(format!(
                    "key `{key}`: missing; a \"{transport}\" listener needs certfile and keyfile"
                )));
            }
        }
        if self.require_certificate && self.cafile.is_none() {
            return Err(ConfigError::new(
                "key `require_certificate`: needs `cafile`, the CA client certificates are verified against",
            ));
        }
        if self.use_identity_as_username && !self.require_certificate {
            return Err(ConfigError::new(
                "key `use_identity_as_username`: needs require_certificate = true, \
                 or a client without a certificate would have no username",
            ));
        }
        let files = self.tls_files().expect("a TLS listener with both files");
        files
            .load()
            .map(drop)
            .map_err(|error| ConfigError::new(error.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory with a CA, a server certificate and key for localhost,
    /// and a key of another server.
    struct TlsFixture {
        dir: tempfile::TempDir,
        certfile: PathBuf,
        keyfile: PathBuf,
        cafile: PathBuf,
        other_keyfile: PathBuf,
    }

    fn tls_fixture() -> TlsFixture {
        let dir = tempfile::tempdir().unwrap();
        let ca = crate::test_pki::Ca::new("test CA");
        let (certfile, keyfile) = ca.server(&["localhost"]).write(dir.path(), "server");
        let (_, other_keyfile) = ca.server(&["localhost"]).write(dir.path(), "other");
        let cafile = crate::test_pki::write(dir.path(), "ca.crt", &ca.pem());
        TlsFixture {
            dir,
            certfile,
            keyfile,
            cafile,
            other_keyfile,
        }
    }

    /// A `[[listener]]` table on 127.0.0.1:8883 with `keys`, after a plain one.
    fn with_listener(keys: &str) -> String {
        format!(
            "[[listener]]\naddress = \"127.0.0.1:1884\"\n\n\
             [[listener]]\naddress = \"127.0.0.1:8883\"\n{keys}"
        )
    }

    fn tls_keys(certfile: &Path, keyfile: &Path) -> String {
        format!(
            "transport = \"tls\"\ncertfile = \"{}\"\nkeyfile = \"{}\"\n",
            certfile.display(),
            keyfile.display()
        )
    }

    /// The error loading `text` gives; it must name the second listener
    /// and every one of `names`.
    fn refused_naming(text: &str, names: &[&str]) -> String {
        let error = Config::from_toml(text, "shardmq.toml")
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("shardmq.toml: "), "{error}");
        for name in ["listener 2 (127.0.0.1:8883)"].iter().chain(names) {
            assert!(error.contains(name), "`{name}` not named in: {error}");
        }
        error
    }

    #[test]
    fn a_tls_listener_with_matching_files_is_read_with_its_defaults() {
        let fixture = tls_fixture();
        let mut keys = tls_keys(&fixture.certfile, &fixture.keyfile);
        keys += &format!(
            "cafile = \"{}\"\nrequire_certificate = true\n",
            fixture.cafile.display()
        );
        let config = Config::from_toml(&with_listener(&keys), "test").unwrap();
        let listener = &config.listeners[1];
        assert_eq!(listener.transport, ListenerTransport::Tls);
        assert_eq!(
            listener.connection_limit(),
            None,
            "-1 by default: unlimited"
        );
        assert_eq!(listener.websocket_path(), None);
        let files = listener.tls_files().unwrap();
        assert!(files.require_certificate);
        assert_eq!(files.cafile.as_deref(), Some(fixture.cafile.as_path()));
        assert_eq!(config.listeners[0].transport, ListenerTransport::Tcp);
    }

    #[test]
    fn a_missing_certfile_is_refused_naming_the_listener_key_and_file() {
        let fixture = tls_fixture();
        let missing = fixture.dir.path().join("nowhere.crt");
        let keys = tls_keys(&missing, &fixture.keyfile);
        refused_naming(
            &with_listener(&keys),
            &["`certfile`", &missing.display().to_string()],
        );
    }

    #[test]
    fn an_unreadable_keyfile_is_refused_naming_the_listener_key_and_file() {
        let fixture = tls_fixture();
        // A directory cannot be read as a file, even by root.
        let keys = tls_keys(&fixture.certfile, fixture.dir.path());
        refused_naming(
            &with_listener(&keys),
            &[
                "`keyfile`",
                &fixture.dir.path().display().to_string(),
                "cannot read",
            ],
        );
    }

    #[test]
    fn a_keyfile_without_a_key_is_refused_naming_it() {
        let fixture = tls_fixture();
        let keys = tls_keys(&fixture.certfile, &fixture.certfile);
        refused_naming(
            &with_listener(&keys),
            &[
                "`keyfile`",
                &fixture.certfile.display().to_string(),
                "no PEM private key",
            ],
        );
    }

    #[test]
    fn a_key_that_does_not_match_its_certificate_is_refused_naming_the_keyfile() {
        let fixture = tls_fixture();
        let keys = tls_keys(&fixture.certfile, &fixture.other_keyfile);
        refused_naming(
            &with_listener(&keys),
            &["`keyfile`", &fixture.other_keyfile.display().to_string()],
        );
    }

    #[test]
    fn a_missing_or_empty_cafile_is_refused_naming_it() {
        let fixture = tls_fixture();
        let missing = fixture.dir.path().join("no-ca.crt");
        let empty = crate::test_pki::write(fixture.dir.path(), "empty.crt", "");
        for cafile in [&missing, &empty] {
            let keys = tls_keys(&fixture.certfile, &fixture.keyfile)
                + &format!("cafile = \"{}\"\n", cafile.display());
            refused_naming(
                &with_listener(&keys),
                &["`cafile`", &cafile.display().to_string()],
            );
        }
    }

    #[test]
    fn an_unknown_transport_is_refused_and_named() {
        let error = Config::from_toml(&with_listener("transport = \"quic\"\n"), "shardmq.toml")
            .unwrap_err()
            .to_string();
        for name in [
            "shardmq.toml",
            "\"quic\"",
            "key `transport`",
            "listener 2 (127.0.0.1:8883)",
        ] {
            assert!(error.contains(name), "`{name}` not named in: {error}");
        }
    }

    #[test]
    fn a_path_on_a_listener_that_is_not_websocket_is_refused() {
        let fixture = tls_fixture();
        refused_naming(&with_listener("path = \"/mqtt\"\n"), &["`path`", "\"tcp\""]);
        let keys = tls_keys(&fixture.certfile, &fixture.keyfile) + "path = \"/mqtt\"\n";
        refused_naming(&with_listener(&keys), &["`path`", "\"tls\""]);
    }

    #[test]
    fn tls_keys_on_a_tcp_or_ws_listener_are_refused_and_named() {
        for (keys, named) in [
            ("certfile = \"server.crt\"\n", "`certfile`"),
            ("keyfile = \"server.key\"\n", "`keyfile`"),
            ("cafile = \"ca.crt\"\n", "`cafile`"),
            ("require_certificate = true\n", "`require_certificate`"),
            (
                "transport = \"ws\"\nuse_identity_as_username = true\n",
                "`use_identity_as_username`",
            ),
        ] {
            refused_naming(&with_listener(keys), &[named]);
        }
    }

    #[test]
    fn a_tls_listener_without_its_files_or_with_inconsistent_keys_is_refused() {
        let fixture = tls_fixture();
        refused_naming(&with_listener("transport = \"tls\"\n"), &["`certfile`"]);
        let keys = tls_keys(&fixture.certfile, &fixture.keyfile);
        refused_naming(
            &with_listener(&(keys.clone() + "require_certificate = true\n")),
            &["`require_certificate`", "cafile"],
        );
        let keys = keys + &format!("cafile = \"{}\"\n", fixture.cafile.display());
        refused_naming(
            &with_listener(&(keys + "use_identity_as_username = true\n")),
            &["`use_identity_as_username`", "require_certificate"],
        );
    }

    #[test]
    fn an_unknown_key_in_a_listener_table_is_refused_naming_the_listener_and_key() {
        refused_naming(&with_listener("max_conections = 3\n"), &["max_conections"]);
    }

    #[test]
    fn max_connections_is_minus_one_or_at_least_one() {
        for bad in ["0", "-2"] {
            refused_naming(
                &with_listener(&format!("max_connections = {bad}\n")),
                &["`max_connections`"],
            );
        }
        let config = Config::from_toml(&with_listener("max_connections = 3\n"), "test").unwrap();
        assert_eq!(config.listeners[1].connection_limit(), Some(3));
    }

    #[test]
    fn websocket_listeners_are_read_with_their_path() {
        let config = Config::from_toml(
            &with_listener("transport = \"ws\"\n\n[[listener]]\naddress = \"127.0.0.1:8080\"\ntransport = \"ws\"\npath = \"/broker\"\n"),
            "test",
        )
        .unwrap();
        assert_eq!(
            config.listeners[1].websocket_path(),
            Some(WEBSOCKET_PATH_DEFAULT)
        );
        assert_eq!(config.listeners[2].websocket_path(), Some("/broker"));
        refused_naming(
            &with_listener("transport = \"ws\"\npath = \"mqtt\"\n"),
            &["`path`"],
        );
    }

    #[test]
    fn the_example_files_listener_tables_use_only_known_keys() {
        let text = include_str!("../../shardmq.example.toml");
        let section = &text[text.find("# --- Further listeners").unwrap()..];
        let uncommented: String = section
            .lines()
            .filter_map(|line| line.strip_prefix("# "))
            .filter(|line| line.starts_with("[[listener]]") || line.contains(" = "))
            .map(|line| format!("{line}\n"))
            .collect();
        assert_eq!(
            uncommented.matches("[[listener]]").count(),
            2,
            "{uncommented}"
        );
        let error = Config::from_toml(&uncommented, "example")
            .unwrap_err()
            .to_string();
        // Every key is known: what stops it is the example's certificate path.
        assert!(
            error.contains(
                "listener 1 (0.0.0.0:8883): key `certfile`: /etc/shardmq/server.crt: cannot read"
            ),
            "{error}"
        );
    }

    #[test]
    fn empty_document_gives_the_embedded_defaults() {
        assert_eq!(Config::from_toml("", "test").unwrap(), Config::default());
    }

    #[test]
    fn unknown_key_is_refused_and_named() {
        let error = Config::from_toml("listne = []", "test").unwrap_err();
        assert!(error.to_string().contains("listne"), "{error}");
    }

    #[test]
    fn bad_address_is_refused_and_named() {
        let error = Config::from_toml("listen = [\"nowhere\"]", "test").unwrap_err();
        assert!(error.to_string().contains("listen"), "{error}");
    }

    #[test]
    fn keep_alive_bound_is_read_under_mosquittos_name_and_the_older_one() {
        for key in ["max_keepalive", "keep_alive_max_s"] {
            let config = Config::from_toml(&format!("{key} = 30"), "test").unwrap();
            assert_eq!(config.keep_alive_max_s, 30, "{key}");
        }
        let error = Config::from_toml("max_keepalive = 0", "test").unwrap_err();
        assert!(error.to_string().contains("max_keepalive"), "{error}");
    }

    #[test]
    fn too_many_shards_is_refused() {
        let error = Config::from_toml("shards = 100000", "test").unwrap_err();
        assert!(error.to_string().contains("shards"), "{error}");
    }

    #[test]
    fn example_file_states_the_defaults() {
        let text = include_str!("../../shardmq.example.toml");
        assert_eq!(
            Config::from_toml(text, "shardmq.example.toml").unwrap(),
            Config::default()
        );
    }

    #[test]
    fn persistence_table_is_read_and_unknown_fsync_mode_is_named() {
        let config = Config::from_toml(
            "[persistence]\ndir = \"/var/lib/shardmq\"\nfsync = \"interval\"\n",
            "test",
        )
        .unwrap();
        assert_eq!(config.persistence.fsync, FsyncMode::Interval);
        assert_eq!(
            config.persistence.dir,
            Some(PathBuf::from("/var/lib/shardmq"))
        );
        let error =
            Config::from_toml("[persistence]\nfsync = \"sometimes\"\n", "test").unwrap_err();
        assert!(error.to_string().contains("sometimes"), "{error}");
    }

    #[test]
    fn queue_options_reach_the_session_config() {
        let text =
            "max_queued_bytes = 4096\nqueue_qos0 = true\nqueue_full_policy = \"drop_oldest\"\n\
                    validate_payload_format = false\nresponse_information = \"replies/\"";
        let session = Config::from_toml(text, "test").unwrap().session_config();
        assert_eq!(session.max_queued_bytes, 4096);
        assert!(session.queue_qos0);
        assert_eq!(session.queue_full_policy, QueueFullPolicy::DropOldest);
        assert!(!session.validate_payload_format);
        assert_eq!(session.response_information.as_deref(), Some("replies/"));
    }

    #[test]
    fn unknown_queue_full_policy_is_refused_and_named() {
        let error = Config::from_toml("queue_full_policy = \"drop_random\"", "test").unwrap_err();
        assert!(error.to_string().contains("queue_full_policy"), "{error}");
    }

    #[test]
    fn response_information_that_is_no_mqtt_string_is_refused_and_named() {
        let error = Config::from_toml("response_information = \"a\\u0000b\"", "test").unwrap_err();
        assert!(
            error.to_string().contains("response_information"),
            "{error}"
        );
    }

    #[test]
    fn io_ring_depth_outside_what_io_uring_takes_is_refused_and_named() {
        for text in ["io_ring_depth = 0", "io_ring_depth = 65536"] {
            let error = Config::from_toml(text, "test").unwrap_err();
            assert!(error.to_string().contains("io_ring_depth"), "{error}");
        }
        let config = Config::from_toml("io_ring_depth = 128", "test").unwrap();
        assert_eq!(config.io_ring_depth, 128);
    }

    #[test]
    fn max_topic_levels_reaches_the_session_config() {
        let config = Config::from_toml("max_topic_levels = 300", "test").unwrap();
        assert_eq!(config.session_config().max_topic_levels, 300);
        assert_eq!(
            Config::default().session_config().max_topic_levels,
            limits::TOPIC_LEVELS_MAX_DEFAULT
        );
    }

    #[test]
    fn max_topic_levels_outside_its_bounds_is_refused_and_named() {
        let over = format!("max_topic_levels = {}", limits::TOPIC_LEVELS_MAX + 1);
        for text in ["max_topic_levels = 0", &over] {
            let error = Config::from_toml(text, "test").unwrap_err();
            assert!(error.to_string().contains("max_topic_levels"), "{error}");
        }
        let at_bound = format!("max_topic_levels = {}", limits::TOPIC_LEVELS_MAX);
        assert!(Config::from_toml(&at_bound, "test").is_ok());
        assert!(Config::from_toml("max_topic_levels = 1", "test").is_ok());
    }

    #[test]
    fn anonymous_clients_are_allowed_on_loopback_only_unless_the_file_says() {
        let loopback: Vec<SocketAddr> = vec![
            "127.0.0.1:1883".parse().unwrap(),
            "[::1]:1883".parse().unwrap(),
        ];
        let exposed: Vec<SocketAddr> = vec![
            "127.0.0.1:1883".parse().unwrap(),
            "0.0.0.0:1883".parse().unwrap(),
        ];
        let unset = AuthConfig::default();
        assert_eq!(anonymous_allowed(&unset, &loopback), Ok(true));
        let error = anonymous_allowed(&unset, &exposed).unwrap_err().to_string();
        assert!(
            error.contains("0.0.0.0:1883") && error.contains("allow_anonymous = true"),
            "{error}"
        );
        let with_passwords = AuthConfig {
            password_file: Some("passwd".into()),
            ..AuthConfig::default()
        };
        assert_eq!(anonymous_allowed(&with_passwords, &exposed), Ok(false));
        let open = AuthConfig {
            allow_anonymous: Some(true),
            ..AuthConfig::default()
        };
        assert_eq!(anonymous_allowed(&open, &exposed), Ok(true));
        let closed = AuthConfig {
            allow_anonymous: Some(false),
            ..AuthConfig::default()
        };
        assert_eq!(anonymous_allowed(&closed, &loopback), Ok(false));
    }

    #[test]
    fn a_non_loopback_listen_without_auth_is_refused_naming_the_fix() {
        let error = Config::from_toml("listen = [\"0.0.0.0:1883\"]", "test").unwrap_err();
        assert!(error.to_string().contains("password_file"), "{error}");
        let text = "listen = [\"0.0.0.0:1883\"]\n[auth]\nallow_anonymous = true\n";
        assert!(Config::from_toml(text, "test").is_ok());
        let text = "[auth]\npassword_file = \"p\"\nacl_file = \"a\"\ntakeover_requires_same_username = false\n";
        let auth = Config::from_toml(text, "test").unwrap().auth;
        assert_eq!(auth.acl_file, Some(PathBuf::from("a")));
        assert!(!auth.takeover_requires_same_username());
    }

    #[test]
    fn zero_receive_maximum_is_refused_and_named() {
        let error = Config::from_toml("receive_maximum = 0", "test").unwrap_err();
        assert!(error.to_string().contains("receive_maximum"), "{error}");
    }
}
