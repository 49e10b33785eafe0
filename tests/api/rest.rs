//! The REST API against a running `pushdeploy serve`, a real registry and a file:// remote:
//! promotion and pins across scans and restarts, refusals (missing tag, filter, scopes),
//! history causes, the audit trail, the CLI client, and openapi.yaml kept in step with the code.

use crate::support::app::{App, request};
use crate::support::git::{Remote, gitops_fixture};
use crate::support::registry::{Options, Registry, push_notification};
use crate::support::wait_for;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

const DEPLOYMENT: &str = "apps/mcp/deployment.yaml";
const POLICY: &str = "/api/v1/policies/flux-system/mcp";
const SCAN: &str = "/api/v1/repositories/flux-system/mcp/scan";
const NOTIFY: &str = "Bearer notify-s3cret-token";
const ADMIN: &str = "admin-s3cret-token";
const CI: &str = "ci-s3cret-token";
const RO: &str = "ro-s3cret-token";
const FORGEJO_SECRET: &str = "forgejo-s3cret";
const ENV: [(&str, &str); 5] = [
    ("NOTIFY_AUTH", NOTIFY),
    ("FORGEJO_SECRET", FORGEJO_SECRET),
    ("ADMIN_TOKEN", ADMIN),
    ("CI_TOKEN", CI),
    ("RO_TOKEN", RO),
];

fn tag(run: u32) -> String {
    format!("{run}-{:040x}", u128::from(run) * 0x1234_5678_9abc_def1)
}

fn config(registry: &str, remote: &Remote, data: &Path) -> String {
    crate::support::mcp_config(registry, &remote.url(), data, &config_access(), "")
}

/// One API call; the body parsed as JSON (Null when empty or not JSON).
fn call(app: &App, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
    let bearer = token.map(|token| format!("Bearer {token}"));
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(bearer) = &bearer {
        headers.push(("Authorization", bearer.as_str()));
    }
    let body = body.map(|body| body.to_string()).unwrap_or_default();
    let (status, text) = request(app.port, method, path, &headers, body.as_bytes()).unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The tag the deployment names on the remote's main branch.
fn deployed(remote: &Remote) -> String {
    let text = remote.show("main", DEPLOYMENT);
    let line = text
        .lines()
        .find(|line| line.contains("$imagepolicy"))
        .unwrap()
        .to_owned();
    let image = line.split_whitespace().nth(1).unwrap();
    image.rsplit(':').next().unwrap().to_owned()
}

struct World {
    dir: tempfile::TempDir,
    remote: Remote,
    registry: Registry,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let remote = Remote::seeded(dir.path(), &gitops_fixture());
    let registry = Registry::start(&dir.path().join("registry"), Options::default());
    World {
        dir,
        remote,
        registry,
    }
}

impl World {
    fn start(&self) -> App {
        let text = config(&self.registry.host(), &self.remote, &self.dir.path().join("data"));
        App::start(self.dir.path(), &text, &ENV)
    }

    fn audit(&self) -> Vec<(String, String, String)> {
        let data = self.dir.path().join("data");
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let journal = pushdeploy::journal::Journal::open(&data).await.unwrap();
            let entries = journal.audit_entries(100).await.unwrap();
            entries
                .into_iter()
                .map(|entry| (entry.token_name, entry.request, entry.result))
                .collect()
        })
    }
}

/// Post a registry notification for `tag` of the world's registry, as distribution sends it.
fn notify(app: &App, world: &World, id: &str, tag: &str) -> (u16, String) {
    let notification = push_notification(id, &format!("http://{}", world.registry.host()), tag);
    let content_type = (
        "Content-Type",
        "application/vnd.docker.distribution.events.v1+json",
    );
    request(
        app.port,
        "POST",
        "/hooks/registry",
        &[("Authorization", NOTIFY), content_type],
        notification.as_bytes(),
    )
    .unwrap()
}

/// How many scan results the engine has fully decided (from /status).
fn scans_decided(app: &App) -> u64 {
    let (_, body) = app.get("/status").unwrap();
    let status: Value = serde_json::from_str(&body).unwrap();
    status["scans_decided"].as_u64().unwrap()
}

