//! Creating a commit object, signed when the automation has a `signingKey`: git2's
//! `commit_create_buffer` → `signing::Signer::sign` → `commit_signed` with a `gpgsig` header.
//! It writes the object only; moving refs stays with the caller.

use super::GitopsError;
use crate::signing::Signer;

/// Write a commit of `tree` on `parent` and return its id; signed by `signer` if given.
pub(super) fn create_commit(
    repo: &git2::Repository,
    signer: Option<&Signer>,
    signature: &git2::Signature<'_>,
    message: &str,
    tree: &git2::Tree<'_>,
    parent: &git2::Commit<'_>,
) -> Result<git2::Oid, GitopsError> {
    let git = GitopsError::from;
    let Some(signer) = signer else {
        return repo
            .commit(None, signature, signature, message, tree, &[parent])
            .map_err(git);
    };
    let buffer = repo
        .commit_create_buffer(signature, signature, message, tree, &[parent])
        .map_err(git)?;
    let armored = signer
        .sign(&buffer)
        .map_err(|error| GitopsError::Signing(format!("signing the commit: {error}")))?;
    let content = std::str::from_utf8(&buffer)
        .map_err(|_| GitopsError::Signing("the commit message or author is not UTF-8".to_owned()))?;
    repo.commit_signed(content, &armored, Some("gpgsig")).map_err(git)
}
