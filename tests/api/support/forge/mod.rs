//! FAKE FORGES, not forges: no Forgejo, Gitea, GitHub or GitLab server can be installed or
//! reached here. Each fake serves the pull-request operations pushdeploy uses, validates every
//! request (parameters, JSON body, auth and platform headers) against the platform's published
//! description in `tests/testdata/forges/`, answers with the documented shapes (checked with
//! `validate_response`), and keeps pull requests over a real bare repository. It must never
//! answer 2xx to a request the description rejects: that is recorded in `violations()`.

mod gitea;
mod github;
mod gitlab;
mod http;
mod reply;
mod serve;
mod state;

#[allow(unused_imports)] // benches include this harness and use only part of it
pub use http::{HttpReply, request};

use super::openapi::Document;
use axum::Router;
use serde_json::Value;
use serve::handle;
use state::{ForgeState, head_sha, merge_pull};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Which platform a fake imitates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ForgeKind {
    Forgejo,
    Gitea,
    Github,
    Gitlab,
}

impl ForgeKind {
    fn document(self) -> &'static str {
        match self {
            ForgeKind::Forgejo => "forgejo.json",
            ForgeKind::Gitea => "gitea.json",
            ForgeKind::Github => "github.json",
            ForgeKind::Gitlab => "gitlab.json",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PullState {
    Open,
    Closed,
    Merged,
}

/// A pull (merge) request as the fake holds it.
#[derive(Clone, Debug)]
pub struct Pull {
    pub number: u64,
    pub head: String,
    pub base: String,
    pub title: String,
    pub body: String,
    /// Label names.
    pub labels: Vec<String>,
    /// Reviewer user names.
    pub reviewers: Vec<String>,
    pub draft: bool,
    /// Auto-merge (merge when checks/pipeline succeed) requested.
    pub auto_merge: bool,
    pub state: PullState,
    pub html_url: String,
    /// `refs/heads/<head>` in the bare repository at the time of the read.
    pub head_sha: String,
    pub merge_commit: Option<String>,
}

/// One request as received (also the invalid ones).
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: String,
    pub body: Option<Value>,
    pub status: u16,
}

/// What the server thread shares with `FakeForge`: the description and the mutable state.
struct Shared {
    document: Document,
    state: Mutex<ForgeState>,
}

/// A fake forge on `127.0.0.1:<port>`, served from its own thread and tokio runtime (so
/// synchronous tests can use it too); stopped on drop.
pub struct FakeForge {
    kind: ForgeKind,
    origin: String,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The token every fake expects unless `set_token` says otherwise.
pub const FORGE_TOKEN: &str = "forge-test-token-0123456789";

impl FakeForge {
    /// Serve `kind` for `repository` (`owner/repo`) whose git data is the bare repository
    /// `bare_repo`. Labels `automation` and `image-update`, users `pushdeploy`, `alice`, `bob`,
    /// push permission, not a fork.
    pub fn start(kind: ForgeKind, bare_repo: &Path, repository: &str) -> FakeForge {
        let (owner, repo) = repository.split_once('/').expect("repository is owner/repo");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/testdata/forges")
            .join(kind.document());
        let state = ForgeState {
            kind,
            owner: owner.to_owned(),
            repo: repo.to_owned(),
            bare: bare_repo.to_owned(),
            origin: origin.clone(),
            token: FORGE_TOKEN.to_owned(),
            pulls: Vec::new(),
            labels: vec![(11, "automation".to_owned()), (12, "image-update".to_owned())],
            users: vec![
                (100, "pushdeploy".to_owned()),
                (101, "alice".to_owned()),
                (102, "bob".to_owned()),
            ],
            push: true,
            parent: None,
            deny: None,
            rate_limit: None,
            requests: Vec::new(),
            violations: Vec::new(),
        };
        let shared = Arc::new(Shared {
            document: Document::load(path),
            state: Mutex::new(state),
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = Arc::clone(&shared);
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let router = Router::new().fallback(handle).with_state(served);
                tokio::select! {
                    result = axum::serve(listener, router) => result.unwrap(),
                    _ = stopped => {}
                }
            });
        });
        FakeForge {
            kind,
            origin,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn kind(&self) -> ForgeKind {
        self.kind
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.origin.clone()
    }

    /// `{origin}/api/v1` (Forgejo, Gitea), `{origin}` (GitHub), `{origin}/api/v4` (GitLab).
    pub fn api_base(&self) -> String {
        format!("{}{}", self.origin, self.shared.document.base_path())
    }

    pub fn token(&self) -> String {
        self.state().token.clone()
    }

    pub fn set_token(&self, token: &str) {
        self.state().token = token.to_owned();
    }

    /// Merge pull request `number` into its base branch in the bare repository (fast-forward
    /// when possible, else a merge commit) and mark it merged.
    pub fn merge(&self, number: u64) {
        let mut state = self.state();
        merge_pull(&mut state, number).unwrap_or_else(|error| panic!("{error}"));
    }

    /// Close pull request `number` without merging.
    pub fn close(&self, number: u64) {
        let mut state = self.state();
        let pull = state.pulls.iter_mut().find(|p| p.number == number);
        pull.expect("no such pull request").state = PullState::Closed;
    }

    /// Answer 403 (with the platform's error body) to the next `requests` requests, or to all
    /// of them with `None`.
    pub fn deny(&self, requests: Option<usize>) {
        self.state().deny = Some(requests);
    }

    /// Answer 429 with `Retry-After: retry_after_secs` to the next `requests` requests.
    pub fn rate_limit(&self, requests: usize, retry_after_secs: u64) {
        self.state().rate_limit = Some((requests, retry_after_secs));
    }

    /// Whether the token's user may push to the repository.
    pub fn set_permissions(&self, push: bool) {
        self.state().push = push;
    }

    /// Make the repository a fork of `parent` (`owner/repo`), or not a fork.
    pub fn set_fork(&self, parent: Option<&str>) {
        self.state().parent = parent.map(str::to_owned);
    }

    /// Replace the repository's labels: (id, name).
    pub fn set_labels(&self, labels: &[(i64, &str)]) {
        self.state().labels = labels.iter().map(|(i, n)| (*i, (*n).to_owned())).collect();
    }

    /// Replace the known users: (id, username).
    pub fn set_users(&self, users: &[(i64, &str)]) {
        self.state().users = users.iter().map(|(i, n)| (*i, (*n).to_owned())).collect();
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state().requests.clone()
    }

    /// The pull requests, head SHAs read from the bare repository now.
    pub fn pulls(&self) -> Vec<Pull> {
        let state = self.state();
        let mut pulls = state.pulls.clone();
        for pull in &mut pulls {
            pull.head_sha = head_sha(&state, pull);
        }
        pulls
    }

    /// The title of each pull request, in order: read without asking git, so a caller polling
    /// it in a loop (the bench) does not hold the fake's state while git runs.
    pub fn titles(&self) -> Vec<String> {
        self.state().pulls.iter().map(|pull| pull.title.clone()).collect()
    }

    /// Requests that did not match the description (or the auth), and answers of the fake's own
    /// that did not: must be empty at the end of every test.
    pub fn violations(&self) -> Vec<String> {
        self.state().violations.clone()
    }

    pub fn assert_no_violations(&self) {
        let violations = self.violations();
        assert!(
            violations.is_empty(),
            "{:?} fake saw requests that do not match its description:\n{}",
            self.kind,
            violations.join("\n")
        );
    }

    /// Check a body against the documented response of `method path` (for self-tests).
    pub fn validate_response(
        &self,
        method: &str,
        path: &str,
        status: u16,
        body: &Value,
    ) -> Result<(), Vec<String>> {
        let document = &self.shared.document;
        let path = path.strip_prefix(&self.origin).unwrap_or(path);
        let operation = document.operation(method, path).map_err(|e| vec![e])?;
        document.validate_response(&operation, status, Some(body))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ForgeState> {
        self.shared.state.lock().unwrap()
    }
}

impl Drop for FakeForge {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
