use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Result, Store, UserId, flag};

/// A user as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct UserRow {
    pub id: UserId,
    pub username: Option<String>,
    pub primary_email: Option<String>,
    /// Who verified `primary_email` (`admin`, `social:<target>`, `sso:<id>`); `None`: nobody.
    pub primary_email_verified_by: Option<String>,
    pub primary_phone: Option<String>,
    pub name: Option<String>,
    pub avatar: Option<String>,
    pub profile: serde_json::Value,
    pub custom_data: serde_json::Value,
    pub is_suspended: bool,
    pub last_sign_in_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The fields a new user is created with.
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    pub username: Option<String>,
    pub primary_email: Option<String>,
    /// Who verified `primary_email`; `None` stores it as unverified.
    pub primary_email_verified_by: Option<String>,
    pub primary_phone: Option<String>,
    pub name: Option<String>,
    pub avatar: Option<String>,
    /// JSON objects; `{}` when absent.
    pub profile: Option<serde_json::Value>,
    pub custom_data: Option<serde_json::Value>,
}

const USER_COLUMNS: &str = "id, username, primary_email, primary_email_verified_by, primary_phone, name, avatar, profile, \
    custom_data, is_suspended, last_sign_in_at, created_at, updated_at";

fn user_from_row(row: &AnyRow) -> Result<UserRow> {
    Ok(UserRow {
        id: UserId::from(row.try_get::<String, _>("id")?),
        username: row.try_get("username")?,
        primary_email: row.try_get("primary_email")?,
        primary_email_verified_by: row.try_get("primary_email_verified_by")?,
        primary_phone: row.try_get("primary_phone")?,
        name: row.try_get("name")?,
        avatar: row.try_get("avatar")?,
        profile: crate::json_from(&row.try_get::<String, _>("profile")?, "users.profile")?,
        custom_data: crate::json_from(
            &row.try_get::<String, _>("custom_data")?,
            "users.custom_data",
        )?,
        is_suspended: row.try_get::<i64, _>("is_suspended")? != 0,
        last_sign_in_at: row.try_get("last_sign_in_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

impl Store {
    pub async fn insert_user(&self, id: &UserId, user: &NewUser, now: i64) -> Result<UserRow> {
        sqlx::query(
            "INSERT INTO users (id, username, primary_email, primary_phone, name, avatar, profile, custom_data, \
             is_suspended, created_at, updated_at, primary_email_verified_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11)",
        )
        .bind(id.as_str())
        .bind(user.username.as_deref())
        .bind(user.primary_email.as_deref())
        .bind(user.primary_phone.as_deref())
        .bind(user.name.as_deref())
        .bind(user.avatar.as_deref())
        .bind(user.profile.as_ref().map_or_else(|| "{}".to_owned(), ToString::to_string))
        .bind(user.custom_data.as_ref().map_or_else(|| "{}".to_owned(), ToString::to_string))
        .bind(flag(false))
        .bind(now)
        .bind(
            user.primary_email_verified_by
                .as_deref()
                .filter(|_| user.primary_email.is_some()),
        )
        .execute(&self.pool)
        .await?;
        self.get_user(id)
            .await?
            .ok_or_else(|| crate::StoreError::Malformed("inserted user vanished".into()))
    }

    pub async fn get_user(&self, id: &UserId) -> Result<Option<UserRow>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users WHERE id = $1"
        )))
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// The user with this username (compared case-insensitively).
    pub async fn find_user_by_username(&self, username: &str) -> Result<Option<UserRow>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users WHERE LOWER(username) = LOWER($1)"
        )))
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// The user with this primary phone number.
    pub async fn find_user_by_phone(&self, phone: &str) -> Result<Option<UserRow>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users WHERE primary_phone = $1"
        )))
        .bind(phone)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// The user whose primary e-mail address is `email` (compared case-insensitively).
    pub async fn find_user_by_email(&self, email: &str) -> Result<Option<UserRow>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users WHERE LOWER(primary_email) = LOWER($1)"
        )))
        .bind(email)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// A page of users, newest first, optionally filtered by a case-insensitive substring of the
    /// id, username, email, phone or name. Returns the page and the total number of matches.
    pub async fn list_users(
        &self,
        search: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<UserRow>, i64)> {
        let pattern = search.map(|s| format!("%{}%", escape_like(&s.to_lowercase())));
        const FILTER: &str = "($1 IS NULL OR LOWER(id) LIKE $1 ESCAPE '\\' \
            OR LOWER(COALESCE(username, '')) LIKE $1 ESCAPE '\\' \
            OR LOWER(COALESCE(primary_email, '')) LIKE $1 ESCAPE '\\' \
            OR LOWER(COALESCE(primary_phone, '')) LIKE $1 ESCAPE '\\' \
            OR LOWER(COALESCE(name, '')) LIKE $1 ESCAPE '\\')";
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users WHERE {FILTER} \
             ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
        )))
        .bind(pattern.as_deref())
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let total: i64 = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) AS n FROM users WHERE {FILTER}"
        )))
        .bind(pattern.as_deref())
        .fetch_one(&self.pool)
        .await?
        .try_get("n")?;
        let users = rows.iter().map(user_from_row).collect::<Result<_>>()?;
        Ok((users, total))
    }

    /// Deletes a user; identities, token sets, grants and verification records cascade.
    pub async fn delete_user(&self, id: &UserId) -> Result<bool> {
        let done = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id.as_str())
            .execute(&self.pool)
            .await?;
        self.secrets_changed();
        Ok(done.rows_affected() > 0)
    }

    /// Deletes the user only while no identity is linked to it: a sign-in that created a user
    /// and then lost a race takes it back this way, and never deletes a user a concurrent
    /// sign-in has joined (by e-mail) and linked in the meantime.
    pub async fn delete_user_if_unlinked(&self, id: &UserId) -> Result<bool> {
        let done = sqlx::query(
            "DELETE FROM users WHERE id = $1 \
             AND NOT EXISTS (SELECT 1 FROM user_social_identities WHERE user_id = $1) \
             AND NOT EXISTS (SELECT 1 FROM user_sso_identities WHERE user_id = $1)",
        )
        .bind(id.as_str())
        .execute(&self.pool)
        .await?;
        self.secrets_changed();
        Ok(done.rows_affected() > 0)
    }

    pub async fn record_sign_in(&self, id: &UserId, now: i64) -> Result<()> {
        sqlx::query("UPDATE users SET last_sign_in_at = $2, updated_at = $2 WHERE id = $1")
            .bind(id.as_str())
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}
