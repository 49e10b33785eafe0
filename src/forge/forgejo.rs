//! Forgejo and Gitea (one API, `/api/v1`): the calls of swagger's `repository` operations and
//! the parsing of their `Repository`, `PullRequest` and `Label` shapes. Labels are ids here, so
//! their names are resolved before a pull request is created; a draft is a `WIP: ` title.

use super::{
    Call, Forge, ForgeError, Missing, Opened, PullRequest, RepoAccess, draft_title, label, repos_path,
};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

/// Page size of list calls: Forgejo's and Gitea's default `MAX_RESPONSE_ITEMS`.
const PAGE: usize = 50;
/// Pages read at most (1000 open pull requests or labels).
const MAX_PAGES: usize = 20;

#[derive(Deserialize)]
struct Pull {
    number: u64,
    html_url: String,
    state: String,
    #[serde(default)]
    merged: bool,
    head: Branch,
    base: Branch,
}

#[derive(Deserialize)]
struct Branch {
    #[serde(rename = "ref")]
    name: String,
    sha: Option<String>,
    repo_id: Option<i64>,
}

#[derive(Deserialize)]
struct Label {
    id: i64,
    name: String,
}

// Forgejo/Gitea "repoListPullRequests": GET /repos/{owner}/{repo}/pulls?state=open&limit=&page=
fn list_open(repository: &str, page: usize) -> Call {
    Call::new(
        "list open pull requests",
        Method::GET,
        format!("{}/pulls", repos_path(repository)),
        Missing::Repository,
    )
    .query("state", "open")
    .query("limit", PAGE.to_string())
    .query("page", page.to_string())
}

fn parse_pull(value: &Value) -> Result<PullRequest, String> {
    let pull = Pull::deserialize(value).map_err(|error| format!("not a pull request: {error}"))?;
    to_pull_request(pull)
}

fn to_pull_request(pull: Pull) -> Result<PullRequest, String> {
    let state = super::pull_state(&pull.state, pull.merged, pull.number)?;
    Ok(PullRequest {
        number: pull.number,
        url: pull.html_url,
        state,
        head_sha: pull.head.sha,
    })
}

/// One page of open pull requests: how many it held, and the one from `head` into `base` with
/// the lowest number (a pull request from a fork's same-named branch has another `repo_id`).
fn parse_open_page(value: &Value, head: &str, base: &str) -> Result<(usize, Option<PullRequest>), String> {
    let pulls =
        Vec::<Pull>::deserialize(value).map_err(|error| format!("not a list of pull requests: {error}"))?;
    let count = pulls.len();
    let found = pulls
        .into_iter()
        .filter(|pull| pull.head.name == head && pull.base.name == base)
        .filter(|pull| match (pull.head.repo_id, pull.base.repo_id) {
            (Some(head_repo), Some(base_repo)) => head_repo == base_repo,
            _ => true,
        })
        .min_by_key(|pull| pull.number)
        .map(to_pull_request)
        .transpose()?;
    Ok((count, found))
}

// Forgejo/Gitea "repoGetPullRequest": GET /repos/{owner}/{repo}/pulls/{index}
fn get_pull(repository: &str, number: u64) -> Call {
    Call::new(
        "read the pull request",
        Method::GET,
        format!("{}/pulls/{number}", repos_path(repository)),
        Missing::Item,
    )
}

// Forgejo/Gitea "issueListLabels": GET /repos/{owner}/{repo}/labels?limit=&page=
fn list_labels(repository: &str, page: usize) -> Call {
    Call::new(
        "list labels",
        Method::GET,
        format!("{}/labels", repos_path(repository)),
        Missing::Repository,
    )
    .query("limit", PAGE.to_string())
    .query("page", page.to_string())
}

fn parse_labels(value: &Value) -> Result<Vec<(String, i64)>, String> {
    let labels =
        Vec::<Label>::deserialize(value).map_err(|error| format!("not a list of labels: {error}"))?;
    Ok(labels.into_iter().map(|label| (label.name, label.id)).collect())
}

