//! HTTP surface: router, intake hooks, REST API, health, status and metrics. Never calls
//! `gitops` or `registry` directly: it verifies, journals, answers and pokes.

pub mod api;
mod error;
pub mod health;
pub mod hooks_forgejo;
pub mod hooks_registry;
pub mod problem;
pub mod serve;
pub mod state;
pub mod tls;

pub use state::{AppState, NoPokes, Pokes, StatusSource};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderName, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use std::time::Duration;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    let body_limit = state.settings.intake.body_limit;
    Router::new()
        .route("/hooks/registry", post(hooks_registry::receive))
        .route("/hooks/forgejo", post(hooks_forgejo::receive))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics_text))
        .route("/status", get(status))
        .merge(api::router(&state))
        .with_state(state)
        .layer(RequestBodyLimitLayer::new(body_limit))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(TraceLayer::new_for_http())
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

async fn metrics_text() -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::telemetry::render_metrics(),
    )
}

async fn status(State(state): State<AppState>) -> impl IntoResponse {
    let backlog = state.journal.backlog().await.ok();
    let mut body = state
        .status
        .as_ref()
        .map_or_else(|| serde_json::json!({}), |source| source.status());
    if let Some(object) = body.as_object_mut() {
        object.insert("journal_backlog".into(), serde_json::json!(backlog));
        object.insert("ready".into(), serde_json::json!(state.readiness.is_ready()));
    }
    axum::Json(body)
}
