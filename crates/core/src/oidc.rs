//! Strongroom's OpenID provider: signing keys and JWKS, client authentication, and the token
//! endpoint's grants (authorization code with PKCE, rotating refresh tokens with reuse
//! detection, client credentials for the Management API). Codes and tokens are opaque random
//! strings; only their SHA-256 is stored.

use std::sync::Arc;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use strongroom_providers::jws;
use strongroom_store::{
    AccessTokenRow, ApplicationId, ApplicationRow, AuthorizationCodeRow, GrantRow, Redemption,
    RefreshTokenRow, SigningKeyRow, SocialIdentity, SsoIdentity, Store, UnixSecs, UserId,
};
use strongroom_vault::{AssociatedData, Domain, Keyring};

use crate::applications::is_confidential;
use crate::crypto::{b64url, constant_time_eq, random_token, token_hash};
use crate::{Clock, CoreError, Result};

pub const ACCESS_TOKEN_TTL_SECS: i64 = 3600;
pub const REFRESH_TOKEN_TTL_SECS: i64 = 14 * 24 * 3600;
pub const CODE_TTL_SECS: i64 = 60;
pub const ID_TOKEN_TTL_SECS: i64 = 3600;
/// Scopes Strongroom's provider knows. `all` is the Management API's scope.
pub const SCOPES: &[&str] = &["openid", "profile", "email", "offline_access", "identities"];
pub const MANAGEMENT_SCOPE: &str = "all";
/// Logto's resource indicator of a self-hosted Management API, accepted as `<endpoint>/api`.
pub const LOGTO_DEFAULT_API: &str = "https://default.logto.app/api";
const KEY_DOMAIN: Domain = Domain("oidc_signing_keys");
/// RFC 7523's client assertion type (`private_key_jwt`).
pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The longest a client assertion may live, its clock leeway, and its largest size.
const ASSERTION_MAX_LIFETIME_SECS: i64 = 300;
const ASSERTION_LEEWAY_SECS: i64 = 30;
const ASSERTION_MAX_BYTES: usize = 8 * 1024;

/// A token-endpoint (or authorization) error, as RFC 6749 section 5.2 names them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}: {description}")]
pub struct OAuthError {
    pub error: &'static str,
    pub description: String,
    /// Strongroom's stable code for the case, where RFC 6749's `error` is too coarse (token
    /// exchange); `oidc.<error>` otherwise, as Logto answers.
    pub code: Option<&'static str>,
}

impl OAuthError {
    pub fn new(error: &'static str, description: impl Into<String>) -> Self {
        Self {
            error,
            description: description.into(),
            code: None,
        }
    }

    /// The same error with Strongroom's stable code.
    pub fn with_code(self, code: &'static str) -> Self {
        Self {
            code: Some(code),
            ..self
        }
    }
}

/// A successful token response. `Debug` prints no token.
#[derive(Clone)]
pub struct Tokens {
    pub access_token: String,
    pub expires_in: i64,
    pub scope: String,
    pub refresh_token: Option<String>,
    pub id_token: Option<String>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("access_token", &"[redacted]")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[redacted]"),
            )
            .field("id_token", &self.id_token.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// What introspection (RFC 7662) tells of a live token.
#[derive(Debug, Clone)]
pub struct Introspection {
    /// A refresh token rather than an access token.
    pub refresh: bool,
    pub client_id: ApplicationId,
    pub scope: String,
    /// The user, for a user's token.
    pub user_id: Option<UserId>,
    /// The resource an access token is for.
    pub resource: Option<String>,
    pub issued_at_ms: i64,
    pub expires_at_ms: i64,
}

impl From<AccessTokenRow> for Introspection {
    fn from(row: AccessTokenRow) -> Self {
        Self {
            refresh: false,
            client_id: row.application_id,
            scope: row.scope,
            user_id: row.user_id,
            resource: row.resource,
            issued_at_ms: row.created_at,
            expires_at_ms: row.expires_at,
        }
    }
}

/// The signing key in use.
struct SigningKey {
    kid: String,
    pair: KeyPair,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({}, [redacted])", self.kid)
    }
}

fn public_jwk(kid: &str, pair: &KeyPair) -> Value {
    let public = pair.public_key();
    json!({
        "kty": "RSA",
        "use": "sig",
        "alg": "RS256",
        "kid": kid,
        "n": b64url(public.modulus().big_endian_without_leading_zero()),
        "e": b64url(public.exponent().big_endian_without_leading_zero()),
    })
}

fn key_aad(kid: &str) -> AssociatedData {
    AssociatedData::new("strongroom.oidc_signing_key.v1").field("kid", kid)
}

/// Claims about a user, for ID tokens and userinfo.
#[derive(Debug, Clone, Default)]
pub struct UserClaims {
    pub sub: String,
    pub name: Option<String>,
    pub username: Option<String>,
    pub picture: Option<String>,
    pub email: Option<String>,
    pub email_verified: bool,
    /// With the `identities` scope: the user's social and SSO identities; userinfo only, as in
    /// Logto.
    pub identities: Option<(Vec<SocialIdentity>, Vec<SsoIdentity>)>,
}

/// The claims a scope releases (Logto's `idTokenClaims`): `sub` always; `name`, `username` and
/// `picture` with `profile`; `email` and `email_verified` with `email`. A released claim the
/// user lacks is `null`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReleasedClaims {
    pub sub: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub picture: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
}

/// Whether the space-separated `scope` includes `wanted`.
pub fn has_scope(scope: &str, wanted: &str) -> bool {
    scope.split(' ').any(|s| s == wanted)
}

