//! The reliability suite: the service is stopped exactly at a named crash point
//! (`PUSHDEPLOY_FAILPOINT`, see `src/failpoint.rs`) and restarted; the journal's filesystem
//! fills up for real (a tmpfs with a size limit); SIGTERM arrives under a steady 100
//! notifications/s. Each test asserts what was acknowledged lands exactly once.

use crate::support::app::{App, request};
use crate::support::git::{Remote, git, gitops_fixture};
use crate::support::registry::{Options, Registry, push_notification};
use crate::support::wait_for;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const MCP_TAG: &str = "2-f62ba56a999ec99a7375fed529acf4b336691bdb";
const DEPLOYMENT: &str = "apps/mcp/deployment.yaml";
const NOTIFY: &str = "Bearer notify-s3cret-token";
const API_TOKEN: &str = "api-s3cret-token";
const ENV: [(&str, &str); 2] = [("NOTIFY_AUTH", NOTIFY), ("API_TOKEN", API_TOKEN)];
const HEADERS: [(&str, &str); 2] = [("Authorization", NOTIFY), ("Content-Type", "application/json")];

/// A gitops remote, a registry (no notifications: the tests send them) and a data dir.
struct Scenario {
    dir: tempfile::TempDir,
    remote: Remote,
    registry: Registry,
    data: PathBuf,
}

impl Scenario {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let remote = Remote::seeded(dir.path(), &gitops_fixture());
        let registry = Registry::start(&dir.path().join("registry"), Options::default());
        let data = dir.path().join("data");
        Self {
            dir,
            remote,
            registry,
            data,
        }
    }

    fn config(&self) -> String {
        crate::support::mcp_config(
            &self.registry.host(),
            &self.remote.url(),
            &self.data,
            &crate::support::notify_and_admin_access("API_TOKEN"),
            "",
        )
    }

    /// `pushdeploy serve`, with `failpoint` armed if given; waits until its first scan is done,
    /// so that a tag pushed afterwards reaches it only through a notification (or a restart).
    fn start(&self, failpoint: Option<&str>) -> App {
        let mut env = ENV.to_vec();
        if let Some(spec) = failpoint {
            env.push(("PUSHDEPLOY_FAILPOINT", spec));
        }
        let app = App::start(self.dir.path(), &self.config(), &env);
        wait_for("the first registry scan", Duration::from_secs(30), || {
            let (_, body) = app.get("/status")?;
            let status: serde_json::Value = serde_json::from_str(&body).ok()?;
            let repositories = status["repositories"].as_object()?;
            let scanned = !repositories.is_empty()
                && repositories
                    .values()
                    .all(|repository| !repository["last_scan"].is_null());
            scanned.then_some(())
        });
        app
    }

    fn notification(&self, id: &str, tag: &str) -> String {
        push_notification(id, &format!("http://{}", self.registry.host()), tag)
    }

    /// How many commits on main deploy `tag` (by their `Pushdeploy-Deployed:` trailer).
    fn commits_deploying(&self, tag: &str) -> usize {
        git(&self.remote.bare, &["log", "--format=%B", "main"])
            .lines()
            .filter(|line| line.starts_with("Pushdeploy-Deployed:") && line.ends_with(&format!("={tag}")))
            .count()
    }

    /// Wait for `MCP_TAG` to be in git, then check it was committed exactly once.
    fn assert_lands_once(&self, app: &App) {
        wait_for("the tag to land", Duration::from_secs(60), || {
            self.remote
                .show("main", DEPLOYMENT)
                .contains(MCP_TAG)
                .then_some(())
        });
        assert_eq!(self.commits_deploying(MCP_TAG), 1, "{}", app.logs());
    }

    /// The registry's retry of `body` (same id) after a refusal: new to the journal, since the
    /// refused attempt stored nothing; it is accepted and lands exactly once.
    fn assert_retry_is_accepted_and_lands_once(&self, app: &App, body: &str) {
        let (status, response) = app.post("/hooks/registry", &HEADERS, body.as_bytes());
        assert_eq!(status, 200, "{response}");
        assert!(response.contains("\"accepted\":1"), "{response}");
        self.assert_lands_once(app);
    }

    /// The remote and every working copy in the data dir are whole: no lock files left, a
    /// remote that passes fsck, working copies clean and at the remote's head. `app` is stopped
    /// first (SIGTERM: in-flight writes finish), so what is checked is the state at rest, not a
    /// write of the restarted service half-way (its startup scan may write).
    fn assert_recovered(&self, app: &mut App) {
        app.terminate();
        git(&self.remote.bare, &["fsck", "--no-progress"]);
        let head = self.remote.head("main");
        assert!(
            locks(&self.remote.bare).is_empty(),
            "stale locks on the remote: {:?}",
            locks(&self.remote.bare)
        );
        let work = self.data.join("work");
        for copy in std::fs::read_dir(&work).unwrap() {
            let copy = copy.unwrap().path();
            assert!(
                locks(&copy.join(".git")).is_empty(),
                "stale locks in {}: {:?}",
                copy.display(),
                locks(&copy.join(".git"))
            );
            assert_eq!(
                git(&copy, &["status", "--porcelain"]),
                "",
                "{} is dirty",
                copy.display()
            );
            assert_eq!(
                git(&copy, &["rev-parse", "HEAD"]).trim(),
                head,
                "{}",
                copy.display()
            );
        }
    }
}

