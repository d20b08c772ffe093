//! A fresh, empty database per test, on the engine the test run targets:
//! `STRONGROOM_TEST_DATABASE=sqlite` (default) or `postgres`. PostgreSQL tests connect to
//! `STRONGROOM_TEST_PG_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`) and create a
//! database named `sr_test_*`, which the test script drops after the run.

pub mod browser;
pub mod upstream;

use sqlx::Connection as _;
use strongroom_store::Store;

/// The longest a test waits for any one answer, child process or HTTP response: far above what
/// any test needs, so that a hang fails the test that hangs, naming what it waited for, instead
/// of stalling the whole run.
pub const ANSWER_WITHIN: std::time::Duration = std::time::Duration::from_secs(90);

/// An HTTP client for tests, with [`ANSWER_WITHIN`] for each request.
pub fn http() -> reqwest::ClientBuilder {
    reqwest::Client::builder().timeout(ANSWER_WITHIN)
}

/// Like [`http`], and redirects are answers, not followed.
pub fn http_no_redirects() -> reqwest::ClientBuilder {
    http().redirect(reqwest::redirect::Policy::none())
}

/// The engine this test run targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

pub fn engine() -> Engine {
    match std::env::var("STRONGROOM_TEST_DATABASE").as_deref() {
        Ok("postgres") | Ok("postgresql") | Ok("pg") => Engine::Postgres,
        Ok("sqlite") | Err(_) => Engine::Sqlite,
        Ok(other) => panic!("STRONGROOM_TEST_DATABASE={other}: expected sqlite or postgres"),
    }
}

/// A database that exists for one test. Keep it alive as long as the test uses the URL.
#[derive(Debug)]
pub struct TestDb {
    pub url: String,
    /// The SQLite file, for tests that inspect it.
    pub sqlite_path: Option<std::path::PathBuf>,
    /// Holds the SQLite folder until the test ends.
    pub dir: tempfile::TempDir,
}

impl TestDb {
    /// A fresh empty database (no migrations applied).
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        match engine() {
            Engine::Sqlite => {
                let path = dir.path().join("strongroom.db");
                Self {
                    url: format!("sqlite://{}", path.display()),
                    sqlite_path: Some(path),
                    dir,
                }
            }
            Engine::Postgres => {
                let admin_url = std::env::var("STRONGROOM_TEST_PG_URL")
                    .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
                let name = format!("sr_test_{}", strongroom_store::new_id());
                let mut conn = sqlx::PgConnection::connect(&admin_url)
                    .await
                    .expect("connect to the test PostgreSQL server (STRONGROOM_TEST_PG_URL)");
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .expect("create test database");
                let _ = conn.close().await;
                let base = admin_url
                    .rsplit_once('/')
                    .map_or(admin_url.as_str(), |(b, _)| b);
                Self {
                    url: format!("{base}/{name}"),
                    sqlite_path: None,
                    dir,
                }
            }
        }
    }

    /// A fresh database with the schema applied, and a store on it.
    pub async fn migrated() -> (Self, Store) {
        let db = Self::new().await;
        let store = Store::connect_and_migrate(&db.url)
            .await
            .expect("connect and migrate");
        (db, store)
    }
}

/// Bulk fixtures: `count` users, each with a GitHub-style identity and a sealed token set whose
/// access token is `at-<n>` and refresh token `rt-<n>`. Multi-row inserts, 500 rows a statement,
/// so a benchmark can seed a million rows on either engine.
pub mod seed {
    use secrecy::SecretString;
    use sqlx::{AssertSqlSafe, Row};
    use strongroom_core::token_sets::{TokenSet, TokenSets};
    use strongroom_store::{
        ConnectorId, ConnectorRow, SecretId, SecretRelation, Store, TokenSetMetadata, UserId,
    };

    pub const TARGET: &str = "github";

    /// Creates the `github` connector the seeded sets hang off (idempotent).
    pub async fn connector(store: &Store) -> ConnectorId {
        let id = ConnectorId::from("seed-github");
        store
            .save_connector(&ConnectorRow {
                id: id.clone(),
                connector_id: "github".into(),
                target: TARGET.into(),
                config: serde_json::json!({"clientId": "seed"}),
                metadata: serde_json::json!({}),
                sync_profile: false,
                enable_token_storage: true,
                sealed_config: None,
                created_at: 0,
                updated_at: 0,
            })
            .await
            .expect("save seed connector");
        id
    }