impl UserClaims {
    /// The claims `scope` releases in an ID token and at userinfo.
    pub fn released(&self, scope: &str) -> ReleasedClaims {
        let profile = has_scope(scope, "profile");
        let email = has_scope(scope, "email");
        ReleasedClaims {
            sub: self.sub.clone(),
            name: profile.then(|| self.name.clone()),
            username: profile.then(|| self.username.clone()),
            picture: profile.then(|| self.picture.clone()),
            email: email.then(|| self.email.clone()),
            email_verified: email.then_some(self.email_verified),
        }
    }

    /// The user's identities, which userinfo releases with the `identities` scope (Logto's
    /// `userinfoClaims`).
    pub fn released_identities(
        &self,
        scope: &str,
    ) -> Option<&(Vec<SocialIdentity>, Vec<SsoIdentity>)> {
        self.identities
            .as_ref()
            .filter(|_| has_scope(scope, "identities"))
    }
}

/// What an authorization request was granted, to become a code.
#[derive(Debug, Clone)]
pub struct CodeRequest {
    pub application_id: ApplicationId,
    pub user_id: UserId,
    pub redirect_uri: String,
    pub scope: String,
    pub resource: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub auth_time: UnixSecs,
}

/// How long this process trusts an access token it has looked up. Revocations reach it through
/// [`Revocations`]: at once from this process, within [`REVOCATION_POLL`] (plus a query) from
/// another process on the same database.
pub const ACCESS_TOKEN_CACHE_MS: i64 = 5_000;
const ACCESS_TOKEN_CACHE_ENTRIES: usize = 100_000;
/// How often every process looks for revocations announced by the others.
pub const REVOCATION_POLL: std::time::Duration = std::time::Duration::from_millis(250);
/// How far back a poll looks (covers clock differences between processes and slow commits).
const REVOCATION_LOOKBACK_MS: i64 = 10_000;
/// How long an announcement is kept.
const REVOCATION_TTL_MS: i64 = 60_000;

/// Rows recently read from the database, by key, trusted for [`ACCESS_TOKEN_CACHE_MS`] and
/// dropped at once on a revocation: access tokens by hash, applications by id.
#[derive(Debug)]
struct Recent<V>(std::sync::Mutex<std::collections::HashMap<String, (V, i64)>>);

impl<V> Default for Recent<V> {
    fn default() -> Self {
        Self(Default::default())
    }
}

impl<V: Clone> Recent<V> {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, (V, i64)>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn get(&self, key: &str, now: i64) -> Option<V> {
        let map = self.lock();
        let (value, cached_at) = map.get(key)?;
        (now - cached_at < ACCESS_TOKEN_CACHE_MS).then(|| value.clone())
    }

    fn put(&self, key: String, value: V, now: i64) {
        let mut map = self.lock();
        if map.len() >= ACCESS_TOKEN_CACHE_ENTRIES {
            map.retain(|_, (_, cached_at)| now - *cached_at < ACCESS_TOKEN_CACHE_MS);
            if map.len() >= ACCESS_TOKEN_CACHE_ENTRIES {
                map.clear();
            }
        }
        map.insert(key, (value, now));
    }

    fn clear(&self) {
        self.lock().clear();
    }
}

/// The channel through which revoked tokens stop working everywhere: whoever revokes (a grant
/// revoked on replay, an application changed or deleted, a user deleted) calls
/// [`Revocations::publish`], which empties this process's caches of access tokens and
/// applications at once and announces the revocation in the database; every process's
/// [`Revocations::poll`] empties its own caches when it sees a new announcement. Cached tokens
/// and applications are then looked up again, and the revoked ones are gone.
#[derive(Debug)]
pub struct Revocations {
    store: Store,
    clock: Arc<dyn Clock>,
    cache: Recent<AccessTokenRow>,
    applications: Recent<Arc<ApplicationRow>>,
    /// Announcements already acted on (those of the last lookback window).
    seen: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl Revocations {
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            clock,
            cache: Recent::default(),
            applications: Recent::default(),
            seen: Default::default(),
        }
    }

    /// Tokens were revoked: forget them here now, and tell the other processes.
    pub async fn publish(&self) {
        self.forget();
        let now = self.clock.now_ms();
        let id = strongroom_store::time_ordered_id(now);
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id.clone());
        if let Err(e) = self
            .store
            .insert_revocation_event(&id, now, now + REVOCATION_TTL_MS)
            .await
        {
            // Other processes then trust their cached tokens until the cache expires them.
            tracing::error!(error = %e, "cannot announce a revocation to the other processes");
        }
    }

    /// Acts on announcements made since the last poll: forgets every cached token when there is
    /// a new one. Returns whether there was.
    pub async fn poll(&self) -> Result<bool> {
        let since = self.clock.now_ms() - REVOCATION_LOOKBACK_MS;
        let recent: std::collections::HashSet<String> = self
            .store
            .revocation_events_since(since)
            .await?
            .into_iter()
            .collect();
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let fresh = recent.iter().any(|id| !seen.contains(id));
        if fresh {
            self.forget();
        }
        *seen = recent;
        Ok(fresh)
    }

    fn forget(&self) {
        self.cache.clear();
        self.applications.clear();
    }

    /// Polls every [`REVOCATION_POLL`] for as long as the server runs.
    pub async fn watch(self: Arc<Self>) {
        let mut interval = tokio::time::interval(REVOCATION_POLL);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            if let Err(e) = self.poll().await {
                tracing::warn!(error = %e, "cannot look for revocations by other processes");
            }
        }
    }
}

