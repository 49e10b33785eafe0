//! Transition-only alerts end to end: `pushdeploy serve` whose gitops remote does not exist yet
//! alerts once that it is broken (however often it retries), delivers through a sink that
//! refuses the first attempt (retried, nothing lost), and alerts once when the remote works.
//! The sink is this test's own HTTP listener, which checks each delivery's HMAC signature.

use crate::support::app::App;
use crate::support::git::{Remote, gitops_fixture};
use crate::support::registry::Registry;
use crate::support::wait_for;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const NOTIFY: &str = "Bearer notify-s3cret-token";
const SINK_SECRET: &str = "sink-s3cret-key";
const MCP_TAG: &str = "2-f62ba56a999ec99a7375fed529acf4b336691bdb";

/// `serve` on the mcp scenario whose remote (`<dir>/later/remote.git`) does not exist yet,
/// notified by a real registry, with `notifications` (lines under `notifications:`) whose
/// secret is `SINK_SECRET`.
fn without_remote(dir: &std::path::Path, notifications: &str) -> (Registry, App) {
    let remote_url = format!("file://{}/later/remote.git", dir.display());
    let port = crate::support::free_port();
    let registry = Registry::notifying(&dir.join("registry"), port, NOTIFY);
    let config = crate::support::mcp_config(
        &registry.host(),
        &remote_url,
        &dir.join("data"),
        &format!(
            "intake:
  registry:
    authorization: [{{fromEnv: NOTIFY_AUTH}}]
  coalesceWindow: 0s
notifications:
{notifications}"
        ),
        "",
    );
    let app = App::start_on(
        port,
        dir,
        &config,
        &[("NOTIFY_AUTH", NOTIFY), ("SINK_SECRET", SINK_SECRET)],
    );
    (registry, app)
}

fn signed(body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SINK_SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[test]
fn a_broken_remote_alerts_once_through_a_retried_signed_webhook_and_once_when_it_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let (sink_port, received) = receivers(true);
    // The remote's path exists only later: every write attempt fails until then.
    let remote_parent = dir.path().join("later");
    let (registry, app) = without_remote(
        dir.path(),
        &format!(
            "  sinks:
    - name: ops
      webhook: {{url: 'http://127.0.0.1:{sink_port}/webhook', secret: {{fromEnv: SINK_SECRET}}}}
"
        ),
    );
    // `validate` checks every delivery's signature.
    let deliveries = |state: &str| {
        received
            .lock()
            .unwrap()
            .iter()
            .filter(|got| validate(got) == "webhook")
            .map(Got::json)
            .filter(|alert| alert["state"] == state)
            .collect::<Vec<_>>()
    };
    // The first attempt is refused by the sink; the retry delivers it.
    let broken = wait_for(
        "the broken alert, delivered on its retry",
        Duration::from_secs(30),
        || {
            let broken = deliveries("broken");
            (broken.len() >= 2).then_some(broken)
        },
    );
    assert_eq!(broken[0], broken[1], "the retry is the same alert");
    let reason = broken[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("later/remote.git"),
        "the reason names the remote: {reason}"
    );
    assert!(
        !reason.contains("not checked yet") && !reason.contains("warming up"),
        "start-up states are a baseline, not an alert: {reason}"
    );

    // Pushes keep failing against the missing remote: no new alert for the same reason.
    registry.push("goldentooth-mcp", "1-0c1e0a2b", "a");
    wait_for("the push to be tried and fail", Duration::from_secs(30), || {
        let (_, body) = app.get("/status")?;
        let status: serde_json::Value = serde_json::from_str(&body).ok()?;
        status["automations"]["flux-system/mcp"]["last_error"]
            .is_object()
            .then_some(())
    });
    // The remote appears; the next push lands and the check recovers: one recovered alert.
    std::fs::create_dir_all(&remote_parent).unwrap();
    let remote = Remote::seeded(&remote_parent, &gitops_fixture());
    registry.push("goldentooth-mcp", MCP_TAG, "b");
    wait_for(
        "the commit after the remote appeared",
        Duration::from_secs(60),
        || {
            remote
                .show("main", "apps/mcp/deployment.yaml")
                .contains(MCP_TAG)
                .then_some(())
        },
    );
    // Every subject alerted broken recovers, once each.
    let subjects = |alerts: Vec<serde_json::Value>| {
        alerts
            .iter()
            .map(|alert| alert["subject"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let broken_subjects: std::collections::BTreeSet<String> =
        subjects(deliveries("broken")).into_iter().collect();
    let recovered = wait_for(
        "a recovered alert per broken subject",
        Duration::from_secs(30),
        || {
            let recovered = subjects(deliveries("recovered"));
            (recovered.len() >= broken_subjects.len()).then_some(recovered)
        },
    );
    let mut sorted = recovered.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        broken_subjects.iter().cloned().collect::<Vec<_>>(),
        "one recovered per subject"
    );
    // One alert per (subject, reason): the retries of the failing pushes added none (the
    // sink's refusal of the very first delivery made one duplicate, its retry).
    let pairs: std::collections::BTreeSet<String> = deliveries("broken")
        .iter()
        .map(|alert| format!("{}|{}", alert["subject"], alert["reason"]))
        .collect();
    assert_eq!(deliveries("broken").len(), pairs.len() + 1, "{pairs:?}");
    assert!(
        !app.logs().contains(SINK_SECRET),
        "the sink's secret reached the logs"
    );
}

/// One request a sink receiver got.
#[derive(Debug, Clone)]
struct Got {
    method: String,
    path: String,
    headers: std::collections::BTreeMap<String, String>,
    body: String,
}

impl Got {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("not JSON: {self:?}"))
    }
}

