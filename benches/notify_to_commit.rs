//! Notification arrival → commit visible on the remote, over 100 notifications to a running
//! service (in-process, real HTTP on loopback, file:// bare remote), p50/p99, against the git CLI
//! doing the same edit + commit + push (the floor) in the same run. Registry confirmation is
//! switched off here (quickstart's trust mode) so that the pipeline itself is measured; with a
//! registry it adds one manifest HEAD. Run: `cargo bench --bench notify_to_commit`.
//!
//! Then the same latency, accepted durable events per second (8 senders, 3 s) and, on
//! PostgreSQL, the failover time of a writer lease, for each journal backend: SQLite in the
//! data dir and a throwaway PostgreSQL cluster the bench starts itself (the tests' harness,
//! `tests/api/support/postgres.rs`; Debian's `postgresql` must be installed, as the test
//! command does). `BENCH_BACKENDS=0` skips that part.
// A benchmark that cannot set up should stop loudly.
#![allow(clippy::unwrap_used)]

use pushdeploy::config::{
    Author, Automation, GitAuth, GitRemote, ImagePolicy, ImageRepository, IntakeSettings, Origin,
    ServerSettings, Settings,
};
use pushdeploy::domain::{ImageRef, ObjectKey};
use pushdeploy::policy::{Order, Policy, Rule, TagFilter};
use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// The tests' harnesses: the throwaway PostgreSQL cluster (initdb + pg_ctl on a free port)
/// and, for the pull-request part, the Forgejo fake (`support/forge/`), which validates every
/// call against Forgejo's OpenAPI description as in the tests.
#[allow(dead_code)] // the bench uses part of the harness
#[path = "../tests/api/support/mod.rs"]
mod support;

fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "user.name=b",
            "-c",
            "user.email=b@e",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success(), "git {args:?}");
    String::from_utf8(output.stdout).unwrap()
}