/// The provider.
#[derive(Debug, Clone)]
pub struct Oidc {
    store: Store,
    clock: Arc<dyn Clock>,
    issuer: String,
    api_resource: String,
    key: Arc<SigningKey>,
    revocations: Arc<Revocations>,
}

impl Oidc {
    /// Loads the oldest signing key, or creates one (sealed in the vault). Several processes
    /// starting at once converge on the oldest key; every unretired key is in the JWKS.
    pub async fn load(
        store: Store,
        keyring: Arc<Keyring>,
        clock: Arc<dyn Clock>,
        endpoint: &str,
    ) -> Result<Self> {
        if store.list_signing_keys().await?.is_empty() {
            let pair = KeyPair::generate(KeySize::Rsa2048)
                .map_err(|_| CoreError::Internal("RSA key generation failed".into()))?;
            let kid = strongroom_store::new_id();
            let der = pair
                .as_der()
                .map_err(|_| CoreError::Internal("RSA key encoding failed".into()))?;
            let sealed = keyring.seal(KEY_DOMAIN, &kid, &key_aad(&kid), der.as_ref())?;
            store
                .insert_signing_key(&SigningKeyRow {
                    public_jwk: public_jwk(&kid, &pair),
                    id: kid,
                    algorithm: "RS256".into(),
                    sealed_private_key: sealed,
                    created_at: clock.now_ms(),
                    retired_at: None,
                })
                .await?;
        }
        let row = store
            .list_signing_keys()
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| CoreError::Internal("no signing key".into()))?;
        let der = keyring.open(
            KEY_DOMAIN,
            &row.id,
            &key_aad(&row.id),
            &row.sealed_private_key,
        )?;
        let pair = KeyPair::from_pkcs8(&der)
            .map_err(|_| CoreError::Internal("stored signing key is malformed".into()))?;
        let endpoint = endpoint.trim_end_matches('/');
        Ok(Self {
            issuer: format!("{endpoint}/oidc"),
            api_resource: format!("{endpoint}/api"),
            key: Arc::new(SigningKey { kid: row.id, pair }),
            revocations: Arc::new(Revocations::new(store.clone(), clock.clone())),
            store,
            clock,
        })
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The Management API's resource indicator, `<endpoint>/api`.
    pub fn api_resource(&self) -> &str {
        &self.api_resource
    }

    /// Every unretired public key, as the JWK (RFC 7517) it was stored as.
    pub async fn jwks(&self) -> Result<Vec<Value>> {
        Ok(self
            .store
            .list_signing_keys()
            .await?
            .into_iter()
            .map(|k| k.public_jwk)
            .collect())
    }

