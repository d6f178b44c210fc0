//! TLS listeners of the `shardmq` binary, end to end with Mosquitto's own
//! clients (`mosquitto_pub`, `mosquitto_sub`, built on OpenSSL) and a rustls
//! client: server authentication, client certificates, the certificate's
//! identity as the username, garbage on the port, reloading the material on
//! SIGHUP, per-listener connection limits, and configuration errors; and
//! WebSocket listeners, plain and over TLS, with paho-mqtt's WebSocket
//! client (Python).
//!
//! Certificates are made at test time (see `pki`). Every wait is bounded by
//! [`TEST_TIMEOUT`]; a missing client binary fails the test.

mod pki;
mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pki::{Ca, Leaf};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use support::{counter, run, start, start_command, TEST_TIMEOUT};

/// TLS options of a Mosquitto client: the CA it trusts and, when given, the
/// certificate and key it presents.
#[derive(Clone, Default)]
struct TlsOptions {
    cafile: Option<PathBuf>,
    client: Option<(PathBuf, PathBuf)>,
}

fn mosquitto(program: &str, address: SocketAddr, tls: &TlsOptions) -> Command {
    let mut command = Command::new(program);
    command.args([
        "-h",
        &address.ip().to_string(),
        "-p",
        &address.port().to_string(),
    ]);
    if let Some(cafile) = &tls.cafile {
        command.arg("--cafile").arg(cafile);
    }
    if let Some((cert, key)) = &tls.client {
        command.arg("--cert").arg(cert).arg("--key").arg(key);
    }
    command
}

/// Publishes `payload` to `topic`, retained at QoS 1; the client's output.
fn publish_retained(address: SocketAddr, tls: &TlsOptions, topic: &str, payload: &str) -> Output {
    let mut command = mosquitto("mosquitto_pub", address, tls);
    command.args(["-t", topic, "-m", payload, "-q", "1", "-r"]);
    run(command)
}

/// Subscribes to `topic` and returns the first message (a retained one).
fn first_message(address: SocketAddr, tls: &TlsOptions, topic: &str) -> Output {
    let mut command = mosquitto("mosquitto_sub", address, tls);
    command.args(["-t", topic, "-C", "1", "-W", "10"]);
    run(command)
}

fn assert_succeeded(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn assert_refused(output: &Output, what: &str) {
    assert!(!output.status.success(), "{what} was served");
}

/// A directory with a CA (`ca.crt`), the server's certificate for
/// 127.0.0.1 and localhost (`server.crt`, `server.key`) and a client's for
/// CN `alice` (`alice.crt`, `alice.key`).
struct Pki {
    dir: tempfile::TempDir,
    ca: Ca,
    cafile: PathBuf,
    certfile: PathBuf,
    keyfile: PathBuf,
    alice: (PathBuf, PathBuf),
}

fn pki() -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("shardmq test CA");
    let cafile = pki::write(dir.path(), "ca.crt", &ca.pem());
    let (certfile, keyfile) = ca
        .server(&["localhost", "127.0.0.1"])
        .write(dir.path(), "server");
    let alice = ca.client("alice").write(dir.path(), "alice");
    Pki {
        dir,
        ca,
        cafile,
        certfile,
        keyfile,
        alice,
    }
}

impl Pki {
    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A `[[listener]]` over TLS on a free port with the server's files
    /// and `extra` keys.
    fn tls_listener(&self, extra: &str) -> String {
        format!(
            "[[listener]]\naddress = \"127.0.0.1:0\"\ntransport = \"tls\"\n\
             certfile = \"{}\"\nkeyfile = \"{}\"\n{extra}\n",
            self.certfile.display(),
            self.keyfile.display()
        )
    }

    /// A listener requiring client certificates from the CA.
    fn mutual_tls_listener(&self, extra: &str) -> String {
        self.tls_listener(&format!(
            "cafile = \"{}\"\nrequire_certificate = true\n{extra}",
            self.cafile.display()
        ))
    }

    fn trusting(&self) -> TlsOptions {
        TlsOptions {
            cafile: Some(self.cafile.clone()),
            client: None,
        }
    }

    fn as_alice(&self) -> TlsOptions {
        TlsOptions {
            client: Some(self.alice.clone()),
            ..self.trusting()
        }
    }
}

