//! Deciding and writing: what is known for a repository (tags, digests, overrides, last picks)
//! becomes a `Snapshot` for `plan::plan`, its intents go to the writers, and each outcome is
//! recorded (last write per automation, deployments, a retry of a failed pick).

use super::{Decision, Engine, task_failed};
use crate::config::DigestReflection;
use crate::domain::ObjectKey;
use crate::gitops::{Intent, Outcome, WriteFailure};
use crate::plan::{PolicyState, Skipped, Snapshot, Trigger, plan};
use crate::registry::ScanResult;
use std::collections::BTreeMap;
use std::sync::Arc;

impl Engine {
    pub(super) async fn handle_scan(&self, scan: ScanResult) {
        // The scan's tags plus those confirmed meanwhile: a scan that began before a webhook's
        // tag landed must not pick (and try to write) an older tag.
        let tags = self.registry.tags(&scan.repository);
        self.forget_deleted_tags(&scan.repository, &tags).await;
        let decisions = self
            .decide(&scan.repository, &tags, Trigger::Scan { cause: "poll".into() })
            .await;
        for decision in decisions {
            if let Outcome::Failed { error, .. } = &decision.outcome {
                tracing::warn!(policy = %decision.policy, %error, "poll update failed");
            }
        }
        self.scans_decided
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    /// Digests of tags the registry no longer lists (deleted, or pruned by retention) are
    /// forgotten, in memory and in the journal, so that they do not pile up for every tag ever
    /// pushed; a tag some policy has selected is kept whatever the list says.
    async fn forget_deleted_tags(&self, repository: &ObjectKey, tags: &[String]) {
        let selected: Vec<String> = self
            .selected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        let keep: Vec<&str> = selected.iter().map(String::as_str).collect();
        let gone = self.registry.digests.forget_unlisted(repository, tags, &keep);
        if gone.is_empty() {
            return;
        }
        tracing::debug!(%repository, forgotten = gone.len(), "digests of tags the registry no longer lists forgotten");
        if let Err(error) = self.journal.forget_digests(repository, &gone).await {
            // Kept in the journal, forgotten here: the next start reloads them, which is the
            // conservative side (`IfNotPresent` keeps a digest longer, never shorter).
            tracing::warn!(%repository, %error, "cannot forget kept digests in the journal");
            metrics::counter!("pushdeploy_journal_errors_total", "what" => "forget digests").increment(1);
        }
    }

    /// Plan (`plan::plan`, the one decision point) over what is known for `repository` after
    /// `trigger`, then write the intents and record their outcomes.
    pub(super) async fn decide(
        &self,
        repository: &ObjectKey,
        tags: &[String],
        trigger: Trigger<'_>,
    ) -> Vec<Decision> {
        self.resolve_digests(repository, tags).await;
        let digests = self.registry.digests.view(repository);
        let planned = {
            let overrides = self.overrides.snapshot();
            // Held while planning, so that two scans never both act on one new pick.
            let mut selected = self.selected.lock().unwrap_or_else(|p| p.into_inner());
            let snapshot = Snapshot {
                policies: self.policy_states(|policy| policy.repository == *repository, &digests),
                tags,
                selected: &selected,
                overrides: &overrides,
            };
            let planned = plan(&snapshot, &trigger);
            selected.extend(planned.selections.iter().cloned());
            planned
        };
        let mut decisions: Vec<Decision> = planned.skipped.into_iter().map(Decision::from).collect();
        decisions.extend(self.write(planned.intents).await);
        decisions
    }

    /// The policies `wanted` selects, as planning sees them; `digests` is their repository's.
    pub(super) fn policy_states<'a>(
        &'a self,
        wanted: impl Fn(&crate::config::ImagePolicy) -> bool,
        digests: &'a crate::registry::DigestView,
    ) -> Vec<PolicyState<'a>> {
        let settings = &self.settings;
        settings
            .policies
            .values()
            .filter(|policy| wanted(policy))
            .filter_map(|policy| {
                let repository = settings.repositories.get(&policy.repository)?;
                let automations = settings
                    .automations
                    .values()
                    .filter(|automation| automation.policies.contains(&policy.key))
                    .map(|automation| &automation.key)
                    .collect();
                let digests = match policy.digest_reflection {
                    DigestReflection::Never => None,
                    DigestReflection::IfNotPresent => Some(&digests.first),
                    DigestReflection::Always { .. } => Some(&digests.latest),
                };
                Some(PolicyState {
                    key: &policy.key,
                    image: repository.image.to_string(),
                    policy: &policy.policy,
                    automations,
                    digests,
                })
            })
            .collect()
    }

    /// Hand `intents` to their writers concurrently (intents for one branch meet in its
    /// coalescing window) and record each outcome: last write per automation, deployments in
    /// the journal, and a retry of the pick when the write failed transiently.
    pub(super) async fn write(&self, intents: Vec<Intent>) -> Vec<Decision> {
        // Pull-request mode: those automations' intents become requests, never commits on
        // the checkout branch.
        let (proposing, writing): (Vec<Intent>, Vec<Intent>) = intents.into_iter().partition(|intent| {
            self.settings
                .automations
                .get(intent.automation())
                .is_some_and(|automation| automation.pull_request.is_some())
        });
        let mut decisions = self.write_directly(writing).await;
        let mut by_automation: BTreeMap<ObjectKey, Vec<Intent>> = BTreeMap::new();
        for intent in proposing {
            by_automation
                .entry(intent.automation().clone())
                .or_default()
                .push(intent);
        }
        for (key, group) in by_automation {
            let Some(automation) = self.settings.automations.get(&key) else {
                continue;
            };
            let automation = Arc::new(automation.clone());
            for (intent, outcome) in self.propose(Arc::clone(&automation), group).await {
                decisions.push(self.recorded(&automation, &intent, outcome).await);
            }
        }
        decisions
    }

    /// Hand `intents` to their writers (the checkout or push branch, as Flux writes it).
    async fn write_directly(&self, intents: Vec<Intent>) -> Vec<Decision> {
        let submissions: Vec<_> = intents
            .into_iter()
            .filter_map(|intent| {
                let automation = Arc::new(self.settings.automations.get(intent.automation())?.clone());
                Some((self.writers.handle(&automation), automation, intent))
            })
            .collect();
        let outcomes = futures_join(
            submissions
                .into_iter()
                .map(|(handle, automation, intent)| async move {
                    let outcome = handle.submit(Arc::clone(&automation), intent.clone()).await;
                    (automation, intent, outcome)
                }),
        )
        .await;
        let mut decisions = Vec::with_capacity(outcomes.len());
        for (automation, intent, outcome) in outcomes {
            decisions.push(self.recorded(&automation, &intent, outcome).await);
        }
        decisions
    }

    /// Record what became of `intent` and say it as the decision for its policy.
    async fn recorded(
        &self,
        automation: &crate::config::Automation,
        intent: &Intent,
        outcome: Outcome,
    ) -> Decision {
        self.record(automation, intent, &outcome).await;
        Decision {
            policy: intent.policy().clone(),
            automation: Some(automation.key.clone()),
            outcome,
        }
    }

    async fn record(&self, automation: &crate::config::Automation, intent: &Intent, outcome: &Outcome) {
        let policy = intent.policy();
        self.writes.note(&automation.key, outcome);
        if matches!(outcome, Outcome::Failed { retry: true, .. }) {
            // Not done: the next scan must try this pick again.
            self.selected
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(policy);
        }
        if let Outcome::Pushed { commit, .. } = outcome {
            let tag = &intent.value().tag;
            if let Err(error) = self
                .journal
                .record_deployment(policy, tag, commit, &automation.author.name, intent.cause())
                .await
            {
                // The commit is on the remote (and its trailers keep the history); say
                // that the journal's copy is missing rather than drop it unseen.
                tracing::error!(%policy, %tag, %commit, %error, "the deployment could not be recorded in the journal");
            }
            self.note_deployed(policy, tag.as_str());
            if let Some(observer) = self.on_pushed.get() {
                observer(super::reports::Pushed {
                    automation: automation.key.to_string(),
                    remote: crate::domain::redact_url(&automation.git.url).into_owned(),
                    policy: policy.to_string(),
                    tag: tag.to_string(),
                    commit: commit.clone(),
                    cause: intent.cause().to_owned(),
                });
            }
            metrics::counter!("pushdeploy_commits_total", "result" => "pushed").increment(1);
        }
    }

    /// Record what the registry said `tag` of `repository` names (a confirmation's digest);
    /// true when it is news. When an `IfNotPresent` policy watches `repository`, the first
    /// digest of the tag is kept in the journal before anything plans with it, so a restart
    /// keeps it too; a journal that cannot keep it is logged as an error and counted.
    pub(super) async fn note_digest(
        &self,
        repository: &ObjectKey,
        tag: &str,
        digest: crate::domain::Digest,
    ) -> bool {
        let keeps_first = self.settings.policies.values().any(|policy| {
            policy.repository == *repository && policy.digest_reflection == DigestReflection::IfNotPresent
        });
        if keeps_first && !self.registry.digests.has_first(repository, tag) {
            match self.journal.keep_first_digest(repository, tag, &digest).await {
                Ok(kept) => self.registry.digests.keep_first(repository, tag, kept),
                Err(error) => {
                    metrics::counter!("pushdeploy_journal_errors_total", "what" => "kept digest")
                        .increment(1);
                    tracing::error!(%repository, tag, %error, "the first digest of the tag could not be kept in the journal: after a restart IfNotPresent would take the next lookup's digest");
                }
            }
        }
        self.registry.digests.note(repository, tag, digest)
    }

    /// For every policy on `repository` that reflects digests: make sure the digest of its
    /// pick is known (one manifest HEAD when it is not). A lookup that fails is logged; the
    /// plan then says the digest is unknown and writes nothing for that policy.
    pub(super) async fn resolve_digests(&self, repository: &ObjectKey, tags: &[String]) {
        let borrowed: Vec<&str> = tags.iter().map(String::as_str).collect();
        let known = self.registry.digests.view(repository);
        let mut wanted: Vec<String> = self
            .settings
            .policies
            .values()
            .filter(|policy| policy.repository == *repository)
            .filter(|policy| policy.digest_reflection != DigestReflection::Never)
            .filter_map(|policy| policy.policy.select(&borrowed).ok())
            .filter(|pick| !known.latest.contains_key(*pick))
            .map(str::to_owned)
            .collect();
        wanted.sort();
        wanted.dedup();
        for tag in wanted {
            self.look_up_digest(repository, &tag).await;
        }
    }

    /// Ask the registry what `tag` names now and record it; true when it is news.
    pub(super) async fn look_up_digest(&self, repository: &ObjectKey, tag: &str) -> bool {
        let Some(client) = self.registry.client(repository) else {
            return false;
        };
        match client.manifest(tag).await {
            Ok(manifest) => self.note_digest(repository, tag, manifest.digest).await,
            Err(error) => {
                tracing::warn!(%repository, tag, %error, "cannot look up the digest to reflect");
                false
            }
        }
    }

    pub(super) fn note_deployed(&self, policy: &ObjectKey, tag: &str) {
        self.deployed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(policy.clone(), tag.to_owned());
    }
}

