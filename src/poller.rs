//! The fallback poller: one schedule per image repository (interval ±10% jitter), an immediate
//! debounced scan when poked, backoff on transient errors, `Retry-After` on 429. Applies the
//! exclusion list, keeps per-repository status, and sends a tag list on only when it changed.

use crate::config::{ImageRepository, Settings};
use crate::domain::ObjectKey;
use crate::registry::{CertWatch, RegistryClient, RegistryError};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

/// Pokes within this window after the first one cause a single scan.
const POKE_DEBOUNCE: Duration = Duration::from_millis(100);

/// Scans per registry host: a budget of 600 a minute with bursts of 100 (a token bucket), so a
/// large fleet of repositories never floods one registry.
const BUDGET_PER_SECOND: f64 = 10.0;
const BUDGET_BURST: f64 = 100.0;

/// A token bucket shared by the repositories of one registry host.
#[derive(Debug)]
struct Budget {
    tokens: f64,
    updated: std::time::Instant,
}

impl Budget {
    fn new() -> Self {
        Self {
            tokens: BUDGET_BURST,
            updated: std::time::Instant::now(),
        }
    }

    /// Take one token, or say how long to wait for it.
    fn take(&mut self) -> Option<Duration> {
        let now = std::time::Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.updated).as_secs_f64() * BUDGET_PER_SECOND)
            .min(BUDGET_BURST);
        self.updated = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            None
        } else {
            Some(Duration::from_secs_f64((1.0 - self.tokens) / BUDGET_PER_SECOND))
        }
    }
}

/// Requests in flight per registry host.
const PER_HOST_CONCURRENCY: usize = 4;

/// A changed tag list, for the decision stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanResult {
    pub repository: ObjectKey,
    pub tags: Vec<String>,
}

/// What the rest of the program may read about a repository.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RepositoryStatus {
    /// Unix seconds of the last scan attempt and of the last successful one.
    pub last_scan: Option<i64>,
    pub last_success: Option<i64>,
    pub tag_count: usize,
    #[serde(skip)]
    pub tags: Vec<String>,
    pub last_error: Option<String>,
    pub consecutive_failures: u32,
}

struct Entry {
    repository: ImageRepository,
    client: Arc<RegistryClient>,
    poke: Arc<Notify>,
    host_slots: Arc<Semaphore>,
    budget: Arc<std::sync::Mutex<Budget>>,
}

pub struct Poller {
    entries: BTreeMap<ObjectKey, Entry>,
    status: RwLock<BTreeMap<ObjectKey, RepositoryStatus>>,
    /// Tags confirmed by manifest HEAD (webhooks, promotions) since the last scan that started
    /// after them: part of the known tags at once, not only after the next scan.
    confirmed: RwLock<BTreeMap<ObjectKey, Vec<(String, std::time::Instant)>>>,
    sender: mpsc::UnboundedSender<ScanResult>,
    pub watch: Arc<CertWatch>,
}

impl Poller {
    pub fn new(
        settings: &Settings,
        sender: mpsc::UnboundedSender<ScanResult>,
    ) -> Result<Arc<Self>, RegistryError> {
        let watch = Arc::new(CertWatch::default());
        let mut hosts: HashMap<String, (Arc<Semaphore>, Arc<std::sync::Mutex<Budget>>)> = HashMap::new();
        let mut entries = BTreeMap::new();
        for (key, repository) in &settings.repositories {
            let client = Arc::new(RegistryClient::new(repository.clone(), Arc::clone(&watch))?);
            let (slots, budget) = hosts
                .entry(repository.image.registry().to_owned())
                .or_insert_with(|| {
                    (
                        Arc::new(Semaphore::new(PER_HOST_CONCURRENCY)),
                        Arc::new(std::sync::Mutex::new(Budget::new())),
                    )
                })
                .clone();
            let entry = Entry {
                repository: repository.clone(),
                client,
                poke: Arc::new(Notify::new()),
                host_slots: slots,
                budget,
            };
            entries.insert(key.clone(), entry);
        }
        Ok(Arc::new(Self {
            entries,
            status: RwLock::default(),
            confirmed: RwLock::default(),
            sender,
            watch,
        }))
    }

    pub fn client(&self, key: &ObjectKey) -> Option<Arc<RegistryClient>> {
        self.entries.get(key).map(|entry| Arc::clone(&entry.client))
    }

    /// Ask for a scan of `key` now; pokes that arrive while one is pending make one scan.
    pub fn poke(&self, key: &ObjectKey) {
        if let Some(entry) = self.entries.get(key) {
            entry.poke.notify_one();
        }
    }

