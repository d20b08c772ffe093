//! Token exchange (RFC 8693): a backend, worker or agent presents a user's Strongroom token and
//! gets that user's provider access token for one connection, read (and refreshed) exactly as
//! the Account API reads it. Break-glass workers name the user by id instead, authenticated
//! with `private_key_jwt` (RFC 7523). What each application may do is its
//! [`TokenExchangeSettings`], set by an administrator; everything else is refused with the RFC's
//! error and a stable code.

use strongroom_store::{
    ApplicationId, ApplicationRow, IdentityKey, SsoConnectorId, Store, TokenExchangeSettings,
    UserId,
};

use crate::applications::is_confidential;
use crate::metrics::Metrics;
use crate::oidc::{OAuthError, Oidc, has_scope};
use crate::token_access::{
    AccessToken, ActorToken, Reader, TokenAccess, TokenError, Via, check_purpose,
};
use crate::{CoreError, Result};

/// `grant_type` of a token exchange.
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// RFC 8693 token type URIs.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
pub const REFRESH_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:refresh_token";
pub const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";
/// Strongroom's subject token type of a break-glass read: the token is the user's id.
pub const USER_ID_TYPE: &str = "urn:strongroom:params:oauth:token-type:user_id";
/// The `resource` prefixes naming a social connection (by target) and an SSO one (by id).
pub const SOCIAL_RESOURCE: &str = "urn:strongroom:connector:";
pub const SSO_RESOURCE: &str = "urn:strongroom:sso-connector:";

/// Most connections, and most applications acted for, one application lists.
const MAX_LISTED: usize = 64;
/// Most keys in an application's JWKS, and the JWKS's largest size in bytes.
const MAX_KEYS: usize = 10;
const MAX_JWKS_BYTES: usize = 16 * 1024;

/// The connection a `resource` (or `audience`) names.
pub fn connection_of(resource: &str) -> Option<IdentityKey> {
    let named = |rest: &str| {
        (!rest.is_empty()
            && rest.len() <= 128
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)))
        .then(|| rest.to_owned())
    };
    if let Some(target) = resource.strip_prefix(SOCIAL_RESOURCE) {
        return named(target).map(IdentityKey::Social);
    }
    let id = resource.strip_prefix(SSO_RESOURCE)?;
    named(id).map(|id| IdentityKey::Sso(SsoConnectorId::from(id)))
}

/// The `resource` that names a connection.
pub fn resource_of(identity: &IdentityKey) -> String {
    match identity {
        IdentityKey::Social(target) => format!("{SOCIAL_RESOURCE}{target}"),
        IdentityKey::Sso(id) => format!("{SSO_RESOURCE}{}", id.as_str()),
    }
}

/// How the client of a token request authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// A public client: no credentials.
    None,
    ClientSecret,
    /// A client assertion signed with one of its registered keys (RFC 7523).
    PrivateKeyJwt,
}

/// The parameters of a token exchange request. `Debug` prints no token.
#[derive(Default, Clone, Copy)]
pub struct ExchangeRequest<'a> {
    pub subject_token: Option<&'a str>,
    pub subject_token_type: Option<&'a str>,
    pub actor_token: Option<&'a str>,
    pub actor_token_type: Option<&'a str>,
    pub resource: Option<&'a str>,
    pub audience: Option<&'a str>,
    pub requested_token_type: Option<&'a str>,
    /// Strongroom's: what the caller reads the token for (audited).
    pub purpose: Option<&'a str>,
}

impl std::fmt::Debug for ExchangeRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExchangeRequest")
            .field("subject_token_type", &self.subject_token_type)
            .field("actor_token_type", &self.actor_token_type)
            .field("resource", &self.resource)
            .field("audience", &self.audience)
            .field("requested_token_type", &self.requested_token_type)
            .field("purpose", &self.purpose)
            .finish_non_exhaustive()
    }
}

/// What an exchange hands out: the provider's access token, never its refresh or ID token.
#[derive(Debug, Clone)]
pub struct Exchanged {
    pub token: AccessToken,
}

