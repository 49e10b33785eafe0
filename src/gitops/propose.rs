//! Pull-request mode's mechanics: build the proposal on the checkout branch's tip (never
//! writing that branch) — the values still open on the request plus this trigger's admitted
//! intents — commit it, and push it: our own pull request branch replaced with
//! force-with-lease (the remote must still hold the commit we last proposed), or AGit's
//! `refs/for/<checkout>` with its push options. What to propose is the engine's decision; what
//! the platform's API is told is the engine's too. Blocking (git2).

use super::workspace::Workspace;
use super::{Gate, GitopsError, Intent, Outcome, WriteFailure, message};
use crate::config::{Automation, PullRequestMode, Transport};
use crate::domain::ObjectKey;
use crate::setter::{self, Change, Mode, Values};
use crate::trailer::Trailer;

/// What the engine asks a writer to propose.
#[derive(Debug, Clone)]
pub struct ProposalJob {
    /// The pull request branch (AGit: its topic).
    pub branch: String,
    /// This trigger's intents (all of one automation).
    pub intents: Vec<Intent>,
    /// The values the open request proposes already, kept unless an intent replaces them.
    pub carried: Values,
    /// The commit last proposed on the branch (the lease), when a request is open.
    pub lease: Option<String>,
}

/// A proposal commit that was pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposalPush {
    pub commit: String,
    /// The checkout branch commit it was built on.
    pub base: String,
    /// Every value it proposes (carried and new), by policy.
    pub values: Values,
    pub changes: Vec<Change>,
    pub title: String,
    pub body: String,
}

/// What became of a proposal job.
#[derive(Debug, Clone)]
pub struct Proposed {
    /// Per intent, in order: `Skipped`/`Failed` when held or refused, `UpToDate` when the
    /// checkout branch has the value already, otherwise `UpToDate` too (the push says more).
    pub outcomes: Vec<Outcome>,
    /// The pushed proposal; `None` when there was nothing to propose.
    pub push: Option<ProposalPush>,
    /// The checkout branch already has every value that was asked and carried: the open
    /// request (if any) is merged or obsolete.
    pub in_checkout: bool,
    /// The checkout branch already has every value the open request proposed (it was merged,
    /// or made by hand): this proposal starts a new request instead of amending that one.
    pub carried_merged: bool,
}

impl Proposed {
    /// Every intent failed with `error`.
    pub fn failed(intents: usize, error: &GitopsError) -> Self {
        Self {
            outcomes: (0..intents)
                .map(|_| Outcome::Failed {
                    error: WriteFailure::Cycle(error.clone()),
                    retry: error.is_transient(),
                })
                .collect(),
            push: None,
            in_checkout: false,
            carried_merged: false,
        }
    }
}

