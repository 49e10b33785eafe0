//! `POST /hooks/forgejo`: Forgejo (and Gitea) webhooks, HMAC-SHA256 verified before anything is
//! parsed. `package` created for a container → a tag to consider; `push` to a configured gitops
//! branch → refresh that working copy; everything else → 2xx, ignored. Replays (new delivery id,
//! same bytes) are deduplicated on the content hash.

use super::Edge;
use super::error::journal_unavailable;
use super::refusals::refused;
use super::state::AppState;
use crate::journal::{AppendOutcome, EventKind, NewEvent, State as EventState};
use crate::wire::forgejo::{self, Delivery, Unused};
use axum::body::Bytes;
use axum::extract::{Extension, FromRequest, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::Digest;

const ROUTE: &str = "/hooks/forgejo";

fn count(result: &'static str) {
    metrics::counter!("pushdeploy_webhook_requests_total", "source" => "forgejo", "result" => result)
        .increment(1);
}

fn header_value<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|value| !value.is_empty())
}

#[tracing::instrument(name = "hook.forgejo", skip_all)]
pub async fn receive(
    State(state): State<AppState>,
    Extension(edge): Extension<Edge>,
    request: axum::extract::Request,
) -> Response {
    if state.readiness.is_shutting_down() {
        count("shutting_down");
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down; retry later").into_response();
    }
    // The signature covers the body, so the body must be read first: within the shared budget.
    let _reservation = match edge.budget.reserve(ROUTE, request.headers()) {
        Ok(reservation) => reservation,
        Err(busy) => return busy,
    };
    let headers = request.headers().clone();
    let body = match Bytes::from_request(request, &()).await {
        Ok(body) => body,
        Err(rejection) => return rejection.into_response(),
    };
    let signed = forgejo::signed_bytes(header_value(&headers, header::CONTENT_TYPE.as_str()), &body);
    let signature = crate::signature::presented_signature(|name| header_value(&headers, name));
    let valid = signature.is_some_and(|signature| {
        crate::signature::verify_hmac(&state.settings.intake.forgejo_secrets, &signed, &signature)
    });
    if !valid {
        count("unauthorized");
        refused(ROUTE, "unauthorized");
        return (StatusCode::UNAUTHORIZED, "missing or wrong webhook signature").into_response();
    }
    let event_type = forgejo::EVENT_TYPE_HEADERS
        .iter()
        .find_map(|name| header_value(&headers, name))
        .unwrap_or("")
        .to_owned();
    let event = match forgejo::parse(&event_type, &signed) {
        Ok(Delivery::Package { host, path, version }) => package(&state, &host, &path, &version),
        Ok(Delivery::Push { branch, urls }) => push(&state, &branch, &urls),
        Err(Unused::Malformed(reason)) => {
            let event = NewEvent::rejected("forgejo", String::new(), reason);
            return journal(&state, &signed, event).await;
        }
        Err(Unused::Ignored(reason)) => Err(reason),
    };
    match event {
        Ok(event) => journal(&state, &signed, event).await,
        Err(reason) => {
            tracing::debug!(%reason, "ignored a Forgejo webhook");
            count("ignored");
            (StatusCode::OK, axum::Json(serde_json::json!({"ignored": reason}))).into_response()
        }
    }
}

async fn journal(state: &AppState, signed: &[u8], mut event: NewEvent) -> Response {
    event.dedupe_key = format!("forgejo:{}", hex::encode(sha2::Sha256::digest(signed)));
    let outcome = match state.journal.append(vec![event.clone()]).await {
        Ok(outcomes) => outcomes.into_iter().next(),
        Err(error) => return journal_unavailable(&error),
    };
    let duplicate = outcome == Some(AppendOutcome::Duplicate);
    count(if duplicate {
        "duplicate"
    } else if event.state == EventState::Rejected {
        "rejected"
    } else if event.state == EventState::Ignored {
        "ignored"
    } else {
        "accepted"
    });
    if !duplicate && event.state == EventState::Received {
        state.wake_engine();
    }
    (
        StatusCode::OK,
        axum::Json(serde_json::json!({"kind": event.kind.as_str(), "duplicate": duplicate})),
    )
        .into_response()
}

/// A created container package version → a push event for the configured repository it names.
fn package(state: &AppState, host: &str, path: &str, version: &str) -> Result<NewEvent, String> {
    // The same matching as registry notifications (aliases included); an unmatched package is
    // journaled `ignored` with the reason and shows in `/status`, like an unmatched push.
    let Some(repository) = crate::engine::routing::find(&state.settings, host, path) else {
        let reason = crate::engine::routing::reason(&state.settings, host, path);
        match &state.engine {
            Some(engine) => engine.unmatched.note(host, path, Some(version), &reason),
            None => tracing::warn!(host, repository = path, "{reason}"),
        }
        let mut event = crate::engine::routing::ignored_event(String::new(), Some(version), None, reason);
        event.source = "forgejo".into();
        return Ok(event);
    };
    let tag = crate::domain::Tag::parse(version).map_err(|error| error.to_string())?;
    Ok(NewEvent {
        source: "forgejo".into(),
        dedupe_key: String::new(),
        kind: EventKind::Push {
            repository: repository.key.clone(),
            tag,
            digest: None,
        },
        state: EventState::Received,
        reason: None,
    })
}

/// A push to a configured gitops branch → a refresh event for that automation.
fn push(state: &AppState, branch: &str, urls: &[String]) -> Result<NewEvent, String> {
    let automation = state.settings.automations.values().find(|automation| {
        urls.contains(&forgejo::normalise_url(&automation.git.url))
            && (automation.checkout_branch == branch || automation.push_branch == branch)
    });
    let automation =
        automation.ok_or_else(|| format!("no automation writes branch {branch} of this repository"))?;
    Ok(NewEvent {
        source: "forgejo".into(),
        dedupe_key: String::new(),
        kind: EventKind::Refresh {
            automation: automation.key.clone(),
        },
        state: EventState::Received,
        reason: None,
    })
}
