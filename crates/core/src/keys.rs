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
