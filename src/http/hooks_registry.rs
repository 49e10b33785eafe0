//! `POST /hooks/registry`: CNCF distribution notifications. 401 without the configured
//! `Authorization`; 413 when too large (the body-limit layer); every other authenticated request
//! gets a 2xx after the journal write, so the registry's queue never wedges. Only tagged
//! manifest pushes become journal entries; those for no configured repository are journaled as
//! `ignored` with the reason (and counted for `/status`).

use super::Edge;
use super::error::journal_unavailable;
use super::refusals::refused;
use super::state::AppState;
use crate::journal::{AppendOutcome, NewEvent, State as EventState};
use axum::body::Bytes;
use axum::extract::{Extension, FromRequest, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sha2::Digest;

const ROUTE: &str = "/hooks/registry";

const ENVELOPES: [&str; 3] = [
    "application/vnd.docker.distribution.events.v1+json",
    "application/vnd.docker.distribution.events.v2+json",
    "application/json",
];
const MANIFEST_TYPES: [&str; 5] = [
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
];

#[derive(Debug, Default, Deserialize)]
struct Envelope {
    events: Vec<Event>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Event {
    id: Option<String>,
    action: Option<String>,
    target: Target,
    request: Request,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Target {
    media_type: Option<String>,
    digest: Option<String>,
    repository: Option<String>,
    url: Option<String>,
    tag: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Request {
    host: Option<String>,
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|value| !value.is_empty())
}

fn count(result: &'static str) {
    metrics::counter!("pushdeploy_webhook_requests_total", "source" => "registry", "result" => result)
        .increment(1);
}

fn count_events(result: &'static str, n: usize) {
    metrics::counter!("pushdeploy_webhook_events_total", "source" => "registry", "result" => result)
        .increment(n as u64);
}

#[tracing::instrument(name = "hook.registry", skip_all)]
pub async fn receive(
    State(state): State<AppState>,
    Extension(edge): Extension<Edge>,
    request: axum::extract::Request,
) -> Response {
    if state.readiness.is_shutting_down() {
        count("shutting_down");
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down; retry later").into_response();
    }
    let headers = request.headers();
    // The credential is a header: check it before a byte of the body is read.
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .map(crate::http::api::auth::normalize_authorization)
        .unwrap_or_default();
    if presented.is_empty() || !crate::signature::verify_token(&edge.registry_authorization, &presented) {
        count("unauthorized");
        refused(ROUTE, "unauthorized");
        return (StatusCode::UNAUTHORIZED, "missing or wrong Authorization header").into_response();
    }
    let _reservation = match edge.budget.reserve(ROUTE, headers) {
        Ok(reservation) => reservation,
        Err(busy) => return busy,
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = match Bytes::from_request(request, &()).await {
        Ok(body) => body,
        Err(rejection) => return rejection.into_response(),
    };
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let envelope = if ENVELOPES.contains(&media_type.as_str()) {
        serde_json::from_slice::<Envelope>(&body).map_err(|error| format!("malformed notification: {error}"))
    } else {
        Err(format!(
            "unsupported content type {content_type:?}; the registry sends {}",
            ENVELOPES[0]
        ))
    };
    let envelope = match envelope {
        Ok(envelope) => envelope,
        Err(reason) => return reject(&state, &body, reason).await,
    };
    let (events, ignored) = candidates(&state, &envelope);
    count_events("ignored", ignored);
    // Unmatched pushes are journaled too, already `ignored`: they are not work for the engine.
    let fresh: Vec<bool> = events
        .iter()
        .map(|event| event.state == EventState::Received)
        .collect();
    let accepted = fresh.iter().filter(|fresh| **fresh).count();
    let outcomes = match state.journal.append(events).await {
        Ok(outcomes) => outcomes,
        Err(error) => return journal_unavailable(&error),
    };
    crate::failpoint::hit("registry.before_ack");
    let duplicates = outcomes
        .iter()
        .zip(&fresh)
        .filter(|(outcome, fresh)| **fresh && **outcome == AppendOutcome::Duplicate)
        .count();
    count_events("accepted", accepted - duplicates);
    count_events("duplicate", duplicates);
    count("accepted");
    if accepted > duplicates {
        state.pokes.engine();
    }
    let body =
        serde_json::json!({"accepted": accepted - duplicates, "duplicates": duplicates, "ignored": ignored});
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// Journal an authenticated but unusable body as `rejected`, and still answer 2xx.
async fn reject(state: &AppState, body: &[u8], reason: String) -> Response {
    tracing::warn!(%reason, "rejected a registry notification");
    let event = NewEvent::rejected(
        "registry",
        format!("registry-rejected:{}", hex::encode(sha2::Sha256::digest(body))),
        reason.clone(),
    );
    if let Err(error) = state.journal.append(vec![event]).await {
        return journal_unavailable(&error);
    }
    count("rejected");
    (
        StatusCode::ACCEPTED,
        axum::Json(serde_json::json!({"rejected": reason})),
    )
        .into_response()
}

/// The tag of a push of a manifest (not a blob, not a delete); `None` for every other event.
fn pushed_manifest_tag(event: &Event) -> Option<&str> {
    let is_manifest =
        non_empty(&event.target.media_type).is_some_and(|media| MANIFEST_TYPES.contains(&media));
    (non_empty(&event.action) == Some("push") && is_manifest)
        .then(|| non_empty(&event.target.tag))
        .flatten()
}

/// Journal entries for tagged manifest pushes to configured repositories; the count of the rest.
fn candidates(state: &AppState, envelope: &Envelope) -> (Vec<NewEvent>, usize) {
    let mut events = Vec::new();
    let mut ignored = 0;
    for event in &envelope.events {
        let target = &event.target;
        let Some(tag) = pushed_manifest_tag(event) else {
            ignored += 1;
            continue;
        };
        let host = non_empty(&target.url)
            .and_then(|url| reqwest::Url::parse(url).ok())
            .and_then(|url| {
                url.host_str().map(|host| {
                    url.port()
                        .map_or_else(|| host.to_owned(), |port| format!("{host}:{port}"))
                })
            });
        let host = host
            .or_else(|| non_empty(&event.request.host).map(str::to_owned))
            .unwrap_or_default();
        let path = non_empty(&target.repository).unwrap_or_default();
        // Matching against configuration only: a payload's host is never contacted.
        let repository = crate::engine::routing::find(&state.settings, &host, path);
        let (Some(repository), Ok(tag)) = (repository, crate::domain::Tag::parse(tag)) else {
            if repository.is_none() {
                events.push(unmatched(state, event, &host, path, tag));
            }
            ignored += 1;
            continue;
        };
        // The id alone is not the event: a sender reusing an id for another tag or digest
        // must not have the new push dropped as a duplicate.
        let target_key = format!(
            "{}:{}:{}",
            repository.key,
            tag,
            non_empty(&target.digest).unwrap_or_default()
        );
        let dedupe = match non_empty(&event.id) {
            Some(id) => format!("registry:{id}:{target_key}"),
            None => format!("registry:{target_key}"),
        };
        events.push(NewEvent {
            source: "registry".into(),
            dedupe_key: dedupe,
            kind: "push".into(),
            repository: Some(repository.key.to_string()),
            automation: None,
            tag: Some(tag.to_string()),
            digest: non_empty(&target.digest).map(str::to_owned),
            state: EventState::Received,
            reason: None,
        });
    }
    (events, ignored)
}

/// An authenticated push for a host/repository nothing is configured for: journaled as
/// `ignored` with what is configured, counted (and logged once per pair) for `/status`.
fn unmatched(state: &AppState, event: &Event, host: &str, path: &str, tag: &str) -> NewEvent {
    let reason = crate::engine::routing::reason(&state.settings, host, path);
    match &state.engine {
        Some(engine) => engine.unmatched.note(host, path, Some(tag), &reason),
        None => tracing::warn!(host, repository = path, "{reason}"),
    }
    let digest = non_empty(&event.target.digest);
    // Like matched pushes: the id plus the target, so a reused id for another tag is recorded too.
    let target_key = format!("{host}/{path}:{tag}:{}", digest.unwrap_or_default());
    let dedupe = match non_empty(&event.id) {
        Some(id) => format!("registry-unmatched:{id}:{target_key}"),
        None => format!("registry-unmatched:{target_key}"),
    };
    crate::engine::routing::ignored_event(dedupe, Some(tag), digest, reason)
}

/// The parse step of `receive` on its own (for `fuzz/`): the envelope as intake reads it, and
/// how many of its events are tagged manifest pushes (the ones matched against configuration).
#[doc(hidden)]
pub fn parse_envelope(body: &[u8]) -> Result<(usize, usize), serde_json::Error> {
    let envelope = serde_json::from_slice::<Envelope>(body)?;
    let pushes = envelope
        .events
        .iter()
        .filter(|event| pushed_manifest_tag(event).is_some())
        .count();
    Ok((envelope.events.len(), pushes))
}
