//! Management API: connector factories, social connectors and enterprise SSO connectors.

use crate::extract::api::{Path, Query};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use strongroom_core::store::{ConnectorId, ConnectorRow, SsoConnectorId};
use strongroom_providers::social_factories;

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, ManagementPrincipal};
use crate::openapi::{Internal, ManagementAuth};
use crate::wire::ErrorBody;
use crate::wire::connectors::{
    Connector, ConnectorFactory, ConnectorPatch, NewConnector, NewSsoConnector, SsoConnector,
    SsoConnectorPatch,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_factories))
        .routes(routes!(get_factory))
        .routes(routes!(list_connectors, create_connector))
        .routes(routes!(get_connector, update_connector, delete_connector))
        .routes(routes!(list_sso_connectors, create_sso_connector))
        .routes(routes!(
            get_sso_connector,
            update_sso_connector,
            delete_sso_connector
        ))
}

#[utoipa::path(
    get,
    path = "/api/connector-factories",
    tag = "Connector factories",
    summary = "List connector factories",
    security(("management" = [])),
    responses((status = 200, description = "The social connector types Strongroom implements.", body = [ConnectorFactory]), ManagementAuth, Internal)
)]
async fn list_factories(_: ManagementPrincipal) -> Json<Vec<ConnectorFactory>> {
    Json(social_factories().into_iter().map(Into::into).collect())
}

#[utoipa::path(
    get,
    path = "/api/connector-factories/{id}",
    tag = "Connector factories",
    summary = "Get a connector factory",
    params(("id" = String, Path, description = "The factory id (Logto's aliases included).")),
    security(("management" = [])),
    responses(
        (status = 200, description = "The factory's metadata.", body = ConnectorFactory),
        (status = 404, description = "`entity.not_found`: no such factory.", body = ErrorBody),
        ManagementAuth,
        Internal,
    )
)]
async fn get_factory(
    _: ManagementPrincipal,
    Path(id): Path<String>,
) -> ApiResult<Json<ConnectorFactory>> {
    let factory = strongroom_core::connectors::factory(&id).ok_or_else(|| {
        ApiError::not_found(
            "entity.not_found",
            format!("There is no connector factory `{id}`."),
        )
    })?;
    Ok(Json(factory.into()))
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct TargetFilter {
    /// Only the connector of this target (`github`, `google`, ...).
    target: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/connectors",
    tag = "Connectors",
    summary = "List social connectors",
    params(TargetFilter),
    security(("management" = [])),
    responses(
        (status = 200, description = "The connectors (without secret config fields).", body = [Connector]),
        (status = 400, description = "`guard.invalid_input`: a malformed query string.", body = ErrorBody),
        ManagementAuth,
        Internal,
    )
)]
async fn list_connectors(
    _: ManagementPrincipal,
    State(state): State<AppState>,
    Query(filter): Query<TargetFilter>,
) -> ApiResult<Json<Vec<Connector>>> {
    let rows = state.connectors.list(filter.target.as_deref()).await?;
    rows.iter()
        .map(connector)
        .collect::<ApiResult<_>>()
        .map(Json)
}

#[utoipa::path(
    post,
    path = "/api/connectors",
    tag = "Connectors",
    summary = "Create a social connector",
    request_body = NewConnector,
    security(("management" = [])),
    responses(
        (status = 200, description = "The connector (without secret config fields).", body = Connector),
        (status = 400, description = "`guard.invalid_input`: a malformed body, a bad `id` or `metadata`. \
            `connector.invalid_config`: the config is not an object or the provider refuses it. \
            `connector.cannot_overwrite_metadata_for_non_standard_connector`: `metadata` on a connector other than \
            oauth2 or oidc.", body = ErrorBody),
        (status = 409, description = "`entity.conflict`: a connector with this `id` exists.", body = ErrorBody),
        (status = 422, description = "`connector.not_found_with_connector_id`: an unknown factory. \
            `connector.multiple_instances_not_supported`: a second connector of a non-standard factory. \
            `connector.multiple_target_with_same_platform`: the target is taken. \
            `connector.token_storage_not_supported`: the factory cannot store tokens.", body = ErrorBody),
        ManagementAuth,
        Internal,
    )
)]
async fn create_connector(
    _: ManagementPrincipal,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<NewConnector>,
) -> ApiResult<Json<Connector>> {
    connector(&state.connectors.create(body.into()).await?).map(Json)
}

