//! Pull requests and merge requests over the forges' REST APIs (Forgejo/Gitea, GitHub,
//! GitLab): find, open, update and read the state of the one request per branch. The provider
//! modules build each call as a plain value and parse the documented answers; this module sends
//! them. Knows nothing of git or the engine; never puts the token in a log, `Debug` or an error.

mod client;
mod error;
mod forgejo;
mod github;
mod gitlab;

pub use client::Forge;
pub use error::ForgeError;

use client::label;
use reqwest::Method;
use secrecy::SecretString;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForgeKind {
    Forgejo,
    Gitea,
    Github,
    Gitlab,
}

impl ForgeKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Forgejo => "forgejo",
            Self::Gitea => "gitea",
            Self::Github => "github",
            Self::Gitlab => "gitlab",
        }
    }

    /// `forgejo`, `gitea`, `github` or `gitlab`, in any case.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Forgejo, Self::Gitea, Self::Github, Self::Gitlab]
            .into_iter()
            .find(|kind| kind.name().eq_ignore_ascii_case(text.trim()))
    }
}

/// Where and as whom: what the config resolves for one automation.
#[derive(Clone)]
pub struct ForgeApi {
    pub kind: ForgeKind,
    /// API base URL without trailing slash: `https://host/api/v1` (Forgejo/Gitea),
    /// `https://api.github.com` (or `https://host/api/v3` for GHES), `https://host/api/v4` (GitLab).
    pub base: String,
    /// `owner/repo` (GitLab: the full `group/subgroup/project` path).
    pub repository: String,
    pub token: SecretString,
    /// Extra PEM CA certificates to trust (private forge), already read at load. May be empty.
    pub ca_pem: Vec<u8>,
}

impl std::fmt::Debug for ForgeApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForgeApi")
            .field("kind", &self.kind)
            .field("base", &crate::domain::redact_url(&self.base))
            .field("repository", &self.repository)
            .field("token", &"[redacted]")
            .field("ca_pem_bytes", &self.ca_pem.len())
            .finish()
    }
}

/// The default API base for a forge web origin like `https://codeberg.org` or
/// `http://127.0.0.1:3000`: `{origin}/api/v1` for Forgejo/Gitea, `https://api.github.com` for
/// origin `https://github.com` else `{origin}/api/v3` (GitHub Enterprise Server), `{origin}/api/v4`
/// for GitLab.
pub fn default_api_base(kind: ForgeKind, web_origin: &str) -> String {
    let origin = web_origin.trim().trim_end_matches('/');
    match kind {
        ForgeKind::Forgejo | ForgeKind::Gitea => format!("{origin}/api/v1"),
        ForgeKind::Github
            if origin.eq_ignore_ascii_case("https://github.com")
                || origin.eq_ignore_ascii_case("https://www.github.com") =>
        {
            "https://api.github.com".to_owned()
        }
        ForgeKind::Github => format!("{origin}/api/v3"),
        ForgeKind::Gitlab => format!("{origin}/api/v4"),
    }
}

/// The title a request should carry: Forgejo/Gitea mark a draft with a `WIP: ` prefix and GitLab
/// with `Draft: `; GitHub has a `draft` flag instead, so its title is unchanged. A title already
/// carrying the prefix keeps it once. `Forge::open` applies it; pass `update` its result too.
pub fn draft_title(kind: ForgeKind, title: &str, draft: bool) -> String {
    let prefix = match kind {
        ForgeKind::Forgejo | ForgeKind::Gitea => "WIP: ",
        ForgeKind::Gitlab => "Draft: ",
        ForgeKind::Github => return title.to_owned(),
    };
    if !draft || title.starts_with(prefix) {
        title.to_owned()
    } else {
        format!("{prefix}{title}")
    }
}

