//! Registry failures, classified so callers can branch: retry later, back off, or record a
//! permanent problem. Each message says what to do.

use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error("{host}: unauthorized ({detail}); check the repository's credentials")]
    Unauthorized { host: String, detail: String },
    #[error("{what} not found on {host}; check the image name (and that CI pushed the tag)")]
    NotFound { host: String, what: String },
    #[error("{host} is rate limiting us (429); retrying after {retry_after:?}")]
    RateLimited {
        host: String,
        retry_after: Option<Duration>,
    },
    #[error(
        "{host} serves a certificate that expired at {not_after}: it kept an old certificate in memory or was not renewed; reload or restart the registry"
    )]
    CertificateExpired { host: String, not_after: String },
    #[error(
        "{host} serves a certificate from an unknown issuer; add the registry's CA to caFiles (or certSecretRef)"
    )]
    UnknownIssuer { host: String },
    #[error(
        "{host} serves a certificate that is not valid for that name; fix the registry's certificate or the image host"
    )]
    NameMismatch { host: String },
    #[error(
        "{host} speaks TLS but insecure: true asks for plain HTTP; remove insecure (it means plain HTTP, as in Flux)"
    )]
    HttpsExpected { host: String },
    #[error(
        "{host} speaks plain HTTP; set insecure: true for this repository (it means plain HTTP, as in Flux)"
    )]
    HttpExpected { host: String },
    #[error("{host} answered something that is not a registry response: {detail}")]
    Malformed { host: String, detail: String },
    /// The registry answered 5xx: it is there but failing (or not ready yet: distribution can
    /// answer a manifest HEAD with 500 right after notifying).
    #[error("{host} answered {status} for {url}; will retry")]
    Server { host: String, status: u16, url: String },
    #[error("{host}: {detail}; will retry")]
    Transport { host: String, detail: String },
    /// The CA files or inline PEMs could not be turned into a trust configuration (a file
    /// missing or being rewritten, a certificate that does not parse): retried, like transport.
    #[error("{host}: {source}; will retry")]
    Trust {
        host: String,
        #[source]
        source: super::tls::TrustError,
    },
    /// A request that failed below HTTP (connect, reset, timeout, a TLS failure other than the
    /// kinds above); the client's error is kept whole.
    #[error("{host}: {}; will retry", chain(source))]
    Request {
        host: String,
        #[source]
        source: RequestCause,
    },
}

/// The HTTP client's error behind `RegistryError::Request`, shared so that `RegistryError`
/// stays `Clone` (one confirmation answers every event waiting for it). Its text carries the
/// request URL, which never holds credentials (those travel in headers).
#[derive(Debug, Clone)]
pub struct RequestCause(Arc<reqwest::Error>);

impl RequestCause {
    pub fn new(error: reqwest::Error) -> Self {
        Self(Arc::new(error))
    }

    /// The client's error itself (`is_timeout`, `is_connect`, its sources).
    pub fn reqwest(&self) -> &reqwest::Error {
        &self.0
    }
}

impl std::fmt::Display for RequestCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for RequestCause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&*self.0)
    }
}

impl PartialEq for RequestCause {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.to_string() == other.0.to_string()
    }
}

impl Eq for RequestCause {}

/// An error and its sources, `: `-joined (what the client's error alone does not say).
pub(super) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

impl RegistryError {
    /// Worth retrying soon with backoff (as opposed to waiting for a config or registry change).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. }
                | Self::Server { .. }
                | Self::Transport { .. }
                | Self::Trust { .. }
                | Self::Request { .. }
                | Self::Malformed { .. }
        )
    }
}
