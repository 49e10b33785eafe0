//! Nothing silent in the engine: pushes for unknown registry names are journaled, logged once
//! and listed in /status; an alias lets them match; the policy's view includes webhook-confirmed
//! tags at once; readiness follows the last write to each gitops remote. Real registry, real
//! file:// remote, `pushdeploy serve` as a child.

use crate::support::app::{App, request};
use crate::support::git::{Remote, gitops_fixture};
use crate::support::registry::{Options, Registry, push_notification};
use crate::support::wait_for;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

const DEPLOYMENT: &str = "apps/mcp/deployment.yaml";
const NOTIFY: &str = "Bearer notify-s3cret-token";
const ADMIN: &str = "admin-s3cret-token";
const ENV: [(&str, &str); 2] = [("NOTIFY_AUTH", NOTIFY), ("ADMIN_TOKEN", ADMIN)];
const INTERNAL: &str = "registry.internal:5000";

fn tag(run: u32) -> String {
    format!("{run}-{:040x}", u128::from(run) * 0x1234_5678_9abc_def1)
}

/// The mcp scenario; `repository_extra` adds lines under the image repository.
fn config(registry: &str, remote: &Remote, data: &Path, repository_extra: &str) -> String {
    crate::support::mcp_config_with_repository(
        registry,
        &remote.url(),
        data,
        &crate::support::notify_and_admin_access("ADMIN_TOKEN"),
        "",
        repository_extra,
    )
}

fn call(app: &App, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let bearer = format!("Bearer {ADMIN}");
    let headers = [
        ("Content-Type", "application/json"),
        ("Authorization", bearer.as_str()),
    ];
    let body = body.map(|body| body.to_string()).unwrap_or_default();
    let (status, text) = request(app.port, method, path, &headers, body.as_bytes()).unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn notify(app: &App, body: &str) -> (u16, String) {
    app.post(
        "/hooks/registry",
        &[
            ("Authorization", NOTIFY),
            (
                "Content-Type",
                "application/vnd.docker.distribution.events.v1+json",
            ),
        ],
        body.as_bytes(),
    )
}

fn status(app: &App) -> Value {
    let (_, body) = app.get("/status").unwrap();
    serde_json::from_str(&body).unwrap()
}

fn deployed(remote: &Remote) -> String {
    let text = remote.show("main", DEPLOYMENT);
    let line = text.lines().find(|line| line.contains("$imagepolicy")).unwrap();
    let image = line.split_whitespace().nth(1).unwrap();
    image.rsplit(':').next().unwrap().to_owned()
}

fn events_in(app: &App, state: &str) -> Vec<Value> {
    let (_, page) = call(
        app,
        "GET",
        &format!("/api/v1/events?state={state}&limit=500"),
        None,
    );
    page["events"].as_array().cloned().unwrap_or_default()
}

fn backlog_is_empty(app: &App) -> Option<()> {
    (status(app)["journal_backlog"] == 0).then_some(())
}

struct World {
    dir: tempfile::TempDir,
    remote: Remote,
    registry: Registry,
}

fn world() -> World {
    world_with(Options::default())
}

fn world_with(options: Options) -> World {
    let dir = tempfile::tempdir().unwrap();
    let remote = Remote::seeded(dir.path(), &gitops_fixture());
    let registry = Registry::start(&dir.path().join("registry"), options);
    World {
        dir,
        remote,
        registry,
    }
}

impl World {
    fn start(&self, repository_extra: &str) -> App {
        let text = config(
            &self.registry.host(),
            &self.remote,
            &self.dir.path().join("data"),
            repository_extra,
        );
        let app = App::start(self.dir.path(), &text, &ENV);
        // The startup scan is decided before the test acts, so only the test's pushes follow.
        wait_for("the startup scan", Duration::from_secs(30), || {
            status(&app)["repositories"]["flux-system/mcp"]["last_scan"]
                .as_i64()
                .map(|_| ())
        });
        app
    }
}

#[test]
fn pushes_for_an_unknown_registry_host_are_journaled_ignored_listed_in_status_and_warned_once() {
    let world = world();
    let app = world.start("");
    for (id, run) in [("u1", 3), ("u2", 4), ("u3", 5)] {
        let body = push_notification(id, &format!("http://{INTERNAL}"), &tag(run));
        let (code, answer) = notify(&app, &body);
        assert_eq!(code, 200, "{answer}");
    }

    let ignored = events_in(&app, "ignored");
    assert_eq!(ignored.len(), 3, "every unmatched push is journaled: {ignored:?}");
    let reason = ignored[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("no ImageRepository matches {INTERNAL}/goldentooth-mcp")),
        "{reason}"
    );
    assert!(
        reason.contains(&format!(
            "configured: flux-system/mcp = {}/goldentooth-mcp",
            world.registry.host()
        )),
        "names what is configured: {reason}"
    );
    assert!(reason.contains("aliases"), "names the remedy: {reason}");
    assert_eq!(ignored[0]["tag"], tag(5));

    let unmatched = &status(&app)["unmatched"]["pushes"];
    assert_eq!(unmatched.as_array().map(Vec::len), Some(1), "{unmatched}");
    assert_eq!(unmatched[0]["host"], INTERNAL);
    assert_eq!(unmatched[0]["repository"], "goldentooth-mcp");
    assert_eq!(unmatched[0]["count"], 3);
    assert_eq!(unmatched[0]["last_tag"], tag(5));
    assert!(unmatched[0]["last_seen"].as_i64().is_some(), "{unmatched}");

    let warnings = app
        .logs()
        .lines()
        .filter(|line| line.contains("\"WARN\"") && line.contains("no ImageRepository matches"))
        .count();
    assert_eq!(
        warnings,
        1,
        "one WARN per unknown host/repository:\n{}",
        app.logs()
    );
    assert_eq!(world.remote.subjects("main").len(), 1, "nothing written");
}

