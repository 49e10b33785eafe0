//! The REST API under `/api/v1`: policies, promotion, rollback, pins, history, events, scans
//! and automations. Handlers check the caller's scope, then ask the engine through `Api`.

pub mod auth;

use super::state::AppState;
use axum::Router;

/// What the API needs from the running service (implemented by the engine).
pub trait Api: Send + Sync {}

pub fn router() -> Router<AppState> {
    Router::new()
}
