//! Pull-request mode's mechanics: build the proposal on the checkout branch's tip (never
//! writing that branch) — the values still open on the request plus this trigger's admitted
//! intents — commit it, and push it: our own pull request branch replaced with
//! force-with-lease (the remote must still hold the commit we last proposed), or AGit's
//! `refs/for/<checkout>` with its push options. What to propose is the engine's decision; what
//! the platform's API is told is the engine's too. Blocking (git2).

use super::auth::{Verdict, callbacks};
use super::workspace::{LOCAL_REF, Workspace, classify};
use super::{Gate, GitopsError, Intent, Outcome, WriteFailure, message};
use crate::config::{Automation, PullRequestMode, Transport};
use crate::domain::ObjectKey;
use crate::forge::{ForgeKind, draft_title};
use crate::setter::{self, Change, Mode, Values};
use crate::trailer::Trailer;
use git2::{Oid, PushOptions, Repository};

/// What the engine asks a writer to propose.
#[derive(Debug, Clone)]
pub struct ProposalJob {
    /// The pull request branch (AGit: its topic).
    pub branch: String,
    /// This trigger's intents (all of one automation).
    pub intents: Vec<Intent>,
    /// The values the open request proposes already, kept unless an intent replaces them.
    pub carried: Values,
    /// The commit last proposed on the branch (the lease), when a request is open.
    pub lease: Option<String>,
}

/// A proposal commit that was pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposalPush {
    pub commit: String,
    /// The checkout branch commit it was built on.
    pub base: String,
    /// Every value it proposes (carried and new), by policy.
    pub values: Values,
    pub changes: Vec<Change>,
    pub title: String,
    pub body: String,
}

/// What became of a proposal job.
#[derive(Debug, Clone)]
pub struct Proposed {
    /// Per intent, in order: `Skipped`/`Failed` when held or refused, `UpToDate` when the
    /// checkout branch has the value already, otherwise `UpToDate` too (the push says more).
    pub outcomes: Vec<Outcome>,
    /// The pushed proposal; `None` when there was nothing to propose.
    pub push: Option<ProposalPush>,
    /// The checkout branch already has every value that was asked and carried: the open
    /// request (if any) is merged or obsolete.
    pub in_checkout: bool,
    /// The checkout branch already has every value the open request proposed (it was merged,
    /// or made by hand): this proposal starts a new request instead of amending that one.
    pub carried_merged: bool,
}

impl Proposed {
    /// Every intent failed with `error`.
    pub fn failed(intents: usize, error: &GitopsError) -> Self {
        Self {
            outcomes: (0..intents)
                .map(|_| Outcome::Failed {
                    error: WriteFailure::Cycle(error.clone()),
                    retry: error.is_transient(),
                })
                .collect(),
            push: None,
            in_checkout: false,
            carried_merged: false,
        }
    }
}

