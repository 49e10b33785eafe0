//! Registry notification envelopes: parsing any body never panics, and a parsed envelope has
//! no more tagged pushes than events.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    if let Ok((events, pushes)) = pushdeploy::http::hooks_registry::parse_envelope(body) {
        assert!(pushes <= events);
    }
});
