//! Authentication and authorization end to end: a password file written by
//! Mosquitto's own `mosquitto_passwd`, used unchanged by Mosquitto's own
//! clients; refused credentials with the CONNACK codes of 3.1.1 and 5.0 (raw
//! clients, which read every code); an ACL file with `user`, `pattern`,
//! `deny` and `$SYS` rules (SUBACK codes, publishes refused and not
//! delivered, deliveries filtered); a takeover by another user refused; and
//! the counters of all of it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;

use shardmq_shards::config::AuthConfig;
use shardmq_shards::Config;

use crate::common::{start_broker_with, TEST_TIMEOUT};
use crate::wire::{
    reason, subscribe, Connect, Properties, Publish, Received, Wire, PUBACK, PUBREC, V3_1_1, V5,
};

/// Writes `user`'s password with the real `mosquitto_passwd`, creating the
/// file when `create`.
fn mosquitto_passwd(file: &Path, create: bool, user: &str, password: &str) {
    let mut command = Command::new("/usr/bin/mosquitto_passwd");
    if create {
        command.arg("-c");
    }
    let output = run(command.arg("-b").arg(file).args([user, password]));
    assert!(
        output.status.success(),
        "mosquitto_passwd failed: {output:?}"
    );
}

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
        .expect("the client exited in time")
        .expect("the client ran")
}

/// A file in `dir` with `text`.
fn file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::File::create(&path)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .unwrap();
    path
}

fn config(auth: AuthConfig) -> Config {
    Config {
        auth,
        ..Config::default()
    }
}

/// A CONNECT at `level` with these credentials.
fn with_credentials(level: u8, client_id: &str, username: &str, password: &str) -> Connect {
    Connect {
        username: Some(username.to_owned()),
        password: Some(password.as_bytes().to_vec()),
        ..Connect::new(level, client_id)
    }
}

fn mosquitto_client(program: &str, port: u16, version: &str) -> Command {
    let mut command = Command::new(program);
    command
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-V", version])
        .args(["-i", &format!("{program}-{version}").replace('/', "-")]);
    command
}

#[test]
fn a_password_file_from_mosquitto_passwd_is_used_unchanged_by_mosquitto_clients() {
    let dir = tempfile::tempdir().unwrap();
    let passwords = dir.path().join("passwd");
    mosquitto_passwd(&passwords, true, "alice", "wonderland");
    mosquitto_passwd(&passwords, false, "bob", "builder");
    let broker = start_broker_with(config(AuthConfig {
        allow_anonymous: Some(false),
        password_file: Some(passwords),
        ..AuthConfig::default()
    }));
    let port = broker.local_addr().port();
    for version in ["mqttv311", "mqttv5"] {
        // Retained, so the subscriber that comes after finds it.
        let published = run(mosquitto_client("mosquitto_pub", port, version)
            .args(["-u", "alice", "-P", "wonderland", "-q", "1", "-r"])
            .args(["-t", &format!("greetings/{version}"), "-m", "hello"]));
        assert!(published.status.success(), "{published:?}");
        let received = run(mosquitto_client("mosquitto_sub", port, version)
            .args(["-u", "bob", "-P", "builder", "-C", "1", "-W", "10"])
            .args(["-t", &format!("greetings/{version}")]));
        assert!(received.status.success(), "{received:?}");
        assert_eq!(String::from_utf8_lossy(&received.stdout), "hello\n");
        let refused = run(mosquitto_client("mosquitto_pub", port, version)
            .args(["-u", "alice", "-P", "builder", "-t", "x", "-m", "no"]));
        assert!(!refused.status.success(), "{refused:?}");
    }
    let stats = broker.stats();
    assert_eq!(stats.auth_succeeded, 4);
    assert_eq!(stats.auth_failed, 2);
    broker.shutdown();
}

#[test]
fn wrong_credentials_get_0x86_under_5_and_4_under_3_1_1_and_anonymous_0x87_and_5() {
    let dir = tempfile::tempdir().unwrap();
    let passwords = dir.path().join("passwd");
    mosquitto_passwd(&passwords, true, "alice", "wonderland");
    let broker = start_broker_with(config(AuthConfig {
        password_file: Some(passwords),
        allow_anonymous: Some(false),
        ..AuthConfig::default()
    }));
    let address = broker.local_addr();
    let cases = [
        (
            with_credentials(V5, "c1", "alice", "wrong"),
            reason::BAD_USER_NAME_OR_PASSWORD,
        ),
        (
            with_credentials(V3_1_1, "c2", "alice", "wrong"),
            reason::RETURN_BAD_USER_NAME_OR_PASSWORD,
        ),
        (
            with_credentials(V5, "c3", "mallory", "wonderland"),
            reason::BAD_USER_NAME_OR_PASSWORD,
        ),
        (Connect::new(V5, "c4"), reason::NOT_AUTHORIZED),
        (Connect::new(V3_1_1, "c5"), reason::RETURN_NOT_AUTHORIZED),
    ];
    for (connect, reason_code) in cases {
        let (mut wire, connack) = Wire::connect(address, &connect);
        assert_eq!(connack.reason_code, reason_code, "{connect:?}");
        wire.expect_closed();
    }
    let (_alice, connack) =
        Wire::connect(address, &with_credentials(V5, "c6", "alice", "wonderland"));
    assert_eq!(connack.reason_code, reason::SUCCESS);
    assert_eq!(broker.stats().auth_failed, 5);
    broker.shutdown();
}

