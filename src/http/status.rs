//! `GET /status`: the JSON shape of `engine::reports::Status` plus the journal backlog and
//! readiness. The engine reports typed values; this is the only place that names the keys.

use crate::engine::reports;
use crate::engine::routing::UnknownPush;
use crate::engine::writes::{WriteError, WriteStatus};
use crate::registry::RepositoryStatus;
use serde::Serialize;
use std::collections::BTreeMap;

/// The whole `/status` body. Without an engine (no engine in this process) only the journal
/// backlog and readiness are present.
#[derive(Debug, Serialize)]
pub struct StatusBody {
    #[serde(flatten)]
    engine: Option<EngineStatus>,
    journal_backlog: Option<i64>,
    ready: bool,
    /// Each alert sink: waiting alerts, last delivery, last error, held by the rate limit.
    alert_sinks: Vec<crate::alerts::SinkReport>,
}

impl StatusBody {
    pub fn new(
        engine: Option<reports::Status>,
        journal_backlog: Option<i64>,
        ready: bool,
        alert_sinks: Vec<crate::alerts::SinkReport>,
    ) -> Self {
        Self {
            engine: engine.map(EngineStatus::from),
            journal_backlog,
            ready,
            alert_sinks,
        }
    }
}

#[derive(Debug, Serialize)]
struct EngineStatus {
    policies: BTreeMap<String, PolicyStatus>,
    repositories: BTreeMap<String, Repository>,
    /// RFC 3339.
    registry_certificates_not_after: BTreeMap<String, String>,
    scans_decided: u64,
    unmatched: Unmatched,
    automations: BTreeMap<String, Writes>,
    suspended: Suspended,
    ownership: Ownership,
    /// Pull-request mode: each request branch's last known state (open, merged, closed by a
    /// person and not reopened for its values, superseded).
    pull_requests: Vec<PullRequest>,
}

#[derive(Debug, Serialize)]
struct PullRequest {
    automation: String,
    branch: String,
    state: &'static str,
    number: Option<u64>,
    url: Option<String>,
    head: String,
    proposed: Vec<String>,
    note: Option<String>,
    updated_at: String,
}

impl From<crate::engine::reports::ProposalView> for PullRequest {
    fn from(view: crate::engine::reports::ProposalView) -> Self {
        Self {
            automation: view.automation.to_string(),
            branch: view.branch,
            state: view.state,
            number: view.number,
            url: view.url,
            head: view.head,
            proposed: view.proposed,
            note: view.note,
            updated_at: view.updated_at,
        }
    }
}

/// `ownership`: this replica, whether replicas share the work (a PostgreSQL journal), and the
/// shards it owns (`git <remote> <branch>` / `repository <key>`) out of how many.
#[derive(Debug, Serialize)]
struct Ownership {
    replica: String,
    shared: bool,
    owned: Vec<String>,
    /// `<remote> <branch>` of each owned writer, and the owned image repositories.
    writers: Vec<String>,
    repositories: Vec<String>,
    shards: usize,
}

/// `suspended`: automation → `api` or `manifest`; suspended image repositories.
#[derive(Debug, Serialize)]
struct Suspended {
    automations: BTreeMap<String, &'static str>,
    image_repositories: Vec<String>,
}

impl From<reports::Suspensions> for Suspended {
    fn from(suspensions: reports::Suspensions) -> Self {
        let by = |by: reports::SuspendedBy| match by {
            reports::SuspendedBy::Api => "api",
            reports::SuspendedBy::Manifest => "manifest",
        };
        Self {
            automations: suspensions
                .automations
                .into_iter()
                .map(|(key, suspended_by)| (key.to_string(), by(suspended_by)))
                .collect(),
            image_repositories: suspensions
                .image_repositories
                .iter()
                .map(ToString::to_string)
                .collect(),
        }
    }
}

#[derive(Debug, Serialize)]
struct PolicyStatus {
    selected: Option<String>,
    deployed: Option<String>,
    pinned: Option<String>,
}

#[derive(Debug, Serialize)]
struct Repository {
    last_scan: Option<i64>,
    last_success: Option<i64>,
    tag_count: usize,
    last_error: Option<String>,
    consecutive_failures: u32,
}

#[derive(Debug, Serialize)]
struct Unmatched {
    pushes: Vec<Push>,
    unlisted: u64,
}

#[derive(Debug, Serialize)]
struct Push {
    host: String,
    repository: String,
    count: u64,
    first_seen: i64,
    last_seen: i64,
    last_tag: Option<String>,
    reason: String,
}

#[derive(Debug, Serialize)]
struct Writes {
    last_success: Option<String>,
    last_error: Option<Failure>,
}

#[derive(Debug, Serialize)]
struct Failure {
    reason: String,
    at: String,
    retried: bool,
}

fn by_text<K: ToString, V, W: From<V>>(map: BTreeMap<K, V>) -> BTreeMap<String, W> {
    map.into_iter()
        .map(|(key, value)| (key.to_string(), W::from(value)))
        .collect()
}

impl From<reports::Status> for EngineStatus {
    fn from(status: reports::Status) -> Self {
        Self {
            policies: by_text(status.policies),
            repositories: by_text(status.repositories),
            registry_certificates_not_after: status
                .registry_certificates_not_after
                .into_iter()
                .map(|(host, at)| (host, crate::clock::format_time(at)))
                .collect(),
            scans_decided: status.scans_decided,
            unmatched: Unmatched {
                pushes: status.unmatched.pushes.into_iter().map(Push::from).collect(),
                unlisted: status.unmatched.unlisted,
            },
            automations: by_text(status.automations),
            suspended: Suspended::from(status.suspended),
            ownership: Ownership {
                replica: status.ownership.replica,
                shared: status.ownership.shared,
                owned: status.ownership.owned,
                writers: status.ownership.writers,
                repositories: status
                    .ownership
                    .repositories
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
                shards: status.ownership.total,
            },
            pull_requests: status.pull_requests.into_iter().map(PullRequest::from).collect(),
        }
    }
}

impl From<reports::PolicyStatus> for PolicyStatus {
    fn from(status: reports::PolicyStatus) -> Self {
        Self {
            selected: status.selected,
            deployed: status.deployed,
            pinned: status.pinned,
        }
    }
}

impl From<RepositoryStatus> for Repository {
    fn from(status: RepositoryStatus) -> Self {
        Self {
            last_scan: status.last_scan,
            last_success: status.last_success,
            tag_count: status.tag_count,
            last_error: status.last_error,
            consecutive_failures: status.consecutive_failures,
        }
    }
}

impl From<UnknownPush> for Push {
    fn from(push: UnknownPush) -> Self {
        Self {
            host: push.host,
            repository: push.repository,
            count: push.count,
            first_seen: push.first_seen,
            last_seen: push.last_seen,
            last_tag: push.last_tag,
            reason: push.reason,
        }
    }
}

impl From<WriteStatus> for Writes {
    fn from(status: WriteStatus) -> Self {
        Self {
            last_success: status.last_success,
            last_error: status
                .last_error
                .map(|WriteError { reason, at, retried }| Failure { reason, at, retried }),
        }
    }
}