fn locks(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|extension| extension == "lock") {
                found.push(path);
            }
        }
    }
    found
}

fn backlog_is_empty(app: &App) -> Option<()> {
    let (status, body) = app.get("/status")?;
    let value: serde_json::Value = serde_json::from_str(&body).ok()?;
    (status == 200 && value["journal_backlog"] == 0).then_some(())
}

/// Every journaled push event, through the API (paged).
fn journaled_pushes(app: &App) -> Vec<serde_json::Value> {
    let mut events = Vec::new();
    let mut path = "/api/v1/events?limit=500".to_owned();
    loop {
        let bearer = format!("Bearer {API_TOKEN}");
        let (status, body) = request(app.port, "GET", &path, &[("Authorization", &bearer)], b"").unwrap();
        assert_eq!(status, 200, "{body}");
        let page: serde_json::Value = serde_json::from_str(&body).unwrap();
        let items = page["events"].as_array().unwrap();
        events.extend(items.iter().filter(|event| event["kind"] == "push").cloned());
        match page["next_before"].as_i64() {
            Some(before) if !items.is_empty() => path = format!("/api/v1/events?limit=500&before={before}"),
            _ => return events,
        }
    }
}

/// Crash at `failpoint` while one notification is handled, restart, let the registry retry
/// (same event id), and check the tag landed exactly once and nothing is left half-done.
/// `stored_before_crash`: whether the event was durable when the process died.
fn crash_and_recover(failpoint: &str, action: &str, acknowledged: bool, stored_before_crash: bool) {
    let scenario = Scenario::new();
    let mut app = scenario.start(Some(&format!("{failpoint}={action}")));
    scenario.registry.push("goldentooth-mcp", MCP_TAG, "c");
    let body = scenario.notification("crash-point", MCP_TAG);
    let answer = request(app.port, "POST", "/hooks/registry", &HEADERS, body.as_bytes());
    assert_eq!(
        answer.as_ref().is_some_and(|(status, _)| *status == 200),
        acknowledged,
        "answer before the crash at {failpoint}: {answer:?}\n{}",
        app.logs()
    );
    let reached = format!("pushdeploy failpoint {failpoint} reached");
    wait_for(
        &format!("the failpoint {failpoint}"),
        Duration::from_secs(60),
        || app.logs().contains(&reached).then_some(()),
    );
    match action {
        "abort" => wait_for("the process to be dead", Duration::from_secs(30), || {
            app.get("/healthz").is_none().then_some(())
        }),
        _ => app.kill9(),
    }
    drop(app);

    let mut app = scenario.start(None);
    let (status, response) = app.post("/hooks/registry", &HEADERS, body.as_bytes());
    assert_eq!(status, 200, "{response}");
    let expected = if stored_before_crash {
        "\"duplicates\":1"
    } else {
        "\"accepted\":1"
    };
    assert!(response.contains(expected), "retry after {failpoint}: {response}");
    wait_for("the backlog to drain", Duration::from_secs(60), || {
        backlog_is_empty(&app)
    });
    // Counted once the backlog is drained, so a second commit would be seen.
    scenario.assert_lands_once(&app);
    let pushes = journaled_pushes(&app);
    assert_eq!(pushes.len(), 1, "{pushes:?}");
    assert!(
        ["written", "ignored"].contains(&pushes[0]["state"].as_str().unwrap()),
        "{pushes:?}"
    );
    scenario.assert_recovered(&mut app);
}

