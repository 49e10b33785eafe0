//! Exactly one writer per (remote URL, push branch): a task that owns the working copy, takes
//! intents from a queue, coalesces those arriving within the window into one cycle, and answers
//! each intent with its outcome. Automations that share a branch share its writer.

use super::workspace::Workspace;
use super::{Gate, GitopsError, Intent, LogEntry, Outcome, TaskCause, WriteFailure, cycle};
use crate::config::Automation;
use crate::setter::Site;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// What the API reads from git: marker sites (the values in git now) and the branch history.
#[derive(Debug, Clone, Default)]
pub struct Inspection {
    pub sites: Vec<Site>,
    pub log: Vec<LogEntry>,
    /// `file:line: reason` of each marker in the update path that cannot be used.
    pub warnings: Vec<String>,
}

enum Job {
    /// With when it was queued (for the `queue_us` timing line).
    Write(
        Arc<Automation>,
        Box<Intent>,
        oneshot::Sender<Outcome>,
        std::time::Instant,
    ),
    Inspect(Arc<Automation>, oneshot::Sender<Result<Inspection, GitopsError>>),
    Note(
        Arc<Automation>,
        String,
        oneshot::Sender<Result<String, GitopsError>>,
    ),
    /// Clone or fetch the working copy ahead of the first write (see `Writers::warm_up`).
    Warm(Arc<Automation>),
    /// Build and push a pull request's commit (pull-request mode).
    Propose(
        Arc<Automation>,
        Box<super::ProposalJob>,
        oneshot::Sender<super::Proposed>,
    ),
}

const STOPPED: &str = "the writer has stopped (shutting down)";

/// Where writers report what each write attempt learnt about its remote: the readiness check
/// `gitops <automation>` with `Ok` (written, or nothing to write) or the error naming the remote.
pub type HealthReport = Arc<dyn Fn(String, Result<(), String>) + Send + Sync>;

/// The reporter, set once at startup; writers started before it report nothing.
#[derive(Default, Clone)]
struct Health(Arc<std::sync::RwLock<Option<HealthReport>>>);

impl std::fmt::Debug for Health {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("Health")
    }
}

impl Health {
    fn report(&self, automation: &Automation, verdict: cycle::RemoteVerdict) {
        let Some(verdict) = verdict else { return };
        let report = self.0.read().unwrap_or_else(|p| p.into_inner()).clone();
        let Some(report) = report else { return };
        let outcome = verdict.map_err(|error| {
            redact_userinfo(&format!(
                "the last write to {} (branch {}) failed: {error}",
                automation.git.url, automation.push_branch
            ))
        });
        report(format!("gitops {}", automation.key), outcome);
    }

    /// The working copy is being cloned or fetched (`false`) or that attempt ended (`true`,
    /// whatever its result: a failure is the next cycle's to report under `gitops …`).
    fn warming(&self, automation: &Automation, done: bool) {
        let report = self.0.read().unwrap_or_else(|p| p.into_inner()).clone();
        let Some(report) = report else { return };
        let outcome = if done {
            Ok(())
        } else {
            Err(redact_userinfo(&format!(
                "warming up: cloning or fetching {} (branch {}) before the first write",
                automation.git.url, automation.push_branch
            )))
        };
        report(format!("working copy {}", automation.key), outcome);
    }
}

/// `scheme://user:password@host` → `scheme://user:***@host` (and a bare http(s) token
/// `https://token@host` → `https://***@host`) wherever a URL appears in `text`.
pub fn redact_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(index) = rest.find("://") {
        let (before, after) = rest.split_at(index + 3);
        out.push_str(before);
        let authority_end = after
            .find(|c: char| c == '/' || c.is_whitespace())
            .unwrap_or(after.len());
        let authority = &after[..authority_end];
        match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                let scheme_is_http = before.ends_with("http://") || before.ends_with("https://");
                match userinfo.split_once(':') {
                    Some((user, _)) => out.push_str(&format!("{user}:***")),
                    None if scheme_is_http => out.push_str("***"),
                    None => out.push_str(userinfo),
                }
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &after[authority_end..];
    }
    out.push_str(rest);
    out
}

