//! What a forge's refusal means, from its status code and headers only (the platform's message
//! is shown, never branched on), and how each is said: what happened, where, what to do. No
//! variant carries the token or a URL with credentials.

use super::{Call, ForgeKind, Missing};
use reqwest::header::HeaderMap;
use std::time::Duration;

/// The longest platform message kept.
const MESSAGE_MAX_CHARS: usize = 300;
/// The wait when a rate limit says nothing about when it ends.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(60);
/// The longest wait a forge may ask for before we try again anyway.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

#[derive(Debug, thiserror::Error)]
pub enum ForgeError {
    /// 401: the token is wrong or expired.
    #[error(
        "{forge} refused the token for {repository} (401): it is wrong or expired; issue a new token and update its secret"
    )]
    Unauthorized { forge: String, repository: String },
    /// 403 (not a rate limit), or a 404 on a write to a repository the token cannot see: the
    /// token lacks a permission; `detail` is the platform's message and the permission to grant.
    #[error("{forge} did not let the token {operation} in {repository}: {detail}")]
    Forbidden {
        forge: String,
        repository: String,
        operation: &'static str,
        detail: String,
    },
    /// The repository (or the API base) does not exist: 404 on the repository itself.
    #[error(
        "{forge} has no repository {repository} at {url} (404), or the token cannot see it; check the repository path, the API base URL and that the token may read the repository"
    )]
    NotFound {
        forge: String,
        repository: String,
        /// The API URL asked, without credentials or query.
        url: String,
    },
    /// 429, or a 403 with `x-ratelimit-remaining: 0` or `Retry-After` (GitHub's primary and
    /// secondary limits).
    #[error("{forge} is rate limiting this token; retry in {} s", retry_after.as_secs())]
    RateLimited { forge: String, retry_after: Duration },
    /// 409, 422 and other 4xx the platform explains; `message` is its text, cut to 300 chars.
    #[error("{forge} refused to {operation} ({status}): {message}")]
    Refused {
        forge: String,
        operation: &'static str,
        status: u16,
        message: String,
    },
    /// 5xx, or an answer that is not of the documented shape.
    #[error("{forge} answered {status} to {operation}: {detail}")]
    Unexpected {
        forge: String,
        operation: &'static str,
        status: u16,
        detail: String,
    },
    /// Cannot connect, TLS, timeout; the client's error (without its URL) is the source.
    #[error(
        "cannot reach {forge}: {}; check the API base URL, the network and the CA certificates",
        chain(source)
    )]
    Transport {
        forge: String,
        #[source]
        source: reqwest::Error,
    },
    /// The client could not be built from the configuration: a CA certificate that does not
    /// parse, a token a header cannot carry.
    #[error("cannot set up a client for {forge}: {detail}; fix the forge's configuration")]
    Setup { forge: String, detail: String },
}

impl ForgeError {
    /// Worth retrying with backoff: rate limits, 5xx, transport failures.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::RateLimited { .. } | Self::Transport { .. } => true,
            Self::Unexpected { status, .. } => *status >= 500,
            _ => false,
        }
    }

    /// How long the forge asked us to wait.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }
}

/// An error and its sources, `: `-joined (the client's error alone says only "error sending
/// request").
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

/// Which forge and repository a call was for.
pub(super) struct Place<'a> {
    pub kind: ForgeKind,
    pub forge: String,
    pub repository: &'a str,
}

/// The permission a token needs, per platform.
pub(super) fn permission_remedy(kind: ForgeKind) -> &'static str {
    match kind {
        ForgeKind::Github => {
            "give the token \"Pull requests: write\" and \"Contents: read\" on the repository (fine-grained token), or the repo scope (classic token)"
        }
        ForgeKind::Forgejo | ForgeKind::Gitea => {
            "give the token the write:repository scope and its user write access to the repository"
        }
        ForgeKind::Gitlab => {
            "give the token the api scope and its user at least the Developer role in the project"
        }
    }
}

