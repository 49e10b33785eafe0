//! Pull-request mode: the intents of an automation with `git.push.pullRequest` become one
//! request per branch (per automation, or per policy) instead of commits on the checkout
//! branch. "Already in git" becomes "already proposed": the journal's open proposal, checked
//! against the platform (merged, closed) before anything is pushed. A newer value amends the
//! same request (force-with-lease on our branch only), a request a person closed is never
//! reopened for the same values, and a request whose values reached the checkout branch is
//! done: the next change opens a new one. One proposal at a time per branch.

mod request;

use super::Engine;
use crate::config::{Automation, PullRequestMode, Transport};
use crate::domain::ObjectKey;
use crate::forge::{Forge, ForgeError, PullState};
use crate::gitops::{ForgeCause, Intent, Outcome, ProposalJob, RequestAction, WriteFailure};
use crate::journal::ProposalState;
use crate::setter::Values;
use request::request_of;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Held while one proposal of a request branch is made.
pub(super) type BranchLock = Arc<tokio::sync::Mutex<()>>;

fn failed(intents: &[Intent], error: WriteFailure, retry: bool) -> Vec<(Intent, Outcome)> {
    intents
        .iter()
        .map(|intent| {
            let outcome = Outcome::Failed {
                error: error.clone(),
                retry,
            };
            (intent.clone(), outcome)
        })
        .collect()
}

fn forge_failure(error: ForgeError) -> (WriteFailure, bool) {
    let retry = error.is_transient();
    (WriteFailure::Forge(ForgeCause(Arc::new(error))), retry)
}

fn journal_failure(error: &crate::journal::JournalError) -> (WriteFailure, bool) {
    tracing::error!(%error, "the journal cannot read or record a pull request");
    let error = crate::gitops::GitopsError::Unavailable(
        "the journal cannot read or record the pull request; retried",
    );
    (WriteFailure::Cycle(error), true)
}

/// Why automation must not move the open request `open` backwards with `intent` (never
/// downgrade, as for the checkout branch): the request proposes a tag the policy ranks above.
fn backwards(open: &crate::journal::Proposal, intent: &Intent) -> Option<String> {
    if intent.explicit() {
        return None;
    }
    let ranking = intent.ranking()?;
    let proposed = open.proposed.get(intent.policy())?.tag.as_str();
    let new = intent.value().tag.as_str();
    let above = proposed != new && ranking.select(&[new, proposed]).ok() == Some(proposed);
    above.then(|| {
        format!(
            "{}: {} proposes {proposed}, which the policy ranks above {new}; the request is not moved backwards (promote explicitly to do that)",
            intent.policy(),
            request_of(open, RequestAction::Unchanged),
        )
    })
}

