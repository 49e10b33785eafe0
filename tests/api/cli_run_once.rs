//! `run-once` goes through the engine with the journal open: pins and suspensions set through
//! the API of a running service hold when `run-once` later runs on the same data dir, and its
//! pushes are recorded as deployments that `history` shows. Also `rollback --force` against the
//! live API.

use crate::support::app::{App, request};
use crate::support::git::{Remote, git};
use crate::support::registry::{Options, Registry};
use crate::support::wait_for;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

const ADMIN: &str = "admin-s3cret-token";
const ENV: [(&str, &str); 1] = [("ADMIN_TOKEN", ADMIN)];
const MCP_FILE: &str = "apps/mcp/deployment.yaml";
const OTHER_FILE: &str = "apps/other/deployment.yaml";

fn tag(run: u32) -> String {
    format!("{run}-{:040x}", u128::from(run) * 0x0fed_cba9_8765_4321)
}

/// Two marker files on one remote: `flux-system:mcp` and `flux-system:other`, both policies on
/// the same image, written by one automation.
fn seed(dir: &Path) -> PathBuf {
    let seed = dir.join("seed");
    for (file, policy) in [(MCP_FILE, "mcp"), (OTHER_FILE, "other")] {
        let path = seed.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(
            path,
            format!(
                "spec:\n  containers:\n    - name: app\n      image: registry.example/app:0 # {{\"$imagepolicy\": \"flux-system:{policy}\"}}\n"
            ),
        )
        .unwrap();
    }
    seed
}

fn config(registry: &str, remote: &Remote, data: &Path) -> String {
    let policy = |name: &str| {
        format!(
            "  - name: {name}
    imageRepositoryRef: {{name: app}}
    filterTags: {{pattern: '^(?P<num>[0-9]+)-[a-f0-9]+$', extract: '$num'}}
    policy: {{numerical: {{order: asc}}}}
"
        )
    };
    format!(
        "dataDir: {data}
server:
  listen: 127.0.0.1:{{port}}
intake:
  coalesceWindow: 0s
api:
  tokens: [{{name: ops, scope: admin, token: {{fromEnv: ADMIN_TOKEN}}}}]
imageRepositories:
  - name: app
    image: {registry}/app
    insecure: true
    interval: 1h
imagePolicies:
{mcp}{other}imageUpdateAutomations:
  - name: apps
    git:
      url: {url}
      commit:
        author: {{name: fluxcdbot, email: fluxcdbot@users.noreply.github.com}}
    update: {{path: ./apps}}
",
        data = data.display(),
        mcp = policy("mcp"),
        other = policy("other"),
        url = remote.url(),
    )
}

struct World {
    dir: tempfile::TempDir,
    remote: Remote,
    registry: Registry,
    config: PathBuf,
}

impl World {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let remote = Remote::seeded(dir.path(), &seed(dir.path()));
        let registry = Registry::start(&dir.path().join("registry"), Options::default());
        let config = dir.path().join("pushdeploy.yaml");
        Self {
            dir,
            remote,
            registry,
            config,
        }
    }

    /// `pushdeploy serve` on the world's data dir (its config is written to `self.config`).
    fn serve(&self) -> App {
        let text = config(&self.registry.host(), &self.remote, &self.dir.path().join("data"));
        App::start(self.dir.path(), &text, &ENV)
    }

    /// The tag the marker in `file` names on the remote's main branch.
    fn deployed(&self, file: &str) -> String {
        let text = self.remote.show("main", file);
        let image = text
            .lines()
            .find(|line| line.contains("$imagepolicy"))
            .and_then(|line| line.split_whitespace().nth(1))
            .unwrap()
            .to_owned();
        image.rsplit(':').next().unwrap().to_owned()
    }

    fn wait_until_both_name(&self, tag: &str) {
        wait_for("the startup scan's commit", Duration::from_secs(60), || {
            (self.deployed(MCP_FILE) == tag && self.deployed(OTHER_FILE) == tag).then_some(())
        });
    }

    /// Run a subcommand of the binary; exit code and stdout + stderr.
    fn pushdeploy(&self, args: &[&str]) -> (Option<i32>, String, String) {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_pushdeploy"))
            .args(args)
            .envs(ENV)
            .env("PUSHDEPLOY_TOKEN", ADMIN)
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// `run-once` on the same config and data dir as `serve`; its one JSON line.
    fn run_once(&self) -> (Option<i32>, Value) {
        let config = self.config.to_str().unwrap().to_owned();
        let (code, stdout, stderr) = self.pushdeploy(&["run-once", "--config", &config]);
        let line = stdout
            .lines()
            .next()
            .and_then(|line| serde_json::from_str(line).ok())
            .unwrap_or_else(|| panic!("no JSON line from run-once: {stdout}{stderr}"));
        (code, line)
    }

    /// The deployments the journal holds for `policy` (tag, commit, cause).
    fn journal_deployments(&self, policy: &str) -> Vec<(String, String, String)> {
        let data = self.dir.path().join("data");
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let journal = pushdeploy::journal::Journal::open(&data).await.unwrap();
            let policy = pushdeploy::domain::ObjectKey::parse(policy).unwrap();
            journal
                .deployments(&policy)
                .await
                .unwrap()
                .into_iter()
                .map(|deployment| {
                    (
                        deployment.tag.to_string(),
                        deployment.commit_sha,
                        deployment.cause,
                    )
                })
                .collect()
        })
    }
}

