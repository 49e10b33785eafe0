//! GitHub (and GitHub Enterprise Server) REST API 2022-11-28: the calls of the "Repositories",
//! "Pulls" and "Issues/Labels" operations, and the one GraphQL mutation REST lacks (auto-merge).
//! A draft is the `draft` flag; labels and reviewers are names.

use super::{Call, Forge, ForgeError, Missing, Opened, PullRequest, RepoAccess, repos_path};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

const AUTO_MERGE: &str =
    "mutation($id: ID!) { enablePullRequestAutoMerge(input: {pullRequestId: $id}) { clientMutationId } }";

#[derive(Deserialize)]
struct Pull {
    number: u64,
    html_url: String,
    state: String,
    /// Only in the single pull request's answer; lists have `merged_at` alone.
    merged: Option<bool>,
    merged_at: Option<String>,
    head: Head,
    node_id: Option<String>,
}

#[derive(Deserialize)]
struct Head {
    sha: Option<String>,
}

/// A pull request and its GraphQL id (what the auto-merge mutation takes).
struct Parsed {
    pull: PullRequest,
    node_id: Option<String>,
}

/// GitHub.com's GraphQL endpoint, or GHES's `{origin}/api/graphql` for a `{origin}/api/v3` base.
fn graphql_url(base: &str) -> String {
    let base = base.trim_end_matches('/');
    match base.strip_suffix("/api/v3") {
        Some(origin) => format!("{origin}/api/graphql"),
        None => format!("{base}/graphql"),
    }
}

// GitHub REST "List pull requests": GET /repos/{owner}/{repo}/pulls?state=open&head={owner}:{ref}&base=
fn list_open(repository: &str, head: &str, base: &str) -> Call {
    let owner = repository.split_once('/').map_or(repository, |(owner, _)| owner);
    Call::new(
        "list open pull requests",
        Method::GET,
        format!("{}/pulls", repos_path(repository)),
        Missing::Repository,
    )
    .query("state", "open")
    .query("head", format!("{owner}:{head}"))
    .query("base", base)
    .query("per_page", "100")
}

fn parse_pull(value: &Value) -> Result<Parsed, String> {
    let pull = Pull::deserialize(value).map_err(|error| format!("not a pull request: {error}"))?;
    let merged = pull.merged.unwrap_or(pull.merged_at.is_some());
    let state = super::pull_state(&pull.state, merged, pull.number)?;
    Ok(Parsed {
        pull: PullRequest {
            number: pull.number,
            url: pull.html_url,
            state,
            head_sha: pull.head.sha,
        },
        node_id: pull.node_id,
    })
}

/// The oldest of the listed pull requests (the query already picked head and base).
fn parse_open(value: &Value) -> Result<Option<PullRequest>, String> {
    let items = value.as_array().ok_or("not a list of pull requests")?;
    let pulls = items.iter().map(parse_pull).collect::<Result<Vec<_>, _>>()?;
    Ok(pulls
        .into_iter()
        .map(|parsed| parsed.pull)
        .min_by_key(|pull| pull.number))
}

// GitHub REST "Get a pull request": GET /repos/{owner}/{repo}/pulls/{pull_number}
fn get_pull(repository: &str, number: u64) -> Call {
    Call::new(
        "read the pull request",
        Method::GET,
        format!("{}/pulls/{number}", repos_path(repository)),
        Missing::Item,
    )
}

// GitHub REST "Create a pull request": POST /repos/{owner}/{repo}/pulls
fn create(repository: &str, proposal: &super::Proposal<'_>) -> Call {
    Call::new(
        "create the pull request",
        Method::POST,
        format!("{}/pulls", repos_path(repository)),
        Missing::Permission,
    )
    .body(json!({
        "title": proposal.title,
        "head": proposal.head,
        "base": proposal.base,
        "body": proposal.body,
        "draft": proposal.draft,
    }))
}

// GitHub REST "Add labels to an issue": POST /repos/{owner}/{repo}/issues/{issue_number}/labels
fn add_labels(repository: &str, number: u64, labels: &[String]) -> Call {
    let path = format!("{}/issues/{number}/labels", repos_path(repository));
    Call::new("add labels", Method::POST, path, Missing::Permission).body(json!({ "labels": labels }))
}

// GitHub REST "Request reviewers for a pull request":
// POST /repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers
fn request_reviewers(repository: &str, number: u64, reviewers: &[String]) -> Call {
    let path = format!("{}/pulls/{number}/requested_reviewers", repos_path(repository));
    Call::new("request reviewers", Method::POST, path, Missing::Permission)
        .body(json!({ "reviewers": reviewers }))
}

// GitHub GraphQL mutation "enablePullRequestAutoMerge": POST {graphql_url}
fn enable_auto_merge(base: &str, node_id: &str) -> Call {
    Call::new(
        "enable auto-merge",
        Method::POST,
        graphql_url(base),
        Missing::Permission,
    )
    .body(json!({ "query": AUTO_MERGE, "variables": { "id": node_id } }))
}

