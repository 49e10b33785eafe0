//! Registry notification envelopes: parsing any body never panics, every accessor intake uses
//! is total, and only manifest pushes name a tag.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pushdeploy_core::wire::registry;

fuzz_target!(|body: &[u8]| {
    if let Ok(envelope) = registry::parse(registry::ENVELOPES[0], body) {
        for event in &envelope.events {
            let host = event.host();
            let path = event.repository();
            if let Some(tag) = event.pushed_manifest_tag() {
                assert!(!tag.trim().is_empty());
                let key = event.dedupe_key("registry", &format!("{host}/{path}:{tag}"));
                assert!(key.starts_with("registry:"));
            }
        }
    }
});
