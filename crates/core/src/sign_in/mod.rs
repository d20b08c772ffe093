//! Signing a user in to an application: the `/oidc/auth` request, the hosted sign-in page's
//! choices, the round trip to the upstream provider, and the way back to the application with
//! an authorization code.
//!
//! Safety of the upstream leg: each attempt gets a fresh `state`, PKCE verifier and nonce; only
//! the hash of the state is stored, the verifier and nonce are sealed. An interaction is bound
//! to the browser that started it (a cookie; only its hash is stored) and is consumed by the
//! first callback that presents its state, so a replayed or foreign `state` is refused. A user
//! is created only after the provider's answer has been verified.

mod accounts;
mod page;
mod upstream;

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::SecretString;
use serde_json::{Value, json};
use strongroom_providers::{AuthorizationRequest, Callback, ProviderError, UserProfile};
use strongroom_store::{
    ApplicationId, ApplicationRow, ConnectorId, ConnectorRef, ConsentRow, InteractionRow, NewUser,
    SessionRow, SsoConnectorId, SsoConnectorRow, Store, StoreError, UnixSecs, UserId,
};
use strongroom_vault::{AssociatedData, Domain, Keyring};
use url::Url;

use crate::applications::{is_confidential, may_receive_provider_tokens, redirect_uris};
use crate::audit::{Actor, Audit, Entry};
use crate::connectors::{ConnectorError, Connectors};
use crate::crypto::{b64url, constant_time_eq, random_token, token_hash};
use crate::oidc::{CodeRequest, Oidc, SCOPES};
use crate::token_sets::TokenSets;
use crate::users::EmailVerifier;
use crate::{Clock, CoreError};

/// How long a started sign-in stays usable.
pub const INTERACTION_TTL_SECS: i64 = 10 * 60;
/// How long a browser stays signed in at Strongroom.
pub const SESSION_TTL_SECS: i64 = 14 * 24 * 3600;
const INTERACTION_DOMAIN: Domain = Domain("oidc_interactions");
/// The MAC purpose of logout confirmations.
const LOGOUT_MAC: &str = "strongroom.logout_confirmation.v1";
/// The MAC purpose of browser-binding cookies.
const BINDING_MAC: &str = "strongroom.browser_binding.v1";

/// Why a sign-in step failed. Shown on an error page; never carries a token or secret.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("the request names no application known here (client_id)")]
    UnknownClient,
    #[error("redirect_uri is missing or not registered for this application")]
    RedirectUriMismatch,
    #[error("this sign-in does not exist or has expired; start again from the application")]
    InteractionNotFound,
    #[error("the state is unknown, was already used, or belongs to another sign-in")]
    StateMismatch,
    #[error("this connector does not exist")]
    UnknownConnector,
    #[error("no enterprise SSO connector handles the e-mail domain of `{0}`")]
    NoSsoForEmail(String),
    #[error(transparent)]
    Provider(ProviderError),
    #[error(transparent)]
    Core(CoreError),
}

impl From<CoreError> for SignInError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::Connector(ConnectorError::NotFound(_) | ConnectorError::SsoNotFound(_)) => {
                Self::UnknownConnector
            }
            other => Self::Core(other),
        }
    }
}

impl From<StoreError> for SignInError {
    fn from(e: StoreError) -> Self {
        Self::Core(e.into())
    }
}

/// An authorization request as it arrives (query or form of `/oidc/auth`).
#[derive(Debug, Clone, Default)]
pub struct AuthRequest {
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub response_type: Option<String>,
    pub response_mode: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<String>,
    pub login_hint: Option<String>,
    pub resource: Option<String>,
    pub direct_sign_in: Option<String>,
    pub request: Option<String>,
    pub request_uri: Option<String>,
}

/// The validated request, kept with the interaction.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Pending {
    client_id: String,
    redirect_uri: String,
    scope: String,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    login_hint: Option<String>,
    /// `prompt` values (space-separated), kept for the steps after the upstream sign-in.
    #[serde(default)]
    prompt: Option<String>,
    /// Set on a consent interaction: who signed in, and when.
    #[serde(default)]
    consent: Option<PendingConsent>,
}

/// The signed-in user a consent page asks on behalf of.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct PendingConsent {
    user_id: UserId,
    auth_time: UnixSecs,
}