#[test]
fn mosquitto_clients_publish_and_subscribe_over_tls_from_the_quick_start_flags() {
    let pki = pki();
    let mut command = Command::new(env!("CARGO_BIN_EXE_shardmq"));
    command
        .env_remove("RUST_LOG")
        .args(["--listen", "127.0.0.1:0", "--shards", "2"])
        .args(["--tls-listen", "127.0.0.1:0", "--certfile"])
        .arg(&pki.certfile)
        .arg("--keyfile")
        .arg(&pki.keyfile);
    let broker = start_command(command, 1);
    let published = publish_retained(broker.tls(), &pki.trusting(), "tls/hello", "over tls");
    assert_succeeded(&published, "publishing over TLS");
    let received = first_message(broker.tls(), &pki.trusting(), "tls/hello");
    assert_succeeded(&received, "subscribing over TLS");
    assert_eq!(String::from_utf8_lossy(&received.stdout), "over tls\n");
    // The same message through the plain listener: one broker behind both.
    let plain = first_message(broker.plain, &TlsOptions::default(), "tls/hello");
    assert_eq!(String::from_utf8_lossy(&plain.stdout), "over tls\n");
}

#[test]
fn a_listener_requiring_certificates_serves_clients_with_one_and_refuses_the_others() {
    let pki = pki();
    let broker = start(pki.path(), &pki.mutual_tls_listener(""), 1);
    let without = publish_retained(broker.tls(), &pki.trusting(), "mtls/t", "anonymous");
    assert_refused(&without, "a client without a certificate");
    let with = publish_retained(broker.tls(), &pki.as_alice(), "mtls/t", "from alice");
    assert_succeeded(&with, "a client with a certificate");
    let received = first_message(broker.tls(), &pki.as_alice(), "mtls/t");
    assert_eq!(String::from_utf8_lossy(&received.stdout), "from alice\n");
}

#[test]
fn an_expired_client_certificate_is_refused() {
    let pki = pki();
    let expired = pki.ca.expired_client("bob").write(pki.path(), "bob");
    let broker = start(pki.path(), &pki.mutual_tls_listener(""), 1);
    let with_expired = TlsOptions {
        client: Some(expired),
        ..pki.trusting()
    };
    let refused = publish_retained(broker.tls(), &with_expired, "mtls/t", "from bob");
    assert_refused(&refused, "a client with an expired certificate");
    // The same CA's valid certificate is served: it was the date.
    let served = publish_retained(broker.tls(), &pki.as_alice(), "mtls/t", "from alice");
    assert_succeeded(&served, "a client with a valid certificate");
}

#[test]
fn a_server_certificate_for_another_name_is_refused_by_the_client() {
    let pki = pki();
    let (certfile, keyfile) = pki
        .ca
        .server(&["broker.example.org"])
        .write(pki.path(), "elsewhere");
    let listener = format!(
        "[[listener]]\naddress = \"127.0.0.1:0\"\ntransport = \"tls\"\n\
         certfile = \"{}\"\nkeyfile = \"{}\"\n",
        certfile.display(),
        keyfile.display()
    );
    let broker = start(pki.path(), &listener, 1);
    let refused = publish_retained(broker.tls(), &pki.trusting(), "name/t", "x");
    assert_refused(
        &refused,
        "a server certificate for broker.example.org at 127.0.0.1",
    );
    // Without the name check the same certificate is accepted: it was the name.
    let mut command = mosquitto("mosquitto_pub", broker.tls(), &pki.trusting());
    command.args(["--insecure", "-t", "name/t", "-m", "x", "-q", "1"]);
    assert_succeeded(&run(command), "publishing without the name check");
}

