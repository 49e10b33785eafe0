//! The decision stage: journaled events and changed tag lists in; intents for the gitops writers
//! out. A webhook's tag is confirmed in the registry (manifest HEAD) before anything is written;
//! the policy picks over the known tags plus this one; pins and suspensions hold. Here: the
//! engine's state; `drain.rs` schedules, `process.rs` handles one event, `decide.rs` plans and
//! writes, `status.rs` reports.

use crate::config::Settings;
use crate::domain::ObjectKey;
use crate::gitops::{Outcome, Writers};
use crate::journal::Journal;
use crate::registry::Gateway;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

mod burst;
mod confirm;
mod decide;
mod digest_refresh;
mod drain;
mod manual;
mod once;
mod overrides;
mod process;
mod proposals;
pub mod reports;
mod retry;
pub mod routing;
mod status;
pub mod writes;

pub use manual::{Manual, ManualError, Upstream};
pub use once::OnceReport;
pub use overrides::{SharedOverrides, WriteGate};

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// Pause before retrying events that failed transiently (remote unreachable, registry down).
const RETRY_DELAY: Duration = Duration::from_secs(10);

/// The engine: what it knows between events (picks, deployments, retries, bursts) and the
/// handles it acts through (journal, registry gateway, writers, overrides).
pub struct Engine {
    pub settings: Arc<Settings>,
    pub journal: Journal,
    pub registry: Arc<Gateway>,
    pub writers: Arc<Writers>,
    /// Pins and suspensions: set here, honoured by `plan` and again by the writers' gate.
    pub overrides: Arc<SharedOverrides>,
    /// What this replica owns (everything, unless replicas share a PostgreSQL journal): only
    /// owned repositories' and automations' events are processed here.
    pub ownership: crate::ownership::Ownership,
    wake: Arc<Notify>,
    /// The last pick per policy from a scan, so an unchanged pick does no work.
    selected: Mutex<BTreeMap<ObjectKey, String>>,
    last_prune: Mutex<Option<std::time::Instant>>,
    /// Manual calls on one policy run one at a time.
    manual_locks: Mutex<std::collections::HashMap<ObjectKey, Arc<tokio::sync::Mutex<()>>>>,
    /// Events that failed transiently, with the time before which they are not tried again:
    /// a wake for new events does not re-run them (no hot loop against a registry that is down).
    retry_at: Mutex<std::collections::HashMap<i64, std::time::Instant>>,
    /// Highest journal id read so far (0: nothing read yet, so the next read is the whole backlog).
    read_up_to: std::sync::atomic::AtomicI64,
    /// The tag last pushed per policy (loaded from the journal at startup), for `/status`.
    deployed: Mutex<BTreeMap<ObjectKey, String>>,
    /// Scan results fully decided (and written) so far: lets callers wait for a scan's effect.
    scans_decided: std::sync::atomic::AtomicU64,
    /// Shared, bounded manifest HEADs and tag lists for confirming webhook tags.
    confirmer: confirm::Confirmer,
    /// Deliveries of one repository and tag within the coalescing window: one decision.
    bursts: burst::Bursts,
    /// Authenticated pushes for hosts/repositories nothing is configured for (`/status`).
    pub unmatched: routing::Unmatched,
    /// The last write result per automation (`/status`).
    writes: writes::Writes,
    /// When the first wake not yet answered by a drain came (for the `wake_us` timing line).
    woken_at: Mutex<Option<std::time::Instant>>,
    /// Pull-request mode: one proposal at a time per (automation, branch).
    proposal_locks: Mutex<std::collections::HashMap<(ObjectKey, String), proposals::BranchLock>>,
    /// Pull-request mode: one API client per automation, made on first use.
    forges: Mutex<std::collections::HashMap<ObjectKey, Arc<crate::forge::Forge>>>,
    /// Pull-request mode: the last known state of each request branch (`/status`).
    proposals: Mutex<BTreeMap<(ObjectKey, String), reports::ProposalView>>,
    /// Told of every push this engine made (the alerts' deployment notices).
    on_pushed: std::sync::OnceLock<Arc<dyn Fn(reports::Pushed) + Send + Sync>>,
}

