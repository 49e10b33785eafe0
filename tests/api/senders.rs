//! Every registry sender end to end: the tag is pushed with skopeo to a real `docker-registry`
//! (htpasswd) that `registries:` makes the endpoint of each sender's host; the sender's delivery
//! arrives on its route with its credential; the commit lands with only the image value
//! changed. A trap listener, named by payloads as a registry host (an alias, and an unknown
//! host), is never connected to: credentials go to the configured endpoint only. A burst of
//! deliveries for one tag costs one manifest HEAD and one commit.

use crate::support::app::{App, request};
use crate::support::git::Remote;
use crate::support::registry::{Options, Registry};
use crate::support::senders::{self, SENDERS, image, written};
use crate::support::wait_for;
use serde_json::Value;
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const ADMIN: &str = "admin-s3cret-token";
const REGISTRY_PASSWORD: &str = "registry-s3cret";

fn tag(run: u32, sender: &str) -> String {
    let seed = sender
        .bytes()
        .fold(u128::from(run), |acc, byte| acc * 31 + u128::from(byte));
    format!("{run}-{:040x}", seed * 0x1234_5678_9abc_def1)
}

/// A listener that counts every connection made to it.
struct Trap {
    host: String,
    connections: Arc<AtomicUsize>,
}

fn trap() -> Trap {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&connections);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            counted.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    Trap { host, connections }
}

fn gitops_tree(dir: &Path) {
    for sender in SENDERS {
        let image = written(sender);
        let apps = dir.join("apps");
        std::fs::create_dir_all(&apps).unwrap();
        std::fs::write(
            apps.join(format!("{sender}.yaml")),
            format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {sender}\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: {image}:0-0000000 # {{\"$imagepolicy\": \"flux-system:{sender}\"}}\n          ports: [{{containerPort: 8080}}]\n"
            ),
        )
        .unwrap();
    }
}

fn config(registry: &str, trap: &str, remote: &Remote, data: &Path, window: &str) -> String {
    let credentials = "credentials: {username: ci, password: {fromEnv: REGISTRY_PASSWORD}}";
    let mut registries = String::new();
    let mut repositories = String::new();
    let mut policies = String::new();
    for sender in SENDERS {
        let (host, _) = image(sender);
        let written = written(sender);
        let aliases = if sender == "harbor" {
            format!(", aliases: [\"{trap}\"]")
        } else {
            String::new()
        };
        registries.push_str(&format!(
            "  \"{host}\": {{endpoint: \"{registry}\", insecure: true, {credentials}{aliases}}}\n"
        ));
        repositories.push_str(&format!(
            "  - {{name: {sender}, image: \"{written}\", interval: 1h}}\n"
        ));
        policies.push_str(&format!(
            "  - name: {sender}\n    imageRepositoryRef: {{name: {sender}}}\n    filterTags: {{pattern: '^(?P<num>[0-9]+)-[a-f0-9]+$', extract: '$num'}}\n    policy: {{numerical: {{order: asc}}}}\n"
        ));
    }
    format!(
        "dataDir: {data}
server:
  listen: 127.0.0.1:{{port}}
intake:
  coalesceWindow: {window}
{intake}api:
  tokens: [{{name: ops, scope: admin, token: {{fromEnv: ADMIN_TOKEN}}}}]
registries:
{registries}imageRepositories:
{repositories}imagePolicies:
{policies}imageUpdateAutomations:
  - name: senders
    git:
      url: {url}
      commit:
        author: {{name: fluxcdbot, email: fluxcdbot@users.noreply.github.com}}
    update: {{path: ./apps}}
",
        data = data.display(),
        intake = senders::INTAKE,
        url = remote.url(),
    )
}

struct World {
    dir: tempfile::TempDir,
    registry: Registry,
    remote: Remote,
    trap: Trap,
    app: App,
}

/// The world, with `window` as `intake.coalesceWindow`.
fn world(window: &str) -> World {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed");
    gitops_tree(&seed);
    let remote = Remote::seeded(dir.path(), &seed);
    let options = Options {
        htpasswd: Some(("ci".into(), REGISTRY_PASSWORD.into())),
        access_log: true,
        ..Options::default()
    };
    let registry = Registry::start(&dir.path().join("registry"), options);
    let trap = trap();
    let text = config(
        &registry.host(),
        &trap.host,
        &remote,
        &dir.path().join("data"),
        window,
    );
    let mut env: Vec<(&str, &str)> = senders::ENV.to_vec();
    env.extend([("ADMIN_TOKEN", ADMIN), ("REGISTRY_PASSWORD", REGISTRY_PASSWORD)]);
    let app = App::start(dir.path(), &text, &env);
    World {
        dir,
        registry,
        remote,
        trap,
        app,
    }
}

impl World {
    fn deliver(&self, sender: &str, body: &[u8]) -> (u16, String) {
        let (path, headers) = senders::request(sender, body);
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        request(self.app.port, "POST", &path, &headers, body).unwrap()
    }

    fn deployed(&self, sender: &str) -> String {
        let text = self.remote.show("main", &format!("apps/{sender}.yaml"));
        let line = text.lines().find(|line| line.contains("$imagepolicy")).unwrap();
        line.split_whitespace()
            .nth(1)
            .unwrap()
            .rsplit(':')
            .next()
            .unwrap()
            .to_owned()
    }

    fn events(&self, state: &str) -> Vec<Value> {
        let bearer = format!("Bearer {ADMIN}");
        let (_, text) = request(
            self.app.port,
            "GET",
            &format!("/api/v1/events?state={state}&limit=500"),
            &[("Authorization", bearer.as_str())],
            b"",
        )
        .unwrap();
        let page: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        page["events"].as_array().cloned().unwrap_or_default()
    }

