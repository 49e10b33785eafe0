//! Registry push → commit on the remote, measured from skopeo's start, over the real thing:
//! Debian's docker-registry notifying `pushdeploy serve` (a child process, registry
//! confirmation on), a file:// bare remote. 100 pushes of `<run>-<sha>`; p50/p99 from skopeo's
//! start and from skopeo's exit. Floors in the same run: skopeo's own push time, and the git CLI
//! doing the same edit + commit + push. Run: `cargo bench --bench skopeo_to_commit`.
//! `BENCH_FILES=2000` pads the gitops repo with that many plain YAML files under the update
//! path (issue 12's 2,000-file case); `BENCH_PUSHES` changes the number of pushes. The
//! service logs per-stage timings (target `pushdeploy::timing`) and the bench prints their p50.
// A benchmark that cannot set up should stop loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)]
#[path = "../tests/api/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use support::app::App;
use support::git::{Remote, copy_tree, git, gitops_fixture};
use support::registry::{Registry, write_layout};

const DEFAULT_PUSHES: u32 = 100;
const NOTIFY: &str = "Bearer bench-notify-token";
const DEPLOYMENT: &str = "apps/mcp/deployment.yaml";

fn tag(run: u32) -> String {
    format!("{run}-{:040x}", u128::from(run) * 0x1234_5678_9abc_def1)
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    let index = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[index]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn config(registry: &str, remote: &Remote, data: &Path) -> String {
    support::mcp_config(
        registry,
        &remote.url(),
        data,
        "intake:
  registry:
    authorization: [{fromEnv: NOTIFY_AUTH}]
  coalesceWindow: 0s
",
        "",
    )
}

/// The branch tip as the remote's loose ref says (libgit2 and git push both write it).
fn tip(remote: &Remote) -> String {
    std::fs::read_to_string(remote.bare.join("refs/heads/main")).unwrap_or_default()
}

/// When the remote's tip moved away from `before`, polled every 0.5 ms (a deadline of 30 s):
/// `support::wait_for`'s 10 ms sleeps added 0–10 ms (≈5 ms on average) to every sample.
fn landing(remote: &Remote, before: &str) -> Instant {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = tip(remote);
        if now != before && !now.is_empty() {
            return Instant::now();
        }
        assert!(
            Instant::now() < deadline,
            "timed out after 30 s waiting for the commit"
        );
        std::thread::sleep(Duration::from_micros(500));
    }
}

fn env_number(name: &str, default: u32) -> u32 {
    std::env::var(name).map_or(default, |value| {
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value}: not a number"))
    })
}

/// The gitops fixture plus `files` marker-free YAML files under the update path, 100 a directory.
fn seed(dir: &Path, files: u32) -> PathBuf {
    let seed = dir.join("seed");
    copy_tree(&gitops_fixture(), &seed);
    for index in 0..files {
        let folder = seed.join(format!("apps/mcp/filler/{:02}", index / 100));
        std::fs::create_dir_all(&folder).unwrap();
        let text = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: filler-{index}\n  namespace: mcp\n  labels:\n    app.kubernetes.io/part-of: filler\ndata:\n  index: \"{index}\"\n  image: registry.example.net/filler:{index}\n  note: plain text without markers, as most files in a large gitops repository\n"
        );
        std::fs::write(folder.join(format!("configmap-{index}.yaml")), text).unwrap();
    }
    seed
}

/// Per-stage timings the service logged (`NAME_us` fields of its `pushdeploy::timing` JSON lines).
fn stages(log: &str) -> BTreeMap<String, Vec<Duration>> {
    let mut stages: BTreeMap<String, Vec<Duration>> = BTreeMap::new();
    for line in log.lines().filter(|line| line.contains("pushdeploy::timing")) {
        let Ok(entry) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let Some(fields) = entry["fields"].as_object() else {
            continue;
        };
        for (name, value) in fields {
            if let (Some(stage), Some(micros)) = (name.strip_suffix("_us"), value.as_u64()) {
                stages
                    .entry(stage.to_owned())
                    .or_default()
                    .push(Duration::from_micros(micros));
            }
        }
    }
    stages
}

