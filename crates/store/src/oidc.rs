//! Strongroom's own OpenID provider: signing keys, grants, authorization codes, access and
//! refresh tokens. Codes and tokens are stored as SHA-256 hashes, never as issued.

use sqlx::Row;
use sqlx::any::AnyRow;
use strongroom_vault::Envelope;

use crate::{ApplicationId, Result, Store, UserId};

/// A signing key; the private key (PKCS#8) is sealed.
#[derive(Debug, Clone, PartialEq)]
pub struct SigningKeyRow {
    pub id: String,
    pub algorithm: String,
    pub public_jwk: serde_json::Value,
    pub sealed_private_key: Envelope,
    pub created_at: i64,
    pub retired_at: Option<i64>,
}

/// A grant: a user's (or, for client credentials, an application's own) authorization of an
/// application for some scopes. Codes and tokens hang off it and die with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRow {
    pub id: String,
    pub user_id: Option<UserId>,
    pub application_id: ApplicationId,
    pub scope: String,
    pub resource: Option<String>,
    /// When the user really signed in, for `auth_time` in every ID token issued under the
    /// grant, refreshes included. `None` for client credentials.
    pub auth_time: Option<crate::UnixSecs>,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// What presenting a one-time credential (an authorization code, a refresh token) found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redemption<T> {
    /// Issued to this client and not used before: it is consumed now.
    Fresh(T),
    /// Issued to this client and already used: a replay.
    Reused(T),
    /// Issued to another client: left as it is.
    OtherClient,
    /// No such credential.
    Unknown,
}

/// An authorization code (by hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationCodeRow {
    pub code_hash: String,
    pub grant_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub resource: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    /// When the user signed in.
    pub auth_time: crate::UnixSecs,
    pub created_at: i64,
    pub expires_at: i64,
    pub consumed_at: Option<i64>,
}

/// An access token (by hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessTokenRow {
    pub token_hash: String,
    pub grant_id: Option<String>,
    pub application_id: ApplicationId,
    pub user_id: Option<UserId>,
    pub scope: String,
    pub resource: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
}

/// A refresh token (by hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRow {
    pub token_hash: String,
    pub grant_id: String,
    pub scope: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub consumed_at: Option<i64>,
}

