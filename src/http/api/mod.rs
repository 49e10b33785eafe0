//! The REST API under `/api/v1`: policies, promotion, rollback, pins, history, events, scans
//! and automations. Handlers check the caller's scope, then ask the engine; every mutating
//! call leaves an audit entry. The routes and `openapi.yaml` come from the same annotations
//! (utoipa-axum), so the spec cannot drift from the router.

pub mod auth;

use super::problem::{ApiError, Problem};
use super::refusals::{Sampled, refused, truncated};
use super::state::AppState;
use crate::config::Scope;
use crate::domain::ObjectKey;
use crate::engine::views::{
    AutomationView, HistoryEntry, NoteResult, PolicyView, PromoteRequest, PromoteResult, RollbackRequest,
    ScanView,
};
use crate::engine::{Engine, Manual, ManualError};
use crate::journal::{Event, State as EventState};
use auth::Caller;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The error answers, one type per status, listed by name in each operation's `responses(...)`.
/// Never constructed: they only describe `ApiError`'s problem bodies to the spec.
#[allow(dead_code)]
mod answers {
    use super::Problem;
    use utoipa::IntoResponses;

    /// No token, or an unknown one (`unauthorized`).
    #[derive(IntoResponses)]
    #[response(status = 401, content_type = "application/problem+json")]
    pub struct Unauthorized(Problem);

    /// The token's scope is too small for this call (`forbidden`).
    #[derive(IntoResponses)]
    #[response(status = 403, content_type = "application/problem+json")]
    pub struct Forbidden(Problem);

    /// No such policy, image repository or automation (`not-found`).
    #[derive(IntoResponses)]
    #[response(status = 404, content_type = "application/problem+json")]
    pub struct NotFound(Problem);

    /// Not possible in the current state, e.g. nothing to roll back to, no automation writes the
    /// policy, or an ambiguous name (`conflict`).
    #[derive(IntoResponses)]
    #[response(status = 409, content_type = "application/problem+json")]
    pub struct Conflict(Problem);

    /// Invalid input (`validation`), a tag the registry does not have (`tag-not-found`) or one
    /// the policy rejects (`policy-rejects-tag`); `field` names the part at fault.
    #[derive(IntoResponses)]
    #[response(status = 422, content_type = "application/problem+json")]
    pub struct Unprocessable(Problem);

    /// The body is not JSON: send `Content-Type: application/json` (`unsupported-media-type`).
    #[derive(IntoResponses)]
    #[response(status = 415, content_type = "application/problem+json")]
    pub struct UnsupportedMediaType(Problem);

    /// The registry or the git remote failed; nothing was written (`upstream`).
    #[derive(IntoResponses)]
    #[response(status = 502, content_type = "application/problem+json")]
    pub struct BadGateway(Problem);

    /// The engine is not running in this process, or it is shutting down (`unavailable`).
    #[derive(IntoResponses)]
    #[response(status = 503, content_type = "application/problem+json")]
    pub struct Unavailable(Problem);
}

use answers::{
    BadGateway, Conflict, Forbidden, NotFound, Unauthorized, Unavailable, Unprocessable, UnsupportedMediaType,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "pushdeploy",
        description = "Manual promotion, rollback, pinning and history for pushdeploy. Every call needs `Authorization: Bearer <token>`; tokens have a scope: read < promote < admin. Errors are RFC 9457 problem details.",
        license(name = "Apache-2.0")
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    components(schemas(Problem))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(list_policies))
        .routes(routes!(get_policy))
        .routes(routes!(promote))
        .routes(routes!(rollback))
        .routes(routes!(pin))
        .routes(routes!(resume))
        .routes(routes!(history))
        .routes(routes!(list_events))
        .routes(routes!(scan))
        .routes(routes!(list_automations))
        .routes(routes!(suspend_automation))
        .routes(routes!(resume_automation))
}

pub fn router(_state: &AppState) -> axum::Router<AppState> {
    api()
        .split_for_parts()
        .0
        .layer(axum::middleware::from_fn(count_refusals))
}

