//! The durable journal (SQLite via sqlx, versioned migrations, WAL, `synchronous=FULL`): intake
//! events and their states, pins, suspensions, audit entries and deployments. The only module
//! that writes the database. Appends from concurrent requests are grouped into one transaction
//! (one fsync) by a single writer task; each caller's append returns only once it is durable.

mod writer;

use crate::clock::now;
use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::path::Path;
use std::time::Duration;

pub use writer::AppendOutcome;

/// An event as accepted by intake, before it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// `registry`, `forgejo`, `poll`, `api`.
    pub source: String,
    /// Unique per real event: the registry's event id, or a hash of a Forgejo body.
    pub dedupe_key: String,
    pub kind: Kind,
    pub repository: Option<String>,
    pub automation: Option<String>,
    pub tag: Option<String>,
    pub digest: Option<String>,
    /// Initial state: `received`, or `rejected`/`ignored` with a reason.
    pub state: State,
    pub reason: Option<String>,
}

impl NewEvent {
    /// An authenticated body that cannot be used: journaled as `rejected` with the reason, so
    /// the sender is never wedged and the operator still sees it.
    pub fn rejected(source: &str, dedupe_key: String, reason: String) -> Self {
        Self {
            source: source.to_owned(),
            dedupe_key,
            kind: Kind::Rejected,
            repository: None,
            automation: None,
            tag: None,
            digest: None,
            state: State::Rejected,
            reason: Some(reason),
        }
    }
}

/// What an event asks of the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A tag to consider for the policies of `repository`.
    Push,
    /// The gitops repository changed: fetch and re-read what git says for `automation`.
    Refresh,
    /// An authenticated body that could not be used; stored for the operator, never processed.
    Rejected,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Push => "push",
            Self::Refresh => "refresh",
            Self::Rejected => "rejected",
        }
    }
}

/// A stored value the journal does not know: a newer version wrote it, or the file was edited.
/// Reading such a row is an error, never a guess.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {column} {value:?} in the journal; was it written by a newer pushdeploy?")]
pub struct UnknownValue {
    column: &'static str,
    value: String,
}

impl TryFrom<String> for Kind {
    type Error = UnknownValue;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        [Self::Push, Self::Refresh, Self::Rejected]
            .into_iter()
            .find(|kind| kind.as_str() == value)
            .ok_or(UnknownValue {
                column: "event kind",
                value,
            })
    }
}

/// Where an event is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Received,
    Confirmed,
    Decided,
    Written,
    /// A gitops push event: the working copy was fetched and reset.
    Refreshed,
    Ignored,
    Failed,
    Rejected,
}

impl State {
    pub const ALL: [Self; 8] = [
        Self::Received,
        Self::Confirmed,
        Self::Decided,
        Self::Written,
        Self::Refreshed,
        Self::Ignored,
        Self::Failed,
        Self::Rejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::Confirmed => "confirmed",
            Self::Decided => "decided",
            Self::Written => "written",
            Self::Refreshed => "refreshed",
            Self::Ignored => "ignored",
            Self::Failed => "failed",
            Self::Rejected => "rejected",
        }
    }
}

impl TryFrom<String> for State {
    type Error = UnknownValue;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::ALL
            .into_iter()
            .find(|state| state.as_str() == value)
            .ok_or(UnknownValue {
                column: "event state",
                value,
            })
    }
}

/// `Kind` and `State` are stored as their names: decoding an unknown name is a column error
/// that names the value (sqlx's `try_from` attribute would lose the message).
macro_rules! text_column {
    ($($name:ty),*) => {$(
        impl<DB: sqlx::Database> sqlx::Type<DB> for $name
        where
            String: sqlx::Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <String as sqlx::Type<DB>>::type_info()
            }
            fn compatible(ty: &DB::TypeInfo) -> bool {
                <String as sqlx::Type<DB>>::compatible(ty)
            }
        }

        impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for $name
        where
            String: sqlx::Decode<'r, DB>,
        {
            fn decode(value: DB::ValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
                Ok(Self::try_from(<String as sqlx::Decode<'r, DB>>::decode(value)?)?)
            }
        }
    )*};
}

text_column!(Kind, State);

/// A stored event.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Event {
    pub id: i64,
    pub source: String,
    pub kind: Kind,
    pub repository: Option<String>,
    pub automation: Option<String>,
    pub tag: Option<String>,
    pub digest: Option<String>,
    pub state: State,
    pub reason: Option<String>,
    #[sqlx(rename = "commit_sha")]
    pub commit: Option<String>,
    /// Unix seconds.
    pub received_at: i64,
    pub updated_at: i64,
}

/// A policy held at a tag by hand (promote, rollback, pin) until resumed.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Pin {
    pub policy: String,
    pub tag: String,
    pub pinned_by: String,
    /// Unix seconds.
    pub at: i64,
}

/// An automation that writes nothing automatically until resumed.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Suspension {
    pub automation: String,
    pub suspended_by: String,
    /// Unix seconds.
    pub at: i64,
}

/// A tag written to git for a policy, and why.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Deployment {
    pub tag: String,
    pub commit_sha: String,
    pub author: String,
    pub cause: String,
    /// Unix seconds.
    pub at: i64,
}

