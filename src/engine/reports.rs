//! What the engine answers the REST API and `/status` with: plain values, typed where the
//! value is one (`ObjectKey`, `Tag`, `Digest`). No wire format lives here: `http/api/dto.rs`
//! (and `http/status.rs`) map these to their JSON shapes and schemas.

use crate::domain::{Digest, ImageRef, ObjectKey, Tag};
use crate::engine::routing::UnmatchedStatus;
use crate::engine::writes::WriteStatus;
use crate::registry::RepositoryStatus;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A policy with what it picks, what git holds and whether it is pinned.
#[derive(Debug, Clone)]
pub struct PolicyReport {
    pub key: ObjectKey,
    /// The image repository the policy ranks.
    pub repository: ObjectKey,
    /// `None` only if the repository is not configured (the loader refuses that).
    pub image: Option<ImageRef>,
    /// What the policy picks over the known tags, as the registry listed it.
    pub selected: Option<String>,
    pub pinned: Option<PinReport>,
    /// Every marker of this policy in git, with the value it names now.
    pub in_git: Vec<MarkerValue>,
    /// Why git could not be read, per automation, joined (the other fields are still current).
    pub git_error: Option<String>,
    pub last_scan: Option<i64>,
    pub last_error: Option<String>,
    pub tag_count: usize,
    /// Journal events for this repository not yet finished.
    pub pending_events: i64,
    /// Pull-request mode: the open request that proposes a value of this policy.
    pub pull_request: Option<PullRequestRef>,
}

/// A pull request next to the deployment it proposes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequestRef {
    pub branch: String,
    pub number: Option<u64>,
    pub url: Option<String>,
    /// `open`, `merged`, `closed`, `superseded`.
    pub state: &'static str,
    /// The commit it proposes.
    pub head: String,
}

impl PullRequestRef {
    pub fn of(proposal: &crate::journal::Proposal) -> Self {
        Self {
            branch: proposal.branch.clone(),
            number: proposal.number.and_then(|n| u64::try_from(n).ok()),
            url: proposal.url.clone(),
            state: proposal.state.as_str(),
            head: proposal.head.clone(),
        }
    }
}

/// A pin: the tag, by whom (token name), when (unix seconds).
#[derive(Debug, Clone)]
pub struct PinReport {
    pub tag: Tag,
    pub by: String,
    pub at: i64,
}

/// One marker in git and the value it names (as written in the file).
#[derive(Debug, Clone)]
pub struct MarkerValue {
    pub automation: ObjectKey,
    pub file: PathBuf,
    pub line: usize,
    pub setter: String,
    pub value: String,
}

/// Where a manual promotion moved the policy, by the policy's own ordering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Forward,
    Backward,
    Same,
    Unknown,
}

/// One rewritten marker.
#[derive(Debug, Clone)]
pub struct MarkerChange {
    pub automation: ObjectKey,
    pub file: PathBuf,
    pub line: usize,
    pub setter: String,
    pub old: String,
    pub new: String,
}

/// A promotion or rollback: committed and pushed before it is reported.
#[derive(Debug, Clone)]
pub struct Promotion {
    pub policy: ObjectKey,
    pub tag: Tag,
    /// The manifest digest the registry reported (`None` in quickstart's trust mode, where no
    /// registry is asked).
    pub digest: Option<Digest>,
    /// The value git named before, as written in the file.
    pub previous: Option<String>,
    pub direction: Direction,
    /// The commit pushed; `None` when git already named the tag.
    pub commit: Option<String>,
    pub changes: Vec<MarkerChange>,
    pub pinned: bool,
    /// Pull-request mode: the request that proposes the tag (`commit` is its head; the
    /// checkout branch is unchanged until it is merged).
    pub pull_request: Option<crate::gitops::Request>,
}

/// A pin, resume or suspend: recorded, and noted in git as an empty commit.
#[derive(Debug, Clone)]
pub struct Note {
    /// The policy or automation.
    pub target: ObjectKey,
    /// The tag a pin holds.
    pub pinned: Option<Tag>,
    /// For automations: whether it is now suspended.
    pub suspended: Option<bool>,
    /// The empty commit recording the change.
    pub commit: Option<String>,
    /// After a resume: what automation did at once.
    pub decision: Option<String>,
}

/// Why a deployment happened, from the first word of its recorded cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryCause {
    Webhook,
    Poll,
    Promote,
    Rollback,
    Resume,
    /// Pull-request mode: proposed in a request, not (yet) in the checkout branch.
    Proposed,
    Other,
}

impl HistoryCause {
    /// The kind of a recorded cause such as `webhook (registry)` or `promote by ops`.
    pub fn of(cause: &str) -> Self {
        match cause.split([' ', '(']).next().unwrap_or_default() {
            "webhook" => Self::Webhook,
            "poll" => Self::Poll,
            "promote" => Self::Promote,
            "rollback" => Self::Rollback,
            "resume" => Self::Resume,
            _ => Self::Other,
        }
    }
}

