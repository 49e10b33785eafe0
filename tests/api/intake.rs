//! Intake in-process (the router with a real journal, no engine): every bad input has its status,
//! its journal entry (or none) and its counter; Forgejo fixture payloads with their signatures.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use pushdeploy::config::ImageRepository;
use pushdeploy::domain::{ImageRef, ObjectKey};
use pushdeploy::http::health::Readiness;
use pushdeploy::http::{AppState, router};
use pushdeploy::journal::{Journal, State};
use secrecy::SecretString;
use std::path::Path;
use std::sync::Arc;
use tower::ServiceExt;

const TOKEN: &str = "Bearer intake-token";
const V1: &str = "application/vnd.docker.distribution.events.v1+json";

async fn state(dir: &Path) -> AppState {
    state_with(dir, |_| {}).await
}

/// The intake state, with `tweak` applied to the settings last.
async fn state_with(dir: &Path, tweak: impl FnOnce(&mut pushdeploy::config::Settings)) -> AppState {
    pushdeploy::telemetry::metrics();
    let mut settings = crate::support::settings::empty(dir);
    settings.intake.registry_authorization = vec![SecretString::from(TOKEN.to_owned())];
    settings.intake.forgejo_secrets = vec![SecretString::from("fixture-secret".to_owned())];
    settings.intake.body_limit = 64 * 1024;
    for (name, image) in [
        ("mcp", "127.0.0.1:5000/goldentooth-mcp"),
        ("webapp", "forgejo.example.com/alice/webapp"),
    ] {
        let key = ObjectKey::parse(&format!("flux-system:{name}")).unwrap();
        let repository = ImageRepository {
            insecure: true,
            ..ImageRepository::plain(key.clone(), ImageRef::parse(image).unwrap())
        };
        settings.repositories.insert(key, repository);
    }
    tweak(&mut settings);
    let journal = Journal::open(dir).await.unwrap();
    AppState {
        settings: Arc::new(settings),
        journal,
        readiness: Readiness::new(),
        engine: None,
        alerts: None,
    }
}