/// How many commits of history an inspection reads.
const LOG_LIMIT: usize = 500;

/// A handle to the writer of one remote branch.
#[derive(Debug, Clone)]
pub struct WriterHandle {
    sender: mpsc::UnboundedSender<Job>,
}

impl WriterHandle {
    /// Queue an intent for `automation` (the one the intent names) and wait for its outcome.
    pub async fn submit(&self, automation: Arc<Automation>, intent: Intent) -> Outcome {
        if automation.key != *intent.automation() {
            return Outcome::Failed {
                error: WriteFailure::Misrouted {
                    intent: intent.automation().clone(),
                    submitted: automation.key.clone(),
                },
                retry: false,
            };
        }
        let (reply, outcome) = oneshot::channel();
        if self
            .sender
            .send(Job::Write(
                automation,
                Box::new(intent),
                reply,
                std::time::Instant::now(),
            ))
            .is_err()
        {
            return Outcome::Failed {
                error: WriteFailure::Stopped,
                retry: true,
            };
        }
        outcome.await.unwrap_or(Outcome::Failed {
            error: WriteFailure::NoAnswer,
            retry: true,
        })
    }

    /// Fetch and read `automation`'s marker sites and branch history, in turn with the writes.
    pub async fn inspect(&self, automation: Arc<Automation>) -> Result<Inspection, GitopsError> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send(Job::Inspect(automation, reply))
            .map_err(|_| GitopsError::Unavailable(STOPPED))?;
        answer.await.unwrap_or(Err(GitopsError::Unavailable(STOPPED)))
    }

    /// Build `job`'s proposal for `automation` (in pull-request mode) and push it, in turn with
    /// the writes of this working copy.
    pub async fn propose(&self, automation: Arc<Automation>, job: super::ProposalJob) -> super::Proposed {
        let intents = job.intents.len();
        let (reply, answer) = oneshot::channel();
        if self
            .sender
            .send(Job::Propose(automation, Box::new(job), reply))
            .is_err()
        {
            return super::Proposed::failed(intents, &GitopsError::Unavailable(STOPPED));
        }
        answer
            .await
            .unwrap_or_else(|_| super::Proposed::failed(intents, &GitopsError::Unavailable(STOPPED)))
    }

    /// Record `message` as an empty commit on `automation`'s push branch; returns the commit.
    pub async fn note(&self, automation: Arc<Automation>, message: String) -> Result<String, GitopsError> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send(Job::Note(automation, message, reply))
            .map_err(|_| GitopsError::Unavailable(STOPPED))?;
        answer.await.unwrap_or(Err(GitopsError::Unavailable(STOPPED)))
    }
}

/// The registry of writers, keyed by (remote URL, push branch).
#[derive(Debug)]
pub struct Writers {
    data_dir: PathBuf,
    window: Duration,
    writers: Mutex<HashMap<(String, String), WriterHandle>>,
    gate: Arc<dyn Gate>,
    health: Health,
}

impl Writers {
    /// Writers under `data_dir`, coalescing intents within `window`, writing what `gate` admits.
    pub fn new(data_dir: PathBuf, window: Duration, gate: Arc<dyn Gate>) -> Arc<Self> {
        Arc::new(Self {
            data_dir,
            window,
            writers: Mutex::new(HashMap::new()),
            gate,
            health: Health::default(),
        })
    }

    /// Report every write attempt's verdict on its remote to `report` (readiness).
    pub fn report_health(&self, report: HealthReport) {
        *self.health.0.write().unwrap_or_else(|p| p.into_inner()) = Some(report);
    }

    /// The writer for `automation`'s remote branch, started on first use.
    pub fn handle(&self, automation: &Automation) -> WriterHandle {
        let key = (automation.git.url.clone(), automation.push_branch.clone());
        let mut writers = self
            .writers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        writers
            .entry(key)
            .or_insert_with(|| {
                let dir = self
                    .data_dir
                    .join("work")
                    .join(dir_name(&automation.git.url, &automation.push_branch));
                let workspace = Workspace::new(dir, automation.git.url.clone(), automation.git.auth.clone());
                let (sender, receiver) = mpsc::unbounded_channel();
                tokio::spawn(run(
                    workspace,
                    receiver,
                    self.window,
                    Arc::clone(&self.gate),
                    self.health.clone(),
                ));
                WriterHandle { sender }
            })
            .clone()
    }

