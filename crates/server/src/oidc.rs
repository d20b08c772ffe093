//! Strongroom's OpenID provider endpoints under `/oidc`.

use crate::extract::page::{Form, PageRejection, Query};
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use strongroom_core::applications::is_confidential;
use strongroom_core::exchange::{self, ClientAuth, ExchangeRequest};
use strongroom_core::oidc::{CLIENT_ASSERTION_TYPE, OAuthError, has_scope};
use strongroom_core::sign_in::{Logout, SignInError};

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::ApiError;
use crate::openapi::{Internal, under};
use crate::wire::OAuthErrorBody;
use crate::wire::oidc::{
    ExchangeResponse, IntrospectionResponse, JwkSet, ProviderMetadata, TokenEndpointResponse,
    TokenResponse, UserInfo,
};

pub fn routes() -> OpenApiRouter<AppState> {
    // Browser applications (SPA) call these from their own origin.
    let mut router = OpenApiRouter::new()
        .routes(routes!(discovery))
        .routes(routes!(jwks))
        .routes(routes!(token))
        .routes(routes!(revocation))
        .routes(routes!(introspection))
        .routes(routes!(userinfo))
        .routes(routes!(end_session, end_session_confirmed));
    // RFC 8414 metadata: where oidc-provider (Logto) serves it, and at the root.
    for prefix in ["/oidc/.well-known", "/.well-known"] {
        router = router.routes(under(
            prefix,
            "/oidc/.well-known",
            routes!(authorization_server_metadata),
        ));
    }
    router
}

#[utoipa::path(
    get,
    path = "/oidc/.well-known/openid-configuration",
    tag = "OIDC",
    summary = "OpenID Provider metadata",
    description = "The discovery document (OpenID Connect Discovery 1.0) of the issuer `<endpoint>/oidc`.",
    responses((status = 200, description = "The provider metadata.", body = ProviderMetadata))
)]
async fn discovery(State(state): State<AppState>) -> Json<ProviderMetadata> {
    Json(ProviderMetadata::new(state.oidc.issuer()))
}

#[utoipa::path(
    get,
    path = "/oidc/.well-known/oauth-authorization-server",
    tag = "OIDC",
    summary = "OAuth 2.0 Authorization Server Metadata",
    description = "RFC 8414 metadata of the issuer `<endpoint>/oidc`: the discovery document.",
    responses((status = 200, description = "The authorization server metadata.", body = ProviderMetadata))
)]
async fn authorization_server_metadata(State(state): State<AppState>) -> Json<ProviderMetadata> {
    Json(ProviderMetadata::new(state.oidc.issuer()))
}

#[utoipa::path(
    get,
    path = "/oidc/jwks",
    tag = "OIDC",
    summary = "JSON Web Key Set",
    description = "The public keys that verify Strongroom's ID tokens.",
    responses((status = 200, description = "The JWK set (RFC 7517).", body = JwkSet), Internal)
)]
async fn jwks(State(state): State<AppState>) -> Result<Json<JwkSet>, ApiError> {
    let keys = state
        .oidc
        .jwks()
        .await?
        .into_iter()
        .map(serde_json::from_value)
        .collect::<Result<_, _>>()
        .map_err(|e| ApiError::internal(&format!("a stored public key is not an RSA JWK: {e}")))?;
    Ok(Json(JwkSet { keys }))
}

/// The token endpoint's form. Unknown parameters are ignored, as RFC 6749 requires. `Debug`
/// prints no code, token, verifier or secret.
#[derive(serde::Deserialize, utoipa::ToSchema)]
struct TokenForm {
    grant_type: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    refresh_token: Option<String>,
    scope: Option<String>,
    resource: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    /// `urn:ietf:params:oauth:client-assertion-type:jwt-bearer` (`private_key_jwt`).
    client_assertion_type: Option<String>,
    client_assertion: Option<String>,
    /// Token exchange (RFC 8693).
    subject_token: Option<String>,
    subject_token_type: Option<String>,
    actor_token: Option<String>,
    actor_token_type: Option<String>,
    audience: Option<String>,
    requested_token_type: Option<String>,
    /// Strongroom: what the token is read for (token exchange), at most 200 characters.
    purpose: Option<String>,
}

