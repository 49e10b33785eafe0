//! HTTPS for the listener with certificate hot reload: the certificate and key files are
//! checked on every handshake (one `stat` each) and re-read when they change. A bad new pair
//! keeps the old one serving and logs an error. Existing connections are never dropped.

use rustls::crypto::ring::sign::any_supported_type;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// Why a certificate/key pair could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error(
        "{path}: cannot read the certificate chain: {reason}; give a PEM file with at least one CERTIFICATE block"
    )]
    Certificate { path: PathBuf, reason: String },
    #[error(
        "{path}: cannot read the private key: {reason}; give a PEM file with one PRIVATE KEY block (PKCS#8, PKCS#1 or SEC1)"
    )]
    Key { path: PathBuf, reason: String },
    #[error("{key}: the private key does not match the certificate in {cert}; install the matching pair")]
    Mismatch { cert: PathBuf, key: PathBuf },
}

/// What identifies a version of the files on disk without reading them.
type Stamp = Option<(SystemTime, u64, SystemTime, u64)>;

#[derive(Debug)]
struct Loaded {
    stamp: Stamp,
    key: Arc<CertifiedKey>,
}

/// A certificate resolver that follows the files on disk.
#[derive(Debug)]
pub struct ReloadingCertificate {
    cert_path: PathBuf,
    key_path: PathBuf,
    loaded: Mutex<Loaded>,
}

impl ReloadingCertificate {
    /// Load the pair once; fails if the initial files are unusable (startup must not serve nothing).
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<Arc<Self>, TlsError> {
        let stamp = stamp(cert_path, key_path);
        let key = Arc::new(load_pair(cert_path, key_path)?);
        Ok(Arc::new(Self {
            cert_path: cert_path.to_owned(),
            key_path: key_path.to_owned(),
            loaded: Mutex::new(Loaded { stamp, key }),
        }))
    }

    /// The pair to serve now, re-reading the files first if they changed.
    pub fn current(&self) -> Arc<CertifiedKey> {
        let mut loaded = self
            .loaded
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = stamp(&self.cert_path, &self.key_path);
        if now != loaded.stamp {
            // Record the stamp either way so a bad pair is reported once, not on every handshake.
            loaded.stamp = now;
            match load_pair(&self.cert_path, &self.key_path) {
                Ok(key) => {
                    tracing::info!(cert = %self.cert_path.display(), "serving the new TLS certificate");
                    loaded.key = Arc::new(key);
                }
                Err(error) => tracing::error!(%error, "keeping the previous TLS certificate"),
            }
        }
        Arc::clone(&loaded.key)
    }

    /// A rustls server configuration (HTTP/1.1 and HTTP/2) that resolves through `self`.
    pub fn server_config(self: &Arc<Self>) -> Result<Arc<rustls::ServerConfig>, rustls::Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(self) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

impl ResolvesServerCert for ReloadingCertificate {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

fn stamp(cert_path: &Path, key_path: &Path) -> Stamp {
    let cert = std::fs::metadata(cert_path).ok()?;
    let key = std::fs::metadata(key_path).ok()?;
    Some((cert.modified().ok()?, cert.len(), key.modified().ok()?, key.len()))
}

fn load_pair(cert_path: &Path, key_path: &Path) -> Result<CertifiedKey, TlsError> {
    let cert_error = |reason: String| TlsError::Certificate {
        path: cert_path.to_owned(),
        reason,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_path)
        .map_err(|error| cert_error(error.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|error| cert_error(error.to_string()))?;
    if chain.is_empty() {
        return Err(cert_error("no certificate found".to_owned()));
    }
    let key_error = |reason: String| TlsError::Key {
        path: key_path.to_owned(),
        reason,
    };
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|error| key_error(error.to_string()))?;
    let signing_key = any_supported_type(&key).map_err(|error| key_error(error.to_string()))?;
    let pair = CertifiedKey::new(chain, signing_key);
    pair.keys_match().map_err(|_| TlsError::Mismatch {
        cert: cert_path.to_owned(),
        key: key_path.to_owned(),
    })?;
    Ok(pair)
}
