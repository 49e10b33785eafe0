//! Setters: find `# {"$imagepolicy": "ns:name[:tag|:name|:digest]"}` markers in YAML and rewrite
//! the marked scalar byte-exactly. `rewrite` is pure (one file's text); `apply` walks a tree,
//! never outside the update path and never through symlinks.

mod apply;
mod locate;
mod marker;
mod object;
mod quote;
mod rewrite;
mod verify;

pub use apply::{apply_files, apply_tree, has_marker, is_candidate, scan_files, scan_tree};
pub use marker::{Field, Marker, MarkerError};
pub use object::ObjectId;
pub use rewrite::{Skipped, rewrite};

/// For `fuzz/`: parse one marker comment (the text after `#`).
pub use marker::parse as parse_marker;

use crate::domain::{Digest, ImageRef, ObjectKey, Tag};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What a policy currently resolves to: the image as configured, the tag, and the digest if known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyValue {
    pub image: String,
    pub tag: Tag,
    pub digest: Option<Digest>,
}

impl PolicyValue {
    /// Parse `NS:NAME=IMAGE:TAG[@DIGEST]` (the `--policy` form of `setters apply`). A `:` in the
    /// registry's port is not a tag separator: the tag follows the last `:` after the last `/`.
    pub fn parse_assignment(text: &str) -> Result<(ObjectKey, Self), String> {
        let (key, reference) = text
            .split_once('=')
            .ok_or_else(|| format!("{text:?}: expected NS:NAME=IMAGE:TAG[@DIGEST]"))?;
        let key = ObjectKey::parse(key).map_err(|error| error.to_string())?;
        let (name_and_tag, digest) = match reference.split_once('@') {
            Some((rest, digest)) => (
                rest,
                Some(Digest::parse(digest).map_err(|error| error.to_string())?),
            ),
            None => (reference, None),
        };
        let slash = name_and_tag.rfind('/').map_or(0, |index| index + 1);
        let (image, tag) = match name_and_tag[slash..].rfind(':') {
            Some(colon) => (&name_and_tag[..slash + colon], &name_and_tag[slash + colon + 1..]),
            None => {
                return Err(format!(
                    "{reference:?}: the image needs a tag, e.g. {name_and_tag}:1.0"
                ));
            }
        };
        ImageRef::parse(image).map_err(|error| error.to_string())?;
        let tag = Tag::parse(tag).map_err(|error| error.to_string())?;
        Ok((
            key,
            Self {
                image: image.to_owned(),
                tag,
                digest,
            },
        ))
    }
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
    /// The object (YAML document) the marker is in, for Flux's template data.
    #[serde(skip)]
    pub object: ObjectId,
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
    #[serde(skip)]
    pub field: Field,
    pub value: String,
}

impl Site {
    /// The tag this marker names now, when its field carries one (`:tag`, or the full image
    /// reference, where the tag follows the last `:` after the last `/`).
    pub fn tag(&self) -> Option<&str> {
        match self.field {
            Field::Tag => Some(self.value.as_str()),
            Field::Full => {
                let without_digest = self.value.split('@').next().unwrap_or_default();
                let slash = without_digest.rfind('/').map_or(0, |index| index + 1);
                without_digest[slash..]
                    .rfind(':')
                    .map(|colon| &without_digest[slash + colon + 1..])
            }
            Field::Name | Field::Digest => None,
        }
    }
}

/// Result of `rewrite` on one file's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewritten {
    pub text: String,
    /// `file` is empty here; `apply_tree` fills it.
    pub changes: Vec<Change>,
    /// Marker comments that could not be used, with why.
    pub skipped: Vec<Skipped>,
    /// Sites asked to change that cannot be rewritten safely; when this is not empty, `text` is
    /// the original and `changes` is empty (nothing in the file is written).
    pub refused: Vec<Refusal>,
}

/// A marked value for a policy being applied that cannot be rewritten without changing more
/// than the scalar (an anchor's alias, an empty value, a block scalar, ...). Its file is left
/// untouched; callers report it as an error (the value in git is not what the policy says).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Refusal {
    /// Path relative to the tree root (empty in `rewrite`'s result; `apply_tree` fills it).
    pub file: PathBuf,
    /// 1-based line of the marker.
    pub line: usize,
    pub setter: String,
    #[serde(skip)]
    pub policy: ObjectKey,
    /// Why, and what to do.
    pub reason: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            formatter,
            "{}:{}: refused marker {:?}: {}; nothing in {} was written",
            self.file.display(),
            self.line,
            self.setter,
            self.reason,
            self.file.display()
        )
    }
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
    /// Files or markers skipped with the reason, one line each, naming file (and line).
    pub warnings: Vec<String>,
    /// Sites that could not be rewritten safely; their files were not written (errors).
    pub refused: Vec<Refusal>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RewriteError {
    #[error("line {line}: not valid YAML: {reason}")]
    Yaml { line: usize, reason: String },
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("update path {path:?} escapes the repository root; use a path inside the repository")]
    PathEscapes { path: String },
    #[error("update path {path:?} does not exist in the repository; check update.path")]
    PathMissing { path: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

#[cfg(test)]
mod tests;
