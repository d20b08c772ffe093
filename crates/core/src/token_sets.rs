//! Token sets in the Secret Vault: sealing a provider's token response into a secret row,
//! merging a re-sign-in into what is stored, and opening it again.

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use strongroom_store::{
    ConnectorId, NewSecret, SecretId, SecretRelation, SecretRow, SocialIdentity, SsoConnectorId,
    SsoIdentity, Store, StoreError, TokenSetMetadata, UserId,
};
use strongroom_vault::{AssociatedData, Domain, Keyring};
use zeroize::Zeroizing;

use crate::{Clock, CoreError, Result};

/// The only secret type Strongroom stores today (Logto's `SecretType`).
pub const FEDERATED_TOKEN_SET: &str = "federated_token_set";
const DOMAIN: Domain = Domain("secrets");

pub use strongroom_providers::TokenResponse;

/// The sealed payload of a token set. `Debug` never shows the tokens.
#[derive(Debug, Clone)]
pub struct TokenSet {
    pub access_token: SecretString,
    pub id_token: Option<SecretString>,
    pub refresh_token: Option<SecretString>,
}

#[derive(serde::Serialize)]
struct PayloadOut<'a> {
    access_token: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<&'a str>,
}

#[derive(serde::Deserialize)]
struct PayloadIn {
    access_token: String,
    id_token: Option<String>,
    refresh_token: Option<String>,
}

impl TokenSet {
    fn to_json(&self) -> Result<Zeroizing<Vec<u8>>> {
        let out = PayloadOut {
            access_token: self.access_token.expose_secret(),
            id_token: self.id_token.as_ref().map(|t| t.expose_secret()),
            refresh_token: self.refresh_token.as_ref().map(|t| t.expose_secret()),
        };
        serde_json::to_vec(&out)
            .map(Zeroizing::new)
            .map_err(|_| CoreError::MalformedTokenSet)
    }

    fn from_json(bytes: &[u8]) -> Result<Self> {
        let p: PayloadIn =
            serde_json::from_slice(bytes).map_err(|_| CoreError::MalformedTokenSet)?;
        Ok(Self {
            access_token: SecretString::from(p.access_token),
            id_token: p.id_token.map(SecretString::from),
            refresh_token: p.refresh_token.map(SecretString::from),
        })
    }
}

/// Metadata of a fresh token response, following Logto's `encryptTokenResponse`: `expiresAt`
/// only for a positive `expires_in`, `scope`/`tokenType` only when non-empty.
pub fn metadata_for(
    response: &TokenResponse,
    has_refresh_token: bool,
    now: strongroom_store::UnixSecs,
) -> TokenSetMetadata {
    let non_empty = |s: &Option<String>| s.as_ref().filter(|v| !v.is_empty()).cloned();
    TokenSetMetadata {
        scope: non_empty(&response.scope),
        expires_at: response.expires_in.filter(|s| *s > 0).map(|s| now.plus(s)),
        token_type: non_empty(&response.token_type),
        has_refresh_token,
        last_refreshed_at: None,
        refresh_error: None,
    }
}

/// Associated data binding a sealed token set to its row.
fn row_aad(
    id: &SecretId,
    user_id: &UserId,
    secret_type: &str,
    relation: &SecretRelation,
) -> AssociatedData {
    let aad = AssociatedData::new("strongroom.token_set.v1")
        .field("secret", id.as_str())
        .field("user", user_id.as_str())
        .field("type", secret_type);
    match relation {
        SecretRelation::Social {
            target,
            identity_id,
            ..
        } => aad
            .field("relation", "social")
            .field("target", target)
            .field("identity", identity_id),
        SecretRelation::Sso {
            sso_connector_id,
            identity_id,
            ..
        } => aad
            .field("relation", "sso")
            .field("sso_connector", sso_connector_id.as_str())
            .field("identity", identity_id),
    }
}

/// The token-set service.
#[derive(Debug, Clone)]
pub struct TokenSets {
    store: Store,
    keyring: Arc<Keyring>,
    clock: Arc<dyn Clock>,
}

