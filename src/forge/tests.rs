#![allow(clippy::unwrap_used)]
//! The client's pure pieces, and two runs over a socket against a tiny forge on 127.0.0.1.

use super::client::default_headers;
use super::*;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap as AxumHeaders, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use secrecy::SecretString;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

const TOKEN: &str = "s3cr3t-token-value";

fn api(kind: ForgeKind, base: &str) -> ForgeApi {
    ForgeApi {
        kind,
        base: base.to_owned(),
        repository: "acme/deploy".to_owned(),
        token: SecretString::from(TOKEN),
        ca_pem: Vec::new(),
    }
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{address}")
}

#[test]
fn kinds_have_names_and_parse_back() {
    for kind in [
        ForgeKind::Forgejo,
        ForgeKind::Gitea,
        ForgeKind::Github,
        ForgeKind::Gitlab,
    ] {
        assert_eq!(ForgeKind::parse(kind.name()), Some(kind));
    }
    assert_eq!(ForgeKind::parse("GitHub"), Some(ForgeKind::Github));
    assert_eq!(ForgeKind::parse("bitbucket"), None);
}

#[test]
fn default_api_bases_follow_each_platform() {
    let cases = [
        (
            ForgeKind::Forgejo,
            "https://codeberg.org/",
            "https://codeberg.org/api/v1",
        ),
        (
            ForgeKind::Gitea,
            "http://127.0.0.1:3000",
            "http://127.0.0.1:3000/api/v1",
        ),
        (ForgeKind::Github, "https://github.com", "https://api.github.com"),
        (
            ForgeKind::Github,
            "https://ghe.example.com",
            "https://ghe.example.com/api/v3",
        ),
        (
            ForgeKind::Gitlab,
            "https://gitlab.com",
            "https://gitlab.com/api/v4",
        ),
    ];
    for (kind, origin, expected) in cases {
        assert_eq!(default_api_base(kind, origin), expected);
    }
}

#[test]
fn drafts_are_marked_by_title_where_the_platform_has_no_flag_and_only_once() {
    assert_eq!(
        draft_title(ForgeKind::Forgejo, "Update app", true),
        "WIP: Update app"
    );
    assert_eq!(
        draft_title(ForgeKind::Gitea, "WIP: Update app", true),
        "WIP: Update app"
    );
    assert_eq!(
        draft_title(ForgeKind::Gitlab, "Update app", true),
        "Draft: Update app"
    );
    assert_eq!(draft_title(ForgeKind::Github, "Update app", true), "Update app");
    assert_eq!(draft_title(ForgeKind::Gitlab, "Update app", false), "Update app");
}

#[test]
fn path_segments_are_percent_encoded() {
    assert_eq!(segment("group/sub/project"), "group%2Fsub%2Fproject");
    assert_eq!(segment("a.b-c_d~e"), "a.b-c_d~e");
    assert_eq!(segment("x y#?"), "x%20y%23%3F");
    assert_eq!(repos_path("acme/deploy"), "/repos/acme/deploy");
}

#[test]
fn each_platform_gets_its_token_header_marked_sensitive() {
    let token = SecretString::from(TOKEN);
    let cases = [
        (
            ForgeKind::Forgejo,
            "authorization",
            format!("token {TOKEN}"),
            "application/json",
        ),
        (
            ForgeKind::Github,
            "authorization",
            format!("Bearer {TOKEN}"),
            "application/vnd.github+json",
        ),
        (
            ForgeKind::Gitlab,
            "private-token",
            TOKEN.to_owned(),
            "application/json",
        ),
    ];
    for (kind, name, value, accept) in cases {
        let headers = default_headers(kind, &token).unwrap();
        assert_eq!(headers[name], value.as_str());
        assert!(headers[name].is_sensitive());
        assert_eq!(headers["accept"], accept);
    }
    let github = default_headers(ForgeKind::Github, &token).unwrap();
    assert_eq!(github["x-github-api-version"], "2022-11-28");
    assert!(default_headers(ForgeKind::Github, &SecretString::from("bad\ntoken")).is_err());
}

