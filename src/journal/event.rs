//! An event as the journal stores it: its kind carries what it is about (`ObjectKey`, `Tag`,
//! `Digest`), parsed from the row (`rows.rs` has the row helpers); `State` is where it is.

use super::rows::{bad, parsed};
use crate::domain::{Digest, ObjectKey, Tag};
use sqlx::Row;
use sqlx::any::AnyRow;

/// What an event asks of the engine, with what it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// A tag pushed to a configured image repository: consider it for that repository's policies.
    Push {
        repository: ObjectKey,
        tag: Tag,
        /// The digest the sender reported, if any (the registry's HEAD is what is trusted).
        digest: Option<Digest>,
    },
    /// An authenticated push that no configured repository matches: stored `ignored` for the
    /// operator, never processed. Tag and digest are the sender's text, not validated.
    UnmatchedPush {
        tag: Option<String>,
        digest: Option<String>,
    },
    /// The gitops repository changed: fetch and re-read what git says for `automation`.
    Refresh { automation: ObjectKey },
    /// An authenticated body that could not be used; stored for the operator, never processed.
    Rejected,
}

impl EventKind {
    /// The name stored in the `kind` column (both push variants are `push`; the repository
    /// column tells them apart).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Push { .. } | Self::UnmatchedPush { .. } => "push",
            Self::Refresh { .. } => "refresh",
            Self::Rejected => "rejected",
        }
    }

    /// The image repository a push is for.
    pub fn repository(&self) -> Option<&ObjectKey> {
        match self {
            Self::Push { repository, .. } => Some(repository),
            _ => None,
        }
    }

    /// The automation a refresh is for.
    pub fn automation(&self) -> Option<&ObjectKey> {
        match self {
            Self::Refresh { automation } => Some(automation),
            _ => None,
        }
    }

    /// The pushed tag, as stored.
    pub fn tag(&self) -> Option<&str> {
        match self {
            Self::Push { tag, .. } => Some(tag.as_str()),
            Self::UnmatchedPush { tag, .. } => tag.as_deref(),
            _ => None,
        }
    }

    /// The reported digest, as stored.
    pub fn digest(&self) -> Option<&str> {
        match self {
            Self::Push { digest, .. } => digest.as_ref().map(Digest::as_str),
            Self::UnmatchedPush { digest, .. } => digest.as_deref(),
            _ => None,
        }
    }
}

/// An event as accepted by intake, before it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// `registry`, `forgejo`, `poll`, `api`.
    pub source: String,
    /// Unique per real event: the registry's event id, or a hash of a Forgejo body.
    pub dedupe_key: String,
    pub kind: EventKind,
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
            kind: EventKind::Rejected,
            state: State::Rejected,
            reason: Some(reason),
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

/// Where an event is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Received,
    Confirmed,
    Decided,
    Written,
    /// Pull-request mode: proposed in a pull request (the checkout branch is unchanged).
    Proposed,
    /// A gitops push event: the working copy was fetched and reset.
    Refreshed,
    Ignored,
    Failed,
    Rejected,
}

impl State {
    pub const ALL: [Self; 9] = [
        Self::Received,
        Self::Confirmed,
        Self::Decided,
        Self::Written,
        Self::Proposed,
        Self::Refreshed,
        Self::Ignored,
        Self::Failed,
        Self::Rejected,
    ];

    /// The name stored in the `state` column (and shown by the API).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::Confirmed => "confirmed",
            Self::Decided => "decided",
            Self::Written => "written",
            Self::Proposed => "proposed",
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

/// A stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: i64,
    pub source: String,
    pub kind: EventKind,
    pub state: State,
    pub reason: Option<String>,
    pub commit: Option<String>,
    /// Unix seconds.
    pub received_at: i64,
    pub updated_at: i64,
}

impl Event {
    /// The pushed tag, as stored (matched or not).
    pub fn tag(&self) -> Option<&str> {
        self.kind.tag()
    }
}

impl<'r> sqlx::FromRow<'r, AnyRow> for Event {
    fn from_row(row: &'r AnyRow) -> Result<Self, sqlx::Error> {
        let id: i64 = row.try_get("id")?;
        let text = |column: &str| row.try_get::<Option<String>, _>(column);
        let state = State::try_from(row.try_get::<String, _>("state")?)
            .map_err(|error| sqlx::Error::Decode(Box::new(error)))?;
        let kind = match row.try_get::<String, _>("kind")?.as_str() {
            "push" => match text("repository")? {
                Some(repository) => EventKind::Push {
                    repository: parsed("events", id, "repository", &repository, ObjectKey::parse)?,
                    tag: match text("tag")? {
                        Some(tag) => parsed("events", id, "tag", &tag, Tag::parse)?,
                        None => return Err(bad("events", id, "tag", "is empty for a push")),
                    },
                    digest: text("digest")?
                        .map(|digest| parsed("events", id, "digest", &digest, Digest::parse))
                        .transpose()?,
                },
                None => EventKind::UnmatchedPush {
                    tag: text("tag")?,
                    digest: text("digest")?,
                },
            },
            "refresh" => match text("automation")? {
                Some(automation) => EventKind::Refresh {
                    automation: parsed("events", id, "automation", &automation, ObjectKey::parse)?,
                },
                None => return Err(bad("events", id, "automation", "is empty for a refresh")),
            },
            "rejected" => EventKind::Rejected,
            other => {
                return Err(sqlx::Error::Decode(Box::new(UnknownValue {
                    column: "event kind",
                    value: other.to_owned(),
                })));
            }
        };
        Ok(Self {
            id,
            source: row.try_get("source")?,
            kind,
            state,
            reason: row.try_get("reason")?,
            commit: row.try_get("commit_sha")?,
            received_at: row.try_get("received_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}
