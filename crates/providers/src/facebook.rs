//! Facebook Login (manually built flow) and the Graph API.
//!
//! The code is exchanged with a GET to `{graph}/oauth/access_token`, then the short-lived token
//! is exchanged for a long-lived one (`grant_type=fb_exchange_token`), which is what we return.
//! Facebook issues no refresh tokens, and does not take PKCE on this flow. Errors come as
//! `{"error": {"message", "type", "code", "fbtrace_id"}}` with HTTP 400.

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use url::Url;

use crate::config::{Cfg, join, with_query};
use crate::error::ProviderError;
use crate::http::Http;
use crate::token::{ClientCredentials, ResponseFormat, token_call};
use crate::types::{AuthorizationRequest, Callback, TokenResponse, UserProfile};

pub(crate) const DEFAULT_SCOPE: &str = "email,public_profile";
pub(crate) const DEFAULT_GRAPH_API_BASE_URL: &str = "https://graph.facebook.com/v23.0";
pub(crate) const DEFAULT_DIALOG_BASE_URL: &str = "https://www.facebook.com/v23.0";

#[derive(Debug, Clone)]
pub(crate) struct FacebookConfig {
    client: ClientCredentials,
    scope: String,
    dialog: Url,
    graph: String,
}

impl FacebookConfig {
    pub(crate) fn from_config(cfg: &Cfg<'_>) -> Result<Self, ProviderError> {
        let dialog_base = cfg.base_or("dialogBaseUrl", DEFAULT_DIALOG_BASE_URL)?;
        Ok(FacebookConfig {
            client: ClientCredentials {
                id: cfg.required_str("clientId")?,
                secret: SecretString::from(cfg.required_str("clientSecret")?),
            },
            scope: cfg
                .optional_str("scope")?
                .unwrap_or_else(|| DEFAULT_SCOPE.into()),
            dialog: join(&dialog_base, "/dialog/oauth", "dialogBaseUrl")?,
            graph: cfg.base_or("graphApiBaseUrl", DEFAULT_GRAPH_API_BASE_URL)?,
        })
    }
}

pub(crate) fn authorization_url(c: &FacebookConfig, req: &AuthorizationRequest<'_>) -> Url {
    with_query(
        &c.dialog,
        [
            ("client_id", c.client.id.as_str()),
            ("redirect_uri", req.redirect_uri),
            ("response_type", "code"),
            ("state", req.state),
            ("scope", req.scope.unwrap_or(&c.scope)),
        ],
    )
}

pub(crate) async fn exchange(
    http: &Http,
    c: &FacebookConfig,
    cb: &Callback<'_>,
) -> Result<(TokenResponse, UserProfile), ProviderError> {
    let token_url = join(&c.graph, "/oauth/access_token", "graphApiBaseUrl")?;
    let secret = c.client.secret.expose_secret();
    // The URLs of these two calls carry the client secret: they are never logged, and transport
    // errors are reported without their URL.
    let request = http
        .client()
        .get(token_url.clone())
        .header(reqwest::header::ACCEPT, "application/json")
        .query(&[
            ("client_id", c.client.id.as_str()),
            ("redirect_uri", cb.redirect_uri),
            ("client_secret", secret),
            ("code", cb.code),
        ]);
    let short = token_call(
        http,
        request,
        ResponseFormat::Json,
        "Facebook's token endpoint",
    )
    .await?;
    let request = http
        .client()
        .get(token_url)
        .header(reqwest::header::ACCEPT, "application/json")
        .query(&[
            ("grant_type", "fb_exchange_token"),
            ("client_id", c.client.id.as_str()),
            ("client_secret", secret),
            ("fb_exchange_token", short.access_token.expose_secret()),
        ]);
    let long = token_call(
        http,
        request,
        ResponseFormat::Json,
        "Facebook's long-lived token exchange",
    )
    .await?;
    let tokens = TokenResponse {
        token_type: long.token_type.or(short.token_type),
        scope: long.scope.or(short.scope),
        ..long
    };
    let profile = me(http, c, &tokens.access_token).await?;
    Ok((tokens, profile))
}

/// `DELETE /me/permissions` with the user's token: de-authorizes the app for the user (every
/// permission and token of the grant). Facebook answers `{"success": true}`.
pub(crate) async fn revoke(
    http: &Http,
    c: &FacebookConfig,
    token: &SecretString,
) -> Result<(), ProviderError> {
    const WHAT: &str = "Facebook's permissions API";
    let url = join(&c.graph, "/me/permissions", "graphApiBaseUrl")?;
    let proof = appsecret_proof(&c.client.secret, token);
    let request = http
        .client()
        .delete(url)
        .bearer_auth(token.expose_secret())
        .header(reqwest::header::ACCEPT, "application/json")
        .query(&[("appsecret_proof", proof.as_str())]);
    let answer = http.fetch(request, WHAT).await?;
    if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(&answer.body) {
        if let Some(err) = crate::token::error_in(&map) {
            return Err(err);
        }
        if answer.status.is_success() && map.get("success") == Some(&Value::Bool(true)) {
            return Ok(());
        }
    }
    answer.expect_success(WHAT)?;
    Err(ProviderError::InvalidResponse(format!(
        "{WHAT} did not confirm the revocation"
    )))
}

async fn me(
    http: &Http,
    c: &FacebookConfig,
    token: &SecretString,
) -> Result<UserProfile, ProviderError> {
    let url = join(&c.graph, "/me", "graphApiBaseUrl")?;
    let proof = appsecret_proof(&c.client.secret, token);
    let request = http
        .client()
        .get(url)
        .bearer_auth(token.expose_secret())
        .header(reqwest::header::ACCEPT, "application/json")
        .query(&[
            ("fields", "id,name,email,picture"),
            ("appsecret_proof", proof.as_str()),
        ]);
    let answer = http.fetch(request, "Facebook's Graph API").await?;
    if !answer.status.is_success() {
        if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(&answer.body)
            && let Some(err) = crate::token::error_in(&map)
        {
            return Err(err);
        }
        answer.expect_success("Facebook's Graph API")?;
    }
    let Value::Object(user) = answer.json("Facebook's Graph API")? else {
        return Err(ProviderError::InvalidResponse(
            "Facebook's Graph API did not answer with an object".into(),
        ));
    };
    let id = match user.get("id") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => {
            return Err(ProviderError::InvalidResponse(
                "Facebook's Graph API answered without an id".into(),
            ));
        }
    };
    let text = |key: &str| {
        user.get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let avatar = user
        .get("picture")
        .and_then(|p| p.pointer("/data/url"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok(UserProfile {
        id,
        email: text("email"),
        email_verified: None,
        name: text("name"),
        avatar,
        details: Value::Object(user),
    })
}

/// `appsecret_proof` = hex(HMAC-SHA256(app secret, access token)), required by apps that turn
/// on "Require App Secret" and accepted by all others.
fn appsecret_proof(secret: &SecretString, token: &SecretString) -> String {
    let key = aws_lc_rs::hmac::Key::new(
        aws_lc_rs::hmac::HMAC_SHA256,
        secret.expose_secret().as_bytes(),
    );
    aws_lc_rs::hmac::sign(&key, token.expose_secret().as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
