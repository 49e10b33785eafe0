//! GitHub: the REST operations served, their documented answer shapes, and the GraphQL
//! auto-merge mutation (checked by hand: it is not in the REST description).

use super::reply::{Answer, Reply, TIMESTAMP, error, names, text};
use super::serve::refusal;
use super::state::{ForgeState, branch_sha, head_sha, new_pull, open_duplicate, pull_mut, state_filter};
use super::{Pull, PullState};
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub(super) fn github(
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
pub(super) fn graphql(
    state: &mut ForgeState,
    method: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Reply {
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