impl Pending {
    fn prompts(&self) -> impl Iterator<Item = &str> {
        self.prompt
            .as_deref()
            .unwrap_or("")
            .split(' ')
            .filter(|p| !p.is_empty())
    }
}

/// What the consent page shows.
#[derive(Debug, Clone)]
pub struct ConsentPage {
    pub interaction_id: String,
    pub application_name: String,
    /// The scopes asked for, each with what it gives the application.
    pub scopes: Vec<(String, &'static str)>,
    /// Whether the application asks for provider tokens (`identities`).
    pub provider_tokens: bool,
}

/// How long a consent to a third-party application lasts.
pub const CONSENT_TTL_MS: i64 = 365 * 24 * 3600 * 1000;

/// What a scope gives an application, for the consent page.
pub fn scope_description(scope: &str) -> &'static str {
    match scope {
        "openid" => "Sign you in with your Strongroom account (your user id).",
        "profile" => "Your name, username and picture.",
        "email" => "Your e-mail address and whether it is verified.",
        "offline_access" => "Keep access while you are away (a refresh token).",
        "identities" => {
            "Your connected accounts' access tokens (GitHub, Google, your company's sign-in...): \
             the application can act as you at those providers."
        }
        _ => "",
    }
}

/// Where the browser goes next, and which cookies to set on the way. `Debug` prints neither
/// the location (it can carry an authorization code) nor the cookie values.
#[derive(Clone)]
pub struct Step {
    pub location: String,
    /// A new browser-binding cookie value (when the browser had none).
    pub set_browser: Option<String>,
    /// A new session cookie value (after a completed sign-in).
    pub set_session: Option<String>,
}

impl std::fmt::Debug for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Step")
            .field("location", &"[redacted]")
            .field(
                "set_browser",
                &self.set_browser.as_ref().map(|_| "[redacted]"),
            )
            .field(
                "set_session",
                &self.set_session.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

impl Step {
    fn to(location: String) -> Self {
        Self {
            location,
            set_browser: None,
            set_session: None,
        }
    }
}

/// What a logout request did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Logout {
    /// The session is over (or there was none).
    Done,
    /// The browser must confirm, posting this value back.
    Confirm { confirmation: String },
}

/// Whether an ID token's `aud` (a string or an array) names `client`.
fn audience_has(claims: &Value, client: &str) -> bool {
    match &claims["aud"] {
        Value::String(aud) => aud == client,
        Value::Array(auds) => auds.iter().any(|a| a == client),
        _ => false,
    }
}

/// One social connector button of the sign-in page.
#[derive(Debug, Clone)]
pub struct PageConnector {
    pub id: ConnectorId,
    pub target: String,
    pub name: String,
    pub logo: String,
}

/// What the hosted sign-in page shows.
#[derive(Debug, Clone)]
pub struct SignInPage {
    pub interaction_id: String,
    pub application_name: String,
    pub connectors: Vec<PageConnector>,
    /// Whether any enterprise SSO connector exists (the e-mail field is shown then).
    pub sso_available: bool,
    pub login_hint: Option<String>,
}

/// The provider's answer at a callback URL. `Debug` prints neither the code nor the state.
#[derive(Clone, Default)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    pub iss: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

impl std::fmt::Debug for CallbackQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackQuery")
            .field("code", &self.code.as_ref().map(|_| "[redacted]"))
            .field("state", &self.state.as_ref().map(|_| "[redacted]"))
            .field("iss", &self.iss)
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

/// `uri` with query parameters appended.
fn with_params(uri: &str, params: &[(&str, Option<&str>)]) -> String {
    match Url::parse(uri) {
        Ok(mut url) => {
            {
                let mut pairs = url.query_pairs_mut();
                for (k, v) in params {
                    if let Some(v) = v {
                        pairs.append_pair(k, v);
                    }
                }
            }
            url.into()
        }
        Err(_) => uri.to_owned(),
    }
}

/// The sign-in service.
#[derive(Debug, Clone)]
pub struct SignIn {
    store: Store,
    keyring: Arc<Keyring>,
    clock: Arc<dyn Clock>,
    oidc: Oidc,
    connectors: Connectors,
    token_sets: TokenSets,
    audit: Audit,
    endpoint: String,
}

