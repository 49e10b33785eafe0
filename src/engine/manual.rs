//! Manual control, as the REST API offers it: promote, rollback, pin, resume, suspend, scan,
//! history. Every override is durable (journal) before it acts, is honoured by the writers at
//! write time (`gitops::Overrides`), and is visible in git (commit trailers). Promotions of one
//! policy are serialised, so two different outcomes are never both reported as success.

use super::Engine;
use super::views::{
    AutomationView, ChangeView, Direction, GitValue, HistoryCause, HistoryEntry, NoteResult, PinView,
    PolicyView, PromoteResult, ScanView, SelectedView,
};
use crate::config::{Automation, ImagePolicy};
use crate::domain::{ObjectKey, Tag};
use crate::gitops::{Inspection, Intent, Outcome};
use crate::poller::ScanResult;
use crate::registry::RegistryError;
use crate::setter::PolicyValue;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Why a manual call failed; the HTTP layer maps each to a problem type.
#[derive(Debug, thiserror::Error)]
pub enum ManualError {
    #[error("{0}")]
    NotFound(String),
    #[error("{message}")]
    Invalid { field: &'static str, message: String },
    #[error(
        "tag {tag} does not exist in {image}: nothing was written; push it first or pick an existing tag"
    )]
    TagNotFound { tag: String, image: String },
    #[error(
        "tag {tag} does not pass policy {policy} ({reason}); nothing was written. Send \"force\": true to promote it anyway"
    )]
    PolicyRejects {
        tag: String,
        policy: String,
        reason: String,
    },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Upstream(String),
    #[error("{0}")]
    Internal(String),
}

impl From<crate::journal::JournalError> for ManualError {
    fn from(error: crate::journal::JournalError) -> Self {
        Self::Internal(error.to_string())
    }
}

/// What kind of manual write this is (recorded as the commit's cause).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Manual {
    Promote,
    Rollback,
}

impl Engine {
    /// Load pins and suspensions from the journal into the writers' overrides (at startup).
    pub async fn load_overrides(&self) -> Result<(), crate::journal::JournalError> {
        let overrides = self.writers.overrides();
        for (policy, tag, _, _) in self.journal.pins().await? {
            if let Ok(key) = ObjectKey::parse(&policy) {
                overrides.pin(&key, &tag);
            }
        }
        for key in self.settings.policies.keys() {
            if let Some(tag) = self.journal.last_deployed(&key.to_string()).await? {
                self.note_deployed(key, &tag);
            }
        }
        for (automation, _, _) in self.journal.suspensions().await? {
            if let Ok(key) = ObjectKey::parse(&automation) {
                overrides.set_suspended(&key, true);
            }
        }
        Ok(())
    }

    fn policy(&self, key: &ObjectKey) -> Result<&ImagePolicy, ManualError> {
        self.settings.policies.get(key).ok_or_else(|| {
            ManualError::NotFound(format!(
                "no image policy {key}; GET /api/v1/policies lists the configured ones"
            ))
        })
    }

    fn automations_of(&self, policy: &ObjectKey) -> Vec<Arc<Automation>> {
        self.settings
            .automations
            .values()
            .filter(|automation| automation.policies.contains(policy))
            .map(|automation| Arc::new(automation.clone()))
            .collect()
    }

    /// Fetch and read what git holds for `automations` (one inspection each); a failure is kept
    /// per automation so that a view can still show the rest.
    async fn inspect(
        &self,
        automations: Vec<Arc<Automation>>,
    ) -> BTreeMap<ObjectKey, Result<Inspection, String>> {
        let mut inspections = BTreeMap::new();
        for automation in automations {
            let result = self
                .writers
                .handle(&automation)
                .inspect(Arc::clone(&automation))
                .await
                .map_err(|error| error.to_string());
            inspections.insert(automation.key.clone(), result);
        }
        inspections
    }

    /// The inspections of the automations that write `policy`; any failure fails the call.
    async fn inspections_of(&self, policy: &ObjectKey) -> Result<Vec<Inspection>, ManualError> {
        self.inspect(self.automations_of(policy))
            .await
            .into_values()
            .map(|result| result.map_err(ManualError::Upstream))
            .collect()
    }