/// Checks the settings an administrator gives `app` (before they are saved).
pub async fn check_settings(
    store: &Store,
    app: &ApplicationRow,
    settings: &TokenExchangeSettings,
) -> Result<()> {
    let invalid = |text: String| Err(CoreError::Validation(text));
    if app.is_third_party && (settings.enabled || settings.worker) {
        return invalid("a third-party application can never exchange tokens".into());
    }
    if settings.connectors.len() > MAX_LISTED || settings.act_for.len() > MAX_LISTED {
        return invalid(format!(
            "tokenExchange lists at most {MAX_LISTED} connectors and {MAX_LISTED} applications"
        ));
    }
    for resource in &settings.connectors {
        if connection_of(resource).is_none() {
            return invalid(format!(
                "`{}` names no connection: {SOCIAL_RESOURCE}<target> or {SSO_RESOURCE}<id>",
                resource.chars().take(100).collect::<String>()
            ));
        }
    }
    for id in &settings.act_for {
        let known = id.len() <= 128
            && store
                .get_application(&ApplicationId::from(id.clone()))
                .await?
                .is_some();
        if !known || id == app.id.as_str() {
            return invalid(format!(
                "actFor: `{}` is not another application",
                id.chars().take(100).collect::<String>()
            ));
        }
    }
    if let Some(jwks) = &settings.jwks {
        check_jwks(app, jwks)?;
    }
    if settings.worker && settings.jwks.is_none() {
        return invalid(
            "a worker authenticates with private_key_jwt: register its public keys (jwks)".into(),
        );
    }
    Ok(())
}

/// A JWKS an administrator registers for `private_key_jwt`: public signing keys only.
fn check_jwks(app: &ApplicationRow, jwks: &serde_json::Value) -> Result<()> {
    let invalid = |text: &str| Err(CoreError::Validation(text.to_owned()));
    if !is_confidential(&app.app_type) {
        return invalid(
            "only a confidential application (Traditional, MachineToMachine) authenticates with keys",
        );
    }
    if jwks.to_string().len() > MAX_JWKS_BYTES {
        return invalid("jwks is at most 16 KiB");
    }
    let Some(keys) = jwks.get("keys").and_then(serde_json::Value::as_array) else {
        return invalid("jwks is a JWK set: {\"keys\": [...]}");
    };
    if keys.is_empty() || keys.len() > MAX_KEYS {
        return invalid("jwks holds 1 to 10 keys");
    }
    for key in keys {
        // A private key pasted here would be a secret kept in plain text: refuse it.
        if ["d", "p", "q", "dp", "dq", "qi", "k"]
            .iter()
            .any(|member| key.get(member).is_some())
        {
            return invalid(
                "jwks must hold public keys only: a key has private or symmetric members",
            );
        }
        if strongroom_providers::jws::VerifyKey::from_jwk(key).is_none() {
            return invalid(
                "every jwks key is an RSA, EC (P-256, P-384) or Ed25519 public signing key",
            );
        }
    }
    Ok(())
}

/// The token-exchange service.
#[derive(Debug, Clone)]
pub struct TokenExchange {
    oidc: Oidc,
    token_access: TokenAccess,
    metrics: Metrics,
}

fn invalid_request(code: &'static str, text: impl Into<String>) -> OAuthError {
    OAuthError::new("invalid_request", text).with_code(code)
}

fn unauthorized(code: &'static str, text: &str) -> OAuthError {
    OAuthError::new("unauthorized_client", text).with_code(code)
}

/// RFC 8693 2.2.2: a subject or actor token that is invalid for any reason is
/// `invalid_request`; the code says which token.
fn invalid_subject(text: &str) -> OAuthError {
    invalid_request("token_exchange.invalid_subject_token", text)
}

impl TokenExchange {
    pub fn new(oidc: Oidc, token_access: TokenAccess, metrics: Metrics) -> Self {
        Self {
            oidc,
            token_access,
            metrics,
        }
    }

    /// Exchanges for `app` (authenticated by `auth`) as `request` asks; counts the outcome.
    pub async fn exchange(
        &self,
        app: &ApplicationRow,
        auth: ClientAuth,
        request: &ExchangeRequest<'_>,
    ) -> std::result::Result<Exchanged, OAuthError> {
        let result = self.exchange_for(app, auth, request).await;
        self.metrics.exchange(match &result {
            Ok(_) => "success",
            Err(e) => e.code.unwrap_or(e.error),
        });
        result
    }

