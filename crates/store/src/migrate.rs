use sqlx::{AssertSqlSafe, Row};

use crate::{Backend, Result, Store};

/// A migration: its version, what it does, its SQL.
type Migration = (i64, &'static str, &'static str);

/// The embedded migrations, applied in order. One SQL text serves both engines.
const MIGRATIONS: &[Migration] = &[
    (
        1,
        "initial schema",
        include_str!("../migrations/0001_initial.sql"),
    ),
    (
        2,
        "unique phone numbers",
        include_str!("../migrations/0002_unique_phone.sql"),
    ),
    (
        3,
        "audit trail ordered by id",
        include_str!("../migrations/0003_audit_order_by_id.sql"),
    ),
    (
        4,
        "who verified a primary e-mail address",
        include_str!("../migrations/0004_email_verification.sql"),
    ),
    (
        5,
        "the sign-in time of a grant",
        include_str!("../migrations/0005_grant_auth_time.sql"),
    ),
    (
        6,
        "revocation events for every process",
        include_str!("../migrations/0006_revocation_events.sql"),
    ),
    (
        7,
        "console sign-in guards per username and address",
        include_str!("../migrations/0007_console_sign_in_guards.sql"),
    ),
    (
        8,
        "consent to third-party applications",
        include_str!("../migrations/0008_consents.sql"),
    ),
    (
        9,
        "audit events set aside",
        include_str!("../migrations/0009_audit_rejected.sql"),
    ),
    (
        10,
        "applications' customData",
        include_str!("../migrations/0010_application_custom_data.sql"),
    ),
    (
        11,
        "Account Center settings",
        include_str!("../migrations/0011_account_center.sql"),
    ),
    (
        12,
        "token exchange grants, used client assertions, the audit trail's application",
        include_str!("../migrations/0012_token_exchange.sql"),
    ),
];

/// The migrations of the separate SQLite audit file (see [`Store`]); on PostgreSQL the audit
/// tables are in the main database, created by [`MIGRATIONS`].
const AUDIT_MIGRATIONS: &[Migration] = &[
    (
        1,
        "the audit trail",
        include_str!("../migrations/audit/0001_audit_trail.sql"),
    ),
    (
        2,
        "the application of an audit event",
        include_str!("../migrations/audit/0002_audit_application.sql"),
    ),
];

/// The schema version the migrations lead to.
pub fn latest_schema_version() -> i64 {
    MIGRATIONS.last().map_or(0, |(version, _, _)| *version)
}

/// An arbitrary constant naming Strongroom's migration lock on PostgreSQL.
const PG_MIGRATION_LOCK: i64 = 0x5354_524f_4e47;

impl Store {
    /// Applies every migration not yet applied, each in its own transaction. Several processes
    /// may call this at once: on PostgreSQL an advisory lock serializes them, on SQLite the
    /// write lock does.
    pub async fn migrate(&self) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_lock($1)")
                .bind(PG_MIGRATION_LOCK)
                .execute(&mut *conn)
                .await?;
        }
        let result = apply_pending(&mut conn, MIGRATIONS).await;
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(PG_MIGRATION_LOCK)
                .execute(&mut *conn)
                .await?;
        }
        result
    }

    /// Applies the SQLite audit file's migrations (its one writer connection serializes them).
    pub(crate) async fn migrate_sqlite_audit(audit: &sqlx::AnyPool) -> Result<()> {
        let mut conn = audit.acquire().await?;
        apply_pending(&mut conn, AUDIT_MIGRATIONS).await
    }

    /// The highest applied migration version (0 before any).
    pub async fn schema_version(&self) -> Result<i64> {
        let row = sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM strongroom_migrations")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("v")?)
    }
}

/// Applies every migration of `migrations` not yet applied on `conn`, each in its own
/// transaction, recording it in `strongroom_migrations`.
async fn apply_pending(conn: &mut sqlx::AnyConnection, migrations: &[Migration]) -> Result<()> {
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS strongroom_migrations (
             version BIGINT PRIMARY KEY,
             description TEXT NOT NULL,
             applied_at BIGINT NOT NULL
         )",
    )
    .execute(&mut *conn)
    .await?;
    for (version, description, sql) in migrations {
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let applied = sqlx::query("SELECT version FROM strongroom_migrations WHERE version = $1")
            .bind(*version)
            .fetch_optional(&mut *tx)
            .await?
            .map(|row| row.try_get::<i64, _>(0))
            .transpose()?
            .is_some();
        if applied {
            continue;
        }
        tracing::info!(version, description, "applying migration");
        sqlx::raw_sql(AssertSqlSafe(*sql)).execute(&mut *tx).await?;
        sqlx::query(
            "INSERT INTO strongroom_migrations (version, description, applied_at) VALUES ($1, $2, $3)",
        )
        .bind(*version)
        .bind(*description)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
    }
    Ok(())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The columns and indexes of the audit tables, as SQLite reports them.
    async fn audit_shape(migrations: &[Migration]) -> Vec<String> {
        sqlx::any::install_default_drivers();
        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect("sqlite::memory:")
            .await
            .expect("in-memory SQLite");
        apply_pending(&mut conn, migrations)
            .await
            .expect("migrations apply");
        let rows = sqlx::query(
            "SELECT m.name || '.' || c.name || ' ' || c.type || ' ' || c.\"notnull\" || ' ' \
                 || COALESCE(c.dflt_value, '-') || ' ' || c.pk \
             FROM sqlite_master m, pragma_table_info(m.name) c \
             WHERE m.type = 'table' AND m.name IN ('audit_events', 'audit_rejected') \
             UNION ALL \
             SELECT 'index ' || i.name || ' ' || group_concat(ii.name, ',') \
             FROM sqlite_master i, pragma_index_info(i.name) ii \
             WHERE i.type = 'index' AND i.tbl_name IN ('audit_events', 'audit_rejected') \
             GROUP BY i.name \
             ORDER BY 1",
        )
        .fetch_all(&mut conn)
        .await
        .expect("schema query");
        rows.iter()
            .map(|r| r.try_get::<String, _>(0).expect("text"))
            .collect()
    }

    #[tokio::test]
    async fn the_sqlite_audit_file_has_the_audit_tables_of_the_main_schema() {
        let main = audit_shape(MIGRATIONS).await;
        assert!(
            main.iter()
                .any(|l| l.starts_with("audit_events.request_id")),
            "{main:?}"
        );
        assert_eq!(audit_shape(AUDIT_MIGRATIONS).await, main);
    }
}
