//! The `shardmq` binary and its `[auth]` files: `shardmq passwd` writes
//! password files that Mosquitto's own broker accepts (the file is handed to
//! `/usr/sbin/mosquitto` and `mosquitto_pub -u -P` connects with the right
//! password only); a bad password file, and a non-loopback listener with no
//! authentication configured, stop the start with exit code 2 and a message
//! naming the file or the fix. Every wait is bounded by [`TEST_TIMEOUT`].

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const TEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `command` to completion within [`TEST_TIMEOUT`].
fn run(command: &mut Command) -> Output {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("{command:?} does not start: {error}"));
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || sender.send(child.wait_with_output()));
    receiver
        .recv_timeout(TEST_TIMEOUT)
        .expect("exited in time")
        .expect("ran")
}

fn shardmq_passwd(args: &[&str], file: &Path) -> Output {
    run(Command::new(env!("CARGO_BIN_EXE_shardmq"))
        .arg("passwd")
        .args(args.iter().take_while(|arg| arg.starts_with('-')))
        .arg(file)
        .args(args.iter().skip_while(|arg| arg.starts_with('-'))))
}

/// Mosquitto on a free loopback port with `password_file`, once it says it
/// is running.
struct Mosquitto {
    child: Child,
    port: u16,
}

impl Mosquitto {
    fn start(dir: &Path, password_file: &Path) -> Mosquitto {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = dir.join("mosquitto.conf");
        // Started as root (CI), mosquitto would drop to its own user, which
        // cannot read a private file in a private directory: `user root`
        // keeps it as it is (started by anyone else, it changes nothing).
        let mut file = std::fs::File::create(&config).unwrap();
        write!(
            file,
            "listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {}\n\
             log_dest stderr\nlog_type all\nuser root\n",
            password_file.display()
        )
        .unwrap();
        let mut child = Command::new("/usr/sbin/mosquitto")
            .arg("-c")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("/usr/sbin/mosquitto starts (Debian package mosquitto)");
        let stderr = child.stderr.take().unwrap();
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("running") {
                    let _ = sender.send(());
                }
            }
        });
        receiver
            .recv_timeout(TEST_TIMEOUT)
            .expect("mosquitto says it is running");
        Mosquitto { child, port }
    }

    fn publish_as(&self, user: &str, password: &str) -> Output {
        run(Command::new("mosquitto_pub")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-u", user, "-P", password, "-t", "t", "-m", "m", "-q", "1"]))
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn entries_written_by_shardmq_passwd_are_accepted_by_mosquitto() {
    let dir = tempfile::tempdir().unwrap();
    let passwords = dir.path().join("passwd");
    let created = shardmq_passwd(&["-c", "-b", "alice", "wonderland"], &passwords);
    assert!(created.status.success(), "{created:?}");
    let added = shardmq_passwd(&["-b", "bob", "builder"], &passwords);
    assert!(added.status.success(), "{added:?}");
    let text = std::fs::read_to_string(&passwords).unwrap();
    assert!(text.starts_with("alice:$7$210000$"), "{text}");
    let broker = Mosquitto::start(dir.path(), &passwords);
    assert!(broker.publish_as("alice", "wonderland").status.success());
    assert!(broker.publish_as("bob", "builder").status.success());
    assert!(!broker.publish_as("alice", "builder").status.success());
}

#[test]
fn deleted_users_are_gone_and_a_missing_password_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let passwords = dir.path().join("passwd");
    assert!(
        shardmq_passwd(&["-c", "-b", "alice", "wonderland"], &passwords)
            .status
            .success()
    );
    assert!(shardmq_passwd(&["-D", "alice"], &passwords)
        .status
        .success());
    let text = std::fs::read_to_string(&passwords).unwrap();
    assert!(!text.contains("alice"), "{text}");
    // No terminal to ask on, and no -b: refused, nothing written.
    let prompted = shardmq_passwd(&["bob"], &passwords);
    assert!(!prompted.status.success());
    assert!(String::from_utf8_lossy(&prompted.stderr).contains("-b"));
    let deleted_again = shardmq_passwd(&["-D", "alice"], &passwords);
    assert!(!deleted_again.status.success());
}

fn start_with_config(dir: &Path, text: &str) -> Output {
    let config = dir.join("shardmq.toml");
    std::fs::write(&config, text).unwrap();
    run(Command::new(env!("CARGO_BIN_EXE_shardmq"))
        .env_remove("RUST_LOG")
        .args(["--shards", "1", "--config"])
        .arg(&config))
}

#[test]
fn a_bad_password_file_line_stops_the_start_with_2_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let passwords = dir.path().join("passwd");
    std::fs::write(&passwords, "# users\nalice:plaintext\n").unwrap();
    let output = start_with_config(
        dir.path(),
        &format!(
            "listen = [\"127.0.0.1:0\"]\n[auth]\npassword_file = \"{}\"\n",
            passwords.display()
        ),
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("[auth] password_file"), "{stderr}");
    assert!(
        stderr.contains(&passwords.display().to_string()),
        "{stderr}"
    );
    assert!(stderr.contains("line 2"), "{stderr}");
}

#[test]
fn a_non_loopback_listener_without_authentication_stops_the_start_with_2_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let output = start_with_config(dir.path(), "listen = [\"0.0.0.0:0\"]\n");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("allow_anonymous = true"), "{stderr}");
    assert!(stderr.contains("password_file"), "{stderr}");
}