async fn post(state: &AppState, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> (StatusCode, String) {
    let mut request = Request::post(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = router(state.clone())
        .oneshot(request.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

type Headers<'a> = Vec<(&'a str, &'a str)>;
/// name, headers, body, expected status, journal entries afterwards.
type Row<'a> = (&'a str, Headers<'a>, Vec<u8>, StatusCode, usize);

fn push(id: &str, tag: &str) -> serde_json::Value {
    serde_json::json!({"id": id, "action": "push", "target": {"mediaType": "application/vnd.oci.image.manifest.v1+json",
        "repository": "goldentooth-mcp", "tag": tag, "url": "http://127.0.0.1:5000/v2/goldentooth-mcp/manifests/sha256:00"}})
}

fn envelope(events: &[serde_json::Value]) -> Vec<u8> {
    serde_json::json!({"events": events}).to_string().into_bytes()
}

async fn journaled(state: &AppState) -> Vec<pushdeploy::journal::Event> {
    state.journal.list(None, None, None, 1000).await.unwrap()
}

#[tokio::test]
async fn the_registry_bad_input_table() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path()).await;
    let auth = [("Authorization", TOKEN), ("Content-Type", V1)];
    let rows: Vec<Row<'_>> = vec![
        ("missing token", vec![("Content-Type", V1)], envelope(&[push("a", "1-a")]), StatusCode::UNAUTHORIZED, 0),
        ("wrong token", vec![("Authorization", "Bearer nope"), ("Content-Type", V1)], envelope(&[push("a", "1-a")]), StatusCode::UNAUTHORIZED, 0),
        ("oversize body", auth.to_vec(), vec![b' '; 70 * 1024], StatusCode::PAYLOAD_TOO_LARGE, 0),
        ("malformed JSON", auth.to_vec(), b"{\"events\": [".to_vec(), StatusCode::ACCEPTED, 1),
        ("wrong content type", vec![("Authorization", TOKEN), ("Content-Type", "text/plain")], envelope(&[push("b", "1-b")]), StatusCode::ACCEPTED, 2),
        ("pull and blob events", auth.to_vec(), envelope(&[serde_json::json!({"id": "p", "action": "pull", "target": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "repository": "goldentooth-mcp", "tag": "1-p"}}), serde_json::json!({"id": "q", "action": "push", "target": {"mediaType": "application/octet-stream", "repository": "goldentooth-mcp"}})]), StatusCode::OK, 2),
        ("by-digest push", auth.to_vec(), envelope(&[serde_json::json!({"id": "d", "action": "push", "target": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "repository": "goldentooth-mcp", "tag": ""}})]), StatusCode::OK, 2),
        ("unknown repository", auth.to_vec(), envelope(&[serde_json::json!({"id": "u", "action": "push", "target": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "repository": "other", "tag": "1-u", "url": "http://127.0.0.1:5000/v2/other/manifests/x"}})]), StatusCode::OK, 3),
        ("a usable push", auth.to_vec(), envelope(&[push("good", "1-good")]), StatusCode::OK, 4),
        ("the same event again", auth.to_vec(), envelope(&[push("good", "1-good")]), StatusCode::OK, 4),
        ("two events, keys reordered, request.host fallback", auth.to_vec(), br#"{"events":[{"target":{"tag":"2-x","repository":"goldentooth-mcp","mediaType":"application/vnd.docker.distribution.manifest.v2+json","url":""},"action":"push","id":"r1","request":{"host":"127.0.0.1:5000"}},{"id":"r2","action":"push","target":{"tag":"3-y","repository":"goldentooth-mcp","mediaType":"application/vnd.oci.image.index.v1+json","url":"http://127.0.0.1:5000/v2/goldentooth-mcp/manifests/sha256:1"}}]}"#.to_vec(), StatusCode::OK, 6),
        ("a push whose digest is not one", auth.to_vec(), envelope(&[serde_json::json!({"id": "m", "action": "push", "target": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "repository": "goldentooth-mcp", "tag": "4-m", "digest": "md5:abc", "url": "http://127.0.0.1:5000/v2/goldentooth-mcp/manifests/4-m"}})]), StatusCode::OK, 7),
    ];
    for (name, headers, body, status, entries) in rows {
        let (actual, text) = post(&state, "/hooks/registry", &headers, body).await;
        assert_eq!(actual, status, "{name}: {text}");
        assert_eq!(journaled(&state).await.len(), entries, "{name}: journal entries");
    }
    let events = journaled(&state).await;
    let rejected: Vec<_> = events
        .iter()
        .filter(|event| event.state == State::Rejected)
        .collect();
    assert_eq!(rejected.len(), 3);
    assert!(
        rejected.iter().any(|event| {
            let reason = event.reason.as_deref().unwrap();
            reason.contains("flux-system") && reason.contains("4-m") && reason.contains("md5:abc")
        }),
        "a bad digest is refused with the reason, not dropped: {rejected:?}"
    );
    assert!(rejected.iter().any(|event| {
        event
            .reason
            .as_deref()
            .unwrap()
            .contains("malformed notification")
    }));
    assert!(rejected.iter().any(|event| {
        event
            .reason
            .as_deref()
            .unwrap()
            .contains("unsupported content type")
    }));
    let tags: Vec<_> = events
        .iter()
        .filter_map(|event| event.tag().map(str::to_owned))
        .collect();
    assert_eq!(tags, ["3-y", "2-x", "1-good", "1-u"]);
    // A push for an unknown repository is journaled `ignored`, naming what is configured.
    let unknown = events.iter().find(|event| event.tag() == Some("1-u")).unwrap();
    assert_eq!(unknown.state, State::Ignored);
    assert!(
        unknown
            .reason
            .as_deref()
            .unwrap()
            .contains("no ImageRepository matches 127.0.0.1:5000/other; configured:"),
        "{unknown:?}"
    );
    let metrics = pushdeploy::telemetry::render_metrics();
    assert!(
        metrics.contains("pushdeploy_webhook_requests_total{source=\"registry\",result=\"unauthorized\"}"),
        "{metrics}"
    );
}

#[tokio::test]
async fn intake_answers_503_while_shutting_down_and_journals_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path()).await;
    state.readiness.begin_shutdown();
    let (status, _) = post(
        &state,
        "/hooks/registry",
        &[("Authorization", TOKEN), ("Content-Type", V1)],
        envelope(&[push("s", "1-s")]),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(journaled(&state).await.is_empty());
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/testdata/payloads")
            .join(name),
    )
    .unwrap()
}

const PACKAGE_SIGNATURE: &str = "89345935fde3c03dea63e5ca66a8e0ebcd7be123216aeab6446651bec4f86474";
const PUSH_SIGNATURE: &str = "4dd09e372c817238ff4cb6757c9809c9f5ff0d6f5cb517f577e9241b03cf2bb1";