fn post(port: u16, body: &str) -> u16 {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let request = format!(
        "POST /hooks/registry HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer bench\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    samples[((samples.len() as f64 - 1.0) * p).round() as usize]
}

fn key(text: &str) -> ObjectKey {
    ObjectKey::parse(text).unwrap()
}

/// A bare remote with one marked file per policy `p0…`, and settings with one repository
/// (`registry.example/app<i>`) and numerical policy per marker, all in one automation.
fn setup(root: &Path, policies: usize, window: Duration) -> (Settings, std::path::PathBuf) {
    let seed = root.join("seed");
    for index in 0..policies {
        std::fs::create_dir_all(seed.join(format!("apps/p{index}"))).unwrap();
        let text = format!(
            "spec:\n  image: registry.example/app{index}:0-a # {{\"$imagepolicy\": \"flux-system:p{index}\"}}\n"
        );
        std::fs::write(seed.join(format!("apps/p{index}/deployment.yaml")), text).unwrap();
    }
    git(&seed, &["init", "-q"]);
    git(&seed, &["add", "-A"]);
    git(&seed, &["commit", "-q", "-m", "seed"]);
    let bare = root.join("remote.git");
    git(
        root,
        &[
            "clone",
            "-q",
            "--bare",
            seed.to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
    );
    let url = format!("file://{}", bare.display());

    let mut settings = Settings {
        data_dir: root.join("data"),
        server: ServerSettings {
            listen: "127.0.0.1:0".parse().unwrap(),
            tls: None,
            limits: Default::default(),
        },
        repositories: Default::default(),
        policies: Default::default(),
        automations: Default::default(),
        intake: IntakeSettings {
            registry_authorization: vec!["Bearer bench".to_owned().into()],
            forgejo_secrets: vec![],
            senders: Default::default(),
            body_limit: 1 << 20,
            coalesce_window: window,
            journal_max_age: Duration::from_secs(3600),
            journal_max_count: 100_000,
            journal_url: None,
        },
        api: Default::default(),
        registries: Default::default(),
        trust_notifications: true,
        notifications: Default::default(),
    };
    let mut keys = Vec::new();
    for index in 0..policies {
        let key = key(&format!("flux-system:p{index}"));
        let image = ImageRef::parse(&format!("registry.example/app{index}")).unwrap();
        let repository = ImageRepository {
            interval: Duration::from_secs(3600),
            ..ImageRepository::plain(key.clone(), image)
        };
        let policy = Policy::new(
            Some(TagFilter::new("^(?P<n>[0-9]+)-", "$n").unwrap()),
            Rule::Numerical(Order::Asc),
        );
        settings.repositories.insert(key.clone(), repository);
        settings.policies.insert(
            key.clone(),
            ImagePolicy {
                key: key.clone(),
                repository: key.clone(),
                policy,
                digest_reflection: Default::default(),
                origin: Origin::default(),
            },
        );
        keys.push(key);
    }
    let automation = Automation {
        key: key("flux-system:apps"),
        git: GitRemote {
            url,
            auth: GitAuth::None,
        },
        checkout_branch: "main".into(),
        push_branch: "main".into(),
        author: Author {
            name: "bench".into(),
            email: "b@e".into(),
        },
        message_template: None,
        message_template_values: Default::default(),
        signing_key: None,
        push_refspec: None,
        push_options: Default::default(),
        pull_request: None,
        suspended: false,
        update_path: "./apps".into(),
        interval: Duration::from_secs(3600),
        policies: keys,
        origin: Origin::default(),
    };
    settings.automations.insert(key("flux-system:apps"), automation);
    (settings, bare)
}

fn event(id: &str, repository: &str, tag: &str) -> String {
    format!(
        r#"{{"events":[{{"id":"{id}","action":"push","target":{{"mediaType":"application/vnd.oci.image.manifest.v1+json","repository":"{repository}","tag":"{tag}","url":"https://registry.example/v2/{repository}/manifests/x"}}}}]}}"#
    )
}

/// `runs` notifications, one at a time, to a service on `settings`: the time from each POST
/// to its commit on `bare`.
fn latency(settings: Settings, bare: &Path, runs: usize) -> Vec<Duration> {
    let service = Service::start(settings);
    let port = service.port;
    let head = || {
        std::fs::read_to_string(bare.join("refs/heads/main"))
            .ok()
            .map(|text| text.trim().to_owned())
            .or_else(|| Some(git(bare, &["rev-parse", "main"]).trim().to_owned()))
    };
    let mut latencies = Vec::new();
    for run in 1..=runs {
        let before = head();
        let body = event(&format!("bench-{run}"), "app0", &format!("{run}-b"));
        let start = Instant::now();
        assert_eq!(post(port, &body), 200);
        let deadline = start + Duration::from_secs(30);
        while head() == before {
            assert!(
                Instant::now() < deadline,
                "notification {run} never became a commit"
            );
            std::thread::yield_now();
        }
        latencies.push(start.elapsed());
    }
    service.stop();
    latencies
}

/// Accepted durable events per second: 8 senders post distinct notifications for `seconds`
/// (tags no policy takes, so nothing is written and intake alone is measured).
fn throughput(settings: Settings, seconds: u64) -> f64 {
    let service = Service::start(settings);
    let port = service.port;
    let until = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let senders: Vec<_> = (0..8)
        .map(|sender| {
            std::thread::spawn(move || {
                let mut accepted = 0u64;
                let mut n = 0u64;
                while Instant::now() < until {
                    n += 1;
                    let body = event(&format!("load-{sender}-{n}"), "app0", &format!("x-{sender}-{n}"));
                    if post(port, &body) == 200 {
                        accepted += 1;
                    }
                }
                accepted
            })
        })
        .collect();
    let accepted: u64 = senders.into_iter().map(|sender| sender.join().unwrap()).sum();
    let elapsed = started.elapsed();
    service.stop();
    accepted as f64 / elapsed.as_secs_f64()
}

/// Two replicas on `settings` (PostgreSQL); the owner of the one shard is killed: the time
/// until the other owns it.
fn failover(settings: &Settings, root: &Path) -> Duration {
    let replica = |name: &str| {
        let mut settings = settings.clone();
        settings.data_dir = root.join(name);
        Service::start(settings)
    };
    let first = replica("a");
    let wait_until = |what: &str, check: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !check() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    wait_until("the first replica to own the shard", &|| {
        !first.ownership.report().owned.is_empty()
    });
    let second = replica("b");
    // The second is up (its lease connection counted) before the owner dies.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(second.ownership.report().owned.is_empty(), "one shard, one owner");
    let killed = Instant::now();
    first.kill();
    wait_until("the second replica to take the shard", &|| {
        !second.ownership.report().owned.is_empty()
    });
    let elapsed = killed.elapsed();
    second.stop();
    elapsed
}

/// The service in-process on its own runtime, with real HTTP on loopback.
struct Service {
    runtime: tokio::runtime::Runtime,
    port: u16,
    shutdown: tokio_util::sync::CancellationToken,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
    ownership: pushdeploy::ownership::Ownership,
}

impl Service {
    fn start(settings: Settings) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let application = runtime
            .block_on(pushdeploy::startup::Application::build(settings))
            .unwrap();
        let port = application.address().port();
        let shutdown = application.shutdown.clone();
        let ownership = application.engine.ownership.clone();
        let server = runtime.spawn(application.run());
        Self {
            runtime,
            port,
            shutdown,
            server,
            ownership,
        }
    }

    /// Gone at once, as on kill -9: every task and connection dropped, nothing said to anyone.
    fn kill(self) {
        self.runtime.shutdown_background();
    }

    /// Graceful shutdown, waited for.
    fn stop(self) {
        self.shutdown.cancel();
        self.runtime.block_on(self.server).unwrap().unwrap();
    }
}

fn main() {
    // `BENCH_TIMING=1` prints the service's own stage times (`pushdeploy::timing` lines).
    if std::env::var_os("BENCH_TIMING").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter("pushdeploy::timing=debug")
            .with_writer(std::io::stderr)
            .init();
    }
    let root = tempfile::tempdir().unwrap();
    if std::env::var("BENCH_ONLY").as_deref() == Ok("sinks") {
        return sinks(root.path());
    }
    if std::env::var("BENCH_ONLY").as_deref() == Ok("pr") {
        return pull_requests(root.path());
    }
    let (settings, bare) = setup(&root.path().join("latency"), 1, Duration::ZERO);
    let url = format!("file://{}", bare.display());
    let mut latencies = latency(settings, &bare, 100);
    let cli = root.path().join("cli");
    git(root.path(), &["clone", "-q", &url, cli.to_str().unwrap()]);
    let mut floor = Vec::new();
    for run in 0..21 {
        let start = Instant::now();
        git(&cli, &["pull", "-q", "--ff-only"]);
        std::fs::write(
            cli.join("apps/p0/deployment.yaml"),
            format!(
                "spec:\n  image: registry.example/app0:{}-c # {{\"$imagepolicy\": \"flux-system:p0\"}}\n",
                1000 + run
            ),
        )
        .unwrap();
        git(&cli, &["commit", "-q", "-am", "cli"]);
        git(&cli, &["push", "-q", "origin", "main"]);
        floor.push(start.elapsed());
    }
    let (p50, p99) = (percentile(&mut latencies, 0.5), percentile(&mut latencies, 0.99));
    let floor = percentile(&mut floor, 0.5);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("100 notifications, each its own commit (coalescing window 0)");
    println!(
        "git CLI pull + edit + commit + push (floor, p50): {:>7.1} ms",
        ms(floor)
    );
    println!(
        "notification -> commit on remote: p50 {:>7.1} ms ({:.2}x floor, goal <= 2x; goal <= 50 ms), p99 {:>7.1} ms (goal <= 250 ms)",
        ms(p50),
        p50.as_secs_f64() / floor.as_secs_f64(),
        ms(p99)
    );
    if std::env::var("BENCH_BACKENDS").as_deref() != Ok("0") {
        backends(&root.path().join("backends"), floor);
    }
    burst(&root.path().join("burst"));
    sinks(root.path());
    pull_requests(root.path());
}

