//! `digestReflectionPolicy` end to end with Debian's docker-registry: the digest written is the
//! one the registry names (`Docker-Content-Digest`, via skopeo's digest file), `Always` follows
//! a tag that moved, `IfNotPresent` keeps the first, and a multi-arch index is written as the
//! index's digest.

use crate::support::app::App;
use crate::support::git::{Remote, gitops_fixture};
use crate::support::registry::{Options, Registry};
use crate::support::wait_for;
use std::time::Duration;

const DEPLOYMENT: &str = "apps/mcp/deployment.yaml";
const TAG: &str = "2-f62ba56a999ec99a7375fed529acf4b336691bdb";
const ADMIN: &str = "admin-token-for-digests";

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
    fn start(&self, reflection: &str) -> App {
        let text = crate::support::mcp_config(
            &self.registry.host(),
            &self.remote.url(),
            &self.dir.path().join("data"),
            &crate::support::notify_and_admin_access("ADMIN_TOKEN"),
            "",
        )
        .replace(
            "    policy: {numerical: {order: asc}}\n",
            &format!("    policy: {{numerical: {{order: asc}}}}\n{reflection}"),
        );
        assert!(text.contains("digestReflectionPolicy"), "{text}");
        App::start(
            self.dir.path(),
            &text,
            &[("ADMIN_TOKEN", ADMIN), ("NOTIFY_AUTH", "Bearer x")],
        )
    }

    /// The image value of the marked line on the remote's main branch.
    fn image(&self) -> String {
        let text = self.remote.show("main", DEPLOYMENT);
        let line = text.lines().find(|line| line.contains("$imagepolicy")).unwrap();
        line.split_whitespace().nth(1).unwrap().to_owned()
    }

    fn wait_for_image(&self, expected: &str) {
        wait_for(
            &format!("the remote to name {expected}"),
            Duration::from_secs(30),
            || (self.image() == expected).then_some(()),
        );
    }
}

fn image_of(world: &World) -> String {
    format!("{}/goldentooth-mcp", world.registry.host())
}

fn promote(app: &App, tag: &str) -> serde_json::Value {
    let body = serde_json::json!({ "tag": tag }).to_string();
    let (status, text) = crate::support::app::request(
        app.port,
        "POST",
        "/api/v1/policies/flux-system/mcp/promote",
        &[
            ("Authorization", &format!("Bearer {ADMIN}")),
            ("Content-Type", "application/json"),
        ],
        body.as_bytes(),
    )
    .unwrap();
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap()
}

fn scan(app: &App) {
    let (status, text) = crate::support::app::request(
        app.port,
        "POST",
        "/api/v1/repositories/flux-system/mcp/scan",
        &[("Authorization", &format!("Bearer {ADMIN}"))],
        b"",
    )
    .unwrap();
    assert_eq!(status, 200, "{text}");
}

