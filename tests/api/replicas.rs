//! Three `pushdeploy serve` replicas on one real PostgreSQL journal (a throwaway cluster), a real
//! registry and five bare remotes: the work is shared by advisory-lock leases, every remote has
//! one writer at a time, and the shards of a replica killed with SIGKILL move to the others.

use crate::support::app::{App, request};
use crate::support::git::{Remote, git};
use crate::support::postgres::Postgres;
use crate::support::registry::{Options, Registry};
use crate::support::wait_for;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

pub(crate) const NOTIFY: &str = "Bearer notify-s3cret-token";
pub(crate) const API_TOKEN: &str = "api-s3cret-token";
pub(crate) const REMOTES: usize = 5;
const POLICIES: usize = 10;
const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// Namespace `ns<i>`: image repository `app` (`<registry>/app<i>`), policies `p0`…`p9` (tags
/// `p<j>-<n>`, highest `n` wins), automation `deploy` writing remote `i`.
pub(crate) fn config(registry: &str, remotes: &[Remote], data: &Path) -> String {
    config_scanning(registry, remotes, data, "1h")
}

/// `config` with the image repositories scanned every `interval`.
pub(crate) fn config_scanning(registry: &str, remotes: &[Remote], data: &Path, interval: &str) -> String {
    let mut text = format!(
        "dataDir: {}
server:
  listen: 127.0.0.1:{{port}}
intake:
  registry:
    authorization: [{{fromEnv: NOTIFY_AUTH}}]
  coalesceWindow: 0s
  journal:
    url: {{fromEnv: JOURNAL_URL}}
api:
  tokens: [{{name: ops, scope: admin, token: {{fromEnv: API_TOKEN}}}}]
imageRepositories:
",
        data.display()
    );
    for i in 0..REMOTES {
        text.push_str(&format!(
            "  - {{name: app, namespace: ns{i}, image: {registry}/app{i}, insecure: true, interval: {interval}}}\n"
        ));
    }
    text.push_str("imagePolicies:\n");
    for i in 0..REMOTES {
        for j in 0..POLICIES {
            text.push_str(&format!(
                "  - {{name: p{j}, namespace: ns{i}, imageRepositoryRef: {{name: app}}, filterTags: {{pattern: '^p{j}-(?P<n>[0-9]+)$', extract: '$n'}}, policy: {{numerical: {{order: asc}}}}}}\n"
            ));
        }
    }
    text.push_str("imageUpdateAutomations:\n");
    for (i, remote) in remotes.iter().enumerate() {
        text.push_str(&format!(
            "  - {{name: deploy, namespace: ns{i}, git: {{url: '{}', commit: {{author: {{name: bot, email: bot@example.com}}}}}}, update: {{path: .}}}}\n",
            remote.url()
        ));
    }
    text
}

/// Remote `i`'s tree: one file per policy with its marker.
pub(crate) fn seed(dir: &Path, registry: &str, i: usize) -> std::path::PathBuf {
    let tree = dir.join(format!("seed{i}"));
    std::fs::create_dir_all(tree.join("apps")).unwrap();
    for j in 0..POLICIES {
        std::fs::write(
            tree.join(format!("apps/p{j}.yaml")),
            format!(
                "kind: Deployment\nimage: {registry}/app{i}:p{j}-0 # {{\"$imagepolicy\": \"ns{i}:p{j}\"}}\n"
            ),
        )
        .unwrap();
    }
    tree
}

/// Tag the `base` manifest of `app<i>` as `tag` through the registry's API (a push of an
/// existing image under a new tag, as `skopeo copy` of it would do, without the layers).
fn tag(registry: &Registry, i: usize, tag: &str, manifest: &str) {
    let port: u16 = registry.host().rsplit(':').next().unwrap().parse().unwrap();
    let (status, body) = request(
        port,
        "PUT",
        &format!("/v2/app{i}/manifests/{tag}"),
        &[("Content-Type", MANIFEST)],
        manifest.as_bytes(),
    )
    .unwrap();
    assert_eq!(status, 201, "tagging app{i}:{tag}: {body}");
}

