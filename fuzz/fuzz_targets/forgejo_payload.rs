//! Forgejo webhook deliveries, as JSON or as a form with a `payload` field (the first input
//! byte picks the content type and the event type): parsing never panics, and a delivery that
//! is used names a tag that is not a digest and a branch without the `refs/heads/` prefix.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pushdeploy_core::wire::forgejo::{self, Delivery};

fuzz_target!(|input: &[u8]| {
    let Some((&kind, body)) = input.split_first() else {
        return;
    };
    let content_type = if kind % 2 == 0 {
        "application/json"
    } else {
        "application/x-www-form-urlencoded"
    };
    let event_type = ["package", "push", "issues"][usize::from(kind / 2) % 3];
    let signed = forgejo::signed_bytes(Some(content_type), body);
    match forgejo::parse(event_type, &signed) {
        Ok(Delivery::Package { version, path, .. }) => {
            assert_eq!(event_type, "package");
            assert!(!version.is_empty() && !version.starts_with("sha256:"));
            assert!(path.contains('/'));
        }
        Ok(Delivery::Push { branch, .. }) => {
            assert_eq!(event_type, "push");
            assert!(!branch.starts_with("refs/heads/"));
        }
        Err(_) => {}
    }
});