// Forgejo/Gitea "repoCreatePullRequest": POST /repos/{owner}/{repo}/pulls (CreatePullRequestOption)
fn create(repository: &str, head: &str, base: &str, title: &str, body: &str, labels: &[i64]) -> Call {
    Call::new(
        "create the pull request",
        Method::POST,
        format!("{}/pulls", repos_path(repository)),
        Missing::Permission,
    )
    .body(json!({ "head": head, "base": base, "title": title, "body": body, "labels": labels }))
}

// Forgejo/Gitea "repoCreatePullReviewRequests": POST /repos/{owner}/{repo}/pulls/{index}/requested_reviewers
fn request_reviewers(repository: &str, number: u64, reviewers: &[String]) -> Call {
    let path = format!("{}/pulls/{number}/requested_reviewers", repos_path(repository));
    Call::new("request reviewers", Method::POST, path, Missing::Item).body(json!({ "reviewers": reviewers }))
}

// Forgejo/Gitea "repoMergePullRequest": POST /repos/{owner}/{repo}/pulls/{index}/merge (MergePullRequestOption).
// Forgejo's description spells the field `Do`, Gitea's (1.27) `do`; each is sent as its own
// document says (Go's JSON decoding would take either).
fn merge_when_checks_succeed(kind: super::ForgeKind, repository: &str, number: u64) -> Call {
    let path = format!("{}/pulls/{number}/merge", repos_path(repository));
    let field = if kind == super::ForgeKind::Gitea {
        "do"
    } else {
        "Do"
    };
    let mut body = serde_json::Map::new();
    body.insert(field.to_owned(), json!("merge"));
    body.insert("merge_when_checks_succeed".to_owned(), json!(true));
    Call::new("schedule the merge", Method::POST, path, Missing::Item).body(serde_json::Value::Object(body))
}

// Forgejo/Gitea "repoEditPullRequest": PATCH /repos/{owner}/{repo}/pulls/{index} (EditPullRequestOption)
fn edit(repository: &str, number: u64, title: &str, body: &str) -> Call {
    let path = format!("{}/pulls/{number}", repos_path(repository));
    Call::new("update the pull request", Method::PATCH, path, Missing::Item)
        .body(json!({ "title": title, "body": body }))
}

/// The ids of `names` (in their order), or the first name the repository has no label for.
fn label_ids(known: &[(String, i64)], names: &[String]) -> Result<Vec<i64>, String> {
    names
        .iter()
        .map(|name| {
            known
                .iter()
                .find(|(known, _)| known == name)
                .map(|(_, id)| *id)
                .ok_or_else(|| name.clone())
        })
        .collect()
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
    let mut oldest: Option<PullRequest> = None;
    for page in 1..=MAX_PAGES {
        let call = list_open(&forge.api.repository, page);
        let (count, found) = forge
            .call(&call, |value| parse_open_page(value, head, base))
            .await?;
        if let Some(found) = found
            && oldest.as_ref().is_none_or(|oldest| found.number < oldest.number)
        {
            oldest = Some(found);
        }
        if count < PAGE {
            break;
        }
    }
    Ok(oldest)
}

pub(super) async fn get(forge: &Forge, number: u64) -> Result<PullRequest, ForgeError> {
    forge
        .call(&get_pull(&forge.api.repository, number), parse_pull)
        .await
}

async fn resolve_labels(forge: &Forge, names: &[String]) -> Result<Vec<i64>, ForgeError> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let mut known = Vec::new();
    for page in 1..=MAX_PAGES {
        let labels = forge
            .call(&list_labels(&forge.api.repository, page), parse_labels)
            .await?;
        let count = labels.len();
        known.extend(labels);
        if count < PAGE {
            break;
        }
    }
    label_ids(&known, names).map_err(|missing| ForgeError::Refused {
        forge: label(&forge.api),
        operation: "create the pull request",
        // What the forge itself answers a pull request with a label id it does not know.
        status: 422,
        message: format!(
            "{} has no label {missing:?}; create label {missing:?} in the repository or remove it from pullRequest.labels",
            forge.api.repository
        ),
    })
}