#[test]
fn the_client_certificates_cn_becomes_the_username_and_the_sent_one_is_dropped() {
    let pki = pki();
    let listener = pki.mutual_tls_listener("use_identity_as_username = true");
    let mut broker = start(pki.path(), &listener, 1);
    let mut command = mosquitto("mosquitto_pub", broker.tls(), &pki.as_alice());
    command.args([
        "-t", "id/t", "-m", "x", "-q", "1", "-u", "mallory", "-P", "secret",
    ]);
    command.args(["-i", "identity-client"]);
    assert_succeeded(&run(command), "publishing with a certificate");
    let taken = broker.wait_for(|line| line.contains("taken as the username"));
    assert!(taken.contains("username=Some(\"alice\")"), "{taken}");
    assert!(!taken.contains("mallory"), "{taken}");
    // The identity reached the home shard with the connection.
    let connected = broker
        .wait_for(|line| line.contains("client connected") && line.contains("identity-client"));
    assert!(
        connected.contains("certificate_identity=Some(\"alice\")"),
        "{connected}"
    );
}

#[test]
fn garbage_on_the_tls_port_is_closed_and_the_plain_listener_keeps_serving() {
    let pki = pki();
    let mut broker = start(pki.path(), &pki.tls_listener(""), 1);
    let mut garbage = TcpStream::connect(broker.tls()).unwrap();
    garbage.set_read_timeout(Some(TEST_TIMEOUT)).unwrap();
    garbage
        .write_all(b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00 plain MQTT, not TLS")
        .unwrap();
    let mut answer = Vec::new();
    match garbage.read_to_end(&mut answer) {
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(error) => panic!("the broker did not close the connection: {error}"),
    }
    // At most one alert record (type 21) before the close.
    assert!(answer.is_empty() || answer[0] == 21, "{answer:?}");
    broker
        .wait_for(|line| line.contains("connection closed before CONNECT") && line.contains("tls"));
    let published = publish_retained(
        broker.plain,
        &TlsOptions::default(),
        "plain/t",
        "still here",
    );
    assert_succeeded(&published, "publishing over plain TCP");
    let received = first_message(broker.tls(), &pki.trusting(), "plain/t");
    assert_eq!(String::from_utf8_lossy(&received.stdout), "still here\n");
    let counters = broker.stop();
    assert_eq!(counter(&counters, "tls_handshakes"), 1, "{counters}");
    assert_eq!(counter(&counters, "tls_handshakes_failed"), 1, "{counters}");
}

/// The certificate a rustls client trusting `cafile` is served at
/// `address`, or why the handshake failed.
fn served_certificate(address: SocketAddr, cafile: &Path) -> Result<Vec<u8>, String> {
    let mut roots = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_file_iter(cafile).unwrap() {
        roots.add(certificate.unwrap()).unwrap();
    }
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from("localhost").unwrap();
    let mut client = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let mut socket = TcpStream::connect(address).unwrap();
    socket.set_read_timeout(Some(TEST_TIMEOUT)).unwrap();
    while client.is_handshaking() {
        client
            .complete_io(&mut socket)
            .map_err(|error| error.to_string())?;
    }
    Ok(client.peer_certificates().unwrap()[0].to_vec())
}

/// A `mosquitto_pub -l` over TLS: each line written is published.
struct LinePublisher {
    child: Child,
    stdin: ChildStdin,
}

impl LinePublisher {
    fn publish(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
    }
}

impl Drop for LinePublisher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `mosquitto_sub` whose messages are read line by line.
struct Subscriber {
    child: Child,
    lines: Receiver<String>,
}

impl Subscriber {
    /// Subscribes to `topic` at `address` (plain TCP) and waits for its SUBACK.
    fn start(address: SocketAddr, topic: &str) -> Subscriber {
        // Line-buffered: mosquitto_sub's debug lines are not flushed into a pipe.
        let mut command = Command::new("stdbuf");
        command.args(["-oL", "mosquitto_sub"]);
        command.args([
            "-h",
            &address.ip().to_string(),
            "-p",
            &address.port().to_string(),
        ]);
        command.args(["-t", topic, "-q", "1", "-d"]);
        let mut child = command
            .stdout(Stdio::piped())
            .spawn()
            .expect("mosquitto_sub is installed");
        let stdout = child.stdout.take().unwrap();
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if sender.send(line).is_err() {
                    return;
                }
            }
        });
        let subscriber = Subscriber { child, lines };
        subscriber.next_matching(|line| line.contains("received SUBACK"));
        subscriber
    }

    /// Waits for a message with `payload` (a line of its own amid the
    /// `-d` output).
    fn receives(&self, payload: &str) {
        self.next_matching(|line| line == payload);
    }

    fn next_matching(&self, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + TEST_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .expect("mosquitto_sub printed in time");
            if wanted(&line) {
                return line;
            }
        }
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn sighup_serves_new_handshakes_the_new_certificate_and_old_connections_keep_publishing() {
    let pki = pki();
    let listener = pki.tls_listener(&format!(
        "cafile = \"{}\"\nrequire_certificate = false",
        pki.cafile.display()
    ));
    let mut broker = start(pki.path(), &listener, 1);
    let subscriber = Subscriber::start(broker.plain, "reload/t");
    let mut publisher = {
        let mut command = mosquitto("mosquitto_pub", broker.tls(), &pki.trusting());
        command.args(["-t", "reload/t", "-q", "1", "-l"]);
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("mosquitto_pub is installed");
        let stdin = child.stdin.take().unwrap();
        LinePublisher { child, stdin }
    };
    publisher.publish("before the reload");
    subscriber.receives("before the reload");
    let old_cafile = pki::write(pki.path(), "old-ca.crt", &pki.ca.pem());
    let old_certificate = served_certificate(broker.tls(), &old_cafile).unwrap();

    // A new CA, and a server certificate from it, in the configured files.
    let new_ca = Ca::new("shardmq test CA, renewed");
    let new_server: Leaf = new_ca.server(&["localhost", "127.0.0.1"]);
    new_server.write(pki.path(), "server");
    pki::write(pki.path(), "ca.crt", &new_ca.pem());
    broker.sighup();
    let done = broker.wait_for(|line| line.contains("SIGHUP: TLS material reload done"));
    assert!(
        done.contains("reloaded=1") && done.contains("kept=0"),
        "{done}"
    );

    let served = served_certificate(broker.tls(), &pki.cafile).unwrap();
    assert_eq!(
        served, new_server.der,
        "a new handshake gets the new certificate"
    );
    assert_ne!(served, old_certificate);
    let refused = served_certificate(broker.tls(), &old_cafile).unwrap_err();
    assert!(refused.contains("UnknownIssuer"), "{refused}");
    publisher.publish("after the reload");
    subscriber.receives("after the reload");

    // Files that do not load: the material stays, and the reason is logged.
    std::fs::write(&pki.keyfile, "not a key").unwrap();
    broker.sighup();
    let kept = broker.wait_for(|line| line.contains("TLS material not reloaded"));
    assert!(kept.contains("keyfile"), "{kept}");
    assert_eq!(
        served_certificate(broker.tls(), &pki.cafile).unwrap(),
        new_server.der
    );
}

