//! How a proposal commit is pushed: our own pull request branch replaced with
//! force-with-lease (the lease checked on the advertisement of the connection that pushes; a
//! compare-and-swap of the ref for `file://`), or AGit's `refs/for/<checkout>`; the push
//! options each transport sends; what a refusal means (someone else's commit, a branch that is
//! not ours, branch protection), each permanent and with the remedy. Blocking (git2).

use super::auth::{Verdict, callbacks};
use super::workspace::{LOCAL_REF, Workspace, classify};
use super::{GitopsError, ProposalJob};
use crate::config::{Automation, PullRequestMode, Transport};
use crate::forge::{ForgeKind, draft_title};
use git2::{Oid, PushOptions, Repository};

/// The push options a transport sends, besides the automation's own `git.push.options`.
pub fn transport_options(
    automation: &Automation,
    mode: &PullRequestMode,
    branch: &str,
    title: &str,
    body: &str,
    updating: bool,
) -> Vec<String> {
    let mut options = Vec::new();
    match &mode.transport {
        Transport::Api(_) => {}
        Transport::AGit => {
            options.push(format!("topic={branch}"));
            options.push(format!(
                "title={}",
                one_line(&draft_title(ForgeKind::Forgejo, title, mode.draft))
            ));
            options.push(format!("description={}", agit_text(body)));
            if updating {
                options.push("force-push=true".to_owned());
            }
        }
        Transport::GitLabPushOptions => {
            options.push("merge_request.create".to_owned());
            options.push(format!("merge_request.target={}", automation.checkout_branch));
            options.push(format!(
                "merge_request.title={}",
                one_line(&draft_title(ForgeKind::Gitlab, title, mode.draft))
            ));
            // A push option is one line: GitLab gets the body's lines joined (the API keeps them).
            options.push(format!("merge_request.description={}", one_line(body)));
            options.push("merge_request.remove_source_branch".to_owned());
            for label in &mode.labels {
                options.push(format!("merge_request.label={label}"));
            }
            if mode.auto_merge {
                options.push("merge_request.merge_when_pipeline_succeeds".to_owned());
            }
        }
    }
    options.extend(automation.push_options.iter().map(|(key, value)| {
        if value.is_empty() {
            key.clone()
        } else {
            format!("{key}={value}")
        }
    }));
    options
}

/// Push options cannot hold a line break: lines joined with " / ".
fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" / ")
}