impl TokenForm {
    fn exchange_request(&self) -> ExchangeRequest<'_> {
        ExchangeRequest {
            subject_token: self.subject_token.as_deref(),
            subject_token_type: self.subject_token_type.as_deref(),
            actor_token: self.actor_token.as_deref(),
            actor_token_type: self.actor_token_type.as_deref(),
            resource: self.resource.as_deref(),
            audience: self.audience.as_deref(),
            requested_token_type: self.requested_token_type.as_deref(),
            purpose: self.purpose.as_deref(),
        }
    }
}

/// What the token endpoint answers: Strongroom's tokens, or a provider token exchanged.
enum TokenAnswer {
    Tokens(strongroom_core::oidc::Tokens),
    Exchanged(strongroom_core::exchange::Exchanged),
}

impl std::fmt::Debug for TokenForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |v: &Option<String>| v.as_ref().map(|_| "[redacted]");
        f.debug_struct("TokenForm")
            .field("grant_type", &self.grant_type)
            .field("code", &redacted(&self.code))
            .field("redirect_uri", &self.redirect_uri)
            .field("code_verifier", &redacted(&self.code_verifier))
            .field("refresh_token", &redacted(&self.refresh_token))
            .field("scope", &self.scope)
            .field("resource", &self.resource)
            .field("client_id", &self.client_id)
            .field("client_secret", &redacted(&self.client_secret))
            .field("client_assertion_type", &self.client_assertion_type)
            .field("client_assertion", &redacted(&self.client_assertion))
            .field("subject_token", &redacted(&self.subject_token))
            .field("subject_token_type", &self.subject_token_type)
            .field("actor_token", &redacted(&self.actor_token))
            .field("actor_token_type", &self.actor_token_type)
            .field("audience", &self.audience)
            .field("requested_token_type", &self.requested_token_type)
            .field("purpose", &self.purpose)
            .finish()
    }
}

/// An OAuth error body as Logto writes it: RFC 6749's `error` and `error_description`, plus
/// Logto's `code` (`oidc.<error>`) and `message`, which Logto's SDKs need to raise a
/// `LogtoRequestError` with the code rather than an "unexpected response" error.
pub(crate) fn oauth_body(error: &str, description: &str) -> Json<OAuthErrorBody> {
    Json(OAuthErrorBody {
        code: format!("oidc.{error}"),
        message: description.to_owned(),
        error: error.to_owned(),
        error_description: description.to_owned(),
    })
}

fn oauth_error(e: OAuthError) -> Response {
    let status = match e.error {
        "invalid_client" => StatusCode::UNAUTHORIZED,
        "server_error" => StatusCode::INTERNAL_SERVER_ERROR,
        "temporarily_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    };
    let mut body = oauth_body(e.error, &e.description);
    if let Some(code) = e.code {
        body.code = code.to_owned();
    }
    let mut response = (status, body).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Basic realm=\"strongroom\""),
        );
    }
    no_store(response)
}

fn no_store(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

/// Client credentials from HTTP Basic (form-urlencoded id and secret, RFC 6749 2.3.1) or the body.
fn client_credentials(
    headers: &HeaderMap,
    client_id: Option<&str>,
    client_secret: Option<&str>,
) -> Result<(String, Option<String>), OAuthError> {
    let invalid = || OAuthError::new("invalid_client", "malformed client authentication");
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let encoded = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Basic "))
            .ok_or_else(invalid)?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| invalid())?;
        let decoded = String::from_utf8(decoded).map_err(|_| invalid())?;
        let (id, secret) = decoded.split_once(':').ok_or_else(invalid)?;
        let unescape = |s: &str| form_urlencoded_decode(s).ok_or_else(invalid);
        if client_secret.is_some() {
            return Err(OAuthError::new(
                "invalid_request",
                "use one client authentication method",
            ));
        }
        let (id, secret) = (unescape(id)?, unescape(secret)?);
        // Decoded here, after the edge's check: U+0000 is refused like everywhere else.
        if id.contains('\0') || secret.contains('\0') {
            return Err(OAuthError::new(
                "invalid_request",
                "the client credentials contain a NUL character (U+0000)",
            ));
        }
        return Ok((id, Some(secret)));
    }
    let id = client_id
        .map(str::to_owned)
        .ok_or_else(|| OAuthError::new("invalid_client", "client_id is required"))?;
    Ok((id, client_secret.map(str::to_owned)))
}