impl SignIn {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Store,
        keyring: Arc<Keyring>,
        clock: Arc<dyn Clock>,
        oidc: Oidc,
        connectors: Connectors,
        token_sets: TokenSets,
        audit: Audit,
        endpoint: &str,
    ) -> Self {
        Self {
            store,
            keyring,
            clock,
            oidc,
            connectors,
            token_sets,
            audit,
            endpoint: endpoint.trim_end_matches('/').to_owned(),
        }
    }

    /// Where a provider sends the browser back for `upstream`.
    pub fn callback_uri(&self, upstream: &ConnectorRef) -> String {
        match upstream {
            ConnectorRef::Social(id) => format!("{}/callback/{id}", self.endpoint),
            ConnectorRef::Sso(id) => format!("{}/callback/sso/{id}", self.endpoint),
        }
    }

    /// `/oidc/auth`: validates the request; then either answers at once (a live session, or a
    /// redirectable error) or starts an interaction and sends the browser to the sign-in page
    /// or, with `direct_sign_in`, straight to the provider.
    pub async fn authorize(
        &self,
        req: AuthRequest,
        browser: Option<&str>,
        session: Option<&str>,
    ) -> Result<Step, SignInError> {
        let client_id = req
            .client_id
            .as_deref()
            .filter(|s| !s.is_empty())
            .ok_or(SignInError::UnknownClient)?;
        let app = self
            .store
            .get_application(&ApplicationId::from(client_id.to_owned()))
            .await?
            .ok_or(SignInError::UnknownClient)?;
        let redirect_uri = req
            .redirect_uri
            .clone()
            .filter(|uri| redirect_uris(&app).contains(uri))
            .ok_or(SignInError::RedirectUriMismatch)?;
        // From here on errors go back to the application (RFC 6749 4.1.2.1). An oversized
        // state is not echoed back.
        let state = req
            .state
            .as_deref()
            .filter(|s| s.len() <= crate::limits::STATE);
        let pending = match validate(&app, &req, redirect_uri.clone()) {
            Ok(p) => p,
            Err((error, description)) => {
                return Ok(Step::to(self.error_redirect(
                    &redirect_uri,
                    error,
                    &description,
                    state,
                )));
            }
        };
        let prompts: Vec<&str> = pending.prompts().collect();
        let direct = match req.direct_sign_in.as_deref().filter(|d| !d.is_empty()) {
            None => None,
            Some(d) => match self.direct_upstream(d).await? {
                Some(upstream) => Some(upstream),
                None => {
                    let description = "direct_sign_in names no connector";
                    return Ok(Step::to(self.error_redirect(
                        &redirect_uri,
                        "invalid_request",
                        description,
                        state,
                    )));
                }
            },
        };
        if direct.is_none()
            && !prompts.contains(&"login")
            && let Some(session) = self.live_session(session).await?
        {
            return self
                .finish(&pending, &session.user_id, session.auth_time, browser)
                .await;
        }
        if prompts.contains(&"none") {
            let description = "the end user is not signed in";
            return Ok(Step::to(self.error_redirect(
                &redirect_uri,
                "login_required",
                description,
                state,
            )));
        }
        let (interaction, set_browser) = self.new_interaction(&pending, browser).await?;
        let location = match direct {
            Some(upstream) => self.start_upstream(&interaction, &upstream).await?,
            None => format!("{}/sign-in/{}", self.endpoint, interaction.id),
        };
        Ok(Step {
            location,
            set_browser,
            set_session: None,
        })
    }

    /// Records a pending step of this browser (an interaction bound to its binding cookie, or
    /// to a new one, returned to be set).
    async fn new_interaction(
        &self,
        pending: &Pending,
        browser: Option<&str>,
    ) -> Result<(InteractionRow, Option<String>), SignInError> {
        let (binding, set_browser) = match browser.filter(|b| self.issued_binding(b)) {
            Some(b) => (b.to_owned(), None),
            None => {
                let b = self.new_binding()?;
                (b.clone(), Some(b))
            }
        };
        let now = self.clock.now_ms();
        let interaction = InteractionRow {
            id: strongroom_store::new_id(),
            browser_binding_hash: token_hash(&binding),
            application_id: ApplicationId::from(pending.client_id.clone()),
            params: serde_json::to_value(pending)
                .map_err(|e| CoreError::Internal(e.to_string()))?,
            upstream_state_hash: None,
            upstream_kind: None,
            upstream_connector_id: None,
            sealed_upstream: None,
            created_at: now,
            expires_at: now + INTERACTION_TTL_SECS * 1000,
            consumed_at: None,
        };
        self.store.insert_interaction(&interaction).await?;
        Ok((interaction, set_browser))
    }

    /// The last step of a sign-in: the code back to the application, unless a third-party
    /// application first needs the user's consent to the scopes it asks for (the consent page;
    /// `consent_required` with `prompt=none`).
    async fn finish(
        &self,
        pending: &Pending,
        user_id: &UserId,
        auth_time: UnixSecs,
        browser: Option<&str>,
    ) -> Result<Step, SignInError> {
        let app = self
            .store
            .get_application(&ApplicationId::from(pending.client_id.clone()))
            .await?
            .ok_or(SignInError::UnknownClient)?;
        if app.is_third_party && !self.consented(pending, user_id).await? {
            if pending.prompts().any(|p| p == "none") {
                return Ok(Step::to(self.error_redirect(
                    &pending.redirect_uri,
                    "consent_required",
                    "the user has not consented to this application's scopes",
                    pending.state.as_deref(),
                )));
            }
            let asking = Pending {
                consent: Some(PendingConsent {
                    user_id: user_id.clone(),
                    auth_time,
                }),
                ..pending.clone()
            };
            let (interaction, set_browser) = self.new_interaction(&asking, browser).await?;
            return Ok(Step {
                location: format!("{}/consent/{}", self.endpoint, interaction.id),
                set_browser,
                set_session: None,
            });
        }
        Ok(Step::to(self.complete(pending, user_id, auth_time).await?))
    }

    /// Whether the user's recorded consent covers every scope asked for (and the request does
    /// not insist on asking again, `prompt=consent`).
    async fn consented(&self, pending: &Pending, user_id: &UserId) -> Result<bool, SignInError> {
        if pending.prompts().any(|p| p == "consent") {
            return Ok(false);
        }
        let consent = self
            .store
            .get_consent(
                user_id,
                &ApplicationId::from(pending.client_id.clone()),
                self.clock.now_ms(),
            )
            .await?;
        Ok(consent.is_some_and(|c| {
            let granted: Vec<&str> = c.scope.split(' ').collect();
            pending.scope.split(' ').all(|s| granted.contains(&s))
        }))
    }

    /// A consent interaction of this browser.
    async fn pending_consent(
        &self,
        id: &str,
        browser: Option<&str>,
    ) -> Result<(InteractionRow, Pending, PendingConsent), SignInError> {
        let row = self.pending(id, browser).await?;
        let pending: Pending = serde_json::from_value(row.params.clone())
            .map_err(|_| SignInError::InteractionNotFound)?;
        let consent = pending
            .consent
            .clone()
            .ok_or(SignInError::InteractionNotFound)?;
        Ok((row, pending, consent))
    }

    /// The consent page of an interaction.
    pub async fn consent_page(
        &self,
        id: &str,
        browser: Option<&str>,
    ) -> Result<ConsentPage, SignInError> {
        let (row, pending, _) = self.pending_consent(id, browser).await?;
        let app = self
            .store
            .get_application(&row.application_id)
            .await?
            .ok_or(SignInError::UnknownClient)?;
        Ok(ConsentPage {
            interaction_id: row.id,
            application_name: app.name,
            provider_tokens: crate::oidc::has_scope(&pending.scope, "identities"),
            scopes: pending
                .scope
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(|s| (s.to_owned(), scope_description(s)))
                .collect(),
        })
    }

    /// The user's answer on the consent page: consent is recorded (per user, application and
    /// scopes) and the code issued, or the application hears `access_denied`.
    pub async fn decide_consent(
        &self,
        id: &str,
        browser: Option<&str>,
        allow: bool,
    ) -> Result<Step, SignInError> {
        let (row, pending, consent) = self.pending_consent(id, browser).await?;
        let now = self.clock.now_ms();
        if !self.store.consume_interaction(&row.id, now).await? {
            return Err(SignInError::InteractionNotFound);
        }
        if !allow {
            return Ok(Step::to(self.error_redirect(
                &pending.redirect_uri,
                "access_denied",
                "the user did not consent",
                pending.state.as_deref(),
            )));
        }
        self.store
            .save_consent(&ConsentRow {
                id: strongroom_store::new_id(),
                user_id: consent.user_id.clone(),
                application_id: row.application_id.clone(),
                scope: pending.scope.clone(),
                created_at: now,
                updated_at: now,
                expires_at: now + CONSENT_TTL_MS,
            })
            .await?;
        Ok(Step::to(
            self.complete(&pending, &consent.user_id, consent.auth_time)
                .await?,
        ))
    }

    /// A new browser-binding value: random, with the server's MAC, so that only values this
    /// deployment issued are ever accepted as a binding.
    fn new_binding(&self) -> Result<String, CoreError> {
        let value = random_token()?;
        let tag = self.keyring.mac(BINDING_MAC, value.as_bytes());
        Ok(format!("{value}.{}", b64url(&tag)))
    }

    /// Whether a browser-binding cookie is one this deployment issued.
    fn issued_binding(&self, cookie: &str) -> bool {
        cookie.split_once('.').is_some_and(|(value, tag)| {
            value.len() == 43
                && URL_SAFE_NO_PAD
                    .decode(tag)
                    .is_ok_and(|tag| self.keyring.verify_mac(BINDING_MAC, value.as_bytes(), &tag))
        })
    }

    fn error_redirect(
        &self,
        redirect_uri: &str,
        error: &str,
        description: &str,
        state: Option<&str>,
    ) -> String {
        with_params(
            redirect_uri,
            &[
                ("error", Some(error)),
                ("error_description", Some(description)),
                ("state", state),
                ("iss", Some(self.oidc.issuer())),
            ],
        )
    }

    /// `social:<target>` or `sso:<ssoConnectorId>`.
    async fn direct_upstream(&self, direct: &str) -> Result<Option<ConnectorRef>, SignInError> {
        Ok(match direct.split_once(':') {
            Some(("social", target)) => self
                .connectors
                .by_target(target)
                .await?
                .map(|c| ConnectorRef::Social(c.id)),
            Some(("sso", id)) => {
                let id = SsoConnectorId::from(id.to_owned());
                self.store
                    .get_sso_connector(&id)
                    .await?
                    .map(|c| ConnectorRef::Sso(c.id))
            }
            _ => None,
        })
    }

    async fn live_session(&self, cookie: Option<&str>) -> Result<Option<SessionRow>, SignInError> {
        let Some(cookie) = cookie else {
            return Ok(None);
        };
        let Some(session) = self
            .store
            .find_session(&token_hash(cookie), self.clock.now_ms())
            .await?
        else {
            return Ok(None);
        };
        Ok(self
            .store
            .get_user(&session.user_id)
            .await?
            .is_some()
            .then_some(session))
    }

    /// Ends a browser's session at Strongroom.
    ///
    /// A logout request can come from anywhere (a cross-site link or image), so the session
    /// ends at once only when the request proves it comes from an application of this user: an
    /// `id_token_hint` Strongroom signed for the session's user (and, when `client_id` is
    /// given, for that application). Otherwise the browser is asked to confirm, with a form
    /// carrying `confirmation`, a MAC of the session only this browser can present again.
    pub async fn end_session(
        &self,
        cookie: Option<&str>,
        id_token_hint: Option<&str>,
        client_id: Option<&str>,
        confirmation: Option<&str>,
    ) -> Result<Logout, SignInError> {
        let Some(cookie) = cookie else {
            return Ok(Logout::Done);
        };
        let Some(session) = self.live_session(Some(cookie)).await? else {
            return Ok(Logout::Done);
        };
        let expected = b64url(&self.keyring.mac(LOGOUT_MAC, session.id_hash.as_bytes()));
        let confirmed = confirmation.is_some_and(|c| constant_time_eq(c, &expected));
        let hinted = id_token_hint
            .and_then(|hint| self.oidc.verify_own_jwt(hint))
            .is_some_and(|claims| {
                claims["sub"] == session.user_id.as_str()
                    && client_id.is_none_or(|client| audience_has(&claims, client))
            });
        if confirmed || hinted {
            self.store.delete_session(&session.id_hash).await?;
            Ok(Logout::Done)
        } else {
            Ok(Logout::Confirm {
                confirmation: expected,
            })
        }
    }

    /// A pending interaction of this browser.
    async fn pending(
        &self,
        id: &str,
        browser: Option<&str>,
    ) -> Result<InteractionRow, SignInError> {
        let row = self
            .store
            .get_interaction(id)
            .await?
            .ok_or(SignInError::InteractionNotFound)?;
        let now = self.clock.now_ms();
        if row.consumed_at.is_some() || row.expires_at <= now || !bound_to(&row, browser) {
            return Err(SignInError::InteractionNotFound);
        }
        Ok(row)
    }
}

