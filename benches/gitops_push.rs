//! One update pushed to a 10,000-file repository (file:// bare remote): pushdeploy's warm working
//! copy (fetch + reset + apply + commit + push) against, in the same run, `git clone --depth 1`
//! of the same repository and the git CLI doing the same edit + commit + push in a warm clone
//! (the floor). Run: `cargo bench --bench gitops_push`.
// A benchmark that cannot set up should stop loudly.
#![allow(clippy::unwrap_used)]

use pushdeploy::config::{Author, Automation, GitAuth, GitRemote, Origin};
use pushdeploy::domain::ObjectKey;
use pushdeploy::gitops::{Intent, Outcome, Writers};
use pushdeploy::plan::{Overrides, PolicyState, Snapshot, Trigger, plan};
use pushdeploy::policy::{Order, Policy, Rule, TagFilter};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
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
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

fn main() {
    // `BENCH_TIMING=1` prints the writer's own stage times (`pushdeploy::timing` lines).
    if std::env::var_os("BENCH_TIMING").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter("pushdeploy::timing=debug")
            .with_writer(std::io::stderr)
            .init();
    }
    let root = tempfile::tempdir().unwrap();
    let seed = root.path().join("seed");
    for index in 0..10_000 {
        let dir = seed.join(format!("apps/app{:03}", index / 100));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join(format!("cm{index}.yaml")),
            format!("kind: ConfigMap\nmetadata:\n  name: cm{index}\n"),
        )
        .unwrap();
    }
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

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let automation = Arc::new(Automation {
        key: ObjectKey::parse("flux-system:mcp").unwrap(),
        git: GitRemote {
            url: url.clone(),
            auth: GitAuth::None,
        },
        checkout_branch: "main".into(),
        push_branch: "main".into(),
        author: Author {
            name: "bench".into(),
            email: "bench@example.net".into(),
        },
        message_template: None,
        message_template_values: Default::default(),
        signing_key: None,
        push_refspec: None,
        push_options: Default::default(),
        pull_request: None,
        suspended: false,
        update_path: "./apps/mcp".into(),
        interval: Duration::from_secs(60),
        policies: vec![ObjectKey::parse("flux-system:mcp").unwrap()],
        origin: Origin::default(),
    });
    let _inside = runtime.enter();
    let writers = Writers::new(
        root.path().join("data"),
        Duration::ZERO,
        Arc::new(Overrides::default()),
    );
    let handle = writers.handle(&automation);
    let policy_key = ObjectKey::parse("flux-system:mcp").unwrap();
    let policy = Policy::new(
        Some(TagFilter::new(r"^(?P<run>\d+)-b$", "$run").unwrap()),
        Rule::Numerical(Order::Asc),
    );
    let submit = |run: usize| {
        // Planned as the engine plans a confirmed push (`plan` is the only constructor).
        let tags = vec![format!("{run}-b")];
        let (selected, overrides) = (BTreeMap::new(), Overrides::default());
        let snapshot = Snapshot {
            policies: vec![PolicyState {
                key: &policy_key,
                image: "registry.example/app".into(),
                policy: &policy,
                automations: vec![&automation.key],
                digests: None,
            }],
            tags: &tags,
            selected: &selected,
            overrides: &overrides,
        };
        let trigger = Trigger::Push {
            tag: &tags[0],
            cause: "bench".into(),
        };
        let intent: Intent = plan(&snapshot, &trigger).intents.pop().expect("one intent");
        runtime.block_on(handle.submit(Arc::clone(&automation), intent))
    };
    assert!(matches!(submit(1), Outcome::Pushed { .. }), "warm-up push");
    let mut ours = Vec::new();
    let mut floor = Vec::new();
    let mut clones = Vec::new();
    let cli = root.path().join("cli");
    git(root.path(), &["clone", "-q", &url, cli.to_str().unwrap()]);
    for run in 2..23 {
        let start = Instant::now();
        assert!(matches!(submit(run), Outcome::Pushed { .. }));
        ours.push(start.elapsed());

        let start = Instant::now();
        git(&cli, &["pull", "-q", "--ff-only"]);
        std::fs::write(
            cli.join("apps/mcp/deployment.yaml"),
            format!(
                "spec:\n  image: registry.example/app:{run}-c # {{\"$imagepolicy\": \"flux-system:mcp\"}}\n"
            ),
        )
        .unwrap();
        git(&cli, &["commit", "-q", "-am", "cli bump"]);
        git(&cli, &["push", "-q", "origin", "main"]);
        floor.push(start.elapsed());

        if run % 5 == 0 {
            let target = root.path().join(format!("clone{run}"));
            let start = Instant::now();
            git(
                root.path(),
                &["clone", "-q", "--depth", "1", &url, target.to_str().unwrap()],
            );
            clones.push(start.elapsed());
            std::fs::remove_dir_all(target).unwrap();
        }
    }
    let (ours, floor, clone) = (median(ours), median(floor), median(clones));
    println!("repository: 10,000 files; one setter update per run; medians of 21 runs");
    println!(
        "git CLI pull + edit + commit + push (floor): {:>8.1} ms",
        ms(floor)
    );
    println!(
        "git clone --depth 1:                         {:>8.1} ms",
        ms(clone)
    );
    println!(
        "pushdeploy warm working copy:                {:>8.1} ms  ({:.2}x floor, goal <= 2x; {:.2}x clone, goal <= 0.1x; goal <= 100 ms)",
        ms(ours),
        ours.as_secs_f64() / floor.as_secs_f64(),
        ours.as_secs_f64() / clone.as_secs_f64()
    );
}
