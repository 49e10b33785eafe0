//! The decision stage: journaled events and changed tag lists in; intents for the gitops writers
//! out. A webhook's tag is confirmed in the registry (manifest HEAD) before anything is written;
//! the policy picks over the known tags plus this one; pins and suspensions hold.

use crate::config::{DigestReflection, Settings};
use crate::domain::ObjectKey;
use crate::domain::Tag;
use crate::gitops::{Intent, Outcome, Writers};
use crate::journal::{Event, EventKind, Journal, State};
use crate::plan::{PolicyState, Skipped, Snapshot, Trigger, plan};
use crate::registry::{Gateway, ScanResult};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

mod burst;
mod confirm;
mod digest_refresh;
mod manual;
mod once;
mod overrides;
pub mod reports;
pub mod routing;
pub mod writes;

pub use manual::{Manual, ManualError, Upstream};
pub use once::OnceReport;
pub use overrides::SharedOverrides;

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// Pause before retrying events that failed transiently (remote unreachable, registry down).
const RETRY_DELAY: Duration = Duration::from_secs(10);

/// Events processed at once by one drain: enough for a burst to meet in the writers' coalescing
/// window, few enough that a large backlog's retry round stays small in memory.
const MAX_EVENTS_IN_FLIGHT: usize = 256;

/// Unfinished events read from the journal at once.
const READ_PAGE: usize = 1024;

pub struct Engine {
    pub settings: Arc<Settings>,
    pub journal: Journal,
    pub registry: Arc<Gateway>,
    pub writers: Arc<Writers>,
    /// Pins and suspensions: set here, honoured by `plan` and again by the writers' gate.
    pub overrides: Arc<SharedOverrides>,
    wake: Arc<Notify>,
    /// The last pick per policy from a scan, so an unchanged pick does no work.
    selected: Mutex<BTreeMap<ObjectKey, String>>,
    last_prune: Mutex<Option<std::time::Instant>>,
    /// Manual calls on one policy run one at a time.
    manual_locks: Mutex<std::collections::HashMap<ObjectKey, Arc<tokio::sync::Mutex<()>>>>,
    /// Events that failed transiently, with the time before which they are not tried again:
    /// a wake for new events does not re-run them (no hot loop against a registry that is down).
    retry_at: Mutex<std::collections::HashMap<i64, std::time::Instant>>,
    /// Highest journal id read so far (0: nothing read yet, so the next read is the whole backlog).
    read_up_to: std::sync::atomic::AtomicI64,
    /// The tag last pushed per policy (loaded from the journal at startup), for `/status`.
    deployed: Mutex<BTreeMap<ObjectKey, String>>,
    /// Scan results fully decided (and written) so far: lets callers wait for a scan's effect.
    scans_decided: std::sync::atomic::AtomicU64,
    /// Shared, bounded manifest HEADs and tag lists for confirming webhook tags.
    confirmer: confirm::Confirmer,
    /// Deliveries of one repository and tag within the coalescing window: one decision.
    bursts: burst::Bursts,
    /// Authenticated pushes for hosts/repositories nothing is configured for (`/status`).
    pub unmatched: routing::Unmatched,
    /// The last write result per automation (`/status`).
    writes: writes::Writes,
    /// When the first wake not yet answered by a drain came (for the `wake_us` timing line).
    woken_at: Mutex<Option<std::time::Instant>>,
}

/// What one decision produced for one policy.
pub struct Decision {
    pub policy: ObjectKey,
    /// The automation that wrote (or was held from writing); `None` when the outcome is the
    /// policy's own (pinned, no pick, no automation covers it).
    pub automation: Option<ObjectKey>,
    pub outcome: Outcome,
}