/// Pull-request mode against a direct write, in the same run: notification → the request on
/// the (fake) Forgejo proposing the tag (the branch pushed with its lease, the open request read
/// back from the platform, its title and body updated), against notification → commit on main.
fn pull_requests(root: &Path) {
    const RUNS: usize = 50;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let (settings, bare) = setup(&root.join("pr-direct"), 1, Duration::ZERO);
    let mut direct = latency(settings, &bare, RUNS);
    let (mut settings, bare) = setup(&root.join("pr-mode"), 1, Duration::ZERO);
    let forge = support::forge::FakeForge::start(support::forge::ForgeKind::Forgejo, &bare, "acme/gitops");
    let automation = settings.automations.values_mut().next().unwrap();
    automation.pull_request = Some(pushdeploy::config::PullRequestMode {
        provider: pushdeploy::forge::ForgeKind::Forgejo,
        transport: pushdeploy::config::Transport::Api(pushdeploy::forge::ForgeApi {
            kind: pushdeploy::forge::ForgeKind::Forgejo,
            base: forge.api_base(),
            repository: "acme/gitops".to_owned(),
            token: secrecy::SecretString::from(support::forge::FORGE_TOKEN.to_owned()),
            ca_pem: Vec::new(),
        }),
        branch: pushdeploy::config::BranchName::parse(pushdeploy::config::DEFAULT_BRANCH).unwrap(),
        title: None,
        body: None,
        labels: Vec::new(),
        reviewers: Vec::new(),
        draft: false,
        auto_merge: false,
        origin: Origin::default(),
    });
    let service = Service::start(settings);
    let mut proposed = Vec::new();
    for run in 1..=RUNS {
        let tag = format!("{run}-b");
        let body = event(&format!("pr-{run}"), "app0", &tag);
        let start = Instant::now();
        assert_eq!(post(service.port, &body), 200);
        let deadline = start + Duration::from_secs(30);
        // The request's title names the tag once the update reached the platform.
        while !forge
            .titles()
            .iter()
            .any(|title| title.ends_with(&format!(" to {tag}")))
        {
            assert!(
                Instant::now() < deadline,
                "notification {run} never reached the request"
            );
            std::thread::yield_now();
        }
        proposed.push(start.elapsed());
    }
    service.stop();
    // The platform's share, measured the same way: the two calls a proposal makes on an open
    // request (read its state, update its title and body), straight to the fake.
    let mut calls = Vec::new();
    let number = forge.pulls()[0].number;
    let pull_url = format!("{}/repos/acme/gitops/pulls/{number}", forge.api_base());
    let auth = format!("token {}", support::forge::FORGE_TOKEN);
    let headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    for run in 0..RUNS {
        let start = Instant::now();
        let read = support::forge::request("GET", &pull_url, &headers, None);
        let body = format!("{{\"title\":\"floor {run}\",\"body\":\"b\"}}");
        let updated = support::forge::request("PATCH", &pull_url, &headers, Some(&body));
        assert!(
            read.status == 200 && updated.status < 300,
            "{} {}",
            read.status,
            updated.status
        );
        calls.push(start.elapsed());
    }
    let platform = percentile(&mut calls, 0.5);
    assert_eq!(forge.pulls().len(), 1, "one request, updated {RUNS} times");
    assert!(forge.violations().is_empty(), "{:?}", forge.violations());
    let (direct_p50, direct_p99) = (percentile(&mut direct, 0.5), percentile(&mut direct, 0.99));
    let (pr_p50, pr_p99) = (percentile(&mut proposed, 0.5), percentile(&mut proposed, 0.99));
    println!(
        "notification -> commit on main: p50 {:>6.1} ms, p99 {:>6.1} ms; notification -> pull request updated on the (fake) Forgejo: p50 {:>6.1} ms ({:.2}x), p99 {:>6.1} ms ({RUNS} tags, one request); the fake's read + update alone: p50 {:>6.1} ms; pull-request mode less the platform's calls: {:.2}x the direct write",
        ms(direct_p50),
        ms(direct_p99),
        ms(pr_p50),
        pr_p50.as_secs_f64() / direct_p50.as_secs_f64(),
        ms(pr_p99),
        ms(platform),
        pr_p50.saturating_sub(platform).as_secs_f64() / direct_p50.as_secs_f64()
    );
}

