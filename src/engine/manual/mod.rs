//! Manual control, as the REST API offers it: `commands.rs` (promote, rollback, pin, resume,
//! suspend, scan) and `queries.rs` (policies, automations, history), over the shared lookups
//! here. Every override is durable (journal) before it acts, is honoured by the writers at
//! write time (`engine::SharedOverrides` through `gitops::Gate`), and is visible in git (commit trailers). Promotions of one
//! policy are serialised, so two different outcomes are never both reported as success.

mod commands;
mod queries;

use super::Engine;
use super::views::{
    AutomationView, ChangeView, Direction, GitValue, HistoryCause, HistoryEntry, NoteResult, PinView,
    PolicyView, PromoteResult, ScanView, SelectedView,
};
use crate::config::{Automation, ImagePolicy};
use crate::domain::{ObjectKey, Tag};
use crate::gitops::{Inspection, Outcome};
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
        for pin in self.journal.pins().await? {
            match (ObjectKey::parse(&pin.policy), Tag::parse(&pin.tag)) {
                (Ok(key), Ok(tag)) => self.overrides.pin(&key, tag),
                (Err(error), _) | (_, Err(error)) => {
                    tracing::error!(policy = %pin.policy, tag = %pin.tag, %error, "a pin in the journal is not valid; it does not hold (pin the policy again)");
                }
            }
        }
        for key in self.settings.policies.keys() {
            if let Some(tag) = self.journal.last_deployed(&key.to_string()).await? {
                self.note_deployed(key, &tag);
            }
        }
        for automation in self.settings.automations.values().filter(|a| a.suspended) {
            tracing::warn!(automation = %automation.key, origin = %automation.origin, "suspended by its manifest (spec.suspend: true): nothing is written to its repository");
            self.overrides.suspend_in_manifest(&automation.key);
        }
        for suspension in self.journal.suspensions().await? {
            match ObjectKey::parse(&suspension.automation) {
                Ok(key) => self.overrides.set_suspended(&key, true),
                Err(error) => {
                    tracing::error!(automation = %suspension.automation, %error, "a suspension in the journal is not valid; it does not hold");
                }
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

fn describe(policy: &ImagePolicy) -> String {
    let filter = policy.policy.filter.as_ref().map_or_else(String::new, |filter| {
        format!("filterTags {:?}, ", filter.pattern())
    });
    format!("{filter}{}", policy.policy.rule)
}
