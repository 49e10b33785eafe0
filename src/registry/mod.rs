//! Registry access for configured image repositories: tags (paginated), manifest digests, auth,
//! TLS with reloadable CAs, and the certificate watch. Knows nothing of git.

mod auth;
mod client;
mod error;
mod tls;

pub use client::{Manifest, RegistryClient, parse_retry_after};
pub use error::RegistryError;
pub use tls::CertWatch;