/// A call refused for want of a valid token never reaches a handler. It costs a counter and
/// at most one truncated log line per interval, never a disk write: audit rows are kept for
/// authenticated callers, so a tokenless flood cannot fill the disk.
async fn count_refusals(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    static LOG: std::sync::LazyLock<Sampled> =
        std::sync::LazyLock::new(|| Sampled::new(std::time::Duration::from_secs(10)));
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let line = format!("{} {}", request.method(), truncated(request.uri().path()));
    let response = next.run(request).await;
    if response.status() == axum::http::StatusCode::UNAUTHORIZED {
        refused(&route, "unauthorized");
        LOG.warn(|suppressed| {
            tracing::warn!(request = %line, suppressed, "refused an API call without a valid token");
        });
    }
    response
}

/// The OpenAPI document, as checked in at `openapi.yaml` (`pushdeploy openapi`).
pub fn openapi_yaml() -> String {
    api().split_for_parts().1.to_yaml().unwrap_or_default()
}

fn engine(state: &AppState) -> Result<&Arc<Engine>, ApiError> {
    state
        .engine
        .as_ref()
        .ok_or_else(|| ApiError::Unavailable("the engine is not running in this process".to_owned()))
}

fn policy_key(namespace: &str, name: &str) -> Result<ObjectKey, ApiError> {
    ObjectKey::from_parts(namespace, name)
        .map_err(|_| ApiError::NotFound(format!("no image policy {namespace}/{name}")))
}

impl ApiError {
    fn from_manual(error: ManualError, field: &'static str) -> Self {
        match error {
            ManualError::NotFound(message) => Self::NotFound(message),
            ManualError::Invalid { field, message } => Self::Validation { field, message },
            error @ ManualError::TagNotFound { .. } => Self::TagNotFound {
                field,
                message: error.to_string(),
            },
            error @ ManualError::PolicyRejects { .. } => Self::PolicyRejectsTag {
                field,
                message: error.to_string(),
            },
            ManualError::Conflict(message) => Self::Conflict(message),
            ManualError::Upstream(message) => Self::Upstream(message),
            ManualError::Internal(message) => Self::Internal(message),
        }
    }
}

/// Refuse a body sent as something other than JSON (`application/json` or `…+json`); a body
/// without a `Content-Type` is read as JSON, an empty one is not looked at.
fn json_content_type(headers: &axum::http::HeaderMap, bytes: &Bytes) -> Result<(), ApiError> {
    let Some(value) = headers.get(axum::http::header::CONTENT_TYPE) else {
        return Ok(());
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    let text = value.to_str().unwrap_or("");
    let media = text.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if media == "application/json" || (media.starts_with("application/") && media.ends_with("+json")) {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(format!(
            "the body is sent as {:?}; send JSON with Content-Type: application/json",
            truncated(text)
        )))
    }
}

/// Parse a JSON body; an empty body is `T::default()` when `empty` is given.
fn body<T: serde::de::DeserializeOwned>(bytes: &Bytes, empty: Option<T>) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace)
        && let Some(default) = empty
    {
        return Ok(default);
    }
    serde_json::from_slice(bytes).map_err(|error| {
        let text = error.to_string();
        let field = ["missing field `", "unknown field `"]
            .iter()
            .find_map(|prefix| text.split_once(prefix))
            .and_then(|(_, rest)| rest.split_once('`'))
            .map_or("/", |(name, _)| match name {
                "tag" => "/tag",
                "force" => "/force",
                "to" => "/to",
                _ => "/",
            });
        let field = if text.contains("invalid type") && text.contains("boolean") {
            "/force"
        } else {
            field
        };
        ApiError::Validation {
            field,
            message: format!("the request body is not valid: {text}"),
        }
    })
}