#[utoipa::path(
    get,
    path = "/api/connectors/{id}",
    tag = "Connectors",
    summary = "Get a social connector",
    params(("id" = String, Path, description = "The connector id.")),
    security(("management" = [])),
    responses(
        (status = 200, description = "The connector (without secret config fields).", body = Connector),
        (status = 404, description = "`entity.not_exists_with_id`: no such connector.", body = ErrorBody),
        ManagementAuth,
        Internal,
    )
)]
async fn get_connector(
    _: ManagementPrincipal,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Connector>> {
    connector(&state.connectors.get(&ConnectorId::from(id)).await?).map(Json)
}

#[utoipa::path(
    patch,
    path = "/api/connectors/{id}",
    tag = "Connectors",
    summary = "Update a social connector",
    description = "A `config` without `clientSecret` keeps the stored one. `enableTokenStorage: false` deletes the \
                   token sets stored through the connector and revokes them at the provider.",
    params(("id" = String, Path, description = "The connector id.")),
    request_body = ConnectorPatch,
    security(("management" = [])),
    responses(
        (status = 200, description = "The updated connector.", body = Connector),
        (status = 400, description = "`guard.invalid_input`: a malformed body or `metadata`. \
            `connector.invalid_config`: the provider refuses the config. \
            `connector.cannot_overwrite_metadata_for_non_standard_connector`. \
            `connector.can_not_modify_target`: `metadata.target` differs.", body = ErrorBody),
        (status = 404, description = "`entity.not_exists_with_id`: no such connector.", body = ErrorBody),
        (status = 422, description = "`connector.token_storage_not_supported`. \
            `connector.not_found_with_connector_id`: the stored factory is unknown.", body = ErrorBody),
        ManagementAuth,
        Internal,
    )
)]
async fn update_connector(
    p: ManagementPrincipal,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(patch): JsonBody<ConnectorPatch>,
) -> ApiResult<Json<Connector>> {
    let row = state
        .connectors
        .update(&ConnectorId::from(id), patch.into(), &p.actor())
        .await?;
    connector(&row).map(Json)
}

#[utoipa::path(
    delete,
    path = "/api/connectors/{id}",
    tag = "Connectors",
    summary = "Delete a social connector",
    description = "Its token sets are deleted and revoked at the provider; identities stay, as in Logto.",
    params(("id" = String, Path, description = "The connector id.")),
    security(("management" = [])),
    responses(
        (status = 204, description = "Deleted."),
        (status = 404, description = "`entity.not_exists_with_id`: no such connector.", body = ErrorBody),
        ManagementAuth,
        Internal,
    )
)]
async fn delete_connector(
    p: ManagementPrincipal,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .connectors
        .delete(&ConnectorId::from(id), &p.actor())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/api/sso-connectors",
    tag = "SSO connectors",
    summary = "List SSO connectors",
    security(("management" = [])),
    responses(
        (status = 200, description = "The SSO connectors, each with the discovered `providerConfig` (null when the \
            provider cannot be reached).", body = [SsoConnector]),
        ManagementAuth,
        Internal,
    )
)]
async fn list_sso_connectors(
    _: ManagementPrincipal,
    State(state): State<AppState>,
) -> ApiResult<Json<Vec<SsoConnector>>> {
    let mut out = Vec::new();
    for row in state.connectors.list_sso().await? {
        let config = state.connectors.sso_provider_config(&row).await;
        out.push(SsoConnector::new(&row, config));
    }
    Ok(Json(out))
}

