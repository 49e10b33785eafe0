//! End to end over sockets: a real docker-registry notifies `pushdeploy serve` (a child
//! process); the gitops remote is a bare repository over file://.

use crate::support::app::App;
use crate::support::git::{Remote, git, gitops_fixture};
use crate::support::registry::{Notify, Options, Registry};
use crate::support::wait_for;
use std::path::Path;
use std::time::Duration;

const MCP_TAG: &str = "2-f62ba56a999ec99a7375fed529acf4b336691bdb";
const DEPLOYMENT: &str = "apps/mcp/deployment.yaml";
const NOTIFY: &str = "Bearer notify-s3cret-token";

fn config(registry: &str, remote: &Remote, data: &Path) -> String {
    format!(
        "dataDir: {data}
server:
  listen: 127.0.0.1:{{port}}
intake:
  registry:
    authorization: [{{fromEnv: NOTIFY_AUTH}}]
  coalesceWindow: 0s
imageRepositories:
  - name: mcp
    image: {registry}/goldentooth-mcp
    insecure: true
    interval: 1h
imagePolicies:
  - name: mcp
    imageRepositoryRef: {{name: mcp}}
    filterTags: {{pattern: '^(?P<num>[0-9]+)-[a-f0-9]+$', extract: '$num'}}
    policy: {{numerical: {{order: asc}}}}
imageUpdateAutomations:
  - name: mcp
    git:
      url: {url}
      commit:
        author: {{name: fluxcdbot, email: fluxcdbot@users.noreply.github.com}}
        messageTemplate: 'chore(flux): update mcp image to {{{{range .Changed.Changes}}}}{{{{.NewValue}}}}{{{{end}}}}'
    update: {{path: ./apps/mcp}}
",
        data = data.display(),
        url = remote.url(),
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
    let notify = Notify {
        url: format!("http://127.0.0.1:{app_port_holder}/hooks/registry"),
        authorization: NOTIFY.to_owned(),
    };
    let registry = Registry::start(
        &dir.path().join("registry"),
        Options {
            notify: Some(notify),
            ..Options::default()
        },
    );
    let text = config(&registry.host(), &remote, &dir.path().join("data"));
    let app = App::start_on(app_port_holder, dir.path(), &text, &[("NOTIFY_AUTH", NOTIFY)]);
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
    wait_for(
        "the commit for 2-f62… on the remote",
        Duration::from_secs(60),
        || remote.show("main", DEPLOYMENT).contains(MCP_TAG).then_some(()),
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
        &[("NOTIFY_AUTH", NOTIFY)],
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
        &[("NOTIFY_AUTH", NOTIFY)],
    );
    wait_for("the startup scan's commit", Duration::from_secs(60), || {
        remote.show("main", DEPLOYMENT).contains("1-aaa").then_some(())
    });
    let head = remote.head("main");
    let forged = serde_json::json!({"events": [{"id": "forged", "action": "push",
        "target": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "repository": "goldentooth-mcp", "tag": "999-deadbeef",
                   "url": format!("http://{}/v2/goldentooth-mcp/manifests/999-deadbeef", registry.host())}}]});
    let headers = [("Authorization", NOTIFY), ("Content-Type", "application/json")];
    assert_eq!(
        app.post("/hooks/registry", &headers, forged.to_string().as_bytes())
            .0,
        200
    );
    wait_for("the forged event to be decided", Duration::from_secs(30), || {
        backlog_is_empty(&app)
    });
    assert_eq!(
        remote.head("main"),
        head,
        "a tag that is not in the registry must never be committed"
    );
}
