//! WebSocket listeners of the `shardmq` binary, plain (`ws`) and over TLS
//! (`wss`), end to end from a real browser: headless Chromium runs MQTT.js
//! (the npm package `mqtt`, its browser bundle) in a page that this test
//! serves, and Mosquitto's clients (`mosquitto_pub`, `mosquitto_sub`) take
//! the other side over plain TCP.
//!
//! The page reports its progress and its outcome with GETs back to the
//! test's own HTTP server; every wait is bounded. Chromium trusts the test
//! server certificate through `--ignore-certificate-errors-spki-list` (the
//! SHA-256 of its SubjectPublicKeyInfo). A missing Chromium, MQTT.js or
//! Mosquitto client fails the test, saying how to install it.

mod pki;
mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{self, Sender};
use std::time::{Duration, Instant};

use base64::Engine;
use sha2::{Digest, Sha256};
use support::{run, start};

/// Bounds the browser's whole run: starting Chromium, loading the page and
/// every MQTT exchange in it.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(90);

/// The browser bundle of MQTT.js, installed by `npm ci` next to this test.
const MQTT_JS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/browser/node_modules/mqtt/dist/mqtt.min.js"
);

/// Runs a Mosquitto client to completion (bounded by `support::TEST_TIMEOUT`)
/// and checks it succeeded.
fn mosquitto(program: &str, address: SocketAddr, args: &[&str]) -> Output {
    let mut command = Command::new(program);
    command
        .args([
            "-h",
            &address.ip().to_string(),
            "-p",
            &address.port().to_string(),
        ])
        .args(args);
    let output = run(command);
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// What the page asked of the test's HTTP server.
enum Report {
    /// A step the page reached, or a message it logged.
    Progress(String),
    /// The page's outcome: `ok`, or what went wrong.
    Outcome(String),
}

/// Serves the page (`/`), MQTT.js (`/mqtt.min.js`) and the page's reports
/// (`/progress?TEXT`, `/outcome?TEXT`, sent to `reports`) on 127.0.0.1,
/// each connection in a thread of its own (browsers open spare ones);
/// its address.
fn serve(page: String, mqtt_js: Vec<u8>, reports: Sender<Report>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let page = std::sync::Arc::new(page);
    let mqtt_js = std::sync::Arc::new(mqtt_js);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let (page, mqtt_js, reports) = (page.clone(), mqtt_js.clone(), reports.clone());
            std::thread::spawn(move || {
                let _ = answer(stream, &page, &mqtt_js, &reports);
            });
        }
    });
    address
}

/// Answers one GET on `stream` and closes it.
fn answer(
    stream: TcpStream,
    page: &str,
    mqtt_js: &[u8],
    reports: &Sender<Report>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(BROWSER_TIMEOUT))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim_end().is_empty() {
            break;
        }
    }
    let target = request.split_whitespace().nth(1).unwrap_or("");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let (status, kind, body): (&str, &str, &[u8]) = match path {
        "/" => ("200 OK", "text/html; charset=utf-8", page.as_bytes()),
        "/mqtt.min.js" => ("200 OK", "text/javascript", mqtt_js),
        "/progress" | "/outcome" => {
            let text = percent_decoded(query);
            let _ = reports.send(if path == "/progress" {
                Report::Progress(text)
            } else {
                Report::Outcome(text)
            });
            ("200 OK", "text/plain", b"thanks")
        }
        _ => ("404 Not Found", "text/plain", b"no such page"),
    };
    let mut stream = reader.into_inner();
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(body)?;
    stream.flush()
}