/// One deployed tag.
#[derive(Debug, Clone)]
pub struct Deployed {
    /// As the commit trailer (or the journal) names it.
    pub tag: String,
    pub commit: String,
    pub author: String,
    /// Unix seconds.
    pub at: i64,
    pub kind: HistoryCause,
    /// The recorded cause, e.g. `webhook (registry)`, `poll`, `promote by ops`.
    pub cause: String,
    /// False when the commit is known to the journal but no longer on the branch.
    pub in_git: bool,
    /// Pull-request mode: the request that proposed this commit.
    pub pull_request: Option<PullRequestRef>,
}

/// The result of a scan.
#[derive(Debug, Clone)]
pub struct ScanReport {
    pub repository: ObjectKey,
    pub tag_count: usize,
    pub policies: Vec<Selection>,
}

/// What one policy picks after a scan, or why nothing.
#[derive(Debug, Clone)]
pub struct Selection {
    pub policy: ObjectKey,
    pub selected: Option<String>,
    pub error: Option<String>,
}

/// An image update automation and whether it is suspended.
#[derive(Debug, Clone)]
pub struct AutomationReport {
    pub key: ObjectKey,
    /// The remote, with any userinfo redacted.
    pub url: String,
    pub checkout_branch: String,
    pub push_branch: String,
    pub update_path: String,
    pub policies: Vec<ObjectKey>,
    pub suspended: Option<SuspensionReport>,
}

/// Who suspended an automation (token name) and when (unix seconds).
#[derive(Debug, Clone)]
pub struct SuspensionReport {
    pub by: String,
    /// Unix seconds of an API suspension (`None` for a manifest's).
    pub at: Option<i64>,
}

/// What `/status` shows of the engine.
#[derive(Debug, Clone)]
pub struct Status {
    pub policies: BTreeMap<ObjectKey, PolicyStatus>,
    pub repositories: BTreeMap<ObjectKey, RepositoryStatus>,
    /// Per registry host: the notAfter (unix seconds) of the certificate it served last.
    pub registry_certificates_not_after: BTreeMap<String, i64>,
    /// Scan results fully decided (and written) so far.
    pub scans_decided: u64,
    pub unmatched: UnmatchedStatus,
    /// The last write result per automation that wrote at least once.
    pub automations: BTreeMap<ObjectKey, WriteStatus>,
    pub suspended: Suspensions,
    /// This replica's name and what it owns.
    pub ownership: crate::ownership::OwnershipReport,
    /// Pull-request mode: the last known state of each request branch.
    pub pull_requests: Vec<ProposalView>,
}

/// What is suspended now, and by what.
#[derive(Debug, Clone, Default)]
pub struct Suspensions {
    pub automations: BTreeMap<ObjectKey, SuspendedBy>,
    /// Image repositories whose manifest says `suspend: true` (not scanned, pushes ignored).
    pub image_repositories: Vec<ObjectKey>,
}

/// Who suspended an automation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuspendedBy {
    /// The API: automatic updates are held, promotions still write.
    Api,
    /// Its manifest (`spec.suspend: true`): nothing is written.
    Manifest,
}

/// One policy in `/status`.
#[derive(Debug, Clone)]
pub struct PolicyStatus {
    pub selected: Option<String>,
    /// The tag last pushed (as the writer's overrides and deployments hold it).
    pub deployed: Option<String>,
    pub pinned: Option<String>,
}

/// What the console shows of one policy: its report, why nothing is selected (when nothing
/// is), its deployments newest first, and the tags a person may promote to.
#[derive(Debug, Clone)]
pub struct PolicyOverview {
    pub report: PolicyReport,
    /// The policy's own refusal of the tag list, e.g. no tag matches its filter.
    pub select_error: Option<String>,
    pub history: Vec<Deployed>,
    /// The tags the policy accepts, newest first by its own ordering (at most the asked number).
    pub candidates: Vec<String>,
    /// The tag a rollback without `to` would go back to.
    pub rollback_to: Option<String>,
    /// Per automation of the policy: each unusable marker in its update path (`file:line: why`).
    pub marker_warnings: Vec<(ObjectKey, String)>,
}

/// A push this engine made: what for, where, which commit.
#[derive(Debug, Clone)]
pub struct Pushed {
    pub automation: String,
    /// The remote, credentials redacted.
    pub remote: String,
    pub policy: String,
    pub tag: String,
    pub commit: String,
    pub cause: String,
}

/// What `/status` and the console show of one request branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposalView {
    pub automation: ObjectKey,
    pub branch: String,
    pub state: &'static str,
    pub number: Option<u64>,
    pub url: Option<String>,
    pub head: String,
    /// `POLICY=TAG` of each proposed value.
    pub proposed: Vec<String>,
    /// Why it is in its state, e.g. who closed it and that it is not reopened.
    pub note: Option<String>,
    /// RFC 3339.
    pub updated_at: String,
}

impl ProposalView {
    pub fn from_journal(proposal: &crate::journal::Proposal) -> Self {
        Self {
            automation: proposal.automation.clone(),
            branch: proposal.branch.clone(),
            state: proposal.state.as_str(),
            number: proposal.number.and_then(|n| u64::try_from(n).ok()),
            url: proposal.url.clone(),
            head: proposal.head.clone(),
            proposed: proposal
                .proposed
                .iter()
                .map(|(policy, value)| format!("{policy}={}", value.tag))
                .collect(),
            note: proposal.note.clone(),
            updated_at: crate::clock::format_time(proposal.updated_at),
        }
    }
}
