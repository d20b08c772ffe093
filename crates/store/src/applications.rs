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
    /// Logto's `customData`: a JSON object.
    pub custom_data: serde_json::Value,
    pub is_third_party: bool,
    /// Whether a third-party application may receive users' provider tokens.
    pub allow_provider_tokens: bool,
    /// What it may read from the vault outside the Account API (Strongroom's own field).
    pub token_exchange: TokenExchangeSettings,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An application's grants to read users' provider tokens through token exchange (RFC 8693)
/// or, break-glass, as a worker without a user token. Stored as JSON; `{}` allows nothing. The
/// rules that use it are `core`'s.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TokenExchangeSettings {
    /// It may exchange a user's Strongroom token for a provider token.
    pub enabled: bool,
    /// The provider connections it may read, as the `resource` URNs that name them.
    pub connectors: Vec<String>,
    /// Other applications whose users' tokens it may present as subject tokens.
    pub act_for: Vec<String>,
    /// Break-glass: it may read without any user token, naming the user by id, when it
    /// authenticates with `private_key_jwt`.
    pub worker: bool,
    /// Its public keys for `private_key_jwt` client authentication (RFC 7523): a JWKS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks: Option<serde_json::Value>,
}

const APP_COLUMNS: &str = "id, name, description, type, secret_hash, oidc_client_metadata, \
    custom_client_metadata, custom_data, is_third_party, allow_provider_tokens, token_exchange, created_at, \
    updated_at";

