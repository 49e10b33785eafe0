//! The console in a real browser: Debian's chromium driven by playwright-core
//! (`tests/browser/console.mjs`) against `pushdeploy serve` with a real registry and a bare
//! remote. One test watches a registry push appear without a reload, then promotes, rolls back
//! and resumes through the UI with a token and checks git; the other feeds markup through
//! every way a value reaches the page and checks that it shows as text and runs nothing.
//! Screenshots of the overview and a policy page go to `target/console-screenshots/`.

use crate::support::app::App;
use crate::support::git::{Remote, git, gitops_fixture};
use crate::support::registry::Registry;
use crate::support::wait_for;
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const NOTIFY: &str = "Bearer notify-s3cret-token";
const API_TOKEN: &str = "console-api-s3cret";
const OLDER: &str = "1-0c1e0a2b3c4d5e6f";
const NEWER: &str = "2-f62ba56a999ec99a7375fed529acf4b336691bdb";
const DEPLOYMENT: &str = "apps/mcp/deployment.yaml";

fn playwright_core() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/playwright/node_modules/playwright-core/index.mjs")
}

fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `serve` on the mcp scenario, notified by a real registry, with an admin token.
fn world(dir: &Path, remote: &Remote) -> (Registry, App) {
    let port = crate::support::free_port();
    let registry = Registry::notifying(&dir.join("registry"), port, NOTIFY);
    let config = crate::support::mcp_config(
        &registry.host(),
        &remote.url(),
        &dir.join("data"),
        &crate::support::notify_and_admin_access("API_TOKEN"),
        "",
    );
    let app = App::start_on(
        port,
        dir,
        &config,
        &[("NOTIFY_AUTH", NOTIFY), ("API_TOKEN", API_TOKEN)],
    );
    (registry, app)
}

/// Run the browser script in `mode`; `on_line` answers each line it prints before the report.
fn browse(
    app_port: u16,
    mode: &str,
    env: &[(&str, String)],
    mut on_line: impl FnMut(&str) -> Option<String>,
) -> Value {
    let mut command = Command::new("node");
    command
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/console.mjs"))
        .arg(mode)
        .env("PLAYWRIGHT_CORE", playwright_core())
        .env("CONSOLE_URL", format!("http://127.0.0.1:{app_port}"))
        .env("CONSOLE_TOKEN", API_TOKEN)
        .env("ARTIFACTS", artifacts())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command
        .spawn()
        .expect("node runs (scripts/test installs playwright-core and chromium)");
    let mut stdin = child.stdin.take().unwrap();
    let mut last = String::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(answer) = on_line(&line) {
            writeln!(stdin, "{answer}").unwrap();
        }
        last = line;
    }
    assert!(
        child.wait().unwrap().success(),
        "the browser script failed; last line: {last}"
    );
    let report: Value = serde_json::from_str(&last).unwrap_or_else(|_| panic!("no report: {last}"));
    assert_eq!(
        report["outside"],
        serde_json::json!([]),
        "the browser left loopback"
    );
    assert_eq!(
        report["errors"],
        serde_json::json!([]),
        "errors in the page or the script"
    );
    let checks = report["checks"].as_array().unwrap();
    assert!(!checks.is_empty());
    for check in checks {
        assert_eq!(check["ok"], true, "browser check failed: {check}");
    }
    report
}

fn in_git(remote: &Remote) -> String {
    remote.show("main", DEPLOYMENT)
}

#[test]
fn a_push_shows_up_live_and_the_console_promotes_rolls_back_and_resumes_with_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let remote = Remote::seeded(dir.path(), &gitops_fixture());
    let (registry, app) = world(dir.path(), &remote);
    registry.push("goldentooth-mcp", OLDER, "a");
    wait_for("the first tag in git", Duration::from_secs(60), || {
        in_git(&remote).contains(OLDER).then_some(())
    });
    // A scan, so that the page shows the registry's tag count rather than the failed scan of
    // the start, when the repository did not exist yet.
    let (status, body) = app.post(
        "/api/v1/repositories/flux-system/mcp/scan",
        &[("Authorization", &format!("Bearer {API_TOKEN}"))],
        b"",
    );
    assert_eq!(status, 200, "{body}");
    let report = browse(app.port, "flow", &[("INITIAL_TAG", OLDER.to_owned())], |line| {
        (line == "await-push").then(|| {
            registry.push("goldentooth-mcp", NEWER, "b");
            NEWER.to_owned()
        })
    });
    let names: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|check| check["name"].as_str().unwrap())
        .collect();
    for wanted in [
        "live without reload",
        "readable without javascript",
        "promote preview",
        "rollback preview",
        "suspend preview",
        "scan preview",
        "token only in sessionStorage",
        "fits a phone: /",
    ] {
        assert!(names.contains(&wanted), "{wanted} was not checked: {names:?}");
    }
    // What the UI did is in git, newest first: the automation resumed and suspended, the
    // policy resumed, the rollback to the newer tag, the promotion back to the older one.
    assert!(in_git(&remote).contains(NEWER), "{}", in_git(&remote));
    let log = git(&remote.bare, &["log", "--format=%B%x00", "main"]);
    let messages: Vec<&str> = log.split('\0').map(str::trim).filter(|m| !m.is_empty()).collect();
    let expected = [
        ("Pushdeploy-Resumed: flux-system/mcp", "resume automation"),
        ("Pushdeploy-Suspended: flux-system/mcp", "suspend automation"),
        ("Pushdeploy-Resumed: flux-system/mcp", "resume"),
        (
            &*format!("Pushdeploy-Deployed: flux-system/mcp={NEWER}"),
            "rollback by ops",
        ),
        (
            &*format!("Pushdeploy-Deployed: flux-system/mcp={OLDER}"),
            "promote by ops",
        ),
    ];
    for (at, (trailer, words)) in expected.iter().enumerate() {
        assert!(
            messages[at].contains(trailer) && messages[at].contains(words),
            "commit {at} from the tip should carry {trailer:?} and {words:?}: {}",
            messages[at]
        );
    }
    for screenshot in ["overview.png", "policy.png"] {
        let bytes = std::fs::read(artifacts().join(screenshot)).unwrap();
        assert!(
            bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000,
            "{screenshot}"
        );
    }
    assert!(!app.logs().contains(API_TOKEN), "the token reached the logs");
}

