//! The TLS layer against an in-memory rustls client: handshake, plaintext
//! both ways, large batches, alerts, the farewell, ALPN, client certificates,
//! and arbitrary bytes.

use std::io::{Read, Write};
use std::sync::Arc;

use bytes::BytesMut;
use proptest::prelude::*;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore};

use super::*;
use crate::test_pki::{self, Ca};
use crate::transport::{Alpn, TlsFiles, TlsListener};

/// A CA, a TLS listener for `localhost` under it, and the CA's client
/// certificate for CN `alice`.
struct Fixture {
    ca: Ca,
    listener: TlsListener,
    client_leaf: test_pki::Leaf,
    _dir: tempfile::TempDir,
}

fn fixture(cafile: bool) -> Fixture {
    fixture_serving(cafile, Alpn::Mqtt)
}

/// The fixture with a listener serving `alpn`.
fn fixture_serving(cafile: bool, alpn: Alpn) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("test CA");
    let (certfile, keyfile) = ca.server(&["localhost"]).write(dir.path(), "server");
    let cafile = cafile.then(|| test_pki::write(dir.path(), "ca.crt", &ca.pem()));
    let files = TlsFiles {
        certfile,
        keyfile,
        require_certificate: cafile.is_some(),
        cafile,
        alpn,
    };
    let listener = TlsListener::load("test listener".to_owned(), files, true).unwrap();
    Fixture {
        client_leaf: ca.client("alice"),
        ca,
        listener,
        _dir: dir,
    }
}

impl Fixture {
    fn server(&self) -> Tls {
        Tls::new(self.listener.new_session().unwrap())
    }

    /// A client trusting the CA, offering `alpn`, with the client
    /// certificate when `with_certificate`.
    fn client(&self, alpn: &[&[u8]], with_certificate: bool) -> ClientConnection {
        client_trusting(
            &self.ca,
            alpn,
            with_certificate.then_some(&self.client_leaf),
        )
    }
}

