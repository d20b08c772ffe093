use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{AdminId, Result, Store};

/// A console administrator. `password_hash` is an argon2 PHC string.
#[derive(Clone, PartialEq, Eq)]
pub struct ConsoleAdmin {
    pub id: AdminId,
    pub username: String,
    pub password_hash: String,
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

/// The two guard rows of a console sign-in attempt (hashes; see the migration).
#[derive(Debug, Clone, Copy)]
pub struct GuardKeys<'a> {
    /// The username's row: one attempt in flight.
    pub account: &'a str,
    /// The username-and-address row: failures and lockout.
    pub address: &'a str,
}

/// What reserving a console sign-in attempt found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// Go ahead and check the password.
    Reserved,
    /// Another attempt for this username is in flight.
    Busy,
    /// This address is locked out of this username until then (ms).
    Locked { until: i64 },
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
        id: AdminId::from(row.try_get::<String, _>("id")?),
        username: row.try_get("username")?,
        password_hash: row.try_get("password_hash")?,
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
            "INSERT INTO console_admins (id, username, password_hash, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5)",
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
            "SELECT id, username, password_hash, created_at, updated_at \
             FROM console_admins WHERE username = $1",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(admin_from_row).transpose()
    }

    /// Sets a new password hash, ends the admin's sessions and clears the sign-in guards of
    /// `account_key` (every lockout of the username).
    pub async fn set_console_admin_password(
        &self,
        id: &AdminId,
        password_hash: &str,
        account_key: &str,
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE console_admins SET password_hash = $2, updated_at = $3 WHERE id = $1",
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
        sqlx::query("DELETE FROM console_sign_in_guards WHERE account_key = $1")
            .bind(account_key)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Reserves a sign-in attempt before the password is checked, in one transaction: marks
    /// the account busy until `busy_until` (refused while another attempt is in flight) and
    /// counts a failure on the address row (refused while it is locked). The attempt counts as
    /// failed until [`Store::finish_console_attempt`] says otherwise, so a crash or a burst of
    /// concurrent guesses cannot get more checks than the limit.
    pub async fn reserve_console_attempt(
        &self,
        keys: &GuardKeys<'_>,
        now: i64,
        busy_until: i64,
        expires_at: i64,
    ) -> Result<Reservation> {
        let mut tx = self.begin_write().await?;
        for key in [keys.account, keys.address] {
            sqlx::query(
                "INSERT INTO console_sign_in_guards (key, account_key, failures, expires_at) \
                 VALUES ($1, $2, 0, $3) ON CONFLICT (key) DO NOTHING",
            )
            .bind(key)
            .bind(keys.account)
            .bind(expires_at)
            .execute(&mut *tx)
            .await?;
        }
        let locked: Option<i64> = sqlx::query(
            "SELECT locked_until FROM console_sign_in_guards WHERE key = $1 AND locked_until > $2",
        )
        .bind(keys.address)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?
        .map(|row| row.try_get("locked_until"))
        .transpose()?;
        if let Some(until) = locked {
            tx.rollback().await?;
            return Ok(Reservation::Locked { until });
        }
        let free = sqlx::query(
            "UPDATE console_sign_in_guards SET busy_until = $2, expires_at = $3 \
             WHERE key = $1 AND (busy_until IS NULL OR busy_until <= $4)",
        )
        .bind(keys.account)
        .bind(busy_until)
        .bind(expires_at)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !free {
            tx.rollback().await?;
            return Ok(Reservation::Busy);
        }
        let counted = sqlx::query(
            "UPDATE console_sign_in_guards SET failures = failures + 1, expires_at = $2 \
             WHERE key = $1 AND (locked_until IS NULL OR locked_until <= $3)",
        )
        .bind(keys.address)
        .bind(expires_at)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !counted {
            // Locked between the check and here by another process.
            tx.rollback().await?;
            return Ok(Reservation::Busy);
        }
        tx.commit().await?;
        Ok(Reservation::Reserved)
    }

    /// Ends a reserved attempt: the account is free again; a success clears the address's
    /// failures, a failure locks the address out until `locked_until` when it reached `limit`
    /// (and restarts the count). Returns whether the address is now locked.
    pub async fn finish_console_attempt(
        &self,
        keys: &GuardKeys<'_>,
        success: bool,
        limit: i64,
        locked_until: i64,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE console_sign_in_guards SET busy_until = NULL WHERE key = $1")
            .bind(keys.account)
            .execute(&mut *tx)
            .await?;
        let locked = if success {
            sqlx::query("UPDATE console_sign_in_guards SET failures = 0 WHERE key = $1")
                .bind(keys.address)
                .execute(&mut *tx)
                .await?;
            false
        } else {
            sqlx::query(
                "UPDATE console_sign_in_guards SET failures = 0, locked_until = $2 \
                 WHERE key = $1 AND failures >= $3",
            )
            .bind(keys.address)
            .bind(locked_until)
            .bind(limit)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1
        };
        tx.commit().await?;
        Ok(locked)
    }

    /// Starts a session. Only hashes are stored.
    pub async fn start_console_session(
        &self,
        admin: &AdminId,
        id_hash: &str,
        csrf_token_hash: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO console_sessions (id_hash, admin_id, csrf_token_hash, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id_hash)
        .bind(admin.as_str())
        .bind(csrf_token_hash)
        .bind(now)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
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
                admin_id: AdminId::from(row.try_get::<String, _>("admin_id")?),
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
