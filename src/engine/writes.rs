//! The last write result per automation, for `/status`: the error of the last failed write
//! (reason and time) until a write of that automation succeeds. Never decides anything.

use crate::domain::ObjectKey;
use crate::gitops::Outcome;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// One automation's last write, as `/status` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteStatus {
    /// RFC 3339 time of the last write that pushed or found git up to date.
    pub last_success: Option<String>,
    /// The last failed write, until a later one succeeds.
    pub last_error: Option<WriteError>,
}

/// A failed write of one automation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteError {
    pub reason: String,
    /// RFC 3339.
    pub at: String,
    /// Whether the write is retried by itself (remote unreachable) or waits for a fix.
    pub retried: bool,
}

/// Bounded by the configured automations: one entry each at most.
#[derive(Debug, Default)]
pub struct Writes(Mutex<BTreeMap<ObjectKey, WriteStatus>>);

impl Writes {
    /// Record what a write of `automation` came to (a skipped write is no write: no change).
    pub fn note(&self, automation: &ObjectKey, outcome: &Outcome) {
        let now = crate::clock::format_time(crate::clock::now());
        let mut table = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match outcome {
            Outcome::Pushed { .. } | Outcome::Proposed { .. } | Outcome::UpToDate => {
                let entry = table.entry(automation.clone()).or_default();
                entry.last_success = Some(now);
                entry.last_error = None;
            }
            Outcome::Failed { error, retry } => {
                table.entry(automation.clone()).or_default().last_error = Some(WriteError {
                    reason: error.to_string(),
                    at: now,
                    retried: *retry,
                });
            }
            Outcome::Skipped { .. } => {}
        }
    }

    /// The last write result per automation that wrote at least once.
    pub fn snapshot(&self) -> BTreeMap<ObjectKey, WriteStatus> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_shows_until_the_next_good_write_clears_it() {
        let writes = Writes::default();
        let automation = ObjectKey::parse("ns:auto").unwrap();
        writes.note(
            &automation,
            &Outcome::Failed {
                error: crate::gitops::WriteFailure::Cycle(crate::gitops::GitopsError::Template(
                    "can't evaluate field Image".to_owned(),
                )),
                retry: false,
            },
        );
        let shown = &writes.snapshot()[&automation];
        let error = shown.last_error.as_ref().expect("the error is shown");
        assert!(error.reason.contains("can't evaluate field Image"), "{error:?}");
        assert!(!error.retried);
        writes.note(
            &automation,
            &Outcome::Skipped {
                reason: "suspended".to_owned(),
            },
        );
        assert!(writes.snapshot()[&automation].last_error.is_some());
        writes.note(&automation, &Outcome::UpToDate);
        let shown = &writes.snapshot()[&automation];
        assert_eq!(shown.last_error, None);
        assert!(shown.last_success.is_some());
    }
}
