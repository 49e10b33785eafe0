//! Registry access for configured image repositories: the gateway the engine asks (clients
//! behind per-host budgets, the tag cache, scans), tags (paginated), manifest digests, auth, TLS
//! with reloadable CAs, and the certificate watch. Knows nothing of git.

mod auth;
mod cache;
mod client;
mod digests;
mod error;
mod gateway;
mod tls;

pub use client::{Manifest, RegistryClient, parse_retry_after};
pub use digests::{DigestBook, DigestView};
pub use error::{RegistryError, RequestCause};
pub use gateway::{Gateway, RepositoryStatus, ScanResult};
pub use tls::{CertWatch, EXPIRY_NOTICE_SECONDS, TrustError};