/// The application a token, revocation or introspection request authenticates as.
async fn authenticated_client(
    state: &AppState,
    headers: &HeaderMap,
    client_id: Option<&str>,
    client_secret: Option<&str>,
) -> Result<Arc<strongroom_core::store::ApplicationRow>, OAuthError> {
    let (client_id, secret) = client_credentials(headers, client_id, client_secret)?;
    state
        .oidc
        .authenticate_client(&client_id, secret.as_deref())
        .await
}

/// The client of a token request and how it authenticated: with its secret (HTTP Basic or the
/// body), with a `private_key_jwt` assertion (RFC 7523), or not at all (a public client).
async fn token_client(
    state: &AppState,
    headers: &HeaderMap,
    form: &TokenForm,
) -> Result<(Arc<strongroom_core::store::ApplicationRow>, ClientAuth), OAuthError> {
    match (
        form.client_assertion_type.as_deref(),
        form.client_assertion.as_deref(),
    ) {
        (None, None) => {
            let app = authenticated_client(
                state,
                headers,
                form.client_id.as_deref(),
                form.client_secret.as_deref(),
            )
            .await?;
            let auth = if is_confidential(&app.app_type) {
                ClientAuth::ClientSecret
            } else {
                ClientAuth::None
            };
            Ok((app, auth))
        }
        (Some(CLIENT_ASSERTION_TYPE), Some(assertion)) => {
            if headers.contains_key(header::AUTHORIZATION) || form.client_secret.is_some() {
                return Err(OAuthError::new(
                    "invalid_request",
                    "use one client authentication method",
                ));
            }
            let app = state
                .oidc
                .authenticate_client_assertion(form.client_id.as_deref(), assertion)
                .await?;
            Ok((app, ClientAuth::PrivateKeyJwt))
        }
        (Some(_), Some(_)) => Err(OAuthError::new(
            "invalid_client",
            format!("client_assertion_type must be {CLIENT_ASSERTION_TYPE}"),
        )),
        _ => Err(OAuthError::new(
            "invalid_request",
            "client_assertion and client_assertion_type go together",
        )),
    }
}

/// The form of the revocation (RFC 7009) and introspection (RFC 7662) endpoints. `Debug`
/// prints neither the token nor the secret.
#[derive(serde::Deserialize, utoipa::ToSchema)]
struct TokenHintForm {
    token: Option<String>,
    token_type_hint: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

impl std::fmt::Debug for TokenHintForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenHintForm")
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .field("token_type_hint", &self.token_type_hint)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

type TokenHintRequest =
    Result<axum::extract::Form<TokenHintForm>, axum::extract::rejection::FormRejection>;

/// The authenticated client and the token of a revocation or introspection request.
async fn token_hint_request(
    state: &AppState,
    headers: &HeaderMap,
    form: TokenHintRequest,
) -> Result<(Arc<strongroom_core::store::ApplicationRow>, TokenHintForm), OAuthError> {
    let axum::extract::Form(form) =
        form.map_err(|r| OAuthError::new("invalid_request", r.body_text()))?;
    let app = authenticated_client(
        state,
        headers,
        form.client_id.as_deref(),
        form.client_secret.as_deref(),
    )
    .await?;
    if form.token.as_deref().is_none_or(str::is_empty) {
        return Err(OAuthError::new("invalid_request", "token is required"));
    }
    Ok((app, form))
}

#[utoipa::path(
    post,
    path = "/oidc/token/revocation",
    tag = "OIDC",
    summary = "Token revocation (RFC 7009)",
    description = "Revokes a token of the authenticated client. A refresh token revokes its whole grant: every \
                   code, refresh and access token issued under it stops working at once, in every process. An \
                   access token is revoked alone. An unknown token, or one of another client, is answered the same \
                   way and left alone. Client authentication as at the token endpoint.",
    request_body(content = TokenHintForm, content_type = "application/x-www-form-urlencoded"),
    security((), ("client_basic" = [])),
    responses(
        (status = 200, description = "Revoked (or nothing to revoke)."),
        (status = 400, description = "`invalid_request`: no `token`, or a form that cannot be read.", body = OAuthErrorBody),
        (status = 401, description = "`invalid_client`.", body = OAuthErrorBody),
        (status = 500, description = "`server_error`.", body = OAuthErrorBody),
    )
)]
async fn revocation(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: TokenHintRequest,
) -> Response {
    let result = async {
        let (app, form) = token_hint_request(&state, &headers, form).await?;
        state
            .oidc
            .revoke_token(
                &app,
                form.token.as_deref().unwrap_or_default(),
                form.token_type_hint.as_deref(),
            )
            .await
    }
    .await;
    match result {
        Ok(()) => no_store(StatusCode::OK.into_response()),
        Err(e) => oauth_error(e),
    }
}