    async fn exchange_for(
        &self,
        app: &ApplicationRow,
        auth: ClientAuth,
        request: &ExchangeRequest<'_>,
    ) -> std::result::Result<Exchanged, OAuthError> {
        let settings = &app.token_exchange;
        if app.is_third_party {
            return Err(unauthorized(
                "token_exchange.third_party",
                "a third-party application can never exchange tokens",
            ));
        }
        let worker = request.subject_token_type == Some(USER_ID_TYPE);
        if worker {
            if !settings.worker {
                return Err(unauthorized(
                    "token_exchange.worker_not_allowed",
                    "this application may not read without a user token",
                ));
            }
            if auth != ClientAuth::PrivateKeyJwt {
                return Err(unauthorized(
                    "token_exchange.private_key_jwt_required",
                    "a read without a user token needs private_key_jwt client authentication",
                ));
            }
        } else if !settings.enabled {
            return Err(unauthorized(
                "token_exchange.not_enabled",
                "token exchange is not enabled for this application",
            ));
        }
        if request
            .requested_token_type
            .is_some_and(|t| t != ACCESS_TOKEN_TYPE)
        {
            return Err(invalid_request(
                "token_exchange.unsupported_requested_token_type",
                format!(
                    "requested_token_type must be {ACCESS_TOKEN_TYPE}: a provider's access token"
                ),
            ));
        }
        let identity = Self::connection(settings, request)?;
        let purpose = check_purpose(request.purpose)
            .map_err(|e| invalid_request("token_exchange.invalid_purpose", e.to_string()))?;
        let (user, via) = if worker {
            (Self::named_user(request.subject_token)?, Via::Worker)
        } else {
            (self.subject(app, request).await?, Via::Exchange)
        };
        let actor = self.actor(request).await?;
        let reader = Reader {
            application: app.id.clone(),
            via,
            actor,
            purpose,
        };
        let token = self
            .token_access
            .access_token(&user, &reader, &identity)
            .await
            .map_err(refused)?;
        Ok(Exchanged { token })
    }

    /// The listed connection `resource` (or `audience`) names.
    fn connection(
        settings: &TokenExchangeSettings,
        request: &ExchangeRequest<'_>,
    ) -> std::result::Result<IdentityKey, OAuthError> {
        let resource = match (request.resource, request.audience) {
            (Some(r), None) | (None, Some(r)) => r,
            (Some(r), Some(a)) if r == a => r,
            (Some(_), Some(_)) => {
                return Err(invalid_request(
                    "token_exchange.invalid_target",
                    "resource and audience name different connections",
                ));
            }
            (None, None) => {
                return Err(invalid_request(
                    "token_exchange.missing_target",
                    format!(
                        "resource names the connection: {SOCIAL_RESOURCE}<target> or {SSO_RESOURCE}<id>"
                    ),
                ));
            }
        };
        let target = |code, text: String| OAuthError::new("invalid_target", text).with_code(code);
        let identity = connection_of(resource).ok_or_else(|| {
            target(
                "token_exchange.unknown_target",
                format!(
                    "the resource names no connection: {SOCIAL_RESOURCE}<target> or {SSO_RESOURCE}<id>"
                ),
            )
        })?;
        if !settings.connectors.iter().any(|c| c == resource) {
            return Err(target(
                "token_exchange.connector_not_listed",
                "this application may not read tokens of this connection".into(),
            ));
        }
        Ok(identity)
    }

    /// The user a break-glass worker names.
    fn named_user(subject: Option<&str>) -> std::result::Result<UserId, OAuthError> {
        let id = subject
            .filter(|id| !id.is_empty() && id.len() <= 128)
            .ok_or_else(|| invalid_subject("subject_token is the id of the user"))?;
        Ok(UserId::from(id.to_owned()))
    }

