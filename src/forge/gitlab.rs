//! GitLab REST API v4: the calls of "Projects", "Merge requests" and "Users", and the parsing of
//! their documented answers. The project is named by its URL-encoded path; a draft is a
//! `Draft: ` title; reviewers are user ids, looked up by user name after the request exists.

use super::{
    Call, Forge, ForgeError, Missing, Opened, PullRequest, PullState, RepoAccess, draft_title, segment,
};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;

/// GitLab's "Developer" access level: may push to unprotected branches.
const DEVELOPER: u32 = 30;
/// The pause before asking for auto-merge again when GitLab answers 405/406 right after the
/// merge request was created (its mergeability is computed in the background:
/// gitlab-org/gitlab#353984).
const AUTO_MERGE_RETRY: Duration = Duration::from_secs(2);

#[derive(Deserialize)]
struct Project {
    forked_from_project: Option<Parent>,
    permissions: Option<Permissions>,
}

#[derive(Deserialize)]
struct Parent {
    path_with_namespace: String,
}

#[derive(Deserialize)]
struct Permissions {
    project_access: Option<Access>,
    group_access: Option<Access>,
}

#[derive(Deserialize)]
struct Access {
    access_level: u32,
}

#[derive(Deserialize)]
struct MergeRequest {
    iid: u64,
    web_url: String,
    state: String,
    sha: Option<String>,
    source_project_id: Option<u64>,
    target_project_id: Option<u64>,
}

#[derive(Deserialize)]
struct User {
    id: u64,
}

fn project_path(repository: &str) -> String {
    format!("/projects/{}", segment(repository))
}

// GitLab "Get a single project": GET /projects/:id
fn get_project(repository: &str) -> Call {
    Call::new(
        "read the project",
        Method::GET,
        project_path(repository),
        Missing::Repository,
    )
}

fn parse_access(value: &Value) -> Result<RepoAccess, String> {
    let project = Project::deserialize(value).map_err(|error| format!("not a project: {error}"))?;
    let level = project
        .permissions
        .map(|permissions| [permissions.project_access, permissions.group_access])
        .into_iter()
        .flatten()
        .flatten()
        .map(|access| access.access_level)
        .max()
        .unwrap_or(0);
    Ok(RepoAccess {
        can_push: level >= DEVELOPER,
        fork_of: project
            .forked_from_project
            .map(|parent| parent.path_with_namespace),
    })
}

// GitLab "List project merge requests": GET /projects/:id/merge_requests?state=opened&source_branch=&target_branch=
fn list_open(repository: &str, head: &str, base: &str) -> Call {
    let path = format!("{}/merge_requests", project_path(repository));
    Call::new("list open merge requests", Method::GET, path, Missing::Repository)
        .query("state", "opened")
        .query("source_branch", head)
        .query("target_branch", base)
}

fn to_pull_request(request: MergeRequest) -> Result<PullRequest, String> {
    let state = match request.state.as_str() {
        "opened" | "locked" => PullState::Open,
        "merged" => PullState::Merged,
        "closed" => PullState::Closed,
        other => {
            return Err(format!(
                "merge request !{} has the unknown state {other:?}",
                request.iid
            ));
        }
    };
    Ok(PullRequest {
        number: request.iid,
        url: request.web_url,
        state,
        head_sha: request.sha,
    })
}

fn parse_merge_request(value: &Value) -> Result<PullRequest, String> {
    let request =
        MergeRequest::deserialize(value).map_err(|error| format!("not a merge request: {error}"))?;
    to_pull_request(request)
}

/// The oldest listed merge request whose source is this project (a fork's same-named branch
/// matches `source_branch` too).
fn parse_open(value: &Value) -> Result<Option<PullRequest>, String> {
    let requests = Vec::<MergeRequest>::deserialize(value)
        .map_err(|error| format!("not a list of merge requests: {error}"))?;
    requests
        .into_iter()
        .filter(
            |request| match (request.source_project_id, request.target_project_id) {
                (Some(source), Some(target)) => source == target,
                _ => true,
            },
        )
        .min_by_key(|request| request.iid)
        .map(to_pull_request)
        .transpose()
}