#[test]
fn always_writes_the_registry_s_digest_and_follows_a_tag_that_moved() {
    let world = world();
    let first = world.registry.push("goldentooth-mcp", TAG, "1");
    let app = world.start("    digestReflectionPolicy: Always\n    interval: 1s\n");
    let before = world.remote.show("main", DEPLOYMENT);
    scan(&app);
    world.wait_for_image(&format!("{}:{TAG}@{first}", image_of(&world)));
    let after = world.remote.show("main", DEPLOYMENT);
    let changed: Vec<_> = before
        .lines()
        .zip(after.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(changed.len(), 1, "only the image line changes: {changed:?}");
    // The same tag pushed again with other content: within an interval the new digest lands.
    let moved = world.registry.push("goldentooth-mcp", TAG, "1-rebuilt");
    assert_ne!(first, moved);
    world.wait_for_image(&format!("{}:{TAG}@{moved}", image_of(&world)));
    let log = crate::support::git::git(&world.remote.bare, &["log", "-1", "--format=%B", "main"]);
    assert!(log.contains("Pushdeploy-Cause: digest refresh"), "{log}");
}

#[test]
fn if_not_present_keeps_the_first_digest_of_a_tag_that_moved() {
    let world = world();
    let first = world.registry.push("goldentooth-mcp", TAG, "1");
    let app = world.start("    digestReflectionPolicy: IfNotPresent\n");
    scan(&app);
    world.wait_for_image(&format!("{}:{TAG}@{first}", image_of(&world)));
    let head = world.remote.head("main");
    world.registry.push("goldentooth-mcp", TAG, "1-rebuilt");
    // A promotion of the tag confirms it again (a manifest HEAD naming the new digest), but
    // IfNotPresent keeps the digest it has.
    let answer = promote(&app, TAG);
    assert_eq!(answer["outcome"], "up-to-date", "{answer}");
    assert_eq!(world.remote.head("main"), head);
    assert_eq!(world.image(), format!("{}:{TAG}@{first}", image_of(&world)));
}

#[test]
fn if_not_present_keeps_the_first_digest_across_a_restart() {
    let world = world();
    let first = world.registry.push("goldentooth-mcp", TAG, "1");
    let app = world.start("    digestReflectionPolicy: IfNotPresent\n");
    scan(&app);
    world.wait_for_image(&format!("{}:{TAG}@{first}", image_of(&world)));
    drop(app);
    let head = world.remote.head("main");
    let rebuilt = world.registry.push("goldentooth-mcp", TAG, "1-rebuilt");
    assert_ne!(rebuilt, first);
    // A new process: its first lookup of the tag names the rebuilt digest, but the digest
    // kept before the restart is what IfNotPresent keeps (Flux keeps it in status.latestRef).
    let app = world.start("    digestReflectionPolicy: IfNotPresent\n");
    scan(&app);
    let answer = promote(&app, TAG);
    assert_eq!(answer["outcome"], "up-to-date", "{answer}");
    assert_eq!(world.remote.head("main"), head);
    assert_eq!(world.image(), format!("{}:{TAG}@{first}", image_of(&world)));
}

fn scans_decided(app: &App) -> u64 {
    let (_, body) = app.get("/status").unwrap();
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    status["scans_decided"].as_u64().unwrap()
}

#[test]
fn if_not_present_forgets_the_kept_digest_of_a_tag_the_registry_no_longer_lists() {
    const OLD: &str = "1-0c1e0a2b";
    let world = world();
    let first = world.registry.push("goldentooth-mcp", OLD, "old");
    let app = world.start("    digestReflectionPolicy: IfNotPresent\n");
    scan(&app);
    world.wait_for_image(&format!("{}:{OLD}@{first}", image_of(&world)));
    let newest = world.registry.push("goldentooth-mcp", TAG, "1");
    scan(&app);
    world.wait_for_image(&format!("{}:{TAG}@{newest}", image_of(&world)));
    // OLD is deleted from the registry (retention); the next scan no longer lists it.
    world.registry.delete("goldentooth-mcp", OLD);
    let decided = scans_decided(&app);
    scan(&app);
    wait_for("the engine to take the scan", Duration::from_secs(30), || {
        (scans_decided(&app) > decided).then_some(())
    });
    drop(app);
    // OLD comes back with other content: it is a new tag to IfNotPresent, not the kept one.
    let rebuilt = world.registry.push("goldentooth-mcp", OLD, "old-rebuilt");
    assert_ne!(rebuilt, first);
    let app = world.start("    digestReflectionPolicy: IfNotPresent\n");
    let answer = promote(&app, OLD);
    assert_eq!(answer["outcome"], "pushed", "{answer}");
    assert_eq!(world.image(), format!("{}:{OLD}@{rebuilt}", image_of(&world)));
}

#[test]
fn a_multi_arch_index_is_written_as_the_index_digest() {
    let world = world();
    let index = world.registry.push_index("goldentooth-mcp", TAG, "multi");
    let app = world.start("    digestReflectionPolicy: IfNotPresent\n");
    let answer = promote(&app, TAG);
    assert_eq!(answer["digest"], index.as_str(), "{answer}");
    world.wait_for_image(&format!("{}:{TAG}@{index}", image_of(&world)));
}
