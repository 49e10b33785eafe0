//! JSON request bodies. The extractor checks the media type, reads the body within the route's
//! limit, and parses it in three steps so every refusal names the field at fault from data, not
//! from a parser's message: JSON syntax, then the object's keys against the fields the request
//! declares (unknown and missing ones), then the types, by path (`serde_path_to_error`).

use super::dto::{PromoteRequest, RollbackRequest};
use crate::http::problem::ApiError;
use crate::http::refusals::truncated;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

/// A request body type: its fields, which of them are required, and what an empty body means.
pub(super) trait RequestBody: DeserializeOwned {
    /// Every field, as a JSON Pointer (`/tag`).
    const FIELDS: &'static [&'static str];
    const REQUIRED: &'static [&'static str];
    /// The value of an empty body, when one is allowed.
    fn empty() -> Option<Self> {
        None
    }
}

impl RequestBody for PromoteRequest {
    const FIELDS: &'static [&'static str] = &["/tag", "/force"];
    const REQUIRED: &'static [&'static str] = &["/tag"];
}

impl RequestBody for RollbackRequest {
    const FIELDS: &'static [&'static str] = &["/to", "/force"];
    const REQUIRED: &'static [&'static str] = &[];
    fn empty() -> Option<Self> {
        Some(Self::default())
    }
}

/// A parsed JSON body, with the text the audit entry shows.
#[derive(Debug)]
pub(super) struct JsonBody<T> {
    pub value: T,
    printable: String,
}

/// A body refused: the problem to answer, and the text the audit entry shows.
#[derive(Debug)]
pub(super) struct BodyRejection {
    error: ApiError,
    printable: String,
}

impl<T> JsonBody<T> {
    pub(super) fn printable(&self) -> &str {
        &self.printable
    }
}

impl BodyRejection {
    pub(super) fn printable(&self) -> &str {
        &self.printable
    }
}

impl From<BodyRejection> for ApiError {
    fn from(rejection: BodyRejection) -> Self {
        rejection.error
    }
}

impl axum::response::IntoResponse for BodyRejection {
    fn into_response(self) -> axum::response::Response {
        self.error.into_response()
    }
}

/// The request body as it goes into the audit log: text, at most 200 characters.
fn printable(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect()
}

impl<S: Send + Sync, T: RequestBody> FromRequest<S> for JsonBody<T> {
    type Rejection = BodyRejection;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = request
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .map(|value| value.to_str().unwrap_or("").to_owned());
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| BodyRejection {
                error: ApiError::Validation {
                    field: "/",
                    message: format!("cannot read the request body: {}", rejection.body_text()),
                },
                printable: String::new(),
            })?;
        let printable = printable(&bytes);
        match parse::<T>(content_type.as_deref(), &bytes) {
            Ok(value) => Ok(Self { value, printable }),
            Err(error) => Err(BodyRejection { error, printable }),
        }
    }
}

/// Refuse a body sent as something other than JSON (`application/json` or `…+json`); a body
/// without a `Content-Type` is read as JSON, an empty one is not looked at.
fn parse<T: RequestBody>(content_type: Option<&str>, bytes: &[u8]) -> Result<T, ApiError> {
    let empty = bytes.iter().all(u8::is_ascii_whitespace);
    if let Some(text) = content_type
        && !empty
    {
        let media = text.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if media != "application/json" && !(media.starts_with("application/") && media.ends_with("+json")) {
            return Err(ApiError::UnsupportedMediaType(format!(
                "the body is sent as {:?}; send JSON with Content-Type: application/json",
                truncated(text)
            )));
        }
    }
    if empty {
        return T::empty()
            .ok_or_else(|| invalid("/", format!("a JSON body is required, with {}", fields::<T>())));
    }
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|error| invalid("/", format!("the request body is not JSON: {error}")))?;
    let Some(object) = value.as_object() else {
        return Err(invalid(
            "/",
            format!("the request body must be a JSON object with {}", fields::<T>()),
        ));
    };
    if let Some(unknown) = object
        .keys()
        .find(|key| !T::FIELDS.contains(&format!("/{key}").as_str()))
    {
        return Err(invalid(
            "/",
            format!("unknown field {:?}; valid: {}", truncated(unknown), fields::<T>()),
        ));
    }
    if let Some(missing) = T::REQUIRED.iter().find(|field| !object.contains_key(&field[1..])) {
        return Err(invalid(missing, format!("{} is required", &missing[1..])));
    }
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = format!("/{}", error.path()).replace('.', "/");
        let field = T::FIELDS
            .iter()
            .find(|field| **field == path)
            .copied()
            .unwrap_or("/");
        let name = if field == "/" { "the body" } else { &field[1..] };
        invalid(field, format!("{name}: {}", error.inner()))
    })
}

fn invalid(field: &'static str, message: String) -> ApiError {
    ApiError::Validation {
        field,
        message: format!("the request body is not valid: {message}"),
    }
}

fn fields<T: RequestBody>() -> String {
    T::FIELDS
        .iter()
        .map(|field| &field[1..])
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(error: &ApiError) -> (&'static str, String) {
        match error {
            ApiError::Validation { field, message } => (field, message.clone()),
            other => panic!("not a validation error: {other:?}"),
        }
    }

    #[test]
    fn each_refusal_names_the_field_at_fault() {
        let cases: [(&str, &str, &str); 7] = [
            (r#"{"tga": "x"}"#, "/", "unknown field \"tga\"; valid: tag, force"),
            (r#"{"force": true}"#, "/tag", "tag is required"),
            (r#"{"tag": 3}"#, "/tag", "tag: invalid type: integer `3`"),
            (
                r#"{"tag": "x", "force": "yes"}"#,
                "/force",
                "force: invalid type: string \"yes\"",
            ),
            (r#"["x"]"#, "/", "must be a JSON object with tag, force"),
            ("{", "/", "is not JSON"),
            ("", "/", "a JSON body is required, with tag, force"),
        ];
        for (body, expected_field, expected_message) in cases {
            let error = parse::<PromoteRequest>(Some("application/json"), body.as_bytes()).expect_err(body);
            let (field, message) = field(&error);
            assert_eq!(field, expected_field, "{body}: {message}");
            assert!(message.contains(expected_message), "{body}: {message}");
        }
    }

    #[test]
    fn valid_bodies_parse_and_an_empty_rollback_is_the_default() {
        let promote = parse::<PromoteRequest>(None, br#"{"tag": "2-abc", "force": true}"#).unwrap();
        assert_eq!((promote.tag.as_str(), promote.force), ("2-abc", true));
        let rollback = parse::<RollbackRequest>(Some("application/json"), b"  ").unwrap();
        assert_eq!((rollback.to, rollback.force), (None, false));
        let rollback =
            parse::<RollbackRequest>(Some("application/merge-patch+json"), br#"{"to": "1"}"#).unwrap();
        assert_eq!(rollback.to.as_deref(), Some("1"));
    }

    #[test]
    fn other_media_types_are_415_and_an_empty_body_is_not_looked_at() {
        let error = parse::<PromoteRequest>(Some("text/plain"), br#"{"tag": "x"}"#).expect_err("refused");
        assert!(matches!(error, ApiError::UnsupportedMediaType(_)), "{error:?}");
        assert!(parse::<RollbackRequest>(Some("text/plain"), b"").is_ok());
    }
}
