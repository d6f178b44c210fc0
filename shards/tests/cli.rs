//! The `shardmq` binary: help, configuration errors, bind errors, a clean
//! stop on SIGTERM, and its shards staying on the CPUs it is confined to.
//! Every wait is bounded by [`TEST_TIMEOUT`].

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use bytes::BytesMut;
use bytestring::ByteString;
use shardmq::protocol::{
    decode, encode, Connect, ConnectProperties, Packet, ProtocolVersion, ReasonCode,
};

const TEST_TIMEOUT: Duration = Duration::from_secs(10);

fn shardmq() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_shardmq"));
    command.env_remove("RUST_LOG");
    command
}

/// Runs `command` to completion within [`TEST_TIMEOUT`].
fn run(mut command: Command) -> std::process::Output {
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || sender.send(child.wait_with_output()));
    receiver
        .recv_timeout(TEST_TIMEOUT)
        .expect("the binary exited in time")
        .expect("the binary ran")
}

/// The log line saying the broker listens, read from `child`'s stdout
/// within [`TEST_TIMEOUT`].
fn listening_line(child: &mut std::process::Child) -> Result<String, mpsc::RecvTimeoutError> {
    let stdout = child.stdout.take().unwrap();
    let (ready_sender, ready) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if line.contains("listening for MQTT") {
                let _ = ready_sender.send(line);
            }
        }
    });
    ready.recv_timeout(TEST_TIMEOUT)
}

#[test]
fn help_describes_every_flag() {
    let mut command = shardmq();
    command.arg("--help");
    let output = run(command);
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for flag in ["--config", "--listen", "--shards", "--log-level"] {
        assert!(help.contains(flag), "--help lacks {flag}:\n{help}");
    }
}

#[test]
fn unknown_config_key_exits_with_2_and_names_the_key() {
    let path = std::env::temp_dir().join(format!("shardmq-cli-{}.toml", std::process::id()));
    std::fs::write(&path, "listen = [\"127.0.0.1:0\"]\nshard_count = 2\n").unwrap();
    let mut command = shardmq();
    command.arg("--config").arg(&path);
    let output = run(command);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("shard_count"), "{stderr}");
}

#[test]
fn bad_value_exits_with_2_and_names_the_key() {
    let mut command = shardmq();
    command.args(["--log-level", "shardmq=[[["]);
    let output = run(command);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("log_level"), "{stderr}");
}

#[test]
fn unbindable_address_exits_with_2_and_names_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let mut command = shardmq();
    command.args(["--listen", &address, "--shards", "1"]);
    let output = run(command);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains(&address), "{stderr}");
}

#[test]
fn sigterm_disconnects_v5_clients_with_server_shutting_down_and_exits_0() {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let mut child = shardmq()
        .args(["--listen", &format!("127.0.0.1:{port}"), "--shards", "2"])
        .args(["--log-level", "info"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    listening_line(&mut child).expect("the broker reported it was listening");

    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(TEST_TIMEOUT)).unwrap();
    let connect = Connect {
        protocol_version: ProtocolVersion::V5,
        clean_start: true,
        keep_alive_s: 0,
        client_id: ByteString::from("cli-test"),
        will: None,
        username: None,
        password: None,
        properties: ConnectProperties::default(),
    };
    let mut bytes = BytesMut::new();
    encode(
        &Packet::Connect(Box::new(connect)),
        ProtocolVersion::V5,
        &mut bytes,
    )
    .unwrap();
    stream.write_all(&bytes).unwrap();
    let mut received = BytesMut::new();
    let mut next_packet = |stream: &mut TcpStream| loop {
        if let Some(packet) = decode(&mut received, ProtocolVersion::V5, 1 << 20).unwrap() {
            return Some(packet);
        }
        let mut chunk = [0u8; 1024];
        match stream
            .read(&mut chunk)
            .expect("the broker answered in time")
        {
            0 => return None,
            count => received.extend_from_slice(&chunk[..count]),
        }
    };
    assert!(matches!(next_packet(&mut stream), Some(Packet::ConnAck(_))));

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    match next_packet(&mut stream) {
        Some(Packet::Disconnect(disconnect)) => {
            assert_eq!(disconnect.reason_code, ReasonCode::ServerShuttingDown)
        }
        other => panic!("expected DISCONNECT 0x8B, got {other:?}"),
    }
    assert!(next_packet(&mut stream).is_none(), "the connection closes");
    let (exit_sender, exited) = mpsc::channel();
    std::thread::spawn(move || exit_sender.send(child.wait()));
    let status = exited
        .recv_timeout(TEST_TIMEOUT)
        .expect("the broker exited in time")
        .unwrap();
    assert_eq!(status.code(), Some(0));
}

/// The `Cpus_allowed_list` of every thread of process `pid`.
fn thread_cpu_lists(pid: u32) -> Vec<(String, String)> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).unwrap();
    // A thread that ended while this read the list has nothing to check.
    tasks
        .filter_map(|task| {
            let path = task.ok()?.path();
            let name = std::fs::read_to_string(path.join("comm")).ok()?;
            let status = std::fs::read_to_string(path.join("status")).ok()?;
            let cpus = status
                .lines()
                .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))?;
            Some((name.trim().to_owned(), cpus.trim().to_owned()))
        })
        .collect()
}

#[test]
fn a_broker_confined_to_one_cpu_keeps_every_thread_on_it() {
    let cpus = shardmq_shards::allowed_cpus().expect("this process's CPU affinity");
    let Some(&last) = cpus.last().filter(|_| cpus.len() > 1) else {
        eprintln!("one CPU only: nothing to confine the broker away from");
        return;
    };
    // The highest CPU, so that a placement ignoring the confinement (which
    // starts from the lowest) is caught.
    let spawned = Command::new("taskset")
        .args(["-c", &last.to_string(), env!("CARGO_BIN_EXE_shardmq")])
        .args(["--listen", "127.0.0.1:0", "--log-level", "info"])
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let mut child = match spawned {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("no taskset (util-linux) here: the broker cannot be confined");
            return;
        }
        spawned => spawned.expect("taskset runs the binary"),
    };
    let listening = listening_line(&mut child);
    let threads = thread_cpu_lists(child.id());
    child.kill().unwrap();
    child.wait().unwrap();
    let listening = listening.expect("the broker reported it was listening");
    assert!(listening.contains("shards=1"), "{listening}");
    let expected = last.to_string();
    assert!(
        threads.iter().all(|(_, cpus)| *cpus == expected),
        "every thread on CPU {last}: {threads:?}"
    );
}
