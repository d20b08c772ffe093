//! `/oidc`: the OpenID provider's metadata, keys, token and introspection answers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use strongroom_core::exchange::Exchanged;
use strongroom_core::oidc::{Introspection, ReleasedClaims, SCOPES, Tokens, UserClaims};
use strongroom_core::store::SsoIdentity;
use utoipa::ToSchema;

use super::object;
use super::users::{Identity, identities};

/// The client authentication methods of revocation and introspection.
const CLIENT_AUTH: &[&str] = &["client_secret_basic", "client_secret_post", "none"];
/// The token endpoint's: those, and `private_key_jwt` (RFC 7523) for clients with keys.
const TOKEN_CLIENT_AUTH: &[&str] = &[
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
    "none",
];

/// OpenID Connect Discovery 1.0 and RFC 8414 metadata of the issuer `<endpoint>/oidc`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderMetadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub userinfo_endpoint: String,
    pub jwks_uri: String,
    pub end_session_endpoint: String,
    pub revocation_endpoint: String,
    pub introspection_endpoint: String,
    pub revocation_endpoint_auth_methods_supported: &'static [&'static str],
    pub introspection_endpoint_auth_methods_supported: &'static [&'static str],
    pub response_types_supported: &'static [&'static str],
    pub response_modes_supported: &'static [&'static str],
    pub grant_types_supported: &'static [&'static str],
    pub subject_types_supported: &'static [&'static str],
    pub id_token_signing_alg_values_supported: &'static [&'static str],
    pub token_endpoint_auth_methods_supported: &'static [&'static str],
    pub token_endpoint_auth_signing_alg_values_supported: &'static [&'static str],
    pub code_challenge_methods_supported: &'static [&'static str],
    pub scopes_supported: &'static [&'static str],
    pub claims_supported: &'static [&'static str],
    pub authorization_response_iss_parameter_supported: bool,
    pub claims_parameter_supported: bool,
    pub request_parameter_supported: bool,
    pub request_uri_parameter_supported: bool,
}

impl ProviderMetadata {
    pub fn new(issuer: &str) -> Self {
        let at = |path: &str| format!("{issuer}{path}");
        Self {
            issuer: issuer.to_owned(),
            authorization_endpoint: at("/auth"),
            token_endpoint: at("/token"),
            userinfo_endpoint: at("/me"),
            jwks_uri: at("/jwks"),
            end_session_endpoint: at("/session/end"),
            revocation_endpoint: at("/token/revocation"),
            introspection_endpoint: at("/token/introspection"),
            revocation_endpoint_auth_methods_supported: CLIENT_AUTH,
            introspection_endpoint_auth_methods_supported: CLIENT_AUTH,
            response_types_supported: &["code"],
            response_modes_supported: &["query"],
            grant_types_supported: &[
                "authorization_code",
                "refresh_token",
                "client_credentials",
                strongroom_core::exchange::GRANT_TYPE,
            ],
            subject_types_supported: &["public"],
            id_token_signing_alg_values_supported: &["RS256"],
            token_endpoint_auth_methods_supported: TOKEN_CLIENT_AUTH,
            token_endpoint_auth_signing_alg_values_supported: &[
                "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
            ],
            code_challenge_methods_supported: &["S256"],
            scopes_supported: SCOPES,
            claims_supported: &[
                "sub",
                "name",
                "username",
                "picture",
                "email",
                "email_verified",
                "auth_time",
                "nonce",
            ],
            authorization_response_iss_parameter_supported: true,
            claims_parameter_supported: false,
            request_parameter_supported: false,
            request_uri_parameter_supported: false,
        }
    }
}

/// An RSA public key (RFC 7517, RFC 7518 6.3.1).
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct Jwk {
    /// `RSA`.
    pub kty: String,
    /// `sig`.
    #[serde(rename = "use")]
    pub key_use: String,
    /// `RS256`.
    pub alg: String,
    pub kid: String,
    /// The modulus, base64url.
    pub n: String,
    /// The exponent, base64url.
    pub e: String,
}

/// A JWK set.
#[derive(Debug, Serialize, ToSchema)]
pub struct JwkSet {
    pub keys: Vec<Jwk>,
}

/// What the token endpoint answers: Strongroom's tokens, or (token exchange) a provider's.
#[allow(missing_debug_implementations)]
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // the document's schema of the answer; the handler answers either part
pub enum TokenEndpointResponse {
    Tokens(TokenResponse),
    Exchanged(ExchangeResponse),
}

