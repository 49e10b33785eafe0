//! FAKE FORGES, not forges: no Forgejo, Gitea, GitHub or GitLab server can be installed or
//! reached here. Each fake serves the pull-request operations pushdeploy uses, validates every
//! request (parameters, JSON body, auth and platform headers) against the platform's published
//! description in `tests/testdata/forges/`, answers with the documented shapes (checked with
//! `validate_response`), and keeps pull requests over a real bare repository. It must never
//! answer 2xx to a request the description rejects: that is recorded in `violations()`.

use super::openapi::{Document, Operation, merge};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
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

/// An HTTP answer from `request`.
#[derive(Clone, Debug)]
pub struct HttpReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpReply {
    pub fn header(&self, name: &str) -> Option<&str> {
        let found = self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name));
        found.map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|error| panic!("not JSON ({error}): {}", self.body))
    }
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Option<Value>,
}

impl Reply {
    fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Some(body),
        }
    }

    fn empty(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: None,
        }
    }
}

struct ForgeState {
    kind: ForgeKind,
    owner: String,
    repo: String,
    bare: PathBuf,
    origin: String,
    token: String,
    pulls: Vec<Pull>,
    labels: Vec<(i64, String)>,
    users: Vec<(i64, String)>,
    push: bool,
    parent: Option<String>,
    /// `Some(None)`: deny every request; `Some(Some(n))`: the next n.
    deny: Option<Option<usize>>,
    rate_limit: Option<(usize, u64)>,
    requests: Vec<Recorded>,
    violations: Vec<String>,
}

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

async fn handle(
    AxumState(shared): AxumState<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let path = uri.path().to_owned();
    let query = uri.query().unwrap_or("").to_owned();
    let reply = {
        let mut state = shared.state.lock().unwrap();
        let reply = respond(
            &shared.document,
            &mut state,
            method.as_str(),
            &path,
            &query,
            &headers,
            &body,
        );
        state.requests.push(Recorded {
            method: method.to_string(),
            path,
            query,
            body: serde_json::from_slice(&body).ok(),
            status: reply.status,
        });
        reply
    };
    let status = StatusCode::from_u16(reply.status).unwrap();
    let mut response = match &reply.body {
        Some(body) => (status, [("content-type", "application/json")], body.to_string()).into_response(),
        None => status.into_response(),
    };
    for (name, value) in reply.headers {
        let name = axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap();
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    response
}

fn respond(
    document: &Document,
    state: &mut ForgeState,
    method: &str,
    path: &str,
    query: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Reply {
    let header_errors = check_headers(state, method, path, headers);
    if !header_errors.is_empty() {
        state.violations.extend(header_errors.iter().cloned());
        return error(state.kind, 401, &header_errors.join("; "));
    }
    if state.kind == ForgeKind::Github && path == "/graphql" {
        return graphql(state, method, headers, body);
    }
    let path_with_query = if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    };
    let operation = match document.validate_request(method, &path_with_query, headers, Some(body)) {
        Ok(operation) => operation,
        Err(errors) => {
            state.violations.extend(errors.iter().cloned());
            return Reply::json(
                422,
                json!({"message": "request does not match the published API description", "errors": errors}),
            );
        }
    };
    if let Some(reply) = refusal(state) {
        return reply;
    }
    let query = parse_query(query);
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let reply = dispatch(document, state, &operation, &query, &body);
    if (200..300).contains(&reply.status)
        && let Err(errors) = document.validate_response(&operation, reply.status, reply.body.as_ref())
    {
        let drift = errors.into_iter().map(|e| format!("fake answer drifts: {e}"));
        state.violations.extend(drift);
    }
    reply
}

/// `deny` and `rate_limit`, in that order.
fn refusal(state: &mut ForgeState) -> Option<Reply> {
    if let Some(remaining) = state.deny {
        state.deny = match remaining {
            None => Some(None),
            Some(n) if n > 1 => Some(Some(n - 1)),
            Some(_) => None,
        };
        if remaining != Some(0) {
            return Some(error(state.kind, 403, "forbidden by the fake"));
        }
    }
    if let Some((remaining, retry_after)) = state.rate_limit {
        state.rate_limit = (remaining > 1).then(|| (remaining - 1, retry_after));
        if remaining > 0 {
            return Some(rate_limited(state.kind, retry_after));
        }
    }
    None
}

fn parse_query(query: &str) -> BTreeMap<String, String> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (
                super::openapi::percent_decode(key, true),
                super::openapi::percent_decode(value, true),
            )
        })
        .collect()
}