/// The same latency without alert sinks and with a sink that never answers and hears of every
/// deployment (`successes: true`, so each push queues an alert for it): delivery runs beside
/// intake and writes, so the two should match.
fn sinks(root: &Path) {
    let hang = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hang_port = hang.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in hang.incoming().flatten() {
            held.push(stream); // accepted, read by nobody, never answered
        }
    });
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mut results = Vec::new();
    for with_sink in [false, true] {
        let (mut settings, bare) = setup(&root.join(format!("sinks-{with_sink}")), 1, Duration::ZERO);
        if with_sink {
            settings.notifications = pushdeploy::config::Notifications {
                sinks: vec![pushdeploy::config::AlertSink {
                    name: "hang".to_owned(),
                    kind: pushdeploy::config::SinkKind::Webhook {
                        url: format!("http://127.0.0.1:{hang_port}/hook"),
                        secret: secrecy::SecretString::from("bench-secret"),
                    },
                    successes: true,
                }],
                console_url: None,
                max_per_minute: 1000,
                ca_certificates: Vec::new(),
            };
        }
        let mut latencies = latency(settings, &bare, 100);
        results.push((percentile(&mut latencies, 0.5), percentile(&mut latencies, 0.99)));
    }
    let ((none_p50, none_p99), (hang_p50, hang_p99)) = (results[0], results[1]);
    println!(
        "notification -> commit, no alert sink: p50 {:>6.1} ms, p99 {:>6.1} ms; with a sink that hangs and hears every deployment: p50 {:>6.1} ms ({:.2}x), p99 {:>6.1} ms",
        ms(none_p50),
        ms(none_p99),
        ms(hang_p50),
        hang_p50.as_secs_f64() / none_p50.as_secs_f64(),
        ms(hang_p99)
    );
}

