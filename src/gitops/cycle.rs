//! One write cycle for one automation: fetch + reset, the engine's admission (`Gate`), apply setters,
//! commit, push; on a rejected push, fetch and re-apply the same intent on the new head, with
//! bounded, jittered retries. Blocking (git2): runs inside `spawn_blocking`.

use super::targets::Targets;
use super::workspace::Workspace;
use super::{Gate, GitopsError, Intent, Outcome, WriteFailure, message};
use crate::config::Automation;
use crate::setter::{self, Mode, Site, Values};
use crate::trailer::Trailer;
use std::time::{Duration, Instant};

const MAX_ATTEMPTS: u32 = 8;

/// Fetch the branches and return the commit to build on: the push branch if it already exists
/// (review flows accumulate there, never force-pushed), otherwise the checkout branch.
fn sync(workspace: &mut Workspace, automation: &Automation) -> Result<git2::Oid, GitopsError> {
    let (checkout, push) = (
        automation.checkout_branch.as_str(),
        automation.push_branch.as_str(),
    );
    let branches: Vec<&str> = if checkout == push {
        vec![checkout]
    } else {
        vec![checkout, push]
    };
    let started = Instant::now();
    let tips = workspace.fetch(&branches)?;
    let fetched = Instant::now();
    let base = match (tips.first().copied().flatten(), tips.get(1).copied().flatten()) {
        (_, Some(push_tip)) => push_tip,
        (Some(checkout_tip), None) => checkout_tip,
        (None, _) => {
            return Err(GitopsError::NoSuchBranch {
                url: workspace.url.clone(),
                branch: checkout.to_owned(),
            });
        }
    };
    workspace.reset(base)?;
    tracing::debug!(
        target: "pushdeploy::timing",
        fetch_us = micros(fetched - started),
        reset_us = micros(fetched.elapsed()),
        "working copy synced"
    );
    Ok(base)
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

fn backoff(attempt: u32) -> Duration {
    let base = 20u64 << attempt.min(6);
    Duration::from_millis(base + rand::random_range(0..=base))
}

/// What a cycle says about its remote, for readiness: reached and written (or nothing to
/// write), failed there (unreachable, auth, host key, missing branch, …), or nothing learnt
/// (the cause was local: template, update path; or a contended branch).
pub type RemoteVerdict = Option<Result<(), String>>;

/// The remote's share of `error`, for readiness.
pub fn remote_verdict(error: &GitopsError) -> RemoteVerdict {
    match error {
        GitopsError::Template(_) | GitopsError::UpdatePath(_) | GitopsError::NonFastForward { .. } => None,
        other => Some(Err(other.to_string())),
    }
}

/// Run one cycle for `intents` (all of `automation`); one outcome per intent, in order, and
/// what the cycle learnt about the remote.
#[tracing::instrument(name = "cycle", skip_all, fields(automation = %automation.key, intents = intents.len(), policies = ?intents.iter().map(|i| i.policy().to_string()).collect::<Vec<_>>()))]
pub fn run(
    workspace: &mut Workspace,
    automation: &Automation,
    intents: &[Intent],
    gate: &dyn Gate,
) -> (Vec<Outcome>, RemoteVerdict) {
    crate::failpoint::hit("cycle.start");
    // The last rejected push, once every attempt met one (`MAX_ATTEMPTS` is at least 1).
    let mut attempt = 0;
    let last = loop {
        match attempt_once(workspace, automation, intents, gate) {
            Ok(outcomes) => return (outcomes, Some(Ok(()))),
            Err(GitopsError::NonFastForward { branch }) => {
                tracing::info!(automation = %automation.key, attempt, "push rejected (the remote moved); re-applying on the new head");
                metrics::counter!("pushdeploy_push_retries_total").increment(1);
                std::thread::sleep(backoff(attempt));
                attempt += 1;
                if attempt >= MAX_ATTEMPTS {
                    break GitopsError::NonFastForward { branch };
                }
            }
            Err(error) => {
                metrics::counter!("pushdeploy_pushes_total", "result" => "failed").increment(1);
                let outcomes = intents
                    .iter()
                    .map(|_| Outcome::Failed {
                        error: WriteFailure::Cycle(error.clone()),
                        retry: error.is_transient(),
                    })
                    .collect();
                return (outcomes, remote_verdict(&error));
            }
        }
    };
    let error = WriteFailure::GaveUp {
        last,
        attempts: MAX_ATTEMPTS,
    };
    let outcomes = intents
        .iter()
        .map(|_| Outcome::Failed {
            error: error.clone(),
            retry: true,
        })
        .collect();
    (outcomes, None)
}

fn attempt_once(
    workspace: &mut Workspace,
    automation: &Automation,
    intents: &[Intent],
    gate: &dyn Gate,
) -> Result<Vec<Outcome>, GitopsError> {
    let base = sync(workspace, automation)?;
    let root = workspace.workdir().to_path_buf();
    let update_path = automation.update_path.as_str();
    let scanning = Instant::now();
    let marked = workspace.marked_files(update_path)?;
    let sites = setter::scan_files(&root, update_path, marked.clone())
        .map_err(|error| GitopsError::UpdatePath(error.to_string()))?;
    // What may be written is the engine's decision (gitops::Gate), over the tree as synced now.
    let mut outcomes: Vec<Option<Outcome>> = gate
        .admit(intents, &sites)
        .into_iter()
        .map(|held| held.map(|reason| Outcome::Skipped { reason }))
        .collect();
    let values: Values = intents
        .iter()
        .zip(&outcomes)
        .filter(|(_, outcome)| outcome.is_none())
        .map(|(intent, _)| (intent.policy().clone(), intent.value().clone()))
        .collect();
    let applying = Instant::now();
    workspace.mark_dirty();
    let applied = setter::apply_files(&root, update_path, marked, &values, Mode::Write)
        .map_err(|error| GitopsError::UpdatePath(error.to_string()))?;
    let applied_at = Instant::now();
    for warning in &applied.warnings {
        tracing::warn!(automation = %automation.key, "{warning}");
    }
    // A refused setter site is a permanent error on its policy's intents (until the file changes),
    // even when other files for that policy were written.
    for (intent, outcome) in intents.iter().zip(outcomes.iter_mut()) {
        if outcome.is_none()
            && let Some(refusal) = applied
                .refused
                .iter()
                .find(|refusal| &refusal.policy == intent.policy())
        {
            tracing::error!(automation = %automation.key, "{refusal}");
            *outcome = Some(Outcome::Failed {
                error: WriteFailure::Refused(refusal.clone()),
                retry: false,
            });
        }
    }
    if applied.changes.is_empty() {
        return Ok(outcomes
            .into_iter()
            .map(|outcome| outcome.unwrap_or(Outcome::UpToDate))
            .collect());
    }
    let trailers = trailers(intents, &outcomes, &applied.changes);
    let text = message::render(automation, &applied.changes, &trailers)?;
    let mut files: Vec<_> = applied.changes.iter().map(|change| change.file.clone()).collect();
    files.dedup();
    let commit = workspace.commit(base, &files, &automation.author, signer(automation), &text)?;
    let committed = Instant::now();
    crate::failpoint::hit("cycle.before_push");
    let targets = match Targets::for_write(automation, commit, |branch| workspace.tracking(branch)) {
        Ok(targets) => targets,
        Err(error) => {
            workspace.settle_index();
            return Err(error);
        }
    };
    let pushed = workspace.push(commit, &targets);
    let pushed_at = Instant::now();
    // The index is written after the outcomes are answered (`Writer::settle`), pushed or not.
    if let Err(error) = pushed {
        return Err(refine_push_error(workspace, error));
    }
    tracing::debug!(
        target: "pushdeploy::timing",
        scan_us = micros(applying - scanning),
        apply_us = micros(applied_at - applying),
        commit_us = micros(committed - applied_at),
        push_us = micros(pushed_at - committed),
        "cycle stages"
    );
    tracing::info!(automation = %automation.key, %commit, changes = applied.changes.len(), "pushed");
    metrics::counter!("pushdeploy_pushes_total", "result" => "pushed").increment(1);
    for (intent, outcome) in intents.iter().zip(outcomes.iter_mut()) {
        if outcome.is_none() {
            let changes: Vec<_> = applied
                .changes
                .iter()
                .filter(|change| &change.policy == intent.policy())
                .cloned()
                .collect();
            *outcome = Some(if changes.is_empty() {
                Outcome::UpToDate
            } else {
                Outcome::Pushed {
                    commit: commit.to_string(),
                    changes,
                }
            });
        }
    }
    Ok(outcomes
        .into_iter()
        .map(|outcome| outcome.unwrap_or(Outcome::UpToDate))
        .collect())
}

/// Trailers that make the history readable from git alone: one `Pushdeploy-Cause:` per
/// distinct cause, one `Pushdeploy-Deployed: POLICY=TAG` per policy that changed, and
/// `Pushdeploy-Pinned: POLICY=TAG` for manual (pinning) intents.
fn trailers(
    intents: &[Intent],
    outcomes: &[Option<Outcome>],
    changes: &[crate::setter::Change],
) -> Vec<String> {
    let written: Vec<&Intent> = intents
        .iter()
        .zip(outcomes)
        .filter(|(intent, outcome)| {
            outcome.is_none() && changes.iter().any(|change| &change.policy == intent.policy())
        })
        .map(|(intent, _)| intent)
        .collect();
    let mut causes: Vec<String> = written
        .iter()
        .map(|intent| Trailer::Cause(intent.cause().to_owned()).to_string())
        .collect();
    causes.sort();
    causes.dedup();
    for intent in &written {
        let (policy, tag) = (intent.policy().to_string(), intent.value().tag.to_string());
        causes.push(Trailer::Deployed { policy, tag }.to_string());
    }
    for intent in written.iter().filter(|intent| intent.explicit()) {
        let (policy, tag) = (intent.policy().to_string(), intent.value().tag.to_string());
        causes.push(Trailer::Pinned { policy, tag }.to_string());
    }
    causes
}

/// Record `message` as an empty commit on the push branch (a pin, resume or suspension made
/// visible in git history), retrying on a concurrent push. Returns the commit.
pub fn note(workspace: &mut Workspace, automation: &Automation, text: &str) -> Result<String, GitopsError> {
    let mut attempt = 0;
    loop {
        let base = sync(workspace, automation)?;
        let commit = workspace.commit(base, &[], &automation.author, signer(automation), text)?;
        match workspace.push(commit, &Targets::branch(automation)) {
            Ok(()) => return Ok(commit.to_string()),
            Err(GitopsError::NonFastForward { .. }) if attempt + 1 < MAX_ATTEMPTS => {
                std::thread::sleep(backoff(attempt));
                attempt += 1;
            }
            Err(error) => return Err(refine_push_error(workspace, error)),
        }
    }
}

/// The automation's commit signer, parsed at load (`None`: commits are unsigned).
fn signer(automation: &Automation) -> Option<&crate::signing::Signer> {
    automation.signing_key.as_ref().map(|key| &*key.signer)
}

/// Bring the working copy up to date and read its tree once, ahead of the first write; an
/// error is only logged (the next cycle meets it again and reports it).
pub fn warm(workspace: &mut Workspace, automation: &Automation) {
    crate::failpoint::hit("warm.start");
    let warmed = sync(workspace, automation).and_then(|_| scan(workspace, automation));
    if let Err(error) = warmed {
        tracing::debug!(automation = %automation.key, %error, "working copy not warmed up");
    }
}

/// The current marker sites under the automation's update path and the branch history, after
/// a fetch (so they reflect the remote, not a stale copy).
pub fn inspect(
    workspace: &mut Workspace,
    automation: &Automation,
    log_limit: usize,
) -> Result<super::Inspection, GitopsError> {
    let base = sync(workspace, automation)?;
    let sites = scan(workspace, automation)?;
    let warnings = marker_warnings(workspace, automation)?;
    let log = workspace.log(base, log_limit)?;
    Ok(super::Inspection { sites, log, warnings })
}

/// What a write would warn about in the marked files (`file:line: reason` of each marker that
/// cannot be used), found by a dry run that changes nothing: shown, not only logged at write.
fn marker_warnings(workspace: &mut Workspace, automation: &Automation) -> Result<Vec<String>, GitopsError> {
    let marked = workspace.marked_files(&automation.update_path)?;
    setter::apply_files(
        workspace.workdir(),
        &automation.update_path,
        marked,
        &setter::Values::new(),
        Mode::DryRun,
    )
    .map(|applied| applied.warnings)
    .map_err(|error| GitopsError::UpdatePath(error.to_string()))
}

/// The marker sites of the synced working copy, from the files its commit's tree names.
fn scan(workspace: &mut Workspace, automation: &Automation) -> Result<Vec<Site>, GitopsError> {
    let marked = workspace.marked_files(&automation.update_path)?;
    setter::scan_files(workspace.workdir(), &automation.update_path, marked)
        .map_err(|error| GitopsError::UpdatePath(error.to_string()))
}

/// A push that fails after a fetch succeeded, other than by a rejection, usually means the key
/// may read but not write: probe receive-pack to tell a read-only key from a network fault.
pub(super) fn refine_push_error(workspace: &mut Workspace, error: GitopsError) -> GitopsError {
    match error {
        GitopsError::Unreachable { .. } | GitopsError::AuthFailed { .. } => {
            match super::check::write_access(workspace) {
                Err(GitopsError::ReadOnlyKey { url }) => GitopsError::ReadOnlyKey { url },
                _ => error,
            }
        }
        other => other,
    }
}