#[test]
fn debug_never_shows_the_token() {
    let forge = Forge::new(api(ForgeKind::Github, "https://user:pw@api.github.com")).unwrap();
    for text in [format!("{:?}", forge.api()), format!("{forge:?}")] {
        assert!(!text.contains(TOKEN) && !text.contains("pw@"), "{text}");
        assert!(text.contains("acme/deploy"), "{text}");
    }
}

#[test]
fn extra_ca_certificates_are_trusted_and_a_bad_pem_is_a_setup_error() {
    let certificate = rcgen::generate_simple_self_signed(vec!["forge.internal".to_owned()]).unwrap();
    let mut good = api(ForgeKind::Gitea, "https://forge.internal/api/v1");
    good.ca_pem = certificate.cert.pem().into_bytes();
    assert!(Forge::new(good).is_ok());
    let mut bad = api(ForgeKind::Gitea, "https://forge.internal/api/v1");
    bad.ca_pem = b"not a certificate".to_vec();
    let error = Forge::new(bad).unwrap_err();
    assert!(matches!(error, ForgeError::Setup { .. }), "{error}");
    assert!(!error.is_transient());
}

/// What the tiny Forgejo saw: (method path, JSON body).
type Seen = Arc<Mutex<Vec<(String, Value)>>>;

fn pull(number: u64, head: &str) -> Value {
    serde_json::json!({
        "number": number, "state": "open", "merged": false,
        "html_url": format!("http://forge/acme/deploy/pulls/{number}"),
        "head": {"ref": head, "sha": "abc123", "repo_id": 1},
        "base": {"ref": "main", "sha": "def456", "repo_id": 1}
    })
}

fn authorized(headers: &AxumHeaders) -> bool {
    headers.get("authorization").and_then(|value| value.to_str().ok()) == Some(&format!("token {TOKEN}"))
}

fn forgejo_router(seen: Seen) -> Router {
    async fn pulls(headers: AxumHeaders, Query(query): Query<HashMap<String, String>>) -> Response {
        if !authorized(&headers) {
            return StatusCode::UNAUTHORIZED.into_response();
        }
        // A full first page of other branches, the match on page 2.
        let page: Vec<Value> = match query.get("page").map(String::as_str) {
            Some("1") => (100..150).map(|number| pull(number, "feature")).collect(),
            Some("2") => vec![pull(12, "pushdeploy/app")],
            _ => Vec::new(),
        };
        axum::Json(page).into_response()
    }
    async fn record(State(seen): State<Seen>, uri: axum::http::Uri, body: axum::Json<Value>) -> Response {
        let path = uri.path().to_owned();
        seen.lock().unwrap().push((path.clone(), body.0));
        match path.as_str() {
            "/api/v1/repos/acme/deploy/pulls" => {
                (StatusCode::CREATED, axum::Json(pull(12, "pushdeploy/app"))).into_response()
            }
            "/api/v1/repos/acme/deploy/pulls/12/requested_reviewers" => (
                StatusCode::UNPROCESSABLE_ENTITY,
                axum::Json(serde_json::json!({"message": "user does not exist [uid: 0, name: nobody]"})),
            )
                .into_response(),
            _ => StatusCode::OK.into_response(),
        }
    }
    Router::new()
        .route("/api/v1/repos/acme/deploy/pulls", get(pulls).post(record))
        .route(
            "/api/v1/repos/acme/deploy/labels",
            get(|| async { axum::Json(serde_json::json!([{"id": 3, "name": "deps"}])) }),
        )
        .route(
            "/api/v1/repos/acme/deploy/pulls/{index}/requested_reviewers",
            post(record),
        )
        .route("/api/v1/repos/acme/deploy/pulls/{index}/merge", post(record))
        .with_state(seen)
}

