//! Applying setters to a tree: every `*.yaml`, `*.yml` and `Kustomization` file under
//! `root/update_path` that mentions `$imagepolicy`, in sorted order. Never follows a symlink,
//! never leaves the root, writes a file (atomically) only when it changed. Callers that already
//! know which files carry markers (the gitops writer, from the commit's tree) skip the walk:
//! `apply_files` / `scan_files` take that list, `apply_tree` / `scan_tree` walk the directory.

use super::rewrite::{self, scan};
use super::{Applied, ApplyError, Mode, Site, Values};
use std::path::{Component, Path, PathBuf};
use std::sync::LazyLock;

/// Resolve `update_path` inside `root` without `..` escapes or symlinks on the way.
fn resolve(root: &Path, update_path: &str) -> Result<PathBuf, ApplyError> {
    let mut resolved = root.to_path_buf();
    for component in Path::new(update_path).components() {
        match component {
            Component::CurDir => {}
            Component::Normal(part) => {
                resolved.push(part);
                let is_link =
                    std::fs::symlink_metadata(&resolved).is_ok_and(|meta| meta.file_type().is_symlink());
                if is_link {
                    return Err(ApplyError::PathEscapes {
                        path: update_path.to_owned(),
                    });
                }
            }
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(ApplyError::PathEscapes {
                    path: update_path.to_owned(),
                });
            }
        }
    }
    if !resolved.is_dir() {
        return Err(ApplyError::PathMissing {
            path: update_path.to_owned(),
        });
    }
    Ok(resolved)
}

/// Whether a file of this name is one the setters read (`*.yaml`, `*.yml`, `Kustomization`).
pub fn is_candidate(name: &str) -> bool {
    name == "Kustomization" || name.ends_with(".yaml") || name.ends_with(".yml")
}

/// Candidate files below `dir`, sorted; symlinks and `.git` are skipped.
fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), ApplyError> {
    let io = |source| ApplyError::Io {
        path: dir.to_owned(),
        source,
    };
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(io)?
        .collect::<Result<_, _>>()
        .map_err(io)?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let file_type = entry.file_type().map_err(io)?;
        let path = entry.path();
        let name = entry.file_name();
        if file_type.is_dir() && name != ".git" {
            walk(&path, files)?;
        } else if file_type.is_file() && is_candidate(name.to_str().unwrap_or("")) {
            files.push(path);
        }
    }
    Ok(())
}

fn relative(root: &Path, path: &Path) -> PathBuf {
    path.strip_prefix(root).unwrap_or(path).to_path_buf()
}

/// Read `paths` (absolute, in order) and keep those that mention `$imagepolicy`, with their
/// text; files that are not UTF-8 are reported in `warnings` and skipped.
fn read_marked(
    root: &Path,
    paths: Vec<PathBuf>,
    warnings: &mut Vec<String>,
) -> Result<Vec<(PathBuf, String)>, ApplyError> {
    let mut marked = Vec::new();
    for path in paths {
        let bytes = std::fs::read(&path).map_err(|source| ApplyError::Io {
            path: path.clone(),
            source,
        })?;
        if !has_marker(&bytes) {
            continue;
        }
        match String::from_utf8(bytes) {
            Ok(text) => marked.push((path, text)),
            Err(_) => warnings.push(format!(
                "{}: not UTF-8 text; skipped",
                relative(root, &path).display()
            )),
        }
    }
    Ok(marked)
}

/// Every candidate file under the update path, absolute, sorted.
fn tree_files(root: &Path, update_path: &str) -> Result<Vec<PathBuf>, ApplyError> {
    let mut files = Vec::new();
    walk(&resolve(root, update_path)?, &mut files)?;
    Ok(files)
}

/// Whether `bytes` mention the marker at all (the cheap test before a file is parsed).
pub fn has_marker(bytes: &[u8]) -> bool {
    static MARKER: LazyLock<regex::bytes::Regex> = LazyLock::new(|| {
        regex::bytes::Regex::new(r"\$imagepolicy").unwrap_or_else(|_| unreachable!("a literal"))
    });
    MARKER.is_match(bytes)
}

