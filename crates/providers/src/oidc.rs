//! OpenID Connect: the generic `oidc` social connector and enterprise SSO (`providerName`
//! "OIDC") share this code.
//!
//! - Discovery from `<issuer>/.well-known/openid-configuration`, cached per issuer for an hour
//!   (a stale document is used when the refetch fails). The document's `issuer` must equal the
//!   configured issuer exactly.
//! - JWKS cached per `jwks_uri`; an ID token naming an unknown `kid` triggers one refetch, at
//!   most once a minute per `jwks_uri`; the set is also refetched when older than an hour.
//! - ID tokens: algorithm among the advertised ones (default RS256; never `none` or HS*), the
//!   signature by the JWKS key of that `kid`, `iss` equal to the issuer, `aud` containing the
//!   client id, `azp` (when present) equal to it, `exp` in the future (60 s leeway), `nbf`,
//!   `nonce` equal to the request's.
//! - RFC 9207: a callback `iss` must equal the issuer; when discovery says
//!   `authorization_response_iss_parameter_supported`, a missing one is an error.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use url::Url;

use crate::config::{Cfg, drop_reserved, parse_url, with_query};
use crate::error::{ProviderError, sanitize};
use crate::http::Http;
use crate::jws::{self, Algorithm, JwsError, Validation, VerifyKey};
use crate::token::{
    AuthMethod, ClientCredentials, ResponseFormat, revocation_call, token_call, token_post,
};
use crate::types::{AuthorizationRequest, Callback, TokenResponse, UserProfile};

pub(crate) const DEFAULT_SCOPE: &str = "openid profile email";
const DISCOVERY_MAX_AGE: Duration = Duration::from_secs(3600);
const JWKS_MAX_AGE: Duration = Duration::from_secs(3600);
const JWKS_FORCED_REFETCH_INTERVAL: Duration = Duration::from_secs(60);
const LEEWAY_SECONDS: u64 = 60;

pub(crate) fn iss_mismatch() -> ProviderError {
    ProviderError::Callback(crate::error::CallbackProblem::WrongIss)
}