/// Build and push the proposal of `job` for `automation` (in pull-request mode `mode`).
pub fn propose(
    workspace: &mut Workspace,
    automation: &Automation,
    mode: &PullRequestMode,
    job: &ProposalJob,
    gate: &dyn Gate,
) -> Result<Proposed, GitopsError> {
    let checkout = automation.checkout_branch.as_str();
    let tips = match &mode.transport {
        Transport::AGit => workspace.fetch(&[checkout])?,
        _ => workspace.fetch(&[checkout, job.branch.as_str()])?,
    };
    let Some(base) = tips.first().copied().flatten() else {
        return Err(GitopsError::NoSuchBranch {
            url: workspace.url.clone(),
            branch: checkout.to_owned(),
        });
    };
    let remote_tip = tips.get(1).copied().flatten();
    workspace.reset(base)?;
    let root = workspace.workdir().to_path_buf();
    let update_path = automation.update_path.as_str();
    let marked = workspace.marked_files(update_path)?;
    let sites = setter::scan_files(&root, update_path, marked.clone())
        .map_err(|error| GitopsError::UpdatePath(error.to_string()))?;
    let mut outcomes: Vec<Option<Outcome>> = gate
        .admit(&job.intents, &sites)
        .into_iter()
        .map(|held| held.map(|reason| Outcome::Skipped { reason }))
        .collect();
    // Is what the open request proposed in the checkout branch already? Then it was merged
    // (an API would say so; AGit and push options cannot): nothing of it is carried, and the
    // push starts a new request rather than amending the merged one.
    let carried_merged = !job.carried.is_empty()
        && setter::apply_files(&root, update_path, marked.clone(), &job.carried, Mode::DryRun)
            .map_err(|error| GitopsError::UpdatePath(error.to_string()))?
            .changes
            .is_empty();
    let job = &if carried_merged {
        ProposalJob {
            carried: Values::new(),
            lease: None,
            ..job.clone()
        }
    } else {
        job.clone()
    };
    let mut values = job.carried.clone();
    for (intent, outcome) in job.intents.iter().zip(&outcomes) {
        if outcome.is_none() {
            values.insert(intent.policy().clone(), intent.value().clone());
        }
    }
    workspace.mark_dirty();
    let applied = setter::apply_files(&root, update_path, marked, &values, Mode::Write)
        .map_err(|error| GitopsError::UpdatePath(error.to_string()))?;
    for (intent, outcome) in job.intents.iter().zip(outcomes.iter_mut()) {
        if outcome.is_none()
            && let Some(refusal) = applied.refused.iter().find(|r| &r.policy == intent.policy())
        {
            *outcome = Some(Outcome::Failed {
                error: WriteFailure::Refused(refusal.clone()),
                retry: false,
            });
        }
    }
    let outcomes: Vec<Outcome> = outcomes
        .into_iter()
        .map(|outcome| outcome.unwrap_or(Outcome::UpToDate))
        .collect();
    if applied.changes.is_empty() {
        return Ok(Proposed {
            outcomes,
            push: None,
            in_checkout: true,
            carried_merged,
        });
    }
    // Only what still differs from the checkout branch is proposed.
    values.retain(|policy, _| applied.changes.iter().any(|change| &change.policy == policy));
    let trailers = trailers(&job.intents, &values);
    let text = message::render(automation, &applied.changes, &trailers)?;
    let (title, body) = message::proposal_text(automation, mode, &applied.changes, &text)?;
    let mut files: Vec<_> = applied.changes.iter().map(|change| change.file.clone()).collect();
    files.dedup();
    let signer = automation.signing_key.as_ref().map(|key| &*key.signer);
    let commit = workspace.commit(base, &files, &automation.author, signer, &text)?;
    let pushed = push(
        workspace, automation, mode, job, commit, remote_tip, &title, &body,
    );
    workspace.settle_index();
    pushed.map_err(|error| super::cycle::refine_push_error(workspace, error))?;
    Ok(Proposed {
        outcomes,
        push: Some(ProposalPush {
            commit: commit.to_string(),
            base: base.to_string(),
            values,
            changes: applied.changes,
            title,
            body,
        }),
        in_checkout: false,
        carried_merged,
    })
}

/// The cause of each intent and what the proposal deploys once merged (the same
/// `Pushdeploy-Deployed` trailers a direct write carries, so history reads it after a merge).
fn trailers(intents: &[Intent], values: &Values) -> Vec<String> {
    let mut lines: Vec<String> = intents
        .iter()
        .filter(|intent| values.contains_key(intent.policy()))
        .map(|intent| Trailer::Cause(intent.cause().to_owned()).to_string())
        .collect();
    lines.sort();
    lines.dedup();
    for (policy, value) in values {
        let (policy, tag) = (policy.to_string(), value.tag.to_string());
        lines.push(Trailer::Deployed { policy, tag }.to_string());
    }
    lines
}

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
fn push(
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

/// The branch of `mode` for `automation` and, when the name is per policy, `policy`.
pub fn branch_of(
    mode: &PullRequestMode,
    automation: &ObjectKey,
    policy: &ObjectKey,
) -> Result<String, GitopsError> {
    let policy = mode.branch.per_policy.then_some(policy);
    mode.branch.render(automation, policy).map_err(|why| {
        GitopsError::Template(format!(
            "git.push.pullRequest.branch {:?} {why} ({})",
            mode.branch.text, mode.origin
        ))
    })
}
