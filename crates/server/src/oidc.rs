//! Strongroom's OpenID provider endpoints under `/oidc`.

use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use serde_json::json;
use strongroom_core::oidc::OAuthError;

use crate::AppState;
use crate::error::ApiError;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/oidc/.well-known/openid-configuration", get(discovery))
        .route("/oidc/jwks", get(jwks))
        .route("/oidc/token", post(token))
        .route("/oidc/me", get(userinfo).post(userinfo))
        .route("/oidc/session/end", get(end_session))
}

async fn discovery(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(state.oidc.discovery())
}

async fn jwks(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(state.oidc.jwks().await?))
}

/// The token endpoint's form. Unknown parameters are ignored, as RFC 6749 requires.
#[derive(Debug, serde::Deserialize)]
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
}

fn oauth_error(e: OAuthError) -> Response {
    let status = match e.error {
        "invalid_client" => StatusCode::UNAUTHORIZED,
        "server_error" => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    let mut response = (status, Json(json!({ "error": e.error, "error_description": e.description }))).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Basic realm=\"strongroom\""));
    }
    no_store(response)
}

fn no_store(mut response: Response) -> Response {
    response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    response
}

/// Client credentials from HTTP Basic (form-urlencoded id and secret, RFC 6749 2.3.1) or the body.
fn client_credentials(headers: &HeaderMap, form: &TokenForm) -> Result<(String, Option<String>), OAuthError> {
    let invalid = || OAuthError::new("invalid_client", "malformed client authentication");
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let encoded = value.to_str().ok().and_then(|v| v.strip_prefix("Basic ")).ok_or_else(invalid)?;
        let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).map_err(|_| invalid())?;
        let decoded = String::from_utf8(decoded).map_err(|_| invalid())?;
        let (id, secret) = decoded.split_once(':').ok_or_else(invalid)?;
        let unescape = |s: &str| form_urlencoded_decode(s).ok_or_else(invalid);
        if form.client_secret.is_some() {
            return Err(OAuthError::new("invalid_request", "use one client authentication method"));
        }
        return Ok((unescape(id)?, Some(unescape(secret)?)));
    }
    let id = form.client_id.clone().ok_or_else(|| OAuthError::new("invalid_client", "client_id is required"))?;
    Ok((id, form.client_secret.clone()))
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

async fn token(State(state): State<AppState>, headers: HeaderMap, Form(form): Form<TokenForm>) -> Response {
    match token_inner(&state, &headers, &form).await {
        Ok(tokens) => no_store(Json(tokens.to_json()).into_response()),
        Err(e) => oauth_error(e),
    }
}

async fn token_inner(state: &AppState, headers: &HeaderMap, form: &TokenForm) -> Result<strongroom_core::oidc::Tokens, OAuthError> {
    let (client_id, secret) = client_credentials(headers, form)?;
    let app = state.oidc.authenticate_client(&client_id, secret.as_deref()).await?;
    let oidc = &state.oidc;
    match form.grant_type.as_deref() {
        Some("client_credentials") => oidc.client_credentials(&app, form.scope.as_deref(), form.resource.as_deref()).await,
        Some("authorization_code") => {
            let code = form.code.as_deref().ok_or_else(|| OAuthError::new("invalid_request", "code is required"))?;
            oidc.exchange_code(&app, code, form.redirect_uri.as_deref(), form.code_verifier.as_deref(), async |user| {
                oidc.user_claims(user).await
            })
            .await
        }
        Some("refresh_token") => {
            let refresh = form
                .refresh_token
                .as_deref()
                .ok_or_else(|| OAuthError::new("invalid_request", "refresh_token is required"))?;
            oidc.refresh(&app, refresh, async |user| oidc.user_claims(user).await).await
        }
        Some(other) => Err(OAuthError::new("unsupported_grant_type", format!("unsupported grant_type {other}"))),
        None => Err(OAuthError::new("invalid_request", "grant_type is required")),
    }
}

/// Userinfo: the claims the access token's scopes release.
async fn userinfo(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let unauthorized = || {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"")],
            Json(json!({ "error": "invalid_token", "error_description": "invalid or expired access token" })),
        )
            .into_response()
    };
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return unauthorized();
    };
    let row = match state.oidc.access_token(token.trim()).await {
        Ok(Some(row)) => row,
        Ok(None) => return unauthorized(),
        Err(e) => return ApiError::from(e).into_response(),
    };
    let Some(user_id) = row.user_id.filter(|_| row.scope.split(' ').any(|s| s == "openid")) else {
        return unauthorized();
    };
    match state.oidc.user_claims(&user_id).await {
        Ok(claims) => no_store(Json(claims.for_scopes(&row.scope)).into_response()),
        Err(_) => unauthorized(),
    }
}

#[derive(Debug, serde::Deserialize)]
struct EndSession {
    post_logout_redirect_uri: Option<String>,
    client_id: Option<String>,
    state: Option<String>,
}

/// End session: forgets the browser's session at Strongroom, then sends the browser back to a
/// registered post-logout redirect URI (or shows that it is signed out).
async fn end_session(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::extract::Query(q): axum::extract::Query<EndSession>,
) -> Result<Response, ApiError> {
    let target = match q.post_logout_redirect_uri {
        None => None,
        Some(uri) => {
            let client_id = q.client_id.ok_or_else(|| ApiError::invalid_input("client_id is required with post_logout_redirect_uri"))?;
            let app = state
                .applications
                .get(&strongroom_core::store::ApplicationId(client_id))
                .await?
                .ok_or_else(|| ApiError::invalid_input("unknown client_id"))?;
            let registered = app.oidc_client_metadata["postLogoutRedirectUris"]
                .as_array()
                .is_some_and(|a| a.iter().any(|v| v.as_str() == Some(uri.as_str())));
            if !registered {
                return Err(ApiError::invalid_input("post_logout_redirect_uri is not registered for this client"));
            }
            Some(match q.state {
                Some(s) => format!("{uri}{}state={}", if uri.contains('?') { '&' } else { '?' }, urlencode(&s)),
                None => uri,
            })
        }
    };
    let session = crate::html::cookie(&headers, crate::sign_in::SESSION_COOKIE);
    if let Err(e) = state.sign_in.end_session(session).await {
        tracing::warn!(error = %e, "cannot delete the session");
    }
    let mut response = match target {
        Some(target) => Redirect::to(&target).into_response(),
        None => (StatusCode::OK, axum::response::Html(crate::html::page("Signed out", "<h1>Signed out</h1><p>You are signed out.</p>"))).into_response(),
    };
    let secure = state.endpoint.starts_with("https://");
    response
        .headers_mut()
        .append(header::SET_COOKIE, crate::html::set_cookie(crate::sign_in::SESSION_COOKIE, "", Some(0), secure));
    Ok(response)
}

/// Percent-encodes everything but unreserved characters.
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
