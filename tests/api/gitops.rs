//! The gitops writer against real git: bare remotes over file:// and over a real sshd.

use crate::support::git::{Remote, git, gitops_fixture};
use crate::support::sshd::Sshd;
use pushdeploy::config::{Author, Automation, GitAuth, GitRemote, MessageTemplate, Origin};
use pushdeploy::domain::ObjectKey;
use pushdeploy::gitops::{Intent, Outcome, Workspace, Writers, check_write_access};
use pushdeploy::plan::{Overrides, PolicyState, Snapshot, Trigger, plan};
use pushdeploy::policy::{Order, Policy, Rule, TagFilter};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const IMAGE: &str = "registry.goldentooth.net/goldentooth-mcp";
const TAG: &str = "2-f62ba56a999ec99a7375fed529acf4b336691bdb";
const DEPLOYMENT: &str = "apps/mcp/deployment.yaml";
const FLUX_TEMPLATE: &str =
    "chore(flux): update mcp image to {{range .Changed.Changes}}{{.NewValue}}{{end}}\n";

fn key(text: &str) -> ObjectKey {
    ObjectKey::parse(text).unwrap()
}

pub(crate) fn automation(url: String, auth: GitAuth) -> Arc<Automation> {
    Arc::new(Automation {
        key: key("flux-system:mcp"),
        git: GitRemote { url, auth },
        checkout_branch: "main".into(),
        push_branch: "main".into(),
        author: Author {
            name: "fluxcdbot".into(),
            email: "fluxcdbot@users.noreply.github.com".into(),
        },
        message_template: Some(MessageTemplate::parse(FLUX_TEMPLATE, Origin::default()).unwrap()),
        message_template_values: Default::default(),
        signing_key: None,
        push_refspec: None,
        push_options: Default::default(),
        pull_request: None,
        suspended: false,
        update_path: "./apps/mcp".into(),
        interval: Duration::from_secs(60),
        policies: vec![key("flux-system:mcp")],
        origin: Origin::default(),
    })
}

fn mcp_policy() -> Policy {
    Policy::new(
        Some(TagFilter::new("^(?P<num>[0-9]+)-[a-f0-9]+$", "$num").unwrap()),
        Rule::Numerical(Order::Asc),
    )
}

/// What the engine plans for `automation` when `tag` is pushed (`plan::plan`, the only
/// constructor of an intent): automatic, cause `webhook`.
pub(crate) fn intent(automation: &Arc<Automation>, tag: &str) -> Intent {
    planned(
        automation,
        Trigger::Push {
            tag,
            cause: "webhook".into(),
        },
    )
}

/// What the engine plans for a manual promotion of `tag`: explicit, cause `promote`.
fn promoted(automation: &Arc<Automation>, tag: &str) -> Intent {
    let tag = pushdeploy::domain::Tag::parse(tag).unwrap();
    planned(
        automation,
        Trigger::Manual {
            tag,
            cause: "promote".into(),
        },
    )
}

fn planned(automation: &Automation, trigger: Trigger<'_>) -> Intent {
    let (policy, selected, overrides) = (mcp_policy(), BTreeMap::new(), Overrides::default());
    let tags: Vec<String> = match &trigger {
        Trigger::Push { tag, .. } => vec![(*tag).to_owned()],
        _ => Vec::new(),
    };
    let key = key("flux-system:mcp");
    let snapshot = Snapshot {
        policies: vec![PolicyState {
            key: &key,
            image: IMAGE.into(),
            policy: &policy,
            automations: vec![&automation.key],
            digests: None,
        }],
        tags: &tags,
        selected: &selected,
        overrides: &overrides,
    };
    let mut planned = plan(&snapshot, &trigger);
    assert!(planned.skipped.is_empty(), "{:?}", planned.skipped);
    planned.intents.pop().expect("one intent")
}

/// Writers with no overrides (these tests have no engine); the rules still hold.
fn writers(data: std::path::PathBuf, window: Duration) -> Arc<Writers> {
    Writers::new(data, window, Arc::new(Overrides::default()))
}