#[utoipa::path(
    post,
    path = "/oidc/token/introspection",
    tag = "OIDC",
    summary = "Token introspection (RFC 7662)",
    description = "`{active: true, client_id, scope, sub, iat, exp, iss, token_type, aud}` for a live access token \
                   (a confidential client may ask about any client's, a public one only about its own) or a live \
                   refresh token of the authenticated client; `{active: false}` for anything else.",
    request_body(content = TokenHintForm, content_type = "application/x-www-form-urlencoded"),
    security((), ("client_basic" = [])),
    responses(
        (status = 200, description = "The token's state.", body = IntrospectionResponse),
        (status = 400, description = "`invalid_request`: no `token`, or a form that cannot be read.", body = OAuthErrorBody),
        (status = 401, description = "`invalid_client`.", body = OAuthErrorBody),
        (status = 500, description = "`server_error`.", body = OAuthErrorBody),
    )
)]
async fn introspection(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: TokenHintRequest,
) -> Response {
    let result = async {
        let (app, form) = token_hint_request(&state, &headers, form).await?;
        state
            .oidc
            .introspect(
                &app,
                form.token.as_deref().unwrap_or_default(),
                form.token_type_hint.as_deref(),
            )
            .await
    }
    .await;
    match result {
        Ok(found) => {
            no_store(Json(IntrospectionResponse::new(found, state.oidc.issuer())).into_response())
        }
        Err(e) => oauth_error(e),
    }
}

fn form_urlencoded_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[utoipa::path(
    post,
    path = "/oidc/token",
    tag = "OIDC",
    summary = "Token endpoint",
    description = "RFC 6749 token endpoint. Grants: `client_credentials` (a machine-to-machine application's \
                   Management API token: `resource=<endpoint>/api`, `scope=all`), `authorization_code` (PKCE \
                   required for public clients), `refresh_token` (rotating), and RFC 8693 token exchange \
                   (`urn:ietf:params:oauth:grant-type:token-exchange`): an application an administrator allowed \
                   presents a user's Strongroom access or refresh token (neither used up nor rotated) as \
                   `subject_token` and names a provider connection by `resource` (`urn:strongroom:connector:<target>` \
                   or `urn:strongroom:sso-connector:<id>`); the answer is that user's provider access token, \
                   refreshed first when it expires soon. A break-glass worker gives the user's id with \
                   `subject_token_type=urn:strongroom:params:oauth:token-type:user_id` and authenticates with \
                   `private_key_jwt`. The client authenticates with HTTP Basic, with `client_id`/`client_secret` in \
                   the body, or with a `client_assertion` (RFC 7523) signed by a key registered for it; one \
                   method only. Answers carry `Cache-Control: no-store`.",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    security((), ("client_basic" = [])),
    responses(
        (status = 200, description = "The tokens; for a token exchange, the user's provider access token \
            (RFC 8693 2.2.1).", body = TokenEndpointResponse),
        (status = 400, description = "`invalid_request`: no `grant_type`, `code` or `refresh_token`, two client \
            authentication methods, or a form that cannot be read (a repeated parameter, not \
            `application/x-www-form-urlencoded`). `invalid_grant`: an unknown, expired or used code or refresh token, or a redirect \
            URI or PKCE mismatch. `unsupported_grant_type`. `unauthorized_client`: `client_credentials` by an \
            application that is not machine-to-machine. `invalid_target`: a resource other than `<endpoint>/api`. \
            `invalid_scope`: a Management API scope other than `all`. Token exchange: `unauthorized_client` \
            (`code` `token_exchange.not_enabled`, `.third_party`, `.worker_not_allowed`, \
            `.private_key_jwt_required`), `invalid_request` (`token_exchange.invalid_subject_token`, \
            `.subject_of_another_application`, `.subject_without_identities_scope`, \
            `.unsupported_subject_token_type`, `.invalid_actor_token`, `.unsupported_requested_token_type`, \
            `.missing_target`, `.invalid_target`, `.invalid_purpose`), `invalid_target` \
            (`token_exchange.unknown_target`, `.connector_not_listed`, \
            `secrets.third_party_token_set.token_not_found`), `invalid_grant` \
            (`secrets.third_party_token_set.access_token_expired`, `.refresh_token_revoked`: the user must \
            reconnect).", body = OAuthErrorBody),
        (status = 401, description = "`invalid_client`: an unknown client, a wrong secret, a client assertion that \
            is unsigned, badly signed, expired, too long-lived or replayed, or malformed client authentication; \
            with `WWW-Authenticate: Basic`.", body = OAuthErrorBody),
        (status = 500, description = "`server_error`.", body = OAuthErrorBody),
        (status = 503, description = "`temporarily_unavailable` (token exchange): the provider did not answer the \
            refresh (`connector.provider_unavailable`) or its answer cannot be used (`connector.invalid_response`); \
            the stored tokens are unchanged.", body = OAuthErrorBody),
    )
)]
async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<axum::extract::Form<TokenForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    // RFC 6749 5.2: a request that cannot be read (a repeated parameter, a wrong content
    // type) is `invalid_request`.
    let form = match form {
        Ok(axum::extract::Form(form)) => form,
        Err(rejection) => {
            return oauth_error(OAuthError::new("invalid_request", rejection.body_text()));
        }
    };
    match token_inner(&state, &headers, &form).await {
        Ok(TokenAnswer::Tokens(tokens)) => {
            no_store(Json(TokenResponse::from(tokens)).into_response())
        }
        Ok(TokenAnswer::Exchanged(exchanged)) => {
            no_store(Json(ExchangeResponse::from(exchanged)).into_response())
        }
        Err(e) => oauth_error(e),
    }
}

