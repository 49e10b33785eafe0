//! The JSON shapes of the REST API's answers and requests (schemas in `openapi.yaml`): the
//! only place they are defined. The engine answers with its own typed reports
//! (`engine::reports`); the `From` impls below are the one mapping from those to the wire.

use crate::engine::reports;
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
    /// `pushed` or `up-to-date` (git already named the tag).
    pub outcome: String,
    pub commit: Option<String>,
    pub changes: Vec<ChangeView>,
    pub pinned: bool,
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
    Other,
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

fn display_all<T: std::fmt::Display>(items: &[T]) -> Vec<String> {
    items.iter().map(ToString::to_string).collect()
}

impl From<reports::PolicyReport> for PolicyView {
    fn from(report: reports::PolicyReport) -> Self {
        Self {
            namespace: report.key.namespace().to_owned(),
            name: report.key.name().to_owned(),
            image_repository: report.repository.to_string(),
            image: report.image.map(|image| image.to_string()).unwrap_or_default(),
            selected: report.selected,
            pinned: report.pinned.map(|pin| PinView {
                tag: pin.tag.to_string(),
                by: pin.by,
                at: pin.at,
            }),
            in_git: report.in_git.into_iter().map(GitValue::from).collect(),
            git_error: report.git_error,
            last_scan: report.last_scan,
            last_error: report.last_error,
            tag_count: report.tag_count,
            pending_events: report.pending_events,
        }
    }
}

impl From<reports::MarkerValue> for GitValue {
    fn from(marker: reports::MarkerValue) -> Self {
        Self {
            automation: marker.automation.to_string(),
            file: marker.file.display().to_string(),
            line: marker.line,
            setter: marker.setter,
            value: marker.value,
        }
    }
}

impl From<reports::Direction> for Direction {
    fn from(direction: reports::Direction) -> Self {
        match direction {
            reports::Direction::Forward => Self::Forward,
            reports::Direction::Backward => Self::Backward,
            reports::Direction::Same => Self::Same,
            reports::Direction::Unknown => Self::Unknown,
        }
    }
}

impl From<reports::MarkerChange> for ChangeView {
    fn from(change: reports::MarkerChange) -> Self {
        Self {
            automation: change.automation.to_string(),
            file: change.file.display().to_string(),
            line: change.line,
            setter: change.setter,
            old: change.old,
            new: change.new,
        }
    }
}

impl From<reports::Promotion> for PromoteResult {
    fn from(promotion: reports::Promotion) -> Self {
        Self {
            policy: promotion.policy.to_string(),
            tag: promotion.tag.to_string(),
            // Quickstart's trust mode asks no registry: the field stays a string, empty.
            digest: promotion
                .digest
                .map(|digest| digest.to_string())
                .unwrap_or_default(),
            previous: promotion.previous,
            direction: promotion.direction.into(),
            outcome: if promotion.commit.is_some() {
                "pushed"
            } else {
                "up-to-date"
            }
            .to_owned(),
            commit: promotion.commit,
            changes: promotion.changes.into_iter().map(ChangeView::from).collect(),
            pinned: promotion.pinned,
        }
    }
}

impl From<reports::Note> for NoteResult {
    fn from(note: reports::Note) -> Self {
        Self {
            target: note.target.to_string(),
            pinned: note.pinned.map(|tag| tag.to_string()),
            suspended: note.suspended,
            commit: note.commit,
            decision: note.decision,
        }
    }
}

impl From<reports::HistoryCause> for HistoryCause {
    fn from(cause: reports::HistoryCause) -> Self {
        match cause {
            reports::HistoryCause::Webhook => Self::Webhook,
            reports::HistoryCause::Poll => Self::Poll,
            reports::HistoryCause::Promote => Self::Promote,
            reports::HistoryCause::Rollback => Self::Rollback,
            reports::HistoryCause::Resume => Self::Resume,
            reports::HistoryCause::Other => Self::Other,
        }
    }
}

impl From<reports::Deployed> for HistoryEntry {
    fn from(deployed: reports::Deployed) -> Self {
        Self {
            tag: deployed.tag,
            commit: deployed.commit,
            author: deployed.author,
            at: deployed.at,
            kind: deployed.kind.into(),
            cause: deployed.cause,
            in_git: deployed.in_git,
        }
    }
}

impl From<reports::ScanReport> for ScanView {
    fn from(scan: reports::ScanReport) -> Self {
        Self {
            repository: scan.repository.to_string(),
            tag_count: scan.tag_count,
            policies: scan
                .policies
                .into_iter()
                .map(|selection| SelectedView {
                    policy: selection.policy.to_string(),
                    selected: selection.selected,
                    error: selection.error,
                })
                .collect(),
        }
    }
}

impl From<reports::AutomationReport> for AutomationView {
    fn from(automation: reports::AutomationReport) -> Self {
        Self {
            namespace: automation.key.namespace().to_owned(),
            name: automation.key.name().to_owned(),
            url: automation.url,
            checkout_branch: automation.checkout_branch,
            push_branch: automation.push_branch,
            update_path: automation.update_path,
            policies: display_all(&automation.policies),
            suspended: automation.suspended.is_some(),
            suspended_by: automation
                .suspended
                .as_ref()
                .map(|suspension| suspension.by.clone()),
            suspended_at: automation.suspended.map(|suspension| suspension.at),
        }
    }
}

/// The wire list of any engine report list.
pub fn all<R, V: From<R>>(reports: Vec<R>) -> Vec<V> {
    reports.into_iter().map(V::from).collect()
}
