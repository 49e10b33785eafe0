//! Pull-request mode's git side against real git: AGit (`refs/for/main` with `topic`, `title`,
//! `description`, `force-push`) and GitLab's push options over the real sshd, into a bare remote
//! whose `pre-receive` hook records what receive-pack was sent; force-with-lease on our own
//! branch only; a read-only deploy key, a foreign branch, a branch someone else pushed to and
//! branch protection each refused with the remedy. The checkout branch never moves.

use crate::gitops::{automation, intent};
use crate::push_targets::{record_pushes, ssh_auth};
use crate::support::git::{Remote, git, gitops_fixture};
use crate::support::sshd::Sshd;
use pushdeploy::config::{
    Automation, BranchName, DEFAULT_BRANCH, GitAuth, Origin, PullRequestMode, Transport,
};
use pushdeploy::forge::ForgeKind;
use pushdeploy::gitops::{Outcome, ProposalJob, Proposed, Writers};
use pushdeploy::plan::Overrides;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const TAG: &str = "2-f62ba56a999ec99a7375fed529acf4b336691bdb";
const NEWER: &str = "3-0123456789abcdef0123456789abcdef01234567";
const DEPLOYMENT: &str = "apps/mcp/deployment.yaml";
const BRANCH: &str = "pushdeploy/mcp";

pub(crate) fn pr_automation(
    url: String,
    auth: GitAuth,
    transport: Transport,
    provider: ForgeKind,
) -> Arc<Automation> {
    let mut automation = (*automation(url, auth)).clone();
    automation.pull_request = Some(PullRequestMode {
        provider,
        transport,
        branch: BranchName::parse(DEFAULT_BRANCH).unwrap(),
        title: None,
        body: None,
        labels: vec!["deploy".to_owned()],
        reviewers: Vec::new(),
        draft: false,
        auto_merge: false,
        origin: Origin::default(),
    });
    Arc::new(automation)
}

/// A seeded bare remote that advertises push options, with a `pre-receive` hook recording
/// each push (the returned file), served by a real sshd whose deploy key is `read_only` or not.
fn recorded_over_ssh(dir: &Path, read_only: bool) -> (Remote, std::path::PathBuf, Sshd) {
    let remote = Remote::seeded(dir, &gitops_fixture());
    git(&remote.bare, &["config", "receive.advertisePushOptions", "true"]);
    let record = record_pushes(&remote.bare);
    let sshd = Sshd::start(&dir.join("sshd"), read_only);
    (remote, record, sshd)
}

async fn propose(
    dir: &Path,
    automation: &Arc<Automation>,
    tag: &str,
    lease: Option<&str>,
    carried: bool,
) -> Proposed {
    let writers = Writers::new(dir.join("data"), Duration::ZERO, Arc::new(Overrides::default()));
    let mut carried_values = pushdeploy::setter::Values::new();
    if carried {
        let first = intent(automation, TAG);
        carried_values.insert(first.policy().clone(), first.value().clone());
    }
    let job = ProposalJob {
        branch: BRANCH.to_owned(),
        intents: vec![intent(automation, tag)],
        carried: carried_values,
        lease: lease.map(str::to_owned),
    };
    writers
        .handle(automation)
        .propose(Arc::clone(automation), job)
        .await
}

fn pushed(proposed: &Proposed) -> String {
    match &proposed.push {
        Some(push) => push.commit.clone(),
        None => panic!("expected a pushed proposal, got {:?}", proposed.outcomes),
    }
}

fn failure(proposed: &Proposed) -> String {
    match proposed.outcomes.first() {
        Some(Outcome::Failed { error, retry }) => {
            assert!(!retry, "permanent: {error}");
            error.to_string()
        }
        other => panic!("expected a failure, got {other:?}"),
    }
}