fn wait_for_decisions(app: &App, at_least: u64) {
    wait_for("the engine to decide the scan", Duration::from_secs(30), || {
        (scans_decided(app) >= at_least).then_some(())
    });
}

fn scan(app: &App) -> Value {
    let (status, body) = call(app, "POST", SCAN, Some(CI), None);
    assert_eq!(status, 200, "{body}");
    body
}

#[test]
fn a_promotion_to_an_older_tag_holds_across_scans_and_restarts_until_resumed() {
    let world = world();
    for run in 1..=3 {
        world
            .registry
            .push("goldentooth-mcp", &tag(run), &run.to_string());
    }
    let mut app = world.start();
    scan(&app);
    wait_for("the poll to deploy run 3", Duration::from_secs(30), || {
        (deployed(&world.remote) == tag(3)).then_some(())
    });
    let before = world.remote.show("main", DEPLOYMENT);

    let (status, body) = call(
        &app,
        "POST",
        &format!("{POLICY}/promote"),
        Some(CI),
        Some(json!({"tag": tag(1)})),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (
            body["direction"].as_str(),
            body["previous"].as_str(),
            body["pinned"].as_bool()
        ),
        (Some("backward"), Some(tag(3).as_str()), Some(true))
    );
    assert_eq!(
        body["commit"].as_str(),
        Some(world.remote.head("main").as_str()),
        "pushed before the answer"
    );
    assert_eq!(
        world.remote.show("main", DEPLOYMENT),
        before.replace(&tag(3), &tag(1)),
        "only the image value changed"
    );
    let message = crate::support::git::git(&world.remote.bare, &["log", "-1", "--format=%B", "main"]);
    assert!(
        message.contains(&format!(
            "Pushdeploy-Cause: promote by ci (backward from {})",
            tag(3)
        )) && message.contains(&format!("Pushdeploy-Pinned: flux-system/mcp={}", tag(1))),
        "{message}"
    );

    let status: Value = serde_json::from_str(&app.get("/status").unwrap().1).unwrap();
    let view = &status["policies"]["flux-system/mcp"];
    assert_eq!(
        (view["deployed"].as_str(), view["pinned"].as_str()),
        (Some(tag(1).as_str()), Some(tag(1).as_str())),
        "{status}"
    );

    // The poller keeps seeing a newer tag: the pin holds.
    world.registry.push("goldentooth-mcp", &tag(4), "4");
    let decided = scans_decided(&app);
    let scanned = scan(&app);
    wait_for_decisions(&app, decided + 1);
    assert_eq!(
        scanned["policies"][0]["selected"].as_str(),
        Some(tag(4).as_str()),
        "{scanned}"
    );
    let (_, policy) = call(&app, "GET", POLICY, Some(RO), None);
    assert_eq!(
        policy["pinned"]["tag"].as_str(),
        Some(tag(1).as_str()),
        "{policy}"
    );
    assert_eq!(policy["selected"].as_str(), Some(tag(4).as_str()), "{policy}");
    assert_eq!(
        policy["in_git"][0]["value"]
            .as_str()
            .map(|v| v.ends_with(&tag(1))),
        Some(true),
        "{policy}"
    );
    assert_eq!(deployed(&world.remote), tag(1));

    // ...and across a restart (the startup scan sees run 4 again).
    assert_eq!(app.terminate(), Some(0));
    app.launch();
    scan(&app);
    wait_for_decisions(&app, 1);
    let (_, policy) = call(&app, "GET", POLICY, Some(RO), None);
    assert_eq!(
        policy["pinned"]["tag"].as_str(),
        Some(tag(1).as_str()),
        "{policy}"
    );
    assert_eq!(deployed(&world.remote), tag(1), "the pin survived the restart");

    // Resume: automation takes over at once and moves forward.
    let (status, body) = call(&app, "POST", &format!("{POLICY}/resume"), Some(CI), None);
    assert_eq!(status, 200, "{body}");
    assert!(
        body["decision"]
            .as_str()
            .unwrap_or_default()
            .starts_with("pushed"),
        "{body}"
    );
    assert_eq!(deployed(&world.remote), tag(4));
    let (_, policy) = call(&app, "GET", POLICY, Some(RO), None);
    assert!(policy["pinned"].is_null(), "{policy}");
}

