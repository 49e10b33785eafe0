//! Processing of one journaled event: a push (confirmed in the registry, shared within its
//! burst, then decided), a refresh of a working copy, or a row that needs nothing; its outcome
//! is recorded in the journal, or it is left unfinished to be retried after `RETRY_DELAY`.

use super::retry::Transient;
use super::{Decision, Engine, RETRY_DELAY, burst, micros};
use crate::domain::{ObjectKey, Tag};
use crate::gitops::Outcome;
use crate::journal::{Event, EventKind, State};
use crate::plan::Trigger;
use std::sync::Arc;

impl Engine {
    #[tracing::instrument(name = "event", skip_all, fields(event = event.id, tag = event.tag().unwrap_or("")))]
    pub(super) async fn process(&self, event: Event) {
        let processed = match &event.kind {
            EventKind::Push { repository, tag, .. } => self.process_push(&event, repository, tag).await,
            EventKind::Refresh { automation } => self.process_refresh(automation).await,
            // Stored already `ignored` / `rejected`, so never unfinished; a row edited by hand
            // ends here.
            EventKind::UnmatchedPush { .. } => {
                Processed::ended(State::Ignored, "no configured image repository matches this push")
            }
            EventKind::Rejected => Processed::ended(State::Rejected, "a rejected delivery is not processed"),
        };
        let (state, reason, commit) = match processed {
            Processed::Finished {
                state,
                reason,
                commit,
            } => (state, reason, commit),
            Processed::RetryLater(reason) => {
                let delay = reason.delay(RETRY_DELAY);
                self.retry_at
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(event.id, std::time::Instant::now() + delay);
                return tracing::warn!(%reason, retry_in_s = delay.as_secs(), "will retry the event");
            }
        };
        // The shard moved to another replica while this one worked (its lease connection
        // failed): the new owner processes the event again and records what git then says;
        // recording here too could overwrite its outcome with an older one.
        if !self.owns_event(&event) {
            metrics::counter!("pushdeploy_outcomes_left_to_new_owner_total").increment(1);
            return tracing::warn!(
                state = state.as_str(),
                "the event's shard moved to another replica while it was processed; its outcome is left to the new owner"
            );
        }
        let recording = std::time::Instant::now();
        let recorded = self
            .journal
            .transition(event.id, state, reason.as_deref(), commit.as_deref(), None)
            .await;
        tracing::debug!(target: "pushdeploy::timing", outcome_us = micros(recording.elapsed()), "event outcome recorded");
        if let Err(error) = recorded {
            tracing::error!(%error, "cannot record the event's outcome");
            // Still unfinished in the journal, and behind the read cursor: retried like a
            // transient failure.
            self.retry_at
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(event.id, std::time::Instant::now() + RETRY_DELAY);
        }
        if matches!(state, State::Written | State::Proposed) {
            let elapsed = (crate::clock::now() - event.received_at).max(0) as f64;
            metrics::histogram!("pushdeploy_notification_to_push_seconds").record(elapsed);
        }
    }

    /// Someone pushed to a gitops branch: fetch and reset that automation's working copy now,
    /// so the next write (and the API's view of git) starts from the new head.
    async fn process_refresh(&self, automation: &ObjectKey) -> Processed {
        let Some(automation) = self.settings.automations.get(automation) else {
            return Processed::ended(State::Ignored, "the automation is no longer configured");
        };
        let automation = Arc::new(automation.clone());
        match self
            .writers
            .handle(&automation)
            .inspect(Arc::clone(&automation))
            .await
        {
            Ok(inspection) => {
                let head = inspection.log.first().map(|entry| entry.commit.clone());
                Processed::Finished {
                    state: State::Refreshed,
                    reason: Some(format!(
                        "working copy of {} refreshed to {}",
                        automation.key,
                        head.as_deref().unwrap_or("an empty branch")
                    )),
                    commit: head,
                }
            }
            Err(error) if error.is_transient() => Processed::RetryLater(error.into()),
            Err(error) => Processed::ended(State::Failed, error.to_string()),
        }
    }

    /// Confirm, decide, write.
    /// A push, unless the same repository and tag is being (or was just) decided for another
    /// delivery of the burst: then that decision's outcome, without a HEAD or a write of its own.
    async fn process_push(&self, event: &Event, key: &ObjectKey, tag: &Tag) -> Processed {
        match self.bursts.join(event.id, key, tag.as_str()) {
            burst::Role::Follower { leader, done } => match burst::wait(done).await {
                Some(outcome) => {
                    metrics::counter!("pushdeploy_burst_followers_total").increment(1);
                    Processed::followed(outcome, leader)
                }
                None => self.push_alone(event, key, tag).await,
            },
            burst::Role::Leader(leader) => {
                let processed = self.push_alone(event, key, tag).await;
                burst::finish(&leader, processed.for_burst());
                processed
            }
        }
    }