    /// Signs a JWT with RS256.
    pub fn sign_jwt(&self, claims: &Value) -> Result<String> {
        let header = json!({ "alg": "RS256", "typ": "JWT", "kid": self.key.kid });
        let signing_input = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        );
        let mut signature = vec![0u8; self.key.pair.public_modulus_len()];
        self.key
            .pair
            .sign(
                &RSA_PKCS1_SHA256,
                &aws_lc_rs::rand::SystemRandom::new(),
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| CoreError::Internal("signing failed".into()))?;
        Ok(format!("{signing_input}.{}", b64url(&signature)))
    }

    /// The claims of a JWT this provider signed (an ID token sent back as `id_token_hint`):
    /// the signature and the issuer are checked, the expiry is not (a logout may come with an
    /// expired ID token). `None` for anything else.
    pub fn verify_own_jwt(&self, jwt: &str) -> Option<Value> {
        let (signing_input, signature) = jwt.rsplit_once('.')?;
        let (header, payload) = signing_input.split_once('.')?;
        let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).ok();
        let header: Value = serde_json::from_slice(&decode(header)?).ok()?;
        if header["alg"] != "RS256" || header["kid"] != self.key.kid.as_str() {
            return None;
        }
        let public = aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
            self.key.pair.public_key().as_ref(),
        );
        public
            .verify(signing_input.as_bytes(), &decode(signature)?)
            .ok()?;
        let claims: Value = serde_json::from_slice(&decode(payload)?).ok()?;
        (claims["iss"] == self.issuer.as_str()).then_some(claims)
    }

    /// Authenticates the client of a token request. Confidential clients must present their
    /// secret; public clients (SPA, Native) must not have one and rely on PKCE.
    pub async fn authenticate_client(
        &self,
        client_id: &str,
        secret: Option<&str>,
    ) -> Result<Arc<ApplicationRow>, OAuthError> {
        let invalid = || OAuthError::new("invalid_client", "client authentication failed");
        let app = self
            .application(client_id)
            .await
            .map_err(server_error)?
            .ok_or_else(invalid)?;
        match (
            is_confidential(&app.app_type),
            secret,
            app.secret_hash.as_deref(),
        ) {
            (true, Some(secret), Some(hash)) if constant_time_eq(&token_hash(secret), hash) => {
                Ok(app)
            }
            (false, None, _) => Ok(app),
            _ => Err(invalid()),
        }
    }

    /// Authenticates a client by `private_key_jwt` (RFC 7523 2.2, OpenID Connect Core 9):
    /// `assertion` is a JWT signed by one of the keys registered for it, whose `iss` and `sub`
    /// are its id and whose `aud` is this issuer or its token endpoint, with an `exp` at most
    /// five minutes ahead and a `jti` accepted once.
    pub async fn authenticate_client_assertion(
        &self,
        client_id: Option<&str>,
        assertion: &str,
    ) -> Result<Arc<ApplicationRow>, OAuthError> {
        let invalid = |text: &str| OAuthError::new("invalid_client", text);
        if assertion.len() > ASSERTION_MAX_BYTES {
            return Err(invalid("the client assertion is too large"));
        }
        let header = jws::header(assertion).map_err(|_| {
            invalid("the client assertion is no JWT signed with an asymmetric algorithm")
        })?;
        // Whom the assertion claims to come from; its signature is checked below.
        let claimed = assertion
            .split('.')
            .nth(1)
            .and_then(|part| URL_SAFE_NO_PAD.decode(part).ok())
            .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
            .and_then(|claims| claims.get("sub").and_then(Value::as_str).map(str::to_owned))
            .filter(|sub| !sub.is_empty() && sub.len() <= 128)
            .ok_or_else(|| invalid("the client assertion has no sub"))?;
        if client_id.is_some_and(|id| id != claimed) {
            return Err(invalid("client_id is not the client assertion's sub"));
        }
        let app = self
            .application(&claimed)
            .await
            .map_err(server_error)?
            .ok_or_else(|| invalid("client authentication failed"))?;
        let keys = app
            .token_exchange
            .jwks
            .as_ref()
            .and_then(jws::key_set)
            .filter(|keys| !keys.is_empty())
            .ok_or_else(|| invalid("this client has no registered keys"))?;
        let mut validation = jws::Validation::new(header.alg);
        validation.set_issuer(&[&claimed]);
        validation.set_audience(&[self.issuer.clone(), format!("{}/token", self.issuer)]);
        validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
        // Times are checked below, on the service's clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        let claims = jws::verify(assertion, &header, &keys, &validation).map_err(|_| {
            invalid("the client assertion's signature, iss or aud is not valid for this client")
        })?;
        let now = self.clock.now_ms() / 1000;
        let time = |name: &str| claims.get(name).and_then(Value::as_i64);
        let exp = time("exp").ok_or_else(|| invalid("the client assertion has no numeric exp"))?;
        if exp + ASSERTION_LEEWAY_SECS < now {
            return Err(invalid("the client assertion has expired"));
        }
        if exp > now + ASSERTION_MAX_LIFETIME_SECS + ASSERTION_LEEWAY_SECS {
            return Err(invalid(
                "the client assertion's exp is more than five minutes ahead",
            ));
        }
        if time("nbf").is_some_and(|nbf| nbf > now + ASSERTION_LEEWAY_SECS) {
            return Err(invalid("the client assertion is not valid yet (nbf)"));
        }
        let jti = claims
            .get("jti")
            .and_then(Value::as_str)
            .filter(|jti| !jti.is_empty() && jti.len() <= 256)
            .ok_or_else(|| invalid("the client assertion has no jti"))?;
        let first_use = self
            .store
            .use_client_assertion(&app.id, jti, (exp + ASSERTION_LEEWAY_SECS) * 1000)
            .await
            .map_err(server_error)?;
        if !first_use {
            return Err(invalid(
                "the client assertion was used before (jti replayed)",
            ));
        }
        Ok(app)
    }

    /// `grant_type=client_credentials`: a Management API token for a machine-to-machine app.
    pub async fn client_credentials(
        &self,
        app: &ApplicationRow,
        scope: Option<&str>,
        resource: Option<&str>,
    ) -> Result<Tokens, OAuthError> {
        if app.app_type != "MachineToMachine" {
            return Err(OAuthError::new(
                "unauthorized_client",
                "only machine-to-machine applications may use client_credentials",
            ));
        }
        // Logto's indicator of a self-hosted Management API names the same resource (it is
        // what `@logto/api` asks for by default, and what Logto's docs tell OSS users).
        if resource != Some(self.api_resource.as_str()) && resource != Some(LOGTO_DEFAULT_API) {
            return Err(OAuthError::new(
                "invalid_target",
                format!(
                    "resource must be {} (or Logto's {LOGTO_DEFAULT_API})",
                    self.api_resource
                ),
            ));
        }
        let scope = scope.unwrap_or(MANAGEMENT_SCOPE);
        if scope.split(' ').any(|s| s != MANAGEMENT_SCOPE) {
            return Err(OAuthError::new(
                "invalid_scope",
                "the Management API has one scope: all",
            ));
        }
        let access = self
            .issue_access_token(None, &app.id, None, scope, Some(&self.api_resource))
            .await?;
        Ok(Tokens {
            access_token: access,
            expires_in: ACCESS_TOKEN_TTL_SECS,
            scope: scope.to_owned(),
            refresh_token: None,
            id_token: None,
        })
    }

    /// Creates a grant and an authorization code for a completed sign-in. Returns the code.
    pub async fn issue_code(&self, req: &CodeRequest) -> Result<String> {
        let now = self.clock.now_ms();
        let grant = GrantRow {
            id: strongroom_store::new_id(),
            user_id: Some(req.user_id.clone()),
            application_id: req.application_id.clone(),
            scope: req.scope.clone(),
            resource: req.resource.clone(),
            auth_time: Some(req.auth_time),
            created_at: now,
            revoked_at: None,
        };
        self.store.insert_grant(&grant).await?;
        let code = random_token()?;
        self.store
            .insert_authorization_code(&AuthorizationCodeRow {
                code_hash: token_hash(&code),
                grant_id: grant.id,
                redirect_uri: req.redirect_uri.clone(),
                scope: req.scope.clone(),
                resource: req.resource.clone(),
                nonce: req.nonce.clone(),
                code_challenge: req.code_challenge.clone(),
                code_challenge_method: req.code_challenge_method.clone(),
                auth_time: req.auth_time,
                created_at: now,
                expires_at: now + CODE_TTL_SECS * 1000,
                consumed_at: None,
            })
            .await?;
        Ok(code)
    }

    /// `grant_type=authorization_code`. A code is good once: a second redemption revokes its
    /// grant (and every token issued from it).
    pub async fn exchange_code(
        &self,
        app: &ApplicationRow,
        code: &str,
        redirect_uri: Option<&str>,
        code_verifier: Option<&str>,
        claims: impl AsyncFnOnce(&UserId) -> Result<UserClaims>,
    ) -> Result<Tokens, OAuthError> {
        let now = self.clock.now_ms();
        let invalid = |d: &str| OAuthError::new("invalid_grant", d);
        let code_row = match self
            .store
            .consume_authorization_code(&token_hash(code), &app.id, now)
            .await
            .map_err(server_error)?
        {
            Redemption::Fresh(c) => c,
            Redemption::Reused(reused) => {
                self.revoke_grant(&reused.grant_id, now).await?;
                return Err(invalid(
                    "authorization code already used; its grant is revoked",
                ));
            }
            Redemption::OtherClient => {
                return Err(invalid("authorization code was not issued to this client"));
            }
            Redemption::Unknown => return Err(invalid("unknown authorization code")),
        };
        if code_row.expires_at <= now {
            return Err(invalid("authorization code expired"));
        }
        let grant = self
            .store
            .get_grant(&code_row.grant_id)
            .await
            .map_err(server_error)?
            .filter(|g| g.revoked_at.is_none())
            .ok_or_else(|| invalid("the grant of this authorization code was revoked"))?;
        if redirect_uri != Some(code_row.redirect_uri.as_str()) {
            return Err(invalid(
                "redirect_uri does not match the authorization request",
            ));
        }
        match (code_row.code_challenge.as_deref(), code_verifier) {
            (Some(challenge), Some(verifier)) => {
                let digest =
                    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
                if !constant_time_eq(&b64url(digest.as_ref()), challenge) {
                    return Err(invalid("PKCE verification failed"));
                }
            }
            (Some(_), None) => return Err(invalid("code_verifier is required")),
            (None, Some(_)) => {
                return Err(invalid(
                    "no code_challenge was sent with the authorization request",
                ));
            }
            (None, None) => {}
        }
        let user_id = grant
            .user_id
            .clone()
            .ok_or_else(|| invalid("grant has no user"))?;
        let claims = claims(&user_id).await.map_err(server_error)?;
        self.tokens_for(
            &grant,
            &user_id,
            &code_row.scope,
            code_row.resource.as_deref(),
            Some(&claims),
            code_row.nonce.as_deref(),
            code_row.auth_time,
        )
        .await
    }

    /// `grant_type=refresh_token` with rotation. Presenting a refresh token that was already
    /// rotated is treated as theft: the whole grant is revoked.
    pub async fn refresh(
        &self,
        app: &ApplicationRow,
        refresh_token: &str,
        claims: impl AsyncFnOnce(&UserId) -> Result<UserClaims>,
    ) -> Result<Tokens, OAuthError> {
        let now = self.clock.now_ms();
        let invalid = |d: &str| OAuthError::new("invalid_grant", d);
        let row = match self
            .store
            .consume_refresh_token(&token_hash(refresh_token), &app.id, now)
            .await
            .map_err(server_error)?
        {
            Redemption::Fresh(r) => r,
            Redemption::Reused(reused) => {
                self.revoke_grant(&reused.grant_id, now).await?;
                return Err(invalid("refresh token already used; its grant is revoked"));
            }
            Redemption::OtherClient => {
                return Err(invalid("refresh token was not issued to this client"));
            }
            Redemption::Unknown => return Err(invalid("unknown refresh token")),
        };
        if row.expires_at <= now {
            return Err(invalid("refresh token expired"));
        }
        let grant = self
            .store
            .get_grant(&row.grant_id)
            .await
            .map_err(server_error)?
            .filter(|g| g.revoked_at.is_none())
            .ok_or_else(|| invalid("the grant of this refresh token was revoked"))?;
        let user_id = grant
            .user_id
            .clone()
            .ok_or_else(|| invalid("grant has no user"))?;
        let claims = claims(&user_id).await.map_err(server_error)?;
        self.tokens_for(
            &grant,
            &user_id,
            &row.scope,
            grant.resource.as_deref(),
            Some(&claims),
            None,
            // The time of the real sign-in, not of this refresh.
            grant.auth_time.unwrap_or(UnixSecs::from_ms(now)),
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn tokens_for(
        &self,
        grant: &GrantRow,
        user_id: &UserId,
        scope: &str,
        resource: Option<&str>,
        claims: Option<&UserClaims>,
        nonce: Option<&str>,
        auth_time: UnixSecs,
    ) -> Result<Tokens, OAuthError> {
        let now = self.clock.now_ms();
        let access = self
            .issue_access_token(
                Some(&grant.id),
                &grant.application_id,
                Some(user_id),
                scope,
                resource,
            )
            .await?;
        let refresh_token = if has_scope(scope, "offline_access") {
            let token = random_token().map_err(server_error)?;
            self.store
                .insert_refresh_token(&RefreshTokenRow {
                    token_hash: token_hash(&token),
                    grant_id: grant.id.clone(),
                    scope: scope.to_owned(),
                    created_at: now,
                    expires_at: now + REFRESH_TOKEN_TTL_SECS * 1000,
                    consumed_at: None,
                })
                .await
                .map_err(server_error)?;
            Some(token)
        } else {
            None
        };
        let id_token = match claims.filter(|_| has_scope(scope, "openid")) {
            Some(c) => {
                let mut body = serde_json::to_value(c.released(scope)).map_err(server_error)?;
                body["iss"] = json!(self.issuer);
                body["aud"] = json!(grant.application_id);
                body["iat"] = json!(now / 1000);
                body["exp"] = json!(now / 1000 + ID_TOKEN_TTL_SECS);
                body["auth_time"] = json!(auth_time);
                let digest =
                    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, access.as_bytes());
                body["at_hash"] = json!(b64url(&digest.as_ref()[..16]));
                if let Some(n) = nonce {
                    body["nonce"] = json!(n);
                }
                Some(self.sign_jwt(&body).map_err(server_error)?)
            }
            None => None,
        };
        Ok(Tokens {
            access_token: access,
            expires_in: ACCESS_TOKEN_TTL_SECS,
            scope: scope.to_owned(),
            refresh_token,
            id_token,
        })
    }

    async fn issue_access_token(
        &self,
        grant_id: Option<&str>,
        application_id: &ApplicationId,
        user_id: Option<&UserId>,
        scope: &str,
        resource: Option<&str>,
    ) -> Result<String, OAuthError> {
        let now = self.clock.now_ms();
        let token = random_token().map_err(server_error)?;
        self.store
            .insert_access_token(&AccessTokenRow {
                token_hash: token_hash(&token),
                grant_id: grant_id.map(str::to_owned),
                application_id: application_id.clone(),
                user_id: user_id.cloned(),
                scope: scope.to_owned(),
                resource: resource.map(str::to_owned),
                created_at: now,
                expires_at: now + ACCESS_TOKEN_TTL_SECS * 1000,
            })
            .await
            .map_err(server_error)?;
        Ok(token)
    }

    /// RFC 7009 revocation by `app`. A refresh token takes its whole grant with it (codes,
    /// refresh and access tokens, in every process); an access token goes alone. An unknown
    /// token, or one issued to another client, is left alone and answered like a revoked one
    /// (RFC 7009 2.2: the client learns nothing from the answer). `hint` only orders the
    /// lookups.
    pub async fn revoke_token(
        &self,
        app: &ApplicationRow,
        token: &str,
        hint: Option<&str>,
    ) -> Result<(), OAuthError> {
        let hash = token_hash(token);
        let now = self.clock.now_ms();
        if hint == Some("access_token") {
            if !self.revoke_access_token(app, &hash, now).await? {
                self.revoke_refresh_token(app, &hash, now).await?;
            }
        } else if !self.revoke_refresh_token(app, &hash, now).await? {
            self.revoke_access_token(app, &hash, now).await?;
        }
        Ok(())
    }

    /// Whether `hash` is a refresh token; revokes its grant when it is `app`'s.
    async fn revoke_refresh_token(
        &self,
        app: &ApplicationRow,
        hash: &str,
        now: i64,
    ) -> Result<bool, OAuthError> {
        match self
            .store
            .find_refresh_token(hash)
            .await
            .map_err(server_error)?
        {
            Some((row, client)) => {
                if client == app.id {
                    self.revoke_grant(&row.grant_id, now).await?;
                }
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Whether `hash` is a live access token; deletes it when it is `app`'s.
    async fn revoke_access_token(
        &self,
        app: &ApplicationRow,
        hash: &str,
        now: i64,
    ) -> Result<bool, OAuthError> {
        match self
            .store
            .find_access_token(hash, now)
            .await
            .map_err(server_error)?
        {
            Some(row) => {
                if row.application_id == app.id {
                    self.store
                        .delete_access_token(hash)
                        .await
                        .map_err(server_error)?;
                    self.revocations.publish().await;
                }
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// RFC 7662 introspection by `app`: `{active: true, ...}` for a live access token (any
    /// client's when `app` is confidential — a resource server — only its own otherwise) or a
    /// live refresh token of `app`; `{active: false}` for anything else.
    pub async fn introspect(
        &self,
        app: &ApplicationRow,
        token: &str,
        hint: Option<&str>,
    ) -> Result<Option<Introspection>, OAuthError> {
        let hash = token_hash(token);
        let now = self.clock.now_ms();
        let found = if hint == Some("refresh_token") {
            match self.introspect_refresh_token(app, &hash, now).await? {
                Some(answer) => Some(answer),
                None => self.introspect_access_token(app, &hash, now).await?,
            }
        } else {
            match self.introspect_access_token(app, &hash, now).await? {
                Some(answer) => Some(answer),
                None => self.introspect_refresh_token(app, &hash, now).await?,
            }
        };
        Ok(found.flatten())
    }

    /// `None` when `hash` is no live access token; `Some(None)` when `app` may not see it.
    async fn introspect_access_token(
        &self,
        app: &ApplicationRow,
        hash: &str,
        now: i64,
    ) -> Result<Option<Option<Introspection>>, OAuthError> {
        let Some(row) = self
            .store
            .find_access_token(hash, now)
            .await
            .map_err(server_error)?
        else {
            return Ok(None);
        };
        if row.application_id != app.id && !is_confidential(&app.app_type) {
            return Ok(Some(None));
        }
        Ok(Some(Some(row.into())))
    }

    /// `None` when `hash` is no refresh token at all; `Some(None)` when it is not a live one
    /// of `app`.
    async fn introspect_refresh_token(
        &self,
        app: &ApplicationRow,
        hash: &str,
        now: i64,
    ) -> Result<Option<Option<Introspection>>, OAuthError> {
        Ok(self
            .refresh_token_grant(hash, now)
            .await?
            .map(|live| live.filter(|found| found.client_id == app.id)))
    }

    /// `None` when `hash` is no refresh token at all; `Some(None)` when it is not a live one
    /// (used, expired, or its grant revoked).
    async fn refresh_token_grant(
        &self,
        hash: &str,
        now: i64,
    ) -> Result<Option<Option<Introspection>>, OAuthError> {
        let Some((row, client)) = self
            .store
            .find_refresh_token(hash)
            .await
            .map_err(server_error)?
        else {
            return Ok(None);
        };
        let grant = self
            .store
            .get_grant(&row.grant_id)
            .await
            .map_err(server_error)?
            .filter(|g| {
                g.revoked_at.is_none() && row.consumed_at.is_none() && row.expires_at > now
            });
        Ok(Some(grant.map(|grant| Introspection {
            refresh: true,
            client_id: client,
            scope: row.scope,
            user_id: grant.user_id,
            resource: None,
            issued_at_ms: row.created_at,
            expires_at_ms: row.expires_at,
        })))
    }

    /// What a live refresh token grants, whichever client holds it; it is neither used up nor
    /// rotated (token exchange reads through it).
    pub async fn live_refresh_token(
        &self,
        token: &str,
    ) -> Result<Option<Introspection>, OAuthError> {
        Ok(self
            .refresh_token_grant(&token_hash(token), self.clock.now_ms())
            .await?
            .flatten())
    }

    /// What a live access token grants, whichever client holds it.
    pub async fn live_access_token(
        &self,
        token: &str,
    ) -> Result<Option<Introspection>, OAuthError> {
        Ok(self
            .access_token(token)
            .await
            .map_err(server_error)?
            .map(Introspection::from))
    }

    /// The claims of a user, for ID tokens and userinfo; the identities only when `scope` has
    /// `identities`.
    pub async fn user_claims(&self, user_id: &UserId, scope: &str) -> Result<UserClaims> {
        let user = self
            .store
            .get_user(user_id)
            .await?
            .ok_or_else(|| CoreError::Conflict("the user no longer exists".into()))?;
        let identities = if has_scope(scope, "identities") {
            Some((
                self.store.list_social_identities(user_id).await?,
                self.store.list_sso_identities(user_id).await?,
            ))
        } else {
            None
        };
        Ok(UserClaims {
            identities,
            sub: user.id.to_string(),
            name: user.name,
            username: user.username,
            picture: user.avatar,
            // Only an address a trusted source verified is reported as verified.
            email_verified: user.primary_email.is_some()
                && user.primary_email_verified_by.is_some(),
            email: user.primary_email,
        })
    }

    /// The revocation channel (shared with the services that delete users and applications).
    pub fn revocations(&self) -> Arc<Revocations> {
        self.revocations.clone()
    }

    /// Revokes a grant; its access tokens stop working in every process.
    async fn revoke_grant(&self, grant_id: &str, now: i64) -> Result<(), OAuthError> {
        self.store
            .revoke_grant(grant_id, now)
            .await
            .map_err(server_error)?;
        self.revocations.publish().await;
        Ok(())
    }

    /// The live access token behind a bearer string, if any (cached for
    /// [`ACCESS_TOKEN_CACHE_MS`]).
    pub async fn access_token(&self, bearer: &str) -> Result<Option<AccessTokenRow>> {
        let hash = token_hash(bearer);
        let now = self.clock.now_ms();
        if let Some(row) = self
            .revocations
            .cache
            .get(&hash, now)
            .filter(|row| row.expires_at > now)
        {
            return Ok(Some(row));
        }
        let row = self.store.find_access_token(&hash, now).await?;
        if let Some(row) = &row {
            self.revocations.cache.put(hash, row.clone(), now);
        }
        Ok(row)
    }

    /// An application, cached like access tokens (a change or deletion is a revocation: see
    /// [`Revocations`]).
    pub async fn application(&self, id: &str) -> Result<Option<Arc<ApplicationRow>>> {
        let now = self.clock.now_ms();
        if let Some(app) = self.revocations.applications.get(id, now) {
            return Ok(Some(app));
        }
        let app = self
            .store
            .get_application(&ApplicationId::from(id.to_owned()))
            .await?
            .map(Arc::new);
        if let Some(app) = &app {
            self.revocations
                .applications
                .put(id.to_owned(), app.clone(), now);
        }
        Ok(app)
    }
}

pub(crate) fn server_error<E: std::fmt::Display>(e: E) -> OAuthError {
    tracing::error!(error = %e, "token endpoint failure");
    OAuthError::new("server_error", "internal error")
}

#[cfg(test)]
mod client_assertion_tests {
    use super::*;
    use crate::ManualClock;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
    use jsonwebtoken::{EncodingKey, Header};
    use strongroom_store::TokenExchangeSettings;
    use strongroom_vault::Kek;

    const ENDPOINT: &str = "http://strongroom.example";

    struct Fixture {
        oidc: Oidc,
        clock: ManualClock,
        app: ApplicationRow,
        key: EncodingKey,
        _db: strongroom_testkit::TestDb,
    }

    /// A P-256 key pair: the signing key and its public JWK.
    fn key_pair(kid: &str) -> (EncodingKey, Value) {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("key");
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
            .expect("pair");
        let point = pair.public_key().as_ref().to_vec();
        let jwk = json!({"kty": "EC", "crv": "P-256", "kid": kid,
            "x": b64url(&point[1..33]), "y": b64url(&point[33..65])});
        (EncodingKey::from_ec_der(pkcs8.as_ref()), jwk)
    }

    async fn fixture() -> Fixture {
        let (db, store) = strongroom_testkit::TestDb::migrated().await;
        let clock = ManualClock::new(1_800_000_000_000);
        let keyring = Arc::new(Keyring::new(Kek::generate().expect("kek"), vec![]));
        let oidc = Oidc::load(store.clone(), keyring, Arc::new(clock.clone()), ENDPOINT)
            .await
            .expect("oidc");
        let (key, jwk) = key_pair("k1");
        let app = ApplicationRow {
            id: ApplicationId::from("worker-app".to_owned()),
            name: "worker".into(),
            description: None,
            app_type: "MachineToMachine".into(),
            secret_hash: Some(token_hash("worker-secret")),
            oidc_client_metadata: json!({}),
            custom_client_metadata: json!({}),
            custom_data: json!({}),
            is_third_party: false,
            allow_provider_tokens: false,
            token_exchange: TokenExchangeSettings {
                worker: true,
                jwks: Some(json!({"keys": [jwk]})),
                ..Default::default()
            },
            created_at: 0,
            updated_at: 0,
        };
        store.save_application(&app).await.expect("save");
        Fixture {
            oidc,
            clock,
            app,
            key,
            _db: db,
        }
    }

    impl Fixture {
        fn claims(&self) -> Value {
            let now = self.clock.now_ms() / 1000;
            json!({"iss": self.app.id, "sub": self.app.id, "aud": format!("{ENDPOINT}/oidc"),
                "iat": now, "exp": now + 60, "jti": strongroom_store::new_id()})
        }

        fn sign(&self, claims: &Value) -> String {
            sign_with(&self.key, "k1", claims)
        }

        async fn check(&self, assertion: &str) -> std::result::Result<(), String> {
            self.oidc
                .authenticate_client_assertion(Some(self.app.id.as_str()), assertion)
                .await
                .map(|_| ())
                .map_err(|e| format!("{}: {}", e.error, e.description))
        }
    }

    fn sign_with(key: &EncodingKey, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, claims, key).expect("sign")
    }

    #[tokio::test]
    async fn a_fresh_assertion_of_a_registered_key_authenticates_once() {
        let f = fixture().await;
        let assertion = f.sign(&f.claims());
        assert_eq!(f.check(&assertion).await, Ok(()));
        let replay = f.check(&assertion).await.expect_err("replay");
        assert!(replay.contains("used before"), "{replay}");
        // The token endpoint is an audience too, and the service's clock is the one that counts.
        f.clock.advance_ms(3_600_000);
        let mut claims = f.claims();
        claims["aud"] = json!(format!("{ENDPOINT}/oidc/token"));
        assert_eq!(f.check(&f.sign(&claims)).await, Ok(()));
    }

    #[tokio::test]
    async fn assertions_that_are_not_exactly_right_are_invalid_client() {
        let f = fixture().await;
        let (stranger, _) = key_pair("k1");
        let now = f.clock.now_ms() / 1000;
        let with = |change: Value| {
            let mut claims = f.claims();
            for (k, v) in change.as_object().expect("object") {
                if v.is_null() {
                    claims.as_object_mut().expect("object").remove(k);
                } else {
                    claims[k] = v.clone();
                }
            }
            f.sign(&claims)
        };
        let unsigned = {
            let claims = URL_SAFE_NO_PAD.encode(f.claims().to_string());
            format!("{}.{claims}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#))
        };
        let symmetric = jsonwebtoken::encode(
            &Header::new(jsonwebtoken::Algorithm::HS256),
            &f.claims(),
            &EncodingKey::from_secret(b"worker-secret"),
        )
        .expect("sign");
        let cases = [
            ("unsigned", unsigned, "asymmetric"),
            ("HS256 with the client secret", symmetric, "asymmetric"),
            (
                "another key",
                sign_with(&stranger, "k1", &f.claims()),
                "signature",
            ),
            (
                "another audience",
                with(json!({"aud": "https://elsewhere.example"})),
                "aud",
            ),
            (
                "another issuer",
                with(json!({"iss": "someone-else"})),
                "iss",
            ),
            ("expired", with(json!({"exp": now - 31})), "expired"),
            (
                "an hour ahead",
                with(json!({"exp": now + 3600})),
                "five minutes",
            ),
            (
                "not valid yet",
                with(json!({"nbf": now + 120})),
                "not valid yet",
            ),
            ("no jti", with(json!({"jti": null})), "no jti"),
            (
                "no exp",
                with(json!({"exp": null})),
                "signature, iss or aud",
            ),
        ];
        for (case, assertion, says) in cases {
            let refused = f.check(&assertion).await.expect_err(case);
            assert!(
                refused.starts_with("invalid_client") && refused.contains(says),
                "{case}: {refused}"
            );
        }
        let other_sub = f.sign(&f.claims());
        let refused = f
            .oidc
            .authenticate_client_assertion(Some("another-client"), &other_sub)
            .await
            .expect_err("client_id mismatch");
        assert_eq!(refused.error, "invalid_client");
        // An application without registered keys cannot use one at all.
        let mut keyless = f.app.clone();
        keyless.id = ApplicationId::from("keyless".to_owned());
        keyless.token_exchange = TokenExchangeSettings::default();
        f.oidc.store.save_application(&keyless).await.expect("save");
        let mut claims = f.claims();
        claims["iss"] = json!("keyless");
        claims["sub"] = json!("keyless");
        let refused = f
            .oidc
            .authenticate_client_assertion(None, &f.sign(&claims))
            .await
            .expect_err("no keys");
        assert!(
            refused.description.contains("no registered keys"),
            "{refused}"
        );
    }
}
