//! Transition-only alerts: one when something becomes broken, one when it recovers, never one
//! per retry. What is watched: every readiness check (`journal`, `gitops <automation>` — a
//! remote refusing pushes, a read-only deploy key —, `working copy <automation>`), and what
//! `sources.rs` derives from the engine's status every few seconds (a registry whose
//! certificate is about to expire, scans failing, a policy rejecting every tag, writes failing
//! for good — a template error, a refused setter —, bursts of refused webhooks). A subject's
//! first state is its baseline and says nothing (at start-up that is "not checked yet" or
//! "warming up", or the journal's ok); after it, a change to a reason alerts `broken` (a change
//! from one reason to another alerts again, with the new reason: one alert per (subject,
//! reason)), and a change back to ok alerts `recovered` when a `broken` was sent. Deployments
//! are told as `deployed` to the sinks that ask (`successes: true`) and to commit statuses.
//!
//! Alerts are queued in the journal for every sink that takes them (so a sink that is down
//! loses nothing and holds up nothing: neither intake nor writes wait for a delivery), then
//! delivered by one task in order per sink, at most `notifications.maxPerMinute` per sink (the
//! rest wait their turn), retried with exponential backoff (1 s … 5 min) until a 2xx. What each
//! kind is sent is in `sinks.rs`; what each sink is doing (waiting, failing, held) is in
//! `/status` and the console.

mod sinks;
pub mod sources;

use crate::config::{AlertSink, Settings, SinkKind};
use crate::journal::Journal;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The signature header of a webhook delivery.
pub const SIGNATURE_HEADER: &str = "x-pushdeploy-signature-256";

/// The longest pause between two attempts at one alert.
const MAX_BACKOFF_SECONDS: i64 = 300;
/// Delivered alerts are kept this long (for `/status` and debugging), then pruned.
const KEEP_DELIVERED_SECONDS: i64 = 7 * 24 * 3600;

/// An alert as queued (and as the webhook sink receives it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub replica: String,
    pub subject: String,
    /// `broken`, `recovered` or `deployed`.
    pub state: String,
    pub reason: Option<String>,
    /// RFC 3339.
    pub at: String,
    /// The console page to look at (with `notifications.consoleUrl`).
    pub link: Option<String>,
    /// The automation the subject is about, its remote (credentials redacted) and the last
    /// commit pushdeploy pushed there, when known (what a commit status is set on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// A deployment's policy, tag and cause.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

/// A push pushdeploy made, as the engine tells it.
pub use crate::engine::reports::Pushed as Deployment;

/// What one sink is doing, for `/status` and the console.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SinkReport {
    pub name: String,
    pub kind: &'static str,
    /// Alerts queued and not yet delivered, and since when (Unix seconds).
    pub waiting: i64,
    pub waiting_since: Option<i64>,
    pub last_delivered: Option<i64>,
    /// The last failed attempt, until a later one succeeds.
    pub last_error: Option<String>,
    /// Deliveries wait for the rate limit.
    pub held: bool,
}

/// Per sink, in memory: recent deliveries (the rate limit) and the last outcome.
#[derive(Debug, Default)]
struct SinkState {
    recent: VecDeque<Instant>,
    last_delivered: Option<i64>,
    last_error: Option<String>,
    held: bool,
}

pub struct Alerts {
    sinks: Vec<AlertSink>,
    journal: Journal,
    replica: String,
    console_url: Option<String>,
    max_per_minute: usize,
    /// Per subject: the last state seen (`None` ok, `Some(reason)` broken) and whether the
    /// last alert sent for it was `broken`.
    seen: Mutex<HashMap<String, (Option<String>, bool)>>,
    /// Per automation: its remote and the last commit pushdeploy pushed there.
    automations: Mutex<HashMap<String, (String, Option<String>)>>,
    state: Mutex<HashMap<String, SinkState>>,
    wake: Notify,
    client: reqwest::Client,
}

/// The alert (`broken` with its reason, or `recovered`) that `subject` becoming `now` makes,
/// given what was seen of it: none for its first state (the baseline), none for the same state
/// again, `recovered` only after a `broken`.
fn transition(
    seen: &mut HashMap<String, (Option<String>, bool)>,
    subject: &str,
    now: Option<String>,
) -> Option<(&'static str, Option<String>)> {
    let Some((before, alerted)) = seen.get_mut(subject) else {
        seen.insert(subject.to_owned(), (now, false));
        return None;
    };
    if *before == now {
        return None;
    }
    before.clone_from(&now);
    match now {
        Some(reason) => {
            *alerted = true;
            Some(("broken", Some(reason)))
        }
        None if *alerted => {
            *alerted = false;
            Some(("recovered", None))
        }
        None => None,
    }
}

