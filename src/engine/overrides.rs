//! The pins and suspensions in force, shared by the engine (which sets them, durably in the
//! journal first) and the writers (which ask the same rule at write time through
//! `gitops::Gate`). The rule itself is `plan::Overrides::admits`; this is only its shared,
//! lockable home.

use crate::domain::{ObjectKey, Tag};
use crate::gitops::{Gate, Intent};
use crate::plan::Overrides;
use crate::setter::Site;
use std::sync::{PoisonError, RwLock};

#[derive(Debug, Default)]
pub struct SharedOverrides(RwLock<Overrides>);

impl SharedOverrides {
    /// The overrides as they are now (for one plan).
    pub fn snapshot(&self) -> Overrides {
        self.0.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Put `overrides` in force, all at once.
    pub fn replace(&self, overrides: Overrides) {
        *self.write() = overrides;
    }

    pub fn pin(&self, policy: &ObjectKey, tag: Tag) {
        self.write().pin(policy, tag);
    }

    pub fn unpin(&self, policy: &ObjectKey) {
        self.write().unpin(policy);
    }

    pub fn pinned(&self, policy: &ObjectKey) -> Option<Tag> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .pinned(policy)
            .cloned()
    }

    pub fn set_suspended(&self, automation: &ObjectKey, suspended: bool) {
        self.write().set_suspended(automation, suspended);
    }

    pub fn is_suspended(&self, automation: &ObjectKey) -> bool {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_suspended(automation)
    }

    /// `automation`'s manifest says `suspend: true`: nothing passes, not even a promotion.
    pub fn suspend_in_manifest(&self, automation: &ObjectKey) {
        self.write().suspend_in_manifest(automation);
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Overrides> {
        self.0.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The writers' write-time check: the overrides in force at that moment, so an intent planned
/// before a pin or suspension still cannot pass it.
impl Gate for SharedOverrides {
    fn admit(&self, intents: &[Intent], sites: &[Site]) -> Vec<Option<String>> {
        let overrides = self.0.read().unwrap_or_else(PoisonError::into_inner);
        crate::plan::admit(intents, sites, &overrides)
    }
}

/// A replica's write-time gate: the overrides in force, and ownership. An intent planned while
/// this replica owned the automation's shard writes nothing once the shard is gone (its lease
/// connection failed, or it was given back): the new owner writes it. This narrows the window in
/// which two replicas could write one remote to the push itself (which git's fast-forward check
/// keeps safe).
#[derive(Debug)]
pub struct WriteGate {
    pub overrides: std::sync::Arc<SharedOverrides>,
    pub ownership: crate::ownership::Ownership,
}

impl Gate for WriteGate {
    fn admit(&self, intents: &[Intent], sites: &[Site]) -> Vec<Option<String>> {
        let mut verdicts = self.overrides.admit(intents, sites);
        for (intent, verdict) in intents.iter().zip(verdicts.iter_mut()) {
            if verdict.is_none() && !self.ownership.owns_automation(intent.automation()) {
                *verdict = Some(format!(
                    "automation {} is in a shard this replica no longer owns; its owner writes it",
                    intent.automation()
                ));
            }
        }
        verdicts
    }
}
