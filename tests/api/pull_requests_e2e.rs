//! Pull-request mode end to end: a real docker-registry notifies `pushdeploy serve`; the gitops
//! remote is a bare repository; the platform is a FAKE (`support/forge.rs`: no Forgejo, Gitea,
//! GitHub or GitLab can run here) that validates every request against the platform's
//! published OpenAPI description. Per platform: a push opens one request whose branch changes
//! only the image value, a newer push updates the same request, a merge on the platform lands
//! it and the next push opens a new one, and a request a person closes is not reopened.

use crate::pull_requests::changed_lines;
use crate::support::app::App;
use crate::support::forge::{FORGE_TOKEN, FakeForge, ForgeKind, PullState};
use crate::support::git::{Remote, git, gitops_fixture};
use crate::support::registry::Registry;
use crate::support::wait_for;
use std::path::Path;
use std::time::Duration;

const FIRST: &str = "2-f62ba56a999ec99a7375fed529acf4b336691bdb";
const SECOND: &str = "3-0123456789abcdef0123456789abcdef01234567";
const THIRD: &str = "4-89abcdef0123456789abcdef0123456789abcdef";
const DEPLOYMENT: &str = "apps/mcp/deployment.yaml";
const BRANCH: &str = "pushdeploy/mcp";
const NOTIFY: &str = "Bearer notify-s3cret-token";
const ADMIN: &str = "admin-s3cret-token";

fn name(kind: ForgeKind) -> &'static str {
    match kind {
        ForgeKind::Forgejo => "forgejo",
        ForgeKind::Gitea => "gitea",
        ForgeKind::Github => "github",
        ForgeKind::Gitlab => "gitlab",
    }
}

fn config_text(registry: &str, remote: &Remote, data: &Path, forge: &FakeForge, extra: &str) -> String {
    let push = format!(
        "        messageTemplate: 'chore(flux): update mcp image to {{{{range .Changed.Changes}}}}{{{{.NewValue}}}}{{{{end}}}}'
      push:
        pullRequest:
          provider: {}
          apiUrl: {}
          repository: acme/gitops
          token: {{fromEnv: FORGE_TOKEN}}
          labels: [automation]
          reviewers: [alice]
{extra}",
        name(forge.kind()),
        forge.api_base()
    );
    crate::support::mcp_config(
        registry,
        &remote.url(),
        data,
        &crate::support::notify_and_admin_access("ADMIN_TOKEN"),
        &push,
    )
}

fn start(dir: &Path, kind: ForgeKind, extra: &str) -> (Remote, Registry, FakeForge, App) {
    let remote = Remote::seeded(dir, &gitops_fixture());
    let forge = FakeForge::start(kind, &remote.bare, "acme/gitops");
    let port = crate::support::free_port();
    let registry = Registry::notifying(&dir.join("registry"), port, NOTIFY);
    let text = config_text(&registry.host(), &remote, &dir.join("data"), &forge, extra);
    let env = [
        ("NOTIFY_AUTH", NOTIFY),
        ("ADMIN_TOKEN", ADMIN),
        ("FORGE_TOKEN", FORGE_TOKEN),
    ];
    let app = App::start_on(port, dir, &text, &env);
    (remote, registry, forge, app)
}

/// An API read with the admin token.
fn api_get(app: &App, path: &str) -> String {
    let bearer = format!("Bearer {ADMIN}");
    let (code, body) =
        crate::support::app::request(app.port, "GET", path, &[("authorization", &bearer)], b"")
            .expect("the API answers");
    assert_eq!(code, 200, "{path}: {body}");
    body
}

/// `POST …/repositories/flux-system/mcp/scan` with the admin token; the answer's body.
fn scan(app: &App) -> String {
    let bearer = format!("Bearer {ADMIN}");
    let headers = [
        ("authorization", bearer.as_str()),
        ("content-type", "application/json"),
    ];
    let (code, body) = app.post("/api/v1/repositories/flux-system/mcp/scan", &headers, b"{}");
    assert_eq!(code, 200, "{body}");
    body
}

