//! End to end over sockets: a real docker-registry notifies `pushdeploy serve` (a child
//! process); the gitops remote is a bare repository over file://.

use crate::support::app::App;
use crate::support::git::{Remote, git, gitops_fixture};
use crate::support::registry::{Options, Registry, push_notification};
use crate::support::wait_for;
use std::path::Path;
use std::time::Duration;

const MCP_TAG: &str = "2-f62ba56a999ec99a7375fed529acf4b336691bdb";
const DEPLOYMENT: &str = "apps/mcp/deployment.yaml";
const NOTIFY: &str = "Bearer notify-s3cret-token";
const FORGEJO_SECRET: &str = "forgejo-s3cret-value";
const API_TOKEN: &str = "api-s3cret-token";
const ENV: [(&str, &str); 3] = [
    ("NOTIFY_AUTH", NOTIFY),
    ("FORGEJO_SECRET", FORGEJO_SECRET),
    ("API_TOKEN", API_TOKEN),
];

fn config(registry: &str, remote: &Remote, data: &Path) -> String {
    crate::support::mcp_config(
        registry,
        &remote.url(),
        data,
        "intake:
  registry:
    authorization: [{fromEnv: NOTIFY_AUTH}]
  forgejo:
    secrets: [{fromEnv: FORGEJO_SECRET}]
  coalesceWindow: 0s
api:
  tokens: [{name: ops, scope: admin, token: {fromEnv: API_TOKEN}}]
",
        "        messageTemplate: 'chore(flux): update mcp image to {{range .Changed.Changes}}{{.NewValue}}{{end}}'\n",
    )
}

fn backlog_is_empty(app: &App) -> Option<()> {
    let (status, body) = app.get("/status")?;
    let value: serde_json::Value = serde_json::from_str(&body).ok()?;
    (status == 200 && value["journal_backlog"] == 0).then_some(())
}

#[test]
fn the_mcp_scenario_registry_pushes_become_commits_that_change_only_the_image_line() {
    let dir = tempfile::tempdir().unwrap();
    let remote = Remote::seeded(dir.path(), &gitops_fixture());
    let app_port_holder = crate::support::free_port();
    let registry = Registry::notifying(&dir.path().join("registry"), app_port_holder, NOTIFY);
    let text = config(&registry.host(), &remote, &dir.path().join("data"));
    let mut env = ENV.to_vec();
    env.push(("RUST_LOG", "debug"));
    let app = App::start_on(app_port_holder, dir.path(), &text, &env);
    let before = remote.show("main", DEPLOYMENT);
    let seed_commits = remote.subjects("main").len();

    registry.push("goldentooth-mcp", "latest", "a");
    wait_for(
        "the latest notification to be processed",
        Duration::from_secs(30),
        || backlog_is_empty(&app),
    );
    assert_eq!(
        remote.subjects("main").len(),
        seed_commits,
        "latest changes nothing"
    );

    registry.push("goldentooth-mcp", "1-0c1e0a2b", "b");
    registry.push("goldentooth-mcp", MCP_TAG, "c");
    let image = format!("{}/goldentooth-mcp", registry.host());
    let landed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_for(
            "the commit for 2-f62… on the remote",
            Duration::from_secs(60),
            || remote.show("main", DEPLOYMENT).contains(MCP_TAG).then_some(()),
        )
    }));
    let quiet = |text: String| {
        text.lines()
            .filter(|line| !line.contains("\"DEBUG\""))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let registry_log = std::fs::read_to_string(registry.dir.join("registry.log")).unwrap_or_default();
    assert!(
        landed.is_ok(),
        "no commit; service log:\n{}\nregistry log:\n{registry_log}",
        quiet(app.logs())
    );
    let after = remote.show("main", DEPLOYMENT);
    let expected = before.replace(
        "registry.goldentooth.net/goldentooth-mcp:latest #",
        &format!("{image}:{MCP_TAG} #"),
    );
    assert_eq!(after, expected, "only the image value changes");
    let subjects = remote.subjects("main");
    assert_eq!(
        subjects[0],
        format!("chore(flux): update mcp image to {image}:{MCP_TAG}")
    );
    assert!(
        subjects.len() <= seed_commits + 2,
        "one commit per change at most: {subjects:?}"
    );
    let changed = git(
        &remote.bare,
        &[
            "diff",
            "--name-only",
            &format!("main~{}", subjects.len() - seed_commits),
            "main",
        ],
    );
    assert_eq!(changed.trim(), DEPLOYMENT);
    assert!(
        !app.logs().contains("notify-s3cret-token"),
        "a secret reached the logs"
    );
}