/// A minimal blocking HTTP/1.1 client (`Connection: close`) for tests.
pub fn request(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&str>) -> HttpReply {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("http:// URL");
    let (authority, target) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let target = if target.is_empty() { "/" } else { target };
    let mut stream = std::net::TcpStream::connect(authority).unwrap();
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    let body = body.unwrap_or("");
    if !body.is_empty() || method != "GET" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap_or("")
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked { dechunk(body) } else { body.to_owned() };
    HttpReply {
        status,
        headers,
        body,
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

// ---- platform behaviour -------------------------------------------------------------------

const TIMESTAMP: &str = "2024-01-02T03:04:05Z";

/// Auth and the headers each platform requires (GitHub's versioned media type and API version).
fn check_headers(state: &ForgeState, method: &str, path: &str, headers: &[(String, String)]) -> Vec<String> {
    let get = |name: &str| {
        let found = headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name));
        found.map(|(_, v)| v.as_str())
    };
    let token = &state.token;
    let mut errors = Vec::new();
    let mut expect = |name: &str, wanted: &str| match get(name) {
        Some(value) if value == wanted => {}
        // Never echo any part of a credential (the test output would carry it).
        Some(_) if name.eq_ignore_ascii_case("authorization") || name == "PRIVATE-TOKEN" => {
            errors.push(format!("{method} {path}: header {name}: wrong credentials"));
        }
        Some(value) => errors.push(format!(
            "{method} {path}: header {name}: {value:?}, expected {wanted:?}"
        )),
        None => errors.push(format!("{method} {path}: header {name}: missing")),
    };
    match state.kind {
        ForgeKind::Forgejo | ForgeKind::Gitea => expect("Authorization", &format!("token {token}")),
        ForgeKind::Github => {
            expect("Authorization", &format!("Bearer {token}"));
            expect("Accept", "application/vnd.github+json");
            expect("X-GitHub-Api-Version", "2022-11-28");
        }
        ForgeKind::Gitlab => expect("PRIVATE-TOKEN", token),
    }
    if state.kind == ForgeKind::Github && get("User-Agent").is_none_or(str::is_empty) {
        errors.push(format!(
            "{method} {path}: header User-Agent: missing (GitHub rejects requests without one)"
        ));
    }
    errors
}

/// The platform's error body for `status`.
fn error(kind: ForgeKind, status: u16, message: &str) -> Reply {
    let body = match kind {
        ForgeKind::Forgejo | ForgeKind::Gitea => {
            json!({"message": message, "url": "https://docs.gitea.com/api"})
        }
        ForgeKind::Github => json!({
            "message": message,
            "documentation_url": "https://docs.github.com/rest"
        }),
        ForgeKind::Gitlab => json!({"message": format!("{status} {message}")}),
    };
    Reply::json(status, body)
}

fn rate_limited(kind: ForgeKind, retry_after: u64) -> Reply {
    let reset = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + retry_after;
    let mut reply = error(kind, 429, "API rate limit exceeded");
    reply
        .headers
        .push(("Retry-After".to_owned(), retry_after.to_string()));
    match kind {
        ForgeKind::Github => reply.headers.extend([
            ("x-ratelimit-limit".to_owned(), "5000".to_owned()),
            ("x-ratelimit-remaining".to_owned(), "0".to_owned()),
            ("x-ratelimit-reset".to_owned(), reset.to_string()),
        ]),
        ForgeKind::Gitlab => reply.headers.extend([
            ("RateLimit-Remaining".to_owned(), "0".to_owned()),
            ("RateLimit-Reset".to_owned(), reset.to_string()),
        ]),
        ForgeKind::Forgejo | ForgeKind::Gitea => {}
    }
    reply
}

