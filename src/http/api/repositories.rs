//! `/api/v1/repositories`: scan an image repository now.

use super::audit::{Audited, mutating};
use super::dto::ScanView;
use super::openapi::answers::{BadGateway, Forbidden, NotFound, Unauthorized, Unavailable};
use super::{engine, from_manual};
use crate::config::Scope;
use crate::domain::ObjectKey;
use crate::http::auth::Caller;
use crate::http::problem::ApiError;
use crate::http::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(super) fn routes(router: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    router.routes(routes!(scan))
}

/// Scan an image repository now and report what each of its policies picks.
#[utoipa::path(post, path = "/api/v1/repositories/{namespace}/{name}/scan", tag = "repositories",
    params(("namespace" = String, Path), ("name" = String, Path)),
    responses(
        (status = 200, description = "Scanned", body = ScanView),
        Unauthorized,
        Forbidden,
        NotFound,
        BadGateway,
        Unavailable,
    ))]
async fn scan(
    State(state): State<AppState>,
    caller: Caller,
    audited: Audited,
    Path((namespace, name)): Path<(String, String)>,
) -> Result<Json<ScanView>, ApiError> {
    mutating(&state, &caller, audited, Scope::Promote, async {
        let key = ObjectKey::from_parts(&namespace, &name)
            .map_err(|_| ApiError::NotFound(format!("no image repository {namespace}/{name}")))?;
        engine(&state)?
            .scan(&key)
            .await
            .map(ScanView::from)
            .map_err(|error| from_manual(error, "/"))
    })
    .await
}
