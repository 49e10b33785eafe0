//! Intake error answers. A journal that cannot be written is the one case where an
//! authenticated sender gets a 5xx: nothing was stored, so the sender must retry.

use crate::journal::JournalError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

pub fn journal_unavailable(error: &JournalError) -> Response {
    tracing::error!(%error, "could not journal a webhook; answering 503 so the sender retries");
    metrics::counter!("pushdeploy_webhook_requests_total", "source" => "any", "result" => "journal_error")
        .increment(1);
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(axum::http::header::RETRY_AFTER, "5")],
        format!("the journal is unavailable, nothing was stored, retry later: {error}"),
    )
        .into_response()
}
