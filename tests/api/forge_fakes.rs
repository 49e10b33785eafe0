//! Self-tests of the forge fakes (`support/forge.rs`): they accept what the published
//! descriptions accept, and they can fail — a misspelt field, a wrong type, a missing required
//! field, an undocumented query parameter or a bad credential is refused and listed.

use crate::support::forge::{FORGE_TOKEN, FakeForge, ForgeKind, HttpReply, PullState, request};
use crate::support::git::{Remote, git, gitops_fixture};
use serde_json::{Value, json};
use std::path::Path;

const BRANCH: &str = "pushdeploy/mcp";
const ALL: [ForgeKind; 4] = [
    ForgeKind::Forgejo,
    ForgeKind::Gitea,
    ForgeKind::Github,
    ForgeKind::Gitlab,
];

/// A seeded bare remote with `BRANCH` one commit ahead of `main`.
fn remote_with_branch(dir: &Path) -> Remote {
    let remote = Remote::seeded(dir, &gitops_fixture());
    commit_on(dir, &remote, BRANCH, "CHANGE.txt");
    remote
}

/// Push one commit touching `file` onto `branch` (created from `main` if new).
fn commit_on(dir: &Path, remote: &Remote, branch: &str, file: &str) {
    let work = dir.join(format!("work-{}", branch.replace('/', "-")));
    if !work.exists() {
        git(dir, &["clone", "-q", &remote.url(), work.to_str().unwrap()]);
    }
    let exists = git(&work, &["ls-remote", "--heads", "origin", branch]);
    if exists.trim().is_empty() {
        git(&work, &["checkout", "-q", "-b", branch]);
    } else {
        git(&work, &["checkout", "-q", branch]);
    }
    std::fs::write(work.join(file), format!("{branch}\n")).unwrap();
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", &format!("change {file}")]);
    git(&work, &["push", "-q", "origin", branch]);
}

/// The headers a correct client sends to `kind`.
fn auth(kind: ForgeKind, token: &str) -> Vec<(&'static str, String)> {
    match kind {
        ForgeKind::Forgejo | ForgeKind::Gitea => vec![("Authorization", format!("token {token}"))],
        ForgeKind::Github => vec![
            ("Authorization", format!("Bearer {token}")),
            ("Accept", "application/vnd.github+json".to_owned()),
            ("X-GitHub-Api-Version", "2022-11-28".to_owned()),
            ("User-Agent", "pushdeploy-tests".to_owned()),
        ],
        ForgeKind::Gitlab => vec![("PRIVATE-TOKEN", token.to_owned())],
    }
}

/// `method` on `{api_base}{path}` with the right credentials and, for a body, JSON.
fn call(forge: &FakeForge, method: &str, path: &str, body: Option<Value>) -> HttpReply {
    call_with(forge, method, path, body, auth(forge.kind(), FORGE_TOKEN))
}

fn call_with(
    forge: &FakeForge,
    method: &str,
    path: &str,
    body: Option<Value>,
    mut headers: Vec<(&'static str, String)>,
) -> HttpReply {
    if body.is_some() {
        headers.push(("Content-Type", "application/json".to_owned()));
    }
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let body = body.map(|b| b.to_string());
    let url = format!("{}{path}", forge.api_base());
    request(method, &url, &headers, body.as_deref())
}

/// The project path for `kind`: `/repos/acme/gitops` or GitLab's `/projects/acme%2Fgitops`.
fn project(kind: ForgeKind) -> &'static str {
    match kind {
        ForgeKind::Gitlab => "/projects/acme%2Fgitops",
        _ => "/repos/acme/gitops",
    }
}

fn pulls_path(kind: ForgeKind) -> String {
    match kind {
        ForgeKind::Gitlab => format!("{}/merge_requests", project(kind)),
        _ => format!("{}/pulls", project(kind)),
    }
}

/// A create request every platform documents.
fn valid_create(kind: ForgeKind) -> Value {
    match kind {
        ForgeKind::Forgejo | ForgeKind::Gitea => json!({
            "head": BRANCH, "base": "main", "title": "Update mcp", "body": "image bump", "labels": [11]
        }),
        ForgeKind::Github => json!({
            "head": BRANCH, "base": "main", "title": "Update mcp", "body": "image bump", "draft": false
        }),
        ForgeKind::Gitlab => json!({
            "source_branch": BRANCH, "target_branch": "main", "title": "Update mcp",
            "description": "image bump", "labels": "automation", "reviewer_ids": [101],
            "remove_source_branch": true
        }),
    }
}