#[test]
fn a_push_under_an_alias_host_is_confirmed_at_the_configured_registry_and_lands() {
    let world = world();
    let app = world.start(&format!("    aliases: [\"{INTERNAL}\"]\n"));
    let before = deployed(&world.remote);
    world.registry.push("goldentooth-mcp", &tag(7), "alias");
    let (code, answer) = notify(
        &app,
        &push_notification("alias-1", &format!("http://{INTERNAL}"), &tag(7)),
    );
    assert_eq!(code, 200, "{answer}");
    assert!(answer.contains("\"accepted\":1"), "{answer}");
    wait_for("the alias push to be written", Duration::from_secs(30), || {
        events_in(&app, "written")
            .iter()
            .any(|event| event["tag"] == tag(7))
            .then_some(())
    });
    assert_ne!(before, tag(7));
    assert_eq!(deployed(&world.remote), tag(7));
    assert!(
        status(&app)["unmatched"]["pushes"]
            .as_array()
            .is_some_and(Vec::is_empty),
        "an alias push is not unmatched"
    );
}

#[test]
fn a_webhook_confirmed_tag_is_selected_at_once_and_resume_after_a_backward_promote_moves_forward_to_it() {
    let world = world();
    world.registry.push("goldentooth-mcp", &tag(1), "one");
    let app = world.start("");
    wait_for("the startup scan to write run 1", Duration::from_secs(30), || {
        (deployed(&world.remote) == tag(1)).then_some(())
    });
    for run in [2, 4] {
        world
            .registry
            .push("goldentooth-mcp", &tag(run), &format!("v{run}"));
        let base = format!("http://{}", world.registry.host());
        let (code, answer) = notify(&app, &push_notification(&format!("w{run}"), &base, &tag(run)));
        assert_eq!(code, 200, "{answer}");
    }
    wait_for("the webhooks to be processed", Duration::from_secs(30), || {
        backlog_is_empty(&app)
    });
    assert_eq!(deployed(&world.remote), tag(4));
    // No scan ran since: the webhook-confirmed tags are in the policy's view anyway.
    assert_eq!(status(&app)["policies"]["flux-system/mcp"]["selected"], tag(4));
    let (_, view) = call(&app, "GET", "/api/v1/policies/flux-system/mcp", None);
    assert_eq!(view["selected"], tag(4), "{view}");

    let (code, promoted) = call(
        &app,
        "POST",
        "/api/v1/policies/flux-system/mcp/promote",
        Some(json!({"tag": tag(2)})),
    );
    assert_eq!(
        (code, promoted["direction"].as_str()),
        (200, Some("backward")),
        "{promoted}"
    );
    assert_eq!(deployed(&world.remote), tag(2));
    let (code, resumed) = call(&app, "POST", "/api/v1/policies/flux-system/mcp/resume", None);
    assert_eq!(code, 200, "{resumed}");
    assert!(
        resumed["decision"].as_str().unwrap_or("").starts_with("pushed"),
        "resume moves forward to the newest confirmed tag: {resumed}"
    );
    assert_eq!(deployed(&world.remote), tag(4));
}

fn readyz(app: &App) -> (u16, Value) {
    let (code, body) = app.get("/readyz").unwrap();
    (code, serde_json::from_str(&body).unwrap_or(Value::Null))
}