/// The decoded value of a `{base64}…` AGit option.
fn decoded(value: &str) -> String {
    use base64::Engine as _;
    let encoded = value.strip_prefix("{base64}").expect("base64-encoded");
    String::from_utf8(base64::engine::general_purpose::STANDARD.decode(encoded).unwrap()).unwrap()
}

/// `git diff` between two revisions of the bare remote, only the +/- lines.
pub(crate) fn changed_lines(bare: &Path, from: &str, to: &str) -> Vec<String> {
    git(bare, &["diff", "--unified=0", from, to])
        .lines()
        .filter(|line| {
            (line.starts_with('+') || line.starts_with('-'))
                && !line.starts_with("+++")
                && !line.starts_with("---")
        })
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn an_agit_proposal_reaches_receive_pack_as_refs_for_main_with_topic_title_and_description() {
    let dir = tempfile::tempdir().unwrap();
    let (remote, record, sshd) = recorded_over_ssh(dir.path(), false);
    let seed = remote.head("main");
    let mut automation = (*pr_automation(
        sshd.url(&remote.bare),
        ssh_auth(&sshd),
        Transport::AGit,
        ForgeKind::Forgejo,
    ))
    .clone();
    if let Some(mode) = automation.pull_request.as_mut() {
        mode.labels.clear();
    }
    let automation = Arc::new(automation);

    let first = propose(dir.path(), &automation, TAG, None, false).await;
    let commit = pushed(&first);
    assert_eq!(
        remote.head("main"),
        seed,
        "the checkout branch never moves in pull-request mode"
    );
    let recorded = std::fs::read_to_string(&record).unwrap();
    let lines: Vec<&str> = recorded.lines().collect();
    assert_eq!(lines[0], "push options=3", "{recorded}");
    assert_eq!(lines[1], format!("option=topic={BRANCH}"));
    assert_eq!(
        lines[2],
        format!(
            "option=title=chore(flux): update mcp image to registry.goldentooth.net/goldentooth-mcp:{TAG}"
        )
    );
    let description = decoded(lines[3].strip_prefix("option=description=").unwrap());
    assert!(description.contains(&format!("`{DEPLOYMENT}:")), "{description}");
    assert!(
        description.contains(&format!("goldentooth-mcp:{TAG}`")),
        "{description}"
    );
    assert_eq!(lines[4], format!("ref refs/for/main {commit}"), "{recorded}");
    assert_eq!(lines.len(), 5, "one push: {recorded}");
    // Only the image value differs from the checkout branch.
    let diff = changed_lines(&remote.bare, &seed, &commit);
    assert_eq!(diff.len(), 2, "{diff:?}");
    assert!(
        diff[1].ends_with(&format!(
            "goldentooth-mcp:{TAG} # {{\"$imagepolicy\": \"flux-system:mcp\"}}"
        )),
        "{diff:?}"
    );

    // A newer tag amends the same request: built on main again, sent with force-push=true.
    std::fs::remove_file(&record).unwrap();
    let second = propose(dir.path(), &automation, NEWER, Some(&commit), true).await;
    let amended = pushed(&second);
    let recorded = std::fs::read_to_string(&record).unwrap();
    assert!(recorded.contains("option=force-push=true\n"), "{recorded}");
    assert!(
        recorded.contains(&format!("option=topic={BRANCH}\n")),
        "{recorded}"
    );
    assert!(
        recorded.ends_with(&format!("ref refs/for/main {amended}\n")),
        "{recorded}"
    );
    assert_eq!(
        git(&remote.bare, &["rev-parse", &format!("{amended}^")]).trim(),
        seed,
        "amended on the checkout branch, not stacked"
    );
    assert_eq!(remote.head("main"), seed);
}

#[tokio::test]
async fn gitlab_push_options_open_the_merge_request_on_our_branch_and_a_newer_tag_replaces_it_with_lease() {
    let dir = tempfile::tempdir().unwrap();
    let (remote, record, sshd) = recorded_over_ssh(dir.path(), false);
    let seed = remote.head("main");
    let automation = pr_automation(
        sshd.url(&remote.bare),
        ssh_auth(&sshd),
        Transport::GitLabPushOptions,
        ForgeKind::Gitlab,
    );

    let first = pushed(&propose(dir.path(), &automation, TAG, None, false).await);
    assert_eq!(remote.head(BRANCH), first);
    assert_eq!(remote.head("main"), seed);
    let recorded = std::fs::read_to_string(&record).unwrap();
    for option in [
        "option=merge_request.create\n".to_owned(),
        "option=merge_request.target=main\n".to_owned(),
        format!(
            "option=merge_request.title=chore(flux): update mcp image to registry.goldentooth.net/goldentooth-mcp:{TAG}\n"
        ),
        "option=merge_request.remove_source_branch\n".to_owned(),
        "option=merge_request.label=deploy\n".to_owned(),
    ] {
        assert!(recorded.contains(&option), "{option} missing from {recorded}");
    }
    assert!(recorded.contains("option=merge_request.description=pushdeploy proposes these image updates for flux-system/mcp: / - `"), "{recorded}");
    assert!(
        recorded.ends_with(&format!("ref refs/heads/{BRANCH} {first}\n")),
        "{recorded}"
    );

    // The newer tag replaces our branch (not a fast-forward of it): allowed by the lease.
    let second = pushed(&propose(dir.path(), &automation, NEWER, Some(&first), true).await);
    assert_eq!(remote.head(BRANCH), second);
    assert_eq!(
        git(&remote.bare, &["rev-parse", &format!("{second}^")]).trim(),
        seed
    );
    assert!(remote.show(BRANCH, DEPLOYMENT).contains(NEWER));

    // Someone else pushed to our branch since: nothing is pushed over their commit.
    let theirs = git(
        &remote.bare,
        &[
            "commit-tree",
            &format!("{second}^{{tree}}"),
            "-p",
            &second,
            "-m",
            "review fixup",
        ],
    )
    .trim()
    .to_owned();
    git(
        &remote.bare,
        &["update-ref", &format!("refs/heads/{BRANCH}"), &theirs],
    );
    let before = std::fs::read_to_string(&record).unwrap();
    let error = failure(&propose(dir.path(), &automation, TAG, Some(&second), false).await);
    assert!(
        error.starts_with(&format!("pull request branch {BRANCH} on ")),
        "{error}"
    );
    assert!(
        error.contains(&format!("is at {theirs}, not at {second}")),
        "{error}"
    );
    assert!(
        error.contains("someone else pushed to it; nothing was pushed"),
        "{error}"
    );
    assert_eq!(remote.head(BRANCH), theirs, "their commit stays");
    assert_eq!(
        std::fs::read_to_string(&record).unwrap(),
        before,
        "nothing reached receive-pack"
    );
    assert_eq!(remote.head("main"), seed);
}

#[tokio::test]
async fn a_branch_pushdeploy_did_not_make_is_never_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let remote = Remote::seeded(dir.path(), &gitops_fixture());
    let seed = remote.head("main");
    let foreign = git(
        &remote.bare,
        &["commit-tree", "main^{tree}", "-p", "main", "-m", "someone's work"],
    )
    .trim()
    .to_owned();
    git(
        &remote.bare,
        &["update-ref", &format!("refs/heads/{BRANCH}"), &foreign],
    );
    let api = pushdeploy::forge::ForgeApi {
        kind: ForgeKind::Github,
        base: "http://127.0.0.1:9".to_owned(),
        repository: "o/r".to_owned(),
        token: secrecy::SecretString::from("t".to_owned()),
        ca_pem: Vec::new(),
    };
    let automation = pr_automation(
        remote.url(),
        GitAuth::None,
        Transport::Api(api),
        ForgeKind::Github,
    );
    let error = failure(&propose(dir.path(), &automation, TAG, None, false).await);
    assert!(
        error.starts_with(&format!("branch {BRANCH} already exists on ")),
        "{error}"
    );
    assert!(
        error.contains("is not a pull request branch pushdeploy opened; nothing was pushed"),
        "{error}"
    );
    assert_eq!(remote.head(BRANCH), foreign);
    assert_eq!(remote.head("main"), seed);

    // Over file:// the lease is a compare-and-swap: once the branch is gone, ours is created,
    // and a later proposal replaces only our own commit.
    git(
        &remote.bare,
        &["update-ref", "-d", &format!("refs/heads/{BRANCH}")],
    );
    let first = pushed(&propose(dir.path(), &automation, TAG, None, false).await);
    assert_eq!(remote.head(BRANCH), first);
    let second = pushed(&propose(dir.path(), &automation, NEWER, Some(&first), true).await);
    assert_eq!(remote.head(BRANCH), second);
    assert_eq!(remote.head("main"), seed);
}