fn grant_from_row(row: &AnyRow) -> Result<GrantRow> {
    Ok(GrantRow {
        id: row.try_get("id")?,
        user_id: row
            .try_get::<Option<String>, _>("user_id")?
            .map(UserId::from),
        application_id: ApplicationId::from(row.try_get::<String, _>("application_id")?),
        scope: row.try_get("scope")?,
        resource: row.try_get("resource")?,
        auth_time: row
            .try_get::<Option<i64>, _>("auth_time")?
            .map(crate::UnixSecs::new),
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

fn code_from_row(row: &AnyRow) -> Result<AuthorizationCodeRow> {
    Ok(AuthorizationCodeRow {
        code_hash: row.try_get("code_hash")?,
        grant_id: row.try_get("grant_id")?,
        redirect_uri: row.try_get("redirect_uri")?,
        scope: row.try_get("scope")?,
        resource: row.try_get("resource")?,
        nonce: row.try_get("nonce")?,
        code_challenge: row.try_get("code_challenge")?,
        code_challenge_method: row.try_get("code_challenge_method")?,
        auth_time: crate::UnixSecs::new(row.try_get("auth_time")?),
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        consumed_at: row.try_get("consumed_at")?,
    })
}

fn refresh_token_from_row(row: &AnyRow) -> Result<RefreshTokenRow> {
    Ok(RefreshTokenRow {
        token_hash: row.try_get("token_hash")?,
        grant_id: row.try_get("grant_id")?,
        scope: row.try_get("scope")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        consumed_at: row.try_get("consumed_at")?,
    })
}

impl Store {
    pub async fn insert_signing_key(&self, key: &SigningKeyRow) -> Result<()> {
        let e = &key.sealed_private_key;
        sqlx::query(
            "INSERT INTO oidc_signing_keys (id, algorithm, public_jwk, format_version, kek_id, encrypted_dek, \
             ciphertext, created_at, retired_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(key.id.as_str())
        .bind(key.algorithm.as_str())
        .bind(key.public_jwk.to_string())
        .bind(e.format_version)
        .bind(e.kek_id.as_str())
        .bind(e.encrypted_dek.as_slice())
        .bind(e.ciphertext.as_slice())
        .bind(key.created_at)
        .bind(key.retired_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every signing key that is not retired, oldest first.
    pub async fn list_signing_keys(&self) -> Result<Vec<SigningKeyRow>> {
        let rows = sqlx::query(
            "SELECT id, algorithm, public_jwk, format_version, kek_id, encrypted_dek, ciphertext, created_at, \
             retired_at FROM oidc_signing_keys WHERE retired_at IS NULL ORDER BY created_at, id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(SigningKeyRow {
                    id: row.try_get("id")?,
                    algorithm: row.try_get("algorithm")?,
                    public_jwk: crate::json_from(
                        &row.try_get::<String, _>("public_jwk")?,
                        "public jwk",
                    )?,
                    sealed_private_key: crate::envelope_from_row(row)?,
                    created_at: row.try_get("created_at")?,
                    retired_at: row.try_get("retired_at")?,
                })
            })
            .collect()
    }

    pub async fn insert_grant(&self, g: &GrantRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO oidc_grants (id, user_id, application_id, scope, resource, created_at, revoked_at, auth_time) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(g.id.as_str())
        .bind(g.user_id.as_ref().map(UserId::as_str))
        .bind(g.application_id.as_str())
        .bind(g.scope.as_str())
        .bind(g.resource.as_deref())
        .bind(g.created_at)
        .bind(g.revoked_at)
        .bind(g.auth_time.map(crate::UnixSecs::get))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn get_grant(&self, id: &str) -> Result<Option<GrantRow>> {
        let row = sqlx::query(
            "SELECT id, user_id, application_id, scope, resource, auth_time, created_at, revoked_at \
             FROM oidc_grants WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(grant_from_row).transpose()
    }

    /// Revokes a grant: marks it and deletes every code and token issued under it.
    pub async fn revoke_grant(&self, id: &str, now: i64) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE oidc_grants SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        for table in [
            "oidc_authorization_codes",
            "oidc_refresh_tokens",
            "oidc_access_tokens",
        ] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE grant_id = $1"
            )))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn insert_authorization_code(&self, c: &AuthorizationCodeRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO oidc_authorization_codes (code_hash, grant_id, redirect_uri, scope, resource, nonce, \
             code_challenge, code_challenge_method, auth_time, created_at, expires_at, consumed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL)",
        )
        .bind(c.code_hash.as_str())
        .bind(c.grant_id.as_str())
        .bind(c.redirect_uri.as_str())
        .bind(c.scope.as_str())
        .bind(c.resource.as_deref())
        .bind(c.nonce.as_deref())
        .bind(c.code_challenge.as_deref())
        .bind(c.code_challenge_method.as_deref())
        .bind(c.auth_time.get())
        .bind(c.created_at)
        .bind(c.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Redeems a code for `client`: consumes it when it was issued to that client and is
    /// unused. A code of another client is neither consumed nor reported as a replay, so
    /// whoever holds a leaked code without its client's credentials cannot burn it.
    pub async fn consume_authorization_code(
        &self,
        code_hash: &str,
        client: &ApplicationId,
        now: i64,
    ) -> Result<Redemption<AuthorizationCodeRow>> {
        let updated = sqlx::query(
            "UPDATE oidc_authorization_codes SET consumed_at = $2 WHERE code_hash = $1 AND consumed_at IS NULL \
             AND grant_id IN (SELECT id FROM oidc_grants WHERE application_id = $3)",
        )
        .bind(code_hash)
        .bind(now)
        .bind(client.as_str())
        .execute(&self.pool)
        .await?
        .rows_affected();
        let row = sqlx::query(
            "SELECT c.code_hash, c.grant_id, c.redirect_uri, c.scope, c.resource, c.nonce, c.code_challenge, \
             c.code_challenge_method, c.auth_time, c.created_at, c.expires_at, c.consumed_at, g.application_id \
             FROM oidc_authorization_codes c JOIN oidc_grants g ON g.id = c.grant_id WHERE c.code_hash = $1",
        )
        .bind(code_hash)
        .fetch_optional(&self.pool)
        .await?;
        redemption(updated, client, row, code_from_row)
    }

    pub async fn insert_access_token(&self, t: &AccessTokenRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO oidc_access_tokens (token_hash, grant_id, application_id, user_id, scope, resource, \
             created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(t.token_hash.as_str())
        .bind(t.grant_id.as_deref())
        .bind(t.application_id.as_str())
        .bind(t.user_id.as_ref().map(UserId::as_str))
        .bind(t.scope.as_str())
        .bind(t.resource.as_deref())
        .bind(t.created_at)
        .bind(t.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// An access token by hash, if it exists and has not expired.
    pub async fn find_access_token(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<AccessTokenRow>> {
        let row = sqlx::query(
            "SELECT token_hash, grant_id, application_id, user_id, scope, resource, created_at, expires_at \
             FROM oidc_access_tokens WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| -> Result<AccessTokenRow> {
            Ok(AccessTokenRow {
                token_hash: row.try_get("token_hash")?,
                grant_id: row.try_get("grant_id")?,
                application_id: ApplicationId::from(row.try_get::<String, _>("application_id")?),
                user_id: row
                    .try_get::<Option<String>, _>("user_id")?
                    .map(UserId::from),
                scope: row.try_get("scope")?,
                resource: row.try_get("resource")?,
                created_at: row.try_get("created_at")?,
                expires_at: row.try_get("expires_at")?,
            })
        })
        .transpose()
    }

    pub async fn insert_refresh_token(&self, t: &RefreshTokenRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO oidc_refresh_tokens (token_hash, grant_id, scope, created_at, expires_at, consumed_at) \
             VALUES ($1, $2, $3, $4, $5, NULL)",
        )
        .bind(t.token_hash.as_str())
        .bind(t.grant_id.as_str())
        .bind(t.scope.as_str())
        .bind(t.created_at)
        .bind(t.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Redeems a refresh token for `client` (rotation), as
    /// [`Store::consume_authorization_code`] does a code.
    pub async fn consume_refresh_token(
        &self,
        token_hash: &str,
        client: &ApplicationId,
        now: i64,
    ) -> Result<Redemption<RefreshTokenRow>> {
        let updated = sqlx::query(
            "UPDATE oidc_refresh_tokens SET consumed_at = $2 WHERE token_hash = $1 AND consumed_at IS NULL \
             AND grant_id IN (SELECT id FROM oidc_grants WHERE application_id = $3)",
        )
        .bind(token_hash)
        .bind(now)
        .bind(client.as_str())
        .execute(&self.pool)
        .await?
        .rows_affected();
        let row = sqlx::query(
            "SELECT t.token_hash, t.grant_id, t.scope, t.created_at, t.expires_at, t.consumed_at, g.application_id \
             FROM oidc_refresh_tokens t JOIN oidc_grants g ON g.id = t.grant_id WHERE t.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        redemption(updated, client, row, refresh_token_from_row)
    }
}

impl Store {
    /// Announces that tokens were revoked, to every process sharing the database.
    pub async fn insert_revocation_event(&self, id: &str, now: i64, expires_at: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO revocation_events (id, created_at, expires_at) VALUES ($1, $2, $3)",
        )
        .bind(id)
        .bind(now)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The ids of the revocation events announced since `since`.
    pub async fn revocation_events_since(&self, since: i64) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT id FROM revocation_events WHERE created_at > $1")
            .bind(since)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<String, _>("id")?))
            .collect()
    }
}

impl Store {
    /// A refresh token by hash, used or not, with its grant's application.
    pub async fn find_refresh_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<(RefreshTokenRow, ApplicationId)>> {
        let row = sqlx::query(
            "SELECT t.token_hash, t.grant_id, t.scope, t.created_at, t.expires_at, t.consumed_at, g.application_id \
             FROM oidc_refresh_tokens t JOIN oidc_grants g ON g.id = t.grant_id WHERE t.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok((
                refresh_token_from_row(&row)?,
                ApplicationId::from(row.try_get::<String, _>("application_id")?),
            ))
        })
        .transpose()
    }

    /// Deletes one access token; returns whether it existed.
    pub async fn delete_access_token(&self, token_hash: &str) -> Result<bool> {
        Ok(
            sqlx::query("DELETE FROM oidc_access_tokens WHERE token_hash = $1")
                .bind(token_hash)
                .execute(&self.pool)
                .await?
                .rows_affected()
                > 0,
        )
    }
}

/// What a redemption found: the row (with its grant's `application_id`) read after the
/// conditional update that consumed it, or did not.
fn redemption<T>(
    updated: u64,
    client: &ApplicationId,
    row: Option<AnyRow>,
    parse: fn(&AnyRow) -> Result<T>,
) -> Result<Redemption<T>> {
    let Some(row) = row else {
        return Ok(Redemption::Unknown);
    };
    if row.try_get::<String, _>("application_id")? != client.as_str() {
        return Ok(Redemption::OtherClient);
    }
    let parsed = parse(&row)?;
    Ok(if updated == 1 {
        Redemption::Fresh(parsed)
    } else {
        Redemption::Reused(parsed)
    })
}
