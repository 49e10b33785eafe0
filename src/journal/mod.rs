//! The durable journal (SQLite via sqlx, versioned migrations, WAL, `synchronous=FULL`): intake
//! events and their states, pins, suspensions, audit entries and deployments. The only module
//! that writes the database. Appends from concurrent requests are grouped into one transaction
//! (one fsync) by a single writer task; each caller's append returns only once it is durable.

mod digests;
mod event;
mod rows;
mod writer;

use crate::clock::now;
use crate::domain::{ObjectKey, Tag};
use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub use digests::FirstDigest;
pub use event::{Event, EventKind, NewEvent, State, UnknownValue};
pub use rows::{AuditEntry, Deployment, Pin, Suspension};
pub use writer::AppendOutcome;

/// Why the journal could not do what was asked. The underlying error is kept as the source
/// (shared: one failed group commit is every waiting caller's answer, so this is `Clone`).
#[derive(Debug, Clone, thiserror::Error)]
pub enum JournalError {
    #[error("journal database {path}: {source}; check that the data dir is writable")]
    Open {
        path: String,
        #[source]
        source: Arc<dyn std::error::Error + Send + Sync>,
    },
    /// The filesystem under the data dir has no space left (SQLITE_FULL / ENOSPC).
    #[error(
        "journal: the data dir's filesystem is full ({source}); free space there: intake answers 503 (senders retry) until a journal write succeeds again"
    )]
    DiskFull {
        #[source]
        source: Arc<sqlx::Error>,
    },
    /// The database or the filesystem under it refuses writes (SQLITE_READONLY, EROFS, EACCES,
    /// EPERM on an immutable file, an I/O error).
    #[error(
        "journal: the database cannot be written ({source}); make the data dir and journal.db writable by the service: intake answers 503 (senders retry) until a journal write succeeds again"
    )]
    ReadOnly {
        #[source]
        source: Arc<sqlx::Error>,
    },
    /// A statement failed, or a stored row does not decode (the message names the row).
    #[error("journal: {0}")]
    Database(#[source] Arc<sqlx::Error>),
    /// The appender task is gone (shutting down).
    #[error("journal: the journal writer has stopped")]
    Stopped,
}

impl From<sqlx::Error> for JournalError {
    fn from(error: sqlx::Error) -> Self {
        // SQLite primary result codes (the low byte of the extended code).
        const SQLITE_PERM: i64 = 3;
        const SQLITE_READONLY: i64 = 8;
        const SQLITE_IOERR: i64 = 10;
        const SQLITE_FULL: i64 = 13;
        const SQLITE_CANTOPEN: i64 = 14;
        let primary = error
            .as_database_error()
            .and_then(|database| database.code())
            .and_then(|code| code.parse::<i64>().ok())
            .map(|code| code & 0xff);
        let source = Arc::new(error);
        match primary {
            Some(SQLITE_FULL) => Self::DiskFull { source },
            Some(SQLITE_READONLY | SQLITE_PERM | SQLITE_IOERR | SQLITE_CANTOPEN) => Self::ReadOnly { source },
            _ => Self::Database(source),
        }
    }
}

impl JournalError {
    /// Whether the journal's storage refused the write (full or read-only), as opposed to a
    /// single bad statement: readiness goes false until a write succeeds again.
    pub fn is_storage(&self) -> bool {
        matches!(self, Self::DiskFull { .. } | Self::ReadOnly { .. })
    }
}

/// A handle to the journal; cheap to clone.
#[derive(Debug, Clone)]
pub struct Journal {
    pool: SqlitePool,
    appender: writer::Appender,
}