// GitLab "Get single MR": GET /projects/:id/merge_requests/:merge_request_iid
fn get_merge_request(repository: &str, iid: u64) -> Call {
    let path = format!("{}/merge_requests/{iid}", project_path(repository));
    Call::new("read the merge request", Method::GET, path, Missing::Item)
}

// GitLab "Create MR": POST /projects/:id/merge_requests
fn create(repository: &str, proposal: &super::Proposal<'_>, title: &str) -> Call {
    let mut body = json!({
        "source_branch": proposal.head,
        "target_branch": proposal.base,
        "title": title,
        "description": proposal.body,
        "remove_source_branch": true,
    });
    if !proposal.labels.is_empty() {
        body["labels"] = json!(proposal.labels.join(","));
    }
    let path = format!("{}/merge_requests", project_path(repository));
    Call::new(
        "create the merge request",
        Method::POST,
        path,
        Missing::Permission,
    )
    .body(body)
}

// GitLab "List users": GET /users?username=:username
fn find_user(username: &str) -> Call {
    Call::new(
        "look up a reviewer",
        Method::GET,
        "/users".to_owned(),
        Missing::Item,
    )
    .query("username", username)
}

fn parse_user_id(value: &Value) -> Result<Option<u64>, String> {
    let users = Vec::<User>::deserialize(value).map_err(|error| format!("not a list of users: {error}"))?;
    Ok(users.first().map(|user| user.id))
}

// GitLab "Update MR": PUT /projects/:id/merge_requests/:merge_request_iid
fn set_reviewers(repository: &str, iid: u64, reviewer_ids: &[u64]) -> Call {
    let path = format!("{}/merge_requests/{iid}", project_path(repository));
    Call::new("set reviewers", Method::PUT, path, Missing::Item).body(json!({ "reviewer_ids": reviewer_ids }))
}

// GitLab "Merge a merge request": PUT /projects/:id/merge_requests/:merge_request_iid/merge
fn merge_when_pipeline_succeeds(repository: &str, iid: u64) -> Call {
    let path = format!("{}/merge_requests/{iid}/merge", project_path(repository));
    Call::new("set auto-merge", Method::PUT, path, Missing::Item)
        .body(json!({ "merge_when_pipeline_succeeds": true }))
}

// GitLab "Update MR": PUT /projects/:id/merge_requests/:merge_request_iid
fn edit(repository: &str, iid: u64, title: &str, description: &str) -> Call {
    let path = format!("{}/merge_requests/{iid}", project_path(repository));
    Call::new("update the merge request", Method::PUT, path, Missing::Item)
        .body(json!({ "title": title, "description": description }))
}

/// 405, 406 and 422 to the merge call: GitLab cannot set auto-merge on this request now.
fn cannot_merge_now(error: &ForgeError) -> bool {
    matches!(
        error,
        ForgeError::Refused {
            status: 405 | 406 | 422,
            ..
        }
    )
}

pub(super) async fn access(forge: &Forge) -> Result<RepoAccess, ForgeError> {
    forge
        .call(&get_project(&forge.api.repository), parse_access)
        .await
}

pub(super) async fn find_open(
    forge: &Forge,
    head: &str,
    base: &str,
) -> Result<Option<PullRequest>, ForgeError> {
    forge
        .call(&list_open(&forge.api.repository, head, base), parse_open)
        .await
}

pub(super) async fn get(forge: &Forge, iid: u64) -> Result<PullRequest, ForgeError> {
    forge
        .call(
            &get_merge_request(&forge.api.repository, iid),
            parse_merge_request,
        )
        .await
}

/// The ids of `reviewers`, and a warning per name GitLab does not know or could not look up.
async fn reviewer_ids(forge: &Forge, reviewers: &[String], warnings: &mut Vec<String>) -> Vec<u64> {
    let mut ids = Vec::new();
    for name in reviewers {
        match forge.call(&find_user(name), parse_user_id).await {
            Ok(Some(id)) => ids.push(id),
            Ok(None) => warnings.push(format!(
                "reviewer {name:?} was not requested: GitLab has no such user"
            )),
            Err(error) => warnings.push(format!("reviewer {name:?} was not requested: {error}")),
        }
    }
    ids
}

