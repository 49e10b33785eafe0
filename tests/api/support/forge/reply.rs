//! Building answers: the fake's reply, the platforms' error and rate-limit bodies, documented
//! response skeletons, and reading request bodies.

use super::ForgeKind;
use crate::support::openapi::{Document, Operation, merge};
use serde_json::{Value, json};

pub(super) const TIMESTAMP: &str = "2024-01-02T03:04:05Z";

pub(super) struct Reply {
    pub(super) status: u16,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: Option<Value>,
}

impl Reply {
    pub(super) fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Some(body),
        }
    }

    pub(super) fn empty(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: None,
        }
    }
}

/// The platform's error body for `status`.
pub(super) fn error(kind: ForgeKind, status: u16, message: &str) -> Reply {
    let body = match kind {
        ForgeKind::Forgejo | ForgeKind::Gitea => {
            json!({"message": message, "url": "https://docs.gitea.com/api"})
        }
        ForgeKind::Github => json!({
            "message": message,
            "documentation_url": "https://docs.github.com/rest"
        }),
        ForgeKind::Gitlab => json!({"message": format!("{status} {message}")}),
    };
    Reply::json(status, body)
}

pub(super) fn rate_limited(kind: ForgeKind, retry_after: u64) -> Reply {
    let reset = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + retry_after;
    let mut reply = error(kind, 429, "API rate limit exceeded");
    reply
        .headers
        .push(("Retry-After".to_owned(), retry_after.to_string()));
    match kind {
        ForgeKind::Github => reply.headers.extend([
            ("x-ratelimit-limit".to_owned(), "5000".to_owned()),
            ("x-ratelimit-remaining".to_owned(), "0".to_owned()),
            ("x-ratelimit-reset".to_owned(), reset.to_string()),
        ]),
        ForgeKind::Gitlab => reply.headers.extend([
            ("RateLimit-Remaining".to_owned(), "0".to_owned()),
            ("RateLimit-Reset".to_owned(), reset.to_string()),
        ]),
        ForgeKind::Forgejo | ForgeKind::Gitea => {}
    }
    reply
}

/// Builds documented answers: the skeleton of the documented response with the state on top.
pub(super) struct Answer<'a> {
    pub(super) document: &'a Document,
    pub(super) operation: &'a Operation,
}

impl Answer<'_> {
    pub(super) fn with(&self, status: u16, overlay: Value) -> Reply {
        let mut body = self.document.skeleton(self.operation, status);
        if body.is_null() || overlay.is_array() {
            body = overlay;
        } else {
            merge(&mut body, overlay);
        }
        Reply::json(status, body)
    }

    /// `overlay` on the skeleton of the schema at `pointer` (e.g. `#/components/schemas/label`).
    pub(super) fn of(&self, pointer: &str, overlay: Value) -> Value {
        let mut body = self.document.skeleton_of(pointer);
        merge(&mut body, overlay);
        body
    }
}

pub(super) fn text(body: &Value, key: &str) -> String {
    body[key].as_str().unwrap_or("").to_owned()
}

pub(super) fn names(value: &Value) -> Vec<String> {
    match value {
        Value::String(csv) => csv
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        Value::Array(items) => items
            .iter()
            .filter_map(|i| i.as_str().or_else(|| i["name"].as_str()).map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}
