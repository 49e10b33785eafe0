//! Manual overrides as plain data: pins (policy → tag) and suspended automations, and the one
//! rule that says whether an intent may be written past them (`admits`). Planning and the
//! writers' write-time check both ask this same function.

use super::Intent;
use crate::domain::{ObjectKey, Tag};
use std::collections::{BTreeMap, BTreeSet};

/// Pins and suspensions at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    pins: BTreeMap<ObjectKey, Tag>,
    suspended: BTreeSet<ObjectKey>,
    /// Suspended by their own manifest (`spec.suspend: true`): not even a manual call writes.
    suspended_in_manifest: BTreeSet<ObjectKey>,
}

/// Why an override holds an automatic intent back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Held {
    #[error("automation {automation} is suspended (resume it to let updates through)")]
    Suspended { automation: ObjectKey },
    #[error(
        "automation {automation} is suspended by its manifest (spec.suspend: true); nothing is written to its \
         repository, also not by a promotion, until the manifest says suspend: false"
    )]
    SuspendedInManifest { automation: ObjectKey },
    #[error("policy {policy} is pinned to {pin}")]
    Pinned { policy: ObjectKey, pin: Tag },
}

impl Overrides {
    pub fn pin(&mut self, policy: &ObjectKey, tag: Tag) {
        self.pins.insert(policy.clone(), tag);
    }

    pub fn unpin(&mut self, policy: &ObjectKey) {
        self.pins.remove(policy);
    }

    pub fn pinned(&self, policy: &ObjectKey) -> Option<&Tag> {
        self.pins.get(policy)
    }

    pub fn set_suspended(&mut self, automation: &ObjectKey, suspended: bool) {
        if suspended {
            self.suspended.insert(automation.clone());
        } else {
            self.suspended.remove(automation);
        }
    }

    /// Suspended through the API (automatic updates held) or by its manifest (all writes held).
    pub fn is_suspended(&self, automation: &ObjectKey) -> bool {
        self.suspended.contains(automation) || self.suspended_in_manifest.contains(automation)
    }

    /// The automation's manifest says `suspend: true` (set from configuration at start).
    pub fn suspend_in_manifest(&mut self, automation: &ObjectKey) {
        self.suspended_in_manifest.insert(automation.clone());
    }

    pub fn is_suspended_in_manifest(&self, automation: &ObjectKey) -> bool {
        self.suspended_in_manifest.contains(automation)
    }

    /// Whether `intent` may be written now. An explicit (manual) intent always may; an
    /// automatic one may not while its automation is suspended, nor while its policy is pinned
    /// to another tag — also when it was planned before the pin or suspension was set. Nothing
    /// passes a suspension in the automation's own manifest.
    pub fn admits(&self, intent: &Intent) -> Result<(), Held> {
        if self.suspended_in_manifest.contains(intent.automation()) {
            return Err(Held::SuspendedInManifest {
                automation: intent.automation().clone(),
            });
        }
        if intent.explicit() {
            return Ok(());
        }
        if self.suspended.contains(intent.automation()) {
            return Err(Held::Suspended {
                automation: intent.automation().clone(),
            });
        }
        match self.pinned(intent.policy()) {
            Some(pin) if pin != &intent.value().tag => Err(Held::Pinned {
                policy: intent.policy().clone(),
                pin: pin.clone(),
            }),
            _ => Ok(()),
        }
    }
}
