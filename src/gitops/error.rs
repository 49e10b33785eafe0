//! What can go wrong with a gitops remote, split by what the caller does about it:
//! transient errors are retried with backoff, permanent ones are recorded until the input changes.

use std::path::PathBuf;

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
    #[error("git: {0}")]
    Git(String),
}

impl GitopsError {
    /// Worth retrying later without any change of input.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::NonFastForward { .. } | Self::Unreachable { .. } | Self::Git(_)
        )
    }
}