#[test]
fn a_notification_acknowledged_before_a_kill_9_is_committed_exactly_once_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let remote = Remote::seeded(dir.path(), &gitops_fixture());
    let registry = Registry::start(&dir.path().join("registry"), Options::default());
    registry.push("goldentooth-mcp", MCP_TAG, "c");
    let mut app = App::start(
        dir.path(),
        &config(&registry.host(), &remote, &dir.path().join("data")),
        &ENV,
    );
    let body = serde_json::json!({"events": [{
        "id": "crash-test-event",
        "action": "push",
        "target": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "repository": "goldentooth-mcp", "tag": MCP_TAG,
                   "url": format!("http://{}/v2/goldentooth-mcp/manifests/{MCP_TAG}", registry.host())},
        "request": {"host": registry.host()}
    }]});
    let headers = [
        ("Authorization", NOTIFY),
        (
            "Content-Type",
            "application/vnd.docker.distribution.events.v1+json",
        ),
    ];
    let (status, _) = app.post("/hooks/registry", &headers, body.to_string().as_bytes());
    assert_eq!(status, 200);
    app.kill9();
    app.launch();
    wait_for("the acknowledged event to land", Duration::from_secs(60), || {
        remote.show("main", DEPLOYMENT).contains(MCP_TAG).then_some(())
    });
    // Sent again (a registry retry reuses the id): deduplicated, still one commit.
    let (status, response) = app.post("/hooks/registry", &headers, body.to_string().as_bytes());
    assert_eq!(status, 200);
    assert!(response.contains("\"duplicates\":1"), "{response}");
    wait_for("the backlog to drain", Duration::from_secs(30), || {
        backlog_is_empty(&app)
    });
    let commits = remote
        .subjects("main")
        .iter()
        .filter(|subject| subject.contains(MCP_TAG))
        .count();
    assert_eq!(commits, 1);
}

#[test]
fn a_webhook_for_a_tag_missing_from_the_registry_never_produces_a_commit() {
    let dir = tempfile::tempdir().unwrap();
    let remote = Remote::seeded(dir.path(), &gitops_fixture());
    let registry = Registry::start(&dir.path().join("registry"), Options::default());
    registry.push("goldentooth-mcp", "1-aaa", "a");
    let app = App::start(
        dir.path(),
        &config(&registry.host(), &remote, &dir.path().join("data")),
        &ENV,
    );
    wait_for("the startup scan's commit", Duration::from_secs(60), || {
        remote.show("main", DEPLOYMENT).contains("1-aaa").then_some(())
    });
    let head = remote.head("main");
    let forged = push_notification("forged", &format!("http://{}", registry.host()), "999-deadbeef");
    let headers = [("Authorization", NOTIFY), ("Content-Type", "application/json")];
    assert_eq!(app.post("/hooks/registry", &headers, forged.as_bytes()).0, 200);
    wait_for("the forged event to be decided", Duration::from_secs(30), || {
        backlog_is_empty(&app)
    });
    assert_eq!(
        remote.head("main"),
        head,
        "a tag that is not in the registry must never be committed"
    );
}

