//! Verification records (the Verification API): they belong to a user, live ten minutes, and
//! hold the connector session and, once verified, the new token set, sealed.

use sqlx::Row;
use sqlx::any::AnyRow;
use strongroom_vault::Envelope;

use crate::{ConnectorId, Result, Store, UserId};

/// A verification record as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct VerificationRow {
    pub id: String,
    pub user_id: UserId,
    /// `Social`.
    pub record_type: String,
    pub connector_id: ConnectorId,
    /// Non-secret state: the application's `state` and `redirectUri`, the scope, and once
    /// verified the provider profile.
    pub data: serde_json::Value,
    pub sealed: Option<Envelope>,
    pub created_at: i64,
    pub updated_at: i64,
    pub expires_at: i64,
}

const COLUMNS: &str = "id, user_id, type, connector_id, data, format_version, kek_id, encrypted_dek, ciphertext, \
    created_at, updated_at, expires_at";

fn from_row(row: &AnyRow) -> Result<VerificationRow> {
    let sealed = match row.try_get::<Option<String>, _>("kek_id")? {
        Some(_) => Some(crate::envelope_from_row(row)?),
        None => None,
    };
    Ok(VerificationRow {
        id: row.try_get("id")?,
        user_id: UserId::from(row.try_get::<String, _>("user_id")?),
        record_type: row.try_get("type")?,
        connector_id: ConnectorId::from(row.try_get::<String, _>("connector_id")?),
        data: crate::json_from(&row.try_get::<String, _>("data")?, "verification data")?,
        sealed,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        expires_at: row.try_get("expires_at")?,
    })
}

impl Store {
    pub async fn insert_verification(&self, v: &VerificationRow) -> Result<()> {
        let sealed = v.sealed.as_ref();
        sqlx::query(
            "INSERT INTO verification_records (id, user_id, type, connector_id, data, format_version, kek_id, \
             encrypted_dek, ciphertext, created_at, updated_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(v.id.as_str())
        .bind(v.user_id.as_str())
        .bind(v.record_type.as_str())
        .bind(v.connector_id.as_str())
        .bind(v.data.to_string())
        .bind(sealed.map(|e| e.format_version))
        .bind(sealed.map(|e| e.kek_id.as_str().to_owned()))
        .bind(sealed.map(|e| e.encrypted_dek.clone()))
        .bind(sealed.map(|e| e.ciphertext.clone()))
        .bind(v.created_at)
        .bind(v.updated_at)
        .bind(v.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A record that has not expired at `now`.
    pub async fn get_verification(&self, id: &str, now: i64) -> Result<Option<VerificationRow>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM verification_records WHERE id = $1 AND expires_at > $2"
        )))
        .bind(id)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Replaces a record's data and sealed part, if it still exists and has not changed since
    /// `updated_at` was read.
    pub async fn update_verification(
        &self,
        id: &str,
        read_at: i64,
        data: &serde_json::Value,
        sealed: &Envelope,
        now: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE verification_records SET data = $3, format_version = $4, kek_id = $5, encrypted_dek = $6, \
             ciphertext = $7, updated_at = $8 WHERE id = $1 AND updated_at = $2",
        )
        .bind(id)
        .bind(read_at)
        .bind(data.to_string())
        .bind(sealed.format_version)
        .bind(sealed.kek_id.as_str())
        .bind(sealed.encrypted_dek.as_slice())
        .bind(sealed.ciphertext.as_slice())
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes a record (once used). True when this call deleted it.
    /// Keeps the user's `keep` newest records and deletes the others.
    pub async fn trim_verifications(&self, user: &UserId, keep: i64) -> Result<u64> {
        Ok(sqlx::query(
            "DELETE FROM verification_records WHERE user_id = $1 AND id NOT IN \
             (SELECT id FROM verification_records WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2)",
        )
        .bind(user.as_str())
        .bind(keep)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    pub async fn delete_verification(&self, id: &str) -> Result<bool> {
        Ok(
            sqlx::query("DELETE FROM verification_records WHERE id = $1")
                .bind(id)
                .execute(&self.pool)
                .await?
                .rows_affected()
                == 1,
        )
    }
}
