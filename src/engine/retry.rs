//! `Transient`: why an event is left unfinished and tried again after the retry delay, typed
//! and with its cause kept. Rendered only where it is logged (the journal keeps the event
//! unfinished, with no reason); decides nothing.

use crate::gitops::{GitopsError, WriteFailure};
use crate::registry::RegistryError;

/// A transient failure that leaves an event unfinished.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Transient {
    /// Confirming the tag in the registry failed for now (unreachable, 5xx, rate limited).
    #[error("{0}")]
    Registry(#[from] RegistryError),
    /// Refreshing the working copy failed for now (remote unreachable).
    #[error("{0}")]
    Refresh(#[from] GitopsError),
    /// A write failed in a way the writer retries (the outcome's `retry: true`).
    #[error("{0}")]
    Write(#[from] WriteFailure),
}
