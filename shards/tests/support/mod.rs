//! The harness of the end-to-end tests that run the `shardmq` binary: start
//! it with a configuration file, follow its log, find its listeners, stop it
//! and read its closing counters; run a client to completion. Shared by
//! several test binaries, each of which uses part of it.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use super::pki;

pub const TEST_TIMEOUT: Duration = Duration::from_secs(20);

/// A running broker and what it logged so far.
pub struct Broker {
    pub child: Child,
    pub lines: Receiver<String>,
    pub seen: Vec<String>,
    /// The `listen` address (plain TCP).
    pub plain: SocketAddr,
    /// The `[[listener]]` addresses, in order.
    pub listeners: Vec<SocketAddr>,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the broker with `config` (written into `dir`) after a
/// `listen = ["127.0.0.1:0"]` line, and waits until it listens on all
/// `listeners` further ones.
pub fn start(dir: &Path, config: &str, listeners: usize) -> Broker {
    let path = pki::write(
        dir,
        "shardmq.toml",
        &format!(
            "listen = [\"127.0.0.1:0\"]\nshards = 2\n\
             log_level = \"info,shardmq_shards=debug\"\n{config}"
        ),
    );
    let mut command = Command::new(env!("CARGO_BIN_EXE_shardmq"));
    command.env_remove("RUST_LOG").arg("--config").arg(path);
    start_command(command, listeners)
}

pub fn start_command(mut command: Command, listeners: usize) -> Broker {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the binary starts");
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
    let mut broker = Broker {
        child,
        lines,
        seen: Vec::new(),
        plain: "0.0.0.0:0".parse().unwrap(),
        listeners: Vec::new(),
    };
    let mut addresses = Vec::new();
    while addresses.len() < 1 + listeners {
        let line = broker.wait_for(|line| line.contains("listening for MQTT"));
        addresses.push(address_in(&line));
    }
    broker.plain = addresses[0];
    broker.listeners = addresses[1..].to_vec();
    broker
}

/// The `address=` of a log line.
pub fn address_in(line: &str) -> SocketAddr {
    let field = line
        .split_whitespace()
        .find_map(|field| field.strip_prefix("address="))
        .unwrap_or_else(|| panic!("no address in {line}"));
    field.parse().unwrap()
}

impl Broker {
    /// What the broker logged so far, for a failure message.
    pub fn log(&mut self) -> String {
        self.seen.extend(self.lines.try_iter());
        self.seen.join("\n")
    }

    /// The next log line matching `wanted`, within [`TEST_TIMEOUT`].
    pub fn wait_for(&mut self, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + TEST_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if wanted(&line) {
                        return line;
                    }
                }
                Err(error) => panic!(
                    "no such log line ({error}); the broker logged:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    pub fn tls(&self) -> SocketAddr {
        self.listeners[0]
    }

    /// Stops the broker with SIGTERM; its closing line of counters.
    pub fn stop(&mut self) -> String {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        self.wait_for(|line| line.contains("broker counters"))
    }

    pub fn sighup(&self) {
        let status = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

/// The value of counter `name` in the broker's closing line.
pub fn counter(line: &str, name: &str) -> u64 {
    let prefix = format!("{name}=");
    line.split_whitespace()
        .find_map(|field| field.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no {name} in {line}"))
        .parse()
        .unwrap()
}

/// Runs `command` to completion within [`TEST_TIMEOUT`].
pub fn run(mut command: Command) -> Output {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the Mosquitto clients are installed (Debian: mosquitto-clients)");
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || sender.send(child.wait_with_output()));
    receiver
        .recv_timeout(TEST_TIMEOUT)
        .expect("the client exited in time")
        .expect("the client ran")
}