fn status(app: &App) -> serde_json::Value {
    let (code, body) = app.get("/status").expect("status answers");
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

fn the_request_lifecycle_on(kind: ForgeKind) {
    let dir = tempfile::tempdir().unwrap();
    let (remote, registry, forge, app) = start(dir.path(), kind, "");
    let seed = remote.head("main");
    let image = format!("{}/goldentooth-mcp", registry.host());
    let logs = |app: &App| app.logs();

    // 1. A push opens one request; its branch changes only the image value; main is untouched.
    registry.push("goldentooth-mcp", FIRST, "a");
    let opened = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // Labels and reviewers are calls of their own after the request exists.
        wait_for(
            "the first request, labelled, with its reviewer",
            Duration::from_secs(60),
            || {
                forge.pulls().into_iter().find(|pull| {
                    pull.state == PullState::Open && !pull.labels.is_empty() && !pull.reviewers.is_empty()
                })
            },
        )
    }))
    .unwrap_or_else(|_| {
        panic!(
            "{kind:?}: no request; violations {:?}; log:\n{}",
            forge.violations(),
            logs(&app)
        )
    });
    assert_eq!((opened.head.as_str(), opened.base.as_str()), (BRANCH, "main"));
    assert_eq!(opened.head_sha, remote.head(BRANCH));
    assert_eq!(
        remote.head("main"),
        seed,
        "{kind:?}: the checkout branch is not written"
    );
    let diff = changed_lines(&remote.bare, &seed, BRANCH);
    assert_eq!(diff.len(), 2, "{diff:?}");
    assert!(diff[0].contains("goldentooth-mcp:latest #"), "{diff:?}");
    assert!(diff[1].contains(&format!("{image}:{FIRST} #")), "{diff:?}");
    assert_eq!(
        opened.title,
        format!("chore(flux): update mcp image to {image}:{FIRST}")
    );
    assert!(
        opened.body.contains(&format!("`{DEPLOYMENT}:")),
        "{}",
        opened.body
    );
    assert_eq!(opened.labels, ["automation"], "{kind:?}");
    assert_eq!(opened.reviewers, ["alice"], "{kind:?}");

    // 2. A newer push updates the same request: one request, new head, new title.
    registry.push("goldentooth-mcp", SECOND, "b");
    let updated = wait_for("the request to propose 3-…", Duration::from_secs(60), || {
        let pulls = forge.pulls();
        (pulls.len() == 1 && pulls[0].title.contains(SECOND) && pulls[0].head_sha == remote.head(BRANCH))
            .then(|| pulls[0].clone())
    });
    assert_eq!(updated.number, opened.number, "updated, not duplicated");
    assert_eq!(
        forge.titles(),
        std::slice::from_ref(&updated.title),
        "one request, retitled"
    );
    assert!(remote.show(BRANCH, DEPLOYMENT).contains(SECOND));
    assert_eq!(
        git(&remote.bare, &["rev-parse", &format!("{BRANCH}^")]).trim(),
        seed,
        "amended on main"
    );
    assert_eq!(remote.head("main"), seed);

    // 2b. The newer tag is deleted from the registry: the next scan picks the older one, and
    //     the request is not moved backwards.
    registry.delete("goldentooth-mcp", SECOND);
    let decided = status(&app)["scans_decided"].as_u64().unwrap();
    let body = scan(&app);
    assert!(body.contains(&format!("\"selected\":\"{FIRST}\"")), "{body}");
    wait_for("the scan to be decided", Duration::from_secs(30), || {
        (status(&app)["scans_decided"].as_u64()? > decided).then_some(())
    });
    let pulls = forge.pulls();
    assert_eq!(pulls.len(), 1);
    assert!(
        pulls[0].title.contains(SECOND),
        "not moved back to 2-…: {pulls:#?}"
    );
    assert!(remote.show(BRANCH, DEPLOYMENT).contains(SECOND));
    assert!(
        app.logs().contains("the request is not moved backwards"),
        "said in the log"
    );

    // 3. Merged on the platform: main has it; the next push opens a new request.
    forge.merge(opened.number);
    assert!(remote.show("main", DEPLOYMENT).contains(SECOND));
    registry.push("goldentooth-mcp", THIRD, "c");
    let second = wait_for("a new request for 4-…", Duration::from_secs(60), || {
        forge
            .pulls()
            .into_iter()
            .find(|pull| pull.number != opened.number && pull.state == PullState::Open)
    });
    assert_eq!(second.head, BRANCH);
    let diff = changed_lines(&remote.bare, "main", BRANCH);
    assert!(diff.len() == 2 && diff[1].contains(THIRD), "{diff:?}");
    // The request is recorded once its follow-up calls (labels, reviewers) are done.
    let history = wait_for("the new request in the history", Duration::from_secs(30), || {
        let history: serde_json::Value =
            serde_json::from_str(&api_get(&app, "/api/v1/policies/flux-system/mcp/history")).unwrap();
        history
            .as_array()?
            .iter()
            .any(|entry| entry["tag"] == THIRD)
            .then_some(history)
    });
    let merged = history
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["tag"] == SECOND && entry["in_git"] == true)
        .unwrap_or_else(|| panic!("the merged deployment is in history: {history:#}"));
    assert_eq!(merged["pull_request"]["number"], opened.number, "{merged:#}");
    assert_eq!(merged["pull_request"]["state"], "merged", "{merged:#}");
    assert_eq!(
        status(&app)["policies"]["flux-system/mcp"]["deployed"],
        SECOND,
        "the merge is the deployment /status reports"
    );
    let proposed = history
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["tag"] == THIRD)
        .unwrap_or_else(|| panic!("the open request is in history: {history:#}"));
    assert_eq!(proposed["kind"], "proposed");
    assert_eq!(proposed["pull_request"]["state"], "open");

    // 4. A person closes it unmerged: a scan does not reopen it for 4-…, and /status says so.
    forge.close(second.number);
    scan(&app);
    let closed = wait_for(
        "/status to show the closed request",
        Duration::from_secs(30),
        || {
            let status = status(&app);
            status["pull_requests"]
                .as_array()?
                .iter()
                .find(|request| request["state"] == "closed")
                .cloned()
        },
    );
    assert_eq!(closed["number"], second.number);
    assert_eq!(closed["proposed"][0], format!("flux-system/mcp={THIRD}"));
    assert!(
        closed["note"]
            .as_str()
            .unwrap()
            .contains("closed on the platform without merging"),
        "{closed:#}"
    );
    scan(&app);
    let pulls = forge.pulls();
    assert_eq!(pulls.len(), 2, "not reopened: {pulls:#?}");
    assert!(
        pulls
            .iter()
            .any(|pull| pull.number == second.number && pull.state == PullState::Closed)
    );
    assert!(
        pulls.iter().all(|pull| pull.state != PullState::Open),
        "{pulls:#?}"
    );
    // The console shows the request, linked, on the overview and on the policy's page.
    let (code, overview) = app.get("/").unwrap();
    assert_eq!(code, 200);
    assert!(overview.contains("id=\"pull-requests\""), "{overview}");
    assert!(
        overview.contains(&format!("href=\"{}\"", second.html_url)),
        "{overview}"
    );
    let (_, page) = app.get("/console/policies/flux-system/mcp").unwrap();
    assert!(
        page.contains(&format!("href=\"{}\"", opened.html_url)),
        "the merged request next to its deployment: {page}"
    );

    // 5. A promotion by hand in pull-request mode proposes too, and says so.
    let (code, body) = app.post(
        "/api/v1/policies/flux-system/mcp/promote",
        &[
            ("authorization", &format!("Bearer {ADMIN}")),
            ("content-type", "application/json"),
        ],
        format!("{{\"tag\": \"{FIRST}\"}}").as_bytes(),
    );
    assert_eq!(code, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["outcome"], "proposed", "{answer:#}");
    assert_eq!(answer["pull_request"]["state"], "opened", "{answer:#}");
    let third = forge
        .pulls()
        .into_iter()
        .find(|pull| pull.state == PullState::Open)
        .expect("a request for the promotion");
    assert_eq!(answer["pull_request"]["number"], third.number, "{answer:#}");
    assert_eq!(answer["commit"], third.head_sha.as_str());
    assert!(remote.show(BRANCH, DEPLOYMENT).contains(FIRST));
    assert!(
        remote.show("main", DEPLOYMENT).contains(SECOND),
        "main still runs the merged tag"
    );

    let events = api_get(&app, "/api/v1/events?limit=50");
    assert!(events.contains("\"state\":\"proposed\""), "{events}");
    forge.assert_no_violations();
    assert!(
        !app.logs().contains(FORGE_TOKEN),
        "the forge token reached the logs"
    );
}