fn app_from_row(row: &AnyRow) -> Result<ApplicationRow> {
    Ok(ApplicationRow {
        id: ApplicationId::from(row.try_get::<String, _>("id")?),
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
        custom_data: crate::json_from(
            &row.try_get::<String, _>("custom_data")?,
            "application custom data",
        )?,
        is_third_party: row.try_get::<i64, _>("is_third_party")? != 0,
        allow_provider_tokens: row.try_get::<i64, _>("allow_provider_tokens")? != 0,
        token_exchange: serde_json::from_str(&row.try_get::<String, _>("token_exchange")?)
            .map_err(|e| crate::StoreError::Malformed(format!("token exchange settings: {e}")))?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

impl Store {
    /// Inserts or fully rewrites an application.
    pub async fn save_application(&self, a: &ApplicationRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO applications (id, name, description, type, secret_hash, oidc_client_metadata, \
             custom_client_metadata, is_third_party, created_at, updated_at, allow_provider_tokens, custom_data, \
             token_exchange) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
             ON CONFLICT (id) DO UPDATE SET name = $2, description = $3, type = $4, secret_hash = $5, \
             oidc_client_metadata = $6, custom_client_metadata = $7, is_third_party = $8, updated_at = $10, \
             allow_provider_tokens = $11, custom_data = $12, token_exchange = $13",
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
        .bind(flag(a.allow_provider_tokens))
        .bind(a.custom_data.to_string())
        .bind(serde_json::to_string(&a.token_exchange).map_err(|e| {
            crate::StoreError::Malformed(format!("token exchange settings: {e}"))
        })?)
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

    /// Records a client assertion's `jti` as used until `expires_at` (ms). False when the
    /// application used it already: a replay.
    pub async fn use_client_assertion(
        &self,
        application: &ApplicationId,
        jti: &str,
        expires_at: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO client_assertions (application_id, jti, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (application_id, jti) DO NOTHING",
        )
        .bind(application.as_str())
        .bind(jti)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
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

/// A user's consent to an application's scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRow {
    pub id: String,
    pub user_id: crate::UserId,
    pub application_id: ApplicationId,
    /// The scopes consented to, space-separated.
    pub scope: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub expires_at: i64,
}

fn consent_from_row(row: &AnyRow) -> Result<ConsentRow> {
    Ok(ConsentRow {
        id: row.try_get("id")?,
        user_id: crate::UserId::from(row.try_get::<String, _>("user_id")?),
        application_id: ApplicationId::from(row.try_get::<String, _>("application_id")?),
        scope: row.try_get("scope")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        expires_at: row.try_get("expires_at")?,
    })
}

const CONSENT_COLUMNS: &str =
    "id, user_id, application_id, scope, created_at, updated_at, expires_at";

impl Store {
    /// The user's unexpired consent to the application.
    pub async fn get_consent(
        &self,
        user: &crate::UserId,
        app: &ApplicationId,
        now: i64,
    ) -> Result<Option<ConsentRow>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CONSENT_COLUMNS} FROM oidc_consents \
             WHERE user_id = $1 AND application_id = $2 AND expires_at > $3"
        )))
        .bind(user.as_str())
        .bind(app.as_str())
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(consent_from_row).transpose()
    }

    /// Records (or replaces) the user's consent to the application.
    pub async fn save_consent(&self, c: &ConsentRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO oidc_consents (id, user_id, application_id, scope, created_at, updated_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (user_id, application_id) DO UPDATE SET scope = $4, updated_at = $6, expires_at = $7",
        )
        .bind(c.id.as_str())
        .bind(c.user_id.as_str())
        .bind(c.application_id.as_str())
        .bind(c.scope.as_str())
        .bind(c.created_at)
        .bind(c.updated_at)
        .bind(c.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The user's unexpired consents, oldest first.
    pub async fn list_consents(&self, user: &crate::UserId, now: i64) -> Result<Vec<ConsentRow>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CONSENT_COLUMNS} FROM oidc_consents WHERE user_id = $1 AND expires_at > $2 \
             ORDER BY created_at, id"
        )))
        .bind(user.as_str())
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(consent_from_row).collect()
    }

    /// Withdraws a consent of the user: deletes it and revokes every grant of that user and
    /// application (with their codes and tokens), in one transaction. Returns whether the
    /// consent existed.
    pub async fn withdraw_consent(&self, user: &crate::UserId, id: &str, now: i64) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let Some(app) =
            sqlx::query("SELECT application_id FROM oidc_consents WHERE id = $1 AND user_id = $2")
                .bind(id)
                .bind(user.as_str())
                .fetch_optional(&mut *tx)
                .await?
                .map(|row| row.try_get::<String, _>("application_id"))
                .transpose()?
        else {
            return Ok(false);
        };
        sqlx::query("DELETE FROM oidc_consents WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        revoke_grants_where(
            &mut tx,
            "user_id = $1 AND application_id = $2",
            &[user.as_str(), &app],
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Revokes every grant of the application (when it may no longer receive provider tokens).
    pub async fn revoke_application_grants(&self, app: &ApplicationId, now: i64) -> Result<()> {
        let mut tx = self.begin_write().await?;
        revoke_grants_where(&mut tx, "application_id = $1", &[app.as_str()], now).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Marks the grants matching `filter` revoked and deletes their codes and tokens.
async fn revoke_grants_where(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    filter: &str,
    binds: &[&str],
    now: i64,
) -> Result<()> {
    let grants = format!("SELECT id FROM oidc_grants WHERE {filter}");
    for table in [
        "oidc_authorization_codes",
        "oidc_refresh_tokens",
        "oidc_access_tokens",
    ] {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM {table} WHERE grant_id IN ({grants})"
        )));
        for b in binds {
            q = q.bind(*b);
        }
        q.execute(&mut **tx).await?;
    }
    let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE oidc_grants SET revoked_at = ${} WHERE revoked_at IS NULL AND {filter}",
        binds.len() + 1
    )));
    for b in binds {
        q = q.bind(*b);
    }
    q.bind(now).execute(&mut **tx).await?;
    Ok(())
}

impl Store {
    /// The stored Account Center settings (a JSON object), if any were saved.
    pub async fn get_account_center(&self) -> Result<Option<serde_json::Value>> {
        let row = sqlx::query("SELECT settings FROM account_center WHERE id = 'default'")
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| crate::json_from(&r.try_get::<String, _>("settings")?, "account center"))
            .transpose()
    }

    /// Saves the Account Center settings.
    pub async fn save_account_center(&self, settings: &serde_json::Value, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO account_center (id, settings, updated_at) VALUES ('default', $1, $2) \
             ON CONFLICT (id) DO UPDATE SET settings = $1, updated_at = $2",
        )
        .bind(settings.to_string())
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