/// Rules for the ACL tests: `alice` owns `alice/#` but not `alice/secret`,
/// and reads `$SYS`; `bob` reads everything but `$` topics and writes two
/// of alice's topics; everyone writes to `devices/<client id>/out` and reads
/// `inbox/<user name>`; anonymous clients read `public/#`.
const ACL: &str = "\
topic read public/#

user alice
topic readwrite alice/#
topic deny alice/secret
topic read $SYS/#

user bob
topic read #
topic write alice/from-bob
topic write alice/secret

pattern write devices/%c/out
pattern read inbox/%u
";

fn acl_broker(dir: &Path) -> shardmq_shards::BrokerHandle {
    start_broker_with(config(AuthConfig {
        allow_anonymous: Some(true),
        acl_file: Some(file(dir, "acl", ACL)),
        ..AuthConfig::default()
    }))
}

fn subscribe_codes(wire: &mut Wire, level: u8, filters: &[&str]) -> Vec<u8> {
    let filters: Vec<(&str, u8)> = filters.iter().map(|filter| (*filter, 1)).collect();
    wire.send(&subscribe(level, 9, &filters, &Properties::default()));
    match wire.recv() {
        Received::SubAck {
            packet_id: 9,
            reason_codes,
        } => reason_codes,
        other => panic!("expected SUBACK, got {other:?}"),
    }
}

#[test]
fn subscribe_filters_the_acl_refuses_get_0x87_under_5_and_0x80_under_3_1_1() {
    let dir = tempfile::tempdir().unwrap();
    let broker = acl_broker(dir.path());
    let address = broker.local_addr();
    let filters = [
        "alice/+",
        "alice/secret",
        "bob/x",
        "$SYS/#",
        "inbox/alice",
        "inbox/bob",
    ];
    let (mut v5, _) = Wire::accepted(address, &with_credentials(V5, "a5", "alice", "-"));
    assert_eq!(
        subscribe_codes(&mut v5, V5, &filters),
        [
            1,
            reason::NOT_AUTHORIZED,
            reason::NOT_AUTHORIZED,
            1,
            1,
            reason::NOT_AUTHORIZED
        ]
    );
    let (mut v3, _) = Wire::accepted(address, &with_credentials(V3_1_1, "a3", "alice", "-"));
    assert_eq!(
        subscribe_codes(&mut v3, V3_1_1, &filters),
        [1, reason::FAILURE, reason::FAILURE, 1, 1, reason::FAILURE]
    );
    // Anonymous: its own section, and the patterns (no %u for it).
    let mut anonymous = Wire::clean(address, V5, "anon");
    assert_eq!(
        subscribe_codes(&mut anonymous, V5, &["public/#", "alice/+", "#"]),
        [1, reason::NOT_AUTHORIZED, reason::NOT_AUTHORIZED]
    );
    assert_eq!(broker.stats().acl_subscribe_denied, 8);
    broker.shutdown();
}

#[test]
fn refused_publishes_are_answered_0x87_under_5_acknowledged_under_3_1_1_and_never_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let broker = acl_broker(dir.path());
    let address = broker.local_addr();
    // bob reads everything but `$`-topics.
    let (mut bob, _) = Wire::accepted(address, &with_credentials(V5, "bob", "bob", "-"));
    assert_eq!(subscribe_codes(&mut bob, V5, &["#"]), [1]);

    let (mut alice, _) = Wire::accepted(address, &with_credentials(V5, "alice5", "alice", "-"));
    alice.send_publish(&Publish::new("bob/x", "refused", 1));
    assert_eq!(
        alice.expect_ack(PUBACK, 1).reason_code,
        reason::NOT_AUTHORIZED
    );
    alice.send_publish(&Publish::new("alice/secret", "refused", 2));
    assert_eq!(
        alice.expect_ack(PUBREC, 1).reason_code,
        reason::NOT_AUTHORIZED
    );
    let (mut alice3, _) =
        Wire::accepted(address, &with_credentials(V3_1_1, "alice3", "alice", "-"));
    alice3.send_publish(&Publish::new("bob/y", "refused", 1));
    alice3.expect_ack(PUBACK, 1);
    // Allowed, after the refused ones: what bob gets first is this.
    alice.publish("alice/news", "allowed", 1, false);
    let received = bob.recv_publish_acked();
    assert_eq!(
        (received.topic_name.as_str(), received.payload.as_slice()),
        ("alice/news", &b"allowed"[..])
    );
    let stats = broker.stats();
    assert_eq!(stats.acl_publish_denied, 3);
    broker.shutdown();
}