#[test]
fn forgejo_requests_are_opened_updated_merged_and_not_reopened_once_closed() {
    the_request_lifecycle_on(ForgeKind::Forgejo);
}

#[test]
fn gitea_requests_are_opened_updated_merged_and_not_reopened_once_closed() {
    the_request_lifecycle_on(ForgeKind::Gitea);
}

#[test]
fn github_requests_are_opened_updated_merged_and_not_reopened_once_closed() {
    the_request_lifecycle_on(ForgeKind::Github);
}

#[test]
fn gitlab_merge_requests_are_opened_updated_merged_and_not_reopened_once_closed() {
    the_request_lifecycle_on(ForgeKind::Gitlab);
}

#[test]
fn a_token_without_permission_and_a_rate_limit_are_said_with_the_remedy_and_retried() {
    let dir = tempfile::tempdir().unwrap();
    let (remote, registry, forge, app) = start(dir.path(), ForgeKind::Github, "          autoMerge: true\n");
    // Rate limited once: the event stays unfinished and is retried; nothing is lost.
    forge.rate_limit(1, 1);
    registry.push("goldentooth-mcp", FIRST, "a");
    // Auto-merge is asked through GraphQL after the request exists.
    wait_for(
        "the request after the rate limit, set to auto-merge",
        Duration::from_secs(90),
        || {
            forge
                .pulls()
                .into_iter()
                .find(|pull| pull.state == PullState::Open && pull.auto_merge)
        },
    );
    let refused: Vec<_> = forge
        .requests()
        .into_iter()
        .filter(|request| request.status == 429)
        .collect();
    assert_eq!(refused.len(), 1, "{refused:#?}");
    assert!(app.logs().contains("rate limiting this token"), "said in the log");

    // The token loses its permission: the next proposal fails for good, naming the grant.
    forge.deny(None);
    registry.push("goldentooth-mcp", SECOND, "b");
    let error = wait_for("the failed write in /status", Duration::from_secs(60), || {
        let status = status(&app);
        status["automations"]["flux-system/mcp"]["last_error"]["reason"]
            .as_str()
            .map(str::to_owned)
    });
    assert!(error.contains("did not let the token"), "{error}");
    assert!(error.contains("Pull requests: write"), "{error}");
    assert!(!error.contains(FORGE_TOKEN));
    assert_eq!(forge.pulls().len(), 1);
    assert!(
        remote.show("main", DEPLOYMENT).contains("goldentooth-mcp:latest"),
        "main untouched"
    );
    forge.assert_no_violations();
}

