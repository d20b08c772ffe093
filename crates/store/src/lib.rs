//! Strongroom's storage layer: one schema and one SQL text for SQLite and PostgreSQL (sqlx
//! `Any`), one repository module per aggregate. No HTTP types and no business rules: services in
//! `strongroom-core` decide, this crate reads and writes rows.
//!
//! Cascades are foreign keys (`ON DELETE CASCADE`), so deleting a user, an identity or a
//! connector removes the matching token sets in the deleting transaction on both engines.

mod admins;
mod applications;
mod audit;
mod connection;
mod connectors;
mod identities;
mod ids;
mod interactions;
mod migrate;
mod oidc;
mod sealed;
mod secret_cache;
mod secrets;
mod time;
mod users;
mod verifications;

pub use admins::{ConsoleAdmin, ConsoleSession, GuardKeys, Reservation};
pub use applications::{ApplicationRow, ConsentRow, TokenExchangeSettings};
pub use audit::{AuditEvent, AuditFilter};
pub use connection::{ConnectorRef, IdentityKey};
pub use connectors::{ConnectorRow, SsoConnectorRow};
pub use identities::{SocialIdentity, SsoIdentity};
pub use ids::*;
pub use interactions::{InteractionRow, SessionRow};
pub use migrate::latest_schema_version;
pub use oidc::{
    AccessTokenRow, AuthorizationCodeRow, GrantRow, Redemption, RefreshTokenRow, SigningKeyRow,
};
pub use sealed::{KekCount, RewrapItem, SEALED_TABLES, SealedTable};
pub use secret_cache::{ManualMonotonic, MonotonicClock, SECRET_CACHE_TTL, SystemMonotonic};
pub use secrets::{NewSecret, SecretRelation, SecretRow, TokenSetMetadata};
pub use time::UnixSecs;
pub use users::{NewUser, UserRow};
pub use verifications::VerificationRow;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};
use strongroom_vault::{Envelope, KekId};

/// Which engine a [`Store`] talks to. Only dialect differences branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Errors of the storage layer. Database error text stays here and in logs; the HTTP layer maps
/// these to stable codes without echoing it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL scheme (expected sqlite:// or postgres://)")]
    UnsupportedUrl,
    #[error("a row with the same unique key already exists ({0})")]
    Conflict(String),
    #[error("a referenced row does not exist ({0})")]
    MissingReference(String),
    #[error("stored data is malformed: {0}")]
    Malformed(String),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &err {
            let what = db
                .constraint()
                .map(str::to_owned)
                .unwrap_or_else(|| db.message().to_owned());
            match db.kind() {
                sqlx::error::ErrorKind::UniqueViolation => return Self::Conflict(what),
                sqlx::error::ErrorKind::ForeignKeyViolation => return Self::MissingReference(what),
                _ => {}
            }
        }
        Self::Database(err)
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A handle on the database: a connection pool, the audit trail's own small pool, and the
/// engine they talk to.
///
/// On SQLite the audit trail lives in its own file beside the database (`<name>-audit.db`):
/// its constant stream of inserts then never invalidates the page caches of the connections
/// reading token sets. On PostgreSQL it is a table of the same database, written through its
/// own pool so that audit writes never wait for (or hold) a connection a request needs.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    audit: AnyPool,
    backend: Backend,
    secret_cache: std::sync::Arc<secret_cache::SecretCache>,
}

fn sqlite_pool(max_connections: u32) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(max_connections)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(30))
        // A ping before every use doubles the round trips of each query.
        .test_before_acquire(false)
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                // A small page cache per connection: the kernel's file cache holds the rest,
                // outside the process, and hot token sets are cached above the store.
                sqlx::raw_sql(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                     PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; \
                     PRAGMA cache_size = -512;",
                )
                .execute(conn)
                .await?;
                Ok(())
            })
        })
}

