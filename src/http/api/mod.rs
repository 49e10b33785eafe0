//! The REST API under `/api/v1`: policies, promotion, rollback, pins, history, events, scans
//! and automations. Handlers check the caller's scope, then ask the engine; every mutating
//! call leaves an audit entry (`audit.rs`). The routes and `openapi.yaml` come from the same
//! annotations (utoipa-axum, `openapi.rs`), so the spec cannot drift from the router.

mod audit;
mod automations;
mod body;
mod dto;
mod events;
mod forward;
mod openapi;
mod policies;
mod repositories;

pub use openapi::openapi_yaml;

use super::problem::ApiError;
use super::refusals::{Sampled, refused, truncated};
use super::state::AppState;
use crate::engine::{Engine, ManualError};
use std::sync::Arc;

pub fn router(state: &AppState) -> axum::Router<AppState> {
    openapi::api()
        .split_for_parts()
        .0
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            forward::to_owner,
        ))
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

/// The engine of this process, or the 503 every engine-backed route answers without one.
pub(super) fn engine(state: &AppState) -> Result<&Arc<Engine>, ApiError> {
    state
        .engine
        .as_ref()
        .ok_or_else(|| ApiError::Unavailable("the engine is not running in this process".to_owned()))
}

/// The problem for an engine error; `field` is the request field a tag error is about.
fn from_manual(error: ManualError, field: &'static str) -> ApiError {
    match error {
        ManualError::NotFound(message) => ApiError::NotFound(message),
        ManualError::Invalid { field, message } => ApiError::Validation { field, message },
        error @ ManualError::TagNotFound { .. } => ApiError::TagNotFound {
            field,
            message: error.to_string(),
        },
        error @ ManualError::PolicyRejects { .. } => ApiError::PolicyRejectsTag {
            field,
            message: error.to_string(),
        },
        ManualError::Conflict(message) => ApiError::Conflict(message),
        error @ ManualError::NotOwner { .. } => ApiError::Unavailable(error.to_string()),
        error @ ManualError::Upstream { .. } => ApiError::Upstream(error.to_string()),
        error @ (ManualError::Internal(_) | ManualError::Journal(_)) => ApiError::Internal(error.to_string()),
    }
}
