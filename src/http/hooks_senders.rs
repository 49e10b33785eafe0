//! `POST /hooks/{harbor,github,acr,artifactory,ecr}` and `/hooks/{dockerhub,quay,gar}/{token}`:
//! the registry senders. Each is authenticated the strongest way it allows (a header value or a
//! path token before the body is read, an HMAC over the raw body within the body budget), then
//! parsed by its `wire` module into pushes that are matched to configuration and journaled.
//! Nothing in a payload is trusted beyond naming what to confirm; no payload host is contacted.

use super::Edge;
use super::error::journal_unavailable;
use super::refusals::refused;
use super::state::AppState;
use crate::config::SenderAuth;
use crate::journal::{AppendOutcome, EventKind, NewEvent, State as EventState};
use crate::wire::push::{AuthKind, Pushed, Sender, Unused};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Extension, FromRequest, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use secrecy::{ExposeSecret, SecretString};
use sha2::Digest;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The senders' credentials as the routes compare them (authorization scheme names lower-cased).
pub type SenderCredentials = Arc<BTreeMap<Sender, SenderAuth>>;

/// `intake.<sender>` with each `authorization` value normalised like `/hooks/registry`'s.
pub fn credentials(settings: &crate::config::IntakeSettings) -> SenderCredentials {
    let normalised = settings
        .senders
        .iter()
        .map(|(sender, auth)| {
            let mut auth = auth.clone();
            auth.authorization = auth
                .authorization
                .iter()
                .map(|value| SecretString::from(super::auth::normalize_authorization(value.expose_secret())))
                .collect();
            (*sender, auth)
        })
        .collect();
    Arc::new(normalised)
}

/// The route template of `sender`, for metrics and messages (never the raw path: it holds a token).
pub fn route(sender: Sender) -> &'static str {
    match sender {
        Sender::Harbor => "/hooks/harbor",
        Sender::Github => "/hooks/github",
        Sender::Dockerhub => "/hooks/dockerhub/{token}",
        Sender::Quay => "/hooks/quay/{token}",
        Sender::Acr => "/hooks/acr",
        Sender::Artifactory => "/hooks/artifactory",
        Sender::Ecr => "/hooks/ecr",
        Sender::Gar => "/hooks/gar/{token}",
    }
}

/// Every sender's route.
pub fn routes() -> Router<AppState> {
    let mut router = Router::new();
    for sender in Sender::ALL {
        router = if sender.auth().contains(&AuthKind::PathToken) {
            router.route(
                route(sender),
                post(
                    move |state: State<AppState>,
                          edge: Extension<Edge>,
                          Path(token): Path<String>,
                          request: axum::extract::Request| {
                        receive(sender, state, edge, Some(token), request)
                    },
                ),
            )
        } else {
            router.route(
                route(sender),
                post(
                    move |state: State<AppState>, edge: Extension<Edge>, request: axum::extract::Request| {
                        receive(sender, state, edge, None, request)
                    },
                ),
            )
        };
    }
    router
}

fn count(sender: Sender, result: &'static str) {
    metrics::counter!("pushdeploy_webhook_requests_total", "source" => sender.name(), "result" => result)
        .increment(1);
}

/// What the headers and path prove before the body is read.
enum Proof {
    /// Authenticated already (a header value or a path token matched).
    Done,
    /// An HMAC over the body decides.
    Signature(Vec<u8>),
    Refused(&'static str),
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|value| !value.is_empty())
}

/// Check what can be checked without the body, strongest kind first.
fn prove(sender: Sender, auth: Option<&SenderAuth>, headers: &HeaderMap, token: Option<&str>) -> Proof {
    let Some(auth) = auth else {
        return Proof::Refused("this route has no credentials configured");
    };
    let presented = header(headers, &auth.header);
    for kind in sender.auth() {
        match kind {
            AuthKind::PathToken => {
                if token.is_some_and(|token| crate::signature::verify_token(&auth.tokens, token)) {
                    return with_oidc(auth, headers);
                }
            }
            AuthKind::Authorization => {
                let value = presented.map(super::auth::normalize_authorization);
                if value.is_some_and(|value| crate::signature::verify_token(&auth.authorization, &value)) {
                    return Proof::Done;
                }
            }
            AuthKind::Hmac => {
                let signature = presented
                    .map(|value| value.strip_prefix("sha256=").unwrap_or(value))
                    .and_then(|hex_text| hex::decode(hex_text.to_ascii_lowercase()).ok());
                if let Some(signature) = signature.filter(|_| !auth.secrets.is_empty()) {
                    return Proof::Signature(signature);
                }
            }
        }
    }
    Proof::Refused(match sender.auth()[0] {
        AuthKind::PathToken => "missing or wrong path token",
        AuthKind::Authorization => "missing or wrong authorization header",
        AuthKind::Hmac => "missing or malformed signature header",
    })
}

