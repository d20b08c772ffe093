//! Handing a user their provider access token, refreshed when it is about to expire, without
//! ever losing the grant.
//!
//! One refresh per secret at a time: readers in this process queue on a per-secret lock, and
//! the process that refreshes first takes the secret's lease in the database (a conditional
//! `UPDATE`, so processes sharing a PostgreSQL database coordinate through it). Everyone else
//! waits for the holder's write and reuses its token: the refresh token is sent once. The new
//! set is committed before anyone gets it. A transient provider failure leaves the set
//! untouched; `invalid_grant` keeps it and marks it; a crashed holder's lease simply expires.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use secrecy::SecretString;
use serde_json::json;
use strongroom_providers::{ProviderError, TokenResponse};
use strongroom_store::{
    ApplicationId, IdentityKey, SecretId, SecretRow, Store, TokenSetMetadata, UnixSecs, UserId,
};
use strongroom_vault::Keyring;

use crate::audit::{Actor, Audit, Entry};
use crate::connection::connector_of;
use crate::connectors::Connectors;
use crate::metrics::{Metrics, NO_CONNECTION};
use crate::revocation::Revoker;
use crate::token_sets::TokenSets;
use crate::{Clock, CoreError};

/// Refresh this long before expiry, by default.
pub const DEFAULT_REFRESH_SKEW_SECS: i64 = 60;
/// `refreshError` of a set whose refresh token the provider refused.
pub const REFRESH_TOKEN_REVOKED: &str = "refresh_token_revoked";
const WAIT_STEP: Duration = Duration::from_millis(25);

/// What the Account API returns: never a refresh or ID token.
#[derive(Debug, Clone)]
pub struct AccessToken {
    pub access_token: SecretString,
    pub scope: Option<String>,
    pub token_type: Option<String>,
    /// Seconds left; `None` without `expiresAt` (or when already past it).
    pub expires_in: Option<i64>,
}

impl AccessToken {
    /// The access token of a stored set, with what its metadata says, at `now`.
    pub(crate) fn from(
        access_token: SecretString,
        metadata: &TokenSetMetadata,
        now: UnixSecs,
    ) -> Self {
        Self {
            access_token,
            scope: metadata.scope.clone(),
            token_type: metadata.token_type.clone(),
            expires_in: metadata
                .expires_at
                .map(|at| at.since(now))
                .filter(|s| *s > 0),
        }
    }
}

/// Who reads a provider token, for the audit trail.
#[derive(Debug, Clone)]
pub struct Reader {
    /// The application that reads (the client of the bearer, exchange or assertion).
    pub application: ApplicationId,
    pub via: Via,
    /// RFC 8693's actor: whoever acts through the application (an agent's own token).
    pub actor: Option<ActorToken>,
    /// What the caller says it reads the token for (bounded; see [`check_purpose`]).
    pub purpose: Option<String>,
}

/// The way a provider token is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The Account API, with the user's own access token.
    AccountApi,
    /// Token exchange (RFC 8693) of the user's access or refresh token.
    Exchange,
    /// Break-glass: a worker without any user token.
    Worker,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccountApi => "account_api",
            Self::Exchange => "token_exchange",
            Self::Worker => "worker",
        }
    }
}

/// The holder of an actor token: its application and, for a user's token, its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActorToken {
    pub application: ApplicationId,
    pub user: Option<UserId>,
}

/// The longest purpose a caller may give, in characters.
pub const PURPOSE_MAX_CHARS: usize = 200;

/// A caller-supplied purpose: at most [`PURPOSE_MAX_CHARS`] characters, no control characters.
/// An empty one is none.
pub fn check_purpose(purpose: Option<&str>) -> crate::Result<Option<String>> {
    let Some(purpose) = purpose.map(str::trim).filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    if purpose.chars().count() > PURPOSE_MAX_CHARS || purpose.chars().any(char::is_control) {
        return Err(CoreError::Validation(format!(
            "the purpose is at most {PURPOSE_MAX_CHARS} characters, without control characters"
        )));
    }
    Ok(Some(purpose.to_owned()))
}