#[tokio::test]
async fn a_read_only_deploy_key_in_pull_request_mode_is_named_and_nothing_is_pushed() {
    let dir = tempfile::tempdir().unwrap();
    let (remote, record, sshd) = recorded_over_ssh(dir.path(), true);
    let automation = pr_automation(
        sshd.url(&remote.bare),
        ssh_auth(&sshd),
        Transport::AGit,
        ForgeKind::Forgejo,
    );
    // The same probe `serve` runs at startup, before any write, says so first.
    let mut workspace = pushdeploy::gitops::Workspace::new(
        dir.path().join("probe"),
        automation.git.url.clone(),
        automation.git.auth.clone(),
    );
    let probed = tokio::task::spawn_blocking(move || pushdeploy::gitops::check_write_access(&mut workspace))
        .await
        .unwrap()
        .unwrap_err()
        .to_string();
    assert!(probed.starts_with("the deploy key is read-only"), "{probed}");
    let error = failure(&propose(dir.path(), &automation, TAG, None, false).await);
    assert!(error.starts_with("the deploy key is read-only"), "{error}");
    assert!(!record.exists(), "receive-pack ran no hook: nothing was pushed");
}

#[tokio::test]
async fn a_protected_pull_request_branch_is_named_with_the_remedy() {
    let dir = tempfile::tempdir().unwrap();
    let remote = Remote::seeded(dir.path(), &gitops_fixture());
    git(&remote.bare, &["config", "receive.advertisePushOptions", "true"]);
    // What GitLab's hook says of a forced update of a protected branch.
    let hook = remote.bare.join("hooks/pre-receive");
    std::fs::write(
        &hook,
        "#!/bin/sh\nwhile read old new ref; do\n  if [ \"$old\" != 0000000000000000000000000000000000000000 ]; then\n    echo 'GitLab: You are not allowed to force push code to a protected branch on this project.' >&2\n    exit 1\n  fi\ndone\n",
    )
    .unwrap();
    let executable = <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755);
    std::fs::set_permissions(&hook, executable).unwrap();
    let sshd = Sshd::start(&dir.path().join("sshd"), false);
    let automation = pr_automation(
        sshd.url(&remote.bare),
        ssh_auth(&sshd),
        Transport::GitLabPushOptions,
        ForgeKind::Gitlab,
    );
    let first = pushed(&propose(dir.path(), &automation, TAG, None, false).await);
    let error = failure(&propose(dir.path(), &automation, NEWER, Some(&first), true).await);
    assert!(
        error.starts_with(&format!(
            "the remote refused the push to pull request branch {BRANCH}: "
        )),
        "{error}"
    );
    assert!(
        error.contains("not allowed to force push code to a protected branch"),
        "{error}"
    );
    assert!(
        error.contains("exclude pushdeploy/mcp (or pushdeploy/*) from branch protection"),
        "{error}"
    );
    assert_eq!(remote.head(BRANCH), first);
}