    pub fn status(&self) -> BTreeMap<ObjectKey, RepositoryStatus> {
        self.status.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The known tags of `key` (after exclusions): the last scan's plus every tag confirmed
    /// since that scan started.
    pub fn tags(&self, key: &ObjectKey) -> Vec<String> {
        let mut tags = self
            .status
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .map(|status| status.tags.clone())
            .unwrap_or_default();
        let confirmed = self.confirmed.read().unwrap_or_else(|p| p.into_inner());
        for (tag, _) in confirmed.get(key).into_iter().flatten() {
            if !tags.contains(tag) {
                tags.push(tag.clone());
            }
        }
        tags
    }

    /// `tag` exists in `key` (the registry answered a manifest HEAD): known from now on,
    /// unless the exclusion list drops it.
    pub fn note_confirmed(&self, key: &ObjectKey, tag: &str) {
        let Some(entry) = self.entries.get(key) else {
            return;
        };
        if entry.repository.exclusion_list.iter().any(|re| re.is_match(tag)) {
            return;
        }
        let mut confirmed = self.confirmed.write().unwrap_or_else(|p| p.into_inner());
        let tags = confirmed.entry(key.clone()).or_default();
        tags.retain(|(known, _)| known != tag);
        tags.push((tag.to_owned(), std::time::Instant::now()));
    }

    /// Scan one repository now; records status and sends the tags on if they changed.
    pub async fn scan_once(&self, key: &ObjectKey) -> Result<ScanResult, RegistryError> {
        let Some(entry) = self.entries.get(key) else {
            return Err(RegistryError::NotFound {
                host: String::new(),
                what: format!("image repository {key} (not configured)"),
            });
        };
        loop {
            let wait = entry.budget.lock().unwrap_or_else(|p| p.into_inner()).take();
            match wait {
                None => break,
                Some(wait) => tokio::time::sleep(wait).await,
            }
        }
        let _slot = entry.host_slots.acquire().await;
        let started = std::time::Instant::now();
        let result = entry.client.list_tags().await;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let outcome = if result.is_ok() { "success" } else { "error" };
        metrics::counter!("pushdeploy_scans_total", "result" => outcome).increment(1);
        metrics::histogram!("pushdeploy_scan_duration_seconds").record(started.elapsed().as_secs_f64());
        let mut status = self.status.write().unwrap_or_else(|p| p.into_inner());
        let current = status.entry(key.clone()).or_default();
        current.last_scan = Some(now);
        match result {
            Ok(tags) => {
                // A scan that started after a confirmation has seen that tag (or its deletion).
                if let Some(confirmed) = self
                    .confirmed
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .get_mut(key)
                {
                    confirmed.retain(|(_, at)| *at > started);
                }
                let tags: Vec<String> = tags
                    .into_iter()
                    .filter(|tag| !entry.repository.exclusion_list.iter().any(|re| re.is_match(tag)))
                    .collect();
                let changed = current.last_success.is_none() || current.tags != tags;
                current.last_success = Some(now);
                current.tag_count = tags.len();
                current.tags.clone_from(&tags);
                current.last_error = None;
                current.consecutive_failures = 0;
                metrics::gauge!("pushdeploy_last_successful_scan_timestamp_seconds", "repository" => key.to_string()).set(now as f64);
                let scan = ScanResult {
                    repository: key.clone(),
                    tags,
                };
                if changed {
                    let _ = self.sender.send(scan.clone());
                }
                Ok(scan)
            }
            Err(error) => {
                current.last_error = Some(error.to_string());
                current.consecutive_failures += 1;
                tracing::warn!(repository = %key, %error, "scan failed");
                Err(error)
            }
        }
    }

    /// Start one scheduling task per repository; they stop when `shutdown` triggers.
    pub fn spawn(self: &Arc<Self>, shutdown: &CancellationToken) -> Vec<tokio::task::JoinHandle<()>> {
        self.entries
            .keys()
            .map(|key| tokio::spawn(Arc::clone(self).schedule(key.clone(), shutdown.clone())))
            .collect()
    }

    async fn schedule(self: Arc<Self>, key: ObjectKey, shutdown: CancellationToken) {
        let Some(entry) = self.entries.get(&key) else {
            return;
        };
        let (interval, poke) = (entry.repository.interval, Arc::clone(&entry.poke));
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
            delay = match self.scan_once(&key).await {
                Ok(_) => jitter(interval),
                Err(RegistryError::RateLimited {
                    retry_after: Some(after),
                    ..
                }) => after.max(Duration::from_secs(1)),
                Err(error) if error.is_transient() => {
                    let failures = self
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
    fn the_host_budget_allows_a_burst_then_paces_requests() {
        let mut budget = Budget::new();
        for _ in 0..100 {
            assert_eq!(budget.take(), None);
        }
        let wait = budget.take().expect("the burst is spent");
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(100),
            "{wait:?}"
        );
    }

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
}
