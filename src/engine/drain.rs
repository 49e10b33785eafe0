//! The engine's loop: wake-ups, scan results and the retry pause drive drains of the journal's
//! unfinished events (page by page, a bounded number in flight), plus hourly pruning. What one
//! event comes to is `process.rs`'s; this file only schedules.

use super::{Engine, RETRY_DELAY, micros, task_failed};
use crate::journal::Event;
use crate::registry::ScanResult;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Events processed at once by one drain: enough for a burst to meet in the writers' coalescing
/// window, few enough that a large backlog's retry round stays small in memory.
const MAX_EVENTS_IN_FLIGHT: usize = 256;

/// How often the backlog gauge is refreshed while events are in flight.
const BACKLOG_COUNT_EVERY: Duration = Duration::from_secs(1);

/// Unfinished events read from the journal at once.
const READ_PAGE: usize = 1024;

/// With replicas sharing the journal, how often the whole backlog is read again even without a
/// wake: the fallback for a NOTIFY missed while the listener reconnected.
const SHARED_FULL_READ_EVERY: Duration = Duration::from_secs(5);

impl Engine {
    /// Process journal entries (including those left unfinished by a crash) and scan results
    /// until `shutdown`; work in flight finishes first.
    ///
    /// Events run as tasks that outlive the drain that started them: an event journaled while
    /// others are in flight starts at once, instead of waiting for the slowest of them (a
    /// remote that stalls a push held back every other automation's events, and a back-to-back
    /// notification waited 1.4 ms for its predecessor's outcome transition).
    pub async fn run(
        self: Arc<Self>,
        mut scans: mpsc::UnboundedReceiver<ScanResult>,
        shutdown: CancellationToken,
    ) {
        let mut tasks = Tasks::default();
        let mut ownership = self.ownership.changes();
        let shared = self.ownership.is_shared();
        loop {
            let unfinished = self.drain_journal(&mut tasks).await;
            // Events left unfinished by a transient failure are tried again after a pause.
            let pause = if unfinished {
                RETRY_DELAY
            } else {
                Duration::from_secs(3600)
            };
            let retry = tokio::time::sleep(if shared {
                pause.min(SHARED_FULL_READ_EVERY)
            } else {
                pause
            });
            tokio::pin!(retry);
            self.prune_now_and_then().await;
            loop {
                tokio::select! {
                    () = self.wake.notified() => break,
                    () = &mut retry => {
                        if shared {
                            self.read_up_to.store(0, std::sync::atomic::Ordering::Release);
                        }
                        break;
                    }
                    Ok(()) = ownership.changed() => {
                        // A shard gained (from a replica that died or gave it back): its pins
                        // and suspensions as the journal has them now, then its backlog, all
                        // of it (its events sit below our cursor).
                        if let Err(error) = self.load_overrides().await {
                            tracing::error!(%error, "cannot reload pins and suspensions after an ownership change; processing waits for the next change or restart");
                            continue;
                        }
                        self.scan_unknown_owned().await;
                        self.read_up_to.store(0, std::sync::atomic::Ordering::Release);
                        break;
                    }
                    Some(scan) = scans.recv() => {
                        self.handle_scan(scan).await;
                        break;
                    }
                    Some(()) = tasks.join_one() => {
                        // The last one done: drain again, for the backlog's count and retries.
                        if tasks.set.is_empty() {
                            break;
                        }
                    }
                    () = shutdown.cancelled() => {
                        while tasks.join_one().await.is_some() {}
                        return;
                    }
                }
            }
        }
    }

    /// Scan the owned repositories this replica has no tag list for yet (a shard just gained),
    /// before their events are decided: a push decided over only its own tag could pick an
    /// older tag than the newest one the registry has.
    async fn scan_unknown_owned(&self) {
        let unknown: Vec<_> = self
            .settings
            .repositories
            .keys()
            .filter(|key| self.ownership.owns_repository(key) && self.registry.tags(key).is_empty())
            .cloned()
            .collect();
        for key in unknown {
            if let Err(error) = self.registry.scan_once(&key).await {
                tracing::warn!(repository = %key, %error, "cannot scan a repository of a gained shard; its events are decided over the tags known so far");
            }
        }
    }

    /// Prune finished journal entries at most once an hour.
    async fn prune_now_and_then(&self) {
        let due = {
            let mut last = self.last_prune.lock().unwrap_or_else(|p| p.into_inner());
            let due = last.is_none_or(|at| at.elapsed() >= Duration::from_secs(3600));
            if due {
                *last = Some(std::time::Instant::now());
            }
            due
        };
        if due {
            let intake = &self.settings.intake;
            match self
                .journal
                .prune(intake.journal_max_age, intake.journal_max_count)
                .await
            {
                Ok(pruned) => tracing::debug!(pruned, "journal pruned"),
                Err(error) => tracing::warn!(%error, "journal pruning failed"),
            }
            let max_age = i64::try_from(intake.journal_max_age.as_secs()).unwrap_or(i64::MAX);
            let cutoff = crate::clock::now().saturating_sub(max_age);
            if let Err(error) = self.journal.prune_proposals(cutoff).await {
                tracing::warn!(%error, "pruning ended pull requests failed");
            }
        }
    }

