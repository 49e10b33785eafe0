//! Pull requests (merge requests, AGit topics) pushdeploy opened in pull-request mode, one row
//! per request: what it proposes (policy → value), its head and base commits, its number, web
//! page and state. An open row is "already proposed"; a `closed` row (closed by a person,
//! unmerged) is never reopened for the same values.

use super::rows::parsed;
use super::{Journal, JournalError};
use crate::clock::now;
use crate::domain::ObjectKey;
use crate::setter::{PolicyValue, Values};
use sqlx::Row as _;
use sqlx::any::AnyRow;

/// Where a proposal is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProposalState {
    /// Open on the platform (or, for AGit without an API, last pushed and not yet in the
    /// checkout branch).
    Open,
    /// Its values reached the checkout branch (merged on the platform, or found there).
    Merged,
    /// Closed by a person without merging: not reopened for the same values.
    Closed,
    /// A newer request for the same branch replaced it (its values were left behind).
    Superseded,
}

impl ProposalState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Merged => "merged",
            Self::Closed => "closed",
            Self::Superseded => "superseded",
        }
    }

    fn parse(text: &str) -> Result<Self, String> {
        Ok(match text {
            "open" => Self::Open,
            "merged" => Self::Merged,
            "closed" => Self::Closed,
            "superseded" => Self::Superseded,
            other => return Err(format!("unknown proposal state {other:?}")),
        })
    }
}

/// One pull request as the journal keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    pub id: i64,
    pub automation: ObjectKey,
    /// The pull request's branch (AGit: its topic).
    pub branch: String,
    /// `forgejo`, `gitea`, `github`, `gitlab`, `agit` or `gitlab-push-options`.
    pub provider: String,
    /// What it proposes: the value of each policy it changes.
    pub proposed: Values,
    /// The commit proposed, and the checkout branch commit it was built on.
    pub head: String,
    pub base: String,
    /// The platform's number (GitLab: iid), when known.
    pub number: Option<i64>,
    /// Its web page, when known.
    pub url: Option<String>,
    pub state: ProposalState,
    pub title: String,
    /// Why it is in its state (who closed it, which tag superseded it).
    pub note: Option<String>,
    /// Unix seconds.
    pub opened_at: i64,
    pub updated_at: i64,
}

