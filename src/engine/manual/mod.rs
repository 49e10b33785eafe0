//! Manual control, as the REST API offers it: `commands.rs` (promote, rollback, pin, resume,
//! suspend, scan) and `queries.rs` (policies, automations, history), over the shared lookups
//! here. Every override is durable (journal) before it acts, is honoured by the writers at
//! write time (`engine::SharedOverrides` through `gitops::Gate`), and is visible in git (commit trailers). Promotions of one
//! policy are serialised, so two different outcomes are never both reported as success.

mod commands;
mod queries;

use super::Engine;
use super::reports::{
    AutomationReport, Deployed, Direction, HistoryCause, MarkerChange, MarkerValue, Note, PinReport,
    PolicyOverview, PolicyReport, Promotion, ScanReport, Selection, SuspensionReport,
};
use crate::config::{Automation, ImagePolicy};
use crate::domain::{ObjectKey, Tag};
use crate::gitops::{GitopsError, Inspection, Outcome};
use crate::journal::JournalError;
use crate::plan::{Snapshot, Trigger, plan};
use crate::registry::RegistryError;
use crate::registry::ScanResult;
use crate::trailer::Trailer;
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
    /// A registry or git remote failed, or a writer reported that a write did not land; the
    /// failure underneath is kept as the source when there is one.
    #[error("{}", joined(message, source.as_deref()))]
    Upstream {
        message: String,
        #[source]
        source: Option<Box<Upstream>>,
    },
    #[error("{0}")]
    Internal(String),
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// Replicas share the work and another one owns what this call would write (HTTP 503).
    #[error(
        "{subject} is in {shard}, which another replica owns; this replica does not write it. Retry (behind a Service a retry may reach the owner); each replica's /status lists the shards it owns"
    )]
    NotOwner { subject: String, shard: String },
}

