//! The registry senders' routes in-process (router + real journal, no engine): for every route
//! a usable push, its replay, a tampered body, wrong and missing credentials, untagged and
//! digest-as-tag pushes, an unknown repository and a malformed body, each with its status and
//! its journal entry (or none); and each sender's golden payloads from its own docs or code.

use crate::support::senders::{self, SENDERS, image, written};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use pushdeploy::config::{ImageRepository, SenderAuth};
use pushdeploy::domain::{ImageRef, ObjectKey};
use pushdeploy::http::health::Readiness;
use pushdeploy::http::{AppState, router};
use pushdeploy::journal::{Event, Journal, State};
use pushdeploy::wire::push::Sender;
use secrecy::SecretString;
use std::path::Path;
use std::sync::Arc;
use tower::ServiceExt;

const DIGEST: &str = "sha256:9b0a8f2c3d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccddeef";

fn secret(value: &str) -> Vec<SecretString> {
    vec![SecretString::from(value.to_owned())]
}

fn auth(header: &str) -> SenderAuth {
    SenderAuth {
        authorization: Vec::new(),
        secrets: Vec::new(),
        tokens: Vec::new(),
        header: header.to_owned(),
        oidc: None,
    }
}

/// Every sender configured as `support::senders` presents it, and one repository per sender.
pub(crate) async fn state(dir: &Path, extra: &[(&str, &str)]) -> AppState {
    pushdeploy::telemetry::metrics();
    let mut settings = crate::support::settings::empty(dir);
    settings.intake.body_limit = 64 * 1024;
    let with = |kind: &str, value: &str, header: &str| {
        let mut auth = auth(header);
        match kind {
            "authorization" => auth.authorization = secret(value),
            "secrets" => auth.secrets = secret(value),
            _ => auth.tokens = secret(value),
        }
        auth
    };
    let senders = [
        (
            Sender::Harbor,
            with("authorization", senders::HARBOR_AUTH, "authorization"),
        ),
        (
            Sender::Github,
            with("secrets", senders::GITHUB_SECRET, "x-hub-signature-256"),
        ),
        (
            Sender::Dockerhub,
            with("tokens", senders::PATH_TOKEN, "authorization"),
        ),
        (Sender::Quay, with("tokens", senders::PATH_TOKEN, "authorization")),
        (
            Sender::Acr,
            with("authorization", senders::ACR_AUTH, "authorization"),
        ),
        (
            Sender::Artifactory,
            with("secrets", senders::JFROG_SECRET, "x-jfrog-event-auth"),
        ),
        (Sender::Ecr, with("authorization", senders::ECR_KEY, "x-api-key")),
        (Sender::Gar, with("tokens", senders::PATH_TOKEN, "authorization")),
    ];
    settings.intake.senders = senders.into_iter().collect();
    let images: Vec<(String, String)> = SENDERS
        .iter()
        .map(|sender| ((*sender).to_owned(), written(sender)))
        .chain(
            extra
                .iter()
                .map(|(name, image)| ((*name).to_owned(), (*image).to_owned())),
        )
        .collect();
    for (name, image) in images {
        let key = ObjectKey::parse(&format!("flux-system/{name}")).unwrap();
        let repository = ImageRepository::plain(key.clone(), ImageRef::parse(&image).unwrap());
        settings.repositories.insert(key, repository);
    }
    let journal = Journal::open(dir).await.unwrap();
    AppState {
        settings: Arc::new(settings),
        journal,
        readiness: Readiness::new(),
        engine: None,
        alerts: None,
    }
}