fn manifest(registry: &Registry, i: usize) -> String {
    let port: u16 = registry.host().rsplit(':').next().unwrap().parse().unwrap();
    let (status, body) = request(
        port,
        "GET",
        &format!("/v2/app{i}/manifests/base"),
        &[("Accept", MANIFEST)],
        b"",
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

fn notification(id: &str, registry: &str, i: usize, tag: &str) -> String {
    serde_json::json!({"events": [{"id": id, "action": "push", "target": {
        "mediaType": MANIFEST, "repository": format!("app{i}"), "tag": tag,
        "url": format!("http://{registry}/v2/app{i}/manifests/{tag}")}}]})
    .to_string()
}

fn status(app: &App) -> Option<serde_json::Value> {
    let (code, body) = app.get("/status")?;
    (code == 200).then(|| serde_json::from_str(&body).ok())?
}

/// What each live replica says it owns: replica index → shard names.
fn owned(apps: &[Option<App>]) -> Option<BTreeMap<usize, BTreeSet<String>>> {
    let mut owned = BTreeMap::new();
    for (index, app) in apps.iter().enumerate() {
        let Some(app) = app else { continue };
        let status = status(app)?;
        let shards: BTreeSet<String> = status["ownership"]["owned"]
            .as_array()?
            .iter()
            .filter_map(|name| name.as_str().map(str::to_owned))
            .collect();
        owned.insert(index, shards);
    }
    Some(owned)
}

/// Every shard owned by exactly one live replica, and every live replica within its share.
pub(crate) fn settled(apps: &[Option<App>]) -> Option<BTreeMap<usize, BTreeSet<String>>> {
    let owned = owned(apps)?;
    let live = owned.len();
    let share = REMOTES.div_ceil(live);
    let all: Vec<&String> = owned.values().flatten().collect();
    let distinct: BTreeSet<&String> = all.iter().copied().collect();
    (all.len() == REMOTES && distinct.len() == REMOTES && owned.values().all(|shards| shards.len() <= share))
        .then_some(owned)
}

/// The `pushed` lines of a replica's log: (automation, commit).
fn pushes(app: &App) -> Vec<(String, String)> {
    app.logs()
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["fields"]["message"] == "pushed")
        .filter_map(|line| {
            Some((
                line["fields"]["automation"].as_str()?.to_owned(),
                line["fields"]["commit"].as_str()?.to_owned(),
            ))
        })
        .collect()
}

/// `pushdeploy_engine_wakes_total{by="notify"}` of a replica.
fn notify_wakes(app: &App) -> f64 {
    let (_, metrics) = app.get("/metrics").unwrap();
    metrics
        .lines()
        .filter(|line| line.starts_with("pushdeploy_engine_wakes_total{by=\"notify\"}"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn all_markers_at(remotes: &[Remote], round: usize) -> bool {
    remotes.iter().all(|remote| {
        (0..POLICIES).all(|j| {
            remote
                .show("main", &format!("apps/p{j}.yaml"))
                .contains(&format!(":p{j}-{round} #"))
        })
    })
}

/// Every commit on remote `i` after the seed changes something, and came from one replica at a
/// time: the pushers, in history order, form contiguous runs (no interleaving). A commit in no
/// log is `unlogged`'s: a replica killed with SIGKILL can push and die before it logs.
fn check_history(
    remote: &Remote,
    i: usize,
    pusher_of: &BTreeMap<String, usize>,
    unlogged: Option<usize>,
) -> Vec<usize> {
    let commits: Vec<String> = git(&remote.bare, &["rev-list", "--reverse", "main"])
        .lines()
        .skip(1)
        .map(str::to_owned)
        .collect();
    let mut runs: Vec<usize> = Vec::new();
    for commit in &commits {
        let changed = git(
            &remote.bare,
            &["diff", "--name-only", &format!("{commit}^"), commit],
        );
        assert!(
            !changed.trim().is_empty(),
            "remote {i}: commit {commit} changes nothing (a duplicate)"
        );
        let pusher = pusher_of
            .get(commit)
            .copied()
            .or(unlogged)
            .unwrap_or_else(|| panic!("remote {i}: commit {commit} is in no replica's log"));
        if runs.last() != Some(&pusher) {
            assert!(
                !runs.contains(&pusher),
                "remote {i}: replica {pusher} pushed again after another replica took over: {runs:?}"
            );
            runs.push(pusher);
        }
    }
    runs
}

#[test]
fn three_replicas_share_fifty_policies_over_five_remotes_and_a_killed_owners_remotes_move() {
    let dir = tempfile::tempdir().unwrap();
    let postgres = Postgres::start();
    let registry = Registry::start(&dir.path().join("registry"), Options::default());
    let host = registry.host();
    let remotes: Vec<Remote> = (0..REMOTES)
        .map(|i| {
            let parent = dir.path().join(format!("remote{i}"));
            std::fs::create_dir_all(&parent).unwrap();
            Remote::seeded(&parent, &seed(dir.path(), &host, i))
        })
        .collect();
    let manifests: Vec<String> = (0..REMOTES)
        .map(|i| {
            registry.push(&format!("app{i}"), "base", &format!("v{i}"));
            manifest(&registry, i)
        })
        .collect();
    let url = postgres.url();
    let env = [
        ("NOTIFY_AUTH", NOTIFY),
        ("API_TOKEN", API_TOKEN),
        ("JOURNAL_URL", url.as_str()),
    ];
    let mut apps: Vec<Option<App>> = (0..3)
        .map(|r| {
            let home = dir.path().join(format!("replica{r}"));
            std::fs::create_dir_all(&home).unwrap();
            let text = config(&host, &remotes, &home.join("data"));
            Some(App::start(&home, &text, &env))
        })
        .collect();
    let before = wait_for(
        "the five shards spread over the three replicas",
        Duration::from_secs(60),
        || settled(&apps),
    );
    assert!(
        before.values().all(|shards| !shards.is_empty()),
        "every replica owns a share: {before:?}"
    );

    // Round 1 and 2: every policy's next tag, notifications sprayed round-robin over the
    // three replicas (whoever owns the remote writes it).
    let headers = [("Authorization", NOTIFY), ("Content-Type", "application/json")];
    let mut sent = 0;
    let spray = |apps: &[Option<App>], round: usize, sent: &mut usize| {
        for (i, manifest) in manifests.iter().enumerate() {
            for j in 0..POLICIES {
                let name = format!("p{j}-{round}");
                tag(&registry, i, &name, manifest);
                let live: Vec<&App> = apps.iter().flatten().collect();
                let app = live[*sent % live.len()];
                *sent += 1;
                let body = notification(&format!("r{round}-{i}-{j}"), &host, i, &name);
                let (code, answer) = app.post("/hooks/registry", &headers, body.as_bytes());
                assert_eq!(
                    (code, answer.as_str()),
                    (200, r#"{"accepted":1,"duplicates":0,"ignored":0}"#)
                );
            }
        }
    };
    spray(&apps, 1, &mut sent);
    spray(&apps, 2, &mut sent);
    wait_for("every marker at round 2", Duration::from_secs(120), || {
        all_markers_at(&remotes, 2).then_some(())
    });
    // Two thirds of the notifications reached a replica that does not own their remote: the
    // owners heard of them through PostgreSQL's NOTIFY (the 5 s full read is only the fallback).
    let notified: f64 = apps.iter().flatten().map(notify_wakes).sum();
    assert!(notified > 0.0, "no replica was woken by a NOTIFY");

    // The owner of remote 0 is killed mid-stream: round 3 is sprayed, the owner dies after
    // its first few acknowledgements, round 4 follows on the survivors.
    let shard0 = format!("git {} main", remotes[0].url());
    let victim = *before
        .iter()
        .find(|(_, shards)| shards.contains(&shard0))
        .map(|(index, _)| index)
        .unwrap();
    let mut victim_pushes = Vec::new();
    for j in 0..POLICIES {
        let name = format!("p{j}-3");
        tag(&registry, 0, &name, &manifests[0]);
        let body = notification(&format!("r3-0-{j}"), &host, 0, &name);
        // Half to the victim itself, half to the others: all acknowledged before the kill
        // (the victim's) or after it (the survivors').
        let target = if j < POLICIES / 2 {
            victim
        } else {
            (victim + 1) % 3
        };
        if j == POLICIES / 2 {
            let app = apps[victim].as_mut().unwrap();
            app.kill9();
            victim_pushes = pushes(app);
            apps[victim] = None;
        }
        let app = apps[target].as_ref().unwrap();
        let (code, answer) = app.post("/hooks/registry", &headers, body.as_bytes());
        assert_eq!(
            (code, answer.as_str()),
            (200, r#"{"accepted":1,"duplicates":0,"ignored":0}"#)
        );
    }
    let killed_at = Instant::now();
    let after = wait_for("the victim's shards to move", Duration::from_secs(60), || {
        settled(&apps)
    });
    let failover = killed_at.elapsed();
    eprintln!("failover: the killed replica's shards were owned again after {failover:?}");
    assert!(after.values().any(|shards| shards.contains(&shard0)));
    wait_for(
        "remote 0 at round 3 after the failover",
        Duration::from_secs(120),
        || {
            remotes[0..1]
                .iter()
                .all(|remote| {
                    (0..POLICIES).all(|j| {
                        remote
                            .show("main", &format!("apps/p{j}.yaml"))
                            .contains(&format!(":p{j}-3 #"))
                    })
                })
                .then_some(())
        },
    );
    spray(&apps, 4, &mut sent);
    wait_for(
        "every marker at round 4 on the survivors",
        Duration::from_secs(120),
        || all_markers_at(&remotes, 4).then_some(()),
    );

    // Every acknowledged event finished, none failed; every commit is someone's, changes
    // something, and each remote had one writer at a time.
    wait_for(
        "no unfinished event in the shared journal",
        Duration::from_secs(60),
        || {
            (postgres.psql(
                "pushdeploy",
                "SELECT count(*) FROM events WHERE state IN ('received', 'confirmed', 'decided')",
            ) == "0")
                .then_some(())
        },
    );
    let failed = postgres.psql(
        "pushdeploy",
        "SELECT coalesce(string_agg(tag || ': ' || coalesce(reason, ''), '; '), '') FROM events WHERE state = 'failed'",
    );
    assert_eq!(failed, "", "no event failed");
    let acknowledged = postgres.psql("pushdeploy", "SELECT count(*) FROM events");
    assert_eq!(
        acknowledged,
        (sent + POLICIES).to_string(),
        "every acknowledged notification is journaled once"
    );
    // The live replicas log each push just after it lands: wait until every remote's tip is
    // in some log.
    let pusher_of = wait_for("every tip in a replica's log", Duration::from_secs(30), || {
        let mut pusher_of = BTreeMap::new();
        for (commit_owner, commits) in apps
            .iter()
            .enumerate()
            .filter_map(|(index, app)| Some((index, pushes(app.as_ref()?))))
            .chain(std::iter::once((victim, victim_pushes.clone())))
        {
            for (_, commit) in commits {
                assert!(
                    pusher_of
                        .insert(commit.clone(), commit_owner)
                        .is_none_or(|other| other == commit_owner),
                    "commit {commit} pushed by two replicas"
                );
            }
        }
        remotes
            .iter()
            .all(|remote| pusher_of.contains_key(&remote.head("main")))
            .then_some(pusher_of)
    });
    for (i, remote) in remotes.iter().enumerate() {
        let shard = format!("git {} main", remote.url());
        let victim_owned = before[&victim].contains(&shard);
        let runs = check_history(remote, i, &pusher_of, victim_owned.then_some(victim));
        if i == 0 {
            assert!(
                runs.len() <= 2,
                "remote 0: the victim, then one survivor: {runs:?}"
            );
            assert_ne!(runs.last(), Some(&victim), "the survivors wrote remote 0 last");
        } else {
            let owner = after
                .iter()
                .find(|(_, shards)| shards.contains(&format!("git {} main", remote.url())));
            assert!(owner.is_some(), "remote {i} is owned: {after:?}");
        }
    }

    // Manual calls reach whichever replica a Service picks: a non-owner checks the token and
    // forwards the call to the owner, whose answer comes back as it is.
    let shard1 = format!("git {} main", remotes[1].url());
    let owner = *after
        .iter()
        .find(|(_, shards)| shards.contains(&shard1))
        .unwrap()
        .0;
    let other = *after.keys().find(|index| **index != owner).unwrap();
    let (owner, other) = (apps[owner].as_ref().unwrap(), apps[other].as_ref().unwrap());
    let auth = format!("Bearer {API_TOKEN}");
    let (code, body) = other.post("/api/v1/policies/ns1/p0/pin", &[("Authorization", &auth)], b"");
    assert_eq!(code, 200, "a pin through a non-owner: {body}");
    let pinned = |app: &App| status(app).unwrap()["policies"]["ns1/p0"]["pinned"].clone();
    assert_eq!(pinned(owner), "p0-4", "the owner holds the pin");
    let audited = postgres.psql(
        "pushdeploy",
        "SELECT count(*) FROM audit WHERE request LIKE '%/ns1/p0/pin%'",
    );
    assert_eq!(audited, "1", "audited once, by the owner");
    let (code, body) = other.post(
        "/api/v1/policies/ns1/p0/pin",
        &[("Authorization", "Bearer wrong")],
        b"",
    );
    assert_eq!(code, 401, "a bad token is refused where it arrives: {body}");
    let (code, body) = other.post(
        "/api/v1/policies/ns1/p0/pin",
        &[
            ("Authorization", &auth),
            ("X-Pushdeploy-Forwarded-By", "elsewhere"),
        ],
        b"",
    );
    assert_eq!(code, 503, "a call forwarded once is not forwarded again: {body}");
    assert!(body.contains("another replica owns"), "{body}");
    let (code, body) = other.post("/api/v1/policies/ns1/p0/resume", &[("Authorization", &auth)], b"");
    assert_eq!(code, 200, "{body}");
    assert_eq!(pinned(owner), serde_json::Value::Null, "resumed on the owner");
    // A read of one policy is the owner's too: only the owner scans (and confirms) its tags.
    let read = |app: &App| {
        let (code, body) = crate::support::app::request(
            app.port,
            "GET",
            "/api/v1/policies/ns1/p0",
            &[("Authorization", &auth)],
            b"",
        )
        .unwrap();
        assert_eq!(code, 200, "{body}");
        serde_json::from_str::<serde_json::Value>(&body).unwrap()
    };
    assert_eq!(
        read(other)["selected"],
        "p0-4",
        "the owner's pick, through a non-owner"
    );
    assert_eq!(read(owner)["selected"], "p0-4");
    // The list is merged: every policy as its owner sees it, whichever replica answers.
    for app in [owner, other] {
        let (code, body) = crate::support::app::request(
            app.port,
            "GET",
            "/api/v1/policies",
            &[("Authorization", &auth)],
            b"",
        )
        .unwrap();
        assert_eq!(code, 200, "{body}");
        let list: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
        assert_eq!(list.len(), REMOTES * POLICIES);
        for entry in &list {
            let name = entry["name"].as_str().unwrap();
            assert_eq!(
                entry["selected"],
                format!("{name}-4"),
                "{}/{name} through replica {}",
                entry["namespace"],
                app.port
            );
        }
    }

    // `/status` names the writers and repositories each replica owns.
    for (index, shards) in &after {
        let ownership = status(apps[*index].as_ref().unwrap()).unwrap()["ownership"].clone();
        for (i, remote) in remotes.iter().enumerate() {
            let owns = shards.contains(&format!("git {} main", remote.url()));
            let writer = serde_json::Value::String(format!("{} main", remote.url()));
            let repository = serde_json::Value::String(format!("ns{i}/app"));
            assert_eq!(
                ownership["writers"].as_array().unwrap().contains(&writer),
                owns,
                "{ownership}"
            );
            assert_eq!(
                ownership["repositories"]
                    .as_array()
                    .unwrap()
                    .contains(&repository),
                owns,
                "{ownership}"
            );
        }
    }

    // PostgreSQL restarts under the replicas: intake refuses on each while it is down (never a
    // 2xx without the journal), and they take their shards back without a restart of their own.
    postgres.stop_server();
    for (index, app) in apps.iter().enumerate() {
        let Some(app) = app else { continue };
        let body = notification(&format!("down-{index}"), &host, 1, "p1-5");
        let (code, answer) = app.post("/hooks/registry", &headers, body.as_bytes());
        assert_eq!(code, 503, "{answer}");
    }
    wait_for(
        "every replica to drop its shards",
        Duration::from_secs(30),
        || {
            apps.iter()
                .flatten()
                .all(|app| {
                    app.get("/readyz")
                        .and_then(|(_, body)| serde_json::from_str::<serde_json::Value>(&body).ok())
                        .is_some_and(|body| body["owns"].as_array().is_some_and(Vec::is_empty))
                })
                .then_some(())
        },
    );
    postgres.start_server();
    wait_for(
        "the shards owned again after the restart",
        Duration::from_secs(60),
        || settled(&apps),
    );
    spray(&apps, 5, &mut sent);
    wait_for(
        "every marker at round 5 after the restart",
        Duration::from_secs(120),
        || all_markers_at(&remotes, 5).then_some(()),
    );
    drop(postgres);
}
