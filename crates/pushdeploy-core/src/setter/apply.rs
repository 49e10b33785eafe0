//! Applying setters to a tree: every `*.yaml`, `*.yml` and `Kustomization` file under
//! `root/update_path` that mentions `$imagepolicy`, in sorted order. Never follows a symlink,
//! never leaves the root, writes a file (atomically) only when it changed.

use super::rewrite::{self, scan};
use super::{Applied, ApplyError, Mode, Site, Values};
use std::path::{Component, Path, PathBuf};

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
        if file_type.is_dir() && entry.file_name() != ".git" {
            walk(&path, files)?;
        } else if file_type.is_file() && is_candidate(&path) {
            files.push(path);
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
    for path in files {
        let bytes = std::fs::read(&path).map_err(|source| ApplyError::Io {
            path: path.clone(),
            source,
        })?;
        if memchr_marker(&bytes) {
            match String::from_utf8(bytes) {
                Ok(text) => marked.push((path, text)),
                Err(_) => warnings.push(format!(
                    "{}: not UTF-8 text; skipped",
                    relative(root, &path).display()
                )),
            }
        }
    }
    Ok(marked)
}

fn memchr_marker(bytes: &[u8]) -> bool {
    bytes
        .windows(b"$imagepolicy".len())
        .any(|window| window == b"$imagepolicy")
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
