//! Tag confirmation with bounded registry work. One manifest HEAD per (repository, tag) at a
//! time, shared by every event waiting for that tag. distribution notifies before it writes the
//! tag link, so a 404 is re-checked a few times with backoff, but through one `tags/list` per
//! repository per round shared by all the tags waiting on it, never a HEAD per event per retry.
//! At most `PER_REPOSITORY` requests are in flight per repository.

use crate::domain::ObjectKey;
use crate::registry::{Manifest, RegistryClient, RegistryError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OnceCell, Semaphore};

/// Confirmation requests in flight per repository.
pub const PER_REPOSITORY: usize = 4;

/// Re-checks of a missing tag (the notification-before-tag-link race): 200, 400, 800, 1600 ms,
/// ≈3 s in all, each one a shared tag list.
const RECHECKS: u32 = 4;
const FIRST_RECHECK: Duration = Duration::from_millis(200);
/// The race is usually over within a millisecond or two (distribution writes the tag link right
/// after the manifest it notified about), so a tag that is alone in waiting on its repository
/// gets one extra, early re-check (a shared tag list) after this. Bursts do not: a first re-check
/// at 25 ms for every tag made 200 missing tags cost more than 20 tag lists under load (their
/// HEADs finish spread out, so the early re-checks no longer share rounds).
const EARLY_RECHECK: Duration = Duration::from_millis(10);
/// At most this many tags of one repository waiting in re-checks still get the early one.
const EARLY_WHEN_WAITING: usize = 2;

/// HEADs again after a 5xx: 10, 50, 200 and 800 ms (≈1 s); then the engine's retry takes
/// over. docker-registry answers 500 to a HEAD right after notifying now and then, and is fine
/// a few milliseconds later: at 50 ms first, that was the slowest notification of a run (58 ms,
/// 1.1× the git CLI floor, 2,000-file bench).
fn server_error_delays() -> impl Iterator<Item = Duration> {
    std::iter::once(EARLY_RECHECK).chain((0..3u32).map(|index| Duration::from_millis(50) * 4u32.pow(index)))
}

/// The waits before each re-check of a missing tag, when `waiting` tags of its repository
/// (itself included) are in re-checks.
fn recheck_delays(waiting: usize) -> impl Iterator<Item = Duration> {
    let early = (waiting <= EARLY_WHEN_WAITING).then_some(EARLY_RECHECK);
    early
        .into_iter()
        .chain((0..RECHECKS).map(|index| FIRST_RECHECK * 2u32.pow(index)))
}

type Shared<T> = Arc<OnceCell<Result<T, RegistryError>>>;

/// A tag list fetched once for everyone who asked after `started`.
struct ListRound {
    started: Instant,
    result: Shared<Vec<String>>,
}

#[derive(Default)]
pub struct Confirmer {
    heads: Mutex<HashMap<(ObjectKey, String), Shared<Manifest>>>,
    lists: Mutex<HashMap<ObjectKey, Arc<ListRound>>>,
    slots: Mutex<HashMap<ObjectKey, Arc<Semaphore>>>,
    /// Tags per repository waiting in re-checks now.
    waiting: Arc<Mutex<HashMap<ObjectKey, usize>>>,
}

/// One tag waiting in re-checks, counted per repository until dropped.
struct Waiting {
    map: Arc<Mutex<HashMap<ObjectKey, usize>>>,
    repository: ObjectKey,
    /// Waiting tags of the repository, this one included, when it began.
    count: usize,
}

impl Waiting {
    fn enter(map: &Arc<Mutex<HashMap<ObjectKey, usize>>>, repository: &ObjectKey) -> Self {
        let mut counts = map.lock().unwrap_or_else(|p| p.into_inner());
        let count = counts.entry(repository.clone()).or_default();
        *count += 1;
        Self {
            map: Arc::clone(map),
            repository: repository.clone(),
            count: *count,
        }
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        let mut counts = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = counts.get_mut(&self.repository) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.repository);
            }
        }
    }
}

impl Confirmer {
    /// The manifest of `tag` in `repository`, or `NotFound` once the re-checks are spent.
    pub async fn confirm(
        &self,
        repository: &ObjectKey,
        client: &RegistryClient,
        tag: &str,
    ) -> Result<Manifest, RegistryError> {
        let started = Instant::now();
        let result = self.confirm_inner(repository, client, tag).await;
        tracing::debug!(
            target: "pushdeploy::timing",
            confirm_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            "tag confirmation"
        );
        result
    }

    async fn confirm_inner(
        &self,
        repository: &ObjectKey,
        client: &RegistryClient,
        tag: &str,
    ) -> Result<Manifest, RegistryError> {
        let mut answer = self.head(repository, client, tag).await;
        // A 5xx right after the notification is the registry not being ready, like the 404
        // race: ask again soon (each a shared HEAD) instead of waiting out the engine's retry.
        for delay in server_error_delays() {
            if !matches!(answer, Err(RegistryError::Server { .. })) {
                break;
            }
            tokio::time::sleep(delay).await;
            answer = self.head(repository, client, tag).await;
        }
        match answer {
            Err(RegistryError::NotFound { .. }) => {}
            other => return other,
        }
        let mut observed = Instant::now();
        let waiting = Waiting::enter(&self.waiting, repository);
        for delay in recheck_delays(waiting.count) {
            tokio::time::sleep(delay).await;
            let (started, tags) = self.list(repository, client, observed).await;
            observed = started;
            if tags?.iter().any(|listed| listed == tag) {
                return self.head(repository, client, tag).await;
            }
        }
        Err(RegistryError::NotFound {
            host: client.host().to_owned(),
            what: format!("tag {tag} (manifest HEAD 404, and absent from every tag list over ≈3 s)"),
        })
    }