    /// Start the writer of every automation and let it clone or fetch its working copy now, so
    /// that the first notification after a start does not pay for a clone and a checkout of the
    /// whole tree (the 400–650 ms outlier of issue 12). Readiness says `working copy …:
    /// warming up` until the attempt ends, so a Service sends no traffic to a cold replica;
    /// failures are left to the first real cycle, which reports them.
    pub fn warm_up<'a>(&self, automations: impl IntoIterator<Item = &'a Automation>) {
        for automation in automations {
            self.health.warming(automation, false);
            let _ = self
                .handle(automation)
                .sender
                .send(Job::Warm(Arc::new(automation.clone())));
        }
    }

    /// A working copy for one-off blocking work (checks), separate from the writers' copies.
    pub fn probe_workspace(&self, automation: &Automation) -> Workspace {
        let dir = self
            .data_dir
            .join("probe")
            .join(dir_name(&automation.git.url, &automation.push_branch));
        Workspace::new(dir, automation.git.url.clone(), automation.git.auth.clone())
    }
}

/// A readable, collision-free directory name for a remote branch.
fn dir_name(url: &str, branch: &str) -> String {
    use sha2::Digest;
    let readable: String = url
        .chars()
        .rev()
        .take(40)
        .collect::<String>()
        .chars()
        .rev()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let hash = hex::encode(&sha2::Sha256::digest(format!("{url}\n{branch}").as_bytes())[..6]);
    format!("{readable}-{hash}")
}

async fn run(
    workspace: Workspace,
    mut receiver: mpsc::UnboundedReceiver<Job>,
    window: Duration,
    gate: Arc<dyn Gate>,
    health: Health,
) {
    let workspace = Arc::new(Mutex::new(workspace));
    while let Some(first) = receiver.recv().await {
        let mut batch = vec![first];
        // Coalesce: everything that arrives within the window joins this cycle. A zero window
        // takes only what is queued already: a timer at `now` still waits for the timer
        // wheel's next 1 ms tick, which was 1.1 ms of every write's 10 ms.
        if !window.is_zero() {
            let deadline = tokio::time::Instant::now() + window;
            while let Ok(Some(job)) = tokio::time::timeout_at(deadline, receiver.recv()).await {
                batch.push(job);
            }
        }
        while let Ok(job) = receiver.try_recv() {
            batch.push(job);
        }
        let mut intents = Vec::new();
        let mut replies = Vec::new();
        let mut others = Vec::new();
        let mut queued_at = None::<std::time::Instant>;
        for job in batch {
            match job {
                Job::Write(automation, intent, reply, queued) => {
                    intents.push((automation, *intent));
                    replies.push(reply);
                    queued_at = Some(queued_at.map_or(queued, |earliest| earliest.min(queued)));
                }
                other => others.push(other),
            }
        }
        if !intents.is_empty() {
            let shared = Arc::clone(&workspace);
            let gate = Arc::clone(&gate);
            let health = health.clone();
            let outcomes = tokio::task::spawn_blocking(move || {
                if let Some(queued_at) = queued_at {
                    let queue_us = u64::try_from(queued_at.elapsed().as_micros()).unwrap_or(u64::MAX);
                    tracing::debug!(target: "pushdeploy::timing", queue_us, "write cycle starts");
                }
                let mut workspace = shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                run_batch(&mut workspace, &intents, gate.as_ref(), &health)
            })
            .await
            .unwrap_or_else(|error| {
                vec![
                    Outcome::Failed {
                        error: WriteFailure::Task(TaskCause::new(error)),
                        retry: true,
                    };
                    replies.len()
                ]
            });
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                // The submitter may have given up waiting; the outcome is recorded by the caller anyway.
                let _ = reply.send(outcome);
            }
            // Only now the index the commit changed in memory is written: neither the remote nor
            // the answer waits for it, and the next job of this writer finds it written (a
            // cycle's sync would write it first anyway).
            let shared = Arc::clone(&workspace);
            let _ = tokio::task::spawn_blocking(move || {
                let started = std::time::Instant::now();
                shared
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .settle_index();
                let index_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                tracing::debug!(target: "pushdeploy::timing", index_us, "index written");
            })
            .await;
        }
        for job in others {
            let shared = Arc::clone(&workspace);
            let health = health.clone();
            let gate = Arc::clone(&gate);
            let _ = tokio::task::spawn_blocking(move || {
                let mut workspace = shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                match job {
                    Job::Inspect(automation, reply) => {
                        let result = cycle::inspect(&mut workspace, &automation, LOG_LIMIT);
                        // A successful read proves no write access: only failures are reported.
                        if let Err(error) = &result {
                            health.report(&automation, cycle::remote_verdict(error));
                        }
                        let _ = reply.send(result);
                    }
                    Job::Note(automation, message, reply) => {
                        let result = cycle::note(&mut workspace, &automation, &message);
                        let verdict = match &result {
                            Ok(_) => Some(Ok(())),
                            Err(error) => cycle::remote_verdict(error),
                        };
                        health.report(&automation, verdict);
                        let _ = reply.send(result);
                    }
                    Job::Warm(automation) => {
                        cycle::warm(&mut workspace, &automation);
                        health.warming(&automation, true);
                    }
                    Job::Propose(automation, job, reply) => {
                        let _ =
                            reply.send(propose(&mut workspace, &automation, &job, gate.as_ref(), &health));
                    }
                    Job::Write(..) => {}
                }
            })
            .await;
        }
    }
}