impl From<Skipped> for Decision {
    fn from(skipped: Skipped) -> Self {
        let outcome = if skipped.reason.is_failure() {
            Outcome::Failed {
                error: WriteFailure::Planned(skipped.reason),
                retry: false,
            }
        } else {
            Outcome::Skipped {
                reason: skipped.reason.to_string(),
            }
        };
        Self {
            policy: skipped.policy,
            automation: skipped.automation,
            outcome,
        }
    }
}

/// Run `futures` concurrently and return their outputs in order. A task that panicked is a
/// bug: it is logged with its panic and counted, never silently left out.
async fn futures_join<F: std::future::Future + Send + 'static>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let mut tasks = tokio::task::JoinSet::new();
    for (index, future) in futures.enumerate() {
        tasks.spawn(async move { (index, future.await) });
    }
    let mut outputs = Vec::with_capacity(tasks.len());
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(output) => outputs.push(output),
            Err(error) => task_failed(&error),
        }
    }
    outputs.sort_by_key(|(index, _)| *index);
    outputs.into_iter().map(|(_, output)| output).collect()
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn joined_outputs_keep_their_order_and_a_panicked_task_is_reported_not_lost_silently() {
        let futures = (0..5u64).map(|n| async move {
            tokio::time::sleep(std::time::Duration::from_millis(5 * (5 - n))).await;
            assert!(n != 2, "task 2 panics");
            n
        });
        let outputs = super::futures_join(futures).await;
        assert_eq!(outputs, vec![0, 1, 3, 4], "in order, the panicked one left out");
    }
}