fn bound_to(row: &InteractionRow, browser: Option<&str>) -> bool {
    browser.is_some_and(|b| constant_time_eq(&token_hash(b), &row.browser_binding_hash))
}

fn sanitize(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_alphanumeric() || "_-.".contains(*c))
        .take(64)
        .collect()
}

/// Checks an authorization request whose client and redirect URI are known. Errors are
/// `(error, description)` for the redirect back to the application.
fn validate(
    app: &ApplicationRow,
    req: &AuthRequest,
    redirect_uri: String,
) -> Result<Pending, (&'static str, String)> {
    if req.request.is_some() || req.request_uri.is_some() {
        return Err((
            "request_not_supported",
            "request objects are not supported".into(),
        ));
    }
    for (name, value, max) in [
        ("state", &req.state, crate::limits::STATE),
        ("nonce", &req.nonce, crate::limits::STATE),
        ("login_hint", &req.login_hint, crate::limits::STATE),
        ("scope", &req.scope, crate::limits::SCOPE),
        ("prompt", &req.prompt, crate::limits::STATE),
        ("code_challenge", &req.code_challenge, crate::limits::STATE),
    ] {
        if value.as_deref().is_some_and(|v| v.len() > max) {
            return Err((
                "invalid_request",
                format!("{name} must be at most {max} bytes long"),
            ));
        }
    }
    if req.response_type.as_deref() != Some("code") {
        return Err((
            "unsupported_response_type",
            "response_type must be code".into(),
        ));
    }
    if req.response_mode.as_deref().is_some_and(|m| m != "query") {
        return Err(("invalid_request", "response_mode must be query".into()));
    }
    if app.app_type == "MachineToMachine" {
        return Err((
            "unauthorized_client",
            "machine-to-machine applications cannot sign users in".into(),
        ));
    }
    if req.resource.is_some() {
        return Err((
            "invalid_target",
            "user sign-ins take no resource indicator".into(),
        ));
    }
    let requested: Vec<&str> = req
        .scope
        .as_deref()
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
        .collect();
    if !requested.contains(&"openid") {
        return Err(("invalid_scope", "scope must include openid".into()));
    }
    // Unknown scopes are dropped, and so is `identities` (provider tokens) for a third-party
    // application an administrator has not allowed to receive them.
    let provider_tokens = may_receive_provider_tokens(app);
    let mut scope: Vec<&str> = Vec::new();
    for s in requested {
        if SCOPES.contains(&s) && !scope.contains(&s) && (s != "identities" || provider_tokens) {
            scope.push(s);
        }
    }
    match (
        req.code_challenge.as_deref(),
        req.code_challenge_method.as_deref(),
    ) {
        (Some(c), Some("S256"))
            if c.len() == 43
                && c.chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_') => {}
        (Some(_), Some("S256")) => {
            return Err((
                "invalid_request",
                "code_challenge must be 43 base64url characters".into(),
            ));
        }
        (Some(_), _) => {
            return Err((
                "invalid_request",
                "code_challenge_method must be S256".into(),
            ));
        }
        (None, Some(_)) => {
            return Err((
                "invalid_request",
                "code_challenge_method without code_challenge".into(),
            ));
        }
        (None, None) if !is_confidential(&app.app_type) => {
            return Err((
                "invalid_request",
                "PKCE (code_challenge with S256) is required for public clients".into(),
            ));
        }
        (None, None) => {}
    }
    Ok(Pending {
        client_id: app.id.as_str().to_owned(),
        redirect_uri,
        scope: scope.join(" "),
        state: req.state.clone(),
        nonce: req.nonce.clone(),
        code_challenge: req.code_challenge.clone(),
        code_challenge_method: req.code_challenge_method.clone(),
        login_hint: req.login_hint.clone().filter(|h| !h.is_empty()),
        prompt: req.prompt.clone(),
        consent: None,
    })
}