#[test]
fn max_connections_closes_connections_over_the_limit_until_one_ends() {
    let pki = pki();
    let listener = "[[listener]]\naddress = \"127.0.0.1:0\"\nmax_connections = 1\n";
    let mut broker = start(pki.path(), listener, 1);
    let limited = broker.listeners[0];
    let holder = Subscriber::start(limited, "limit/t");
    let over = publish_retained(limited, &TlsOptions::default(), "limit/t", "over");
    assert_refused(&over, "a second connection over max_connections = 1");
    let plain = publish_retained(broker.plain, &TlsOptions::default(), "limit/t", "plain");
    assert_succeeded(&plain, "publishing on the listener without a limit");
    drop(holder);
    // The place frees once the broker has seen the holder go.
    let deadline = Instant::now() + TEST_TIMEOUT;
    loop {
        let again = publish_retained(limited, &TlsOptions::default(), "limit/t", "again");
        if again.status.success() {
            break;
        }
        assert!(Instant::now() < deadline, "the place was never freed");
        std::thread::sleep(Duration::from_millis(50));
    }
    let counters = broker.stop();
    assert!(
        counter(&counters, "refused_by_listener_limit") >= 1,
        "{counters}"
    );
}

#[test]
fn listener_configuration_errors_exit_with_2_naming_the_listener_key_and_file() {
    let pki = pki();
    let missing = pki.path().join("missing.crt");
    let (_, other_key) = pki.ca.server(&["localhost"]).write(pki.path(), "other");
    let cases = [
        (
            format!(
                "transport = \"tls\"\ncertfile = \"{}\"\nkeyfile = \"{}\"",
                missing.display(),
                pki.keyfile.display()
            ),
            vec!["`certfile`".to_owned(), missing.display().to_string()],
        ),
        (
            format!(
                "transport = \"tls\"\ncertfile = \"{}\"\nkeyfile = \"{}\"",
                pki.certfile.display(),
                other_key.display()
            ),
            vec!["`keyfile`".to_owned(), other_key.display().to_string()],
        ),
        (
            format!(
                "transport = \"tls\"\ncertfile = \"{}\"\nkeyfile = \"{}\"\ncafile = \"{}\"",
                pki.certfile.display(),
                pki.keyfile.display(),
                missing.display()
            ),
            vec!["`cafile`".to_owned(), missing.display().to_string()],
        ),
        (
            "transport = \"quic\"".to_owned(),
            vec!["`transport`".to_owned(), "quic".to_owned()],
        ),
        ("path = \"/mqtt\"".to_owned(), vec!["`path`".to_owned()]),
        (
            format!("certfile = \"{}\"", pki.certfile.display()),
            vec!["`certfile`".to_owned(), "\"tcp\"".to_owned()],
        ),
        (
            "transport = \"wss\"".to_owned(),
            vec!["`certfile`".to_owned()],
        ),
    ];
    for (keys, named) in cases {
        let config = pki::write(
            pki.path(),
            "bad.toml",
            &format!(
                "listen = [\"127.0.0.1:0\"]\n[[listener]]\naddress = \"127.0.0.1:0\"\n{keys}\n"
            ),
        );
        let mut command = Command::new(env!("CARGO_BIN_EXE_shardmq"));
        command.env_remove("RUST_LOG").arg("--config").arg(&config);
        let output = run(command);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{keys}: {stderr}");
        let mut named = named;
        named.push("listener 1 (127.0.0.1:0)".to_owned());
        named.push(config.display().to_string());
        for name in &named {
            assert!(
                stderr.contains(name.as_str()),
                "{keys}: `{name}` not in {stderr}"
            );
        }
    }
}