/// What one decision produced for one policy.
pub struct Decision {
    pub policy: ObjectKey,
    /// The automation that wrote (or was held from writing); `None` when the outcome is the
    /// policy's own (pinned, no pick, no automation covers it).
    pub automation: Option<ObjectKey>,
    pub outcome: Outcome,
}

impl Engine {
    /// A new engine over these handles; nothing runs until `run`.
    pub fn new(
        settings: Arc<Settings>,
        journal: Journal,
        registry: Arc<Gateway>,
        writers: Arc<Writers>,
        overrides: Arc<SharedOverrides>,
        ownership: crate::ownership::Ownership,
    ) -> Arc<Self> {
        let window = settings.intake.coalesce_window;
        Arc::new(Self {
            settings,
            journal,
            registry,
            writers,
            overrides,
            ownership,
            wake: Arc::new(Notify::new()),
            selected: Mutex::default(),
            last_prune: Mutex::default(),
            manual_locks: Mutex::default(),
            scans_decided: std::sync::atomic::AtomicU64::new(0),
            deployed: Mutex::default(),
            retry_at: Mutex::default(),
            read_up_to: std::sync::atomic::AtomicI64::new(0),
            confirmer: confirm::Confirmer::default(),
            bursts: burst::Bursts::new(window),
            unmatched: routing::Unmatched::default(),
            writes: writes::Writes::default(),
            woken_at: Mutex::default(),
            proposal_locks: Mutex::default(),
            forges: Mutex::default(),
            proposals: Mutex::default(),
            on_pushed: std::sync::OnceLock::new(),
        })
    }

    /// Tell `observer` of every push from now on (set once; later calls are ignored).
    pub fn on_pushed(&self, observer: Arc<dyn Fn(reports::Pushed) + Send + Sync>) {
        let _ = self.on_pushed.set(observer);
    }

    /// New journal entries are waiting.
    pub fn wake(&self) {
        self.woken_at
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert_with(std::time::Instant::now);
        self.wake.notify_one();
    }

    /// Events from `lowest` on were committed (another replica's, announced by PostgreSQL's
    /// NOTIFY): read again from there, since they may sit below the read cursor (ids are drawn
    /// before commit), then wake. `0`: notifications may have been missed, read everything.
    pub fn wake_from(&self, lowest: i64) {
        let by = if lowest > 0 { "notify" } else { "notify resync" };
        metrics::counter!("pushdeploy_engine_wakes_total", "by" => by).increment(1);
        self.read_up_to
            .fetch_min((lowest - 1).max(0), std::sync::atomic::Ordering::AcqRel);
        self.wake();
    }

    /// Whether this replica processes `event` (it owns the event's repository or automation).
    fn owns_event(&self, event: &crate::journal::Event) -> bool {
        use crate::journal::EventKind;
        match &event.kind {
            EventKind::Push { repository, .. } => self.ownership.owns_repository(repository),
            EventKind::Refresh { automation } => self.ownership.owns_automation(automation),
            EventKind::UnmatchedPush { .. } | EventKind::Rejected => true,
        }
    }

    /// What `policy` picks over every known tag (the last scan plus confirmed tags).
    pub fn pick(&self, policy: &crate::config::ImagePolicy) -> Option<String> {
        let tags = self.registry.tags(&policy.repository);
        let borrowed: Vec<&str> = tags.iter().map(String::as_str).collect();
        policy.policy.select(&borrowed).ok().map(str::to_owned)
    }
}

/// A spawned engine task ended by a panic (or was cancelled): say so, loudly.
fn task_failed(error: &tokio::task::JoinError) {
    metrics::counter!("pushdeploy_engine_task_panics_total").increment(1);
    tracing::error!(%error, "an engine task failed; its event stays unfinished and is retried");
}
