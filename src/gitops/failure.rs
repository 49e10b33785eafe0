//! `WriteFailure`: why an intent was not written, as `Outcome::Failed` carries it to the engine
//! and the CLI, typed and with its cause kept; rendered to text only where it is journaled or
//! shown. Classifies nothing itself: whether to retry is the writer's `retry` flag.

use super::GitopsError;
use crate::domain::ObjectKey;
use std::sync::Arc;

/// Why an intent was not written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteFailure {
    /// The write cycle failed (sync, apply, commit or push).
    #[error("{0}")]
    Cycle(#[from] GitopsError),
    /// Every attempt's push was rejected because the remote moved meanwhile.
    #[error("{last}; gave up after {attempts} attempts")]
    GaveUp {
        #[source]
        last: GitopsError,
        attempts: u32,
    },
    /// A setter site of the intent's policy cannot be rewritten safely (permanent until the
    /// file changes).
    #[error("{0}")]
    Refused(crate::setter::Refusal),
    /// The plan found the intent's pick unusable (not a tag, digest unknown).
    #[error("{0}")]
    Planned(#[source] crate::plan::Skip),
    /// An intent was submitted to the writer of another automation (a bug).
    #[error("an intent for automation {intent} was submitted for {submitted} (a bug); nothing written")]
    Misrouted { intent: ObjectKey, submitted: ObjectKey },
    /// The writer is gone (shutting down).
    #[error("the writer has stopped (shutting down)")]
    Stopped,
    /// The writer went away before answering.
    #[error("the writer stopped before answering")]
    NoAnswer,
    /// The platform's API refused or failed a pull request call (pull-request mode).
    #[error("{0}")]
    Forge(#[source] ForgeCause),
    /// The writer's blocking task panicked or was cancelled.
    #[error("writer task failed: {0}")]
    Task(#[source] TaskCause),
}

/// Serialised as the text it displays (the shape `Outcome` always had).
impl serde::Serialize for WriteFailure {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A forge API failure, shared so that one failure answers every intent of a proposal.
#[derive(Debug, Clone)]
pub struct ForgeCause(pub Arc<crate::forge::ForgeError>);

impl std::fmt::Display for ForgeCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for ForgeCause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

impl PartialEq for ForgeCause {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.to_string() == other.0.to_string()
    }
}

impl Eq for ForgeCause {}

/// A failed writer task, shared so that one failure answers every intent of its batch.
#[derive(Debug, Clone)]
pub struct TaskCause(Arc<tokio::task::JoinError>);

impl TaskCause {
    /// Keep `error` as the cause.
    pub fn new(error: tokio::task::JoinError) -> Self {
        Self(Arc::new(error))
    }
}

impl std::fmt::Display for TaskCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for TaskCause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&*self.0)
    }
}

/// The same failure (shared), or one that says the same.
impl PartialEq for TaskCause {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.to_string() == other.0.to_string()
    }
}

impl Eq for TaskCause {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gitops::Outcome;

    #[test]
    fn a_failed_outcome_serialises_its_error_as_the_text_it_always_had() {
        let outcome = Outcome::Failed {
            error: WriteFailure::Stopped,
            retry: true,
        };
        assert_eq!(
            serde_json::to_value(&outcome).unwrap(),
            serde_json::json!({"outcome": "failed", "error": "the writer has stopped (shutting down)", "retry": true})
        );
    }

    #[test]
    fn giving_up_after_rejected_pushes_says_so_and_keeps_the_last_rejection() {
        let last = GitopsError::NonFastForward {
            branch: "main".to_owned(),
        };
        let error = WriteFailure::GaveUp {
            last: last.clone(),
            attempts: 8,
        };
        assert_eq!(error.to_string(), format!("{last}; gave up after 8 attempts"));
        let source = std::error::Error::source(&error).expect("the rejection is kept");
        assert_eq!(source.downcast_ref::<GitopsError>(), Some(&last));
    }
}