/// The frame of every mutating call: the scope check, then the call, then the audit entry
/// (who, what, how it ended); the answer goes out only once the audit entry is written.
async fn mutating<T: Serialize>(
    state: &AppState,
    caller: &Caller,
    request: String,
    scope: Scope,
    call: impl Future<Output = Result<T, ApiError>>,
) -> Result<Json<T>, ApiError> {
    let result = match caller.require(scope) {
        Ok(()) => call.await,
        Err(error) => Err(error),
    };
    let outcome = match &result {
        Ok(_) => "ok".to_owned(),
        Err(error) => format!("{} {error}", error.problem().status),
    };
    if let Err(error) = state.journal.audit(&caller.token, &request, &outcome).await {
        tracing::error!(%error, "cannot write the audit entry");
        return Err(ApiError::Internal(format!(
            "cannot write the audit entry: {error}"
        )));
    }
    tracing::info!(token = %caller.token, %request, %outcome, "API call");
    result.map(Json)
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
        .map(Json)
        .map_err(|error| ApiError::from_manual(error, "/"))
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
        .map(Json)
        .map_err(|error| ApiError::from_manual(error, "/"))
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
    Path((namespace, name)): Path<(String, String)>,
    headers: axum::http::HeaderMap,
    bytes: Bytes,
) -> Result<Json<PromoteResult>, ApiError> {
    let request = format!(
        "POST /api/v1/policies/{namespace}/{name}/promote {}",
        printable(&bytes)
    );
    mutating(&state, &caller, request, Scope::Promote, async {
        let key = policy_key(&namespace, &name)?;
        json_content_type(&headers, &bytes)?;
        let input: PromoteRequest = body(&bytes, None)?;
        engine(&state)?
            .promote(&key, &input.tag, input.force, &caller.token, Manual::Promote)
            .await
            .map_err(|error| ApiError::from_manual(error, "/tag"))
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
    Path((namespace, name)): Path<(String, String)>,
    headers: axum::http::HeaderMap,
    bytes: Bytes,
) -> Result<Json<PromoteResult>, ApiError> {
    let request = format!(
        "POST /api/v1/policies/{namespace}/{name}/rollback {}",
        printable(&bytes)
    );
    mutating(&state, &caller, request, Scope::Promote, async {
        let key = policy_key(&namespace, &name)?;
        json_content_type(&headers, &bytes)?;
        let input: RollbackRequest = body(&bytes, Some(RollbackRequest::default()))?;
        engine(&state)?
            .rollback(&key, input.to, input.force, &caller.token)
            .await
            .map_err(|error| ApiError::from_manual(error, "/to"))
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
    Path((namespace, name)): Path<(String, String)>,
) -> Result<Json<NoteResult>, ApiError> {
    let request = format!("POST /api/v1/policies/{namespace}/{name}/pin");
    mutating(&state, &caller, request, Scope::Promote, async {
        let key = policy_key(&namespace, &name)?;
        engine(&state)?
            .pin(&key, &caller.token)
            .await
            .map_err(|error| ApiError::from_manual(error, "/"))
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
    Path((namespace, name)): Path<(String, String)>,
) -> Result<Json<NoteResult>, ApiError> {
    let request = format!("POST /api/v1/policies/{namespace}/{name}/resume");
    mutating(&state, &caller, request, Scope::Promote, async {
        let key = policy_key(&namespace, &name)?;
        engine(&state)?
            .resume_policy(&key, &caller.token)
            .await
            .map_err(|error| ApiError::from_manual(error, "/"))
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
        .map(Json)
        .map_err(|error| ApiError::from_manual(error, "/"))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct EventsQuery {
    /// Only events in this state.
    state: Option<EventState>,
    /// Only events for this image repository (`namespace/name`).
    repository: Option<String>,
    /// Page cursor: events with a smaller id (`next_before` of the previous page).
    #[param(minimum = 1)]
    before: Option<i64>,
    /// Page size, 1–500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

/// A page of intake events.
#[derive(Debug, Serialize, ToSchema)]
struct EventsPage {
    events: Vec<Event>,
    /// Pass as `before` for the next page; `null` on the last page.
    next_before: Option<i64>,
}

/// The intake journal, newest first, with each event's state and reason.
#[utoipa::path(get, path = "/api/v1/events", tag = "events",
    params(EventsQuery),
    responses(
        (status = 200, description = "A page of events", body = EventsPage),
        Unauthorized,
        Unprocessable,
    ))]
async fn list_events(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Json<EventsPage>, ApiError> {
    caller.require(Scope::Read)?;
    let Query(query) = query.map_err(|rejection| ApiError::Validation {
        field: "/query",
        message: format!(
            "{}; valid: state, repository, before (≥ 1), limit (1–500)",
            rejection.body_text()
        ),
    })?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::Validation {
            field: "/limit",
            message: format!("limit must be between 1 and 500, not {limit}"),
        });
    }
    if query.before.is_some_and(|before| before < 1) {
        return Err(ApiError::Validation {
            field: "/before",
            message: "before must be at least 1 (use next_before from the previous page)".to_owned(),
        });
    }
    let events = state
        .journal
        .list(query.state, query.repository.as_deref(), query.before, limit)
        .await
        .map_err(|error| ApiError::Internal(error.to_string()))?;
    let next_before = (i64::try_from(events.len()).unwrap_or(i64::MAX) == limit)
        .then(|| events.last().map(|event| event.id))
        .flatten();
    Ok(Json(EventsPage { events, next_before }))
}

/// Scan an image repository now and report what each of its policies picks.
#[utoipa::path(post, path = "/api/v1/repositories/{namespace}/{name}/scan", tag = "repositories",
    params(("namespace" = String, Path), ("name" = String, Path)),
    responses(
        (status = 200, description = "Scanned", body = ScanView),
        Unauthorized,
        Forbidden,
        NotFound,
        BadGateway,
        Unavailable,
    ))]
async fn scan(
    State(state): State<AppState>,
    caller: Caller,
    Path((namespace, name)): Path<(String, String)>,
) -> Result<Json<ScanView>, ApiError> {
    let request = format!("POST /api/v1/repositories/{namespace}/{name}/scan");
    mutating(&state, &caller, request, Scope::Promote, async {
        let key = ObjectKey::from_parts(&namespace, &name)
            .map_err(|_| ApiError::NotFound(format!("no image repository {namespace}/{name}")))?;
        engine(&state)?
            .scan(&key)
            .await
            .map_err(|error| ApiError::from_manual(error, "/"))
    })
    .await
}

/// Every image update automation and whether it is suspended.
#[utoipa::path(get, path = "/api/v1/automations", tag = "automations",
    responses(
        (status = 200, description = "The automations", body = [AutomationView]),
        Unauthorized,
        Unavailable,
    ))]
async fn list_automations(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<AutomationView>>, ApiError> {
    caller.require(Scope::Read)?;
    engine(&state)?
        .automations()
        .await
        .map(Json)
        .map_err(|error| ApiError::from_manual(error, "/"))
}

async fn set_suspended(
    state: &AppState,
    caller: &Caller,
    name: &str,
    suspended: bool,
) -> Result<Json<NoteResult>, ApiError> {
    let request = format!(
        "POST /api/v1/automations/{name}/{}",
        if suspended { "suspend" } else { "resume" }
    );
    mutating(state, caller, request, Scope::Admin, async {
        engine(state)?
            .set_suspended(name, suspended, &caller.token)
            .await
            .map_err(|error| ApiError::from_manual(error, "/"))
    })
    .await
}

/// Stop automatic updates by an automation (manual promotions still write).
#[utoipa::path(post, path = "/api/v1/automations/{name}/suspend", tag = "automations",
    params(("name" = String, Path, description = "`name`, or `namespace:name` when the name is not unique")),
    responses(
        (status = 200, description = "Suspended, and noted in git", body = NoteResult),
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        BadGateway,
        Unavailable,
    ))]
async fn suspend_automation(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<NoteResult>, ApiError> {
    set_suspended(&state, &caller, &name, true).await
}

/// Let an automation update again; its policies are decided at once.
#[utoipa::path(post, path = "/api/v1/automations/{name}/resume", tag = "automations",
    params(("name" = String, Path, description = "`name`, or `namespace:name` when the name is not unique")),
    responses(
        (status = 200, description = "Resumed, and noted in git", body = NoteResult),
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        BadGateway,
        Unavailable,
    ))]
async fn resume_automation(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<NoteResult>, ApiError> {
    set_suspended(&state, &caller, &name, false).await
}

/// The request body as it goes into the audit log: text, at most 200 characters.
fn printable(bytes: &Bytes) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text: String = text.chars().filter(|c| !c.is_control()).take(200).collect();
    text
}
