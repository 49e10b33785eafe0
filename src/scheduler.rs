//! The fallback scan schedule: one task per image repository scanning through the registry
//! gateway every interval (±10% jitter), at once (debounced) when poked, with backoff on
//! transient errors and `Retry-After` on 429. Notifications are the fast path; this is what
//! catches a missed one.

use crate::domain::ObjectKey;
use crate::registry::{Gateway, RegistryError};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Pokes within this window after the first one cause a single scan.
const POKE_DEBOUNCE: Duration = Duration::from_millis(100);

pub struct Scheduler {
    gateway: Arc<Gateway>,
    pokes: BTreeMap<ObjectKey, Arc<Notify>>,
    /// Scan only the repositories this replica owns (`None`: all of them): N replicas on one
    /// journal scan each repository once, not N times.
    ownership: Option<crate::ownership::Ownership>,
}

/// How often a repository another replica owns is looked at again (a shard gained is scanned
/// within this).
const NOT_OWNED_RECHECK: Duration = Duration::from_secs(1);

impl Scheduler {
    pub fn new(gateway: Arc<Gateway>) -> Arc<Self> {
        Self::sharing(gateway, None)
    }

    /// A scheduler that scans only what `ownership` says this replica owns.
    pub fn sharing(gateway: Arc<Gateway>, ownership: Option<crate::ownership::Ownership>) -> Arc<Self> {
        let pokes = gateway
            .repositories()
            .map(|(key, _)| (key.clone(), Arc::new(Notify::new())))
            .collect();
        Arc::new(Self {
            gateway,
            pokes,
            ownership,
        })
    }

    /// Ask for a scan of `key` now; pokes that arrive while one is pending make one scan.
    pub fn poke(&self, key: &ObjectKey) {
        if let Some(poke) = self.pokes.get(key) {
            poke.notify_one();
        }
    }

    /// Start one scheduling task per repository; they stop when `shutdown` is cancelled.
    pub fn spawn(self: &Arc<Self>, shutdown: &CancellationToken) -> Vec<tokio::task::JoinHandle<()>> {
        self.gateway
            .repositories()
            .map(|(key, interval)| {
                tokio::spawn(Arc::clone(self).schedule(key.clone(), interval, shutdown.clone()))
            })
            .collect()
    }

    async fn schedule(self: Arc<Self>, key: ObjectKey, interval: Duration, shutdown: CancellationToken) {
        let Some(poke) = self.pokes.get(&key).cloned() else {
            return;
        };
        let mut delay = Duration::ZERO;
        loop {
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = poke.notified() => {
                    // Debounce: pokes arriving within the window join this scan.
                    tokio::time::sleep(POKE_DEBOUNCE).await;
                    let _ = tokio::time::timeout(Duration::ZERO, poke.notified()).await;
                }
                () = shutdown.cancelled() => return,
            }
            if let Some(ownership) = &self.ownership
                && !ownership.owns_repository(&key)
            {
                delay = NOT_OWNED_RECHECK;
                continue;
            }
            delay = match self.gateway.scan_once(&key).await {
                Ok(_) => jitter(interval),
                Err(RegistryError::RateLimited {
                    retry_after: Some(after),
                    ..
                }) => after.max(Duration::from_secs(1)),
                Err(error) if error.is_transient() => {
                    let failures = self
                        .gateway
                        .status()
                        .get(&key)
                        .map_or(1, |status| status.consecutive_failures);
                    backoff(failures).min(interval)
                }
                // Permanent (credentials, protocol, certificate): retry at the normal pace, no hot loop.
                Err(_) => jitter(interval),
            };
        }
    }
}

/// `interval` ± 10%.
pub fn jitter(interval: Duration) -> Duration {
    let factor = 0.9 + rand::random::<f64>() * 0.2;
    interval.mul_f64(factor)
}

fn backoff(failures: u32) -> Duration {
    let base = Duration::from_secs(1) * 2u32.saturating_pow(failures.min(8));
    base.mul_f64(0.5 + rand::random::<f64>() * 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_ten_percent() {
        for _ in 0..1000 {
            let value = jitter(Duration::from_secs(60));
            assert!(
                value >= Duration::from_secs(54) && value <= Duration::from_secs(66),
                "{value:?}"
            );
        }
    }

    #[test]
    fn backoff_doubles_with_failures_and_is_capped() {
        for failures in 1..12 {
            let value = backoff(failures);
            let base = Duration::from_secs(1) * 2u32.pow(failures.min(8));
            assert!(value >= base / 2 && value <= base, "{failures}: {value:?}");
        }
    }
}