impl Engine {
    pub fn new(
        settings: Arc<Settings>,
        journal: Journal,
        registry: Arc<Gateway>,
        writers: Arc<Writers>,
        overrides: Arc<SharedOverrides>,
    ) -> Arc<Self> {
        let window = settings.intake.coalesce_window;
        Arc::new(Self {
            settings,
            journal,
            registry,
            writers,
            overrides,
            wake: Arc::new(Notify::new()),
            selected: Mutex::default(),
            last_prune: Mutex::default(),
            manual_locks: Mutex::default(),
            scans_decided: std::sync::atomic::AtomicU64::new(0),
            deployed: Mutex::default(),
            retry_at: Mutex::default(),
            read_up_to: std::sync::atomic::AtomicI64::new(0),
            confirmer: confirm::Confirmer::default(),
            bursts: burst::Bursts::new(window),
            unmatched: routing::Unmatched::default(),
            writes: writes::Writes::default(),
            woken_at: Mutex::default(),
        })
    }

    /// New journal entries are waiting.
    pub fn wake(&self) {
        self.woken_at
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert_with(std::time::Instant::now);
        self.wake.notify_one();
    }

    /// Process journal entries (including those left unfinished by a crash) and scan results
    /// until `shutdown`; work in flight finishes first.
    pub async fn run(
        self: Arc<Self>,
        mut scans: mpsc::UnboundedReceiver<ScanResult>,
        shutdown: CancellationToken,
    ) {
        loop {
            let unfinished = self.drain_journal().await;
            // Events left unfinished by a transient failure are tried again after a pause.
            let retry = if unfinished {
                RETRY_DELAY
            } else {
                Duration::from_secs(3600)
            };
            self.prune_now_and_then().await;
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(retry) => {}
                Some(scan) = scans.recv() => self.handle_scan(scan).await,
                () = shutdown.cancelled() => return,
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
        }
    }