/// `pushdeploy check` in pull-request mode asks the platform, before any write, whether the
/// token may open requests there and whether the repository is a fork.
#[test]
fn check_says_before_any_write_whether_the_token_may_open_requests() {
    let dir = tempfile::tempdir().unwrap();
    let remote = Remote::seeded(dir.path(), &gitops_fixture());
    let forge = FakeForge::start(ForgeKind::Gitea, &remote.bare, "acme/gitops");
    let config = dir.path().join("pushdeploy.yaml");
    let text =
        config_text("127.0.0.1:9", &remote, &dir.path().join("data"), &forge, "").replace("{port}", "0");
    std::fs::write(&config, text).unwrap();
    let check = || {
        let output = assert_cmd::Command::cargo_bin("pushdeploy")
            .unwrap()
            .args(["check", "--config"])
            .arg(&config)
            .env("FORGE_TOKEN", FORGE_TOKEN)
            .env("NOTIFY_AUTH", NOTIFY)
            .env("ADMIN_TOKEN", ADMIN)
            .env_remove("PUSHDEPLOY_CONFIG")
            .output()
            .unwrap();
        let stdout = String::from_utf8(output.stdout).unwrap();
        stdout
            .lines()
            .find(|line| line.contains("pull requests flux-system/mcp"))
            .unwrap_or_else(|| panic!("no pull request line: {stdout}"))
            .to_owned()
    };
    assert_eq!(
        check(),
        "PASS pull requests flux-system/mcp (gitea acme/gitops): the token may open pull requests"
    );
    forge.set_permissions(false);
    let line = check();
    assert!(
        line.starts_with("FAIL ") && line.contains("may read the repository but not open pull requests"),
        "{line}"
    );
    forge.set_permissions(true);
    forge.set_fork(Some("upstream/gitops"));
    let line = check();
    assert!(
        line.starts_with("FAIL ") && line.contains("is a fork of upstream/gitops"),
        "{line}"
    );
    forge.set_fork(None);
    forge.assert_no_violations();
    // The platform no longer takes the token (revoked): 401, named, the token not shown.
    forge.set_token("another-token-entirely");
    let line = check();
    assert!(
        line.starts_with("FAIL ") && line.contains("(401)") && line.contains("issue a new token"),
        "{line}"
    );
    assert!(!line.contains(FORGE_TOKEN));
}

