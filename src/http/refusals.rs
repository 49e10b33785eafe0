//! What a refusal costs us: one counter increment, and at most one (truncated) log line per
//! interval. Refusals of unauthenticated callers never touch the disk (no audit row, no journal
//! entry), so a flood of them cannot fill it.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Count a refused request: `pushdeploy_http_refused_total{route, reason}`. `route` is a route
/// template (never the raw path, which a caller controls).
pub fn refused(route: &str, reason: &'static str) {
    metrics::counter!("pushdeploy_http_refused_total", "route" => route.to_owned(), "reason" => reason)
        .increment(1);
    if route.starts_with("/hooks/") {
        *HOOK_REFUSALS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(route.to_owned())
            .or_default() += 1;
    }
}

/// Refused hook calls per route template since start (a bounded map: one entry per hook route).
static HOOK_REFUSALS: std::sync::LazyLock<Mutex<std::collections::BTreeMap<String, u64>>> =
    std::sync::LazyLock::new(Mutex::default);

/// How many calls each hook route has refused since start (the alerts' burst source).
pub fn hook_refusals() -> std::collections::BTreeMap<String, u64> {
    HOOK_REFUSALS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
}

/// At most this many characters of caller-controlled text go into a log line.
pub fn truncated(text: &str) -> String {
    const MAX: usize = 100;
    let mut out: String = text.chars().filter(|c| !c.is_control()).take(MAX).collect();
    if text.chars().count() > MAX {
        out.push('…');
    }
    out
}

/// A log line at most once per interval; the ones in between are counted and reported with it.
#[derive(Debug)]
pub struct Sampled {
    interval: Duration,
    state: Mutex<(Option<Instant>, u64)>,
}

impl Sampled {
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            state: Mutex::new((None, 0)),
        }
    }

    /// Run `log(suppressed_since_last)` if the interval has passed, else count one suppressed.
    pub fn warn(&self, log: impl FnOnce(u64)) {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let due = state.0.is_none_or(|last| last.elapsed() >= self.interval);
        if due {
            let suppressed = state.1;
            *state = (Some(Instant::now()), 0);
            drop(state);
            log(suppressed);
        } else {
            state.1 += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_logs_once_and_counts_the_rest() {
        let sampled = Sampled::new(Duration::from_secs(3600));
        let mut lines = Vec::new();
        for _ in 0..1000 {
            sampled.warn(|suppressed| lines.push(suppressed));
        }
        assert_eq!(lines, vec![0]);
        assert_eq!(sampled.state.lock().unwrap().1, 999);
    }

    #[test]
    fn caller_text_is_truncated_and_stripped_of_control_characters() {
        let long = format!("/api/v1/{}\n", "x".repeat(500));
        let out = truncated(&long);
        assert_eq!(out.chars().count(), 101);
        assert!(out.ends_with('…') && !out.contains('\n'));
        assert_eq!(truncated("/api/v1/x"), "/api/v1/x");
    }
}