fn main() {
    let files = env_number("BENCH_FILES", 0);
    let pushes = env_number("BENCH_PUSHES", DEFAULT_PUSHES);
    let dir = tempfile::tempdir().unwrap();
    let remote = Remote::seeded(dir.path(), &seed(dir.path(), files));
    let port = support::free_port();
    let registry = Registry::notifying(&dir.path().join("registry"), port, NOTIFY);
    let app = App::start_on(
        port,
        dir.path(),
        &config(&registry.host(), &remote, &dir.path().join("data")),
        &[
            ("NOTIFY_AUTH", NOTIFY),
            ("RUST_LOG", "warn,pushdeploy::timing=debug"),
        ],
    );
    // Measure a replica that says it is ready: the start-up warm-up (clone, checkout) is done.
    support::wait_for("pushdeploy to be ready", Duration::from_secs(60), || {
        support::app::get(port, "/readyz").filter(|(status, _)| *status == 200)
    });
    let layouts: Vec<_> = (1..=pushes)
        .map(|run| {
            let layout = dir.path().join(format!("layout-{run}"));
            write_layout(&layout, &run.to_string());
            layout
        })
        .collect();

    let mut from_start = Vec::new();
    let mut from_exit = Vec::new();
    let mut skopeo = Vec::new();
    for run in 1..=pushes {
        let before = tip(&remote);
        let started = Instant::now();
        let status = Command::new("skopeo")
            .args(["--insecure-policy", "copy", "--quiet", "--dest-tls-verify=false"])
            .arg(format!("oci:{}:latest", layouts[run as usize - 1].display()))
            .arg(format!(
                "docker://{}/goldentooth-mcp:{}",
                registry.host(),
                tag(run)
            ))
            .status()
            .unwrap();
        assert!(status.success());
        let exited = Instant::now();
        let landed = landing(&remote, &before);
        from_start.push(landed - started);
        from_exit.push(landed.saturating_duration_since(exited));
        skopeo.push(exited - started);
    }
    let text = remote.show("main", DEPLOYMENT);
    assert!(text.contains(&tag(pushes)), "the last push is on the remote");
    let commits = remote.subjects("main").len();
    let log = app.logs();
    let stages = stages(&log);
    drop(app);
    // Whatever went wrong in the service (a retried event shows up as an outlier).
    for line in log
        .lines()
        .filter(|line| line.contains("\"WARN\"") || line.contains("\"ERROR\""))
        .take(10)
    {
        println!("  service: {line}");
    }

    // Floor: the git CLI doing the same edit + commit + push from a warm clone.
    let clone = dir.path().join("floor");
    git(
        dir.path(),
        &[
            "clone",
            "-q",
            remote.bare.to_str().unwrap(),
            clone.to_str().unwrap(),
        ],
    );
    let mut floor = Vec::new();
    for run in 0..20u32 {
        let started = Instant::now();
        git(&clone, &["pull", "-q", "--ff-only"]);
        let file = clone.join(DEPLOYMENT);
        let content = std::fs::read_to_string(&file).unwrap();
        let current = tag(pushes + run);
        let next = tag(pushes + run + 1);
        std::fs::write(&file, content.replace(&current, &next)).unwrap();
        git(&clone, &["commit", "-q", "-am", "floor"]);
        git(&clone, &["push", "-q", "origin", "main"]);
        floor.push(started.elapsed());
    }

    let floor_p50 = percentile(&mut floor, 0.5);
    let start_p50 = percentile(&mut from_start, 0.5);
    let start_p99 = percentile(&mut from_start, 0.99);
    let exit_p50 = percentile(&mut from_exit, 0.5);
    let exit_p99 = percentile(&mut from_exit, 0.99);
    let exit_max = percentile(&mut from_exit, 1.0);
    let skopeo_p50 = percentile(&mut skopeo, 0.5);
    println!(
        "skopeo_to_commit: {pushes} pushes, {commits} commits on the remote, {} files in the repo",
        files + 2
    );
    println!(
        "  from skopeo's start: p50 {:.1} ms  p99 {:.1} ms",
        ms(start_p50),
        ms(start_p99)
    );
    println!("  skopeo alone:        p50 {:.1} ms", ms(skopeo_p50));
    println!(
        "  from skopeo's exit:  p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
        ms(exit_p50),
        ms(exit_p99),
        ms(exit_max)
    );
    println!(
        "  floor (git CLI pull + edit + commit + push): p50 {:.1} ms; ratios from exit: p50 {:.2}  p99 {:.2}  max {:.2}",
        ms(floor_p50),
        ms(exit_p50) / ms(floor_p50),
        ms(exit_p99) / ms(floor_p50),
        ms(exit_max) / ms(floor_p50)
    );
    println!("  service stages (p50 / max over the cycles that logged them):");
    for (name, mut samples) in stages {
        let count = samples.len();
        let p50 = percentile(&mut samples, 0.5);
        let max = percentile(&mut samples, 1.0);
        println!(
            "    {name:<14} p50 {:>8.2} ms  max {:>8.2} ms  ({count})",
            ms(p50),
            ms(max)
        );
    }
}
