//! Applying setters to a tree: every `*.yaml`, `*.yml` and `Kustomization` file under
//! `root/update_path` that mentions `$imagepolicy`, in sorted order. Never follows a symlink,
//! never leaves the root, writes a file (atomically) only when it changed. Files read once and
//! found without the marker are remembered with their stat data and not read again until it
//! changes (a 2,000-file repository is otherwise read twice per write cycle).

use super::rewrite::{self, scan};
use super::{Applied, ApplyError, Mode, Site, Values};
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, SystemTime};

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

fn is_candidate(path: &Path) -> bool {
    let name = path.file_name().and_then(|name| name.to_str()).unwrap_or("");
    name == "Kustomization" || name.ends_with(".yaml") || name.ends_with(".yml")
}

/// What identifies one version of a file: any write, rename over it or replacement changes the
/// inode's change time (set by the kernel, never by a caller), and usually its size or inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    device: u64,
    inode: u64,
    len: u64,
    modified: (i64, i64),
    changed: (i64, i64),
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Self {
        Self {
            device: meta.dev(),
            inode: meta.ino(),
            len: meta.len(),
            modified: (meta.mtime(), meta.mtime_nsec()),
            changed: (meta.ctime(), meta.ctime_nsec()),
        }
    }

    /// Whether a file with this stamp, read at `read_at`, may be trusted by its stamp later:
    /// not if it changed within the file system's timestamp granularity of the read (a second
    /// write in the same clock tick could keep every field), the way git treats "racily clean"
    /// index entries.
    fn settled_before(&self, read_at: SystemTime) -> bool {
        let Ok(since_epoch) = read_at.duration_since(SystemTime::UNIX_EPOCH) else {
            return false;
        };
        let changed = i64::try_from(since_epoch.saturating_sub(RACY).as_secs()).unwrap_or(i64::MAX);
        self.changed.0 < changed && self.modified.0 < changed
    }
}

/// Changes this close to a read make its stamp untrustworthy (see `Stamp::settled_before`).
const RACY: Duration = Duration::from_secs(2);
/// Bound on remembered files; the memory is dropped (and rebuilt by reading) beyond it.
const REMEMBERED: usize = 200_000;

/// Files read and found without `$imagepolicy`, by absolute path, with their stamp then.
static UNMARKED: LazyLock<Mutex<HashMap<PathBuf, Stamp>>> = LazyLock::new(Mutex::default);

fn unmarked() -> std::sync::MutexGuard<'static, HashMap<PathBuf, Stamp>> {
    UNMARKED.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Candidate files below `dir`, sorted, each with its stamp; symlinks and `.git` are skipped.
fn walk(dir: &Path, files: &mut Vec<(PathBuf, Stamp)>) -> Result<(), ApplyError> {
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
        if file_type.is_dir() && entry.file_name() != ".git" {
            walk(&path, files)?;
        } else if file_type.is_file() && is_candidate(&path) {
            let meta = entry.metadata().map_err(|source| ApplyError::Io {
                path: path.clone(),
                source,
            })?;
            files.push((path, Stamp::of(&meta)));
        }
    }
    Ok(())
}

fn relative(root: &Path, path: &Path) -> PathBuf {
    path.strip_prefix(root).unwrap_or(path).to_path_buf()
}

/// Files under the update path that mention `$imagepolicy`, with their text; files that are not
/// UTF-8 are reported in `warnings` and skipped.
fn marked_files(
    root: &Path,
    update_path: &str,
    warnings: &mut Vec<String>,
) -> Result<Vec<(PathBuf, String)>, ApplyError> {
    let mut files = Vec::new();
    walk(&resolve(root, update_path)?, &mut files)?;
    let mut marked = Vec::new();
    let known: Vec<bool> = {
        let remembered = unmarked();
        files
            .iter()
            .map(|(path, stamp)| remembered.get(path) == Some(stamp))
            .collect()
    };
    let mut learnt = Vec::new();
    for ((path, stamp), known_unmarked) in files.into_iter().zip(known) {
        if known_unmarked {
            continue;
        }
        let read_at = SystemTime::now();
        let bytes = std::fs::read(&path).map_err(|source| ApplyError::Io {
            path: path.clone(),
            source,
        })?;
        if !has_marker(&bytes) {
            // The stamp was taken before the read: if the file changed in between, the stamp
            // no longer matches and the next scan reads it again.
            if stamp.settled_before(read_at) {
                learnt.push((path, stamp));
            }
        } else {
            match String::from_utf8(bytes) {
                Ok(text) => marked.push((path, text)),
                Err(_) => warnings.push(format!(
                    "{}: not UTF-8 text; skipped",
                    relative(root, &path).display()
                )),
            }
        }
    }
    if !learnt.is_empty() {
        let mut remembered = unmarked();
        if remembered.len() + learnt.len() > REMEMBERED {
            remembered.clear();
        }
        remembered.extend(learnt);
    }
    Ok(marked)
}