#[test]
fn missing_or_filtered_tags_and_tokens_without_the_scope_are_refused_and_audited() {
    let world = world();
    world.registry.push("goldentooth-mcp", &tag(1), "1");
    world.registry.push("goldentooth-mcp", "latest", "l");
    let app = world.start();
    scan(&app);
    wait_for("the poll to deploy run 1", Duration::from_secs(30), || {
        (deployed(&world.remote) == tag(1)).then_some(())
    });
    let head = world.remote.head("main");
    let promote = format!("{POLICY}/promote");

    let (status, body) = call(&app, "POST", &promote, None, Some(json!({"tag": tag(1)})));
    assert_eq!(
        (status, body["type"].as_str()),
        (401, Some("urn:pushdeploy:problem:unauthorized"))
    );
    let (status, body) = call(
        &app,
        "POST",
        &promote,
        Some("not-a-token"),
        Some(json!({"tag": tag(1)})),
    );
    assert_eq!(status, 401, "{body}");
    let (status, body) = call(&app, "POST", &promote, Some(RO), Some(json!({"tag": tag(1)})));
    assert_eq!(
        (status, body["type"].as_str()),
        (403, Some("urn:pushdeploy:problem:forbidden"))
    );
    assert!(body["detail"].as_str().unwrap().contains("promote"), "{body}");

    let missing = tag(9);
    let (status, body) = call(&app, "POST", &promote, Some(CI), Some(json!({"tag": missing})));
    assert_eq!(
        (status, body["type"].as_str(), body["field"].as_str()),
        (422, Some("urn:pushdeploy:problem:tag-not-found"), Some("/tag")),
        "{body}"
    );
    assert!(body["detail"].as_str().unwrap().contains(&missing), "{body}");
    let (status, body) = call(&app, "POST", &promote, Some(CI), Some(json!({"tag": "latest"})));
    assert_eq!(
        (status, body["type"].as_str()),
        (422, Some("urn:pushdeploy:problem:policy-rejects-tag")),
        "{body}"
    );
    assert!(body["detail"].as_str().unwrap().contains("force"), "{body}");
    let (status, body) = call(&app, "POST", &promote, Some(CI), Some(json!({"tag": "bad tag!"})));
    assert_eq!((status, body["field"].as_str()), (422, Some("/tag")), "{body}");
    let (status, body) = call(&app, "POST", &promote, Some(CI), Some(json!({"tga": "x"})));
    assert_eq!(
        (status, body["type"].as_str()),
        (422, Some("urn:pushdeploy:problem:validation")),
        "{body}"
    );
    let (status, _) = call(
        &app,
        "POST",
        "/api/v1/policies/flux-system/nope/promote",
        Some(CI),
        Some(json!({"tag": tag(1)})),
    );
    assert_eq!(status, 404);
    assert_eq!(
        world.remote.head("main"),
        head,
        "nothing was written by any refusal"
    );
    let (_, policy) = call(&app, "GET", POLICY, Some(RO), None);
    assert!(
        policy["pinned"].is_null(),
        "a refused promotion leaves no pin: {policy}"
    );

    let (status, body) = call(
        &app,
        "POST",
        &promote,
        Some(CI),
        Some(json!({"tag": "latest", "force": true})),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(deployed(&world.remote), "latest");

    let (status, body) = call(&app, "POST", "/api/v1/automations/mcp/suspend", Some(CI), None);
    assert_eq!(status, 403, "suspending needs admin: {body}");
    let (status, body) = call(&app, "POST", "/api/v1/automations/mcp/suspend", Some(ADMIN), None);
    assert_eq!((status, body["suspended"].as_bool()), (200, Some(true)), "{body}");
    let (_, automations) = call(&app, "GET", "/api/v1/automations", Some(RO), None);
    assert_eq!(
        automations[0]["suspended_by"].as_str(),
        Some("ops"),
        "{automations}"
    );

    let audit = world.audit();
    let results: Vec<(&str, &str)> = audit
        .iter()
        .rev()
        .map(|(token, _, result)| (token.as_str(), result.split(' ').next().unwrap()))
        .collect();
    assert_eq!(
        results,
        vec![
            ("ci", "ok"),
            // The two tokenless calls cost a counter, not audit rows (a flood must not fill the disk).
            ("dashboard", "403"),
            ("ci", "422"),
            ("ci", "422"),
            ("ci", "422"),
            ("ci", "422"),
            ("ci", "404"),
            ("ci", "ok"),
            ("ci", "403"),
            ("ops", "ok"),
        ],
        "{audit:#?}"
    );
    // The request column is what was sent: method, concrete path, body as sent (even unparsed).
    let requests: Vec<&str> = audit.iter().map(|(_, request, _)| request.as_str()).collect();
    let unknown_field = format!(r#"POST {promote} {{"tga":"x"}}"#);
    assert!(requests.contains(&unknown_field.as_str()), "{requests:#?}");
}

#[test]
fn history_names_webhook_poll_promote_and_rollback_and_the_cli_prints_it() {
    let world = world();
    world.registry.push("goldentooth-mcp", &tag(1), "1");
    let app = world.start();
    scan(&app);
    wait_for("the poll to deploy run 1", Duration::from_secs(30), || {
        (deployed(&world.remote) == tag(1)).then_some(())
    });
    // A registry notification for run 2 (as distribution sends it; the tag is really there).
    world.registry.push("goldentooth-mcp", &tag(2), "2");
    let (status, body) = notify(&app, &world, "history-2", &tag(2));
    assert_eq!(status, 200, "{body}");
    wait_for("the webhook to deploy run 2", Duration::from_secs(30), || {
        (deployed(&world.remote) == tag(2)).then_some(())
    });
    world.registry.push("goldentooth-mcp", &tag(3), "3");
    let (status, body) = call(
        &app,
        "POST",
        &format!("{POLICY}/promote"),
        Some(CI),
        Some(json!({"tag": tag(3)})),
    );
    assert_eq!(
        (status, body["direction"].as_str()),
        (200, Some("forward")),
        "{body}"
    );
    let (status, body) = call(&app, "POST", &format!("{POLICY}/rollback"), Some(CI), None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["tag"].as_str(),
        Some(tag(2).as_str()),
        "rollback goes to the previous deployment"
    );
    assert_eq!(deployed(&world.remote), tag(2));

    let (status, history) = call(&app, "GET", &format!("{POLICY}/history"), Some(RO), None);
    assert_eq!(status, 200, "{history}");
    let kinds: Vec<(String, String)> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| {
            (
                entry["kind"].as_str().unwrap().to_owned(),
                entry["tag"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = [("rollback", 2), ("promote", 3), ("webhook", 2), ("poll", 1)]
        .iter()
        .map(|(kind, run)| ((*kind).to_owned(), tag(*run)))
        .collect();
    // Entries in one second share a timestamp; compare as sets, then check the newest.
    let mut sorted_kinds = kinds.clone();
    sorted_kinds.sort();
    let mut sorted_expected = expected.clone();
    sorted_expected.sort();
    assert_eq!(sorted_kinds, sorted_expected, "{history}");
    assert!(
        history
            .as_array()
            .unwrap()
            .iter()
            .all(|entry| entry["in_git"] == true
                && entry["author"].as_str().unwrap().contains("fluxcdbot")
                && entry["commit"].as_str().unwrap().len() == 40),
        "{history}"
    );

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_pushdeploy"))
        .args(["history", "flux-system/mcp", "--server"])
        .arg(format!("http://127.0.0.1:{}", app.port))
        .env("PUSHDEPLOY_TOKEN", RO)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(text.lines().count(), 4, "{text}");
    assert!(
        text.contains("rollback") && text.contains("webhook (registry)"),
        "{text}"
    );
}

#[test]
fn the_cli_promotes_and_rolls_back_and_explains_a_refusal() {
    let world = world();
    world.registry.push("goldentooth-mcp", &tag(1), "1");
    world.registry.push("goldentooth-mcp", &tag(2), "2");
    let app = world.start();
    let server = format!("http://127.0.0.1:{}", app.port);
    let cli = |args: &[&str], token: &str| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_pushdeploy"))
            .args(args)
            .args(["--server", &server])
            .env("PUSHDEPLOY_TOKEN", token)
            .output()
            .unwrap();
        (
            output.status.code(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        )
    };
    let (code, text) = cli(&["promote", "flux-system/mcp", &tag(1)], CI);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains(&format!("flux-system/mcp now runs {}", tag(1))),
        "{text}"
    );
    assert!(text.contains("apps/mcp/deployment.yaml:"), "{text}");
    assert_eq!(deployed(&world.remote), tag(1));
    let (code, text) = cli(&["promote", "flux-system/mcp", &tag(2), "--json"], CI);
    assert_eq!(code, Some(0), "{text}");
    let answer: Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(answer["direction"].as_str(), Some("forward"));
    let (code, text) = cli(&["rollback", "flux-system/mcp"], CI);
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(deployed(&world.remote), tag(1));
    let (code, text) = cli(&["promote", "flux-system/mcp", &tag(7)], CI);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("422 tag-not-found") && text.contains(&tag(7)),
        "{text}"
    );
    let (code, text) = cli(&["rollback", "flux-system/mcp", "--to", &tag(2)], RO);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("403 forbidden"), "{text}");
}

#[test]
fn openapi_yaml_is_what_the_code_generates() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let checked_in = std::fs::read_to_string(root.join("openapi.yaml")).unwrap_or_default();
    let generated = pushdeploy::http::api::openapi_yaml();
    assert!(
        checked_in == generated,
        "openapi.yaml is out of date with the code; regenerate it with:\n  cargo run -q -- openapi > openapi.yaml"
    );
    for path in [
        "/api/v1/policies/{namespace}/{name}/promote:",
        "/api/v1/policies/{namespace}/{name}/history:",
        "/api/v1/events:",
        "/api/v1/automations/{name}/suspend:",
        "/api/v1/repositories/{namespace}/{name}/scan:",
    ] {
        assert!(generated.contains(path), "{path} missing from the spec");
    }
}

fn schemathesis() -> std::path::PathBuf {
    let st = Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/schemathesis/bin/st");
    assert!(
        st.exists(),
        "schemathesis is missing: run scripts/test (it installs schemathesis into .tools/schemathesis)"
    );
    st
}

/// Schemathesis generates requests from openapi.yaml against a live server (real registry and
/// remote behind it): no 5xx, and every answer conforms to the spec (status, content type, schema).
#[test]
fn schemathesis_finds_no_server_error_and_no_answer_outside_the_spec() {
    let st = schemathesis();
    let world = world();
    world.registry.push("goldentooth-mcp", &tag(1), "1");
    let app = world.start();
    scan(&app);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // One run with generated path parameters (mostly 404s), one on the configured objects, so
    // the generated bodies reach promote, rollback, pin, resume, scan and suspend for real.
    std::fs::write(
        world.dir.path().join("configured.toml"),
        "[parameters]\n\"path.namespace\" = \"flux-system\"\n\"path.name\" = \"mcp\"\n",
    )
    .unwrap();
    std::fs::write(world.dir.path().join("generated.toml"), "").unwrap();
    for config in ["generated.toml", "configured.toml"] {
        let output = std::process::Command::new("python3")
            .arg(&st)
            .args(["--config-file", config, "run"])
            .arg(root.join("openapi.yaml"))
            .args(["--url", &format!("http://127.0.0.1:{}", app.port)])
            .args(["--header", &format!("Authorization: Bearer {ADMIN}")])
            .args([
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            ])
            .args(["--phases", "examples,coverage,fuzzing", "--max-examples", "30", "--workers", "2"])
            .args(["--request-timeout", "20", "--no-color", "--seed", "1"])
            .env("PYTHONPATH", root.join(".tools/schemathesis"))
            .current_dir(world.dir.path())
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(output.status.success(), "schemathesis ({config}) failed:\n{text}");
        assert!(text.contains(" passed"), "{text}");
    }
}

#[test]
fn concurrent_promotions_of_one_policy_are_serialised_and_both_answers_are_true() {
    let world = world();
    for run in 1..=3 {
        world
            .registry
            .push("goldentooth-mcp", &tag(run), &run.to_string());
    }
    let app = world.start();
    let promote = format!("{POLICY}/promote");
    let answers: Vec<(u16, Value)> = std::thread::scope(|scope| {
        let handles: Vec<_> = [1, 2]
            .into_iter()
            .map(|run| {
                let (app, promote) = (&app, &promote);
                scope.spawn(move || call(app, "POST", promote, Some(CI), Some(json!({"tag": tag(run)}))))
            })
            .collect();
        handles.into_iter().map(|handle| handle.join().unwrap()).collect()
    });
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
    }
    // One ran after the other: the later one saw the earlier one's tag in git.
    let (first, second) = if answers[1].1["previous"].as_str() == Some(tag(1).as_str()) {
        (&answers[0].1, &answers[1].1)
    } else {
        (&answers[1].1, &answers[0].1)
    };
    assert_eq!(second["previous"], first["tag"], "{answers:?}");
    assert_eq!(deployed(&world.remote), second["tag"].as_str().unwrap());
    assert_eq!(world.remote.head("main"), second["commit"].as_str().unwrap());
    let parent = crate::support::git::git(&world.remote.bare, &["rev-parse", "main~1"]);
    assert_eq!(
        parent.trim(),
        first["commit"].as_str().unwrap(),
        "both commits landed, in order"
    );
    let (_, policy) = call(&app, "GET", POLICY, Some(RO), None);
    assert_eq!(policy["pinned"]["tag"], second["tag"], "{policy}");
}