    /// Seeds token sets number `start..start + count`.
    pub async fn token_sets(store: &Store, sets: &TokenSets, start: u64, count: u64) {
        let connector = connector(store).await;
        let chunk = 500u64;
        let mut n = start;
        while n < start + count {
            let end = (n + chunk).min(start + count);
            let mut tx = store.pool().begin().await.expect("begin");
            let rows: Vec<(UserId, String, SecretId, u64)> = (n..end)
                .map(|i| {
                    (
                        UserId::from(format!("seed-user-{i:09}")),
                        format!("seed-ident-{i:09}"),
                        SecretId::from(format!("seed-secret-{i:09}")),
                        i,
                    )
                })
                .collect();
            insert(
                store,
                &mut tx,
                "users (id, username, created_at, updated_at)",
                4,
                rows.len(),
                |q, i| {
                    let (user, _, _, n) = &rows[i];
                    q.bind(user.as_str().to_owned())
                        .bind(format!("seed{n}"))
                        .bind(0i64)
                        .bind(0i64)
                },
            )
            .await;
            insert(store, &mut tx, "user_social_identities (id, user_id, target, identity_id, details, created_at, updated_at)", 7, rows.len(), |q, i| {
                let (user, ident, _, n) = &rows[i];
                q.bind(ident.clone()).bind(user.as_str().to_owned()).bind(TARGET).bind(format!("gh-{n}")).bind("{}").bind(0i64).bind(0i64)
            })
            .await;
            let sealed: Vec<_> = rows
                .iter()
                .map(|(user, ident, secret, n)| {
                    let relation = SecretRelation::Social {
                        connector_id: connector.clone(),
                        social_identity_id: ident.clone(),
                        target: TARGET.into(),
                        identity_id: format!("gh-{n}"),
                    };
                    let set = TokenSet {
                        access_token: SecretString::from(format!("at-{n}")),
                        id_token: None,
                        refresh_token: Some(SecretString::from(format!("rt-{n}"))),
                    };
                    (
                        relation.clone(),
                        sets.seal(secret, user, &relation, &set).expect("seal"),
                    )
                })
                .collect();
            let metadata = serde_json::to_string(&TokenSetMetadata {
                has_refresh_token: true,
                expires_at: Some(strongroom_store::UnixSecs::new(4_102_444_800)),
                scope: Some("read:user".into()),
                token_type: Some("bearer".into()),
                ..Default::default()
            })
            .expect("metadata");
            insert(
                store,
                &mut tx,
                "secrets (id, user_id, type, connector_id, social_identity_id, target, identity_id, format_version, kek_id, encrypted_dek, ciphertext, metadata, version, created_at, updated_at)",
                15,
                rows.len(),
                |q, i| {
                    let (user, ident, secret, n) = &rows[i];
                    let env = &sealed[i].1;
                    q.bind(secret.as_str().to_owned())
                        .bind(user.as_str().to_owned())
                        .bind("federated_token_set")
                        .bind(connector.as_str().to_owned())
                        .bind(ident.clone())
                        .bind(TARGET)
                        .bind(format!("gh-{n}"))
                        .bind(env.format_version)
                        .bind(env.kek_id.to_string())
                        .bind(env.encrypted_dek.clone())
                        .bind(env.ciphertext.clone())
                        .bind(metadata.clone())
                        .bind(0i64)
                        .bind(0i64)
                        .bind(0i64)
                },
            )
            .await;
            tx.commit().await.expect("commit");
            n = end;
        }
    }

    type Q<'a> = sqlx::query::Query<'a, sqlx::Any, sqlx::any::AnyArguments>;

    async fn insert<'a>(
        store: &Store,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        into: &str,
        columns: usize,
        rows: usize,
        bind: impl Fn(Q<'a>, usize) -> Q<'a>,
    ) {
        let values = store.values_list(rows, columns);
        let mut q = sqlx::query(AssertSqlSafe(format!("INSERT INTO {into} VALUES {values}")));
        for r in 0..rows {
            q = bind(q, r);
        }
        q.execute(&mut **tx).await.expect("bulk insert");
    }

