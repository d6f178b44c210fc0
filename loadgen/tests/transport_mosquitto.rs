//! Runs short p2p scenarios over TLS, WebSocket and WebSocket over TLS
//! against a Mosquitto started for the test, with certificates made at test
//! time, and checks that everything sent arrived exactly once. Mosquitto is
//! the independent peer here: its OpenSSL and libwebsockets check loadgen's
//! handshakes and frames. A missing `mosquitto` fails these tests.

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use shardmq::protocol::{ProtocolVersion, QoS};
use shardmq_loadgen::{
    run, ClientCertificate, Report, Scenario, ScenarioKind, TlsOptions, TransportOptions,
    WebSocketOptions,
};

/// Certificates in PEM files: a CA, a server certificate it signed for
/// `localhost` and 127.0.0.1, and a client certificate it signed.
struct Certificates {
    dir: PathBuf,
}

impl Certificates {
    fn make(name: &str) -> Certificates {
        let dir =
            std::env::temp_dir().join(format!("loadgen-test-certs-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, format!("loadgen test CA {name}"));
        let ca_key = KeyPair::generate().unwrap();
        let ca = ca_params.self_signed(&ca_key).unwrap();
        std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        for (file, names) in [
            (
                "server",
                vec!["localhost".to_string(), "127.0.0.1".to_string()],
            ),
            ("client", vec!["loadgen-client".to_string()]),
        ] {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(names).unwrap();
            params.distinguished_name.push(DnType::CommonName, file);
            let certificate = params.signed_by(&key, &issuer).unwrap();
            std::fs::write(dir.join(format!("{file}.pem")), certificate.pem()).unwrap();
            std::fs::write(dir.join(format!("{file}.key")), key.serialize_pem()).unwrap();
        }
        Certificates { dir }
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }
}

impl Drop for Certificates {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Ports already given to a Mosquitto of this process (the tests run in
/// parallel; a port found free by two of them would reach the wrong broker).
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

/// Attempts at starting Mosquitto: a free port can be taken by another
/// test's socket before Mosquitto binds it.
const START_ATTEMPTS: usize = 5;

/// The listeners of one Mosquitto.
#[derive(Clone, Copy, Debug)]
struct Ports {
    /// TLS, client certificate required.
    tls: u16,
    /// WebSocket.
    ws: u16,
    /// WebSocket over TLS, no client certificate.
    wss: u16,
}

/// A Mosquitto process with TLS, WebSocket and WebSocket over TLS
/// listeners, stopped on drop.
struct Mosquitto {
    child: Child,
    ports: Ports,
    config: PathBuf,
}

impl Mosquitto {
    fn start(certificates: &Certificates) -> Mosquitto {
        for attempt in 0..START_ATTEMPTS {
            if let Some(broker) = Mosquitto::start_once(certificates, attempt) {
                return broker;
            }
        }
        panic!("mosquitto exited at start {START_ATTEMPTS} times");
    }

    fn start_once(certificates: &Certificates, attempt: usize) -> Option<Mosquitto> {
        let tcp = fresh_port();
        let ports = Ports {
            tls: fresh_port(),
            ws: fresh_port(),
            wss: fresh_port(),
        };
        let tls_files = |dir: &Path| {
            format!(
                "cafile {}\ncertfile {}\nkeyfile {}\n",
                dir.join("ca.pem").display(),
                dir.join("server.pem").display(),
                dir.join("server.key").display()
            )
        };
        let files = tls_files(&certificates.dir);
        // Mosquitto 2.0 starts only with a plain MQTT listener besides its
        // WebSocket ones (it counts only those as listening sockets).
        let config_text = format!(
            "per_listener_settings false\nallow_anonymous true\npersistence false\n\
             set_tcp_nodelay true\n\
             listener {tcp} 127.0.0.1\n\
             listener {tls} 127.0.0.1\n{files}require_certificate true\n\
             listener {ws} 127.0.0.1\nprotocol websockets\n\
             listener {wss} 127.0.0.1\nprotocol websockets\n{files}",
            tls = ports.tls,
            ws = ports.ws,
            wss = ports.wss,
        );
        let config = std::env::temp_dir().join(format!(
            "loadgen-test-mosquitto-{}-{tcp}-{attempt}.conf",
            std::process::id()
        ));
        std::fs::write(&config, config_text).unwrap();
        let program = ["/usr/sbin/mosquitto", "mosquitto"]
            .into_iter()
            .find(|program| Path::new(program).exists())
            .unwrap_or("mosquitto");
        let child = Command::new(program)
            .arg("-c")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto runs (Debian package mosquitto)");
        let mut broker = Mosquitto {
            child,
            ports,
            config,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        for port in [tcp, ports.tls, ports.ws, ports.wss] {
            let address = SocketAddr::from(([127, 0, 0, 1], port));
            loop {
                if broker.child.try_wait().unwrap().is_some() {
                    return None;
                }
                if TcpStream::connect(address).is_ok() {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "mosquitto did not start listening on {address}"
                );
                std::thread::yield_now();
            }
        }
        Some(broker)
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.config);
    }
}

fn tls(certificates: &Certificates, client_certificate: bool) -> TlsOptions {
    TlsOptions {
        ca_file: Some(certificates.path("ca.pem")),
        insecure: false,
        client_certificate: client_certificate.then(|| ClientCertificate {
            cert_file: certificates.path("client.pem"),
            key_file: certificates.path("client.key"),
        }),
        server_name: "localhost".to_string(),
    }
}

fn websocket(port: u16) -> WebSocketOptions {
    WebSocketOptions {
        path: "/mqtt".to_string(),
        host: format!("localhost:{port}"),
    }
}

/// A p2p QoS 1 run of 4 pairs over 2 shards, 200 messages each, with
/// payloads large enough to span TLS records and need 16-bit frame lengths.
fn p2p(broker: &Mosquitto, port: u16, transport: TransportOptions) -> Scenario {
    let mut scenario = Scenario::new(
        ScenarioKind::PointToPoint,
        SocketAddr::from(([127, 0, 0, 1], port)),
    );
    scenario.transport = transport;
    scenario.shards = 2;
    scenario.publishers = 4;
    scenario.qos = QoS::AtLeastOnce;
    scenario.protocol_version = ProtocolVersion::V5;
    scenario.payload_size = 2000;
    scenario.count = 200;
    scenario.duration = Duration::from_secs(30);
    scenario.drain = Duration::from_secs(10);
    scenario.broker_pid = Some(broker.child.id());
    scenario
}

fn assert_exactly_once(report: &Report) {
    assert_eq!(report.connections_established, 8, "{report:#?}");
    assert_eq!(report.published, 800, "{report:#?}");
    assert_eq!(report.expected_deliveries, 800, "{report:#?}");
    assert_eq!(report.lost, 0, "{report:#?}");
    assert_eq!(report.duplicates, 0, "{report:#?}");
    assert_eq!(report.delivered, 800, "{report:#?}");
    assert_eq!(report.acknowledged, 800, "{report:#?}");
    assert_eq!(report.errors.total(), 0, "{report:#?}");
    assert!(!report.is_failure());
}

#[test]
fn p2p_qos1_over_tls_with_a_client_certificate_delivers_every_message() {
    let certificates = Certificates::make("tls");
    let broker = Mosquitto::start(&certificates);
    let transport = TransportOptions {
        tls: Some(tls(&certificates, true)),
        websocket: None,
    };
    let report = run(&p2p(&broker, broker.ports.tls, transport)).expect("the run starts");
    assert_exactly_once(&report);
    assert_eq!(report.transport, "tls");
    assert!(report
        .tls_handshakes_resumed
        .is_some_and(|resumed| resumed <= 8));
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["transport"], "tls");
}

#[test]
fn p2p_qos1_over_websocket_delivers_every_message() {
    let certificates = Certificates::make("ws");
    let broker = Mosquitto::start(&certificates);
    let transport = TransportOptions {
        tls: None,
        websocket: Some(websocket(broker.ports.ws)),
    };
    let report = run(&p2p(&broker, broker.ports.ws, transport)).expect("the run starts");
    assert_exactly_once(&report);
    assert_eq!(report.transport, "ws");
    assert_eq!(report.tls_handshakes_resumed, None);
    assert!(report.table().contains("p2p qos1 v5 ws"));
}

#[test]
fn p2p_qos1_over_websocket_over_tls_delivers_every_message() {
    let certificates = Certificates::make("wss");
    let broker = Mosquitto::start(&certificates);
    let transport = TransportOptions {
        tls: Some(tls(&certificates, false)),
        websocket: Some(websocket(broker.ports.wss)),
    };
    let report = run(&p2p(&broker, broker.ports.wss, transport)).expect("the run starts");
    assert_exactly_once(&report);
    assert_eq!(report.transport, "wss");
}

#[test]
fn a_broker_certificate_from_another_ca_fails_every_handshake_as_a_transport_failure() {
    let certificates = Certificates::make("served");
    let other = Certificates::make("other");
    let broker = Mosquitto::start(&certificates);
    let transport = TransportOptions {
        tls: Some(TlsOptions {
            client_certificate: None,
            ..tls(&other, false)
        }),
        websocket: None,
    };
    let mut scenario = p2p(&broker, broker.ports.wss, transport.clone());
    scenario.transport.websocket = Some(websocket(broker.ports.wss));
    let report = run(&scenario).expect("the run starts");
    assert_eq!(report.connections_established, 0, "{report:#?}");
    assert_eq!(report.errors.transport_failed, 8, "{report:#?}");
    assert!(report.is_failure());

    // --insecure takes the same certificate and the run goes through.
    let mut scenario = p2p(&broker, broker.ports.wss, transport);
    scenario.transport.websocket = Some(websocket(broker.ports.wss));
    if let Some(tls) = &mut scenario.transport.tls {
        tls.ca_file = None;
        tls.insecure = true;
    }
    assert_exactly_once(&run(&scenario).expect("the run starts"));
}

#[test]
fn an_unreadable_ca_file_stops_the_run_before_it_starts_and_names_the_file() {
    let mut scenario = Scenario::new(
        ScenarioKind::PointToPoint,
        SocketAddr::from(([127, 0, 0, 1], 1)),
    );
    scenario.transport.tls = Some(TlsOptions {
        ca_file: Some(PathBuf::from("/nonexistent/ca.pem")),
        insecure: false,
        client_certificate: None,
        server_name: "localhost".to_string(),
    });
    let error = run(&scenario).unwrap_err().to_string();
    assert!(error.contains("--cafile /nonexistent/ca.pem"), "{error}");
}
