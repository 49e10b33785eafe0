//! Registry failures, classified so callers can branch: retry later, back off, or record a
//! permanent problem. Each message says what to do.

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
}

impl RegistryError {
    /// Worth retrying soon with backoff (as opposed to waiting for a config or registry change).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. } | Self::Server { .. } | Self::Transport { .. } | Self::Malformed { .. }
        )
    }
}