/// The automation a subject is about (`gitops a/b`, `working copy a/b`, `writes a/b`).
fn automation_of(subject: &str) -> Option<&str> {
    ["gitops ", "working copy ", "writes "]
        .iter()
        .find_map(|prefix| subject.strip_prefix(prefix))
}

/// The rate limit: deliveries in the last minute below `max`, after forgetting older ones.
fn has_room(recent: &mut VecDeque<Instant>, max: usize, now: Instant) -> bool {
    while recent
        .front()
        .is_some_and(|at| now.duration_since(*at) >= Duration::from_secs(60))
    {
        recent.pop_front();
    }
    recent.len() < max
}

impl std::fmt::Debug for Alerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Alerts")
            .field(
                "sinks",
                &self.sinks.iter().map(|sink| &sink.name).collect::<Vec<_>>(),
            )
            .field("replica", &self.replica)
            .finish_non_exhaustive()
    }
}

impl Alerts {
    /// Start delivering to the configured sinks; `None` when there are none.
    pub fn start(
        settings: &Settings,
        journal: Journal,
        replica: String,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Option<Arc<Self>>> {
        let notifications = &settings.notifications;
        if notifications.sinks.is_empty() {
            return Ok(None);
        }
        // Our own TLS config (ring, the Mozilla roots), as everywhere: no process-wide crypto
        // provider is assumed, so an embedding that never installed one still works.
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        // `notifications.caFile`, read (and checked) at load.
        for certificate in &notifications.ca_certificates {
            roots.add(rustls_pki_types::CertificateDer::from(certificate.clone()))?;
        }
        let tls =
            rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()?
                .with_root_certificates(roots)
                .with_no_client_auth();
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let automations = settings
            .automations
            .values()
            .map(|automation| {
                (
                    automation.key.to_string(),
                    (crate::domain::redact_url(&automation.git.url).into_owned(), None),
                )
            })
            .collect();
        let alerts = Arc::new(Self {
            sinks: notifications.sinks.clone(),
            journal,
            replica,
            console_url: notifications.console_url.clone(),
            max_per_minute: usize::try_from(notifications.max_per_minute).unwrap_or(usize::MAX),
            seen: Mutex::default(),
            automations: Mutex::new(automations),
            state: Mutex::default(),
            wake: Notify::new(),
            client,
        });
        // One task per sink: a sink that hangs or refuses holds up only its own alerts.
        for index in 0..alerts.sinks.len() {
            tokio::spawn(Arc::clone(&alerts).deliver(index, shutdown.clone()));
        }
        Ok(Some(alerts))
    }

    /// After a restart: the last commit pushdeploy pushed per automation, from the journal's
    /// deployments, so that a failure before the next push still has a commit for its status.
    /// Only policies written by one automation count (a deployment does not name its automation).
    pub async fn remember_pushed(&self, settings: &Settings) {
        for automation in settings.automations.values() {
            let mut newest: Option<(i64, String)> = None;
            for policy in &automation.policies {
                let writers = settings
                    .automations
                    .values()
                    .filter(|other| other.policies.contains(policy))
                    .count();
                if writers != 1 {
                    continue;
                }
                let Ok(deployments) = self.journal.deployments(policy).await else {
                    continue;
                };
                if let Some(last) = deployments.first()
                    && newest.as_ref().is_none_or(|(at, _)| last.at > *at)
                {
                    newest = Some((last.at, last.commit_sha.clone()));
                }
            }
            if let Some((_, commit)) = newest
                && let Some((_, known)) = self
                    .automations
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get_mut(&automation.key.to_string())
            {
                // A push since the start knows better.
                known.get_or_insert(commit);
            }
        }
    }

    fn link(&self, policy: Option<&str>) -> Option<String> {
        let base = self.console_url.as_ref()?;
        Some(match policy.and_then(|policy| policy.split_once('/')) {
            Some((namespace, name)) => format!("{base}/console/policies/{namespace}/{name}"),
            None => format!("{base}/"),
        })
    }

    /// `subject` is now `outcome`: queue an alert if that is a transition.
    pub fn observe(self: &Arc<Self>, subject: &str, outcome: &Result<(), String>) {
        let now = outcome.as_ref().err().cloned();
        let transition = transition(
            &mut self.seen.lock().unwrap_or_else(|p| p.into_inner()),
            subject,
            now,
        );
        let Some((state, reason)) = transition else { return };
        tracing::info!(%subject, state, reason = reason.as_deref().unwrap_or(""), "alert");
        let automation = automation_of(subject).map(str::to_owned);
        let (remote, commit) = automation
            .as_ref()
            .and_then(|automation| {
                self.automations
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(automation)
                    .cloned()
            })
            .map_or((None, None), |(remote, commit)| (Some(remote), commit));
        let policy = subject.strip_prefix("policy ");
        let alert = Alert {
            replica: self.replica.clone(),
            subject: subject.to_owned(),
            state: state.to_owned(),
            reason,
            at: crate::clock::format_time(crate::clock::now()),
            link: self.link(policy),
            automation,
            remote,
            commit,
            policy: None,
            tag: None,
            cause: None,
        };
        self.queue(alert);
    }

    /// pushdeploy pushed `deployment`: remember the commit (commit statuses of later alerts go
    /// on it) and tell the sinks that take deployments.
    pub fn deployed(self: &Arc<Self>, deployment: Deployment) {
        self.automations.lock().unwrap_or_else(|p| p.into_inner()).insert(
            deployment.automation.clone(),
            (deployment.remote.clone(), Some(deployment.commit.clone())),
        );
        let alert = Alert {
            replica: self.replica.clone(),
            subject: format!("policy {}", deployment.policy),
            state: "deployed".to_owned(),
            reason: None,
            at: crate::clock::format_time(crate::clock::now()),
            link: self.link(Some(&deployment.policy)),
            automation: Some(deployment.automation),
            remote: Some(deployment.remote),
            commit: Some(deployment.commit),
            policy: Some(deployment.policy),
            tag: Some(deployment.tag),
            cause: Some(deployment.cause),
        };
        self.queue(alert);
    }

    fn queue(self: &Arc<Self>, alert: Alert) {
        let sinks: Vec<String> = self
            .sinks
            .iter()
            .filter(|sink| sinks::takes(sink, &alert))
            .map(|sink| sink.name.clone())
            .collect();
        if sinks.is_empty() {
            return;
        }
        let state: &'static str = match alert.state.as_str() {
            "broken" => "broken",
            "recovered" => "recovered",
            _ => "deployed",
        };
        metrics::counter!("pushdeploy_alerts_total", "state" => state).increment(1);
        let body = match serde_json::to_string(&alert) {
            Ok(body) => body,
            Err(error) => return tracing::error!(%error, "an alert cannot be serialised; it is lost"),
        };
        let alerts = Arc::clone(self);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return tracing::error!(subject = %alert.subject, "an alert outside the runtime cannot be queued; it is lost");
        };
        runtime.spawn(async move {
            match alerts
                .journal
                .queue_alert(&alerts.replica, &sinks, &alert.subject, state, &body)
                .await
            {
                Ok(()) => alerts.wake.notify_waiters(),
                Err(error) => {
                    tracing::error!(subject = %alert.subject, %error, "cannot queue an alert in the journal; it is lost")
                }
            }
        });
    }

    /// What changes when a sink delivers, fails or is held (memory only: the console's
    /// fingerprint).
    pub fn fingerprint(&self) -> String {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut names: Vec<&String> = state.keys().collect();
        names.sort();
        names
            .into_iter()
            .map(|name| {
                let own = &state[name];
                format!(
                    "{name}|{:?}|{:?}|{};",
                    own.last_delivered, own.last_error, own.held
                )
            })
            .collect()
    }

    /// What each sink is doing: waiting alerts from the journal, the rest from memory.
    pub async fn report(&self) -> Vec<SinkReport> {
        let backlog = self
            .journal
            .alert_backlog(&self.replica)
            .await
            .unwrap_or_default();
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        self.sinks
            .iter()
            .map(|sink| {
                let waiting = backlog.iter().find(|(name, _, _)| *name == sink.name);
                let own = state.get(&sink.name);
                SinkReport {
                    name: sink.name.clone(),
                    kind: match sink.kind {
                        SinkKind::Webhook { .. } => "webhook",
                        SinkKind::Slack { .. } => "slack",
                        SinkKind::Matrix { .. } => "matrix",
                        SinkKind::Ntfy { .. } => "ntfy",
                        SinkKind::CommitStatus { .. } => "commit-status",
                    },
                    waiting: waiting.map_or(0, |(_, count, _)| *count),
                    waiting_since: waiting.map(|(_, _, oldest)| *oldest),
                    last_delivered: own.and_then(|own| own.last_delivered),
                    last_error: own.and_then(|own| own.last_error.clone()),
                    held: own.is_some_and(|own| own.held),
                }
            })
            .collect()
    }

    /// The delivery loop of sink `index` (the first one also prunes delivered alerts hourly).
    async fn deliver(self: Arc<Self>, index: usize, shutdown: CancellationToken) {
        let sink = &self.sinks[index];
        let mut pruned = Instant::now();
        loop {
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
                () = shutdown.cancelled() => return,
            }
            self.deliver_to(sink).await;
            if index == 0 && pruned.elapsed() > Duration::from_secs(3600) {
                pruned = Instant::now();
                if let Err(error) = self
                    .journal
                    .prune_alerts(crate::clock::now() - KEEP_DELIVERED_SECONDS)
                    .await
                {
                    tracing::debug!(%error, "cannot prune delivered alerts");
                }
            }
        }
    }

    /// Deliver what is due for `sink`, oldest first, as far as its rate limit allows; the first
    /// failure ends the round for this sink (its later alerts keep their order).
    async fn deliver_to(&self, sink: &AlertSink) {
        let room = {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let own = state.entry(sink.name.clone()).or_default();
            let now = Instant::now();
            has_room(&mut own.recent, self.max_per_minute, now);
            self.max_per_minute.saturating_sub(own.recent.len())
        };
        let due = match self
            .journal
            .due_alerts(
                &self.replica,
                &sink.name,
                i64::try_from(room.clamp(1, 50)).unwrap_or(50),
            )
            .await
        {
            Ok(due) => due,
            Err(error) => return tracing::debug!(%error, "cannot read the alert queue"),
        };
        let held = room == 0 && !due.is_empty();
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(sink.name.clone())
            .or_default()
            .held = held;
        if held {
            metrics::counter!("pushdeploy_alerts_held_total", "sink" => sink.name.clone()).increment(1);
            return;
        }
        for alert in due {
            let result = match sinks::request(&self.client, sink, alert.id, &alert.body) {
                Ok(request) => self.send(request).await,
                Err(error) => Err(error),
            };
            {
                let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
                let own = state.entry(sink.name.clone()).or_default();
                own.recent.push_back(Instant::now());
                match &result {
                    Ok(()) => {
                        own.last_delivered = Some(crate::clock::now());
                        own.last_error = None;
                    }
                    Err(error) => own.last_error = Some(error.clone()),
                }
            }
            let outcome = if result.is_ok() { "delivered" } else { "failed" };
            metrics::counter!("pushdeploy_alert_deliveries_total", "sink" => sink.name.clone(), "result" => outcome)
                .increment(1);
            let written = match &result {
                Ok(()) => self.journal.alert_delivered(alert.id).await,
                Err(error) => {
                    tracing::warn!(sink = %sink.name, attempt = alert.attempts + 1, %error, "alert delivery failed; retried with backoff");
                    let pause = 1i64 << alert.attempts.clamp(0, 9);
                    let next_at = crate::clock::now() + pause.min(MAX_BACKOFF_SECONDS);
                    self.journal.alert_failed(alert.id, error, next_at).await
                }
            };
            if let Err(error) = written {
                tracing::warn!(%error, "cannot record an alert's delivery");
            }
            // The first failure ends this sink's round: its later alerts keep their order.
            if result.is_err() {
                return;
            }
        }
    }

    async fn send(&self, request: reqwest::Request) -> Result<(), String> {
        let answer = self
            .client
            .execute(request)
            .await
            // reqwest's error names the URL; a Slack URL is a credential, so only the kind.
            .map_err(|error| {
                // Read for a certificate problem only; the chain itself is never shown.
                let mut chain = String::new();
                let mut source = std::error::Error::source(&error);
                while let Some(cause) = source {
                    chain.push_str(&cause.to_string());
                    source = cause.source();
                }
                if chain.contains("certificate") || chain.contains("UnknownIssuer") {
                    "the sink's TLS certificate is not trusted: add the CA that signed it as notifications.caFile".to_owned()
                } else if error.is_timeout() {
                    "the sink did not answer in time".to_owned()
                } else if error.is_connect() {
                    "cannot connect to the sink".to_owned()
                } else {
                    "the request to the sink failed".to_owned()
                }
            })?;
        if answer.status().is_success() {
            Ok(())
        } else {
            Err(format!("the sink answered {}", answer.status()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transitions_alert_one_per_reason_and_recovered_only_after_broken() {
        let mut seen = HashMap::new();
        let mut run = |now: Option<&str>| transition(&mut seen, "gitops a/b", now.map(str::to_owned));
        assert_eq!(run(Some("not checked yet")), None, "the baseline");
        assert_eq!(run(None), None, "ok after a baseline that was never alerted");
        assert_eq!(run(None), None);
        assert_eq!(
            run(Some("read-only key")),
            Some(("broken", Some("read-only key".to_owned())))
        );
        assert_eq!(run(Some("read-only key")), None, "a retry with the same reason");
        assert_eq!(
            run(Some("unreachable")),
            Some(("broken", Some("unreachable".to_owned()))),
            "a new reason"
        );
        assert_eq!(run(None), Some(("recovered", None)));
        assert_eq!(run(None), None);
        assert_eq!(
            transition(&mut seen, "journal", None),
            None,
            "another subject's own baseline"
        );
    }

    #[test]
    fn the_rate_limit_counts_the_last_minute_only() {
        let start = Instant::now();
        let mut recent: VecDeque<Instant> = (0..3).map(|_| start).collect();
        assert!(!has_room(&mut recent, 3, start), "three in the minute: full");
        assert!(has_room(&mut recent, 4, start));
        assert!(
            has_room(&mut recent, 3, start + Duration::from_secs(60)),
            "a minute later they no longer count"
        );
        assert!(recent.is_empty());
    }

    #[tokio::test]
    async fn after_a_restart_the_last_pushed_commit_comes_from_the_journal() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pushdeploy.yaml");
        std::fs::write(
            &path,
            format!(
                "dataDir: {}
imageRepositories:
  - {{name: mcp, image: registry.lan/mcp}}
imagePolicies:
  - {{name: mcp, imageRepositoryRef: {{name: mcp}}, policy: {{numerical: {{order: asc}}}}}}
imageUpdateAutomations:
  - name: mcp
    git: {{url: 'https://forgejo.example/ops/gitops.git'}}
    update: {{path: ./apps}}
notifications:
  sinks:
    - name: forge
      forgejo: {{url: 'https://forgejo.example', token: {{fromEnv: T}}}}
",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let settings = crate::config::load_with_env(Some(&path), &[], &|_| Some("t".to_owned())).unwrap();
        let journal = Journal::open(&settings.data_dir).await.unwrap();
        let policy = crate::domain::ObjectKey::from_parts("flux-system", "mcp").unwrap();
        for (tag, commit) in [("1-a", "1111"), ("2-b", "2222")] {
            journal
                .record_deployment(
                    &policy,
                    &crate::domain::Tag::parse(tag).unwrap(),
                    commit,
                    "bot",
                    "poll",
                )
                .await
                .unwrap();
        }
        let shutdown = CancellationToken::new();
        let alerts = Alerts::start(&settings, journal, "r".to_owned(), shutdown.clone())
            .unwrap()
            .unwrap();
        let known = |alerts: &Alerts| alerts.automations.lock().unwrap()["flux-system/mcp"].1.clone();
        assert_eq!(known(&alerts), None, "nothing before it is asked");
        alerts.remember_pushed(&settings).await;
        assert_eq!(known(&alerts).as_deref(), Some("2222"), "the newest deployment");
        shutdown.cancel();
    }

    #[test]
    fn subjects_name_their_automation() {
        assert_eq!(automation_of("gitops flux-system/mcp"), Some("flux-system/mcp"));
        assert_eq!(automation_of("working copy a/b"), Some("a/b"));
        assert_eq!(automation_of("writes a/b"), Some("a/b"));
        assert_eq!(automation_of("journal"), None);
        assert_eq!(automation_of("policy a/b"), None);
    }
}