fn value_text(values: &Values) -> String {
    values
        .iter()
        .map(|(policy, value)| format!("{policy}={}", value.tag))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Engine {
    /// Propose `intents` (all of `automation`, which is in pull-request mode): one request per
    /// branch the intents name. Outcomes in the order of `intents`.
    pub(super) async fn propose(
        &self,
        automation: Arc<Automation>,
        intents: Vec<Intent>,
    ) -> Vec<(Intent, Outcome)> {
        let Some(mode) = automation.pull_request.clone() else {
            return Vec::new();
        };
        let mut groups: BTreeMap<String, Vec<Intent>> = BTreeMap::new();
        let mut outcomes = Vec::new();
        for intent in intents {
            match crate::gitops::branch_of(&mode, &automation.key, intent.policy()) {
                Ok(branch) => groups.entry(branch).or_default().push(intent),
                Err(error) => {
                    let outcome = Outcome::Failed {
                        error: WriteFailure::Cycle(error),
                        retry: false,
                    };
                    outcomes.push((intent, outcome));
                }
            }
        }
        for (branch, group) in groups {
            let lock = self.proposal_lock(&automation.key, &branch);
            let _one_at_a_time = lock.lock().await;
            outcomes.extend(self.propose_on(&automation, &mode, &branch, group).await);
        }
        outcomes
    }

    fn proposal_lock(&self, automation: &ObjectKey, branch: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.proposal_locks.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(locks.entry((automation.clone(), branch.to_owned())).or_default())
    }

    /// The platform client of an automation whose request goes through the API.
    fn forge(
        &self,
        automation: &Automation,
        mode: &PullRequestMode,
    ) -> Option<Result<Arc<Forge>, ForgeError>> {
        let Transport::Api(api) = &mode.transport else {
            return None;
        };
        let mut forges = self.forges.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(forge) = forges.get(&automation.key) {
            return Some(Ok(Arc::clone(forge)));
        }
        Some(Forge::new(api.clone()).map(|forge| {
            let forge = Arc::new(forge);
            forges.insert(automation.key.clone(), Arc::clone(&forge));
            forge
        }))
    }

    async fn propose_on(
        &self,
        automation: &Arc<Automation>,
        mode: &PullRequestMode,
        branch: &str,
        intents: Vec<Intent>,
    ) -> Vec<(Intent, Outcome)> {
        let forge = match self.forge(automation, mode).transpose() {
            Ok(forge) => forge,
            Err(error) => {
                let (error, retry) = forge_failure(error);
                return failed(&intents, error, retry);
            }
        };
        // 1. The open request, as the platform sees it now (merged or closed ends it here).
        let open = match self.open_request(automation, branch, forge.as_deref()).await {
            Ok(open) => open,
            Err((error, retry)) => return failed(&intents, error, retry),
        };
        // 2. Values a person closed unmerged are not proposed again; values the open request
        //    proposes already are answered with it.
        // Unreadable, it could reopen what a person closed: the event waits instead.
        let closed = match self.journal.last_closed_proposal(&automation.key, branch).await {
            Ok(closed) => closed,
            Err(error) => {
                let (error, retry) = journal_failure(&error);
                return failed(&intents, error, retry);
            }
        };
        let mut outcomes: Vec<Option<Outcome>> = vec![None; intents.len()];
        for (intent, outcome) in intents.iter().zip(outcomes.iter_mut()) {
            let value = intent.value();
            if let Some(open) = &open
                && open.proposed.get(intent.policy()) == Some(value)
            {
                *outcome = Some(Outcome::Proposed {
                    commit: open.head.clone(),
                    changes: Vec::new(),
                    request: request_of(open, RequestAction::Unchanged),
                });
            } else if let Some(open) = &open
                && let Some(reason) = backwards(open, intent)
            {
                tracing::info!(automation = %automation.key, branch, "{reason}");
                *outcome = Some(Outcome::Skipped { reason });
            } else if let Some(closed) = closed.as_ref().filter(|_| !intent.explicit())
                && closed.proposed.get(intent.policy()) == Some(value)
            {
                *outcome = Some(Outcome::Skipped {
                    reason: format!(
                        "{}: {} was proposed in {} and closed there without merging{}; not proposed again for the same tag (a newer tag, or a promote by hand, opens a new request)",
                        intent.policy(),
                        value.tag,
                        request_of(closed, RequestAction::Unchanged),
                        closed
                            .note
                            .as_deref()
                            .map(|note| format!(" ({note})"))
                            .unwrap_or_default()
                    ),
                });
            }
        }
        let pending: Vec<Intent> = intents
            .iter()
            .zip(&outcomes)
            .filter(|(_, outcome)| outcome.is_none())
            .map(|(intent, _)| intent.clone())
            .collect();
        if pending.is_empty() {
            return intents.into_iter().zip(outcomes.into_iter().flatten()).collect();
        }
        // A new request: may the token open one here, and is this a fork? Asked before the
        // branch is pushed, so a refusal leaves nothing behind on the remote.
        if open.is_none()
            && let Some(forge) = forge.as_deref()
            && let Err((error, retry)) = self.check_access(automation, forge).await
        {
            return failed(&intents, error, retry);
        }
        // 3. Build and push the proposal: the open request's values plus the new ones.
        let job = ProposalJob {
            branch: branch.to_owned(),
            intents: pending.clone(),
            carried: open
                .as_ref()
                .map(|open| open.proposed.clone())
                .unwrap_or_default(),
            lease: open.as_ref().map(|open| open.head.clone()),
        };
        let proposed = self
            .writers
            .handle(automation)
            .propose(Arc::clone(automation), job)
            .await;
        let mut written = proposed.outcomes.into_iter();
        let mut results: Vec<(Intent, Outcome)> = Vec::with_capacity(intents.len());
        let mut to_request: Vec<usize> = Vec::new();
        for (intent, outcome) in intents.into_iter().zip(outcomes) {
            let outcome = match outcome {
                Some(outcome) => outcome,
                None => {
                    let outcome = written.next().unwrap_or(Outcome::UpToDate);
                    if matches!(outcome, Outcome::UpToDate) && proposed.push.is_some() {
                        to_request.push(results.len());
                    }
                    outcome
                }
            };
            results.push((intent, outcome));
        }
        let open = match open {
            // Everything it proposed is in the checkout branch: merged (or made by hand). What
            // was pushed now, if anything, is a new request.
            Some(open) if proposed.in_checkout || proposed.carried_merged => {
                let note = format!("its values are in {}", automation.checkout_branch);
                self.end_request(&open, ProposalState::Merged, &note).await;
                self.merged(automation, &open).await;
                None
            }
            other => other,
        };
        let Some(push) = proposed.push else {
            return results;
        };
        // 4. Open or update the request itself, and record it.
        let request = match self
            .ensure_request(automation, mode, branch, open.as_ref(), forge.as_deref(), &push)
            .await
        {
            Ok(request) => request,
            Err((error, retry)) => {
                for &index in &to_request {
                    results[index].1 = Outcome::Failed {
                        error: error.clone(),
                        retry,
                    };
                }
                return results;
            }
        };
        for &index in &to_request {
            let policy = results[index].0.policy().clone();
            let changes = push
                .changes
                .iter()
                .filter(|change| change.policy == policy)
                .cloned()
                .collect::<Vec<_>>();
            results[index].1 = if changes.is_empty() {
                Outcome::UpToDate
            } else {
                Outcome::Proposed {
                    commit: push.commit.clone(),
                    changes,
                    request: request.clone(),
                }
            };
        }
        results
    }

    /// The open proposal of `branch`, refreshed: a request the platform says is merged or
    /// closed is ended in the journal (merged: its values are deployments) and `None` returned.
    async fn open_request(
        &self,
        automation: &Automation,
        branch: &str,
        forge: Option<&Forge>,
    ) -> Result<Option<crate::journal::Proposal>, (WriteFailure, bool)> {
        let open = self
            .journal
            .open_proposal(&automation.key, branch)
            .await
            .map_err(|error| journal_failure(&error))?;
        let Some(open) = open else {
            return Ok(None);
        };
        // Without the API (AGit, GitLab push options) only the checkout branch can tell: a
        // proposal whose values are there is ended by `propose_on`.
        let Some(forge) = forge else {
            return Ok(Some(open));
        };
        let Some(number) = open.number.and_then(|n| u64::try_from(n).ok()) else {
            return Ok(Some(open));
        };
        let pull = forge.get(number).await.map_err(forge_failure)?;
        match pull.state {
            PullState::Open => Ok(Some(open)),
            PullState::Merged => {
                self.end_request(&open, ProposalState::Merged, "merged on the platform")
                    .await;
                self.merged(automation, &open).await;
                Ok(None)
            }
            PullState::Closed => {
                let note = "closed on the platform without merging";
                tracing::warn!(automation = %automation.key, branch, number, values = %value_text(&open.proposed), "{note}; not reopened for the same values");
                self.end_request(&open, ProposalState::Closed, note).await;
                Ok(None)
            }
        }
    }

    /// A merged request's values are deployments: recorded like a push to the checkout branch.
    async fn merged(&self, automation: &Automation, proposal: &crate::journal::Proposal) {
        let cause = format!(
            "pull request {} merged",
            proposal
                .number
                .map_or_else(|| proposal.branch.clone(), |n| format!("#{n}"))
        );
        for (policy, value) in &proposal.proposed {
            if let Err(error) = self
                .journal
                .record_deployment(
                    policy,
                    &value.tag,
                    &proposal.head,
                    &automation.author.name,
                    &cause,
                )
                .await
            {
                tracing::error!(%policy, %error, "the merged pull request's deployment could not be recorded");
            }
            self.note_deployed(policy, value.tag.as_str());
            // A deployment like any other for the alerts (notices, commit statuses).
            if let Some(observer) = self.on_pushed.get() {
                observer(super::reports::Pushed {
                    automation: automation.key.to_string(),
                    remote: crate::domain::redact_url(&automation.git.url).into_owned(),
                    policy: policy.to_string(),
                    tag: value.tag.to_string(),
                    commit: proposal.head.clone(),
                    cause: cause.clone(),
                });
            }
        }
    }

    async fn end_request(&self, proposal: &crate::journal::Proposal, state: ProposalState, note: &str) {
        if let Err(error) = self.journal.end_proposal(proposal.id, state, note).await {
            tracing::error!(proposal = proposal.id, %error, "cannot record the end of the pull request");
        }
        let mut ended = proposal.clone();
        ended.state = state;
        ended.note = Some(note.to_owned());
        ended.updated_at = crate::clock::now();
        self.note_proposal(&ended);
    }

    /// Remember what `/status` shows of a request branch.
    pub(super) fn note_proposal(&self, proposal: &crate::journal::Proposal) {
        let view = super::reports::ProposalView::from_journal(proposal);
        self.proposals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((proposal.automation.clone(), proposal.branch.clone()), view);
    }
}