/// A boolean claim, also accepted as the strings "true" / "false" (some providers).
pub(crate) fn bool_claim(value: Option<&Value>) -> Option<bool> {
    match value? {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// `scope` with `openid` added when missing.
fn with_openid(scope: &str) -> String {
    let parts: Vec<&str> = scope.split([' ', '+']).filter(|s| !s.is_empty()).collect();
    if parts.contains(&"openid") {
        parts.join(" ")
    } else {
        std::iter::once("openid")
            .chain(parts)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// One OpenID provider client: the generic `oidc` connector's or an SSO connector's config.
#[derive(Debug, Clone)]
pub(crate) struct OidcConfig {
    client: ClientCredentials,
    issuer: String,
    scope: String,
    auth_method: Option<AuthMethod>,
    authorization_endpoint: Option<Url>,
    token_endpoint: Option<Url>,
    userinfo_endpoint: Option<Url>,
    jwks_uri: Option<Url>,
    revocation_endpoint: Option<Url>,
    algorithms: Option<Vec<String>>,
    auth_params: Vec<(String, String)>,
    token_params: Vec<(String, String)>,
}

impl OidcConfig {
    fn client(cfg: &Cfg<'_>) -> Result<ClientCredentials, ProviderError> {
        Ok(ClientCredentials {
            id: cfg.required_str("clientId")?,
            secret: SecretString::from(cfg.required_str("clientSecret")?),
        })
    }

    fn auth_method(cfg: &Cfg<'_>) -> Result<Option<AuthMethod>, ProviderError> {
        AuthMethod::from_config(
            cfg.optional_str("tokenEndpointAuthMethod")?.as_deref(),
            cfg.optional_str("clientSecretJwtSigningAlgorithm")?
                .as_deref(),
        )
    }

    /// The social `oidc` connector (Logto's fields, plus `issuer` alone with discovery).
    pub(crate) fn from_social(cfg: &Cfg<'_>) -> Result<Self, ProviderError> {
        let client = Self::client(cfg)?;
        let verification = cfg.optional_object("idTokenVerificationConfig")?;
        let issuer = match cfg.optional_str("issuer")? {
            Some(issuer) => issuer,
            None => match &verification {
                Some(v) => match v.optional_str("issuer") {
                    Ok(Some(issuer)) => issuer,
                    // Logto allows a list of issuers; the first one is the issuer.
                    _ => v
                        .optional_str_list("issuer")
                        .ok()
                        .flatten()
                        .and_then(|list| list.into_iter().next())
                        .ok_or_else(|| ProviderError::Config("issuer is required".into()))?,
                },
                None => return Err(ProviderError::Config("issuer is required".into())),
            },
        };
        parse_url("issuer", &issuer)?;
        let jwks_uri = match cfg.optional_url("jwksUri")? {
            Some(url) => Some(url),
            None => match &verification {
                Some(v) => v.optional_url("jwksUri").map_err(|_| {
                    ProviderError::Config(
                        "idTokenVerificationConfig.jwksUri must be an absolute http(s) URL".into(),
                    )
                })?,
                None => None,
            },
        };
        let algorithms = match &verification {
            Some(v) => v.optional_str_list("algorithms").map_err(|_| {
                ProviderError::Config(
                    "idTokenVerificationConfig.algorithms must be an array of strings".into(),
                )
            })?,
            None => None,
        };
        let mut auth_params = Vec::new();
        if let Some(optional) = cfg.optional_object("authRequestOptionalConfig")? {
            for (camel, snake) in [
                ("responseMode", "response_mode"),
                ("display", "display"),
                ("prompt", "prompt"),
                ("maxAge", "max_age"),
                ("uiLocales", "ui_locales"),
                ("idTokenHint", "id_token_hint"),
                ("loginHint", "login_hint"),
                ("acrValues", "acr_values"),
            ] {
                if let Some(value) = optional.optional_str(camel).map_err(|_| {
                    ProviderError::Config(format!(
                        "authRequestOptionalConfig.{camel} must be a string"
                    ))
                })? {
                    auth_params.push((snake.to_owned(), value));
                }
            }
        }
        let custom = drop_reserved(cfg.string_map("customConfig")?);
        auth_params.extend(custom.iter().cloned());
        Ok(OidcConfig {
            client,
            issuer,
            scope: with_openid(
                &cfg.optional_str("scope")?
                    .unwrap_or_else(|| DEFAULT_SCOPE.into()),
            ),
            auth_method: Self::auth_method(cfg)?,
            authorization_endpoint: cfg.optional_url("authorizationEndpoint")?,
            token_endpoint: cfg.optional_url("tokenEndpoint")?,
            userinfo_endpoint: cfg.optional_url("userInfoEndpoint")?,
            jwks_uri,
            revocation_endpoint: cfg.optional_url("revocationEndpoint")?,
            algorithms,
            auth_params,
            token_params: custom,
        })
    }

    /// An enterprise SSO connector: `{clientId, clientSecret, issuer, scope}`; everything else
    /// is discovered.
    pub(crate) fn from_sso(cfg: &Cfg<'_>) -> Result<Self, ProviderError> {
        let client = Self::client(cfg)?;
        let issuer = cfg.required_str("issuer")?;
        parse_url("issuer", &issuer)?;
        Ok(OidcConfig {
            client,
            issuer,
            scope: with_openid(
                &cfg.optional_str("scope")?
                    .unwrap_or_else(|| DEFAULT_SCOPE.into()),
            ),
            auth_method: Self::auth_method(cfg)?,
            authorization_endpoint: None,
            token_endpoint: None,
            userinfo_endpoint: None,
            jwks_uri: None,
            revocation_endpoint: None,
            algorithms: None,
            auth_params: Vec::new(),
            token_params: Vec::new(),
        })
    }

    pub(crate) fn issuer(&self) -> &str {
        &self.issuer
    }

    fn needs_discovery(&self) -> bool {
        self.authorization_endpoint.is_none()
            || self.token_endpoint.is_none()
            || self.jwks_uri.is_none()
    }
}

/// The parts of a discovery document we use.
#[derive(Debug)]
struct Discovery {
    authorization_endpoint: Option<Url>,
    token_endpoint: Option<Url>,
    userinfo_endpoint: Option<Url>,
    jwks_uri: Option<Url>,
    revocation_endpoint: Option<Url>,
    id_token_signing_alg_values_supported: Option<Vec<String>>,
    authorization_response_iss_parameter_supported: bool,
    token_endpoint_auth_methods_supported: Option<Vec<String>>,
}

impl Discovery {
    fn parse(doc: &Value, expected_issuer: &str) -> Result<Self, ProviderError> {
        let Value::Object(doc) = doc else {
            return Err(ProviderError::InvalidResponse(
                "the discovery document is not a JSON object".into(),
            ));
        };
        if doc.get("issuer").and_then(Value::as_str) != Some(expected_issuer) {
            return Err(ProviderError::InvalidResponse(
                "the discovery document's issuer is not the configured issuer".into(),
            ));
        }
        let url = |key: &'static str| -> Result<Option<Url>, ProviderError> {
            match doc.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => parse_url(key, s).map(Some).map_err(|_| {
                    ProviderError::InvalidResponse(format!(
                        "the discovery document's {key} is not a valid URL"
                    ))
                }),
                Some(_) => Err(ProviderError::InvalidResponse(format!(
                    "the discovery document's {key} is not a string"
                ))),
            }
        };
        let list = |key: &str| -> Option<Vec<String>> {
            doc.get(key)?.as_array().map(|items| {
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
        };
        Ok(Discovery {
            authorization_endpoint: url("authorization_endpoint")?,
            token_endpoint: url("token_endpoint")?,
            userinfo_endpoint: url("userinfo_endpoint")?,
            jwks_uri: url("jwks_uri")?,
            revocation_endpoint: url("revocation_endpoint")?,
            id_token_signing_alg_values_supported: list("id_token_signing_alg_values_supported"),
            authorization_response_iss_parameter_supported: doc
                .get("authorization_response_iss_parameter_supported")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            token_endpoint_auth_methods_supported: list("token_endpoint_auth_methods_supported"),
        })
    }
}

/// Endpoints and rules after merging the configuration with discovery.
#[derive(Debug)]
struct Endpoints {
    authorization: Url,
    token: Url,
    userinfo: Option<Url>,
    jwks: Url,
    revocation: Option<Url>,
    algorithms: Vec<Algorithm>,
    iss_parameter_required: bool,
    auth_method: AuthMethod,
}

struct JwksEntry {
    keys: Arc<Vec<VerifyKey>>,
    fetched_at: Instant,
    forced_at: Option<Instant>,
}

/// Caches shared by every OIDC connector: discovery documents per issuer, key sets per
/// `jwks_uri`.
pub(crate) struct OidcState {
    /// The monotonic time the caches' ages are measured on.
    now: crate::Now,
    discovery: Mutex<HashMap<String, (Arc<Discovery>, Instant)>>,
    jwks: Mutex<HashMap<String, JwksEntry>>,
    jwks_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl fmt::Debug for OidcState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let issuers = self
            .discovery
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        let key_sets = self
            .jwks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        f.debug_struct("OidcState")
            .field("cached_discovery_documents", &issuers)
            .field("cached_key_sets", &key_sets)
            .finish()
    }
}

impl OidcState {
    pub(crate) fn new(now: crate::Now) -> Self {
        Self {
            now,
            discovery: Mutex::default(),
            jwks: Mutex::default(),
            jwks_locks: Mutex::default(),
        }
    }

    async fn discovery(&self, http: &Http, issuer: &str) -> Result<Arc<Discovery>, ProviderError> {
        let cached = self
            .discovery
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(issuer)
            .cloned();
        let age = |at: Instant| (self.now)().saturating_duration_since(at);
        if let Some((doc, at)) = &cached
            && age(*at) < DISCOVERY_MAX_AGE
        {
            return Ok(doc.clone());
        }
        let url = parse_url(
            "issuer",
            &format!(
                "{}/.well-known/openid-configuration",
                issuer.trim_end_matches('/')
            ),
        )?;
        let request = http
            .client()
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json");
        let fetched = http
            .fetch_document(request, "the OpenID provider's discovery endpoint")
            .await
            .and_then(|doc| Discovery::parse(&doc, issuer));
        match (fetched, cached) {
            (Ok(doc), _) => {
                let doc = Arc::new(doc);
                self.discovery
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(issuer.to_owned(), (doc.clone(), (self.now)()));
                Ok(doc)
            }
            (Err(e), Some((stale, _))) if e.is_transient() => {
                tracing::warn!(error = %e, "discovery refetch failed; using the cached document");
                Ok(stale)
            }
            (Err(e), _) => Err(e),
        }
    }

    async fn resolve(&self, http: &Http, cfg: &OidcConfig) -> Result<Endpoints, ProviderError> {
        let doc = if cfg.needs_discovery() {
            Some(self.discovery(http, &cfg.issuer).await?)
        } else {
            None
        };
        let pick = |own: &Option<Url>, discovered: Option<&Option<Url>>| -> Option<Url> {
            own.clone().or_else(|| discovered.and_then(|d| d.clone()))
        };
        let missing = |name: &str| {
            ProviderError::InvalidResponse(format!("the OpenID provider has no {name}"))
        };
        let d = doc.as_deref();
        let advertised = cfg
            .algorithms
            .clone()
            .or_else(|| d.and_then(|d| d.id_token_signing_alg_values_supported.clone()))
            .unwrap_or_else(|| vec!["RS256".to_owned()]);
        let algorithms = advertised
            .iter()
            .filter_map(|name| jws::asymmetric(name))
            .collect();
        let auth_method = cfg.auth_method.unwrap_or_else(|| {
            match d.and_then(|d| d.token_endpoint_auth_methods_supported.as_ref()) {
                Some(methods)
                    if !methods.iter().any(|m| m == "client_secret_basic")
                        && methods.iter().any(|m| m == "client_secret_post") =>
                {
                    AuthMethod::Post
                }
                _ => AuthMethod::Basic,
            }
        });
        Ok(Endpoints {
            authorization: pick(
                &cfg.authorization_endpoint,
                d.map(|d| &d.authorization_endpoint),
            )
            .ok_or_else(|| missing("authorization_endpoint"))?,
            token: pick(&cfg.token_endpoint, d.map(|d| &d.token_endpoint))
                .ok_or_else(|| missing("token_endpoint"))?,
            userinfo: pick(&cfg.userinfo_endpoint, d.map(|d| &d.userinfo_endpoint)),
            jwks: pick(&cfg.jwks_uri, d.map(|d| &d.jwks_uri)).ok_or_else(|| missing("jwks_uri"))?,
            revocation: pick(&cfg.revocation_endpoint, d.map(|d| &d.revocation_endpoint)),
            algorithms,
            iss_parameter_required: d
                .is_some_and(|d| d.authorization_response_iss_parameter_supported),
            auth_method,
        })
    }

    async fn fetch_jwks(http: &Http, uri: &Url) -> Result<Vec<VerifyKey>, ProviderError> {
        let request = http
            .client()
            .get(uri.clone())
            .header(reqwest::header::ACCEPT, "application/json");
        let set = http
            .fetch_document(request, "the OpenID provider's JWKS endpoint")
            .await?;
        jws::key_set(&set)
            .ok_or_else(|| ProviderError::InvalidResponse("the JWKS has no keys array".into()))
    }

    /// The key set of `uri`, refetched when missing, older than an hour, or (at most once a
    /// minute) when it lacks `kid`.
    async fn keys(
        &self,
        http: &Http,
        uri: &Url,
        kid: Option<&str>,
    ) -> Result<Arc<Vec<VerifyKey>>, ProviderError> {
        let has_kid = |keys: &[VerifyKey]| kid.is_none() || keys.iter().any(|k| k.kid() == kid);
        let lookup = || {
            let map = self.jwks.lock().unwrap_or_else(PoisonError::into_inner);
            map.get(uri.as_str())
                .map(|e| (e.keys.clone(), e.fetched_at, e.forced_at))
        };
        let age = |at: Instant| (self.now)().saturating_duration_since(at);
        if let Some((keys, at, _)) = lookup()
            && age(at) < JWKS_MAX_AGE
            && has_kid(&keys)
        {
            return Ok(keys);
        }
        // One fetch at a time per key set; the others wait and reuse its result.
        let lock = self
            .jwks_locks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(uri.as_str().to_owned())
            .or_default()
            .clone();
        let _guard = lock.lock().await;
        let current = lookup();
        let forced = match &current {
            Some((keys, at, _)) if age(*at) < JWKS_MAX_AGE && has_kid(keys) => {
                return Ok(keys.clone());
            }
            Some((keys, at, forced_at)) if age(*at) < JWKS_MAX_AGE => {
                if forced_at.is_some_and(|t| age(t) < JWKS_FORCED_REFETCH_INTERVAL) {
                    tracing::warn!(
                        "ID token names an unknown kid; the JWKS was refetched less than a minute ago"
                    );
                    return Ok(keys.clone());
                }
                tracing::info!("ID token names an unknown kid; refetching the JWKS");
                true
            }
            _ => false,
        };
        match Self::fetch_jwks(http, uri).await {
            Ok(keys) => {
                let keys = Arc::new(keys);
                let now = (self.now)();
                let previous_forced = current.and_then(|(_, _, f)| f);
                self.jwks
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(
                        uri.as_str().to_owned(),
                        JwksEntry {
                            keys: keys.clone(),
                            fetched_at: now,
                            forced_at: if forced { Some(now) } else { previous_forced },
                        },
                    );
                Ok(keys)
            }
            Err(e) => match current {
                Some((keys, _, _)) if e.is_transient() => {
                    tracing::warn!(error = %e, "JWKS refetch failed; using the cached keys");
                    Ok(keys)
                }
                _ => Err(e),
            },
        }
    }

    async fn verify_id_token(
        &self,
        http: &Http,
        cfg: &OidcConfig,
        ep: &Endpoints,
        id_token: &str,
        nonce: &str,
    ) -> Result<Map<String, Value>, ProviderError> {
        let bad = |text: &str| ProviderError::IdToken(text.to_owned());
        let header = jws::header(id_token).map_err(|e| match e {
            JwsError::NotSigned => bad("the ID token is not a signed JWT"),
            JwsError::NoAlg => bad("the ID token has no alg"),
            JwsError::AlgNone => bad("unsigned ID tokens (alg none) are not accepted"),
            JwsError::UnsupportedAlgorithm(name) => {
                ProviderError::IdToken(format!("unsupported ID token algorithm {name}"))
            }
            JwsError::Symmetric => bad("symmetric (HS*) ID token algorithms are not accepted"),
            _ => bad("the ID token is malformed"),
        })?;
        if !ep.algorithms.contains(&header.alg) {
            return Err(ProviderError::IdToken(format!(
                "the ID token algorithm {:?} is not one the provider advertises",
                header.alg
            )));
        }
        let keys = self.keys(http, &ep.jwks, header.kid.as_deref()).await?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&cfg.issuer]);
        validation.set_audience(&[&cfg.client.id]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        let claims = jws::verify(id_token, &header, &keys, &validation).map_err(|e| match e {
            JwsError::NoKey { kid: true } => {
                bad("no key of the provider's JWKS matches the ID token's kid and algorithm")
            }
            JwsError::NoKey { kid: false } => {
                bad("no key of the provider's JWKS fits the ID token's algorithm")
            }
            JwsError::Invalid(e) => jwt_error(&e),
            _ => bad("the ID token cannot be verified"),
        })?;
        if claims.get("nonce").and_then(Value::as_str) != Some(nonce) {
            return Err(bad("the ID token's nonce does not match the request's"));
        }
        if claims
            .get("azp")
            .is_some_and(|azp| azp.as_str() != Some(cfg.client.id.as_str()))
        {
            return Err(bad("the ID token's azp is not the client id"));
        }
        if claims
            .get("sub")
            .and_then(Value::as_str)
            .is_none_or(|s| s.is_empty())
        {
            return Err(bad("the ID token has no sub"));
        }
        Ok(claims)
    }

    pub(crate) async fn authorization_url(
        &self,
        http: &Http,
        cfg: &OidcConfig,
        req: &AuthorizationRequest<'_>,
    ) -> Result<Url, ProviderError> {
        let ep = self.resolve(http, cfg).await?;
        let scope = match req.scope {
            Some(scope) => with_openid(scope),
            None => cfg.scope.clone(),
        };
        let mut params = vec![
            ("response_type", "code"),
            ("client_id", cfg.client.id.as_str()),
            ("redirect_uri", req.redirect_uri),
            ("scope", scope.as_str()),
            ("state", req.state),
            ("nonce", req.nonce),
            ("code_challenge", req.code_challenge),
            ("code_challenge_method", "S256"),
        ];
        if let Some(hint) = req.login_hint {
            params.push(("login_hint", hint));
        }
        params.extend(
            cfg.auth_params
                .iter()
                .filter(|(k, _)| !(req.login_hint.is_some() && k == "login_hint"))
                .map(|(k, v)| (k.as_str(), v.as_str())),
        );
        Ok(with_query(&ep.authorization, params))
    }

    pub(crate) async fn exchange(
        &self,
        http: &Http,
        cfg: &OidcConfig,
        cb: &Callback<'_>,
    ) -> Result<(TokenResponse, UserProfile), ProviderError> {
        let ep = self.resolve(http, cfg).await?;
        // Before the code goes anywhere (mix-up attacks).
        match cb.iss {
            Some(iss) if iss != cfg.issuer => return Err(iss_mismatch()),
            None if ep.iss_parameter_required => {
                return Err(ProviderError::Callback(
                    crate::error::CallbackProblem::MissingIss,
                ));
            }
            _ => {}
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
        params.extend(cfg.token_params.iter().cloned());
        let request = token_post(http, &ep.token, &cfg.client, ep.auth_method, params)?;
        let tokens = token_call(
            http,
            request,
            ResponseFormat::Json,
            "the OpenID provider's token endpoint",
        )
        .await?;
        let id_token = tokens
            .id_token
            .as_ref()
            .ok_or_else(|| ProviderError::IdToken("the token answer has no id_token".into()))?;
        let mut claims = self
            .verify_id_token(http, cfg, &ep, id_token.expose_secret(), cb.nonce)
            .await?;
        let sub = claims
            .get("sub")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        for transient in ["nonce", "at_hash", "c_hash"] {
            claims.remove(transient);
        }
        if let Some(endpoint) = &ep.userinfo {
            let request = http
                .client()
                .get(endpoint.clone())
                .bearer_auth(tokens.access_token.expose_secret())
                .header(reqwest::header::ACCEPT, "application/json");
            const WHAT: &str = "the OpenID provider's userinfo endpoint";
            let answer = http.fetch(request, WHAT).await?;
            answer.expect_success(WHAT)?;
            if answer
                .content_type
                .as_deref()
                .is_some_and(|c| c.starts_with("application/jwt"))
            {
                return Err(ProviderError::InvalidResponse(
                    "signed userinfo answers (application/jwt) are not supported".into(),
                ));
            }
            let Value::Object(info) = answer.json(WHAT)? else {
                return Err(ProviderError::InvalidResponse(format!(
                    "{WHAT} did not answer with an object"
                )));
            };
            if info.get("sub").and_then(Value::as_str) != Some(sub.as_str()) {
                return Err(ProviderError::IdToken(
                    "the userinfo sub does not match the ID token's".into(),
                ));
            }
            claims.extend(info);
        }
        let text = |key: &str| {
            claims
                .get(key)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let profile = UserProfile {
            id: sub,
            email: text("email"),
            email_verified: bool_claim(claims.get("email_verified")),
            name: text("name"),
            avatar: text("picture"),
            details: Value::Object(claims.clone()),
        };
        Ok((tokens, profile))
    }

    pub(crate) async fn refresh(
        &self,
        http: &Http,
        cfg: &OidcConfig,
        refresh_token: &SecretString,
    ) -> Result<TokenResponse, ProviderError> {
        let ep = self.resolve(http, cfg).await?;
        let mut params = vec![
            ("grant_type".to_owned(), "refresh_token".to_owned()),
            (
                "refresh_token".to_owned(),
                refresh_token.expose_secret().to_owned(),
            ),
        ];
        params.extend(cfg.token_params.iter().cloned());
        let request = token_post(http, &ep.token, &cfg.client, ep.auth_method, params)?;
        token_call(
            http,
            request,
            ResponseFormat::Json,
            "the OpenID provider's token endpoint",
        )
        .await
    }

    /// The provider's settings after discovery, in Logto's `providerConfig` shape (no secret).
    pub(crate) async fn provider_config(
        &self,
        http: &Http,
        cfg: &OidcConfig,
    ) -> Result<Value, ProviderError> {
        let ep = self.resolve(http, cfg).await?;
        Ok(serde_json::json!({
            "clientId": cfg.client.id,
            "issuer": cfg.issuer,
            "scope": cfg.scope,
            "authorizationEndpoint": ep.authorization.as_str(),
            "tokenEndpoint": ep.token.as_str(),
            "userinfoEndpoint": ep.userinfo.as_ref().map(Url::as_str),
            "jwksUri": ep.jwks.as_str(),
            "revocationEndpoint": ep.revocation.as_ref().map(Url::as_str),
        }))
    }

    pub(crate) async fn revoke(
        &self,
        http: &Http,
        cfg: &OidcConfig,
        token: &SecretString,
    ) -> Result<(), ProviderError> {
        let ep = self.resolve(http, cfg).await?;
        // A connector configured with its endpoints (Logto's way) skipped discovery; the
        // revocation endpoint is then learnt from the issuer's discovery document.
        let discovered = match &ep.revocation {
            Some(_) => None,
            None if !cfg.needs_discovery() => match self.discovery(http, &cfg.issuer).await {
                Ok(doc) => doc.revocation_endpoint.clone(),
                Err(e) if e.is_transient() => return Err(e),
                Err(_) => None,
            },
            None => None,
        };
        let Some(endpoint) = ep.revocation.as_ref().or(discovered.as_ref()) else {
            return Err(ProviderError::NotSupported(
                "the OpenID provider has no revocation endpoint",
            ));
        };
        let params = vec![("token".to_owned(), token.expose_secret().to_owned())];
        let request = token_post(http, endpoint, &cfg.client, ep.auth_method, params)?;
        revocation_call(http, request, "the OpenID provider's revocation endpoint").await
    }
}

fn jwt_error(e: &jsonwebtoken::errors::Error) -> ProviderError {
    use jsonwebtoken::errors::ErrorKind;
    let text = match e.kind() {
        ErrorKind::InvalidSignature => "the signature is invalid".to_owned(),
        ErrorKind::ExpiredSignature => "the ID token has expired".to_owned(),
        ErrorKind::ImmatureSignature => "the ID token is not valid yet (nbf)".to_owned(),
        ErrorKind::InvalidIssuer => "the ID token's iss is not the issuer".to_owned(),
        ErrorKind::InvalidAudience => {
            "the ID token's aud does not contain the client id".to_owned()
        }
        ErrorKind::MissingRequiredClaim(claim) => {
            format!("the ID token has no {} claim", sanitize(claim, 20))
        }
        ErrorKind::InvalidAlgorithm => "the ID token's algorithm does not fit the key".to_owned(),
        _ => "the ID token is malformed".to_owned(),
    };
    ProviderError::IdToken(text)
}
