//! A fresh, empty database per test, on the engine the test run targets:
//! `STRONGROOM_TEST_DATABASE=sqlite` (default) or `postgres`. PostgreSQL tests connect to
//! `STRONGROOM_TEST_PG_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`) and create a
//! database named `sr_test_*`, which the test script drops after the run.

use sqlx::Connection as _;
use strongroom_store::Store;

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
                Self { url: format!("sqlite://{}", path.display()), sqlite_path: Some(path), dir }
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
                let base = admin_url.rsplit_once('/').map_or(admin_url.as_str(), |(b, _)| b);
                Self { url: format!("{base}/{name}"), sqlite_path: None, dir }
            }
        }
    }

    /// A fresh database with the schema applied, and a store on it.
    pub async fn migrated() -> (Self, Store) {
        let db = Self::new().await;
        let store = Store::connect_and_migrate(&db.url).await.expect("connect and migrate");
        (db, store)
    }
}