impl Reader {
    /// A read through the Account API by the application the user's token was issued to.
    pub fn account_api(application: ApplicationId, purpose: Option<String>) -> Self {
        Self {
            application,
            via: Via::AccountApi,
            actor: None,
            purpose,
        }
    }

    /// Who the trail names as acting: the user on their own Account API, the application
    /// otherwise.
    fn audit_actor(&self, user: &UserId) -> Actor {
        match self.via {
            Via::AccountApi => Actor::User(user.as_str().to_owned()),
            Via::Exchange | Via::Worker => Actor::Application(self.application.as_str().to_owned()),
        }
    }

    fn detail(&self) -> serde_json::Value {
        let mut detail = json!({ "applicationId": self.application, "via": self.via.as_str() });
        if let Some(actor) = &self.actor {
            detail["actor"] = json!({ "applicationId": actor.application, "userId": actor.user });
        }
        if let Some(purpose) = &self.purpose {
            detail["purpose"] = json!(purpose);
        }
        if self.via == Via::Worker {
            detail["breakGlass"] = json!(true);
        }
        detail
    }
}

/// Why no access token could be handed out.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("Token record not found.")]
    NotFound,
    #[error("The access token has expired. Please reconnect your account.")]
    Expired,
    #[error("The provider refused the refresh token. Please reconnect your account.")]
    RefreshTokenRevoked,
    #[error(
        "The identity provider did not answer the refresh; the stored tokens are unchanged. Try again later."
    )]
    ProviderUnavailable,
    #[error(
        "The identity provider's answer to the refresh cannot be used; the stored tokens are unchanged."
    )]
    ProviderInvalidResponse,
    #[error(transparent)]
    Core(#[from] CoreError),
}

impl From<strongroom_store::StoreError> for TokenError {
    fn from(e: strongroom_store::StoreError) -> Self {
        Self::Core(e.into())
    }
}

/// The outcome class of a refresh attempt, for the audit trail and the caller.
fn classify(e: &ProviderError) -> (&'static str, bool) {
    match e {
        ProviderError::InvalidGrant(_) => (REFRESH_TOKEN_REVOKED, false),
        ProviderError::Timeout | ProviderError::Unavailable { .. } => {
            ("provider_unavailable", true)
        }
        ProviderError::NotSupported(_) => ("not_supported", false),
        _ => ("invalid_response", true),
    }
}

/// Per-secret locks for the readers of this process.
#[derive(Debug, Default)]
struct Flights(Mutex<HashMap<SecretId, Arc<tokio::sync::Mutex<()>>>>);

impl Flights {
    fn lock_for(&self, id: &SecretId) -> Arc<tokio::sync::Mutex<()>> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(id.clone())
            .or_default()
            .clone()
    }

    /// Forgets a lock nobody else holds or waits for.
    fn release(&self, id: &SecretId, lock: Arc<tokio::sync::Mutex<()>>) {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        // Ours and the map's: nobody else has it.
        if Arc::strong_count(&lock) <= 2 {
            map.remove(id);
        }
    }
}

/// The token-access service.
#[derive(Debug, Clone)]
pub struct TokenAccess {
    store: Store,
    keyring: Arc<Keyring>,
    clock: Arc<dyn Clock>,
    token_sets: TokenSets,
    connectors: Connectors,
    audit: Audit,
    revoker: Revoker,
    metrics: Metrics,
    flights: Arc<Flights>,
    /// Identifies this process's leases.
    owner: String,
    skew_secs: i64,
    lease: Duration,
    #[cfg(feature = "test-hooks")]
    crash_before_commit: bool,
}

/// How refreshes behave.
#[derive(Debug, Clone, Copy)]
pub struct RefreshOptions {
    /// Refresh when fewer seconds than this are left.
    pub skew_secs: i64,
    /// How long a refresh lease lasts (at least a provider call's timeout).
    pub lease: Duration,
    /// Test hook, compiled only with the `test-hooks` feature (never into a release build):
    /// abort the process after the provider answered a refresh and before the answer is
    /// committed.
    #[cfg(feature = "test-hooks")]
    pub crash_before_commit: bool,
}