impl Store {
    /// Connects to `url` (`sqlite://path` or `postgres://...`). A SQLite file and its folder are
    /// created when missing; SQLite runs in WAL mode with a busy timeout.
    pub async fn connect(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let (backend, url) = normalize_url(url)?;
        let options = AnyConnectOptions::from_str(&url)?;
        let (pool, audit) = match backend {
            Backend::Sqlite => {
                // More connections than cores only add thread hand-offs: four serve two cores.
                let pool = sqlite_pool(4).connect_with(options).await?;
                let audit_options = AnyConnectOptions::from_str(&audit_file_url(&url))?;
                let audit = sqlite_pool(1).connect_with(audit_options).await?;
                Store::migrate_sqlite_audit(&audit).await?;
                (pool, audit)
            }
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(30))
                    .test_before_acquire(false)
                    .connect_with(options.clone())
                    .await?;
                let audit = AnyPoolOptions::new()
                    .max_connections(2)
                    .acquire_timeout(Duration::from_secs(30))
                    .test_before_acquire(false)
                    .connect_with(options)
                    .await?;
                (pool, audit)
            }
        };
        Ok(Self {
            pool,
            audit,
            backend,
            secret_cache: Default::default(),
        })
    }

    /// Connects and applies pending migrations.
    pub async fn connect_and_migrate(url: &str) -> Result<Self> {
        let store = Self::connect(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// This store with a token-set read cache (empty) that reads the time from `clock`.
    pub fn with_cache_clock(mut self, clock: std::sync::Arc<dyn MonotonicClock>) -> Self {
        self.secret_cache = std::sync::Arc::new(secret_cache::SecretCache::with_clock(clock));
        self
    }

    /// Drops the token-set read cache: called by every write that can change a token set.
    pub(crate) fn secrets_changed(&self) {
        self.secret_cache.invalidate();
    }

    /// Begins a transaction that will write. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`): a deferred transaction that reads first cannot upgrade once another
    /// connection has written (SQLITE_BUSY_SNAPSHOT, which no busy timeout waits out), so two
    /// concurrent sign-ins of one account would end in a 500 instead of a conflict.
    pub(crate) async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// A `VALUES` list body for `rows` rows of `columns` parameters, bound in row order:
    /// `($1, $2), ($3, $4)` on PostgreSQL, `(?, ?), (?, ?)` on SQLite. (SQLite looks up every
    /// numbered parameter by name in a list, which makes binding thousands of `$N` quadratic.)
    pub fn values_list(&self, rows: usize, columns: usize) -> String {
        let mut out = String::with_capacity(rows * columns * 6);
        for r in 0..rows {
            out.push_str(if r == 0 { "(" } else { ", (" });
            for c in 0..columns {
                if c > 0 {
                    out.push_str(", ");
                }
                match self.backend {
                    Backend::Sqlite => out.push('?'),
                    Backend::Postgres => {
                        out.push('$');
                        out.push_str(&(r * columns + c + 1).to_string());
                    }
                }
            }
            out.push(')');
        }
        out
    }

    /// Closes every pooled connection (SQLite then checkpoints its WAL).
    /// Each pool's open and idle connections: `(name, open, idle)`.
    pub fn pool_use(&self) -> [(&'static str, u32, usize); 2] {
        [
            ("main", self.pool.size(), self.pool.num_idle()),
            ("audit", self.audit.size(), self.audit.num_idle()),
        ]
    }

    /// One trivial statement on each pool: the main database and the audit trail answer.
    pub async fn ping(&self) -> Result<()> {
        for pool in [&self.pool, &self.audit] {
            sqlx::query("SELECT 1").execute(pool).await?;
        }
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
        self.audit.close().await;
    }
}

/// Accepts `sqlite://path`, `sqlite:path` and `postgres(ql)://`; SQLite files are opened with
/// `mode=rwc` and their folder is created.
fn normalize_url(url: &str) -> Result<(Backend, String)> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok((Backend::Postgres, url.to_owned()));
    }
    let Some(rest) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    else {
        return Err(StoreError::UnsupportedUrl);
    };
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if !path.is_empty() && path != ":memory:" {
        let path = std::path::Path::new(path);
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
        {
            let mut folder = std::fs::DirBuilder::new();
            folder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut folder, 0o700);
            folder.create(parent).map_err(|e| {
                StoreError::Malformed(format!(
                    "cannot create the folder of the SQLite database: {e}"
                ))
            })?;
        }
        for file in [path.to_path_buf(), sqlite_audit_path(path)] {
            owner_only(&file)?;
        }
    }
    let query = if query.contains("mode=") {
        query.to_owned()
    } else if query.is_empty() {
        "mode=rwc".to_owned()
    } else {
        format!("{query}&mode=rwc")
    };
    Ok((Backend::Sqlite, format!("sqlite://{path}?{query}")))
}

/// Creates a SQLite file with mode 0600 before SQLite opens it, or restricts an existing one
/// to 0600: the database holds users' PII, the audit trail and password hashes. SQLite creates
/// the `-wal` and `-shm` files with the database file's mode.
fn owner_only(file: &std::path::Path) -> Result<()> {
    let fail = |e: std::io::Error| {
        StoreError::Malformed(format!(
            "cannot create {} with owner-only permissions: {e}",
            file.display()
        ))
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(file).map_err(fail)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600)).map_err(fail)?;
    }
    Ok(())
}

/// The URL of the audit file beside a SQLite database: `x/strongroom.db` → `x/strongroom-audit.db`.
fn audit_file_url(url: &str) -> String {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    if path.ends_with(":memory:") {
        return url.to_owned();
    }
    let audit_path = match path.rsplit_once('.') {
        Some((stem, ext)) if !ext.contains('/') => format!("{stem}-audit.{ext}"),
        _ => format!("{path}-audit"),
    };
    if query.is_empty() {
        audit_path
    } else {
        format!("{audit_path}?{query}")
    }
}

/// The SQLite audit file of a database file (for tools and tests that inspect files).
pub fn sqlite_audit_path(db_path: &std::path::Path) -> std::path::PathBuf {
    let stem = db_path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match db_path.extension() {
        Some(ext) => format!("{stem}-audit.{}", ext.to_string_lossy()),
        None => format!("{stem}-audit"),
    };
    db_path.with_file_name(name)
}

/// Reads the four envelope columns of a row.
pub(crate) fn envelope_from_row(row: &AnyRow) -> Result<Envelope> {
    Ok(Envelope {
        format_version: row.try_get("format_version")?,
        kek_id: KekId::from_stored(row.try_get("kek_id")?),
        encrypted_dek: row.try_get("encrypted_dek")?,
        ciphertext: row.try_get("ciphertext")?,
    })
}

pub(crate) fn json_from(text: &str, what: &str) -> Result<serde_json::Value> {
    serde_json::from_str(text).map_err(|e| StoreError::Malformed(format!("{what}: {e}")))
}

pub(crate) fn flag(value: bool) -> i64 {
    i64::from(value)
}