// Only constant fragments are formatted into SQL (AssertSqlSafe below); values are always bound.
const COLUMNS: &str = "id, source, kind, repository, automation, tag, digest, state, reason, commit_sha, received_at, updated_at";

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

    /// Events not yet written, ignored, failed or rejected, oldest first: resumed after a restart.
    pub async fn unfinished(&self) -> Result<Vec<Event>, JournalError> {
        self.unfinished_after(0).await
    }

    /// Unfinished events with an id above `after` (the engine's read cursor): what arrived since
    /// the last read, without re-reading a backlog that waits out its retry delay.
    pub async fn unfinished_after(&self, after: i64) -> Result<Vec<Event>, JournalError> {
        let query = format!(
            "SELECT {COLUMNS} FROM events WHERE id > ? AND state IN ('received', 'confirmed', 'decided') ORDER BY id"
        );
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(query))
            .bind(after)
            .fetch_all(&self.pool)
            .await?)
    }

    /// At most `limit` unfinished events with an id above `after`, oldest first: a large backlog
    /// is read page by page, never held in memory whole.
    ///
    /// An unfinished row that does not decode (a value edited by hand, or written by a newer
    /// version) cannot be processed by anyone: it is marked `failed` with the decode error,
    /// which names the row and column, and logged, so that it neither wedges every later read
    /// nor disappears unseen.
    pub async fn unfinished_page(&self, after: i64, limit: usize) -> Result<Vec<Event>, JournalError> {
        use sqlx::FromRow;
        let query = format!(
            "SELECT {COLUMNS} FROM events WHERE id > ? AND state IN ('received', 'confirmed', 'decided') ORDER BY id LIMIT ?"
        );
        loop {
            let rows = sqlx::query(sqlx::AssertSqlSafe(query.clone()))
                .bind(after)
                .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                .fetch_all(&self.pool)
                .await?;
            let mut events = Vec::with_capacity(rows.len());
            let mut undecodable = 0;
            for row in &rows {
                match Event::from_row(row) {
                    Ok(event) => events.push(event),
                    Err(error) => {
                        let id: i64 = row.try_get("id")?;
                        let reason = JournalError::from(error).to_string();
                        tracing::error!(event = id, %reason, "an unfinished journal event does not decode; marked failed");
                        self.transition(id, State::Failed, Some(&reason), None, None)
                            .await?;
                        undecodable += 1;
                    }
                }
            }
            // Read again so that a full page stays full: the caller takes a short page as the end.
            if undecodable == 0 || rows.len() < limit {
                return Ok(events);
            }
        }
    }

    pub async fn transition(
        &self,
        id: i64,
        state: State,
        reason: Option<&str>,
        commit: Option<&str>,
        digest: Option<&crate::domain::Digest>,
    ) -> Result<(), JournalError> {
        sqlx::query("UPDATE events SET state = ?, reason = COALESCE(?, reason), commit_sha = COALESCE(?, commit_sha), digest = COALESCE(?, digest), updated_at = ? WHERE id = ?")
            .bind(state.as_str())
            .bind(reason)
            .bind(commit)
            .bind(digest.map(crate::domain::Digest::as_str))
            .bind(now())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn get(&self, id: i64) -> Result<Option<Event>, JournalError> {
        let query = format!("SELECT {COLUMNS} FROM events WHERE id = ?");
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(query))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Newest first; `before` is the id cursor of the next page.
    pub async fn list(
        &self,
        state: Option<State>,
        repository: Option<&str>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Event>, JournalError> {
        let query = format!(
            "SELECT {COLUMNS} FROM events WHERE (? IS NULL OR state = ?) AND (? IS NULL OR repository = ?) AND (? IS NULL OR id < ?) ORDER BY id DESC LIMIT ?"
        );
        let state = state.map(State::as_str);
        let rows = sqlx::query_as(sqlx::AssertSqlSafe(query))
            .bind(state)
            .bind(state)
            .bind(repository)
            .bind(repository)
            .bind(before)
            .bind(before)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows)
    }

    /// Count of events per state (for the backlog gauge and `/status`).
    pub async fn backlog(&self) -> Result<i64, JournalError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM events WHERE state IN ('received', 'confirmed', 'decided')",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(row.get("n"))
    }

    /// Delete finished events older than `max_age` and beyond the newest `max_count`.
    pub async fn prune(&self, max_age: Duration, max_count: i64) -> Result<u64, JournalError> {
        let cutoff = now() - i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX);
        let finished = "state IN ('written', 'refreshed', 'ignored', 'failed', 'rejected')";
        let by_age = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM events WHERE {finished} AND received_at < ?"
        )))
        .bind(cutoff)
        .execute(&self.pool)
        .await?;
        let by_count = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM events WHERE {finished} AND id NOT IN (SELECT id FROM events ORDER BY id DESC LIMIT ?)"
        )))
        .bind(max_count)
        .execute(&self.pool)
        .await?;
        Ok(by_age.rows_affected() + by_count.rows_affected())
    }

    pub async fn pin(&self, policy: &ObjectKey, tag: &Tag, by: &str) -> Result<(), JournalError> {
        sqlx::query("INSERT INTO pins (policy, tag, pinned_by, at) VALUES (?, ?, ?, ?) ON CONFLICT (policy) DO UPDATE SET tag = excluded.tag, pinned_by = excluded.pinned_by, at = excluded.at")
            .bind(policy.to_string())
            .bind(tag.as_str())
            .bind(by)
            .bind(now())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn unpin(&self, policy: &ObjectKey) -> Result<(), JournalError> {
        sqlx::query("DELETE FROM pins WHERE policy = ?")
            .bind(policy.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every pin, by policy.
    pub async fn pins(&self) -> Result<Vec<Pin>, JournalError> {
        Ok(
            sqlx::query_as("SELECT policy, tag, pinned_by, at FROM pins ORDER BY policy")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    pub async fn suspend(&self, automation: &ObjectKey, by: &str) -> Result<(), JournalError> {
        sqlx::query("INSERT INTO suspensions (automation, suspended_by, at) VALUES (?, ?, ?) ON CONFLICT (automation) DO UPDATE SET suspended_by = excluded.suspended_by, at = excluded.at")
            .bind(automation.to_string())
            .bind(by)
            .bind(now())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn unsuspend(&self, automation: &ObjectKey) -> Result<(), JournalError> {
        sqlx::query("DELETE FROM suspensions WHERE automation = ?")
            .bind(automation.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every suspension, by automation.
    pub async fn suspensions(&self) -> Result<Vec<Suspension>, JournalError> {
        Ok(
            sqlx::query_as("SELECT automation, suspended_by, at FROM suspensions ORDER BY automation")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// Unfinished events for `repository`.
    pub async fn pending(&self, repository: &ObjectKey) -> Result<i64, JournalError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM events WHERE repository = ? AND state IN ('received', 'confirmed', 'decided')",
        )
        .bind(repository.to_string())
        .fetch_one(&self.pool)
        .await?;
        Ok(row.get("n"))
    }

    pub async fn record_deployment(
        &self,
        policy: &ObjectKey,
        tag: &Tag,
        commit: &str,
        author: &str,
        cause: &str,
    ) -> Result<(), JournalError> {
        sqlx::query(
            "INSERT INTO deployments (policy, tag, commit_sha, author, cause, at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(policy.to_string())
        .bind(tag.as_str())
        .bind(commit)
        .bind(author)
        .bind(cause)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The tag of the newest deployment of `policy` (read at startup for `/status`).
    pub async fn last_deployed(&self, policy: &ObjectKey) -> Result<Option<Tag>, JournalError> {
        let newest: Option<Deployment> = sqlx::query_as(
            "SELECT id, tag, commit_sha, author, cause, at FROM deployments WHERE policy = ? ORDER BY id DESC LIMIT 1",
        )
        .bind(policy.to_string())
        .fetch_optional(&self.pool)
        .await?;
        Ok(newest.map(|deployment| deployment.tag))
    }

    /// The deployments of `policy`, newest first.
    pub async fn deployments(&self, policy: &ObjectKey) -> Result<Vec<Deployment>, JournalError> {
        Ok(sqlx::query_as(
            "SELECT id, tag, commit_sha, author, cause, at FROM deployments WHERE policy = ? ORDER BY id DESC",
        )
        .bind(policy.to_string())
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn audit(&self, token: &str, request: &str, result: &str) -> Result<(), JournalError> {
        sqlx::query("INSERT INTO audit (token_name, request, result, at) VALUES (?, ?, ?, ?)")
            .bind(token)
            .bind(request)
            .bind(result)
            .bind(now())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Audit entries, newest first.
    pub async fn audit_entries(&self, limit: i64) -> Result<Vec<AuditEntry>, JournalError> {
        Ok(
            sqlx::query_as("SELECT token_name, request, result FROM audit ORDER BY id DESC LIMIT ?")
                .bind(limit)
                .fetch_all(&self.pool)
                .await?,
        )
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