fn admin_post(app: &App, path: &str) -> (u16, String) {
    let bearer = format!("Bearer {ADMIN}");
    let headers = [
        ("Authorization", bearer.as_str()),
        ("Content-Type", "application/json"),
    ];
    request(app.port, "POST", path, &headers, b"{}").unwrap()
}

#[test]
fn run_once_leaves_a_policy_pinned_through_the_api_and_updates_the_unpinned_one() {
    let world = World::new();
    world.registry.push("app", &tag(1), "1");
    let mut app = world.serve();
    world.wait_until_both_name(&tag(1));
    let (status, body) = admin_post(&app, "/api/v1/policies/flux-system/mcp/pin");
    assert_eq!(status, 200, "{body}");
    assert_eq!(app.terminate(), Some(0), "{}", app.logs());

    world.registry.push("app", &tag(2), "2");
    let before = world.remote.head("main");
    let (code, line) = world.run_once();
    assert_eq!(code, Some(0), "{line}");
    assert_eq!(line["outcome"], "pushed", "{line}");
    assert_eq!(
        world.deployed(MCP_FILE),
        tag(1),
        "the pinned policy must not move: {line}"
    );
    assert_eq!(
        world.deployed(OTHER_FILE),
        tag(2),
        "the unpinned policy moves: {line}"
    );
    let skipped = line["skipped"].to_string();
    assert!(
        skipped.contains(&format!("policy flux-system/mcp is pinned to {}", tag(1))),
        "{line}"
    );
    let commit = line["commit"].as_str().unwrap().to_owned();
    assert_eq!(world.remote.head("main"), commit);
    let parent = git(&world.remote.bare, &["rev-parse", &format!("{commit}~1")]);
    assert_eq!(parent.trim(), before, "one commit, on top of what was there");

    // The push is a deployment in the journal, with run-once as its cause ...
    let recorded = world.journal_deployments("flux-system/other");
    assert!(
        recorded.contains(&(tag(2), commit.clone(), "run-once".to_owned())),
        "{recorded:?}"
    );
    assert!(
        world
            .journal_deployments("flux-system/mcp")
            .iter()
            .all(|(tag, ..)| *tag == self::tag(1)),
        "nothing deployed for the pinned policy"
    );
    // ... which the service reports after a restart (/status reads deployments from the
    // journal only) and `history` lists.
    let app = world.serve();
    let (_, status) = app.get("/status").unwrap();
    let status: Value = serde_json::from_str(&status).unwrap();
    assert_eq!(
        status["policies"]["flux-system/other"]["deployed"].as_str(),
        Some(tag(2).as_str()),
        "{status}"
    );
    let server = format!("http://127.0.0.1:{}", app.port);
    let (code, stdout, stderr) =
        world.pushdeploy(&["history", "flux-system/other", "--json", "--server", &server]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let history: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert!(
        history.as_array().unwrap().iter().any(|entry| {
            entry["commit"] == commit.as_str()
                && entry["tag"] == tag(2).as_str()
                && entry["cause"] == "run-once"
        }),
        "{history}"
    );
}

#[test]
fn run_once_writes_nothing_for_an_automation_suspended_through_the_api() {
    let world = World::new();
    world.registry.push("app", &tag(1), "1");
    let mut app = world.serve();
    world.wait_until_both_name(&tag(1));
    let (status, body) = admin_post(&app, "/api/v1/automations/apps/suspend");
    assert_eq!(status, 200, "{body}");
    assert_eq!(app.terminate(), Some(0), "{}", app.logs());

    world.registry.push("app", &tag(2), "2");
    let head = world.remote.head("main");
    let (code, line) = world.run_once();
    assert_eq!(code, Some(0), "{line}");
    assert_eq!(line["outcome"], "skipped", "{line}");
    assert!(
        line["skipped"]
            .to_string()
            .contains("automation flux-system/apps is suspended"),
        "{line}"
    );
    assert_eq!(
        world.remote.head("main"),
        head,
        "a suspended automation's branch must not move"
    );
    assert!(
        world
            .journal_deployments("flux-system/other")
            .iter()
            .all(|(tag, ..)| *tag == self::tag(1)),
        "nothing deployed while suspended"
    );
}

#[test]
fn rollback_force_deploys_a_tag_the_filter_rejects_and_without_it_the_cli_names_the_flag() {
    let world = World::new();
    world.registry.push("app", &tag(1), "1");
    world.registry.push("app", "legacy", "l");
    let app = world.serve();
    world.wait_until_both_name(&tag(1));
    let server = format!("http://127.0.0.1:{}", app.port);
    let rollback = [
        "rollback",
        "flux-system/mcp",
        "--to",
        "legacy",
        "--server",
        &server,
    ];

    let (code, stdout, stderr) = world.pushdeploy(&rollback);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains("422 policy-rejects-tag") && stderr.contains("--force"),
        "{stderr}"
    );
    assert_eq!(
        world.deployed(MCP_FILE),
        tag(1),
        "nothing written without --force"
    );

    let (code, stdout, stderr) = world.pushdeploy(&[&rollback[..], &["--force"]].concat());
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("flux-system/mcp now runs legacy"), "{stdout}");
    assert_eq!(world.deployed(MCP_FILE), "legacy");
    assert_eq!(world.deployed(OTHER_FILE), tag(1), "only the named policy moves");
}
