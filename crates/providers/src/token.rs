//! Token endpoint calls shared by every provider: client authentication, request shape and the
//! interpretation of the answer.

use std::fmt;

use base64::Engine as _;
use reqwest::RequestBuilder;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use url::Url;

use crate::error::{ProviderError, oauth_error, sanitize};
use crate::http::{Answer, Http};
use crate::types::TokenResponse;

/// How the client authenticates at the token endpoint (Logto's `tokenEndpointAuthMethod`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthMethod {
    /// `client_secret_basic`: HTTP Basic with the form-urlencoded id and secret.
    Basic,
    /// `client_secret_post`: `client_id` and `client_secret` in the form.
    Post,
    /// `client_secret_jwt`: an HMAC-signed assertion (RFC 7523).
    Jwt(jsonwebtoken::Algorithm),
}

impl AuthMethod {
    /// Reads `tokenEndpointAuthMethod` (and `clientSecretJwtSigningAlgorithm`).
    pub(crate) fn from_config(
        method: Option<&str>,
        jwt_alg: Option<&str>,
    ) -> Result<Option<Self>, ProviderError> {
        Ok(match method {
            None => None,
            Some("client_secret_basic") => Some(AuthMethod::Basic),
            Some("client_secret_post") => Some(AuthMethod::Post),
            Some("client_secret_jwt") => Some(AuthMethod::Jwt(match jwt_alg.unwrap_or("HS256") {
                "HS256" => jsonwebtoken::Algorithm::HS256,
                "HS384" => jsonwebtoken::Algorithm::HS384,
                "HS512" => jsonwebtoken::Algorithm::HS512,
                _ => {
                    return Err(ProviderError::Config(
                        "clientSecretJwtSigningAlgorithm must be HS256, HS384 or HS512".into(),
                    ));
                }
            })),
            Some(_) => {
                return Err(ProviderError::Config(
                    "tokenEndpointAuthMethod must be client_secret_basic, client_secret_post or client_secret_jwt"
                        .into(),
                ));
            }
        })
    }
}

/// A client id and secret. `Debug` redacts the secret.
#[derive(Clone)]
pub(crate) struct ClientCredentials {
    pub(crate) id: String,
    pub(crate) secret: SecretString,
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("id", &self.id)
            .field("secret", &"[redacted]")
            .finish()
    }
}

impl ClientCredentials {
    /// `Authorization: Basic` value per RFC 6749 2.3.1: id and secret are each
    /// form-urlencoded before being joined with `:` and base64-encoded.
    pub(crate) fn basic_header(&self) -> String {
        let id: String = url::form_urlencoded::byte_serialize(self.id.as_bytes()).collect();
        let secret: String =
            url::form_urlencoded::byte_serialize(self.secret.expose_secret().as_bytes()).collect();
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
        )
    }
}

/// How the token endpoint writes its answer (Logto's `tokenEndpointResponseType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResponseFormat {
    Json,
    QueryString,
}

/// A POST to a token endpoint: form body, `Accept: application/json`, client authentication.
pub(crate) fn token_post(
    http: &Http,
    endpoint: &Url,
    client: &ClientCredentials,
    method: AuthMethod,
    mut params: Vec<(String, String)>,
) -> Result<RequestBuilder, ProviderError> {
    let mut request = http
        .client()
        .post(endpoint.clone())
        .header(reqwest::header::ACCEPT, "application/json");
    match method {
        AuthMethod::Basic => {
            request = request.header(reqwest::header::AUTHORIZATION, client.basic_header());
        }
        AuthMethod::Post => {
            params.push(("client_id".into(), client.id.clone()));
            params.push((
                "client_secret".into(),
                client.secret.expose_secret().to_owned(),
            ));
        }
        AuthMethod::Jwt(alg) => {
            params.push(("client_id".into(), client.id.clone()));
            params.push((
                "client_assertion_type".into(),
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
            ));
            params.push((
                "client_assertion".into(),
                client_secret_jwt(client, endpoint, alg)?,
            ));
        }
    }
    Ok(request.form(&params))
}

