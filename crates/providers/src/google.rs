//! Google (OpenID Connect on Google's fixed endpoints).
//!
//! `access_type=offline` plus `prompt=consent` (configurable) make Google issue a refresh token;
//! refresh answers carry none (the caller keeps the old one). The profile comes from the
//! userinfo endpoint, fetched over TLS from Google; the ID token in the token answer is checked
//! for audience, nonce and subject (its signature is not needed: it came straight from Google's
//! token endpoint, OIDC Core 3.1.3.7).

use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use url::Url;

use crate::config::{Cfg, with_query};
use crate::error::ProviderError;
use crate::http::Http;
use crate::token::{
    AuthMethod, ClientCredentials, ResponseFormat, revocation_call, token_call, token_post,
};
use crate::types::{AuthorizationRequest, Callback, TokenResponse, UserProfile};

pub(crate) const DEFAULT_SCOPE: &str = "openid profile email";
pub(crate) const AUTHORIZATION_ENDPOINT: &str = "https://accounts.google.com/o/oauth2/v2/auth";
pub(crate) const TOKEN_ENDPOINT: &str = "https://oauth2.googleapis.com/token";
pub(crate) const USERINFO_ENDPOINT: &str = "https://openidconnect.googleapis.com/v1/userinfo";
pub(crate) const REVOCATION_ENDPOINT: &str = "https://oauth2.googleapis.com/revoke";
pub(crate) const ISSUER: &str = "https://accounts.google.com";

#[derive(Debug, Clone)]
pub(crate) struct GoogleConfig {
    client: ClientCredentials,
    scope: String,
    prompt: Option<String>,
    offline_access: bool,
    auth_method: AuthMethod,
    authorization_endpoint: Url,
    token_endpoint: Url,
    userinfo_endpoint: Url,
    revocation_endpoint: Url,
    issuer: String,
}

impl GoogleConfig {
    pub(crate) fn from_config(cfg: &Cfg<'_>) -> Result<Self, ProviderError> {
        const PROMPTS: &[&str] = &["none", "login", "consent", "select_account"];
        let prompts = cfg.optional_str_list("prompts")?;
        if let Some(bad) = prompts
            .iter()
            .flatten()
            .find(|p| !PROMPTS.contains(&p.as_str()))
        {
            return Err(ProviderError::Config(format!(
                "prompts may contain none, login, consent and select_account, not {}",
                crate::error::sanitize(bad, 40)
            )));
        }
        let offline_access = cfg.optional_bool("offlineAccess")?.unwrap_or(true);
        let prompt = match prompts {
            Some(list) if list.is_empty() => None,
            Some(list) => Some(list.join(" ")),
            // Without consent Google issues a refresh token only at the first authorization.
            None if offline_access => Some("consent".to_owned()),
            None => None,
        };
        Ok(GoogleConfig {
            client: ClientCredentials {
                id: cfg.required_str("clientId")?,
                secret: SecretString::from(cfg.required_str("clientSecret")?),
            },
            scope: cfg
                .optional_str("scope")?
                .unwrap_or_else(|| DEFAULT_SCOPE.into()),
            prompt,
            offline_access,
            auth_method: AuthMethod::from_config(
                cfg.optional_str("tokenEndpointAuthMethod")?.as_deref(),
                cfg.optional_str("clientSecretJwtSigningAlgorithm")?
                    .as_deref(),
            )?
            .unwrap_or(AuthMethod::Basic),
            authorization_endpoint: cfg.url_or("authorizationEndpoint", AUTHORIZATION_ENDPOINT)?,
            token_endpoint: cfg.url_or("tokenEndpoint", TOKEN_ENDPOINT)?,
            userinfo_endpoint: cfg.url_or("userInfoEndpoint", USERINFO_ENDPOINT)?,
            revocation_endpoint: cfg.url_or("revocationEndpoint", REVOCATION_ENDPOINT)?,
            issuer: cfg.optional_str("issuer")?.unwrap_or_else(|| ISSUER.into()),
        })
    }

    /// Google's ID tokens use either spelling of its issuer.
    fn is_issuer(&self, iss: &str) -> bool {
        iss == self.issuer || (self.issuer == ISSUER && iss == "accounts.google.com")
    }
}

pub(crate) fn authorization_url(c: &GoogleConfig, req: &AuthorizationRequest<'_>) -> Url {
    let mut params = vec![
        ("client_id", c.client.id.as_str()),
        ("redirect_uri", req.redirect_uri),
        ("response_type", "code"),
        ("scope", req.scope.unwrap_or(&c.scope)),
        ("state", req.state),
        ("nonce", req.nonce),
        ("code_challenge", req.code_challenge),
        ("code_challenge_method", "S256"),
    ];
    if c.offline_access {
        params.push(("access_type", "offline"));
    }
    if let Some(prompt) = &c.prompt {
        params.push(("prompt", prompt));
    }
    if let Some(hint) = req.login_hint {
        params.push(("login_hint", hint));
    }
    with_query(&c.authorization_endpoint, params)
}