    /// Start every unfinished event that is due and not in flight already; true when some are
    /// unfinished (in flight included).
    async fn drain_journal(self: &Arc<Self>, tasks: &mut Tasks) -> bool {
        let now = std::time::Instant::now();
        if let Some(woken_at) = self.woken_at.lock().unwrap_or_else(|p| p.into_inner()).take() {
            tracing::debug!(target: "pushdeploy::timing", wake_us = micros(now - woken_at), "engine woken");
        }
        let cursor = self.read_up_to.load(std::sync::atomic::Ordering::Acquire);
        // The whole backlog is read at start (crash leftovers) and when a retry is due; every
        // other wake reads only what arrived since, so a backlog that waits out its retry delay
        // costs intake nothing (it was re-read on every notification).
        let retry_due = self
            .retry_at
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .any(|at| *at <= now);
        let full = cursor == 0 || retry_due;
        let mut after = if full { 0 } else { cursor };
        // In a full read, every unfinished id: the retry times of the others (finished) go.
        let mut unfinished_ids = full.then(std::collections::HashSet::new);
        let mut read_failed = false;
        loop {
            // Page by page: a backlog of 100 k events (a registry down under load) is never
            // held in memory whole, only a page and the events in flight.
            let reading = std::time::Instant::now();
            let page = match self.journal.unfinished_page(after, READ_PAGE).await {
                Ok(page) => {
                    tracing::debug!(target: "pushdeploy::timing", read_us = micros(reading.elapsed()), "journal page read");
                    page
                }
                Err(error) => {
                    tracing::error!(%error, "cannot read the journal");
                    read_failed = true;
                    break;
                }
            };
            let Some(last) = page.last().map(|event| event.id) else {
                break;
            };
            after = last;
            self.read_up_to
                .fetch_max(last, std::sync::atomic::Ordering::AcqRel);
            let complete = page.len() < READ_PAGE;
            let due: Vec<Event> = {
                let retry_at = self.retry_at.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(ids) = unfinished_ids.as_mut() {
                    ids.extend(page.iter().map(|event| event.id));
                }
                page.into_iter()
                    .filter(|event| retry_at.get(&event.id).is_none_or(|at| *at <= now))
                    // Another replica's shard: its owner processes it.
                    .filter(|event| self.owns_event(event))
                    .collect()
            };
            for event in due {
                tasks.start(self, event).await;
            }
            if complete {
                break;
            }
        }
        if let Some(ids) = unfinished_ids
            && !read_failed
        {
            let mut retry_at = self.retry_at.lock().unwrap_or_else(|p| p.into_inner());
            retry_at.retain(|id, _| ids.contains(id));
            retry_at.shrink_to_fit();
        }
        if read_failed {
            return true;
        }
        // With events in flight the answer is yes without asking; the count (a scan of the
        // unfinished events) then runs at most once a second, for the gauge, not per wake.
        let busy = !tasks.set.is_empty();
        if busy
            && tasks
                .counted_at
                .is_some_and(|at| at.elapsed() < BACKLOG_COUNT_EVERY)
        {
            return true;
        }
        tasks.counted_at = Some(std::time::Instant::now());
        let backlog = self.journal.backlog().await;
        if let Ok(backlog) = backlog {
            metrics::gauge!("pushdeploy_journal_backlog").set(backlog as f64);
        }
        busy || backlog.map_or(true, |backlog| backlog > 0)
    }
}

/// The events being processed, each as its own task; an event is never run twice at once.
#[derive(Default)]
struct Tasks {
    set: tokio::task::JoinSet<()>,
    /// Ids of the events in `set`; each task's guard removes its own, panicking or not.
    running: Arc<std::sync::Mutex<std::collections::HashSet<i64>>>,
    /// When the backlog was last counted.
    counted_at: Option<std::time::Instant>,
}

impl Tasks {
    /// Wait for one task to end (a panic is reported); `None` when none is running.
    async fn join_one(&mut self) -> Option<()> {
        if let Err(error) = self.set.join_next().await? {
            task_failed(&error);
        }
        Some(())
    }

    /// Start `event` unless it is running already; waits for one to finish first when
    /// `MAX_EVENTS_IN_FLIGHT` are (a retry round over a large backlog must not hold every
    /// event, and its request, in memory at once).
    async fn start(&mut self, engine: &Arc<Engine>, event: Event) {
        let id = event.id;
        if !self.running.lock().unwrap_or_else(|p| p.into_inner()).insert(id) {
            return;
        }
        while self.set.len() >= MAX_EVENTS_IN_FLIGHT && self.join_one().await.is_some() {}
        let guard = Running {
            id,
            running: Arc::clone(&self.running),
        };
        let engine = Arc::clone(engine);
        self.set.spawn(async move {
            let _guard = guard;
            engine.process(event).await;
        });
    }
}

struct Running {
    id: i64,
    running: Arc<std::sync::Mutex<std::collections::HashSet<i64>>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
    }
}