    async fn policy_view(
        &self,
        policy: &ImagePolicy,
        inspections: &BTreeMap<ObjectKey, Result<Inspection, String>>,
        pins: &[(String, String, String, i64)],
    ) -> Result<PolicyView, ManualError> {
        let tags = self.poller.tags(&policy.repository);
        let borrowed: Vec<&str> = tags.iter().map(String::as_str).collect();
        let status = self
            .poller
            .status()
            .remove(&policy.repository)
            .unwrap_or_default();
        let key_text = policy.key.to_string();
        let pinned = pins
            .iter()
            .find(|(key, ..)| *key == key_text)
            .map(|(_, tag, by, at)| PinView {
                tag: tag.clone(),
                by: by.clone(),
                at: *at,
            });
        let mut in_git = Vec::new();
        let mut git_errors = Vec::new();
        for automation in self.automations_of(&policy.key) {
            match inspections.get(&automation.key) {
                Some(Ok(inspection)) => in_git.extend(
                    inspection
                        .sites
                        .iter()
                        .filter(|site| site.policy == policy.key)
                        .map(|site| GitValue {
                            automation: automation.key.to_string(),
                            file: site.file.display().to_string(),
                            line: site.line,
                            setter: site.setter.clone(),
                            value: site.value.clone(),
                        }),
                ),
                Some(Err(error)) => git_errors.push(format!("{}: {error}", automation.key)),
                None => {}
            }
        }
        Ok(PolicyView {
            namespace: policy.key.namespace.clone(),
            name: policy.key.name.clone(),
            image_repository: policy.repository.to_string(),
            image: self
                .settings
                .repositories
                .get(&policy.repository)
                .map(|repository| repository.image.to_string())
                .unwrap_or_default(),
            selected: policy.policy.select(&borrowed).ok().map(str::to_owned),
            pinned,
            in_git,
            git_error: (!git_errors.is_empty()).then(|| git_errors.join("; ")),
            last_scan: status.last_scan,
            last_error: status.last_error,
            tag_count: status.tag_count,
            pending_events: self.journal.pending(&policy.repository.to_string()).await?,
        })
    }

    pub async fn policies(&self) -> Result<Vec<PolicyView>, ManualError> {
        let all: Vec<Arc<Automation>> = self
            .settings
            .automations
            .values()
            .map(|automation| Arc::new(automation.clone()))
            .collect();
        let inspections = self.inspect(all).await;
        let pins = self.journal.pins().await?;
        let mut views = Vec::new();
        for policy in self.settings.policies.values() {
            views.push(self.policy_view(policy, &inspections, &pins).await?);
        }
        Ok(views)
    }

    pub async fn policy_detail(&self, key: &ObjectKey) -> Result<PolicyView, ManualError> {
        let policy = self.policy(key)?;
        let inspections = self.inspect(self.automations_of(key)).await;
        let pins = self.journal.pins().await?;
        self.policy_view(policy, &inspections, &pins).await
    }