/// Rewrite every marker for a policy in `values` under the update path (walking it); return
/// the changes, the warnings, and the refused sites (whose files were not written).
pub fn apply_tree(
    root: &Path,
    update_path: &str,
    values: &Values,
    mode: Mode,
) -> Result<Applied, ApplyError> {
    apply_paths(root, tree_files(root, update_path)?, values, mode)
}

/// `apply_tree` over `files` (relative to `root`, sorted) instead of a walk: the caller knows
/// the tree holds no other file with a marker. Each file must be a regular file below the
/// update path with no symlink on the way; one that is not is refused as `PathEscapes`.
pub fn apply_files(
    root: &Path,
    update_path: &str,
    files: Vec<PathBuf>,
    values: &Values,
    mode: Mode,
) -> Result<Applied, ApplyError> {
    apply_paths(root, checked(root, update_path, files)?, values, mode)
}

fn apply_paths(root: &Path, paths: Vec<PathBuf>, values: &Values, mode: Mode) -> Result<Applied, ApplyError> {
    let mut applied = Applied::default();
    for (path, text) in read_marked(root, paths, &mut applied.warnings)? {
        apply_one(root, &path, &text, values, mode, &mut applied)?;
    }
    Ok(applied)
}

/// The absolute paths of `files` after checking each is a regular file inside the update path
/// reached through directories only (never a symlink), so a write can never leave the tree.
fn checked(root: &Path, update_path: &str, files: Vec<PathBuf>) -> Result<Vec<PathBuf>, ApplyError> {
    let base = resolve(root, update_path)?;
    let escapes = |file: &Path| ApplyError::PathEscapes {
        path: file.display().to_string(),
    };
    let mut paths = Vec::with_capacity(files.len());
    for file in files {
        let path = if file.is_absolute() { file } else { root.join(file) };
        let inside = path.strip_prefix(&base).map_err(|_| escapes(&path))?;
        let mut at = base.clone();
        for component in inside.components() {
            let Component::Normal(part) = component else {
                return Err(escapes(&path));
            };
            at.push(part);
            let meta = std::fs::symlink_metadata(&at).map_err(|source| ApplyError::Io {
                path: at.clone(),
                source,
            })?;
            let last = at == path;
            if meta.file_type().is_symlink() || (last && !meta.is_file()) || (!last && !meta.is_dir()) {
                return Err(escapes(&path));
            }
        }
        paths.push(path);
    }
    Ok(paths)
}

fn apply_one(
    root: &Path,
    path: &Path,
    text: &str,
    values: &Values,
    mode: Mode,
    applied: &mut Applied,
) -> Result<(), ApplyError> {
    let file = relative(root, path);
    let rewritten = match rewrite::rewrite(text, values) {
        Ok(rewritten) => rewritten,
        Err(error) => {
            applied
                .warnings
                .push(format!("{}: skipped: {error}", file.display()));
            return Ok(());
        }
    };
    for skipped in &rewritten.skipped {
        applied
            .warnings
            .push(format!("{}:{}: {}", file.display(), skipped.line, skipped.reason));
    }
    // A refused site leaves its whole file untouched (`rewrite` returned no changes).
    applied
        .refused
        .extend(rewritten.refused.into_iter().map(|refusal| super::Refusal {
            file: file.clone(),
            ..refusal
        }));
    if rewritten.changes.is_empty() {
        return Ok(());
    }
    if mode == Mode::Write {
        write_atomically(path, rewritten.text.as_bytes())?;
    }
    applied
        .changes
        .extend(rewritten.changes.into_iter().map(|change| super::Change {
            file: file.clone(),
            ..change
        }));
    Ok(())
}

