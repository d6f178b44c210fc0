//! The `shardmq` broker binary: command line, configuration, logging and signals.
//!
//! SIGHUP reloads every TLS listener's certificate, key and CA files;
//! connections keep working, new handshakes get the new material, and a
//! listener whose files do not load keeps its old material (logged).
//!
//! Exit codes: 0 after a clean stop (SIGINT/SIGTERM), 2 for a configuration,
//! listening or data-directory error (a damaged snapshot, a directory in use),
//! 3 when a journal write or fsync failed while running (the broker stopped
//! itself without acknowledging what was not durable), 1 for anything else.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use shardmq_shards::auth::AuthRegistry;
use shardmq_shards::passwd::{self, PasswdChange};
use shardmq_shards::persist::EXIT_CODE_JOURNAL_FAILED;
use shardmq_shards::{Broker, Config, ListenerConfig, ListenerTransport, StartError};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// Extra time the process gives the shards beyond their own flush bound before it
/// exits regardless.
const SHUTDOWN_WATCHDOG_SLACK_MS: u64 = 3_000;

/// shardmq: a thread-per-core MQTT 3.1/3.1.1/5.0 broker.
///
/// Without --config it runs on embedded defaults: listen on 127.0.0.1:1883,
/// anonymous clients allowed (on loopback only), no persistence. Every option of the config file is
/// documented in shardmq.example.toml.
#[derive(Debug, Parser)]
#[command(name = "shardmq", version, about, long_about)]
struct Cli {
    /// TOML configuration file (see shardmq.example.toml).
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Address to accept MQTT over TCP on; repeat for several. Replaces `listen` of the file.
    #[arg(long, value_name = "ADDR")]
    listen: Vec<SocketAddr>,
    /// Number of shards (executor threads, one per CPU); 0 means one per CPU the process may run on.
    #[arg(long, value_name = "N")]
    shards: Option<usize>,
    /// Log filter in RUST_LOG syntax, e.g. `info` or `shardmq_shards=debug`.
    /// Without it RUST_LOG applies, then the file's `log_level`.
    #[arg(long, value_name = "FILTER")]
    log_level: Option<String>,
    /// Data directory for snapshots and journals; replaces `persistence.dir` of the file.
    /// Without either, nothing is persisted.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Start even if a snapshot is damaged: move it aside as `*.damaged-<unix time>`
    /// and start from what can be read (the journals). Without it such damage stops
    /// the start with exit code 2.
    #[arg(long)]
    recover: bool,
    /// Address to accept MQTT over TLS on, with --certfile and --keyfile: adds
    /// a `[[listener]]` with transport "tls" to those of the file.
    #[arg(long, value_name = "ADDR", requires_all = ["certfile", "keyfile"])]
    tls_listen: Option<SocketAddr>,
    /// The --tls-listen listener's certificate chain, PEM.
    #[arg(long, value_name = "PATH", requires = "tls_listen")]
    certfile: Option<PathBuf>,
    /// The --tls-listen listener's private key, PEM (PKCS#8, RSA or SEC1).
    #[arg(long, value_name = "PATH", requires = "tls_listen")]
    keyfile: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Adds, updates or deletes a user of a Mosquitto password file (for
    /// `[auth] password_file`), as mosquitto_passwd does: `shardmq passwd
    /// FILE USER` asks for the password twice on the terminal.
    Passwd(PasswdArgs),
}

#[derive(Debug, Args)]
struct PasswdArgs {
    /// Create the file, replacing one that exists.
    #[arg(short = 'c', conflicts_with = "delete")]
    create: bool,
    /// Take the password from the command line (it shows in the process
    /// list and the shell history).
    #[arg(short = 'b', conflicts_with = "delete", requires = "password")]
    batch: bool,
    /// Delete the user.
    #[arg(short = 'D')]
    delete: bool,
    /// The password file.
    file: PathBuf,
    /// The user name.
    user: String,
    /// The password, with -b.
    password: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Passwd(args)) = &cli.command {
        return run_passwd(args);
    }
    let config = match load_config(&cli) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("shardmq: {message}");
            return ExitCode::from(2);
        }
    };
    init_tracing(&cli, &config);
    describe_start(&cli, &config);
    let broker = match Broker::start(config.clone()) {
        Ok(broker) => broker,
        Err(error @ (StartError::Config(_) | StartError::Bind(_) | StartError::Persistence(_))) => {
            eprintln!("shardmq: {error}");
            return ExitCode::from(2);
        }
        Err(error) => {
            eprintln!("shardmq: {error}");
            return ExitCode::from(1);
        }
    };
    // Handlers first: a SIGTERM right after "listening" must stop the broker
    // cleanly (final snapshot), not kill it.
    let mut signals = match Signals::new([SIGINT, SIGTERM]) {
        Ok(signals) => signals,
        Err(error) => {
            eprintln!("shardmq: cannot install signal handlers: {error}");
            broker.shutdown();
            return ExitCode::from(1);
        }
    };
    let mut reload_signals = match Signals::new([SIGHUP]) {
        Ok(signals) => signals,
        Err(error) => {
            eprintln!("shardmq: cannot install the SIGHUP handler: {error}");
            broker.shutdown();
            return ExitCode::from(1);
        }
    };
    // Before "listening": a SIGHUP from then on reloads, never kills.
    let reloader = broker.tls_reloader();
    std::thread::spawn(move || {
        for _ in reload_signals.forever() {
            let (reloaded, kept) = reloader.reload();
            tracing::info!(reloaded, kept, "SIGHUP: TLS material reload done");
        }
    });
    let transports = config
        .listen
        .iter()
        .map(|_| "TCP")
        .chain(
            config
                .listeners
                .iter()
                .map(|listener| match listener.transport {
                    ListenerTransport::Tcp => "TCP",
                    ListenerTransport::Tls => "TLS",
                    ListenerTransport::Ws => "WebSocket",
                    ListenerTransport::Wss => "WebSocket over TLS",
                }),
        );
    for (address, transport) in broker.local_addrs().iter().zip(transports) {
        tracing::info!(%address, shards = broker.shard_count(), "listening for MQTT over {transport}");
    }
    reload_auth_on_sighup(broker.auth_handle());
    // The broker stops on a signal, or by itself when its journal fails.
    let stopper = broker.stop_handle();
    let watchdog_ms = config.shutdown_flush_ms + SHUTDOWN_WATCHDOG_SLACK_MS;
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            tracing::info!(
                signal,
                "stopping: no new connections, disconnecting clients"
            );
            stopper.request_stop();
            std::thread::sleep(Duration::from_millis(watchdog_ms));
            eprintln!("shardmq: shards did not stop within {watchdog_ms} ms, exiting");
            std::process::exit(0);
        }
    });
    let stats = broker.stats_handle();
    let outcome = broker.wait_stopped();
    let counters = stats.snapshot();
    let drops = counters.session_drops;
    tracing::info!(
        accepted = counters.connections_accepted,
        refused = counters.connections_refused,
        handoffs = counters.handoffs,
        malformed = counters.malformed_packets,
        parks = counters.parks,
        unparks = counters.unparks,
        qos0_dropped = counters.qos0_dropped,
        queue_full_dropped = drops.dropped_queue_full,
        queue_full_qos0_dropped = drops.dropped_qos0,
        expired_dropped = drops.dropped_expired,
        too_large_dropped = drops.dropped_too_large,
        offline_qos0_dropped = drops.dropped_qos0_offline,
        publisher_pauses = counters.publisher_pauses,
        publishing_paused_ms = counters.publishing_paused_ms,
        stalled_subscribers = counters.stalled_subscribers,
        stalled_subscribers_disconnected = counters.stalled_subscribers_disconnected,
        sys_publishes_refused = counters.sys_publishes_refused,
        ring_items_dropped = counters.ring_items_dropped,
        publishes_dropped_at_full_outbox = counters.ring_publishes_dropped,
        replication_past_outbox_bound = counters.ring_messages_over_capacity,
        refused_by_listener_limit = counters.connections_refused_by_limit,
        tls_handshakes = counters.tls_handshakes,
        tls_handshakes_failed = counters.tls_handshakes_failed,
        auth_succeeded = counters.auth_succeeded,
        auth_failed = counters.auth_failed,
        auth_throttled = counters.auth_throttled,
        takeovers_refused = counters.takeovers_refused,
        acl_subscribe_denied = counters.acl_subscribe_denied,
        acl_publish_denied = counters.acl_publish_denied,
        acl_read_denied = counters.acl_read_denied,
        "broker counters"
    );
    match outcome {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(reason) => {
            eprintln!("shardmq: stopped: {reason}");
            ExitCode::from(EXIT_CODE_JOURNAL_FAILED)
        }
    }
}

