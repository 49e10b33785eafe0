//! Pushing to a repository on this machine (`file://` or a path). libgit2's local transport
//! checks fast-forward against the refs it read at connect time and then *force*-writes the
//! ref (`git_reference_create(..., force)` in `transports/local.c`), so a writer that pushes in
//! between is silently overwritten. Over ssh and https, `receive-pack` compares the old value
//! under the ref lock; this module gives local remotes the same guarantee: the objects are
//! copied as a pack, then the ref moves only if it still names the commit the fast-forward was
//! checked against (`git_reference_create_matching`), else the push is a non-fast-forward and
//! the cycle retries from a fresh fetch.

use super::GitopsError;
use git2::{ErrorCode, Oid, Repository};
use std::path::PathBuf;

/// The directory of `url` when it names a repository on this machine.
pub fn path_of(url: &str) -> Option<PathBuf> {
    if let Some(path) = url.strip_prefix("file://") {
        return Some(PathBuf::from(path));
    }
    url.starts_with('/').then(|| PathBuf::from(url))
}

fn git(error: &git2::Error) -> GitopsError {
    GitopsError::Git(error.message().to_owned())
}

/// Push `commit` from `local` to `refs/heads/<branch>` of the repository at `path`, never forced.
pub fn push(
    local: &Repository,
    path: &std::path::Path,
    commit: Oid,
    branch: &str,
) -> Result<(), GitopsError> {
    let remote = Repository::open_bare(path).map_err(|error| GitopsError::Unreachable {
        url: format!("file://{}", path.display()),
        reason: error.message().to_owned(),
    })?;
    let name = format!("refs/heads/{branch}");
    let old = match remote.refname_to_id(&name) {
        Ok(old) => Some(old),
        Err(error) if error.code() == ErrorCode::NotFound => None,
        Err(error) => return Err(git(&error)),
    };
    let non_fast_forward = || GitopsError::NonFastForward {
        branch: branch.to_owned(),
    };
    if let Some(old) = old {
        if old == commit {
            return Ok(());
        }
        // What the remote has that we lack cannot be an ancestor of our commit.
        if local.find_commit(old).is_err() || !local.graph_descendant_of(commit, old).map_err(|e| git(&e))? {
            return Err(non_fast_forward());
        }
    }
    copy_objects(local, &remote, commit, old)?;
    update_ref(&remote, &name, commit, old).map_err(|error| match error {
        RefUpdate::Moved => non_fast_forward(),
        RefUpdate::Failed(error) => git(&error),
    })?;
    crate::failpoint::hit("push.ref_updated");
    Ok(())
}

/// Everything reachable from `commit` and not from `old`, written into `remote` as one pack.
pub(super) fn copy_objects(
    local: &Repository,
    remote: &Repository,
    commit: Oid,
    old: Option<Oid>,
) -> Result<(), GitopsError> {
    let mut walk = local.revwalk().map_err(|e| git(&e))?;
    walk.push(commit).map_err(|e| git(&e))?;
    if let Some(old) = old {
        walk.hide(old).map_err(|e| git(&e))?;
    }
    let mut pack = local.packbuilder().map_err(|e| git(&e))?;
    pack.insert_walk(&mut walk).map_err(|e| git(&e))?;
    let odb = remote.odb().map_err(|e| git(&e))?;
    let mut writer = odb.packwriter().map_err(|e| git(&e))?;
    let mut written = Ok(());
    pack.foreach(|chunk| {
        written = std::io::Write::write_all(&mut writer, chunk);
        written.is_ok()
    })
    .map_err(|e| git(&e))?;
    written.map_err(|error| GitopsError::Git(format!("writing the pack into the remote: {error}")))?;
    writer.commit().map_err(|e| git(&e))?;
    Ok(())
}

#[derive(Debug)]
pub enum RefUpdate {
    /// The ref no longer names `old` (another writer pushed): nothing was changed.
    Moved,
    Failed(git2::Error),
}