/// With `intake.gar.oidc`, the push subscription's OIDC token must verify as well.
fn with_oidc(auth: &SenderAuth, headers: &HeaderMap) -> Proof {
    let Some(check) = &auth.oidc else {
        return Proof::Done;
    };
    match check.verify(header(headers, "authorization"), crate::clock::now()) {
        Ok(()) => Proof::Done,
        Err(error) => {
            tracing::warn!(%error, "refused a Pub/Sub push: its OIDC token does not verify");
            Proof::Refused("the push subscription's OIDC token does not verify (see the log for why)")
        }
    }
}

#[tracing::instrument(name = "hook.sender", skip_all, fields(sender = sender.name()))]
async fn receive(
    sender: Sender,
    State(state): State<AppState>,
    Extension(edge): Extension<Edge>,
    token: Option<String>,
    request: axum::extract::Request,
) -> Response {
    if state.readiness.is_shutting_down() {
        count(sender, "shutting_down");
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down; retry later").into_response();
    }
    let auth = edge.senders.get(&sender);
    let proof = prove(sender, auth, request.headers(), token.as_deref());
    if let Proof::Refused(why) = proof {
        count(sender, "unauthorized");
        refused(route(sender), "unauthorized");
        return (StatusCode::UNAUTHORIZED, why).into_response();
    }
    // Only now is the body read, within the shared budget.
    let _reservation = match edge.budget.reserve(route(sender), request.headers()) {
        Ok(reservation) => reservation,
        Err(busy) => return busy,
    };
    let headers = request.headers().clone();
    let body = match Bytes::from_request(request, &()).await {
        Ok(body) => body,
        Err(rejection) => return rejection.into_response(),
    };
    if let Proof::Signature(signature) = &proof {
        let secrets = auth.map_or(&[][..], |auth| auth.secrets.as_slice());
        if !crate::signature::verify_hmac(secrets, &body, signature) {
            count(sender, "unauthorized");
            refused(route(sender), "unauthorized");
            return (StatusCode::UNAUTHORIZED, "the signature does not match the body").into_response();
        }
    }
    let delivery = sender
        .delivery_header()
        .and_then(|name| header(&headers, name))
        .map(super::refusals::truncated);
    match parse(sender, &headers, &body) {
        Ok(pushes) => journal(&state, sender, delivery.as_deref(), &body, &pushes).await,
        Err(Unused::Malformed(reason)) => reject(&state, sender, &body, reason).await,
        Err(Unused::Ignored(reason)) => {
            tracing::debug!(%reason, "ignored a delivery");
            count(sender, "ignored");
            (StatusCode::OK, axum::Json(serde_json::json!({"ignored": reason}))).into_response()
        }
    }
}

fn parse(sender: Sender, headers: &HeaderMap, body: &[u8]) -> Result<Vec<Pushed>, Unused> {
    use crate::wire;
    match sender {
        Sender::Harbor => wire::harbor::parse(body),
        Sender::Github => wire::github::parse(header(headers, "x-github-event").unwrap_or(""), body),
        Sender::Dockerhub => wire::dockerhub::parse(body),
        Sender::Quay => wire::quay::parse(body),
        Sender::Acr => wire::acr::parse(body),
        // Artifactory names no host; its repository key goes in front of the image name, and
        // matching takes the path with or without it (the access methods differ, see `find`).
        Sender::Artifactory => wire::artifactory::parse(body).map(|mut pushes| {
            if let Some(key) = wire::artifactory::origin(body).repo_key {
                for pushed in &mut pushes {
                    pushed.path = format!("{key}/{}", pushed.path);
                }
            }
            pushes
        }),
        Sender::Ecr => wire::ecr::parse(body),
        Sender::Gar => wire::gar::parse(body),
    }
}

/// An authenticated body that is not the sender's format: journaled `rejected`, answered 202.
async fn reject(state: &AppState, sender: Sender, body: &[u8], reason: String) -> Response {
    tracing::warn!(%reason, "rejected a {} delivery", sender.title());
    let dedupe = format!(
        "{}-rejected:{}",
        sender.name(),
        hex::encode(sha2::Sha256::digest(body))
    );
    if let Err(error) = state
        .journal
        .append(vec![NewEvent::rejected(sender.name(), dedupe, reason.clone())])
        .await
    {
        return journal_unavailable(&error);
    }
    count(sender, "rejected");
    (
        StatusCode::ACCEPTED,
        axum::Json(serde_json::json!({"rejected": reason})),
    )
        .into_response()
}