impl RefreshOptions {
    pub fn new(skew_secs: i64, lease: Duration) -> Self {
        Self {
            skew_secs,
            lease,
            #[cfg(feature = "test-hooks")]
            crash_before_commit: false,
        }
    }

    /// In a build with the `test-hooks` feature (the test suite's), reads the crash hook from
    /// `STRONGROOM_TEST_CRASH_BEFORE_REFRESH_COMMIT=1`; otherwise does nothing.
    pub fn with_test_hooks_from_env(self) -> Self {
        #[cfg(feature = "test-hooks")]
        {
            let mut options = self;
            options.crash_before_commit =
                std::env::var("STRONGROOM_TEST_CRASH_BEFORE_REFRESH_COMMIT")
                    .is_ok_and(|v| v == "1");
            options
        }
        #[cfg(not(feature = "test-hooks"))]
        self
    }
}

impl TokenAccess {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Store,
        keyring: Arc<Keyring>,
        clock: Arc<dyn Clock>,
        token_sets: TokenSets,
        connectors: Connectors,
        audit: Audit,
        revoker: Revoker,
        metrics: Metrics,
        options: RefreshOptions,
    ) -> Self {
        Self {
            store,
            keyring,
            clock,
            token_sets,
            connectors,
            audit,
            revoker,
            metrics,
            flights: Arc::default(),
            owner: strongroom_store::new_id(),
            skew_secs: options.skew_secs,
            lease: options.lease,
            #[cfg(feature = "test-hooks")]
            crash_before_commit: options.crash_before_commit,
        }
    }

    fn fresh(&self, metadata: &TokenSetMetadata, now: UnixSecs) -> bool {
        metadata
            .expires_at
            .is_none_or(|at| now.plus(self.skew_secs) < at)
    }

    /// The user's access token for an identity, read by `reader`, refreshed first when it
    /// expires within the skew. Every read is audited with the reader: its application, the
    /// way it read, the actor and the purpose it gave.
    pub async fn access_token(
        &self,
        user: &UserId,
        reader: &Reader,
        identity: &IdentityKey,
    ) -> Result<AccessToken, TokenError> {
        let result = self.read(user, identity).await;
        let outcome = match &result {
            Ok((_, _)) => "success",
            Err(TokenError::NotFound) => "token_not_found",
            Err(TokenError::Expired) => "access_token_expired",
            Err(TokenError::RefreshTokenRevoked) => REFRESH_TOKEN_REVOKED,
            Err(TokenError::ProviderUnavailable) => "provider_unavailable",
            Err(TokenError::ProviderInvalidResponse) => "invalid_response",
            Err(TokenError::Core(_)) => "internal_error",
        };
        let mut entry = Entry::new(reader.audit_actor(user), "token.read", outcome);
        entry.user_id = Some(user.as_str().to_owned());
        entry.target = Some(identity.target().to_owned());
        entry.application_id = Some(reader.application.as_str().to_owned());
        if let Ok((id, _)) = &result {
            entry.secret_id = Some(id.as_str().to_owned());
        }
        entry.detail = reader.detail();
        self.audit.record_soon(entry).await;
        // What the caller named is a label only where a stored set was found there.
        let connector = match &result {
            Err(TokenError::NotFound | TokenError::Core(_)) => NO_CONNECTION,
            _ => identity.target(),
        };
        self.metrics.read(connector, reader.via, outcome);
        result.map(|(_, token)| token)
    }

    async fn read(
        &self,
        user: &UserId,
        identity: &IdentityKey,
    ) -> Result<(SecretId, AccessToken), TokenError> {
        let row = self
            .store
            .find_secret_cached(user, identity)
            .await?
            .ok_or(TokenError::NotFound)?;
        let now = self.clock.now_secs();
        if self.fresh(&row.metadata, now) {
            let set = self.token_sets.open(&row)?;
            return Ok((
                row.id.clone(),
                AccessToken::from(set.access_token, &row.metadata, now),
            ));
        }
        let lock = self.flights.lock_for(&row.id);
        let result = {
            let _guard = lock.lock().await;
            self.refresh(&row.id, user).await
        };
        self.flights.release(&row.id, lock);
        result.map(|token| (row.id, token))
    }

    /// Under this process's lock for the secret: reuse a fresh set another reader or process
    /// wrote, or take the lease and refresh.
    async fn refresh(&self, id: &SecretId, user: &UserId) -> Result<AccessToken, TokenError> {
        let deadline = tokio::time::Instant::now() + self.lease + Duration::from_secs(1);
        loop {
            let row = self
                .store
                .get_secret(id)
                .await?
                .filter(|r| &r.user_id == user)
                .ok_or(TokenError::NotFound)?;
            let now = self.clock.now_secs();
            let set = self.token_sets.open(&row)?;
            if self.fresh(&row.metadata, now) {
                return Ok(AccessToken::from(set.access_token, &row.metadata, now));
            }
            let still_valid = row.metadata.expires_at.is_some_and(|at| now < at);
            let current = |error: TokenError| {
                if still_valid {
                    Ok(AccessToken::from(
                        set.access_token.clone(),
                        &row.metadata,
                        now,
                    ))
                } else {
                    Err(error)
                }
            };
            let Some(refresh_token) = set.refresh_token.clone() else {
                return current(TokenError::Expired);
            };
            if row.metadata.refresh_error.as_deref() == Some(REFRESH_TOKEN_REVOKED) {
                return current(TokenError::RefreshTokenRevoked);
            }
            let now_ms = self.clock.now_ms();
            let lease_until = now_ms + i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX);
            if !self
                .store
                .try_acquire_refresh_lease(&row.id, row.version, &self.owner, now_ms, lease_until)
                .await?
            {
                // Another process is refreshing (or just wrote): wait for its write.
                if tokio::time::Instant::now() >= deadline {
                    return current(TokenError::ProviderUnavailable);
                }
                tokio::time::sleep(WAIT_STEP).await;
                continue;
            }
            let leased = SecretRow {
                lease_owner: Some(self.owner.clone()),
                refresh_lease_until: Some(lease_until),
                ..row.clone()
            };
            let started = std::time::Instant::now();
            let answer = self.call_provider(&leased, &refresh_token).await;
            let took = started.elapsed().as_secs_f64();
            return match answer {
                Ok(response) => self.commit(leased, set, response, user, took).await,
                Err(e) => {
                    let (class, transient) = classify(&e);
                    tracing::warn!(secret = %leased.id, error = %e, "refreshing the provider's token failed");
                    if class == REFRESH_TOKEN_REVOKED {
                        self.token_sets
                            .mark_refresh_error(&leased, REFRESH_TOKEN_REVOKED)
                            .await?;
                    } else {
                        self.store
                            .release_refresh_lease(&leased.id, &self.owner)
                            .await?;
                    }
                    self.record_refresh(&leased, user, class, took).await;
                    let error = match (class, transient) {
                        (REFRESH_TOKEN_REVOKED, _) => TokenError::RefreshTokenRevoked,
                        ("provider_unavailable", _) => TokenError::ProviderUnavailable,
                        (_, true) => TokenError::ProviderInvalidResponse,
                        (_, false) => TokenError::Expired,
                    };
                    current(error)
                }
            };
        }
    }

    async fn call_provider(
        &self,
        row: &SecretRow,
        refresh_token: &SecretString,
    ) -> Result<TokenResponse, ProviderError> {
        let config_error = |e: CoreError| ProviderError::Config(e.to_string());
        let connector = connector_of(&self.store, &self.keyring, &row.relation.connector())
            .await
            .map_err(config_error)?
            .ok_or(ProviderError::NotSupported(
                "the connector no longer exists",
            ))?;
        if !connector.supports_refresh() {
            return Err(ProviderError::NotSupported(
                "this provider issues no refresh tokens",
            ));
        }
        self.connectors
            .providers()
            .refresh(&connector, refresh_token)
            .await
    }

    async fn commit(
        &self,
        row: SecretRow,
        old: crate::token_sets::TokenSet,
        response: TokenResponse,
        user: &UserId,
        took: f64,
    ) -> Result<AccessToken, TokenError> {
        #[cfg(feature = "test-hooks")]
        if self.crash_before_commit {
            tracing::error!(
                "test hook: aborting between the provider's refresh answer and the commit"
            );
            std::process::abort();
        }
        let written = self.token_sets.apply_refresh(&row, old, response).await?;
        let outcome = if written { "success" } else { "superseded" };
        self.record_refresh(&row, user, outcome, took).await;
        // Whoever wrote last wins; hand out what is stored now.
        let row = self
            .store
            .get_secret(&row.id)
            .await?
            .ok_or(TokenError::NotFound)?;
        let set = self.token_sets.open(&row)?;
        Ok(AccessToken::from(
            set.access_token,
            &row.metadata,
            self.clock.now_secs(),
        ))
    }

    /// Audits a refresh and counts it, with the provider's answer time (`took`, seconds).
    async fn record_refresh(&self, row: &SecretRow, user: &UserId, outcome: &str, took: f64) {
        self.metrics
            .refresh(row.relation.key().target(), outcome, took);
        let mut entry = Entry::new(
            Actor::User(user.as_str().to_owned()),
            "token.refresh",
            outcome,
        );
        entry.user_id = Some(user.as_str().to_owned());
        entry.secret_id = Some(row.id.as_str().to_owned());
        entry.target = Some(row.relation.key().target().to_owned());
        entry.detail = json!({ "version": row.version });
        self.audit.record(entry).await;
    }

    /// `DELETE /api/secrets/:id`: deletes one secret (its identity stays) and revokes it at the
    /// provider. False when there is no such secret.
    pub async fn delete_secret(&self, id: &SecretId, actor: &Actor) -> crate::Result<bool> {
        let Some(row) = self.store.get_secret(id).await? else {
            return Ok(false);
        };
        let doomed = self.revoker.prepare(vec![row]).await;
        if !self.store.delete_secret(id).await? {
            return Ok(false);
        }
        self.revoker.finish(doomed, actor, "deleted").await;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_purpose_is_short_printable_text_and_blank_is_none() {
        assert_eq!(check_purpose(None).expect("none"), None);
        assert_eq!(check_purpose(Some("   ")).expect("blank"), None);
        assert_eq!(
            check_purpose(Some(" sync the calendar ")).expect("ok"),
            Some("sync the calendar".to_owned())
        );
        let longest = "é".repeat(PURPOSE_MAX_CHARS);
        assert_eq!(
            check_purpose(Some(&longest)).expect("200 characters"),
            Some(longest.clone())
        );
        for bad in [
            format!("{longest}x"),
            "line\nbreak".into(),
            "nul\0".into(),
            "esc\u{1b}[2J".into(),
        ] {
            assert!(check_purpose(Some(&bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_trail_names_the_user_on_the_account_api_and_the_application_otherwise() {
        let user = UserId::from("u1".to_owned());
        let app = ApplicationId::from("app1".to_owned());
        let mine = Reader::account_api(app.clone(), None);
        assert_eq!(mine.audit_actor(&user), Actor::User("u1".into()));
        assert_eq!(
            mine.detail(),
            json!({"applicationId": "app1", "via": "account_api"})
        );
        let worker = Reader {
            application: app.clone(),
            via: Via::Worker,
            actor: Some(ActorToken {
                application: ApplicationId::from("agent".to_owned()),
                user: None,
            }),
            purpose: Some("nightly".into()),
        };
        assert_eq!(worker.audit_actor(&user), Actor::Application("app1".into()));
        assert_eq!(
            worker.detail(),
            json!({"applicationId": "app1", "via": "worker", "breakGlass": true,
                "purpose": "nightly", "actor": {"applicationId": "agent", "userId": null}})
        );
    }
}
