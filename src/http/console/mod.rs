//! The console: server-rendered HTML at `GET /` (every policy, image repository, writer and
//! what is broken) and `GET /console/policies/{namespace}/{name}` (history, events, actions),
//! readable without JavaScript. `console.js` adds the actions (the REST API with a Bearer token
//! the person enters, kept in `sessionStorage`: no cookie, so no request carries an ambient
//! credential and CSRF has nothing to ride on) and live updates (it polls `/console/version`,
//! a fingerprint of the in-memory state, and re-fetches the page when it changes).
//!
//! Reading is open, as `/status` is; what a read costs is bounded: a page's data (one git
//! inspection per automation, a few journal queries) is computed by one request at a time and
//! reused until the fingerprint changes or it is [`FRESH_FOR`] old, so a flood of anonymous
//! readers costs one inspection per change, not one per request. Every value is escaped by
//! maud; the Content-Security-Policy allows only our own script and style.

mod assets;
mod pages;

use super::api::engine;
use super::problem::ApiError;
use super::state::AppState;
use crate::domain::ObjectKey;
use crate::engine::reports::{AutomationReport, PolicyOverview, Status};
use crate::journal::Event;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use sha2::Digest as _;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a page's data is reused while nothing changes (last scan times still move).
const FRESH_FOR: Duration = Duration::from_secs(10);
/// How many promotable tags a policy page offers, and how many events it lists.
const CANDIDATES: usize = 20;
const EVENTS: i64 = 30;
/// Under this much validity left a registry certificate is shown red (as the alerts say).
pub const CERTIFICATE_WARNING_SECONDS: i64 = crate::registry::EXPIRY_NOTICE_SECONDS;

/// The strict policy every console answer carries: our own script, style and fetches only;
/// no inline script, no plugins, no framing, no form posts anywhere.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(overview))
        .route("/console/policies/{namespace}/{name}", get(policy))
        .route("/console/version", get(version))
        .route("/console/console.js", get(assets::script))
        .route("/console/console.css", get(assets::style))
        // Browsers ask for it on every page; there is none (and no 404 in their consoles).
        .route(
            "/favicon.ico",
            get(|| async { axum::http::StatusCode::NO_CONTENT }),
        )
        .layer(axum::middleware::map_response(secure))
        .layer(Extension(Arc::new(Cache::default())))
}

