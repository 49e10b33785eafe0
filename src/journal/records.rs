//! The journal's tables beside the event log: pins, suspensions, deployments and the audit
//! trail of API calls. Plain inserts and reads; what they mean is the engine's business.

use super::{AuditEntry, Deployment, Journal, JournalError, Pin, Suspension};
use crate::clock::now;
use crate::domain::{ObjectKey, Tag};

impl Journal {
    /// Pin `policy` to `tag` (replacing an earlier pin), recording who did it.
    pub async fn pin(&self, policy: &ObjectKey, tag: &Tag, by: &str) -> Result<(), JournalError> {
        sqlx::query("INSERT INTO pins (policy, tag, pinned_by, at) VALUES ($1, $2, $3, $4) ON CONFLICT (policy) DO UPDATE SET tag = excluded.tag, pinned_by = excluded.pinned_by, at = excluded.at")
            .bind(policy.to_string())
            .bind(tag.as_str())
            .bind(by)
            .bind(now())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Remove the pin of `policy`, if any.
    pub async fn unpin(&self, policy: &ObjectKey) -> Result<(), JournalError> {
        sqlx::query("DELETE FROM pins WHERE policy = $1")
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

    /// Suspend `automation` (replacing an earlier suspension), recording who did it.
    pub async fn suspend(&self, automation: &ObjectKey, by: &str) -> Result<(), JournalError> {
        sqlx::query("INSERT INTO suspensions (automation, suspended_by, at) VALUES ($1, $2, $3) ON CONFLICT (automation) DO UPDATE SET suspended_by = excluded.suspended_by, at = excluded.at")
            .bind(automation.to_string())
            .bind(by)
            .bind(now())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Lift the suspension of `automation`, if any.
    pub async fn unsuspend(&self, automation: &ObjectKey) -> Result<(), JournalError> {
        sqlx::query("DELETE FROM suspensions WHERE automation = $1")
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

    /// Record that `commit` (by `author`, because of `cause`) deployed `tag` for `policy`.
    pub async fn record_deployment(
        &self,
        policy: &ObjectKey,
        tag: &Tag,
        commit: &str,
        author: &str,
        cause: &str,
    ) -> Result<(), JournalError> {
        sqlx::query(
            "INSERT INTO deployments (policy, tag, commit_sha, author, cause, at) VALUES ($1, $2, $3, $4, $5, $6)",
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
            "SELECT id, tag, commit_sha, author, cause, at FROM deployments WHERE policy = $1 ORDER BY id DESC LIMIT 1",
        )
        .bind(policy.to_string())
        .fetch_optional(&self.pool)
        .await?;
        Ok(newest.map(|deployment| deployment.tag))
    }

    /// The deployments of `policy`, newest first.
    pub async fn deployments(&self, policy: &ObjectKey) -> Result<Vec<Deployment>, JournalError> {
        Ok(sqlx::query_as(
            "SELECT id, tag, commit_sha, author, cause, at FROM deployments WHERE policy = $1 ORDER BY id DESC",
        )
        .bind(policy.to_string())
        .fetch_all(&self.pool)
        .await?)
    }

    /// Append an audit entry: which token made which request, and what came of it.
    pub async fn audit(&self, token: &str, request: &str, result: &str) -> Result<(), JournalError> {
        sqlx::query("INSERT INTO audit (token_name, request, result, at) VALUES ($1, $2, $3, $4)")
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
            sqlx::query_as("SELECT token_name, request, result FROM audit ORDER BY id DESC LIMIT $1")
                .bind(limit)
                .fetch_all(&self.pool)
                .await?,
        )
    }
}
