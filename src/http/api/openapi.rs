//! The OpenAPI document: its info and security scheme, the error answers each operation lists,
//! and the route table, from which both the router and `openapi.yaml` are built.

use crate::http::problem::Problem;
use crate::http::state::AppState;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

/// The error answers, one type per status, listed by name in each operation's `responses(...)`.
/// Never constructed: they only describe `ApiError`'s problem bodies to the spec.
#[allow(dead_code)]
pub(super) mod answers {
    use crate::http::problem::Problem;
    use utoipa::IntoResponses;

    /// No token, or an unknown one (`unauthorized`).
    #[derive(IntoResponses)]
    #[response(status = 401, content_type = "application/problem+json")]
    pub struct Unauthorized(Problem);

    /// The token's scope is too small for this call (`forbidden`).
    #[derive(IntoResponses)]
    #[response(status = 403, content_type = "application/problem+json")]
    pub struct Forbidden(Problem);

    /// No such policy, image repository or automation (`not-found`).
    #[derive(IntoResponses)]
    #[response(status = 404, content_type = "application/problem+json")]
    pub struct NotFound(Problem);

    /// Not possible in the current state, e.g. nothing to roll back to, no automation writes the
    /// policy, or an ambiguous name (`conflict`).
    #[derive(IntoResponses)]
    #[response(status = 409, content_type = "application/problem+json")]
    pub struct Conflict(Problem);

    /// Invalid input (`validation`), a tag the registry does not have (`tag-not-found`) or one
    /// the policy rejects (`policy-rejects-tag`); `field` names the part at fault.
    #[derive(IntoResponses)]
    #[response(status = 422, content_type = "application/problem+json")]
    pub struct Unprocessable(Problem);

    /// The body is not JSON: send `Content-Type: application/json` (`unsupported-media-type`).
    #[derive(IntoResponses)]
    #[response(status = 415, content_type = "application/problem+json")]
    pub struct UnsupportedMediaType(Problem);

    /// The registry or the git remote failed; nothing was written (`upstream`).
    #[derive(IntoResponses)]
    #[response(status = 502, content_type = "application/problem+json")]
    pub struct BadGateway(Problem);

    /// The engine is not running in this process, or it is shutting down (`unavailable`).
    #[derive(IntoResponses)]
    #[response(status = 503, content_type = "application/problem+json")]
    pub struct Unavailable(Problem);
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "pushdeploy",
        description = "Manual promotion, rollback, pinning and history for pushdeploy. Every call needs `Authorization: Bearer <token>`; tokens have a scope: read < promote < admin. Errors are RFC 9457 problem details.",
        license(name = "Apache-2.0")
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    components(schemas(Problem))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Every route with its operation, in the order `openapi.yaml` lists them.
pub(super) fn api() -> OpenApiRouter<AppState> {
    let router = OpenApiRouter::with_openapi(ApiDoc::openapi());
    let router = super::policies::routes(router);
    let router = super::events::routes(router);
    let router = super::repositories::routes(router);
    super::automations::routes(router)
}

/// The OpenAPI document, as checked in at `openapi.yaml` (`pushdeploy openapi`).
pub fn openapi_yaml() -> String {
    api().split_for_parts().1.to_yaml().unwrap_or_default()
}