    async fn push_alone(&self, event: &Event, key: &ObjectKey, tag: &Tag) -> Processed {
        let tag = &tag.to_string();
        if let Some(suspended) = self.settings.repositories.get(key).filter(|r| r.suspended) {
            return Processed::ended(
                State::Ignored,
                format!(
                    "image repository {key} is suspended (spec.suspend: true at {}); set it to false to act on its pushes",
                    suspended.origin
                ),
            );
        }
        let mut confirmed = None;
        if !self.settings.trust_notifications {
            let Some(client) = self.registry.client(key) else {
                return Processed::ended(State::Ignored, format!("{key} is no longer configured"));
            };
            let digest = match self.confirmer.confirm(key, &client, tag).await {
                Ok(manifest) => {
                    self.note_digest(key, tag, manifest.digest.clone()).await;
                    manifest.digest
                }
                Err(crate::registry::RegistryError::NotFound { .. }) => {
                    return Processed::ended(
                        State::Failed,
                        format!(
                            "tag {tag} does not exist in {}/{}; nothing written",
                            client.host(),
                            client.repository()
                        ),
                    );
                }
                Err(error) if error.is_transient() => return Processed::RetryLater(error.into()),
                Err(error) => return Processed::ended(State::Failed, error.to_string()),
            };
            self.registry.note_confirmed(key, tag);
            confirmed = Some(digest);
        }
        let mut tags = self.registry.tags(key);
        if !tags.contains(tag) {
            tags.push(tag.clone());
        }
        // `Confirmed` (an fsync'ed transaction) is recorded while the writer works instead of
        // before it: the outcome is recorded after both, so the states keep their order.
        let record_confirmed = async {
            let Some(digest) = &confirmed else { return };
            let recording = std::time::Instant::now();
            let _ = self
                .journal
                .transition(event.id, State::Confirmed, None, None, Some(digest))
                .await;
            tracing::debug!(target: "pushdeploy::timing", confirmed_us = micros(recording.elapsed()), "confirmation recorded");
        };
        let deciding = std::time::Instant::now();
        let decide = async {
            let decisions = self
                .decide(
                    key,
                    &tags,
                    Trigger::Push {
                        tag,
                        cause: format!("webhook ({})", event.source),
                    },
                )
                .await;
            tracing::debug!(target: "pushdeploy::timing", decide_us = micros(deciding.elapsed()), "decided and written");
            decisions
        };
        let ((), decisions) = tokio::join!(record_confirmed, decide);
        // A write that failed transiently (the writer's `retry: true`) is this event's retry.
        if let Some(error) = decisions.iter().find_map(|d| match &d.outcome {
            Outcome::Failed { error, retry: true } => Some(error.clone()),
            _ => None,
        }) {
            return Processed::RetryLater(error.into());
        }
        summarise(decisions, tag)
    }
}

/// What processing an event came to: the one encoding of "retry later".
enum Processed {
    /// The event's final state, with its reason and the commit, if any.
    Finished {
        state: State,
        reason: Option<String>,
        commit: Option<String>,
    },
    /// Transient (registry or remote unreachable): the event stays unfinished and is tried
    /// again after `RETRY_DELAY`.
    RetryLater(Transient),
}

impl Processed {
    fn for_burst(&self) -> burst::Outcome {
        match self {
            Self::Finished {
                state,
                reason,
                commit,
            } => burst::Outcome::Finished {
                state: *state,
                reason: reason.clone(),
                commit: commit.clone(),
            },
            Self::RetryLater(reason) => burst::Outcome::RetryLater(reason.clone()),
        }
    }

    /// A follower's record of its leader's outcome.
    fn followed(outcome: burst::Outcome, leader: i64) -> Self {
        match outcome {
            burst::Outcome::Finished {
                state,
                reason,
                commit,
            } => Self::Finished {
                state,
                reason: Some(format!(
                    "same push as event {leader}, decided once: {}",
                    reason.as_deref().unwrap_or("no reason recorded")
                )),
                commit,
            },
            burst::Outcome::RetryLater(reason) => Self::RetryLater(reason),
        }
    }

    fn ended(state: State, reason: impl Into<String>) -> Self {
        Self::Finished {
            state,
            reason: Some(reason.into()),
            commit: None,
        }
    }
}

/// One journal state for all the policies an event touched.
fn summarise(decisions: Vec<Decision>, tag: &str) -> Processed {
    if let Some((commit, policy)) = decisions.iter().find_map(|d| match &d.outcome {
        Outcome::Pushed { commit, .. } => Some((commit.clone(), d.policy.clone())),
        _ => None,
    }) {
        return Processed::Finished {
            state: State::Written,
            reason: Some(format!("{policy} now runs {tag}")),
            commit: Some(commit),
        };
    }
    // Pull-request mode: proposed, not written; the reason names the request.
    if let Some((commit, policy, request)) = decisions.iter().find_map(|d| match &d.outcome {
        Outcome::Proposed { commit, request, .. } => {
            Some((commit.clone(), d.policy.clone(), request.clone()))
        }
        _ => None,
    }) {
        let done = match request.action {
            crate::gitops::RequestAction::Unchanged => "already proposed in",
            _ => "proposed in",
        };
        return Processed::Finished {
            state: State::Proposed,
            reason: Some(format!("{policy}: {tag} {done} {request}")),
            commit: Some(commit),
        };
    }
    let reasons: Vec<String> = decisions
        .iter()
        .map(|d| match &d.outcome {
            Outcome::UpToDate => format!("{}: already in git", d.policy),
            Outcome::Skipped { reason } => reason.clone(),
            Outcome::Failed { error, .. } => format!("{}: {error}", d.policy),
            Outcome::Pushed { .. } | Outcome::Proposed { .. } => String::new(),
        })
        .collect();
    let failed = decisions
        .iter()
        .any(|d| matches!(d.outcome, Outcome::Failed { .. }));
    let reason = if reasons.is_empty() {
        "no policy uses this repository".to_owned()
    } else {
        reasons.join("; ")
    };
    Processed::ended(if failed { State::Failed } else { State::Ignored }, reason)
}