    /// Process every unfinished event; true when some are still unfinished afterwards.
    async fn drain_journal(self: &Arc<Self>) -> bool {
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
        // Concurrently, so that intents for one branch meet in the writer's coalescing window.
        let mut tasks = tokio::task::JoinSet::new();
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
                    .collect()
            };
            for event in due {
                // Bounded, so that a retry round over a large backlog does not hold every event
                // (and its request) in memory at once.
                if tasks.len() >= MAX_EVENTS_IN_FLIGHT
                    && let Some(Err(error)) = tasks.join_next().await
                {
                    task_failed(&error);
                }
                let engine = Arc::clone(self);
                tasks.spawn(async move { engine.process(event).await });
            }
            if complete {
                break;
            }
        }
        while let Some(joined) = tasks.join_next().await {
            if let Err(error) = joined {
                task_failed(&error);
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
        let backlog = self.journal.backlog().await;
        if let Ok(backlog) = backlog {
            metrics::gauge!("pushdeploy_journal_backlog").set(backlog as f64);
        }
        backlog.map_or(true, |backlog| backlog > 0)
    }

    #[tracing::instrument(name = "event", skip_all, fields(event = event.id, tag = event.tag().unwrap_or("")))]
    async fn process(&self, event: Event) {
        let processed = match &event.kind {
            EventKind::Push { repository, tag, .. } => self.process_push(&event, repository, tag).await,
            EventKind::Refresh { automation } => self.process_refresh(automation).await,
            // Stored already `ignored` / `rejected`, so never unfinished; a row edited by hand
            // ends here.
            EventKind::UnmatchedPush { .. } => {
                Processed::ended(State::Ignored, "no configured image repository matches this push")
            }
            EventKind::Rejected => Processed::ended(State::Rejected, "a rejected delivery is not processed"),
        };
        let (state, reason, commit) = match processed {
            Processed::Finished {
                state,
                reason,
                commit,
            } => (state, reason, commit),
            Processed::RetryLater(reason) => {
                self.retry_at
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(event.id, std::time::Instant::now() + RETRY_DELAY);
                return tracing::warn!(%reason, "will retry the event");
            }
        };
        let recording = std::time::Instant::now();
        let recorded = self
            .journal
            .transition(event.id, state, reason.as_deref(), commit.as_deref(), None)
            .await;
        tracing::debug!(target: "pushdeploy::timing", outcome_us = micros(recording.elapsed()), "event outcome recorded");
        if let Err(error) = recorded {
            tracing::error!(%error, "cannot record the event's outcome");
            // Still unfinished in the journal, and behind the read cursor: retried like a
            // transient failure.
            self.retry_at
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(event.id, std::time::Instant::now() + RETRY_DELAY);
        }
        if state == State::Written {
            let elapsed = (crate::clock::now() - event.received_at).max(0) as f64;
            metrics::histogram!("pushdeploy_notification_to_push_seconds").record(elapsed);
        }
    }

    /// Someone pushed to a gitops branch: fetch and reset that automation's working copy now,
    /// so the next write (and the API's view of git) starts from the new head.
    async fn process_refresh(&self, automation: &ObjectKey) -> Processed {
        let Some(automation) = self.settings.automations.get(automation) else {
            return Processed::ended(State::Ignored, "the automation is no longer configured");
        };
        let automation = Arc::new(automation.clone());
        match self
            .writers
            .handle(&automation)
            .inspect(Arc::clone(&automation))
            .await
        {
            Ok(inspection) => {
                let head = inspection.log.first().map(|entry| entry.commit.clone());
                Processed::Finished {
                    state: State::Refreshed,
                    reason: Some(format!(
                        "working copy of {} refreshed to {}",
                        automation.key,
                        head.as_deref().unwrap_or("an empty branch")
                    )),
                    commit: head,
                }
            }
            Err(error) if error.is_transient() => Processed::RetryLater(error.to_string()),
            Err(error) => Processed::ended(State::Failed, error.to_string()),
        }
    }

    /// Confirm, decide, write.
    /// A push, unless the same repository and tag is being (or was just) decided for another
    /// delivery of the burst: then that decision's outcome, without a HEAD or a write of its own.
    async fn process_push(&self, event: &Event, key: &ObjectKey, tag: &Tag) -> Processed {
        match self.bursts.join(event.id, key, tag.as_str()) {
            burst::Role::Follower { leader, done } => match burst::wait(done).await {
                Some(outcome) => {
                    metrics::counter!("pushdeploy_burst_followers_total").increment(1);
                    Processed::followed(outcome, leader)
                }
                None => self.push_alone(event, key, tag).await,
            },
            burst::Role::Leader(leader) => {
                let processed = self.push_alone(event, key, tag).await;
                burst::finish(&leader, processed.for_burst());
                processed
            }
        }
    }

    async fn push_alone(&self, event: &Event, key: &ObjectKey, tag: &Tag) -> Processed {
        let tag = &tag.to_string();
        if let Some(suspended) = self.settings.repositories.get(key).filter(|r| r.suspended) {
            return Processed::ended(
                State::Ignored,
                format!(
                    "image repository {key} is suspended (spec.suspend: true at {}); set it to false to act on its pushes",
                    suspended.origin
                ),
            );
        }
        let mut confirmed = None;
        if !self.settings.trust_notifications {
            let Some(client) = self.registry.client(key) else {
                return Processed::ended(State::Ignored, format!("{key} is no longer configured"));
            };
            let digest = match self.confirmer.confirm(key, &client, tag).await {
                Ok(manifest) => {
                    self.note_digest(key, tag, manifest.digest.clone()).await;
                    manifest.digest
                }
                Err(crate::registry::RegistryError::NotFound { .. }) => {
                    return Processed::ended(
                        State::Failed,
                        format!(
                            "tag {tag} does not exist in {}/{}; nothing written",
                            client.host(),
                            client.repository()
                        ),
                    );
                }
                Err(error) if error.is_transient() => return Processed::RetryLater(error.to_string()),
                Err(error) => return Processed::ended(State::Failed, error.to_string()),
            };
            self.registry.note_confirmed(key, tag);
            confirmed = Some(digest);
        }
        let mut tags = self.registry.tags(key);
        if !tags.contains(tag) {
            tags.push(tag.clone());
        }
        // `Confirmed` (an fsync'ed transaction) is recorded while the writer works instead of
        // before it: the outcome is recorded after both, so the states keep their order.
        let record_confirmed = async {
            let Some(digest) = &confirmed else { return };
            let recording = std::time::Instant::now();
            let _ = self
                .journal
                .transition(event.id, State::Confirmed, None, None, Some(digest))
                .await;
            tracing::debug!(target: "pushdeploy::timing", confirmed_us = micros(recording.elapsed()), "confirmation recorded");
        };
        let deciding = std::time::Instant::now();
        let decide = async {
            let decisions = self
                .decide(
                    key,
                    &tags,
                    Trigger::Push {
                        tag,
                        cause: format!("webhook ({})", event.source),
                    },
                )
                .await;
            tracing::debug!(target: "pushdeploy::timing", decide_us = micros(deciding.elapsed()), "decided and written");
            decisions
        };
        let ((), decisions) = tokio::join!(record_confirmed, decide);
        // A write that failed transiently (the writer's `retry: true`) is this event's retry.
        if let Some(error) = decisions.iter().find_map(|d| match &d.outcome {
            Outcome::Failed { error, retry: true } => Some(error.clone()),
            _ => None,
        }) {
            return Processed::RetryLater(error);
        }
        summarise(decisions, tag)
    }

    async fn handle_scan(&self, scan: ScanResult) {
        // The scan's tags plus those confirmed meanwhile: a scan that began before a webhook's
        // tag landed must not pick (and try to write) an older tag.
        let tags = self.registry.tags(&scan.repository);
        let decisions = self
            .decide(&scan.repository, &tags, Trigger::Scan { cause: "poll".into() })
            .await;
        for decision in decisions {
            if let Outcome::Failed { error, .. } = &decision.outcome {
                tracing::warn!(policy = %decision.policy, %error, "poll update failed");
            }
        }
        self.scans_decided
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    /// Plan (`plan::plan`, the one decision point) over what is known for `repository` after
    /// `trigger`, then write the intents and record their outcomes.
    async fn decide(&self, repository: &ObjectKey, tags: &[String], trigger: Trigger<'_>) -> Vec<Decision> {
        self.resolve_digests(repository, tags).await;
        let digests = self.registry.digests.view(repository);
        let planned = {
            let overrides = self.overrides.snapshot();
            // Held while planning, so that two scans never both act on one new pick.
            let mut selected = self.selected.lock().unwrap_or_else(|p| p.into_inner());
            let snapshot = Snapshot {
                policies: self.policy_states(|policy| policy.repository == *repository, &digests),
                tags,
                selected: &selected,
                overrides: &overrides,
            };
            let planned = plan(&snapshot, &trigger);
            selected.extend(planned.selections.iter().cloned());
            planned
        };
        let mut decisions: Vec<Decision> = planned.skipped.into_iter().map(Decision::from).collect();
        decisions.extend(self.write(planned.intents).await);
        decisions
    }

    /// The policies `wanted` selects, as planning sees them; `digests` is their repository's.
    fn policy_states<'a>(
        &'a self,
        wanted: impl Fn(&crate::config::ImagePolicy) -> bool,
        digests: &'a crate::registry::DigestView,
    ) -> Vec<PolicyState<'a>> {
        let settings = &self.settings;
        settings
            .policies
            .values()
            .filter(|policy| wanted(policy))
            .filter_map(|policy| {
                let repository = settings.repositories.get(&policy.repository)?;
                let automations = settings
                    .automations
                    .values()
                    .filter(|automation| automation.policies.contains(&policy.key))
                    .map(|automation| &automation.key)
                    .collect();
                let digests = match policy.digest_reflection {
                    DigestReflection::Never => None,
                    DigestReflection::IfNotPresent => Some(&digests.first),
                    DigestReflection::Always { .. } => Some(&digests.latest),
                };
                Some(PolicyState {
                    key: &policy.key,
                    image: repository.image.to_string(),
                    policy: &policy.policy,
                    automations,
                    digests,
                })
            })
            .collect()
    }

    /// Hand `intents` to their writers concurrently (intents for one branch meet in its
    /// coalescing window) and record each outcome: last write per automation, deployments in
    /// the journal, and a retry of the pick when the write failed transiently.
    async fn write(&self, intents: Vec<Intent>) -> Vec<Decision> {
        let submissions: Vec<_> = intents
            .into_iter()
            .filter_map(|intent| {
                let automation = Arc::new(self.settings.automations.get(intent.automation())?.clone());
                Some((self.writers.handle(&automation), automation, intent))
            })
            .collect();
        let outcomes = futures_join(
            submissions
                .into_iter()
                .map(|(handle, automation, intent)| async move {
                    let outcome = handle.submit(Arc::clone(&automation), intent.clone()).await;
                    (automation, intent, outcome)
                }),
        )
        .await;
        let mut decisions = Vec::with_capacity(outcomes.len());
        for (automation, intent, outcome) in outcomes {
            self.record(&automation, &intent, &outcome).await;
            decisions.push(Decision {
                policy: intent.policy().clone(),
                automation: Some(automation.key.clone()),
                outcome,
            });
        }
        decisions
    }

    async fn record(&self, automation: &crate::config::Automation, intent: &Intent, outcome: &Outcome) {
        let policy = intent.policy();
        self.writes.note(&automation.key, outcome);
        if matches!(outcome, Outcome::Failed { retry: true, .. }) {
            // Not done: the next scan must try this pick again.
            self.selected
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(policy);
        }
        if let Outcome::Pushed { commit, .. } = outcome {
            let tag = &intent.value().tag;
            if let Err(error) = self
                .journal
                .record_deployment(policy, tag, commit, &automation.author.name, intent.cause())
                .await
            {
                // The commit is on the remote (and its trailers keep the history); say
                // that the journal's copy is missing rather than drop it unseen.
                tracing::error!(%policy, %tag, %commit, %error, "the deployment could not be recorded in the journal");
            }
            self.note_deployed(policy, tag.as_str());
            metrics::counter!("pushdeploy_commits_total", "result" => "pushed").increment(1);
        }
    }

    /// Record what the registry said `tag` of `repository` names (a confirmation's digest);
    /// true when it is news. When an `IfNotPresent` policy watches `repository`, the first
    /// digest of the tag is kept in the journal before anything plans with it, so a restart
    /// keeps it too; a journal that cannot keep it is logged as an error and counted.
    async fn note_digest(&self, repository: &ObjectKey, tag: &str, digest: crate::domain::Digest) -> bool {
        let keeps_first = self.settings.policies.values().any(|policy| {
            policy.repository == *repository && policy.digest_reflection == DigestReflection::IfNotPresent
        });
        if keeps_first && !self.registry.digests.view(repository).first.contains_key(tag) {
            match self.journal.keep_first_digest(repository, tag, &digest).await {
                Ok(kept) => self.registry.digests.keep_first(repository, tag, kept),
                Err(error) => {
                    metrics::counter!("pushdeploy_journal_errors_total", "what" => "kept digest")
                        .increment(1);
                    tracing::error!(%repository, tag, %error, "the first digest of the tag could not be kept in the journal: after a restart IfNotPresent would take the next lookup's digest");
                }
            }
        }
        self.registry.digests.note(repository, tag, digest)
    }

    /// For every policy on `repository` that reflects digests: make sure the digest of its
    /// pick is known (one manifest HEAD when it is not). A lookup that fails is logged; the
    /// plan then says the digest is unknown and writes nothing for that policy.
    async fn resolve_digests(&self, repository: &ObjectKey, tags: &[String]) {
        let borrowed: Vec<&str> = tags.iter().map(String::as_str).collect();
        let known = self.registry.digests.view(repository);
        let mut wanted: Vec<String> = self
            .settings
            .policies
            .values()
            .filter(|policy| policy.repository == *repository)
            .filter(|policy| policy.digest_reflection != DigestReflection::Never)
            .filter_map(|policy| policy.policy.select(&borrowed).ok())
            .filter(|pick| !known.latest.contains_key(*pick))
            .map(str::to_owned)
            .collect();
        wanted.sort();
        wanted.dedup();
        for tag in wanted {
            self.look_up_digest(repository, &tag).await;
        }
    }

    /// Ask the registry what `tag` names now and record it; true when it is news.
    async fn look_up_digest(&self, repository: &ObjectKey, tag: &str) -> bool {
        let Some(client) = self.registry.client(repository) else {
            return false;
        };
        match client.manifest(tag).await {
            Ok(manifest) => self.note_digest(repository, tag, manifest.digest).await,
            Err(error) => {
                tracing::warn!(%repository, tag, %error, "cannot look up the digest to reflect");
                false
            }
        }
    }

    fn note_deployed(&self, policy: &ObjectKey, tag: &str) {
        self.deployed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(policy.clone(), tag.to_owned());
    }

    /// What `policy` picks over every known tag (the last scan plus confirmed tags).
    pub fn pick(&self, policy: &crate::config::ImagePolicy) -> Option<String> {
        let tags = self.registry.tags(&policy.repository);
        let borrowed: Vec<&str> = tags.iter().map(String::as_str).collect();
        policy.policy.select(&borrowed).ok().map(str::to_owned)
    }

    /// What `/status` shows of the engine (the HTTP layer gives it its JSON shape).
    pub fn status(&self) -> reports::Status {
        let deployed = self.deployed.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let overrides = &self.overrides;
        let policies = self
            .settings
            .policies
            .iter()
            .map(|(key, policy)| {
                let status = reports::PolicyStatus {
                    selected: self.pick(policy),
                    deployed: deployed.get(key).cloned(),
                    pinned: overrides.pinned(key).map(|tag| tag.to_string()),
                };
                (key.clone(), status)
            })
            .collect();
        reports::Status {
            policies,
            repositories: self.registry.status(),
            registry_certificates_not_after: self.registry.watch.snapshot(),
            scans_decided: self.scans_decided.load(std::sync::atomic::Ordering::SeqCst),
            unmatched: self.unmatched.status(),
            automations: self.writes.snapshot(),
            suspended: self.suspensions(),
        }
    }

    /// What is suspended now and by what: API suspensions hold automatic updates, a manifest's
    /// `spec.suspend: true` holds every write (automations) or every scan and push (repositories).
    fn suspensions(&self) -> reports::Suspensions {
        let overrides = self.overrides.snapshot();
        let automations = self
            .settings
            .automations
            .keys()
            .filter(|key| overrides.is_suspended(key))
            .map(|key| {
                let by = if overrides.is_suspended_in_manifest(key) {
                    reports::SuspendedBy::Manifest
                } else {
                    reports::SuspendedBy::Api
                };
                (key.clone(), by)
            })
            .collect();
        let image_repositories = self
            .settings
            .repositories
            .iter()
            .filter(|(_, repository)| repository.suspended)
            .map(|(key, _)| key.clone())
            .collect();
        reports::Suspensions {
            automations,
            image_repositories,
        }
    }
}

