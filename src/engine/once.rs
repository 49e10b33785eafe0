//! One reconciliation pass for `run-once`: every image repository scanned once, then decided
//! by the same `decide` the scheduler's scans go through in `serve`, with the journal open. Pins
//! and suspensions hold (loaded by `load_overrides`, enforced again by the writers) and every
//! push is recorded as a deployment. Decides nothing of its own; it only collects outcomes.

use super::{Decision, Engine};
use crate::domain::ObjectKey;
use std::collections::BTreeMap;

/// What one pass did, for `run-once` to report per automation.
#[derive(Default)]
pub struct OnceReport {
    /// Every decision, in repository order.
    pub decisions: Vec<Decision>,
    /// Per image repository: why it could not be scanned, or why a policy on it picks nothing.
    pub problems: BTreeMap<ObjectKey, Vec<String>>,
}

impl OnceReport {
    /// The outcomes that concern `automation`: its own, and those of its policies as such
    /// (pinned, no pick).
    pub fn outcomes_of<'a>(
        &'a self,
        automation: &'a crate::config::Automation,
    ) -> impl Iterator<Item = &'a Decision> + 'a {
        self.decisions
            .iter()
            .filter(move |decision| match &decision.automation {
                Some(key) => *key == automation.key,
                None => automation.policies.contains(&decision.policy),
            })
    }
}

impl Engine {
    /// Scan every repository once and decide over what it found (cause `run-once`).
    pub async fn reconcile_once(&self) -> OnceReport {
        let mut report = OnceReport::default();
        for (key, repository) in &self.settings.repositories {
            if repository.suspended {
                report.problems.entry(key.clone()).or_default().push(format!(
                    "image repository {key} is suspended (spec.suspend: true at {}); not scanned",
                    repository.origin
                ));
                continue;
            }
            if let Err(error) = self.registry.scan_once(key).await {
                report
                    .problems
                    .entry(key.clone())
                    .or_default()
                    .push(format!("scanning {key}: {error}"));
                continue;
            }
            let tags = self.registry.tags(key);
            // A policy that picks nothing is a failure of this pass (as `check` says), not
            // only the skip it is for a periodic scan.
            let borrowed: Vec<&str> = tags.iter().map(String::as_str).collect();
            for policy in self.settings.policies.values().filter(|p| p.repository == *key) {
                if let Err(error) = policy.policy.select(&borrowed) {
                    report
                        .problems
                        .entry(key.clone())
                        .or_default()
                        .push(format!("policy {}: {error}", policy.key));
                }
            }
            report.decisions.extend(
                self.decide(
                    key,
                    &tags,
                    crate::plan::Trigger::Scan {
                        cause: "run-once".into(),
                    },
                )
                .await,
            );
        }
        report
    }
}
