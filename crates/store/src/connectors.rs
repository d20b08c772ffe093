use sqlx::Row;
use sqlx::any::AnyRow;
use strongroom_vault::Envelope;

use crate::{ConnectorId, Result, SsoConnectorId, Store, flag};

/// A social connector as stored. `sealed_config` holds the secret config fields (client
/// secret, ...) as a vault envelope; `config` only the non-secret ones.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectorRow {
    pub id: ConnectorId,
    /// The factory id (`github`, `google`, `facebook`, `oauth2`, `oidc`).
    pub connector_id: String,
    pub target: String,
    pub config: serde_json::Value,
    pub metadata: serde_json::Value,
    pub sync_profile: bool,
    pub enable_token_storage: bool,
    pub sealed_config: Option<Envelope>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An enterprise SSO connector as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct SsoConnectorRow {
    pub id: SsoConnectorId,
    pub provider_name: String,
    pub connector_name: String,
    pub config: serde_json::Value,
    pub domains: Vec<String>,
    pub branding: serde_json::Value,
    pub sync_profile: bool,
    pub enable_token_storage: bool,
    pub sealed_config: Option<Envelope>,
    pub created_at: i64,
    pub updated_at: i64,
}

fn optional_envelope(row: &AnyRow) -> Result<Option<Envelope>> {
    if row.try_get::<Option<String>, _>("kek_id")?.is_none() {
        return Ok(None);
    }
    crate::envelope_from_row(row).map(Some)
}