#[utoipa::path(
    post,
    path = "/api/sso-connectors",
    tag = "SSO connectors",
    summary = "Create an SSO connector",
    description = "With a config, the issuer must answer with its discovery document.",
    request_body = NewSsoConnector,
    security(("management" = [])),
    responses(
        (status = 200, description = "The SSO connector (without secret config fields).", body = SsoConnector),
        (status = 400, description = "`guard.invalid_input`: a malformed body or an empty name. \
            `connector.invalid_config`: the config is refused or the issuer's discovery fails.", body = ErrorBody),
        (status = 422, description = "`connector.not_found`: a provider other than `OIDC`. \
            `single_sign_on.forbidden_domains`: public e-mail domains. \
            `single_sign_on.duplicated_domains`: repeated, invalid or taken domains. \
            `single_sign_on.duplicate_connector_name`.", body = ErrorBody),
        ManagementAuth,
        Internal,
    )
)]
async fn create_sso_connector(
    _: ManagementPrincipal,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<NewSsoConnector>,
) -> ApiResult<Json<SsoConnector>> {
    let row = state.connectors.create_sso(body.into()).await?;
    Ok(Json(SsoConnector::new(&row, None)))
}

#[utoipa::path(
    get,
    path = "/api/sso-connectors/{id}",
    tag = "SSO connectors",
    summary = "Get an SSO connector",
    params(("id" = String, Path, description = "The SSO connector id.")),
    security(("management" = [])),
    responses(
        (status = 200, description = "The SSO connector with its discovered `providerConfig`.", body = SsoConnector),
        (status = 404, description = "`entity.not_exists_with_id`: no such SSO connector.", body = ErrorBody),
        ManagementAuth,
        Internal,
    )
)]
async fn get_sso_connector(
    _: ManagementPrincipal,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<SsoConnector>> {
    let row = state.connectors.get_sso(&SsoConnectorId::from(id)).await?;
    let config = state.connectors.sso_provider_config(&row).await;
    Ok(Json(SsoConnector::new(&row, config)))
}

#[utoipa::path(
    patch,
    path = "/api/sso-connectors/{id}",
    tag = "SSO connectors",
    summary = "Update an SSO connector",
    description = "A `config` without `clientSecret` keeps the stored one. `enableTokenStorage: false` deletes the \
                   connector's token sets and revokes them at the provider.",
    params(("id" = String, Path, description = "The SSO connector id.")),
    request_body = SsoConnectorPatch,
    security(("management" = [])),
    responses(
        (status = 200, description = "The updated SSO connector.", body = SsoConnector),
        (status = 400, description = "`guard.invalid_input`: a malformed body or an empty name. \
            `connector.invalid_config`: the config is refused or the issuer's discovery fails.", body = ErrorBody),
        (status = 404, description = "`entity.not_exists_with_id`: no such SSO connector.", body = ErrorBody),
        (status = 422, description = "`single_sign_on.forbidden_domains`. `single_sign_on.duplicated_domains`. \
            `single_sign_on.duplicate_connector_name`.", body = ErrorBody),
        ManagementAuth,
        Internal,
    )
)]
async fn update_sso_connector(
    p: ManagementPrincipal,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(patch): JsonBody<SsoConnectorPatch>,
) -> ApiResult<Json<SsoConnector>> {
    let row = state
        .connectors
        .update_sso(&SsoConnectorId::from(id), patch.into(), &p.actor())
        .await?;
    let config = state.connectors.sso_provider_config(&row).await;
    Ok(Json(SsoConnector::new(&row, config)))
}

#[utoipa::path(
    delete,
    path = "/api/sso-connectors/{id}",
    tag = "SSO connectors",
    summary = "Delete an SSO connector",
    description = "Its users' SSO identities and token sets go with it; the tokens are revoked at the provider.",
    params(("id" = String, Path, description = "The SSO connector id.")),
    security(("management" = [])),
    responses(
        (status = 204, description = "Deleted."),
        (status = 404, description = "`entity.not_exists_with_id`: no such SSO connector.", body = ErrorBody),
        ManagementAuth,
        Internal,
    )
)]
async fn delete_sso_connector(
    p: ManagementPrincipal,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .connectors
        .delete_sso(&SsoConnectorId::from(id), &p.actor())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The wire shape of a stored connector; one whose factory is unknown is corrupt data.
fn connector(row: &ConnectorRow) -> ApiResult<Connector> {
    Connector::new(row).ok_or_else(|| {
        ApiError::internal(&format!(
            "connector `{}` names an unknown factory `{}`",
            row.id, row.connector_id
        ))
    })
}