async fn secure(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Everything a page shows, computed once per fingerprint.
pub struct View {
    pub version: String,
    pub now: i64,
    pub policies: Vec<PolicyOverview>,
    pub status: Status,
    pub automations: Vec<AutomationReport>,
    pub backlog: Option<i64>,
    /// Failing readiness checks, with their reasons.
    pub failing: Vec<(String, String)>,
    /// The policy page's: newest first.
    pub events: Vec<Event>,
    pub sinks: Vec<crate::alerts::SinkReport>,
    pub settings: Arc<crate::config::Settings>,
}

/// A computed page: the fingerprint it was computed at, when, and the view.
type Computed = (String, Instant, Arc<View>);

#[derive(Default)]
struct Cache {
    /// Per page (`None` the overview). One lock: pages are computed one at a time.
    pages: tokio::sync::Mutex<HashMap<Option<ObjectKey>, Computed>>,
}

/// What the pages show of the in-memory state, hashed: it changes when a push lands, a scan
/// ends, a pin or suspension changes or a check breaks or recovers.
fn fingerprint(state: &AppState, status: &Status, failing: &[(String, String)]) -> String {
    let mut text = state
        .alerts
        .as_ref()
        .map(|alerts| alerts.fingerprint())
        .unwrap_or_default();
    for (key, policy) in &status.policies {
        let _ = write!(
            text,
            "{key}|{:?}|{:?}|{:?};",
            policy.selected, policy.deployed, policy.pinned
        );
    }
    for (key, repository) in &status.repositories {
        let _ = write!(
            text,
            "{key}|{:?}|{:?}|{}|{:?}|{};",
            repository.last_scan,
            repository.last_success,
            repository.tag_count,
            repository.last_error,
            repository.consecutive_failures
        );
    }
    for request in &status.pull_requests {
        let _ = write!(
            text,
            "{}|{}|{}|{};",
            request.branch, request.state, request.head, request.updated_at
        );
    }
    let _ = write!(
        text,
        "{:?}|{:?}|{:?}|{:?}|{:?}",
        status.automations,
        status.suspended.automations,
        status.registry_certificates_not_after,
        status.ownership.owned,
        failing
    );
    hex::encode(&sha2::Sha256::digest(text.as_bytes())[..8])
}

/// `GET /console/version`: the fingerprint the pages were rendered at (cheap: memory only).
async fn version(State(state): State<AppState>) -> Result<Response, ApiError> {
    let engine = engine(&state)?;
    let version = fingerprint(&state, &engine.status(), &state.readiness.failing());
    Ok(Json(serde_json::json!({ "version": version })).into_response())
}

/// The view of `page`, from the cache when nothing changed.
async fn view(state: &AppState, cache: &Cache, page: Option<ObjectKey>) -> Result<Arc<View>, ApiError> {
    let engine = engine(state)?;
    let mut pages = cache.pages.lock().await;
    let status = engine.status();
    let failing = state.readiness.failing();
    let version = fingerprint(state, &status, &failing);
    let name = if page.is_some() { "policy" } else { "overview" };
    if let Some((at_version, at, view)) = pages.get(&page)
        && *at_version == version
        && at.elapsed() < FRESH_FOR
    {
        metrics::counter!("pushdeploy_console_pages_total", "page" => name, "data" => "reused").increment(1);
        return Ok(Arc::clone(view));
    }
    metrics::counter!("pushdeploy_console_pages_total", "page" => name, "data" => "computed").increment(1);
    let policies = engine
        .overview(page.as_ref(), CANDIDATES)
        .await
        .map_err(|error| match error {
            crate::engine::ManualError::NotFound(message) => ApiError::NotFound(message),
            error => ApiError::Internal(error.to_string()),
        })?;
    let automations = engine
        .automations()
        .await
        .map_err(|error| ApiError::Internal(error.to_string()))?;
    let events = match policies.first().filter(|_| page.is_some()) {
        Some(policy) => state
            .journal
            .list(None, Some(&policy.report.repository.to_string()), None, EVENTS)
            .await
            .map_err(|error| ApiError::Internal(error.to_string()))?,
        None => Vec::new(),
    };
    let sinks = match &state.alerts {
        Some(alerts) => alerts.report().await,
        None => Vec::new(),
    };
    let view = Arc::new(View {
        version: version.clone(),
        now: crate::clock::now(),
        policies,
        status,
        automations,
        backlog: state.journal.backlog().await.ok(),
        failing,
        events,
        sinks,
        settings: Arc::clone(&state.settings),
    });
    pages.insert(page, (version, Instant::now(), Arc::clone(&view)));
    Ok(view)
}

async fn overview(
    State(state): State<AppState>,
    Extension(cache): Extension<Arc<Cache>>,
) -> Result<Html<String>, ApiError> {
    let view = view(&state, &cache, None).await?;
    Ok(Html(pages::overview(&view).into_string()))
}

async fn policy(
    State(state): State<AppState>,
    Extension(cache): Extension<Arc<Cache>>,
    Path((namespace, name)): Path<(String, String)>,
) -> Result<Html<String>, ApiError> {
    let key = ObjectKey::from_parts(&namespace, &name).map_err(|_| {
        ApiError::NotFound(format!(
            "no image policy {}/{}; the console's overview at / lists them",
            super::refusals::truncated(&namespace),
            super::refusals::truncated(&name)
        ))
    })?;
    // Unknown policies are refused before anything is computed or cached.
    if !state.settings.policies.contains_key(&key) {
        return Err(ApiError::NotFound(format!(
            "no image policy {key}; the console's overview at / lists them"
        )));
    }
    let view = view(&state, &cache, Some(key)).await?;
    Ok(Html(pages::policy(&view).into_string()))
}