    fn slots(&self, repository: &ObjectKey) -> Arc<Semaphore> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(
            slots
                .entry(repository.clone())
                .or_insert_with(|| Arc::new(Semaphore::new(PER_REPOSITORY))),
        )
    }

    /// One HEAD for `tag`, joined by everyone asking while it runs.
    async fn head(
        &self,
        repository: &ObjectKey,
        client: &RegistryClient,
        tag: &str,
    ) -> Result<Manifest, RegistryError> {
        let key = (repository.clone(), tag.to_owned());
        let cell = {
            let mut heads = self.heads.lock().unwrap_or_else(|p| p.into_inner());
            Arc::clone(heads.entry(key.clone()).or_default())
        };
        let slots = self.slots(repository);
        let result = cell
            .get_or_init(|| async {
                let _slot = slots.acquire().await;
                metrics::counter!("pushdeploy_confirmation_requests_total", "kind" => "head").increment(1);
                client.manifest(tag).await
            })
            .await
            .clone();
        // Done: the next round asks the registry again (a later push may change the answer).
        let mut heads = self.heads.lock().unwrap_or_else(|p| p.into_inner());
        if heads.get(&key).is_some_and(|current| Arc::ptr_eq(current, &cell)) {
            heads.remove(&key);
        }
        result
    }

    /// A tag list of `repository` fetched no earlier than `after`: a round already started
    /// since then is joined (or its answer reused), otherwise a new one starts.
    async fn list(
        &self,
        repository: &ObjectKey,
        client: &RegistryClient,
        after: Instant,
    ) -> (Instant, Result<Vec<String>, RegistryError>) {
        let round = {
            let mut lists = self.lists.lock().unwrap_or_else(|p| p.into_inner());
            let fresh = lists
                .get(repository)
                .filter(|round| round.started >= after)
                .cloned();
            fresh.unwrap_or_else(|| {
                let round = Arc::new(ListRound {
                    started: Instant::now(),
                    result: Arc::default(),
                });
                lists.insert(repository.clone(), Arc::clone(&round));
                round
            })
        };
        let slots = self.slots(repository);
        let result = round
            .result
            .get_or_init(|| async {
                let _slot = slots.acquire().await;
                metrics::counter!("pushdeploy_confirmation_requests_total", "kind" => "list").increment(1);
                client.list_tags().await
            })
            .await
            .clone();
        (round.started, result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A FAKE registry (not distribution): its manifest endpoint answers 500 `failures` times,
    /// then the manifest. Real distribution does this only by a race right after notifying.
    async fn flaky_registry(failures: usize) -> (String, Arc<AtomicUsize>) {
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&hits);
        let router = axum::Router::new().route(
            "/v2/app/manifests/{tag}",
            axum::routing::get(move || {
                let counter = Arc::clone(&counter);
                async move {
                    use axum::http::{StatusCode, header};
                    if counter.fetch_add(1, Ordering::SeqCst) < failures {
                        return (
                            StatusCode::INTERNAL_SERVER_ERROR,
                            [(header::CONTENT_TYPE, "text/plain")],
                            "",
                        );
                    }
                    (
                        StatusCode::OK,
                        [(header::CONTENT_TYPE, "application/vnd.oci.image.manifest.v1+json")],
                        "",
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let host = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        (host, hits)
    }

    fn client(host: &str) -> RegistryClient {
        let repository = crate::config::ImageRepository {
            insecure: true,
            ..crate::config::ImageRepository::plain(
                ObjectKey::parse("flux-system/app").unwrap(),
                crate::domain::ImageRef::parse(&format!("{host}/app")).unwrap(),
            )
        };
        RegistryClient::new(repository, Arc::default()).unwrap()
    }

    #[test]
    fn a_lone_missing_tag_is_re_checked_early_and_a_burst_waits_as_before() {
        let ms = |waiting| recheck_delays(waiting).map(|d| d.as_millis()).collect::<Vec<_>>();
        assert_eq!(ms(1), [10, 200, 400, 800, 1600]);
        assert_eq!(ms(2), [10, 200, 400, 800, 1600]);
        assert_eq!(ms(3), [200, 400, 800, 1600], "a burst shares rounds as before");
        let map = Arc::default();
        let key = ObjectKey::parse("flux-system/app").unwrap();
        let first = Waiting::enter(&map, &key);
        let second = Waiting::enter(&map, &key);
        assert_eq!((first.count, second.count), (1, 2));
        drop(first);
        drop(second);
        assert_eq!(Waiting::enter(&map, &key).count, 1, "counted only while waiting");
    }

    #[tokio::test]
    async fn a_server_error_right_after_the_notification_is_asked_again_soon_and_a_lasting_one_is_returned() {
        let key = ObjectKey::parse("flux-system/app").unwrap();
        let (host, hits) = flaky_registry(2).await;
        let manifest = Confirmer::default().confirm(&key, &client(&host), "2-abc").await;
        assert!(manifest.is_ok(), "two 500s then the manifest: {manifest:?}");
        assert_eq!(hits.load(Ordering::SeqCst), 3, "one HEAD per attempt");

        let (host, hits) = flaky_registry(usize::MAX).await;
        let error = Confirmer::default().confirm(&key, &client(&host), "2-abc").await;
        assert!(
            matches!(error, Err(RegistryError::Server { status: 500, .. })),
            "a lasting 5xx goes back to the engine's retry: {error:?}"
        );
        assert_eq!(
            hits.load(Ordering::SeqCst),
            5,
            "the first HEAD and four quick re-asks, no more"
        );
    }
}