/// A token endpoint answer. No `Debug`: it carries tokens. (`deny_unknown_fields` only tells
/// the schema that nothing else is answered, which sets it apart from [`ExchangeResponse`].)
#[allow(missing_debug_implementations)]
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenResponse {
    pub access_token: String,
    /// `Bearer`.
    pub token_type: &'static str,
    /// Seconds.
    pub expires_in: i64,
    pub scope: String,
    /// With the `offline_access` scope, from the authorization code and refresh grants.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// With the `openid` scope, from the authorization code and refresh grants.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

impl From<Tokens> for TokenResponse {
    fn from(t: Tokens) -> Self {
        Self {
            access_token: t.access_token,
            token_type: "Bearer",
            expires_in: t.expires_in,
            scope: t.scope,
            refresh_token: t.refresh_token,
            id_token: t.id_token,
        }
    }
}

/// RFC 8693 2.2.1: the user's provider access token, exchanged. Never a provider refresh or ID
/// token. No `Debug`: it carries a token.
#[allow(missing_debug_implementations)]
#[derive(Serialize, ToSchema)]
pub struct ExchangeResponse {
    /// The provider's access token.
    pub access_token: String,
    /// `urn:ietf:params:oauth:token-type:access_token`.
    pub issued_token_type: &'static str,
    /// The provider's token type; `Bearer` when it named none.
    pub token_type: String,
    /// Seconds the provider's token has left, when the provider said when it expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<i64>,
    /// The scope the provider granted, when it said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

impl From<Exchanged> for ExchangeResponse {
    fn from(e: Exchanged) -> Self {
        use strongroom_core::ExposeSecret;
        let token_type = match e.token.token_type.as_deref() {
            None | Some("") => "Bearer".to_owned(),
            Some(t) if t.eq_ignore_ascii_case("bearer") => "Bearer".to_owned(),
            Some(t) => t.to_owned(),
        };
        Self {
            access_token: e.token.access_token.expose_secret().to_owned(),
            issued_token_type: strongroom_core::exchange::ACCESS_TOKEN_TYPE,
            token_type,
            expires_in: e.token.expires_in,
            scope: e.token.scope,
        }
    }
}

/// RFC 7662: a live token's facts, or only `{active: false}`.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct IntrospectionResponse {
    pub active: bool,
    /// `Bearer` or `refresh_token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Seconds since the Unix epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// The user, for a user's token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// The resource (API) an access token is for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
}

impl IntrospectionResponse {
    pub fn new(found: Option<Introspection>, issuer: &str) -> Self {
        let Some(t) = found else {
            return Self::default();
        };
        Self {
            active: true,
            token_type: Some(if t.refresh { "refresh_token" } else { "Bearer" }),
            client_id: Some(t.client_id.to_string()),
            scope: Some(t.scope),
            iat: Some(t.issued_at_ms / 1000),
            exp: Some(t.expires_at_ms / 1000),
            iss: Some(issuer.to_owned()),
            sub: t.user_id.map(|u| u.to_string()),
            aud: t.resource,
        }
    }
}

/// What userinfo answers: the claims the token's scopes release, as in its ID token, and with
/// `identities` the user's identities (Logto's `userinfoClaims`). A released claim the user
/// lacks is `null`.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserInfo {
    pub sub: String,
    /// With `profile`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub picture: Option<Option<String>>,
    /// With `email`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// With `identities`: social identities by target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identities: Option<BTreeMap<String, Identity>>,
    /// With `identities`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sso_identities: Option<Vec<SsoIdentityClaim>>,
}

/// An SSO identity among userinfo's claims.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SsoIdentityClaim {
    pub issuer: String,
    /// The user's `sub` at the issuer.
    pub identity_id: String,
    pub detail: Map<String, Value>,
}

impl From<&SsoIdentity> for SsoIdentityClaim {
    fn from(i: &SsoIdentity) -> Self {
        Self {
            issuer: i.issuer.clone(),
            identity_id: i.identity_id.clone(),
            detail: object(&i.detail),
        }
    }
}

impl UserInfo {
    /// The claims of `user` that `scope` releases.
    pub fn new(user: &UserClaims, scope: &str) -> Self {
        let ReleasedClaims {
            sub,
            name,
            username,
            picture,
            email,
            email_verified,
        } = user.released(scope);
        let released = user.released_identities(scope);
        Self {
            sub,
            name,
            username,
            picture,
            email,
            email_verified,
            identities: released.map(|(social, _)| identities(social)),
            sso_identities: released.map(|(_, sso)| sso.iter().map(Into::into).collect()),
        }
    }
}
