//! What can go wrong with a gitops remote, split by what the caller does about it:
//! transient errors are retried with backoff, permanent ones are recorded until the input changes.

use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GitopsError {
    #[error("the remote {branch} moved while we pushed (non-fast-forward); fetching and re-applying")]
    NonFastForward { branch: String },
    #[error(
        "the deploy key is read-only: {url} accepts it for fetching but not for pushing; re-add the key with write access (GitHub: \"Allow write access\"; Forgejo/Gitea: \"Enable write access\")"
    )]
    ReadOnlyKey { url: String },
    #[error(
        "host key for {host} does not match {known_hosts}: the server presented {presented}; if the server's key really changed, update known_hosts"
    )]
    HostKeyMismatch {
        host: String,
        known_hosts: PathBuf,
        presented: String,
    },
    #[error(
        "host {host} is not in {known_hosts}; add its key (ssh-keyscan -p PORT HOST >> known_hosts) or set acceptUnknownHostKeys: true explicitly"
    )]
    UnknownHost { host: String, known_hosts: String },
    #[error(
        "authentication to {url} failed: {reason}; check the deploy key (or token) and that it is registered on the repository"
    )]
    AuthFailed { url: String, reason: String },
    #[error("{url} is unreachable: {reason}; will retry")]
    Unreachable { url: String, reason: String },
    #[error("the push to {branch} was rejected by the remote: {reason}")]
    Rejected { branch: String, reason: String },
    #[error(
        "pull request branch {branch} on {url} is at {found}, not at {expected}, the commit pushdeploy last proposed there: someone else pushed to it; nothing was pushed (pushdeploy replaces only its own commits); merge or close the pull request, or delete the branch, and the next update starts a new one"
    )]
    LeaseBroken {
        url: String,
        branch: String,
        expected: String,
        found: String,
    },
    #[error(
        "branch {branch} already exists on {url} (at {found}) and is not a pull request branch pushdeploy opened; nothing was pushed; delete it, or name another branch in git.push.pullRequest.branch"
    )]
    ForeignBranch {
        url: String,
        branch: String,
        found: String,
    },
    #[error(
        "the remote refused the push to pull request branch {branch}: {reason}; it is protected against pushdeploy's force-with-lease update; exclude {branch} (or pushdeploy/*) from branch protection, or allow force pushes to it for the deploy key"
    )]
    ProtectedBranch { branch: String, reason: String },
    #[error("branch {branch} does not exist on {url}; create it or fix checkout.ref.branch")]
    NoSuchBranch { url: String, branch: String },
    #[error("messageTemplate: {0}; fix the template (Go text/template syntax with Flux's data)")]
    Template(String),
    #[error("update path: {0}")]
    UpdatePath(String),
    #[error(
        "git.push.refspec {refspec}: {destination} on the remote is not an ancestor of the commit to push there (it has diverged; not a fast-forward); nothing was pushed, {branch} is unchanged too; pushdeploy never force-pushes: bring {destination} back onto the history of {branch} (merge or reset it), or change the refspec"
    )]
    RefspecNonFastForward {
        refspec: String,
        destination: String,
        branch: String,
    },
    #[error(
        "pushed {commit} to {branch}, but the remote refused git.push.refspec {refspec} ({destination}): {reason}; {branch} holds the commit and {destination} does not; fix what the remote objects to, then push {destination} by hand or let the next update push it"
    )]
    RefspecRejected {
        commit: String,
        branch: String,
        refspec: String,
        destination: String,
        reason: String,
    },
    #[error(
        "git.push.refspec {refspec}: source {from} is not a ref pushdeploy's working copy holds; use HEAD or refs/heads/{push_branch} (the new commit), or refs/heads/{checkout_branch} (the checkout branch as fetched)"
    )]
    RefspecSource {
        refspec: String,
        from: String,
        push_branch: String,
        checkout_branch: String,
    },
    #[error(
        "{url} is a file:// remote, which pushdeploy writes directly (pack copy and compare-and-swap of the ref, no git receive-pack), so {bypassed} would not take effect; serve the repository over ssh (e.g. ssh://localhost{path}) so that receive-pack runs, or {remedy}"
    )]
    LocalBypass {
        url: String,
        path: String,
        bypassed: String,
        remedy: String,
    },
    #[error(
        "{url} does not accept push options (git.push.options): the remote did not advertise them, so nothing was pushed; enable them on the server (git config receive.advertisePushOptions true) or remove git.push.options"
    )]
    PushOptionsUnsupported { url: String },
    /// libgit2 failed locally (the working copy, the object database, a ref update).
    #[error("git: {0}")]
    Git(#[source] GitCause),
    /// The filesystem failed under a working copy or a `file://` remote.
    #[error("git: {what}: {source}")]
    Io {
        what: String,
        #[source]
        source: IoCause,
    },
    /// The working copy or its writer is gone (shutting down, or a failed re-open).
    #[error("git: {0}")]
    Unavailable(&'static str),
    /// The working copy is not as this writer left it (an object missing, an index entry that
    /// cannot be made): dropped and re-opened, or cloned again, like a libgit2 failure.
    #[error("git: {0}")]
    WorkingCopy(String),
    /// The commit could not be signed with the automation's key (which passed the load-time
    /// check): permanent until the key or the configuration changes.
    #[error("{0}; nothing was pushed; check git.commit.signingKey (`pushdeploy config check`)")]
    Signing(String),
}

impl GitopsError {
    /// Worth retrying later without any change of input.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::NonFastForward { .. }
                | Self::Unreachable { .. }
                | Self::Git(_)
                | Self::Io { .. }
                | Self::Unavailable(_)
                | Self::WorkingCopy(_)
        )
    }

    /// A failure of the local copy itself (as opposed to the remote's answer): the handle is
    /// dropped and the copy re-opened, or cloned again, next time.
    pub fn is_local(&self) -> bool {
        matches!(
            self,
            Self::Git(_) | Self::Io { .. } | Self::Unavailable(_) | Self::WorkingCopy(_)
        )
    }

    /// `what` failed on the filesystem.
    pub fn io(what: impl Into<String>, error: std::io::Error) -> Self {
        Self::Io {
            what: what.into(),
            source: IoCause(Arc::new(error)),
        }
    }
}