    /// Every secret id, in id order.
    pub async fn secret_ids(store: &Store) -> Vec<SecretId> {
        sqlx::query("SELECT id FROM secrets ORDER BY id")
            .fetch_all(store.pool())
            .await
            .expect("list secrets")
            .iter()
            .map(|r| SecretId::from(r.try_get::<String, _>("id").expect("id")))
            .collect()
    }
}

/// Proving that secrets appear in no log line and nowhere in the database.
pub mod plaintext {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use sqlx::Row;
    use strongroom_store::Store;

    /// A log writer that keeps everything written, for `tracing_subscriber::fmt().with_writer`.
    #[derive(Clone, Default, Debug)]
    pub struct Captured(pub Arc<Mutex<Vec<u8>>>);

    impl Captured {
        /// The process's TRACE-level subscriber writing here, installed by the first call;
        /// every test of the binary that calls it reads the same lines.
        pub fn install() -> Self {
            static INSTALLED: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
            INSTALLED
                .get_or_init(|| {
                    let logs = Self::default();
                    let writer = logs.clone();
                    tracing_subscriber::fmt()
                        .with_max_level(tracing::Level::TRACE)
                        .with_writer(move || writer.clone())
                        .with_ansi(false)
                        .init();
                    logs
                })
                .clone()
        }

        pub fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().expect("log buffer")).into_owned()
        }
    }

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("log buffer").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Asserts no secret is in the SQLite main, WAL, SHM or journal file, nor in those of the
    /// audit file beside it; returns the bytes read.
    pub fn assert_absent_in_files(db_path: &std::path::Path, secrets: &[&str]) -> usize {
        let mut bytes_checked = 0;
        let audit = strongroom_store::sqlite_audit_path(db_path);
        for (file, suffix) in [db_path, audit.as_path()]
            .into_iter()
            .flat_map(|f| ["", "-wal", "-shm", "-journal"].map(|s| (f, s)))
        {
            let path = std::path::PathBuf::from(format!("{}{suffix}", file.display()));
            let Ok(content) = std::fs::read(&path) else {
                continue;
            };
            bytes_checked += content.len();
            for secret in secrets {
                assert!(
                    !content
                        .windows(secret.len())
                        .any(|w| w == secret.as_bytes()),
                    "a secret is in {} in plaintext",
                    path.display()
                );
            }
        }
        bytes_checked
    }

    /// Asserts no secret (as text or hex) is in any row of any PostgreSQL table; returns the
    /// number of rows read.
    pub async fn assert_absent_in_postgres(store: &Store, secrets: &[&str]) -> usize {
        let tables =
            sqlx::query("SELECT table_name::text AS table_name FROM information_schema.tables WHERE table_schema = 'public'")
                .fetch_all(store.pool())
                .await
                .expect("tables");
        let mut rows_checked = 0;
        for t in tables {
            let table: String = t.try_get("table_name").expect("name");
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT row_to_json(t)::text AS j FROM {table} t"
            )))
            .fetch_all(store.pool())
            .await
            .expect("rows");
            for row in rows {
                let text: String = row.try_get("j").expect("json");
                rows_checked += 1;
                for secret in secrets {
                    let hex: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
                    assert!(
                        !text.contains(secret) && !text.contains(&hex),
                        "a secret is in table {table}"
                    );
                }
            }
        }
        rows_checked
    }

    /// Asserts no secret is anywhere in the test database (files or rows) and closes the store.
    pub async fn assert_absent_in_database(db: &crate::TestDb, store: &Store, secrets: &[&str]) {
        let checked = match &db.sqlite_path {
            Some(path) => {
                let open = assert_absent_in_files(path, secrets);
                store.close().await;
                open + assert_absent_in_files(path, secrets)
            }
            None => {
                let rows = assert_absent_in_postgres(store, secrets).await;
                store.close().await;
                rows
            }
        };
        assert!(checked > 0, "no database content was inspected");
    }
}
