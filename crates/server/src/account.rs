//! The Account API (end users) and the Verification API, authorized by [`UserPrincipal`]. The
//! user whose data is read always comes from the access token, never from the request. Paths
//! are served under Logto's `/api/my-account` and the seed document's `/my-account`.

use crate::extract::api::{Path, Query};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use strongroom_core::store::{IdentityKey, SsoConnectorId};
use strongroom_core::token_access::Reader;

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, Purpose, PurposeHeader, UserPrincipal};
use crate::openapi::{Internal, UserAuth, under};
use crate::wire::ErrorBody;
use crate::wire::account::{
    CreateSocial, LinkBody, MyAccount, ProviderAccessToken, ReplaceBody, SocialVerificationCreated,
    SocialVerificationVerified, VerifyBody,
};
use crate::wire::users::Grants;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    let mut router = OpenApiRouter::new();
    // Every Account API route under Logto's `/api/my-account` and the seed document's
    // `/my-account`. Documented under the first prefix; `under` moves a route (and its
    // documentation).
    for prefix in ["/api/my-account", "/my-account"] {
        let at = |routes| under(prefix, "/api/my-account", routes);
        router = router
            .routes(at(routes!(my_account)))
            .routes(at(routes!(my_grants)))
            .routes(at(routes!(withdraw_my_grant)))
            .routes(at(routes!(link_identity)))
            .routes(at(routes!(unlink_identity)))
            .routes(at(routes!(social_access_token, replace_access_token)))
            .routes(at(routes!(sso_access_token)));
    }
    for prefix in ["/api/verifications", "/api/verification"] {
        router = router
            .routes(under(
                prefix,
                "/api/verifications",
                routes!(create_social_verification),
            ))
            .routes(under(
                prefix,
                "/api/verifications",
                routes!(verify_social_verification),
            ));
    }
    router
}

fn forbidden_without_identities(p: &UserPrincipal) -> ApiResult<()> {
    p.require_identities(StatusCode::FORBIDDEN, "auth.forbidden")
}

#[utoipa::path(
    get,
    path = "/api/my-account",
    tag = "My account",
    summary = "Get my account",
    security(("user" = [])),
    responses(
        (status = 200, description = "The token's user with its social identities; fields the Account Center sets \
            `Off` are left out.", body = MyAccount),
        (status = 404, description = "`entity.not_found`: the user no longer exists.", body = ErrorBody),
        UserAuth,
        Internal,
    )
)]
async fn my_account(p: UserPrincipal, State(state): State<AppState>) -> ApiResult<Json<MyAccount>> {
    let user = state.users.with_identities(&p.user_id).await?;
    Ok(Json(MyAccount::new(&user, &p.account_center)))
}

/// `?appType=` of the grant lists.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct GrantFilter {
    /// `firstParty` or `thirdParty`; all when absent.
    pub app_type: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/my-account/grants",
    tag = "My account",
    summary = "List my grants",
    description = "The consents the token's user gave third-party applications, in Logto's grant shape \
                   (`payload.clientId` is the application, `payload.openid.scope` the scopes). First-party \
                   applications need no consent and have no grant here.",
    params(GrantFilter),
    security(("user" = [])),
    responses(
        (status = 200, description = "The user's grants to third-party applications.", body = Grants),
        (status = 400, description = "`guard.invalid_input`: an `appType` other than `firstParty` or `thirdParty`.",
            body = ErrorBody),
        (status = 404, description = "`entity.not_found`: the user no longer exists.", body = ErrorBody),
        UserAuth,
        Internal,
    )
)]
async fn my_grants(
    p: UserPrincipal,
    State(state): State<AppState>,
    Query(q): Query<GrantFilter>,
) -> ApiResult<Json<Grants>> {
    let grants = state
        .users
        .grants(&p.user_id, q.app_type.as_deref())
        .await?;
    Ok(Json(Grants::from(grants.as_slice())))
}