/// SQLite against PostgreSQL, in the same run: latency, accepted durable events/s, failover.
fn backends(root: &Path, floor: Duration) {
    let postgres = support::postgres::Postgres::start();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mut results = Vec::new();
    for backend in ["sqlite", "postgresql"] {
        let dir = root.join(backend);
        let (mut settings, bare) = setup(&dir.join("latency"), 1, Duration::ZERO);
        if backend == "postgresql" {
            settings.intake.journal_url = Some(postgres.url().into());
        }
        let mut latencies = latency(settings.clone(), &bare, 100);
        let (p50, p99) = (percentile(&mut latencies, 0.5), percentile(&mut latencies, 0.99));
        settings.data_dir = dir.join("throughput");
        let rate = throughput(settings, 3);
        println!(
            "journal {backend:<10}: notification -> commit p50 {:>6.1} ms ({:.2}x floor), p99 {:>6.1} ms; accepted durable events {:>6.0}/s (8 senders, 3 s)",
            ms(p50),
            p50.as_secs_f64() / floor.as_secs_f64(),
            ms(p99),
            rate
        );
        results.push((p50, rate));
    }
    let ((sqlite_p50, sqlite_rate), (pg_p50, pg_rate)) = (results[0], results[1]);
    println!(
        "postgresql / sqlite: p50 {:.2}x, events/s {:.2}x",
        pg_p50.as_secs_f64() / sqlite_p50.as_secs_f64(),
        pg_rate / sqlite_rate
    );
    let (mut settings, _) = setup(&root.join("failover"), 1, Duration::ZERO);
    settings.intake.journal_url = Some(postgres.url().into());
    let times: Vec<Duration> = (0..5)
        .map(|round| failover(&settings, &root.join(format!("failover-{round}"))))
        .collect();
    let mut sorted = times.clone();
    println!(
        "failover (the owner's runtime dropped, as on kill -9; lease tick 1 s): p50 {:.0} ms, max {:.0} ms over {} rounds (goal <= 5000 ms)",
        ms(percentile(&mut sorted, 0.5)),
        ms(*sorted.last().unwrap()),
        times.len()
    );
}

/// 200 tags across 50 policies within a second (four per policy, in random order), with the
/// default 1 s coalescing window: time until every policy's newest tag is on the remote, and
/// how many commits that took (goal: ≤ 3 s, ≤ 10 commits, none lost).
fn burst(root: &Path) {
    let (settings, bare) = setup(root, 50, Duration::from_secs(1));
    let service = Service::start(settings);
    let port = service.port;
    let commits_before: usize = git(&bare, &["rev-list", "--count", "main"])
        .trim()
        .parse()
        .unwrap();
    let mut bodies: Vec<String> = (0..50)
        .flat_map(|p| {
            (1..=4).map(move |n| event(&format!("burst-{p}-{n}"), &format!("app{p}"), &format!("{n}-x")))
        })
        .collect();
    bodies.sort_by_key(|body| (body.len() * 7919 + body.bytes().map(usize::from).sum::<usize>()) % 101);
    let start = Instant::now();
    let senders: Vec<_> = bodies
        .chunks(20)
        .map(|chunk| {
            let chunk = chunk.to_vec();
            std::thread::spawn(move || chunk.iter().for_each(|body| assert_eq!(post(port, body), 200)))
        })
        .collect();
    for sender in senders {
        sender.join().unwrap();
    }
    let sent = start.elapsed();
    let all_landed = || {
        (0..50).all(|p| {
            git(&bare, &["show", &format!("main:apps/p{p}/deployment.yaml")]).contains(&format!("app{p}:4-x"))
        })
    };
    let deadline = start + Duration::from_secs(30);
    while !all_landed() {
        assert!(Instant::now() < deadline, "the burst did not land within 30 s");
    }
    let landed = start.elapsed();
    let commits: usize = git(&bare, &["rev-list", "--count", "main"])
        .trim()
        .parse::<usize>()
        .unwrap()
        - commits_before;
    service.stop();
    println!(
        "burst: 200 notifications for 50 policies sent in {:.0} ms; all newest tags on the remote after {:.0} ms in {commits} commit(s) (goal <= 3000 ms, <= 10 commits)",
        sent.as_secs_f64() * 1e3,
        landed.as_secs_f64() * 1e3
    );
}
