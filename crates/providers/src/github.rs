//! GitHub (github.com and GitHub Enterprise Server): OAuth apps and GitHub apps.
//!
//! Quirks handled here: the token endpoint answers errors with HTTP 200 and an `error` member;
//! `id` is a number; the e-mail address may be private (then it comes from `/user/emails`);
//! GitHub apps with expiring user tokens return `refresh_token` and `expires_in`, OAuth apps
//! only `access_token`, `scope` and `token_type`.

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use url::Url;

use crate::config::{Cfg, join, with_query};
use crate::error::ProviderError;
use crate::http::Http;
use crate::token::{AuthMethod, ClientCredentials, ResponseFormat, token_call, token_post};
use crate::types::{AuthorizationRequest, Callback, TokenResponse, UserProfile};

pub(crate) const DEFAULT_SCOPE: &str = "read:user user:email";
pub(crate) const DEFAULT_BASE_URL: &str = "https://github.com";
pub(crate) const DEFAULT_API_BASE_URL: &str = "https://api.github.com";

#[derive(Debug, Clone)]
pub(crate) struct GithubConfig {
    client: ClientCredentials,
    scope: String,
    authorize: Url,
    token: Url,
    api_base: String,
}

impl GithubConfig {
    pub(crate) fn from_config(cfg: &Cfg<'_>) -> Result<Self, ProviderError> {
        let client = ClientCredentials {
            id: cfg.required_str("clientId")?,
            secret: SecretString::from(cfg.required_str("clientSecret")?),
        };
        let base = cfg.base_or("baseUrl", DEFAULT_BASE_URL)?;
        let api_base = cfg.base_or("apiBaseUrl", DEFAULT_API_BASE_URL)?;
        Ok(GithubConfig {
            client,
            scope: cfg
                .optional_str("scope")?
                .unwrap_or_else(|| DEFAULT_SCOPE.into()),
            authorize: join(&base, "/login/oauth/authorize", "baseUrl")?,
            token: join(&base, "/login/oauth/access_token", "baseUrl")?,
            api_base,
        })
    }
}

pub(crate) fn authorization_url(c: &GithubConfig, req: &AuthorizationRequest<'_>) -> Url {
    let mut params = vec![
        ("client_id", c.client.id.as_str()),
        ("redirect_uri", req.redirect_uri),
        ("scope", req.scope.unwrap_or(&c.scope)),
        ("state", req.state),
        ("code_challenge", req.code_challenge),
        ("code_challenge_method", "S256"),
    ];
    if let Some(login) = req.login_hint {
        params.push(("login", login));
    }
    with_query(&c.authorize, params)
}

const TOKEN_ENDPOINT: &str = "GitHub's token endpoint";

pub(crate) async fn exchange(
    http: &Http,
    c: &GithubConfig,
    cb: &Callback<'_>,
) -> Result<(TokenResponse, UserProfile), ProviderError> {
    let params = vec![
        ("code".to_owned(), cb.code.to_owned()),
        ("redirect_uri".to_owned(), cb.redirect_uri.to_owned()),
        (
            "code_verifier".to_owned(),
            cb.code_verifier.expose_secret().to_owned(),
        ),
    ];
    let request = token_post(http, &c.token, &c.client, AuthMethod::Post, params)?;
    let tokens = token_call(http, request, ResponseFormat::Json, TOKEN_ENDPOINT).await?;
    let profile = user_profile(http, c, &tokens).await?;
    Ok((tokens, profile))
}

pub(crate) async fn refresh(
    http: &Http,
    c: &GithubConfig,
    refresh_token: &SecretString,
) -> Result<TokenResponse, ProviderError> {
    let params = vec![
        ("grant_type".to_owned(), "refresh_token".to_owned()),
        (
            "refresh_token".to_owned(),
            refresh_token.expose_secret().to_owned(),
        ),
    ];
    let request = token_post(http, &c.token, &c.client, AuthMethod::Post, params)?;
    token_call(http, request, ResponseFormat::Json, TOKEN_ENDPOINT).await
}

