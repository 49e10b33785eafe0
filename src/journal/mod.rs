//! The durable journal: intake events and their states, pins, suspensions, audit entries,
//! deployments and kept digests. The only module that writes the database. Two backends behind
//! one set of queries (sqlx's `Any` driver; placeholders are `$n`, which both understand):
//!
//! - SQLite in `<data_dir>/journal.db` (the embedded default): WAL, `synchronous=FULL`.
//! - PostgreSQL (`intake.journal.url`), shared by every replica; a commit is durable on the
//!   server (`synchronous_commit` as the server has it, `on` by default) before its 2xx.
//!
//! Appends from concurrent requests are grouped into one transaction (one fsync) by a single
//! writer task; each caller's append returns only once it is durable. The migrations are two
//! directories kept in step (`migrations/sqlite`, `migrations/postgres`: same versions, same
//! tables and columns; a test compares them). `proposals` keeps the pull requests of
//! pull-request mode (`proposals.rs`).

mod alerts;
mod digests;
mod error;
mod event;
mod event_log;
mod proposals;
mod records;
mod rows;
mod writer;

use secrecy::{ExposeSecret, SecretString};
use sqlx::AnyPool;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions as _, Executor as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use alerts::QueuedAlert;
pub use digests::FirstDigest;
pub use error::JournalError;
pub use event::{Event, EventKind, NewEvent, State, UnknownValue};
pub use proposals::{NewProposal, Proposal, ProposalState, encode_values};
pub use rows::{AuditEntry, Deployment, Pin, Suspension};
pub use writer::AppendOutcome;

/// Where the journal lives.
#[derive(Debug, Clone)]
pub enum Location {
    /// `<dir>/journal.db`.
    Sqlite(PathBuf),
    /// A `postgres://` URL (it may carry a password: a secret, never shown).
    Postgres(SecretString),
}

/// Which database a journal is on (for messages and the few statements that differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL channel appends notify on, with the lowest new event id as the payload.
pub const EVENTS_CHANNEL: &str = "pushdeploy_events";

/// How long a statement waits for a pooled connection before it fails (and intake answers 503):
/// a database that is down must not hold requests for sqlx's default 30 s.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// A handle to the journal; cheap to clone.
#[derive(Debug, Clone)]
pub struct Journal {
    pool: AnyPool,
    backend: Backend,
    appender: writer::Appender,
}

impl Journal {
    /// Open (creating) `<data_dir>/journal.db` and run the migrations.
    pub async fn open(data_dir: &Path) -> Result<Self, JournalError> {
        Self::open_at(&Location::Sqlite(data_dir.to_owned())).await
    }

    /// Open the journal at `location` and run its migrations.
    pub async fn open_at(location: &Location) -> Result<Self, JournalError> {
        sqlx::any::install_default_drivers();
        let (pool, backend) = match location {
            Location::Sqlite(dir) => (open_sqlite(dir).await?, Backend::Sqlite),
            Location::Postgres(url) => (open_postgres(url).await?, Backend::Postgres),
        };
        let migrated = match backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&pool).await,
            Backend::Postgres => sqlx::migrate!("./migrations/postgres").run(&pool).await,
        };
        migrated.map_err(|error| JournalError::Open {
            path: describe(location),
            source: Arc::new(error),
        })?;
        let appender = writer::Appender::start(pool.clone(), backend);
        Ok(Self {
            pool,
            backend,
            appender,
        })
    }

    /// Which database this journal is on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Store events durably (one transaction for everything queued meanwhile); duplicates are
    /// recognised by `dedupe_key` and stored once.
    pub async fn append(&self, events: Vec<NewEvent>) -> Result<Vec<AppendOutcome>, JournalError> {
        self.appender.append(events).await
    }

    /// The journal's write health: `Err(reason)` after a batch failed because the storage
    /// refused it (full, read-only, the database unreachable), `Ok` again once a write (a batch
    /// or the probe, every second meanwhile) succeeds. Readiness follows it.
    pub fn health(&self) -> tokio::sync::watch::Receiver<Result<(), String>> {
        self.appender.health()
    }

    /// How many transactions the appender committed (to observe fsync batching).
    pub fn append_transactions(&self) -> u64 {
        self.appender.transactions()
    }
}

/// Where the journal is, for messages: the SQLite file, or the PostgreSQL server without its
/// credentials.
fn describe(location: &Location) -> String {
    match location {
        Location::Sqlite(dir) => dir.join("journal.db").display().to_string(),
        Location::Postgres(url) => postgres_display(url.expose_secret()),
    }
}

/// `postgres://user@host:port/database`: what a message may say of a URL (never its password,
/// nor its parameters, which may carry one too).
pub fn postgres_display(url: &str) -> String {
    match url.parse::<sqlx::postgres::PgConnectOptions>() {
        Ok(options) => format!(
            "postgres://{}@{}:{}/{}",
            options.get_username(),
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or("")
        ),
        Err(_) => "the PostgreSQL URL (it does not parse)".to_owned(),
    }
}

async fn open_sqlite(dir: &Path) -> Result<AnyPool, JournalError> {
    let path = dir.join("journal.db");
    let open_error = |source: Arc<dyn std::error::Error + Send + Sync>| JournalError::Open {
        path: path.display().to_string(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(|error| open_error(Arc::new(error)))?;
    let url = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true)
        .to_url_lossy();
    let options = AnyConnectOptions::from_url(&url).map_err(|error| open_error(Arc::new(error)))?;
    AnyPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .after_connect(|connection, _| {
            Box::pin(async move {
                // WAL: readers do not block the appender. FULL: an acknowledged event survives
                // kill -9 and power loss. The busy timeout covers a checkpoint in progress.
                connection
                    .execute(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000;",
                    )
                    .await?;
                Ok(())
            })
        })
        .connect_with(options)
        .await
        .map_err(|error| open_error(Arc::new(error)))
}

async fn open_postgres(url: &SecretString) -> Result<AnyPool, JournalError> {
    let open_error = |source: Arc<dyn std::error::Error + Send + Sync>| JournalError::Open {
        path: postgres_display(url.expose_secret()),
        source,
    };
    let options: AnyConnectOptions = url
        .expose_secret()
        .parse()
        .map_err(|error: sqlx::Error| open_error(Arc::new(error)))?;
    AnyPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        // A connection the server dropped (a restart) is noticed before it is handed out.
        .test_before_acquire(true)
        .connect_with(options)
        .await
        .map_err(|error| open_error(Arc::new(error)))
}

#[cfg(test)]
mod tests;