/// Build and push the proposal of `job` for `automation` (in pull-request mode `mode`).
pub fn propose(
    workspace: &mut Workspace,
    automation: &Automation,
    mode: &PullRequestMode,
    job: &ProposalJob,
    gate: &dyn Gate,
) -> Result<Proposed, GitopsError> {
    let checkout = automation.checkout_branch.as_str();
    let tips = match &mode.transport {
        Transport::AGit => workspace.fetch(&[checkout])?,
        _ => workspace.fetch(&[checkout, job.branch.as_str()])?,
    };
    let Some(base) = tips.first().copied().flatten() else {
        return Err(GitopsError::NoSuchBranch {
            url: workspace.url.clone(),
            branch: checkout.to_owned(),
        });
    };
    let remote_tip = tips.get(1).copied().flatten();
    workspace.reset(base)?;
    let root = workspace.workdir().to_path_buf();
    let update_path = automation.update_path.as_str();
    let marked = workspace.marked_files(update_path)?;
    let sites = setter::scan_files(&root, update_path, marked.clone())
        .map_err(|error| GitopsError::UpdatePath(error.to_string()))?;
    let mut outcomes: Vec<Option<Outcome>> = gate
        .admit(&job.intents, &sites)
        .into_iter()
        .map(|held| held.map(|reason| Outcome::Skipped { reason }))
        .collect();
    // Is what the open request proposed in the checkout branch already? Then it was merged
    // (an API would say so; AGit and push options cannot): nothing of it is carried, and the
    // push starts a new request rather than amending the merged one.
    let carried_merged = !job.carried.is_empty()
        && setter::apply_files(&root, update_path, marked.clone(), &job.carried, Mode::DryRun)
            .map_err(|error| GitopsError::UpdatePath(error.to_string()))?
            .changes
            .is_empty();
    let job = &if carried_merged {
        ProposalJob {
            carried: Values::new(),
            lease: None,
            ..job.clone()
        }
    } else {
        job.clone()
    };
    let mut values = job.carried.clone();
    for (intent, outcome) in job.intents.iter().zip(&outcomes) {
        if outcome.is_none() {
            values.insert(intent.policy().clone(), intent.value().clone());
        }
    }
    workspace.mark_dirty();
    let applied = setter::apply_files(&root, update_path, marked, &values, Mode::Write)
        .map_err(|error| GitopsError::UpdatePath(error.to_string()))?;
    for (intent, outcome) in job.intents.iter().zip(outcomes.iter_mut()) {
        if outcome.is_none()
            && let Some(refusal) = applied.refused.iter().find(|r| &r.policy == intent.policy())
        {
            *outcome = Some(Outcome::Failed {
                error: WriteFailure::Refused(refusal.clone()),
                retry: false,
            });
        }
    }
    let outcomes: Vec<Outcome> = outcomes
        .into_iter()
        .map(|outcome| outcome.unwrap_or(Outcome::UpToDate))
        .collect();
    if applied.changes.is_empty() {
        return Ok(Proposed {
            outcomes,
            push: None,
            in_checkout: true,
            carried_merged,
        });
    }
    // Only what still differs from the checkout branch is proposed.
    values.retain(|policy, _| applied.changes.iter().any(|change| &change.policy == policy));
    let trailers = trailers(&job.intents, &values);
    let text = message::render(automation, &applied.changes, &trailers)?;
    let (title, body) = message::proposal_text(automation, mode, &applied.changes, &values, &text)?;
    let mut files: Vec<_> = applied.changes.iter().map(|change| change.file.clone()).collect();
    files.dedup();
    let signer = automation.signing_key.as_ref().map(|key| &*key.signer);
    let commit = workspace.commit(base, &files, &automation.author, signer, &text)?;
    let pushed = super::proposal_push::push(
        workspace, automation, mode, job, commit, remote_tip, &title, &body,
    );
    workspace.settle_index();
    pushed.map_err(|error| super::cycle::refine_push_error(workspace, error))?;
    Ok(Proposed {
        outcomes,
        push: Some(ProposalPush {
            commit: commit.to_string(),
            base: base.to_string(),
            values,
            changes: applied.changes,
            title,
            body,
        }),
        in_checkout: false,
        carried_merged,
    })
}

/// The cause of each intent and what the proposal deploys once merged (the same
/// `Pushdeploy-Deployed` trailers a direct write carries, so history reads it after a merge).
fn trailers(intents: &[Intent], values: &Values) -> Vec<String> {
    let mut lines: Vec<String> = intents
        .iter()
        .filter(|intent| values.contains_key(intent.policy()))
        .map(|intent| Trailer::Cause(intent.cause().to_owned()).to_string())
        .collect();
    lines.sort();
    lines.dedup();
    for (policy, value) in values {
        let (policy, tag) = (policy.to_string(), value.tag.to_string());
        lines.push(Trailer::Deployed { policy, tag }.to_string());
    }
    lines
}

/// The branch of `mode` for `automation` and, when the name is per policy, `policy`.
pub fn branch_of(
    mode: &PullRequestMode,
    automation: &ObjectKey,
    policy: &ObjectKey,
) -> Result<String, GitopsError> {
    let policy = mode.branch.per_policy.then_some(policy);
    mode.branch.render(automation, policy).map_err(|why| {
        GitopsError::Template(format!(
            "git.push.pullRequest.branch {:?} {why} ({})",
            mode.branch.text, mode.origin
        ))
    })
}