#[test]
fn markup_in_tags_commits_authors_and_errors_shows_as_text_and_runs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed");
    crate::support::git::copy_tree(&gitops_fixture(), &seed);
    // An error text carrying markup: a marker whose setter is not namespace:name.
    let evil_marker = "<img src=x onerror=window.__xss=4>";
    std::fs::write(
        seed.join("apps/mcp/evil.yaml"),
        format!("image: x # {{\"$imagepolicy\": \"{evil_marker}\"}}\n"),
    )
    .unwrap();
    let remote = Remote::seeded(&dir.path().join("remote"), &seed);
    // An outside commit whose trailers name a deployment with a markup tag and cause, by an
    // author whose name carries what git keeps of markup (it drops `<` and `>`).
    let work = dir.path().join("outside");
    git(
        dir.path(),
        &["clone", "-q", &remote.url(), work.to_str().unwrap()],
    );
    let tag = "<script>window.__xss=1</script>";
    let cause = "<script>window.__xss=3</script>";
    let author = "O'Brien & \"Co\" Ltd";
    git(
        &work,
        &[
            "-c",
            &format!("user.name={author}"),
            "-c",
            "user.email=evil@example.com",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            &format!("outside\n\nPushdeploy-Deployed: flux-system/mcp={tag}\nPushdeploy-Cause: {cause}\n"),
        ],
    );
    git(&work, &["push", "-q", "origin", "main"]);
    let (registry, app) = world(dir.path(), &remote);
    // A push for an image nobody configured, with a markup tag.
    let unmatched_tag = "<script>window.__xss=5</script>";
    let envelope = serde_json::json!({"events": [{"id": "evil-1", "action": "push", "target": {
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "repository": "nobody/configured",
        "tag": unmatched_tag, "url": format!("http://{}/v2/nobody/configured/manifests/x", registry.host())}}]});
    let (status, body) = app.post(
        "/hooks/registry",
        &[
            ("Authorization", NOTIFY),
            (
                "Content-Type",
                "application/vnd.docker.distribution.events.v1+json",
            ),
        ],
        envelope.to_string().as_bytes(),
    );
    assert_eq!(status, 200, "{body}");
    wait_for("the unmatched push in /status", Duration::from_secs(30), || {
        let (_, body) = app.get("/status")?;
        body.contains("nobody/configured").then_some(())
    });
    wait_for("the marker error in the console", Duration::from_secs(30), || {
        let (_, body) = app.get("/")?;
        body.contains("&lt;img src=x onerror=window.__xss=4&gt;")
            .then_some(())
    });
    let shown = [
        ("/", unmatched_tag),
        ("/", evil_marker),
        ("/", cause),
        ("/console/policies/flux-system/mcp", tag),
        ("/console/policies/flux-system/mcp", cause),
        ("/console/policies/flux-system/mcp", author),
        ("/console/policies/flux-system/mcp", evil_marker),
    ]
    .iter()
    .map(|(path, value)| format!("{path}\t{value}"))
    .collect::<Vec<_>>()
    .join("\n");
    browse(app.port, "inert", &[("SHOWN_AS_TEXT", shown)], |_| None);

    // Anonymous readers share one computation while nothing changes: 30 at once cost one
    // git inspection at most, the rest are served from it.
    wait_for("readiness", Duration::from_secs(60), || {
        (app.get("/readyz")?.0 == 200).then_some(())
    });
    app.get("/").unwrap();
    let computed = || pages_metric(&app, "computed");
    let (before, reused_before) = (computed(), pages_metric(&app, "reused"));
    let port = app.port;
    let readers: Vec<_> = (0..30)
        .map(|_| std::thread::spawn(move || crate::support::app::get(port, "/").map(|(status, _)| status)))
        .collect();
    for reader in readers {
        assert_eq!(reader.join().unwrap(), Some(200));
    }
    assert!(
        computed() - before <= 1,
        "{} computations for 30 readers",
        computed() - before
    );
    assert!(pages_metric(&app, "reused") - reused_before >= 29);
}

/// `pushdeploy_console_pages_total{page="overview",data=…}`.
fn pages_metric(app: &App, data: &str) -> u64 {
    let (_, metrics) = app.get("/metrics").unwrap();
    metrics
        .lines()
        .find(|line| {
            line.starts_with("pushdeploy_console_pages_total")
                && line.contains("page=\"overview\"")
                && line.contains(&format!("data=\"{data}\""))
        })
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0)
}
