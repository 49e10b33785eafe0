//! The alert outbox: alerts queued per sink, delivered (and retried) by `crate::alerts`.
//! Each replica delivers the alerts it queued (its own view of what broke).

use super::{Journal, JournalError};
use crate::clock::now;
use sqlx::Row as _;

/// One queued alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedAlert {
    pub id: i64,
    pub sink: String,
    pub body: String,
    pub attempts: i64,
}

impl Journal {
    /// Queue `body` for each of `sinks`, due now.
    pub async fn queue_alert(
        &self,
        replica: &str,
        sinks: &[String],
        subject: &str,
        state: &str,
        body: &str,
    ) -> Result<(), JournalError> {
        let mut transaction = self.pool.begin().await?;
        let stamp = now();
        for sink in sinks {
            sqlx::query(
                "INSERT INTO alerts (replica, sink, subject, state, body, attempts, next_at, created_at) VALUES ($1, $2, $3, $4, $5, 0, $6, $7)",
            )
            .bind(replica)
            .bind(sink)
            .bind(subject)
            .bind(state)
            .bind(body)
            .bind(stamp)
            .bind(stamp)
            .execute(&mut *transaction)
            .await?;
        }
        transaction.commit().await?;
        Ok(())
    }

    /// At most `limit` undelivered alerts of `replica` for `sink` that are due, oldest first.
    pub async fn due_alerts(
        &self,
        replica: &str,
        sink: &str,
        limit: i64,
    ) -> Result<Vec<QueuedAlert>, JournalError> {
        let rows = sqlx::query(
            "SELECT id, sink, body, attempts FROM alerts WHERE replica = $1 AND sink = $2 AND delivered_at IS NULL AND next_at <= $3 ORDER BY id LIMIT $4",
        )
        .bind(replica)
        .bind(sink)
        .bind(now())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(QueuedAlert {
                    id: row.try_get("id")?,
                    sink: row.try_get("sink")?,
                    body: row.try_get("body")?,
                    attempts: row.try_get("attempts")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(JournalError::from)
    }

    /// Per sink of `replica`: how many alerts wait for delivery, and since when (Unix seconds).
    pub async fn alert_backlog(&self, replica: &str) -> Result<Vec<(String, i64, i64)>, JournalError> {
        let rows = sqlx::query(
            "SELECT sink, COUNT(*) AS waiting, MIN(created_at) AS oldest FROM alerts WHERE replica = $1 AND delivered_at IS NULL GROUP BY sink",
        )
        .bind(replica)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("sink")?,
                    row.try_get("waiting")?,
                    row.try_get("oldest")?,
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(JournalError::from)
    }

    /// Forget alerts delivered before `before` (Unix seconds); undelivered ones are kept.
    pub async fn prune_alerts(&self, before: i64) -> Result<u64, JournalError> {
        let done = sqlx::query("DELETE FROM alerts WHERE delivered_at IS NOT NULL AND delivered_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    pub async fn alert_delivered(&self, id: i64) -> Result<(), JournalError> {
        sqlx::query(
            "UPDATE alerts SET delivered_at = $1, attempts = attempts + 1, last_error = NULL WHERE id = $2",
        )
        .bind(now())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A failed attempt: tried again at `next_at` (Unix seconds).
    pub async fn alert_failed(&self, id: i64, error: &str, next_at: i64) -> Result<(), JournalError> {
        sqlx::query("UPDATE alerts SET attempts = attempts + 1, last_error = $1, next_at = $2 WHERE id = $3")
            .bind(error)
            .bind(next_at)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
