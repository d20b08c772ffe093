//! Strongroom's upstream identity providers: GitHub, Google, Facebook, any OAuth 2.0 provider,
//! any OpenID provider, and enterprise OIDC single sign-on.
//!
//! For each: the authorization URL (with `state`, PKCE S256 wherever the provider takes it, and
//! the OIDC `nonce`), the code exchange with the user profile, refresh, and revocation. Provider
//! quirks stay in their module ([`github`](crate) answers errors with HTTP 200, Facebook has no
//! refresh tokens, ...).
//!
//! Every call goes through [`Http`]: no redirects followed, a total timeout, destinations
//! checked against an [`EgressPolicy`] after DNS resolution, and errors mapped to
//! [`ProviderError`] (timeout → `Timeout`, 5xx/429/unreachable/refused destination →
//! `Unavailable`, `invalid_grant` → `InvalidGrant`); [`ProviderError::public_message`] is the
//! text to show outside the logs. No token, code or client secret is ever logged or put in
//! an error text, and the config types redact `clientSecret` in `Debug`.
//!
//! # Connector configuration (Logto's field names, plus base-URL overrides)
//!
//! | factory | required | optional |
//! |---|---|---|
//! | `github` | `clientId`, `clientSecret` | `scope` (`read:user user:email`), `baseUrl` (`https://github.com`), `apiBaseUrl` (`https://api.github.com`) |
//! | `google` | `clientId`, `clientSecret` | `scope` (`openid profile email`), `prompts` (`["consent"]`), `offlineAccess` (`true`), `authorizationEndpoint`, `tokenEndpoint`, `userInfoEndpoint`, `revocationEndpoint`, `issuer` (`https://accounts.google.com`), `tokenEndpointAuthMethod` (`client_secret_basic`), `clientSecretJwtSigningAlgorithm` |
//! | `facebook` | `clientId`, `clientSecret` | `scope` (`email,public_profile`), `graphApiBaseUrl` (`https://graph.facebook.com/v23.0`), `dialogBaseUrl` (`https://www.facebook.com/v23.0`) |
//! | `oauth2` | `authorizationEndpoint`, `tokenEndpoint`, `userInfoEndpoint`, `clientId`, `clientSecret` | `scope`, `tokenEndpointResponseType` (`query-string` \| `json`, default `query-string`), `tokenEndpointAuthMethod` (`client_secret_post`), `clientSecretJwtSigningAlgorithm`, `profileMap` (`{id, email, name, avatar}`), `customConfig`, `revocationEndpoint`, `issuer` |
//! | `oidc` | `clientId`, `clientSecret`, `issuer` (or Logto's `idTokenVerificationConfig.issuer`) | `scope` (`openid profile email`; `openid` always added), `authorizationEndpoint`, `tokenEndpoint`, `userInfoEndpoint`, `jwksUri` (or `idTokenVerificationConfig.jwksUri`), `revocationEndpoint`, `idTokenVerificationConfig.algorithms`, `tokenEndpointAuthMethod` (`client_secret_basic`, or `client_secret_post` when discovery lists only that), `clientSecretJwtSigningAlgorithm`, `authRequestOptionalConfig`, `customConfig` |
//! | SSO `OIDC` | `clientId`, `clientSecret`, `issuer` | `scope` (`openid profile email`), `tokenEndpointAuthMethod` |
//!
//! The generic `oidc` connector fetches discovery only when one of `authorizationEndpoint`,
//! `tokenEndpoint`, `jwksUri` is missing; then the configured ones override the discovered.

mod config;
mod egress;
mod error;
mod facebook;
mod factories;
mod github;
mod google;
mod http;
pub mod jws;
mod oauth2;
mod oidc;
mod token;
mod types;

use std::fmt;
use std::sync::Arc;

use secrecy::SecretString;
use serde_json::Value;

pub use egress::{EgressPolicy, EgressRefusal, InvalidNetwork, IpNetwork};
pub use error::{CallbackProblem, ProviderError};
pub use factories::{FactoryMetadata, canonical_factory_id, social_factories};
pub use http::Http;
pub use types::{AuthorizationRequest, Callback, TokenResponse, UserProfile};

use config::Cfg;

#[derive(Debug, Clone)]
enum Social {
    Github(github::GithubConfig),
    Google(google::GoogleConfig),
    Facebook(facebook::FacebookConfig),
    OAuth2(oauth2::OAuth2Config),
    Oidc(oidc::OidcConfig),
}

/// A configured social connector. `Debug` redacts the client secret.
#[derive(Debug, Clone)]
pub struct SocialConnector {
    inner: Social,
}