/// Every usable marker under the update path (walking it) and the value it marks now.
pub fn scan_tree(root: &Path, update_path: &str) -> Result<Vec<Site>, ApplyError> {
    scan_paths(root, tree_files(root, update_path)?)
}

/// `scan_tree` over `files` (relative to `root`, sorted; checked as in `apply_files`).
pub fn scan_files(root: &Path, update_path: &str, files: Vec<PathBuf>) -> Result<Vec<Site>, ApplyError> {
    scan_paths(root, checked(root, update_path, files)?)
}

fn scan_paths(root: &Path, paths: Vec<PathBuf>) -> Result<Vec<Site>, ApplyError> {
    let mut sites = Vec::new();
    for (path, text) in read_marked(root, paths, &mut Vec::new())? {
        let Ok(found) = scan(&text) else { continue };
        for (marker, line, index) in &found.sites {
            sites.push(Site {
                file: relative(root, &path),
                line: *line,
                setter: marker.setter.clone(),
                policy: marker.policy.clone(),
                field: marker.field,
                value: found.value_of(*index).to_owned(),
            });
        }
    }
    Ok(sites)
}

/// Write through a temporary file in the same directory, keeping the permissions.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ApplyError> {
    let io = |source| ApplyError::Io {
        path: path.to_owned(),
        source,
    };
    let permissions = std::fs::metadata(path).map_err(io)?.permissions();
    let file_name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = path.with_file_name(format!(".{file_name}.pushdeploy-tmp"));
    std::fs::write(&temporary, bytes).map_err(io)?;
    std::fs::set_permissions(&temporary, permissions).map_err(io)?;
    std::fs::rename(&temporary, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    const MARKED: &str = "spec:\n  image: registry.example/app:1 # {\"$imagepolicy\": \"flux-system:mcp\"}\n";
    const PLAIN: &str = "spec:\n  image: registry.example/app:1\n";

    /// A fresh directory under the system temp dir (removed at the end of the test).
    struct Tree(PathBuf);

    impl Tree {
        fn new() -> Self {
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let dir = std::env::temp_dir().join(format!(
                "pushdeploy-apply-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(dir.join("apps")).unwrap();
            Self(dir)
        }

        fn write(&self, name: &str, text: &str) -> PathBuf {
            let path = self.0.join(name);
            std::fs::write(&path, text).unwrap();
            path
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn scan_files_reads_only_the_listed_files_and_skips_those_without_a_marker() {
        let tree = Tree::new();
        tree.write("apps/a.yaml", MARKED);
        tree.write("apps/b.yaml", MARKED);
        tree.write("apps/plain.yaml", PLAIN);
        let listed = vec![PathBuf::from("apps/a.yaml"), PathBuf::from("apps/plain.yaml")];
        let sites = scan_files(&tree.0, "apps", listed).unwrap();
        assert_eq!(sites.len(), 1, "{sites:?}");
        assert_eq!(sites[0].file, Path::new("apps/a.yaml"));
    }

    #[test]
    fn a_listed_file_outside_the_update_path_or_behind_a_symlink_is_refused() {
        let tree = Tree::new();
        tree.write("outside.yaml", MARKED);
        std::fs::create_dir_all(tree.0.join("elsewhere")).unwrap();
        tree.write("elsewhere/x.yaml", MARKED);
        std::os::unix::fs::symlink(tree.0.join("elsewhere"), tree.0.join("apps/linked")).unwrap();
        std::os::unix::fs::symlink(tree.0.join("outside.yaml"), tree.0.join("apps/link.yaml")).unwrap();
        for listed in [
            "outside.yaml",
            "apps/linked/x.yaml",
            "apps/link.yaml",
            "apps/../outside.yaml",
        ] {
            let result = apply_files(
                &tree.0,
                "apps",
                vec![PathBuf::from(listed)],
                &Values::new(),
                Mode::Write,
            );
            assert!(
                matches!(result, Err(ApplyError::PathEscapes { .. })),
                "{listed}: {result:?}"
            );
        }
    }
}
