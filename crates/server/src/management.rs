//! The Management API (admin), authorized by [`ManagementPrincipal`].

use crate::extract::api::Path;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::Value;
use strongroom_core::store::ApplicationId;

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, ManagementPrincipal};
use crate::openapi::{Internal, ManagementAuth};
use crate::wire::ErrorBody;
use crate::wire::account_center::{AccountCenterPatch, AccountCenterSettings};
use crate::wire::applications::{Application, ApplicationPatch, NewApplication};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_applications, create_application))
        .routes(routes!(
            get_application,
            update_application,
            delete_application
        ))
        .routes(routes!(get_account_center, update_account_center))
}

#[utoipa::path(
    get,
    path = "/api/account-center",
    tag = "Account center",
    summary = "Get the Account Center settings",
    description = "Logto's Account Center: whether the Account API is on (`enabled`), and per field (`name`, \
                   `avatar`, `profile`, `email`, `phone`, `password`, `username`, `social`, `customData`, `mfa`, \
                   `passkey`, `session`) `Off`, `ReadOnly` or `Edit`. Strongroom's default: on, every field `Edit`.",
    security(("management" = [])),
    responses((status = 200, description = "The settings.", body = AccountCenterSettings), ManagementAuth, Internal)
)]
async fn get_account_center(
    _: ManagementPrincipal,
    State(state): State<AppState>,
) -> ApiResult<Json<AccountCenterSettings>> {
    settings(&*state.account_center.settings().await?)
}

fn settings(stored: &Value) -> ApiResult<Json<AccountCenterSettings>> {
    AccountCenterSettings::new(stored)
        .map(Json)
        .map_err(|e| ApiError::internal(&format!("the stored Account Center settings: {e}")))
}

#[utoipa::path(
    patch,
    path = "/api/account-center",
    tag = "Account center",
    summary = "Update the Account Center settings",
    description = "`enabled`, `fields` (replaced as a whole), `webauthnRelatedOrigins`, `deleteAccountUrl`, \
                   `customCss`, `profileFields`. With `enabled: false` the Account and Verification APIs answer 400 \
                   `account_center.not_enabled`; linking and unlinking identities need `social: Edit` (400 \
                   `account_center.field_not_editable`); `GET /api/my-account` leaves out the fields that are \
                   `Off`. Another process sees a change within 5 s.",
    request_body = AccountCenterPatch,
    security(("management" = [])),
    responses(
        (status = 200, description = "The settings.", body = AccountCenterSettings),
        (status = 400, description = "`guard.invalid_input`: an unknown setting or an invalid value.", body = ErrorBody),
        ManagementAuth,
        Internal,
    )
)]
async fn update_account_center(
    _: ManagementPrincipal,
    State(state): State<AppState>,
    JsonBody(patch): JsonBody<AccountCenterPatch>,
) -> ApiResult<Json<AccountCenterSettings>> {
    settings(&*state.account_center.update(patch.into_value()).await?)
}

fn app_not_found(id: &str) -> ApiError {
    ApiError::not_found(
        "entity.not_exists_with_id",
        format!("The application with ID `{id}` does not exist."),
    )
}

#[utoipa::path(
    get,
    path = "/api/applications",
    tag = "Applications",
    summary = "List applications",
    security(("management" = [])),
    responses((status = 200, description = "Every application (without secrets).", body = [Application]), ManagementAuth, Internal)
)]
async fn list_applications(
    _: ManagementPrincipal,
    State(state): State<AppState>,
) -> ApiResult<Json<Vec<Application>>> {
    let apps = state.applications.list().await?;
    Ok(Json(
        apps.iter().map(|a| Application::new(a, None)).collect(),
    ))
}

#[utoipa::path(
    post,
    path = "/api/applications",
    tag = "Applications",
    summary = "Create an application",
    request_body = NewApplication,
    security(("management" = [])),
    responses(
        (status = 200, description = "The application; a confidential one (`Traditional`, `MachineToMachine`) with \
            its client `secret`, shown this once.", body = Application),
        (status = 400, description = "`guard.invalid_input`: a malformed body or unknown field, an empty name, an \
            unknown type, or a redirect URI that is not absolute or has a fragment.", body = ErrorBody),
        ManagementAuth,
        Internal,
    )
)]
async fn create_application(
    _: ManagementPrincipal,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<NewApplication>,
) -> ApiResult<Json<Application>> {
    let (app, secret) = state.applications.create(body.into()).await?;
    let secret = secret
        .as_ref()
        .map(strongroom_core::ExposeSecret::expose_secret);
    Ok(Json(Application::new(&app, secret)))
}

#[utoipa::path(
    get,
    path = "/api/applications/{id}",
    tag = "Applications",
    summary = "Get an application",
    params(("id" = String, Path, description = "The application id (its OAuth client id).")),
    security(("management" = [])),
    responses(
        (status = 200, description = "The application (without its secret).", body = Application),
        (status = 404, description = "`entity.not_exists_with_id`: no such application.", body = ErrorBody),
        ManagementAuth,
        Internal,
    )
)]
async fn get_application(
    _: ManagementPrincipal,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Application>> {
    let app = state
        .applications
        .get(&ApplicationId::from(id.clone()))
        .await?
        .ok_or_else(|| app_not_found(&id))?;
    Ok(Json(Application::new(&app, None)))
}

#[utoipa::path(
    patch,
    path = "/api/applications/{id}",
    tag = "Applications",
    summary = "Update an application",
    params(("id" = String, Path, description = "The application id.")),
    request_body = ApplicationPatch,
    security(("management" = [])),
    responses(
        (status = 200, description = "The updated application.", body = Application),
        (status = 400, description = "`guard.invalid_input`: a malformed body or unknown field, an empty name, or a \
            redirect URI that is not absolute or has a fragment.", body = ErrorBody),
        (status = 404, description = "`entity.not_exists_with_id`: no such application.", body = ErrorBody),
        ManagementAuth,
        Internal,
    )
)]
async fn update_application(
    _: ManagementPrincipal,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(patch): JsonBody<ApplicationPatch>,
) -> ApiResult<Json<Application>> {
    let app = state
        .applications
        .update(&ApplicationId::from(id.clone()), patch.into())
        .await?
        .ok_or_else(|| app_not_found(&id))?;
    Ok(Json(Application::new(&app, None)))
}

#[utoipa::path(
    delete,
    path = "/api/applications/{id}",
    tag = "Applications",
    summary = "Delete an application",
    params(("id" = String, Path, description = "The application id.")),
    security(("management" = [])),
    responses(
        (status = 204, description = "Deleted."),
        (status = 404, description = "`entity.not_exists_with_id`: no such application.", body = ErrorBody),
        ManagementAuth,
        Internal,
    )
)]
async fn delete_application(
    _: ManagementPrincipal,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if state
        .applications
        .delete(&ApplicationId::from(id.clone()))
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(app_not_found(&id))
    }
}