fn ssh_auth(sshd: &Sshd) -> GitAuth {
    GitAuth::Ssh {
        private_key: sshd.deploy_key.clone(),
        passphrase: None,
        known_hosts: Some(sshd.known_hosts.clone()),
        accept_unknown_host: false,
    }
}

/// The only difference between two texts must be the one image line.
fn assert_only_the_image_line_changed(before: &str, after: &str, tag: &str) {
    let expected = before.replace(&format!("{IMAGE}:latest #"), &format!("{IMAGE}:{tag} #"));
    assert_ne!(before, expected, "the fixture must contain the latest image line");
    assert_eq!(after, expected);
}

async fn assert_mcp_commit(remote: &Remote, automation: &Arc<Automation>, writers: &Writers) {
    let before = remote.show("main", DEPLOYMENT);
    let outcome = writers
        .handle(automation)
        .submit(Arc::clone(automation), intent(automation, TAG))
        .await;
    let Outcome::Pushed { commit, changes } = outcome else {
        panic!("expected a push, got {outcome:?}")
    };
    assert_eq!(remote.head("main"), commit);
    assert_eq!(changes.len(), 1);
    assert_only_the_image_line_changed(&before, &remote.show("main", DEPLOYMENT), TAG);
    let subject = git(&remote.bare, &["log", "-1", "--format=%s|%an|%ae", "main"]);
    assert_eq!(
        subject.trim(),
        format!(
            "chore(flux): update mcp image to {IMAGE}:{TAG}|fluxcdbot|fluxcdbot@users.noreply.github.com"
        )
    );
    let files = git(&remote.bare, &["diff", "--name-only", "main~1", "main"]);
    assert_eq!(files.trim(), DEPLOYMENT);
}

#[tokio::test]
async fn mcp_tag_becomes_one_commit_changing_only_the_image_line_over_file() {
    let dir = tempfile::tempdir().unwrap();
    let remote = Remote::seeded(dir.path(), &gitops_fixture());
    let writers = writers(dir.path().join("data"), Duration::ZERO);
    assert_mcp_commit(&remote, &automation(remote.url(), GitAuth::None), &writers).await;
}

#[tokio::test]
async fn mcp_tag_becomes_one_commit_over_ssh_with_a_deploy_key() {
    let dir = tempfile::tempdir().unwrap();
    let remote = Remote::seeded(dir.path(), &gitops_fixture());
    let sshd = Sshd::start(&dir.path().join("sshd"), false);
    let automation = automation(sshd.url(&remote.bare), ssh_auth(&sshd));
    let mut workspace = Workspace::new(
        dir.path().join("probe"),
        automation.git.url.clone(),
        automation.git.auth.clone(),
    );
    tokio::task::spawn_blocking(move || check_write_access(&mut workspace))
        .await
        .unwrap()
        .unwrap();
    let writers = writers(dir.path().join("data"), Duration::ZERO);
    assert_mcp_commit(&remote, &automation, &writers).await;
}

#[tokio::test]
async fn a_read_only_deploy_key_is_named_by_the_check_and_by_the_push() {
    let dir = tempfile::tempdir().unwrap();
    let remote = Remote::seeded(dir.path(), &gitops_fixture());
    let sshd = Sshd::start(&dir.path().join("sshd"), true);
    let automation = automation(sshd.url(&remote.bare), ssh_auth(&sshd));
    let mut workspace = Workspace::new(
        dir.path().join("probe"),
        automation.git.url.clone(),
        automation.git.auth.clone(),
    );
    let error = tokio::task::spawn_blocking(move || check_write_access(&mut workspace))
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        error.to_string().contains("the deploy key is read-only"),
        "{error}"
    );
    let head = remote.head("main");
    let outcome = writers(dir.path().join("data"), Duration::ZERO)
        .handle(&automation)
        .submit(Arc::clone(&automation), intent(&automation, TAG))
        .await;
    assert!(
        matches!(&outcome, Outcome::Failed { error, .. } if error.to_string().contains("read-only")),
        "{outcome:?}"
    );
    assert_eq!(remote.head("main"), head, "nothing may land with a read-only key");
}

