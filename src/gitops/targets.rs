//! What one push sends besides the branch: the automation's `git.push.refspec` (its source
//! resolved in our working copy) and `git.push.options`, and how a `file://` remote gets them.
//! Everything goes in one push and nothing is forced: a refspec destination that is not a
//! fast-forward is an error that says so, never a skip. Options are never dropped: a `file://`
//! remote (written without receive-pack) refuses them, and refuses a remote with receive hooks.

use super::GitopsError;
use super::auth::{Verdict, callbacks};
use crate::config::{Automation, GitAuth};
use git2::{Oid, Repository};
use std::path::Path;

/// Where the working copy keeps the refspec's commit while it is pushed.
pub const EXTRA_REF: &str = "refs/pushdeploy/refspec";

/// The refs and options of one push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Targets {
    /// The push branch (short name).
    pub branch: String,
    /// The refspec's destination and the commit it is to point at.
    pub extra: Option<Extra>,
    /// Push options as sent (`key=value`, or `key` when the value is empty).
    pub options: Vec<String>,
}

/// `git.push.refspec`, resolved: push `commit` to `destination`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extra {
    /// As configured, for messages.
    pub refspec: String,
    pub destination: String,
    pub commit: Oid,
}

impl Targets {
    /// The branch alone, with the automation's options (notes: a pin or resume commit is not
    /// sent to the refspec, which may open a review per push; the server may require options).
    pub fn branch(automation: &Automation) -> Self {
        Self {
            branch: automation.push_branch.clone(),
            extra: None,
            options: options(automation),
        }
    }

    /// The branch, the refspec and the options for `commit`, the commit just made on top of
    /// the fetched push branch. `tracking` gives our fetched copy of a branch. As `git push`
    /// does in Flux's checkout: `HEAD` and the push branch name the new commit; the checkout
    /// branch (when it differs) names its fetched tip; any other source is refused.
    pub fn for_write(
        automation: &Automation,
        commit: Oid,
        tracking: impl Fn(&str) -> Option<Oid>,
    ) -> Result<Self, GitopsError> {
        let mut targets = Self::branch(automation);
        let Some(refspec) = &automation.push_refspec else {
            return Ok(targets);
        };
        let source = refspec.source.as_str();
        let short = source.strip_prefix("refs/heads/").unwrap_or(source);
        let resolved = if source == "HEAD" || short == automation.push_branch {
            Some(commit)
        } else if short == automation.checkout_branch {
            tracking(short)
        } else {
            None
        };
        let Some(resolved) = resolved else {
            return Err(GitopsError::RefspecSource {
                refspec: refspec.to_string(),
                from: source.to_owned(),
                push_branch: automation.push_branch.clone(),
                checkout_branch: automation.checkout_branch.clone(),
            });
        };
        // `push.refspec: refs/heads/main:refs/heads/main` beside `push.branch: main` names the
        // same update twice (Flux then fails with "already up-to-date"): it is pushed once.
        if refspec.destination == format!("refs/heads/{}", automation.push_branch) && resolved == commit {
            return Ok(targets);
        }
        targets.extra = Some(Extra {
            refspec: refspec.to_string(),
            destination: refspec.destination.clone(),
            commit: resolved,
        });
        Ok(targets)
    }

    /// The branch was pushed but the remote refused the refspec's destination with `reason`.
    pub fn extra_rejected(&self, commit: Oid, reason: &str) -> GitopsError {
        let extra = self.extra.as_ref();
        GitopsError::RefspecRejected {
            commit: commit.to_string(),
            branch: self.branch.clone(),
            refspec: extra.map(|e| e.refspec.clone()).unwrap_or_default(),
            destination: extra.map(|e| e.destination.clone()).unwrap_or_default(),
            reason: reason.to_owned(),
        }
    }

    fn extra_diverged(&self, extra: &Extra) -> GitopsError {
        GitopsError::RefspecNonFastForward {
            refspec: extra.refspec.clone(),
            destination: extra.destination.clone(),
            branch: self.branch.clone(),
        }
    }

    /// Say what a push that failed before anything was sent is about. libgit2 checks every ref
    /// against the advertisement first: a non-fast-forward is the refspec's destination
    /// (permanent until someone moves it) or the branch having moved (retry from a fresh
    /// fetch). Options the remote does not advertise are refused by libgit2 (permanent).
    pub fn explain(&self, repo: &Repository, url: &str, auth: &GitAuth, error: GitopsError) -> GitopsError {
        if let GitopsError::Git(message) = &error
            && !self.options.is_empty()
            // libgit2 has no error code of its own for this; its message is the only sign.
            && message.git2().message().contains("push-options not supported")
        {
            return GitopsError::PushOptionsUnsupported {
                url: crate::domain::redact_url(url).into_owned(),
            };
        }
        let (Some(extra), GitopsError::NonFastForward { .. }) = (&self.extra, &error) else {
            return error;
        };
        match advertised(repo, url, auth, &extra.destination) {
            Ok(Some(tip)) if !descends(repo, extra.commit, tip) => self.extra_diverged(extra),
            _ => error,
        }
    }
}

