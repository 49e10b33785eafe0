//! The gitops writer: persistent working copies, byte-exact setter commits, push with retry.
//! The only user of git2 in the crate; git2 work runs in `spawn_blocking`; exactly one writer
//! per (remote, branch); never force-pushes.

mod auth;
pub mod check;
mod cycle;
mod error;
mod failure;
mod local;
mod markers;
mod message;
mod proposal_push;
mod propose;
mod signed;
mod targets;
mod workspace;
mod writer;

pub use crate::template::Template;
pub use error::{GitCause, GitopsError, IoCause};
pub use failure::{ForgeCause, TaskCause, WriteFailure};
pub use message::render as render_message;
pub use proposal_push::transport_options;
pub use propose::{ProposalJob, ProposalPush, Proposed, branch_of};
pub use workspace::{LogEntry, Workspace};
pub use writer::{Inspection, WriterHandle, Writers, redact_userinfo};

pub use crate::plan::{Intent, Overrides};

use crate::setter::Change;

/// Decides, at write time, which intents of a batch may be written over the tree the writer
/// just synced: the engine's rules (pins, suspensions, never downgrade, one winner per policy).
/// The writers only carry out what it admits; they rank and hold nothing themselves.
pub trait Gate: Send + Sync + std::fmt::Debug {
    /// Per intent, in order: `None` to write it, or why not.
    fn admit(&self, intents: &[Intent], sites: &[crate::setter::Site]) -> Vec<Option<String>>;
}

/// Fixed overrides (none, for writers without an engine: checks, tests, benches).
impl Gate for Overrides {
    fn admit(&self, intents: &[Intent], sites: &[crate::setter::Site]) -> Vec<Option<String>> {
        crate::plan::admit(intents, sites, self)
    }
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
    /// Pull-request mode: proposed in `request` (the checkout branch is unchanged until it is
    /// merged). `changes` is empty when the request already proposed this value.
    Proposed {
        commit: String,
        changes: Vec<Change>,
        request: Request,
    },
    Skipped {
        reason: String,
    },
    /// `retry`: the cause is transient (remote unreachable, rejected push after every attempt):
    /// the same intent may succeed later and must not be dropped.
    Failed {
        error: WriteFailure,
        retry: bool,
    },
}

/// A pull request (merge request, AGit topic) as an outcome names it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Request {
    /// Its branch (AGit: topic).
    pub branch: String,
    /// The platform's number (GitLab: iid), when known (AGit and GitLab push options open it
    /// server-side without telling the number).
    pub number: Option<u64>,
    /// Its web page, when known.
    pub url: Option<String>,
    /// What this write did to it.
    pub action: RequestAction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RequestAction {
    Opened,
    Updated,
    /// It already proposed exactly this.
    Unchanged,
}

impl RequestAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Opened => "opened",
            Self::Updated => "updated",
            Self::Unchanged => "unchanged",
        }
    }
}

impl std::fmt::Display for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.number, &self.url) {
            (Some(number), Some(url)) => write!(f, "pull request #{number} ({url})"),
            (Some(number), None) => write!(f, "pull request #{number} on branch {}", self.branch),
            (None, _) => write!(f, "the pull request of branch {}", self.branch),
        }
    }
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
    let git = GitopsError::from;
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