    /// Manifest requests the registry served for `path:tag` (its access log).
    fn manifest_requests(&self, path: &str, tag: &str) -> usize {
        let log = std::fs::read_to_string(self.dir.path().join("registry/access.log")).unwrap_or_default();
        let needle = format!("/v2/{path}/manifests/{tag}");
        log.lines()
            .filter(|line| line.contains(&needle) && line.contains("HEAD"))
            .count()
    }
}

#[test]
fn every_senders_push_is_confirmed_at_the_configured_endpoint_and_lands_with_only_the_image_changed() {
    let world = world("0s");
    for sender in SENDERS {
        let (host, path) = image(sender);
        let file = format!("apps/{sender}.yaml");
        let before = world.remote.show("main", &file);
        let tag = tag(1, sender);
        let digest = world.registry.push(&path, &tag, sender);
        let (code, answer) = world.deliver(sender, &senders::push(sender, host, &path, &tag, &digest));
        assert_eq!(code, 200, "{sender}: {answer}");
        assert!(answer.contains("\"accepted\":1"), "{sender}: {answer}");
        wait_for(
            &format!("{sender}'s push to be written"),
            Duration::from_secs(30),
            || (world.deployed(sender) == tag).then_some(()),
        );
        let after = world.remote.show("main", &file);
        assert_eq!(
            after,
            before.replace("0-0000000", &tag),
            "{sender}: only the image value changed"
        );
    }
    assert_eq!(
        world.remote.subjects("main").len(),
        1 + SENDERS.len(),
        "one commit per push"
    );
    assert_eq!(world.trap.connections.load(Ordering::SeqCst), 0);
}

#[test]
fn payload_hosts_are_matched_never_contacted_and_a_burst_costs_one_head_and_one_commit() {
    // Deliveries of one tag within 2 s of the first one's decision share it.
    let world = world("2s");
    // An alias of Harbor's registry named by the payload: matched, confirmed at the endpoint.
    let (_, harbor_path) = image("harbor");
    let aliased = tag(2, "harbor");
    let digest = world.registry.push(&harbor_path, &aliased, "alias");
    let body = senders::push("harbor", &world.trap.host, &harbor_path, &aliased, &digest);
    let (code, answer) = world.deliver("harbor", &body);
    assert_eq!(code, 200, "{answer}");
    wait_for("the aliased push to be written", Duration::from_secs(30), || {
        (world.deployed("harbor") == aliased).then_some(())
    });
    // The trap named as the registry of repositories it does not serve: journaled ignored.
    for sender in ["harbor", "quay", "acr", "gar"] {
        let path = if sender == "harbor" {
            "library/unknown".to_owned()
        } else {
            image(sender).1
        };
        let body = senders::push(sender, &world.trap.host, &path, &tag(3, sender), &digest);
        let (code, answer) = world.deliver(sender, &body);
        assert_eq!(code, 200, "{sender}: {answer}");
        assert!(answer.contains("\"ignored\":1"), "{sender}: {answer}");
    }
    let ignored = world.events("ignored");
    assert_eq!(ignored.len(), 4, "{ignored:?}");
    assert!(
        ignored.iter().all(|event| event["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("no ImageRepository matches")),
        "{ignored:?}"
    );
    assert_eq!(
        world.trap.connections.load(Ordering::SeqCst),
        0,
        "the trap was never contacted"
    );

    let (_, path) = image("github");
    // Three deliveries of one tag at once (GHCR sends one per manifest of a multi-arch push).
    let burst = tag(4, "github");
    let digest = world.registry.push_index(&path, &burst, "burst");
    let bodies: Vec<Vec<u8>> = (0..3)
        .map(|n| {
            let mut body: Value =
                serde_json::from_slice(&senders::push("github", "ghcr.io", &path, &burst, &digest)).unwrap();
            body["package"]["package_version"]["id"] = Value::from(100 + n);
            body.to_string().into_bytes()
        })
        .collect();
    let heads_before = world.manifest_requests(&path, &burst);
    let commits_before = world.remote.subjects("main").len();
    std::thread::scope(|scope| {
        for body in &bodies {
            scope.spawn(|| {
                let (code, answer) = world.deliver("github", body);
                assert_eq!(code, 200, "{answer}");
            });
        }
    });
    wait_for("the burst to be decided", Duration::from_secs(30), || {
        let written: Vec<Value> = world
            .events("written")
            .into_iter()
            .filter(|event| event["tag"] == burst.as_str())
            .collect();
        (written.len() == 3).then_some(written)
    });
    assert_eq!(world.deployed("github"), burst);
    assert_eq!(
        world.remote.subjects("main").len(),
        commits_before + 1,
        "one commit for the burst"
    );
    assert_eq!(
        world.manifest_requests(&path, &burst) - heads_before,
        1,
        "one manifest HEAD for the burst"
    );
    let written: Vec<Value> = world
        .events("written")
        .into_iter()
        .filter(|event| event["tag"] == burst.as_str())
        .collect();
    let commits: std::collections::BTreeSet<String> =
        written.iter().map(|event| event["commit"].to_string()).collect();
    assert_eq!(
        commits.len(),
        1,
        "every delivery records the one commit: {written:?}"
    );
    assert!(
        written
            .iter()
            .filter(|event| event["reason"]
                .as_str()
                .unwrap_or_default()
                .contains("decided once"))
            .count()
            == 2,
        "the two followers say whose decision they share: {written:?}"
    );
}
