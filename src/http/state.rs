//! The state every handler shares: configuration, journal, readiness, and the pokes that hand
//! work to the engine and the poller (handlers never call the registry or git themselves).

use super::auth::ApiTokens;
use super::health::Readiness;
use crate::config::Settings;
use crate::domain::ObjectKey;
use crate::journal::Journal;
use axum::extract::FromRef;
use std::sync::Arc;

/// Wakes the engine (new journal entries) and asks the poller for a scan of a repository.
pub trait Pokes: Send + Sync {
    fn engine(&self);
    fn repository(&self, key: &ObjectKey);
}

/// A `Pokes` that does nothing, for tests of intake alone.
#[derive(Debug, Default)]
pub struct NoPokes;

impl Pokes for NoPokes {
    fn engine(&self) {}
    fn repository(&self, _key: &ObjectKey) {}
}

/// A JSON view of the running service for `/status`.
pub trait StatusSource: Send + Sync {
    fn status(&self) -> serde_json::Value;
}

#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub journal: Journal,
    pub readiness: Arc<Readiness>,
    pub pokes: Arc<dyn Pokes>,
    pub status: Option<Arc<dyn StatusSource>>,
    /// The engine behind the REST API; `None` in tests of intake alone (the API answers 503).
    pub engine: Option<Arc<crate::engine::Engine>>,
}

impl FromRef<AppState> for Arc<Readiness> {
    fn from_ref(state: &AppState) -> Self {
        Arc::clone(&state.readiness)
    }
}

impl FromRef<AppState> for ApiTokens {
    fn from_ref(state: &AppState) -> Self {
        ApiTokens(Arc::new(state.settings.api.tokens.clone()))
    }
}
