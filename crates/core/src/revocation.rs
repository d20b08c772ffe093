//! Deleting token sets: the audit trail records each deletion, and the tokens are revoked at
//! the provider where it supports revocation (RFC 7009 endpoints, Google's, GitHub's grant
//! API), best effort, in the background, each outcome audited.
//!
//! Callers read what they need with [`Revoker::prepare`] before the rows go (a cascade takes
//! the connector config or the tokens with it), delete, then hand the result to
//! [`Revoker::finish`].

use std::sync::Arc;

use secrecy::SecretString;
use serde_json::json;
use strongroom_providers::{Connector, Providers};
use strongroom_store::{SecretId, SecretRow, Store, UserId};
use strongroom_vault::Keyring;

use crate::audit::{Actor, Audit, Entry};
use crate::connection::connector_of;
use crate::token_sets::TokenSets;

/// Most token sets one bulk deletion (a connector, its storage switched off) revokes at the
/// provider; beyond that the sets are deleted and audited, not revoked.
pub const MAX_BULK_REVOCATIONS: i64 = 10_000;

/// A token set about to be deleted, with what revoking it needs (when it is revoked).
#[derive(Debug)]
pub struct Doomed {
    id: SecretId,
    user_id: UserId,
    target: String,
    revoke: Option<Revocation>,
}

/// How to end a token set's grant at the provider.
#[derive(Debug)]
struct Revocation {
    connector: Connector,
    /// The token to revoke.
    token: SecretString,
    /// A refresh token to trade for a live access token first: the provider revokes the grant
    /// only with a live access token (GitHub), and the stored one has expired.
    refresh_first: Option<SecretString>,
}

impl Doomed {
    /// A set that is deleted and audited but not revoked (beyond a bulk deletion's limit).
    pub fn unrevoked(id: SecretId, user_id: UserId, target: String) -> Self {
        Self {
            id,
            user_id,
            target,
            revoke: None,
        }
    }

    pub fn id(&self) -> &SecretId {
        &self.id
    }
}

/// Audits deletions and revokes at the provider.
#[derive(Debug, Clone)]
pub struct Revoker {
    store: Store,
    keyring: Arc<Keyring>,
    clock: Arc<dyn crate::Clock>,
    token_sets: TokenSets,
    audit: Audit,
    providers: Providers,
    in_flight: Arc<InFlight>,
}

/// The background revocations still running, so a shutdown (or a test) can wait for them.
#[derive(Debug, Default)]
struct InFlight {
    count: std::sync::atomic::AtomicUsize,
    ended: tokio::sync::Notify,
}

/// One running background revocation: counted from its start until it ends (or panics).
struct Running(Arc<InFlight>);

impl Running {
    fn start(in_flight: &Arc<InFlight>) -> Self {
        in_flight
            .count
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Self(in_flight.clone())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0
            .count
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        self.0.ended.notify_waiters();
    }
}

impl Revoker {
    pub fn new(
        store: Store,
        keyring: Arc<Keyring>,
        clock: Arc<dyn crate::Clock>,
        token_sets: TokenSets,
        audit: Audit,
        providers: Providers,
    ) -> Self {
        Self {
            store,
            keyring,
            clock,
            token_sets,
            audit,
            providers,
            in_flight: Arc::default(),
        }
    }

    /// Opens each set and builds its connector, while both still exist. A set that cannot be
    /// opened, or whose connector is unusable, is still deleted and audited, just not revoked.
    pub async fn prepare(&self, secrets: Vec<SecretRow>) -> Vec<Doomed> {
        let mut out = Vec::with_capacity(secrets.len());
        for secret in secrets {
            let revoke = self.revocation_for(&secret).await.unwrap_or_else(|e| {
                tracing::warn!(secret = %secret.id, error = %e, "cannot prepare the provider revocation");
                None
            });
            out.push(Doomed {
                target: secret.relation.key().target().to_owned(),
                id: secret.id,
                user_id: secret.user_id,
                revoke,
            });
        }
        out
    }

    async fn revocation_for(&self, secret: &SecretRow) -> crate::Result<Option<Revocation>> {
        let set = self.token_sets.open(secret)?;
        let Some(connector) =
            connector_of(&self.store, &self.keyring, &secret.relation.connector()).await?
        else {
            return Ok(None);
        };
        let expired = secret
            .metadata
            .expires_at
            .is_some_and(|at| at <= self.clock.now_secs());
        let (token, refresh_first) = match set.refresh_token {
            Some(refresh) if !connector.revokes_with_access_token() => (refresh, None),
            Some(refresh) if expired && connector.supports_refresh() => {
                (set.access_token, Some(refresh))
            }
            _ => (set.access_token, None),
        };
        Ok(Some(Revocation {
            connector,
            token,
            refresh_first,
        }))
    }

    /// Ends the grant at the provider (trading the refresh token for a live access token
    /// first when that is what it takes).
    async fn revoke(
        &self,
        revocation: Revocation,
    ) -> Result<(), strongroom_providers::ProviderError> {
        let c = &revocation.connector;
        let token = match &revocation.refresh_first {
            Some(refresh) => self.providers.refresh(c, refresh).await?.access_token,
            None => revocation.token,
        };
        self.providers.revoke(c, &token).await
    }

    /// Records `token.delete` for each set (before returning), then revokes at the providers in
    /// the background, recording `token.revoke` with its outcome.
    pub async fn finish(&self, doomed: Vec<Doomed>, actor: &Actor, reason: &'static str) {
        self.audit
            .record_all(doomed.iter().map(|d| {
                let mut entry = Entry::new(actor.clone(), "token.delete", "success");
                entry.user_id = Some(d.user_id.as_str().to_owned());
                entry.secret_id = Some(d.id.as_str().to_owned());
                entry.target = Some(d.target.clone());
                entry.detail = json!({ "reason": reason });
                entry
            }))
            .await;
        let this = self.clone();
        let actor = actor.clone();
        let running = Running::start(&self.in_flight);
        tokio::spawn(async move {
            let _running = running;
            for d in doomed {
                let Some(revocation) = d.revoke else {
                    continue;
                };
                let result = this.revoke(revocation).await;
                let outcome = match &result {
                    Ok(()) => "success".to_owned(),
                    Err(strongroom_providers::ProviderError::NotSupported(_)) => {
                        "not_supported".to_owned()
                    }
                    Err(e) if e.is_transient() => "provider_unavailable".to_owned(),
                    Err(_) => "failed".to_owned(),
                };
                if let Err(e) = &result {
                    tracing::info!(secret = %d.id, error = %e, "provider revocation did not succeed");
                }
                let mut entry = Entry::new(actor.clone(), "token.revoke", outcome);
                entry.user_id = Some(d.user_id.as_str().to_owned());
                entry.secret_id = Some(d.id.as_str().to_owned());
                entry.target = Some(d.target.clone());
                this.audit.record(entry).await;
            }
        });
    }

    /// Waits until every background revocation started so far has ended and been audited: a
    /// shutdown lets them finish, and a test reads their outcome without polling.
    pub async fn settled(&self) {
        loop {
            let ended = self.in_flight.ended.notified();
            tokio::pin!(ended);
            ended.as_mut().enable();
            if self
                .in_flight
                .count
                .load(std::sync::atomic::Ordering::SeqCst)
                == 0
            {
                return;
            }
            ended.await;
        }
    }
}