/// Receivers for every sink kind on one port, by path. Requests under `/hang` are read and
/// never answered (a sink that hangs); the others answer as the platform documents
/// (Matrix: 200 with an `event_id`; commit statuses: 201 with the status; the rest 200), but
/// with `refuse_first` the very first request gets a 500.
fn receivers(refuse_first: bool) -> (u16, Arc<Mutex<Vec<Got>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let store = Arc::clone(&got);
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { continue };
            let store = Arc::clone(&store);
            let refuse = refuse_first && n == 0;
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut first = String::new();
                let _ = reader.read_line(&mut first);
                let mut parts = first.split_whitespace();
                let (method, path) = (
                    parts.next().unwrap_or_default().to_owned(),
                    parts.next().unwrap_or_default().to_owned(),
                );
                let mut headers = std::collections::BTreeMap::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':') {
                        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
                    }
                }
                let length = headers
                    .get("content-length")
                    .and_then(|length| length.parse().ok())
                    .unwrap_or(0);
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let got = Got {
                    method,
                    path,
                    headers,
                    body: String::from_utf8_lossy(&body).into_owned(),
                };
                let hang = got.path.starts_with("/hang");
                let (status, answer) = if refuse {
                    ("500 Internal Server Error", String::new())
                } else if got.path.starts_with("/_matrix/") {
                    ("200 OK", r#"{"event_id":"$e1"}"#.to_owned())
                } else if got.path.contains("/statuses/") {
                    ("201 Created", got.body.clone())
                } else {
                    ("200 OK", "ok".to_owned())
                };
                store.lock().unwrap().push(got);
                if hang {
                    // Hold the connection unanswered until the client gives up.
                    let _ = reader.read_to_end(&mut Vec::new());
                    return;
                }
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                    answer.len()
                );
            });
        }
    });
    (port, got)
}

