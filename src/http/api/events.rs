//! `/api/v1/events`: the intake journal, paged.

use super::openapi::answers::{Unauthorized, Unprocessable};
use crate::config::Scope;
use crate::http::api::auth::Caller;
use crate::http::problem::ApiError;
use crate::http::state::AppState;
use crate::journal::{Event, State as EventState};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(super) fn routes(router: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    router.routes(routes!(list_events))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct EventsQuery {
    /// Only events in this state.
    state: Option<EventState>,
    /// Only events for this image repository (`namespace/name`).
    repository: Option<String>,
    /// Page cursor: events with a smaller id (`next_before` of the previous page).
    #[param(minimum = 1)]
    before: Option<i64>,
    /// Page size, 1–500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

/// A page of intake events.
#[derive(Debug, Serialize, ToSchema)]
struct EventsPage {
    events: Vec<Event>,
    /// Pass as `before` for the next page; `null` on the last page.
    next_before: Option<i64>,
}

/// The intake journal, newest first, with each event's state and reason.
#[utoipa::path(get, path = "/api/v1/events", tag = "events",
    params(EventsQuery),
    responses(
        (status = 200, description = "A page of events", body = EventsPage),
        Unauthorized,
        Unprocessable,
    ))]
async fn list_events(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Json<EventsPage>, ApiError> {
    caller.require(Scope::Read)?;
    let Query(query) = query.map_err(|rejection| ApiError::Validation {
        field: "/query",
        message: format!(
            "{}; valid: state, repository, before (≥ 1), limit (1–500)",
            rejection.body_text()
        ),
    })?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::Validation {
            field: "/limit",
            message: format!("limit must be between 1 and 500, not {limit}"),
        });
    }
    if query.before.is_some_and(|before| before < 1) {
        return Err(ApiError::Validation {
            field: "/before",
            message: "before must be at least 1 (use next_before from the previous page)".to_owned(),
        });
    }
    let events = state
        .journal
        .list(query.state, query.repository.as_deref(), query.before, limit)
        .await
        .map_err(|error| ApiError::Internal(error.to_string()))?;
    let next_before = (i64::try_from(events.len()).unwrap_or(i64::MAX) == limit)
        .then(|| events.last().map(|event| event.id))
        .flatten();
    Ok(Json(EventsPage { events, next_before }))
}
