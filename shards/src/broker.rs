//! Starting and stopping the broker: listeners, the ring mesh and one pinned
//! glommio executor per shard.

use std::net::SocketAddr;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use glommio::{CpuSet, ExecutorJoinHandle, LocalExecutorBuilder, Placement, PoolPlacement};

use shardmq::limits;

use crate::auth::AuthRegistry;
use crate::config::{Config, ConfigError, ListenerConfig, ListenerTransport};
use crate::listener::{bind_all, BindError, ListenSpec};
use crate::persist::{self, DirLock, FailStop, LoadOptions, PersistError, PersistSetup};
use crate::ring::mesh_ends;
use crate::seeds::random_label_seeds;
use crate::shard::{self, ShardSetup};
use crate::stats::{BrokerStats, StatsSnapshot};
use crate::stop::StopSignal;
use crate::transport::{TlsListener, TransportKind};

/// io_uring buffer memory per shard: the broker does no file I/O through
/// io_uring (the journal writes on blocking threads), so the executor's
/// registered DMA area is kept small (it counts against memlock).
const SHARD_IO_MEMORY_BYTES: usize = 256 * 1024;

/// Blocking threads per shard with persistence: one for journal batches, one
/// for a snapshot being written, so a snapshot never delays a group commit.
const SHARD_BLOCKING_THREADS: usize = 2;