#[test]
fn readiness_waits_for_the_working_copy_warm_up_and_names_it_meanwhile() {
    let world = world();
    let text = config(
        &world.registry.host(),
        &world.remote,
        &world.dir.path().join("data"),
        "",
    );
    // The warm-up never ends: the replica must not say it is ready.
    let mut env = ENV.to_vec();
    env.push(("PUSHDEPLOY_FAILPOINT", "warm.start=pause"));
    let cold = App::start(world.dir.path(), &text, &env);
    let body = wait_for("the warm-up check", Duration::from_secs(30), || {
        let (code, body) = readyz(&cold);
        body["checks"]["working copy flux-system/mcp"]
            .as_str()
            .map(|check| (code, check.to_owned()))
    });
    assert_eq!(body.0, 503, "not ready while warming up: {}", body.1);
    assert!(
        body.1.contains("warming up") && body.1.contains(&world.remote.url()),
        "names what it waits for: {}",
        body.1
    );
    let logs = cold.logs();
    assert!(
        !logs.lines().any(|line| line.contains("\"ERROR\"")),
        "an unready probe is an answer, not an error line:\n{logs}"
    );
    drop(cold);

    let app = world.start("");
    let body = wait_for("ready", Duration::from_secs(30), || {
        let (code, body) = readyz(&app);
        (code == 200).then_some(body)
    });
    assert_eq!(body["checks"]["working copy flux-system/mcp"], "ok", "{body}");
}

#[test]
fn readiness_follows_the_last_write_to_the_gitops_remote() {
    let world = world();
    world.registry.push("goldentooth-mcp", &tag(1), "one");
    world.registry.push("goldentooth-mcp", &tag(2), "two");
    let app = world.start("");
    wait_for("ready", Duration::from_secs(30), || {
        (readyz(&app).0 == 200).then_some(())
    });
    let moved = world.dir.path().join("remote-gone.git");
    std::fs::rename(&world.remote.bare, &moved).unwrap();

    let (code, answer) = call(
        &app,
        "POST",
        "/api/v1/policies/flux-system/mcp/promote",
        Some(json!({"tag": tag(1)})),
    );
    assert_eq!(code, 502, "{answer}");
    let (code, body) = readyz(&app);
    assert_eq!(code, 503, "{body}");
    let check = body["checks"]["gitops flux-system/mcp"].as_str().unwrap_or("");
    assert!(
        check.contains(&world.remote.url()) && check.contains("failed"),
        "names the remote and the error: {body}"
    );

    std::fs::rename(&moved, &world.remote.bare).unwrap();
    let (code, answer) = call(
        &app,
        "POST",
        "/api/v1/policies/flux-system/mcp/promote",
        Some(json!({"tag": tag(1)})),
    );
    assert_eq!(code, 200, "{answer}");
    let (code, body) = readyz(&app);
    assert_eq!(code, 200, "ready again after a successful write: {body}");
}

/// Registry requests so far, from the registry's own access log: (manifest HEADs, tag lists, all).
fn registry_requests(registry: &Registry) -> (usize, usize, usize) {
    let log = std::fs::read_to_string(registry.dir.join("access.log")).unwrap_or_default();
    let lines: Vec<&str> = log.lines().filter(|line| line.contains("\"")).collect();
    let heads = lines
        .iter()
        .filter(|line| line.contains("\"HEAD /v2/goldentooth-mcp/manifests/"))
        .count();
    let lists = lines.iter().filter(|line| line.contains("/tags/list")).count();
    (heads, lists, lines.len())
}

#[test]
fn an_envelope_of_200_pushes_for_missing_tags_costs_a_bounded_number_of_registry_requests() {
    let world = world_with(Options {
        access_log: true,
        ..Options::default()
    });
    world.registry.push("goldentooth-mcp", &tag(1), "one");
    let app = world.start("");
    wait_for("the startup scan to be decided", Duration::from_secs(30), || {
        backlog_is_empty(&app)
    });
    let (heads_before, lists_before, all_before) = registry_requests(&world.registry);
    let base = format!("http://{}", world.registry.host());
    let events: Vec<Value> = (0..200)
        .map(|index| {
            let one: Value =
                serde_json::from_str(&push_notification(&format!("m{index}"), &base, &tag(100 + index)))
                    .unwrap();
            one["events"][0].clone()
        })
        .collect();
    let (code, answer) = notify(&app, &json!({ "events": events }).to_string());
    assert_eq!(code, 200, "{answer}");
    assert!(answer.contains("\"accepted\":200"), "{answer}");
    wait_for("all 200 events to be finished", Duration::from_secs(120), || {
        backlog_is_empty(&app)
    });

    let failed = events_in(&app, "failed");
    assert_eq!(failed.len(), 200, "each event ends with a reason");
    assert!(
        failed
            .iter()
            .all(|event| event["reason"].as_str().unwrap_or("").contains("does not exist")),
        "{failed:?}"
    );
    let (heads, lists, all) = registry_requests(&world.registry);
    let (heads, lists, all) = (heads - heads_before, lists - lists_before, all - all_before);
    eprintln!("200 missing tags cost {all} registry requests: {heads} manifest HEADs, {lists} tag lists");
    // One HEAD per (repository, tag) and a few shared tag lists for the whole envelope; one
    // HEAD per event per retry was 6 × 200 = 1,200.
    assert!(heads <= 200, "{heads} HEADs for 200 tags");
    assert!(lists <= 20, "{lists} tag lists");
    assert!(all <= 225, "{all} requests in all");
}
