//! `git.push.refspec` and `git.push.options` against real git: a bare remote whose
//! `pre-receive` hook records what receive-pack was sent, pushed over the real sshd; and the
//! `file://` remotes, which pushdeploy writes without receive-pack.

use crate::gitops::{automation, intent};
use crate::support::git::{Remote, git, gitops_fixture};
use crate::support::sshd::Sshd;
use pushdeploy::config::{Automation, GitAuth, Refspec};
use pushdeploy::gitops::{Outcome, Writers};
use pushdeploy::plan::Overrides;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const TAG: &str = "2-f62ba56a999ec99a7375fed529acf4b336691bdb";

pub(crate) fn ssh_auth(sshd: &Sshd) -> GitAuth {
    GitAuth::Ssh {
        private_key: sshd.deploy_key.clone(),
        passphrase: None,
        known_hosts: Some(sshd.known_hosts.clone()),
        accept_unknown_host: false,
    }
}

/// Install a `pre-receive` hook in `bare` that appends, per push, the option count, each
/// option and each ref update to the returned file.
pub(crate) fn record_pushes(bare: &Path) -> PathBuf {
    let record = bare.with_extension("pushes");
    let hook = bare.join("hooks/pre-receive");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\n{{\n  echo \"push options=${{GIT_PUSH_OPTION_COUNT:-none}}\"\n  i=0\n  while [ \"$i\" -lt \"${{GIT_PUSH_OPTION_COUNT:-0}}\" ]; do\n    eval \"echo option=\\$GIT_PUSH_OPTION_$i\"\n    i=$((i + 1))\n  done\n  while read old new ref; do echo \"ref $ref $new\"; done\n}} >> {}\n",
            record.display()
        ),
    )
    .unwrap();
    let executable = <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755);
    std::fs::set_permissions(&hook, executable).unwrap();
    record
}

/// `automation` for `url` pushing `branch`, with `refspec` and `options`.
fn with_targets(
    url: String,
    auth: GitAuth,
    branch: &str,
    refspec: Option<&str>,
    options: &[(&str, &str)],
) -> Arc<Automation> {
    let mut automation = (*automation(url, auth)).clone();
    automation.push_branch = branch.to_owned();
    automation.push_refspec = refspec.map(|text| Refspec::parse(text).unwrap());
    automation.push_options = options
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect();
    Arc::new(automation)
}

async fn write(dir: &Path, automation: &Arc<Automation>) -> Outcome {
    let writers = Writers::new(dir.join("data"), Duration::ZERO, Arc::new(Overrides::default()));
    writers
        .handle(automation)
        .submit(Arc::clone(automation), intent(automation, TAG))
        .await
}

fn failure(outcome: Outcome) -> (String, bool) {
    match outcome {
        Outcome::Failed { error, retry } => (error.to_string(), retry),
        other => panic!("expected a failure, got {other:?}"),
    }
}

/// A commit on `bare` that shares no history with main (a diverged branch).
fn unrelated_commit(bare: &Path) -> String {
    git(bare, &["commit-tree", "main^{tree}", "-m", "sideways"])
        .trim()
        .to_owned()
}

#[tokio::test]
async fn the_refspec_and_push_options_reach_receive_pack_over_ssh_in_one_push() {
    let dir = tempfile::tempdir().unwrap();
    let remote = Remote::seeded(dir.path(), &gitops_fixture());
    git(&remote.bare, &["config", "receive.advertisePushOptions", "true"]);
    let record = record_pushes(&remote.bare);
    let sshd = Sshd::start(&dir.path().join("sshd"), false);
    // Gerrit's shape from Flux's docs: commit on auto, and push auto's head to another ref.
    let automation = with_targets(
        sshd.url(&remote.bare),
        ssh_auth(&sshd),
        "auto",
        Some("refs/heads/auto:refs/heads/release"),
        &[("ci.skip", ""), ("merge_request.target", "release")],
    );
    let Outcome::Pushed { commit, .. } = write(dir.path(), &automation).await else {
        panic!("expected a push")
    };
    assert_eq!(remote.head("auto"), commit);
    assert_eq!(
        remote.head("release"),
        commit,
        "the refspec's destination is the new commit"
    );
    let recorded = std::fs::read_to_string(&record).unwrap();
    assert_eq!(
        recorded,
        format!(
            "push options=2\noption=ci.skip\noption=merge_request.target=release\nref refs/heads/auto {commit}\nref refs/heads/release {commit}\n"
        ),
        "one push carrying both refs and both options"
    );
}

#[tokio::test]
async fn a_diverged_refspec_destination_fails_the_write_and_moves_neither_ref() {
    let dir = tempfile::tempdir().unwrap();
    let remote = Remote::seeded(dir.path(), &gitops_fixture());
    let record = record_pushes(&remote.bare);
    let sideways = unrelated_commit(&remote.bare);
    git(&remote.bare, &["update-ref", "refs/heads/release", &sideways]);
    let seed = remote.head("main");
    let sshd = Sshd::start(&dir.path().join("sshd"), false);
    let automation = with_targets(
        sshd.url(&remote.bare),
        ssh_auth(&sshd),
        "main",
        Some("HEAD:refs/heads/release"),
        &[],
    );
    let (error, retry) = failure(write(dir.path(), &automation).await);
    assert!(
        error.starts_with("git.push.refspec HEAD:refs/heads/release: refs/heads/release on the remote is not an ancestor of the commit to push there (it has diverged; not a fast-forward); nothing was pushed, main is unchanged too"),
        "{error}"
    );
    assert!(!retry, "permanent until someone moves the destination: {error}");
    assert_eq!(remote.head("main"), seed, "the branch is not pushed either");
    assert_eq!(remote.head("release"), sideways, "never forced");
    assert!(!record.exists(), "nothing reached receive-pack");
}

