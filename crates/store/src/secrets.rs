use sqlx::Row;
use sqlx::any::AnyRow;
use strongroom_vault::Envelope;

use crate::{
    ConnectorId, ConnectorRef, IdentityKey, Result, SecretId, SsoConnectorId, Store, StoreError,
    UserId,
};

/// The plaintext metadata kept beside a sealed token set (Logto's `TokenSetMetadata` plus
/// Strongroom's refresh bookkeeping).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenSetMetadata {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// When the access token expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<crate::UnixSecs>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    pub has_refresh_token: bool,
    /// When the last refresh succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_refreshed_at: Option<crate::UnixSecs>,
    /// Why the last refresh failed (`refresh_token_revoked`, ...), until one succeeds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_error: Option<String>,
}

/// What a secret is attached to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretRelation {
    Social {
        connector_id: ConnectorId,
        /// Row id of the user's social identity.
        social_identity_id: String,
        target: String,
        /// The provider's user id.
        identity_id: String,
    },
    Sso {
        sso_connector_id: SsoConnectorId,
        /// Row id of the user's SSO identity.
        sso_identity_id: String,
        issuer: String,
        identity_id: String,
    },
}

impl SecretRelation {
    /// The token set of a social identity linked through the connector `connector_id`.
    pub fn of_social(connector_id: &ConnectorId, identity: &crate::SocialIdentity) -> Self {
        Self::Social {
            connector_id: connector_id.clone(),
            social_identity_id: identity.id.clone(),
            target: identity.target.clone(),
            identity_id: identity.identity_id.clone(),
        }
    }

    /// The token set of an SSO identity linked through the SSO connector `sso_connector_id`.
    pub fn of_sso(sso_connector_id: &SsoConnectorId, identity: &crate::SsoIdentity) -> Self {
        Self::Sso {
            sso_connector_id: sso_connector_id.clone(),
            sso_identity_id: identity.id.clone(),
            issuer: identity.issuer.clone(),
            identity_id: identity.identity_id.clone(),
        }
    }

    /// The provider's user id.
    pub fn identity_id(&self) -> &str {
        match self {
            Self::Social { identity_id, .. } | Self::Sso { identity_id, .. } => identity_id,
        }
    }

    /// The user's identity the set belongs to.
    pub fn key(&self) -> IdentityKey {
        match self {
            Self::Social { target, .. } => IdentityKey::Social(target.clone()),
            Self::Sso {
                sso_connector_id, ..
            } => IdentityKey::Sso(sso_connector_id.clone()),
        }
    }

    /// The connector the set was stored through.
    pub fn connector(&self) -> ConnectorRef {
        match self {
            Self::Social { connector_id, .. } => ConnectorRef::Social(connector_id.clone()),
            Self::Sso {
                sso_connector_id, ..
            } => ConnectorRef::Sso(sso_connector_id.clone()),
        }
    }
}

/// A secret to insert.
#[derive(Debug, Clone)]
pub struct NewSecret {
    pub id: SecretId,
    pub user_id: UserId,
    pub secret_type: String,
    pub relation: SecretRelation,
    pub envelope: Envelope,
    pub metadata: TokenSetMetadata,
    pub now: i64,
}

/// A secret as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct SecretRow {
    pub id: SecretId,
    pub user_id: UserId,
    pub secret_type: String,
    pub relation: SecretRelation,
    pub envelope: Envelope,
    pub metadata: TokenSetMetadata,
    /// Bumped by every write of the sealed payload; writers compare it.
    pub version: i64,
    pub refresh_lease_until: Option<i64>,
    pub lease_owner: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const SECRET_COLUMNS: &str = "id, user_id, type, connector_id, social_identity_id, target, \
    sso_connector_id, sso_identity_id, issuer, identity_id, format_version, kek_id, encrypted_dek, \
    ciphertext, metadata, version, refresh_lease_until, lease_owner, created_at, updated_at";

