//! `/api/v1/policies`: list and read policies, promote, roll back, pin, resume, history.

use super::audit::{Audited, mutating};
use super::body::{BodyRejection, JsonBody};
use super::dto::{
    self, HistoryEntry, NoteResult, PolicyView, PromoteRequest, PromoteResult, RollbackRequest,
};
use super::openapi::answers::{
    BadGateway, Conflict, Forbidden, NotFound, Unauthorized, Unavailable, Unprocessable, UnsupportedMediaType,
};
use super::{engine, from_manual};
use crate::config::Scope;
use crate::domain::ObjectKey;
use crate::engine::Manual;
use crate::http::auth::Caller;
use crate::http::problem::ApiError;
use crate::http::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(super) fn routes(router: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    router
        .routes(routes!(list_policies))
        .routes(routes!(get_policy))
        .routes(routes!(promote))
        .routes(routes!(rollback))
        .routes(routes!(pin))
        .routes(routes!(resume))
        .routes(routes!(history))
}

fn policy_key(namespace: &str, name: &str) -> Result<ObjectKey, ApiError> {
    ObjectKey::from_parts(namespace, name)
        .map_err(|_| ApiError::NotFound(format!("no image policy {namespace}/{name}")))
}

/// Every image policy with its pick, the values in git and its pin.
#[utoipa::path(get, path = "/api/v1/policies", tag = "policies",
    responses(
        (status = 200, description = "The configured policies", body = [PolicyView]),
        Unauthorized,
        Unavailable,
    ))]
async fn list_policies(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<PolicyView>>, ApiError> {
    caller.require(Scope::Read)?;
    engine(&state)?
        .policies()
        .await
        .map(|policies| Json(dto::all(policies)))
        .map_err(|error| from_manual(error, "/"))
}

/// One image policy.
#[utoipa::path(get, path = "/api/v1/policies/{namespace}/{name}", tag = "policies",
    params(("namespace" = String, Path), ("name" = String, Path)),
    responses(
        (status = 200, description = "The policy", body = PolicyView),
        Unauthorized,
        NotFound,
        Unavailable,
    ))]
async fn get_policy(
    State(state): State<AppState>,
    caller: Caller,
    Path((namespace, name)): Path<(String, String)>,
) -> Result<Json<PolicyView>, ApiError> {
    caller.require(Scope::Read)?;
    let key = policy_key(&namespace, &name)?;
    engine(&state)?
        .policy_detail(&key)
        .await
        .map(|policy| Json(policy.into()))
        .map_err(|error| from_manual(error, "/"))
}

/// Deploy a tag now: it must exist in the registry and pass the policy's filter (unless
/// `force`). Commits and pushes before answering; pins the policy to the tag. Moving backwards
/// is allowed and reported as `direction: backward`.
#[utoipa::path(post, path = "/api/v1/policies/{namespace}/{name}/promote", tag = "policies",
    params(("namespace" = String, Path), ("name" = String, Path)),
    request_body = PromoteRequest,
    responses(
        (status = 200, description = "Written and pushed (or git already named the tag)", body = PromoteResult),
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        Unprocessable,
        UnsupportedMediaType,
        BadGateway,
        Unavailable,
    ))]
async fn promote(
    State(state): State<AppState>,
    caller: Caller,
    audited: Audited,
    Path((namespace, name)): Path<(String, String)>,
    input: Result<JsonBody<PromoteRequest>, BodyRejection>,
) -> Result<Json<PromoteResult>, ApiError> {
    let request = audited.with_body(&input);
    mutating(&state, &caller, request, Scope::Promote, async {
        let key = policy_key(&namespace, &name)?;
        let input = input?.value;
        engine(&state)?
            .promote(&key, &input.tag, input.force, &caller.token, Manual::Promote)
            .await
            .map(PromoteResult::from)
            .map_err(|error| from_manual(error, "/tag"))
    })
    .await
}