#[cfg(test)]
mod tests {
    //! `validate`: every refusal of an authorization request, and what an accepted one keeps.

    use super::*;

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn app(app_type: &str, third_party: bool) -> ApplicationRow {
        ApplicationRow {
            id: ApplicationId::from("app"),
            name: "app".into(),
            description: None,
            app_type: app_type.into(),
            secret_hash: None,
            oidc_client_metadata: json!({}),
            custom_client_metadata: json!({}),
            custom_data: json!({}),
            is_third_party: third_party,
            allow_provider_tokens: false,
            token_exchange: Default::default(),
            created_at: 0,
            updated_at: 0,
        }
    }

    /// A request a public client may send: code flow, openid, PKCE S256.
    fn request() -> AuthRequest {
        AuthRequest {
            response_type: Some("code".into()),
            scope: Some("openid profile identities".into()),
            code_challenge: Some(CHALLENGE.into()),
            code_challenge_method: Some("S256".into()),
            ..Default::default()
        }
    }

    fn refusal(app: &ApplicationRow, req: &AuthRequest) -> &'static str {
        match validate(app, req, "https://app.example/cb".into()) {
            Ok(_) => "accepted",
            Err((error, _)) => error,
        }
    }

    /// What a case changes in [`request`].
    type Change = fn(&mut AuthRequest);

    #[test]
    fn every_refusal_has_its_oauth_error() {
        let spa = app("SPA", false);
        let cases: [(&str, Change, &str); 14] = [
            ("as sent", |_| {}, "accepted"),
            (
                "a request object",
                |r| r.request = Some("jwt".into()),
                "request_not_supported",
            ),
            (
                "a request_uri",
                |r| r.request_uri = Some("urn:x".into()),
                "request_not_supported",
            ),
            (
                "a long state",
                |r| r.state = Some("s".repeat(crate::limits::STATE + 1)),
                "invalid_request",
            ),
            (
                "a long scope",
                |r| r.scope = Some("openid ".repeat(crate::limits::SCOPE)),
                "invalid_request",
            ),
            (
                "the implicit flow",
                |r| r.response_type = Some("token".into()),
                "unsupported_response_type",
            ),
            (
                "no response_type",
                |r| r.response_type = None,
                "unsupported_response_type",
            ),
            (
                "form_post",
                |r| r.response_mode = Some("form_post".into()),
                "invalid_request",
            ),
            (
                "a resource",
                |r| r.resource = Some("https://api.example".into()),
                "invalid_target",
            ),
            (
                "no openid",
                |r| r.scope = Some("profile".into()),
                "invalid_scope",
            ),
            (
                "a short challenge",
                |r| r.code_challenge = Some("abc".into()),
                "invalid_request",
            ),
            (
                "plain PKCE",
                |r| r.code_challenge_method = Some("plain".into()),
                "invalid_request",
            ),
            (
                "a method without challenge",
                |r| r.code_challenge = None,
                "invalid_request",
            ),
            (
                "no PKCE",
                |r| {
                    r.code_challenge = None;
                    r.code_challenge_method = None;
                },
                "invalid_request",
            ),
        ];
        for (what, change, expected) in cases {
            let mut req = request();
            change(&mut req);
            assert_eq!(refusal(&spa, &req), expected, "{what}");
        }
        assert_eq!(
            refusal(&app("MachineToMachine", false), &request()),
            "unauthorized_client"
        );
        // A confidential client may leave PKCE out.
        let mut no_pkce = request();
        no_pkce.code_challenge = None;
        no_pkce.code_challenge_method = None;
        assert_eq!(refusal(&app("Traditional", false), &no_pkce), "accepted");
    }

    #[test]
    fn unknown_scopes_and_ungranted_provider_tokens_are_dropped() {
        let mut req = request();
        req.scope = Some("openid unknown profile openid identities".into());
        let first_party = validate(&app("SPA", false), &req, "u".into()).expect("valid");
        assert_eq!(first_party.scope, "openid profile identities");
        let third_party = validate(&app("SPA", true), &req, "u".into()).expect("valid");
        assert_eq!(third_party.scope, "openid profile");
    }
}