/// What each platform documents for the request, checked on everything received: Slack's
/// incoming webhook (`POST`, JSON with `text`), Matrix's `PUT
/// /_matrix/client/v3/rooms/{roomId}/send/m.room.message/{txnId}` (Bearer token, `msgtype`
/// `m.text`, a string `body`), ntfy's publish (`POST` to the topic, `Title`, a `Priority` of
/// min|low|default|high|urgent), GitHub's `POST /repos/{owner}/{repo}/statuses/{sha}` (Bearer
/// token, `X-GitHub-Api-Version`, `state` one of error|failure|pending|success, a `context`, a
/// description of at most 140 characters) and our signed webhook.
fn validate(got: &Got) -> &'static str {
    let header = |name: &str| got.headers.get(name).map(String::as_str).unwrap_or_default();
    if got.path == "/slack/T000/B000/XXXX" {
        assert_eq!(got.method, "POST");
        assert!(header("content-type").starts_with("application/json"), "{got:?}");
        let body = got.json();
        assert!(
            body["text"].is_string() && body.as_object().unwrap().len() == 1,
            "{got:?}"
        );
        return "slack";
    }
    if let Some(rest) = got
        .path
        .strip_prefix("/_matrix/client/v3/rooms/%21ops%3Alocalhost/send/m.room.message/")
    {
        assert_eq!(got.method, "PUT");
        assert!(
            !rest.is_empty() && !rest.contains('/'),
            "a transaction id: {got:?}"
        );
        assert_eq!(header("authorization"), "Bearer matrix-s3cret");
        let body = got.json();
        assert_eq!(body["msgtype"], "m.text");
        assert!(body["body"].is_string());
        return "matrix";
    }
    if got.path == "/ntfy/ops" {
        assert_eq!(got.method, "POST");
        assert!(!header("title").is_empty(), "{got:?}");
        assert!(
            ["min", "low", "default", "high", "urgent"].contains(&header("priority")),
            "{got:?}"
        );
        assert_eq!(header("authorization"), "Bearer tk_ntfys3cret");
        return "ntfy";
    }
    if got.path.starts_with("/api/v3/repos/") {
        let (repository, sha) = got.path["/api/v3/repos/".len()..]
            .split_once("/statuses/")
            .unwrap();
        assert!(
            repository.contains('/') && sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()),
            "{got:?}"
        );
        assert_eq!(got.method, "POST");
        assert_eq!(header("authorization"), "Bearer ghp_s3cret");
        assert_eq!(header("x-github-api-version"), "2022-11-28");
        let body = got.json();
        assert!(
            ["error", "failure", "pending", "success"].contains(&body["state"].as_str().unwrap()),
            "{got:?}"
        );
        assert!(body["context"].is_string());
        assert!(body["description"].as_str().unwrap().chars().count() <= 140);
        return "github";
    }
    if got.path == "/webhook" {
        assert_eq!(header("x-pushdeploy-signature-256"), signed(&got.body), "{got:?}");
        return "webhook";
    }
    if got.path == "/hang" {
        return "hang";
    }
    panic!("a request no sink should make: {got:?}");
}

