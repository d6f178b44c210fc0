//! The TLS material of a listener: its PEM files read into a rustls
//! `ServerConfig`, checked when the configuration is loaded, and held in a
//! swappable slot that SIGHUP reloads.
//!
//! Every shard's sockets of one listener share one [`TlsListener`]. A new
//! connection's layer reads the slot once, at accept; messages never touch it.
//! A reload builds a whole new `ServerConfig` from the files first and swaps
//! it in only when that worked: a failed reload keeps the old material, and
//! connections made under it keep their own rustls state either way.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use bytestring::ByteString;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection};

/// The application protocols (ALPN) a TLS listener serves. A client
/// offering none is served too; a client offering only others is refused by
/// rustls with `no_application_protocol`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alpn {
    /// MQTT straight over TLS: `mqtt` and `x-amzn-mqtt-ca`, the one AWS IoT
    /// clients send.
    Mqtt,
    /// WebSocket over TLS: `http/1.1`, what browsers offer for `wss://`
    /// (the upgrade is an HTTP/1.1 request).
    WebSocket,
}

impl Alpn {
    fn protocols(self) -> &'static [&'static [u8]] {
        match self {
            Alpn::Mqtt => &[b"mqtt", b"x-amzn-mqtt-ca"],
            Alpn::WebSocket => &[b"http/1.1"],
        }
    }
}

/// What a TLS listener's material is read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// The server's certificate chain, PEM, leaf first.
    pub certfile: PathBuf,
    /// The server's private key, PEM: PKCS#8, PKCS#1 (RSA) or SEC1.
    pub keyfile: PathBuf,
    /// CA certificates client certificates are verified against, PEM;
    /// `None` asks clients for no certificate.
    pub cafile: Option<PathBuf>,
    /// A client without a valid certificate is refused; otherwise, with a
    /// `cafile`, a certificate is asked for but optional.
    pub require_certificate: bool,
    /// The application protocols served.
    pub alpn: Alpn,
}

/// Why a listener's TLS material cannot be used: the key and file at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsMaterialError {
    /// The configuration key naming the file.
    pub key: &'static str,
    /// The file.
    pub file: PathBuf,
    /// What is wrong with it.
    pub reason: String,
}

impl std::fmt::Display for TlsMaterialError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "key `{}`: {}: {}",
            self.key,
            self.file.display(),
            self.reason
        )
    }
}

impl std::error::Error for TlsMaterialError {}

impl TlsFiles {
    /// Reads the files and builds the server configuration they make.
    pub fn load(&self) -> Result<ServerConfig, TlsMaterialError> {
        // ring, not aws-lc-rs: no C toolchain beyond cc and a far shorter
        // build; rustls deprecates it for lacking post-quantum key exchange,
        // which these listeners then do without.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let chain = read_certificates("certfile", &self.certfile)?;
        let key = read_private_key(&self.keyfile)?;
        let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|error| self.error("certfile", &self.certfile, error))?;
        let builder = match &self.cafile {
            None => builder.with_no_client_auth(),
            Some(cafile) => {
                builder.with_client_cert_verifier(self.client_verifier(cafile, provider)?)
            }
        };
        let mut config = builder
            .with_single_cert(chain, key)
            .map_err(|error| self.error("keyfile", &self.keyfile, error))?;
        config.alpn_protocols = self
            .alpn
            .protocols()
            .iter()
            .map(|name| name.to_vec())
            .collect();
        Ok(config)
    }

    fn client_verifier(
        &self,
        cafile: &Path,
        provider: Arc<CryptoProvider>,
    ) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, TlsMaterialError> {
        let mut roots = RootCertStore::empty();
        for certificate in read_certificates("cafile", cafile)? {
            roots
                .add(certificate)
                .map_err(|error| self.error("cafile", cafile, error))?;
        }
        let builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
        let builder = if self.require_certificate {
            builder
        } else {
            builder.allow_unauthenticated()
        };
        builder
            .build()
            .map_err(|error| self.error("cafile", cafile, error))
    }

    fn error(&self, key: &'static str, file: &Path, reason: impl ToString) -> TlsMaterialError {
        TlsMaterialError {
            key,
            file: file.to_owned(),
            reason: reason.to_string(),
        }
    }
}

fn read_file(key: &'static str, file: &Path) -> Result<Vec<u8>, TlsMaterialError> {
    std::fs::read(file).map_err(|error| TlsMaterialError {
        key,
        file: file.to_owned(),
        reason: format!("cannot read: {error}"),
    })
}

/// Every certificate of a PEM file; at least one.
fn read_certificates(
    key: &'static str,
    file: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsMaterialError> {
    let pem = read_file(key, file)?;
    let invalid = |reason: String| TlsMaterialError {
        key,
        file: file.to_owned(),
        reason,
    };
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| invalid(format!("not a PEM certificate file: {error}")))?;
    if certificates.is_empty() {
        return Err(invalid(
            "holds no PEM certificate (-----BEGIN CERTIFICATE-----)".to_owned(),
        ));
    }
    Ok(certificates)
}

fn read_private_key(file: &Path) -> Result<PrivateKeyDer<'static>, TlsMaterialError> {
    let pem = read_file("keyfile", file)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|error| TlsMaterialError {
        key: "keyfile",
        file: file.to_owned(),
        reason: format!("holds no PEM private key (PKCS#8, RSA or SEC1): {error}"),
    })
}

/// One TLS listener, shared by its sockets on every shard and by the
/// SIGHUP handler: what its connections' layers are made from.
#[derive(Debug)]
pub struct TlsListener {
    /// The listener as the logs name it, e.g. `listener 1 (0.0.0.0:8883)`.
    label: String,
    files: TlsFiles,
    /// The client certificate's subject CN becomes the CONNECT's username.
    use_identity_as_username: bool,
    /// Read once per handshake; replaced whole by a reload.
    server_config: ArcSwap<ServerConfig>,
}

impl TlsListener {
    /// Loads the listener's material.
    pub fn load(
        label: String,
        files: TlsFiles,
        use_identity_as_username: bool,
    ) -> Result<TlsListener, TlsMaterialError> {
        let server_config = ArcSwap::from_pointee(files.load()?);
        Ok(TlsListener {
            label,
            files,
            use_identity_as_username,
            server_config,
        })
    }

    /// The listener as the logs name it.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// True when the client certificate's CN is taken as the username.
    pub fn uses_identity_as_username(&self) -> bool {
        self.use_identity_as_username
    }

    /// A new connection's rustls state, under the material loaded last.
    pub fn new_session(&self) -> Result<ServerConnection, rustls::Error> {
        ServerConnection::new(self.server_config.load_full())
    }

    /// Reads the files again and, when they make a valid configuration,
    /// serves new handshakes with it; otherwise the old one stays.
    pub fn reload(&self) -> Result<(), TlsMaterialError> {
        let server_config = self.files.load()?;
        self.server_config.store(Arc::new(server_config));
        Ok(())
    }
}

/// The subject CN of a DER certificate, when it has one that is UTF-8.
pub fn subject_common_name(certificate: &[u8]) -> Option<ByteString> {
    let (_, parsed) = x509_parser::parse_x509_certificate(certificate).ok()?;
    let common_name = parsed.subject().iter_common_name().next()?;
    common_name.as_str().ok().map(ByteString::from)
}