fn has_marker(bytes: &[u8]) -> bool {
    static MARKER: LazyLock<regex::bytes::Regex> = LazyLock::new(|| {
        regex::bytes::Regex::new(r"\$imagepolicy").unwrap_or_else(|_| unreachable!("a literal"))
    });
    MARKER.is_match(bytes)
}

/// Rewrite every marker for a policy in `values`; return the changes, the warnings, and the
/// refused sites (whose files were not written).
pub fn apply_tree(
    root: &Path,
    update_path: &str,
    values: &Values,
    mode: Mode,
) -> Result<Applied, ApplyError> {
    let mut applied = Applied::default();
    for (path, text) in marked_files(root, update_path, &mut applied.warnings)? {
        let file = relative(root, &path);
        let rewritten = match rewrite::rewrite(&text, values) {
            Ok(rewritten) => rewritten,
            Err(error) => {
                applied
                    .warnings
                    .push(format!("{}: skipped: {error}", file.display()));
                continue;
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
            continue;
        }
        if mode == Mode::Write {
            write_atomically(&path, rewritten.text.as_bytes())?;
        }
        applied
            .changes
            .extend(rewritten.changes.into_iter().map(|change| super::Change {
                file: file.clone(),
                ..change
            }));
    }
    Ok(applied)
}

/// Every usable marker under the update path and the value it marks now.
pub fn scan_tree(root: &Path, update_path: &str) -> Result<Vec<Site>, ApplyError> {
    let mut sites = Vec::new();
    for (path, text) in marked_files(root, update_path, &mut Vec::new())? {
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
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }

        fn write(&self, name: &str, text: &str) -> PathBuf {
            let path = self.0.join(name);
            std::fs::write(&path, text).unwrap();
            path
        }

        /// Pretend `path` was read long ago and found unmarked, with the stat data it has now.
        fn remember_as_unmarked(&self, path: &Path) {
            let stamp = Stamp::of(&std::fs::metadata(path).unwrap());
            unmarked().insert(path.to_owned(), stamp);
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn a_file_remembered_as_unmarked_is_not_read_again_while_its_stat_data_holds() {
        let tree = Tree::new();
        let path = tree.write("a.yaml", MARKED);
        // The memory says "no marker" for exactly this version: a scan trusts it and skips
        // the read (which is the point), so the marker is not seen.
        tree.remember_as_unmarked(&path);
        assert!(scan_tree(&tree.0, ".").unwrap().is_empty());
    }

    #[test]
    fn a_remembered_file_that_changes_is_read_again() {
        let tree = Tree::new();
        let path = tree.write("a.yaml", PLAIN);
        tree.remember_as_unmarked(&path);
        tree.write("a.yaml", MARKED);
        let sites = scan_tree(&tree.0, ".").unwrap();
        assert_eq!(sites.len(), 1, "{sites:?}");
        assert_eq!(sites[0].file, Path::new("a.yaml"));
    }

    #[test]
    fn a_file_changed_just_now_is_not_remembered_as_unmarked() {
        let tree = Tree::new();
        let path = tree.write("a.yaml", PLAIN);
        assert!(scan_tree(&tree.0, ".").unwrap().is_empty());
        assert!(
            !unmarked().contains_key(&path),
            "a stamp within the racy window of its read is not trusted"
        );
    }

    #[test]
    fn stamps_older_than_the_racy_window_are_trusted_and_newer_ones_are_not() {
        let stamp = |seconds| Stamp {
            device: 1,
            inode: 2,
            len: 3,
            modified: (seconds, 0),
            changed: (seconds, 0),
        };
        let read_at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        assert!(stamp(990).settled_before(read_at));
        assert!(!stamp(999).settled_before(read_at));
        assert!(!stamp(1_000).settled_before(read_at));
        assert!(!stamp(1_005).settled_before(read_at), "a clock that went back");
    }
}