async fn auto_merge(forge: &Forge, iid: u64) -> Result<(), String> {
    let call = merge_when_pipeline_succeeds(&forge.api.repository, iid);
    let first = match forge.send(&call).await {
        Ok(_) => return Ok(()),
        Err(error)
            if matches!(
                error,
                ForgeError::Refused {
                    status: 405 | 406,
                    ..
                }
            ) =>
        {
            error
        }
        Err(error) => return Err(error.to_string()),
    };
    tracing::debug!(%first, "GitLab cannot set auto-merge yet; asking once more");
    tokio::time::sleep(AUTO_MERGE_RETRY).await;
    match forge.send(&call).await {
        Ok(_) => Ok(()),
        Err(error) if cannot_merge_now(&error) => Err(format!(
            "GitLab cannot set auto-merge on this merge request now (no pipeline, a conflict, or a required approval missing): {error}"
        )),
        Err(error) => Err(error.to_string()),
    }
}

pub(super) async fn open(forge: &Forge, proposal: &super::Proposal<'_>) -> Result<Opened, ForgeError> {
    let repository = &forge.api.repository;
    let title = draft_title(forge.api.kind, proposal.title, proposal.draft);
    let pull = forge
        .call(&create(repository, proposal, &title), parse_merge_request)
        .await?;
    let mut warnings = Vec::new();
    if !proposal.reviewers.is_empty() {
        let ids = reviewer_ids(forge, proposal.reviewers, &mut warnings).await;
        if !ids.is_empty()
            && let Err(error) = forge.send(&set_reviewers(repository, pull.number, &ids)).await
        {
            warnings.push(format!("reviewers were not requested: {error}"));
        }
    }
    if proposal.auto_merge
        && let Err(text) = auto_merge(forge, pull.number).await
    {
        warnings.push(format!("auto-merge was not enabled: {text}"));
    }
    Ok(Opened { pull, warnings })
}