impl From<git2::Error> for GitopsError {
    fn from(error: git2::Error) -> Self {
        Self::Git(GitCause(Arc::new(error)))
    }
}

/// A libgit2 error, kept whole (its code and class, for callers that branch on them) and
/// shared, so one failure can be reported to every intent of a cycle (`GitopsError` is
/// `Clone`). It displays libgit2's message only, as before; its own `source` is not chained,
/// so no error reporter prints git2's text a second time (with its class/code suffix).
#[derive(Debug, Clone)]
pub struct GitCause(Arc<git2::Error>);

impl GitCause {
    /// The libgit2 error itself.
    pub fn git2(&self) -> &git2::Error {
        &self.0
    }
}

impl std::fmt::Display for GitCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.message())
    }
}

impl std::error::Error for GitCause {}

impl PartialEq for GitCause {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl Eq for GitCause {}

/// A filesystem error, shared like `GitCause`.
#[derive(Debug, Clone)]
pub struct IoCause(Arc<std::io::Error>);

impl IoCause {
    /// The I/O error itself.
    pub fn io(&self) -> &std::io::Error {
        &self.0
    }
}

impl std::fmt::Display for IoCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for IoCause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl PartialEq for IoCause {
    fn eq(&self, other: &Self) -> bool {
        self.0.kind() == other.0.kind() && self.0.to_string() == other.0.to_string()
    }
}

impl Eq for IoCause {}

#[cfg(test)]
mod tests {
    use super::GitopsError;

    #[test]
    fn a_libgit2_failure_keeps_its_error_and_displays_its_message_as_before() {
        let raw = git2::Error::new(
            git2::ErrorCode::Locked,
            git2::ErrorClass::Reference,
            "ref is locked",
        );
        let error = GitopsError::from(raw);
        assert_eq!(error.to_string(), "git: ref is locked");
        let source = std::error::Error::source(&error).expect("the cause is kept");
        let cause = source.downcast_ref::<super::GitCause>().expect("as a GitCause");
        assert_eq!(cause.git2().code(), git2::ErrorCode::Locked);
        assert_eq!(cause.git2().class(), git2::ErrorClass::Reference);
        assert!(error.is_transient() && error.is_local());
    }

    #[test]
    fn a_filesystem_failure_names_what_failed_and_keeps_the_io_error() {
        let error = GitopsError::io(
            "removing /tmp/x",
            std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied"),
        );
        assert_eq!(error.to_string(), "git: removing /tmp/x: denied");
        let source = std::error::Error::source(&error).expect("the cause is kept");
        let cause = source.downcast_ref::<super::IoCause>().expect("as an IoCause");
        assert_eq!(cause.io().kind(), std::io::ErrorKind::PermissionDenied);
    }
}