#[test]
fn every_sink_kind_hears_once_per_break_and_recovery_a_hanging_sink_holds_up_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (sink_port, got) = receivers(false);
    let remote = Remote::seeded(dir.path(), &gitops_fixture());
    let sshd = crate::support::sshd::Sshd::start(&dir.path().join("sshd"), false);
    let port = crate::support::free_port();
    let mut registry = Registry::notifying(&dir.path().join("registry"), port, NOTIFY);
    let base = format!("http://127.0.0.1:{sink_port}");
    let config = crate::support::mcp_config(
        &registry.host(),
        &sshd.url(&remote.bare),
        &dir.path().join("data"),
        &format!(
            "intake:
  registry:
    authorization: [{{fromEnv: NOTIFY_AUTH}}]
  coalesceWindow: 0s
api:
  tokens: [{{name: ops, scope: admin, token: {{fromEnv: API_TOKEN}}}}]
notifications:
  consoleUrl: https://pushdeploy.example
  sinks:
    - name: hook
      webhook: {{url: '{base}/webhook', secret: {{fromEnv: SINK_SECRET}}}}
    - name: chat
      slack: {{url: {{fromEnv: SLACK_URL}}}}
    - name: room
      matrix: {{homeserver: '{base}', room: '!ops:localhost', token: {{fromEnv: MATRIX_TOKEN}}}}
    - name: phone
      successes: true
      ntfy: {{url: '{base}/ntfy/ops', token: {{fromEnv: NTFY_TOKEN}}}}
    - name: forge
      github: {{url: '{base}/api/v3', token: {{fromEnv: GITHUB_TOKEN}}}}
    - name: hang
      webhook: {{url: '{base}/hang', secret: {{fromEnv: SINK_SECRET}}}}
"
        ),
        "",
    )
    .replace(
        &format!("      url: {}\n", sshd.url(&remote.bare)),
        &format!(
            "      url: {}\n      auth: {{ssh: {{privateKeyFile: {}, knownHostsFile: {}}}}}\n",
            sshd.url(&remote.bare),
            sshd.deploy_key.display(),
            sshd.known_hosts.display()
        ),
    );
    let slack_url = format!("{base}/slack/T000/B000/XXXX");
    let secrets = [
        ("NOTIFY_AUTH", NOTIFY),
        ("API_TOKEN", "api-s3cret"),
        ("SINK_SECRET", SINK_SECRET),
        ("SLACK_URL", slack_url.as_str()),
        ("MATRIX_TOKEN", "matrix-s3cret"),
        ("NTFY_TOKEN", "tk_ntfys3cret"),
        ("GITHUB_TOKEN", "ghp_s3cret"),
    ];
    let app = App::start_on(port, dir.path(), &config, &secrets);
    // Alerts by sink, validated; the hanging sink's only once, when it got them.
    let by = |kind: &str, state: &str| -> Vec<serde_json::Value> {
        got.lock()
            .unwrap()
            .iter()
            .filter(|got| validate(got) == kind)
            .map(|got| match kind {
                "slack" | "matrix" | "ntfy" | "github" => {
                    serde_json::json!({"text": got.body, "title": got.headers.get("title")})
                }
                _ => got.json(),
            })
            .filter(|alert| match kind {
                "webhook" | "hang" => alert["state"] == state,
                "github" => alert["text"].as_str().unwrap().contains(match state {
                    "broken" => "\"failure\"",
                    _ => "\"success\"",
                }),
                _ => {
                    let text =
                        alert["text"].as_str().unwrap().to_owned() + alert["title"].as_str().unwrap_or("");
                    text.contains(match state {
                        "broken" => "is broken",
                        "recovered" => "recovered",
                        _ => "now runs",
                    })
                }
            })
            .collect()
    };
    let landed = |tag: &str| {
        wait_for(&format!("{tag} in git"), Duration::from_secs(90), || {
            remote
                .show("main", "apps/mcp/deployment.yaml")
                .contains(tag)
                .then_some(())
        })
    };

    // A push lands while the `hang` sink hangs: intake and writes do not wait for sinks.
    registry.push("goldentooth-mcp", "1-0c1e0a2b", "a");
    landed("1-0c1e0a2b");
    let first = remote.head("main");
    // The deployment: a success status on its commit, and a notice to the sink that asked.
    wait_for(
        "the deployment's status and notice",
        Duration::from_secs(30),
        || (by("github", "deployed").len() == 1 && by("ntfy", "deployed").len() == 1).then_some(()),
    );
    assert!(got.lock().unwrap().iter().any(|got| {
        got.path
            == format!(
                "/api/v3/repos/{}/statuses/{first}",
                remote
                    .bare
                    .display()
                    .to_string()
                    .trim_start_matches('/')
                    .trim_end_matches(".git")
            )
    }));

    // The deploy key becomes read-only: the next push fails; every sink hears it once.
    sshd.set_read_only(true);
    registry.push("goldentooth-mcp", MCP_TAG, "b");
    wait_for("a broken alert on every sink", Duration::from_secs(60), || {
        ["webhook", "slack", "matrix", "ntfy", "github"]
            .iter()
            .all(|kind| !by(kind, "broken").is_empty())
            .then_some(())
    });
    let broken = by("webhook", "broken");
    assert!(
        broken
            .iter()
            .any(|alert| alert["subject"] == "gitops flux-system/mcp"
                && alert["reason"].as_str().unwrap().contains("read-only")
                && alert["link"] == "https://pushdeploy.example/"),
        "{broken:?}"
    );
    // The failure status goes on the last commit pushdeploy pushed.
    assert!(
        by("github", "broken")[0]["text"]
            .as_str()
            .unwrap()
            .contains("cannot write")
    );
    // The key is writable again (a read-only key is not retried: it waits for a fix); the next
    // push lands, and every sink hears one recovery.
    sshd.set_read_only(false);
    registry.push("goldentooth-mcp", "3-3c4d5e6f", "c");
    landed("3-3c4d5e6f");
    wait_for("a recovered alert on every sink", Duration::from_secs(60), || {
        ["webhook", "slack", "matrix", "ntfy"]
            .iter()
            .all(|kind| by(kind, "recovered").len() == by("webhook", "broken").len())
            .then_some(())
    });

    // The registry goes away: two failed scans in a row are one broken `scan` alert; back, one
    // recovered.
    registry.stop();
    let scan = || {
        app.post(
            "/api/v1/repositories/flux-system/mcp/scan",
            &[("Authorization", "Bearer api-s3cret")],
            b"",
        )
    };
    for _ in 0..3 {
        assert_ne!(scan().0, 200, "the registry is down");
    }
    wait_for("the scan alert", Duration::from_secs(30), || {
        by("webhook", "broken")
            .iter()
            .any(|alert| alert["subject"] == "scan flux-system/mcp")
            .then_some(())
    });
    registry.launch();
    wait_for("a scan that works again", Duration::from_secs(30), || {
        (scan().0 == 200).then_some(())
    });
    wait_for("the scan recovered", Duration::from_secs(30), || {
        by("webhook", "recovered")
            .iter()
            .any(|alert| alert["subject"] == "scan flux-system/mcp")
            .then_some(())
    });

    // Exactly one broken and one recovered per subject, on each sink.
    // (Each sink delivers on its own: wait until every one has the recovery.)
    wait_for(
        "every sink to hear every recovery",
        Duration::from_secs(30),
        || {
            ["webhook", "slack", "matrix", "ntfy"]
                .iter()
                .all(|kind| {
                    let broken = by(kind, "broken").len();
                    broken == by("webhook", "broken").len() && by(kind, "recovered").len() == broken
                })
                .then_some(())
        },
    );
    let subjects = |state: &str| {
        let mut subjects: Vec<String> = by("webhook", state)
            .iter()
            .map(|alert| alert["subject"].as_str().unwrap().to_owned())
            .collect();
        subjects.sort();
        subjects
    };
    let broken_subjects = subjects("broken");
    assert_eq!(broken_subjects, subjects("recovered"));
    let mut unique = broken_subjects.clone();
    unique.dedup();
    assert_eq!(unique, broken_subjects, "one broken alert per subject");
    assert!(broken_subjects.contains(&"scan flux-system/mcp".to_owned()));
    assert_eq!(
        by("slack", "deployed").len(),
        0,
        "no success notices unless asked"
    );
    assert!(
        by("ntfy", "deployed").len() >= 2,
        "one per deployment where asked"
    );

    // A burst of refused registry notifications (a wrong credential) is one alert.
    for _ in 0..12 {
        let (status, _) = app.post("/hooks/registry", &[("Authorization", "Bearer wrong")], b"{}");
        assert_eq!(status, 401);
    }
    wait_for("the burst alert", Duration::from_secs(30), || {
        let burst: Vec<_> = by("webhook", "broken")
            .into_iter()
            .filter(|alert| alert["subject"] == "intake /hooks/registry")
            .collect();
        (burst.len() == 1).then_some(())
    });

    // The hanging sink shows as failing in /status and the console; nothing else waited on it.
    let status = wait_for("the hanging sink in /status", Duration::from_secs(60), || {
        let (_, body) = app.get("/status")?;
        let status: serde_json::Value = serde_json::from_str(&body).ok()?;
        let hang = status["alert_sinks"]
            .as_array()?
            .iter()
            .find(|sink| sink["name"] == "hang")?
            .clone();
        hang["last_error"].is_string().then_some(hang)
    });
    assert!(status["waiting"].as_i64().unwrap() >= 1, "{status}");
    assert!(app.get("/").unwrap().1.contains("alert sink hang"));
    let logs = app.logs();
    for (_, secret) in &secrets[1..] {
        assert!(!logs.contains(secret), "a sink secret reached the logs");
    }
}