async fn token_inner(
    state: &AppState,
    headers: &HeaderMap,
    form: &TokenForm,
) -> Result<TokenAnswer, OAuthError> {
    let (app, auth) = token_client(state, headers, form).await?;
    let oidc = &state.oidc;
    match form.grant_type.as_deref() {
        Some("client_credentials") => oidc
            .client_credentials(&app, form.scope.as_deref(), form.resource.as_deref())
            .await
            .map(TokenAnswer::Tokens),
        Some("authorization_code") => {
            let code = form
                .code
                .as_deref()
                .ok_or_else(|| OAuthError::new("invalid_request", "code is required"))?;
            oidc.exchange_code(
                &app,
                code,
                form.redirect_uri.as_deref(),
                form.code_verifier.as_deref(),
                async |user| oidc.user_claims(user, "").await,
            )
            .await
            .map(TokenAnswer::Tokens)
        }
        Some("refresh_token") => {
            let refresh = form
                .refresh_token
                .as_deref()
                .ok_or_else(|| OAuthError::new("invalid_request", "refresh_token is required"))?;
            oidc.refresh(&app, refresh, async |user| oidc.user_claims(user, "").await)
                .await
                .map(TokenAnswer::Tokens)
        }
        Some(exchange::GRANT_TYPE) => state
            .exchange
            .exchange(&app, auth, &form.exchange_request())
            .await
            .map(TokenAnswer::Exchanged),
        Some(other) => Err(OAuthError::new(
            "unsupported_grant_type",
            format!("unsupported grant_type {other}"),
        )),
        None => Err(OAuthError::new("invalid_request", "grant_type is required")),
    }
}