#[tokio::test]
async fn forgejo_open_resolves_labels_creates_and_keeps_the_request_when_a_follow_up_fails() {
    let seen = Seen::default();
    let origin = serve(forgejo_router(seen.clone())).await;
    let forge = Forge::new(api(ForgeKind::Forgejo, &format!("{origin}/api/v1"))).unwrap();

    let found = forge.find_open("pushdeploy/app", "main").await.unwrap();
    assert_eq!(found.map(|pull| pull.number), Some(12));

    let labels = vec!["deps".to_owned()];
    let reviewers = vec!["nobody".to_owned()];
    let proposal = Proposal {
        head: "pushdeploy/app",
        base: "main",
        title: "Update app",
        body: "text",
        labels: &labels,
        reviewers: &reviewers,
        draft: true,
        auto_merge: true,
    };
    let opened = forge.open(&proposal).await.unwrap();
    assert_eq!(opened.pull.number, 12);
    assert_eq!(opened.warnings.len(), 1, "{:?}", opened.warnings);
    assert!(opened.warnings[0].contains("user does not exist") && opened.warnings[0].contains("422"));
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    assert_eq!(
        seen[0].1,
        serde_json::json!({"head": "pushdeploy/app", "base": "main", "title": "WIP: Update app", "body": "text", "labels": [3]})
    );
    assert_eq!(
        seen[2].1,
        serde_json::json!({"Do": "merge", "merge_when_checks_succeed": true})
    );

    let unknown = vec!["nope".to_owned()];
    let error = forge
        .open(&Proposal {
            labels: &unknown,
            ..proposal
        })
        .await
        .unwrap_err();
    assert!(matches!(error, ForgeError::Refused { .. }), "{error}");
    assert!(
        error
            .to_string()
            .contains("create label \"nope\" in the repository"),
        "{error}"
    );
}

#[tokio::test]
async fn refusals_over_the_wire_are_classified_and_never_show_credentials() {
    let router = Router::new()
        .route(
            "/repos/acme/deploy",
            get(|| async {
                let headers = [("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "1")];
                (
                    StatusCode::FORBIDDEN,
                    headers,
                    r#"{"message":"API rate limit exceeded"}"#,
                )
            }),
        )
        .route(
            "/repos/acme/deploy/pulls/7",
            get(|| async { (StatusCode::UNAUTHORIZED, r#"{"message":"Bad credentials"}"#) }),
        );
    let origin = serve(router).await;
    let credentialed = origin.replace("http://", "http://user:pw@");
    let forge = Forge::new(api(ForgeKind::Github, &credentialed)).unwrap();

    let limited = forge.access().await.unwrap_err();
    assert_eq!(limited.retry_after(), Some(Duration::from_secs(1)), "{limited}");
    let unauthorized = forge.get(7).await.unwrap_err();
    assert!(
        matches!(unauthorized, ForgeError::Unauthorized { .. }),
        "{unauthorized}"
    );
    let missing = forge.update(8, "t", "b").await.unwrap_err();
    assert!(
        matches!(missing, ForgeError::Refused { status: 404, .. }),
        "{missing}"
    );

    let gitlab = Forge::new(api(ForgeKind::Gitlab, &credentialed)).unwrap();
    let not_found = gitlab.access().await.unwrap_err();
    assert!(matches!(not_found, ForgeError::NotFound { .. }), "{not_found}");

    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let unreachable = Forge::new(api(ForgeKind::Gitea, &format!("http://user:pw@{closed}/api/v1"))).unwrap();
    let transport = unreachable
        .find_open("pushdeploy/app?x=1", "main")
        .await
        .unwrap_err();
    assert!(
        matches!(transport, ForgeError::Transport { .. }) && transport.is_transient(),
        "{transport}"
    );

    for error in [limited, unauthorized, missing, not_found, transport] {
        let text = error.to_string();
        assert!(
            !text.contains(TOKEN) && !text.contains("pw@") && !text.contains("x=1"),
            "{text}"
        );
    }
}
