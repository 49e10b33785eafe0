//! What the API changes: promote, rollback, pin, resume (policy), suspend and resume
//! (automation), scan. Each is durable in the journal before it acts and noted in git.

use super::*;

impl Engine {
    /// Write `tag` for `key` now (synchronously) and pin the policy to it.
    pub async fn promote(
        &self,
        key: &ObjectKey,
        tag: &str,
        force: bool,
        by: &str,
        kind: Manual,
    ) -> Result<Promotion, ManualError> {
        let policy = self.owned_policy(key)?.clone();
        let field = if kind == Manual::Promote { "/tag" } else { "/to" };
        let parsed = Tag::parse(tag).map_err(|error| ManualError::Invalid {
            field,
            message: error.to_string(),
        })?;
        let tag = parsed.to_string();
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
        if let Some(frozen) = automations.iter().find(|a| a.suspended)
            && automations.iter().all(|a| a.suspended)
        {
            return Err(ManualError::Conflict(format!(
                "automation {} (the one that writes policy {key}) is suspended by its manifest (spec.suspend: true at {}); \
                 nothing was written; set suspend: false there first",
                frozen.key, frozen.origin
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
            .registry
            .client(&policy.repository)
            .ok_or_else(|| ManualError::Internal(format!("no registry client for {}", policy.repository)))?;
        let confirmed = if self.settings.trust_notifications {
            // Quickstart mode: no registry to ask (logged loudly at startup).
            Ok(None)
        } else {
            client.manifest(&tag).await.map(Some)
        };
        let manifest = match confirmed {
            Ok(manifest) => {
                // Confirmed: every view and the next decision know this tag from now on.
                self.registry.note_confirmed(&policy.repository, &tag);
                if let Some(manifest) = &manifest {
                    self.note_digest(&policy.repository, &tag, manifest.digest.clone())
                        .await;
                }
                manifest
            }
            Err(RegistryError::NotFound { .. }) => {
                return Err(ManualError::TagNotFound {
                    tag,
                    image: repository.image.to_string(),
                });
            }
            Err(source) => {
                return Err(ManualError::Upstream {
                    message: format!("cannot confirm {tag} in the registry, nothing was written"),
                    source: Some(Box::new(source.into())),
                });
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
        let previous_pin = self.overrides.pinned(key);
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
        self.journal.pin(key, &parsed, by).await?;
        self.overrides.pin(key, parsed.clone());
        let digests = self.registry.digests.view(&policy.repository);
        let planned = {
            let overrides = self.overrides.snapshot();
            let selected = BTreeMap::new();
            let snapshot = Snapshot {
                policies: self.policy_states(|policy| policy.key == *key, &digests),
                tags: &[],
                selected: &selected,
                overrides: &overrides,
            };
            let trigger = Trigger::Manual {
                tag: parsed.clone(),
                cause: cause.clone(),
            };
            plan(&snapshot, &trigger)
        };
        let mut pushed: Option<(String, Vec<MarkerChange>)> = None;
        let mut pull_request = None;
        let mut failure = planned.skipped.last().map(|skipped| skipped.reason.to_string());
        for decision in self.write(planned.intents).await {
            let Some(automation) = decision.automation else {
                continue;
            };
            let outcome = match decision.outcome {
                Outcome::Proposed {
                    commit,
                    changes,
                    request,
                } => {
                    pull_request = Some(request);
                    Outcome::Pushed { commit, changes }
                }
                other => other,
            };
            match outcome {
                Outcome::Pushed { commit, changes } => {
                    let entry = pushed.get_or_insert_with(|| (commit.clone(), Vec::new()));
                    entry.0 = commit;
                    entry.1.extend(changes.into_iter().map(|change| MarkerChange {
                        automation: automation.clone(),
                        file: change.file,
                        line: change.line,
                        setter: change.setter,
                        old: change.old,
                        new: change.new,
                    }));
                }
                Outcome::UpToDate | Outcome::Proposed { .. } => {}
                Outcome::Skipped { reason } => failure = Some(reason),
                Outcome::Failed { error, .. } => failure = Some(error.to_string()),
            }
        }
        if let Some(error) = failure {
            if pushed.is_none() {
                // Nothing landed: the pin is put back as it was.
                match &previous_pin {
                    Some(pin) => {
                        self.journal.pin(key, pin, by).await?;
                        self.overrides.pin(key, pin.clone());
                    }
                    None => {
                        self.journal.unpin(key).await?;
                        self.overrides.unpin(key);
                    }
                }
                return Err(ManualError::upstream(format!(
                    "{tag} was not written for policy {key}: {error}"
                )));
            }
            tracing::warn!(policy = %key, %error, "promotion landed only partly");
        }
        let (commit, changes) =
            pushed.map_or((None, Vec::new()), |(commit, changes)| (Some(commit), changes));
        tracing::info!(policy = %key, %tag, ?direction, by, "manual {cause}");
        Ok(Promotion {
            policy: key.clone(),
            tag: parsed,
            digest: manifest.map(|manifest| manifest.digest),
            previous: previous_tag,
            direction,
            commit,
            changes,
            pinned: true,
            pull_request,
        })
    }

    /// Promote back to `to`, or to the tag deployed before the one git names now.
    pub async fn rollback(
        &self,
        key: &ObjectKey,
        to: Option<String>,
        force: bool,
        by: &str,
    ) -> Result<Promotion, ManualError> {
        self.owned_policy(key)?;
        let target = match to {
            Some(to) => to,
            None => {
                // One fetch serves both the current tag and the history.
                let inspections = self.inspections_of(key).await?;
                let current = current_tag(key, &inspections);
                let history = self.history_from(key, &inspections).await?;
                rollback_target(current.as_deref(), &history).ok_or_else(|| {
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
    pub async fn pin(&self, key: &ObjectKey, by: &str) -> Result<Note, ManualError> {
        self.owned_policy(key)?;
        let lock = self.lock(key);
        let _serialised = lock.lock().await;
        let tag = self.tag_in_git(key).await?.ok_or_else(|| {
            ManualError::Conflict(format!(
                "no marker of policy {key} names a tag in git; promote a tag instead"
            ))
        })?;
        let tag = Tag::parse(&tag).map_err(|error| {
            ManualError::Conflict(format!(
                "git names {tag:?} for policy {key}, which is not an image tag ({error}); promote a tag instead"
            ))
        })?;
        self.journal.pin(key, &tag, by).await?;
        self.overrides.pin(key, tag.clone());
        let message = Trailer::message(
            &format!("chore(pushdeploy): pin {key} to {tag}"),
            &[
                Trailer::Cause(format!("pin by {by}")),
                Trailer::Pinned {
                    policy: key.to_string(),
                    tag: tag.to_string(),
                },
            ],
        );
        let commit = self.note(self.automations_of(key), message).await?;
        Ok(Note {
            target: key.clone(),
            pinned: Some(tag),
            suspended: None,
            commit,
            decision: None,
        })
    }

    /// Unpin `key`: automation takes over again at once (a decision over the known tags).
    pub async fn resume_policy(&self, key: &ObjectKey, by: &str) -> Result<Note, ManualError> {
        let policy = self.owned_policy(key)?.clone();
        let lock = self.lock(key);
        let _serialised = lock.lock().await;
        self.journal.unpin(key).await?;
        self.overrides.unpin(key);
        let message = Trailer::message(
            &format!("chore(pushdeploy): resume automatic updates of {key}"),
            &[
                Trailer::Cause(format!("resume by {by}")),
                Trailer::Resumed(key.to_string()),
            ],
        );
        let commit = self.note(self.automations_of(key), message).await?;
        self.forget_selection(key);
        let decision = self.redecide(&policy.repository, key).await;
        Ok(Note {
            target: key.clone(),
            pinned: None,
            suspended: None,
            commit,
            decision,
        })
    }

    /// Suspend (or resume) automatic updates by an automation; manual promotions still write.
    pub async fn set_suspended(&self, name: &str, suspended: bool, by: &str) -> Result<Note, ManualError> {
        let automation = Arc::new(self.automation(name)?.clone());
        let key = automation.key.clone();
        self.require_owner(crate::ownership::Subject::Automation(key.clone()))?;
        if automation.suspended {
            return Err(ManualError::Conflict(format!(
                "automation {key} is suspended by its manifest (spec.suspend: true at {}); the API cannot {} it: \
                 change the manifest",
                automation.origin,
                if suspended { "suspend" } else { "resume" }
            )));
        }
        let message = if suspended {
            self.journal.suspend(&key, by).await?;
            Trailer::message(
                &format!("chore(pushdeploy): suspend automation {key}"),
                &[
                    Trailer::Cause(format!("suspend by {by}")),
                    Trailer::Suspended(key.to_string()),
                ],
            )
        } else {
            self.journal.unsuspend(&key).await?;
            Trailer::message(
                &format!("chore(pushdeploy): resume automation {key}"),
                &[
                    Trailer::Cause(format!("resume by {by}")),
                    Trailer::Resumed(key.to_string()),
                ],
            )
        };
        self.overrides.set_suspended(&automation.key, suspended);
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
        Ok(Note {
            target: key,
            pinned: None,
            suspended: Some(suspended),
            commit,
            decision,
        })
    }

    /// Scan one image repository now.
    pub async fn scan(&self, key: &ObjectKey) -> Result<ScanReport, ManualError> {
        if !self.settings.repositories.contains_key(key) {
            return Err(ManualError::NotFound(format!(
                "no image repository {key}; GET /api/v1/policies names the configured ones"
            )));
        }
        self.require_owner(crate::ownership::Subject::Repository(key.clone()))?;
        if let Some(repository) = self.settings.repositories.get(key).filter(|r| r.suspended) {
            return Err(ManualError::Conflict(format!(
                "image repository {key} is suspended (spec.suspend: true at {}); it is not scanned until that says false",
                repository.origin
            )));
        }
        let ScanResult { tags, .. } =
            self.registry
                .scan_once(key)
                .await
                .map_err(|source| ManualError::Upstream {
                    message: format!("scanning {key} failed"),
                    source: Some(Box::new(source.into())),
                })?;
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
                Selection {
                    policy: policy.key.clone(),
                    selected,
                    error,
                }
            })
            .collect();
        Ok(ScanReport {
            repository: key.clone(),
            tag_count: tags.len(),
            policies,
        })
    }
}
