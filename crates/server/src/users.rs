//! Management API: users, their identities and token secrets, and the audit trail.

use crate::extract::api::{Path, Query};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::collections::BTreeMap;
use strongroom_core::limits::Page;
use strongroom_core::store::{AuditFilter, SecretId, SsoConnectorId, UserId};

use strongroom_core::users::{UserWithIdentities, yes};

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, ManagementPrincipal};
use crate::openapi::{Internal, ManagementAuth, under};
use crate::wire::ErrorBody;
use crate::wire::audit::AuditEventBody;
use crate::wire::users::{
    AllIdentities, CreateUser, Grants, Identity, IdentityBody, IdentityWithSecret,
    SsoIdentityWithSecret, User, identities,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user, delete_user))
        .routes(routes!(user_grants))
        .routes(routes!(withdraw_user_grant))
        .routes(routes!(get_identity, put_identity, delete_identity))
        .routes(routes!(get_sso_identity))
        .routes(routes!(all_identities))
        .routes(routes!(delete_secret))
        // The seed document's spelling.
        .routes(under("/api/secret", "/api/secrets", routes!(delete_secret)))
        .routes(routes!(list_audit_events))
}

/// `page` (1-based) and `page_size` (1 to 100, default 20), as Logto pages. (Query structs
/// carry the two fields themselves: `serde(flatten)` loses their number type in query strings.)
/// The values stay text until [`Paging::get`]: a non-numeric one is Logto's
/// `guard.invalid_pagination`, not the query extractor's `guard.invalid_input`.
#[derive(Debug)]
pub struct Paging {
    page: Option<String>,
    page_size: Option<String>,
}

impl Paging {
    pub fn get(&self) -> ApiResult<Page> {
        let invalid = |message: String| {
            ApiError::new(StatusCode::BAD_REQUEST, "guard.invalid_pagination", message)
        };
        let number = |v: &Option<String>, default: i64| {
            v.as_deref().map_or(Ok(default), |v| {
                v.trim()
                    .parse::<i64>()
                    .map_err(|_| invalid("page and page_size must be whole numbers.".into()))
            })
        };
        Page::new(number(&self.page, 1)?, number(&self.page_size, 20)?)
            .map_err(|e| invalid(e.to_string()))
    }
}

/// A JSON array with Logto's `Total-Number` header.
pub fn page_response<T: Serialize>(items: Vec<T>, total: i64) -> Response {
    let mut response = Json(items).into_response();
    if let Ok(v) = HeaderValue::from_str(&total.to_string()) {
        response.headers_mut().insert("Total-Number", v);
    }
    response
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct UserSearch {
    /// Matches the username, e-mail, phone, name or id (`%` around it is ignored).
    search: Option<String>,
    /// 1-based; 1 when absent.
    #[param(value_type = Option<i64>, minimum = 1)]
    page: Option<String>,
    /// 1 to 100; 20 when absent.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    page_size: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/users",
    tag = "Users",
    summary = "List users",
    params(UserSearch),
    security(("management" = [])),
    responses(
        (status = 200, description = "A page of users with their social identities.", body = [User],
            headers(("Total-Number" = i64, description = "The number of matching users."))),
        (status = 400, description = "`guard.invalid_pagination`: `page` below 1, `page_size` outside 1 to 100, or \
            either not a number. A malformed query string is `guard.invalid_input`.", body = ErrorBody),
        ManagementAuth,
        Internal,
    )
)]
async fn list_users(
    _: ManagementPrincipal,
    State(state): State<AppState>,
    Query(q): Query<UserSearch>,
) -> ApiResult<Response> {
    let page = Paging {
        page: q.page,
        page_size: q.page_size,
    }
    .get()?;
    let (users, total) = state.users.list(q.search.as_deref(), page).await?;
    Ok(page_response(users.iter().map(User::from).collect(), total))
}

#[utoipa::path(
    post,
    path = "/api/users",
    tag = "Users",
    summary = "Create a user",
    request_body = CreateUser,
    security(("management" = [])),
    responses(
        (status = 200, description = "The user.", body = User),
        (status = 400, description = "`guard.invalid_input`: a malformed body, or an invalid username, e-mail or phone. \
            `user.password_not_supported`: a `password` or `passwordDigest`.", body = ErrorBody),
        (status = 422, description = "`user.username_already_in_use`. `user.email_already_in_use`. \
            `user.phone_already_in_use`.", body = ErrorBody),
        ManagementAuth,
        Internal,
    )
)]
async fn create_user(
    _: ManagementPrincipal,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<CreateUser>,
) -> ApiResult<Json<User>> {
    let user = state.users.create(body.into()).await?;
    Ok(Json(User::from(&UserWithIdentities {
        user,
        identities: Vec::new(),
    })))
}

