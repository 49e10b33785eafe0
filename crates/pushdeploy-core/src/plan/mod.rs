//! The one decision point: what git should say now. `plan(&Snapshot, Trigger)` turns what is
//! known (tags per repository, the last picks, pins and suspensions, which automations write
//! which policy) and what happened (a confirmed push, a scan, a manual call) into intents for
//! the writers, plus the reason for every policy it holds back. It is the only constructor of
//! `Intent`, does no IO, and is tested over tables of snapshots. `admit` is its write-time half:
//! the same overrides and the never-downgrade rule, over the tree the writer just synced.

mod admit;
mod overrides;
#[cfg(test)]
mod tests;

pub use admit::admit;
pub use overrides::{Held, Overrides};

use crate::domain::{Digest, ObjectKey, Tag};
use crate::policy::Policy;
use crate::setter::PolicyValue;
use std::collections::BTreeMap;

/// A request to make `policy`'s markers in `automation`'s tree name `value`. Built only by
/// `plan`, so every write went through the one decision.
#[derive(Debug, Clone)]
pub struct Intent {
    automation: ObjectKey,
    policy: ObjectKey,
    value: PolicyValue,
    ranking: Option<Policy>,
    explicit: bool,
    cause: String,
}

impl Intent {
    /// The automation whose working tree this is written to.
    pub fn automation(&self) -> &ObjectKey {
        &self.automation
    }

    pub fn policy(&self) -> &ObjectKey {
        &self.policy
    }

    /// The image, tag (and digest) the markers should name.
    pub fn value(&self) -> &PolicyValue {
        &self.value
    }

    /// The policy's ordering, to refuse downgrades at write time.
    pub fn ranking(&self) -> Option<&Policy> {
        self.ranking.as_ref()
    }

    /// A manual promotion or rollback: may move backwards, passes pins and suspensions.
    pub fn explicit(&self) -> bool {
        self.explicit
    }

    /// Why (webhook, poll, promote, rollback): recorded as a commit trailer.
    pub fn cause(&self) -> &str {
        &self.cause
    }
}

/// One image policy as planning sees it.
#[derive(Debug, Clone)]
pub struct PolicyState<'a> {
    pub key: &'a ObjectKey,
    /// The image (`host[:port]/path`) its markers name.
    pub image: String,
    pub policy: &'a Policy,
    /// The automations whose markers of this policy are written (none: nothing can be).
    pub automations: Vec<&'a ObjectKey>,
    /// With digest reflection (`IfNotPresent`, `Always`): the digest of each tag as this
    /// policy sees it, written as `image:tag@digest` and into `:digest` markers. `None`: the
    /// policy does not reflect digests (Flux's `Never`).
    pub digests: Option<&'a BTreeMap<String, Digest>>,
}

/// What is known when a trigger arrives.
#[derive(Debug, Clone)]
pub struct Snapshot<'a> {
    /// The policies the trigger concerns (those on the pushed or scanned repository, or the
    /// one a manual call names).
    pub policies: Vec<PolicyState<'a>>,
    /// Every tag known for their repository: the last scan plus confirmed pushes.
    pub tags: &'a [String],
    /// The last pick per policy that was acted on: an unchanged pick does no work on a scan.
    pub selected: &'a BTreeMap<ObjectKey, String>,
    pub overrides: &'a Overrides,
}

/// What happened.
#[derive(Debug, Clone)]
pub enum Trigger<'a> {
    /// A push whose tag the registry confirmed: act only if the policy picks exactly it.
    Push { tag: &'a str, cause: String },
    /// A scan (poller, run-once, a resume): act on every pick that changed.
    Scan { cause: String },
    /// A promotion or rollback to `tag` (already confirmed and checked against the policy).
    Manual { tag: Tag, cause: String },
}

/// Why `plan` wrote nothing for a policy (or one of its automations).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Skip {
    #[error(transparent)]
    Held(#[from] Held),
    #[error("policy {policy}: {error}")]
    NoPick { policy: ObjectKey, error: String },
    #[error("policy {policy} picks a tag the registry listed, but {error}; nothing written")]
    NotATag { policy: ObjectKey, error: String },
    #[error("policy {policy} picks {pick}, not {tag}")]
    NotThePushedTag {
        policy: ObjectKey,
        pick: String,
        tag: String,
    },
    #[error(
        "policy {policy} reflects digests (digestReflectionPolicy) but the digest of {tag} is not known: the registry \
         could not be asked; nothing written, the next scan asks again"
    )]
    DigestUnknown { policy: ObjectKey, tag: String },
    #[error(
        "policy {policy} picks {pick}, but no ImageUpdateAutomation covers it (an automation covers the \
         ImagePolicies of its namespace that match its policySelector); add one, or check `pushdeploy config check`"
    )]
    Uncovered { policy: ObjectKey, pick: String },
}

impl Skip {
    /// A skip that is a failure of the event (the input is wrong), not a policy doing its job.
    pub fn is_failure(&self) -> bool {
        matches!(self, Self::NotATag { .. } | Self::DigestUnknown { .. })
    }
}

