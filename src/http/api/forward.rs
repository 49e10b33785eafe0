//! Replicas sharing a journal: a mutating API call on a policy, automation or repository whose
//! shard another replica owns is forwarded to that owner, once this replica has checked the
//! token (an unauthenticated call costs nothing more than it did), and the owner's answer is
//! returned as it is. So every replica serves every route; the owner audits the call. So are
//! the reads of one policy (`GET …/{namespace}/{name}` and its `history`): only the owner scans
//! the policy's repository, so only its answer has the newest tag. The list `GET
//! /api/v1/policies` is merged: each policy another replica owns comes from that owner's own
//! list (one request per owner); an owner that does not answer leaves this replica's entry with
//! a `last_error` saying so. `/status` is each replica's own view, and says what it owns.
//!
//! Not forwarded, and so answered here by the handler: a call this replica owns (or when alone),
//! a call without a valid token (401), a call already forwarded once (the owner changed on the
//! way: 503 naming the shard, retry), and a call whose shard nobody holds at this moment (503).

use super::super::auth::ApiTokens;
use super::super::problem::ApiError;
use super::super::state::AppState;
use crate::domain::ObjectKey;
use crate::ownership::Subject;
use axum::body::Body;
use axum::extract::{FromRef, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::LazyLock;
use std::time::Duration;

/// Marks a forwarded call (its value: the forwarding replica's name); never forwarded again.
pub const FORWARDED_BY: &str = "x-pushdeploy-forwarded-by";

/// Requests to other replicas: short connect timeout (a dead owner must not hold the caller),
/// no proxy from the environment, no redirects.
static CLIENT: LazyLock<Result<reqwest::Client, String>> = LazyLock::new(|| {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(2))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .map_err(|error| error.to_string())
});

/// What a forwardable route acts on: a mutating route's policy, automation or repository, or
/// the policy a one-policy read is about.
fn subject(method: &Method, path: &str, state: &AppState) -> Option<Subject> {
    let parts: Vec<&str> = path.strip_prefix("/api/v1/")?.split('/').collect();
    if method == Method::GET {
        return match parts[..] {
            ["policies", namespace, name] | ["policies", namespace, name, "history"] => {
                ObjectKey::from_parts(namespace, name).ok().map(Subject::Policy)
            }
            _ => None,
        };
    }
    if method != Method::POST {
        return None;
    }
    match parts[..] {
        [
            "policies",
            namespace,
            name,
            "promote" | "rollback" | "pin" | "resume",
        ] => ObjectKey::from_parts(namespace, name).ok().map(Subject::Policy),
        ["repositories", namespace, name, "scan"] => ObjectKey::from_parts(namespace, name)
            .ok()
            .map(Subject::Repository),
        ["automations", name, "suspend" | "resume"] => state
            .engine
            .as_ref()?
            .automation_key(name)
            .map(Subject::Automation),
        _ => None,
    }
}

pub(super) async fn to_owner(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(engine) = state.engine.clone() else {
        return next.run(request).await;
    };
    if !engine.ownership.is_shared() || request.headers().contains_key(FORWARDED_BY) {
        return next.run(request).await;
    }
    if request.method() == Method::GET && request.uri().path() == "/api/v1/policies" {
        return merged_policies(&state, &engine, request, next).await;
    }
    let Some(subject) = subject(request.method(), request.uri().path(), &state) else {
        return next.run(request).await;
    };
    if engine.ownership.owns_subject(&subject) {
        return next.run(request).await;
    }
    if ApiTokens::from_ref(&state).caller(request.headers()).is_err() {
        return next.run(request).await;
    }
    let Some(owner) = engine.ownership.owner_url(&subject).await else {
        return next.run(request).await;
    };
    forward(&state, &owner, engine.ownership.replica(), request).await
}