/// What failed upstream of a manual call.
#[derive(Debug, thiserror::Error)]
pub enum Upstream {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Git(#[from] GitopsError),
}

impl ManualError {
    /// An upstream failure known only by what a writer reported (no error value to keep).
    fn upstream(message: String) -> Self {
        Self::Upstream {
            message,
            source: None,
        }
    }
}

/// `message: source`, or whichever of the two there is.
fn joined(message: &str, source: Option<&Upstream>) -> String {
    match source {
        Some(source) if message.is_empty() => source.to_string(),
        Some(source) => format!("{message}: {source}"),
        None => message.to_owned(),
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
    /// A stored pin or suspension that does not parse fails the load, naming the row: an
    /// override silently skipped would let automation overwrite what someone pinned.
    pub async fn load_overrides(&self) -> Result<(), JournalError> {
        // Built aside and swapped in whole: a writer never sees a half-loaded set (a reload
        // after an ownership change must not open a window without the pins).
        let loaded = super::SharedOverrides::default();
        for pin in self.journal.pins().await? {
            loaded.pin(&pin.policy, pin.tag.clone());
        }
        for key in self.settings.policies.keys() {
            if let Some(tag) = self.journal.last_deployed(key).await? {
                self.note_deployed(key, tag.as_str());
            }
        }
        for automation in self.settings.automations.values().filter(|a| a.suspended) {
            tracing::warn!(automation = %automation.key, origin = %automation.origin, "suspended by its manifest (spec.suspend: true): nothing is written to its repository");
            loaded.suspend_in_manifest(&automation.key);
        }
        for suspension in self.journal.suspensions().await? {
            loaded.set_suspended(&suspension.automation, true);
        }
        // Pull-request mode: the newest request per branch, for `/status` (oldest first, so
        // the newest row of each branch is the one kept).
        let mut proposals = self.journal.proposals(None, 500).await?;
        proposals.reverse();
        for proposal in proposals
            .iter()
            .filter(|p| self.settings.automations.contains_key(&p.automation))
        {
            self.note_proposal(proposal);
        }
        self.overrides.replace(loaded.snapshot());
        Ok(())
    }

    /// `policy(key)`, refused unless this replica owns the policy's shard (a write is coming).
    fn owned_policy(&self, key: &ObjectKey) -> Result<&ImagePolicy, ManualError> {
        let policy = self.policy(key)?;
        self.require_owner(crate::ownership::Subject::Policy(key.clone()))?;
        Ok(policy)
    }

    /// Refused unless this replica owns `subject`'s shard (a write is coming).
    fn require_owner(&self, subject: crate::ownership::Subject) -> Result<(), ManualError> {
        use crate::ownership::Subject;
        if self.ownership.owns_subject(&subject) {
            return Ok(());
        }
        let shard = self
            .ownership
            .shard_name(&subject)
            .unwrap_or("a shard")
            .to_owned();
        let subject = match subject {
            Subject::Policy(key) => format!("policy {key}"),
            Subject::Automation(key) => format!("automation {key}"),
            Subject::Repository(key) => format!("image repository {key}"),
        };
        Err(ManualError::NotOwner { subject, shard })
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
    ) -> BTreeMap<ObjectKey, Result<Inspection, GitopsError>> {
        let mut inspections = BTreeMap::new();
        for automation in automations {
            let result = self
                .writers
                .handle(&automation)
                .inspect(Arc::clone(&automation))
                .await;
            inspections.insert(automation.key.clone(), result);
        }
        inspections
    }

    /// The inspections of the automations that write `policy`; any failure fails the call.
    async fn inspections_of(&self, policy: &ObjectKey) -> Result<Vec<Inspection>, ManualError> {
        self.inspect(self.automations_of(policy))
            .await
            .into_values()
            .map(|result| {
                result.map_err(|source| ManualError::Upstream {
                    message: String::new(),
                    source: Some(Box::new(source.into())),
                })
            })
            .collect()
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

    fn forget_selection(&self, key: &ObjectKey) {
        self.selected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }

    /// Decide again over the known tags of `repository`; the outcome for `policy`, summarised.
    async fn redecide(&self, repository: &ObjectKey, policy: &ObjectKey) -> Option<String> {
        let tags = self.registry.tags(repository);
        let trigger = crate::plan::Trigger::Scan {
            cause: "resume".into(),
        };
        let decisions = self.decide(repository, &tags, trigger).await;
        decisions
            .into_iter()
            .find(|decision| decision.policy == *policy)
            .map(|decision| match decision.outcome {
                Outcome::Pushed { commit, .. } => format!("pushed {commit}"),
                Outcome::Proposed { commit, request, .. } => format!("proposed {commit} in {request}"),
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
            // Pull-request mode never writes the checkout branch: the journal (and the audit
            // trail) keep the pin or suspension; no note commit is made.
            if automation.pull_request.is_some() {
                continue;
            }
            last = Some(
                self.writers
                    .handle(&automation)
                    .note(Arc::clone(&automation), message.clone())
                    .await
                    .map_err(|source| ManualError::Upstream {
                        message: format!(
                            "recorded, but the note commit on {} failed",
                            crate::domain::redact_url(&automation.git.url)
                        ),
                        source: Some(Box::new(source.into())),
                    })?,
            );
        }
        Ok(last)
    }

    /// The key of the automation `name` (`name` or `namespace:name`) names, if exactly one.
    pub fn automation_key(&self, name: &str) -> Option<ObjectKey> {
        self.automation(name)
            .ok()
            .map(|automation| automation.key.clone())
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
            .filter(|automation| automation.key.name() == name)
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
}

/// The tag the first tag-bearing marker of `policy` names in `inspections`.
fn current_tag(policy: &ObjectKey, inspections: &[Inspection]) -> Option<String> {
    inspections
        .iter()
        .flat_map(|inspection| &inspection.sites)
        .filter(|site| site.policy == *policy)
        .find_map(|site| site.tag().map(str::to_owned))
}

/// The tag a rollback without `to` goes back to: the newest deployment that is not `current`.
fn rollback_target(current: Option<&str>, history: &[Deployed]) -> Option<String> {
    history
        .iter()
        // A request that was never merged was never deployed.
        .filter(|entry| entry.kind != HistoryCause::Proposed)
        .map(|entry| entry.tag.as_str())
        .find(|tag| Some(*tag) != current)
        .map(str::to_owned)
}

fn describe(policy: &ImagePolicy) -> String {
    let filter = policy.policy.filter.as_ref().map_or_else(String::new, |filter| {
        format!("filterTags {:?}, ", filter.pattern())
    });
    format!("{filter}{}", policy.policy.rule)
}