#[utoipa::path(
    delete,
    path = "/api/my-account/grants/{grant_id}",
    tag = "My account",
    summary = "Withdraw a grant",
    description = "Withdraws the consent: the application's codes, access and refresh tokens of this user stop \
                   working at once, and its next sign-in asks for consent again.",
    params(("grant_id" = String, Path, description = "The grant id.")),
    security(("user" = [])),
    responses(
        (status = 204, description = "Withdrawn."),
        (status = 404, description = "`entity.not_exists_with_id`: the user has no such grant.", body = ErrorBody),
        UserAuth,
        Internal,
    )
)]
async fn withdraw_my_grant(
    p: UserPrincipal,
    State(state): State<AppState>,
    Path(grant_id): Path<String>,
) -> ApiResult<StatusCode> {
    state.users.withdraw_grant(&p.user_id, &grant_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/api/my-account/identities/{target}/access-token",
    tag = "My account",
    summary = "Get my social provider access token",
    description = "The stored provider access token of the token's user at `target`, refreshed first when it \
                   expires soon (concurrent readers share one refresh). Needs the `identities` scope. Every read \
                   is audited.",
    params(
        ("target" = String, Path, description = "The social target (`github`, `google`, ...)."),
        PurposeHeader,
    ),
    security(("user" = [])),
    responses(
        (status = 200, description = "The provider access token.", body = ProviderAccessToken),
        (status = 401, description = "`auth.authorization_header_missing`, `auth.authorization_token_type_not_supported`, \
            `auth.unauthorized`: no usable user token. `secrets.third_party_token_set.access_token_expired`: it expired \
            and cannot be refreshed. `secrets.third_party_token_set.refresh_token_revoked`: the provider refused the \
            refresh token; the user must reconnect.", body = ErrorBody),
        (status = 403, description = "`auth.forbidden`: the token lacks the `openid` or the `identities` scope.",
            body = ErrorBody),
        (status = 404, description = "`secrets.third_party_token_set.token_not_found`: no token set is stored.",
            body = ErrorBody),
        (status = 502, description = "`connector.provider_unavailable`: the provider did not answer the refresh. \
            `connector.invalid_response`: its answer cannot be used. The stored tokens are unchanged.",
            body = ErrorBody),
        Internal,
    )
)]
async fn social_access_token(
    p: UserPrincipal,
    Purpose(purpose): Purpose,
    State(state): State<AppState>,
    Path(target): Path<String>,
) -> ApiResult<Json<ProviderAccessToken>> {
    forbidden_without_identities(&p)?;
    let token = state
        .token_access
        .access_token(
            &p.user_id,
            &Reader::account_api(p.application_id.clone(), purpose),
            &IdentityKey::Social(target),
        )
        .await?;
    Ok(Json((&token).into()))
}

#[utoipa::path(
    get,
    path = "/api/my-account/sso-identities/{connector_id}/access-token",
    tag = "My account",
    summary = "Get my enterprise SSO provider access token",
    description = "The stored access token of the token's user at an SSO connector, refreshed first when it \
                   expires soon. Needs the `identities` scope. Every read is audited.",
    params(
        ("connector_id" = String, Path, description = "The SSO connector id."),
        PurposeHeader,
    ),
    security(("user" = [])),
    responses(
        (status = 200, description = "The provider access token.", body = ProviderAccessToken),
        (status = 401, description = "`auth.authorization_header_missing`, `auth.authorization_token_type_not_supported`, \
            `auth.unauthorized`: no usable user token. `secrets.third_party_token_set.access_token_expired`. \
            `secrets.third_party_token_set.refresh_token_revoked`.", body = ErrorBody),
        (status = 403, description = "`auth.forbidden`: the token lacks the `openid` or the `identities` scope.",
            body = ErrorBody),
        (status = 404, description = "`secrets.third_party_token_set.token_not_found`: no token set is stored.",
            body = ErrorBody),
        (status = 502, description = "`connector.provider_unavailable`. `connector.invalid_response`. The stored \
            tokens are unchanged.", body = ErrorBody),
        Internal,
    )
)]
async fn sso_access_token(
    p: UserPrincipal,
    Purpose(purpose): Purpose,
    State(state): State<AppState>,
    Path(connector_id): Path<String>,
) -> ApiResult<Json<ProviderAccessToken>> {
    forbidden_without_identities(&p)?;
    let id = IdentityKey::Sso(SsoConnectorId::from(connector_id));
    let token = state
        .token_access
        .access_token(
            &p.user_id,
            &Reader::account_api(p.application_id.clone(), purpose),
            &id,
        )
        .await?;
    Ok(Json((&token).into()))
}