fn options(automation: &Automation) -> Vec<String> {
    automation
        .push_options
        .iter()
        .map(|(key, value)| {
            if value.is_empty() {
                key.clone()
            } else {
                format!("{key}={value}")
            }
        })
        .collect()
}

/// `commit` equals `tip` or has it in its history (a commit we lack cannot be in it).
fn descends(repo: &Repository, commit: Oid, tip: Oid) -> bool {
    commit == tip || (repo.find_commit(tip).is_ok() && repo.graph_descendant_of(commit, tip).unwrap_or(false))
}

/// What the remote advertises for `name` right now (push direction, as a push would see it).
fn advertised(repo: &Repository, url: &str, auth: &GitAuth, name: &str) -> Result<Option<Oid>, git2::Error> {
    let verdict = Verdict::default();
    let mut remote = repo.remote_anonymous(url)?;
    let connection =
        remote.connect_auth(git2::Direction::Push, Some(callbacks(url, auth, &verdict)), None)?;
    let found = connection
        .list()?
        .iter()
        .find(|head| head.name() == name)
        .map(git2::RemoteHead::oid);
    Ok(found)
}

/// Push `targets` to the repository at `path` on this machine: `local::push` for the branch,
/// then the refspec's destination by the same compare-and-swap. Both are checked for
/// fast-forward before either moves, so a diverged destination leaves the branch as it was.
pub fn push_local(
    local: &Repository,
    path: &Path,
    commit: Oid,
    targets: &Targets,
) -> Result<(), GitopsError> {
    let url = format!("file://{}", path.display());
    if !targets.options.is_empty() {
        return Err(bypass(&url, path, "git.push.options", "remove git.push.options"));
    }
    if let Some(hook) = receive_hook(path) {
        let what = format!("its {hook} hook");
        return Err(bypass(&url, path, &what, "remove the hook"));
    }
    let Some(extra) = &targets.extra else {
        return super::local::push(local, path, commit, &targets.branch);
    };
    let remote = Repository::open_bare(path).map_err(|error| GitopsError::Unreachable {
        url: url.clone(),
        reason: error.message().to_owned(),
    })?;
    let git = GitopsError::from;
    let old = match remote.refname_to_id(&extra.destination) {
        Ok(old) => Some(old),
        Err(error) if error.code() == git2::ErrorCode::NotFound => None,
        Err(error) => return Err(git(error)),
    };
    if old.is_some_and(|old| !descends(local, extra.commit, old)) {
        return Err(targets.extra_diverged(extra));
    }
    super::local::push(local, path, commit, &targets.branch)?;
    if old == Some(extra.commit) {
        return Ok(());
    }
    super::local::copy_objects(local, &remote, extra.commit, old)?;
    super::local::update_ref(&remote, &extra.destination, extra.commit, old).map_err(|error| {
        let reason = match error {
            super::local::RefUpdate::Moved => "it moved while we pushed (not a fast-forward)".to_owned(),
            super::local::RefUpdate::Failed(error) => error.message().to_owned(),
        };
        targets.extra_rejected(commit, &reason)
    })
}

fn bypass(url: &str, path: &Path, bypassed: &str, remedy: &str) -> GitopsError {
    GitopsError::LocalBypass {
        url: url.to_owned(),
        path: path.display().to_string(),
        bypassed: bypassed.to_owned(),
        remedy: remedy.to_owned(),
    }
}

/// The first hook receive-pack would run for a push into the bare repository at `path`
/// (`core.hooksPath` or `hooks/`), if one is installed and executable.
fn receive_hook(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let configured = Repository::open_bare(path)
        .ok()
        .and_then(|repo| repo.config().ok())
        .and_then(|config| config.get_path("core.hooksPath").ok());
    let dir = match configured {
        Some(dir) if dir.is_absolute() => dir,
        Some(dir) => path.join(dir),
        None => path.join("hooks"),
    };
    [
        "pre-receive",
        "update",
        "proc-receive",
        "post-receive",
        "post-update",
        "reference-transaction",
    ]
    .into_iter()
    .find(|name| {
        std::fs::metadata(dir.join(name))
            .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
    })
    .map(|name| dir.join(name).display().to_string())
}