#[test]
fn a_crash_inside_the_journal_transaction_acknowledges_nothing_and_the_retry_lands_once() {
    crash_and_recover("journal.before_commit", "abort", false, false);
}

#[test]
fn a_crash_after_the_journal_write_before_the_2xx_lands_once_and_the_retry_is_a_duplicate() {
    crash_and_recover("registry.before_ack", "abort", false, true);
}

#[test]
fn a_sigkill_after_the_2xx_before_any_write_lands_the_tag_once_after_restart() {
    crash_and_recover("cycle.start", "pause", true, true);
}

#[test]
fn a_crash_after_the_commit_before_the_push_lands_once_and_the_working_copy_recovers() {
    crash_and_recover("cycle.before_push", "abort", true, true);
}

#[test]
fn a_crash_during_the_push_after_the_remote_took_it_leaves_exactly_one_commit() {
    crash_and_recover("push.ref_updated", "abort", true, true);
}

/// A tmpfs of `size` mounted on `dir` (root only, as the tests run in CI); unmounted on drop.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "mounting a tmpfs on {} (this test needs root, as scripts/test runs in CI): {}",
            dir.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        Self { dir: dir.to_owned() }
    }

    /// Write a filler file until the filesystem answers ENOSPC; returns its path.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let path = self.dir.join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 4096];
        loop {
            match file.write_all(&chunk).and_then(|()| file.sync_all()) {
                Ok(()) => continue,
                Err(error) if error.raw_os_error() == Some(28) => return path,
                Err(error) => panic!("filling {}: {error}", path.display()),
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("--lazy").arg(&self.dir).status();
    }
}

/// `/readyz` now; `(0, null)` when it did not answer in time (a loaded machine), so that the
/// callers' polls go on until their deadline instead of failing on one slow answer.
fn readiness(app: &App) -> (u16, serde_json::Value) {
    match app.get("/readyz") {
        Some((status, body)) => (status, serde_json::from_str(&body).unwrap_or_default()),
        None => (0, serde_json::Value::Null),
    }
}

#[test]
fn a_full_journal_disk_answers_503_says_why_in_readyz_and_recovers_by_itself_when_space_returns() {
    let scenario = Scenario::new();
    let tmpfs = Tmpfs::mount(&scenario.data, "4m");
    let app = scenario.start(None);
    wait_for("readiness", Duration::from_secs(30), || {
        (readiness(&app).0 == 200).then_some(())
    });
    scenario.registry.push("goldentooth-mcp", MCP_TAG, "c");
    let filler = tmpfs.fill();

    let body = scenario.notification("while-full", MCP_TAG);
    let (status, response) = app.post("/hooks/registry", &HEADERS, body.as_bytes());
    assert_eq!(status, 503, "a full disk must not be acknowledged: {response}");
    assert!(response.contains("filesystem is full"), "{response}");
    // Readiness follows the journal's health asynchronously: poll, with a deadline.
    let ready = wait_for("readiness to go false", Duration::from_secs(10), || {
        let (status, ready) = readiness(&app);
        (status == 503).then_some(ready)
    });
    let reason = ready["checks"]["journal"].as_str().unwrap();
    assert!(
        reason.contains("filesystem is full") && reason.contains("free space"),
        "{ready}"
    );

    // Space returns; nobody sends anything (a pod that is not ready gets no traffic).
    std::fs::remove_file(filler).unwrap();
    wait_for("readiness to recover by itself", Duration::from_secs(30), || {
        (readiness(&app).0 == 200).then_some(())
    });
    scenario.assert_retry_is_accepted_and_lands_once(&app, &body);
    drop(app);
}

/// Tags in increasing policy order, each pushed to the registry.
fn push_tags(registry: &Registry, count: usize) -> Vec<String> {
    (1..=count)
        .map(|run| {
            let tag = format!("{run}-{:07x}", run * 0x1111);
            registry.push("goldentooth-mcp", &tag, &format!("v{run}"));
            tag
        })
        .collect()
}