/// `(pushes, options, refs)` the pre-receive hook recorded, one entry per push.
fn recorded_pushes(record: &Path) -> Vec<(Vec<String>, Vec<String>)> {
    let text = std::fs::read_to_string(record).unwrap_or_default();
    let mut pushes: Vec<(Vec<String>, Vec<String>)> = Vec::new();
    for line in text.lines() {
        if line.starts_with("push options=") {
            pushes.push((Vec::new(), Vec::new()));
        } else if let (Some(option), Some(last)) = (line.strip_prefix("option="), pushes.last_mut()) {
            last.0.push(option.to_owned());
        } else if let (Some(reference), Some(last)) = (line.strip_prefix("ref "), pushes.last_mut()) {
            last.1.push(reference.to_owned());
        }
    }
    // The hook appends line by line, and runs while the pushed objects are still quarantined:
    // a push is complete once its ref line is written and its commit is in the repository.
    let bare = record.with_extension("git");
    pushes.retain(|(_, refs)| {
        refs.first()
            .and_then(|reference| reference.split_whitespace().nth(1))
            .is_some_and(|commit| {
                std::process::Command::new("git")
                    .arg("-C")
                    .arg(&bare)
                    .args(["cat-file", "-e", &format!("{commit}^{{commit}}")])
                    .status()
                    .is_ok_and(|status| status.success())
            })
    });
    pushes
}

