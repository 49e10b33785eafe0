//! `/api/v1/events`: the intake journal, paged.

use super::openapi::answers::{Unauthorized, Unprocessable};
use crate::config::Scope;
use crate::http::auth::Caller;
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

/// The schema of `journal::State` (the journal has no API types; its names are the values).
struct StateSchema;

impl utoipa::PartialSchema for StateSchema {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("Where an event is in its life."))
            .enum_values(Some(EventState::ALL.map(EventState::as_str)))
            .into()
    }
}

impl ToSchema for StateSchema {
    fn name() -> std::borrow::Cow<'static, str> {
        "State".into()
    }
}

/// A stored event.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Event)]
struct EventView {
    id: i64,
    source: String,
    kind: &'static str,
    repository: Option<String>,
    automation: Option<String>,
    tag: Option<String>,
    digest: Option<String>,
    #[schema(value_type = StateSchema)]
    state: &'static str,
    reason: Option<String>,
    commit: Option<String>,
    /// Unix seconds.
    received_at: i64,
    updated_at: i64,
}

impl From<Event> for EventView {
    fn from(event: Event) -> Self {
        Self {
            id: event.id,
            source: event.source,
            kind: event.kind.as_str(),
            repository: event.kind.repository().map(ToString::to_string),
            automation: event.kind.automation().map(ToString::to_string),
            tag: event.kind.tag().map(str::to_owned),
            digest: event.kind.digest().map(str::to_owned),
            state: event.state.as_str(),
            reason: event.reason,
            commit: event.commit,
            received_at: event.received_at,
            updated_at: event.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct EventsQuery {
    /// Only events in this state.
    #[param(value_type = Option<StateSchema>)]
    state: Option<String>,
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
    events: Vec<EventView>,
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
    // Parsed here rather than by serde: the journal's `State` has no wire format of its own.
    let wanted = query
        .state
        .map(|text| {
            EventState::try_from(text.clone()).map_err(|_| ApiError::Validation {
                field: "/state",
                message: format!(
                    "state {text:?} is not one of {}",
                    EventState::ALL.map(EventState::as_str).join(", ")
                ),
            })
        })
        .transpose()?;
    let events = state
        .journal
        .list(wanted, query.repository.as_deref(), query.before, limit)
        .await
        .map_err(|error| ApiError::Internal(error.to_string()))?;
    let next_before = (i64::try_from(events.len()).unwrap_or(i64::MAX) == limit)
        .then(|| events.last().map(|event| event.id))
        .flatten();
    let events = events.into_iter().map(EventView::from).collect();
    Ok(Json(EventsPage { events, next_before }))
}