/// Forgejo/Gitea decode an AGit option value written `{base64}…`: a body with line breaks is
/// sent that way, whole.
fn agit_text(text: &str) -> String {
    use base64::Engine as _;
    if text.contains(['\n', '\r']) {
        format!(
            "{{base64}}{}",
            base64::engine::general_purpose::STANDARD.encode(text)
        )
    } else {
        text.to_owned()
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn push(
    workspace: &mut Workspace,
    automation: &Automation,
    mode: &PullRequestMode,
    job: &ProposalJob,
    commit: Oid,
    remote_tip: Option<Oid>,
    title: &str,
    body: &str,
) -> Result<(), GitopsError> {
    let updating = job.lease.is_some();
    let options = transport_options(automation, mode, &job.branch, title, body, updating);
    let target = match &mode.transport {
        Transport::AGit => Target::AGit(format!("refs/for/{}", automation.checkout_branch)),
        _ => {
            let expected = lease(workspace, automation, job, remote_tip)?;
            Target::Branch {
                name: job.branch.clone(),
                expected,
            }
        }
    };
    push_target(workspace, commit, &target, &options)
}

/// The commit the remote's branch must still hold for our push to replace it: the one we last
/// proposed; with no open request, a branch that exists must be ours (its tip carries our
/// trailers, or the checkout branch has it: a merged request whose branch was kept).
fn lease(
    workspace: &mut Workspace,
    automation: &Automation,
    job: &ProposalJob,
    remote_tip: Option<Oid>,
) -> Result<Option<Oid>, GitopsError> {
    let url = crate::domain::redact_url(&workspace.url).into_owned();
    if let Some(expected) = &job.lease {
        let expected = Oid::from_str(expected).map_err(GitopsError::from)?;
        return match remote_tip {
            Some(found) if found != expected => Err(GitopsError::LeaseBroken {
                url,
                branch: job.branch.clone(),
                expected: expected.to_string(),
                found: found.to_string(),
            }),
            // Gone (merged and deleted, or deleted by hand): it is created again.
            found => Ok(found),
        };
    }
    let Some(found) = remote_tip else {
        return Ok(None);
    };
    let repo = workspace.repository()?;
    let ours = repo.find_commit(found).is_ok_and(|commit| {
        commit
            .message()
            .unwrap_or_default()
            .contains("\nPushdeploy-Deployed: ")
    });
    let checkout = repo
        .refname_to_id(&format!("refs/remotes/origin/{}", automation.checkout_branch))
        .ok();
    let merged =
        checkout.is_some_and(|tip| tip == found || repo.graph_descendant_of(tip, found).unwrap_or(false));
    if ours || merged {
        return Ok(Some(found));
    }
    Err(GitopsError::ForeignBranch {
        url,
        branch: job.branch.clone(),
        found: found.to_string(),
    })
}

/// Where a proposal commit goes.
#[derive(Debug, Clone)]
enum Target {
    /// Our branch, replaced only if the remote still holds `expected` (absent: `None`).
    Branch { name: String, expected: Option<Oid> },
    /// AGit's magic ref (`refs/for/<branch>`), which the server turns into a request.
    AGit(String),
}

fn push_target(
    workspace: &mut Workspace,
    commit: Oid,
    target: &Target,
    options: &[String],
) -> Result<(), GitopsError> {
    let (url, auth) = (workspace.url.clone(), workspace.auth.clone());
    let repo = workspace.repository()?;
    if let Some(path) = super::local::path_of(&url) {
        return push_local(repo, &url, &path, commit, target, options);
    }
    let git = GitopsError::from;
    repo.reference(LOCAL_REF, commit, true, "pushdeploy proposal")
        .map_err(git)?;
    let (name, destination) = match target {
        Target::Branch { name, .. } => (name.clone(), format!("refs/heads/{name}")),
        Target::AGit(reference) => (reference.clone(), reference.clone()),
    };
    let mut remote = repo.find_remote("origin").map_err(git)?;
    let verdict = Verdict::default();
    let mut connection = remote
        .connect_auth(
            git2::Direction::Push,
            Some(callbacks(&url, &auth, &verdict)),
            None,
        )
        .map_err(|error| classify(&url, error, &verdict, &name))?;
    if let Target::Branch { expected, .. } = target {
        // The lease, checked on the advertisement this very push sends its old value from:
        // receive-pack refuses the update if the branch moved after it advertised it.
        let advertised = connection
            .list()
            .map_err(|error| classify(&url, error, &verdict, &name))?
            .iter()
            .find(|head| head.name() == destination)
            .map(git2::RemoteHead::oid);
        if advertised != *expected {
            return Err(GitopsError::LeaseBroken {
                url: crate::domain::redact_url(&url).into_owned(),
                branch: name,
                expected: expected.map_or_else(|| "nothing (a new branch)".to_owned(), |oid| oid.to_string()),
                found: advertised.map_or_else(|| "nothing".to_owned(), |oid| oid.to_string()),
            });
        }
    }
    let rejected = std::cell::RefCell::new(None::<String>);
    // What the server's hooks print (`remote: …`): a refusal's reason is often only there
    // (GitLab and Forgejo explain branch protection on stderr, the status says "hook declined").
    let said = std::cell::RefCell::new(String::new());
    let mut push_callbacks = callbacks(&url, &auth, &verdict);
    push_callbacks.push_update_reference(|_, status| {
        if let Some(message) = status {
            *rejected.borrow_mut() = Some(message.to_owned());
        }
        Ok(())
    });
    push_callbacks.sideband_progress(|text| {
        let mut said = said.borrow_mut();
        if said.len() < 4096 {
            said.push_str(&String::from_utf8_lossy(text));
        }
        true
    });
    let mut push_options = PushOptions::new();
    push_options.remote_callbacks(push_callbacks);
    let sent: Vec<&str> = options.iter().map(String::as_str).collect();
    push_options.remote_push_options(&sent);
    let spec = format!("+{LOCAL_REF}:{destination}");
    let result = connection
        .remote()
        .push(&[spec.as_str()], Some(&mut push_options));
    drop(push_options);
    if let Err(error) = result {
        let lower = error.message().to_lowercase();
        if !options.is_empty() && lower.contains("push-options not supported") {
            return Err(GitopsError::PushOptionsUnsupported {
                url: crate::domain::redact_url(&url).into_owned(),
            });
        }
        return Err(classify(&url, error, &verdict, &name));
    }
    let said = said.into_inner();
    let said: Vec<&str> = said
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    match rejected.into_inner() {
        None => Ok(()),
        Some(reason) if said.is_empty() => Err(refused(&url, &name, target, reason)),
        Some(reason) => Err(refused(
            &url,
            &name,
            target,
            format!("{reason} ({})", said.join(" / ")),
        )),
    }
}

/// Why receive-pack refused our update: the lease (the branch moved under us), protection,
/// or whatever the server said.
fn refused(url: &str, name: &str, target: &Target, reason: String) -> GitopsError {
    let lower = reason.to_lowercase();
    if lower.contains("protected") || lower.contains("gh006") || lower.contains("not allowed to force push") {
        return GitopsError::ProtectedBranch {
            branch: name.to_owned(),
            reason,
        };
    }
    if let Target::Branch { expected, .. } = target
        && (lower.contains("stale") || lower.contains("lock") || lower.contains("fetch first"))
    {
        return GitopsError::LeaseBroken {
            url: crate::domain::redact_url(url).into_owned(),
            branch: name.to_owned(),
            expected: expected.map_or_else(|| "nothing".to_owned(), |oid| oid.to_string()),
            found: "a commit pushed while we pushed".to_owned(),
        };
    }
    GitopsError::Rejected {
        branch: name.to_owned(),
        reason,
    }
}

/// A `file://` remote: the lease is a compare-and-swap on the ref, as `local.rs` moves refs.
fn push_local(
    repo: &Repository,
    url: &str,
    path: &std::path::Path,
    commit: Oid,
    target: &Target,
    options: &[String],
) -> Result<(), GitopsError> {
    let Target::Branch { name, expected } = target else {
        return Err(GitopsError::LocalBypass {
            url: url.to_owned(),
            path: path.display().to_string(),
            bypassed: "AGit's refs/for/ (a server-side hook)".to_owned(),
            remedy: "serve the repository over ssh".to_owned(),
        });
    };
    if !options.is_empty() {
        return Err(GitopsError::LocalBypass {
            url: url.to_owned(),
            path: path.display().to_string(),
            bypassed: "git.push.options".to_owned(),
            remedy: "remove git.push.options".to_owned(),
        });
    }
    let remote = Repository::open_bare(path).map_err(|error| GitopsError::Unreachable {
        url: url.to_owned(),
        reason: error.message().to_owned(),
    })?;
    let parent = repo
        .find_commit(commit)
        .and_then(|commit| commit.parent_id(0))
        .map_err(GitopsError::from)?;
    super::local::copy_objects(repo, &remote, commit, Some(parent))?;
    let reference = format!("refs/heads/{name}");
    super::local::update_ref(&remote, &reference, commit, *expected).map_err(|error| match error {
        super::local::RefUpdate::Moved => GitopsError::LeaseBroken {
            url: url.to_owned(),
            branch: name.clone(),
            expected: expected.map_or_else(|| "nothing (a new branch)".to_owned(), |oid| oid.to_string()),
            found: "another commit".to_owned(),
        },
        super::local::RefUpdate::Failed(error) => GitopsError::from(error),
    })
}