const TOKEN_WHAT: &str = "Google's token endpoint";

pub(crate) async fn exchange(
    http: &Http,
    c: &GoogleConfig,
    cb: &Callback<'_>,
) -> Result<(TokenResponse, UserProfile), ProviderError> {
    if let Some(iss) = cb.iss
        && !c.is_issuer(iss)
    {
        return Err(crate::oidc::iss_mismatch());
    }
    let params = vec![
        ("grant_type".to_owned(), "authorization_code".to_owned()),
        ("code".to_owned(), cb.code.to_owned()),
        ("redirect_uri".to_owned(), cb.redirect_uri.to_owned()),
        (
            "code_verifier".to_owned(),
            cb.code_verifier.expose_secret().to_owned(),
        ),
    ];
    let request = token_post(http, &c.token_endpoint, &c.client, c.auth_method, params)?;
    let tokens = token_call(http, request, ResponseFormat::Json, TOKEN_WHAT).await?;
    let id_claims = match &tokens.id_token {
        Some(id_token) => Some(check_id_token(c, id_token.expose_secret(), cb.nonce)?),
        None => None,
    };
    let request = http
        .client()
        .get(c.userinfo_endpoint.clone())
        .bearer_auth(tokens.access_token.expose_secret())
        .header(reqwest::header::ACCEPT, "application/json");
    let info = http
        .fetch_json(request, "Google's userinfo endpoint")
        .await?;
    let Value::Object(info) = info else {
        return Err(ProviderError::InvalidResponse(
            "Google's userinfo endpoint did not answer with an object".into(),
        ));
    };
    let id = info
        .get("sub")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            ProviderError::InvalidResponse("Google's userinfo answered without sub".into())
        })?
        .to_owned();
    if let Some(claims) = id_claims
        && claims.get("sub").and_then(Value::as_str) != Some(id.as_str())
    {
        return Err(ProviderError::IdToken(
            "the userinfo sub does not match the ID token".into(),
        ));
    }
    let text = |key: &str| {
        info.get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let profile = UserProfile {
        id,
        email: text("email"),
        email_verified: crate::oidc::bool_claim(info.get("email_verified")),
        name: text("name"),
        avatar: text("picture"),
        details: Value::Object(info.clone()),
    };
    Ok((tokens, profile))
}

/// Audience, issuer, nonce of the ID token Google's token endpoint returned (read without the
/// signature check, which TLS to Google's token endpoint makes unnecessary).
fn check_id_token(
    c: &GoogleConfig,
    id_token: &str,
    nonce: &str,
) -> Result<Map<String, Value>, ProviderError> {
    let payload = id_token
        .split('.')
        .nth(1)
        .and_then(|p| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p.trim_end_matches('='))
                .ok()
        })
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok());
    let Some(Value::Object(claims)) = payload else {
        return Err(ProviderError::IdToken("the ID token is malformed".into()));
    };
    if !claims
        .get("iss")
        .and_then(Value::as_str)
        .is_some_and(|iss| c.is_issuer(iss))
    {
        return Err(ProviderError::IdToken(
            "the ID token's issuer is not Google".into(),
        ));
    }
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => *a == c.client.id,
        Some(Value::Array(list)) => list
            .iter()
            .any(|a| a.as_str() == Some(c.client.id.as_str())),
        _ => false,
    };
    if !aud_ok {
        return Err(ProviderError::IdToken(
            "the ID token's audience does not include the client id".into(),
        ));
    }
    // A nonce was sent, so the ID token must carry it (OIDC Core 3.1.3.7).
    if claims.get("nonce").and_then(Value::as_str) != Some(nonce) {
        return Err(ProviderError::IdToken(
            "the ID token's nonce does not match".into(),
        ));
    }
    Ok(claims)
}

pub(crate) async fn refresh(
    http: &Http,
    c: &GoogleConfig,
    refresh_token: &SecretString,
) -> Result<TokenResponse, ProviderError> {
    let params = vec![
        ("grant_type".to_owned(), "refresh_token".to_owned()),
        (
            "refresh_token".to_owned(),
            refresh_token.expose_secret().to_owned(),
        ),
    ];
    let request = token_post(http, &c.token_endpoint, &c.client, c.auth_method, params)?;
    token_call(http, request, ResponseFormat::Json, TOKEN_WHAT).await
}

/// `POST https://oauth2.googleapis.com/revoke` with `token=`: an access token or a refresh
/// token (revoking a refresh token ends the whole grant).
pub(crate) async fn revoke(
    http: &Http,
    c: &GoogleConfig,
    token: &SecretString,
) -> Result<(), ProviderError> {
    let request = http
        .client()
        .post(c.revocation_endpoint.clone())
        .header(reqwest::header::ACCEPT, "application/json")
        .form(&[("token", token.expose_secret())]);
    revocation_call(http, request, "Google's revocation endpoint").await
}