/// Why the broker did not start.
#[derive(Debug)]
pub enum StartError {
    /// The configuration is invalid.
    Config(ConfigError),
    /// A listening address could not be bound.
    Bind(BindError),
    /// An executor thread could not be created.
    Executor(String),
    /// The data directory cannot be used as it is.
    Persistence(PersistError),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Config(error) => write!(f, "{error}"),
            StartError::Bind(error) => write!(f, "{error}"),
            StartError::Executor(message) => write!(f, "cannot start shard: {message}"),
            StartError::Persistence(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for StartError {}

/// The broker, started with [`Broker::start`].
pub struct Broker;

/// A running broker: its addresses, counters and the shard threads.
pub struct BrokerHandle {
    local_addrs: Vec<SocketAddr>,
    shard_count: usize,
    auth: Arc<AuthRegistry>,
    stop: Arc<StopSignal>,
    fail_stop: Arc<FailStop>,
    stats: Arc<BrokerStats>,
    threads: Vec<ExecutorJoinHandle<()>>,
    /// The TLS listeners, whose material SIGHUP reloads.
    tls_listeners: Vec<Arc<TlsListener>>,
    /// Held until the shards stopped (dropped after them: fields drop in order).
    _data_dir_lock: Option<DirLock>,
}

impl Broker {
    /// Validates `config`, binds every listener on every shard and starts the shards.
    ///
    /// ```no_run
    /// use shardmq_shards::{Broker, Config};
    ///
    /// let config = Config {
    ///     listen: vec!["127.0.0.1:0".parse().unwrap()],
    ///     shards: 2,
    ///     ..Config::default()
    /// };
    /// let broker = Broker::start(config).unwrap();
    /// println!("listening on {}", broker.local_addr());
    /// broker.shutdown();
    /// ```
    pub fn start(config: Config) -> Result<BrokerHandle, StartError> {
        let cpus = online_cpus();
        let pin_shards = config.pin_shards;
        start_placed(config, |index| match (&cpus, pin_shards) {
            (Some(cpus), true) => Placement::Fixed(cpus[index % cpus.len()]),
            _ => Placement::Unbound,
        })
    }
}

/// Opens the data directory when persistence is on: the lock and, per shard,
/// what it starts from. Without one, says so in the log.
fn open_data_dir(
    config: &Config,
    shard_count: usize,
    fail_stop: &Arc<FailStop>,
) -> Result<(Option<DirLock>, impl Iterator<Item = PersistSetup>), StartError> {
    let persistence = &config.persistence;
    let Some(dir) = &persistence.dir else {
        tracing::info!(
            "no data directory: sessions and retained messages are not persisted \
             (set persistence.dir or --data-dir to keep them)"
        );
        return Ok((None, Vec::new().into_iter()));
    };
    let options = LoadOptions {
        recover: persistence.recover,
        queue: config.session_config().queue_bounds(),
    };
    let opened =
        persist::open_on_own_thread(dir, shard_count, options).map_err(StartError::Persistence)?;
    let setups: Vec<PersistSetup> = opened
        .shards
        .into_iter()
        .map(|restore| PersistSetup {
            gen_dir: opened.gen_dir.clone(),
            restore,
            config: persistence.clone(),
            fail_stop: Arc::clone(fail_stop),
        })
        .collect();
    tracing::info!(
        dir = %dir.display(),
        fsync = ?persistence.fsync,
        snapshot_interval_s = persistence.snapshot_interval_s,
        "persistence on"
    );
    Ok((Some(opened.lock), setups.into_iter()))
}

/// [`Broker::start`] with the placement of each shard chosen by `placement_of`.
/// When a shard cannot start, the shards already started are stopped and
/// joined before the error is returned, so nothing is left running.
fn start_placed(
    config: Config,
    placement_of: impl Fn(usize) -> Placement,
) -> Result<BrokerHandle, StartError> {
    config.validate().map_err(StartError::Config)?;
    let auth = Arc::new(AuthRegistry::load(&config).map_err(StartError::Config)?);
    let shard_count = config.shard_count();
    let specs = listen_specs(&config).map_err(StartError::Config)?;
    let tls_listeners = specs
        .iter()
        .filter_map(|spec| match &spec.transport {
            TransportKind::Tls(listener) | TransportKind::Wss { listener, .. } => {
                Some(Arc::clone(listener))
            }
            TransportKind::Tcp | TransportKind::Ws { .. } => None,
        })
        .collect();
    let bound = bind_all(&specs, shard_count).map_err(StartError::Bind)?;
    let stop = Arc::new(StopSignal::default());
    let fail_stop = Arc::new(FailStop::new(Arc::clone(&stop)));
    let (data_dir_lock, mut persist_setups) = open_data_dir(&config, shard_count, &fail_stop)?;
    let stats = Arc::new(BrokerStats::default());
    let epoch = Instant::now();
    let label_seeds = random_label_seeds();
    let mut threads = Vec::with_capacity(shard_count);
    let rings = mesh_ends(shard_count);
    let mut ready = Vec::with_capacity(shard_count);
    for (index, (listeners, rings)) in bound.per_shard.into_iter().zip(rings).enumerate() {
        let placement = placement_of(index);
        let (ready_sender, ready_receiver) = mpsc::sync_channel(1);
        ready.push(ready_receiver);
        let setup = ShardSetup {
            ready: ready_sender,
            index,
            shard_count,
            config: config.clone(),
            listeners,
            rings,
            stop: Arc::clone(&stop),
            stats: stats.register_shard(),
            epoch,
            label_seeds,
            persistence: persist_setups.next(),
            auth: Arc::clone(&auth),
        };
        let spawned = LocalExecutorBuilder::new(placement)
            .name(&format!("shardmq-{index}"))
            .io_memory(SHARD_IO_MEMORY_BYTES)
            .ring_depth(config.io_ring_depth as usize)
            .blocking_thread_pool_placement(PoolPlacement::Unbound(SHARD_BLOCKING_THREADS))
            .spawn(move || shard::run(setup));
        match spawned {
            Ok(thread) => threads.push(thread),
            Err(error) => {
                stop_started(&stop, threads);
                return Err(StartError::Executor(format!("shard {index}: {error}")));
            }
        }
    }
    if let Err(error) = wait_until_ready(&ready, &mut threads) {
        stop_started(&stop, threads);
        return Err(error);
    }
    Ok(BrokerHandle {
        local_addrs: bound.local_addrs,
        shard_count,
        auth,
        stop,
        fail_stop,
        stats,
        threads,
        tls_listeners,
        _data_dir_lock: data_dir_lock,
    })
}

/// The listeners `config` asks for: every `listen` address speaks MQTT over
/// plain TCP, then each `[[listener]]` what it says, with its TLS material
/// loaded.
fn listen_specs(config: &Config) -> Result<Vec<ListenSpec>, ConfigError> {
    let plain = config.listen.iter().map(|&address| {
        Ok(ListenSpec {
            address,
            transport: TransportKind::Tcp,
            max_connections: None,
        })
    });
    let further = config
        .listeners
        .iter()
        .enumerate()
        .map(|(index, listener)| {
            Ok(ListenSpec {
                address: listener.address,
                transport: listener_transport(listener, index)?,
                max_connections: listener.connection_limit(),
            })
        });
    plain.chain(further).collect()
}

/// The transport of the `index`th `[[listener]]`, its material loaded.
fn listener_transport(
    listener: &ListenerConfig,
    index: usize,
) -> Result<TransportKind, ConfigError> {
    let label = listener.label(index);
    match listener.transport {
        ListenerTransport::Tcp => Ok(TransportKind::Tcp),
        ListenerTransport::Tls => load_tls(listener, &label).map(TransportKind::Tls),
        ListenerTransport::Ws => Ok(TransportKind::Ws {
            path: websocket_path(listener),
        }),
        ListenerTransport::Wss => Ok(TransportKind::Wss {
            listener: load_tls(listener, &label)?,
            path: websocket_path(listener),
        }),
    }
}

/// The upgrade path of a WebSocket listener.
fn websocket_path(listener: &ListenerConfig) -> Arc<str> {
    Arc::from(
        listener
            .websocket_path()
            .unwrap_or(crate::config::WEBSOCKET_PATH_DEFAULT),
    )
}

/// The TLS material of `listener` (`label` names it in errors).
fn load_tls(listener: &ListenerConfig, label: &str) -> Result<Arc<TlsListener>, ConfigError> {
    let files = listener.tls_files().ok_or_else(|| {
        ConfigError::new(format!(
            "{label}: a TLS listener needs certfile and keyfile"
        ))
    })?;
    TlsListener::load(label.to_owned(), files, listener.use_identity_as_username)
        .map(Arc::new)
        .map_err(|error| ConfigError::new(format!("{label}: {error}")))
}

/// Stops the shards started so far and waits for their threads: a shard
/// still connecting its rings gives up once it sees the stop.
fn stop_started(stop: &StopSignal, threads: Vec<ExecutorJoinHandle<()>>) {
    stop.request();
    for thread in threads {
        if let Err(error) = thread.join() {
            tracing::debug!(%error, "shard thread ended abnormally while the broker did not start");
        }
    }
}

/// Waits for every shard to report its rings connected. A shard whose executor
/// could not be built (io_uring unavailable, CPU not allowed) ends its thread
/// without reporting, and its error is returned instead of a broker whose other
/// shards wait for it forever; the caller then stops the others.
fn wait_until_ready(
    ready: &[mpsc::Receiver<()>],
    threads: &mut Vec<ExecutorJoinHandle<()>>,
) -> Result<(), StartError> {
    let deadline = Instant::now() + Duration::from_millis(limits::SHARD_START_TIMEOUT_MS);
    let mut pending: Vec<usize> = (0..ready.len()).collect();
    while !pending.is_empty() {
        let mut failed = None;
        pending.retain(|&index| match ready[index].try_recv() {
            Ok(()) => false,
            Err(mpsc::TryRecvError::Empty) => true,
            Err(mpsc::TryRecvError::Disconnected) => {
                failed.get_or_insert(index);
                false
            }
        });
        if let Some(index) = failed {
            let reason = match threads.remove(index).join() {
                Err(error) => error.to_string(),
                Ok(()) => "it stopped before it was ready".to_owned(),
            };
            return Err(StartError::Executor(format!("shard {index}: {reason}")));
        }
        if Instant::now() >= deadline {
            return Err(StartError::Executor(format!(
                "shards {pending:?} not ready within {} ms",
                limits::SHARD_START_TIMEOUT_MS
            )));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

/// The CPUs this process may run on (its affinity), lowest first; `None`
/// when the affinity cannot be read.
pub fn allowed_cpus() -> Option<Vec<usize>> {
    let allowed = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)).ok()?;
    Some(
        (0..nix::sched::CpuSet::count())
            .filter(|&cpu| allowed.is_set(cpu).unwrap_or(false))
            .collect(),
    )
}

/// The CPUs shards are pinned to: the online ones this process may run on.
/// The default shard count follows the process's CPU affinity (`taskset`, a
/// cgroup cpuset), so the placement must too, or a broker confined to CPU 1
/// would put its one shard on CPU 0.
fn online_cpus() -> Option<Vec<usize>> {
    let allowed = allowed_cpus();
    let may_run_on = |cpu: usize| {
        allowed
            .as_ref()
            .map_or(true, |allowed| allowed.binary_search(&cpu).is_ok())
    };
    let mut cpus: Vec<usize> = CpuSet::online()
        .ok()?
        .into_iter()
        .map(|cpu| cpu.cpu)
        .filter(|&cpu| may_run_on(cpu))
        .collect();
    // glommio's set comes in no fixed order; shard i takes the i-th lowest
    // CPU, so that `--shards 1` is on CPU 0 in every run, not on whichever
    // CPU a load generator pinned next to it happens to use.
    cpus.sort_unstable();
    (!cpus.is_empty()).then_some(cpus)
}

impl BrokerHandle {
    /// The first listening address (port 0 resolved).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addrs[0]
    }

    /// Every listening address, in configuration order.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// The number of shards running.
    pub fn shard_count(&self) -> usize {
        self.shard_count
    }

    /// What reloads the TLS listeners' material, from any thread (a SIGHUP
    /// handler).
    pub fn tls_reloader(&self) -> TlsReloader {
        TlsReloader(self.tls_listeners.clone())
    }

    /// Connections moved to their home shard after CONNECT so far.
    pub fn handoffs(&self) -> u64 {
        self.stats.snapshot().handoffs
    }

    /// All counters, summed over the shards.
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// The registry of every shard's counters, to sum or list per shard on
    /// any thread, also after the broker stopped.
    pub fn stats_handle(&self) -> Arc<BrokerStats> {
        Arc::clone(&self.stats)
    }

    /// The password and ACL files in force, to reload (on SIGHUP) from any
    /// thread: connections made after a reload use the new files.
    pub fn auth_handle(&self) -> Arc<AuthRegistry> {
        Arc::clone(&self.auth)
    }

    /// Asks the shards to stop: they stop accepting, send DISCONNECT 0x8B to 5.0
    /// clients, flush for at most the configured time and exit.
    pub fn request_stop(&self) {
        self.stop.request();
    }

    /// A handle that asks the broker to stop from another thread (a signal handler).
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle(Arc::clone(&self.stop))
    }

    /// Why the broker stopped itself: a journal write or fsync failed (see
    /// `persist::FailStop`). `None` while it has not.
    pub fn failure(&self) -> Option<String> {
        self.fail_stop.reason()
    }

    /// Waits for every shard thread to end, after a stop was requested or the
    /// broker stopped itself; `Err` with the reason in the latter case.
    pub fn wait_stopped(mut self) -> Result<(), String> {
        self.join_threads();
        self.failure().map_or(Ok(()), Err)
    }

    /// Requests a stop and waits for every shard thread to end.
    pub fn shutdown(mut self) {
        self.request_stop();
        self.join_threads();
    }

    /// Waits for every shard thread to end (after [`BrokerHandle::request_stop`]).
    pub fn join(mut self) {
        self.join_threads();
    }

    fn join_threads(&mut self) {
        for thread in self.threads.drain(..) {
            if let Err(error) = thread.join() {
                tracing::error!(%error, "shard thread ended abnormally");
            }
        }
    }
}

/// Asks a running broker to stop, from any thread ([`BrokerHandle::stop_handle`]).
#[derive(Clone, Debug)]
pub struct StopHandle(Arc<StopSignal>);

impl StopHandle {
    /// As [`BrokerHandle::request_stop`].
    pub fn request_stop(&self) {
        self.0.request();
    }
}

/// Reloads every TLS listener's certificate, key and CA files
/// ([`BrokerHandle::tls_reloader`]). Connections keep the material they
/// were made with; new handshakes get the new one.
#[derive(Clone, Debug)]
pub struct TlsReloader(Vec<Arc<TlsListener>>);

impl TlsReloader {
    /// Reloads each listener's files; a listener whose files do not make a
    /// valid configuration keeps its old one, and is logged with the reason.
    /// The number of listeners reloaded and of those that kept their material.
    pub fn reload(&self) -> (usize, usize) {
        let mut reloaded = 0;
        let mut kept = 0;
        for listener in &self.0 {
            match listener.reload() {
                Ok(()) => {
                    reloaded += 1;
                    tracing::info!(listener = listener.label(), "TLS material reloaded");
                }
                Err(error) => {
                    kept += 1;
                    tracing::warn!(listener = listener.label(), %error, "TLS material not reloaded; the old one stays in use");
                }
            }
        }
        (reloaded, kept)
    }
}

/// A handle dropped without [`BrokerHandle::shutdown`] (a failing test, say)
/// still stops its shards rather than leaving them running.
impl Drop for BrokerHandle {
    fn drop(&mut self) {
        self.request_stop();
        self.join_threads();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A CPU number no machine has: glommio refuses to pin to it.
    const NO_SUCH_CPU: usize = 1 << 20;

    #[test]
    fn shards_take_the_online_cpus_lowest_first() {
        let cpus = online_cpus().expect("a machine has online CPUs");
        let mut sorted = cpus.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(cpus, sorted);
    }

    #[test]
    fn shard_that_cannot_be_pinned_fails_the_start_and_stops_the_started_shards() {
        let address = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap()
        };
        let config = Config {
            listen: vec![address],
            shards: 2,
            ..Config::default()
        };
        let started = start_placed(config, |index| match index {
            0 => Placement::Unbound,
            _ => Placement::Fixed(NO_SUCH_CPU),
        });
        let Err(StartError::Executor(message)) = started else {
            panic!("a shard that cannot be pinned must fail the start");
        };
        assert!(message.starts_with("shard 1:"), "{message}");
        // Shard 0 bound its listener before shard 1 failed; it is closed only
        // once shard 0's thread has ended.
        let refused = std::net::TcpStream::connect(address).unwrap_err();
        assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    }
}