#[utoipa::path(
    method(put, patch),
    path = "/api/my-account/identities/{target}/access-token",
    tag = "My account",
    summary = "Replace my social provider tokens",
    description = "A verified social verification record (see `/api/verifications/social`) of the same target and \
                   provider account replaces the stored token set (a missing refresh token keeps the stored one). \
                   The record is used up. Needs the `identities` scope.",
    params(("target" = String, Path, description = "The social target.")),
    request_body = ReplaceBody,
    security(("user" = [])),
    responses(
        (status = 200, description = "The new provider access token.", body = ProviderAccessToken),
        (status = 400, description = "`guard.invalid_input`: a malformed body or no record id. \
            `verification_record.not_found`: the record does not exist, has expired, is not verified or is not \
            the caller's.", body = ErrorBody),
        (status = 422, description = "`verification_record.social_verification.invalid_target`: the record is for \
            another target. `user.identity_not_exists_in_current_user`: its provider account is not the caller's. \
            `verification_record.social_verification.token_response_not_found`: it kept no tokens (token storage \
            is off).", body = ErrorBody),
        (status = 401, description = "`auth.authorization_header_missing`, `auth.authorization_token_type_not_supported`, \
            `auth.unauthorized`: no usable user token.", body = ErrorBody),
        (status = 403, description = "`auth.forbidden`: the token lacks the `openid` or the `identities` scope.",
            body = ErrorBody),
        Internal,
    )
)]
async fn replace_access_token(
    p: UserPrincipal,
    State(state): State<AppState>,
    Path(target): Path<String>,
    JsonBody(body): JsonBody<ReplaceBody>,
) -> ApiResult<Json<ProviderAccessToken>> {
    forbidden_without_identities(&p)?;
    let id = body
        .verification_record_id
        .or(body.social_verification_id)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| {
            ApiError::invalid_input("verificationRecordId (or socialVerificationId) is required")
        })?;
    let token = state
        .verifications
        .replace_tokens(&p.user_id, &target, &id)
        .await?;
    Ok(Json((&token).into()))
}