fn started(dir: &Path, kind: ForgeKind) -> (Remote, FakeForge) {
    let remote = remote_with_branch(dir);
    let forge = FakeForge::start(kind, &remote.bare, "acme/gitops");
    (remote, forge)
}

fn assert_violation(forge: &FakeForge, reply: &HttpReply, status: u16, expected: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    let violations = forge.violations();
    assert!(
        violations.iter().any(|v| v.contains(expected)),
        "{:?}: no violation containing {expected:?} in {violations:#?}",
        forge.kind()
    );
}

#[test]
fn a_valid_create_request_is_accepted_and_listed_on_every_platform() {
    for kind in ALL {
        let dir = tempfile::tempdir().unwrap();
        let (remote, forge) = started(dir.path(), kind);
        let reply = call(&forge, "POST", &pulls_path(kind), Some(valid_create(kind)));
        assert_eq!(reply.status, 201, "{kind:?}: {}", reply.body);
        let pulls = forge.pulls();
        assert_eq!(pulls.len(), 1, "{kind:?}");
        let pull = &pulls[0];
        assert_eq!((pull.head.as_str(), pull.base.as_str()), (BRANCH, "main"));
        assert_eq!(pull.title, "Update mcp");
        assert_eq!(pull.state, PullState::Open);
        assert_eq!(pull.head_sha, remote.head(BRANCH), "{kind:?}");
        assert!(pull.html_url.starts_with(&forge.url()), "{}", pull.html_url);
        if kind != ForgeKind::Github {
            assert_eq!(pull.labels, ["automation"], "{kind:?}");
        }
        let number = reply.json()["number"].as_u64().or(reply.json()["iid"].as_u64());
        assert_eq!(number, Some(1), "{kind:?}: {}", reply.body);
        forge.assert_no_violations();
    }
}

#[test]
fn a_misspelt_body_field_is_refused_and_listed() {
    let dir = tempfile::tempdir().unwrap();
    let (_remote, forge) = started(dir.path(), ForgeKind::Gitea);
    let body = json!({"head": BRANCH, "base": "main", "title": "Update", "bdy": "typo"});
    let reply = call(&forge, "POST", "/repos/acme/gitops/pulls", Some(body));
    assert_violation(
        &forge,
        &reply,
        422,
        "POST /repos/{owner}/{repo}/pulls: body.bdy: not a documented property",
    );
    assert!(forge.pulls().is_empty());
}

#[test]
fn label_names_where_gitea_documents_ids_are_refused_with_the_item_path() {
    let dir = tempfile::tempdir().unwrap();
    let (_remote, forge) = started(dir.path(), ForgeKind::Gitea);
    let body = json!({"head": BRANCH, "base": "main", "title": "Update", "labels": ["bug"]});
    let reply = call(&forge, "POST", "/repos/acme/gitops/pulls", Some(body));
    assert_violation(
        &forge,
        &reply,
        422,
        r#"POST /repos/{owner}/{repo}/pulls: body.labels[0]: expected integer, got "bug""#,
    );
}

#[test]
fn a_missing_required_field_is_refused_on_github_and_gitlab() {
    let cases = [
        (
            ForgeKind::Github,
            json!({"head": BRANCH, "title": "Update"}),
            "body.base: required property missing",
        ),
        (
            ForgeKind::Gitlab,
            json!({"source_branch": BRANCH, "target_branch": "main"}),
            "body.title: required property missing",
        ),
    ];
    for (kind, body, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        let (_remote, forge) = started(dir.path(), kind);
        let reply = call(&forge, "POST", &pulls_path(kind), Some(body));
        assert_violation(&forge, &reply, 422, expected);
    }
}

#[test]
fn an_undocumented_query_parameter_or_enum_value_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_remote, forge) = started(dir.path(), ForgeKind::Gitea);
    let reply = call(&forge, "GET", "/repos/acme/gitops/pulls?state=open&head=x", None);
    assert_violation(&forge, &reply, 422, "query.head: not a documented parameter");

    let (_remote, github) = started(&dir.path().join("github"), ForgeKind::Github);
    let reply = call(&github, "GET", "/repos/acme/gitops/pulls?state=opened", None);
    assert_violation(&github, &reply, 422, r#"query.state: "opened" is not one of"#);

    let (_remote, gitlab) = started(&dir.path().join("gitlab"), ForgeKind::Gitlab);
    let reply = call(
        &gitlab,
        "GET",
        "/projects/acme%2Fgitops/merge_requests?per_page=many",
        None,
    );
    assert_violation(
        &gitlab,
        &reply,
        422,
        r#"query.per_page: expected integer, got "many""#,
    );
}

