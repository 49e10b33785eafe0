//! HTTP surface: router, intake hooks, REST API, health, status and metrics. Never calls
//! `gitops` or `registry` directly: it verifies, journals, answers and pokes.

pub mod api;
pub mod auth;
pub mod budget;
pub mod connections;
mod console;
mod error;
pub mod health;
pub mod hooks_forgejo;
pub mod hooks_registry;
pub mod hooks_senders;
pub mod problem;
pub mod refusals;
pub mod serve;
pub mod state;
mod status;
pub mod tls;

pub use state::AppState;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderName, Request, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Extension, Router};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnFailure, TraceLayer};

/// What the hooks share besides `AppState`: the body budget and the accepted `Authorization`
/// values with their scheme names lower-cased (scheme names are case-insensitive).
#[derive(Clone)]
pub struct Edge {
    pub budget: budget::BodyBudget,
    pub registry_authorization: Arc<Vec<SecretString>>,
    /// `intake.<sender>` of the registry senders' routes.
    pub senders: hooks_senders::SenderCredentials,
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    let body_limit = state.settings.intake.body_limit;
    let limits = &state.settings.server.limits;
    let edge = Edge {
        budget: budget::BodyBudget::new(
            limits.max_bodies_in_flight,
            limits.max_body_bytes_in_flight,
            body_limit,
        ),
        registry_authorization: Arc::new(
            state
                .settings
                .intake
                .registry_authorization
                .iter()
                .map(|value| SecretString::from(auth::normalize_authorization(value.expose_secret())))
                .collect(),
        ),
        senders: hooks_senders::credentials(&state.settings.intake),
    };
    let request_timeout = limits.request_timeout;
    Router::new()
        .route("/hooks/registry", post(hooks_registry::receive))
        .route("/hooks/forgejo", post(hooks_forgejo::receive))
        .merge(hooks_senders::routes())
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics_text))
        .route("/status", get(status))
        .merge(console::routes())
        .merge(api::router(&state))
        .fallback(no_route)
        // After every route: axum sets this on the method routers registered so far, and keeps
        // adding the `Allow` header to what it answers.
        .method_not_allowed_fallback(no_method)
        .with_state(state)
        .layer(Extension(edge))
        // The configured limit is the limit: axum's own 2 MiB default must not cut it short.
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(RequestBodyLimitLayer::new(body_limit))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            request_timeout,
        ))
        // A 5xx is an answer we chose (`/readyz` not ready, the body budget full, the journal
        // down) and its handler logs the cause once, with context; tower-http's default would
        // add an ERROR line per answer without one, so a probe every 10 s floods the log.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span::<axum::body::Body>)
                .on_failure(DefaultOnFailure::new().level(tracing::Level::DEBUG)),
        )
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

/// The request span: method and path only. Query strings are left out, since a caller may put
/// a token there (`?token=…`) and the span is logged at DEBUG.
fn request_span<B>(request: &Request<B>) -> tracing::Span {
    tracing::debug_span!(
        "request",
        method = %request.method(),
        path = %refusals::truncated(&without_token(request.uri().path())),
        version = ?request.version(),
    )
}

/// `path` with the secret segment of a token route (`/hooks/dockerhub/{token}`) replaced by `…`,
/// for logs: a path token is a credential.
fn without_token(path: &str) -> std::borrow::Cow<'_, str> {
    let mut segments = path.trim_start_matches('/').splitn(3, '/');
    match (segments.next(), segments.next(), segments.next()) {
        (Some("hooks"), Some(name), Some(_))
            if crate::wire::push::Sender::ALL.iter().any(|sender| {
                sender.name() == name && sender.auth().contains(&crate::wire::push::AuthKind::PathToken)
            }) =>
        {
            std::borrow::Cow::Owned(format!("/hooks/{name}/…"))
        }
        _ => std::borrow::Cow::Borrowed(path),
    }
}

/// Unknown routes: an RFC 9457 problem like every other API refusal.
async fn no_route(method: axum::http::Method, uri: axum::http::Uri) -> problem::ApiError {
    refusals::refused("unmatched", "no_route");
    problem::ApiError::NotFound(format!(
        "no route for {method} {}; the console is at /, the API is under /api/v1 (see openapi.yaml), the hooks are POST /hooks/registry, /hooks/forgejo, /hooks/harbor, /hooks/github, /hooks/acr, /hooks/artifactory, /hooks/ecr and /hooks/{{dockerhub,quay,gar}}/{{token}}",
        refusals::truncated(&without_token(uri.path()))
    ))
}

/// Known routes called with a method they do not answer: a problem, with axum's `Allow` header.
async fn no_method(method: axum::http::Method, uri: axum::http::Uri) -> problem::ApiError {
    refusals::refused("unmatched", "no_method");
    problem::ApiError::MethodNotAllowed(format!(
        "{method} is not allowed on {}; the Allow header lists the methods it answers (see openapi.yaml)",
        refusals::truncated(uri.path())
    ))
}

async fn metrics_text() -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::telemetry::render_metrics(),
    )
}

async fn status(State(state): State<AppState>) -> impl IntoResponse {
    let backlog = state.journal.backlog().await.ok();
    let engine = state.engine.as_ref().map(|engine| engine.status());
    let sinks = match &state.alerts {
        Some(alerts) => alerts.report().await,
        None => Vec::new(),
    };
    axum::Json(status::StatusBody::new(
        engine,
        backlog,
        state.readiness.is_ready(),
        sinks,
    ))
}