/// `DELETE /applications/{client_id}/grant`: revokes the user's whole authorization of the app
/// (every token of that user for this app). `token` must be an access token.
pub(crate) async fn revoke(
    http: &Http,
    c: &GithubConfig,
    token: &SecretString,
) -> Result<(), ProviderError> {
    const WHAT: &str = "GitHub's grant revocation API";
    let mut url = join(&c.api_base, "/applications", "apiBaseUrl")?;
    url.path_segments_mut()
        .map_err(|_| ProviderError::Config("apiBaseUrl cannot be a base URL".into()))?
        .push(&c.client.id)
        .push("grant");
    let request = http
        .client()
        .delete(url)
        .basic_auth(&c.client.id, Some(c.client.secret.expose_secret()))
        .header(reqwest::header::ACCEPT, "application/vnd.github+json")
        .header("X-GitHub-Api-Version", "2022-11-28")
        .json(&json!({ "access_token": token.expose_secret() }));
    let answer = http.fetch(request, WHAT).await?;
    if answer.status == reqwest::StatusCode::NOT_FOUND {
        // GitHub does not know this access token: it may have expired (a GitHub App's user
        // token lives 8 hours) while the grant, and its refresh token, live on. Not a
        // confirmed revocation.
        return Err(ProviderError::InvalidGrant(
            "GitHub does not know the access token (HTTP 404); the grant is not confirmed revoked"
                .into(),
        ));
    }
    answer.expect_success(WHAT)
}

fn api_get(http: &Http, url: Url, token: &SecretString) -> reqwest::RequestBuilder {
    http.client()
        .get(url)
        .bearer_auth(token.expose_secret())
        .header(reqwest::header::ACCEPT, "application/vnd.github+json")
        .header("X-GitHub-Api-Version", "2022-11-28")
}

/// Whether the granted scope lets us read `/user/emails`. GitHub apps have no scopes (an empty
/// `scope`): their permissions decide, so we try.
fn may_read_emails(scope: Option<&str>) -> bool {
    match scope {
        None => true,
        Some(s) if s.trim().is_empty() => true,
        Some(s) => s
            .split([',', ' '])
            .any(|part| matches!(part.trim(), "user:email" | "user")),
    }
}

async fn user_profile(
    http: &Http,
    c: &GithubConfig,
    tokens: &TokenResponse,
) -> Result<UserProfile, ProviderError> {
    let user_url = join(&c.api_base, "/user", "apiBaseUrl")?;
    let emails_url = join(&c.api_base, "/user/emails", "apiBaseUrl")?;
    let user_call = http.fetch_json(
        api_get(http, user_url, &tokens.access_token),
        "GitHub's user API",
    );
    let emails_call = async {
        if !may_read_emails(tokens.scope.as_deref()) {
            return None;
        }
        match http
            .fetch_json(
                api_get(http, emails_url, &tokens.access_token),
                "GitHub's user e-mails API",
            )
            .await
        {
            Ok(Value::Array(items)) => Some(items),
            Ok(_) => None,
            Err(e) => {
                // GitHub apps without the e-mail permission get 403/404: not an error.
                tracing::debug!(error = %e, "GitHub e-mail addresses not readable");
                None
            }
        }
    };
    let (user, emails) = tokio::join!(user_call, emails_call);
    let user = user?;
    let id = match user.get("id") {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => {
            return Err(ProviderError::InvalidResponse(
                "GitHub's user API answered without an id".into(),
            ));
        }
    };
    let text = |key: &str| {
        user.get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let public_email = text("email");
    let listed = |pred: &dyn Fn(&Value) -> bool| -> Option<&Value> {
        emails
            .as_ref()
            .and_then(|items| items.iter().find(|e| pred(e)))
    };
    let is_true = |e: &Value, key: &str| e.get(key).and_then(Value::as_bool) == Some(true);
    let (email, email_verified) = match public_email {
        Some(email) => {
            let verified = emails.as_ref().map(|_| {
                listed(&|e| e.get("email").and_then(Value::as_str) == Some(email.as_str()))
                    .is_some_and(|e| is_true(e, "verified"))
            });
            (Some(email), verified)
        }
        None => match listed(&|e| is_true(e, "primary") && is_true(e, "verified")) {
            Some(e) => (
                e.get("email").and_then(Value::as_str).map(str::to_owned),
                Some(true),
            ),
            None => (None, None),
        },
    };
    Ok(UserProfile {
        id,
        email,
        email_verified,
        name: text("name"),
        avatar: text("avatar_url"),
        details: json!({
            "userInfo": user,
            "userEmails": emails.unwrap_or_default(),
        }),
    })
}
