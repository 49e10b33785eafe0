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
