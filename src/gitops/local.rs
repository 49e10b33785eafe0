//! Pushing to a repository on this machine (`file://` or a path). libgit2's local transport
//! checks fast-forward against the refs it read at connect time and then *force*-writes the
//! ref (`git_reference_create(..., force)` in `transports/local.c`), so a writer that pushes in
//! between is silently overwritten. Over ssh and https, `receive-pack` compares the old value
//! under the ref lock; this module gives local remotes the same guarantee: the objects the new
//! commits add are copied as loose objects, then the ref moves only if it still names the
//! commit the fast-forward was checked against (`git_reference_create_matching`), else the
//! push is a non-fast-forward and the cycle retries from a fresh fetch.

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

fn git(error: git2::Error) -> GitopsError {
    GitopsError::from(error)
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
        Err(error) => return Err(git(error)),
    };
    let non_fast_forward = || GitopsError::NonFastForward {
        branch: branch.to_owned(),
    };
    if let Some(old) = old {
        if old == commit {
            return Ok(());
        }
        // What the remote has that we lack cannot be an ancestor of our commit.
        if local.find_commit(old).is_err() || !local.graph_descendant_of(commit, old).map_err(git)? {
            return Err(non_fast_forward());
        }
    }
    copy_objects(local, &remote, commit, old)?;
    update_ref(&remote, &name, commit, old).map_err(|error| match error {
        RefUpdate::Moved => non_fast_forward(),
        RefUpdate::Failed(error) => git(error),
    })?;
    crate::failpoint::hit("push.ref_updated");
    Ok(())
}

/// Everything reachable from `commit` and not from `old`, written into `remote` as loose
/// objects (a cycle adds a commit, a blob or two and the trees above them; building a pack
/// walked all 2,002 entries of both trees first). A subtree is skipped only when `old` has the
/// same one at the same path (so complete, being reachable from a ref); other objects are
/// written when the remote lacks them, children before parents and commits last, so an
/// interrupted copy never leaves the remote a tree or commit whose contents are missing.
pub(super) fn copy_objects(
    local: &Repository,
    remote: &Repository,
    commit: Oid,
    old: Option<Oid>,
) -> Result<(), GitopsError> {
    let mut walk = local.revwalk().map_err(git)?;
    walk.push(commit).map_err(git)?;
    if let Some(old) = old {
        walk.hide(old).map_err(git)?;
    }
    walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::REVERSE)
        .map_err(git)?;
    let old_tree = match old {
        Some(old) => Some(local.find_commit(old).and_then(|old| old.tree()).map_err(git)?),
        None => None,
    };
    let copier = Copier {
        local,
        source: local.odb().map_err(git)?,
        target: remote.odb().map_err(git)?,
    };
    for new in walk {
        let new = local.find_commit(new.map_err(git)?).map_err(git)?;
        copier.tree(new.tree_id(), old_tree.as_ref())?;
        copier.object(new.id())?;
    }
    Ok(())
}

/// Copies objects from one object database into another.
struct Copier<'repo> {
    local: &'repo Repository,
    source: git2::Odb<'repo>,
    target: git2::Odb<'repo>,
}

impl Copier<'_> {
    /// `tree` and what it holds, unless `old` (the tree at the same path in the remote's
    /// commit) is the same tree.
    fn tree(&self, tree: Oid, old: Option<&git2::Tree<'_>>) -> Result<(), GitopsError> {
        if old.is_some_and(|old| old.id() == tree) {
            return Ok(());
        }
        let new = self.local.find_tree(tree).map_err(git)?;
        for entry in new.iter() {
            let before = old.and_then(|old| old.get_name_bytes(entry.name_bytes()));
            match entry.kind() {
                Some(git2::ObjectType::Tree) => {
                    let before = before
                        .filter(|before| before.kind() == Some(git2::ObjectType::Tree))
                        .map(|before| self.local.find_tree(before.id()))
                        .transpose()
                        .map_err(git)?;
                    self.tree(entry.id(), before.as_ref())?;
                }
                Some(git2::ObjectType::Blob) if before.is_none_or(|before| before.id() != entry.id()) => {
                    self.object(entry.id())?;
                }
                // Unchanged blobs; submodule commits live in other repositories.
                _ => {}
            }
        }
        self.object(tree)
    }

    fn object(&self, id: Oid) -> Result<(), GitopsError> {
        if self.target.exists(id) {
            return Ok(());
        }
        let object = self.source.read(id).map_err(git)?;
        let written = self.target.write(object.kind(), object.data()).map_err(git)?;
        if written != id {
            return Err(GitopsError::WorkingCopy(format!(
                "copying {id} into the remote wrote {written} instead"
            )));
        }
        Ok(())
    }
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

    /// A commit on `parent` whose tree is `parent`'s with `path` set to `text`.
    fn edit(repo: &Repository, parent: Option<Oid>, path: &str, text: &str) -> Oid {
        let blob = repo.blob(text.as_bytes()).unwrap();
        let parent = parent.map(|parent| repo.find_commit(parent).unwrap());
        let base = match &parent {
            Some(parent) => parent.tree().unwrap(),
            None => repo
                .find_tree(repo.treebuilder(None).unwrap().write().unwrap())
                .unwrap(),
        };
        let mut update = git2::build::TreeUpdateBuilder::new();
        update.upsert(path, blob, git2::FileMode::Blob);
        let tree = repo
            .find_tree(update.create_updated(repo, &base).unwrap())
            .unwrap();
        let signature = git2::Signature::now("t", "t@example").unwrap();
        let parents: Vec<_> = parent.iter().collect();
        repo.commit(None, &signature, &signature, path, &tree, &parents)
            .unwrap()
    }

    fn loose_objects(repo: &std::path::Path) -> usize {
        std::fs::read_dir(repo.join("objects"))
            .unwrap()
            .flatten()
            .filter(|dir| dir.file_name().len() == 2)
            .map(|dir| std::fs::read_dir(dir.path()).unwrap().count())
            .sum()
    }

    #[test]
    fn a_push_copies_only_the_objects_the_commit_adds_and_leaves_the_remote_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("remote.git");
        Repository::init_bare(&path).unwrap();
        let local = Repository::init(dir.path().join("local")).unwrap();
        let mut base = edit(&local, None, "apps/mcp/deployment.yaml", "image: a:1\n");
        for (index, file) in ["apps/mcp/service.yaml", "apps/other/x.yaml", "top.yaml"]
            .iter()
            .enumerate()
        {
            base = edit(&local, Some(base), file, &format!("n: {index}\n"));
        }
        push(&local, &path, base, "main").unwrap();
        let before = loose_objects(&path);
        let next = edit(&local, Some(base), "apps/mcp/deployment.yaml", "image: a:2\n");
        push(&local, &path, next, "main").unwrap();
        // The commit, the blob and the three trees above it (root, apps, apps/mcp); not
        // apps/other or the unchanged blobs.
        assert_eq!(loose_objects(&path) - before, 5);
        let fsck = std::process::Command::new("git")
            .args(["fsck", "--full", "--no-progress", "--no-dangling"])
            .current_dir(&path)
            .output()
            .unwrap();
        assert!(fsck.status.success(), "{}", String::from_utf8_lossy(&fsck.stderr));
        let remote = Repository::open_bare(&path).unwrap();
        assert_eq!(remote.refname_to_id("refs/heads/main").unwrap(), next);
    }
}