#[utoipa::path(
    get,
    path = "/api/users/{user_id}",
    tag = "Users",
    summary = "Get a user",
    params(("user_id" = String, Path, description = "The user id.")),
    security(("management" = [])),
    responses(
        (status = 200, description = "The user with its social identities.", body = User),
        (status = 404, description = "`entity.not_found`: no such user.", body = ErrorBody),
        ManagementAuth,
        Internal,
    )
)]
async fn get_user(
    _: ManagementPrincipal,
    State(state): State<AppState>,
    Path(user_id): Path<String>,
) -> ApiResult<Json<User>> {
    let user = state.users.with_identities(&UserId::from(user_id)).await?;
    Ok(Json(User::from(&user)))
}

#[utoipa::path(
    delete,
    path = "/api/users/{user_id}",
    tag = "Users",
    summary = "Delete a user",
    description = "Its identities, token sets (revoked at the provider), grants and sessions go with it.",
    params(("user_id" = String, Path, description = "The user id.")),
    security(("management" = [])),
    responses(
        (status = 204, description = "Deleted."),
        (status = 404, description = "`entity.not_found`: no such user.", body = ErrorBody),
        ManagementAuth,
        Internal,
    )
)]
async fn delete_user(
    p: ManagementPrincipal,
    State(state): State<AppState>,
    Path(user_id): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .users
        .delete(&UserId::from(user_id), &p.actor())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/api/users/{user_id}/grants",
    tag = "Users",
    summary = "List a user's grants",
    description = "The consents the user gave third-party applications, in Logto's grant shape.",
    params(("user_id" = String, Path, description = "The user id."), crate::account::GrantFilter),
    security(("management" = [])),
    responses(
        (status = 200, description = "The user's grants to third-party applications.", body = Grants),
        (status = 400, description = "`guard.invalid_input`: an `appType` other than `firstParty` or `thirdParty`.",
            body = ErrorBody),
        (status = 404, description = "`entity.not_found`: no such user.", body = ErrorBody),
        ManagementAuth,
        Internal,
    )
)]
async fn user_grants(
    _: ManagementPrincipal,
    State(state): State<AppState>,
    Path(user_id): Path<String>,
    Query(q): Query<crate::account::GrantFilter>,
) -> ApiResult<Json<Grants>> {
    let grants = state
        .users
        .grants(&UserId::from(user_id), q.app_type.as_deref())
        .await?;
    Ok(Json(Grants::from(grants.as_slice())))
}