impl SocialConnector {
    /// Builds a connector from its factory id (Strongroom's or Logto's, see
    /// [`canonical_factory_id`]) and its config JSON. Validates the config: errors are
    /// `Config("clientId is required")`-style texts naming the field.
    pub fn from_config(factory_id: &str, config: &Value) -> Result<Self, ProviderError> {
        let cfg = Cfg::new(config)?;
        let inner = match canonical_factory_id(factory_id) {
            Some("github") => Social::Github(github::GithubConfig::from_config(&cfg)?),
            Some("google") => Social::Google(google::GoogleConfig::from_config(&cfg)?),
            Some("facebook") => Social::Facebook(facebook::FacebookConfig::from_config(&cfg)?),
            Some("oauth2") => Social::OAuth2(oauth2::OAuth2Config::from_config(&cfg)?),
            Some("oidc") => Social::Oidc(oidc::OidcConfig::from_social(&cfg)?),
            _ => {
                return Err(ProviderError::Config(format!(
                    "unknown connector factory {}",
                    error::sanitize(factory_id, 60)
                )));
            }
        };
        Ok(SocialConnector { inner })
    }

    /// Logto's target: `"github"`, `"google"`, `"facebook"`, `"oauth2"` or `"oidc"`.
    pub fn target(&self) -> &'static str {
        match self.inner {
            Social::Github(_) => "github",
            Social::Google(_) => "google",
            Social::Facebook(_) => "facebook",
            Social::OAuth2(_) => "oauth2",
            Social::Oidc(_) => "oidc",
        }
    }
}

/// An enterprise SSO connector with `providerName` "OIDC": config
/// `{clientId, clientSecret, issuer, scope}`; everything else is discovered from the issuer.
/// `Debug` redacts the client secret.
#[derive(Debug, Clone)]
pub struct SsoOidcConnector {
    inner: oidc::OidcConfig,
}

impl SsoOidcConnector {
    /// Validates the config (`clientId`, `clientSecret`, `issuer` required; `scope` optional,
    /// `openid` always added; `tokenEndpointAuthMethod` optional).
    pub fn from_config(config: &Value) -> Result<Self, ProviderError> {
        Ok(SsoOidcConnector {
            inner: oidc::OidcConfig::from_sso(&Cfg::new(config)?)?,
        })
    }

    /// The configured issuer, exactly as configured.
    pub fn issuer(&self) -> &str {
        self.inner.issuer()
    }
}

/// A configured connector of either kind: what every provider call takes, so a rule about
/// connectors is written once for social and SSO sign-ins. `Debug` redacts the client secret.
#[derive(Debug, Clone)]
pub enum Connector {
    Social(SocialConnector),
    Sso(SsoOidcConnector),
}

impl Connector {
    /// Whether [`Providers::refresh`] can work (false for Facebook).
    pub fn supports_refresh(&self) -> bool {
        match self {
            Self::Social(c) => !matches!(c.inner, Social::Facebook(_)),
            Self::Sso(_) => true,
        }
    }

    /// Whether [`Providers::revoke`] wants the access token (GitHub's grant API, Facebook's
    /// permissions API) rather than the refresh token (which, elsewhere, ends the whole grant).
    pub fn revokes_with_access_token(&self) -> bool {
        match self {
            Self::Social(c) => matches!(c.inner, Social::Github(_) | Social::Facebook(_)),
            Self::Sso(_) => false,
        }
    }
}

impl From<SocialConnector> for Connector {
    fn from(c: SocialConnector) -> Self {
        Self::Social(c)
    }
}

impl From<SsoOidcConnector> for Connector {
    fn from(c: SsoOidcConnector) -> Self {
        Self::Sso(c)
    }
}

struct Inner {
    http: Http,
    oidc: oidc::OidcState,
}

/// The entry point: shared HTTP client plus the caches of OIDC discovery documents (per
/// issuer) and JWKS (per `jwks_uri`). Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub struct Providers {
    inner: Arc<Inner>,
}

impl fmt::Debug for Providers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Providers")
            .field("http", &self.inner.http)
            .field("oidc", &self.inner.oidc)
            .finish()
    }
}

/// A source of monotonic time: how the caches measure their entries' age.
pub type Now = Arc<dyn Fn() -> std::time::Instant + Send + Sync>;

impl Providers {
    /// Wraps the HTTP client; caches start empty.
    pub fn new(http: Http) -> Self {
        Self::with_clock(http, Arc::new(std::time::Instant::now))
    }

    /// As [`Providers::new`], with the caches' ages measured on `now` (a test moves it
    /// instead of sleeping past a cache's lifetime).
    pub fn with_clock(http: Http, now: Now) -> Self {
        Providers {
            inner: Arc::new(Inner {
                http,
                oidc: oidc::OidcState::new(now),
            }),
        }
    }