#[tokio::test]
async fn push_options_the_remote_does_not_advertise_fail_the_write_and_move_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let remote = Remote::seeded(dir.path(), &gitops_fixture());
    let seed = remote.head("main");
    let sshd = Sshd::start(&dir.path().join("sshd"), false);
    let automation = with_targets(
        sshd.url(&remote.bare),
        ssh_auth(&sshd),
        "main",
        None,
        &[("ci.skip", "")],
    );
    let (error, retry) = failure(write(dir.path(), &automation).await);
    assert!(
        error.ends_with("does not accept push options (git.push.options): the remote did not advertise them, so nothing was pushed; enable them on the server (git config receive.advertisePushOptions true) or remove git.push.options"),
        "{error}"
    );
    assert!(
        !retry,
        "permanent until the server or the settings change: {error}"
    );
    assert_eq!(remote.head("main"), seed);
}

#[tokio::test]
async fn a_file_remote_takes_the_refspec_but_refuses_options_and_hooks_it_would_bypass() {
    let dir = tempfile::tempdir().unwrap();
    let remote = Remote::seeded(dir.path(), &gitops_fixture());
    let seed = remote.head("main");

    let options = with_targets(remote.url(), GitAuth::None, "main", None, &[("ci.skip", "")]);
    let (error, retry) = failure(write(&dir.path().join("options"), &options).await);
    let path = remote.bare.display();
    assert!(
        error.starts_with(&format!("file://{path} is a file:// remote, which pushdeploy writes directly (pack copy and compare-and-swap of the ref, no git receive-pack), so git.push.options would not take effect; serve the repository over ssh (e.g. ssh://localhost{path})")),
        "{error}"
    );
    assert!(!retry, "{error}");
    assert_eq!(remote.head("main"), seed);

    let refspec = with_targets(
        remote.url(),
        GitAuth::None,
        "main",
        Some("HEAD:refs/heads/release"),
        &[],
    );
    let Outcome::Pushed { commit, .. } = write(&dir.path().join("refspec"), &refspec).await else {
        panic!("expected a push")
    };
    assert_eq!(
        (remote.head("main"), remote.head("release")),
        (commit.clone(), commit)
    );

    record_pushes(&remote.bare);
    let again = with_targets(remote.url(), GitAuth::None, "main", None, &[]);
    let head = remote.head("main");
    let outcome = again_with_new_tag(&dir.path().join("hooked"), &again).await;
    let (error, _) = failure(outcome);
    assert!(
        error.contains("so its ") && error.contains("hooks/pre-receive hook would not take effect"),
        "{error}"
    );
    assert_eq!(remote.head("main"), head);
}

/// A write of a tag newer than `TAG` (the tree already holds `TAG` after a first write).
async fn again_with_new_tag(dir: &Path, automation: &Arc<Automation>) -> Outcome {
    let writers = Writers::new(dir.join("data"), Duration::ZERO, Arc::new(Overrides::default()));
    writers
        .handle(automation)
        .submit(
            Arc::clone(automation),
            intent(automation, "3-f62ba56a999ec99a7375fed529acf4b336691bdb"),
        )
        .await
}

#[tokio::test]
async fn a_refspec_destination_the_remote_refuses_is_an_error_saying_the_branch_holds_the_commit() {
    let dir = tempfile::tempdir().unwrap();
    let remote = Remote::seeded(dir.path(), &gitops_fixture());
    // receive-pack runs `update` per ref: it takes the branch and refuses the destination.
    let hook = remote.bare.join("hooks/update");
    std::fs::write(
        &hook,
        "#!/bin/sh\nif [ \"$1\" = refs/heads/release ]; then echo 'release is protected' >&2; exit 1; fi\n",
    )
    .unwrap();
    let executable = <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755);
    std::fs::set_permissions(&hook, executable).unwrap();
    let sshd = Sshd::start(&dir.path().join("sshd"), false);
    let automation = with_targets(
        sshd.url(&remote.bare),
        ssh_auth(&sshd),
        "main",
        Some("HEAD:refs/heads/release"),
        &[],
    );
    let (error, retry) = failure(write(dir.path(), &automation).await);
    let commit = remote.head("main");
    assert!(
        error.starts_with(&format!("pushed {commit} to main, but the remote refused git.push.refspec HEAD:refs/heads/release (refs/heads/release): ")),
        "{error}"
    );
    assert!(
        error.contains("main holds the commit and refs/heads/release does not"),
        "{error}"
    );
    assert!(!retry, "{error}");
    let refs = git(
        &remote.bare,
        &["for-each-ref", "--format=%(refname)", "refs/heads/release"],
    );
    assert_eq!(refs.trim(), "", "the destination was not created");
}