#[utoipa::path(
    delete,
    path = "/api/users/{user_id}/grants/{grant_id}",
    tag = "Users",
    summary = "Withdraw a user's grant",
    description = "Withdraws the consent: the application's codes and tokens of this user stop working at once.",
    params(
        ("user_id" = String, Path, description = "The user id."),
        ("grant_id" = String, Path, description = "The grant id."),
    ),
    security(("management" = [])),
    responses(
        (status = 204, description = "Withdrawn."),
        (status = 404, description = "`entity.not_exists_with_id`: the user has no such grant.", body = ErrorBody),
        ManagementAuth,
        Internal,
    )
)]
async fn withdraw_user_grant(
    _: ManagementPrincipal,
    State(state): State<AppState>,
    Path((user_id, grant_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state
        .users
        .withdraw_grant(&UserId::from(user_id), &grant_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct IncludeSecret {
    /// Include the token secret's metadata (`tokenSecret`; never the tokens).
    include_token_secret: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/users/{user_id}/identities/{target}",
    tag = "Users",
    summary = "Get a user's social identity",
    description = "`includeTokenSecret` takes Logto's yes values: `1`, `true`, `y`, `yes`, `yep`, `yeah`.",
    params(
        ("user_id" = String, Path, description = "The user id."),
        ("target" = String, Path, description = "The social target (`github`, `google`, ...)."),
        IncludeSecret,
    ),
    security(("management" = [])),
    responses(
        (status = 200, description = "The identity, with its token secret's metadata when asked for and stored.", body = IdentityWithSecret),
        (status = 400, description = "`guard.invalid_input`: a malformed query string.", body = ErrorBody),
        (status = 404, description = "`entity.not_found`: no such user. `user.identity_not_exist`: no identity at \
            the target.", body = ErrorBody),
        ManagementAuth,
        Internal,
    )
)]
async fn get_identity(
    _: ManagementPrincipal,
    State(state): State<AppState>,
    Path((user_id, target)): Path<(String, String)>,
    Query(q): Query<IncludeSecret>,
) -> ApiResult<Json<IdentityWithSecret>> {
    let include = yes(q.include_token_secret.as_deref());
    let linked = state
        .users
        .social_identity(&UserId::from(user_id), &target, include)
        .await?;
    Ok(Json((&linked).into()))
}

#[utoipa::path(
    put,
    path = "/api/users/{user_id}/identities/{target}",
    tag = "Users",
    summary = "Link or replace a user's social identity",
    description = "Replacing the provider account deletes (and revokes) the old account's token set.",
    params(
        ("user_id" = String, Path, description = "The user id."),
        ("target" = String, Path, description = "The social target."),
    ),
    request_body = IdentityBody,
    security(("management" = [])),
    responses(
        (status = 200, description = "Replaced: the user's identities by target.", body = BTreeMap<String, Identity>),
        (status = 201, description = "Created: the user's identities by target.", body = BTreeMap<String, Identity>),
        (status = 400, description = "`guard.invalid_input`: a malformed body or an empty `userId`.", body = ErrorBody),
        (status = 404, description = "`entity.not_found`: no such user.", body = ErrorBody),
        (status = 422, description = "`user.identity_already_in_use`: the provider account is linked to another user.",
            body = ErrorBody),
        ManagementAuth,
        Internal,
    )
)]
async fn put_identity(
    p: ManagementPrincipal,
    State(state): State<AppState>,
    Path((user_id, target)): Path<(String, String)>,
    JsonBody(body): JsonBody<IdentityBody>,
) -> ApiResult<(StatusCode, Json<BTreeMap<String, Identity>>)> {
    let (created, linked) = state
        .users
        .put_identity(&UserId::from(user_id), &target, body.into(), &p.actor())
        .await?;
    Ok((
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        Json(identities(&linked)),
    ))
}

#[utoipa::path(
    delete,
    path = "/api/users/{user_id}/identities/{target}",
    tag = "Users",
    summary = "Unlink a user's social identity",
    description = "Its token set is deleted and revoked at the provider.",
    params(
        ("user_id" = String, Path, description = "The user id."),
        ("target" = String, Path, description = "The social target."),
    ),
    security(("management" = [])),
    responses(
        (status = 200, description = "The user.", body = User),
        (status = 404, description = "`entity.not_found`: no such user. `user.identity_not_exist`: no identity at \
            the target.", body = ErrorBody),
        ManagementAuth,
        Internal,
    )
)]
async fn delete_identity(
    p: ManagementPrincipal,
    State(state): State<AppState>,
    Path((user_id, target)): Path<(String, String)>,
) -> ApiResult<Json<User>> {
    let user = UserId::from(user_id);
    state
        .users
        .unlink(&user, &target, &p.actor(), false)
        .await?;
    Ok(Json(User::from(&state.users.with_identities(&user).await?)))
}

#[utoipa::path(
    get,
    path = "/api/users/{user_id}/sso-identities/{sso_connector_id}",
    tag = "Users",
    summary = "Get a user's enterprise SSO identity",
    description = "`includeTokenSecret` takes Logto's yes values: `1`, `true`, `y`, `yes`, `yep`, `yeah`.",
    params(
        ("user_id" = String, Path, description = "The user id."),
        ("sso_connector_id" = String, Path, description = "The SSO connector id."),
        IncludeSecret,
    ),
    security(("management" = [])),
    responses(
        (status = 200, description = "The SSO identity, with its token secret's metadata when asked for and stored.", body = SsoIdentityWithSecret),
        (status = 400, description = "`guard.invalid_input`: a malformed query string.", body = ErrorBody),
        (status = 404, description = "`entity.not_found`: no such user. `user.enterprise_sso_identity_not_exists`.",
            body = ErrorBody),
        ManagementAuth,
        Internal,
    )
)]
async fn get_sso_identity(
    _: ManagementPrincipal,
    State(state): State<AppState>,
    Path((user_id, sso_connector_id)): Path<(String, String)>,
    Query(q): Query<IncludeSecret>,
) -> ApiResult<Json<SsoIdentityWithSecret>> {
    let include = yes(q.include_token_secret.as_deref());
    let linked = state
        .users
        .sso_identity(
            &UserId::from(user_id),
            &SsoConnectorId::from(sso_connector_id),
            include,
        )
        .await?;
    Ok(Json((&linked).into()))
}

