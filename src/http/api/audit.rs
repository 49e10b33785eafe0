//! The audit frame of every mutating call: the scope check, then the call, then the audit entry
//! (who, what, how it ended). The request line comes from the request itself (method, path,
//! matched route), never retyped by a handler.

use super::body::{BodyRejection, JsonBody};
use crate::config::Scope;
use crate::http::auth::Caller;
use crate::http::problem::ApiError;
use crate::http::refusals::truncated;
use crate::http::state::AppState;
use axum::Json;
use axum::extract::{FromRequestParts, MatchedPath};
use axum::http::request::Parts;
use serde::Serialize;

/// What an audit entry says was asked: `POST /api/v1/policies/flux-system/mcp/promote`, and the
/// route it matched (`/api/v1/policies/{namespace}/{name}/promote`) for the log.
#[derive(Debug, Clone)]
pub(super) struct Audited {
    line: String,
    route: String,
}

impl<S: Send + Sync> FromRequestParts<S> for Audited {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let route = parts
            .extensions
            .get::<MatchedPath>()
            .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
        Ok(Self {
            line: format!("{} {}", parts.method, truncated(parts.uri.path())),
            route,
        })
    }
}

impl Audited {
    /// The request line and the body as it was sent (text, at most 200 characters), whether
    /// or not it parsed.
    pub(super) fn with_body<T>(mut self, body: &Result<JsonBody<T>, BodyRejection>) -> Self {
        let printable = match body {
            Ok(body) => body.printable(),
            Err(rejection) => rejection.printable(),
        };
        if !printable.is_empty() {
            self.line = format!("{} {printable}", self.line);
        }
        self
    }
}

/// Run `call` if the caller's scope includes `scope`, then write the audit entry; the answer
/// goes out only once the audit entry is written.
pub(super) async fn mutating<T: Serialize>(
    state: &AppState,
    caller: &Caller,
    request: Audited,
    scope: Scope,
    call: impl Future<Output = Result<T, ApiError>>,
) -> Result<Json<T>, ApiError> {
    let result = match caller.require(scope) {
        Ok(()) => call.await,
        Err(error) => Err(error),
    };
    let outcome = match &result {
        Ok(_) => "ok".to_owned(),
        Err(error) => format!("{} {error}", error.problem().status),
    };
    if let Err(error) = state.journal.audit(&caller.token, &request.line, &outcome).await {
        tracing::error!(%error, "cannot write the audit entry");
        return Err(ApiError::Internal(format!(
            "cannot write the audit entry: {error}"
        )));
    }
    tracing::info!(token = %caller.token, request = %request.line, route = %request.route, %outcome, "API call");
    result.map(Json)
}
