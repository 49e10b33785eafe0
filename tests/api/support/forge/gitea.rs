//! Forgejo and Gitea (one API): the operations served and the documented answer shapes.

use super::reply::{Answer, Reply, TIMESTAMP, error, names, text};
use super::state::{
    ForgeState, branch_sha, head_sha, merge_pull, new_pull, open_duplicate, pull_mut, state_filter,
};
use super::{Pull, PullState};
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub(super) fn gitea(
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
