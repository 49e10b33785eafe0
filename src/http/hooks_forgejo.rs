//! `POST /hooks/forgejo`: Forgejo (and Gitea) webhooks, HMAC-SHA256 verified before anything is
//! parsed. `package` created for a container → a tag to consider; `push` to a configured gitops
//! branch → refresh that working copy; everything else → 2xx, ignored. Replays (new delivery id,
//! same bytes) are deduplicated on the content hash.

use super::Edge;
use super::error::journal_unavailable;
use super::refusals::refused;
use super::state::AppState;
use crate::journal::{AppendOutcome, NewEvent, State as EventState};
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

/// The bytes Forgejo signed: the body, or for form deliveries the URL-decoded `payload` field.
fn signed_bytes(headers: &HeaderMap, body: &[u8]) -> Vec<u8> {
    let form = header_value(headers, header::CONTENT_TYPE.as_str())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"));
    if form && let Some((_, payload)) = form_urlencoded::parse(body).find(|(name, _)| name == "payload") {
        return payload.into_owned().into_bytes();
    }
    body.to_vec()
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
    let signed = signed_bytes(&headers, &body);
    let signature = crate::signature::presented_signature(|name| header_value(&headers, name));
    let valid = signature.is_some_and(|signature| {
        crate::signature::verify_hmac(&state.settings.intake.forgejo_secrets, &signed, &signature)
    });
    if !valid {
        count("unauthorized");
        refused(ROUTE, "unauthorized");
        return (StatusCode::UNAUTHORIZED, "missing or wrong webhook signature").into_response();
    }
    let event_type = [
        "x-forgejo-event-type",
        "x-gitea-event-type",
        "x-forgejo-event",
        "x-gitea-event",
    ]
    .iter()
    .find_map(|name| header_value(&headers, name))
    .unwrap_or("")
    .to_owned();
    let payload: serde_json::Value = match serde_json::from_slice(&signed) {
        Ok(payload) => payload,
        Err(error) => {
            return journal(
                &state,
                &signed,
                NewEvent::rejected(
                    "forgejo",
                    String::new(),
                    format!("malformed {event_type} payload: {error}"),
                ),
            )
            .await;
        }
    };
    let event = match event_type.as_str() {
        "package" => package(&state, &payload),
        "push" => push(&state, &payload),
        _ => Err(format!("event type {event_type:?} is not used")),
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
    } else {
        "accepted"
    });
    if !duplicate && event.state == EventState::Received {
        state.pokes.engine();
    }
    (
        StatusCode::OK,
        axum::Json(serde_json::json!({"kind": event.kind, "duplicate": duplicate})),
    )
        .into_response()
}

fn text<'v>(value: &'v serde_json::Value, path: &[&str]) -> Option<&'v str> {
    path.iter()
        .try_fold(value, |value, key| value.get(key))?
        .as_str()
        .filter(|text| !text.is_empty())
}

/// A container package version → a push event for the configured repository it names.
fn package(state: &AppState, payload: &serde_json::Value) -> Result<NewEvent, String> {
    if text(payload, &["action"]) != Some("created")
        || text(payload, &["package", "type"]) != Some("container")
    {
        return Err("only created container packages are used".to_owned());
    }
    let version = text(payload, &["package", "version"]).ok_or("package.version is missing")?;
    if version.starts_with("sha256:") {
        return Err(format!(
            "version {version} is a platform manifest digest, not a tag"
        ));
    }
    let html_url = text(payload, &["package", "html_url"]).ok_or("package.html_url is missing")?;
    let url = reqwest::Url::parse(html_url).map_err(|error| format!("package.html_url: {error}"))?;
    let host = url
        .host_str()
        .map(|host| {
            url.port()
                .map_or_else(|| host.to_owned(), |port| format!("{host}:{port}"))
        })
        .unwrap_or_default();
    let owner = text(payload, &["package", "owner", "login"]).ok_or("package.owner.login is missing")?;
    let name = text(payload, &["package", "name"]).ok_or("package.name is missing")?;
    // Forgejo lower-cases package names and versions.
    let path = format!("{}/{}", owner.to_lowercase(), name.to_lowercase());
    let repository = state
        .settings
        .repositories
        .values()
        .find(|repository| repository.image.registry() == host && repository.image.repository() == path);
    let repository =
        repository.ok_or_else(|| format!("{host}/{path} is not a configured image repository"))?;
    let tag = crate::domain::Tag::parse(version).map_err(|error| error.to_string())?;
    Ok(NewEvent {
        source: "forgejo".into(),
        dedupe_key: String::new(),
        kind: "push".into(),
        repository: Some(repository.key.to_string()),
        automation: None,
        tag: Some(tag.to_string()),
        digest: None,
        state: EventState::Received,
        reason: None,
    })
}

fn normalise(url: &str) -> String {
    url.trim_end_matches('/')
        .trim_end_matches(".git")
        .to_ascii_lowercase()
}

/// A push to a configured gitops branch → a refresh event for that automation.
fn push(state: &AppState, payload: &serde_json::Value) -> Result<NewEvent, String> {
    let branch = text(payload, &["ref"])
        .and_then(|reference| reference.strip_prefix("refs/heads/"))
        .ok_or("ref is not a branch")?;
    let urls: Vec<String> = ["clone_url", "ssh_url", "html_url"]
        .iter()
        .filter_map(|field| text(payload, &["repository", field]))
        .map(normalise)
        .collect();
    let automation = state.settings.automations.values().find(|automation| {
        urls.contains(&normalise(&automation.git.url))
            && (automation.checkout_branch == branch || automation.push_branch == branch)
    });
    let automation =
        automation.ok_or_else(|| format!("no automation writes branch {branch} of this repository"))?;
    Ok(NewEvent {
        source: "forgejo".into(),
        dedupe_key: String::new(),
        kind: "refresh".into(),
        repository: None,
        automation: Some(automation.key.to_string()),
        tag: None,
        digest: None,
        state: EventState::Received,
        reason: None,
    })
}

/// The parse step of `receive` on its own (for `fuzz/`): the signed bytes (the body, or a form's
/// `payload` field) parsed as JSON, and the fields `package` and `push` read from it.
#[doc(hidden)]
pub fn parse_payload(headers: &HeaderMap, body: &[u8]) -> Result<Vec<Option<String>>, serde_json::Error> {
    let payload: serde_json::Value = serde_json::from_slice(&signed_bytes(headers, body))?;
    let fields: [&[&str]; 6] = [
        &["action"],
        &["package", "version"],
        &["package", "html_url"],
        &["ref"],
        &["repository", "clone_url"],
        &["repository", "ssh_url"],
    ];
    Ok(fields
        .iter()
        .map(|path| text(&payload, path).map(str::to_owned))
        .collect())
}