#[test]
fn the_quickstart_runs_with_no_other_server_and_a_simulated_push_lands_as_a_commit() {
    let dir = tempfile::tempdir().unwrap();
    let port = crate::support::free_port();
    let data = dir.path().join("qs");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_pushdeploy"))
        .args([
            "quickstart",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(&data)
        .env("PUSHDEPLOY_LOG_FORMAT", "json")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let ready = wait_for("the quickstart to be ready", Duration::from_secs(30), || {
        crate::support::app::get(port, "/readyz").filter(|(status, _)| *status == 200)
    });
    assert!(ready.1.contains("\"journal\":\"ok\""), "{}", ready.1);
    let token = std::fs::read_to_string(data.join("notify-token")).unwrap();
    let body = push_notification("qs", "https://registry.goldentooth.net", MCP_TAG);
    let headers = [
        ("Authorization", token.trim()),
        (
            "Content-Type",
            "application/vnd.docker.distribution.events.v1+json",
        ),
    ];
    let (status, _) =
        crate::support::app::request(port, "POST", "/hooks/registry", &headers, body.as_bytes()).unwrap();
    assert_eq!(status, 200);
    let remote = data.join("gitops.git");
    // The quickstart sets no messageTemplate: the message is Flux's default, and the commit's
    // trailers name the tag.
    let message = wait_for("the quickstart commit", Duration::from_secs(30), || {
        let log = git(&remote, &["log", "-1", "--format=%B"]);
        log.contains(MCP_TAG).then_some(log)
    });
    assert_eq!(
        message.lines().next(),
        Some("Update from image update automation"),
        "{message}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

fn pushdeploy(args: &[&str], config: &Path) -> (Option<i32>, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_pushdeploy"))
        .args(args)
        .arg("--config")
        .arg(config)
        .envs(ENV)
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
}

#[test]
fn run_once_writes_the_pick_then_reports_up_to_date_and_check_passes() {
    let dir = tempfile::tempdir().unwrap();
    let remote = Remote::seeded(dir.path(), &gitops_fixture());
    let registry = Registry::start(&dir.path().join("registry"), Options::default());
    registry.push("goldentooth-mcp", "latest", "a");
    registry.push("goldentooth-mcp", MCP_TAG, "c");
    let path = dir.path().join("pushdeploy.yaml");
    std::fs::write(
        &path,
        config(&registry.host(), &remote, &dir.path().join("data")).replace("{port}", "0"),
    )
    .unwrap();
    let config = path;
    let (code, output) = pushdeploy(&["run-once"], &config);
    assert_eq!(code, Some(0), "{output}");
    let line: serde_json::Value = serde_json::from_str(output.lines().next().unwrap()).unwrap();
    assert_eq!(
        (line["automation"].as_str(), line["outcome"].as_str()),
        (Some("flux-system/mcp"), Some("pushed"))
    );
    assert_eq!(line["commit"].as_str(), Some(remote.head("main").as_str()));
    let (_, output) = pushdeploy(&["run-once"], &config);
    assert!(output.contains("\"outcome\":\"up-to-date\""), "{output}");
    let (code, output) = pushdeploy(&["check"], &config);
    assert_eq!(code, Some(0), "{output}");
    assert!(
        output.contains(&format!("PASS policy flux-system/mcp: picks {MCP_TAG}")),
        "{output}"
    );
    assert!(output.contains("write access"), "{output}");
}

#[test]
fn check_names_a_read_only_deploy_key_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let remote = Remote::seeded(dir.path(), &gitops_fixture());
    let sshd = crate::support::sshd::Sshd::start(&dir.path().join("sshd"), true);
    let registry = Registry::start(&dir.path().join("registry"), Options::default());
    registry.push("goldentooth-mcp", MCP_TAG, "c");
    let text = config(&registry.host(), &remote, &dir.path().join("data"))
        .replace("{port}", "0")
        .replace(
            &format!("      url: {}\n", remote.url()),
            &format!(
                "      url: {}\n      auth: {{ssh: {{privateKeyFile: {}, knownHostsFile: {}}}}}\n",
                sshd.url(&remote.bare),
                sshd.deploy_key.display(),
                sshd.known_hosts.display()
            ),
        );
    let path = dir.path().join("pushdeploy.yaml");
    std::fs::write(&path, text).unwrap();
    let (code, output) = pushdeploy(&["check"], &path);
    assert_eq!(code, Some(1), "{output}");
    assert!(
        output.contains("FAIL gitops flux-system/mcp") && output.contains("the deploy key is read-only"),
        "{output}"
    );
}

#[test]
fn a_webhook_whose_push_fails_while_the_remote_is_unreachable_lands_once_it_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let remote = Remote::seeded(dir.path(), &gitops_fixture());
    let registry = Registry::start(&dir.path().join("registry"), Options::default());
    registry.push("goldentooth-mcp", MCP_TAG, "c");
    let away = dir.path().join("away.git");
    std::fs::rename(&remote.bare, &away).unwrap();
    let app = App::start(
        dir.path(),
        &config(&registry.host(), &remote, &dir.path().join("data")),
        &ENV,
    );
    let body = push_notification("unreachable", &format!("http://{}", registry.host()), MCP_TAG);
    let headers = [("Authorization", NOTIFY), ("Content-Type", "application/json")];
    assert_eq!(app.post("/hooks/registry", &headers, body.as_bytes()).0, 200);
    let (status, readiness) = app.get("/readyz").unwrap();
    assert_eq!(status, 503, "{readiness}");
    wait_for("the failed attempt to be logged", Duration::from_secs(30), || {
        app.logs().contains("will retry the event").then_some(())
    });
    std::fs::rename(&away, &remote.bare).unwrap();
    wait_for("the retried event to land", Duration::from_secs(60), || {
        remote.show("main", DEPLOYMENT).contains(MCP_TAG).then_some(())
    });
}

#[test]
fn sigterm_exits_cleanly_and_an_acknowledged_event_still_lands() {
    let dir = tempfile::tempdir().unwrap();
    let remote = Remote::seeded(dir.path(), &gitops_fixture());
    let registry = Registry::start(&dir.path().join("registry"), Options::default());
    registry.push("goldentooth-mcp", MCP_TAG, "c");
    let mut app = App::start(
        dir.path(),
        &config(&registry.host(), &remote, &dir.path().join("data")),
        &ENV,
    );
    let body = push_notification("graceful", &format!("http://{}", registry.host()), MCP_TAG);
    let headers = [("Authorization", NOTIFY), ("Content-Type", "application/json")];
    assert_eq!(app.post("/hooks/registry", &headers, body.as_bytes()).0, 200);
    assert_eq!(
        app.terminate(),
        Some(0),
        "graceful shutdown exits 0:\n{}",
        app.logs()
    );
    assert!(app.logs().contains("stopped"));
    // Whether the write finished before the exit or not, restarting must leave exactly one commit.
    app.launch();
    wait_for("the event to land", Duration::from_secs(60), || {
        remote.show("main", DEPLOYMENT).contains(MCP_TAG).then_some(())
    });
    wait_for("the backlog to drain", Duration::from_secs(30), || {
        backlog_is_empty(&app)
    });
    assert_eq!(
        remote
            .subjects("main")
            .iter()
            .filter(|subject| subject.contains(MCP_TAG))
            .count(),
        1
    );
}
