//! Management API: users, their identities and token secrets, and the audit trail.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde_json::{Value, json};
use strongroom_core::store::{AuditFilter, SecretId, SsoConnectorId, UserId};
use strongroom_core::users::{CreateUser, IdentityBody, yes};

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, ManagementPrincipal};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/users", get(list_users).post(create_user))
        .route("/api/users/{user_id}", get(get_user).delete(delete_user))
        .route(
            "/api/users/{user_id}/identities/{target}",
            get(get_identity).put(put_identity).delete(delete_identity),
        )
        .route("/api/users/{user_id}/sso-identities/{sso_connector_id}", get(get_sso_identity))
        .route("/api/users/{user_id}/all-identities", get(all_identities))
        .route("/api/secrets/{id}", delete(delete_secret))
        // The seed document's spelling.
        .route("/api/secret/{id}", delete(delete_secret))
        .route("/api/audit-events", get(list_audit_events))
}

/// `page` (1-based) and `page_size` (1 to 100, default 20), as Logto pages. (Query structs
/// carry the two fields themselves: `serde(flatten)` loses their number type in query strings.)
#[derive(Debug)]
pub struct Paging {
    page: Option<i64>,
    page_size: Option<i64>,
}

impl Paging {
    pub fn get(&self) -> ApiResult<(i64, i64)> {
        let page = self.page.unwrap_or(1);
        let size = self.page_size.unwrap_or(20);
        if page < 1 || !(1..=100).contains(&size) {
            return Err(ApiError::new(StatusCode::BAD_REQUEST, "guard.invalid_pagination", "page must be 1 or more and page_size 1 to 100."));
        }
        Ok((page, size))
    }
}

/// A JSON array with Logto's `Total-Number` header.
pub fn page_response(items: Vec<Value>, total: i64) -> Response {
    let mut response = Json(items).into_response();
    if let Ok(v) = HeaderValue::from_str(&total.to_string()) {
        response.headers_mut().insert("Total-Number", v);
    }
    response
}

#[derive(Debug, serde::Deserialize)]
struct UserSearch {
    search: Option<String>,
    page: Option<i64>,
    page_size: Option<i64>,
}

async fn list_users(_: ManagementPrincipal, State(state): State<AppState>, Query(q): Query<UserSearch>) -> ApiResult<Response> {
    let (page, size) = Paging { page: q.page, page_size: q.page_size }.get()?;
    let (users, total) = state.users.list(q.search.as_deref(), page, size).await?;
    Ok(page_response(users, total))
}

async fn create_user(_: ManagementPrincipal, State(state): State<AppState>, JsonBody(body): JsonBody<CreateUser>) -> ApiResult<Json<Value>> {
    Ok(Json(state.users.create(body).await?))
}

async fn get_user(_: ManagementPrincipal, State(state): State<AppState>, Path(user_id): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(state.users.json(&UserId(user_id)).await?))
}

async fn delete_user(p: ManagementPrincipal, State(state): State<AppState>, Path(user_id): Path<String>) -> ApiResult<StatusCode> {
    state.users.delete(&UserId(user_id), &p.actor()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct IncludeSecret {
    include_token_secret: Option<String>,
}

async fn get_identity(
    _: ManagementPrincipal,
    State(state): State<AppState>,
    Path((user_id, target)): Path<(String, String)>,
    Query(q): Query<IncludeSecret>,
) -> ApiResult<Json<Value>> {
    let include = yes(q.include_token_secret.as_deref());
    Ok(Json(state.users.social_identity(&UserId(user_id), &target, include).await?))
}

async fn put_identity(
    p: ManagementPrincipal,
    State(state): State<AppState>,
    Path((user_id, target)): Path<(String, String)>,
    JsonBody(body): JsonBody<IdentityBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (created, identities) = state.users.put_identity(&UserId(user_id), &target, body, &p.actor()).await?;
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(identities)))
}

async fn delete_identity(
    p: ManagementPrincipal,
    State(state): State<AppState>,
    Path((user_id, target)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let user = UserId(user_id);
    state.users.unlink(&user, &target, &p.actor(), false).await?;
    Ok(Json(state.users.json(&user).await?))
}

async fn get_sso_identity(
    _: ManagementPrincipal,
    State(state): State<AppState>,
    Path((user_id, sso_connector_id)): Path<(String, String)>,
    Query(q): Query<IncludeSecret>,
) -> ApiResult<Json<Value>> {
    let include = yes(q.include_token_secret.as_deref());
    Ok(Json(state.users.sso_identity(&UserId(user_id), &SsoConnectorId(sso_connector_id), include).await?))
}

async fn all_identities(
    _: ManagementPrincipal,
    State(state): State<AppState>,
    Path(user_id): Path<String>,
    Query(q): Query<IncludeSecret>,
) -> ApiResult<Json<Value>> {
    // Logto's quirk on this route: any non-empty value (even "false") includes the secrets.
    let include = q.include_token_secret.as_deref().is_some_and(|v| !v.is_empty());
    Ok(Json(state.users.all_identities(&UserId(user_id), include).await?))
}

async fn delete_secret(p: ManagementPrincipal, State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    if state.token_access.delete_secret(&SecretId(id.clone()), &p.actor()).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("entity.not_found", format!("The secret `{id}` does not exist.")))
    }
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuditQuery {
    user_id: Option<String>,
    secret_id: Option<String>,
    action: Option<String>,
    page: Option<i64>,
    #[serde(rename = "page_size")]
    page_size: Option<i64>,
}

async fn list_audit_events(_: ManagementPrincipal, State(state): State<AppState>, Query(q): Query<AuditQuery>) -> ApiResult<Response> {
    let (page, size) = Paging { page: q.page, page_size: q.page_size }.get()?;
    let filter = AuditFilter { user_id: q.user_id, secret_id: q.secret_id, action: q.action };
    let (events, total) = state.audit.list(&filter, page, size).await?;
    Ok(page_response(events.iter().map(|e| json!(e)).collect(), total))
}
