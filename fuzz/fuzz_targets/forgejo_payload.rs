//! Forgejo webhook payloads, as JSON or as a form with a `payload` field (the first input byte
//! picks the content type): parsing never panics.
#![no_main]

use axum::http::{HeaderMap, HeaderValue, header};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((&kind, body)) = input.split_first() else {
        return;
    };
    let mut headers = HeaderMap::new();
    let content_type = if kind % 2 == 0 {
        "application/json"
    } else {
        "application/x-www-form-urlencoded"
    };
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    let _ = pushdeploy::http::hooks_forgejo::parse_payload(&headers, body);
});
