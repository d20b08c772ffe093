use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{ApplicationId, Result, Store, flag};

/// An application as stored. `secret_hash` is the SHA-256 of the client secret (hex).
#[derive(Debug, Clone, PartialEq)]
pub struct ApplicationRow {
    pub id: ApplicationId,
    pub name: String,
    pub description: Option<String>,
    /// `Traditional`, `SPA`, `Native` or `MachineToMachine`.
    pub app_type: String,
    pub secret_hash: Option<String>,
    pub oidc_client_metadata: serde_json::Value,
    pub custom_client_metadata: serde_json::Value,
    pub is_third_party: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

const APP_COLUMNS: &str = "id, name, description, type, secret_hash, oidc_client_metadata, \
    custom_client_metadata, is_third_party, created_at, updated_at";

fn app_from_row(row: &AnyRow) -> Result<ApplicationRow> {
    Ok(ApplicationRow {
        id: ApplicationId(row.try_get("id")?),
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        app_type: row.try_get("type")?,
        secret_hash: row.try_get("secret_hash")?,
        oidc_client_metadata: crate::json_from(
            &row.try_get::<String, _>("oidc_client_metadata")?,
            "oidc client metadata",
        )?,
        custom_client_metadata: crate::json_from(
            &row.try_get::<String, _>("custom_client_metadata")?,
            "custom client metadata",
        )?,
        is_third_party: row.try_get::<i64, _>("is_third_party")? != 0,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

impl Store {
    /// Inserts or fully rewrites an application.
    pub async fn save_application(&self, a: &ApplicationRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO applications (id, name, description, type, secret_hash, oidc_client_metadata, \
             custom_client_metadata, is_third_party, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (id) DO UPDATE SET name = $2, description = $3, type = $4, secret_hash = $5, \
             oidc_client_metadata = $6, custom_client_metadata = $7, is_third_party = $8, updated_at = $10",
        )
        .bind(a.id.as_str())
        .bind(a.name.as_str())
        .bind(a.description.as_deref())
        .bind(a.app_type.as_str())
        .bind(a.secret_hash.as_deref())
        .bind(a.oidc_client_metadata.to_string())
        .bind(a.custom_client_metadata.to_string())
        .bind(flag(a.is_third_party))
        .bind(a.created_at)
        .bind(a.updated_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn get_application(&self, id: &ApplicationId) -> Result<Option<ApplicationRow>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {APP_COLUMNS} FROM applications WHERE id = $1"
        )))
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(app_from_row).transpose()
    }

    pub async fn list_applications(&self) -> Result<Vec<ApplicationRow>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {APP_COLUMNS} FROM applications ORDER BY created_at, id"
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(app_from_row).collect()
    }

    /// Deletes an application; its grants, codes and tokens cascade away.
    pub async fn delete_application(&self, id: &ApplicationId) -> Result<bool> {
        let done = sqlx::query("DELETE FROM applications WHERE id = $1")
            .bind(id.as_str())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