/// `GET /api/v1/policies` across replicas: this replica's list, with each policy another
/// replica owns replaced by the owner's entry.
async fn merged_policies(
    state: &AppState,
    engine: &std::sync::Arc<crate::engine::Engine>,
    request: Request,
    next: Next,
) -> Response {
    let authorization = request.headers().get(header::AUTHORIZATION).cloned();
    let local = next.run(request).await;
    if local.status() != StatusCode::OK {
        return local;
    }
    let (parts, body) = local.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return ApiError::Internal("the policy list could not be read back".to_owned()).into_response();
    };
    let Ok(mut list) = serde_json::from_slice::<Vec<serde_json::Value>>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    let key_of = |entry: &serde_json::Value| {
        ObjectKey::from_parts(entry["namespace"].as_str()?, entry["name"].as_str()?).ok()
    };
    let keys: Vec<ObjectKey> = list.iter().filter_map(key_of).collect();
    let owners = engine.ownership.owners_of_policies(&keys).await;
    let mut answers: std::collections::BTreeMap<&str, Result<Vec<serde_json::Value>, String>> =
        std::collections::BTreeMap::new();
    for owner in owners.values() {
        if answers.contains_key(owner.as_str()) {
            continue;
        }
        let answer = owner_list(state, owner, authorization.as_ref(), engine.ownership.replica()).await;
        answers.insert(owner, answer);
    }
    for entry in &mut list {
        let Some(key) = key_of(entry) else { continue };
        let Some(owner) = owners.get(&key) else { continue };
        match &answers[owner.as_str()] {
            Ok(theirs) => {
                if let Some(found) = theirs.iter().find(|other| key_of(other).as_ref() == Some(&key)) {
                    *entry = found.clone();
                }
            }
            Err(error) => {
                entry["last_error"] = serde_json::Value::String(format!(
                    "owned by the replica at {owner}, which did not answer ({error}); this entry is this replica's view, without the newest tags"
                ));
            }
        }
    }
    let body = serde_json::to_vec(&list).unwrap_or_default();
    let mut response = Response::from_parts(parts, Body::from(body));
    response.headers_mut().remove(header::CONTENT_LENGTH);
    response
}

/// `owner`'s own policy list (marked forwarded: it answers without merging in turn).
async fn owner_list(
    state: &AppState,
    owner: &str,
    authorization: Option<&HeaderValue>,
    replica: &str,
) -> Result<Vec<serde_json::Value>, String> {
    let client = CLIENT.as_ref().map_err(Clone::clone)?;
    let mut request = client
        .get(format!("{owner}/api/v1/policies"))
        .timeout(state.settings.server.limits.request_timeout)
        .header(FORWARDED_BY, replica);
    if let Some(value) = authorization {
        request = request.header(header::AUTHORIZATION, value);
    }
    let answer = request.send().await.map_err(|error| error.to_string())?;
    if !answer.status().is_success() {
        return Err(format!("it answered {}", answer.status()));
    }
    answer.json().await.map_err(|error| error.to_string())
}

/// Send `request` to `owner` and answer with what it answered.
async fn forward(state: &AppState, owner: &str, replica: &str, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let limit = state.settings.intake.body_limit;
    let Ok(body) = axum::body::to_bytes(body, limit).await else {
        // As the body extractor answers a body it cannot read.
        return ApiError::Validation {
            field: "/",
            message: format!(
                "cannot read the request body: it is larger than intake.bodyLimit ({limit} bytes)"
            ),
        }
        .into_response();
    };
    let client = match &*CLIENT {
        Ok(client) => client,
        Err(error) => {
            return ApiError::Unavailable(format!("cannot forward to the owning replica: {error}"))
                .into_response();
        }
    };
    let path = parts.uri.path_and_query().map_or("/", |path| path.as_str());
    let mut outgoing = client
        .request(parts.method.clone(), format!("{owner}{path}"))
        .timeout(state.settings.server.limits.request_timeout)
        .header(FORWARDED_BY, replica)
        .body(body);
    for name in [header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT] {
        if let Some(value) = parts.headers.get(&name) {
            outgoing = outgoing.header(name, value);
        }
    }
    metrics::counter!("pushdeploy_api_forwarded_total").increment(1);
    let answer = match outgoing.send().await {
        Ok(answer) => answer,
        Err(error) => {
            tracing::warn!(%owner, %error, "the owning replica did not answer a forwarded API call");
            return ApiError::Unavailable(format!(
                "the replica that owns this ({owner}) did not answer; retry (ownership moves within seconds when a replica dies)"
            ))
            .into_response();
        }
    };
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let content_type = answer.headers().get(header::CONTENT_TYPE).cloned();
    let retry_after = answer.headers().get(header::RETRY_AFTER).cloned();
    let Ok(bytes) = answer.bytes().await else {
        return ApiError::Upstream(format!(
            "the owning replica ({owner}) broke off its answer; retry"
        ))
        .into_response();
    };
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    for (name, value) in [
        (header::CONTENT_TYPE, content_type),
        (header::RETRY_AFTER, retry_after),
    ] {
        if let Some(value) = value {
            response.headers_mut().insert(name, value);
        }
    }
    response
}