    /// The serialisation lock of one policy's manual calls.
    fn lock(&self, key: &ObjectKey) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.manual_locks.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(locks.entry(key.clone()).or_default())
    }

    /// The tag git currently names for `policy` (first tag-bearing marker), after a fetch.
    async fn tag_in_git(&self, policy: &ObjectKey) -> Result<Option<String>, ManualError> {
        Ok(current_tag(policy, &self.inspections_of(policy).await?))
    }

    /// Write `tag` for `key` now (synchronously) and pin the policy to it.
    pub async fn promote(
        &self,
        key: &ObjectKey,
        tag: &str,
        force: bool,
        by: &str,
        kind: Manual,
    ) -> Result<PromoteResult, ManualError> {
        let policy = self.policy(key)?.clone();
        let field = if kind == Manual::Promote { "/tag" } else { "/to" };
        let tag = Tag::parse(tag)
            .map_err(|error| ManualError::Invalid {
                field,
                message: error.to_string(),
            })?
            .to_string();
        if !force && !policy.policy.accepts(&tag) {
            return Err(ManualError::PolicyRejects {
                tag,
                policy: key.to_string(),
                reason: describe(&policy),
            });
        }
        let automations = self.automations_of(key);
        if automations.is_empty() {
            return Err(ManualError::Conflict(format!(
                "no image update automation writes the markers of policy {key}; add one that covers its namespace"
            )));
        }
        let Some(repository) = self.settings.repositories.get(&policy.repository) else {
            return Err(ManualError::Internal(format!(
                "policy {key} names {} which is not configured",
                policy.repository
            )));
        };
        let lock = self.lock(key);
        let _serialised = lock.lock().await;
        let client = self
            .poller
            .client(&policy.repository)
            .ok_or_else(|| ManualError::Internal(format!("no registry client for {}", policy.repository)))?;
        let confirmed = if self.settings.trust_notifications {
            // Quickstart mode: no registry to ask (logged loudly at startup).
            Ok(crate::registry::Manifest {
                digest: String::new(),
                media_type: String::new(),
            })
        } else {
            client.manifest(&tag).await
        };
        let manifest = match confirmed {
            Ok(manifest) => {
                // Confirmed: every view and the next decision know this tag from now on.
                self.poller.note_confirmed(&policy.repository, &tag);
                manifest
            }
            Err(RegistryError::NotFound { .. }) => {
                return Err(ManualError::TagNotFound {
                    tag,
                    image: repository.image.to_string(),
                });
            }
            Err(error) => {
                return Err(ManualError::Upstream(format!(
                    "cannot confirm {tag} in the registry, nothing was written: {error}"
                )));
            }
        };
        let previous_tag = self.tag_in_git(key).await?;
        let direction = match &previous_tag {
            None => Direction::Unknown,
            Some(previous) if *previous == tag => Direction::Same,
            Some(previous) => match policy.policy.select(&[previous.as_str(), tag.as_str()]) {
                Ok(picked) if picked == tag => Direction::Forward,
                Ok(_) => Direction::Backward,
                Err(_) => Direction::Unknown,
            },
        };
        let key_text = key.to_string();
        let previous_pin = self.writers.overrides().pinned(key);
        // Moving backwards is allowed here, and recorded as such (commit trailer, history).
        let moved = match (&direction, &previous_tag) {
            (Direction::Backward, Some(previous)) => format!(" (backward from {previous})"),
            _ => String::new(),
        };
        let cause = format!(
            "{} by {by}{moved}",
            if kind == Manual::Promote {
                "promote"
            } else {
                "rollback"
            }
        );
        // Durable first: the pin holds across a crash between here and the push.
        self.journal.pin(&key_text, &tag, by).await?;
        self.writers.overrides().pin(key, &tag);
        let mut pushed: Option<(String, Vec<ChangeView>)> = None;
        let mut failure = None;
        for automation in automations {
            let intent = Intent {
                automation: Arc::clone(&automation),
                policy: key.clone(),
                value: PolicyValue {
                    image: repository.image.to_string(),
                    tag: tag.clone(),
                    // As the automatic path writes it (Flux without digestReflectionPolicy).
                    digest: None,
                },
                ranking: Some(policy.policy.clone()),
                explicit: true,
                cause: cause.clone(),
            };
            let outcome = self.writers.handle(&automation).submit(intent).await;
            self.writes.note(&automation.key, &outcome);
            match outcome {
                Outcome::Pushed { commit, changes } => {
                    self.journal
                        .record_deployment(&key_text, &tag, &commit, &automation.author.name, &cause)
                        .await?;
                    self.note_deployed(key, &tag);
                    let entry = pushed.get_or_insert_with(|| (commit.clone(), Vec::new()));
                    entry.0 = commit;
                    entry.1.extend(changes.into_iter().map(|change| ChangeView {
                        automation: automation.key.to_string(),
                        file: change.file.display().to_string(),
                        line: change.line,
                        setter: change.setter,
                        old: change.old,
                        new: change.new,
                    }));
                }
                Outcome::UpToDate => {}
                Outcome::Skipped { reason } => failure = Some(reason),
                Outcome::Failed { error, .. } => failure = Some(error),
            }
        }
        if let Some(error) = failure {
            if pushed.is_none() {
                // Nothing landed: the pin is put back as it was.
                match &previous_pin {
                    Some(pin) => {
                        self.journal.pin(&key_text, pin, by).await?;
                        self.writers.overrides().pin(key, pin);
                    }
                    None => {
                        self.journal.unpin(&key_text).await?;
                        self.writers.overrides().unpin(key);
                    }
                }
                return Err(ManualError::Upstream(format!(
                    "{tag} was not written for policy {key}: {error}"
                )));
            }
            tracing::warn!(policy = %key, %error, "promotion landed only partly");
        }
        let (commit, changes) =
            pushed.map_or((None, Vec::new()), |(commit, changes)| (Some(commit), changes));
        tracing::info!(policy = %key, %tag, ?direction, by, "manual {cause}");
        Ok(PromoteResult {
            policy: key_text,
            tag,
            digest: manifest.digest,
            previous: previous_tag,
            direction,
            outcome: if commit.is_some() {
                "pushed".to_owned()
            } else {
                "up-to-date".to_owned()
            },
            commit,
            changes,
            pinned: true,
        })
    }

    /// Promote back to `to`, or to the tag deployed before the one git names now.
    pub async fn rollback(
        &self,
        key: &ObjectKey,
        to: Option<String>,
        force: bool,
        by: &str,
    ) -> Result<PromoteResult, ManualError> {
        self.policy(key)?;
        let target = match to {
            Some(to) => to,
            None => {
                // One fetch serves both the current tag and the history.
                let inspections = self.inspections_of(key).await?;
                let current = current_tag(key, &inspections);
                self.history_from(key, &inspections)
                    .await?
                    .into_iter()
                    .map(|entry| entry.tag)
                    .find(|tag| Some(tag) != current.as_ref())
                    .ok_or_else(|| {
                        ManualError::Conflict(format!(
                            "no deployment of policy {key} before {} is recorded; name the tag with {{\"to\": \"TAG\"}}",
                            current.as_deref().unwrap_or("the current one")
                        ))
                    })?
            }
        };
        self.promote(key, &target, force, by, Manual::Rollback).await
    }

    /// Pin `key` at the tag git names now; recorded as an empty commit.
    pub async fn pin(&self, key: &ObjectKey, by: &str) -> Result<NoteResult, ManualError> {
        self.policy(key)?;
        let lock = self.lock(key);
        let _serialised = lock.lock().await;
        let tag = self.tag_in_git(key).await?.ok_or_else(|| {
            ManualError::Conflict(format!(
                "no marker of policy {key} names a tag in git; promote a tag instead"
            ))
        })?;
        self.journal.pin(&key.to_string(), &tag, by).await?;
        self.writers.overrides().pin(key, &tag);
        let message = format!(
            "chore(pushdeploy): pin {key} to {tag}\n\nPushdeploy-Cause: pin by {by}\nPushdeploy-Pinned: {key}={tag}\n"
        );
        let commit = self.note(self.automations_of(key), message).await?;
        Ok(NoteResult {
            target: key.to_string(),
            pinned: Some(tag),
            suspended: None,
            commit,
            decision: None,
        })
    }

    /// Unpin `key`: automation takes over again at once (a decision over the known tags).
    pub async fn resume_policy(&self, key: &ObjectKey, by: &str) -> Result<NoteResult, ManualError> {
        let policy = self.policy(key)?.clone();
        let lock = self.lock(key);
        let _serialised = lock.lock().await;
        self.journal.unpin(&key.to_string()).await?;
        self.writers.overrides().unpin(key);
        let message = format!(
            "chore(pushdeploy): resume automatic updates of {key}\n\nPushdeploy-Cause: resume by {by}\nPushdeploy-Resumed: {key}\n"
        );
        let commit = self.note(self.automations_of(key), message).await?;
        self.forget_selection(key);
        let decision = self.redecide(&policy.repository, key).await;
        Ok(NoteResult {
            target: key.to_string(),
            pinned: None,
            suspended: None,
            commit,
            decision,
        })
    }

    fn forget_selection(&self, key: &ObjectKey) {
        self.selected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }

    /// Decide again over the known tags of `repository`; the outcome for `policy`, summarised.
    async fn redecide(&self, repository: &ObjectKey, policy: &ObjectKey) -> Option<String> {
        let tags = self.poller.tags(repository);
        let decisions = self.decide(repository, &tags, None, "resume").await;
        decisions
            .into_iter()
            .find(|decision| decision.policy == *policy)
            .map(|decision| match decision.outcome {
                Outcome::Pushed { commit, .. } => format!("pushed {commit}"),
                Outcome::UpToDate => "up to date".to_owned(),
                Outcome::Skipped { reason } => reason,
                Outcome::Failed { error, .. } => format!("failed: {error}"),
            })
    }

    async fn note(
        &self,
        automations: Vec<Arc<Automation>>,
        message: String,
    ) -> Result<Option<String>, ManualError> {
        let mut last = None;
        for automation in automations {
            last = Some(
                self.writers
                    .handle(&automation)
                    .note(Arc::clone(&automation), message.clone())
                    .await
                    .map_err(|error| {
                        ManualError::Upstream(format!(
                            "recorded, but the note commit on {} failed: {error}",
                            crate::domain::redact_url(&automation.git.url)
                        ))
                    })?,
            );
        }
        Ok(last)
    }

    fn automation(&self, name: &str) -> Result<&Automation, ManualError> {
        if let Ok(key) = ObjectKey::parse(name) {
            return self
                .settings
                .automations
                .get(&key)
                .ok_or_else(|| ManualError::NotFound(format!("no image update automation {key}")));
        }
        let matches: Vec<&Automation> = self
            .settings
            .automations
            .values()
            .filter(|automation| automation.key.name == name)
            .collect();
        match matches.as_slice() {
            [one] => Ok(one),
            [] => Err(ManualError::NotFound(format!(
                "no image update automation named {name:?}; GET /api/v1/automations lists them"
            ))),
            many => Err(ManualError::Conflict(format!(
                "{name:?} names automations in several namespaces ({}); use namespace:name",
                many.iter()
                    .map(|automation| automation.key.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    pub async fn automations(&self) -> Result<Vec<AutomationView>, ManualError> {
        let suspensions = self.journal.suspensions().await?;
        Ok(self
            .settings
            .automations
            .values()
            .map(|automation| {
                let key = automation.key.to_string();
                let suspended = suspensions.iter().find(|(name, ..)| *name == key);
                AutomationView {
                    namespace: automation.key.namespace.clone(),
                    name: automation.key.name.clone(),
                    url: crate::domain::redact_url(&automation.git.url).into_owned(),
                    checkout_branch: automation.checkout_branch.clone(),
                    push_branch: automation.push_branch.clone(),
                    update_path: automation.update_path.clone(),
                    policies: automation.policies.iter().map(ToString::to_string).collect(),
                    suspended: suspended.is_some(),
                    suspended_by: suspended.map(|(_, by, _)| by.clone()),
                    suspended_at: suspended.map(|(_, _, at)| *at),
                }
            })
            .collect())
    }

    /// Suspend (or resume) automatic updates by an automation; manual promotions still write.
    pub async fn set_suspended(
        &self,
        name: &str,
        suspended: bool,
        by: &str,
    ) -> Result<NoteResult, ManualError> {
        let automation = Arc::new(self.automation(name)?.clone());
        let key = automation.key.to_string();
        let message = if suspended {
            self.journal.suspend(&key, by).await?;
            format!(
                "chore(pushdeploy): suspend automation {key}\n\nPushdeploy-Cause: suspend by {by}\nPushdeploy-Suspended: {key}\n"
            )
        } else {
            self.journal.unsuspend(&key).await?;
            format!(
                "chore(pushdeploy): resume automation {key}\n\nPushdeploy-Cause: resume by {by}\nPushdeploy-Resumed: {key}\n"
            )
        };
        self.writers.overrides().set_suspended(&automation.key, suspended);
        let commit = self.note(vec![Arc::clone(&automation)], message).await?;
        let mut decision = None;
        if !suspended {
            for policy in &automation.policies {
                self.forget_selection(policy);
                if let Some(repository) = self.settings.policies.get(policy).map(|p| p.repository.clone()) {
                    decision = self.redecide(&repository, policy).await.or(decision);
                }
            }
        }
        Ok(NoteResult {
            target: key,
            pinned: None,
            suspended: Some(suspended),
            commit,
            decision,
        })
    }

    /// Scan one image repository now.
    pub async fn scan(&self, key: &ObjectKey) -> Result<ScanView, ManualError> {
        if !self.settings.repositories.contains_key(key) {
            return Err(ManualError::NotFound(format!(
                "no image repository {key}; GET /api/v1/policies names the configured ones"
            )));
        }
        let ScanResult { tags, .. } = self
            .poller
            .scan_once(key)
            .await
            .map_err(|error| ManualError::Upstream(format!("scanning {key} failed: {error}")))?;
        let borrowed: Vec<&str> = tags.iter().map(String::as_str).collect();
        let policies = self
            .settings
            .policies
            .values()
            .filter(|policy| policy.repository == *key)
            .map(|policy| {
                let (selected, error) = match policy.policy.select(&borrowed) {
                    Ok(tag) => (Some(tag.to_owned()), None),
                    Err(error) => (None, Some(error.to_string())),
                };
                SelectedView {
                    policy: policy.key.to_string(),
                    selected,
                    error,
                }
            })
            .collect();
        Ok(ScanView {
            repository: key.to_string(),
            tag_count: tags.len(),
            policies,
        })
    }

    /// Every deployment of `key`, newest first: from git history (commit trailers) plus the
    /// journal (deployments whose commit is no longer on the branch are marked `in_git: false`).
    pub async fn history(&self, key: &ObjectKey) -> Result<Vec<HistoryEntry>, ManualError> {
        self.policy(key)?;
        let inspections = self.inspections_of(key).await?;
        self.history_from(key, &inspections).await
    }

    async fn history_from(
        &self,
        key: &ObjectKey,
        inspections: &[Inspection],
    ) -> Result<Vec<HistoryEntry>, ManualError> {
        let key_text = key.to_string();
        let mut entries: Vec<HistoryEntry> = Vec::new();
        for inspection in inspections {
            for commit in &inspection.log {
                let trailers = parse_trailers(&commit.message);
                let Some(tag) = trailers
                    .iter()
                    .filter(|(name, _)| name == "Pushdeploy-Deployed")
                    .find_map(|(_, value)| value.strip_prefix(&format!("{key_text}=")))
                else {
                    continue;
                };
                let cause = trailers
                    .iter()
                    .find(|(name, _)| name == "Pushdeploy-Cause")
                    .map_or_else(String::new, |(_, value)| value.clone());
                if entries.iter().any(|entry| entry.commit == commit.commit) {
                    continue;
                }
                entries.push(HistoryEntry {
                    tag: tag.to_owned(),
                    commit: commit.commit.clone(),
                    author: commit.author.clone(),
                    at: commit.time,
                    kind: HistoryCause::of(&cause),
                    cause,
                    in_git: true,
                });
            }
        }
        for (tag, commit, author, cause, at) in self.journal.deployments(&key_text).await? {
            if entries.iter().any(|entry| entry.commit == commit) {
                continue;
            }
            entries.push(HistoryEntry {
                tag,
                commit,
                author,
                at,
                kind: HistoryCause::of(&cause),
                cause,
                in_git: false,
            });
        }
        entries.sort_by_key(|entry| std::cmp::Reverse(entry.at));
        Ok(entries)
    }
}

/// The tag the first tag-bearing marker of `policy` names in `inspections`.
fn current_tag(policy: &ObjectKey, inspections: &[Inspection]) -> Option<String> {
    inspections
        .iter()
        .flat_map(|inspection| &inspection.sites)
        .filter(|site| site.policy == *policy)
        .find_map(|site| site.tag().map(str::to_owned))
}

/// `Name: value` lines of a commit message's last paragraph.
fn parse_trailers(message: &str) -> Vec<(String, String)> {
    let last = message.trim_end().rsplit("\n\n").next().unwrap_or_default();
    last.lines()
        .filter_map(|line| {
            let (name, value) = line.split_once(": ")?;
            (!name.is_empty() && !name.contains(' ')).then(|| (name.to_owned(), value.trim().to_owned()))
        })
        .collect()
}

fn describe(policy: &ImagePolicy) -> String {
    let filter = policy.policy.filter.as_ref().map_or_else(String::new, |filter| {
        format!("filterTags {:?}, ", filter.pattern())
    });
    format!("{filter}{}", policy.policy.rule)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailers_come_from_the_last_paragraph_only() {
        let message = "chore: update\n\nBody: not a trailer here\nmore\n\nPushdeploy-Cause: promote by ops\nPushdeploy-Deployed: flux-system/mcp=3-abc\n";
        assert_eq!(
            parse_trailers(message),
            vec![
                ("Pushdeploy-Cause".to_owned(), "promote by ops".to_owned()),
                (
                    "Pushdeploy-Deployed".to_owned(),
                    "flux-system/mcp=3-abc".to_owned()
                ),
            ]
        );
        assert!(parse_trailers("one line").is_empty());
    }
}