/// Runs a paho-mqtt (Python, its own MQTT and WebSocket code) client over
/// WebSocket: `action` is `publish` (retained, QoS 1) or `first` (the first
/// message of `topic`, a retained one); `cafile` makes it `wss`. Written
/// for paho-mqtt 1.x and 2.x alike: the helper functions take the
/// transport and make the client themselves.
fn paho_websocket(
    action: &str,
    address: SocketAddr,
    cafile: Option<&Path>,
    topic: &str,
    payload: &str,
) -> Output {
    let script = r#"
import sys
import paho.mqtt.publish as publish
import paho.mqtt.subscribe as subscribe
action, host, port, topic, payload, cafile = sys.argv[1:7]
tls = {"ca_certs": cafile} if cafile else None
if action == "publish":
    publish.single(topic, payload, qos=1, retain=True, hostname=host, port=int(port),
                   transport="websockets", tls=tls)
else:
    message = subscribe.simple(topic, qos=1, hostname=host, port=int(port),
                               transport="websockets", tls=tls)
    sys.stdout.write(message.payload.decode())
"#;
    let mut command = Command::new("python3");
    command.args(["-c", script, action]);
    command.args([
        address.ip().to_string(),
        address.port().to_string(),
        topic.to_owned(),
        payload.to_owned(),
    ]);
    command.arg(cafile.map_or_else(String::new, |path| path.display().to_string()));
    run(command)
}

