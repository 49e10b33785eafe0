//! Exactly one writer per (remote URL, push branch): a task that owns the working copy, takes
//! intents from a queue, coalesces those arriving within the window into one cycle, and answers
//! each intent with its outcome. Automations that share a branch share its writer.

use super::workspace::Workspace;
use super::{Intent, Outcome, cycle};
use crate::config::Automation;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

type Job = (Intent, oneshot::Sender<Outcome>);

/// A handle to the writer of one remote branch.
#[derive(Debug, Clone)]
pub struct WriterHandle {
    sender: mpsc::UnboundedSender<Job>,
}

impl WriterHandle {
    /// Queue an intent and wait for its outcome.
    pub async fn submit(&self, intent: Intent) -> Outcome {
        let (reply, outcome) = oneshot::channel();
        if self.sender.send((intent, reply)).is_err() {
            return Outcome::Failed {
                error: "the writer has stopped (shutting down)".to_owned(),
                retry: true,
            };
        }
        outcome.await.unwrap_or(Outcome::Failed {
            error: "the writer stopped before answering".to_owned(),
            retry: true,
        })
    }
}

/// The registry of writers, keyed by (remote URL, push branch).
#[derive(Debug)]
pub struct Writers {
    data_dir: PathBuf,
    window: Duration,
    writers: Mutex<HashMap<(String, String), WriterHandle>>,
}

impl Writers {
    pub fn new(data_dir: PathBuf, window: Duration) -> Arc<Self> {
        Arc::new(Self {
            data_dir,
            window,
            writers: Mutex::new(HashMap::new()),
        })
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
                tokio::spawn(run(workspace, receiver, self.window));
                WriterHandle { sender }
            })
            .clone()
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

async fn run(workspace: Workspace, mut receiver: mpsc::UnboundedReceiver<Job>, window: Duration) {
    let workspace = Arc::new(Mutex::new(workspace));
    while let Some(first) = receiver.recv().await {
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + window;
        // Coalesce: everything that arrives within the window joins this cycle.
        while let Ok(Some(job)) = tokio::time::timeout_at(deadline, receiver.recv()).await {
            batch.push(job);
        }
        while let Ok(job) = receiver.try_recv() {
            batch.push(job);
        }
        let (intents, replies): (Vec<Intent>, Vec<_>) = batch.into_iter().unzip();
        let shared = Arc::clone(&workspace);
        let outcomes = tokio::task::spawn_blocking(move || {
            let mut workspace = shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            run_batch(&mut workspace, &intents)
        })
        .await
        .unwrap_or_else(|error| {
            vec![
                Outcome::Failed {
                    error: format!("writer task failed: {error}"),
                    retry: true,
                };
                replies.len()
            ]
        });
        for (reply, outcome) in replies.into_iter().zip(outcomes) {
            // The submitter may have given up waiting; the outcome is recorded by the caller anyway.
            let _ = reply.send(outcome);
        }
    }
}

/// One cycle per automation in the batch (they share the remote branch), outcomes in order.
fn run_batch(workspace: &mut Workspace, intents: &[Intent]) -> Vec<Outcome> {
    let mut outcomes = vec![Outcome::UpToDate; intents.len()];
    let mut automations: Vec<&Arc<Automation>> = intents.iter().map(|intent| &intent.automation).collect();
    automations.dedup_by(|a, b| a.key == b.key);
    let mut done = std::collections::HashSet::new();
    for automation in automations {
        if !done.insert(automation.key.clone()) {
            continue;
        }
        let indices: Vec<usize> = (0..intents.len())
            .filter(|&i| intents[i].automation.key == automation.key)
            .collect();
        let group: Vec<Intent> = indices.iter().map(|&i| intents[i].clone()).collect();
        for (index, outcome) in indices.into_iter().zip(cycle::run(workspace, automation, &group)) {
            outcomes[index] = outcome;
        }
    }
    outcomes
}
