//! Setters: find `# {"$imagepolicy": "ns:name[:tag|:name|:digest]"}` markers in YAML and rewrite
//! the marked scalar byte-exactly. `rewrite` is pure (one file's text); `apply` walks a tree.
//!
//! CONTRACT (other modules compile against these; the implementation fills them):
//! - `rewrite(text, &Values) -> Result<Rewritten, RewriteError>`: pure, only marked scalar bytes change.
//! - `apply_tree(root, update_path, &Values, Mode) -> Result<Applied, ApplyError>`: every `*.yaml`,
//!   `*.yml`, `Kustomization` under `root/update_path` (no escape, no symlinks out), in a stable order.
//! - `scan_tree(root, update_path) -> Result<Vec<Site>, ApplyError>`: where each marker is and its current value.

use crate::domain::ObjectKey;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What a policy currently resolves to: the image as configured, the tag, and the digest if known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyValue {
    pub image: String,
    pub tag: String,
    pub digest: Option<String>,
}

/// Resolved values by policy; markers naming other policies are left alone.
pub type Values = BTreeMap<ObjectKey, PolicyValue>;

/// One rewritten scalar in one file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Change {
    /// Path relative to the tree root, with `/` separators.
    pub file: PathBuf,
    /// 1-based line of the marker.
    pub line: usize,
    /// The marker's text, e.g. `flux-system:mcp` or `flux-system:mcp:tag`.
    pub setter: String,
    #[serde(skip)]
    pub policy: ObjectKey,
    pub old: String,
    pub new: String,
}

/// A marker found in the tree and the value it currently marks.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Site {
    pub file: PathBuf,
    pub line: usize,
    pub setter: String,
    #[serde(skip)]
    pub policy: ObjectKey,
    pub value: String,
}

/// Result of `rewrite` on one file's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewritten {
    pub text: String,
    /// `file` is empty here; `apply_tree` fills it.
    pub changes: Vec<Change>,
}

/// Write files or only report what would change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Write,
    DryRun,
}

/// Result of `apply_tree`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    pub changes: Vec<Change>,
    /// Files skipped with the reason (e.g. not valid YAML), one line each, naming the file.
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RewriteError {
    #[error("line {line}: {reason}")]
    Yaml { line: usize, reason: String },
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("update path {path:?} escapes the repository root; use a path inside the repository")]
    PathEscapes { path: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

pub fn rewrite(text: &str, _values: &Values) -> Result<Rewritten, RewriteError> {
    Ok(Rewritten {
        text: text.to_owned(),
        changes: Vec::new(),
    })
}

pub fn apply_tree(
    _root: &Path,
    _update_path: &str,
    _values: &Values,
    _mode: Mode,
) -> Result<Applied, ApplyError> {
    Ok(Applied::default())
}

pub fn scan_tree(_root: &Path, _update_path: &str) -> Result<Vec<Site>, ApplyError> {
    Ok(Vec::new())
}