fn run_git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let output = std::process::Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=fake-forge", "-c", "user.email=forge@example.net"])
        .args(args)
        .output()
        .map_err(|error| format!("git {args:?}: {error}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    } else {
        Err(format!(
            "git {args:?} in {}: {}{}",
            dir.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

fn branch_sha(state: &ForgeState, branch: &str) -> Option<String> {
    run_git(
        &state.bare,
        &["rev-parse", "--verify", "-q", &format!("refs/heads/{branch}")],
    )
    .ok()
}

fn head_sha(state: &ForgeState, pull: &Pull) -> String {
    branch_sha(state, &pull.head)
        .or_else(|| pull.merge_commit.clone())
        .unwrap_or_else(|| "0".repeat(40))
}

/// Advance the base branch to the pull request's head: fast-forward when possible, else a merge
/// commit (`git merge-tree --write-tree` + `git commit-tree`). Fails on conflicts.
fn merge_pull(state: &mut ForgeState, number: u64) -> Result<(), String> {
    let index = state
        .pulls
        .iter()
        .position(|p| p.number == number)
        .ok_or(format!("no pull request {number}"))?;
    let pull = state.pulls[index].clone();
    if pull.state != PullState::Open {
        return Err(format!("pull request {number} is not open"));
    }
    let bare = state.bare.clone();
    let head = branch_sha(state, &pull.head).ok_or(format!("no branch {}", pull.head))?;
    let base = branch_sha(state, &pull.base).ok_or(format!("no branch {}", pull.base))?;
    let fast_forward = run_git(&bare, &["merge-base", "--is-ancestor", &base, &head]).is_ok();
    let merged = if fast_forward {
        head.clone()
    } else {
        let tree = run_git(&bare, &["merge-tree", "--write-tree", &base, &head])?;
        let tree = tree.lines().next().unwrap_or("").to_owned();
        let message = format!("Merge pull request #{number} from {}", pull.head);
        run_git(
            &bare,
            &["commit-tree", &tree, "-p", &base, "-p", &head, "-m", &message],
        )?
    };
    let reference = format!("refs/heads/{}", pull.base);
    run_git(&bare, &["update-ref", &reference, &merged, &base])?;
    let pull = &mut state.pulls[index];
    pull.state = PullState::Merged;
    pull.merge_commit = Some(merged);
    Ok(())
}

fn dispatch(
    document: &Document,
    state: &mut ForgeState,
    operation: &Operation,
    query: &BTreeMap<String, String>,
    body: &Value,
) -> Reply {
    let number = ["index", "pull_number", "issue_number", "merge_request_iid"]
        .iter()
        .find_map(|name| operation.path_params.get(*name))
        .and_then(|n| n.parse::<u64>().ok());
    let repository_ok = match state.kind {
        ForgeKind::Gitlab => {
            let id = operation.path_params.get("id");
            id.is_none_or(|id| *id == format!("{}/{}", state.owner, state.repo) || id == "42")
        }
        _ => {
            let params = &operation.path_params;
            params.get("owner").is_none_or(|o| *o == state.owner)
                && params.get("repo").is_none_or(|r| *r == state.repo)
        }
    };
    if !repository_ok {
        return error(state.kind, 404, "Project Not Found");
    }
    if let Some(number) = number
        && !state.pulls.iter().any(|p| p.number == number)
    {
        return error(state.kind, 404, "Not Found");
    }
    let answer = Answer { document, operation };
    match state.kind {
        ForgeKind::Forgejo | ForgeKind::Gitea => gitea(&answer, state, query, body, number),
        ForgeKind::Github => github(&answer, state, query, body, number),
        ForgeKind::Gitlab => gitlab(&answer, state, query, body, number),
    }
}

/// Builds documented answers: the skeleton of the documented response with the state on top.
struct Answer<'a> {
    document: &'a Document,
    operation: &'a Operation,
}

impl Answer<'_> {
    fn with(&self, status: u16, overlay: Value) -> Reply {
        let mut body = self.document.skeleton(self.operation, status);
        if body.is_null() || overlay.is_array() {
            body = overlay;
        } else {
            merge(&mut body, overlay);
        }
        Reply::json(status, body)
    }

    /// `overlay` on the skeleton of the schema at `pointer` (e.g. `#/components/schemas/label`).
    fn of(&self, pointer: &str, overlay: Value) -> Value {
        let mut body = self.document.skeleton_of(pointer);
        merge(&mut body, overlay);
        body
    }
}

fn pull_mut(state: &mut ForgeState, number: Option<u64>) -> &mut Pull {
    let number = number.expect("operation names a pull request");
    state.pulls.iter_mut().find(|p| p.number == number).unwrap()
}

fn open_duplicate(state: &ForgeState, head: &str, base: &str) -> Option<u64> {
    let open = state.pulls.iter().filter(|p| p.state == PullState::Open);
    open.into_iter()
        .find(|p| p.head == head && p.base == base)
        .map(|p| p.number)
}

fn new_pull(state: &mut ForgeState, head: &str, base: &str, title: &str, body: &str) -> u64 {
    let number = state.pulls.iter().map(|p| p.number).max().unwrap_or(0) + 1;
    let html_url = match state.kind {
        ForgeKind::Gitlab => format!(
            "{}/{}/{}/-/merge_requests/{number}",
            state.origin, state.owner, state.repo
        ),
        ForgeKind::Github => format!("{}/{}/{}/pull/{number}", state.origin, state.owner, state.repo),
        _ => format!("{}/{}/{}/pulls/{number}", state.origin, state.owner, state.repo),
    };
    state.pulls.push(Pull {
        number,
        head: head.to_owned(),
        base: base.to_owned(),
        title: title.to_owned(),
        body: body.to_owned(),
        labels: Vec::new(),
        reviewers: Vec::new(),
        draft: false,
        auto_merge: false,
        state: PullState::Open,
        html_url,
        head_sha: String::new(),
        merge_commit: None,
    });
    number
}

fn text(body: &Value, key: &str) -> String {
    body[key].as_str().unwrap_or("").to_owned()
}

fn names(value: &Value) -> Vec<String> {
    match value {
        Value::String(csv) => csv
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        Value::Array(items) => items
            .iter()
            .filter_map(|i| i.as_str().or_else(|| i["name"].as_str()).map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

fn state_filter(pull: &Pull, wanted: &str) -> bool {
    match wanted {
        "open" | "opened" => pull.state == PullState::Open,
        "closed" => pull.state != PullState::Open,
        "merged" => pull.state == PullState::Merged,
        _ => true,
    }
}

// ---- Forgejo / Gitea ----

fn gitea(
    answer: &Answer,
    state: &mut ForgeState,
    query: &BTreeMap<String, String>,
    body: &Value,
    number: Option<u64>,
) -> Reply {
    let op = answer.operation;
    match (op.method.as_str(), op.template.as_str()) {
        ("GET", "/repos/{owner}/{repo}") => answer.with(200, gitea_repository(state)),
        ("GET", "/repos/{owner}/{repo}/pulls") => {
            let wanted = query.get("state").map_or("open", String::as_str);
            let pulls: Vec<Value> = (state.pulls.iter())
                .filter(|p| state_filter(p, wanted))
                .map(|p| gitea_pull(state, p))
                .collect();
            answer.with(200, Value::Array(pulls))
        }
        ("GET", "/repos/{owner}/{repo}/pulls/{index}") => {
            let pull = pull_mut(state, number).clone();
            answer.with(200, gitea_pull(state, &pull))
        }
        ("POST", "/repos/{owner}/{repo}/pulls") => {
            let (head, base) = (text(body, "head"), text(body, "base"));
            if head.is_empty() || base.is_empty() || text(body, "title").is_empty() {
                return error(state.kind, 422, "head, base and title are required");
            }
            if let Some(existing) = open_duplicate(state, &head, &base) {
                let message = format!("pull request already exists for these targets [id: {existing}]");
                return error(state.kind, 409, &message);
            }
            let labels = match gitea_label_names(state, &body["labels"]) {
                Ok(labels) => labels,
                Err(reply) => return reply,
            };
            let number = new_pull(state, &head, &base, &text(body, "title"), &text(body, "body"));
            pull_mut(state, Some(number)).labels = labels;
            let pull = pull_mut(state, Some(number)).clone();
            answer.with(201, gitea_pull(state, &pull))
        }
        ("PATCH", "/repos/{owner}/{repo}/pulls/{index}") => {
            let labels = match gitea_label_names(state, &body["labels"]) {
                Ok(labels) => labels,
                Err(reply) => return reply,
            };
            let pull = pull_mut(state, number);
            if let Some(title) = body["title"].as_str() {
                pull.title = title.to_owned();
            }
            if let Some(text) = body["body"].as_str() {
                pull.body = text.to_owned();
            }
            if let Some(base) = body["base"].as_str() {
                pull.base = base.to_owned();
            }
            if body.get("labels").is_some() {
                pull.labels = labels;
            }
            match body["state"].as_str() {
                Some("closed") if pull.state == PullState::Open => pull.state = PullState::Closed,
                Some("open") if pull.state == PullState::Closed => pull.state = PullState::Open,
                _ => {}
            }
            let pull = pull.clone();
            answer.with(201, gitea_pull(state, &pull))
        }
        ("GET", "/repos/{owner}/{repo}/labels") => {
            let labels: Vec<Value> = state.labels.iter().map(|l| gitea_label(state, l)).collect();
            answer.with(200, Value::Array(labels))
        }
        ("POST", "/repos/{owner}/{repo}/pulls/{index}/requested_reviewers") => {
            let reviewers = names(&body["reviewers"]);
            if let Some(unknown) = reviewers
                .iter()
                .find(|r| !state.users.iter().any(|(_, u)| u == *r))
            {
                return error(state.kind, 422, &format!("user {unknown} does not exist"));
            }
            let pull = pull_mut(state, number);
            for reviewer in &reviewers {
                if !pull.reviewers.contains(reviewer) {
                    pull.reviewers.push(reviewer.clone());
                }
            }
            let reviews: Vec<Value> = reviewers
                .iter()
                .enumerate()
                .map(|(index, login)| {
                    json!({"id": index + 1, "state": "REQUEST_REVIEW", "user": gitea_user(state, login),
                           "official": false, "stale": false, "dismissed": false, "commit_id": ""})
                })
                .collect();
            answer.with(201, Value::Array(reviews))
        }
        ("POST", "/repos/{owner}/{repo}/pulls/{index}/merge") => {
            if body["merge_when_checks_succeed"] == true {
                pull_mut(state, number).auto_merge = true;
                return Reply::empty(200);
            }
            match merge_pull(state, number.unwrap_or(0)) {
                Ok(()) => Reply::empty(200),
                Err(message) => error(state.kind, 405, &message),
            }
        }
        ("POST", "/repos/{owner}/{repo}/statuses/{sha}") => {
            let sha = op.path_params["sha"].clone();
            answer.with(
                201,
                json!({"id": 1, "status": text(body, "state"), "context": text(body, "context"),
                       "description": text(body, "description"), "target_url": text(body, "target_url"),
                       "url": format!("{}/api/v1/repos/{}/{}/statuses/{sha}", state.origin, state.owner, state.repo),
                       "created_at": TIMESTAMP, "updated_at": TIMESTAMP, "creator": gitea_user(state, "pushdeploy")}),
            )
        }
        _ => error(state.kind, 404, "operation not served by the fake"),
    }
}

/// Label IDs to names; an unknown ID is refused as Gitea does.
fn gitea_label_names(state: &ForgeState, ids: &Value) -> Result<Vec<String>, Reply> {
    let mut out = Vec::new();
    for id in ids.as_array().into_iter().flatten() {
        let id = id.as_i64().unwrap_or(-1);
        match state.labels.iter().find(|(i, _)| *i == id) {
            Some((_, name)) => out.push(name.clone()),
            None => return Err(error(state.kind, 422, &format!("label {id} does not exist"))),
        }
    }
    Ok(out)
}

fn gitea_user(state: &ForgeState, login: &str) -> Value {
    let id = state
        .users
        .iter()
        .find(|(_, u)| u == login)
        .map_or(0, |(i, _)| *i);
    json!({"id": id, "login": login, "username": login, "full_name": "", "email": format!("{login}@example.net"),
           "html_url": format!("{}/{login}", state.origin), "avatar_url": "", "is_admin": false})
}

fn gitea_label(state: &ForgeState, (id, name): &(i64, String)) -> Value {
    json!({"id": id, "name": name, "color": "00aabb", "description": "", "exclusive": false, "is_archived": false,
           "url": format!("{}/api/v1/repos/{}/{}/labels/{id}", state.origin, state.owner, state.repo)})
}

fn gitea_repository(state: &ForgeState) -> Value {
    let full_name = format!("{}/{}", state.owner, state.repo);
    let mut repository = gitea_repository_named(state, &full_name);
    repository["fork"] = Value::Bool(state.parent.is_some());
    repository["permissions"] = json!({"admin": false, "push": state.push, "pull": true});
    if let Some(parent) = &state.parent {
        repository["parent"] = gitea_repository_named(state, parent);
    }
    repository
}

fn gitea_repository_named(state: &ForgeState, full_name: &str) -> Value {
    let (owner, name) = full_name.split_once('/').unwrap_or(("", full_name));
    json!({"id": 1, "name": name, "full_name": full_name, "owner": gitea_user(state, owner), "fork": false,
           "private": false, "empty": false, "archived": false, "default_branch": "main",
           "html_url": format!("{}/{full_name}", state.origin), "clone_url": format!("{}/{full_name}.git", state.origin),
           "allow_merge_commits": true, "allow_rebase": true, "allow_squash_merge": true,
           "permissions": {"admin": false, "push": false, "pull": true}})
}

fn gitea_pull(state: &ForgeState, pull: &Pull) -> Value {
    let labels: Vec<Value> = pull
        .labels
        .iter()
        .filter_map(|name| state.labels.iter().find(|(_, n)| n == name))
        .map(|label| gitea_label(state, label))
        .collect();
    let reviewers: Vec<Value> = pull.reviewers.iter().map(|r| gitea_user(state, r)).collect();
    let merged = pull.state == PullState::Merged;
    let branch = |name: &str, sha: String| json!({"label": name, "ref": name, "sha": sha, "repo_id": 1, "repo": gitea_repository(state)});
    json!({
        "id": pull.number + 1000, "number": pull.number, "title": pull.title, "body": pull.body,
        "state": if pull.state == PullState::Open { "open" } else { "closed" },
        "draft": pull.draft, "merged": merged, "mergeable": true, "is_locked": false,
        "merged_at": if merged { Value::from(TIMESTAMP) } else { Value::Null },
        "merge_commit_sha": pull.merge_commit, "closed_at": if pull.state == PullState::Open { Value::Null } else { Value::from(TIMESTAMP) },
        "html_url": pull.html_url, "url": pull.html_url,
        "diff_url": format!("{}.diff", pull.html_url), "patch_url": format!("{}.patch", pull.html_url),
        "head": branch(&pull.head, head_sha(state, pull)),
        "base": branch(&pull.base, branch_sha(state, &pull.base).unwrap_or_default()),
        "labels": labels, "requested_reviewers": reviewers, "assignees": [],
        "user": gitea_user(state, "pushdeploy"), "created_at": TIMESTAMP, "updated_at": TIMESTAMP,
        "comments": 0, "review_comments": 0, "additions": 0, "deletions": 0, "changed_files": 0,
    })
}

// ---- GitHub ----

fn github(
    answer: &Answer,
    state: &mut ForgeState,
    query: &BTreeMap<String, String>,
    body: &Value,
    number: Option<u64>,
) -> Reply {
    let op = answer.operation;
    match (op.method.as_str(), op.template.as_str()) {
        ("GET", "/repos/{owner}/{repo}") => {
            let repository = github_repository(answer, state, "#/components/schemas/full-repository");
            answer.with(200, repository)
        }
        ("GET", "/repos/{owner}/{repo}/pulls") => {
            let wanted = query.get("state").map_or("open", String::as_str);
            let head = query
                .get("head")
                .map(|h| h.split_once(':').map_or(h.as_str(), |(_, b)| b));
            let base = query.get("base");
            let pulls: Vec<Value> = (state.pulls.iter())
                .filter(|p| state_filter(p, wanted))
                .filter(|p| head.is_none_or(|h| p.head == h) && base.is_none_or(|b| p.base == *b))
                .map(|p| github_pull(answer, state, p, "#/components/schemas/pull-request-simple"))
                .collect();
            answer.with(200, Value::Array(pulls))
        }
        ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}") => {
            let pull = pull_mut(state, number).clone();
            answer.with(
                200,
                github_pull(answer, state, &pull, "#/components/schemas/pull-request"),
            )
        }
        ("POST", "/repos/{owner}/{repo}/pulls") => {
            let (head, base) = (text(body, "head"), text(body, "base"));
            let head = head.split_once(':').map_or(head.as_str(), |(_, b)| b).to_owned();
            if let Some(existing) = open_duplicate(state, &head, &base) {
                return Reply::json(
                    422,
                    json!({"message": "Validation Failed", "documentation_url": "https://docs.github.com/rest",
                           "errors": [{"resource": "PullRequest", "code": "custom",
                                       "message": format!("A pull request already exists for {}:{head} (#{existing}).", state.owner)}]}),
                );
            }
            if branch_sha(state, &head).is_none() {
                return Reply::json(
                    422,
                    json!({"message": "Validation Failed", "documentation_url": "https://docs.github.com/rest",
                           "errors": [{"resource": "PullRequest", "field": "head", "code": "invalid"}]}),
                );
            }
            let number = new_pull(state, &head, &base, &text(body, "title"), &text(body, "body"));
            pull_mut(state, Some(number)).draft = body["draft"] == true;
            let pull = pull_mut(state, Some(number)).clone();
            answer.with(
                201,
                github_pull(answer, state, &pull, "#/components/schemas/pull-request"),
            )
        }
        ("PATCH", "/repos/{owner}/{repo}/pulls/{pull_number}") => {
            let pull = pull_mut(state, number);
            if let Some(title) = body["title"].as_str() {
                pull.title = title.to_owned();
            }
            if let Some(text) = body["body"].as_str() {
                pull.body = text.to_owned();
            }
            if let Some(base) = body["base"].as_str() {
                pull.base = base.to_owned();
            }
            match body["state"].as_str() {
                Some("closed") if pull.state == PullState::Open => pull.state = PullState::Closed,
                Some("open") if pull.state == PullState::Closed => pull.state = PullState::Open,
                _ => {}
            }
            let pull = pull.clone();
            answer.with(
                200,
                github_pull(answer, state, &pull, "#/components/schemas/pull-request"),
            )
        }
        ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/labels") => {
            let wanted = match body {
                Value::Object(_) => names(&body["labels"]),
                other => names(other),
            };
            for name in &wanted {
                if !state.labels.iter().any(|(_, n)| n == name) {
                    let id = state.labels.iter().map(|(i, _)| *i).max().unwrap_or(0) + 1;
                    state.labels.push((id, name.clone()));
                }
            }
            let pull = pull_mut(state, number);
            for name in wanted {
                if !pull.labels.contains(&name) {
                    pull.labels.push(name);
                }
            }
            let pull = pull.clone();
            let labels: Vec<Value> = pull
                .labels
                .iter()
                .map(|n| github_label(answer, state, n))
                .collect();
            answer.with(200, Value::Array(labels))
        }
        ("POST", "/repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers") => {
            let reviewers = names(&body["reviewers"]);
            if let Some(unknown) = reviewers
                .iter()
                .find(|r| !state.users.iter().any(|(_, u)| u == *r))
            {
                return Reply::json(
                    422,
                    json!({"message": format!("Reviews may only be requested from collaborators. {unknown} is not a collaborator."),
                           "documentation_url": "https://docs.github.com/rest"}),
                );
            }
            let pull = pull_mut(state, number);
            for reviewer in reviewers {
                if !pull.reviewers.contains(&reviewer) {
                    pull.reviewers.push(reviewer);
                }
            }
            let pull = pull.clone();
            answer.with(
                201,
                github_pull(answer, state, &pull, "#/components/schemas/pull-request-simple"),
            )
        }
        _ => error(state.kind, 404, "Not Found"),
    }
}

fn github_user(answer: &Answer, state: &ForgeState, login: &str) -> Value {
    let id = state
        .users
        .iter()
        .find(|(_, u)| u == login)
        .map_or(1, |(i, _)| *i);
    answer.of(
        "#/components/schemas/simple-user",
        json!({"login": login, "id": id, "node_id": format!("U_{id}"), "type": "User",
               "html_url": format!("{}/{login}", state.origin), "url": format!("{}/users/{login}", state.origin)}),
    )
}

fn github_label(answer: &Answer, state: &ForgeState, name: &str) -> Value {
    let id = state
        .labels
        .iter()
        .find(|(_, n)| n == name)
        .map_or(0, |(i, _)| *i);
    answer.of(
        "#/components/schemas/label",
        json!({"id": id, "node_id": format!("LA_{id}"), "name": name, "color": "00aabb", "description": "", "default": false,
               "url": format!("{}/repos/{}/{}/labels/{name}", state.origin, state.owner, state.repo)}),
    )
}

fn github_repository(answer: &Answer, state: &ForgeState, pointer: &str) -> Value {
    let full_name = format!("{}/{}", state.owner, state.repo);
    let mut repository = answer.of(pointer, github_repository_fields(answer, state, &full_name));
    repository["fork"] = Value::Bool(state.parent.is_some());
    repository["permissions"] =
        json!({"admin": false, "maintain": false, "push": state.push, "triage": state.push, "pull": true});
    if let Some(parent) = &state.parent
        && pointer.ends_with("full-repository")
    {
        let fields = github_repository_fields(answer, state, parent);
        repository["parent"] = answer.of("#/components/schemas/repository", fields.clone());
        repository["source"] = answer.of("#/components/schemas/repository", fields);
    }
    repository
}

fn github_repository_fields(answer: &Answer, state: &ForgeState, full_name: &str) -> Value {
    let (owner, name) = full_name.split_once('/').unwrap_or(("", full_name));
    json!({"id": 1, "node_id": "R_1", "name": name, "full_name": full_name, "owner": github_user(answer, state, owner),
           "private": false, "fork": false, "default_branch": "main",
           "html_url": format!("{}/{full_name}", state.origin), "url": format!("{}/repos/{full_name}", state.origin),
           "clone_url": format!("{}/{full_name}.git", state.origin)})
}

fn github_pull(answer: &Answer, state: &ForgeState, pull: &Pull, pointer: &str) -> Value {
    let merged = pull.state == PullState::Merged;
    let user = github_user(answer, state, "pushdeploy");
    // The pull request's own inline repository schema (stricter than `repository`).
    let repo_pointer = format!("{pointer}/properties/head/properties/repo");
    let repository = github_repository(answer, state, &repo_pointer);
    let branch = |name: &str, sha: String| json!({"label": format!("{}:{name}", state.owner), "ref": name, "sha": sha, "user": user.clone(), "repo": repository.clone()});
    let auto_merge = if pull.auto_merge {
        json!({"enabled_by": user.clone(), "merge_method": "merge", "commit_title": "", "commit_message": ""})
    } else {
        Value::Null
    };
    let api = format!(
        "{}/repos/{}/{}/pulls/{}",
        state.origin, state.owner, state.repo, pull.number
    );
    answer.of(
        pointer,
        json!({
            "id": pull.number + 1000, "node_id": format!("PR_{}", pull.number), "number": pull.number,
            "state": if pull.state == PullState::Open { "open" } else { "closed" },
            "title": pull.title, "body": pull.body, "draft": pull.draft, "locked": false,
            "merged": merged, "merged_at": if merged { Value::from(TIMESTAMP) } else { Value::Null },
            "closed_at": if pull.state == PullState::Open { Value::Null } else { Value::from(TIMESTAMP) },
            "merge_commit_sha": pull.merge_commit, "mergeable": true, "mergeable_state": "clean",
            "html_url": pull.html_url, "url": api, "user": user.clone(),
            "head": branch(&pull.head, head_sha(state, pull)),
            "base": branch(&pull.base, branch_sha(state, &pull.base).unwrap_or_default()),
            "labels": pull.labels.iter().map(|n| github_label(answer, state, n)).collect::<Vec<_>>(),
            "requested_reviewers": pull.reviewers.iter().map(|r| github_user(answer, state, r)).collect::<Vec<_>>(),
            "requested_teams": [], "assignees": [], "assignee": null, "milestone": null, "merged_by": null,
            "auto_merge": auto_merge, "author_association": "MEMBER", "created_at": TIMESTAMP, "updated_at": TIMESTAMP,
        }),
    )
}

/// `POST /graphql` is not in the REST description: checked by hand. Only the
/// `enablePullRequestAutoMerge` mutation is served.
fn graphql(state: &mut ForgeState, method: &str, headers: &[(String, String)], body: &[u8]) -> Reply {
    let mut errors = Vec::new();
    let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let content_type = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        .map_or("", |(_, v)| v.as_str());
    if method != "POST" {
        errors.push(format!("{method} /graphql: only POST is served"));
    }
    if !content_type.contains("json") {
        errors.push(format!(
            "POST /graphql: header Content-Type: {content_type:?}, expected application/json"
        ));
    }
    match request.as_object() {
        None => errors.push("POST /graphql: body: expected a JSON object".to_owned()),
        Some(object) => {
            for key in object
                .keys()
                .filter(|k| !["query", "variables", "operationName"].contains(&k.as_str()))
            {
                errors.push(format!("POST /graphql: body.{key}: not a documented property"));
            }
            match request["query"].as_str() {
                Some(query) if query.contains("enablePullRequestAutoMerge") => {}
                Some(_) => errors.push(
                    "POST /graphql: body.query: not the enablePullRequestAutoMerge mutation".to_owned(),
                ),
                None => errors.push("POST /graphql: body.query: expected string".to_owned()),
            }
            if !request["variables"]["id"].is_string() {
                errors.push(
                    "POST /graphql: body.variables.id: expected string (the pull request's node_id)"
                        .to_owned(),
                );
            }
            if let Some(method) = request["variables"].get("mergeMethod")
                && !["MERGE", "SQUASH", "REBASE"].contains(&method.as_str().unwrap_or(""))
            {
                errors.push(format!(
                    "POST /graphql: body.variables.mergeMethod: {method} is not MERGE, SQUASH or REBASE"
                ));
            }
        }
    }
    if !errors.is_empty() {
        state.violations.extend(errors.iter().cloned());
        return Reply::json(400, json!({"message": "Problems parsing JSON", "errors": errors}));
    }
    if let Some(reply) = refusal(state) {
        return reply;
    }
    let id = request["variables"]["id"].as_str().unwrap_or("");
    let Some(pull) = state.pulls.iter_mut().find(|p| format!("PR_{}", p.number) == id) else {
        return Reply::json(
            200,
            json!({"data": {"enablePullRequestAutoMerge": null},
                   "errors": [{"type": "NOT_FOUND", "path": ["enablePullRequestAutoMerge"],
                               "message": format!("Could not resolve to a node with the global id of '{id}'")}]}),
        );
    };
    pull.auto_merge = true;
    Reply::json(
        200,
        json!({"data": {"enablePullRequestAutoMerge": {"pullRequest": {
            "id": id, "number": pull.number, "autoMergeRequest": {"enabledAt": TIMESTAMP, "mergeMethod": "MERGE"}}}}}),
    )
}

// ---- GitLab ----

fn gitlab(
    answer: &Answer,
    state: &mut ForgeState,
    query: &BTreeMap<String, String>,
    body: &Value,
    number: Option<u64>,
) -> Reply {
    let op = answer.operation;
    match (op.method.as_str(), op.template.as_str()) {
        ("GET", "/projects/{id}") => answer.with(200, gitlab_project(state)),
        ("GET", "/projects/{id}/merge_requests") => {
            let wanted = query.get("state").map_or("all", String::as_str);
            let source = query.get("source_branch");
            let target = query.get("target_branch");
            let pulls: Vec<Value> = (state.pulls.iter())
                .filter(|p| state_filter(p, wanted))
                .filter(|p| source.is_none_or(|s| p.head == *s) && target.is_none_or(|t| p.base == *t))
                .map(|p| gitlab_merge_request(state, p))
                .collect();
            answer.with(200, Value::Array(pulls))
        }
        ("GET", "/projects/{id}/merge_requests/{merge_request_iid}") => {
            let pull = pull_mut(state, number).clone();
            answer.with(200, gitlab_merge_request(state, &pull))
        }
        ("POST", "/projects/{id}/merge_requests") => {
            let (head, base) = (text(body, "source_branch"), text(body, "target_branch"));
            if let Some(existing) = open_duplicate(state, &head, &base) {
                let message =
                    format!("Another open merge request already exists for this source branch: !{existing}");
                return Reply::json(409, json!({"message": [message]}));
            }
            let number = new_pull(
                state,
                &head,
                &base,
                &text(body, "title"),
                &text(body, "description"),
            );
            let reviewers = gitlab_reviewers(state, &body["reviewer_ids"]);
            let pull = pull_mut(state, Some(number));
            pull.labels = names(&body["labels"]);
            pull.reviewers = reviewers;
            pull.draft = pull.title.starts_with("Draft:");
            let pull = pull.clone();
            answer.with(201, gitlab_merge_request(state, &pull))
        }
        ("PUT", "/projects/{id}/merge_requests/{merge_request_iid}") => {
            let reviewers = gitlab_reviewers(state, &body["reviewer_ids"]);
            let pull = pull_mut(state, number);
            if let Some(title) = body["title"].as_str() {
                pull.title = title.to_owned();
            }
            if let Some(text) = body["description"].as_str() {
                pull.body = text.to_owned();
            }
            if let Some(base) = body["target_branch"].as_str() {
                pull.base = base.to_owned();
            }
            if body.get("labels").is_some() {
                pull.labels = names(&body["labels"]);
            }
            for name in names(&body["add_labels"]) {
                if !pull.labels.contains(&name) {
                    pull.labels.push(name);
                }
            }
            if body.get("reviewer_ids").is_some() {
                pull.reviewers = reviewers;
            }
            match body["state_event"].as_str() {
                Some("close") if pull.state == PullState::Open => pull.state = PullState::Closed,
                Some("reopen") if pull.state == PullState::Closed => pull.state = PullState::Open,
                _ => {}
            }
            let pull = pull.clone();
            answer.with(200, gitlab_merge_request(state, &pull))
        }
        ("PUT", "/projects/{id}/merge_requests/{merge_request_iid}/merge") => {
            if pull_mut(state, number).state != PullState::Open {
                return error(state.kind, 405, "Method Not Allowed");
            }
            if body["auto_merge"] == true || body["merge_when_pipeline_succeeds"] == true {
                pull_mut(state, number).auto_merge = true;
            } else if let Err(message) = merge_pull(state, number.unwrap_or(0)) {
                return Reply::json(422, json!({"message": message}));
            }
            let pull = pull_mut(state, number).clone();
            answer.with(200, gitlab_merge_request(state, &pull))
        }
        ("GET", "/users") => {
            let username = query.get("username");
            let users: Vec<Value> = (state.users.iter())
                .filter(|(_, u)| username.is_none_or(|w| w == u))
                .map(|(id, u)| gitlab_user(state, *id, u))
                .collect();
            answer.with(200, Value::Array(users))
        }
        _ => error(state.kind, 404, "Not Found"),
    }
}

fn gitlab_reviewers(state: &ForgeState, ids: &Value) -> Vec<String> {
    let ids = ids.as_array().into_iter().flatten().filter_map(Value::as_i64);
    ids.filter_map(|id| state.users.iter().find(|(i, _)| *i == id))
        .map(|(_, name)| name.clone())
        .collect()
}

fn gitlab_user(state: &ForgeState, id: i64, username: &str) -> Value {
    json!({"id": id, "username": username, "name": username, "state": "active", "locked": false,
           "avatar_url": null, "web_url": format!("{}/{username}", state.origin)})
}

fn gitlab_project(state: &ForgeState) -> Value {
    let path = format!("{}/{}", state.owner, state.repo);
    let access = if state.push { 30 } else { 20 };
    json!({
        "id": 42, "description": null, "name": state.repo, "name_with_namespace": format!("{} / {}", state.owner, state.repo),
        "path": state.repo, "path_with_namespace": path, "default_branch": "main", "visibility": "private",
        "web_url": format!("{}/{path}", state.origin), "http_url_to_repo": format!("{}/{path}.git", state.origin),
        "ssh_url_to_repo": format!("git@127.0.0.1:{path}.git"), "archived": false, "merge_method": "merge",
        "only_allow_merge_if_pipeline_succeeds": false,
        "forked_from_project": state.parent.as_ref().map(|parent| json!({
            "id": 41, "path_with_namespace": parent, "web_url": format!("{}/{parent}", state.origin), "default_branch": "main"})),
        "permissions": {"project_access": {"access_level": access, "notification_level": 3}, "group_access": null},
    })
}

fn gitlab_merge_request(state: &ForgeState, pull: &Pull) -> Value {
    let merged = pull.state == PullState::Merged;
    let author = gitlab_user(state, 100, "pushdeploy");
    let reviewers: Vec<Value> = (pull.reviewers.iter())
        .filter_map(|r| state.users.iter().find(|(_, u)| u == r))
        .map(|(id, u)| gitlab_user(state, *id, u))
        .collect();
    let gitlab_state = match pull.state {
        PullState::Open => "opened",
        PullState::Closed => "closed",
        PullState::Merged => "merged",
    };
    json!({
        "id": pull.number + 1000, "iid": pull.number, "project_id": 42, "source_project_id": 42, "target_project_id": 42,
        "title": pull.title, "description": pull.body, "state": gitlab_state,
        "created_at": TIMESTAMP, "updated_at": TIMESTAMP,
        "merged_at": if merged { Value::from(TIMESTAMP) } else { Value::Null },
        "closed_at": if pull.state == PullState::Closed { Value::from(TIMESTAMP) } else { Value::Null },
        "merged_by": if merged { author.clone() } else { Value::Null },
        "merge_user": if merged { author.clone() } else { Value::Null },
        "source_branch": pull.head, "target_branch": pull.base, "labels": pull.labels,
        "draft": pull.draft, "work_in_progress": pull.draft,
        "merge_when_pipeline_succeeds": pull.auto_merge, "merge_status": "can_be_merged", "detailed_merge_status": "mergeable",
        "sha": head_sha(state, pull), "merge_commit_sha": pull.merge_commit, "squash_commit_sha": null,
        "author": author, "assignee": null, "assignees": [], "reviewers": reviewers,
        "references": {"short": format!("!{}", pull.number), "relative": format!("!{}", pull.number),
                       "full": format!("{}/{}!{}", state.owner, state.repo, pull.number)},
        "web_url": pull.html_url, "has_conflicts": false, "squash": false,
    })
}
