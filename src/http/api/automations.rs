//! `/api/v1/automations`: list, suspend and resume image update automations.

use super::audit::{Audited, mutating};
use super::dto::{self, AutomationView, NoteResult};
use super::openapi::answers::{BadGateway, Conflict, Forbidden, NotFound, Unauthorized, Unavailable};
use super::{engine, from_manual};
use crate::config::Scope;
use crate::http::auth::Caller;
use crate::http::problem::ApiError;
use crate::http::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(super) fn routes(router: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    router
        .routes(routes!(list_automations))
        .routes(routes!(suspend_automation))
        .routes(routes!(resume_automation))
}

/// Every image update automation and whether it is suspended.
#[utoipa::path(get, path = "/api/v1/automations", tag = "automations",
    responses(
        (status = 200, description = "The automations", body = [AutomationView]),
        Unauthorized,
        Unavailable,
    ))]
async fn list_automations(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<AutomationView>>, ApiError> {
    caller.require(Scope::Read)?;
    engine(&state)?
        .automations()
        .await
        .map(|automations| Json(dto::all(automations)))
        .map_err(|error| from_manual(error, "/"))
}

async fn set_suspended(
    state: &AppState,
    caller: &Caller,
    audited: Audited,
    name: &str,
    suspended: bool,
) -> Result<Json<NoteResult>, ApiError> {
    mutating(state, caller, audited, Scope::Admin, async {
        engine(state)?
            .set_suspended(name, suspended, &caller.token)
            .await
            .map(NoteResult::from)
            .map_err(|error| from_manual(error, "/"))
    })
    .await
}

/// Stop automatic updates by an automation (manual promotions still write).
#[utoipa::path(post, path = "/api/v1/automations/{name}/suspend", tag = "automations",
    params(("name" = String, Path, description = "`name`, or `namespace:name` when the name is not unique")),
    responses(
        (status = 200, description = "Suspended, and noted in git", body = NoteResult),
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        BadGateway,
        Unavailable,
    ))]
async fn suspend_automation(
    State(state): State<AppState>,
    caller: Caller,
    audited: Audited,
    Path(name): Path<String>,
) -> Result<Json<NoteResult>, ApiError> {
    set_suspended(&state, &caller, audited, &name, true).await
}

/// Let an automation update again; its policies are decided at once.
#[utoipa::path(post, path = "/api/v1/automations/{name}/resume", tag = "automations",
    params(("name" = String, Path, description = "`name`, or `namespace:name` when the name is not unique")),
    responses(
        (status = 200, description = "Resumed, and noted in git", body = NoteResult),
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        BadGateway,
        Unavailable,
    ))]
async fn resume_automation(
    State(state): State<AppState>,
    caller: Caller,
    audited: Audited,
    Path(name): Path<String>,
) -> Result<Json<NoteResult>, ApiError> {
    set_suspended(&state, &caller, audited, &name, false).await
}
