//! The JSON shapes of the REST API's answers and requests (schemas in `openapi.yaml`): the
//! only place they are defined. The engine answers with its own typed reports
//! (`engine::reports`); `from_reports.rs` holds the one mapping from those to the wire.

mod from_reports;

pub use from_reports::all;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A policy with what it picks, what git holds and whether it is pinned.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PolicyView {
    pub namespace: String,
    pub name: String,
    /// `namespace/name` of the image repository the policy ranks.
    pub image_repository: String,
    /// The image, `host[:port]/path`.
    pub image: String,
    /// What the policy picks over the tags of the last scan (`null` before the first scan or
    /// when no tag qualifies).
    pub selected: Option<String>,
    /// Present while the policy is pinned: automation does not move it.
    pub pinned: Option<PinView>,
    /// Every marker of this policy in git, with the value it names now.
    pub in_git: Vec<GitValue>,
    /// Why git could not be read, if it could not (the other fields are still current).
    pub git_error: Option<String>,
    /// Unix seconds of the last scan attempt.
    pub last_scan: Option<i64>,
    pub last_error: Option<String>,
    pub tag_count: usize,
    /// Journal events for this repository not yet finished.
    pub pending_events: i64,
    /// Pull-request mode: the open request that proposes a value of this policy.
    pub pull_request: Option<PullRequestView>,
}

/// A pin or suspension: what, by whom (token name), when (unix seconds).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PinView {
    pub tag: String,
    pub by: String,
    pub at: i64,
}

/// One marker in git.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GitValue {
    pub automation: String,
    pub file: String,
    pub line: usize,
    pub setter: String,
    pub value: String,
}

/// `POST …/promote`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PromoteRequest {
    /// The tag to deploy; it must exist in the registry.
    #[schema(
        pattern = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$",
        example = "2-f62ba56a999ec99a7375fed529acf4b336691bdb"
    )]
    pub tag: String,
    /// Promote even when the tag does not pass the policy's filter.
    #[serde(default)]
    pub force: bool,
}

/// `POST …/rollback`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    /// The tag to go back to; default: the tag deployed before the current one.
    #[serde(default)]
    #[schema(pattern = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")]
    pub to: Option<String>,
    #[serde(default)]
    pub force: bool,
}

/// Where a manual promotion moved the policy, by the policy's own ordering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Forward,
    Backward,
    Same,
    Unknown,
}

/// One rewritten marker.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChangeView {
    pub automation: String,
    pub file: String,
    pub line: usize,
    pub setter: String,
    pub old: String,
    pub new: String,
}

/// The result of a promotion or rollback: committed and pushed before the answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PromoteResult {
    pub policy: String,
    pub tag: String,
    /// The manifest digest the registry reported for the tag.
    pub digest: String,
    /// The tag git named before.
    pub previous: Option<String>,
    pub direction: Direction,
    /// `pushed`, `proposed` (pull-request mode: `commit` is the request's head, the checkout
    /// branch is unchanged until it is merged) or `up-to-date` (git already named the tag).
    pub outcome: String,
    pub commit: Option<String>,
    pub changes: Vec<ChangeView>,
    pub pinned: bool,
    /// Pull-request mode: the request that proposes the tag.
    pub pull_request: Option<PullRequestView>,
}

/// The result of a pin, resume, suspend: recorded, and noted in git as an empty commit.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NoteResult {
    /// The policy or automation, `namespace/name`.
    pub target: String,
    /// The tag a pin holds.
    pub pinned: Option<String>,
    /// For automations: whether it is now suspended.
    pub suspended: Option<bool>,
    /// The empty commit recording the change.
    pub commit: Option<String>,
    /// After a resume: what automation did at once.
    pub decision: Option<String>,
}

/// Why a deployment happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HistoryCause {
    Webhook,
    Poll,
    Promote,
    Rollback,
    Resume,
    /// Proposed in a pull request that is not (yet) merged.
    Proposed,
    Other,
}

/// A pull request (merge request) pushdeploy opened, next to what it proposes.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PullRequestView {
    /// Its branch (AGit: topic).
    pub branch: String,
    /// The platform's number (GitLab: iid); absent when the platform opened it from push
    /// options without telling (AGit, GitLab push options).
    pub number: Option<u64>,
    /// Its web page, when known.
    pub url: Option<String>,
    /// `open`, `merged`, `closed` (by a person, unmerged: not reopened for its values) or
    /// `superseded`; in a promotion's answer: `opened`, `updated` or `unchanged`.
    pub state: String,
    /// The commit it proposes.
    pub head: String,
}

/// One deployed tag.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HistoryEntry {
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
    pub pull_request: Option<PullRequestView>,
}

/// The result of a scan.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ScanView {
    pub repository: String,
    pub tag_count: usize,
    pub policies: Vec<SelectedView>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SelectedView {
    pub policy: String,
    pub selected: Option<String>,
    /// Why nothing is selected, when nothing is.
    pub error: Option<String>,
}

/// An image update automation and whether it is suspended.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AutomationView {
    pub namespace: String,
    pub name: String,
    pub url: String,
    pub checkout_branch: String,
    pub push_branch: String,
    pub update_path: String,
    pub policies: Vec<String>,
    pub suspended: bool,
    pub suspended_by: Option<String>,
    pub suspended_at: Option<i64>,
}
