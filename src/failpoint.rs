//! Named crash points for the reliability tests: `PUSHDEPLOY_FAILPOINT=name=action[,name=action]`
//! with `abort` (SIGKILL itself: no unwinding, nothing flushed) or `pause` (block this thread for
//! good, so the test can SIGKILL the process there). Honoured only in builds with debug
//! assertions (the test builds); a release binary ignores the variable and says so at startup.
//! Owns no other behaviour: a point that is not configured costs one lookup in an empty list.

use std::sync::OnceLock;

/// The variable that configures the failpoints.
pub const VARIABLE: &str = "PUSHDEPLOY_FAILPOINT";

/// Every failpoint in the code, so a misspelt name in the variable is refused, not ignored.
pub const NAMES: &[&str] = &[
    // journal/writer.rs: the batch is written but not yet committed.
    "journal.before_commit",
    // http/hooks_registry.rs: the events are durable, the 2xx is not sent yet.
    "registry.before_ack",
    // gitops/cycle.rs: the start-up warm-up of a working copy begins.
    "warm.start",
    // gitops/cycle.rs: a write cycle starts (every intake answer has been sent by then).
    "cycle.start",
    // gitops/cycle.rs: the commit exists in the working copy, nothing is pushed.
    "cycle.before_push",
    // gitops/workspace.rs: the remote reported the ref update; pushdeploy has not recorded it.
    "push.ref_updated",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Abort,
    Pause,
}

fn parse(text: &str) -> Result<Vec<(String, Action)>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let (name, action) = entry
                .split_once('=')
                .ok_or_else(|| format!("{VARIABLE}: {entry:?} is not name=action"))?;
            if !NAMES.contains(&name) {
                return Err(format!(
                    "{VARIABLE}: unknown failpoint {name:?}; known: {}",
                    NAMES.join(", ")
                ));
            }
            let action = match action {
                "abort" => Action::Abort,
                "pause" => Action::Pause,
                other => {
                    return Err(format!(
                        "{VARIABLE}: unknown action {other:?} for {name}; use abort or pause"
                    ));
                }
            };
            Ok((name.to_owned(), action))
        })
        .collect()
}

static CONFIGURED: OnceLock<Result<Vec<(String, Action)>, String>> = OnceLock::new();

fn configured() -> &'static Result<Vec<(String, Action)>, String> {
    CONFIGURED.get_or_init(|| match std::env::var(VARIABLE) {
        Err(_) => Ok(Vec::new()),
        Ok(_) if !cfg!(debug_assertions) => Ok(Vec::new()),
        Ok(text) => parse(&text),
    })
}

/// Check the variable once at startup: a bad specification is an error (a test that names a
/// failpoint that does not exist must not pass by never crashing).
pub fn configure() -> Result<(), String> {
    let set = std::env::var_os(VARIABLE).is_some();
    if set && !cfg!(debug_assertions) {
        tracing::warn!("{VARIABLE} is set but ignored: failpoints work only in test (debug) builds");
    }
    let points = configured().as_ref().map_err(Clone::clone)?;
    if !points.is_empty() {
        tracing::warn!(failpoints = ?points, "FAILPOINTS ARMED: this process will crash on purpose");
    }
    Ok(())
}

/// Crash here if the tests asked for it.
pub fn hit(name: &'static str) {
    let Ok(points) = configured() else { return };
    let Some((_, action)) = points.iter().find(|(point, _)| point == name) else {
        return;
    };
    // Straight to stderr, unbuffered: the line must be in the log before the process dies.
    eprintln!("pushdeploy failpoint {name} reached: {action:?}");
    match action {
        Action::Abort => {
            // SIGKILL, as an OOM kill or a node loss would: no unwinding, no flush, no core
            // file. abort() only if `kill` cannot be run.
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &std::process::id().to_string()])
                .status();
            std::process::abort()
        }
        Action::Pause => loop {
            std::thread::park();
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specifications_parse_and_misspellings_are_refused() {
        assert_eq!(
            parse("cycle.before_push=abort, push.ref_updated=pause").unwrap(),
            vec![
                ("cycle.before_push".to_owned(), Action::Abort),
                ("push.ref_updated".to_owned(), Action::Pause)
            ]
        );
        assert!(parse("").unwrap().is_empty());
        assert!(
            parse("cycle.before_psuh=abort")
                .unwrap_err()
                .contains("unknown failpoint")
        );
        assert!(
            parse("cycle.start=explode")
                .unwrap_err()
                .contains("unknown action")
        );
        assert!(parse("cycle.start").unwrap_err().contains("name=action"));
    }
}
