//! The values exchanged with the callers of this crate.

use std::fmt;

use secrecy::SecretString;
use serde_json::{Map, Value};

use crate::error::ProviderError;

/// A provider's token endpoint answer. `Debug` prints no token (`SecretString` redacts them).
#[derive(Debug, Clone)]
pub struct TokenResponse {
    /// The access token (always present: an answer without one is an error).
    pub access_token: SecretString,
    /// The OpenID Connect ID token, when the provider issued one.
    pub id_token: Option<SecretString>,
    /// The refresh token, when the provider issued one. Refresh answers often carry none: the
    /// caller keeps the previous one then.
    pub refresh_token: Option<SecretString>,
    /// Lifetime of the access token in seconds. Accepted as a JSON number or a numeric string
    /// (Azure AD); an unparsable value is ignored (`None`).
    pub expires_in: Option<i64>,
    /// The granted scope, as the provider wrote it (GitHub separates with commas).
    pub scope: Option<String>,
    /// The token type (`bearer`, `Bearer`...).
    pub token_type: Option<String>,
}

impl TokenResponse {
    /// Reads a token answer already decoded into a JSON object (or a query string turned into
    /// one). Requires a non-empty string `access_token`.
    pub(crate) fn from_map(
        map: &Map<String, Value>,
        what: &'static str,
    ) -> Result<Self, ProviderError> {
        let access_token = match map.get("access_token") {
            Some(Value::String(s)) if !s.is_empty() => SecretString::from(s.clone()),
            _ => {
                return Err(ProviderError::InvalidResponse(format!(
                    "{what} answered without an access_token"
                )));
            }
        };
        Ok(TokenResponse {
            access_token,
            id_token: secret_field(map, "id_token"),
            refresh_token: secret_field(map, "refresh_token"),
            expires_in: map.get("expires_in").and_then(seconds),
            scope: match map.get("scope") {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Array(items)) => Some(
                    items
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(" "),
                ),
                _ => None,
            },
            token_type: map
                .get("token_type")
                .and_then(Value::as_str)
                .map(str::to_owned),
        })
    }
}

fn secret_field(map: &Map<String, Value>, key: &str) -> Option<SecretString> {
    match map.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Some(SecretString::from(s.clone())),
        _ => None,
    }
}

/// A number of seconds written as a JSON number or a numeric string.
pub(crate) fn seconds(value: &Value) -> Option<i64> {
    fn from_f64(f: f64) -> Option<i64> {
        (f.is_finite() && f.abs() < 1e15).then_some(f as i64)
    }
    match value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().and_then(from_f64)),
        Value::String(s) => {
            let s = s.trim();
            s.parse::<i64>()
                .ok()
                .or_else(|| s.parse::<f64>().ok().and_then(from_f64))
        }
        _ => None,
    }
}

/// Who signed in upstream. `details` is non-secret profile data (never tokens).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct UserProfile {
    /// The provider's stable user id (GitHub's numeric id as a string, the OIDC `sub`...).
    pub id: String,
    /// The e-mail address the provider reports, verified or not (see `email_verified`).
    pub email: Option<String>,
    /// Whether the provider says the address is verified; `None` when it does not say.
    pub email_verified: Option<bool>,
    /// Display name.
    pub name: Option<String>,
    /// Picture URL.
    pub avatar: Option<String>,
    /// The raw profile: GitHub `{"userInfo", "userEmails"}`, Google/OAuth 2.0 the userinfo
    /// JSON, Facebook the `/me` JSON, OIDC the ID token claims (without `nonce`, `at_hash`,
    /// `c_hash`) merged with the userinfo JSON.
    pub details: Value,
}

/// What Strongroom generated for this authorization attempt.
#[derive(Debug, Clone, Copy)]
pub struct AuthorizationRequest<'a> {
    /// The `state` bound to the browser.
    pub state: &'a str,
    /// Strongroom's callback URL for this connector.
    pub redirect_uri: &'a str,
    /// The OIDC nonce (sent to OpenID providers and Google).
    pub nonce: &'a str,
    /// PKCE: base64url(SHA-256(verifier)), sent with `code_challenge_method=S256`.
    pub code_challenge: &'a str,
    /// Overrides the configured scope.
    pub scope: Option<&'a str>,
    /// Sent as `login_hint` (OIDC, Google) or `login` (GitHub).
    pub login_hint: Option<&'a str>,
}

/// What came back to the callback, and what Strongroom kept from the request.
#[derive(Clone, Copy)]
pub struct Callback<'a> {
    /// The authorization code.
    pub code: &'a str,
    /// RFC 9207 `iss` from the callback query, when present.
    pub iss: Option<&'a str>,
    /// The same `redirect_uri` the authorization request used.
    pub redirect_uri: &'a str,
    /// The PKCE verifier.
    pub code_verifier: &'a SecretString,
    /// The nonce sent with the authorization request.
    pub nonce: &'a str,
}

impl fmt::Debug for Callback<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Callback")
            .field("code", &"[redacted]")
            .field("iss", &self.iss)
            .field("redirect_uri", &self.redirect_uri)
            .field("code_verifier", self.code_verifier)
            .field("nonce", &self.nonce)
            .finish()
    }
}