#[tokio::test]
async fn a_wrong_host_key_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let remote = Remote::seeded(dir.path(), &gitops_fixture());
    let sshd = Sshd::start(&dir.path().join("sshd"), false);
    let other = Sshd::start(&dir.path().join("other"), false);
    // known_hosts of another server, rewritten for this server's port.
    let wrong = std::fs::read_to_string(&other.known_hosts)
        .unwrap()
        .replace(&other.port.to_string(), &sshd.port.to_string());
    std::fs::write(&sshd.known_hosts, wrong).unwrap();
    let automation = automation(sshd.url(&remote.bare), ssh_auth(&sshd));
    let outcome = writers(dir.path().join("data"), Duration::ZERO)
        .handle(&automation)
        .submit(Arc::clone(&automation), intent(&automation, TAG))
        .await;
    assert!(
        matches!(&outcome, Outcome::Failed { error, .. } if error.to_string().contains("does not match") && error.to_string().contains("known_hosts")),
        "{outcome:?}"
    );
    std::fs::write(&sshd.known_hosts, "").unwrap();
    let outcome = writers(dir.path().join("data2"), Duration::ZERO)
        .handle(&automation)
        .submit(Arc::clone(&automation), intent(&automation, TAG))
        .await;
    assert!(
        matches!(&outcome, Outcome::Failed { error, .. } if error.to_string().contains("is not in")),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn an_unreachable_remote_fails_transiently_and_the_same_intent_lands_later() {
    let dir = tempfile::tempdir().unwrap();
    let remote = Remote::seeded(dir.path(), &gitops_fixture());
    let away = dir.path().join("away.git");
    std::fs::rename(&remote.bare, &away).unwrap();
    let automation = automation(remote.url(), GitAuth::None);
    let writers = writers(dir.path().join("data"), Duration::ZERO);
    let outcome = writers
        .handle(&automation)
        .submit(Arc::clone(&automation), intent(&automation, TAG))
        .await;
    assert!(matches!(outcome, Outcome::Failed { .. }), "{outcome:?}");
    std::fs::rename(&away, &remote.bare).unwrap();
    let outcome = writers
        .handle(&automation)
        .submit(Arc::clone(&automation), intent(&automation, TAG))
        .await;
    assert!(matches!(outcome, Outcome::Pushed { .. }), "{outcome:?}");
    assert!(remote.show("main", DEPLOYMENT).contains(TAG));
}

#[tokio::test]
async fn concurrent_external_pushes_lose_nothing_and_every_update_lands() {
    let dir = tempfile::tempdir().unwrap();
    let remote = Remote::seeded(dir.path(), &gitops_fixture());
    let automation = automation(remote.url(), GitAuth::None);
    let writers = writers(dir.path().join("data"), Duration::ZERO);
    let bare = remote.bare.clone();
    let externals: Vec<_> = (0..10)
        .map(|writer| {
            let (bare, clone) = (bare.clone(), dir.path().join(format!("external{writer}")));
            std::thread::spawn(move || {
                git(
                    Path::new("/"),
                    &["clone", "-q", bare.to_str().unwrap(), clone.to_str().unwrap()],
                );
                std::fs::write(clone.join(format!("external-{writer}.txt")), "unrelated\n").unwrap();
                git(&clone, &["add", "-A"]);
                git(&clone, &["commit", "-q", "-m", &format!("external {writer}")]);
                // Retry like a human would: pull --rebase and push until accepted.
                loop {
                    if std::process::Command::new("git")
                        .current_dir(&clone)
                        .args(["push", "-q", "origin", "main"])
                        .output()
                        .unwrap()
                        .status
                        .success()
                    {
                        break;
                    }
                    git(
                        &clone,
                        &[
                            "-c",
                            "user.name=t",
                            "-c",
                            "user.email=t@e",
                            "pull",
                            "-q",
                            "--rebase",
                            "origin",
                            "main",
                        ],
                    );
                }
            })
        })
        .collect();
    let handle = writers.handle(&automation);
    let mut pushed = Vec::new();
    for run in 3..53 {
        let tag = format!("{run}-abc{run}");
        match handle
            .submit(Arc::clone(&automation), intent(&automation, &tag))
            .await
        {
            Outcome::Pushed { commit, .. } => pushed.push(commit),
            other => panic!("update {run} did not land: {other:?}"),
        }
    }
    for external in externals {
        external.join().unwrap();
    }
    let history = git(&remote.bare, &["log", "--format=%H %s", "main"]);
    for commit in &pushed {
        assert!(
            history.contains(commit.as_str()),
            "commit {commit} is not in the final history"
        );
    }
    for writer in 0..10 {
        assert!(
            history.contains(&format!("external {writer}")),
            "external {writer} was lost"
        );
    }
    // No force push: every pushed commit is an ancestor of the final head, in order.
    for pair in pushed.windows(2) {
        git(&remote.bare, &["merge-base", "--is-ancestor", &pair[0], &pair[1]]);
    }
    assert!(remote.show("main", DEPLOYMENT).contains("52-abc52"));
}

#[tokio::test]
async fn intents_within_the_window_share_one_commit_and_zero_window_commits_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let remote = Remote::seeded(dir.path(), &gitops_fixture());
    let automation = automation(remote.url(), GitAuth::None);
    let coalescing = writers(dir.path().join("data"), Duration::from_millis(400));
    let handle = coalescing.handle(&automation);
    let before = remote.subjects("main").len();
    let (first, second, third) = tokio::join!(
        handle.submit(Arc::clone(&automation), intent(&automation, "3-aaa")),
        handle.submit(Arc::clone(&automation), intent(&automation, "5-bbb")),
        handle.submit(Arc::clone(&automation), intent(&automation, "4-ccc")),
    );
    assert_eq!(
        remote.subjects("main").len(),
        before + 1,
        "three intents in one window make one commit"
    );
    assert!([&first, &second, &third].iter().all(|outcome| matches!(
        outcome,
        Outcome::Pushed { .. } | Outcome::UpToDate | Outcome::Skipped { .. }
    )));
    let immediate = writers(dir.path().join("data2"), Duration::ZERO);
    let handle = immediate.handle(&automation);
    handle
        .submit(Arc::clone(&automation), intent(&automation, "6-ddd"))
        .await;
    handle
        .submit(Arc::clone(&automation), intent(&automation, "7-eee"))
        .await;
    assert_eq!(remote.subjects("main").len(), before + 3);
}