/// Userinfo: the claims the access token's scopes release.
#[utoipa::path(
    method(get, post),
    path = "/oidc/me",
    tag = "OIDC",
    summary = "UserInfo endpoint",
    description = "The claims of the access token's user that its scopes release (OpenID Connect Core 5.3). \
                   Answers carry `Cache-Control: no-store`.",
    security(("user" = [])),
    responses(
        (status = 200, description = "The claims.", body = UserInfo),
        (status = 401, description = "`invalid_token`: no bearer token, or an unknown, expired or revoked one, or one \
            without the `openid` scope or of no user; with `WWW-Authenticate: Bearer error=\"invalid_token\"`.",
            body = OAuthErrorBody),
        Internal,
    )
)]
async fn userinfo(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let unauthorized = || {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"")],
            oauth_body("invalid_token", "invalid or expired access token"),
        )
            .into_response()
    };
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::extract::bearer_credentials)
    else {
        return unauthorized();
    };
    let row = match state.oidc.access_token(token).await {
        Ok(Some(row)) => row,
        Ok(None) => return unauthorized(),
        Err(e) => return ApiError::from(e).into_response(),
    };
    let Some(user_id) = row.user_id.filter(|_| has_scope(&row.scope, "openid")) else {
        return unauthorized();
    };
    match state.oidc.user_claims(&user_id, &row.scope).await {
        Ok(claims) => no_store(Json(UserInfo::new(&claims, &row.scope)).into_response()),
        Err(_) => unauthorized(),
    }
}

#[derive(serde::Deserialize, utoipa::IntoParams, utoipa::ToSchema)]
#[into_params(parameter_in = Query)]
struct EndSession {
    post_logout_redirect_uri: Option<String>,
    client_id: Option<String>,
    state: Option<String>,
    /// An ID token Strongroom issued to the application for the signed-in user: with it the
    /// session ends without a confirmation.
    id_token_hint: Option<String>,
    /// The confirmation form's value (POST only).
    confirmation: Option<String>,
}

impl std::fmt::Debug for EndSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndSession")
            .field("post_logout_redirect_uri", &self.post_logout_redirect_uri)
            .field("client_id", &self.client_id)
            .field(
                "id_token_hint",
                &self.id_token_hint.as_ref().map(|_| "[redacted]"),
            )
            .field(
                "confirmation",
                &self.confirmation.as_ref().map(|_| "[redacted]"),
            )
            .finish_non_exhaustive()
    }
}

impl EndSession {
    /// The `post_logout_redirect_uri` (with `state`), after checking it is registered for
    /// `client_id`.
    async fn target(&self, state: &AppState) -> Result<Option<String>, ApiError> {
        let Some(uri) = self.post_logout_redirect_uri.clone() else {
            return Ok(None);
        };
        let client_id = self.client_id.clone().ok_or_else(|| {
            ApiError::invalid_input("client_id is required with post_logout_redirect_uri")
        })?;
        let app = state
            .applications
            .get(&strongroom_core::store::ApplicationId::from(client_id))
            .await?
            .ok_or_else(|| ApiError::invalid_input("unknown client_id"))?;
        let registered = app.oidc_client_metadata["postLogoutRedirectUris"]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v.as_str() == Some(uri.as_str())));
        if !registered {
            return Err(ApiError::invalid_input(
                "post_logout_redirect_uri is not registered for this client",
            ));
        }
        Ok(Some(match &self.state {
            Some(s) => format!(
                "{uri}{}state={}",
                if uri.contains('?') { '&' } else { '?' },
                urlencode(s)
            ),
            None => uri,
        }))
    }
}

/// End session: forgets the browser's session at Strongroom, then sends the browser back to a
/// registered post-logout redirect URI (or shows that it is signed out). Without a valid
/// `id_token_hint` the browser is asked to confirm first, so a cross-site link cannot sign the
/// user out.
#[utoipa::path(
    get,
    path = "/oidc/session/end",
    tag = "OIDC",
    summary = "End session",
    description = "RP-initiated logout. With an `id_token_hint` that Strongroom issued for the signed-in user (to \
                   `client_id`, when given), or without a session, it forgets the browser's session (its cookie is \
                   cleared) and redirects to `post_logout_redirect_uri` (registered for `client_id`, with `state` \
                   appended) or shows a signed-out page. Otherwise it answers a confirmation page whose form posts \
                   the same parameters back to this endpoint.",
    params(EndSession),
    responses(
        (status = 200, description = "The signed-out page, or the confirmation page.", body = String, content_type = "text/html"),
        (status = 303, description = "To the post-logout redirect URI.", headers(("Location" = String))),
        (status = 400, description = "An HTML error page: `guard.invalid_input`: `post_logout_redirect_uri` without \
            `client_id`, an unknown `client_id`, or a URI not registered for the client.", body = String,
            content_type = "text/html"),
        (status = 500, description = "An HTML error page: `unexpected_error`.", body = String, content_type = "text/html"),
    )
)]
async fn end_session(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<EndSession>,
) -> Result<Response, PageRejection> {
    Ok(logout(state, headers, q, false).await?)
}