fn client_secret_jwt(
    client: &ClientCredentials,
    endpoint: &Url,
    alg: jsonwebtoken::Algorithm,
) -> Result<String, ProviderError> {
    let mut jti = [0u8; 16];
    aws_lc_rs::rand::fill(&mut jti)
        .map_err(|_| ProviderError::Config("no randomness available".into()))?;
    let now = jsonwebtoken::get_current_timestamp();
    let claims = serde_json::json!({
        "iss": client.id,
        "sub": client.id,
        "aud": endpoint.as_str(),
        "jti": jti.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        "iat": now,
        "exp": now + 300,
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(alg),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(client.secret.expose_secret().as_bytes()),
    )
    .map_err(|_| ProviderError::Config("cannot sign the client assertion".into()))
}

/// Sends a token request and interprets the answer:
/// - 3xx → `InvalidResponse`, 5xx/429 → `Unavailable`, timeout → `Timeout` (see [`Http::fetch`]);
/// - an `error` member, whatever the status (GitHub answers errors with HTTP 200) →
///   `InvalidGrant` for `invalid_grant` and its GitHub spellings, else `OAuth`;
///   Facebook's `{"error": {"message", "type", "code"}}` likewise;
/// - another non-2xx, a body that does not parse, or no `access_token` → `InvalidResponse`.
pub(crate) async fn token_call(
    http: &Http,
    request: RequestBuilder,
    format: ResponseFormat,
    what: &'static str,
) -> Result<TokenResponse, ProviderError> {
    let answer = http.fetch(request, what).await?;
    let map = parse_token_body(&answer, format);
    if let Some(map) = &map
        && let Some(err) = error_in(map)
    {
        tracing::warn!(status = answer.status.as_u16(), endpoint = what, error = %err, "token endpoint returned an error");
        return Err(err);
    }
    if !answer.status.is_success() {
        tracing::warn!(
            status = answer.status.as_u16(),
            endpoint = what,
            "token endpoint failed"
        );
        return Err(ProviderError::InvalidResponse(format!(
            "{what} answered HTTP {}",
            answer.status.as_u16()
        )));
    }
    match map {
        Some(map) => TokenResponse::from_map(&map, what),
        None => Err(ProviderError::InvalidResponse(format!(
            "{what} answered with a body that cannot be parsed"
        ))),
    }
}

/// The answer as a JSON object, or as a query string turned into one (values are strings).
/// The configured format is tried first, then the other one.
fn parse_token_body(answer: &Answer, format: ResponseFormat) -> Option<Map<String, Value>> {
    let json = || match serde_json::from_slice::<Value>(&answer.body) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    };
    let query = || {
        let text = std::str::from_utf8(&answer.body).ok()?.trim();
        if text.is_empty() || text.starts_with('{') || text.starts_with('<') {
            return None;
        }
        let map: Map<String, Value> = url::form_urlencoded::parse(text.as_bytes())
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect();
        (map.contains_key("access_token") || map.contains_key("error")).then_some(map)
    };
    match format {
        ResponseFormat::Json => json().or_else(query),
        ResponseFormat::QueryString => {
            if answer.is_json() {
                json().or_else(query)
            } else {
                query().or_else(json)
            }
        }
    }
}

/// An OAuth error inside a (token, revocation) answer, if there is one.
pub(crate) fn error_in(map: &Map<String, Value>) -> Option<ProviderError> {
    match map.get("error")? {
        Value::String(error) if !error.is_empty() => Some(oauth_error(
            error,
            map.get("error_description").and_then(Value::as_str),
        )),
        // Facebook: {"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}.
        Value::Object(fb) => {
            let message = fb
                .get("message")
                .and_then(Value::as_str)
                .map(|m| sanitize(m, 300));
            let kind = fb
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("facebook_error");
            let code = fb.get("code").and_then(Value::as_i64);
            let about_code = message.as_deref().is_some_and(|m| {
                let m = m.to_ascii_lowercase();
                m.contains("authorization code") || m.contains("verification code")
            });
            // 190: the access token is invalid or expired; 100 about the code: the code was
            // used already, has expired or is malformed.
            if code == Some(190) || (code == Some(100) && about_code) {
                Some(ProviderError::InvalidGrant(
                    message.unwrap_or_else(|| sanitize(kind, 80)),
                ))
            } else {
                Some(ProviderError::OAuth {
                    error: sanitize(kind, 80),
                    description: message,
                })
            }
        }
        _ => None,
    }
}

/// An RFC 7009 revocation request. 200 is success; an `invalid_token` answer means the token
/// is no longer usable, which is what revocation wants, so it is success too.
pub(crate) async fn revocation_call(
    http: &Http,
    request: RequestBuilder,
    what: &'static str,
) -> Result<(), ProviderError> {
    let answer = http.fetch(request, what).await?;
    if answer.status.is_success() {
        return Ok(());
    }
    if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(&answer.body) {
        if map.get("error").and_then(Value::as_str) == Some("invalid_token") {
            tracing::debug!(endpoint = what, "token already invalid at the provider");
            return Ok(());
        }
        if let Some(err) = error_in(&map) {
            return Err(err);
        }
    }
    Err(ProviderError::InvalidResponse(format!(
        "{what} answered HTTP {}",
        answer.status.as_u16()
    )))
}
