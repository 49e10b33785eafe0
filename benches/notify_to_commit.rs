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

fn main() {
    let root = tempfile::tempdir().unwrap();
    let seed = root.path().join("seed");
    std::fs::create_dir_all(seed.join("apps/mcp")).unwrap();
    std::fs::write(
        seed.join("apps/mcp/deployment.yaml"),
        "spec:\n  image: registry.example/app:0-a # {\"$imagepolicy\": \"flux-system:mcp\"}\n",
    )
    .unwrap();
    git(&seed, &["init", "-q"]);
    git(&seed, &["add", "-A"]);
    git(&seed, &["commit", "-q", "-m", "seed"]);
    let bare = root.path().join("remote.git");
    git(
        root.path(),
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
        data_dir: root.path().join("data"),
        server: ServerSettings {
            listen: "127.0.0.1:0".parse().unwrap(),
            tls: None,
        },
        repositories: Default::default(),
        policies: Default::default(),
        automations: Default::default(),
        intake: IntakeSettings {
            registry_authorization: vec!["Bearer bench".to_owned().into()],
            forgejo_secrets: vec![],
            body_limit: 1 << 20,
            coalesce_window: Duration::ZERO,
            journal_max_age: Duration::from_secs(3600),
            journal_max_count: 1000,
        },
        api: Default::default(),
        trust_notifications: true,
    };
    let image = ImageRef::parse("registry.example/app").unwrap();
    let repository = ImageRepository {
        key: key("flux-system:mcp"),
        image,
        interval: Duration::from_secs(3600),
        insecure: false,
        ca_files: vec![],
        ca_pems: vec![],
        credentials: None,
        exclusion_list: vec![],
        page_size: 1000,
        origin: Origin::default(),
    };
    let policy = Policy::new(
        Some(TagFilter::new("^(?P<n>[0-9]+)-", "$n").unwrap()),
        Rule::Numerical(Order::Asc),
    );
    settings.repositories.insert(key("flux-system:mcp"), repository);
    settings.policies.insert(
        key("flux-system:mcp"),
        ImagePolicy {
            key: key("flux-system:mcp"),
            repository: key("flux-system:mcp"),
            policy,
            origin: Origin::default(),
        },
    );
    let automation = Automation {
        key: key("flux-system:mcp"),
        git: GitRemote {
            url: url.clone(),
            auth: GitAuth::None,
        },
        checkout_branch: "main".into(),
        push_branch: "main".into(),
        author: Author {
            name: "bench".into(),
            email: "b@e".into(),
        },
        message_template: None,
        update_path: "./apps/mcp".into(),
        interval: Duration::from_secs(3600),
        policies: vec![key("flux-system:mcp")],
        origin: Origin::default(),
    };
    settings.automations.insert(key("flux-system:mcp"), automation);

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
    let head = || {
        std::fs::read_to_string(bare.join("refs/heads/main"))
            .ok()
            .map(|text| text.trim().to_owned())
            .or_else(|| Some(git(&bare, &["rev-parse", "main"]).trim().to_owned()))
    };

    let mut latencies = Vec::new();
    for run in 1..=100 {
        let before = head();
        let body = format!(
            r#"{{"events":[{{"id":"bench-{run}","action":"push","target":{{"mediaType":"application/vnd.oci.image.manifest.v1+json","repository":"app","tag":"{run}-b","url":"https://registry.example/v2/app/manifests/x"}}}}]}}"#
        );
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
            cli.join("apps/mcp/deployment.yaml"),
            format!(
                "spec:\n  image: registry.example/app:{}-c # {{\"$imagepolicy\": \"flux-system:mcp\"}}\n",
                1000 + run
            ),
        )
        .unwrap();
        git(&cli, &["commit", "-q", "-am", "cli"]);
        git(&cli, &["push", "-q", "origin", "main"]);
        floor.push(start.elapsed());
    }
    shutdown.trigger();
    runtime.block_on(server).unwrap().unwrap();
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
}