#[test]
fn events_are_listed_newest_first_filtered_and_paged() {
    let world = world();
    world.registry.push("goldentooth-mcp", &tag(1), "1");
    let app = world.start();
    for run in 1..=3 {
        let body = push_notification(
            &format!("page-{run}"),
            &format!("http://{}", world.registry.host()),
            &tag(run),
        );
        let (status, text) = request(
            app.port,
            "POST",
            "/hooks/registry",
            &[("Authorization", NOTIFY), ("Content-Type", "application/json")],
            body.as_bytes(),
        )
        .unwrap();
        assert_eq!(status, 200, "{text}");
    }
    let (status, page) = call(&app, "GET", "/api/v1/events?limit=2", Some(RO), None);
    assert_eq!(status, 200, "{page}");
    let ids: Vec<i64> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids[0] > ids[1], "newest first: {ids:?}");
    let next = page["next_before"].as_i64().unwrap();
    let (_, rest) = call(
        &app,
        "GET",
        &format!("/api/v1/events?limit=2&before={next}"),
        Some(RO),
        None,
    );
    assert_eq!(rest["events"].as_array().unwrap().len(), 1, "{rest}");
    assert!(rest["next_before"].is_null(), "{rest}");
    // The missing tags (runs 2 and 3 were never pushed) end failed, with the reason.
    wait_for("the missing tags to be refused", Duration::from_secs(30), || {
        let (_, failed) = call(&app, "GET", "/api/v1/events?state=failed", Some(RO), None);
        (failed["events"].as_array()?.len() == 2).then_some(failed)
    });
    let (_, failed) = call(
        &app,
        "GET",
        "/api/v1/events?state=failed&repository=flux-system/mcp",
        Some(RO),
        None,
    );
    assert!(
        failed["events"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("does not exist"),
        "{failed}"
    );
    let (status, bad) = call(&app, "GET", "/api/v1/events?limit=0", Some(RO), None);
    assert_eq!((status, bad["field"].as_str()), (422, Some("/limit")), "{bad}");
    let (status, bad) = call(&app, "GET", "/api/v1/events?state=sideways", Some(RO), None);
    assert_eq!(
        (status, bad["type"].as_str()),
        (422, Some("urn:pushdeploy:problem:validation")),
        "{bad}"
    );
    let (status, _) = call(&app, "GET", "/api/v1/events", None, None);
    assert_eq!(status, 401);
}