fn connector_from_row(row: &AnyRow) -> Result<ConnectorRow> {
    Ok(ConnectorRow {
        id: ConnectorId::from(row.try_get::<String, _>("id")?),
        connector_id: row.try_get("connector_id")?,
        target: row.try_get("target")?,
        config: crate::json_from(&row.try_get::<String, _>("config")?, "connector config")?,
        metadata: crate::json_from(&row.try_get::<String, _>("metadata")?, "connector metadata")?,
        sync_profile: row.try_get::<i64, _>("sync_profile")? != 0,
        enable_token_storage: row.try_get::<i64, _>("enable_token_storage")? != 0,
        sealed_config: optional_envelope(row)?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn sso_connector_from_row(row: &AnyRow) -> Result<SsoConnectorRow> {
    let domains = crate::json_from(
        &row.try_get::<String, _>("domains")?,
        "sso connector domains",
    )?;
    Ok(SsoConnectorRow {
        id: SsoConnectorId::from(row.try_get::<String, _>("id")?),
        provider_name: row.try_get("provider_name")?,
        connector_name: row.try_get("connector_name")?,
        config: crate::json_from(&row.try_get::<String, _>("config")?, "sso connector config")?,
        domains: serde_json::from_value(domains)
            .map_err(|e| crate::StoreError::Malformed(format!("sso connector domains: {e}")))?,
        branding: crate::json_from(
            &row.try_get::<String, _>("branding")?,
            "sso connector branding",
        )?,
        sync_profile: row.try_get::<i64, _>("sync_profile")? != 0,
        enable_token_storage: row.try_get::<i64, _>("enable_token_storage")? != 0,
        sealed_config: optional_envelope(row)?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

const CONNECTOR_COLUMNS: &str = "id, connector_id, target, config, metadata, sync_profile, \
    enable_token_storage, format_version, kek_id, encrypted_dek, ciphertext, created_at, updated_at";
const SSO_CONNECTOR_COLUMNS: &str = "id, provider_name, connector_name, config, domains, branding, \
    sync_profile, enable_token_storage, format_version, kek_id, encrypted_dek, ciphertext, created_at, updated_at";

impl Store {
    /// Inserts or fully rewrites a social connector. A connector saved with token storage off
    /// keeps no token sets: they are deleted in the same transaction.
    /// Inserts a new connector; `Conflict` when its id (or target) is taken. Never replaces
    /// an existing connector.
    pub async fn insert_connector(&self, c: &ConnectorRow) -> Result<()> {
        self.write_connector(c, "").await
    }

    /// Inserts or updates a connector; with storage off, its token sets go in the same
    /// transaction.
    pub async fn save_connector(&self, c: &ConnectorRow) -> Result<()> {
        self.write_connector(
            c,
            "ON CONFLICT (id) DO UPDATE SET connector_id = $2, target = $3, config = $4, metadata = $5, \
             sync_profile = $6, enable_token_storage = $7, format_version = $8, kek_id = $9, \
             encrypted_dek = $10, ciphertext = $11, updated_at = $13",
        )
        .await
    }

    async fn write_connector(&self, c: &ConnectorRow, on_conflict: &'static str) -> Result<()> {
        let sealed = c.sealed_config.as_ref();
        let mut tx = self.begin_write().await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO connectors (id, connector_id, target, config, metadata, sync_profile, \
             enable_token_storage, format_version, kek_id, encrypted_dek, ciphertext, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) {on_conflict}"
        )))
        .bind(c.id.as_str())
        .bind(&c.connector_id)
        .bind(&c.target)
        .bind(c.config.to_string())
        .bind(c.metadata.to_string())
        .bind(flag(c.sync_profile))
        .bind(flag(c.enable_token_storage))
        .bind(sealed.map(|e| e.format_version))
        .bind(sealed.map(|e| e.kek_id.as_str().to_owned()))
        .bind(sealed.map(|e| e.encrypted_dek.clone()))
        .bind(sealed.map(|e| e.ciphertext.clone()))
        .bind(c.created_at)
        .bind(c.updated_at)
        .execute(&mut *tx)
        .await?;
        if !c.enable_token_storage {
            purge_token_sets(&mut tx, "connector_id", c.id.as_str()).await?;
        }
        tx.commit().await?;
        self.secrets_changed();
        Ok(())
    }

    pub async fn get_connector(&self, id: &ConnectorId) -> Result<Option<ConnectorRow>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CONNECTOR_COLUMNS} FROM connectors WHERE id = $1"
        )))
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(connector_from_row).transpose()
    }

    pub async fn list_connectors(&self) -> Result<Vec<ConnectorRow>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CONNECTOR_COLUMNS} FROM connectors ORDER BY created_at, id"
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(connector_from_row).collect()
    }

    /// Deletes a social connector; its token sets cascade away.
    pub async fn delete_connector(&self, id: &ConnectorId) -> Result<bool> {
        let done = sqlx::query("DELETE FROM connectors WHERE id = $1")
            .bind(id.as_str())
            .execute(&self.pool)
            .await?;
        self.secrets_changed();
        Ok(done.rows_affected() > 0)
    }

    /// Switches token storage of a social connector. Switching it off deletes every token set
    /// stored through the connector in the same transaction. Returns the number of deleted sets,
    /// or `None` if the connector does not exist.
    pub async fn set_connector_token_storage(
        &self,
        id: &ConnectorId,
        enabled: bool,
        now: i64,
    ) -> Result<Option<u64>> {
        self.set_token_storage("connectors", "connector_id", id.as_str(), enabled, now)
            .await
    }

    /// As [`Store::save_connector`], for an SSO connector.
    pub async fn save_sso_connector(&self, c: &SsoConnectorRow) -> Result<()> {
        let sealed = c.sealed_config.as_ref();
        let domains = serde_json::to_string(&c.domains)
            .map_err(|e| crate::StoreError::Malformed(e.to_string()))?;
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO sso_connectors (id, provider_name, connector_name, config, domains, branding, \
             sync_profile, enable_token_storage, format_version, kek_id, encrypted_dek, ciphertext, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
             ON CONFLICT (id) DO UPDATE SET provider_name = $2, connector_name = $3, config = $4, \
             domains = $5, branding = $6, sync_profile = $7, enable_token_storage = $8, \
             format_version = $9, kek_id = $10, encrypted_dek = $11, ciphertext = $12, updated_at = $14",
        )
        .bind(c.id.as_str())
        .bind(&c.provider_name)
        .bind(&c.connector_name)
        .bind(c.config.to_string())
        .bind(domains)
        .bind(c.branding.to_string())
        .bind(flag(c.sync_profile))
        .bind(flag(c.enable_token_storage))
        .bind(sealed.map(|e| e.format_version))
        .bind(sealed.map(|e| e.kek_id.as_str().to_owned()))
        .bind(sealed.map(|e| e.encrypted_dek.clone()))
        .bind(sealed.map(|e| e.ciphertext.clone()))
        .bind(c.created_at)
        .bind(c.updated_at)
        .execute(&mut *tx)
        .await?;
        if !c.enable_token_storage {
            purge_token_sets(&mut tx, "sso_connector_id", c.id.as_str()).await?;
        }
        tx.commit().await?;
        self.secrets_changed();
        Ok(())
    }

    pub async fn get_sso_connector(&self, id: &SsoConnectorId) -> Result<Option<SsoConnectorRow>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SSO_CONNECTOR_COLUMNS} FROM sso_connectors WHERE id = $1"
        )))
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(sso_connector_from_row).transpose()
    }

    pub async fn list_sso_connectors(&self) -> Result<Vec<SsoConnectorRow>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SSO_CONNECTOR_COLUMNS} FROM sso_connectors ORDER BY created_at, id"
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(sso_connector_from_row).collect()
    }

    /// Deletes an SSO connector; its users' SSO identities and token sets cascade away.
    pub async fn delete_sso_connector(&self, id: &SsoConnectorId) -> Result<bool> {
        let done = sqlx::query("DELETE FROM sso_connectors WHERE id = $1")
            .bind(id.as_str())
            .execute(&self.pool)
            .await?;
        self.secrets_changed();
        Ok(done.rows_affected() > 0)
    }

    /// As [`Store::set_connector_token_storage`], for an SSO connector.
    pub async fn set_sso_connector_token_storage(
        &self,
        id: &SsoConnectorId,
        enabled: bool,
        now: i64,
    ) -> Result<Option<u64>> {
        self.set_token_storage(
            "sso_connectors",
            "sso_connector_id",
            id.as_str(),
            enabled,
            now,
        )
        .await
    }

    async fn set_token_storage(
        &self,
        table: &'static str,
        secret_column: &'static str,
        id: &str,
        enabled: bool,
        now: i64,
    ) -> Result<Option<u64>> {
        let mut tx = self.begin_write().await?;
        let updated = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE {table} SET enable_token_storage = $2, updated_at = $3 WHERE id = $1"
        )))
        .bind(id)
        .bind(flag(enabled))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Ok(None);
        }
        let deleted = if enabled {
            0
        } else {
            purge_token_sets(&mut tx, secret_column, id).await?
        };
        tx.commit().await?;
        self.secrets_changed();
        Ok(Some(deleted))
    }
}

/// Deletes every token set stored through a connector (`column` is `connector_id` or
/// `sso_connector_id`).
async fn purge_token_sets(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    column: &'static str,
    id: &str,
) -> Result<u64> {
    Ok(sqlx::query(sqlx::AssertSqlSafe(format!(
        "DELETE FROM secrets WHERE {column} = $1"
    )))
    .bind(id)
    .execute(&mut **tx)
    .await?
    .rows_affected())
}
