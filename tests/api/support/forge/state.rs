//! The fake's state: pull requests over a real bare repository, merged with git.

use super::{ForgeKind, Pull, PullState, Recorded};
use std::path::{Path, PathBuf};

pub(super) struct ForgeState {
    pub(super) kind: ForgeKind,
    pub(super) owner: String,
    pub(super) repo: String,
    pub(super) bare: PathBuf,
    pub(super) origin: String,
    pub(super) token: String,
    pub(super) pulls: Vec<Pull>,
    pub(super) labels: Vec<(i64, String)>,
    pub(super) users: Vec<(i64, String)>,
    pub(super) push: bool,
    pub(super) parent: Option<String>,
    /// `Some(None)`: deny every request; `Some(Some(n))`: the next n.
    pub(super) deny: Option<Option<usize>>,
    pub(super) rate_limit: Option<(usize, u64)>,
    pub(super) requests: Vec<Recorded>,
    pub(super) violations: Vec<String>,
}

fn run_git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let output = std::process::Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=fake-forge", "-c", "user.email=forge@example.net"])
        .args(args)
        .output()
        .map_err(|error| format!("git {args:?}: {error}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    } else {
        Err(format!(
            "git {args:?} in {}: {}{}",
            dir.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

pub(super) fn branch_sha(state: &ForgeState, branch: &str) -> Option<String> {
    run_git(
        &state.bare,
        &["rev-parse", "--verify", "-q", &format!("refs/heads/{branch}")],
    )
    .ok()
}

pub(super) fn head_sha(state: &ForgeState, pull: &Pull) -> String {
    branch_sha(state, &pull.head)
        .or_else(|| pull.merge_commit.clone())
        .unwrap_or_else(|| "0".repeat(40))
}

/// Advance the base branch to the pull request's head: fast-forward when possible, else a merge
/// commit (`git merge-tree --write-tree` + `git commit-tree`). Fails on conflicts.
pub(super) fn merge_pull(state: &mut ForgeState, number: u64) -> Result<(), String> {
    let index = state
        .pulls
        .iter()
        .position(|p| p.number == number)
        .ok_or(format!("no pull request {number}"))?;
    let pull = state.pulls[index].clone();
    if pull.state != PullState::Open {
        return Err(format!("pull request {number} is not open"));
    }
    let bare = state.bare.clone();
    let head = branch_sha(state, &pull.head).ok_or(format!("no branch {}", pull.head))?;
    let base = branch_sha(state, &pull.base).ok_or(format!("no branch {}", pull.base))?;
    let fast_forward = run_git(&bare, &["merge-base", "--is-ancestor", &base, &head]).is_ok();
    let merged = if fast_forward {
        head.clone()
    } else {
        let tree = run_git(&bare, &["merge-tree", "--write-tree", &base, &head])?;
        let tree = tree.lines().next().unwrap_or("").to_owned();
        let message = format!("Merge pull request #{number} from {}", pull.head);
        run_git(
            &bare,
            &["commit-tree", &tree, "-p", &base, "-p", &head, "-m", &message],
        )?
    };
    let reference = format!("refs/heads/{}", pull.base);
    run_git(&bare, &["update-ref", &reference, &merged, &base])?;
    let pull = &mut state.pulls[index];
    pull.state = PullState::Merged;
    pull.merge_commit = Some(merged);
    Ok(())
}

pub(super) fn pull_mut(state: &mut ForgeState, number: Option<u64>) -> &mut Pull {
    let number = number.expect("operation names a pull request");
    state.pulls.iter_mut().find(|p| p.number == number).unwrap()
}

pub(super) fn open_duplicate(state: &ForgeState, head: &str, base: &str) -> Option<u64> {
    let open = state.pulls.iter().filter(|p| p.state == PullState::Open);
    open.into_iter()
        .find(|p| p.head == head && p.base == base)
        .map(|p| p.number)
}

pub(super) fn new_pull(state: &mut ForgeState, head: &str, base: &str, title: &str, body: &str) -> u64 {
    let number = state.pulls.iter().map(|p| p.number).max().unwrap_or(0) + 1;
    let html_url = match state.kind {
        ForgeKind::Gitlab => format!(
            "{}/{}/{}/-/merge_requests/{number}",
            state.origin, state.owner, state.repo
        ),
        ForgeKind::Github => format!("{}/{}/{}/pull/{number}", state.origin, state.owner, state.repo),
        _ => format!("{}/{}/{}/pulls/{number}", state.origin, state.owner, state.repo),
    };
    state.pulls.push(Pull {
        number,
        head: head.to_owned(),
        base: base.to_owned(),
        title: title.to_owned(),
        body: body.to_owned(),
        labels: Vec::new(),
        reviewers: Vec::new(),
        draft: false,
        auto_merge: false,
        state: PullState::Open,
        html_url,
        head_sha: String::new(),
        merge_commit: None,
    });
    number
}

pub(super) fn state_filter(pull: &Pull, wanted: &str) -> bool {
    match wanted {
        "open" | "opened" => pull.state == PullState::Open,
        "closed" => pull.state != PullState::Open,
        "merged" => pull.state == PullState::Merged,
        _ => true,
    }
}
