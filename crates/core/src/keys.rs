//! The start-up key check: prove that the configured KEKs open the data already stored.

use strongroom_store::Store;
use strongroom_vault::{KekId, Keyring};

use crate::Clock;

/// Why the configured keys do not fit the stored data. Messages name `SECRET_VAULT_KEK` so an
/// operator knows what to fix, and never contain key material.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyCheckError {
    #[error(
        "SECRET_VAULT_KEK does not open the existing data: records are wrapped by KEK {needed}, \
         which is neither SECRET_VAULT_KEK (KEK {active}) nor listed in SECRET_VAULT_PREVIOUS_KEKS. \
         Set SECRET_VAULT_KEK to the key the data was written with, or keep it in \
         SECRET_VAULT_PREVIOUS_KEKS until `strongroom vault rewrap` has moved every record"
    )]
    MissingKek { needed: KekId, active: KekId },
    #[error(
        "SECRET_VAULT_KEK check failed: the stored key-check value of KEK {0} does not open with \
         the configured key (the key-check row was altered, or the key is wrong)"
    )]
    CheckFailed(KekId),
}

/// Verifies every stored key-check value that the keyring can open, refuses to go on when a KEK
/// that some record still needs is missing, and then records the active KEK's key-check value.
pub async fn verify_and_register(
    store: &Store,
    keyring: &Keyring,
    clock: &dyn Clock,
) -> crate::Result<()> {
    let known: Vec<&KekId> = keyring.kek_ids().collect();
    for check in store.list_key_checks().await? {
        if known.contains(&&check.kek_id) {
            keyring
                .verify_key_check(&check)
                .map_err(|_| KeyCheckError::CheckFailed(check.kek_id.clone()))?;
        } else if store.kek_in_use(&check.kek_id).await? {
            return Err(KeyCheckError::MissingKek {
                needed: check.kek_id,
                active: keyring.active().id().clone(),
            }
            .into());
        }
    }
    store
        .insert_key_check(&keyring.key_check_value()?, clock.now_ms())
        .await?;
    Ok(())
}

/// Why this process should not get traffic now.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NotReady {
    #[error("the database does not answer")]
    Database,
    #[error("the vault key does not open the stored key check")]
    VaultKey,
}

/// Readiness checks, a passed one trusted for [`READY_FOR`] so that a flood of probes costs
/// the database a few statements a second, not one per probe.
#[derive(Debug)]
pub struct Readiness {
    store: Store,
    keyring: std::sync::Arc<Keyring>,
    passed: crate::cached::Cached<()>,
}

/// How long a passed readiness check is trusted.
const READY_FOR: std::time::Duration = std::time::Duration::from_secs(1);

impl Readiness {
    pub fn new(
        store: Store,
        keyring: std::sync::Arc<Keyring>,
        clock: std::sync::Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            keyring,
            passed: crate::cached::Cached::new(READY_FOR, clock),
        }
    }

    /// Whether this process can serve now (see [`readiness`]).
    pub async fn check(&self) -> Result<(), NotReady> {
        if self.passed.get().is_some() {
            return Ok(());
        }
        readiness(&self.store, &self.keyring).await?;
        self.passed.put(());
        Ok(())
    }
}

/// Readiness: the database (and the audit trail's) answers, and the active KEK still opens its
/// key-check value in it (the data is the data this key wrote). The cause is logged, never
/// answered.
pub async fn readiness(store: &Store, keyring: &Keyring) -> Result<(), NotReady> {
    let checks = tokio::time::timeout(READINESS_TIMEOUT, async {
        store.ping().await?;
        store.list_key_checks().await
    })
    .await
    .map_err(|_| {
        tracing::warn!("not ready: the database did not answer within the readiness timeout");
        NotReady::Database
    })?
    .map_err(|e| {
        tracing::warn!(error = %e, "not ready: the database does not answer");
        NotReady::Database
    })?;
    let active = keyring.active().id();
    let opens = checks
        .iter()
        .filter(|check| &check.kek_id == active)
        .any(|check| keyring.verify_key_check(check).is_ok());
    if !opens {
        tracing::warn!(kek = %active, "not ready: the active KEK's key check is missing or does not open");
        return Err(NotReady::VaultKey);
    }
    Ok(())
}

/// How long readiness waits for the database.
const READINESS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);
