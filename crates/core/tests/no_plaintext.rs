//! Plants known tokens, stores, merges, reads and re-wraps them with every log level on, and
//! proves the token strings appear in no log line and nowhere in the database: the SQLite main
//! and WAL files, or every row of every PostgreSQL table. One test per binary, because it owns
//! the process-wide log subscriber.

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use strongroom_core::token_sets::{TokenResponse, TokenSets};
use strongroom_core::{ManualClock, keys, rewrap};
use strongroom_store::*;
use strongroom_testkit::TestDb;
use strongroom_testkit::plaintext::{Captured, assert_absent_in_database};
use strongroom_vault::{Kek, Keyring};

fn planted(kind: &str) -> String {
    format!("planted-{kind}-{}", new_id())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_tokens_reach_no_log_line_and_no_database_file() {
    let logs = Captured::install();

    let access = planted("access");
    let refresh = planted("refresh");
    let id_token = planted("idtoken");
    let access2 = planted("access2");
    let sso_access = planted("sso-access");
    let tokens = [&access, &refresh, &id_token, &access2, &sso_access];

    let (db, store) = TestDb::migrated().await;
    let clock = Arc::new(ManualClock::new(1_750_000_000_000));
    let old_b64 = Kek::generate().expect("kek").to_base64();
    let keyring = Arc::new(Keyring::new(
        Kek::from_base64(&old_b64).expect("kek"),
        vec![],
    ));
    keys::verify_and_register(&store, &keyring, clock.as_ref())
        .await
        .expect("key check");
    let sets = TokenSets::new(store.clone(), keyring.clone(), clock.clone());

    let user = UserId::generate();
    store
        .insert_user(&user, &NewUser::default(), 0)
        .await
        .expect("user");
    let connector = strongroom_testkit::seed::connector(&store).await;
    let identity = store
        .link_social_identity(&user, "github", "gh-1", &json!({}), 0)
        .await
        .expect("link");
    let response = |access: &str, refresh: Option<&str>| TokenResponse {
        access_token: SecretString::from(access.to_owned()),
        id_token: Some(SecretString::from(id_token.clone())),
        refresh_token: refresh.map(|r| SecretString::from(r.to_owned())),
        expires_in: Some(3600),
        scope: Some("repo".into()),
        token_type: Some("bearer".into()),
    };
    let row = sets
        .store_social(&connector, &identity, response(&access, Some(&refresh)))
        .await
        .expect("store");
    tracing::info!(?row, "stored");
    let opened = sets.open(&row).expect("open");
    tracing::debug!(?opened, "opened");
    assert_eq!(opened.access_token.expose_secret(), access);
    let merged = sets
        .store_social(&connector, &identity, response(&access2, None))
        .await
        .expect("merge");
    let merged_set = sets.open(&merged).expect("open merged");
    tracing::debug!(?merged_set, ?merged, "merged");
    assert_eq!(
        merged_set
            .refresh_token
            .as_ref()
            .map(|t| t.expose_secret().to_owned()),
        Some(refresh.clone())
    );

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
    let sso_identity = store
        .link_sso_identity(&user, &sso.id, "https://idp", "sub", &json!({}), 0)
        .await
        .expect("link");
    sets.store_sso(&sso.id, &sso_identity, response(&sso_access, None))
        .await
        .expect("sso store");

    let rotated = Keyring::new(
        Kek::generate().expect("kek"),
        vec![Kek::from_base64(&old_b64).expect("kek")],
    );
    let report = rewrap::rewrap_all(&store, &rotated, &Default::default(), |_| {})
        .await
        .expect("rewrap");
    assert_eq!(report.rewrapped, 2);

    // The database, while the connections are open (WAL in use) and after they close.
    let secrets: Vec<&str> = tokens.iter().map(|t| t.as_str()).collect();
    assert_absent_in_database(&db, &store, &secrets).await;

    let logs = logs.text();
    assert!(
        logs.lines().count() > 5,
        "logging was not captured:\n{logs}"
    );
    assert!(
        logs.contains("stored"),
        "the test's own log lines are missing"
    );
    for token in tokens {
        assert!(
            !logs.contains(token.as_str()),
            "a planted token reached the logs:\n{logs}"
        );
    }
}
