//! A commit message template that parses (so `config check` passes) but fails to render, end to
//! end: the event is `failed` with the reason, the log says so, `/status` shows the automation's
//! last write error, the metric counts it, and the remote branch does not move.

use crate::support::app::{App, request};
use crate::support::git::{Remote, gitops_fixture};
use crate::support::registry::{Options, Registry, push_notification};
use crate::support::wait_for;
use serde_json::Value;
use std::time::Duration;

const NOTIFY: &str = "Bearer notify-s3cret-token";
const ADMIN: &str = "admin-s3cret-token";

/// `.Image` is not a field of a change: a parse-time check cannot know, rendering can.
const TEMPLATE: &str = "update {{range .Changed.Changes}}{{.Image}}{{end}}";

fn status(app: &App) -> Value {
    let (_, body) = app.get("/status").unwrap();
    serde_json::from_str(&body).unwrap()
}

fn events_in(app: &App, state: &str) -> Vec<Value> {
    let bearer = format!("Bearer {ADMIN}");
    let path = format!("/api/v1/events?state={state}&limit=500");
    let (_, page) = request(app.port, "GET", &path, &[("Authorization", bearer.as_str())], b"").unwrap();
    let page: Value = serde_json::from_str(&page).unwrap_or(Value::Null);
    page["events"].as_array().cloned().unwrap_or_default()
}

#[test]
fn a_template_that_fails_to_render_fails_the_event_shows_in_status_and_moves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let remote = Remote::seeded(dir.path(), &gitops_fixture());
    let registry = Registry::start(&dir.path().join("registry"), Options::default());
    let config = crate::support::mcp_config(
        &registry.host(),
        &remote.url(),
        &dir.path().join("data"),
        &crate::support::notify_and_admin_access("ADMIN_TOKEN"),
        &format!("        messageTemplate: '{TEMPLATE}'\n"),
    );
    let template_line = config
        .lines()
        .position(|line| line.contains("messageTemplate"))
        .unwrap()
        + 1;
    let app = App::start(
        dir.path(),
        &config,
        &[("NOTIFY_AUTH", NOTIFY), ("ADMIN_TOKEN", ADMIN)],
    );
    wait_for("the startup scan", Duration::from_secs(30), || {
        status(&app)["repositories"]["flux-system/mcp"]["last_scan"]
            .as_i64()
            .map(|_| ())
    });
    let head_before = remote.head("main");
    let tag = "7-0123456789abcdef0123456789abcdef01234567";
    registry.push("goldentooth-mcp", tag, "seven");
    let body = push_notification("t1", &format!("http://{}", registry.host()), tag);
    let (code, answer) = app.post(
        "/hooks/registry",
        &[
            ("Authorization", NOTIFY),
            (
                "Content-Type",
                "application/vnd.docker.distribution.events.v1+json",
            ),
        ],
        body.as_bytes(),
    );
    assert_eq!(code, 200, "{answer}");

    let failed = wait_for("the event to be failed", Duration::from_secs(60), || {
        events_in(&app, "failed")
            .into_iter()
            .find(|event| event["tag"] == tag)
    });
    let reason = failed["reason"].as_str().unwrap_or_default();
    let origin = format!("pushdeploy.yaml:{template_line}");
    assert!(
        reason.contains("messageTemplate")
            && reason.contains("can't evaluate field Image")
            && reason.contains(&origin),
        "the journal reason names the template, the field and where it is written ({origin}): {failed}"
    );
    assert!(events_in(&app, "written").is_empty(), "nothing is marked written");

    let logs = app.logs();
    let line = logs
        .lines()
        .find(|line| line.contains("the commit message template failed to render"))
        .unwrap_or_else(|| panic!("no error line for the render failure:\n{logs}"));
    assert!(
        line.contains("\"ERROR\"") && line.contains("can't evaluate field Image"),
        "{line}"
    );

    let shown = status(&app)["automations"]["flux-system/mcp"].clone();
    let last_error = &shown["last_error"];
    assert!(
        last_error["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("can't evaluate field Image"),
        "/status shows the automation's last write error: {shown}"
    );
    assert!(
        last_error["at"].as_str().is_some_and(|at| at.ends_with('Z')),
        "{shown}"
    );
    assert_eq!(
        last_error["retried"], false,
        "a template is fixed, not retried: {shown}"
    );
    assert_eq!(shown["last_success"], Value::Null, "{shown}");

    let metrics = app.get("/metrics").unwrap().1;
    let count = metrics
        .lines()
        .find_map(|line| {
            line.strip_prefix("pushdeploy_commit_template_errors_total{automation=\"flux-system/mcp\"} ")
        })
        .and_then(|value| value.trim().parse::<f64>().ok());
    assert!(count.is_some_and(|count| count >= 1.0), "{metrics}");

    assert_eq!(remote.head("main"), head_before, "the remote branch moved");
}
