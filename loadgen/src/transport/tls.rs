//! TLS for loadgen's connections: the rustls client configuration built from
//! the command line's files, one per shard so that each shard keeps its own
//! session resumption store, as a fleet of real clients each keep theirs.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::Resumption;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::TlsOptions;

/// The rustls configuration of one shard's connections and the name they
/// ask the broker's certificate for.
#[derive(Clone, Debug)]
pub struct TlsClient {
    /// Shared by every connection of a shard (and its resumption store with them).
    pub config: Arc<ClientConfig>,
    /// The name the broker's certificate must carry.
    pub server_name: ServerName<'static>,
}

impl TlsClient {
    /// Reads the files `options` name and builds the configuration. `Err`
    /// names the option and the file at fault.
    pub fn new(options: &TlsOptions) -> Result<TlsClient, String> {
        let server_name = ServerName::try_from(options.server_name.clone())
            .map_err(|error| format!("--server-name {}: {error}", options.server_name))?;
        let provider = Arc::new(ring_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|error| format!("TLS: {error}"))?;
        let builder = match &options.ca_file {
            _ if options.insecure => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyServerCertificate(provider))),
            Some(ca_file) => builder.with_root_certificates(read_roots(ca_file)?),
            None => return Err("--tls needs --cafile, or --insecure to skip verification".into()),
        };
        let config = match &options.client_certificate {
            Some(client) => {
                let chain = read_certificates("--cert", &client.cert_file)?;
                let key = PrivateKeyDer::from_pem_file(&client.key_file).map_err(|error| {
                    format!(
                        "--key {}: no private key read: {error}",
                        client.key_file.display()
                    )
                })?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|error| format!("--cert/--key: {error}"))?
            }
            None => builder.with_no_client_auth(),
        };
        Ok(TlsClient {
            config: Arc::new(config),
            server_name,
        })
    }

    /// The same configuration with a resumption store of its own, for one shard.
    pub fn for_shard(&self) -> TlsClient {
        let mut config = (*self.config).clone();
        config.resumption = Resumption::default();
        TlsClient {
            config: Arc::new(config),
            server_name: self.server_name.clone(),
        }
    }
}

/// rustls's *ring* provider. Deprecated since 0.23.48 for its lack of
/// post-quantum key exchange, which brokers under test do not need to offer;
/// *ring* builds without a C toolchain beyond `cc`, unlike aws-lc-rs.
#[allow(deprecated)]
fn ring_provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

fn read_certificates(option: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let unreadable = |error: &dyn fmt::Display| format!("{option} {}: {error}", path.display());
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(|error| unreadable(&error))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| unreadable(&error))?;
    if certificates.is_empty() {
        return Err(unreadable(&"no PEM certificate in it"));
    }
    Ok(certificates)
}

fn read_roots(ca_file: &Path) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for certificate in read_certificates("--cafile", ca_file)? {
        roots
            .add(certificate)
            .map_err(|error| format!("--cafile {}: {error}", ca_file.display()))?;
    }
    Ok(roots)
}

/// `--insecure`: takes any certificate the broker shows, for benchmarking
/// brokers with self-signed ones. The handshake's signatures are still
/// checked, so the TLS work measured is the real one.
#[derive(Debug)]
struct AnyServerCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyServerCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
