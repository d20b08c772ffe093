//! Management API: connector factories, social connectors and enterprise SSO connectors.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;
use strongroom_core::connectors::{
    ConnectorPatch, NewConnector, NewSsoConnector, SsoConnectorPatch, connector_json, sso_connector_json,
};
use strongroom_core::store::{ConnectorId, SsoConnectorId};
use strongroom_providers::social_factories;

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, ManagementPrincipal};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/connector-factories", get(list_factories))
        .route("/api/connector-factories/{id}", get(get_factory))
        .route("/api/connectors", get(list_connectors).post(create_connector))
        .route("/api/connectors/{id}", get(get_connector).patch(update_connector).delete(delete_connector))
        .route("/api/sso-connectors", get(list_sso_connectors).post(create_sso_connector))
        .route(
            "/api/sso-connectors/{id}",
            get(get_sso_connector).patch(update_sso_connector).delete(delete_sso_connector),
        )
}

async fn list_factories(_: ManagementPrincipal) -> Json<Value> {
    Json(serde_json::to_value(social_factories()).unwrap_or(Value::Null))
}

async fn get_factory(_: ManagementPrincipal, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let factory = strongroom_core::connectors::factory(&id)
        .ok_or_else(|| ApiError::not_found("entity.not_found", format!("There is no connector factory `{id}`.")))?;
    Ok(Json(serde_json::to_value(factory).unwrap_or(Value::Null)))
}

#[derive(Debug, serde::Deserialize)]
struct TargetFilter {
    target: Option<String>,
}

async fn list_connectors(
    _: ManagementPrincipal,
    State(state): State<AppState>,
    Query(filter): Query<TargetFilter>,
) -> ApiResult<Json<Vec<Value>>> {
    let rows = state.connectors.list(filter.target.as_deref()).await?;
    Ok(Json(rows.iter().map(connector_json).collect()))
}

async fn create_connector(
    _: ManagementPrincipal,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<NewConnector>,
) -> ApiResult<Json<Value>> {
    Ok(Json(connector_json(&state.connectors.create(body).await?)))
}

async fn get_connector(_: ManagementPrincipal, State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(connector_json(&state.connectors.get(&ConnectorId(id)).await?)))
}

async fn update_connector(
    p: ManagementPrincipal,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(patch): JsonBody<ConnectorPatch>,
) -> ApiResult<Json<Value>> {
    Ok(Json(connector_json(&state.connectors.update(&ConnectorId(id), patch, &p.actor()).await?)))
}

async fn delete_connector(p: ManagementPrincipal, State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    state.connectors.delete(&ConnectorId(id), &p.actor()).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_sso_connectors(_: ManagementPrincipal, State(state): State<AppState>) -> ApiResult<Json<Vec<Value>>> {
    let mut out = Vec::new();
    for row in state.connectors.list_sso().await? {
        let config = state.connectors.sso_provider_config(&row).await;
        out.push(sso_connector_json(&row, config));
    }
    Ok(Json(out))
}

async fn create_sso_connector(
    _: ManagementPrincipal,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<NewSsoConnector>,
) -> ApiResult<Json<Value>> {
    let row = state.connectors.create_sso(body).await?;
    Ok(Json(sso_connector_json(&row, None)))
}

async fn get_sso_connector(_: ManagementPrincipal, State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let row = state.connectors.get_sso(&SsoConnectorId(id)).await?;
    let config = state.connectors.sso_provider_config(&row).await;
    Ok(Json(sso_connector_json(&row, config)))
}

async fn update_sso_connector(
    p: ManagementPrincipal,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(patch): JsonBody<SsoConnectorPatch>,
) -> ApiResult<Json<Value>> {
    let row = state.connectors.update_sso(&SsoConnectorId(id), patch, &p.actor()).await?;
    let config = state.connectors.sso_provider_config(&row).await;
    Ok(Json(sso_connector_json(&row, config)))
}

async fn delete_sso_connector(p: ManagementPrincipal, State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    state.connectors.delete_sso(&SsoConnectorId(id), &p.actor()).await?;
    Ok(StatusCode::NO_CONTENT)
}
