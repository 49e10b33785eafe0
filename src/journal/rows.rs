//! The journal's rows other than events (pins, suspensions, deployments, audit entries) as
//! typed values, and the helpers every row decoder uses. Stored text is parsed at the row
//! boundary; a value that does not parse is a decode error naming the table, the row and the
//! column, never a panic and never a silent default.

use crate::domain::{ObjectKey, Tag};
use sqlx::Row;
use sqlx::any::AnyRow;

/// A stored row whose column does not hold what it must: names the row and the column.
#[derive(Debug, thiserror::Error)]
#[error("journal {table} row {row}: {column} {reason}")]
struct BadRow {
    table: &'static str,
    row: String,
    column: &'static str,
    reason: String,
}

/// A decode error for `column` of `row` in `table`.
pub(super) fn bad(
    table: &'static str,
    row: impl ToString,
    column: &'static str,
    reason: impl ToString,
) -> sqlx::Error {
    sqlx::Error::Decode(Box::new(BadRow {
        table,
        row: row.to_string(),
        column,
        reason: reason.to_string(),
    }))
}

/// Parse a text column with a domain parser; a failure names the row.
pub(super) fn parsed<T, E: std::fmt::Display>(
    table: &'static str,
    row: impl ToString,
    column: &'static str,
    text: &str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<T, sqlx::Error> {
    parse(text).map_err(|error| bad(table, row, column, error))
}

/// A policy held at a tag by hand (promote, rollback, pin) until resumed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    pub policy: ObjectKey,
    pub tag: Tag,
    pub pinned_by: String,
    /// Unix seconds.
    pub at: i64,
}

impl<'r> sqlx::FromRow<'r, AnyRow> for Pin {
    fn from_row(row: &'r AnyRow) -> Result<Self, sqlx::Error> {
        let policy: String = row.try_get("policy")?;
        Ok(Self {
            tag: parsed(
                "pins",
                &policy,
                "tag",
                &row.try_get::<String, _>("tag")?,
                Tag::parse,
            )?,
            policy: parsed("pins", &policy, "policy", &policy, ObjectKey::parse)?,
            pinned_by: row.try_get("pinned_by")?,
            at: row.try_get("at")?,
        })
    }
}

/// An automation that writes nothing automatically until resumed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suspension {
    pub automation: ObjectKey,
    pub suspended_by: String,
    /// Unix seconds.
    pub at: i64,
}

impl<'r> sqlx::FromRow<'r, AnyRow> for Suspension {
    fn from_row(row: &'r AnyRow) -> Result<Self, sqlx::Error> {
        let automation: String = row.try_get("automation")?;
        Ok(Self {
            automation: parsed(
                "suspensions",
                &automation,
                "automation",
                &automation,
                ObjectKey::parse,
            )?,
            suspended_by: row.try_get("suspended_by")?,
            at: row.try_get("at")?,
        })
    }
}

/// A tag written to git for a policy, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    pub tag: Tag,
    pub commit_sha: String,
    pub author: String,
    pub cause: String,
    /// Unix seconds.
    pub at: i64,
}

impl<'r> sqlx::FromRow<'r, AnyRow> for Deployment {
    fn from_row(row: &'r AnyRow) -> Result<Self, sqlx::Error> {
        let id: i64 = row.try_get("id")?;
        Ok(Self {
            tag: parsed(
                "deployments",
                id,
                "tag",
                &row.try_get::<String, _>("tag")?,
                Tag::parse,
            )?,
            commit_sha: row.try_get("commit_sha")?,
            author: row.try_get("author")?,
            cause: row.try_get("cause")?,
            at: row.try_get("at")?,
        })
    }
}

/// One authenticated mutating API call.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditEntry {
    pub token_name: String,
    pub request: String,
    pub result: String,
}
