//! What `/status` shows of the engine, built from its state as plain `reports` structs (the
//! HTTP layer gives them their JSON shape). Reads only; decides nothing.

use super::{Engine, reports};

impl Engine {
    /// What `/status` shows of the engine (the HTTP layer gives it its JSON shape).
    pub fn status(&self) -> reports::Status {
        let deployed = self.deployed.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let overrides = &self.overrides;
        let policies = self
            .settings
            .policies
            .iter()
            .map(|(key, policy)| {
                let status = reports::PolicyStatus {
                    selected: self.pick(policy),
                    deployed: deployed.get(key).cloned(),
                    pinned: overrides.pinned(key).map(|tag| tag.to_string()),
                };
                (key.clone(), status)
            })
            .collect();
        reports::Status {
            policies,
            repositories: self.registry.status(),
            registry_certificates_not_after: self.registry.watch.snapshot(),
            scans_decided: self.scans_decided.load(std::sync::atomic::Ordering::SeqCst),
            unmatched: self.unmatched.status(),
            automations: self.writes.snapshot(),
            suspended: self.suspensions(),
            ownership: self.ownership.report(),
            pull_requests: self
                .proposals
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .values()
                .cloned()
                .collect(),
        }
    }

    /// What is suspended now and by what: API suspensions hold automatic updates, a manifest's
    /// `spec.suspend: true` holds every write (automations) or every scan and push (repositories).
    fn suspensions(&self) -> reports::Suspensions {
        let overrides = self.overrides.snapshot();
        let automations = self
            .settings
            .automations
            .keys()
            .filter(|key| overrides.is_suspended(key))
            .map(|key| {
                let by = if overrides.is_suspended_in_manifest(key) {
                    reports::SuspendedBy::Manifest
                } else {
                    reports::SuspendedBy::Api
                };
                (key.clone(), by)
            })
            .collect();
        let image_repositories = self
            .settings
            .repositories
            .iter()
            .filter(|(_, repository)| repository.suspended)
            .map(|(key, _)| key.clone())
            .collect();
        reports::Suspensions {
            automations,
            image_repositories,
        }
    }
}