#[utoipa::path(
    post,
    path = "/api/my-account/identities",
    tag = "My account",
    summary = "Link a social identity",
    description = "Links the provider account of a verified social verification record to the caller, and stores \
                   its token set if the record kept one. The record is used up. Needs the `identities` scope.",
    request_body = LinkBody,
    security(("user" = [])),
    responses(
        (status = 204, description = "Linked."),
        (status = 400, description = "`guard.invalid_input`: a malformed body. `verification_record.not_found`: the \
            record does not exist, has expired, is not verified or is not the caller's.", body = ErrorBody),
        (status = 401, description = "`auth.authorization_header_missing`, `auth.authorization_token_type_not_supported`, \
            `auth.unauthorized`: no usable user token, or (Logto's answer here) no `identities` scope.",
            body = ErrorBody),
        (status = 403, description = "`auth.forbidden`: the token lacks the `openid` scope.", body = ErrorBody),
        (status = 422, description = "`user.social_account_exists_in_profile`: the caller already has an identity at \
            the target. `user.identity_already_in_use`: the provider account is linked to another user.",
            body = ErrorBody),
        Internal,
    )
)]
async fn link_identity(
    p: UserPrincipal,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<LinkBody>,
) -> ApiResult<StatusCode> {
    // Logto answers 401 here without the identities scope.
    p.require_identities(StatusCode::UNAUTHORIZED, "auth.unauthorized")?;
    p.require_editable("social")?;
    state
        .verifications
        .link(&p.user_id, &body.new_identifier_verification_record_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    delete,
    path = "/api/my-account/identities/{target}",
    tag = "My account",
    summary = "Unlink a social identity",
    description = "Its token set is deleted and revoked at the provider. The last way to sign in cannot be removed. \
                   Needs the `identities` scope.",
    params(("target" = String, Path, description = "The social target.")),
    security(("user" = [])),
    responses(
        (status = 204, description = "Unlinked."),
        (status = 400, description = "`auth.unauthorized`: no `identities` scope (Logto's answer here). \
            `user.last_sign_in_method_required`: it is the user's last identity.", body = ErrorBody),
        (status = 404, description = "`entity.not_found`: the user no longer exists. `user.identity_not_exist`: no \
            identity at the target.", body = ErrorBody),
        UserAuth,
        Internal,
    )
)]
async fn unlink_identity(
    p: UserPrincipal,
    State(state): State<AppState>,
    Path(target): Path<String>,
) -> ApiResult<StatusCode> {
    // Logto answers 400 here without the identities scope.
    p.require_identities(StatusCode::BAD_REQUEST, "auth.unauthorized")?;
    p.require_editable("social")?;
    state
        .users
        .unlink(&p.user_id, &target, &p.actor(), true)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post,
    path = "/api/verifications/social",
    tag = "Verifications",
    summary = "Start a social verification",
    description = "Creates a verification record (ten minutes, the caller's only) and the provider's authorization \
                   URI, with the caller's `state` and `redirectUri`, PKCE, and the custom `scope` if any.",
    request_body = CreateSocial,
    security(("user" = [])),
    responses(
        (status = 201, description = "The record.", body = SocialVerificationCreated),
        (status = 400, description = "`guard.invalid_input`: a malformed body. `session.insufficient_info`: an empty \
            `state` or `redirectUri`. `connector.invalid_config`: the connector's config is unusable.",
            body = ErrorBody),
        (status = 401, description = "`auth.authorization_header_missing`, `auth.authorization_token_type_not_supported`, \
            `auth.unauthorized`: no usable user token. `connector.authorization_failed`: the provider refused \
            Strongroom's request.", body = ErrorBody),
        (status = 403, description = "`auth.forbidden`: the token lacks the `openid` scope.", body = ErrorBody),
        (status = 422, description = "`session.invalid_connector_id`: no such social connector.", body = ErrorBody),
        (status = 502, description = "`connector.provider_unavailable`: the provider's discovery did not answer. \
            `connector.invalid_response`: its answer cannot be used.", body = ErrorBody),
        Internal,
    )
)]
async fn create_social_verification(
    p: UserPrincipal,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<CreateSocial>,
) -> ApiResult<(StatusCode, Json<SocialVerificationCreated>)> {
    let created = state
        .verifications
        .create_social(&p.user_id, body.into())
        .await?;
    Ok((StatusCode::CREATED, Json((&created).into())))
}

#[utoipa::path(
    post,
    path = "/api/verifications/social/verify",
    tag = "Verifications",
    summary = "Verify a social verification",
    description = "Exchanges the code the application received, checks the `state`, and keeps the provider profile \
                   (and, when the connector stores tokens, the token set) in the record.",
    request_body = VerifyBody,
    security(("user" = [])),
    responses(
        (status = 200, description = "The verified record.", body = SocialVerificationVerified),
        (status = 400, description = "`guard.invalid_input`: a malformed body. `verification_record.not_found`: the \
            record does not exist, has expired, is already verified or is not the caller's. \
            `verification_record.state_mismatch`. `connector.invalid_config`.", body = ErrorBody),
        (status = 401, description = "`auth.authorization_header_missing`, `auth.authorization_token_type_not_supported`, \
            `auth.unauthorized`: no usable user token. `connector.authorization_failed`: the provider refused the \
            code. `connector.invalid_id_token`: the provider's ID token does not verify.", body = ErrorBody),
        (status = 403, description = "`auth.forbidden`: the token lacks the `openid` scope.", body = ErrorBody),
        (status = 404, description = "`entity.not_exists_with_id`: the record's connector was deleted.",
            body = ErrorBody),
        (status = 502, description = "`connector.provider_unavailable`. `connector.invalid_response`.",
            body = ErrorBody),
        Internal,
    )
)]
async fn verify_social_verification(
    p: UserPrincipal,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<VerifyBody>,
) -> ApiResult<Json<SocialVerificationVerified>> {
    let verification_record_id = state
        .verifications
        .verify_social(
            &p.user_id,
            &body.verification_record_id,
            body.connector_data.into(),
        )
        .await?;
    Ok(Json(SocialVerificationVerified {
        verification_record_id,
    }))
}