/// Journal every push (matched ones `received`, the rest `ignored` with the reason), then wake
/// the engine. A replayed delivery (same id, or same bytes when the sender sends no id) is
/// recognised by its dedupe key and stored once.
async fn journal(
    state: &AppState,
    sender: Sender,
    delivery: Option<&str>,
    body: &[u8],
    pushes: &[Pushed],
) -> Response {
    let body_hash = hex::encode(sha2::Sha256::digest(body));
    let events: Vec<NewEvent> = pushes
        .iter()
        .map(|pushed| {
            let id = pushed.id.as_deref().or(delivery).unwrap_or(&body_hash);
            let dedupe = format!(
                "{}:{id}:{}/{}:{}",
                sender.name(),
                pushed.host,
                pushed.path,
                pushed.tag
            );
            push_event(state, sender.name(), pushed, dedupe)
        })
        .collect();
    let fresh: Vec<bool> = events
        .iter()
        .map(|event| event.state == EventState::Received)
        .collect();
    let ignored = fresh.iter().filter(|fresh| !**fresh).count();
    let outcomes = match state.journal.append(events).await {
        Ok(outcomes) => outcomes,
        Err(error) => return journal_unavailable(&error),
    };
    let duplicates = outcomes
        .iter()
        .zip(&fresh)
        .filter(|(outcome, fresh)| **fresh && **outcome == AppendOutcome::Duplicate)
        .count();
    let accepted = fresh.iter().filter(|fresh| **fresh).count() - duplicates;
    count(
        sender,
        if accepted > 0 {
            "accepted"
        } else if duplicates > 0 {
            "duplicate"
        } else {
            "ignored"
        },
    );
    if accepted > 0 {
        state.wake_engine();
    }
    let answer = serde_json::json!({"accepted": accepted, "duplicates": duplicates, "ignored": ignored});
    (StatusCode::OK, axum::Json(answer)).into_response()
}

/// The journal entry for one push: `received` for a configured repository, `ignored` (counted,
/// WARNed once per host/repository) for anything else, `rejected` when the sender named a tag
/// or digest that is not one.
pub fn push_event(state: &AppState, source: &str, pushed: &Pushed, dedupe_key: String) -> NewEvent {
    let Some(repository) = find(state, pushed) else {
        let reason = crate::engine::routing::reason(&state.settings, &pushed.host, &pushed.path);
        match &state.engine {
            Some(engine) => engine
                .unmatched
                .note(&pushed.host, &pushed.path, Some(&pushed.tag), &reason),
            None => tracing::warn!(host = pushed.host, repository = pushed.path, "{reason}"),
        }
        let mut event = crate::engine::routing::ignored_event(
            dedupe_key,
            Some(&pushed.tag),
            pushed.digest.as_deref(),
            reason,
        );
        source.clone_into(&mut event.source);
        return event;
    };
    let tag = crate::domain::Tag::parse(&pushed.tag);
    let digest = pushed
        .digest
        .as_deref()
        .map(crate::domain::Digest::parse)
        .transpose();
    match (tag, digest) {
        (Ok(tag), Ok(digest)) => NewEvent {
            source: source.to_owned(),
            dedupe_key,
            kind: EventKind::Push {
                repository: repository.key.clone(),
                tag,
                digest,
            },
            state: EventState::Received,
            reason: None,
        },
        (Err(error), _) | (_, Err(error)) => NewEvent::rejected(
            source,
            dedupe_key,
            format!("the {source} delivery for {} carries {error}", repository.key),
        ),
    }
}

/// The configured repository a push names. A sender that names no host (Artifactory's payload
/// has only its repository key and image name) matches by path alone, and only when exactly one
/// repository has that path (with or without the repository key in front).
fn find<'s>(state: &'s AppState, pushed: &Pushed) -> Option<&'s crate::config::ImageRepository> {
    if !pushed.host.is_empty() {
        return crate::engine::routing::find(&state.settings, &pushed.host, &pushed.path);
    }
    let without_key = pushed.path.split_once('/').map(|(_, rest)| rest);
    let mut matching = state.settings.repositories.values().filter(|repository| {
        let path = repository.image.repository();
        path == pushed.path || Some(path) == without_key
    });
    let first = matching.next()?;
    matching.next().is_none().then_some(first)
}