#[test]
fn a_missing_or_wrong_credential_is_refused_on_every_platform() {
    for kind in ALL {
        let dir = tempfile::tempdir().unwrap();
        let (_remote, forge) = started(dir.path(), kind);
        let path = project(kind);
        let reply = call_with(&forge, "GET", path, None, Vec::new());
        assert_eq!(reply.status, 401, "{kind:?}: {}", reply.body);
        let reply = call_with(&forge, "GET", path, None, auth(kind, "not-the-token"));
        assert_eq!(reply.status, 401, "{kind:?}: {}", reply.body);
        let violations = forge.violations();
        assert_eq!(
            violations.len(),
            if kind == ForgeKind::Github { 5 } else { 2 },
            "{kind:?}: {violations:#?}"
        );
        assert!(
            violations.iter().any(|v| v.contains("missing")),
            "{violations:#?}"
        );
        assert!(
            violations.iter().any(|v| v.contains("wrong credentials")),
            "{violations:#?}"
        );
        assert!(
            !violations.iter().any(|v| v.contains("not-the-token")),
            "a token leaked: {violations:#?}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let (_remote, github) = started(dir.path(), ForgeKind::Github);
    let mut headers = auth(ForgeKind::Github, FORGE_TOKEN);
    headers.retain(|(name, _)| *name != "X-GitHub-Api-Version");
    let reply = call_with(&github, "GET", "/repos/acme/gitops", None, headers);
    assert_violation(&github, &reply, 401, "header X-GitHub-Api-Version: missing");
}

/// Every operation the fakes serve, answered and checked against the documented response.
#[test]
fn the_fakes_own_answers_match_the_documented_response_schemas() {
    for kind in ALL {
        let dir = tempfile::tempdir().unwrap();
        let (_remote, forge) = started(dir.path(), kind);
        forge.set_fork(Some("upstream/gitops"));
        let base = project(kind);
        let pulls = pulls_path(kind);
        let mut steps: Vec<(&str, String, Option<Value>, u16)> = vec![
            ("GET", base.to_owned(), None, 200),
            ("POST", pulls.clone(), Some(valid_create(kind)), 201),
            ("GET", format!("{pulls}/1"), None, 200),
        ];
        match kind {
            ForgeKind::Forgejo | ForgeKind::Gitea => {
                let do_key = if kind == ForgeKind::Forgejo { "Do" } else { "do" };
                steps.extend([
                    ("GET", format!("{pulls}?state=open&page=1&limit=50"), None, 200),
                    ("PATCH", format!("{pulls}/1"), Some(json!({"title": "Update mcp to 2", "body": "b", "labels": [11, 12]})), 201),
                    ("GET", format!("{base}/labels"), None, 200),
                    ("POST", format!("{pulls}/1/requested_reviewers"), Some(json!({"reviewers": ["alice"]})), 201),
                    ("POST", format!("{pulls}/1/merge"), Some(json!({do_key: "merge", "merge_when_checks_succeed": true})), 200),
                    ("POST", format!("{base}/statuses/{}", "a".repeat(40)), Some(json!({"state": "success", "context": "pushdeploy", "description": "ok", "target_url": "http://x/"})), 201),
                ]);
            }
            ForgeKind::Github => steps.extend([
                (
                    "GET",
                    format!("{pulls}?state=open&head=acme:{BRANCH}&base=main&per_page=100"),
                    None,
                    200,
                ),
                (
                    "PATCH",
                    format!("{pulls}/1"),
                    Some(json!({"title": "Update mcp to 2", "body": "b"})),
                    200,
                ),
                (
                    "POST",
                    format!("{base}/issues/1/labels"),
                    Some(json!({"labels": ["automation"]})),
                    200,
                ),
                (
                    "POST",
                    format!("{pulls}/1/requested_reviewers"),
                    Some(json!({"reviewers": ["alice"]})),
                    201,
                ),
            ]),
            ForgeKind::Gitlab => steps.extend([
                (
                    "GET",
                    format!(
                        "{pulls}?state=opened&source_branch={}&target_branch=main",
                        BRANCH.replace('/', "%2F")
                    ),
                    None,
                    200,
                ),
                (
                    "PUT",
                    format!("{pulls}/1"),
                    Some(json!({"title": "Update mcp to 2", "description": "b", "reviewer_ids": [101, 102]})),
                    200,
                ),
                (
                    "PUT",
                    format!("{pulls}/1/merge"),
                    Some(json!({"auto_merge": true})),
                    200,
                ),
                ("GET", "/users?username=alice".to_owned(), None, 200),
            ]),
        }
        for (method, path, body, status) in steps {
            let reply = call(&forge, method, &path, body);
            assert_eq!(reply.status, status, "{kind:?} {method} {path}: {}", reply.body);
            if !reply.body.is_empty() {
                let full = format!("{}{path}", forge.api_base());
                let checked = forge.validate_response(method, &full, status, &reply.json());
                assert_eq!(checked, Ok(()), "{kind:?} {method} {path}");
            }
        }
        // The drift check ran on every answer too: nothing recorded.
        forge.assert_no_violations();
        let pull = &forge.pulls()[0];
        assert_eq!(pull.title, "Update mcp to 2", "{kind:?}");
        assert!(pull.auto_merge || kind == ForgeKind::Github, "{kind:?}");
        assert!(!pull.reviewers.is_empty(), "{kind:?}");
    }
}

#[test]
fn a_response_that_drifts_from_the_documented_schema_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let (_remote, forge) = started(dir.path(), ForgeKind::Github);
    let errors = forge
        .validate_response(
            "GET",
            "/repos/acme/gitops/pulls/1",
            200,
            &json!({"number": "one"}),
        )
        .unwrap_err();
    assert!(
        errors
            .iter()
            .any(|e| e.contains("response.number: expected integer")),
        "{errors:#?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("response.head: required property missing")),
        "{errors:#?}"
    );
}

#[test]
fn merge_fast_forwards_the_base_branch_and_the_pull_request_then_reads_as_merged() {
    for kind in ALL {
        let dir = tempfile::tempdir().unwrap();
        let (remote, forge) = started(dir.path(), kind);
        call(&forge, "POST", &pulls_path(kind), Some(valid_create(kind)));
        forge.merge(1);
        assert_eq!(remote.head("main"), remote.head(BRANCH), "{kind:?}");
        let reply = call(&forge, "GET", &format!("{}/1", pulls_path(kind)), None);
        let pull = reply.json();
        match kind {
            ForgeKind::Gitlab => assert_eq!(pull["state"], "merged"),
            _ => assert_eq!(
                (pull["merged"].clone(), pull["state"].clone()),
                (json!(true), json!("closed"))
            ),
        }
        assert_eq!(forge.pulls()[0].state, PullState::Merged);
        forge.assert_no_violations();
    }
}

#[test]
fn merge_makes_a_merge_commit_when_the_base_branch_moved_on() {
    let dir = tempfile::tempdir().unwrap();
    let (remote, forge) = started(dir.path(), ForgeKind::Forgejo);
    call(
        &forge,
        "POST",
        &pulls_path(ForgeKind::Forgejo),
        Some(valid_create(ForgeKind::Forgejo)),
    );
    commit_on(dir.path(), &remote, "main", "OTHER.txt");
    let (base_before, head) = (remote.head("main"), remote.head(BRANCH));
    forge.merge(1);
    let parents = git(&remote.bare, &["rev-list", "--parents", "-n", "1", "main"]);
    let parents: Vec<&str> = parents.split_whitespace().skip(1).collect();
    assert_eq!(parents, [base_before.as_str(), head.as_str()]);
    assert_eq!(remote.show("main", "CHANGE.txt"), format!("{BRANCH}\n"));
    assert_eq!(remote.show("main", "OTHER.txt"), "main\n");
    assert_eq!(forge.pulls()[0].state, PullState::Merged);
}

#[test]
fn rate_limit_answers_429_with_retry_after_and_then_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let (_remote, forge) = started(dir.path(), ForgeKind::Github);
    forge.rate_limit(1, 7);
    let limited = call(&forge, "GET", "/repos/acme/gitops", None);
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert_eq!(limited.header("retry-after"), Some("7"));
    assert_eq!(limited.header("x-ratelimit-remaining"), Some("0"));
    assert!(limited.header("x-ratelimit-reset").is_some());
    assert_eq!(call(&forge, "GET", "/repos/acme/gitops", None).status, 200);
    forge.assert_no_violations();
}

