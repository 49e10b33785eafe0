//! Registry requests per scan interval with one replica and with three on one PostgreSQL
//! journal (goal: equal, since only a repository's owner scans it). Real parts, started here:
//! docker-registry with its access log, five repositories, five bare remotes, a throwaway
//! PostgreSQL cluster and `pushdeploy serve` processes; the tests' harness is reused
//! (`tests/api/support`, and the configuration of `tests/api/replicas.rs`).
//! Run: `cargo bench --bench replica_scans` (needs what the test command installs).
// A benchmark that cannot set up should stop loudly.
#![allow(clippy::unwrap_used)]

#[allow(dead_code)] // the bench uses part of the harness
#[path = "../tests/api/support/mod.rs"]
mod support;

// Its test (cfg'd out here) uses the rest of its imports.
#[allow(dead_code, unused_imports)]
#[path = "../tests/api/replicas.rs"]
mod replicas;

use std::time::Duration;
use support::app::App;
use support::git::Remote;
use support::postgres::Postgres;
use support::registry::{Options, Registry};

/// Seconds each count runs; the repositories are scanned every 2 s (±10 %).
const WINDOW: Duration = Duration::from_secs(20);

fn tag_lists(registry: &Registry) -> usize {
    std::fs::read_to_string(registry.dir.join("access.log"))
        .unwrap_or_default()
        .lines()
        .filter(|line| line.contains("/tags/list"))
        .count()
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let postgres = Postgres::start();
    let registry = Registry::start(
        &dir.path().join("registry"),
        Options {
            access_log: true,
            ..Options::default()
        },
    );
    let host = registry.host();
    let remotes: Vec<Remote> = (0..replicas::REMOTES)
        .map(|i| {
            let parent = dir.path().join(format!("remote{i}"));
            std::fs::create_dir_all(&parent).unwrap();
            registry.push(&format!("app{i}"), "base", &format!("v{i}"));
            Remote::seeded(&parent, &replicas::seed(dir.path(), &host, i))
        })
        .collect();
    let url = postgres.url();
    let env = [
        ("NOTIFY_AUTH", replicas::NOTIFY),
        ("API_TOKEN", replicas::API_TOKEN),
        ("JOURNAL_URL", url.as_str()),
    ];
    let mut counts = Vec::new();
    for replicas_running in [1usize, 3] {
        let apps: Vec<Option<App>> = (0..replicas_running)
            .map(|r| {
                let home = dir.path().join(format!("run{replicas_running}-replica{r}"));
                std::fs::create_dir_all(&home).unwrap();
                let text = replicas::config_scanning(&host, &remotes, &home.join("data"), "2s");
                Some(App::start(&home, &text, &env))
            })
            .collect();
        support::wait_for("the shards to settle", Duration::from_secs(60), || {
            replicas::settled(&apps)
        });
        // Past the start-up scans (a gained shard scans what it has no tag list for).
        std::thread::sleep(Duration::from_secs(3));
        let before = tag_lists(&registry);
        std::thread::sleep(WINDOW);
        let requests = tag_lists(&registry) - before;
        println!(
            "{replicas_running} replica(s): {requests} tags/list requests in {} s for {} repositories scanned every 2 s",
            WINDOW.as_secs(),
            replicas::REMOTES
        );
        counts.push(requests);
        drop(apps);
    }
    println!(
        "3 replicas / 1 replica: {:.2}x registry requests (goal 1.00x: only the owner scans)",
        counts[1] as f64 / counts[0] as f64
    );
}