#[utoipa::path(
    get,
    path = "/api/users/{user_id}/all-identities",
    tag = "Users",
    summary = "Get all of a user's identities",
    description = "Logto's quirk on this route: any non-empty `includeTokenSecret` (even `false`) includes the \
                   token secrets' metadata.",
    params(("user_id" = String, Path, description = "The user id."), IncludeSecret),
    security(("management" = [])),
    responses(
        (status = 200, description = "Every identity, with token secrets' metadata when asked for.", body = AllIdentities),
        (status = 400, description = "`guard.invalid_input`: a malformed query string.", body = ErrorBody),
        (status = 404, description = "`entity.not_found`: no such user.", body = ErrorBody),
        ManagementAuth,
        Internal,
    )
)]
async fn all_identities(
    _: ManagementPrincipal,
    State(state): State<AppState>,
    Path(user_id): Path<String>,
    Query(q): Query<IncludeSecret>,
) -> ApiResult<Json<AllIdentities>> {
    // Logto's quirk on this route: any non-empty value (even "false") includes the secrets.
    let include = q
        .include_token_secret
        .as_deref()
        .is_some_and(|v| !v.is_empty());
    let all = state
        .users
        .all_identities(&UserId::from(user_id), include)
        .await?;
    Ok(Json((&all).into()))
}

#[utoipa::path(
    delete,
    path = "/api/secrets/{id}",
    tag = "Secrets",
    summary = "Delete a token secret",
    description = "Deletes one stored token set (its identity stays) and revokes it at the provider.",
    params(("id" = String, Path, description = "The secret id.")),
    security(("management" = [])),
    responses(
        (status = 204, description = "Deleted."),
        (status = 404, description = "`entity.not_found`: no such secret.", body = ErrorBody),
        ManagementAuth,
        Internal,
    )
)]
async fn delete_secret(
    p: ManagementPrincipal,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if state
        .token_access
        .delete_secret(&SecretId::from(id.clone()), &p.actor())
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(
            "entity.not_found",
            format!("The secret `{id}` does not exist."),
        ))
    }
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct AuditQuery {
    user_id: Option<String>,
    secret_id: Option<String>,
    /// Such as `token.read`, `token.refresh`, `token.replace`.
    action: Option<String>,
    /// The application that read (or had read) the token.
    application_id: Option<String>,
    /// 1-based; 1 when absent.
    #[param(value_type = Option<i64>, minimum = 1)]
    page: Option<String>,
    /// 1 to 100; 20 when absent.
    #[serde(rename = "page_size")]
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    page_size: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/audit-events",
    tag = "Audit events",
    summary = "List audit events",
    params(AuditQuery),
    security(("management" = [])),
    responses(
        (status = 200, description = "A page of audit events, newest first.", body = [AuditEventBody],
            headers(("Total-Number" = i64, description = "The number of matching events."))),
        (status = 400, description = "`guard.invalid_pagination`: `page` below 1, `page_size` outside 1 to 100, or \
            either not a number. A malformed query string is `guard.invalid_input`.", body = ErrorBody),
        ManagementAuth,
        Internal,
    )
)]
async fn list_audit_events(
    _: ManagementPrincipal,
    State(state): State<AppState>,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Response> {
    let page = Paging {
        page: q.page,
        page_size: q.page_size,
    }
    .get()?;
    let filter = AuditFilter {
        user_id: q.user_id,
        secret_id: q.secret_id,
        action: q.action,
        application_id: q.application_id,
    };
    let (events, total) = state.audit.list(&filter, page).await?;
    Ok(page_response(
        events.iter().map(AuditEventBody::from).collect(),
        total,
    ))
}
