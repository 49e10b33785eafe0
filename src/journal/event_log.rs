//! The event log's queries: unfinished events page by page, state transitions, listing,
//! counting and pruning. Appends go through the group-commit writer (`writer.rs`), not here.

use super::{Event, Journal, JournalError, State};
use crate::clock::now;
use crate::domain::ObjectKey;
use sqlx::Row;
use std::time::Duration;

// Only constant fragments are formatted into SQL (AssertSqlSafe below); values are always bound.
const COLUMNS: &str = "id, source, kind, repository, automation, tag, digest, state, reason, commit_sha, received_at, updated_at";

impl Journal {
    /// Events not yet written, ignored, failed or rejected, oldest first: resumed after a restart.
    pub async fn unfinished(&self) -> Result<Vec<Event>, JournalError> {
        self.unfinished_after(0).await
    }

    /// Unfinished events with an id above `after` (the engine's read cursor): what arrived since
    /// the last read, without re-reading a backlog that waits out its retry delay.
    pub async fn unfinished_after(&self, after: i64) -> Result<Vec<Event>, JournalError> {
        let query = format!(
            "SELECT {COLUMNS} FROM events WHERE id > $1 AND state IN ('received', 'confirmed', 'decided') ORDER BY id"
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
            "SELECT {COLUMNS} FROM events WHERE id > $1 AND state IN ('received', 'confirmed', 'decided') ORDER BY id LIMIT $2"
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

    /// Move event `id` to `state`; `reason`, `commit` and `digest` replace the stored ones only
    /// when given.
    pub async fn transition(
        &self,
        id: i64,
        state: State,
        reason: Option<&str>,
        commit: Option<&str>,
        digest: Option<&crate::domain::Digest>,
    ) -> Result<(), JournalError> {
        sqlx::query("UPDATE events SET state = $1, reason = COALESCE($2, reason), commit_sha = COALESCE($3, commit_sha), digest = COALESCE($4, digest), updated_at = $5 WHERE id = $6")
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

    /// The event with `id`, if it is (still) stored.
    pub async fn get(&self, id: i64) -> Result<Option<Event>, JournalError> {
        let query = format!("SELECT {COLUMNS} FROM events WHERE id = $1");
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
            "SELECT {COLUMNS} FROM events WHERE (CAST($1 AS TEXT) IS NULL OR state = $1) AND (CAST($2 AS TEXT) IS NULL OR repository = $2) AND (CAST($3 AS BIGINT) IS NULL OR id < $3) ORDER BY id DESC LIMIT $4"
        );
        let state = state.map(State::as_str);
        let rows = sqlx::query_as(sqlx::AssertSqlSafe(query))
            .bind(state)
            .bind(repository)
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
        let finished = "state IN ('written', 'proposed', 'refreshed', 'ignored', 'failed', 'rejected')";
        let by_age = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM events WHERE {finished} AND received_at < $1"
        )))
        .bind(cutoff)
        .execute(&self.pool)
        .await?;
        let by_count = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM events WHERE {finished} AND id NOT IN (SELECT id FROM events ORDER BY id DESC LIMIT $1)"
        )))
        .bind(max_count)
        .execute(&self.pool)
        .await?;
        Ok(by_age.rows_affected() + by_count.rows_affected())
    }

    /// Unfinished events for `repository`.
    pub async fn pending(&self, repository: &ObjectKey) -> Result<i64, JournalError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM events WHERE repository = $1 AND state IN ('received', 'confirmed', 'decided')",
        )
        .bind(repository.to_string())
        .fetch_one(&self.pool)
        .await?;
        Ok(row.get("n"))
    }
}