#[test]
fn deny_answers_403_with_the_platform_error_body_for_the_next_requests() {
    let dir = tempfile::tempdir().unwrap();
    let (_remote, forge) = started(dir.path(), ForgeKind::Gitlab);
    forge.deny(Some(1));
    let denied = call(&forge, "GET", "/projects/acme%2Fgitops", None);
    assert_eq!(denied.status, 403);
    assert!(denied.json()["message"].as_str().unwrap().starts_with("403"));
    let project = call(&forge, "GET", "/projects/acme%2Fgitops", None);
    assert_eq!(project.status, 200, "{}", project.body);
    assert_eq!(
        project.json()["permissions"]["project_access"]["access_level"],
        30
    );
    forge.set_permissions(false);
    let project = call(&forge, "GET", "/projects/acme%2Fgitops", None).json();
    assert_eq!(project["permissions"]["project_access"]["access_level"], 20);
    forge.assert_no_violations();
}

#[test]
fn github_auto_merge_goes_through_graphql_which_is_checked_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let (_remote, forge) = started(dir.path(), ForgeKind::Github);
    let created = call(
        &forge,
        "POST",
        "/repos/acme/gitops/pulls",
        Some(valid_create(ForgeKind::Github)),
    );
    let node_id = created.json()["node_id"].as_str().unwrap().to_owned();
    let mutation = "mutation($id: ID!) { enablePullRequestAutoMerge(input: {pullRequestId: $id}) { pullRequest { id } } }";
    let reply = call(
        &forge,
        "POST",
        "/graphql",
        Some(json!({"query": mutation, "variables": {"id": node_id}})),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(forge.pulls()[0].auto_merge);
    let pull = call(&forge, "GET", "/repos/acme/gitops/pulls/1", None).json();
    assert_eq!(pull["auto_merge"]["merge_method"], "merge");
    forge.assert_no_violations();

    let reply = call(
        &forge,
        "POST",
        "/graphql",
        Some(json!({"query": mutation, "variables": {"pullRequestId": 1}})),
    );
    assert_violation(&forge, &reply, 400, "body.variables.id: expected string");
}