/// The confirmation of a logout.
#[utoipa::path(
    post,
    path = "/oidc/session/end",
    tag = "OIDC",
    summary = "End session (confirmed)",
    description = "The confirmation page's form: with the `confirmation` value of that page (or a valid \
                   `id_token_hint`), forgets the session and answers as the `GET` does.",
    request_body(content = EndSession, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The signed-out page, or the confirmation page again.", body = String, content_type = "text/html"),
        (status = 303, description = "To the post-logout redirect URI.", headers(("Location" = String))),
        (status = 400, description = "An HTML error page: `guard.invalid_input`, as the `GET`.", body = String,
            content_type = "text/html"),
        (status = 500, description = "An HTML error page: `unexpected_error`.", body = String, content_type = "text/html"),
    )
)]
async fn end_session_confirmed(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(q): Form<EndSession>,
) -> Result<Response, PageRejection> {
    Ok(logout(state, headers, q, true).await?)
}

async fn logout(
    state: AppState,
    headers: HeaderMap,
    q: EndSession,
    posted: bool,
) -> Result<Response, ApiError> {
    let target = q.target(&state).await?;
    let session = crate::html::cookie(&headers, crate::sign_in::session_cookie(&state));
    let outcome = state
        .sign_in
        .end_session(
            session,
            q.id_token_hint.as_deref(),
            q.client_id.as_deref(),
            q.confirmation.as_deref().filter(|_| posted),
        )
        .await
        .map_err(|e| match e {
            SignInError::Core(core) => ApiError::from(core),
            other => ApiError::internal(&other),
        })?;
    if let Logout::Confirm { confirmation } = outcome {
        let hidden = |name: &str, value: Option<&str>| {
            value.map_or_else(String::new, |v| {
                format!(
                    "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
                    crate::html::escape(v)
                )
            })
        };
        let body = format!(
            "<h1>Sign out?</h1><p class=\"sub\">Do you want to sign out of Strongroom?</p>\
             <form method=\"post\" action=\"/oidc/session/end\">{}{}{}{}\
             <button class=\"primary\" type=\"submit\">Sign out</button></form>",
            hidden(
                "post_logout_redirect_uri",
                q.post_logout_redirect_uri.as_deref()
            ),
            hidden("client_id", q.client_id.as_deref()),
            hidden("state", q.state.as_deref()),
            hidden("confirmation", Some(&confirmation)),
        );
        let mut response =
            axum::response::Html(crate::html::page("Sign out", &body)).into_response();
        crate::html::no_store(&mut response);
        return Ok(response);
    }
    let mut response = match target {
        Some(target) => Redirect::to(&target).into_response(),
        None => (
            StatusCode::OK,
            axum::response::Html(crate::html::page(
                "Signed out",
                "<h1>Signed out</h1><p>You are signed out.</p>",
            )),
        )
            .into_response(),
    };
    response.headers_mut().append(
        header::SET_COOKIE,
        crate::html::set_cookie(
            crate::sign_in::session_cookie(&state),
            "",
            Some(0),
            state.secure_cookies(),
        ),
    );
    Ok(response)
}

/// Percent-encodes everything but unreserved characters.
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_print_without_codes_tokens_or_secrets() {
        let planted = || Some("PLANTED-secret-value".to_owned());
        let token = format!(
            "{:?}",
            TokenForm {
                grant_type: Some("authorization_code".into()),
                code: planted(),
                redirect_uri: None,
                code_verifier: planted(),
                refresh_token: planted(),
                scope: None,
                resource: None,
                client_id: Some("app".into()),
                client_secret: planted(),
                client_assertion_type: None,
                client_assertion: planted(),
                subject_token: planted(),
                subject_token_type: None,
                actor_token: planted(),
                actor_token_type: None,
                audience: None,
                requested_token_type: None,
                purpose: None,
            }
        );
        let logout = format!(
            "{:?}",
            EndSession {
                post_logout_redirect_uri: None,
                client_id: None,
                state: None,
                id_token_hint: planted(),
                confirmation: planted(),
            }
        );
        for printed in [token, logout] {
            assert!(!printed.contains("PLANTED"), "{printed}");
            assert!(printed.contains("[redacted]"), "{printed}");
        }
    }
}