#[test]
fn sigterm_under_100_notifications_a_second_loses_nothing_that_was_acknowledged() {
    const TOTAL: usize = 400;
    const RATE_INTERVAL: Duration = Duration::from_millis(10);
    const TERM_AFTER: usize = 150;
    let scenario = Scenario::new();
    let mut app = scenario.start(None);
    let tags = push_tags(&scenario.registry, 5);
    let port = app.port;
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let bodies: Vec<(String, String)> = (0..TOTAL)
        .map(|index| {
            let tag = tags[index * tags.len() / TOTAL].clone();
            (scenario.notification(&format!("steady-{index}"), &tag), tag)
        })
        .collect();
    let sender = {
        let acknowledged = Arc::clone(&acknowledged);
        std::thread::spawn(move || {
            // Paced at 100/s against the clock (rate control, not synchronisation).
            let start = Instant::now();
            let mut answers = Vec::with_capacity(TOTAL);
            for (index, (body, tag)) in bodies.into_iter().enumerate() {
                let slot = start + RATE_INTERVAL * u32::try_from(index).unwrap();
                std::thread::sleep(slot.saturating_duration_since(Instant::now()));
                let answer = request(port, "POST", "/hooks/registry", &HEADERS, body.as_bytes());
                let status = answer.map(|(status, _)| status);
                if status == Some(200) {
                    acknowledged.fetch_add(1, Ordering::SeqCst);
                }
                answers.push((tag, status));
            }
            answers
        })
    };
    wait_for(
        "enough acknowledged notifications",
        Duration::from_secs(60),
        || (acknowledged.load(Ordering::SeqCst) >= TERM_AFTER).then_some(()),
    );
    let terminating = Instant::now();
    assert_eq!(
        app.terminate(),
        Some(0),
        "graceful shutdown exits 0:\n{}",
        app.logs()
    );
    let shutdown = terminating.elapsed();
    let answers = sender.join().unwrap();
    let acked: Vec<&String> = answers
        .iter()
        .filter(|(_, status)| *status == Some(200))
        .map(|(tag, _)| tag)
        .collect();
    let refused_503 = answers.iter().filter(|(_, status)| *status == Some(503)).count();
    let unanswered = answers.iter().filter(|(_, status)| status.is_none()).count();
    let other: Vec<_> = answers
        .iter()
        .filter(|(_, status)| !matches!(status, Some(200 | 503) | None))
        .collect();
    assert!(other.is_empty(), "unexpected answers: {other:?}");
    eprintln!(
        "sigterm under load: {} acknowledged, {refused_503} answered 503, {unanswered} unanswered (after exit), shutdown took {shutdown:?}",
        acked.len()
    );

    let restarted = Instant::now();
    app.launch();
    wait_for(
        "the backlog to drain after restart",
        Duration::from_secs(120),
        || backlog_is_empty(&app),
    );
    eprintln!(
        "sigterm under load: backlog drained {:?} after restart",
        restarted.elapsed()
    );
    // Git holds the newest acknowledged tag, or a newer one: every tag is in the registry, and
    // its own notifications or the restarted service's first scan may rightly deploy a tag the
    // load never sent (it was seen deploying 5-… while the newest acknowledged was 2-…).
    let newest = tags.iter().rposition(|tag| acked.contains(&tag)).unwrap();
    let deployed = scenario.remote.show("main", DEPLOYMENT);
    let in_git = tags.iter().rposition(|tag| deployed.contains(tag.as_str()));
    assert!(
        in_git.is_some_and(|in_git| in_git >= newest),
        "{} (or newer) not deployed:\n{deployed}",
        tags[newest]
    );
    // Every acknowledged event is journaled and finished; none failed.
    let pushes = journaled_pushes(&app);
    assert!(
        pushes.len() >= acked.len(),
        "{} journaled < {} acknowledged",
        pushes.len(),
        acked.len()
    );
    let unfinished: Vec<_> = pushes
        .iter()
        .filter(|event| !["written", "ignored"].contains(&event["state"].as_str().unwrap()))
        .collect();
    assert!(unfinished.is_empty(), "{unfinished:?}");
    // No tag was committed twice.
    for tag in &tags {
        assert!(scenario.commits_deploying(tag) <= 1, "{tag} committed twice");
    }
    scenario.assert_recovered(&mut app);
}

/// `chattr +i` on a file: even the service's already-open descriptor gets EPERM on write, as
/// with a filesystem gone read-only under it (a remount cannot do that while a writer is open).
struct Immutable {
    path: PathBuf,
}