#[test]
fn a_sink_over_its_rate_limit_holds_the_rest_in_the_journal_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (sink_port, got) = receivers(false);
    // No remote: the gitops and working-copy checks both break, two alerts at once.
    let (registry, app) = without_remote(
        dir.path(),
        &format!(
            "  maxPerMinute: 1
  sinks:
    - name: ops
      webhook: {{url: 'http://127.0.0.1:{sink_port}/webhook', secret: {{fromEnv: SINK_SECRET}}}}
"
        ),
    );
    registry.push("goldentooth-mcp", MCP_TAG, "a");
    let sink = wait_for(
        "the second alert held by the rate limit",
        Duration::from_secs(60),
        || {
            let (_, body) = app.get("/status")?;
            let status: serde_json::Value = serde_json::from_str(&body).ok()?;
            let sink = status["alert_sinks"].as_array()?.first()?.clone();
            (sink["held"] == true && sink["waiting"].as_i64()? >= 1).then_some(sink)
        },
    );
    assert!(sink["last_delivered"].is_i64(), "the first one went out: {sink}");
    let delivered = got
        .lock()
        .unwrap()
        .iter()
        .filter(|got| validate(got) == "webhook")
        .count();
    assert_eq!(delivered, 1, "one a minute: the rest wait, none is dropped");
    assert!(app.get("/").unwrap().1.contains("held by the rate limit"));
}