/// A policy (or one automation of it) `plan` held back, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub policy: ObjectKey,
    /// `None` when the reason is the policy's own (pinned, no pick, no automation).
    pub automation: Option<ObjectKey>,
    pub reason: Skip,
}

/// What to do.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub intents: Vec<Intent>,
    pub skipped: Vec<Skipped>,
    /// Picks to remember as acted on (`Snapshot::selected`), set by scans.
    pub selections: Vec<(ObjectKey, String)>,
}

/// Decide, for every policy of `snapshot`, what git should say after `trigger`.
pub fn plan(snapshot: &Snapshot<'_>, trigger: &Trigger<'_>) -> Plan {
    let mut plan = Plan::default();
    for state in &snapshot.policies {
        match trigger {
            Trigger::Manual { tag, cause } => {
                let Some(digest) = plan.digest(state, tag.as_str()) else {
                    continue;
                };
                plan.intend(state, tag, digest, true, cause, |intent| {
                    snapshot.overrides.admits(intent)
                });
            }
            Trigger::Push { tag, cause } => plan.automatic(snapshot, state, Some(tag), cause),
            Trigger::Scan { cause } => plan.automatic(snapshot, state, None, cause),
        }
    }
    plan
}

impl Plan {
    fn automatic(
        &mut self,
        snapshot: &Snapshot<'_>,
        state: &PolicyState<'_>,
        only: Option<&str>,
        cause: &str,
    ) {
        let policy = state.key;
        if let Some(pin) = snapshot.overrides.pinned(policy) {
            let held = Held::Pinned {
                policy: policy.clone(),
                pin: pin.clone(),
            };
            return self.skip(policy, None, held.into());
        }
        let borrowed: Vec<&str> = snapshot.tags.iter().map(String::as_str).collect();
        let pick = match state.policy.select(&borrowed) {
            Ok(pick) => pick,
            Err(error) => {
                let error = error.to_string();
                return self.skip(
                    policy,
                    None,
                    Skip::NoPick {
                        policy: policy.clone(),
                        error,
                    },
                );
            }
        };
        // From here on the pick is a `Tag`: a listing that is not one never reaches git.
        let tag = match Tag::parse(pick) {
            Ok(tag) => tag,
            Err(error) => {
                let error = error.to_string();
                return self.skip(
                    policy,
                    None,
                    Skip::NotATag {
                        policy: policy.clone(),
                        error,
                    },
                );
            }
        };
        if let Some(pushed) = only.filter(|pushed| *pushed != pick) {
            let (pick, tag) = (pick.to_owned(), pushed.to_owned());
            return self.skip(
                policy,
                None,
                Skip::NotThePushedTag {
                    policy: policy.clone(),
                    pick,
                    tag,
                },
            );
        }
        let Some(digest) = self.digest(state, pick) else {
            return;
        };
        if only.is_none() {
            // With a digest, a tag that moved to new content is a new pick.
            let selection = match &digest {
                Some(digest) => format!("{pick}@{digest}"),
                None => pick.to_owned(),
            };
            if snapshot.selected.get(policy) == Some(&selection) {
                return;
            }
            self.selections.push((policy.clone(), selection));
        }
        if state.automations.is_empty() {
            let pick = pick.to_owned();
            return self.skip(
                policy,
                None,
                Skip::Uncovered {
                    policy: policy.clone(),
                    pick,
                },
            );
        }
        self.intend(state, &tag, digest, false, cause, |intent| {
            snapshot.overrides.admits(intent)
        });
    }

    /// The digest to write with `tag` (`Some(None)`: the policy reflects none); `None` when
    /// the policy reflects digests and this one is unknown (recorded as a skip).
    fn digest(&mut self, state: &PolicyState<'_>, tag: &str) -> Option<Option<Digest>> {
        let Some(digests) = state.digests else {
            return Some(None);
        };
        match digests.get(tag) {
            Some(digest) => Some(Some(digest.clone())),
            None => {
                let (policy, tag) = (state.key.clone(), tag.to_owned());
                self.skip(state.key, None, Skip::DigestUnknown { policy, tag });
                None
            }
        }
    }

    /// One intent per automation of `state`, unless `admits` holds it back.
    fn intend(
        &mut self,
        state: &PolicyState<'_>,
        tag: &Tag,
        digest: Option<Digest>,
        explicit: bool,
        cause: &str,
        admits: impl Fn(&Intent) -> Result<(), Held>,
    ) {
        for automation in &state.automations {
            let intent = Intent {
                automation: (*automation).clone(),
                policy: state.key.clone(),
                value: PolicyValue {
                    image: state.image.clone(),
                    tag: tag.clone(),
                    digest: digest.clone(),
                },
                ranking: Some(state.policy.clone()),
                explicit,
                cause: cause.to_owned(),
            };
            match admits(&intent) {
                Ok(()) => self.intents.push(intent),
                Err(held) => self.skipped.push(Skipped {
                    policy: state.key.clone(),
                    automation: Some((*automation).clone()),
                    reason: held.into(),
                }),
            }
        }
    }

    fn skip(&mut self, policy: &ObjectKey, automation: Option<ObjectKey>, reason: Skip) {
        self.skipped.push(Skipped {
            policy: policy.clone(),
            automation,
            reason,
        });
    }
}