pub(super) async fn open(forge: &Forge, proposal: &super::Proposal<'_>) -> Result<Opened, ForgeError> {
    let repository = &forge.api.repository;
    let labels = resolve_labels(forge, proposal.labels).await?;
    let title = draft_title(forge.api.kind, proposal.title, proposal.draft);
    let create = create(
        repository,
        proposal.head,
        proposal.base,
        &title,
        proposal.body,
        &labels,
    );
    let pull = forge.call(&create, parse_pull).await?;
    let mut warnings = Vec::new();
    if !proposal.reviewers.is_empty()
        && let Err(error) = forge
            .send(&request_reviewers(repository, pull.number, proposal.reviewers))
            .await
    {
        warnings.push(format!("reviewers were not requested: {error}"));
    }
    if proposal.auto_merge
        && let Err(error) = forge
            .send(&merge_when_checks_succeed(
                forge.api.kind,
                repository,
                pull.number,
            ))
            .await
    {
        warnings.push(format!("auto-merge was not enabled: {error}"));
    }
    Ok(Opened { pull, warnings })
}

pub(super) async fn update(
    forge: &Forge,
    number: u64,
    title: &str,
    body: &str,
) -> Result<PullRequest, ForgeError> {
    forge
        .call(&edit(&forge.api.repository, number, title, body), parse_pull)
        .await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    // The repository call and answer are shared with the other forge modules.
    use crate::forge::{PullState, get_repository, parse_access};

    // Trimmed from Forgejo's swagger `PullRequest` example (and a Gitea 1.22 answer).
    fn pull_json(number: u64, state: &str, merged: bool, head: &str, base: &str) -> Value {
        json!({
            "id": 7, "number": number, "state": state, "merged": merged, "title": "Update app",
            "html_url": format!("https://codeberg.org/acme/deploy/pulls/{number}"),
            "head": { "label": head, "ref": head, "sha": "4b825dc642cb6eb9a060e54bf8d69288fbee4904", "repo_id": 9 },
            "base": { "label": base, "ref": base, "sha": "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391", "repo_id": 9 },
            "mergeable": true, "merged_at": null
        })
    }

    #[test]
    fn each_call_is_the_documented_method_path_query_and_body() {
        let repo = "acme/deploy";
        let call = get_repository(repo);
        assert_eq!(
            (call.method, call.path.as_str(), call.missing),
            (Method::GET, "/repos/acme/deploy", Missing::Repository)
        );
        let call = list_open(repo, 2);
        assert_eq!(call.path, "/repos/acme/deploy/pulls");
        assert_eq!(
            call.query,
            vec![
                ("state", "open".into()),
                ("limit", "50".into()),
                ("page", "2".into())
            ]
        );
        assert_eq!(get_pull(repo, 12).path, "/repos/acme/deploy/pulls/12");
        let call = list_labels(repo, 1);
        assert_eq!(
            (call.path.as_str(), call.query.clone()),
            (
                "/repos/acme/deploy/labels",
                vec![("limit", "50".into()), ("page", "1".into())]
            )
        );
        let call = create(repo, "pushdeploy/app", "main", "WIP: Update app", "text", &[3, 5]);
        assert_eq!(
            (call.method, call.path.as_str()),
            (Method::POST, "/repos/acme/deploy/pulls")
        );
        assert_eq!(
            call.body.unwrap(),
            json!({"head": "pushdeploy/app", "base": "main", "title": "WIP: Update app", "body": "text", "labels": [3, 5]})
        );
        let call = request_reviewers(repo, 12, &["alice".to_owned()]);
        assert_eq!(
            (call.method, call.path.as_str()),
            (Method::POST, "/repos/acme/deploy/pulls/12/requested_reviewers")
        );
        assert_eq!(call.body.unwrap(), json!({"reviewers": ["alice"]}));
        let call = merge_when_checks_succeed(crate::forge::ForgeKind::Forgejo, repo, 12);
        assert_eq!(
            (call.method, call.path.as_str()),
            (Method::POST, "/repos/acme/deploy/pulls/12/merge")
        );
        assert_eq!(
            call.body.unwrap(),
            json!({"Do": "merge", "merge_when_checks_succeed": true})
        );
        let call = edit(repo, 12, "t", "b");
        assert_eq!(
            (call.method, call.path.as_str()),
            (Method::PATCH, "/repos/acme/deploy/pulls/12")
        );
        assert_eq!(call.body.unwrap(), json!({"title": "t", "body": "b"}));
    }

    #[test]
    fn names_with_odd_characters_cannot_add_path_segments() {
        assert_eq!(get_repository("ac me/de?ploy").path, "/repos/ac%20me/de%3Fploy");
    }

    #[test]
    fn states_map_from_state_and_the_merged_flag() {
        let cases = [
            ("open", false, PullState::Open),
            ("closed", false, PullState::Closed),
            ("closed", true, PullState::Merged),
        ];
        for (state, merged, expected) in cases {
            let pull = parse_pull(&pull_json(4, state, merged, "h", "main")).unwrap();
            assert_eq!(pull.state, expected, "{state} merged={merged}");
            assert_eq!(pull.url, "https://codeberg.org/acme/deploy/pulls/4");
            assert_eq!(
                pull.head_sha.as_deref(),
                Some("4b825dc642cb6eb9a060e54bf8d69288fbee4904")
            );
        }
        assert!(parse_pull(&pull_json(4, "draft", false, "h", "main")).is_err());
        assert!(parse_pull(&json!({"message": "hi"})).is_err());
    }

    #[test]
    fn the_open_page_yields_the_oldest_request_from_head_into_base_of_this_repository() {
        let mut fork = pull_json(1, "open", false, "pushdeploy/app", "main");
        fork["head"]["repo_id"] = json!(77);
        let page = json!([
            pull_json(9, "open", false, "pushdeploy/app", "main"),
            pull_json(5, "open", false, "pushdeploy/app", "main"),
            pull_json(3, "open", false, "pushdeploy/app", "release"),
            pull_json(2, "open", false, "other", "main"),
            fork,
        ]);
        let (count, found) = parse_open_page(&page, "pushdeploy/app", "main").unwrap();
        assert_eq!((count, found.map(|pull| pull.number)), (5, Some(5)));
        assert_eq!(parse_open_page(&json!([]), "h", "main").unwrap(), (0, None));
    }

    #[test]
    fn access_reads_push_permission_and_the_parent_of_a_fork() {
        let value = json!({
            "id": 9, "full_name": "bot/deploy", "fork": true, "private": false,
            "parent": { "id": 3, "full_name": "acme/deploy", "fork": false },
            "permissions": { "admin": false, "push": true, "pull": true }
        });
        assert_eq!(
            parse_access(&value).unwrap(),
            RepoAccess {
                can_push: true,
                fork_of: Some("acme/deploy".into())
            }
        );
        let value = json!({"id": 3, "full_name": "acme/deploy", "fork": false, "parent": null,
            "permissions": {"admin": false, "push": false, "pull": true}});
        assert_eq!(
            parse_access(&value).unwrap(),
            RepoAccess {
                can_push: false,
                fork_of: None
            }
        );
    }

    #[test]
    fn label_names_map_to_ids_and_an_unknown_name_is_named() {
        let known = parse_labels(&json!([
            {"id": 3, "name": "automerge", "color": "00aabb", "description": "", "exclusive": false},
            {"id": 5, "name": "kind/deps", "color": "ee0701", "description": ""}
        ]))
        .unwrap();
        assert_eq!(
            label_ids(&known, &["kind/deps".into(), "automerge".into()]),
            Ok(vec![5, 3])
        );
        assert_eq!(
            label_ids(&known, &["automerge".into(), "nope".into()]),
            Err("nope".into())
        );
    }
}
