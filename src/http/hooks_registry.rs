//! `POST /hooks/registry`: CNCF distribution notifications. 401 without the configured
//! `Authorization`; 413 when too large (the body-limit layer); every other authenticated request
//! gets a 2xx after the journal write, so the registry's queue never wedges. Only tagged
//! manifest pushes become journal entries; those for no configured repository are journaled as
//! `ignored` with the reason (and counted for `/status`).

use super::Edge;
use super::error::journal_unavailable;
use super::refusals::refused;
use super::state::AppState;
use crate::journal::{AppendOutcome, EventKind, NewEvent, State as EventState};
use crate::wire::registry::{Envelope, Event};
use axum::body::Bytes;
use axum::extract::{Extension, FromRequest, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::Digest;

const ROUTE: &str = "/hooks/registry";

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
        .map(crate::http::auth::normalize_authorization)
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
    let envelope = crate::wire::registry::parse(&content_type, &body);
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
        state.wake_engine();
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

/// Journal entries for tagged manifest pushes to configured repositories; the count of the rest.
fn candidates(state: &AppState, envelope: &Envelope) -> (Vec<NewEvent>, usize) {
    let mut events = Vec::new();
    let mut ignored = 0;
    for event in &envelope.events {
        let Some(tag) = event.pushed_manifest_tag() else {
            ignored += 1;
            continue;
        };
        let host = event.host();
        let path = event.repository();
        // Matching against configuration only: a payload's host is never contacted.
        let repository = crate::engine::routing::find(&state.settings, &host, path);
        let (Some(repository), Ok(tag)) = (repository, crate::domain::Tag::parse(tag)) else {
            if repository.is_none() {
                events.push(unmatched(state, event, &host, path, tag));
            }
            ignored += 1;
            continue;
        };
        let dedupe_key = event.dedupe_key("registry", &format!("{}:{tag}", repository.key));
        // A digest that is not one is refused with the reason, not dropped: the sender is
        // broken, and the operator sees which notification it was.
        let digest = match event.digest().map(crate::domain::Digest::parse).transpose() {
            Ok(digest) => digest,
            Err(error) => {
                events.push(NewEvent::rejected(
                    "registry",
                    dedupe_key,
                    format!("the notification for {}:{tag} carries {error}", repository.key),
                ));
                continue;
            }
        };
        events.push(NewEvent {
            source: "registry".into(),
            dedupe_key,
            kind: EventKind::Push {
                repository: repository.key.clone(),
                tag,
                digest,
            },
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
    // Like matched pushes: the id plus the target, so a reused id for another tag is recorded too.
    let dedupe = event.dedupe_key("registry-unmatched", &format!("{host}/{path}:{tag}"));
    crate::engine::routing::ignored_event(dedupe, Some(tag), event.digest(), reason)
}
