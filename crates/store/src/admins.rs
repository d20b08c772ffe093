use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{AdminId, Result, Store};

/// A console administrator. `password_hash` is an argon2 PHC string.
#[derive(Clone, PartialEq, Eq)]
pub struct ConsoleAdmin {
    pub id: AdminId,
    pub username: String,
    pub password_hash: String,
    pub failed_sign_ins: i64,
    pub locked_until: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl std::fmt::Debug for ConsoleAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleAdmin")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("password_hash", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// A signed-in console session, with its administrator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSession {
    pub admin_id: AdminId,
    pub username: String,
    /// The SHA-256 of the session's CSRF token.
    pub csrf_token_hash: String,
    pub expires_at: i64,
}

fn admin_from_row(row: &AnyRow) -> Result<ConsoleAdmin> {
    Ok(ConsoleAdmin {
        id: AdminId(row.try_get("id")?),
        username: row.try_get("username")?,
        password_hash: row.try_get("password_hash")?,
        failed_sign_ins: row.try_get("failed_sign_ins")?,
        locked_until: row.try_get("locked_until")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

impl Store {
    pub async fn count_console_admins(&self) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM console_admins")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?)
    }

    /// Inserts an administrator; an existing username is a conflict.
    pub async fn insert_console_admin(&self, admin: &ConsoleAdmin) -> Result<()> {
        sqlx::query(
            "INSERT INTO console_admins (id, username, password_hash, failed_sign_ins, locked_until, created_at, updated_at) \
             VALUES ($1, $2, $3, 0, NULL, $4, $5)",
        )
        .bind(admin.id.as_str())
        .bind(admin.username.as_str())
        .bind(admin.password_hash.as_str())
        .bind(admin.created_at)
        .bind(admin.updated_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn find_console_admin(&self, username: &str) -> Result<Option<ConsoleAdmin>> {
        let row = sqlx::query(
            "SELECT id, username, password_hash, failed_sign_ins, locked_until, created_at, updated_at \
             FROM console_admins WHERE username = $1",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(admin_from_row).transpose()
    }

    /// Sets a new password hash, clears the failure counter and ends the admin's sessions.
    pub async fn set_console_admin_password(
        &self,
        id: &AdminId,
        password_hash: &str,
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE console_admins SET password_hash = $2, failed_sign_ins = 0, locked_until = NULL, updated_at = $3 WHERE id = $1",
        )
        .bind(id.as_str())
        .bind(password_hash)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM console_sessions WHERE admin_id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Counts a failed sign-in. The `limit`-th failure in a row locks the account until
    /// `locked_until` and restarts the count. Returns whether the account is now locked.
    pub async fn record_console_sign_in_failure(
        &self,
        id: &AdminId,
        limit: i64,
        locked_until: i64,
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE console_admins SET failed_sign_ins = failed_sign_ins + 1, updated_at = $2 WHERE id = $1",
        )
        .bind(id.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let locked = sqlx::query(
            "UPDATE console_admins SET failed_sign_ins = 0, locked_until = $2 WHERE id = $1 AND failed_sign_ins >= $3",
        )
        .bind(id.as_str())
        .bind(locked_until)
        .bind(limit)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        tx.commit().await?;
        Ok(locked)
    }

    /// Starts a session (the failure count restarts). Only hashes are stored.
    pub async fn start_console_session(
        &self,
        admin: &AdminId,
        id_hash: &str,
        csrf_token_hash: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE console_admins SET failed_sign_ins = 0, locked_until = NULL WHERE id = $1",
        )
        .bind(admin.as_str())
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO console_sessions (id_hash, admin_id, csrf_token_hash, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id_hash)
        .bind(admin.as_str())
        .bind(csrf_token_hash)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The unexpired session whose id hashes to `id_hash`.
    pub async fn find_console_session(
        &self,
        id_hash: &str,
        now: i64,
    ) -> Result<Option<ConsoleSession>> {
        let row = sqlx::query(
            "SELECT s.admin_id, a.username, s.csrf_token_hash, s.expires_at \
             FROM console_sessions s JOIN console_admins a ON a.id = s.admin_id \
             WHERE s.id_hash = $1 AND s.expires_at > $2",
        )
        .bind(id_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| -> Result<ConsoleSession> {
            Ok(ConsoleSession {
                admin_id: AdminId(row.try_get("admin_id")?),
                username: row.try_get("username")?,
                csrf_token_hash: row.try_get("csrf_token_hash")?,
                expires_at: row.try_get("expires_at")?,
            })
        })
        .transpose()
    }

    pub async fn end_console_session(&self, id_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM console_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