#[test]
fn a_forgejo_push_to_the_gitops_branch_refreshes_the_working_copy_at_once() {
    use hmac::Mac;
    let world = world();
    world.registry.push("goldentooth-mcp", &tag(1), "1");
    let app = world.start();
    wait_for(
        "the startup scan to deploy run 1",
        Duration::from_secs(30),
        || (deployed(&world.remote) == tag(1)).then_some(()),
    );
    // Someone else commits to the gitops branch.
    let work = world.dir.path().join("someone");
    crate::support::git::git(
        world.dir.path(),
        &[
            "clone",
            "-q",
            world.remote.bare.to_str().unwrap(),
            work.to_str().unwrap(),
        ],
    );
    std::fs::write(work.join("apps/mcp/NOTE.md"), "hello\n").unwrap();
    crate::support::git::git(&work, &["add", "-A"]);
    crate::support::git::git(&work, &["commit", "-q", "-m", "a human change"]);
    crate::support::git::git(&work, &["push", "-q", "origin", "main"]);
    let head = world.remote.head("main");

    let body = json!({"ref": "refs/heads/main", "after": head,
        "repository": {"full_name": "ops/gitops", "clone_url": world.remote.url()}})
    .to_string();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(FORGEJO_SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    let signature = hex::encode(mac.finalize().into_bytes());
    let (status, text) = request(
        app.port,
        "POST",
        "/hooks/forgejo",
        &[
            ("Content-Type", "application/json"),
            ("X-Forgejo-Event-Type", "push"),
            ("X-Forgejo-Delivery", "delivery-1"),
            ("X-Forgejo-Signature", &signature),
        ],
        body.as_bytes(),
    )
    .unwrap();
    assert!((200..300).contains(&status), "{status} {text}");
    let refreshed = wait_for("the refresh to be recorded", Duration::from_secs(30), || {
        let (_, page) = call(&app, "GET", "/api/v1/events?state=refreshed", Some(RO), None);
        page["events"].as_array()?.first().cloned()
    });
    assert_eq!(refreshed["commit"].as_str(), Some(head.as_str()), "{refreshed}");
    assert!(
        refreshed["reason"].as_str().unwrap().contains("flux-system/mcp"),
        "{refreshed}"
    );
}

#[test]
fn a_suspended_automation_writes_nothing_automatic_until_resumed_and_survives_a_restart() {
    let world = world();
    world.registry.push("goldentooth-mcp", &tag(1), "1");
    let mut app = world.start();
    scan(&app);
    wait_for("the poll to deploy run 1", Duration::from_secs(30), || {
        (deployed(&world.remote) == tag(1)).then_some(())
    });
    let (status, body) = call(&app, "POST", "/api/v1/automations/mcp/suspend", Some(ADMIN), None);
    assert_eq!(status, 200, "{body}");
    let note = crate::support::git::git(&world.remote.bare, &["log", "-1", "--format=%B", "main"]);
    assert!(note.contains("Pushdeploy-Suspended: flux-system/mcp"), "{note}");

    world.registry.push("goldentooth-mcp", &tag(2), "2");
    assert_eq!(app.terminate(), Some(0));
    app.launch();
    scan(&app);
    wait_for_decisions(&app, 1);
    assert_eq!(deployed(&world.remote), tag(1), "suspended across the restart");
    let (_, automations) = call(&app, "GET", "/api/v1/automations", Some(RO), None);
    assert_eq!(automations[0]["suspended"].as_bool(), Some(true), "{automations}");

    let (status, body) = call(&app, "POST", "/api/v1/automations/mcp/resume", Some(ADMIN), None);
    assert_eq!(
        (status, body["suspended"].as_bool()),
        (200, Some(false)),
        "{body}"
    );
    assert!(
        body["decision"]
            .as_str()
            .unwrap_or_default()
            .starts_with("pushed"),
        "{body}"
    );
    assert_eq!(deployed(&world.remote), tag(2));
}

#[test]
fn an_automation_suspended_by_its_manifest_writes_nothing_not_even_a_promotion_and_says_so() {
    let world = world();
    world.registry.push("goldentooth-mcp", &tag(1), "1");
    let text = crate::support::mcp_config(
        &world.registry.host(),
        &world.remote.url(),
        &world.dir.path().join("data"),
        &config_access(),
        "    suspend: true\n",
    );
    let app = App::start(world.dir.path(), &text, &ENV);
    let head = world.remote.head("main");
    scan(&app);
    wait_for_decisions(&app, 1);
    let (status, body) = call(
        &app,
        "POST",
        &format!("{POLICY}/promote"),
        Some(CI),
        Some(json!({"tag": tag(1)})),
    );
    assert_eq!(status, 409, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("suspended by its manifest (spec.suspend: true at"),
        "{body}"
    );
    let (status, body) = call(&app, "POST", "/api/v1/automations/mcp/resume", Some(ADMIN), None);
    assert_eq!(
        status, 409,
        "the API cannot resume what the manifest suspends: {body}"
    );
    assert_eq!(world.remote.head("main"), head, "nothing written");
    let (_, automations) = call(&app, "GET", "/api/v1/automations", Some(RO), None);
    assert_eq!(automations[0]["suspended"].as_bool(), Some(true), "{automations}");
    assert!(
        automations[0]["suspended_by"]
            .as_str()
            .unwrap_or_default()
            .starts_with("manifest ("),
        "{automations}"
    );
    let (_, status) = app.get("/status").unwrap();
    let status: Value = serde_json::from_str(&status).unwrap();
    assert_eq!(
        status["suspended"]["automations"]["flux-system/mcp"], "manifest",
        "{status}"
    );
}

#[test]
fn a_suspended_image_repository_is_not_scanned_and_its_pushes_are_ignored_with_the_reason() {
    let world = world();
    world.registry.push("goldentooth-mcp", &tag(1), "1");
    let text = crate::support::mcp_config_with_repository(
        &world.registry.host(),
        &world.remote.url(),
        &world.dir.path().join("data"),
        &config_access(),
        "",
        "    suspend: true\n",
    );
    let app = App::start(world.dir.path(), &text, &ENV);
    let head = world.remote.head("main");
    let (status, body) = call(&app, "POST", SCAN, Some(CI), None);
    assert_eq!(status, 409, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("is suspended (spec.suspend: true at"),
        "{body}"
    );
    let (status, _) = notify(&app, &world, "suspended", &tag(1));
    assert_eq!(status, 200);
    let event = wait_for("the push to be ignored", Duration::from_secs(30), || {
        let (_, events) = call(&app, "GET", "/api/v1/events", Some(RO), None);
        events["events"]
            .as_array()
            .and_then(|events| events.iter().find(|e| e["state"] == "ignored").cloned())
    });
    assert!(
        event["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("image repository flux-system/mcp is suspended"),
        "{event}"
    );
    assert_eq!(world.remote.head("main"), head, "nothing written");
    let (_, status) = app.get("/status").unwrap();
    let status: Value = serde_json::from_str(&status).unwrap();
    assert_eq!(
        status["suspended"]["image_repositories"][0], "flux-system/mcp",
        "{status}"
    );
}

/// The `intake:` and `api:` block of `config`.
fn config_access() -> String {
    "intake:
  registry:
    authorization: [{fromEnv: NOTIFY_AUTH}]
  forgejo:
    secrets: [{fromEnv: FORGEJO_SECRET}]
  coalesceWindow: 0s
api:
  tokens:
    - {name: ops, scope: admin, token: {fromEnv: ADMIN_TOKEN}}
    - {name: ci, scope: promote, token: {fromEnv: CI_TOKEN}}
    - {name: dashboard, scope: read, token: {fromEnv: RO_TOKEN}}
"
    .to_owned()
}