impl From<Skipped> for Decision {
    fn from(skipped: Skipped) -> Self {
        let outcome = if skipped.reason.is_failure() {
            Outcome::Failed {
                error: skipped.reason.to_string(),
                retry: false,
            }
        } else {
            Outcome::Skipped {
                reason: skipped.reason.to_string(),
            }
        };
        Self {
            policy: skipped.policy,
            automation: skipped.automation,
            outcome,
        }
    }
}

/// Run `futures` concurrently and return their outputs in order. A task that panicked is a
/// bug: it is logged with its panic and counted, never silently left out.
async fn futures_join<F: std::future::Future + Send + 'static>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let mut tasks = tokio::task::JoinSet::new();
    for (index, future) in futures.enumerate() {
        tasks.spawn(async move { (index, future.await) });
    }
    let mut outputs = Vec::with_capacity(tasks.len());
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(output) => outputs.push(output),
            Err(error) => task_failed(&error),
        }
    }
    outputs.sort_by_key(|(index, _)| *index);
    outputs.into_iter().map(|(_, output)| output).collect()
}

/// A spawned engine task ended by a panic (or was cancelled): say so, loudly.
fn task_failed(error: &tokio::task::JoinError) {
    metrics::counter!("pushdeploy_engine_task_panics_total").increment(1);
    tracing::error!(%error, "an engine task failed; its event stays unfinished and is retried");
}