#[tokio::test]
async fn forgejo_fixture_payloads_with_their_signatures() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path()).await;
    let package = fixture("forgejo_package_created.json");
    let headers = [
        ("Content-Type", "application/json"),
        ("X-Forgejo-Event", ""),
        ("X-Forgejo-Event-Type", "package"),
        ("X-Forgejo-Signature", PACKAGE_SIGNATURE),
    ];
    assert_eq!(
        post(&state, "/hooks/forgejo", &headers, package.clone()).await.0,
        StatusCode::OK
    );
    let events = journaled(&state).await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        (
            events[0].kind.repository().map(ToString::to_string).as_deref(),
            events[0].tag()
        ),
        (Some("flux-system/webapp"), Some("1.4.2"))
    );
    // A replay: new delivery id, identical bytes → deduplicated.
    let (status, body) = post(&state, "/hooks/forgejo", &headers, package.clone()).await;
    assert_eq!(
        (status, body.contains("\"duplicate\":true")),
        (StatusCode::OK, true)
    );
    // GitHub-style header with prefix works too.
    let hub = format!("sha256={PACKAGE_SIGNATURE}");
    let hub_headers = [
        ("Content-Type", "application/json"),
        ("X-Forgejo-Event-Type", "package"),
        ("X-Hub-Signature-256", hub.as_str()),
    ];
    assert_eq!(
        post(&state, "/hooks/forgejo", &hub_headers, package.clone())
            .await
            .0,
        StatusCode::OK
    );
    // A push to a branch no automation writes is ignored with a 2xx, not journaled.
    let push_headers = [
        ("Content-Type", "application/json"),
        ("X-Forgejo-Event-Type", "push"),
        ("X-Forgejo-Signature", PUSH_SIGNATURE),
    ];
    assert_eq!(
        post(
            &state,
            "/hooks/forgejo",
            &push_headers,
            fixture("forgejo_push_docs.json")
        )
        .await
        .0,
        StatusCode::OK
    );
    assert_eq!(journaled(&state).await.len(), 1);
}

#[tokio::test]
async fn forged_or_unsigned_forgejo_deliveries_are_rejected_before_parsing() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path()).await;
    let package = fixture("forgejo_package_created.json");
    let mut tampered = package.clone();
    tampered[10] ^= 1;
    let cases: Vec<(Headers<'_>, Vec<u8>)> = vec![
        (
            vec![
                ("X-Forgejo-Event-Type", "package"),
                ("X-Forgejo-Signature", PACKAGE_SIGNATURE),
            ],
            tampered,
        ),
        (
            vec![("X-Forgejo-Event-Type", "package"), ("X-Forgejo-Signature", "")],
            package.clone(),
        ),
        (vec![("X-Forgejo-Event-Type", "package")], package.clone()),
        (
            vec![
                ("X-Forgejo-Event-Type", "package"),
                ("X-Forgejo-Signature", PUSH_SIGNATURE),
            ],
            package.clone(),
        ),
        (
            vec![
                ("X-Forgejo-Event-Type", "package"),
                ("X-Forgejo-Signature", "zz-not-hex"),
            ],
            b"not even json".to_vec(),
        ),
    ];
    for (headers, body) in cases {
        assert_eq!(
            post(&state, "/hooks/forgejo", &headers, body).await.0,
            StatusCode::UNAUTHORIZED,
            "{headers:?}"
        );
    }
    assert!(journaled(&state).await.is_empty());
}

#[tokio::test]
async fn form_encoded_deliveries_are_verified_over_the_decoded_payload_and_digest_versions_ignored() {
    use hmac::Mac;
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path()).await;
    let mut payload: serde_json::Value =
        serde_json::from_slice(&fixture("forgejo_package_created.json")).unwrap();
    let sign = |bytes: &[u8]| {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"fixture-secret").unwrap();
        mac.update(bytes);
        hex::encode(mac.finalize().into_bytes())
    };
    let json = payload.to_string();
    let form: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &json)
        .finish();
    let signature = sign(json.as_bytes());
    let headers = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("X-Forgejo-Event-Type", "package"),
        ("X-Forgejo-Signature", signature.as_str()),
    ];
    assert_eq!(
        post(&state, "/hooks/forgejo", &headers, form.into_bytes())
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(journaled(&state).await.len(), 1);
    payload["package"]["version"] = serde_json::json!(format!("sha256:{}", "a".repeat(64)));
    let digest_version = payload.to_string();
    let signature = sign(digest_version.as_bytes());
    let headers = [
        ("Content-Type", "application/json"),
        ("X-Forgejo-Event-Type", "package"),
        ("X-Forgejo-Signature", signature.as_str()),
    ];
    let (status, body) = post(&state, "/hooks/forgejo", &headers, digest_version.into_bytes()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("platform manifest digest"), "{body}");
    assert_eq!(journaled(&state).await.len(), 1);
}

