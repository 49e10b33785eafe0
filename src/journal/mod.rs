//! The durable journal (SQLite via sqlx, versioned migrations, WAL, `synchronous=FULL`): intake
//! events and their states, pins, suspensions, audit entries and deployments. The only module
//! that writes the database. Appends from concurrent requests are grouped into one transaction
//! (one fsync) by a single writer task; each caller's append returns only once it is durable.

mod digests;
mod error;
mod event;
mod event_log;
mod records;
mod rows;
mod writer;

use crate::clock::now;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub use digests::FirstDigest;
pub use error::JournalError;
pub use event::{Event, EventKind, NewEvent, State, UnknownValue};
pub use rows::{AuditEntry, Deployment, Pin, Suspension};
pub use writer::AppendOutcome;

/// A handle to the journal; cheap to clone.
#[derive(Debug, Clone)]
pub struct Journal {
    pool: SqlitePool,
    appender: writer::Appender,
}

impl Journal {
    /// Open (creating) `<data_dir>/journal.db` and run the migrations.
    pub async fn open(data_dir: &Path) -> Result<Self, JournalError> {
        let path = data_dir.join("journal.db");
        let open_error = |source: Arc<dyn std::error::Error + Send + Sync>| JournalError::Open {
            path: path.display().to_string(),
            source,
        };
        std::fs::create_dir_all(data_dir).map_err(|error| open_error(Arc::new(error)))?;
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: an acknowledged event survives kill -9 and power loss.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(|error| open_error(Arc::new(error)))?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(|error| open_error(Arc::new(error)))?;
        let appender = writer::Appender::start(pool.clone());
        Ok(Self { pool, appender })
    }

    /// Store events durably (one transaction for everything queued meanwhile); duplicates are
    /// recognised by `dedupe_key` and stored once.
    pub async fn append(&self, events: Vec<NewEvent>) -> Result<Vec<AppendOutcome>, JournalError> {
        self.appender.append(events).await
    }

    /// The journal's write health: `Err(reason)` after a batch failed because the storage
    /// refused it (full, read-only), `Ok` again once a write (a batch or the probe, every
    /// second meanwhile) succeeds. Readiness follows it.
    pub fn health(&self) -> tokio::sync::watch::Receiver<Result<(), String>> {
        self.appender.health()
    }

    /// How many transactions the appender committed (to observe fsync batching).
    pub fn append_transactions(&self) -> u64 {
        self.appender.transactions()
    }
}

#[cfg(test)]
mod tests;