/// What processing an event came to: the one encoding of "retry later".
enum Processed {
    /// The event's final state, with its reason and the commit, if any.
    Finished {
        state: State,
        reason: Option<String>,
        commit: Option<String>,
    },
    /// Transient (registry or remote unreachable): the event stays unfinished and is tried
    /// again after `RETRY_DELAY`.
    RetryLater(String),
}

impl Processed {
    fn for_burst(&self) -> burst::Outcome {
        match self {
            Self::Finished {
                state,
                reason,
                commit,
            } => burst::Outcome::Finished {
                state: *state,
                reason: reason.clone(),
                commit: commit.clone(),
            },
            Self::RetryLater(reason) => burst::Outcome::RetryLater(reason.clone()),
        }
    }

    /// A follower's record of its leader's outcome.
    fn followed(outcome: burst::Outcome, leader: i64) -> Self {
        match outcome {
            burst::Outcome::Finished {
                state,
                reason,
                commit,
            } => Self::Finished {
                state,
                reason: Some(format!(
                    "same push as event {leader}, decided once: {}",
                    reason.as_deref().unwrap_or("no reason recorded")
                )),
                commit,
            },
            burst::Outcome::RetryLater(reason) => Self::RetryLater(reason),
        }
    }

    fn ended(state: State, reason: impl Into<String>) -> Self {
        Self::Finished {
            state,
            reason: Some(reason.into()),
            commit: None,
        }
    }
}

