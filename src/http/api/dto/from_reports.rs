//! The `From` impls from the engine's reports to the wire shapes: field by field, so a change
//! on either side is a compile error here, not a silent change of the JSON.

use super::*;
use crate::engine::reports;

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
            pull_request: report.pull_request.map(PullRequestView::from),
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
            outcome: match (&promotion.pull_request, &promotion.commit) {
                (Some(_), _) => "proposed",
                (None, Some(_)) => "pushed",
                (None, None) => "up-to-date",
            }
            .to_owned(),
            pull_request: promotion.pull_request.map(|request| PullRequestView {
                branch: request.branch,
                number: request.number,
                url: request.url,
                state: request.action.as_str().to_owned(),
                head: promotion.commit.clone().unwrap_or_default(),
            }),
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
            reports::HistoryCause::Proposed => Self::Proposed,
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
            pull_request: deployed.pull_request.map(PullRequestView::from),
        }
    }
}

impl From<reports::PullRequestRef> for PullRequestView {
    fn from(request: reports::PullRequestRef) -> Self {
        Self {
            branch: request.branch,
            number: request.number,
            url: request.url,
            state: request.state.to_owned(),
            head: request.head,
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
            suspended_at: automation.suspended.and_then(|suspension| suspension.at),
        }
    }
}

/// The wire list of any engine report list.
pub fn all<R, V: From<R>>(reports: Vec<R>) -> Vec<V> {
    reports.into_iter().map(V::from).collect()
}
