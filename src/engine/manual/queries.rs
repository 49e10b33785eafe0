//! What the API reads: policies with their pick, git values and pin; automations; history
//! (commit trailers of the branch plus the journal's deployments).

use super::*;

impl Engine {
    async fn policy_view(
        &self,
        policy: &ImagePolicy,
        inspections: &BTreeMap<ObjectKey, Result<Inspection, GitopsError>>,
        pins: &[crate::journal::Pin],
    ) -> Result<PolicyReport, ManualError> {
        let tags = self.registry.tags(&policy.repository);
        let borrowed: Vec<&str> = tags.iter().map(String::as_str).collect();
        let status = self
            .registry
            .status()
            .remove(&policy.repository)
            .unwrap_or_default();
        let pinned = pins
            .iter()
            .find(|pin| pin.policy == policy.key)
            .map(|pin| PinReport {
                tag: pin.tag.clone(),
                by: pin.pinned_by.clone(),
                at: pin.at,
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
                        .map(|site| MarkerValue {
                            automation: automation.key.clone(),
                            file: site.file.clone(),
                            line: site.line,
                            setter: site.setter.clone(),
                            value: site.value.clone(),
                        }),
                ),
                Some(Err(error)) => git_errors.push(format!("{}: {error}", automation.key)),
                None => {}
            }
        }
        Ok(PolicyReport {
            key: policy.key.clone(),
            repository: policy.repository.clone(),
            image: self
                .settings
                .repositories
                .get(&policy.repository)
                .map(|repository| repository.image.clone()),
            selected: policy.policy.select(&borrowed).ok().map(str::to_owned),
            pinned,
            in_git,
            git_error: (!git_errors.is_empty()).then(|| git_errors.join("; ")),
            last_scan: status.last_scan,
            last_error: status.last_error,
            tag_count: status.tag_count,
            pending_events: self.journal.pending(&policy.repository).await?,
            pull_request: self
                .journal
                .proposals(None, 500)
                .await?
                .iter()
                .find(|proposal| {
                    proposal.state == crate::journal::ProposalState::Open
                        && proposal.proposed.contains_key(&policy.key)
                })
                .map(crate::engine::reports::PullRequestRef::of),
        })
    }

    pub async fn policies(&self) -> Result<Vec<PolicyReport>, ManualError> {
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

    pub async fn policy_detail(&self, key: &ObjectKey) -> Result<PolicyReport, ManualError> {
        let policy = self.policy(key)?;
        let inspections = self.inspect(self.automations_of(key)).await;
        let pins = self.journal.pins().await?;
        self.policy_view(policy, &inspections, &pins).await
    }

    /// What the console shows: every policy (or the one `only` names) with its report, its
    /// history and up to `candidates` promotable tags, from one inspection per automation.
    pub async fn overview(
        &self,
        only: Option<&ObjectKey>,
        candidates: usize,
    ) -> Result<Vec<PolicyOverview>, ManualError> {
        let policies: Vec<&ImagePolicy> = match only {
            Some(key) => vec![self.policy(key)?],
            None => self.settings.policies.values().collect(),
        };
        let automations: Vec<Arc<Automation>> = self
            .settings
            .automations
            .values()
            .filter(|automation| {
                policies
                    .iter()
                    .any(|policy| automation.policies.contains(&policy.key))
            })
            .map(|automation| Arc::new(automation.clone()))
            .collect();
        let inspections = self.inspect(automations).await;
        let pins = self.journal.pins().await?;
        let mut overviews = Vec::new();
        for policy in policies {
            let report = self.policy_view(policy, &inspections, &pins).await?;
            let mut marker_warnings = Vec::new();
            let mut own: Vec<Inspection> = Vec::new();
            for automation in self.automations_of(&policy.key) {
                if let Some(Ok(inspection)) = inspections.get(&automation.key) {
                    marker_warnings.extend(
                        inspection
                            .warnings
                            .iter()
                            .map(|warning| (automation.key.clone(), warning.clone())),
                    );
                    own.push(inspection.clone());
                }
            }
            let history = self.history_from(&policy.key, &own).await?;
            let current = current_tag(&policy.key, &own);
            let tags = self.registry.tags(&policy.repository);
            let mut left: Vec<&str> = tags
                .iter()
                .map(String::as_str)
                .filter(|tag| policy.policy.accepts(tag))
                .collect();
            // Newest first by the policy's own ordering: select, take out, select again.
            let mut ranked = Vec::new();
            while ranked.len() < candidates {
                let Ok(best) = policy.policy.select(&left) else {
                    break;
                };
                ranked.push(best.to_owned());
                left.retain(|tag| *tag != best);
            }
            let borrowed: Vec<&str> = tags.iter().map(String::as_str).collect();
            overviews.push(PolicyOverview {
                select_error: (!tags.is_empty())
                    .then(|| {
                        policy
                            .policy
                            .select(&borrowed)
                            .err()
                            .map(|error| error.to_string())
                    })
                    .flatten(),
                rollback_to: rollback_target(current.as_deref(), &history),
                report,
                history,
                candidates: ranked,
                marker_warnings,
            });
        }
        Ok(overviews)
    }

    pub async fn automations(&self) -> Result<Vec<AutomationReport>, ManualError> {
        let suspensions = self.journal.suspensions().await?;
        Ok(self
            .settings
            .automations
            .values()
            .map(|automation| AutomationReport {
                key: automation.key.clone(),
                url: crate::domain::redact_url(&automation.git.url).into_owned(),
                checkout_branch: automation.checkout_branch.clone(),
                push_branch: automation.push_branch.clone(),
                update_path: automation.update_path.clone(),
                policies: automation.policies.clone(),
                // A manifest's `spec.suspend: true` is named by its origin (file:line); it has
                // no time of its own.
                suspended: if automation.suspended {
                    Some(SuspensionReport {
                        by: format!("manifest ({})", automation.origin),
                        at: None,
                    })
                } else {
                    suspensions
                        .iter()
                        .find(|suspension| suspension.automation == automation.key)
                        .map(|suspension| SuspensionReport {
                            by: suspension.suspended_by.clone(),
                            at: Some(suspension.at),
                        })
                },
            })
            .collect())
    }

    /// Every deployment of `key`, newest first: from git history (commit trailers) plus the
    /// journal (deployments whose commit is no longer on the branch are marked `in_git: false`).
    pub async fn history(&self, key: &ObjectKey) -> Result<Vec<Deployed>, ManualError> {
        self.policy(key)?;
        let inspections = self.inspections_of(key).await?;
        self.history_from(key, &inspections).await
    }

    pub(super) async fn history_from(
        &self,
        key: &ObjectKey,
        inspections: &[Inspection],
    ) -> Result<Vec<Deployed>, ManualError> {
        let key_text = key.to_string();
        let mut entries: Vec<Deployed> = Vec::new();
        for inspection in inspections {
            for commit in &inspection.log {
                let trailers = Trailer::parse_all(&commit.message);
                let Some((tag, cause)) = crate::trailer::deployment_of(&trailers, &key_text) else {
                    continue;
                };
                let cause = cause.to_owned();
                if entries.iter().any(|entry| entry.commit == commit.commit) {
                    continue;
                }
                entries.push(Deployed {
                    tag: tag.to_owned(),
                    commit: commit.commit.clone(),
                    author: commit.author.clone(),
                    at: commit.time,
                    kind: HistoryCause::of(&cause),
                    cause,
                    in_git: true,
                    pull_request: None,
                });
            }
        }
        for deployment in self.journal.deployments(key).await? {
            if entries.iter().any(|entry| entry.commit == deployment.commit_sha) {
                continue;
            }
            entries.push(Deployed {
                tag: deployment.tag.to_string(),
                commit: deployment.commit_sha,
                author: deployment.author,
                at: deployment.at,
                kind: HistoryCause::of(&deployment.cause),
                cause: deployment.cause,
                in_git: false,
                pull_request: None,
            });
        }
        // Pull-request mode: each request next to the deployment it proposed (the same
        // commit once merged), or on its own while it is not merged.
        for proposal in self.journal.proposals(None, 500).await? {
            let Some(value) = proposal.proposed.get(key) else {
                continue;
            };
            let request = crate::engine::reports::PullRequestRef::of(&proposal);
            if let Some(entry) = entries.iter_mut().find(|entry| entry.commit == proposal.head) {
                entry.pull_request.get_or_insert(request);
                continue;
            }
            let author = self
                .settings
                .automations
                .get(&proposal.automation)
                .map(|automation| format!("{} <{}>", automation.author.name, automation.author.email))
                .unwrap_or_default();
            let number = proposal
                .number
                .map_or_else(|| format!("on branch {}", proposal.branch), |n| format!("#{n}"));
            entries.push(Deployed {
                tag: value.tag.to_string(),
                commit: proposal.head.clone(),
                author,
                at: proposal.updated_at,
                kind: HistoryCause::Proposed,
                cause: format!("proposed in pull request {number} ({})", proposal.state.as_str()),
                in_git: false,
                pull_request: Some(request),
            });
        }
        entries.sort_by_key(|entry| std::cmp::Reverse(entry.at));
        Ok(entries)
    }
}