/// AGit over the deploy key alone, end to end: no token, no API. The registry push becomes a
/// push to `refs/for/main` with the request's options; a newer tag amends it (`force-push`);
/// once main holds the proposal (merged on the platform) the next tag starts a new request.
#[test]
fn agit_proposals_over_the_deploy_key_alone_open_amend_and_start_anew_after_a_merge() {
    let dir = tempfile::tempdir().unwrap();
    let remote = Remote::seeded(dir.path(), &gitops_fixture());
    git(&remote.bare, &["config", "receive.advertisePushOptions", "true"]);
    let record = crate::push_targets::record_pushes(&remote.bare);
    let seed = remote.head("main");
    let sshd = crate::support::sshd::Sshd::start(&dir.path().join("sshd"), false);
    let port = crate::support::free_port();
    let registry = Registry::notifying(&dir.path().join("registry"), port, NOTIFY);
    let url = sshd.url(&remote.bare);
    let text = crate::support::mcp_config(
        &registry.host(),
        &url,
        &dir.path().join("data"),
        &crate::support::notify_and_admin_access("ADMIN_TOKEN"),
        "      push:\n        pullRequest: {provider: forgejo}\n",
    )
    .replace(
        &format!("      url: {url}\n"),
        &format!(
            "      url: {url}\n      auth: {{ssh: {{privateKeyFile: {}, knownHostsFile: {}}}}}\n",
            sshd.deploy_key.display(),
            sshd.known_hosts.display()
        ),
    );
    let app = App::start_on(
        port,
        dir.path(),
        &text,
        &[("NOTIFY_AUTH", NOTIFY), ("ADMIN_TOKEN", ADMIN)],
    );
    let topic = format!("topic={BRANCH}");

    registry.push("goldentooth-mcp", FIRST, "a");
    let pushes = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_for("the AGit push", Duration::from_secs(60), || {
            let pushes = recorded_pushes(&record);
            (!pushes.is_empty()).then_some(pushes)
        })
    }))
    .unwrap_or_else(|_| panic!("no push; log:\n{}", app.logs()));
    let (options, refs) = &pushes[0];
    assert_eq!(options[0], topic, "{options:?}");
    assert!(
        options[1].starts_with("title=chore") || options[1].starts_with("title=Update"),
        "{options:?}"
    );
    assert!(options[2].starts_with("description="), "{options:?}");
    assert!(
        !options.iter().any(|option| option.starts_with("force-push")),
        "a new request: {options:?}"
    );
    let first = refs[0]
        .strip_prefix("refs/for/main ")
        .expect("pushed to refs/for/main")
        .to_owned();
    assert_eq!(remote.head("main"), seed, "main is not written");
    let diff = changed_lines(&remote.bare, &seed, &first);
    assert!(diff.len() == 2 && diff[1].contains(FIRST), "{diff:?}");
    let open = wait_for("/status to list the request", Duration::from_secs(30), || {
        status(&app)["pull_requests"].as_array()?.first().cloned()
    });
    assert_eq!(
        (open["state"].as_str(), open["branch"].as_str()),
        (Some("open"), Some(BRANCH))
    );
    assert!(
        open["number"].is_null(),
        "AGit does not tell the number: {open:#}"
    );

    // A newer tag amends the request.
    registry.push("goldentooth-mcp", SECOND, "b");
    let pushes = wait_for("the amending push", Duration::from_secs(60), || {
        let pushes = recorded_pushes(&record);
        (pushes.len() == 2).then_some(pushes)
    });
    let (options, refs) = &pushes[1];
    assert!(
        options.contains(&topic) && options.contains(&"force-push=true".to_owned()),
        "{options:?}"
    );
    let second = refs[0].strip_prefix("refs/for/main ").unwrap().to_owned();
    assert_eq!(
        git(&remote.bare, &["rev-parse", &format!("{second}^")]).trim(),
        seed
    );

    // The platform merges it (main now holds the proposal); the next tag is a new request.
    git(&remote.bare, &["update-ref", "refs/heads/main", &second, &seed]);
    registry.push("goldentooth-mcp", THIRD, "c");
    let pushes = wait_for("the push of a new request", Duration::from_secs(60), || {
        let pushes = recorded_pushes(&record);
        (pushes.len() == 3).then_some(pushes)
    });
    let (options, refs) = &pushes[2];
    assert!(
        !options.iter().any(|option| option.starts_with("force-push")),
        "a new request, not an amendment: {options:?}"
    );
    let third = refs[0].strip_prefix("refs/for/main ").unwrap();
    assert_eq!(
        git(&remote.bare, &["rev-parse", &format!("{third}^")]).trim(),
        second,
        "built on the merged main"
    );
    let history = api_get(&app, "/api/v1/policies/flux-system/mcp/history");
    assert!(
        history.contains(&format!("\"tag\":\"{SECOND}\"")) && history.contains("\"state\":\"merged\""),
        "{history}"
    );
    assert_eq!(remote.head("main"), second, "pushdeploy never wrote main");
}

