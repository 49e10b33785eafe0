//! The gitops writer: persistent working copies, byte-exact setter commits, push with retry.
//! The only user of git2 in the crate; git2 work runs in `spawn_blocking`; exactly one writer
//! per (remote, branch); never force-pushes.

mod auth;
pub mod check;
mod cycle;
mod error;
mod message;
mod template;
mod workspace;
mod writer;

pub use error::GitopsError;
pub use message::render as render_message;
pub use template::Template;
pub use workspace::Workspace;
pub use writer::{WriterHandle, Writers};

use crate::config::Automation;
use crate::domain::ObjectKey;
use crate::policy::Policy;
use crate::setter::{Change, PolicyValue};
use std::sync::Arc;

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
    Pushed { commit: String, changes: Vec<Change> },
    UpToDate,
    Skipped { reason: String },
    Failed { error: String },
}

/// Check write access to `automation`'s remote without changing it (blocking).
pub fn check_write_access(workspace: &mut Workspace) -> Result<(), GitopsError> {
    check::write_access(workspace)
}