pub(crate) async fn post(
    state: &AppState,
    path: &str,
    headers: &[(String, String)],
    body: Vec<u8>,
) -> (StatusCode, String) {
    let mut request = Request::post(path);
    for (name, value) in headers {
        request = request.header(name.as_str(), value.as_str());
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

pub(crate) async fn journaled(state: &AppState) -> Vec<pushdeploy::journal::Event> {
    state.journal.list(None, None, None, 1000).await.unwrap()
}

/// The request `sender` makes for `body`, with its credential replaced by a wrong one.
fn with_wrong_credential(sender: &str, body: &[u8]) -> (String, Vec<(String, String)>) {
    let (path, mut headers) = senders::request(sender, body);
    if path.ends_with(senders::PATH_TOKEN) {
        return (
            path.replace(senders::PATH_TOKEN, "ffffffffffffffffffffffffffffffffwrong-token"),
            headers,
        );
    }
    for (name, value) in &mut headers {
        match name.to_ascii_lowercase().as_str() {
            "authorization" | "x-api-key" => *value = "Bearer wrong".to_owned(),
            "x-hub-signature-256" => *value = format!("sha256={}", "0".repeat(64)),
            "x-jfrog-event-auth" => *value = "0".repeat(64),
            _ => {}
        }
    }
    (path, headers)
}

/// The request with no credential at all.
fn without_credential(sender: &str, body: &[u8]) -> (String, Vec<(String, String)>) {
    let (path, headers) = senders::request(sender, body);
    let path = path.replace(&format!("/{}", senders::PATH_TOKEN), "/");
    let headers = headers
        .into_iter()
        .filter(|(name, _)| {
            ![
                "authorization",
                "x-api-key",
                "x-hub-signature-256",
                "x-jfrog-event-auth",
            ]
            .contains(&name.to_ascii_lowercase().as_str())
        })
        .collect();
    (path, headers)
}

#[tokio::test]
async fn every_sender_route_has_a_tested_answer_for_every_kind_of_delivery() {
    for sender in SENDERS {
        let dir = tempfile::tempdir().unwrap();
        let state = state(dir.path(), &[]).await;
        let (host, path) = image(sender);
        let good = senders::push(
            sender,
            host,
            &path,
            "2-f62ba56a999ec99a7375fed529acf4b336691bdb",
            DIGEST,
        );
        let count = async || journaled(&state).await.len();

        for (what, (route, headers)) in [
            ("wrong credential", with_wrong_credential(sender, &good)),
            ("no credential", without_credential(sender, &good)),
        ] {
            let (status, answer) = post(&state, &route, &headers, good.clone()).await;
            let expected = if route.ends_with(&format!("/{sender}/")) {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::UNAUTHORIZED
            };
            assert_eq!(status, expected, "{sender} {what}: {answer}");
            assert!(
                !answer.contains(senders::PATH_TOKEN),
                "{sender}: no credential echoed"
            );
            assert_eq!(count().await, 0, "{sender} {what}: nothing journaled");
        }
        if ["github", "artifactory"].contains(&sender) {
            let (route, headers) = senders::request(sender, &good);
            let mut tampered = good.clone();
            let at = tampered.iter().position(|byte| *byte == b'2').unwrap();
            tampered[at] = b'9';
            let (status, answer) = post(&state, &route, &headers, tampered).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{sender} tampered: {answer}");
            assert_eq!(count().await, 0, "{sender} tampered: nothing journaled");
        }

        let (route, headers) = senders::request(sender, &good);
        let (status, answer) = post(&state, &route, &headers, good.clone()).await;
        assert_eq!(
            (status, answer.as_str()),
            (StatusCode::OK, r#"{"accepted":1,"duplicates":0,"ignored":0}"#),
            "{sender}"
        );
        let events = journaled(&state).await;
        assert_eq!(events.len(), 1, "{sender}");
        assert_eq!(events[0].state, State::Received, "{sender}");
        assert_eq!(events[0].source, sender);
        assert_eq!(
            events[0].kind.repository().map(ToString::to_string),
            Some(format!("flux-system/{sender}"))
        );
        assert_eq!(
            events[0].tag(),
            Some("2-f62ba56a999ec99a7375fed529acf4b336691bdb"),
            "{sender}"
        );

        let (status, answer) = post(&state, &route, &headers, good.clone()).await;
        assert_eq!(
            (status, answer.as_str()),
            (StatusCode::OK, r#"{"accepted":0,"duplicates":1,"ignored":0}"#),
            "{sender} replay"
        );
        assert_eq!(count().await, 1, "{sender}: a replay is stored once");

        for (what, tag) in [("untagged", ""), ("digest as tag", DIGEST)] {
            let body = senders::push(sender, host, &path, tag, DIGEST);
            let (route, headers) = senders::request(sender, &body);
            let (status, answer) = post(&state, &route, &headers, body).await;
            assert_eq!(status, StatusCode::OK, "{sender} {what}: {answer}");
            assert!(
                answer.contains("\"ignored\":\""),
                "{sender} {what}: a reason, not work: {answer}"
            );
            assert_eq!(count().await, 1, "{sender} {what}: not journaled");
        }

        let unknown_path = if sender == "artifactory" {
            "docker-local/unknown".to_owned()
        } else {
            format!("{path}-unknown")
        };
        let body = senders::push(sender, host, &unknown_path, "3-abc", DIGEST);
        let (route, headers) = senders::request(sender, &body);
        let (status, answer) = post(&state, &route, &headers, body).await;
        assert_eq!(
            (status, answer.as_str()),
            (StatusCode::OK, r#"{"accepted":0,"duplicates":0,"ignored":1}"#),
            "{sender} unknown"
        );
        let events = journaled(&state).await;
        assert_eq!(events.len(), 2, "{sender}: the unknown push is journaled");
        assert_eq!(events[0].state, State::Ignored);
        assert!(
            events[0]
                .reason
                .as_deref()
                .unwrap_or_default()
                .contains("no ImageRepository matches"),
            "{:?}",
            events[0].reason
        );

        let (route, headers) = senders::request(sender, b"{\"not\": ");
        let (status, answer) = post(&state, &route, &headers, b"{\"not\": ".to_vec()).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{sender} malformed: {answer}");
        assert!(answer.contains("rejected"), "{answer}");
        let events = journaled(&state).await;
        assert_eq!(
            (events.len(), events[0].state),
            (3, State::Rejected),
            "{sender}: malformed is journaled rejected"
        );
    }
}

#[tokio::test]
async fn a_route_without_configured_credentials_refuses_everything() {
    let dir = tempfile::tempdir().unwrap();
    let mut state = state(dir.path(), &[]).await;
    let mut settings = (*state.settings).clone();
    settings.intake.senders.clear();
    state.settings = Arc::new(settings);
    for sender in SENDERS {
        let (host, path) = image(sender);
        let body = senders::push(sender, host, &path, "2-abc", DIGEST);
        let (route, headers) = senders::request(sender, &body);
        let (status, answer) = post(&state, &route, &headers, body).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{sender}: {answer}");
    }
    assert!(journaled(&state).await.is_empty());
}

fn golden(sender: &str, file: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/senders/{sender}/{file}"));
    std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// Google's own Pub/Sub push envelope with its greeting replaced by an Artifact Registry
/// notification, as a push subscription delivers it.
fn pubsub_envelope(data: &[u8]) -> Vec<u8> {
    use base64::Engine as _;
    let mut envelope: serde_json::Value =
        serde_json::from_slice(&golden("gar", "pubsub_push_envelope.json")).unwrap();
    envelope["message"]["data"] = base64::engine::general_purpose::STANDARD.encode(data).into();
    serde_json::to_vec(&envelope).unwrap()
}

/// One more event than `before` is journaled, the newest first, in `state`.
fn journaled_one(events: &[Event], before: usize, state: State, sender: &str, file: &str) {
    assert_eq!(events.len(), before + 1, "{sender} {file}: journaled");
    assert_eq!(events[0].state, state, "{sender} {file}: {:?}", events[0]);
}

/// What becomes of one golden payload.
enum Outcome {
    /// Journaled `received` for this configured repository.
    Taken(&'static str),
    /// Journaled `rejected` with a reason containing this.
    Rejected(&'static str),
    /// Answered `ignored` with a reason containing this, nothing journaled.
    Ignored(&'static str),
}
use Outcome::{Ignored, Rejected, Taken};

/// The sender's own published payloads, through the route with the sender's credential: the
/// tagged pushes they name are journaled for the repositories configured for them, every other
/// event kind is answered with the reason.
#[tokio::test]
async fn the_senders_own_golden_payloads_are_taken_or_ignored_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let repositories = [
        ("g-harbor", "hub.harbor.com/test-webhook/debian"),
        ("g-github", "ghcr.io/codertocat/hello-world"),
        ("g-dockerhub", "svendowideit/testhook"),
        ("g-quay", "quay.io/dgangaia/test"),
        ("g-acr", "myregistry.azurecr.io/hello-world"),
        (
            "g-artifactory",
            "art.example.com/docker-remote-cache/library/ubuntu",
        ),
        ("g-ecr", "123456789012.dkr.ecr.us-west-2.amazonaws.com/my-repo"),
        ("g-gar", "us-west1-docker.pkg.dev/my-project/my-repo/hello-world"),
    ];
    let state = state(dir.path(), &repositories).await;
    // (sender, file, GitHub event, what becomes of it)
    let rows = [
        ("harbor", "push_artifact.json", "", Taken("g-harbor")),
        (
            "harbor",
            "artifact_pushed_cloudevents.json",
            "",
            Ignored("is a digest, not a tag"),
        ),
        (
            "harbor",
            "push_artifact_by_digest.json",
            "",
            Ignored("is a digest, not a tag"),
        ),
        ("harbor", "pull_artifact_compact.json", "", Ignored("harbor:")),
        (
            "harbor",
            "artifact_deleted_cloudevents.json",
            "",
            Ignored("harbor:"),
        ),
        (
            "github",
            "package.published.tagged.json",
            "package",
            Taken("g-github"),
        ),
        (
            "github",
            "registry_package.published.tagged.json",
            "registry_package",
            Taken("g-github"),
        ),
        // GitHub's mock digest has 40 digits, not 64: refused with the reason, not written.
        (
            "github",
            "package.published.docker.json",
            "package",
            Ignored("github:"),
        ),
        (
            "github",
            "package.published.npm.json",
            "package",
            Ignored("github:"),
        ),
        ("github", "ping.json", "ping", Ignored("ping")),
        ("dockerhub", "push.json", "", Taken("g-dockerhub")),
        ("quay", "repo_push_redhat_docs.json", "", Taken("g-quay")),
        ("acr", "push_2017.json", "", Taken("g-acr")),
        // The docs mask the digest with `xxxx`: a digest that is not one is refused loudly.
        (
            "acr",
            "push.json",
            "",
            Rejected("is invalid: expected 64 lower-case hex digits"),
        ),
        ("acr", "delete.json", "", Ignored("acr:")),
        ("acr", "chart_push.json", "", Ignored("acr:")),
        ("artifactory", "docker_pushed.json", "", Taken("g-artifactory")),
        // AWS's example digest has 60 digits: refused loudly, like ACR's masked one.
        (
            "ecr",
            "image_push.json",
            "",
            Rejected("is invalid: expected 64 lower-case hex digits"),
        ),
        ("ecr", "image_delete.json", "", Ignored("ecr:")),
        // Google's example digest is cut short with `...`: refused loudly.
        (
            "gar",
            "insert_tag.data.json",
            "",
            Rejected("is invalid: expected 64 lower-case hex digits"),
        ),
        ("gar", "insert_digest.data.json", "", Ignored("gar:")),
        ("gar", "delete_tag.data.json", "", Ignored("gar:")),
    ];
    for (sender, file, event, expected) in rows {
        let body = if sender == "gar" {
            pubsub_envelope(&golden(sender, file))
        } else {
            golden(sender, file)
        };
        let (route, mut headers) = senders::request(sender, &body);
        if sender == "github" {
            headers.retain(|(name, _)| name != "X-GitHub-Event");
            headers.push(("X-GitHub-Event".to_owned(), event.to_owned()));
        }
        let before = journaled(&state).await.len();
        let (status, answer) = post(&state, &route, &headers, body).await;
        assert_eq!(status, StatusCode::OK, "{sender} {file}: {answer}");
        let events = journaled(&state).await;
        match expected {
            Taken(repository) => {
                assert!(answer.starts_with("{\"accepted\":"), "{sender} {file}: {answer}");
                journaled_one(&events, before, State::Received, sender, file);
                assert_eq!(
                    events[0].kind.repository().map(ToString::to_string),
                    Some(format!("flux-system/{repository}")),
                    "{sender} {file}"
                );
            }
            Rejected(reason) => {
                journaled_one(&events, before, State::Rejected, sender, file);
                let journaled = events[0].reason.as_deref().unwrap_or_default();
                assert!(journaled.contains(reason), "{sender} {file}: {journaled}");
            }
            Ignored(reason) => {
                assert!(
                    answer.contains("\"ignored\":\"") && answer.contains(reason),
                    "{sender} {file}: {answer}"
                );
                assert_eq!(events.len(), before, "{sender} {file}: not journaled");
            }
        }
    }
}