/// The `proposed` column: one `NS/NAME=IMAGE:TAG[@DIGEST]` per line, in key order.
pub fn encode_values(values: &Values) -> String {
    values
        .iter()
        .map(|(policy, value)| {
            let digest = value.digest.as_ref().map(|d| format!("@{d}")).unwrap_or_default();
            format!("{policy}={}:{}{digest}", value.image, value.tag)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn decode_values(text: &str) -> Result<Values, String> {
    text.lines()
        .filter(|line| !line.is_empty())
        .map(PolicyValue::parse_assignment)
        .collect()
}

impl<'r> sqlx::FromRow<'r, AnyRow> for Proposal {
    fn from_row(row: &'r AnyRow) -> Result<Self, sqlx::Error> {
        let id: i64 = row.try_get("id")?;
        let text = |column: &str| row.try_get::<String, _>(column);
        Ok(Self {
            id,
            automation: parsed(
                "proposals",
                id,
                "automation",
                &text("automation")?,
                ObjectKey::parse,
            )?,
            branch: text("branch")?,
            provider: text("provider")?,
            proposed: parsed("proposals", id, "proposed", &text("proposed")?, decode_values)?,
            head: text("head")?,
            base: text("base")?,
            number: row.try_get("number")?,
            url: row.try_get("url")?,
            state: parsed("proposals", id, "state", &text("state")?, ProposalState::parse)?,
            title: text("title")?,
            note: row.try_get("note")?,
            opened_at: row.try_get("opened_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

// Only constant fragments are formatted into SQL (AssertSqlSafe); values are always bound.
const COLUMNS: &str = "id, automation, branch, provider, proposed, head, base, number, url, state, title, note, opened_at, updated_at";

/// A proposal to record: a new request, or the next head of an open one.
#[derive(Debug, Clone)]
pub struct NewProposal<'a> {
    pub automation: &'a ObjectKey,
    pub branch: &'a str,
    pub provider: &'a str,
    pub proposed: &'a Values,
    pub head: &'a str,
    pub base: &'a str,
    pub number: Option<i64>,
    pub url: Option<&'a str>,
    pub title: &'a str,
}

impl Journal {
    /// The open proposal of `automation` on `branch`, if any (the newest, should there be two).
    pub async fn open_proposal(
        &self,
        automation: &ObjectKey,
        branch: &str,
    ) -> Result<Option<Proposal>, JournalError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM proposals WHERE automation = $1 AND branch = $2 AND state = 'open' ORDER BY id DESC LIMIT 1"
        )))
        .bind(automation.to_string())
        .bind(branch)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The newest proposal a person closed without merging, for `automation` on `branch`.
    pub async fn last_closed_proposal(
        &self,
        automation: &ObjectKey,
        branch: &str,
    ) -> Result<Option<Proposal>, JournalError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM proposals WHERE automation = $1 AND branch = $2 AND state = 'closed' ORDER BY id DESC LIMIT 1"
        )))
        .bind(automation.to_string())
        .bind(branch)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Record `new` as the open proposal of its branch: the open row is updated in place
    /// (same request, new head), or a new row is opened. Returns its id.
    pub async fn record_proposal(&self, new: &NewProposal<'_>) -> Result<i64, JournalError> {
        let at = now();
        let proposed = encode_values(new.proposed);
        let existing = self.open_proposal(new.automation, new.branch).await?;
        if let Some(open) = existing.filter(|open| open.number == new.number || new.number.is_none()) {
            sqlx::query("UPDATE proposals SET proposed = $1, head = $2, base = $3, number = $4, url = $5, title = $6, updated_at = $7 WHERE id = $8")
                .bind(&proposed)
                .bind(new.head)
                .bind(new.base)
                .bind(new.number.or(open.number))
                .bind(new.url.map(str::to_owned).or(open.url))
                .bind(new.title)
                .bind(at)
                .bind(open.id)
                .execute(&self.pool)
                .await?;
            return Ok(open.id);
        }
        // Another request took the branch's place: the old row is left behind, said so.
        sqlx::query("UPDATE proposals SET state = 'superseded', note = $1, updated_at = $2 WHERE automation = $3 AND branch = $4 AND state = 'open'")
            .bind(format!("replaced by request {}", new.number.map_or("?".to_owned(), |n| n.to_string())))
            .bind(at)
            .bind(new.automation.to_string())
            .bind(new.branch)
            .execute(&self.pool)
            .await?;
        let id: i64 = sqlx::query(
            "INSERT INTO proposals (automation, branch, provider, proposed, head, base, number, url, state, title, opened_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'open', $9, $10, $10) RETURNING id",
        )
        .bind(new.automation.to_string())
        .bind(new.branch)
        .bind(new.provider)
        .bind(&proposed)
        .bind(new.head)
        .bind(new.base)
        .bind(new.number)
        .bind(new.url)
        .bind(new.title)
        .bind(at)
        .fetch_one(&self.pool)
        .await?
        .try_get("id")?;
        Ok(id)
    }

    /// Move proposal `id` to `state`, saying why.
    pub async fn end_proposal(&self, id: i64, state: ProposalState, note: &str) -> Result<(), JournalError> {
        sqlx::query("UPDATE proposals SET state = $1, note = $2, updated_at = $3 WHERE id = $4")
            .bind(state.as_str())
            .bind(note)
            .bind(now())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The newest proposals, optionally of one automation, newest first.
    pub async fn proposals(
        &self,
        automation: Option<&ObjectKey>,
        limit: i64,
    ) -> Result<Vec<Proposal>, JournalError> {
        let query = match automation {
            Some(automation) => sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM proposals WHERE automation = $1 ORDER BY id DESC LIMIT $2"
            )))
            .bind(automation.to_string())
            .bind(limit),
            None => sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM proposals ORDER BY id DESC LIMIT $1"
            )))
            .bind(limit),
        };
        Ok(query.fetch_all(&self.pool).await?)
    }

    /// Forget requests that ended (merged, superseded) before `cutoff` (unix seconds). Open
    /// ones are what "already proposed" means, and closed ones what is not proposed again:
    /// both are kept.
    pub async fn prune_proposals(&self, cutoff: i64) -> Result<u64, JournalError> {
        let done =
            sqlx::query("DELETE FROM proposals WHERE state IN ('merged', 'superseded') AND updated_at < $1")
                .bind(cutoff)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected())
    }
}