/// Run a proposal job and report what it learnt about the remote.
fn propose(
    workspace: &mut Workspace,
    automation: &Automation,
    job: &super::ProposalJob,
    gate: &dyn Gate,
    health: &Health,
) -> super::Proposed {
    let Some(mode) = &automation.pull_request else {
        let error = GitopsError::Unavailable("a proposal for an automation that is not in pull-request mode");
        return super::Proposed::failed(job.intents.len(), &error);
    };
    match super::propose::propose(workspace, automation, mode, job, gate) {
        Ok(proposed) => {
            health.report(automation, Some(Ok(())));
            proposed
        }
        Err(error) => {
            tracing::warn!(automation = %automation.key, branch = %job.branch, %error, "proposal not pushed");
            health.report(automation, cycle::remote_verdict(&error));
            super::Proposed::failed(job.intents.len(), &error)
        }
    }
}

/// One cycle per automation in the batch (they share the remote branch), outcomes in order.
fn run_batch(
    workspace: &mut Workspace,
    intents: &[(Arc<Automation>, Intent)],
    gate: &dyn Gate,
    health: &Health,
) -> Vec<Outcome> {
    let mut outcomes = vec![Outcome::UpToDate; intents.len()];
    let mut done = std::collections::HashSet::new();
    for (automation, _) in intents {
        if !done.insert(automation.key.clone()) {
            continue;
        }
        let indices: Vec<usize> = (0..intents.len())
            .filter(|&i| intents[i].0.key == automation.key)
            .collect();
        let group: Vec<Intent> = indices.iter().map(|&i| intents[i].1.clone()).collect();
        let (group_outcomes, verdict) = cycle::run(workspace, automation, &group, gate);
        health.report(automation, verdict);
        for (index, outcome) in indices.into_iter().zip(group_outcomes) {
            outcomes[index] = outcome;
        }
    }
    outcomes
}

#[cfg(test)]
mod tests {
    use super::redact_userinfo;

    #[test]
    fn userinfo_is_redacted_wherever_a_url_appears() {
        assert_eq!(
            redact_userinfo("https://bot:hunter2@git.example/r.git is unreachable"),
            "https://bot:***@git.example/r.git is unreachable"
        );
        assert_eq!(
            redact_userinfo("push to https://ghp_secret@github.com/o/r failed; also http://h/x"),
            "push to https://***@github.com/o/r failed; also http://h/x"
        );
        assert_eq!(
            redact_userinfo("ssh://git@host:22/repo and file:///tmp/r.git"),
            "ssh://git@host:22/repo and file:///tmp/r.git"
        );
    }
}
