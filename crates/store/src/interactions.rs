//! Pending sign-ins (interactions) and browser sessions at Strongroom's OpenID provider.

use sqlx::Row;
use sqlx::any::AnyRow;
use strongroom_vault::Envelope;

use crate::{ApplicationId, Result, Store, UserId};

/// A pending sign-in: an application's authorization request, bound to the browser that made
/// it (only the hash of the binding cookie is kept), and, once an upstream provider was chosen,
/// the hash of the upstream `state` and the sealed upstream secrets (PKCE verifier, nonce).
#[derive(Debug, Clone, PartialEq)]
pub struct InteractionRow {
    pub id: String,
    pub browser_binding_hash: String,
    pub application_id: ApplicationId,
    pub params: serde_json::Value,
    pub upstream_state_hash: Option<String>,
    /// `social` or `sso`.
    pub upstream_kind: Option<String>,
    pub upstream_connector_id: Option<String>,
    pub sealed_upstream: Option<Envelope>,
    pub created_at: i64,
    pub expires_at: i64,
    pub consumed_at: Option<i64>,
}

/// A browser's signed-in session (the cookie value's hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub id_hash: String,
    pub user_id: UserId,
    /// When the user signed in.
    pub auth_time: crate::UnixSecs,
    pub created_at: i64,
    pub expires_at: i64,
}

const INTERACTION_COLUMNS: &str = "id, browser_binding_hash, application_id, params, upstream_state_hash, \
    upstream_kind, upstream_connector_id, format_version, kek_id, encrypted_dek, ciphertext, created_at, \
    expires_at, consumed_at";

fn interaction_from_row(row: &AnyRow) -> Result<InteractionRow> {
    let sealed_upstream = match row.try_get::<Option<String>, _>("kek_id")? {
        Some(_) => Some(crate::envelope_from_row(row)?),
        None => None,
    };
    Ok(InteractionRow {
        id: row.try_get("id")?,
        browser_binding_hash: row.try_get("browser_binding_hash")?,
        application_id: ApplicationId::from(row.try_get::<String, _>("application_id")?),
        params: crate::json_from(&row.try_get::<String, _>("params")?, "interaction params")?,
        upstream_state_hash: row.try_get("upstream_state_hash")?,
        upstream_kind: row.try_get("upstream_kind")?,
        upstream_connector_id: row.try_get("upstream_connector_id")?,
        sealed_upstream,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        consumed_at: row.try_get("consumed_at")?,
    })
}

impl Store {
    pub async fn insert_interaction(&self, i: &InteractionRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO oidc_interactions (id, browser_binding_hash, application_id, params, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(i.id.as_str())
        .bind(i.browser_binding_hash.as_str())
        .bind(i.application_id.as_str())
        .bind(i.params.to_string())
        .bind(i.created_at)
        .bind(i.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn get_interaction(&self, id: &str) -> Result<Option<InteractionRow>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {INTERACTION_COLUMNS} FROM oidc_interactions WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(interaction_from_row).transpose()
    }

    /// The interaction an upstream `state` (by hash) belongs to.
    pub async fn find_interaction_by_state(
        &self,
        state_hash: &str,
    ) -> Result<Option<InteractionRow>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {INTERACTION_COLUMNS} FROM oidc_interactions WHERE upstream_state_hash = $1"
        )))
        .bind(state_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(interaction_from_row).transpose()
    }

    /// Records the upstream attempt of a pending interaction (a new attempt replaces the
    /// previous one, whose `state` then no longer matches). False when the interaction is gone,
    /// consumed or expired.
    pub async fn set_interaction_upstream(
        &self,
        id: &str,
        state_hash: &str,
        kind: &str,
        connector_id: &str,
        sealed: &Envelope,
        now: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE oidc_interactions SET upstream_state_hash = $2, upstream_kind = $3, upstream_connector_id = $4, \
             format_version = $5, kek_id = $6, encrypted_dek = $7, ciphertext = $8 \
             WHERE id = $1 AND consumed_at IS NULL AND expires_at > $9",
        )
        .bind(id)
        .bind(state_hash)
        .bind(kind)
        .bind(connector_id)
        .bind(sealed.format_version)
        .bind(sealed.kek_id.as_str())
        .bind(sealed.encrypted_dek.as_slice())
        .bind(sealed.ciphertext.as_slice())
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Marks an interaction used. Exactly one caller gets `true`: state and interaction are
    /// single-use even under concurrent callbacks.
    pub async fn consume_interaction(&self, id: &str, now: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE oidc_interactions SET consumed_at = $2 WHERE id = $1 AND consumed_at IS NULL AND expires_at > $2",
        )
        .bind(id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn insert_session(&self, s: &SessionRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO oidc_sessions (id_hash, user_id, auth_time, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(s.id_hash.as_str())
        .bind(s.user_id.as_str())
        .bind(s.auth_time.get())
        .bind(s.created_at)
        .bind(s.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A session that has not expired at `now`.
    pub async fn find_session(&self, id_hash: &str, now: i64) -> Result<Option<SessionRow>> {
        let row = sqlx::query(
            "SELECT id_hash, user_id, auth_time, created_at, expires_at FROM oidc_sessions WHERE id_hash = $1 AND expires_at > $2",
        )
        .bind(id_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| -> Result<SessionRow> {
            Ok(SessionRow {
                id_hash: row.try_get("id_hash")?,
                user_id: UserId::from(row.try_get::<String, _>("user_id")?),
                auth_time: crate::UnixSecs::new(row.try_get("auth_time")?),
                created_at: row.try_get("created_at")?,
                expires_at: row.try_get("expires_at")?,
            })
        })
        .transpose()
    }

    pub async fn delete_session(&self, id_hash: &str) -> Result<bool> {
        Ok(sqlx::query("DELETE FROM oidc_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await?
            .rows_affected()
            > 0)
    }

    /// Deletes what expired before `before` (ms): interactions, sessions, authorization codes,
    /// access and refresh tokens, verification records, used client assertions. Returns the number of rows deleted.
    pub async fn purge_expired(&self, before: i64) -> Result<u64> {
        let mut deleted = 0;
        for table in [
            "oidc_interactions",
            "oidc_sessions",
            "oidc_authorization_codes",
            "oidc_access_tokens",
            "oidc_refresh_tokens",
            "verification_records",
            "console_sessions",
            "revocation_events",
            "console_sign_in_guards",
            "oidc_consents",
            "client_assertions",
        ] {
            deleted += sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE expires_at < $1"
            )))
            .bind(before)
            .execute(&self.pool)
            .await?
            .rows_affected();
        }
        Ok(deleted)
    }
}
