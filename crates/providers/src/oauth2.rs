//! The generic OAuth 2.0 connector (Logto's `oauth2`).

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use url::Url;

use crate::config::{Cfg, drop_reserved, with_query};
use crate::error::ProviderError;
use crate::http::Http;
use crate::token::{
    AuthMethod, ClientCredentials, ResponseFormat, revocation_call, token_call, token_post,
};
use crate::types::{AuthorizationRequest, Callback, TokenResponse, UserProfile};

/// Logto's `profileMap`: which userinfo keys hold the id, e-mail, name and avatar.
#[derive(Debug, Clone)]
pub(crate) struct ProfileMap {
    id: String,
    email: String,
    name: String,
    avatar: String,
}

#[derive(Debug, Clone)]
pub(crate) struct OAuth2Config {
    client: ClientCredentials,
    scope: Option<String>,
    authorization_endpoint: Url,
    token_endpoint: Url,
    userinfo_endpoint: Url,
    revocation_endpoint: Option<Url>,
    issuer: Option<String>,
    response_format: ResponseFormat,
    auth_method: AuthMethod,
    profile_map: ProfileMap,
    custom: Vec<(String, String)>,
}

impl OAuth2Config {
    pub(crate) fn from_config(cfg: &Cfg<'_>) -> Result<Self, ProviderError> {
        let response_format = match cfg.optional_str("tokenEndpointResponseType")?.as_deref() {
            None | Some("query-string") => ResponseFormat::QueryString,
            Some("json") => ResponseFormat::Json,
            Some(_) => {
                return Err(ProviderError::Config(
                    "tokenEndpointResponseType must be query-string or json".into(),
                ));
            }
        };
        let map = cfg.optional_object("profileMap")?;
        let key = |name: &str| -> Result<String, ProviderError> {
            Ok(match &map {
                Some(m) => m.optional_str(name)?.unwrap_or_else(|| name.to_owned()),
                None => name.to_owned(),
            })
        };
        Ok(OAuth2Config {
            authorization_endpoint: cfg.required_url("authorizationEndpoint")?,
            token_endpoint: cfg.required_url("tokenEndpoint")?,
            userinfo_endpoint: cfg.required_url("userInfoEndpoint")?,
            client: ClientCredentials {
                id: cfg.required_str("clientId")?,
                secret: SecretString::from(cfg.required_str("clientSecret")?),
            },
            scope: cfg.optional_str("scope")?,
            revocation_endpoint: cfg.optional_url("revocationEndpoint")?,
            issuer: cfg.optional_str("issuer")?,
            response_format,
            // Logto's default for this connector.
            auth_method: AuthMethod::from_config(
                cfg.optional_str("tokenEndpointAuthMethod")?.as_deref(),
                cfg.optional_str("clientSecretJwtSigningAlgorithm")?
                    .as_deref(),
            )?
            .unwrap_or(AuthMethod::Post),
            profile_map: ProfileMap {
                id: key("id")?,
                email: key("email")?,
                name: key("name")?,
                avatar: key("avatar")?,
            },
            custom: drop_reserved(cfg.string_map("customConfig")?),
        })
    }
}

pub(crate) fn authorization_url(c: &OAuth2Config, req: &AuthorizationRequest<'_>) -> Url {
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", c.client.id.as_str()),
        ("redirect_uri", req.redirect_uri),
        ("state", req.state),
        ("code_challenge", req.code_challenge),
        ("code_challenge_method", "S256"),
    ];
    if let Some(scope) = req.scope.or(c.scope.as_deref()) {
        params.push(("scope", scope));
    }
    params.extend(c.custom.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    with_query(&c.authorization_endpoint, params)
}

const TOKEN_WHAT: &str = "the OAuth 2.0 token endpoint";

pub(crate) async fn exchange(
    http: &Http,
    c: &OAuth2Config,
    cb: &Callback<'_>,
) -> Result<(TokenResponse, UserProfile), ProviderError> {
    if let (Some(iss), Some(expected)) = (cb.iss, &c.issuer)
        && iss != expected
    {
        return Err(crate::oidc::iss_mismatch());
    }
    let mut params = vec![
        ("grant_type".to_owned(), "authorization_code".to_owned()),
        ("code".to_owned(), cb.code.to_owned()),
        ("redirect_uri".to_owned(), cb.redirect_uri.to_owned()),
        (
            "code_verifier".to_owned(),
            cb.code_verifier.expose_secret().to_owned(),
        ),
    ];
    params.extend(c.custom.iter().cloned());
    let request = token_post(http, &c.token_endpoint, &c.client, c.auth_method, params)?;
    let tokens = token_call(http, request, c.response_format, TOKEN_WHAT).await?;
    let request = http
        .client()
        .get(c.userinfo_endpoint.clone())
        .bearer_auth(tokens.access_token.expose_secret())
        .header(reqwest::header::ACCEPT, "application/json");
    let info = http
        .fetch_json(request, "the OAuth 2.0 userinfo endpoint")
        .await?;
    let Value::Object(info) = info else {
        return Err(ProviderError::InvalidResponse(
            "the OAuth 2.0 userinfo endpoint did not answer with an object".into(),
        ));
    };
    let profile = map_profile(&info, &c.profile_map)?;
    Ok((tokens, profile))
}

/// Looks a key up at the top level, then (for keys with dots) as a path into nested objects.
fn lookup<'v>(info: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    if let Some(v) = info.get(key) {
        return Some(v);
    }
    let mut parts = key.split('.');
    let mut current = info.get(parts.next()?)?;
    for part in parts {
        current = current.as_object()?.get(part)?;
    }
    Some(current)
}

fn map_profile(info: &Map<String, Value>, map: &ProfileMap) -> Result<UserProfile, ProviderError> {
    let id = match lookup(info, &map.id) {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => {
            return Err(ProviderError::InvalidResponse(format!(
                "the userinfo answer has no `{}` (profileMap.id)",
                crate::error::sanitize(&map.id, 60)
            )));
        }
    };
    let text = |key: &str| match lookup(info, key) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    Ok(UserProfile {
        id,
        email: text(&map.email),
        email_verified: crate::oidc::bool_claim(info.get("email_verified")),
        name: text(&map.name),
        avatar: text(&map.avatar),
        details: Value::Object(info.clone()),
    })
}

pub(crate) async fn refresh(
    http: &Http,
    c: &OAuth2Config,
    refresh_token: &SecretString,
) -> Result<TokenResponse, ProviderError> {
    let mut params = vec![
        ("grant_type".to_owned(), "refresh_token".to_owned()),
        (
            "refresh_token".to_owned(),
            refresh_token.expose_secret().to_owned(),
        ),
    ];
    params.extend(c.custom.iter().cloned());
    let request = token_post(http, &c.token_endpoint, &c.client, c.auth_method, params)?;
    token_call(http, request, c.response_format, TOKEN_WHAT).await
}

pub(crate) async fn revoke(
    http: &Http,
    c: &OAuth2Config,
    token: &SecretString,
) -> Result<(), ProviderError> {
    let Some(endpoint) = &c.revocation_endpoint else {
        return Err(ProviderError::NotSupported(
            "this OAuth 2.0 connector has no revocationEndpoint",
        ));
    };
    let params = vec![("token".to_owned(), token.expose_secret().to_owned())];
    let request = token_post(http, endpoint, &c.client, c.auth_method, params)?;
    revocation_call(http, request, "the OAuth 2.0 revocation endpoint").await
}