    /// The user of a live subject token that `app` may present: issued to it (or to an
    /// application it acts for), with the `identities` scope the user consented to.
    async fn subject(
        &self,
        app: &ApplicationRow,
        request: &ExchangeRequest<'_>,
    ) -> std::result::Result<UserId, OAuthError> {
        let token = request
            .subject_token
            .ok_or_else(|| invalid_subject("subject_token is required"))?;
        let holder = match request.subject_token_type {
            Some(ACCESS_TOKEN_TYPE) => self.oidc.live_access_token(token).await?,
            Some(REFRESH_TOKEN_TYPE) => self.oidc.live_refresh_token(token).await?,
            Some(ID_TOKEN_TYPE) => {
                return Err(invalid_request(
                    "token_exchange.unsupported_subject_token_type",
                    "an ID token says who signed in, it grants nothing: present the user's access or refresh token",
                ));
            }
            Some(_) | None => {
                return Err(invalid_request(
                    "token_exchange.unsupported_subject_token_type",
                    format!(
                        "subject_token_type is {ACCESS_TOKEN_TYPE}, {REFRESH_TOKEN_TYPE} or (workers) {USER_ID_TYPE}"
                    ),
                ));
            }
        };
        let holder = holder
            .ok_or_else(|| invalid_subject("the subject token is unknown, expired or revoked"))?;
        let issued_to = &holder.client_id;
        if issued_to != &app.id
            && !app
                .token_exchange
                .act_for
                .iter()
                .any(|a| a == issued_to.as_str())
        {
            return Err(invalid_request(
                "token_exchange.subject_of_another_application",
                "the subject token was issued to an application this one does not act for",
            ));
        }
        if !has_scope(&holder.scope, "identities") {
            return Err(invalid_request(
                "token_exchange.subject_without_identities_scope",
                "the subject token lacks the identities scope: the user did not grant provider tokens",
            ));
        }
        holder
            .user_id
            .ok_or_else(|| invalid_subject("the subject token is no user's token"))
    }

    /// The holder of the actor token, when one is given (a live Strongroom access token).
    async fn actor(
        &self,
        request: &ExchangeRequest<'_>,
    ) -> std::result::Result<Option<ActorToken>, OAuthError> {
        let invalid = |text: &str| invalid_request("token_exchange.invalid_actor_token", text);
        let Some(token) = request.actor_token else {
            return match request.actor_token_type {
                None => Ok(None),
                Some(_) => Err(invalid("actor_token_type without actor_token")),
            };
        };
        if request.actor_token_type != Some(ACCESS_TOKEN_TYPE) {
            return Err(invalid(
                "actor_token_type must be urn:ietf:params:oauth:token-type:access_token",
            ));
        }
        let holder = self
            .oidc
            .live_access_token(token)
            .await?
            .ok_or_else(|| invalid("the actor token is unknown, expired or revoked"))?;
        Ok(Some(ActorToken {
            application: holder.client_id,
            user: holder.user_id,
        }))
    }
}

/// A read that handed out nothing, as RFC 6749/8693 errors with the Account API's codes.
fn refused(e: TokenError) -> OAuthError {
    let text = e.to_string();
    match e {
        TokenError::NotFound => OAuthError::new("invalid_target", text)
            .with_code("secrets.third_party_token_set.token_not_found"),
        TokenError::Expired => OAuthError::new("invalid_grant", text)
            .with_code("secrets.third_party_token_set.access_token_expired"),
        TokenError::RefreshTokenRevoked => OAuthError::new("invalid_grant", text)
            .with_code("secrets.third_party_token_set.refresh_token_revoked"),
        TokenError::ProviderUnavailable => OAuthError::new("temporarily_unavailable", text)
            .with_code("connector.provider_unavailable"),
        TokenError::ProviderInvalidResponse => {
            OAuthError::new("temporarily_unavailable", text).with_code("connector.invalid_response")
        }
        TokenError::Core(e) => crate::oidc::server_error(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_name_social_and_sso_connections_and_nothing_else() {
        assert_eq!(
            connection_of("urn:strongroom:connector:github"),
            Some(IdentityKey::Social("github".into()))
        );
        assert_eq!(
            connection_of("urn:strongroom:sso-connector:abc-1"),
            Some(IdentityKey::Sso(SsoConnectorId::from("abc-1".to_owned())))
        );
        for bad in [
            "urn:strongroom:connector:",
            "urn:strongroom:connector:a b",
            "urn:strongroom:connector:../x",
            "urn:strongroom:connector:a/b",
            "https://api.github.com",
            "urn:strongroom:sso-connector:",
            "",
        ] {
            assert_eq!(connection_of(bad), None, "{bad}");
        }
        for identity in [
            IdentityKey::Social("google".into()),
            IdentityKey::Sso(SsoConnectorId::from("x".to_owned())),
        ] {
            assert_eq!(connection_of(&resource_of(&identity)), Some(identity));
        }
    }
}