/// `text` with its `%XX` escapes (as `encodeURIComponent` makes them)
/// decoded; invalid ones are kept as they are.
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escape = bytes
            .get(index + 1..index + 3)
            .filter(|_| bytes[index] == b'%')
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escape {
            Some(byte) => {
                decoded.push(byte);
                index += 3;
            }
            None => {
                decoded.push(bytes[index]);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

/// The base64 SHA-256 of a certificate's SubjectPublicKeyInfo, as
/// Chromium's `--ignore-certificate-errors-spki-list` takes it.
fn spki_sha256(der: &[u8]) -> String {
    let (_, certificate) = x509_parser::parse_x509_certificate(der).unwrap();
    let digest = Sha256::digest(certificate.tbs_certificate.subject_pki.raw);
    base64::engine::general_purpose::STANDARD.encode(digest)
}

/// Headless Chromium in a process group of its own, killed (the whole
/// group: browser, zygotes, renderers) on drop, also when the test panics.
struct Chromium {
    child: Child,
    log: PathBuf,
}

impl Chromium {
    /// Opens `url` with a fresh profile in `dir`, ignoring certificate
    /// errors for the server key whose SPKI hash is `spki`.
    fn open(dir: &Path, url: &str, spki: &str) -> Chromium {
        let log = dir.join("chromium.log");
        let output = std::fs::File::create(&log).unwrap();
        let child = Command::new("chromium")
            .arg("--headless=new")
            .arg("--no-sandbox")
            .arg("--disable-gpu")
            .arg("--no-first-run")
            .arg("--no-default-browser-check")
            .arg("--disable-dev-shm-usage")
            .arg(format!("--user-data-dir={}", dir.join("profile").display()))
            .arg(format!("--ignore-certificate-errors-spki-list={spki}"))
            .arg(url)
            .stdin(Stdio::null())
            .stdout(output.try_clone().unwrap())
            .stderr(output)
            .process_group(0)
            .spawn()
            .expect(
                "Chromium is installed (Debian: apt-get install chromium, \
                 which provides /usr/bin/chromium)",
            );
        Chromium { child, log }
    }

    /// The last lines Chromium wrote, for a failure message.
    fn output(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }
}

/// The page: connects with MQTT.js to each of `brokers` (`[name, url,
/// MQTT protocol version]`), subscribes, publishes at QoS 0, 1 and 2 and
/// receives each back, receives the retained message `mosquitto_pub` put
/// on `browser/from-tcp`, publishes a retained one to
/// `browser/NAME/to-tcp`, and reports `ok` or the first thing that failed.
fn page(brokers: &str) -> String {
    format!(
        r#"<!doctype html>
<html><head><meta charset="utf-8"><title>shardmq from the browser</title>
<script src="/mqtt.min.js"></script></head>
<body><script>
"use strict";
const brokers = {brokers};
const report = (kind, text) => fetch("/" + kind + "?" + encodeURIComponent(text));
const progress = (text) => report("progress", text);
window.addEventListener("error", (event) => report("outcome", "page error: " + event.message));
window.addEventListener("unhandledrejection", (event) => report("outcome", "unhandled: " + event.reason));

function connect(name, url, protocolVersion) {{
  return new Promise((resolve, reject) => {{
    const client = mqtt.connect(url, {{
      clientId: "browser-" + name + "-" + Math.random().toString(16).slice(2),
      protocolVersion,
      reconnectPeriod: 0,
      connectTimeout: 30000,
    }});
    client.once("connect", () => resolve(client));
    client.once("error", (error) => reject(new Error(name + ": " + error.message)));
    client.once("close", () => reject(new Error(name + ": closed before CONNACK from " + url)));
  }});
}}

// The next message on `topic`: listens before the caller subscribes or publishes.
function next(client, topic) {{
  return new Promise((resolve) => {{
    const take = (arrived, payload, packet) => {{
      if (arrived !== topic) return;
      client.removeListener("message", take);
      resolve({{ payload: payload.toString(), qos: packet.qos, retain: packet.retain }});
    }};
    client.on("message", take);
  }});
}}

function expect(what, actual, wanted) {{
  if (actual !== wanted) throw new Error(what + ": got " + JSON.stringify(actual) + ", wanted " + JSON.stringify(wanted));
}}

async function exercise([name, url, version]) {{
  const client = await connect(name, url, version);
  progress(name + ": connected to " + url + " with MQTT protocol version " + version);
  const granted = await client.subscribeAsync("browser/" + name + "/echo/#", {{ qos: 2 }});
  expect(name + " granted QoS", granted[0].qos, 2);
  for (const qos of [0, 1, 2]) {{
    const topic = "browser/" + name + "/echo/" + qos;
    const payload = "echo at QoS " + qos + " over " + name;
    const arrival = next(client, topic);
    await client.publishAsync(topic, payload, {{ qos }});
    const message = await arrival;
    expect(topic + " payload", message.payload, payload);
    expect(topic + " QoS", message.qos, qos);
    progress(name + ": " + payload + " came back");
  }}
  const retained = next(client, "browser/from-tcp");
  await client.subscribeAsync("browser/from-tcp", {{ qos: 1 }});
  const message = await retained;
  expect(name + " message from TCP", message.payload, "from mosquitto_pub over TCP");
  expect(name + " message from TCP retained", message.retain, true);
  progress(name + ": received the retained message from TCP");
  await client.publishAsync("browser/" + name + "/to-tcp", "from MQTT.js over " + name, {{ qos: 1, retain: true }});
  progress(name + ": published a retained message for TCP");
  await client.endAsync();
}}

(async () => {{
  try {{
    if (typeof mqtt === "undefined") throw new Error("MQTT.js did not load");
    for (const broker of brokers) await exercise(broker);
    await report("outcome", "ok");
  }} catch (error) {{
    await report("outcome", String(error && error.stack || error));
  }}
}})();
</script></body></html>
"#
    )
}

/// The MQTT.js bundle, installed with `npm ci` from the committed lock file
/// when it is not there yet (a fresh clone); npm and the npm registry are
/// then needed.
fn mqtt_js() -> Vec<u8> {
    if let Ok(bundle) = std::fs::read(MQTT_JS) {
        return bundle;
    }
    let prefix = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser");
    let mut npm = Command::new("npm");
    npm.args(["ci", "--prefix", prefix, "--no-audit", "--no-fund"]);
    let installed = npm.output().unwrap_or_else(|error| {
        panic!("MQTT.js is not installed and npm cannot run ({error}): install Node.js and npm")
    });
    assert!(
        installed.status.success(),
        "npm ci --prefix shards/tests/browser failed: {}",
        String::from_utf8_lossy(&installed.stderr)
    );
    std::fs::read(MQTT_JS)
        .unwrap_or_else(|error| panic!("npm ci installed no MQTT.js bundle ({error}): {MQTT_JS}"))
}

#[test]
fn mqtt_js_in_chromium_over_websocket_and_secure_websocket_reaches_mosquitto_clients_and_back() {
    let mqtt_js = mqtt_js();
    let dir = tempfile::tempdir().unwrap();
    let ca = pki::Ca::new("shardmq browser test CA");
    let server = ca.server(&["localhost", "127.0.0.1"]);
    let (certfile, keyfile) = server.write(dir.path(), "server");
    let config = format!(
        "[[listener]]\naddress = \"127.0.0.1:0\"\ntransport = \"ws\"\n\n\
         [[listener]]\naddress = \"127.0.0.1:0\"\ntransport = \"wss\"\n\
         certfile = \"{}\"\nkeyfile = \"{}\"\n",
        certfile.display(),
        keyfile.display()
    );
    let mut broker = start(dir.path(), &config, 2);
    mosquitto(
        "mosquitto_pub",
        broker.plain,
        &[
            "-t",
            "browser/from-tcp",
            "-m",
            "from mosquitto_pub over TCP",
            "-q",
            "1",
            "-r",
        ],
    );

    let brokers = format!(
        "[[\"ws\", \"ws://127.0.0.1:{}/mqtt\", 4], [\"wss\", \"wss://localhost:{}/mqtt\", 5]]",
        broker.listeners[0].port(),
        broker.listeners[1].port()
    );
    let (sender, reports) = mpsc::channel();
    let site = serve(page(&brokers), mqtt_js, sender);
    let browser = Chromium::open(
        dir.path(),
        &format!("http://{site}/"),
        &spki_sha256(&server.der),
    );

    let deadline = Instant::now() + BROWSER_TIMEOUT;
    let mut steps = Vec::new();
    let outcome = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match reports.recv_timeout(left) {
            Ok(Report::Progress(step)) => steps.push(step),
            Ok(Report::Outcome(outcome)) => break outcome,
            Err(error) => panic!(
                "the page reported no outcome ({error}); its steps:\n{}\n\
                 Chromium's output:\n{}\nthe broker's:\n{}",
                steps.join("\n"),
                browser.output(),
                broker.log()
            ),
        }
    };
    assert_eq!(
        outcome,
        "ok",
        "the page failed; its steps:\n{}\nChromium's output:\n{}\nthe broker's:\n{}",
        steps.join("\n"),
        browser.output(),
        broker.log()
    );
    drop(browser);

    for name in ["ws", "wss"] {
        let topic = format!("browser/{name}/to-tcp");
        let received = mosquitto(
            "mosquitto_sub",
            broker.plain,
            &["-t", &topic, "-C", "1", "-W", "10"],
        );
        assert_eq!(
            String::from_utf8_lossy(&received.stdout).trim(),
            format!("from MQTT.js over {name}")
        );
    }
}