/// One HTTPS request on a free port, served with `leaf`; its body is sent on the channel.
fn https_receiver(leaf: &crate::support::pki::Leaf) -> (u16, std::sync::mpsc::Receiver<String>) {
    use rustls_pki_types::pem::PemObject;
    let certificates: Vec<rustls_pki_types::CertificateDer<'static>> =
        rustls_pki_types::CertificateDer::pem_slice_iter(leaf.cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap();
    let key = rustls_pki_types::PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).unwrap();
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certificates, key)
            .unwrap(),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (sender, bodies) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let Ok(connection) = rustls::ServerConnection::new(Arc::clone(&config)) else {
                continue;
            };
            let mut tls = rustls::StreamOwned::new(connection, stream);
            let mut reader = BufReader::new(&mut tls);
            let mut length = 0usize;
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
                continue; // a handshake the client gave up on: no request
            }
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((name, value)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            drop(reader);
            let _ =
                tls.write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            let _ = sender.send(String::from_utf8_lossy(&body).into_owned());
        }
    });
    (port, bodies)
}

#[test]
fn a_sink_behind_a_private_ca_is_trusted_through_ca_file_and_only_then() {
    let dir = tempfile::tempdir().unwrap();
    let ca = crate::support::pki::TestCa::new("sinks-ca");
    let ca_path = dir.path().join("sinks-ca.pem");
    ca.write(&ca_path);
    for trusted in [false, true] {
        let run = dir.path().join(format!("trusted-{trusted}"));
        std::fs::create_dir_all(&run).unwrap();
        let (port, bodies) = https_receiver(&ca.leaf(false));
        let ca_line = if trusted {
            format!("  caFile: {}\n", ca_path.display())
        } else {
            String::new()
        };
        let (_registry, app) = without_remote(
            &run,
            &format!(
                "{ca_line}  sinks:
    - name: ops
      webhook: {{url: 'https://127.0.0.1:{port}/webhook', secret: {{fromEnv: SINK_SECRET}}}}
"
            ),
        );
        if trusted {
            let body = bodies
                .recv_timeout(Duration::from_secs(60))
                .expect("the alert over HTTPS");
            assert!(body.contains("\"state\":\"broken\""), "{body}");
        } else {
            // Without the CA, the delivery fails on the certificate, and says so.
            let sink = wait_for("the TLS failure in /status", Duration::from_secs(60), || {
                let (_, body) = app.get("/status")?;
                let status: serde_json::Value = serde_json::from_str(&body).ok()?;
                let sink = status["alert_sinks"].as_array()?.first()?.clone();
                sink["last_error"].is_string().then_some(sink)
            });
            assert!(bodies.try_recv().is_err(), "nothing was delivered: {sink}");
            assert!(
                sink["last_error"]
                    .as_str()
                    .unwrap()
                    .contains("notifications.caFile"),
                "the remedy is named: {sink}"
            );
        }
    }
}