#[test]
fn deliveries_are_filtered_by_what_the_subscriber_may_read() {
    let dir = tempfile::tempdir().unwrap();
    let broker = acl_broker(dir.path());
    let address = broker.local_addr();
    // alice may subscribe to `alice/#`, which is wider than what she may
    // read: `alice/secret` is denied to her.
    let (mut alice, _) = Wire::accepted(address, &with_credentials(V5, "alice", "alice", "-"));
    assert_eq!(subscribe_codes(&mut alice, V5, &["alice/#"]), [1]);
    // bob may write both; his messages arrive in the order he sent them.
    let (mut bob, _) = Wire::accepted(address, &with_credentials(V5, "bob", "bob", "-"));
    bob.publish("alice/secret", "hidden", 1, false);
    bob.publish("alice/from-bob", "shown", 1, false);
    let first = alice.recv_publish_acked();
    assert_eq!(
        (first.topic_name.as_str(), first.payload.as_slice()),
        ("alice/from-bob", &b"shown"[..])
    );
    assert_eq!(broker.stats().acl_read_denied, 1);
    broker.shutdown();
}

#[test]
fn a_client_id_with_a_session_of_another_user_is_refused_and_the_session_stays() {
    let broker = start_broker_with(config(AuthConfig {
        allow_anonymous: Some(true),
        ..AuthConfig::default()
    }));
    let address = broker.local_addr();
    let (mut alice, _) = Wire::accepted(address, &with_credentials(V5, "shared-id", "alice", "-"));
    for (connect, reason_code) in [
        (
            with_credentials(V5, "shared-id", "bob", "-"),
            reason::NOT_AUTHORIZED,
        ),
        (
            with_credentials(V3_1_1, "shared-id", "bob", "-"),
            reason::RETURN_NOT_AUTHORIZED,
        ),
        (Connect::new(V5, "shared-id"), reason::NOT_AUTHORIZED),
    ] {
        let (mut intruder, connack) = Wire::connect(address, &connect);
        assert_eq!(connack.reason_code, reason_code);
        intruder.expect_closed();
    }
    // alice is still connected; she may take her own session over.
    alice.ping();
    let (_again, connack) =
        Wire::connect(address, &with_credentials(V5, "shared-id", "alice", "-"));
    assert_eq!(connack.reason_code, reason::SUCCESS);
    assert_eq!(broker.stats().takeovers_refused, 3);
    broker.shutdown();
}

#[test]
fn takeover_by_another_user_is_allowed_when_turned_off() {
    let broker = start_broker_with(config(AuthConfig {
        allow_anonymous: Some(true),
        takeover_requires_same_username: Some(false),
        ..AuthConfig::default()
    }));
    let address = broker.local_addr();
    let (_alice, _) = Wire::accepted(address, &with_credentials(V5, "shared-id", "alice", "-"));
    let (_bob, connack) = Wire::connect(address, &with_credentials(V5, "shared-id", "bob", "-"));
    assert_eq!(connack.reason_code, reason::SUCCESS);
    broker.shutdown();
}

#[test]
fn a_reload_applies_to_new_connections_and_a_bad_file_keeps_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let passwords = dir.path().join("passwd");
    mosquitto_passwd(&passwords, true, "alice", "wonderland");
    let broker = start_broker_with(config(AuthConfig {
        password_file: Some(passwords.clone()),
        allow_anonymous: Some(false),
        ..AuthConfig::default()
    }));
    let address = broker.local_addr();
    let bob = || with_credentials(V5, "bob", "bob", "builder");
    assert_eq!(
        Wire::connect(address, &bob()).1.reason_code,
        reason::BAD_USER_NAME_OR_PASSWORD
    );
    mosquitto_passwd(&passwords, false, "bob", "builder");
    let auth = broker.auth_handle();
    auth.reload().unwrap();
    assert_eq!(
        Wire::connect(address, &bob()).1.reason_code,
        reason::SUCCESS
    );
    std::fs::write(&passwords, "bob:not-a-hash\n").unwrap();
    let error = auth.reload().unwrap_err().to_string();
    assert!(error.contains("line 1"), "{error}");
    assert_eq!(
        Wire::connect(address, &bob()).1.reason_code,
        reason::SUCCESS
    );
    broker.shutdown();
}
