//! Runs short scenarios in-process against a Mosquitto started for the test
//! and checks that everything sent arrived exactly once. Skipped, with a
//! notice, where `mosquitto` is not installed.

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use shardmq::protocol::{ProtocolVersion, QoS};
use shardmq_loadgen::{run, Scenario, ScenarioKind};

/// A Mosquitto process on a free loopback port, stopped on drop.
struct Mosquitto {
    child: Child,
    address: SocketAddr,
    config: PathBuf,
}

/// Attempts at starting Mosquitto: a free port can be taken by another
/// test's client socket before Mosquitto binds it.
const START_ATTEMPTS: usize = 5;

/// Ports already given to a Mosquitto of this process. The tests run in
/// parallel, and a port one of them found free and released could be found
/// free by another before either Mosquitto bound it: the second test's
/// readiness check then reached the first one's broker, and its clients
/// found nothing once that broker was stopped.
static PORTS_GIVEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// A loopback port free now and never given to another Mosquitto of this process.
fn fresh_port() -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if PORTS_GIVEN.lock().unwrap().insert(port) {
            return port;
        }
    }
}

impl Mosquitto {
    fn start() -> Option<Mosquitto> {
        Mosquitto::start_with("allow_anonymous true")
    }

    /// Starts Mosquitto with `extra` lines in its configuration.
    fn start_with(extra: &str) -> Option<Mosquitto> {
        for attempt in 0..START_ATTEMPTS {
            match Mosquitto::start_once(attempt, extra) {
                Ok(broker) => return Some(broker),
                Err(StartFailure::Missing) => {
                    eprintln!("notice: `mosquitto` is not on the PATH; skipping this test");
                    return None;
                }
                Err(StartFailure::Exited) => {}
            }
        }
        panic!("mosquitto exited at start {START_ATTEMPTS} times");
    }

    fn start_once(attempt: usize, extra: &str) -> Result<Mosquitto, StartFailure> {
        let port = fresh_port();
        let config = std::env::temp_dir().join(format!(
            "loadgen-test-mosquitto-{}-{port}-{attempt}.conf",
            std::process::id()
        ));
        std::fs::write(
            &config,
            format!(
                "listener {port} 127.0.0.1\n{extra}\npersistence false\nset_tcp_nodelay true\n"
            ),
        )
        .unwrap();
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|_| StartFailure::Missing)?;
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let mut broker = Mosquitto {
            child,
            address,
            config,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if broker.child.try_wait().unwrap().is_some() {
                return Err(StartFailure::Exited);
            }
            if TcpStream::connect(address).is_ok() {
                return Ok(broker);
            }
            assert!(
                Instant::now() < deadline,
                "mosquitto did not start listening on {address}"
            );
            std::thread::yield_now();
        }
    }
}

/// Why one attempt at starting Mosquitto failed.
enum StartFailure {
    /// There is no `mosquitto` to run.
    Missing,
    /// It exited before listening (its port was taken).
    Exited,
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.config);
    }
}

fn p2p(broker: &Mosquitto, qos: QoS, protocol_version: ProtocolVersion) -> Scenario {
    let mut scenario = Scenario::new(ScenarioKind::PointToPoint, broker.address);
    scenario.shards = 2;
    scenario.publishers = 4;
    scenario.qos = qos;
    scenario.protocol_version = protocol_version;
    scenario.count = 200;
    scenario.duration = Duration::from_secs(30);
    scenario.drain = Duration::from_secs(10);
    scenario.broker_pid = Some(broker.child.id());
    scenario
}

fn assert_exactly_once(scenario: &Scenario) {
    let report = run(scenario).expect("the run starts");
    assert_eq!(report.connections_established, 8, "{report:#?}");
    assert_eq!(report.published, 800, "{report:#?}");
    assert_eq!(report.expected_deliveries, 800, "{report:#?}");
    assert_eq!(report.lost, 0, "{report:#?}");
    assert_eq!(report.duplicates, 0, "{report:#?}");
    assert_eq!(report.delivered, 800, "{report:#?}");
    assert_eq!(report.errors.total(), 0, "{report:#?}");
    assert_eq!(report.latency_delivery.count, 800, "{report:#?}");
    assert!(!report.is_failure());
}

#[test]
fn p2p_qos1_delivers_every_message_exactly_once() {
    let Some(broker) = Mosquitto::start() else {
        return;
    };
    let scenario = p2p(&broker, QoS::AtLeastOnce, ProtocolVersion::V3_1_1);
    assert_exactly_once(&scenario);
}

#[test]
fn p2p_qos2_over_v5_delivers_every_message_exactly_once() {
    let Some(broker) = Mosquitto::start() else {
        return;
    };
    let scenario = p2p(&broker, QoS::ExactlyOnce, ProtocolVersion::V5);
    assert_exactly_once(&scenario);
}

#[test]
fn open_loop_p2p_sends_on_schedule_and_loses_nothing() {
    let Some(broker) = Mosquitto::start() else {
        return;
    };
    let mut scenario = p2p(&broker, QoS::AtLeastOnce, ProtocolVersion::V3_1_1);
    scenario.rate_per_s = 2000.0;
    assert_exactly_once(&scenario);
}

#[test]
fn unreachable_broker_is_reported_as_a_failed_scenario() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut scenario = Scenario::new(
        ScenarioKind::PointToPoint,
        SocketAddr::from(([127, 0, 0, 1], port)),
    );
    scenario.shards = 1;
    scenario.publishers = 2;
    scenario.count = 10;
    let report = run(&scenario).expect("the run starts");
    assert_eq!(report.connections_established, 0);
    assert_eq!(report.errors.connect_failed, 4);
    assert!(report.is_failure());
}

#[test]
fn idle_connections_are_held_and_counted() {
    let Some(broker) = Mosquitto::start() else {
        return;
    };
    let mut scenario = Scenario::new(ScenarioKind::Conn { connections: 50 }, broker.address);
    scenario.shards = 2;
    scenario.duration = Duration::from_millis(200);
    scenario.connect_rate_per_s = 5000.0;
    scenario.broker_pid = Some(broker.child.id());
    let report = run(&scenario).expect("the run starts");
    assert_eq!(report.connections_established, 50, "{report:#?}");
    assert_eq!(report.latency_connack.count, 50);
    assert!(report.broker_rss_after_bytes.is_some());
    assert!(!report.is_failure());
}

#[test]
fn refused_connect_is_reported_with_its_reason_code() {
    let Some(broker) = Mosquitto::start_with("allow_anonymous false") else {
        return;
    };
    let mut scenario = p2p(&broker, QoS::AtLeastOnce, ProtocolVersion::V5);
    scenario.publishers = 1;
    let report = run(&scenario).expect("the run starts");
    assert_eq!(report.connections_established, 0, "{report:#?}");
    let refused = serde_json::to_value(&report.errors.connack_refused).unwrap();
    assert_eq!(refused["0x87 NotAuthorized"], 2, "{report:#?}");
    assert!(report.is_failure());
}