/// A branch template naming `.Policy` opens one request per policy, each changing only its
/// own policy's markers, and each amended on its own.
#[test]
fn a_branch_per_policy_keeps_one_request_per_policy() {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed");
    crate::support::git::copy_tree(&gitops_fixture(), &seed);
    std::fs::write(
        seed.join("apps/mcp/worker.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: worker\n  namespace: mcp\nspec:\n  template:\n    spec:\n      containers:\n        - name: worker\n          image: registry.goldentooth.net/goldentooth-mcp:latest # {\"$imagepolicy\": \"flux-system:worker\"}\n",
    )
    .unwrap();
    let remote = Remote::seeded(dir.path(), &seed);
    let forge = FakeForge::start(ForgeKind::Github, &remote.bare, "acme/gitops");
    let port = crate::support::free_port();
    let registry = Registry::notifying(&dir.path().join("registry"), port, NOTIFY);
    let text = config_text(
        &registry.host(),
        &remote,
        &dir.path().join("data"),
        &forge,
        "          branch: 'pushdeploy/{{ .Policy.Name }}'\n          draft: true\n",
    )
    .replace(
        "imageUpdateAutomations:",
        "  - name: worker\n    imageRepositoryRef: {name: mcp}\n    filterTags: {pattern: '^(?P<num>[0-9]+)-[a-f0-9]+$', extract: '$num'}\n    policy: {numerical: {order: asc}}\nimageUpdateAutomations:",
    );
    let env = [
        ("NOTIFY_AUTH", NOTIFY),
        ("ADMIN_TOKEN", ADMIN),
        ("FORGE_TOKEN", FORGE_TOKEN),
    ];
    let app = App::start_on(port, dir.path(), &text, &env);
    let seed_head = remote.head("main");

    registry.push("goldentooth-mcp", FIRST, "a");
    let pulls = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_for("one request per policy", Duration::from_secs(60), || {
            let pulls = forge.pulls();
            (pulls.len() == 2 && pulls.iter().all(|pull| !pull.labels.is_empty())).then_some(pulls)
        })
    }))
    .unwrap_or_else(|_| panic!("requests {:#?}; log:\n{}", forge.pulls(), app.logs()));
    assert!(
        pulls.iter().all(|pull| pull.draft),
        "opened as drafts: {pulls:#?}"
    );
    let mut heads: Vec<&str> = pulls.iter().map(|pull| pull.head.as_str()).collect();
    heads.sort_unstable();
    assert_eq!(heads, ["pushdeploy/mcp", "pushdeploy/worker"]);
    for (branch, file) in [
        ("pushdeploy/mcp", DEPLOYMENT),
        ("pushdeploy/worker", "apps/mcp/worker.yaml"),
    ] {
        let changed = git(&remote.bare, &["diff", "--name-only", &seed_head, branch]);
        assert_eq!(changed.trim(), file, "{branch} changes only its policy's file");
    }

    registry.push("goldentooth-mcp", SECOND, "b");
    wait_for("both requests amended", Duration::from_secs(60), || {
        let pulls = forge.pulls();
        (pulls.len() == 2 && pulls.iter().all(|pull| pull.title.contains(SECOND))).then_some(())
    });
    assert!(
        remote
            .show("pushdeploy/worker", "apps/mcp/worker.yaml")
            .contains(SECOND)
    );
    assert_eq!(remote.head("main"), seed_head);
    forge.assert_no_violations();
}

/// A remote that is a fork: the request would stay in the fork, so none is opened; the event
/// fails for good with the remedy, and nothing is left behind, neither request nor branch.
#[test]
fn a_fork_is_refused_before_a_request_is_opened_there() {
    let dir = tempfile::tempdir().unwrap();
    let (remote, registry, forge, app) = start(dir.path(), ForgeKind::Gitea, "");
    forge.set_fork(Some("upstream/gitops"));
    registry.push("goldentooth-mcp", FIRST, "a");
    let error = wait_for("the refusal in /status", Duration::from_secs(60), || {
        let status = status(&app);
        status["automations"]["flux-system/mcp"]["last_error"]["reason"]
            .as_str()
            .map(str::to_owned)
    });
    assert!(
        error.contains("acme/gitops is a fork of upstream/gitops"),
        "{error}"
    );
    assert!(
        error.contains("point git.url of automation flux-system/mcp at upstream/gitops"),
        "{error}"
    );
    assert!(forge.pulls().is_empty(), "no request opened in the fork");
    let branches = git(&remote.bare, &["branch", "--list", BRANCH]);
    assert!(
        branches.trim().is_empty(),
        "asked before the push: no branch left behind"
    );
    assert!(remote.show("main", DEPLOYMENT).contains("goldentooth-mcp:latest"));
    let events = api_get(&app, "/api/v1/events?state=failed");
    assert!(events.contains("is a fork of upstream/gitops"), "{events}");
    forge.assert_no_violations();
}
