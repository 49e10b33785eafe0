//! GitLab: the merge-request operations served and the documented answer shapes.

use super::reply::{Answer, Reply, TIMESTAMP, error, names, text};
use super::state::{ForgeState, head_sha, merge_pull, new_pull, open_duplicate, pull_mut, state_filter};
use super::{Pull, PullState};
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub(super) fn gitlab(
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