impl TokenSets {
    pub fn new(store: Store, keyring: Arc<Keyring>, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            keyring,
            clock,
        }
    }

    /// Stores the token response of a social sign-in for `identity`.
    pub async fn store_social(
        &self,
        connector_id: &ConnectorId,
        identity: &SocialIdentity,
        response: TokenResponse,
    ) -> Result<SecretRow> {
        let relation = SecretRelation::of_social(connector_id, identity);
        self.store(&identity.user_id, relation, response).await
    }

    /// Stores the token response of an enterprise SSO sign-in for `identity`.
    pub async fn store_sso(
        &self,
        sso_connector_id: &SsoConnectorId,
        identity: &SsoIdentity,
        response: TokenResponse,
    ) -> Result<SecretRow> {
        let relation = SecretRelation::of_sso(sso_connector_id, identity);
        self.store(&identity.user_id, relation, response).await
    }

    /// Stores a token response for an identity. A set already stored for the same identity is
    /// merged: it keeps its id and `createdAt`, and keeps its refresh token when the new response
    /// brings none.
    pub async fn store(
        &self,
        user_id: &UserId,
        relation: SecretRelation,
        response: TokenResponse,
    ) -> Result<SecretRow> {
        // Retries cover a concurrent sign-in of the same identity racing us to the row.
        for _ in 0..3 {
            let existing = self.store.find_secret(user_id, &relation.key()).await?;
            let now_secs = self.clock.now_secs();
            match existing.filter(|row| row.relation == relation) {
                Some(row) => {
                    let old = self.open(&row)?;
                    let refresh_token = response.refresh_token.clone().or(old.refresh_token);
                    let metadata = metadata_for(&response, refresh_token.is_some(), now_secs);
                    let set = TokenSet {
                        access_token: response.access_token.clone(),
                        id_token: response.id_token.clone(),
                        refresh_token,
                    };
                    let envelope = self.seal(&row.id, user_id, &relation, &set)?;
                    if self
                        .store
                        .update_secret_payload(
                            &row.id,
                            row.version,
                            &envelope,
                            &metadata,
                            self.clock.now_ms(),
                        )
                        .await?
                    {
                        return self.reload(&row.id).await;
                    }
                }
                None => {
                    let id = SecretId::generate();
                    let set = TokenSet {
                        access_token: response.access_token.clone(),
                        id_token: response.id_token.clone(),
                        refresh_token: response.refresh_token.clone(),
                    };
                    let metadata = metadata_for(&response, set.refresh_token.is_some(), now_secs);
                    let envelope = self.seal(&id, user_id, &relation, &set)?;
                    let new = NewSecret {
                        id,
                        user_id: user_id.clone(),
                        secret_type: FEDERATED_TOKEN_SET.to_owned(),
                        relation: relation.clone(),
                        envelope,
                        metadata,
                        now: self.clock.now_ms(),
                    };
                    match self.store.insert_secret(&new).await {
                        Ok(row) => return Ok(row),
                        Err(StoreError::Conflict(_)) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
        Err(CoreError::Conflict(
            "the token set changed concurrently too often; try again".into(),
        ))
    }

    /// Writes a refresh's answer into the set as it was read (`row.version`): the new tokens,
    /// the old refresh and ID tokens kept when the answer has none, fresh metadata with
    /// `lastRefreshedAt`. The write releases the refresh lease. False when the row changed or
    /// went in the meantime.
    pub async fn apply_refresh(
        &self,
        row: &SecretRow,
        old: TokenSet,
        response: TokenResponse,
    ) -> Result<bool> {
        let now_secs = self.clock.now_secs();
        let refresh_token = response.refresh_token.clone().or(old.refresh_token);
        let mut metadata = metadata_for(&response, refresh_token.is_some(), now_secs);
        metadata.last_refreshed_at = Some(now_secs);
        let set = TokenSet {
            access_token: response.access_token,
            id_token: response.id_token.or(old.id_token),
            refresh_token,
        };
        let envelope = self.seal(&row.id, &row.user_id, &row.relation, &set)?;
        Ok(self
            .store
            .update_secret_payload(
                &row.id,
                row.version,
                &envelope,
                &metadata,
                self.clock.now_ms(),
            )
            .await?)
    }

    /// Records why a refresh failed (`refreshError`), keeping the tokens; releases the lease.
    pub async fn mark_refresh_error(&self, row: &SecretRow, error: &str) -> Result<bool> {
        let metadata = TokenSetMetadata {
            refresh_error: Some(error.to_owned()),
            ..row.metadata.clone()
        };
        Ok(self
            .store
            .update_secret_metadata(&row.id, row.version, &metadata, self.clock.now_ms())
            .await?)
    }

    async fn reload(&self, id: &SecretId) -> Result<SecretRow> {
        self.store
            .get_secret(id)
            .await?
            .ok_or_else(|| CoreError::Conflict("the token set was deleted concurrently".into()))
    }

    /// Seals a token set for a secret row.
    pub fn seal(
        &self,
        id: &SecretId,
        user_id: &UserId,
        relation: &SecretRelation,
        set: &TokenSet,
    ) -> Result<strongroom_vault::Envelope> {
        let aad = row_aad(id, user_id, FEDERATED_TOKEN_SET, relation);
        Ok(self
            .keyring
            .seal(DOMAIN, id.as_str(), &aad, &set.to_json()?)?)
    }

    /// Opens the token set of a secret row. A row whose ciphertext was altered or copied from
    /// another row fails with [`strongroom_vault::VaultError::Unauthentic`].
    pub fn open(&self, row: &SecretRow) -> Result<TokenSet> {
        let aad = row_aad(&row.id, &row.user_id, &row.secret_type, &row.relation);
        let plain = self
            .keyring
            .open(DOMAIN, row.id.as_str(), &aad, &row.envelope)?;
        TokenSet::from_json(&plain)
    }
}