/// `shardmq passwd`: exit 0 when the file was written, 1 otherwise.
fn run_passwd(args: &PasswdArgs) -> ExitCode {
    let change = if args.delete {
        Ok(PasswdChange::Delete)
    } else if args.batch {
        Ok(PasswdChange::Set {
            password: args.password.clone().unwrap_or_default(),
        })
    } else if args.password.is_some() {
        Err("a password on the command line needs -b".to_owned())
    } else {
        prompt_password().map(|password| PasswdChange::Set { password })
    };
    match change.and_then(|change| passwd::update(&args.file, &args.user, &change, args.create)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("shardmq passwd: {message}");
            ExitCode::from(1)
        }
    }
}

fn prompt_password() -> Result<String, String> {
    if !std::io::stdin().is_terminal() {
        return Err("no terminal to ask for the password on; use -b FILE USER PASSWORD".to_owned());
    }
    let first = rpassword::prompt_password("Password: ").map_err(|error| error.to_string())?;
    let second =
        rpassword::prompt_password("Reenter password: ").map_err(|error| error.to_string())?;
    if first != second {
        return Err("the passwords do not match".to_owned());
    }
    Ok(first)
}

/// Reloads the password and ACL files on every SIGHUP, on a thread of its
/// own; a file that fails to load keeps the old ones, and the log says why.
fn reload_auth_on_sighup(auth: std::sync::Arc<AuthRegistry>) {
    let mut hangups = match Signals::new([SIGHUP]) {
        Ok(signals) => signals,
        Err(error) => {
            tracing::warn!(%error, "cannot watch SIGHUP: the auth files will not be reloaded");
            return;
        }
    };
    std::thread::spawn(move || {
        for _ in hangups.forever() {
            match auth.reload() {
                Ok(()) => tracing::info!("SIGHUP: password and ACL files reloaded"),
                Err(error) => {
                    tracing::error!(%error, "SIGHUP: reload failed, the previous files stay in force")
                }
            }
        }
    });
}

