//! Notification arrival → commit visible on the remote, over 100 notifications to a running
//! service (in-process, real HTTP on loopback, file:// bare remote), p50/p99, against the git CLI
//! doing the same edit + commit + push (the floor) in the same run. Registry confirmation is
//! switched off here (quickstart's trust mode) so that the pipeline itself is measured; with a
//! registry it adds one manifest HEAD. Run: `cargo bench --bench notify_to_commit`.
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

/// The service in-process on its own runtime, with real HTTP on loopback.
struct Service {
    runtime: tokio::runtime::Runtime,
    port: u16,
    shutdown: tokio_util::sync::CancellationToken,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
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
        let server = runtime.spawn(application.run());
        Self {
            runtime,
            port,
            shutdown,
            server,
        }
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
    let (settings, bare) = setup(&root.path().join("latency"), 1, Duration::ZERO);
    let url = format!("file://{}", bare.display());
    let service = Service::start(settings);
    let port = service.port;
    let head = || {
        std::fs::read_to_string(bare.join("refs/heads/main"))
            .ok()
            .map(|text| text.trim().to_owned())
            .or_else(|| Some(git(&bare, &["rev-parse", "main"]).trim().to_owned()))
    };

    let mut latencies = Vec::new();
    for run in 1..=100 {
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
    service.stop();
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
    burst(&root.path().join("burst"));
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