#[test]
fn paho_over_websocket_and_secure_websocket_reaches_mosquitto_clients_over_tcp_and_back() {
    let pki = pki();
    let config = format!(
        "[[listener]]\naddress = \"127.0.0.1:0\"\ntransport = \"ws\"\n\n\
         [[listener]]\naddress = \"127.0.0.1:0\"\ntransport = \"wss\"\n\
         certfile = \"{}\"\nkeyfile = \"{}\"\n",
        pki.certfile.display(),
        pki.keyfile.display()
    );
    let broker = start(pki.path(), &config, 2);
    let plain = TlsOptions {
        cafile: None,
        client: None,
    };
    for (name, address, cafile) in [
        ("ws", broker.listeners[0], None),
        ("wss", broker.listeners[1], Some(pki.cafile.as_path())),
    ] {
        let to_tcp = format!("{name}/to-tcp");
        let published = paho_websocket("publish", address, cafile, &to_tcp, "over the web");
        assert_succeeded(&published, &format!("paho publishing over {name}"));
        let received = first_message(broker.plain, &plain, &to_tcp);
        assert_succeeded(&received, "mosquitto_sub on TCP");
        assert_eq!(
            String::from_utf8_lossy(&received.stdout).trim(),
            "over the web"
        );

        let from_tcp = format!("{name}/from-tcp");
        assert_succeeded(
            &publish_retained(broker.plain, &plain, &from_tcp, "from the wire"),
            "mosquitto_pub on TCP",
        );
        let received = paho_websocket("first", address, cafile, &from_tcp, "");
        assert_succeeded(&received, &format!("paho subscribing over {name}"));
        assert_eq!(String::from_utf8_lossy(&received.stdout), "from the wire");
    }
}

#[test]
fn a_websocket_upgrade_on_another_path_is_refused_with_404_and_the_listener_serves_on() {
    let pki = pki();
    let broker = start(
        pki.path(),
        "[[listener]]\naddress = \"127.0.0.1:0\"\ntransport = \"ws\"\npath = \"/mqtt\"\n",
        1,
    );
    let mut stream = TcpStream::connect(broker.listeners[0]).unwrap();
    stream.set_read_timeout(Some(TEST_TIMEOUT)).unwrap();
    stream
        .write_all(
            b"GET /elsewhere HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
              Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
              Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n",
        )
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    let plain = TlsOptions {
        cafile: None,
        client: None,
    };
    let published = paho_websocket("publish", broker.listeners[0], None, "still/serving", "yes");
    assert_succeeded(&published, "paho over ws after a refused upgrade");
    let received = first_message(broker.plain, &plain, "still/serving");
    assert_eq!(String::from_utf8_lossy(&received.stdout).trim(), "yes");
}

/// The broker's resident memory, bytes.
fn resident_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|value| value.parse().ok())
        .expect("a VmRSS line");
    kib * 1024
}

#[test]
fn thousands_of_handshakes_that_never_finish_are_closed_and_hold_memory_bounded() {
    // A connection reading its CONNECT holds two descriptors in the broker
    // (its socket and the duplicate read before the hand-off), and this
    // machine allows 20,000 per process: 4,000 leaves room for the rest.
    const HALF_OPEN: usize = 4_000;
    let pki = pki();
    let mut broker = start(
        pki.path(),
        &format!("connect_timeout_ms = 1000\n{}", pki.tls_listener("")),
        1,
    );
    let before = resident_bytes(broker.child.id());
    // Half a ClientHello's record header each: the handshake starts and
    // never goes on.
    let stalled: Vec<TcpStream> = (0..HALF_OPEN)
        .map(|_| {
            let mut stream = TcpStream::connect(broker.tls()).unwrap();
            stream.write_all(&[0x16, 0x03, 0x01]).unwrap();
            stream
        })
        .collect();
    // A real client is served while they hang.
    let topic = "through/the/crowd";
    assert_succeeded(
        &publish_retained(broker.tls(), &pki.trusting(), topic, "served"),
        "mosquitto_pub over TLS beside the stalled handshakes",
    );
    let received = first_message(broker.tls(), &pki.trusting(), topic);
    assert_eq!(String::from_utf8_lossy(&received.stdout).trim(), "served");
    let grown = resident_bytes(broker.child.id()).saturating_sub(before);
    assert!(
        grown < 256 << 20,
        "{HALF_OPEN} stalled handshakes grew the broker by {grown} bytes"
    );
    // Each is closed once the connect timeout passes.
    for mut stream in stalled {
        stream.set_read_timeout(Some(TEST_TIMEOUT)).unwrap();
        let mut byte = [0; 1];
        match stream.read(&mut byte) {
            Ok(0) => {}
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => {}
            other => panic!("a stalled handshake was not closed: {other:?}"),
        }
    }
    let counters = broker.stop();
    assert!(
        counter(&counters, "tls_handshakes_failed") >= HALF_OPEN as u64,
        "{counters}"
    );
}