#[test]
fn requests_are_recorded_and_token_labels_users_and_close_are_configurable() {
    let dir = tempfile::tempdir().unwrap();
    let (_remote, forge) = started(dir.path(), ForgeKind::Gitea);
    forge.set_token("another-token");
    assert_eq!(forge.token(), "another-token");
    forge.set_labels(&[(5, "deps")]);
    forge.set_users(&[(7, "carol")]);
    let headers = auth(ForgeKind::Gitea, "another-token");
    let body = json!({"head": BRANCH, "base": "main", "title": "Update", "labels": [5]});
    let created = call_with(
        &forge,
        "POST",
        "/repos/acme/gitops/pulls",
        Some(body),
        headers.clone(),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let last = forge.requests().pop().unwrap();
    assert_eq!(
        (last.method.as_str(), last.path.as_str(), last.query.as_str()),
        ("POST", "/api/v1/repos/acme/gitops/pulls", "")
    );
    assert_eq!(
        (last.body.unwrap()["labels"].clone(), last.status),
        (json!([5]), 201)
    );
    assert_eq!(forge.pulls()[0].labels, ["deps"]);

    let reviewers = "/repos/acme/gitops/pulls/1/requested_reviewers";
    let refused = call_with(
        &forge,
        "POST",
        reviewers,
        Some(json!({"reviewers": ["alice"]})),
        headers.clone(),
    );
    assert_eq!(
        refused.status, 422,
        "an unknown user is the platform's refusal, not a violation"
    );
    let accepted = call_with(
        &forge,
        "POST",
        reviewers,
        Some(json!({"reviewers": ["carol"]})),
        headers.clone(),
    );
    assert_eq!(accepted.status, 201, "{}", accepted.body);

    forge.close(1);
    let pull = call_with(&forge, "GET", "/repos/acme/gitops/pulls/1", None, headers).json();
    assert_eq!(
        (pull["state"].clone(), pull["merged"].clone()),
        (json!("closed"), json!(false))
    );
    assert_eq!(forge.pulls()[0].state, PullState::Closed);
    forge.assert_no_violations();
}