/// One authenticated mutating API call.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditEntry {
    pub token_name: String,
    pub request: String,
    pub result: String,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum JournalError {
    #[error("journal database {path}: {reason}; check that the data dir is writable")]
    Open { path: String, reason: String },
    /// The filesystem under the data dir has no space left (SQLITE_FULL / ENOSPC).
    #[error(
        "journal: the data dir's filesystem is full ({detail}); free space there: intake answers 503 (senders retry) until a journal write succeeds again"
    )]
    DiskFull { detail: String },
    /// The database or the filesystem under it refuses writes (SQLITE_READONLY, EROFS, EACCES,
    /// EPERM on an immutable file, an I/O error).
    #[error(
        "journal: the database cannot be written ({detail}); make the data dir and journal.db writable by the service: intake answers 503 (senders retry) until a journal write succeeds again"
    )]
    ReadOnly { detail: String },
    #[error("journal: {0}")]
    Database(String),
}

impl From<sqlx::Error> for JournalError {
    fn from(error: sqlx::Error) -> Self {
        // SQLite primary result codes (the low byte of the extended code).
        const SQLITE_PERM: i64 = 3;
        const SQLITE_READONLY: i64 = 8;
        const SQLITE_IOERR: i64 = 10;
        const SQLITE_FULL: i64 = 13;
        const SQLITE_CANTOPEN: i64 = 14;
        let detail = error.to_string();
        let primary = error
            .as_database_error()
            .and_then(|database| database.code())
            .and_then(|code| code.parse::<i64>().ok())
            .map(|code| code & 0xff);
        match primary {
            Some(SQLITE_FULL) => Self::DiskFull { detail },
            Some(SQLITE_READONLY | SQLITE_PERM | SQLITE_IOERR | SQLITE_CANTOPEN) => Self::ReadOnly { detail },
            _ => Self::Database(detail),
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
        let open_error = |reason: String| JournalError::Open {
            path: path.display().to_string(),
            reason,
        };
        std::fs::create_dir_all(data_dir).map_err(|error| open_error(error.to_string()))?;
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
            .map_err(|error| open_error(error.to_string()))?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(|error| open_error(error.to_string()))?;
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
    pub async fn unfinished_page(&self, after: i64, limit: usize) -> Result<Vec<Event>, JournalError> {
        let query = format!(
            "SELECT {COLUMNS} FROM events WHERE id > ? AND state IN ('received', 'confirmed', 'decided') ORDER BY id LIMIT ?"
        );
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(query))
            .bind(after)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await?)
    }

    pub async fn transition(
        &self,
        id: i64,
        state: State,
        reason: Option<&str>,
        commit: Option<&str>,
        digest: Option<&str>,
    ) -> Result<(), JournalError> {
        sqlx::query("UPDATE events SET state = ?, reason = COALESCE(?, reason), commit_sha = COALESCE(?, commit_sha), digest = COALESCE(?, digest), updated_at = ? WHERE id = ?")
            .bind(state.as_str())
            .bind(reason)
            .bind(commit)
            .bind(digest)
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

    pub async fn pin(&self, policy: &str, tag: &str, by: &str) -> Result<(), JournalError> {
        sqlx::query("INSERT INTO pins (policy, tag, pinned_by, at) VALUES (?, ?, ?, ?) ON CONFLICT (policy) DO UPDATE SET tag = excluded.tag, pinned_by = excluded.pinned_by, at = excluded.at")
            .bind(policy)
            .bind(tag)
            .bind(by)
            .bind(now())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn unpin(&self, policy: &str) -> Result<(), JournalError> {
        sqlx::query("DELETE FROM pins WHERE policy = ?")
            .bind(policy)
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

    pub async fn suspend(&self, automation: &str, by: &str) -> Result<(), JournalError> {
        sqlx::query("INSERT INTO suspensions (automation, suspended_by, at) VALUES (?, ?, ?) ON CONFLICT (automation) DO UPDATE SET suspended_by = excluded.suspended_by, at = excluded.at")
            .bind(automation)
            .bind(by)
            .bind(now())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn unsuspend(&self, automation: &str) -> Result<(), JournalError> {
        sqlx::query("DELETE FROM suspensions WHERE automation = ?")
            .bind(automation)
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

    /// Unfinished events for `repository` (`namespace/name`).
    pub async fn pending(&self, repository: &str) -> Result<i64, JournalError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM events WHERE repository = ? AND state IN ('received', 'confirmed', 'decided')",
        )
        .bind(repository)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.get("n"))
    }

    pub async fn record_deployment(
        &self,
        policy: &str,
        tag: &str,
        commit: &str,
        author: &str,
        cause: &str,
    ) -> Result<(), JournalError> {
        sqlx::query(
            "INSERT INTO deployments (policy, tag, commit_sha, author, cause, at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(policy)
        .bind(tag)
        .bind(commit)
        .bind(author)
        .bind(cause)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The tag of the newest deployment of `policy` (read at startup for `/status`).
    pub async fn last_deployed(&self, policy: &str) -> Result<Option<String>, JournalError> {
        Ok(
            sqlx::query("SELECT tag FROM deployments WHERE policy = ? ORDER BY id DESC LIMIT 1")
                .bind(policy)
                .fetch_optional(&self.pool)
                .await?
                .map(|row| row.get("tag")),
        )
    }

    /// The deployments of `policy`, newest first.
    pub async fn deployments(&self, policy: &str) -> Result<Vec<Deployment>, JournalError> {
        Ok(sqlx::query_as(
            "SELECT tag, commit_sha, author, cause, at FROM deployments WHERE policy = ? ORDER BY id DESC",
        )
        .bind(policy)
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