/// Go back to `to`, or by default to the tag deployed before the current one; pins.
#[utoipa::path(post, path = "/api/v1/policies/{namespace}/{name}/rollback", tag = "policies",
    params(("namespace" = String, Path), ("name" = String, Path)),
    request_body(content = Option<RollbackRequest>, description = "Optional; an empty body rolls back one deployment"),
    responses(
        (status = 200, description = "Written and pushed", body = PromoteResult),
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        Unprocessable,
        UnsupportedMediaType,
        BadGateway,
        Unavailable,
    ))]
async fn rollback(
    State(state): State<AppState>,
    caller: Caller,
    audited: Audited,
    Path((namespace, name)): Path<(String, String)>,
    input: Result<JsonBody<RollbackRequest>, BodyRejection>,
) -> Result<Json<PromoteResult>, ApiError> {
    let request = audited.with_body(&input);
    mutating(&state, &caller, request, Scope::Promote, async {
        let key = policy_key(&namespace, &name)?;
        let input = input?.value;
        engine(&state)?
            .rollback(&key, input.to, input.force, &caller.token)
            .await
            .map(PromoteResult::from)
            .map_err(|error| from_manual(error, "/to"))
    })
    .await
}

/// Pin the policy at the tag git names now: automation stops moving it.
#[utoipa::path(post, path = "/api/v1/policies/{namespace}/{name}/pin", tag = "policies",
    params(("namespace" = String, Path), ("name" = String, Path)),
    responses(
        (status = 200, description = "Pinned, and noted in git", body = NoteResult),
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        BadGateway,
        Unavailable,
    ))]
async fn pin(
    State(state): State<AppState>,
    caller: Caller,
    audited: Audited,
    Path((namespace, name)): Path<(String, String)>,
) -> Result<Json<NoteResult>, ApiError> {
    mutating(&state, &caller, audited, Scope::Promote, async {
        let key = policy_key(&namespace, &name)?;
        engine(&state)?
            .pin(&key, &caller.token)
            .await
            .map(NoteResult::from)
            .map_err(|error| from_manual(error, "/"))
    })
    .await
}

/// Unpin: automation takes over again at once and may move the policy forward.
#[utoipa::path(post, path = "/api/v1/policies/{namespace}/{name}/resume", tag = "policies",
    params(("namespace" = String, Path), ("name" = String, Path)),
    responses(
        (status = 200, description = "Unpinned; `decision` says what automation did", body = NoteResult),
        Unauthorized,
        Forbidden,
        NotFound,
        BadGateway,
        Unavailable,
    ))]
async fn resume(
    State(state): State<AppState>,
    caller: Caller,
    audited: Audited,
    Path((namespace, name)): Path<(String, String)>,
) -> Result<Json<NoteResult>, ApiError> {
    mutating(&state, &caller, audited, Scope::Promote, async {
        let key = policy_key(&namespace, &name)?;
        engine(&state)?
            .resume_policy(&key, &caller.token)
            .await
            .map(NoteResult::from)
            .map_err(|error| from_manual(error, "/"))
    })
    .await
}

/// Every deployed tag, newest first, from git history (commit trailers) and the journal.
#[utoipa::path(get, path = "/api/v1/policies/{namespace}/{name}/history", tag = "policies",
    params(("namespace" = String, Path), ("name" = String, Path)),
    responses(
        (status = 200, description = "Deployments, newest first", body = [HistoryEntry]),
        Unauthorized,
        NotFound,
        BadGateway,
        Unavailable,
    ))]
async fn history(
    State(state): State<AppState>,
    caller: Caller,
    Path((namespace, name)): Path<(String, String)>,
) -> Result<Json<Vec<HistoryEntry>>, ApiError> {
    caller.require(Scope::Read)?;
    let key = policy_key(&namespace, &name)?;
    engine(&state)?
        .history(&key)
        .await
        .map(|entries| Json(dto::all(entries)))
        .map_err(|error| from_manual(error, "/"))
}