/// Move `name` to `new` only if it still names `old` (absent when `None`), under the ref lock.
pub fn update_ref(remote: &Repository, name: &str, new: Oid, old: Option<Oid>) -> Result<(), RefUpdate> {
    let result = match old {
        Some(old) => remote.reference_matching(name, new, true, old, "pushdeploy push"),
        None => remote.reference(name, new, false, "pushdeploy push"),
    };
    match result {
        Ok(_) => Ok(()),
        Err(error)
            if matches!(
                error.code(),
                ErrorCode::Modified | ErrorCode::Exists | ErrorCode::Locked
            ) =>
        {
            Err(RefUpdate::Moved)
        }
        Err(error) => Err(RefUpdate::Failed(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(repo: &Repository, parent: Option<Oid>, file: &str) -> Oid {
        let mut index = git2::Index::new().unwrap();
        let blob = repo.blob(file.as_bytes()).unwrap();
        let entry = crate::gitops::file_entry(file, blob, file.len());
        index.add(&entry).unwrap();
        // Each commit's tree holds only its own file: enough for ancestry and object copying.
        let tree = repo.find_tree(index.write_tree_to(repo).unwrap()).unwrap();
        let signature = git2::Signature::now("t", "t@example").unwrap();
        let parents: Vec<_> = parent.map(|p| repo.find_commit(p).unwrap()).into_iter().collect();
        let parents: Vec<_> = parents.iter().collect();
        repo.commit(None, &signature, &signature, file, &tree, &parents)
            .unwrap()
    }

    #[test]
    fn a_ref_that_moved_since_the_check_is_left_alone_and_reported_as_moved() {
        let dir = tempfile::tempdir().unwrap();
        let remote = Repository::init_bare(dir.path().join("remote.git")).unwrap();
        let base = commit(&remote, None, "base");
        let outside = commit(&remote, Some(base), "outside");
        let ours = commit(&remote, Some(base), "ours");
        remote
            .reference("refs/heads/main", outside, false, "outside writer")
            .unwrap();
        // We checked fast-forward against `base`; an outside writer has moved main since.
        let result = update_ref(&remote, "refs/heads/main", ours, Some(base));
        assert!(matches!(result, Err(RefUpdate::Moved)), "{result:?}");
        assert_eq!(
            remote.refname_to_id("refs/heads/main").unwrap(),
            outside,
            "not overwritten"
        );
        // Against the value it really has, the update goes through.
        update_ref(&remote, "refs/heads/main", ours, Some(outside)).unwrap();
        assert_eq!(remote.refname_to_id("refs/heads/main").unwrap(), ours);
        // A branch created meanwhile is not overwritten either.
        remote
            .reference("refs/heads/new", outside, false, "outside writer")
            .unwrap();
        assert!(matches!(
            update_ref(&remote, "refs/heads/new", ours, None),
            Err(RefUpdate::Moved)
        ));
    }

    #[test]
    fn a_push_copies_the_objects_and_refuses_a_non_fast_forward() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("remote.git");
        let remote = Repository::init_bare(&path).unwrap();
        let local = Repository::init(dir.path().join("local")).unwrap();
        let base = commit(&local, None, "base");
        push(&local, &path, base, "main").unwrap();
        let next = commit(&local, Some(base), "next");
        push(&local, &path, next, "main").unwrap();
        assert_eq!(remote.refname_to_id("refs/heads/main").unwrap(), next);
        assert!(remote.find_commit(next).is_ok(), "the objects were copied");
        let sideways = commit(&local, Some(base), "sideways");
        let refused = push(&local, &path, sideways, "main");
        assert!(
            matches!(refused, Err(GitopsError::NonFastForward { .. })),
            "{refused:?}"
        );
        assert_eq!(remote.refname_to_id("refs/heads/main").unwrap(), next);
        assert_eq!(
            path_of("file:///srv/gitops.git"),
            Some(PathBuf::from("/srv/gitops.git"))
        );
        assert_eq!(path_of("ssh://git@host/gitops.git"), None);
        assert_eq!(path_of("git@host:gitops.git"), None);
    }
}
