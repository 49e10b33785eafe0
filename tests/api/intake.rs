//! Intake in-process (the router with a real journal, no engine): every bad input has its status,
//! its journal entry (or none) and its counter; Forgejo fixture payloads with their signatures.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use pushdeploy::config::{ImageRepository, Origin};
use pushdeploy::domain::{ImageRef, ObjectKey};
use pushdeploy::http::health::Readiness;
use pushdeploy::http::{AppState, NoPokes, router};
use pushdeploy::journal::{Journal, State};
use secrecy::SecretString;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

const TOKEN: &str = "Bearer intake-token";
const V1: &str = "application/vnd.docker.distribution.events.v1+json";

async fn state(dir: &Path) -> AppState {
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
            key: key.clone(),
            image: ImageRef::parse(image).unwrap(),
            interval: Duration::from_secs(60),
            insecure: true,
            ca_files: vec![],
            ca_pems: vec![],
            credentials: None,
            exclusion_list: vec![],
            page_size: 1000,
            aliases: Vec::new(),
            origin: Origin::default(),
        };
        settings.repositories.insert(key, repository);
    }
    let journal = Journal::open(dir).await.unwrap();
    AppState {
        settings: Arc::new(settings),
        journal,
        readiness: Readiness::new(),
        pokes: Arc::new(NoPokes),
        status: None,
        engine: None,
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
    assert_eq!(rejected.len(), 2);
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
    let tags: Vec<_> = events.iter().filter_map(|event| event.tag.clone()).collect();
    assert_eq!(tags, ["3-y", "2-x", "1-good", "1-u"]);
    // A push for an unknown repository is journaled `ignored`, naming what is configured.
    let unknown = events
        .iter()
        .find(|event| event.tag.as_deref() == Some("1-u"))
        .unwrap();
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
        (events[0].repository.as_deref(), events[0].tag.as_deref()),
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
