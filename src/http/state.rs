//! The state every handler shares: configuration, journal, readiness, and the engine (one way:
//! hooks wake it, `/status` and the API ask it; handlers never call the registry or git).

use super::auth::ApiTokens;
use super::health::Readiness;
use crate::config::Settings;
use crate::journal::Journal;
use axum::extract::FromRef;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub journal: Journal,
    pub readiness: Arc<Readiness>,
    /// The engine: woken by the hooks, asked by `/status` and the API. `None` in tests of intake
    /// alone (nothing is woken, `/status` has no engine part, the API answers 503).
    pub engine: Option<Arc<crate::engine::Engine>>,
    /// The alert sinks' delivery, for `/status` and the console (`None` without sinks).
    pub alerts: Option<Arc<crate::alerts::Alerts>>,
}

impl AppState {
    /// New journal entries are waiting: wake the engine.
    pub fn wake_engine(&self) {
        if let Some(engine) = &self.engine {
            engine.wake();
        }
    }
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