/// The value of one counter series in `/metrics` (0 when absent).
fn counter(series: &str) -> u64 {
    pushdeploy::telemetry::render_metrics()
        .lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse::<f64>().ok())
        .map_or(0, |value| value as u64)
}

#[tokio::test]
async fn a_body_limit_above_two_mib_is_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let state = state_with(dir.path(), |settings| {
        settings.intake.body_limit = 3 * 1024 * 1024
    })
    .await;
    let auth = [("Authorization", TOKEN), ("Content-Type", V1)];
    let padded = |size: usize| {
        let mut body = envelope(&[push("big", "1-big")]);
        body.resize(size, b' ');
        body
    };
    let (status, text) = post(&state, "/hooks/registry", &auth, padded(5 * 1024 * 1024 / 2)).await;
    assert_eq!(status, StatusCode::OK, "2.5 MiB under a 3 MiB limit: {text}");
    assert_eq!(journaled(&state).await.len(), 1);
    let (status, _) = post(&state, "/hooks/registry", &auth, padded(7 * 1024 * 1024 / 2)).await;
    assert_eq!(
        status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "3.5 MiB over a 3 MiB limit"
    );
    assert_eq!(journaled(&state).await.len(), 1);
}

#[tokio::test]
async fn a_registry_event_id_reused_for_another_tag_or_digest_is_not_a_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path()).await;
    let auth = [("Authorization", TOKEN), ("Content-Type", V1)];
    let mut other_digest = push("same-id", "1-a");
    other_digest["target"]["digest"] = serde_json::json!(format!("sha256:{}", "b".repeat(64)));
    let rows = [
        (push("same-id", "1-a"), 1),
        (push("same-id", "1-a"), 1),
        (push("same-id", "2-b"), 2),
        (other_digest.clone(), 3),
        (other_digest, 3),
    ];
    for (event, entries) in rows {
        let (status, text) = post(&state, "/hooks/registry", &auth, envelope(&[event])).await;
        assert_eq!(status, StatusCode::OK, "{text}");
        assert_eq!(journaled(&state).await.len(), entries, "{text}");
    }
}

#[tokio::test]
async fn authorization_scheme_names_are_case_insensitive_on_the_registry_hook() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path()).await;
    for (n, value) in [
        "bearer intake-token",
        "BEARER intake-token",
        "Bearer  intake-token",
    ]
    .into_iter()
    .enumerate()
    {
        let headers = [("Authorization", value), ("Content-Type", V1)];
        let (status, text) = post(
            &state,
            "/hooks/registry",
            &headers,
            envelope(&[push(&format!("c{n}"), "1-c")]),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{value}: {text}");
    }
    let wrong_case_credentials = [("Authorization", "Bearer INTAKE-TOKEN"), ("Content-Type", V1)];
    let (status, _) = post(
        &state,
        "/hooks/registry",
        &wrong_case_credentials,
        envelope(&[push("d", "1-d")]),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "credentials stay case-sensitive"
    );
}

