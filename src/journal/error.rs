//! `JournalError`: what a journal call reports, classified from SQLite's result code (full,
//! read-only, other) or PostgreSQL's SQLSTATE and the connection's state (unreachable, shutting
//! down, read-only, out of space), with the `sqlx::Error` kept as the source. Decides nothing
//! else.

use std::sync::Arc;

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
    /// The PostgreSQL server cannot be reached or refuses work (down, restarting, a standby,
    /// out of space or connections).
    #[error(
        "journal: the PostgreSQL database is unavailable ({source}); check that the server is up and accepts writes from this replica: intake answers 503 (senders retry) until a journal write succeeds again"
    )]
    Unavailable {
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
        let unreachable = matches!(
            error,
            sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::WorkerCrashed
                | sqlx::Error::Protocol(_)
        );
        if unreachable {
            return Self::Unavailable {
                source: Arc::new(error),
            };
        }
        if let Some(postgres) = error
            .as_database_error()
            .and_then(|database| database.try_downcast_ref::<sqlx::postgres::PgDatabaseError>())
        {
            let unavailable = postgres_unavailable(postgres.code());
            let source = Arc::new(error);
            return if unavailable {
                Self::Unavailable { source }
            } else {
                Self::Database(source)
            };
        }
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

/// Whether a PostgreSQL SQLSTATE says the server, not the statement, is the problem: a
/// connection exception (class 08), insufficient resources (53: disk full, out of memory, too
/// many connections), operator intervention (57P01-57P05: shutting down, restarting, cannot
/// connect now), a read-only transaction on a standby (25006), or a system error (58).
fn postgres_unavailable(sqlstate: &str) -> bool {
    sqlstate.starts_with("08")
        || sqlstate.starts_with("53")
        || sqlstate.starts_with("57P")
        || sqlstate.starts_with("58")
        || sqlstate == "25006"
}

impl JournalError {
    /// Whether the journal's storage refused the write (full, read-only, unreachable), as opposed to a
    /// single bad statement: readiness goes false until a write succeeds again.
    pub fn is_storage(&self) -> bool {
        matches!(
            self,
            Self::DiskFull { .. } | Self::ReadOnly { .. } | Self::Unavailable { .. }
        )
    }
}