/// One journal state for all the policies an event touched.
fn summarise(decisions: Vec<Decision>, tag: &str) -> Processed {
    if let Some((commit, policy)) = decisions.iter().find_map(|d| match &d.outcome {
        Outcome::Pushed { commit, .. } => Some((commit.clone(), d.policy.clone())),
        _ => None,
    }) {
        return Processed::Finished {
            state: State::Written,
            reason: Some(format!("{policy} now runs {tag}")),
            commit: Some(commit),
        };
    }
    let reasons: Vec<String> = decisions
        .iter()
        .map(|d| match &d.outcome {
            Outcome::UpToDate => format!("{}: already in git", d.policy),
            Outcome::Skipped { reason } => reason.clone(),
            Outcome::Failed { error, .. } => format!("{}: {error}", d.policy),
            Outcome::Pushed { .. } => String::new(),
        })
        .collect();
    let failed = decisions
        .iter()
        .any(|d| matches!(d.outcome, Outcome::Failed { .. }));
    let reason = if reasons.is_empty() {
        "no policy uses this repository".to_owned()
    } else {
        reasons.join("; ")
    };
    Processed::ended(if failed { State::Failed } else { State::Ignored }, reason)
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn joined_outputs_keep_their_order_and_a_panicked_task_is_reported_not_lost_silently() {
        let futures = (0..5u64).map(|n| async move {
            tokio::time::sleep(std::time::Duration::from_millis(5 * (5 - n))).await;
            assert!(n != 2, "task 2 panics");
            n
        });
        let outputs = super::futures_join(futures).await;
        assert_eq!(outputs, vec![0, 1, 3, 4], "in order, the panicked one left out");
    }
}