/// A non-2xx answer as an error. `url` is the URL asked (without query); `now` Unix seconds.
pub(super) fn classify(
    place: &Place<'_>,
    call: &Call,
    url: &str,
    status: u16,
    headers: &HeaderMap,
    body: &str,
    now: i64,
) -> ForgeError {
    let forge = place.forge.clone();
    let repository = place.repository.to_owned();
    if let Some(retry_after) = rate_limit(status, headers, now) {
        return ForgeError::RateLimited { forge, retry_after };
    }
    let forbidden = |message: String| ForgeError::Forbidden {
        forge: forge.clone(),
        repository: repository.clone(),
        operation: call.operation,
        detail: format!("{message}; {}", permission_remedy(place.kind)),
    };
    match (status, call.missing) {
        (401, _) => ForgeError::Unauthorized { forge, repository },
        (403, _) | (404, Missing::Permission) => forbidden(format!("{status} {}", message(body))),
        (404, Missing::Repository) => ForgeError::NotFound {
            forge,
            repository,
            url: crate::domain::redact_url(url).into_owned(),
        },
        (400..=499, _) => ForgeError::Refused {
            forge,
            operation: call.operation,
            status,
            message: message(body),
        },
        _ => ForgeError::Unexpected {
            forge,
            operation: call.operation,
            status,
            detail: message(body),
        },
    }
}

/// How long to wait when the answer is a rate limit: 429, or 403 with `Retry-After` or
/// `x-ratelimit-remaining: 0` (GitHub). `Retry-After` first (seconds or an HTTP date), then
/// `x-ratelimit-reset` (Unix seconds), else a minute; at least 1 s, at most an hour.
pub(super) fn rate_limit(status: u16, headers: &HeaderMap, now: i64) -> Option<Duration> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
    };
    let retry_after = header("retry-after").and_then(|value| retry_after_seconds(value, now));
    let exhausted = header("x-ratelimit-remaining") == Some("0");
    let limited = status == 429 || (status == 403 && (retry_after.is_some() || exhausted));
    if !limited {
        return None;
    }
    let reset = header("x-ratelimit-reset")
        .and_then(|value| value.parse::<i64>().ok())
        .map(|reset| reset.saturating_sub(now));
    let wait = retry_after.or(reset).map_or(DEFAULT_RETRY_AFTER, |seconds| {
        Duration::from_secs(seconds.max(1).unsigned_abs())
    });
    Some(wait.clamp(Duration::from_secs(1), MAX_RETRY_AFTER))
}

/// `Retry-After`: delay-seconds or an IMF-fixdate (RFC 9110 §10.2.3), as seconds from `now`.
fn retry_after_seconds(value: &str, now: i64) -> Option<i64> {
    if let Ok(seconds) = value.parse::<i64>() {
        return Some(seconds);
    }
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let date = time::PrimitiveDateTime::parse(value, format).ok()?;
    Some(date.assume_utc().unix_timestamp().saturating_sub(now))
}

/// The platform's explanation in an error body: `message` (a string, GitLab's list or map of
/// field errors), GitHub's `errors[].message`/`code`, GitLab's `error`; else the text itself.
/// Cut to 300 characters.
pub(super) fn message(body: &str) -> String {
    let text = match serde_json::from_str::<serde_json::Value>(body) {
        Ok(value) => json_message(&value).unwrap_or_else(|| body.trim().to_owned()),
        Err(_) => body.split_whitespace().collect::<Vec<_>>().join(" "),
    };
    if text.is_empty() {
        "no explanation given".to_owned()
    } else {
        cut(text)
    }
}

/// `text` cut to 300 characters.
pub(super) fn cut(text: String) -> String {
    match text.char_indices().nth(MESSAGE_MAX_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text,
    }
}

