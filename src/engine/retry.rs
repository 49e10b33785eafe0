//! `Transient`: why an event is left unfinished and tried again after the retry delay, typed
//! and with its cause kept. Rendered only where it is logged (the journal keeps the event
//! unfinished, with no reason); decides nothing.

use crate::gitops::{GitopsError, WriteFailure};
use crate::registry::RegistryError;

/// A transient failure that leaves an event unfinished.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Transient {
    /// Confirming the tag in the registry failed for now (unreachable, 5xx, rate limited).
    #[error("{0}")]
    Registry(#[from] RegistryError),
    /// Refreshing the working copy failed for now (remote unreachable).
    #[error("{0}")]
    Refresh(#[from] GitopsError),
    /// A write failed in a way the writer retries (the outcome's `retry: true`).
    #[error("{0}")]
    Write(#[from] WriteFailure),
}

impl Transient {
    /// How long to wait before trying the event again: `base`, or longer when the cause says
    /// when to come back (a forge's `Retry-After`), so a rate limit is not hit again at once.
    pub fn delay(&self, base: std::time::Duration) -> std::time::Duration {
        match self {
            Self::Write(WriteFailure::Forge(cause)) => {
                cause.0.retry_after().map_or(base, |after| after.max(base))
            }
            _ => base,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn limited(seconds: u64) -> Transient {
        let error = crate::forge::ForgeError::RateLimited {
            forge: "github at https://api.github.com".to_owned(),
            retry_after: Duration::from_secs(seconds),
        };
        Transient::Write(WriteFailure::Forge(crate::gitops::ForgeCause(
            std::sync::Arc::new(error),
        )))
    }

    #[test]
    fn a_forge_rate_limit_pushes_the_retry_back_to_its_retry_after_never_sooner_than_the_base() {
        let base = Duration::from_secs(10);
        assert_eq!(limited(60).delay(base), Duration::from_secs(60));
        assert_eq!(limited(1).delay(base), base);
        let unreachable = GitopsError::Unreachable {
            url: "ssh://git.example/r".to_owned(),
            reason: "timed out".to_owned(),
        };
        assert_eq!(Transient::Refresh(unreachable).delay(base), base);
    }
}