fn load_config(cli: &Cli) -> Result<Config, String> {
    let mut config = match &cli.config {
        Some(path) => Config::from_file(path).map_err(|error| error.to_string())?,
        None => Config::default(),
    };
    if !cli.listen.is_empty() {
        config.listen = cli.listen.clone();
    }
    if let Some(shards) = cli.shards {
        config.shards = shards;
    }
    if let Some(log_level) = &cli.log_level {
        config.log_level = log_level.clone();
    }
    if let Some(data_dir) = &cli.data_dir {
        config.persistence.dir = Some(data_dir.clone());
    }
    config.persistence.recover = cli.recover;
    if let (Some(address), Some(certfile), Some(keyfile)) =
        (cli.tls_listen, &cli.certfile, &cli.keyfile)
    {
        config.listeners.push(ListenerConfig {
            address,
            transport: ListenerTransport::Tls,
            certfile: Some(certfile.clone()),
            keyfile: Some(keyfile.clone()),
            cafile: None,
            require_certificate: false,
            use_identity_as_username: false,
            path: None,
            max_connections: -1,
        });
    }
    config.validate().map_err(|error| {
        let origin = cli
            .config
            .as_ref()
            .map(|path| path.display().to_string())
            .unwrap_or_else(|| "command line".to_owned());
        format!("{origin}: {error}")
    })?;
    Ok(config)
}

fn init_tracing(cli: &Cli, config: &Config) {
    let from_env = std::env::var("RUST_LOG")
        .ok()
        .filter(|_| cli.log_level.is_none());
    let filter = from_env
        .and_then(|value| tracing_subscriber::EnvFilter::try_new(value).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new(&config.log_level));
    // Colours for a terminal only: a log file or a pipe gets plain text.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal())
        .init();
}

fn describe_start(cli: &Cli, config: &Config) {
    match &cli.config {
        Some(path) => tracing::info!(config = %path.display(), "configuration loaded"),
        None => tracing::info!(
            listen = ?config.listen,
            "no config file: embedded defaults (anonymous clients allowed on loopback, no persistence \
             unless --data-dir); use --config shardmq.toml (see shardmq.example.toml) or \
             --listen to change"
        ),
    }
    tracing::info!(
        shards = config.shard_count(),
        maximum_packet_size = config.maximum_packet_size,
        connect_timeout_ms = config.connect_timeout_ms,
        "broker settings"
    );
}