/// GraphQL answers 200 with `errors` when a mutation fails: their messages, if any.
fn graphql_errors(value: &Value) -> Option<String> {
    let errors = value.get("errors")?.as_array()?;
    let messages: Vec<&str> = errors
        .iter()
        .filter_map(|error| error.get("message")?.as_str())
        .collect();
    match (errors.is_empty(), messages.is_empty()) {
        (true, _) => None,
        (false, true) => Some("the GraphQL answer holds errors without a message".to_owned()),
        (false, false) => Some(super::error::cut(messages.join("; "))),
    }
}

// GitHub REST "Update a pull request": PATCH /repos/{owner}/{repo}/pulls/{pull_number}
fn edit(repository: &str, number: u64, title: &str, body: &str) -> Call {
    let path = format!("{}/pulls/{number}", repos_path(repository));
    Call::new("update the pull request", Method::PATCH, path, Missing::Item)
        .body(json!({ "title": title, "body": body }))
}

pub(super) async fn access(forge: &Forge) -> Result<RepoAccess, ForgeError> {
    forge
        .call(&super::get_repository(&forge.api.repository), super::parse_access)
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

pub(super) async fn get(forge: &Forge, number: u64) -> Result<PullRequest, ForgeError> {
    let parsed = forge
        .call(&get_pull(&forge.api.repository, number), parse_pull)
        .await?;
    Ok(parsed.pull)
}

pub(super) async fn open(forge: &Forge, proposal: &super::Proposal<'_>) -> Result<Opened, ForgeError> {
    let repository = &forge.api.repository;
    let Parsed { pull, node_id } = forge.call(&create(repository, proposal), parse_pull).await?;
    let mut warnings = Vec::new();
    if !proposal.labels.is_empty()
        && let Err(error) = forge
            .send(&add_labels(repository, pull.number, proposal.labels))
            .await
    {
        warnings.push(format!("labels were not added: {error}"));
    }
    if !proposal.reviewers.is_empty()
        && let Err(error) = forge
            .send(&request_reviewers(repository, pull.number, proposal.reviewers))
            .await
    {
        warnings.push(format!("reviewers were not requested: {error}"));
    }
    if proposal.auto_merge {
        let outcome = match node_id {
            Some(node_id) => match forge.send(&enable_auto_merge(&forge.api.base, &node_id)).await {
                Ok(answer) => graphql_errors(&answer.body).map_or(Ok(()), Err),
                Err(error) => Err(error.to_string()),
            },
            None => Err("the created pull request has no node_id".to_owned()),
        };
        if let Err(text) = outcome {
            warnings.push(format!("auto-merge was not enabled: {text}"));
        }
    }
    Ok(Opened { pull, warnings })
}

pub(super) async fn update(
    forge: &Forge,
    number: u64,
    title: &str,
    body: &str,
) -> Result<PullRequest, ForgeError> {
    let parsed = forge
        .call(&edit(&forge.api.repository, number, title, body), parse_pull)
        .await?;
    Ok(parsed.pull)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    // The repository call and answer are shared with the other forge modules.
    use crate::forge::{PullState, get_repository, parse_access};

    // Trimmed from the "Get a pull request" example of github/rest-api-description.
    fn pull_json(state: &str, merged: Option<bool>, merged_at: Option<&str>) -> Value {
        let mut value = json!({
            "url": "https://api.github.com/repos/octocat/Hello-World/pulls/1347",
            "id": 1, "node_id": "MDExOlB1bGxSZXF1ZXN0MQ==", "number": 1347, "state": state, "locked": true,
            "html_url": "https://github.com/octocat/Hello-World/pull/1347",
            "title": "Amazing new feature", "body": "Please pull these awesome changes in!",
            "merged_at": merged_at, "draft": false,
            "head": { "label": "octocat:new-topic", "ref": "new-topic", "sha": "6dcb09b5b57875f334f61aebed695e2e4193db5e" },
            "base": { "label": "octocat:master", "ref": "master", "sha": "6dcb09b5b57875f334f61aebed695e2e4193db5e" }
        });
        if let Some(merged) = merged {
            value["merged"] = json!(merged);
        }
        value
    }

    fn proposal<'a>(labels: &'a [String]) -> super::super::Proposal<'a> {
        super::super::Proposal {
            head: "pushdeploy/app",
            base: "main",
            title: "Update app",
            body: "text",
            labels,
            reviewers: labels,
            draft: true,
            auto_merge: true,
        }
    }

    #[test]
    fn each_call_is_the_documented_method_path_query_and_body() {
        let repo = "octocat/Hello-World";
        assert_eq!(get_repository(repo).path, "/repos/octocat/Hello-World");
        let call = list_open(repo, "pushdeploy/app", "main");
        assert_eq!(
            (call.method.clone(), call.path.as_str()),
            (Method::GET, "/repos/octocat/Hello-World/pulls")
        );
        assert_eq!(
            call.query,
            vec![
                ("state", "open".into()),
                ("head", "octocat:pushdeploy/app".into()),
                ("base", "main".into()),
                ("per_page", "100".into())
            ]
        );
        assert_eq!(get_pull(repo, 1347).path, "/repos/octocat/Hello-World/pulls/1347");
        let call = create(repo, &proposal(&[]));
        assert_eq!(
            (call.method, call.path.as_str()),
            (Method::POST, "/repos/octocat/Hello-World/pulls")
        );
        assert_eq!(
            call.body.unwrap(),
            json!({"title": "Update app", "head": "pushdeploy/app", "base": "main", "body": "text", "draft": true})
        );
        let names = vec!["deps".to_owned()];
        let call = add_labels(repo, 1347, &names);
        assert_eq!(
            (call.method, call.path.as_str()),
            (Method::POST, "/repos/octocat/Hello-World/issues/1347/labels")
        );
        assert_eq!(call.body.unwrap(), json!({"labels": ["deps"]}));
        let call = request_reviewers(repo, 1347, &names);
        assert_eq!(
            call.path,
            "/repos/octocat/Hello-World/pulls/1347/requested_reviewers"
        );
        assert_eq!(call.body.unwrap(), json!({"reviewers": ["deps"]}));
        let call = edit(repo, 1347, "t", "b");
        assert_eq!(
            (call.method, call.path.as_str()),
            (Method::PATCH, "/repos/octocat/Hello-World/pulls/1347")
        );
        assert_eq!(call.body.unwrap(), json!({"title": "t", "body": "b"}));
    }

    #[test]
    fn auto_merge_is_the_graphql_mutation_on_the_right_endpoint() {
        let call = enable_auto_merge("https://api.github.com", "PR_kwDO");
        assert_eq!(
            (call.method, call.path.as_str()),
            (Method::POST, "https://api.github.com/graphql")
        );
        assert_eq!(
            call.body.unwrap(),
            json!({"query": AUTO_MERGE, "variables": {"id": "PR_kwDO"}})
        );
        assert_eq!(
            graphql_url("https://ghe.example.com/api/v3"),
            "https://ghe.example.com/api/graphql"
        );
        assert_eq!(
            graphql_errors(&json!({"data": {"enablePullRequestAutoMerge": {"clientMutationId": null}}})),
            None
        );
        let refused = json!({"data": {"enablePullRequestAutoMerge": null}, "errors": [
            {"type": "UNPROCESSABLE", "path": ["enablePullRequestAutoMerge"],
             "message": "Pull request Auto merge is not allowed for this repository"}]});
        assert_eq!(
            graphql_errors(&refused).as_deref(),
            Some("Pull request Auto merge is not allowed for this repository")
        );
    }

    #[test]
    fn states_map_from_state_merged_and_merged_at() {
        let cases = [
            (pull_json("open", Some(false), None), PullState::Open),
            (pull_json("closed", Some(false), None), PullState::Closed),
            (
                pull_json("closed", Some(true), Some("2011-01-26T19:01:12Z")),
                PullState::Merged,
            ),
            // Lists carry no `merged`: `merged_at` decides.
            (
                pull_json("closed", None, Some("2011-01-26T19:01:12Z")),
                PullState::Merged,
            ),
            (pull_json("closed", None, None), PullState::Closed),
        ];
        for (value, expected) in cases {
            let parsed = parse_pull(&value).unwrap();
            assert_eq!(parsed.pull.state, expected, "{value}");
            assert_eq!(parsed.pull.number, 1347);
            assert_eq!(
                parsed.pull.url,
                "https://github.com/octocat/Hello-World/pull/1347"
            );
            assert_eq!(
                parsed.pull.head_sha.as_deref(),
                Some("6dcb09b5b57875f334f61aebed695e2e4193db5e")
            );
            assert_eq!(parsed.node_id.as_deref(), Some("MDExOlB1bGxSZXF1ZXN0MQ=="));
        }
        assert!(parse_pull(&pull_json("weird", None, None)).is_err());
    }

    #[test]
    fn the_open_list_yields_its_oldest_request_or_none() {
        let mut newer = pull_json("open", None, None);
        newer["number"] = json!(1400);
        assert_eq!(
            parse_open(&json!([newer, pull_json("open", None, None)]))
                .unwrap()
                .map(|pull| pull.number),
            Some(1347)
        );
        assert_eq!(parse_open(&json!([])).unwrap(), None);
        assert!(parse_open(&json!({"message": "Not Found"})).is_err());
    }

    #[test]
    fn access_reads_push_permission_and_the_parent_of_a_fork() {
        let value = json!({"id": 1296269, "full_name": "bot/Hello-World", "fork": true,
            "parent": {"id": 1, "full_name": "octocat/Hello-World"},
            "permissions": {"admin": false, "maintain": false, "push": true, "triage": false, "pull": true}});
        assert_eq!(
            parse_access(&value).unwrap(),
            RepoAccess {
                can_push: true,
                fork_of: Some("octocat/Hello-World".into())
            }
        );
        let value = json!({"id": 1296269, "full_name": "octocat/Hello-World", "fork": false,
            "permissions": {"admin": false, "push": false, "pull": true}});
        assert_eq!(
            parse_access(&value).unwrap(),
            RepoAccess {
                can_push: false,
                fork_of: None
            }
        );
    }
}