async fn api_call(
    state: &AppState,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (StatusCode, String, String) {
    let mut request = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = router(state.clone())
        .oneshot(request.body(Body::from(body.to_owned())).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, content_type, String::from_utf8_lossy(&bytes).into_owned())
}

fn with_api_token(settings: &mut pushdeploy::config::Settings) {
    use sha2::Digest;
    settings.api.tokens = vec![pushdeploy::config::ApiToken {
        name: "ci".to_owned(),
        sha256: sha2::Sha256::digest(b"ci-token").into(),
        scope: pushdeploy::config::Scope::Promote,
    }];
}

#[tokio::test]
async fn tokenless_api_posts_cost_a_counter_and_no_audit_rows() {
    let dir = tempfile::tempdir().unwrap();
    let state = state_with(dir.path(), with_api_token).await;
    let series = "pushdeploy_http_refused_total{route=\"/api/v1/policies/{namespace}/{name}/pin\",reason=\"unauthorized\"}";
    let before = counter(series);
    const N: u64 = 200;
    for n in 0..N {
        let token = if n % 2 == 0 {
            None
        } else {
            Some(("Authorization", "Bearer wrong"))
        };
        let headers: Vec<_> = token.into_iter().collect();
        let path = format!("/api/v1/policies/flux-system/app-{n}/pin");
        let (status, content_type, _) = api_call(&state, "POST", &path, &headers, "").await;
        assert_eq!(
            (status, content_type.as_str()),
            (StatusCode::UNAUTHORIZED, "application/problem+json")
        );
    }
    assert_eq!(counter(series) - before, N);
    assert!(
        state.journal.audit_entries(1000).await.unwrap().is_empty(),
        "refusals wrote audit rows"
    );
}

#[tokio::test]
async fn bearer_is_case_insensitive_and_non_json_bodies_are_415_problems() {
    let dir = tempfile::tempdir().unwrap();
    let state = state_with(dir.path(), with_api_token).await;
    let path = "/api/v1/policies/flux-system/mcp/promote";
    let (status, content_type, body) = api_call(
        &state,
        "POST",
        path,
        &[
            ("Authorization", "bearer ci-token"),
            ("Content-Type", "text/plain"),
        ],
        r#"{"tag": "1-a"}"#,
    )
    .await;
    assert_eq!(
        (status, content_type.as_str()),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "application/problem+json"),
        "{body}"
    );
    let problem: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(problem["type"], "urn:pushdeploy:problem:unsupported-media-type");
    assert!(
        problem["detail"].as_str().unwrap().contains("application/json"),
        "{problem}"
    );
    // The same call as JSON passes the token and media checks and reaches the (absent) engine.
    let (status, _, body) = api_call(
        &state,
        "POST",
        path,
        &[
            ("Authorization", "BEARER ci-token"),
            ("Content-Type", "application/json; charset=utf-8"),
        ],
        r#"{"tag": "1-a"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let audit = state.journal.audit_entries(10).await.unwrap();
    assert_eq!(audit.len(), 2, "authenticated calls are still audited: {audit:?}");
}

#[tokio::test]
async fn unknown_routes_answer_problem_json_404s() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path()).await;
    for (method, path) in [
        ("GET", "/nope?token=planted"),
        ("POST", "/api/v1/nothing"),
        ("GET", "/api/v2/policies"),
    ] {
        let (status, content_type, body) = api_call(&state, method, path, &[], "").await;
        assert_eq!(
            (status, content_type.as_str()),
            (StatusCode::NOT_FOUND, "application/problem+json"),
            "{path}: {body}"
        );
        let problem: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(problem["type"], "urn:pushdeploy:problem:not-found", "{body}");
        assert!(
            !body.contains("planted"),
            "the query string is not echoed: {body}"
        );
    }
}

#[tokio::test]
async fn forgejo_packages_match_by_alias_and_unmatched_ones_are_journaled_ignored() {
    use hmac::Mac;
    let dir = tempfile::tempdir().unwrap();
    let webapp = ObjectKey::parse("flux-system:webapp").unwrap();
    let state = state_with(dir.path(), |settings| {
        let repository = settings.repositories.get_mut(&webapp).unwrap();
        repository.aliases = vec!["forge.internal:3000".to_owned()];
    })
    .await;
    let deliver = |host: &str, owner: &str| {
        let mut payload: serde_json::Value =
            serde_json::from_slice(&fixture("forgejo_package_created.json")).unwrap();
        payload["package"]["html_url"] = serde_json::json!(format!(
            "https://{host}/{owner}/-/packages/container/webapp/1.4.2"
        ));
        payload["package"]["owner"]["login"] = serde_json::json!(owner);
        let body = payload.to_string().into_bytes();
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"fixture-secret").unwrap();
        mac.update(&body);
        (body, hex::encode(mac.finalize().into_bytes()))
    };
    let send = async |host: &str, owner: &str| {
        let (body, signature) = deliver(host, owner);
        let headers = [
            ("Content-Type", "application/json"),
            ("X-Forgejo-Event-Type", "package"),
            ("X-Forgejo-Signature", signature.as_str()),
        ];
        let (status, answer) = post(&state, "/hooks/forgejo", &headers, body).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    };
    send("forge.internal:3000", "alice").await;
    let events = journaled(&state).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        events[0].kind.repository().map(ToString::to_string).as_deref(),
        Some("flux-system/webapp"),
        "matched by its alias"
    );

    send("forgejo.example.com", "mallory").await;
    let events = journaled(&state).await;
    let ignored: Vec<_> = events
        .iter()
        .filter(|event| event.state == pushdeploy::journal::State::Ignored)
        .collect();
    assert_eq!(ignored.len(), 1, "the unmatched package is journaled: {events:?}");
    let reason = ignored[0].reason.as_deref().unwrap_or_default();
    assert!(
        reason.contains("no ImageRepository matches forgejo.example.com/mallory/webapp"),
        "{reason}"
    );
    assert_eq!(ignored[0].source, "forgejo");
    assert_eq!(ignored[0].tag(), Some("1.4.2"));
}
