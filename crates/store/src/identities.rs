use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Result, SsoConnectorId, Store, UserId};

/// A user's identity at a social provider (Logto's `users.identities[target]`).
#[derive(Debug, Clone, PartialEq)]
pub struct SocialIdentity {
    /// Row id; token sets reference it.
    pub id: String,
    pub user_id: UserId,
    pub target: String,
    /// The provider's user id (Logto's `identity.userId`).
    pub identity_id: String,
    pub details: serde_json::Value,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A user's identity at an enterprise SSO provider (Logto's `user_sso_identities`).
#[derive(Debug, Clone, PartialEq)]
pub struct SsoIdentity {
    pub id: String,
    pub user_id: UserId,
    pub sso_connector_id: SsoConnectorId,
    pub issuer: String,
    pub identity_id: String,
    pub detail: serde_json::Value,
    pub created_at: i64,
    pub updated_at: i64,
}

fn social_from_row(row: &AnyRow) -> Result<SocialIdentity> {
    Ok(SocialIdentity {
        id: row.try_get("id")?,
        user_id: UserId::from(row.try_get::<String, _>("user_id")?),
        target: row.try_get("target")?,
        identity_id: row.try_get("identity_id")?,
        details: crate::json_from(&row.try_get::<String, _>("details")?, "identity details")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn sso_from_row(row: &AnyRow) -> Result<SsoIdentity> {
    Ok(SsoIdentity {
        id: row.try_get("id")?,
        user_id: UserId::from(row.try_get::<String, _>("user_id")?),
        sso_connector_id: SsoConnectorId::from(row.try_get::<String, _>("sso_connector_id")?),
        issuer: row.try_get("issuer")?,
        identity_id: row.try_get("identity_id")?,
        detail: crate::json_from(&row.try_get::<String, _>("detail")?, "sso identity detail")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

const SOCIAL_COLUMNS: &str = "id, user_id, target, identity_id, details, created_at, updated_at";
const SSO_COLUMNS: &str =
    "id, user_id, sso_connector_id, issuer, identity_id, detail, created_at, updated_at";

impl Store {
    /// Links (or re-links) the social identity `target` of a user. The same provider account
    /// keeps its row (and token set) and gets the new details; another provider account replaces
    /// the row, so the old account's token set is deleted in the same transaction.
    pub async fn link_social_identity(
        &self,
        user_id: &UserId,
        target: &str,
        identity_id: &str,
        details: &serde_json::Value,
        now: i64,
    ) -> Result<SocialIdentity> {
        let mut tx = self.begin_write().await?;
        let existing = sqlx::query(
            "SELECT id, identity_id FROM user_social_identities WHERE user_id = $1 AND target = $2",
        )
        .bind(user_id.as_str())
        .bind(target)
        .fetch_optional(&mut *tx)
        .await?;
        let details_text = details.to_string();
        match existing {
            Some(row) if row.try_get::<String, _>("identity_id")? == identity_id => {
                sqlx::query(
                    "UPDATE user_social_identities SET details = $2, updated_at = $3 WHERE id = $1",
                )
                .bind(row.try_get::<String, _>("id")?)
                .bind(&details_text)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            other => {
                if let Some(row) = other {
                    sqlx::query("DELETE FROM user_social_identities WHERE id = $1")
                        .bind(row.try_get::<String, _>("id")?)
                        .execute(&mut *tx)
                        .await?;
                }
                sqlx::query(
                    "INSERT INTO user_social_identities (id, user_id, target, identity_id, details, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $6)",
                )
                .bind(crate::new_id())
                .bind(user_id.as_str())
                .bind(target)
                .bind(identity_id)
                .bind(&details_text)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        self.secrets_changed();
        self.get_social_identity(user_id, target)
            .await?
            .ok_or_else(|| crate::StoreError::Malformed("linked identity vanished".into()))
    }

    pub async fn get_social_identity(
        &self,
        user_id: &UserId,
        target: &str,
    ) -> Result<Option<SocialIdentity>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SOCIAL_COLUMNS} FROM user_social_identities WHERE user_id = $1 AND target = $2"
        )))
        .bind(user_id.as_str())
        .bind(target)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(social_from_row).transpose()
    }

    /// The identity of provider account `identity_id` at `target`, whoever it belongs to.
    pub async fn find_social_identity(
        &self,
        target: &str,
        identity_id: &str,
    ) -> Result<Option<SocialIdentity>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SOCIAL_COLUMNS} FROM user_social_identities WHERE target = $1 AND identity_id = $2"
        )))
        .bind(target)
        .bind(identity_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(social_from_row).transpose()
    }

    /// The social identities of several users (a page of a list) in one statement, ordered by
    /// user and target. At most a page's worth of users: one bound parameter each.
    pub async fn list_social_identities_of(
        &self,
        user_ids: &[UserId],
    ) -> Result<Vec<SocialIdentity>> {
        if user_ids.is_empty() {
            return Ok(Vec::new());
        }
        let params = (1..=user_ids.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {SOCIAL_COLUMNS} FROM user_social_identities WHERE user_id IN ({params}) ORDER BY user_id, target"
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in user_ids {
            query = query.bind(id.as_str());
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter().map(social_from_row).collect()
    }

    pub async fn list_social_identities(&self, user_id: &UserId) -> Result<Vec<SocialIdentity>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SOCIAL_COLUMNS} FROM user_social_identities WHERE user_id = $1 ORDER BY target"
        )))
        .bind(user_id.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(social_from_row).collect()
    }

    /// Unlinks a social identity; its token set cascades away.
    pub async fn unlink_social_identity(&self, user_id: &UserId, target: &str) -> Result<bool> {
        let done =
            sqlx::query("DELETE FROM user_social_identities WHERE user_id = $1 AND target = $2")
                .bind(user_id.as_str())
                .bind(target)
                .execute(&self.pool)
                .await?;
        self.secrets_changed();
        Ok(done.rows_affected() > 0)
    }

    /// Links (or refreshes the details of) a user's identity at an SSO connector. Another
    /// provider account for the same connector replaces the row and its token set.
    pub async fn link_sso_identity(
        &self,
        user_id: &UserId,
        sso_connector_id: &SsoConnectorId,
        issuer: &str,
        identity_id: &str,
        detail: &serde_json::Value,
        now: i64,
    ) -> Result<SsoIdentity> {
        let mut tx = self.begin_write().await?;
        let existing = sqlx::query(
            "SELECT id, issuer, identity_id FROM user_sso_identities WHERE user_id = $1 AND sso_connector_id = $2",
        )
        .bind(user_id.as_str())
        .bind(sso_connector_id.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let detail_text = detail.to_string();
        let same = match &existing {
            Some(row) => {
                row.try_get::<String, _>("identity_id")? == identity_id
                    && row.try_get::<String, _>("issuer")? == issuer
            }
            None => false,
        };
        if same {
            if let Some(row) = existing {
                sqlx::query(
                    "UPDATE user_sso_identities SET detail = $2, updated_at = $3 WHERE id = $1",
                )
                .bind(row.try_get::<String, _>("id")?)
                .bind(&detail_text)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
        } else {
            if let Some(row) = existing {
                sqlx::query("DELETE FROM user_sso_identities WHERE id = $1")
                    .bind(row.try_get::<String, _>("id")?)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query(
                "INSERT INTO user_sso_identities (id, user_id, sso_connector_id, issuer, identity_id, detail, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
            )
            .bind(crate::new_id())
            .bind(user_id.as_str())
            .bind(sso_connector_id.as_str())
            .bind(issuer)
            .bind(identity_id)
            .bind(&detail_text)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.secrets_changed();
        self.get_sso_identity(user_id, sso_connector_id)
            .await?
            .ok_or_else(|| crate::StoreError::Malformed("linked SSO identity vanished".into()))
    }

    pub async fn get_sso_identity(
        &self,
        user_id: &UserId,
        sso_connector_id: &SsoConnectorId,
    ) -> Result<Option<SsoIdentity>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SSO_COLUMNS} FROM user_sso_identities WHERE user_id = $1 AND sso_connector_id = $2"
        )))
        .bind(user_id.as_str())
        .bind(sso_connector_id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(sso_from_row).transpose()
    }

    /// The SSO identity of provider account `identity_id` at `issuer`, whoever it belongs to.
    pub async fn find_sso_identity(
        &self,
        issuer: &str,
        identity_id: &str,
    ) -> Result<Option<SsoIdentity>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SSO_COLUMNS} FROM user_sso_identities WHERE issuer = $1 AND identity_id = $2"
        )))
        .bind(issuer)
        .bind(identity_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(sso_from_row).transpose()
    }

    pub async fn list_sso_identities(&self, user_id: &UserId) -> Result<Vec<SsoIdentity>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SSO_COLUMNS} FROM user_sso_identities WHERE user_id = $1 ORDER BY created_at, id"
        )))
        .bind(user_id.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(sso_from_row).collect()
    }
}
