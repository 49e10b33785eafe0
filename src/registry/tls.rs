//! TLS for registry connections: webpki roots plus the configured CA files and inline PEMs.
//! CA files are re-read when their content changes (checked before each scan). A verifier
//! wrapper records the leaf certificate's notAfter for the certificate watch. A CA that cannot
//! be read or used is a `TrustError`, its cause kept.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Below this many seconds before notAfter, the certificate watch logs a warning.
pub const EXPIRY_WARNING_SECONDS: i64 = 24 * 3600;
/// Below this much validity left a registry is broken for the alerts and red in the console
/// (the warning of `deploy/prometheus/rules.yaml`): a week to renew it.
pub const EXPIRY_NOTICE_SECONDS: i64 = 7 * 24 * 3600;

/// The last leaf certificate seen per host: its notAfter (Unix seconds).
#[derive(Debug, Default)]
pub struct CertWatch {
    seen: Mutex<std::collections::BTreeMap<String, i64>>,
}

impl CertWatch {
    pub fn record(&self, host: &str, not_after: i64) {
        let previous = self
            .seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(host.to_owned(), not_after);
        let remaining = not_after - time::OffsetDateTime::now_utc().unix_timestamp();
        metrics::gauge!("pushdeploy_registry_certificate_expiry_seconds", "host" => host.to_owned())
            .set(remaining as f64);
        // Warn once per certificate seen, not on every connection.
        if remaining < EXPIRY_WARNING_SECONDS && previous != Some(not_after) {
            let at = crate::clock::format_time(not_after);
            tracing::warn!(%host, not_after = %at, "the registry's certificate expires within 24h (or has expired): renew it and reload the registry");
        }
    }

    pub fn not_after(&self, host: &str) -> Option<i64> {
        self.seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(host)
            .copied()
    }

    pub fn snapshot(&self) -> std::collections::BTreeMap<String, i64> {
        self.seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

#[derive(Debug)]
struct Recording {
    inner: Arc<dyn ServerCertVerifier>,
    watch: Arc<CertWatch>,
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Ok((_, certificate)) = x509_parser::parse_x509_certificate(end_entity) {
            self.watch.record(
                &server_name.to_str(),
                certificate.validity().not_after.timestamp(),
            );
        }
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Why the trust configuration (webpki roots, CA files, inline PEMs) could not be built. The
/// cause is kept as the source, shared where it is not `Clone` (so `RegistryError` stays `Clone`).
#[derive(Debug, Clone, thiserror::Error)]
pub enum TrustError {
    /// A configured CA file could not be read.
    #[error("cannot read CA file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: Arc<std::io::Error>,
    },
    /// A CA file or inline PEM holds a certificate block that does not parse.
    #[error("a CA file holds an unreadable certificate: {source}")]
    Unreadable {
        #[source]
        source: Arc<rustls_pki_types::pem::Error>,
    },
    /// rustls refused a CA certificate as a trust anchor.
    #[error("a CA certificate was refused: {source}")]
    Refused {
        #[source]
        source: rustls::Error,
    },
    /// The certificate verifier could not be built over the roots.
    #[error("{0}")]
    Verifier(#[source] rustls::client::VerifierBuilderError),
    /// The crypto provider supports none of the default protocol versions.
    #[error("{0}")]
    Protocols(#[source] rustls::Error),
}

/// Compared by what they say, as `RequestCause` is: the sources are not comparable themselves.
impl PartialEq for TrustError {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

impl Eq for TrustError {}

/// The trust configuration of one repository, rebuilt when a CA file changes.
#[derive(Debug)]
pub struct Trust {
    ca_files: Vec<PathBuf>,
    ca_pems: Vec<String>,
    watch: Arc<CertWatch>,
    fingerprint: Option<Vec<u8>>,
}

impl Trust {
    pub fn new(ca_files: Vec<PathBuf>, ca_pems: Vec<String>, watch: Arc<CertWatch>) -> Self {
        Self {
            ca_files,
            ca_pems,
            watch,
            fingerprint: None,
        }
    }

    /// A new client config when the CA files changed since the last call (or on the first call).
    pub fn refresh(&mut self) -> Result<Option<rustls::ClientConfig>, TrustError> {
        let mut contents = Vec::new();
        for path in &self.ca_files {
            let bytes = std::fs::read(path).map_err(|source| TrustError::Read {
                path: path.clone(),
                source: Arc::new(source),
            })?;
            contents.push(bytes);
        }
        let fingerprint: Vec<u8> = contents.concat();
        if self.fingerprint.as_ref() == Some(&fingerprint) {
            return Ok(None);
        }
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let pems = contents
            .iter()
            .map(Vec::as_slice)
            .chain(self.ca_pems.iter().map(|pem| pem.as_bytes()));
        for pem in pems {
            for certificate in CertificateDer::pem_slice_iter(pem) {
                let certificate = certificate.map_err(|source| TrustError::Unreadable {
                    source: Arc::new(source),
                })?;
                roots
                    .add(certificate)
                    .map_err(|source| TrustError::Refused { source })?;
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let inner = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::clone(&provider),
        )
        .build()
        .map_err(TrustError::Verifier)?;
        let verifier = Arc::new(Recording {
            inner,
            watch: Arc::clone(&self.watch),
        });
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(TrustError::Protocols)?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        self.fingerprint = Some(fingerprint);
        Ok(Some(config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_ca_file_is_a_read_error_that_names_it_and_keeps_the_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.crt");
        let mut trust = Trust::new(vec![path.clone()], Vec::new(), Arc::default());
        let error = trust.refresh().unwrap_err();
        let text = error.to_string();
        assert!(
            text.starts_with(&format!("cannot read CA file {}: ", path.display())),
            "{text}"
        );
        let source = std::error::Error::source(&error).expect("the io error is kept");
        let io = source
            .downcast_ref::<Arc<std::io::Error>>()
            .expect("as the io::Error");
        assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
    }

    #[test]
    fn a_broken_certificate_block_is_unreadable_with_the_pem_error_as_its_source() {
        let pem = "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n";
        let mut trust = Trust::new(Vec::new(), vec![pem.to_owned()], Arc::default());
        let error = trust.refresh().unwrap_err();
        assert!(matches!(error, TrustError::Unreadable { .. }), "{error:?}");
        assert!(
            error
                .to_string()
                .starts_with("a CA file holds an unreadable certificate: "),
            "{error}"
        );
        assert!(std::error::Error::source(&error).is_some());
    }
}