#[tokio::test]
async fn a_newer_tag_in_git_is_never_downgraded_unless_promoted_explicitly() {
    let dir = tempfile::tempdir().unwrap();
    let remote = Remote::seeded(dir.path(), &gitops_fixture());
    let automation = automation(remote.url(), GitAuth::None);
    let handle = writers(dir.path().join("data"), Duration::ZERO).handle(&automation);
    assert!(matches!(
        handle
            .submit(Arc::clone(&automation), intent(&automation, "10-aaa"))
            .await,
        Outcome::Pushed { .. }
    ));
    let head = remote.head("main");
    let outcome = handle
        .submit(Arc::clone(&automation), intent(&automation, "9-bbb"))
        .await;
    assert!(
        matches!(&outcome, Outcome::Skipped { reason } if reason.contains("10-aaa") && reason.contains("not downgrading")),
        "{outcome:?}"
    );
    assert_eq!(remote.head("main"), head);
    let explicit = promoted(&automation, "9-bbb");
    assert!(matches!(
        handle.submit(Arc::clone(&automation), explicit).await,
        Outcome::Pushed { .. }
    ));
    assert!(remote.show("main", DEPLOYMENT).contains(":9-bbb #"));
    let body = git(&remote.bare, &["log", "-1", "--format=%b", "main"]);
    assert!(body.contains("Pushdeploy-Cause: promote"), "{body}");
}

