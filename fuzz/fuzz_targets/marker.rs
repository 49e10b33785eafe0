//! Marker comments: parsing any text never panics, and a parsed marker names its policy in
//! `namespace:name` form at the start of the setter as written.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(Some(marker)) = pushdeploy_core::setter::parse_marker(text) {
        assert!(marker.setter.starts_with(&marker.policy.marker_form()));
    }
});
