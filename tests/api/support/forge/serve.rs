//! The fallback handler: every request is checked in order (auth and platform headers, the
//! hand-checked GraphQL endpoint, the published description, `deny`/`rate_limit`), then
//! dispatched to the platform and its answer checked against the description.

use super::reply::{Answer, Reply, error, rate_limited};
use super::state::ForgeState;
use super::{ForgeKind, Recorded, Shared, gitea::gitea, github::github, github::graphql, gitlab::gitlab};
use crate::support::openapi::{Document, Operation};
use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

pub(super) async fn handle(
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
pub(super) fn refusal(state: &mut ForgeState) -> Option<Reply> {
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
                crate::support::openapi::percent_decode(key, true),
                crate::support::openapi::percent_decode(value, true),
            )
        })
        .collect()
}

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
