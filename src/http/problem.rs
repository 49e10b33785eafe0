//! RFC 9457 problem details (`application/problem+json`) for the REST API, with stable `type`
//! URNs that clients may branch on. Validation problems name the offending field.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// A problem details body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// Stable identifier of the problem kind, e.g. `urn:pushdeploy:problem:tag-not-found`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the problem kind.
    pub title: String,
    /// HTTP status code.
    pub status: u16,
    /// What happened in this case and what to do.
    pub detail: String,
    /// For validation problems: the request field at fault (JSON pointer style, e.g. `/tag`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// Every error the API can answer with; each maps to one stable problem type.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("a bearer token is required: send Authorization: Bearer <token>")]
    Unauthorized,
    #[error("this call needs the {needed} scope; the token {token:?} has {has}")]
    Forbidden {
        token: String,
        needed: &'static str,
        has: &'static str,
    },
    #[error("{0}")]
    NotFound(String),
    #[error("{message}")]
    Validation { field: &'static str, message: String },
    #[error("{message}")]
    TagNotFound { field: &'static str, message: String },
    #[error("{message}")]
    PolicyRejectsTag { field: &'static str, message: String },
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Upstream(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            Self::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Missing or unknown token",
            ),
            Self::Forbidden { .. } => (StatusCode::FORBIDDEN, "forbidden", "Token scope too small"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not-found", "Not found"),
            Self::Validation { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "validation", "Invalid request"),
            Self::TagNotFound { .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "tag-not-found",
                "Tag not in the registry",
            ),
            Self::PolicyRejectsTag { .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "policy-rejects-tag",
                "Tag does not pass the policy",
            ),
            Self::MethodNotAllowed(_) => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
            ),
            Self::Conflict(_) => (StatusCode::CONFLICT, "conflict", "Conflict"),
            Self::UnsupportedMediaType(_) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Body is not JSON",
            ),
            Self::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service unavailable",
            ),
            Self::Upstream(_) => (
                StatusCode::BAD_GATEWAY,
                "upstream",
                "Registry or git remote failed",
            ),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal error"),
        }
    }

    /// The problem body this error answers with.
    pub fn problem(&self) -> Problem {
        let (status, slug, title) = self.parts();
        Problem {
            kind: format!("urn:pushdeploy:problem:{slug}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: self.to_string(),
            field: match self {
                Self::Validation { field, .. }
                | Self::TagNotFound { field, .. }
                | Self::PolicyRejectsTag { field, .. } => Some((*field).to_owned()),
                _ => None,
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = self.problem();
        let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::error!(error = %self, "API call failed");
        }
        let mut response = (status, axum::Json(problem)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if matches!(self, Self::Unauthorized) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        // Unavailable is passing (a shard changing hands, the engine starting): say when to
        // try again.
        if matches!(self, Self::Unavailable(_)) {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_problems_name_the_field_and_have_a_stable_type() {
        let problem = ApiError::Validation {
            field: "/tag",
            message: "tag is empty".to_owned(),
        }
        .problem();
        assert_eq!(problem.kind, "urn:pushdeploy:problem:validation");
        assert_eq!((problem.status, problem.field.as_deref()), (422, Some("/tag")));
    }

    #[test]
    fn unauthorized_answers_401_with_problem_json_and_a_bearer_challenge() {
        let response = ApiError::Unauthorized.into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
    }
}