pub(super) async fn update(
    forge: &Forge,
    iid: u64,
    title: &str,
    body: &str,
) -> Result<PullRequest, ForgeError> {
    forge
        .call(
            &edit(&forge.api.repository, iid, title, body),
            parse_merge_request,
        )
        .await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    // Trimmed from the "Get single MR" example of doc/api/merge_requests.md.
    fn merge_request_json(iid: u64, state: &str) -> Value {
        json!({
            "id": 155016530, "iid": iid, "project_id": 15513260, "title": "Update app",
            "description": "text", "state": state, "source_branch": "pushdeploy/app", "target_branch": "main",
            "source_project_id": 15513260, "target_project_id": 15513260, "draft": false,
            "sha": "8888888888888888888888888888888888888888", "merge_status": "can_be_merged",
            "web_url": format!("https://gitlab.example.com/group/sub/deploy/-/merge_requests/{iid}")
        })
    }

    #[test]
    fn each_call_is_the_documented_method_path_query_and_body() {
        let repo = "group/sub/deploy";
        assert_eq!(get_project(repo).path, "/projects/group%2Fsub%2Fdeploy");
        let call = list_open(repo, "pushdeploy/app", "main");
        assert_eq!(
            (call.method.clone(), call.path.as_str()),
            (Method::GET, "/projects/group%2Fsub%2Fdeploy/merge_requests")
        );
        assert_eq!(
            call.query,
            vec![
                ("state", "opened".into()),
                ("source_branch", "pushdeploy/app".into()),
                ("target_branch", "main".into())
            ]
        );
        assert_eq!(
            get_merge_request(repo, 4).path,
            "/projects/group%2Fsub%2Fdeploy/merge_requests/4"
        );
        let labels = vec!["deps".to_owned(), "bot".to_owned()];
        let proposal = super::super::Proposal {
            head: "pushdeploy/app",
            base: "main",
            title: "Update app",
            body: "text",
            labels: &labels,
            reviewers: &[],
            draft: true,
            auto_merge: false,
        };
        let call = create(repo, &proposal, "Draft: Update app");
        assert_eq!(
            (call.method, call.path.as_str()),
            (Method::POST, "/projects/group%2Fsub%2Fdeploy/merge_requests")
        );
        assert_eq!(
            call.body.unwrap(),
            json!({"source_branch": "pushdeploy/app", "target_branch": "main", "title": "Draft: Update app",
                   "description": "text", "labels": "deps,bot", "remove_source_branch": true})
        );
        let call = create(
            repo,
            &super::super::Proposal {
                labels: &[],
                ..proposal
            },
            "t",
        );
        assert!(call.body.unwrap().get("labels").is_none());
        let call = find_user("alice");
        assert_eq!(
            (call.method, call.path.as_str(), call.query),
            (Method::GET, "/users", vec![("username", "alice".into())])
        );
        let call = set_reviewers(repo, 4, &[7, 9]);
        assert_eq!(
            (call.method, call.path.as_str()),
            (Method::PUT, "/projects/group%2Fsub%2Fdeploy/merge_requests/4")
        );
        assert_eq!(call.body.unwrap(), json!({"reviewer_ids": [7, 9]}));
        let call = merge_when_pipeline_succeeds(repo, 4);
        assert_eq!(
            (call.method, call.path.as_str()),
            (
                Method::PUT,
                "/projects/group%2Fsub%2Fdeploy/merge_requests/4/merge"
            )
        );
        assert_eq!(call.body.unwrap(), json!({"merge_when_pipeline_succeeds": true}));
        let call = edit(repo, 4, "t", "b");
        assert_eq!(
            (call.method, call.path.as_str()),
            (Method::PUT, "/projects/group%2Fsub%2Fdeploy/merge_requests/4")
        );
        assert_eq!(call.body.unwrap(), json!({"title": "t", "description": "b"}));
    }

    #[test]
    fn states_map_from_opened_locked_merged_and_closed() {
        let cases = [
            ("opened", PullState::Open),
            ("locked", PullState::Open),
            ("merged", PullState::Merged),
            ("closed", PullState::Closed),
        ];
        for (state, expected) in cases {
            let pull = parse_merge_request(&merge_request_json(4, state)).unwrap();
            assert_eq!(pull.state, expected, "{state}");
            assert_eq!(pull.number, 4);
            assert_eq!(
                pull.url,
                "https://gitlab.example.com/group/sub/deploy/-/merge_requests/4"
            );
            assert_eq!(
                pull.head_sha.as_deref(),
                Some("8888888888888888888888888888888888888888")
            );
        }
        assert!(parse_merge_request(&merge_request_json(4, "reopened")).is_err());
    }

    #[test]
    fn the_open_list_yields_the_oldest_request_from_this_project() {
        let mut fork = merge_request_json(1, "opened");
        fork["source_project_id"] = json!(99);
        let list = json!([
            merge_request_json(8, "opened"),
            merge_request_json(6, "opened"),
            fork
        ]);
        assert_eq!(parse_open(&list).unwrap().map(|pull| pull.number), Some(6));
        assert_eq!(parse_open(&json!([])).unwrap(), None);
    }

    #[test]
    fn access_is_developer_or_more_by_project_or_group_and_names_the_fork_parent() {
        let project = |project: Value, group: Value, parent: Value| {
            json!({"id": 3, "path_with_namespace": "bot/deploy", "forked_from_project": parent,
                   "permissions": {"project_access": project, "group_access": group}})
        };
        let level = |level: u32| json!({"access_level": level, "notification_level": 3});
        let parent = json!({"id": 1, "path_with_namespace": "group/deploy"});
        let cases = [
            (
                project(level(30), Value::Null, parent.clone()),
                true,
                Some("group/deploy"),
            ),
            (project(level(20), Value::Null, Value::Null), false, None),
            (project(Value::Null, level(40), Value::Null), true, None),
            (project(level(10), level(20), Value::Null), false, None),
        ];
        for (value, can_push, fork_of) in cases {
            let access = parse_access(&value).unwrap();
            assert_eq!(
                (access.can_push, access.fork_of.as_deref()),
                (can_push, fork_of),
                "{value}"
            );
        }
    }

    #[test]
    fn a_user_name_resolves_to_the_first_listed_id() {
        let users = json!([{"id": 7, "username": "alice", "name": "Alice", "state": "active"}]);
        assert_eq!(parse_user_id(&users), Ok(Some(7)));
        assert_eq!(parse_user_id(&json!([])), Ok(None));
    }
}
