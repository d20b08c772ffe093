//! Signing a user in to an application: the `/oidc/auth` request, the hosted sign-in page's
//! choices, the round trip to the upstream provider, and the way back to the application with
//! an authorization code.
//!
//! Safety of the upstream leg: each attempt gets a fresh `state`, PKCE verifier and nonce; only
//! the hash of the state is stored, the verifier and nonce are sealed. An interaction is bound
//! to the browser that started it (a cookie; only its hash is stored) and is consumed by the
//! first callback that presents its state, so a replayed or foreign `state` is refused. A user
//! is created only after the provider's answer has been verified.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::SecretString;
use serde_json::{Value, json};
use strongroom_providers::{AuthorizationRequest, Callback, ProviderError, UserProfile};
use strongroom_store::{
    ApplicationId, ApplicationRow, ConnectorId, ConnectorRef, ConsentRow, InteractionRow, NewUser,
    SessionRow, SsoConnectorId, SsoConnectorRow, Store, StoreError, UserId,
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
#[derive(Debug, Clone, Default, serde::Deserialize)]
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
    auth_time: i64,
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
#[derive(Clone, Default, serde::Deserialize)]
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

#[derive(serde::Serialize, serde::Deserialize)]
struct UpstreamSecrets {
    verifier: String,
    nonce: String,
}

fn upstream_aad(interaction: &str, upstream: &ConnectorRef, state_hash: &str) -> AssociatedData {
    AssociatedData::new("strongroom.interaction_upstream.v1")
        .field("interaction", interaction)
        .field("kind", upstream.kind())
        .field("connector", upstream.id())
        .field("state", state_hash)
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
            .get_application(&ApplicationId(client_id.to_owned()))
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
            application_id: ApplicationId(pending.client_id.clone()),
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
        auth_time: i64,
        browser: Option<&str>,
    ) -> Result<Step, SignInError> {
        let app = self
            .store
            .get_application(&ApplicationId(pending.client_id.clone()))
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
                &ApplicationId(pending.client_id.clone()),
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
            provider_tokens: pending.scope.split(' ').any(|s| s == "identities"),
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
                let id = SsoConnectorId(id.to_owned());
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

    /// The hosted sign-in page of an interaction.
    pub async fn page(&self, id: &str, browser: Option<&str>) -> Result<SignInPage, SignInError> {
        let row = self.pending(id, browser).await?;
        let pending: Pending = serde_json::from_value(row.params.clone())
            .map_err(|_| SignInError::InteractionNotFound)?;
        let app = self
            .store
            .get_application(&row.application_id)
            .await?
            .ok_or(SignInError::UnknownClient)?;
        let connectors = self
            .connectors
            .list(None)
            .await?
            .into_iter()
            .filter(|c| self.connectors.social(c).is_ok())
            .map(|c| {
                let json = crate::connectors::connector_json(&c);
                PageConnector {
                    name: json["name"]["en"]
                        .as_str()
                        .or_else(|| json["name"].as_str())
                        .unwrap_or(&c.target)
                        .to_owned(),
                    logo: json["logo"].as_str().unwrap_or_default().to_owned(),
                    target: c.target,
                    id: c.id,
                }
            })
            .collect();
        Ok(SignInPage {
            interaction_id: row.id,
            application_name: app.name,
            connectors,
            sso_available: !self.connectors.list_sso().await?.is_empty(),
            login_hint: pending.login_hint,
        })
    }

    /// The sign-in page's social button: off to the provider.
    pub async fn choose_social(
        &self,
        id: &str,
        browser: Option<&str>,
        connector: &ConnectorId,
    ) -> Result<String, SignInError> {
        let row = self.pending(id, browser).await?;
        self.start_upstream(&row, &ConnectorRef::Social(connector.clone()))
            .await
    }

    /// The sign-in page's e-mail field: off to the SSO connector of the address's domain.
    pub async fn choose_sso_by_email(
        &self,
        id: &str,
        browser: Option<&str>,
        email: &str,
    ) -> Result<String, SignInError> {
        let row = self.pending(id, browser).await?;
        let connector = self
            .connectors
            .sso_for_email(email)
            .await?
            .ok_or_else(|| SignInError::NoSsoForEmail(email.chars().take(200).collect()))?;
        self.start_upstream(&row, &ConnectorRef::Sso(connector.id))
            .await
    }

    /// Records a fresh upstream attempt on the interaction and returns the provider's
    /// authorization URL.
    async fn start_upstream(
        &self,
        row: &InteractionRow,
        upstream: &ConnectorRef,
    ) -> Result<String, SignInError> {
        let pending: Pending = serde_json::from_value(row.params.clone())
            .map_err(|_| SignInError::InteractionNotFound)?;
        let state = random_token()?;
        let nonce = random_token()?;
        let verifier = random_token()?;
        let challenge = b64url(
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes()).as_ref(),
        );
        let redirect_uri = self.callback_uri(upstream);
        let login_hint = pending.login_hint.as_deref();
        let request = AuthorizationRequest {
            state: &state,
            redirect_uri: &redirect_uri,
            nonce: &nonce,
            code_challenge: &challenge,
            scope: None,
            login_hint,
        };
        let connector = self.connectors.connector(upstream).await?;
        let url = self
            .connectors
            .providers()
            .authorization_url(&connector, &request)
            .await
            .map_err(SignInError::Provider)?;
        let state_hash = token_hash(&state);
        let secrets = zeroize::Zeroizing::new(
            serde_json::to_vec(&UpstreamSecrets { verifier, nonce })
                .map_err(|e| CoreError::Internal(e.to_string()))?,
        );
        let sealed = self
            .keyring
            .seal(
                INTERACTION_DOMAIN,
                &row.id,
                &upstream_aad(&row.id, upstream, &state_hash),
                &secrets,
            )
            .map_err(CoreError::from)?;
        let recorded = self
            .store
            .set_interaction_upstream(
                &row.id,
                &state_hash,
                upstream.kind(),
                upstream.id(),
                &sealed,
                self.clock.now_ms(),
            )
            .await?;
        if !recorded {
            return Err(SignInError::InteractionNotFound);
        }
        Ok(url.into())
    }

    /// A provider's callback: checks the state against this browser's interaction (once),
    /// exchanges the code, finds or creates the user, stores the token set when the connector
    /// has storage on, and sends the browser back to the application with a code.
    pub async fn callback(
        &self,
        upstream: ConnectorRef,
        query: CallbackQuery,
        browser: Option<&str>,
    ) -> Result<Step, SignInError> {
        let state = query
            .state
            .as_deref()
            .filter(|s| !s.is_empty())
            .ok_or(SignInError::StateMismatch)?;
        let state_hash = token_hash(state);
        let row = self
            .store
            .find_interaction_by_state(&state_hash)
            .await?
            .ok_or(SignInError::StateMismatch)?;
        let matches = row.upstream_kind.as_deref() == Some(upstream.kind())
            && row.upstream_connector_id.as_deref() == Some(upstream.id())
            && bound_to(&row, browser);
        if !matches
            || !self
                .store
                .consume_interaction(&row.id, self.clock.now_ms())
                .await?
        {
            return Err(SignInError::StateMismatch);
        }
        let pending: Pending = serde_json::from_value(row.params.clone())
            .map_err(|_| SignInError::InteractionNotFound)?;
        if let Some(error) = query.error.as_deref() {
            // The provider refused (the user denied, ...): the application hears access_denied.
            tracing::info!(upstream = upstream.id(), error = %sanitize(error), "the provider ended the sign-in with an error");
            let description = format!("the identity provider answered {}", sanitize(error));
            return Ok(Step::to(self.error_redirect(
                &pending.redirect_uri,
                "access_denied",
                &description,
                pending.state.as_deref(),
            )));
        }
        let code = query
            .code
            .as_deref()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| {
                SignInError::Provider(ProviderError::InvalidResponse(
                    "the callback carries no code".into(),
                ))
            })?;
        let sealed = row
            .sealed_upstream
            .as_ref()
            .ok_or(SignInError::StateMismatch)?;
        let plain = self
            .keyring
            .open(
                INTERACTION_DOMAIN,
                &row.id,
                &upstream_aad(&row.id, &upstream, &state_hash),
                sealed,
            )
            .map_err(CoreError::from)?;
        let secrets: UpstreamSecrets =
            serde_json::from_slice(&plain).map_err(|_| SignInError::StateMismatch)?;
        let verifier = SecretString::from(secrets.verifier);
        let redirect_uri = self.callback_uri(&upstream);
        let callback = Callback {
            code,
            iss: query.iss.as_deref(),
            redirect_uri: &redirect_uri,
            code_verifier: &verifier,
            nonce: &secrets.nonce,
        };
        let user_id = match &upstream {
            ConnectorRef::Social(id) => self.social_sign_in(id, &callback).await?,
            ConnectorRef::Sso(id) => self.sso_sign_in(id, &callback).await?,
        };
        let now = self.clock.now_ms();
        self.store.record_sign_in(&user_id, now).await?;
        let session = random_token()?;
        let auth_time = now / 1000;
        self.store
            .insert_session(&SessionRow {
                id_hash: token_hash(&session),
                user_id: user_id.clone(),
                auth_time,
                created_at: now,
                expires_at: now + SESSION_TTL_SECS * 1000,
            })
            .await?;
        let step = self.finish(&pending, &user_id, auth_time, browser).await?;
        Ok(Step {
            set_session: Some(session),
            ..step
        })
    }

    /// Issues the authorization code and builds the redirect back to the application.
    async fn complete(
        &self,
        pending: &Pending,
        user_id: &UserId,
        auth_time: i64,
    ) -> Result<String, SignInError> {
        let code = self
            .oidc
            .issue_code(&CodeRequest {
                application_id: ApplicationId(pending.client_id.clone()),
                user_id: user_id.clone(),
                redirect_uri: pending.redirect_uri.clone(),
                scope: pending.scope.clone(),
                resource: None,
                nonce: pending.nonce.clone(),
                code_challenge: pending.code_challenge.clone(),
                code_challenge_method: pending.code_challenge_method.clone(),
                auth_time,
            })
            .await?;
        Ok(with_params(
            &pending.redirect_uri,
            &[
                ("code", Some(&code)),
                ("state", pending.state.as_deref()),
                ("iss", Some(self.oidc.issuer())),
            ],
        ))
    }

    async fn social_sign_in(
        &self,
        id: &ConnectorId,
        callback: &Callback<'_>,
    ) -> Result<UserId, SignInError> {
        let row = self.connectors.get(id).await?;
        let connector = self.connectors.social(&row)?;
        let (tokens, profile) = self
            .connectors
            .providers()
            .exchange(&connector, callback)
            .await
            .map_err(SignInError::Provider)?;
        let owner = match self
            .store
            .find_social_identity(&row.target, &profile.id)
            .await?
        {
            Some(identity) => Owner::Existing(identity.user_id),
            None => Owner::Created(
                self.create_user(&profile, EmailVerifier::Social(row.target.clone()))
                    .await?,
            ),
        };
        let linked = self
            .store
            .link_social_identity(
                owner.id(),
                &row.target,
                &profile.id,
                &profile.details,
                self.clock.now_ms(),
            )
            .await;
        let identity = match self.settle_race(owner, linked).await? {
            Some(identity) => identity,
            None => self
                .store
                .find_social_identity(&row.target, &profile.id)
                .await?
                .ok_or(SignInError::StateMismatch)?,
        };
        if row.enable_token_storage {
            let outcome = self
                .token_sets
                .store_social(&row.id, &identity, tokens)
                .await;
            self.audit_store(
                &identity.user_id,
                &row.target,
                json!({"connectorId": row.id}),
                outcome,
            )
            .await;
        }
        Ok(identity.user_id)
    }

    async fn sso_sign_in(
        &self,
        id: &SsoConnectorId,
        callback: &Callback<'_>,
    ) -> Result<UserId, SignInError> {
        let row = self.connectors.get_sso(id).await?;
        let connector = self.connectors.sso(&row)?;
        let issuer = connector.issuer().to_owned();
        let (tokens, profile) = self
            .connectors
            .providers()
            .exchange(&connector.clone().into(), callback)
            .await
            .map_err(SignInError::Provider)?;
        let owner = match self.store.find_sso_identity(&issuer, &profile.id).await? {
            Some(identity) => Owner::Existing(identity.user_id),
            None => match self.user_by_trusted_email(&row, &profile).await? {
                Some(user) => Owner::Existing(user),
                None => Owner::Created(
                    self.create_user(&profile, EmailVerifier::Sso(row.id.clone()))
                        .await?,
                ),
            },
        };
        let linked = self
            .store
            .link_sso_identity(
                owner.id(),
                &row.id,
                &issuer,
                &profile.id,
                &profile.details,
                self.clock.now_ms(),
            )
            .await;
        let identity = match self.settle_race(owner, linked).await? {
            Some(identity) => identity,
            None => self
                .store
                .find_sso_identity(&issuer, &profile.id)
                .await?
                .ok_or(SignInError::StateMismatch)?,
        };
        if row.enable_token_storage {
            let outcome = self.token_sets.store_sso(&row.id, &identity, tokens).await;
            self.audit_store(
                &identity.user_id,
                row.id.as_str(),
                json!({"ssoConnectorId": row.id}),
                outcome,
            )
            .await;
        }
        Ok(identity.user_id)
    }

    /// The outcome of linking a provider account to `owner`. A conflict means a concurrent first
    /// sign-in of the same provider account linked it first: the user this attempt created, if
    /// any, is deleted again unless the winner linked the account to that very user (it joined
    /// it by e-mail); an existing user is never deleted. `None` tells the caller to use the
    /// winner's identity.
    async fn settle_race<T>(
        &self,
        owner: Owner,
        linked: Result<T, StoreError>,
    ) -> Result<Option<T>, SignInError> {
        match linked {
            Ok(identity) => Ok(Some(identity)),
            // A conflict: the account was linked first by a concurrent sign-in. A missing
            // reference: the user this attempt joined by e-mail was taken back by the attempt
            // that created it, which lost the race to link it.
            Err(StoreError::Conflict(_) | StoreError::MissingReference(_)) => {
                if let Owner::Created(user) = owner
                    && let Err(e) = self.store.delete_user_if_unlinked(&user).await
                {
                    tracing::warn!(user = %user, error = %e, "cannot delete the user of a sign-in that lost a race");
                }
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The existing user an SSO sign-in joins by e-mail address. Both sides must be verified:
    /// the SSO provider says `email_verified: true` (a missing claim is "not verified") for an
    /// address of the connector's domains, and the existing user's address was verified by a
    /// source trusted for that domain (this connector, or an administrator). An address a
    /// social provider reported, verified or not, never lets an SSO sign-in into that account.
    async fn user_by_trusted_email(
        &self,
        row: &SsoConnectorRow,
        profile: &UserProfile,
    ) -> Result<Option<UserId>, SignInError> {
        let Some(email) = profile
            .email
            .as_deref()
            .filter(|_| profile.email_verified == Some(true))
        else {
            return Ok(None);
        };
        let in_domain = email
            .rsplit_once('@')
            .is_some_and(|(_, d)| row.domains.contains(&d.to_ascii_lowercase()));
        if !in_domain {
            return Ok(None);
        }
        Ok(self
            .store
            .find_user_by_email(email)
            .await?
            .filter(|u| {
                EmailVerifier::trusted_for_sso(u.primary_email_verified_by.as_deref(), &row.id)
            })
            .map(|u| u.id))
    }

    /// A new user from a provider profile. The e-mail address becomes the primary one only when
    /// the provider says it verified it (`email_verified: true`) and no other user has it; it is
    /// then stored as verified by `verifier`. An unverified address stays in the identity's
    /// details only. The name and avatar are taken when they are plausible (a name of at most
    /// 128 characters, an http(s) avatar URL of at most 2,048).
    async fn create_user(
        &self,
        profile: &UserProfile,
        verifier: EmailVerifier,
    ) -> Result<UserId, SignInError> {
        let id = UserId::generate();
        let email = match profile.email.as_deref() {
            Some(e)
                if profile.email_verified == Some(true)
                    && self.store.find_user_by_email(e).await?.is_none() =>
            {
                Some(e.to_owned())
            }
            _ => None,
        };
        let new = NewUser {
            primary_email_verified_by: email.as_ref().map(|_| verifier.stored()),
            primary_email: email,
            name: profile
                .name
                .as_deref()
                .map(|n| n.chars().take(crate::limits::NAME).collect()),
            avatar: profile
                .avatar
                .clone()
                .filter(|a| crate::limits::is_web_url(a, crate::limits::URL)),
            ..NewUser::default()
        };
        match self.store.insert_user(&id, &new, self.clock.now_ms()).await {
            Ok(_) => {}
            // The address was taken in the meantime: create the user without it.
            Err(StoreError::Conflict(_)) => {
                self.store
                    .insert_user(
                        &id,
                        &NewUser {
                            primary_email: None,
                            primary_email_verified_by: None,
                            ..new
                        },
                        self.clock.now_ms(),
                    )
                    .await?;
            }
            Err(e) => return Err(e.into()),
        }
        Ok(id)
    }

    /// A failure to store tokens never breaks the sign-in: it is logged and audited.
    async fn audit_store(
        &self,
        user_id: &UserId,
        target: &str,
        detail: Value,
        outcome: crate::Result<strongroom_store::SecretRow>,
    ) {
        let mut entry = Entry::new(Actor::User(user_id.0.clone()), "token.store", "success");
        entry.user_id = Some(user_id.0.clone());
        entry.target = Some(target.to_owned());
        entry.detail = detail;
        match outcome {
            Ok(secret) => entry.secret_id = Some(secret.id.0),
            Err(e) => {
                tracing::warn!(user = %user_id, target, error = %e, "storing the provider's token set failed; the sign-in goes on");
                entry.outcome = "store_failed".into();
            }
        }
        self.audit.record(entry).await;
    }
}

/// The user a provider account is being linked to.
#[derive(Debug)]
enum Owner {
    /// Found by the identity or by a trusted e-mail address.
    Existing(UserId),
    /// Created by this sign-in.
    Created(UserId),
}

impl Owner {
    fn id(&self) -> &UserId {
        match self {
            Self::Existing(id) | Self::Created(id) => id,
        }
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
        client_id: app.id.0.clone(),
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
