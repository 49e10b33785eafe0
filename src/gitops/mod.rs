//! The gitops writer: persistent working copies, byte-exact setter commits, push with retry.
//! The only user of git2 in the crate; git2 work runs in `spawn_blocking`; exactly one writer
//! per (remote, branch); never force-pushes.

mod auth;
pub mod check;
mod cycle;
mod error;
mod local;
mod markers;
mod message;
mod workspace;
mod writer;

pub use crate::template::Template;
pub use error::GitopsError;
pub use message::render as render_message;
pub use workspace::{LogEntry, Workspace};
pub use writer::{Inspection, WriterHandle, Writers};

use crate::config::Automation;
use crate::domain::ObjectKey;
use crate::policy::Policy;
use crate::setter::{Change, PolicyValue};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};

/// Manual overrides the writers honour at write time: pins (policy → tag) and suspended
/// automations. An automatic intent for a pinned policy or a suspended automation is skipped
/// even when it was decided before the pin or suspension was set.
#[derive(Debug, Default)]
pub struct Overrides {
    pins: RwLock<BTreeMap<ObjectKey, String>>,
    suspended: RwLock<BTreeSet<ObjectKey>>,
}

impl Overrides {
    pub fn pin(&self, policy: &ObjectKey, tag: &str) {
        self.pins
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(policy.clone(), tag.to_owned());
    }

    pub fn unpin(&self, policy: &ObjectKey) {
        self.pins
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(policy);
    }

    pub fn pinned(&self, policy: &ObjectKey) -> Option<String> {
        self.pins
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(policy)
            .cloned()
    }

    pub fn set_suspended(&self, automation: &ObjectKey, suspended: bool) {
        let mut set = self
            .suspended
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if suspended {
            set.insert(automation.clone());
        } else {
            set.remove(automation);
        }
    }

    pub fn is_suspended(&self, automation: &ObjectKey) -> bool {
        self.suspended
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(automation)
    }

    /// Why an automatic `intent` must not be written now, if it must not.
    fn holds(&self, intent: &Intent) -> Option<String> {
        if intent.explicit {
            return None;
        }
        if self.is_suspended(&intent.automation.key) {
            return Some(format!(
                "automation {} is suspended (resume it to let updates through)",
                intent.automation.key
            ));
        }
        self.pinned(&intent.policy)
            .filter(|pin| pin != intent.value.tag.as_str())
            .map(|pin| format!("policy {} is pinned to {pin}", intent.policy))
    }
}

/// A request to make a policy's markers name `value`.
#[derive(Debug, Clone)]
pub struct Intent {
    pub automation: Arc<Automation>,
    pub policy: ObjectKey,
    pub value: PolicyValue,
    /// The policy's ordering, to refuse downgrades; `None` skips the check.
    pub ranking: Option<Policy>,
    /// A manual promotion or rollback: may move backwards.
    pub explicit: bool,
    /// Why (webhook, poll, promote, rollback): recorded as a commit trailer.
    pub cause: String,
}

/// What became of an intent.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    Pushed {
        commit: String,
        changes: Vec<Change>,
    },
    UpToDate,
    Skipped {
        reason: String,
    },
    /// `retry`: the cause is transient (remote unreachable, rejected push after every attempt):
    /// the same intent may succeed later and must not be dropped.
    Failed {
        error: String,
        retry: bool,
    },
}

/// Check write access to `automation`'s remote without changing it (blocking).
pub fn check_write_access(workspace: &mut Workspace) -> Result<(), GitopsError> {
    check::write_access(workspace)
}

/// The index entry of a regular file `name` holding `blob` (`size` bytes), for trees built
/// without a work tree.
pub(crate) fn file_entry(name: &str, blob: git2::Oid, size: usize) -> git2::IndexEntry {
    git2::IndexEntry {
        ctime: git2::IndexTime::new(0, 0),
        mtime: git2::IndexTime::new(0, 0),
        dev: 0,
        ino: 0,
        mode: 0o100_644,
        uid: 0,
        gid: 0,
        file_size: u32::try_from(size).unwrap_or(u32::MAX),
        id: blob,
        flags: 0,
        flags_extended: 0,
        path: name.as_bytes().to_vec(),
    }
}

/// Create a bare repository at `path` whose `branch` holds `files` in one commit (blocking).
/// Used by `quickstart` to provide a local gitops remote.
pub fn seed_bare_repository(
    path: &std::path::Path,
    branch: &str,
    files: &[(&str, &[u8])],
    author: &crate::config::Author,
) -> Result<(), GitopsError> {
    let git = |error: git2::Error| GitopsError::Git(error.message().to_owned());
    let repo = git2::Repository::init_bare(path).map_err(git)?;
    let mut index = git2::Index::new().map_err(git)?;
    for (name, bytes) in files {
        let blob = repo.blob(bytes).map_err(git)?;
        index.add(&file_entry(name, blob, bytes.len())).map_err(git)?;
    }
    let tree = repo
        .find_tree(index.write_tree_to(&repo).map_err(git)?)
        .map_err(git)?;
    let signature = git2::Signature::now(&author.name, &author.email).map_err(git)?;
    let reference = format!("refs/heads/{branch}");
    repo.commit(
        Some(&reference),
        &signature,
        &signature,
        "Seed the quickstart gitops repository",
        &tree,
        &[],
    )
    .map_err(git)?;
    repo.set_head(&reference).map_err(git)?;
    Ok(())
}
