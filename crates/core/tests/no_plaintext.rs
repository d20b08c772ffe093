//! Plants known tokens, stores, merges, reads and re-wraps them with every log level on, and
//! proves the token strings appear in no log line and nowhere in the database: the SQLite main
//! and WAL files, or every row of every PostgreSQL table. One test per binary, because it owns
//! the process-wide log subscriber.

use std::io::Write;
use std::sync::{Arc, Mutex};

use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use sqlx::Row;
use strongroom_core::token_sets::{TokenResponse, TokenSets};
use strongroom_core::{ManualClock, keys, rewrap};
use strongroom_store::*;
use strongroom_testkit::TestDb;
use strongroom_vault::{Kek, Keyring};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn planted(kind: &str) -> String {
    format!("planted-{kind}-{}", new_id())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_tokens_reach_no_log_line_and_no_database_file() {
    let logs = Captured::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    let access = planted("access");
    let refresh = planted("refresh");
    let id_token = planted("idtoken");
    let access2 = planted("access2");
    let sso_access = planted("sso-access");
    let tokens = [&access, &refresh, &id_token, &access2, &sso_access];

    let (db, store) = TestDb::migrated().await;
    let clock = Arc::new(ManualClock::new(1_750_000_000_000));
    let old_b64 = Kek::generate().expect("kek").to_base64();
    let keyring = Arc::new(Keyring::new(Kek::from_base64(&old_b64).expect("kek"), vec![]));
    keys::verify_and_register(&store, &keyring, clock.as_ref()).await.expect("key check");
    let sets = TokenSets::new(store.clone(), keyring.clone(), clock.clone());

    let user = UserId::generate();
    store.insert_user(&user, &NewUser::default(), 0).await.expect("user");
    let connector = strongroom_testkit::seed::connector(&store).await;
    let identity = store.link_social_identity(&user, "github", "gh-1", &json!({}), 0).await.expect("link");
    let response = |access: &str, refresh: Option<&str>| TokenResponse {
        access_token: SecretString::from(access.to_owned()),
        id_token: Some(SecretString::from(id_token.clone())),
        refresh_token: refresh.map(|r| SecretString::from(r.to_owned())),
        expires_in: Some(3600),
        scope: Some("repo".into()),
        token_type: Some("bearer".into()),
    };
    let row = sets.store_social(&connector, &identity, response(&access, Some(&refresh))).await.expect("store");
    tracing::info!(?row, "stored");
    let opened = sets.open(&row).expect("open");
    tracing::debug!(?opened, "opened");
    assert_eq!(opened.access_token.expose_secret(), access);
    let merged = sets.store_social(&connector, &identity, response(&access2, None)).await.expect("merge");
    let merged_set = sets.open(&merged).expect("open merged");
    tracing::debug!(?merged_set, ?merged, "merged");
    assert_eq!(merged_set.refresh_token.as_ref().map(|t| t.expose_secret().to_owned()), Some(refresh.clone()));

    let sso = SsoConnectorRow {
        id: SsoConnectorId::generate(),
        provider_name: "OIDC".into(),
        connector_name: "corp".into(),
        config: json!({}),
        domains: vec![],
        branding: json!({}),
        sync_profile: false,
        enable_token_storage: true,
        sealed_config: None,
        created_at: 0,
        updated_at: 0,
    };
    store.save_sso_connector(&sso).await.expect("sso");
    let sso_identity = store.link_sso_identity(&user, &sso.id, "https://idp", "sub", &json!({}), 0).await.expect("link");
    sets.store_sso(&sso.id, &sso_identity, response(&sso_access, None)).await.expect("sso store");

    let rotated = Keyring::new(Kek::generate().expect("kek"), vec![Kek::from_base64(&old_b64).expect("kek")]);
    let report = rewrap::rewrap_all(&store, &rotated, &Default::default(), |_| {}).await.expect("rewrap");
    assert_eq!(report.rewrapped, 2);

    // The database, while the connections are open (WAL in use) and after they close.
    let mut checked = 0;
    if let Some(path) = &db.sqlite_path {
        checked += assert_absent_in_files(path, &tokens);
        store.close().await;
        checked += assert_absent_in_files(path, &tokens);
    } else {
        checked += assert_absent_in_postgres(&store, &tokens).await;
        store.close().await;
    }
    assert!(checked > 0, "no database content was inspected");

    let logs = String::from_utf8(logs.0.lock().expect("logs").clone()).expect("utf-8 logs");
    assert!(logs.lines().count() > 5, "logging was not captured:\n{logs}");
    assert!(logs.contains("stored"), "the test's own log lines are missing");
    for token in tokens {
        assert!(!logs.contains(token.as_str()), "a planted token reached the logs:\n{logs}");
    }
}

fn assert_absent_in_files(db_path: &std::path::Path, tokens: &[&String]) -> usize {
    let mut bytes_checked = 0;
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let path = std::path::PathBuf::from(format!("{}{suffix}", db_path.display()));
        let Ok(content) = std::fs::read(&path) else { continue };
        bytes_checked += content.len();
        for token in tokens {
            assert!(
                !content.windows(token.len()).any(|w| w == token.as_bytes()),
                "a planted token is in {} in plaintext",
                path.display()
            );
        }
    }
    bytes_checked
}

async fn assert_absent_in_postgres(store: &Store, tokens: &[&String]) -> usize {
    let tables = sqlx::query("SELECT table_name::text AS table_name FROM information_schema.tables WHERE table_schema = 'public'")
        .fetch_all(store.pool())
        .await
        .expect("tables");
    let mut rows_checked = 0;
    for t in tables {
        let table: String = t.try_get("table_name").expect("name");
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT row_to_json(t)::text AS j FROM {table} t")))
            .fetch_all(store.pool())
            .await
            .expect("rows");
        for row in rows {
            let text: String = row.try_get("j").expect("json");
            rows_checked += 1;
            for token in tokens {
                let hex: String = token.bytes().map(|b| format!("{b:02x}")).collect();
                assert!(!text.contains(token.as_str()) && !text.contains(&hex), "a planted token is in table {table}");
            }
        }
    }
    rows_checked
}
