//! `/healthz` (the process answers) and `/readyz` (every readiness check passes and we are not
//! shutting down), each with its reasons in a JSON body. Holds no business logic.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

/// Named readiness checks (e.g. `journal`, `gitops flux-system/mcp`) and the shutdown flag.
#[derive(Default)]
pub struct Readiness {
    checks: RwLock<BTreeMap<String, Result<(), String>>>,
    shutting_down: AtomicBool,
    /// With replicas sharing a journal: this replica's name and the shards it owns (shown, not
    /// a check: a replica that owns nothing still takes intake for the others).
    ownership: RwLock<Option<(String, Vec<String>)>>,
    /// Told every check's outcome as it is set (the alerts: transitions only).
    observer: RwLock<Option<Observer>>,
}

/// What is told of each check's outcome.
pub type Observer = Arc<dyn Fn(&str, &Result<(), String>) + Send + Sync>;

#[derive(Debug, Serialize)]
struct ReadinessBody {
    ready: bool,
    checks: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    replica: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    owns: Option<Vec<String>>,
}

impl Readiness {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Record the outcome of a named check; an `Err` carries the reason and the remedy.
    pub fn set(&self, name: impl Into<String>, outcome: Result<(), String>) {
        let name = name.into();
        let observer = self.observer.read().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(observer) = observer {
            observer(&name, &outcome);
        }
        let mut checks = self
            .checks
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        checks.insert(name, outcome);
    }

    /// Tell `observer` every outcome set from now on.
    pub fn observe(&self, observer: Observer) {
        *self.observer.write().unwrap_or_else(|p| p.into_inner()) = Some(observer);
    }

    /// Show `replica` owning `shards` (replicas sharing a journal).
    pub fn set_ownership(&self, replica: String, shards: Vec<String>) {
        *self.ownership.write().unwrap_or_else(|p| p.into_inner()) = Some((replica, shards));
    }

    /// From now on readiness is false and intake refuses new work with 503.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    /// Whether every check passed and no shutdown has begun.
    pub fn is_ready(&self) -> bool {
        let checks = self
            .checks
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        !self.is_shutting_down() && checks.values().all(Result::is_ok)
    }

    /// Every check that fails now, with its reason (the console's problem list).
    pub fn failing(&self) -> Vec<(String, String)> {
        let checks = self.checks.read().unwrap_or_else(|p| p.into_inner());
        checks
            .iter()
            .filter_map(|(name, outcome)| Some((name.clone(), outcome.as_ref().err()?.clone())))
            .collect()
    }

    fn body(&self) -> ReadinessBody {
        let checks = self
            .checks
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut rendered: BTreeMap<String, String> = checks
            .iter()
            .map(|(name, outcome)| {
                (
                    name.clone(),
                    outcome.as_ref().err().cloned().unwrap_or_else(|| "ok".to_owned()),
                )
            })
            .collect();
        if self.is_shutting_down() {
            rendered.insert(
                "shutdown".to_owned(),
                "shutting down: not accepting new work".to_owned(),
            );
        }
        let ownership = self.ownership.read().unwrap_or_else(|p| p.into_inner()).clone();
        let (replica, owns) = ownership.map_or((None, None), |(replica, owns)| (Some(replica), Some(owns)));
        ReadinessBody {
            ready: self.is_ready(),
            checks: rendered,
            replica,
            owns,
        }
    }
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readiness")
            .field("checks", &self.checks)
            .field("shutting_down", &self.shutting_down)
            .finish_non_exhaustive()
    }
}

/// `GET /healthz`: 200 while the process can answer at all.
pub async fn healthz() -> impl IntoResponse {
    (StatusCode::OK, Json(serde_json::json!({"status": "ok"})))
}

/// `GET /readyz`: 200 when ready, else 503; the body lists every check with its reason.
pub async fn readyz(State(readiness): State<Arc<Readiness>>) -> impl IntoResponse {
    let body = readiness.body();
    let status = if body.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_is_false_until_every_check_passes_and_false_again_on_shutdown() {
        let readiness = Readiness::new();
        readiness.set("journal", Ok(()));
        readiness.set(
            "gitops flux-system/mcp",
            Err("the deploy key is read-only".to_owned()),
        );
        assert!(!readiness.is_ready());
        assert_eq!(
            readiness.body().checks["gitops flux-system/mcp"],
            "the deploy key is read-only"
        );
        readiness.set("gitops flux-system/mcp", Ok(()));
        assert!(readiness.is_ready());
        readiness.begin_shutdown();
        assert!(!readiness.is_ready());
        assert!(readiness.body().checks.contains_key("shutdown"));
    }
}
