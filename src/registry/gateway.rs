//! The registry gateway: what the engine knows of and asks from the registries. One client per
//! configured repository behind a per-host budget (a token bucket and a cap on requests in
//! flight), the tag cache (`cache.rs`: last scan plus tags confirmed since, status per
//! repository), and `scan_once`, which applies the exclusion list and sends a tag list on only
//! when it changed. When to scan is the scheduler's business (`crate::scheduler`).

pub use super::cache::RepositoryStatus;
use super::cache::TagCache;
use super::{CertWatch, RegistryClient, RegistryError};
use crate::config::{ImageRepository, Settings};
use crate::domain::ObjectKey;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc};

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

struct Entry {
    repository: ImageRepository,
    client: Arc<RegistryClient>,
    host_slots: Arc<Semaphore>,
    budget: Arc<std::sync::Mutex<Budget>>,
}

pub struct Gateway {
    entries: BTreeMap<ObjectKey, Entry>,
    cache: TagCache,
    sender: mpsc::UnboundedSender<ScanResult>,
    pub watch: Arc<CertWatch>,
    /// Digests learnt per tag, for policies that reflect them.
    pub digests: super::DigestBook,
}

impl Gateway {
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
                .entry(repository.contact_host().to_owned())
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
                host_slots: slots,
                budget,
            };
            entries.insert(key.clone(), entry);
        }
        Ok(Arc::new(Self {
            entries,
            cache: TagCache::default(),
            sender,
            watch,
            digests: super::DigestBook::default(),
        }))
    }

    pub fn client(&self, key: &ObjectKey) -> Option<Arc<RegistryClient>> {
        self.entries.get(key).map(|entry| Arc::clone(&entry.client))
    }

    /// Every configured repository to scan, with its scan interval: a suspended one
    /// (`spec.suspend: true`) is not scanned, as Flux's reflector does not scan it.
    pub fn repositories(&self) -> impl Iterator<Item = (&ObjectKey, Duration)> {
        self.entries
            .iter()
            .filter(|(_, entry)| !entry.repository.suspended)
            .map(|(key, entry)| (key, entry.repository.interval))
    }

    pub fn status(&self) -> BTreeMap<ObjectKey, RepositoryStatus> {
        self.cache.status()
    }

    /// The known tags of `key` (after exclusions): the last scan's plus every tag confirmed
    /// since that scan started.
    pub fn tags(&self, key: &ObjectKey) -> Vec<String> {
        self.cache.tags(key)
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
        self.cache.note_confirmed(key, tag);
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
        let now = crate::clock::now();
        let outcome = if result.is_ok() { "success" } else { "error" };
        metrics::counter!("pushdeploy_scans_total", "result" => outcome).increment(1);
        metrics::histogram!("pushdeploy_scan_duration_seconds").record(started.elapsed().as_secs_f64());
        match result {
            Ok(tags) => {
                let tags: Vec<String> = tags
                    .into_iter()
                    .filter(|tag| !entry.repository.exclusion_list.iter().any(|re| re.is_match(tag)))
                    .collect();
                let changed = self.cache.scanned(key, started, now, &tags);
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
                self.cache.failed(key, now, error.to_string());
                tracing::warn!(repository = %key, %error, "scan failed");
                Err(error)
            }
        }
    }
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
}