#[tokio::test]
async fn a_change_already_made_is_up_to_date_without_an_empty_commit() {
    let dir = tempfile::tempdir().unwrap();
    let remote = Remote::seeded(dir.path(), &gitops_fixture());
    let automation = automation(remote.url(), GitAuth::None);
    let handle = writers(dir.path().join("data"), Duration::ZERO).handle(&automation);
    assert!(matches!(
        handle
            .submit(Arc::clone(&automation), intent(&automation, TAG))
            .await,
        Outcome::Pushed { .. }
    ));
    let head = remote.head("main");
    assert_eq!(
        handle
            .submit(Arc::clone(&automation), intent(&automation, TAG))
            .await,
        Outcome::UpToDate
    );
    assert_eq!(remote.head("main"), head);
}

#[tokio::test]
async fn a_corrupted_working_copy_is_cloned_again() {
    let dir = tempfile::tempdir().unwrap();
    let remote = Remote::seeded(dir.path(), &gitops_fixture());
    let automation = automation(remote.url(), GitAuth::None);
    let data = dir.path().join("data");
    let handle = writers(data.clone(), Duration::ZERO).handle(&automation);
    assert!(matches!(
        handle
            .submit(Arc::clone(&automation), intent(&automation, "3-aaa"))
            .await,
        Outcome::Pushed { .. }
    ));
    let work = std::fs::read_dir(data.join("work"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::remove_dir_all(work.join(".git/objects")).unwrap();
    std::fs::remove_file(work.join(".git/HEAD")).unwrap();
    let handle = writers(data, Duration::ZERO).handle(&automation);
    let outcome = handle
        .submit(Arc::clone(&automation), intent(&automation, "4-bbb"))
        .await;
    assert!(matches!(outcome, Outcome::Pushed { .. }), "{outcome:?}");
    assert!(remote.show("main", DEPLOYMENT).contains("4-bbb"));
}

#[tokio::test]
async fn commits_go_to_the_push_branch_on_top_of_the_checkout_branch() {
    let dir = tempfile::tempdir().unwrap();
    let remote = Remote::seeded(dir.path(), &gitops_fixture());
    let mut review = (*automation(remote.url(), GitAuth::None)).clone();
    review.push_branch = "image-updates".into();
    let review = Arc::new(review);
    let main_head = remote.head("main");
    let handle = writers(dir.path().join("data"), Duration::ZERO).handle(&review);
    assert!(matches!(
        handle.submit(Arc::clone(&review), intent(&review, "3-aaa")).await,
        Outcome::Pushed { .. }
    ));
    assert_eq!(remote.head("main"), main_head, "the checkout branch is untouched");
    git(
        &remote.bare,
        &["merge-base", "--is-ancestor", &main_head, "image-updates"],
    );
    // A second update accumulates on the existing push branch (never force-pushed).
    let first = remote.head("image-updates");
    assert!(matches!(
        handle.submit(Arc::clone(&review), intent(&review, "4-bbb")).await,
        Outcome::Pushed { .. }
    ));
    git(
        &remote.bare,
        &["merge-base", "--is-ancestor", &first, "image-updates"],
    );
    assert!(remote.show("image-updates", DEPLOYMENT).contains("4-bbb"));
}

#[tokio::test]
async fn two_intents_for_one_policy_in_one_batch_write_the_higher_ranked_tag() {
    let dir = tempfile::tempdir().unwrap();
    let remote = Remote::seeded(dir.path(), &gitops_fixture());
    let automation = automation(remote.url(), GitAuth::None);
    let handle = writers(dir.path().join("data"), Duration::from_millis(300)).handle(&automation);
    let (high, low) = tokio::join!(
        handle.submit(Arc::clone(&automation), intent(&automation, "2-bbb")),
        handle.submit(Arc::clone(&automation), intent(&automation, "1-aaa"))
    );
    assert!(matches!(high, Outcome::Pushed { .. }), "{high:?}");
    assert!(
        matches!(&low, Outcome::Skipped { reason } if reason.contains("superseded by 2-bbb")),
        "{low:?}"
    );
    assert!(remote.show("main", DEPLOYMENT).contains(":2-bbb #"));
}

#[tokio::test]
async fn an_intent_planned_before_a_pin_or_a_suspension_is_held_by_the_writer_at_write_time() {
    let dir = tempfile::tempdir().unwrap();
    let remote = Remote::seeded(dir.path(), &gitops_fixture());
    let automation = automation(remote.url(), GitAuth::None);
    let overrides = Arc::new(pushdeploy::engine::SharedOverrides::default());
    let writers = Writers::new(
        dir.path().join("data"),
        Duration::ZERO,
        Arc::clone(&overrides) as Arc<dyn pushdeploy::gitops::Gate>,
    );
    let handle = writers.handle(&automation);
    let head = remote.head("main");
    // Planned with no pin in force; the pin lands before the writer gets to it.
    let planned = intent(&automation, "3-aaa");
    overrides.pin(
        &key("flux-system:mcp"),
        pushdeploy::domain::Tag::parse("2-bbb").unwrap(),
    );
    let outcome = handle.submit(Arc::clone(&automation), planned.clone()).await;
    assert_eq!(
        outcome,
        Outcome::Skipped {
            reason: "policy flux-system/mcp is pinned to 2-bbb".into()
        }
    );
    assert_eq!(remote.head("main"), head, "nothing written past the pin");
    overrides.unpin(&key("flux-system:mcp"));
    overrides.set_suspended(&automation.key, true);
    let outcome = handle.submit(Arc::clone(&automation), planned.clone()).await;
    assert!(
        matches!(&outcome, Outcome::Skipped { reason } if reason.contains("is suspended")),
        "{outcome:?}"
    );
    assert_eq!(remote.head("main"), head, "nothing written while suspended");
    // A manual promotion passes both, as the engine's promote does.
    let outcome = handle
        .submit(Arc::clone(&automation), promoted(&automation, "3-aaa"))
        .await;
    assert!(matches!(outcome, Outcome::Pushed { .. }), "{outcome:?}");
    overrides.set_suspended(&automation.key, false);
    assert_eq!(
        handle.submit(Arc::clone(&automation), planned).await,
        Outcome::UpToDate,
        "once resumed, the same intent finds its value already written"
    );
}

#[tokio::test]
async fn a_replica_that_lost_the_shard_of_an_automation_writes_nothing_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let remote = Remote::seeded(dir.path(), &gitops_fixture());
    let automation = automation(remote.url(), GitAuth::None);
    let mut settings = crate::support::settings::empty(&dir.path().join("data"));
    settings
        .automations
        .insert(automation.key.clone(), (*automation).clone());
    let overrides = Arc::new(pushdeploy::engine::SharedOverrides::default());
    let gate = |ownership| {
        Arc::new(pushdeploy::engine::WriteGate {
            overrides: Arc::clone(&overrides),
            ownership,
        }) as Arc<dyn pushdeploy::gitops::Gate>
    };
    let lost = Writers::new(
        dir.path().join("lost"),
        Duration::ZERO,
        gate(pushdeploy::ownership::Ownership::owning_nothing(&settings)),
    );
    let head = remote.head("main");
    let outcome = lost
        .handle(&automation)
        .submit(Arc::clone(&automation), intent(&automation, "3-aaa"))
        .await;
    assert!(
        matches!(&outcome, Outcome::Skipped { reason } if reason.contains("no longer owns")),
        "{outcome:?}"
    );
    assert_eq!(remote.head("main"), head, "nothing written without the shard");
    // The same gate on a replica that owns it (alone, everything) writes.
    let owner = Writers::new(
        dir.path().join("owner"),
        Duration::ZERO,
        gate(pushdeploy::ownership::Ownership::sole(&settings)),
    );
    let outcome = owner
        .handle(&automation)
        .submit(Arc::clone(&automation), intent(&automation, "3-aaa"))
        .await;
    assert!(matches!(outcome, Outcome::Pushed { .. }), "{outcome:?}");
}