impl Immutable {
    fn set(path: &Path) -> Self {
        let output = Command::new("chattr").arg("+i").arg(path).output().unwrap();
        assert!(
            output.status.success(),
            "chattr +i {} (needs root and ext4, as in CI): {}",
            path.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        Self {
            path: path.to_owned(),
        }
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").arg(&self.path).status();
    }
}

#[test]
fn a_journal_that_cannot_be_written_answers_503_says_why_and_recovers_when_writable_again() {
    let scenario = Scenario::new();
    let app = scenario.start(None);
    wait_for("readiness", Duration::from_secs(30), || {
        (readiness(&app).0 == 200).then_some(())
    });
    scenario.registry.push("goldentooth-mcp", MCP_TAG, "c");
    let wal = scenario.data.join("journal.db-wal");
    assert!(wal.exists(), "the journal runs in WAL mode");
    let immutable = Immutable::set(&wal);

    let body = scenario.notification("while-read-only", MCP_TAG);
    let (status, response) = app.post("/hooks/registry", &HEADERS, body.as_bytes());
    assert_eq!(
        status, 503,
        "an unwritable journal must not be acknowledged: {response}"
    );
    assert!(response.contains("cannot be written"), "{response}");
    let ready = wait_for("readiness to go false", Duration::from_secs(10), || {
        let (status, ready) = readiness(&app);
        (status == 503).then_some(ready)
    });
    assert!(
        ready["checks"]["journal"]
            .as_str()
            .unwrap()
            .contains("cannot be written"),
        "{ready}"
    );

    drop(immutable);
    wait_for("readiness to recover by itself", Duration::from_secs(30), || {
        (readiness(&app).0 == 200).then_some(())
    });
    scenario.assert_retry_is_accepted_and_lands_once(&app, &body);
}

/// A registry that accepts connections and never answers: each request's first line is
/// recorded, and the connections are held open until the test ends.
fn stalled_registry() -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let lines = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = Arc::clone(&lines);
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if std::io::BufRead::read_line(&mut reader, &mut line).is_ok() {
                seen.lock().unwrap().push(line.trim_end().to_owned());
            }
            held.push(stream);
        }
    });
    (host, lines)
}

#[test]
fn an_event_whose_registry_stalls_does_not_hold_back_the_events_after_it() {
    let scenario = Scenario::new();
    let (stalled, requests) = stalled_registry();
    scenario.registry.push("goldentooth-mcp", MCP_TAG, "two");
    // A second repository on the stalled host, with a timeout far beyond the wait below: its
    // confirmation is still in flight when the second event must already be written.
    let text = crate::support::mcp_config_with_repository(
        &scenario.registry.host(),
        &scenario.remote.url(),
        &scenario.data,
        &crate::support::notify_and_admin_access("API_TOKEN"),
        "",
        &format!("  - name: stalled\n    image: {stalled}/stalled\n    insecure: true\n    interval: 1h\n    timeout: 600s\n"),
    )
    .replace(
        "imageUpdateAutomations:",
        "  - name: stalled\n    imageRepositoryRef: {name: stalled}\n    policy: {numerical: {order: asc}}\nimageUpdateAutomations:",
    );
    let app = App::start(scenario.dir.path(), &text, &ENV);
    let stalled_event = serde_json::json!({"events": [{"id": "s1", "action": "push", "target": {
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "repository": "stalled",
        "tag": "7", "url": format!("http://{stalled}/v2/stalled/manifests/7")}}]})
    .to_string();
    let post = |event: &str| {
        let (status, body) =
            request(app.port, "POST", "/hooks/registry", &HEADERS, event.as_bytes()).unwrap();
        assert_eq!(status, 200, "{body}");
    };
    post(&stalled_event);
    wait_for(
        "the stalled confirmation to be asked",
        Duration::from_secs(30),
        || {
            let lines = requests.lock().unwrap();
            lines
                .iter()
                .any(|line| line.starts_with("HEAD /v2/stalled/manifests/7 "))
                .then_some(())
        },
    );

    post(&scenario.notification("m1", MCP_TAG));
    wait_for(
        "the second event's commit while the first still waits",
        Duration::from_secs(60),
        || {
            scenario
                .remote
                .show("main", DEPLOYMENT)
                .contains(MCP_TAG)
                .then_some(())
        },
    );
    let stalled_state = journaled_pushes(&app)
        .into_iter()
        .find(|event| event["tag"] == "7")
        .unwrap();
    assert_ne!(stalled_state["state"], "written", "{stalled_state}");
    assert_ne!(
        stalled_state["state"], "failed",
        "still in flight: {stalled_state}"
    );
}