fn secret_from_row(row: &AnyRow) -> Result<SecretRow> {
    let identity_id: String = row.try_get("identity_id")?;
    let relation = match row.try_get::<Option<String>, _>("connector_id")? {
        Some(connector_id) => SecretRelation::Social {
            connector_id: ConnectorId::from(connector_id),
            social_identity_id: row.try_get("social_identity_id")?,
            target: row.try_get("target")?,
            identity_id,
        },
        None => SecretRelation::Sso {
            sso_connector_id: SsoConnectorId::from(row.try_get::<String, _>("sso_connector_id")?),
            sso_identity_id: row.try_get("sso_identity_id")?,
            issuer: row.try_get("issuer")?,
            identity_id,
        },
    };
    let metadata: String = row.try_get("metadata")?;
    Ok(SecretRow {
        id: SecretId::from(row.try_get::<String, _>("id")?),
        user_id: UserId::from(row.try_get::<String, _>("user_id")?),
        secret_type: row.try_get("type")?,
        relation,
        envelope: crate::envelope_from_row(row)?,
        metadata: serde_json::from_str(&metadata)
            .map_err(|e| StoreError::Malformed(format!("secret metadata: {e}")))?,
        version: row.try_get("version")?,
        refresh_lease_until: row.try_get("refresh_lease_until")?,
        lease_owner: row.try_get("lease_owner")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn metadata_json(metadata: &TokenSetMetadata) -> Result<String> {
    serde_json::to_string(metadata).map_err(|e| StoreError::Malformed(e.to_string()))
}

impl Store {
    /// Inserts a secret. At most one secret exists per identity: a second one for the same
    /// identity is a [`StoreError::Conflict`].
    pub async fn insert_secret(&self, s: &NewSecret) -> Result<SecretRow> {
        let (
            connector_id,
            social_identity_id,
            target,
            sso_connector_id,
            sso_identity_id,
            issuer,
            identity_id,
        ) = match &s.relation {
            SecretRelation::Social {
                connector_id,
                social_identity_id,
                target,
                identity_id,
            } => (
                Some(connector_id.as_str()),
                Some(social_identity_id.as_str()),
                Some(target.as_str()),
                None,
                None,
                None,
                identity_id.as_str(),
            ),
            SecretRelation::Sso {
                sso_connector_id,
                sso_identity_id,
                issuer,
                identity_id,
            } => (
                None,
                None,
                None,
                Some(sso_connector_id.as_str()),
                Some(sso_identity_id.as_str()),
                Some(issuer.as_str()),
                identity_id.as_str(),
            ),
        };
        sqlx::query(
            "INSERT INTO secrets (id, user_id, type, connector_id, social_identity_id, target, \
             sso_connector_id, sso_identity_id, issuer, identity_id, format_version, kek_id, \
             encrypted_dek, ciphertext, metadata, version, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, 0, $16, $16)",
        )
        .bind(s.id.as_str())
        .bind(s.user_id.as_str())
        .bind(&s.secret_type)
        .bind(connector_id)
        .bind(social_identity_id)
        .bind(target)
        .bind(sso_connector_id)
        .bind(sso_identity_id)
        .bind(issuer)
        .bind(identity_id)
        .bind(s.envelope.format_version)
        .bind(s.envelope.kek_id.as_str())
        .bind(s.envelope.encrypted_dek.as_slice())
        .bind(s.envelope.ciphertext.as_slice())
        .bind(metadata_json(&s.metadata)?)
        .bind(s.now)
        .execute(&self.pool)
        .await?;
        self.secrets_changed();
        self.get_secret(&s.id)
            .await?
            .ok_or_else(|| StoreError::Malformed("inserted secret vanished".into()))
    }

    pub async fn get_secret(&self, id: &SecretId) -> Result<Option<SecretRow>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SECRET_COLUMNS} FROM secrets WHERE id = $1"
        )))
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(secret_from_row).transpose()
    }

    /// [`Store::find_secret`] through the read cache (see `secret_cache`): for the Account
    /// API's hot path only.
    pub async fn find_secret_cached(
        &self,
        user_id: &UserId,
        identity: &IdentityKey,
    ) -> Result<Option<SecretRow>> {
        let key = (user_id.as_str().to_owned(), identity.clone());
        if let Some(hit) = self.secret_cache.get(&key) {
            return Ok(hit);
        }
        let generation = self.secret_cache.generation();
        let row = self.find_secret(user_id, identity).await?;
        self.secret_cache.put(key, row.clone(), generation);
        Ok(row)
    }

    /// The token set a user holds for one of their identities.
    pub async fn find_secret(
        &self,
        user_id: &UserId,
        identity: &IdentityKey,
    ) -> Result<Option<SecretRow>> {
        let column = identity.secrets_column();
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SECRET_COLUMNS} FROM secrets WHERE user_id = $1 AND {column} = $2 AND type = 'federated_token_set'"
        )))
        .bind(user_id.as_str())
        .bind(identity.target())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(secret_from_row).transpose()
    }

    /// Up to `limit` token sets stored through a connector.
    pub async fn list_connector_secrets(
        &self,
        connector: &ConnectorRef,
        limit: i64,
    ) -> Result<Vec<SecretRow>> {
        let column = connector.secrets_column();
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SECRET_COLUMNS} FROM secrets WHERE {column} = $1 ORDER BY id LIMIT $2"
        )))
        .bind(connector.id())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(secret_from_row).collect()
    }

    /// `(id, user, target)` of a connector's token sets after `after` (by id), without their
    /// ciphertext: what auditing a bulk deletion needs. The target of an SSO set is its
    /// connector id.
    pub async fn list_connector_secret_keys(
        &self,
        connector: &ConnectorRef,
        after: &SecretId,
    ) -> Result<Vec<(SecretId, UserId, String)>> {
        let (column, target) = match connector {
            ConnectorRef::Social(_) => ("connector_id", "target"),
            ConnectorRef::Sso(_) => ("sso_connector_id", "sso_connector_id"),
        };
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id, user_id, {target} AS target FROM secrets WHERE {column} = $1 AND id > $2 ORDER BY id"
        )))
        .bind(connector.id())
        .bind(after.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    SecretId::from(row.try_get::<String, _>("id")?),
                    UserId::from(row.try_get::<String, _>("user_id")?),
                    row.try_get("target")?,
                ))
            })
            .collect()
    }

    pub async fn list_user_secrets(&self, user_id: &UserId) -> Result<Vec<SecretRow>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SECRET_COLUMNS} FROM secrets WHERE user_id = $1 ORDER BY created_at, id"
        )))
        .bind(user_id.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(secret_from_row).collect()
    }

    /// Replaces the sealed payload and metadata of a secret if its version is still
    /// `expected_version`, bumping the version and releasing any refresh lease. Returns whether
    /// the write happened (false: someone else wrote first, or the secret is gone).
    pub async fn update_secret_payload(
        &self,
        id: &SecretId,
        expected_version: i64,
        envelope: &Envelope,
        metadata: &TokenSetMetadata,
        now: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE secrets SET format_version = $3, kek_id = $4, encrypted_dek = $5, ciphertext = $6, \
             metadata = $7, version = version + 1, refresh_lease_until = NULL, lease_owner = NULL, \
             updated_at = $8 WHERE id = $1 AND version = $2",
        )
        .bind(id.as_str())
        .bind(expected_version)
        .bind(envelope.format_version)
        .bind(envelope.kek_id.as_str())
        .bind(envelope.encrypted_dek.as_slice())
        .bind(envelope.ciphertext.as_slice())
        .bind(metadata_json(metadata)?)
        .bind(now)
        .execute(&self.pool)
        .await?;
        self.secrets_changed();
        Ok(done.rows_affected() == 1)
    }

    /// Replaces only the metadata (for example to record a refresh error), under the same
    /// version check; the version is bumped so concurrent writers notice.
    pub async fn update_secret_metadata(
        &self,
        id: &SecretId,
        expected_version: i64,
        metadata: &TokenSetMetadata,
        now: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE secrets SET metadata = $3, version = version + 1, refresh_lease_until = NULL, \
             lease_owner = NULL, updated_at = $4 WHERE id = $1 AND version = $2",
        )
        .bind(id.as_str())
        .bind(expected_version)
        .bind(metadata_json(metadata)?)
        .bind(now)
        .execute(&self.pool)
        .await?;
        self.secrets_changed();
        Ok(done.rows_affected() == 1)
    }

    /// Takes the refresh lease of a secret until `lease_until` (ms) if nobody holds it and the
    /// version is still `expected_version`. One conditional UPDATE: the same on both engines,
    /// and a crashed holder's lease simply expires.
    pub async fn try_acquire_refresh_lease(
        &self,
        id: &SecretId,
        expected_version: i64,
        owner: &str,
        now: i64,
        lease_until: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE secrets SET refresh_lease_until = $4, lease_owner = $3 WHERE id = $1 AND version = $2 \
             AND (refresh_lease_until IS NULL OR refresh_lease_until < $5)",
        )
        .bind(id.as_str())
        .bind(expected_version)
        .bind(owner)
        .bind(lease_until)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives a lease back without writing (the holder's refresh failed before changing anything).
    pub async fn release_refresh_lease(&self, id: &SecretId, owner: &str) -> Result<()> {
        sqlx::query(
            "UPDATE secrets SET refresh_lease_until = NULL, lease_owner = NULL WHERE id = $1 AND lease_owner = $2",
        )
        .bind(id.as_str())
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn delete_secret(&self, id: &SecretId) -> Result<bool> {
        let done = sqlx::query("DELETE FROM secrets WHERE id = $1")
            .bind(id.as_str())
            .execute(&self.pool)
            .await?;
        self.secrets_changed();
        Ok(done.rows_affected() > 0)
    }

    pub async fn count_secrets(&self) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM secrets")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?)
    }
}
