//! The request itself on the platform: whether the token may open one and the repository is
//! not a fork (asked before the branch is pushed); after the push, opened, adopted when one is
//! open for our branch already (a crash between push and record), or updated; then recorded in
//! the journal.

use super::{forge_failure, journal_failure, value_text};
use crate::config::{Automation, PullRequestMode};
use crate::engine::Engine;
use crate::forge::{Forge, ForgeError, Proposal};
use crate::gitops::{Request, RequestAction, WriteFailure};
use crate::journal::NewProposal;

impl Engine {
    /// After a push: open the request on the platform (or adopt the open one for our branch),
    /// or update its title and body; record it in the journal either way.
    pub(super) async fn ensure_request(
        &self,
        automation: &Automation,
        mode: &PullRequestMode,
        branch: &str,
        open: Option<&crate::journal::Proposal>,
        forge: Option<&Forge>,
        push: &crate::gitops::ProposalPush,
    ) -> Result<Request, (WriteFailure, bool)> {
        let provider = mode.transport.name(mode.provider);
        let mut number = open
            .and_then(|open| open.number)
            .and_then(|n| u64::try_from(n).ok());
        let mut url = open.and_then(|open| open.url.clone());
        let mut action = if open.is_some() {
            RequestAction::Updated
        } else {
            RequestAction::Opened
        };
        if let Some(forge) = forge {
            let title = crate::forge::draft_title(mode.provider, &push.title, mode.draft);
            let existing = match number {
                Some(number) => Some(number),
                None => forge
                    .find_open(branch, &automation.checkout_branch)
                    .await
                    .map_err(forge_failure)?
                    .map(|pull| pull.number),
            };
            let pull = match existing {
                Some(existing) => forge
                    .update(existing, &title, &push.body)
                    .await
                    .map_err(forge_failure)?,
                None => {
                    let opened = forge
                        .open(&Proposal {
                            head: branch,
                            base: &automation.checkout_branch,
                            title: &push.title,
                            body: &push.body,
                            labels: &mode.labels,
                            reviewers: &mode.reviewers,
                            draft: mode.draft,
                            auto_merge: mode.auto_merge,
                        })
                        .await
                        .map_err(forge_failure)?;
                    for warning in &opened.warnings {
                        tracing::warn!(automation = %automation.key, branch, "pull request opened, but {warning}");
                    }
                    action = RequestAction::Opened;
                    opened.pull
                }
            };
            number = Some(pull.number);
            url = Some(pull.url);
        }
        let new = NewProposal {
            automation: &automation.key,
            branch,
            provider,
            proposed: &push.values,
            head: &push.commit,
            base: &push.base,
            number: number.and_then(|n| i64::try_from(n).ok()),
            url: url.as_deref(),
            title: &push.title,
        };
        self.journal
            .record_proposal(&new)
            .await
            .map_err(|error| journal_failure(&error))?;
        if let Ok(Some(recorded)) = self.journal.open_proposal(&automation.key, branch).await {
            self.note_proposal(&recorded);
        }
        metrics::counter!("pushdeploy_pull_requests_total", "action" => action.as_str()).increment(1);
        tracing::info!(automation = %automation.key, branch, commit = %push.commit, number, action = action.as_str(), values = %value_text(&push.values), "pull request {}", action.as_str());
        Ok(Request {
            branch: branch.to_owned(),
            number,
            url,
            action,
        })
    }

    /// Before the first request on a repository: may the token open one there, and is the
    /// repository a fork (the request would stay in the fork)?
    pub(super) async fn check_access(
        &self,
        automation: &Automation,
        forge: &Forge,
    ) -> Result<(), (WriteFailure, bool)> {
        let access = forge.access().await.map_err(forge_failure)?;
        let api = forge.api();
        if let Some(parent) = access.fork_of {
            return Err(forge_failure(ForgeError::Refused {
                forge: api.kind.name().to_owned(),
                operation: "open a pull request",
                status: 0,
                message: format!(
                    "{} is a fork of {parent}: a pull request opened here would stay in the fork, and nobody reviewing {parent} would see it; point git.url of automation {} at {parent} (with a deploy key and token allowed to write there); pushdeploy does not open requests across forks",
                    api.repository, automation.key
                ),
            }));
        }
        if !access.can_push {
            return Err(forge_failure(ForgeError::Forbidden {
                forge: api.kind.name().to_owned(),
                repository: api.repository.clone(),
                operation: "open pull requests",
                detail: "the token may read the repository but not write to it; grant it write access (GitHub: \"Pull requests: write\" and \"Contents: write\"; Forgejo/Gitea: write:repository and write access; GitLab: api scope and at least the Developer role)".to_owned(),
            }));
        }
        Ok(())
    }
}

/// The request a journal row names.
pub(super) fn request_of(proposal: &crate::journal::Proposal, action: RequestAction) -> Request {
    Request {
        branch: proposal.branch.clone(),
        number: proposal.number.and_then(|n| u64::try_from(n).ok()),
        url: proposal.url.clone(),
        action,
    }
}