/// A client of `localhost` trusting `ca`, offering `alpn`, presenting
/// `certificate` if given.
fn client_trusting(
    ca: &Ca,
    alpn: &[&[u8]],
    certificate: Option<&test_pki::Leaf>,
) -> ClientConnection {
    let mut roots = RootCertStore::empty();
    let ca_der = CertificateDer::pem_slice_iter(ca.pem().as_bytes())
        .next()
        .unwrap()
        .unwrap();
    roots.add(ca_der).unwrap();
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match certificate {
        Some(leaf) => {
            let chain = vec![CertificateDer::from(leaf.der.clone())];
            let key = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|name| name.to_vec()).collect();
    ClientConnection::new(Arc::new(config), ServerName::try_from("localhost").unwrap()).unwrap()
}

/// Moves bytes both ways until neither side has anything to send; the
/// server's plaintext is appended to `plaintext`. The server layer's error,
/// if it fails (what it wanted to write is still delivered).
fn pump(
    client: &mut ClientConnection,
    server: &mut Tls,
    plaintext: &mut BytesMut,
) -> Result<(), String> {
    let mut wire = WireOut::default();
    loop {
        let mut progressed = false;
        if client.wants_write() {
            let mut bytes = Vec::new();
            client.write_tls(&mut bytes).unwrap();
            progressed = true;
            if let Err(error) = server.receive(&bytes, plaintext) {
                deliver(client, server, &mut wire);
                return Err(error.to_string());
            }
        }
        if deliver(client, server, &mut wire) {
            progressed = true;
            if let Err(error) = client.process_new_packets() {
                return Err(format!("client: {error}"));
            }
        }
        if !progressed {
            return Ok(());
        }
    }
}

/// Writes what the server wants to write to the client. True if anything.
fn deliver(client: &mut ClientConnection, server: &mut Tls, wire: &mut WireOut) -> bool {
    if !wire.fill(server, |_| false).unwrap() {
        return false;
    }
    let mut bytes = wire.unwritten();
    while !bytes.is_empty() {
        client.read_tls(&mut bytes).unwrap();
        let _ = client.process_new_packets();
    }
    let all = wire.unwritten().len();
    wire.advance(all);
    true
}

/// Seals `batch` and hands the wire bytes to the client; what the client
/// then reads.
fn send_batch(client: &mut ClientConnection, server: &mut Tls, batch: &[u8]) -> Vec<u8> {
    let mut wire = WireOut::default();
    assert!(wire
        .fill(server, |buffer| {
            buffer.extend_from_slice(batch);
            true
        })
        .unwrap());
    let mut bytes = wire.unwritten();
    let mut received = Vec::new();
    while !bytes.is_empty() {
        client.read_tls(&mut bytes).unwrap();
        client.process_new_packets().unwrap();
        let _ = client.reader().read_to_end(&mut received);
    }
    received
}

fn handshaken(fixture: &Fixture, with_certificate: bool) -> (ClientConnection, Tls) {
    let mut client = fixture.client(&[b"mqtt"], with_certificate);
    let mut server = fixture.server();
    pump(&mut client, &mut server, &mut BytesMut::new()).unwrap();
    assert!(!server.is_handshaking());
    assert!(!client.is_handshaking());
    (client, server)
}

#[test]
fn after_the_handshake_mqtt_bytes_flow_both_ways() {
    let fixture = fixture(false);
    let (mut client, mut server) = handshaken(&fixture, false);
    assert!(
        server.can_park(),
        "an idle connection after its handshake parks"
    );
    client.writer().write_all(b"CONNECT").unwrap();
    let mut plaintext = BytesMut::new();
    pump(&mut client, &mut server, &mut plaintext).unwrap();
    assert_eq!(&plaintext[..], b"CONNECT");
    assert_eq!(send_batch(&mut client, &mut server, b"CONNACK"), b"CONNACK");
}

#[test]
fn a_fresh_layer_is_handshaking_and_does_not_park() {
    let fixture = fixture(false);
    let server = fixture.server();
    assert!(server.is_handshaking());
    assert!(!server.can_park());
    assert!(!server.wants_write(), "the client speaks first");
}

#[test]
fn a_batch_larger_than_the_buffer_limit_is_sealed_whole() {
    let fixture = fixture(false);
    let (mut client, mut server) = handshaken(&fixture, false);
    let batch: Vec<u8> = (0..5 * limits::TLS_BUFFER_LIMIT_BYTES + 17)
        .map(|index| (index % 251) as u8)
        .collect();
    assert_eq!(send_batch(&mut client, &mut server, &batch), batch);
    assert!(!server.wants_write());
}

#[test]
fn garbage_ends_the_connection_with_an_alert_and_drops_later_plaintext() {
    let fixture = fixture(false);
    let mut server = fixture.server();
    let error = server
        .receive(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", &mut BytesMut::new())
        .unwrap_err();
    assert!(error.to_string().starts_with("tls layer failed"), "{error}");
    assert!(server.wants_write(), "an alert waits");
    let mut wire = WireOut::default();
    assert!(wire
        .fill(&mut server, |buffer| {
            buffer.extend_from_slice(b"a CONNACK that must not go out");
            true
        })
        .unwrap());
    // One alert record: content type 21, then version, length 2, the alert.
    assert_eq!(wire.unwritten()[0], 21);
    assert_eq!(wire.unwritten().len(), 7);
    assert!(server.receive(b"more", &mut BytesMut::new()).is_err());
    assert!(!server.can_park());
}

#[test]
fn close_sends_close_notify_once() {
    let fixture = fixture(false);
    let (mut client, mut server) = handshaken(&fixture, false);
    server.close();
    server.close();
    let mut wire = WireOut::default();
    assert!(wire.fill(&mut server, |_| false).unwrap());
    let mut bytes = wire.unwritten();
    client.read_tls(&mut bytes).unwrap();
    let state = client.process_new_packets().unwrap();
    assert!(state.peer_has_closed());
    wire.advance(wire.unwritten().len());
    assert!(
        !wire.fill(&mut server, |_| false).unwrap(),
        "nothing more to write"
    );
}

#[test]
fn clients_offering_mqtt_or_nothing_are_served_and_others_refused() {
    let fixture = fixture(false);
    for offered in [&[b"mqtt" as &[u8]][..], &[b"x-amzn-mqtt-ca"], &[]] {
        let mut client = fixture.client(offered, false);
        let mut server = fixture.server();
        pump(&mut client, &mut server, &mut BytesMut::new()).unwrap();
        assert!(!server.is_handshaking(), "{offered:?}");
        assert_eq!(client.alpn_protocol(), offered.first().copied());
    }
    let mut client = fixture.client(&[b"http/1.1"], false);
    let mut server = fixture.server();
    let error = pump(&mut client, &mut server, &mut BytesMut::new()).unwrap_err();
    assert!(
        error.contains("peer doesn't support any known protocol"),
        "{error}"
    );
}

#[test]
fn websocket_listeners_serve_clients_offering_http_1_1_or_nothing_and_refuse_mqtt() {
    let fixture = fixture_serving(false, Alpn::WebSocket);
    for offered in [&[b"http/1.1" as &[u8]][..], &[b"h2", b"http/1.1"], &[]] {
        let mut client = fixture.client(offered, false);
        let mut server = fixture.server();
        pump(&mut client, &mut server, &mut BytesMut::new()).unwrap();
        assert!(!server.is_handshaking(), "{offered:?}");
        let chosen = (!offered.is_empty()).then_some(b"http/1.1" as &[u8]);
        assert_eq!(client.alpn_protocol(), chosen);
    }
    let mut client = fixture.client(&[b"mqtt"], false);
    let mut server = fixture.server();
    let error = pump(&mut client, &mut server, &mut BytesMut::new()).unwrap_err();
    assert!(
        error.contains("peer doesn't support any known protocol"),
        "{error}"
    );
}

#[test]
fn a_verified_client_certificate_gives_its_common_name() {
    let fixture = fixture(true);
    let (_client, server) = handshaken(&fixture, true);
    assert_eq!(server.peer_common_name().as_deref(), Some("alice"));
}

#[test]
fn a_client_without_a_certificate_is_refused_when_one_is_required() {
    let fixture = fixture(true);
    let mut client = fixture.client(&[b"mqtt"], false);
    let mut server = fixture.server();
    let error = pump(&mut client, &mut server, &mut BytesMut::new()).unwrap_err();
    assert!(error.contains("tls layer failed"), "{error}");
    assert!(server.is_handshaking());
}

#[test]
fn a_reload_serves_new_handshakes_with_the_new_material_and_old_connections_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let old_ca = Ca::new("old CA");
    let (certfile, keyfile) = old_ca.server(&["localhost"]).write(dir.path(), "server");
    let files = TlsFiles {
        certfile,
        keyfile: keyfile.clone(),
        cafile: None,
        require_certificate: false,
        alpn: Alpn::Mqtt,
    };
    let listener = TlsListener::load("reloaded".to_owned(), files, false).unwrap();
    let handshake = |ca: &Ca| {
        let mut client = client_trusting(ca, &[b"mqtt"], None);
        let mut server = Tls::new(listener.new_session().unwrap());
        pump(&mut client, &mut server, &mut BytesMut::new()).map(|()| (client, server))
    };
    let (mut old_client, mut old_server) = handshake(&old_ca).unwrap();

    let new_ca = Ca::new("new CA");
    new_ca.server(&["localhost"]).write(dir.path(), "server");
    listener.reload().unwrap();
    let error = handshake(&old_ca).unwrap_err();
    assert!(
        error.contains("UnknownIssuer"),
        "the new certificate is served: {error}"
    );
    handshake(&new_ca).unwrap();
    assert_eq!(
        send_batch(&mut old_client, &mut old_server, b"PUBLISH"),
        b"PUBLISH"
    );

    // A key that does not match: the reload fails, the material stays.
    std::fs::write(&keyfile, old_ca.server(&["localhost"]).key_pem).unwrap();
    assert_eq!(listener.reload().unwrap_err().key, "keyfile");
    handshake(&new_ca).unwrap();
}

fn arbitrary_bytes_never_panic(layer: &mut Tls, chunks: &[Vec<u8>]) {
    let mut plaintext = BytesMut::new();
    for chunk in chunks {
        if chunk.is_empty() {
            continue;
        }
        if layer.receive(chunk, &mut plaintext).is_err() {
            break;
        }
    }
    let mut wire = WireOut::default();
    let _ = wire.fill(layer, |buffer| {
        buffer.extend_from_slice(b"batch");
        true
    });
    layer.close();
    let _ = layer.can_park();
}

/// The first flight of a client that trusts `fixture`'s CA.
fn client_hello(fixture: &Fixture) -> Vec<u8> {
    let mut client = fixture.client(&[b"mqtt"], false);
    let mut hello = Vec::new();
    client.write_tls(&mut hello).unwrap();
    hello
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_to_a_fresh_layer_never_panic(
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..2048), 1..8)
    ) {
        let fixture = FIXTURE.with(Arc::clone);
        arbitrary_bytes_never_panic(&mut fixture.server(), &chunks);
    }

    #[test]
    fn arbitrary_bytes_after_a_client_hello_never_panic(
        cut in 0usize..512,
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..2048), 1..8)
    ) {
        let fixture = FIXTURE.with(Arc::clone);
        let mut hello = client_hello(&fixture);
        hello.truncate(hello.len().saturating_sub(cut));
        let mut all = vec![hello];
        all.extend(chunks);
        arbitrary_bytes_never_panic(&mut fixture.server(), &all);
    }
}

thread_local! {
    /// One fixture for every case: certificates take a while to make.
    static FIXTURE: Arc<Fixture> = Arc::new(fixture(true));
}