    fn http(&self) -> &Http {
        &self.inner.http
    }

    /// The URL to send the browser to. OIDC connectors may fetch the discovery document.
    pub async fn authorization_url(
        &self,
        c: &Connector,
        req: &AuthorizationRequest<'_>,
    ) -> Result<url::Url, ProviderError> {
        let oidc = match c {
            Connector::Social(s) => match &s.inner {
                Social::Github(g) => return Ok(github::authorization_url(g, req)),
                Social::Google(g) => return Ok(google::authorization_url(g, req)),
                Social::Facebook(f) => return Ok(facebook::authorization_url(f, req)),
                Social::OAuth2(o) => return Ok(oauth2::authorization_url(o, req)),
                Social::Oidc(o) => o,
            },
            Connector::Sso(s) => &s.inner,
        };
        self.inner
            .oidc
            .authorization_url(self.http(), oidc, req)
            .await
    }

    /// Exchanges the callback's code for tokens and reads the user's profile. Checks the RFC
    /// 9207 `iss` (OIDC, Google, and OAuth 2.0 with `issuer` configured) before the code is
    /// sent anywhere. Facebook returns the long-lived token.
    pub async fn exchange(
        &self,
        c: &Connector,
        cb: &Callback<'_>,
    ) -> Result<(TokenResponse, UserProfile), ProviderError> {
        let http = self.http();
        let oidc = match c {
            Connector::Social(s) => match &s.inner {
                Social::Github(g) => return github::exchange(http, g, cb).await,
                Social::Google(g) => return google::exchange(http, g, cb).await,
                Social::Facebook(f) => return facebook::exchange(http, f, cb).await,
                Social::OAuth2(o) => return oauth2::exchange(http, o, cb).await,
                Social::Oidc(o) => o,
            },
            Connector::Sso(s) => &s.inner,
        };
        self.inner.oidc.exchange(http, oidc, cb).await
    }

    /// `grant_type=refresh_token`. The answer often has no `refresh_token` (Google never
    /// sends one): the caller keeps the old one then. Facebook → `NotSupported`.
    pub async fn refresh(
        &self,
        c: &Connector,
        refresh_token: &SecretString,
    ) -> Result<TokenResponse, ProviderError> {
        let http = self.http();
        let oidc = match c {
            Connector::Social(s) => match &s.inner {
                Social::Github(g) => return github::refresh(http, g, refresh_token).await,
                Social::Google(g) => return google::refresh(http, g, refresh_token).await,
                Social::Facebook(_) => {
                    return Err(ProviderError::NotSupported(
                        "Facebook issues no refresh tokens",
                    ));
                }
                Social::OAuth2(o) => return oauth2::refresh(http, o, refresh_token).await,
                Social::Oidc(o) => o,
            },
            Connector::Sso(s) => &s.inner,
        };
        self.inner.oidc.refresh(http, oidc, refresh_token).await
    }

    /// Revokes a token at the provider: GitHub's `DELETE /applications/{client_id}/grant` (pass
    /// a live access token; this ends the user's whole grant, and a token GitHub does not know
    /// is an error, not a success), Facebook's `DELETE /me/permissions` (the access token),
    /// Google's revocation endpoint, the RFC 7009 endpoint of an OIDC provider (configured, or
    /// discovered from the issuer even when every other endpoint is configured) or an OAuth 2.0
    /// connector's `revocationEndpoint`. `NotSupported` where there is no endpoint.
    pub async fn revoke(&self, c: &Connector, token: &SecretString) -> Result<(), ProviderError> {
        let http = self.http();
        let oidc = match c {
            Connector::Social(s) => match &s.inner {
                Social::Github(g) => return github::revoke(http, g, token).await,
                Social::Google(g) => return google::revoke(http, g, token).await,
                Social::Facebook(f) => return facebook::revoke(http, f, token).await,
                Social::OAuth2(o) => return oauth2::revoke(http, o, token).await,
                Social::Oidc(o) => o,
            },
            Connector::Sso(s) => &s.inner,
        };
        self.inner.oidc.revoke(http, oidc, token).await
    }

    /// Discovers an SSO connector's provider (checking that its issuer answers) and returns
    /// its settings: `clientId`, `issuer`, `scope` and the endpoints (Logto's `providerConfig`).
    pub async fn sso_provider_config(&self, c: &SsoOidcConnector) -> Result<Value, ProviderError> {
        self.inner.oidc.provider_config(self.http(), &c.inner).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn providers_is_send_sync_clone() {
        fn check<T: Send + Sync + Clone + 'static>() {}
        check::<Providers>();
        check::<SocialConnector>();
        check::<SsoOidcConnector>();
        check::<Connector>();
    }
}
