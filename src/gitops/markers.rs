//! Which files of a commit carry setter markers, read from the commit's tree in the object
//! database instead of a walk of the working copy: subtrees and blobs are remembered by object
//! id (content-addressed, so a hit can never be stale), and a cycle reads only the trees and
//! blobs that are new since the last one. Used only while the working copy is clean at that
//! commit, so the files named are exactly the working copy's; the setter re-checks each path
//! (regular file, no symlink on the way) before reading or writing it.

use crate::setter;
use git2::{ObjectType, Oid, Repository};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

/// Bound on remembered trees and blobs; beyond it the memory is dropped and rebuilt.
const REMEMBERED: usize = 200_000;

/// The memory of one working copy's object database (owned by its `Workspace`).
#[derive(Debug, Default)]
pub struct MarkerIndex {
    /// Tree id → the marked candidate files below it, relative to that tree.
    trees: HashMap<Oid, Arc<[PathBuf]>>,
    /// Blob id → whether its bytes mention `$imagepolicy`.
    blobs: HashMap<Oid, bool>,
}

impl MarkerIndex {
    /// Candidate files (`*.yaml`, `*.yml`, `Kustomization`; regular files, not symlinks or
    /// submodules) under `update_path` in `commit` that mention `$imagepolicy`, relative to the
    /// repository root, in the order of a sorted directory walk. Empty when the update path is
    /// not a directory of the commit: the setter's own path check then says why.
    pub fn marked(
        &mut self,
        repo: &Repository,
        commit: Oid,
        update_path: &str,
    ) -> Result<Vec<PathBuf>, git2::Error> {
        if self.trees.len() + self.blobs.len() > REMEMBERED {
            self.trees.clear();
            self.blobs.clear();
        }
        let mut tree = repo.find_commit(commit)?.tree_id();
        let mut prefix = PathBuf::new();
        for component in Path::new(update_path).components() {
            match component {
                Component::CurDir => {}
                Component::Normal(part) => {
                    let found = repo
                        .find_tree(tree)?
                        .get_name_bytes(part.as_bytes())
                        .and_then(|entry| (entry.kind() == Some(ObjectType::Tree)).then(|| entry.id()));
                    let Some(subtree) = found else {
                        return Ok(Vec::new());
                    };
                    tree = subtree;
                    prefix.push(part);
                }
                _ => return Ok(Vec::new()),
            }
        }
        let mut files: Vec<PathBuf> = self
            .below(repo, tree)?
            .iter()
            .map(|file| prefix.join(file))
            .collect();
        // Git orders a directory as if its name ended in `/`; the walk (and so the order of
        // changes in commit messages) sorts by name: `Path` ordering is component-wise.
        files.sort();
        Ok(files)
    }

    fn below(&mut self, repo: &Repository, tree_id: Oid) -> Result<Arc<[PathBuf]>, git2::Error> {
        if let Some(known) = self.trees.get(&tree_id) {
            return Ok(Arc::clone(known));
        }
        let tree = repo.find_tree(tree_id)?;
        let mut marked = Vec::new();
        for entry in tree.iter() {
            let name = OsStr::from_bytes(entry.name_bytes());
            match entry.kind() {
                Some(ObjectType::Tree) if name != ".git" => {
                    for file in self.below(repo, entry.id())?.iter() {
                        marked.push(Path::new(name).join(file));
                    }
                }
                Some(ObjectType::Blob)
                    if is_regular(entry.filemode())
                        && setter::is_candidate(name.to_str().unwrap_or(""))
                        && self.blob_marked(repo, entry.id())? =>
                {
                    marked.push(PathBuf::from(name));
                }
                _ => {}
            }
        }
        let marked: Arc<[PathBuf]> = marked.into();
        self.trees.insert(tree_id, Arc::clone(&marked));
        Ok(marked)
    }

    fn blob_marked(&mut self, repo: &Repository, blob: Oid) -> Result<bool, git2::Error> {
        if let Some(&known) = self.blobs.get(&blob) {
            return Ok(known);
        }
        // Checkout filters (CRLF, `ident`) never add or remove the marker's text, so the
        // blob's bytes answer for the working file's.
        let marked = setter::has_marker(repo.find_blob(blob)?.content());
        self.blobs.insert(blob, marked);
        Ok(marked)
    }
}

/// A regular file (0100644, 0100755), not a symlink (0120000) or a submodule (0160000).
fn is_regular(filemode: i32) -> bool {
    filemode & 0o170_000 == 0o100_000
}

#[cfg(test)]
mod tests {
    use super::*;

    const MARKED: &[u8] = b"image: a:1 # {\"$imagepolicy\": \"ns:p\"}\n";

    /// A commit of `files` (path, bytes, mode) in a fresh repository.
    fn commit(repo: &Repository, files: &[(&str, &[u8], i32)]) -> Oid {
        let mut index = git2::Index::new().unwrap();
        for (path, bytes, mode) in files {
            let blob = repo.blob(bytes).unwrap();
            let mut entry = crate::gitops::file_entry(path, blob, bytes.len());
            entry.mode = u32::try_from(*mode).unwrap();
            index.add(&entry).unwrap();
        }
        let tree = repo.find_tree(index.write_tree_to(repo).unwrap()).unwrap();
        let signature = git2::Signature::now("t", "t@example").unwrap();
        repo.commit(None, &signature, &signature, "c", &tree, &[])
            .unwrap()
    }

    #[test]
    fn only_regular_candidate_files_with_a_marker_under_the_update_path_are_named_in_walk_order() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(dir.path()).unwrap();
        let commit = commit(
            &repo,
            &[
                ("apps/a.yaml", MARKED, 0o100_644),
                ("apps/a/b.yml", MARKED, 0o100_755),
                ("apps/Kustomization", MARKED, 0o100_644),
                ("apps/plain.yaml", b"a: 1\n", 0o100_644),
                ("apps/notes.txt", MARKED, 0o100_644),
                ("apps/link.yaml", b"../outside.yaml", 0o120_000),
                ("outside.yaml", MARKED, 0o100_644),
            ],
        );
        let mut index = MarkerIndex::default();
        let files = index.marked(&repo, commit, "./apps").unwrap();
        let expected: Vec<PathBuf> = ["apps/Kustomization", "apps/a/b.yml", "apps/a.yaml"]
            .iter()
            .map(PathBuf::from)
            .collect();
        assert_eq!(files, expected);
        assert_eq!(
            index.marked(&repo, commit, "apps").unwrap(),
            expected,
            "from memory, the same"
        );
        assert!(index.marked(&repo, commit, "missing").unwrap().is_empty());
        assert!(index.marked(&repo, commit, "apps/a.yaml").unwrap().is_empty());
        assert!(index.marked(&repo, commit, "../x").unwrap().is_empty());
    }

    #[test]
    fn a_changed_file_is_read_again_because_its_blob_and_trees_are_new() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(dir.path()).unwrap();
        let mut index = MarkerIndex::default();
        let before = commit(&repo, &[("apps/a.yaml", b"a: 1\n", 0o100_644)]);
        assert!(index.marked(&repo, before, ".").unwrap().is_empty());
        let after = commit(&repo, &[("apps/a.yaml", MARKED, 0o100_644)]);
        assert_eq!(
            index.marked(&repo, after, ".").unwrap(),
            vec![PathBuf::from("apps/a.yaml")]
        );
    }
}