fn json_message(value: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    let flat = |value: &Value| -> Option<String> {
        match value {
            Value::String(text) => Some(text.clone()),
            Value::Array(items) => Some(
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            Value::Object(fields) => Some(
                fields
                    .iter()
                    .map(|(field, errors)| match errors {
                        Value::Array(items) => {
                            format!(
                                "{field} {}",
                                items
                                    .iter()
                                    .filter_map(Value::as_str)
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )
                        }
                        other => format!("{field} {}", other.as_str().unwrap_or_default()),
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            _ => None,
        }
    };
    let mut parts: Vec<String> = ["message", "error", "error_description"]
        .iter()
        .filter_map(|key| value.get(*key).and_then(flat))
        .filter(|text| !text.is_empty())
        .collect();
    // GitHub's validation errors: `{"resource", "field", "code"}` or a custom `message`.
    for error in value
        .get("errors")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let part = match error {
            Value::String(text) => Some(text.clone()),
            _ => error
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .or_else(|| {
                    let code = error.get("code").and_then(Value::as_str)?;
                    let field = error.get("field").and_then(Value::as_str).unwrap_or_default();
                    Some(format!("{field} {code}").trim().to_owned())
                }),
        };
        parts.extend(part);
    }
    (!parts.is_empty()).then(|| parts.join(": "))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use reqwest::Method;
    use reqwest::header::HeaderValue;

    const NOW: i64 = 1_445_412_480; // Wed, 21 Oct 2015 07:28:00 GMT

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn classify_as(
        kind: ForgeKind,
        missing: Missing,
        status: u16,
        pairs: &[(&'static str, &str)],
        body: &str,
    ) -> ForgeError {
        let place = Place {
            kind,
            forge: format!("{} at https://forge.example/api", kind.name()),
            repository: "acme/deploy",
        };
        let call = Call::new(
            "create the pull request",
            Method::POST,
            "/repos/acme/deploy/pulls".into(),
            missing,
        );
        classify(
            &place,
            &call,
            "https://forge.example/api/repos/acme/deploy/pulls",
            status,
            &headers(pairs),
            body,
            NOW,
        )
    }

    #[test]
    fn statuses_and_headers_decide_the_kind_of_error() {
        use ForgeKind::{Github, Gitlab};
        use Missing::{Item, Permission, Repository};
        let unprocessable = r#"{"message":"Validation Failed","errors":[{"resource":"PullRequest","code":"custom","message":"A pull request already exists for acme:pushdeploy/app."}],"documentation_url":"https://docs.github.com/rest/pulls/pulls#create-a-pull-request","status":"422"}"#;
        let cases: Vec<(ForgeError, &str)> = vec![
            (
                classify_as(Github, Permission, 401, &[], r#"{"message":"Bad credentials"}"#),
                "Unauthorized",
            ),
            (
                classify_as(
                    Github,
                    Permission,
                    403,
                    &[],
                    r#"{"message":"Resource not accessible by personal access token"}"#,
                ),
                "Forbidden",
            ),
            (
                classify_as(
                    Github,
                    Permission,
                    403,
                    &[
                        ("x-ratelimit-remaining", "0"),
                        ("x-ratelimit-reset", &(NOW + 120).to_string()),
                    ],
                    "{}",
                ),
                "RateLimited 120",
            ),
            (
                classify_as(
                    Github,
                    Permission,
                    403,
                    &[("retry-after", "30")],
                    r#"{"message":"You have exceeded a secondary rate limit."}"#,
                ),
                "RateLimited 30",
            ),
            (
                classify_as(Github, Permission, 403, &[("x-ratelimit-remaining", "12")], "{}"),
                "Forbidden",
            ),
            (
                classify_as(Github, Repository, 404, &[], r#"{"message":"Not Found"}"#),
                "NotFound",
            ),
            (
                classify_as(Github, Permission, 404, &[], r#"{"message":"Not Found"}"#),
                "Forbidden",
            ),
            (
                classify_as(Github, Item, 404, &[], r#"{"message":"Not Found"}"#),
                "Refused 404",
            ),
            (
                classify_as(Github, Permission, 422, &[], unprocessable),
                "Refused 422",
            ),
            (
                classify_as(
                    Gitlab,
                    Permission,
                    409,
                    &[],
                    r#"{"message":["Another open merge request already exists for this source branch: !4"]}"#,
                ),
                "Refused 409",
            ),
            (
                classify_as(Gitlab, Permission, 429, &[("retry-after", "7")], "Retry later"),
                "RateLimited 7",
            ),
            (
                classify_as(
                    Gitlab,
                    Permission,
                    429,
                    &[("retry-after", "Wed, 21 Oct 2015 07:29:30 GMT")],
                    "",
                ),
                "RateLimited 90",
            ),
            (classify_as(Gitlab, Permission, 429, &[], ""), "RateLimited 60"),
            (
                classify_as(Gitlab, Permission, 500, &[], "<html>oops</html>"),
                "Unexpected 500",
            ),
        ];
        for (error, expected) in cases {
            let got = match &error {
                ForgeError::Unauthorized { .. } => "Unauthorized".to_owned(),
                ForgeError::Forbidden { .. } => "Forbidden".to_owned(),
                ForgeError::NotFound { .. } => "NotFound".to_owned(),
                ForgeError::RateLimited { retry_after, .. } => {
                    format!("RateLimited {}", retry_after.as_secs())
                }
                ForgeError::Refused { status, .. } => format!("Refused {status}"),
                ForgeError::Unexpected { status, .. } => format!("Unexpected {status}"),
                other => format!("{other:?}"),
            };
            assert_eq!(got, expected, "{error}");
            assert_eq!(
                error.is_transient(),
                expected.starts_with("RateLimited") || expected == "Unexpected 500",
                "{error}"
            );
            assert_eq!(error.retry_after().is_some(), expected.starts_with("RateLimited"));
        }
    }

    #[test]
    fn errors_say_what_where_and_what_to_do() {
        let forbidden = classify_as(
            ForgeKind::Github,
            Missing::Permission,
            403,
            &[],
            r#"{"message":"Resource not accessible by personal access token"}"#,
        );
        let text = forbidden.to_string();
        assert!(
            text.contains("acme/deploy") && text.contains("Resource not accessible"),
            "{text}"
        );
        assert!(
            text.contains("\"Pull requests: write\"") && text.contains("repo scope"),
            "{text}"
        );
        let text = classify_as(ForgeKind::Gitea, Missing::Permission, 403, &[], "{}").to_string();
        assert!(text.contains("write:repository"), "{text}");
        let text = classify_as(
            ForgeKind::Gitlab,
            Missing::Permission,
            403,
            &[],
            r#"{"message":"403 Forbidden"}"#,
        )
        .to_string();
        assert!(text.contains("api scope") && text.contains("Developer"), "{text}");
        let text = classify_as(ForgeKind::Github, Missing::Permission, 401, &[], "{}").to_string();
        assert!(text.contains("401") && text.contains("new token"), "{text}");
        let text = classify_as(ForgeKind::Github, Missing::Repository, 404, &[], "{}").to_string();
        assert!(
            text.contains("https://forge.example/api/repos/acme/deploy/pulls"),
            "{text}"
        );
    }

    #[test]
    fn platform_messages_are_flattened_and_cut() {
        let github = r#"{"message":"Validation Failed","errors":[{"resource":"PullRequest","field":"head","code":"invalid"},{"resource":"PullRequest","code":"custom","message":"No commits between main and pushdeploy/app"}]}"#;
        assert_eq!(
            message(github),
            "Validation Failed: head invalid: No commits between main and pushdeploy/app"
        );
        assert_eq!(
            message(r#"{"message":{"source_branch":["is invalid"],"title":["can't be blank"]}}"#),
            "source_branch is invalid; title can't be blank"
        );
        assert_eq!(
            message(
                r#"{"error":"insufficient_scope","error_description":"The request requires higher privileges than provided by the access token."}"#
            ),
            "insufficient_scope: The request requires higher privileges than provided by the access token."
        );
        assert_eq!(
            message(
                r#"{"message":"user does not exist [uid: 0, name: nobody]","url":"https://codeberg.org/api/swagger"}"#
            ),
            "user does not exist [uid: 0, name: nobody]"
        );
        assert_eq!(message("  "), "no explanation given");
        let long = message(&"é".repeat(1000));
        assert_eq!(long.chars().count(), 301);
    }

    #[test]
    fn rate_limits_are_bounded_and_http_dates_read() {
        assert_eq!(
            rate_limit(429, &headers(&[("retry-after", "0")]), NOW),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            rate_limit(429, &headers(&[("retry-after", "999999")]), NOW),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(
            rate_limit(
                429,
                &headers(&[("x-ratelimit-reset", &(NOW - 5).to_string())]),
                NOW
            ),
            Some(Duration::from_secs(1))
        );
        assert_eq!(rate_limit(403, &headers(&[]), NOW), None);
        assert_eq!(rate_limit(500, &headers(&[("retry-after", "5")]), NOW), None);
        assert_eq!(
            retry_after_seconds("Wed, 21 Oct 2015 07:28:10 GMT", NOW),
            Some(10)
        );
        assert_eq!(retry_after_seconds("soon", NOW), None);
    }
}