/// What to propose: one request from `head` into `base`.
pub struct Proposal<'a> {
    /// Our branch.
    pub head: &'a str,
    /// The checkout branch.
    pub base: &'a str,
    pub title: &'a str,
    pub body: &'a str,
    pub labels: &'a [String],
    pub reviewers: &'a [String],
    pub draft: bool,
    pub auto_merge: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullState {
    Open,
    Merged,
    Closed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    /// GitLab: the merge request's `iid`.
    pub number: u64,
    /// The web page (`html_url`, GitLab `web_url`).
    pub url: String,
    pub state: PullState,
    pub head_sha: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoAccess {
    pub can_push: bool,
    /// `owner/repo` of the parent when the repository is a fork.
    pub fork_of: Option<String>,
}

/// A request opened, with what its follow-up calls (labels, reviewers, auto-merge) could not do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub pull: PullRequest,
    pub warnings: Vec<String>,
}

/// What a 404 answer to a call means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Missing {
    /// The repository (or the API base) is not there: `NotFound`.
    Repository,
    /// A write the token cannot see the repository for (GitHub hides private repositories
    /// behind 404): `Forbidden`.
    Permission,
    /// A request or user named in the call: `Refused`.
    Item,
}

/// One call as the platform documents it, built by a provider module and sent by `Forge`.
#[derive(Debug, Clone, PartialEq)]
struct Call {
    /// For people: "create the pull request".
    operation: &'static str,
    method: Method,
    /// Below the API base (`/repos/o/r/pulls`), or a whole URL (GitHub's GraphQL endpoint).
    path: String,
    query: Vec<(&'static str, String)>,
    body: Option<Value>,
    missing: Missing,
}

impl Call {
    fn new(operation: &'static str, method: Method, path: String, missing: Missing) -> Self {
        Self {
            operation,
            method,
            path,
            query: Vec::new(),
            body: None,
            missing,
        }
    }

    fn query(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.query.push((name, value.into()));
        self
    }

    fn body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }
}

/// A path segment percent-encoded (everything but RFC 3986's unreserved characters), so a
/// GitLab project path becomes `group%2Fproject` and no name can add a segment or a query.
fn segment(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// `owner` and `repo` of `owner/repo`, each percent-encoded, as `/repos/{owner}/{repo}`.
fn repos_path(repository: &str) -> String {
    let (owner, name) = repository.split_once('/').unwrap_or((repository, ""));
    format!("/repos/{}/{}", segment(owner), segment(name))
}

#[cfg(test)]
mod tests;

/// The repository as Forgejo, Gitea and GitHub answer it alike: whether it is a fork (and of
/// what), and whether the token may push.
#[derive(serde::Deserialize)]
struct Repository {
    #[serde(default)]
    fork: bool,
    parent: Option<Parent>,
    permissions: Option<Permissions>,
}

#[derive(serde::Deserialize)]
struct Parent {
    full_name: String,
}

#[derive(serde::Deserialize)]
struct Permissions {
    #[serde(default)]
    push: bool,
}

// Forgejo/Gitea "repoGet" and GitHub REST "Get a repository": GET /repos/{owner}/{repo}
fn get_repository(repository: &str) -> Call {
    Call::new(
        "read the repository",
        Method::GET,
        repos_path(repository),
        Missing::Repository,
    )
}

fn parse_access(value: &Value) -> Result<RepoAccess, String> {
    use serde::Deserialize as _;
    let repository = Repository::deserialize(value).map_err(|error| format!("not a repository: {error}"))?;
    Ok(RepoAccess {
        can_push: repository.permissions.is_some_and(|permissions| permissions.push),
        fork_of: repository
            .parent
            .filter(|_| repository.fork)
            .map(|parent| parent.full_name),
    })
}

/// The state of a pull request as Forgejo, Gitea and GitHub say it: `open` or `closed`, with a
/// merged flag (a merged request is `closed` too).
fn pull_state(state: &str, merged: bool, number: u64) -> Result<PullState, String> {
    match (state, merged) {
        (_, true) => Ok(PullState::Merged),
        ("open", false) => Ok(PullState::Open),
        ("closed", false) => Ok(PullState::Closed),
        (other, _) => Err(format!("pull request #{number} has the unknown state {other:?}")),
    }
}
