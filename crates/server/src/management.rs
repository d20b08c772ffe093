//! The Management API (admin), authorized by [`ManagementPrincipal`].

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;
use strongroom_core::applications::{ApplicationPatch, NewApplication, application_json};
use strongroom_core::store::ApplicationId;

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, ManagementPrincipal};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/applications", get(list_applications).post(create_application))
        .route(
            "/api/applications/{id}",
            get(get_application).patch(update_application).delete(delete_application),
        )
}

fn app_not_found(id: &str) -> ApiError {
    ApiError::not_found("entity.not_exists_with_id", format!("The application with ID `{id}` does not exist."))
}

async fn list_applications(_: ManagementPrincipal, State(state): State<AppState>) -> ApiResult<Json<Vec<Value>>> {
    let apps = state.applications.list().await?;
    Ok(Json(apps.iter().map(|a| application_json(a, None)).collect()))
}

async fn create_application(
    _: ManagementPrincipal,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<NewApplication>,
) -> ApiResult<Json<Value>> {
    let (app, secret) = state.applications.create(body).await?;
    let secret = secret.as_ref().map(secrecy_expose);
    Ok(Json(application_json(&app, secret)))
}

fn secrecy_expose(s: &strongroom_core::SecretString) -> &str {
    strongroom_core::ExposeSecret::expose_secret(s)
}

async fn get_application(_: ManagementPrincipal, State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let app = state.applications.get(&ApplicationId(id.clone())).await?.ok_or_else(|| app_not_found(&id))?;
    Ok(Json(application_json(&app, None)))
}

async fn update_application(
    _: ManagementPrincipal,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(patch): JsonBody<ApplicationPatch>,
) -> ApiResult<Json<Value>> {
    let app = state
        .applications
        .update(&ApplicationId(id.clone()), patch)
        .await?
        .ok_or_else(|| app_not_found(&id))?;
    Ok(Json(application_json(&app, None)))
}

async fn delete_application(_: ManagementPrincipal, State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    if state.applications.delete(&ApplicationId(id.clone())).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(app_not_found(&id))
    }
}
