//! Token sets through the core service, on the engine chosen for the run.

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use strongroom_core::token_sets::{TokenResponse, TokenSets};
use strongroom_core::{ManualClock, keys};
use strongroom_store::*;
use strongroom_testkit::TestDb;
use strongroom_vault::{Kek, Keyring, VaultError};

const T0: i64 = 1_750_000_000_000;

fn response(
    access: &str,
    refresh: Option<&str>,
    expires_in: Option<i64>,
    scope: &str,
) -> TokenResponse {
    TokenResponse {
        access_token: SecretString::from(access.to_owned()),
        id_token: None,
        refresh_token: refresh.map(|r| SecretString::from(r.to_owned())),
        expires_in,
        scope: Some(scope.to_owned()),
        token_type: Some("bearer".to_owned()),
    }
}

struct Fixture {
    _db: TestDb,
    store: Store,
    clock: ManualClock,
    sets: TokenSets,
    user: UserId,
    connector: ConnectorId,
}

async fn fixture() -> Fixture {
    let (db, store) = TestDb::migrated().await;
    let clock = ManualClock::new(T0);
    let keyring = Arc::new(Keyring::new(Kek::generate().expect("kek"), vec![]));
    let sets = TokenSets::new(store.clone(), keyring, Arc::new(clock.clone()));
    let user = UserId::generate();
    store
        .insert_user(&user, &NewUser::default(), T0)
        .await
        .expect("user");
    let connector = strongroom_testkit::seed::connector(&store).await;
    Fixture {
        _db: db,
        store,
        clock,
        sets,
        user,
        connector,
    }
}

#[tokio::test]
async fn store_open_and_metadata() {
    let f = fixture().await;
    let identity = f
        .store
        .link_social_identity(&f.user, "github", "gh-1", &json!({}), T0)
        .await
        .expect("link");
    let row = f
        .sets
        .store_social(
            &f.connector,
            &identity,
            response("at-1", Some("rt-1"), Some(3600), "repo read:user"),
        )
        .await
        .expect("store");
    assert_eq!(row.secret_type, "federated_token_set");
    assert_eq!(
        row.metadata,
        TokenSetMetadata {
            scope: Some("repo read:user".into()),
            expires_at: Some(UnixSecs::from_ms(T0).plus(3600)),
            token_type: Some("bearer".into()),
            has_refresh_token: true,
            last_refreshed_at: None,
            refresh_error: None,
        }
    );
    let set = f.sets.open(&row).expect("open");
    assert_eq!(set.access_token.expose_secret(), "at-1");
    assert_eq!(
        set.refresh_token.as_ref().map(|t| t.expose_secret()),
        Some("rt-1")
    );
    assert!(
        !format!("{set:?}").contains("at-1"),
        "Debug must not show tokens"
    );

    // Zero or missing expires_in, and empty scope, are omitted like Logto does.
    let other = f
        .store
        .link_social_identity(&f.user, "google", "g-1", &json!({}), T0)
        .await
        .expect("link");
    let row = f
        .sets
        .store_social(&f.connector, &other, response("at-2", None, Some(0), ""))
        .await
        .expect("store");
    assert_eq!(
        (
            row.metadata.expires_at,
            row.metadata.scope.as_deref(),
            row.metadata.has_refresh_token
        ),
        (None, None, false)
    );
}

#[tokio::test]
async fn re_sign_in_merges_keeping_refresh_token_and_created_at() {
    let f = fixture().await;
    let identity = f
        .store
        .link_social_identity(&f.user, "github", "gh-1", &json!({}), T0)
        .await
        .expect("link");
    let first = f
        .sets
        .store_social(
            &f.connector,
            &identity,
            response("at-1", Some("rt-1"), Some(3600), "repo"),
        )
        .await
        .expect("store");
    f.clock.advance_secs(100);
    let second = f
        .sets
        .store_social(
            &f.connector,
            &identity,
            response("at-2", None, Some(60), "repo user"),
        )
        .await
        .expect("store again");
    assert_eq!(second.id, first.id);
    assert_eq!(second.created_at, first.created_at);
    assert_eq!(second.updated_at, T0 + 100_000);
    assert!(second.metadata.has_refresh_token);
    assert_eq!(second.metadata.scope.as_deref(), Some("repo user"));
    let set = f.sets.open(&second).expect("open");
    assert_eq!(set.access_token.expose_secret(), "at-2");
    assert_eq!(
        set.refresh_token.as_ref().map(|t| t.expose_secret()),
        Some("rt-1")
    );

    // A new refresh token replaces the old one.
    let third = f
        .sets
        .store_social(
            &f.connector,
            &identity,
            response("at-3", Some("rt-3"), None, "repo"),
        )
        .await
        .expect("store");
    let set = f.sets.open(&third).expect("open");
    assert_eq!(
        set.refresh_token.as_ref().map(|t| t.expose_secret()),
        Some("rt-3")
    );

    // Another provider account for the target replaces the identity: a fresh set, no old refresh token.
    let replaced = f
        .store
        .link_social_identity(&f.user, "github", "gh-2", &json!({}), T0)
        .await
        .expect("replace");
    let fresh = f
        .sets
        .store_social(
            &f.connector,
            &replaced,
            response("at-4", None, None, "repo"),
        )
        .await
        .expect("store");
    assert_ne!(fresh.id, first.id);
    assert!(!fresh.metadata.has_refresh_token);
    assert!(f.sets.open(&fresh).expect("open").refresh_token.is_none());
}

#[tokio::test]
async fn sso_token_sets() {
    let f = fixture().await;
    let sso = SsoConnectorRow {
        id: SsoConnectorId::generate(),
        provider_name: "OIDC".into(),
        connector_name: "corp".into(),
        config: json!({}),
        domains: vec!["corp.example".into()],
        branding: json!({}),
        sync_profile: false,
        enable_token_storage: true,
        sealed_config: None,
        created_at: T0,
        updated_at: T0,
    };
    f.store.save_sso_connector(&sso).await.expect("save");
    let identity = f
        .store
        .link_sso_identity(
            &f.user,
            &sso.id,
            "https://idp.corp.example",
            "sub-1",
            &json!({}),
            T0,
        )
        .await
        .expect("link");
    let row = f
        .sets
        .store_sso(
            &sso.id,
            &identity,
            response("sso-at", Some("sso-rt"), Some(300), "openid"),
        )
        .await
        .expect("store");
    assert_eq!(
        f.store
            .find_secret(&f.user, &IdentityKey::Sso(sso.id.clone()))
            .await
            .expect("find")
            .map(|r| r.id),
        Some(row.id.clone())
    );
    assert_eq!(
        f.sets
            .open(&row)
            .expect("open")
            .access_token
            .expose_secret(),
        "sso-at"
    );
}

#[tokio::test]
async fn a_ciphertext_moved_to_another_row_does_not_open() {
    let f = fixture().await;
    let alice = f
        .store
        .link_social_identity(&f.user, "github", "gh-alice", &json!({}), T0)
        .await
        .expect("link");
    let bob_id = UserId::generate();
    f.store
        .insert_user(&bob_id, &NewUser::default(), T0)
        .await
        .expect("bob");
    let bob = f
        .store
        .link_social_identity(&bob_id, "github", "gh-bob", &json!({}), T0)
        .await
        .expect("link");
    let a = f
        .sets
        .store_social(
            &f.connector,
            &alice,
            response("alice-token", None, None, "x"),
        )
        .await
        .expect("a");
    let b = f
        .sets
        .store_social(&f.connector, &bob, response("bob-token", None, None, "x"))
        .await
        .expect("b");

    // Copy alice's sealed columns into bob's row, in the database.
    assert!(
        f.store
            .update_secret_payload(&b.id, b.version, &a.envelope, &b.metadata, T0)
            .await
            .expect("write")
    );
    let tampered = f.store.get_secret(&b.id).await.expect("get").expect("row");
    assert!(matches!(
        f.sets.open(&tampered),
        Err(strongroom_core::CoreError::Vault(VaultError::Unauthentic))
    ));

    // Only the ciphertext, keeping bob's own wrapped key.
    let b_env = f
        .sets
        .open(&a)
        .map(|_| b.envelope.clone())
        .expect("a still opens");
    let mixed = strongroom_vault::Envelope {
        ciphertext: a.envelope.ciphertext.clone(),
        ..b_env
    };
    assert!(
        f.store
            .update_secret_payload(&b.id, tampered.version, &mixed, &b.metadata, T0)
            .await
            .expect("write")
    );
    let tampered = f.store.get_secret(&b.id).await.expect("get").expect("row");
    assert!(f.sets.open(&tampered).is_err());

    // Every single flipped byte of a stored field fails too.
    for field in 0..2 {
        let len = if field == 0 {
            a.envelope.encrypted_dek.len()
        } else {
            a.envelope.ciphertext.len()
        };
        for i in 0..len {
            let mut row = a.clone();
            let bytes = if field == 0 {
                &mut row.envelope.encrypted_dek
            } else {
                &mut row.envelope.ciphertext
            };
            bytes[i] ^= 0x01;
            assert!(
                f.sets.open(&row).is_err(),
                "flip in field {field} byte {i} opened"
            );
        }
    }
}

#[tokio::test]
async fn start_up_key_check() {
    let (_db, store) = TestDb::migrated().await;
    let clock = ManualClock::new(T0);
    let old_b64 = Kek::generate().expect("kek").to_base64();
    let old = || Kek::from_base64(&old_b64).expect("kek");
    let old_ring = Arc::new(Keyring::new(old(), vec![]));

    // A fresh database accepts any key and records its key-check value.
    keys::verify_and_register(&store, &old_ring, &clock)
        .await
        .expect("fresh");
    keys::verify_and_register(&store, &old_ring, &clock)
        .await
        .expect("same key again");
    let sets = TokenSets::new(store.clone(), old_ring.clone(), Arc::new(clock.clone()));
    strongroom_testkit::seed::token_sets(&store, &sets, 0, 3).await;

    // A different key while data needs the old one: refused, naming SECRET_VAULT_KEK.
    let wrong = Keyring::new(Kek::generate().expect("kek"), vec![]);
    let err = keys::verify_and_register(&store, &wrong, &clock)
        .await
        .expect_err("wrong key");
    let message = err.to_string();
    assert!(message.contains("SECRET_VAULT_KEK"), "{message}");
    assert!(
        message.contains(old_ring.active().id().as_str()),
        "{message}"
    );

    // The new key with the old one as previous: accepted.
    let new_b64 = Kek::generate().expect("kek").to_base64();
    let rotated = Keyring::new(Kek::from_base64(&new_b64).expect("kek"), vec![old()]);
    keys::verify_and_register(&store, &rotated, &clock)
        .await
        .expect("rotated");

    // After a rewrap nothing needs the old key any more.
    let report = strongroom_core::rewrap::rewrap_all(&store, &rotated, &Default::default(), |_| {})
        .await
        .expect("rewrap");
    assert_eq!((report.rewrapped, report.complete), (3, true));
    let only_new = Keyring::new(Kek::from_base64(&new_b64).expect("kek"), vec![]);
    keys::verify_and_register(&store, &only_new, &clock)
        .await
        .expect("old key retired");

    // A tampered key-check value is detected.
    sqlx::query("UPDATE vault_keys SET ciphertext = encrypted_dek WHERE kek_id = $1")
        .bind(only_new.active().id().as_str())
        .execute(store.pool())
        .await
        .expect("tamper");
    let err = keys::verify_and_register(&store, &only_new, &clock)
        .await
        .expect_err("tampered");
    assert!(err.to_string().contains("SECRET_VAULT_KEK"), "{err}");
}

#[tokio::test]
async fn rewrap_interrupted_then_resumed_keeps_every_secret_readable() {
    let (_db, store) = TestDb::migrated().await;
    let clock = Arc::new(ManualClock::new(T0));
    let old_b64 = Kek::generate().expect("kek").to_base64();
    let old_ring = Arc::new(Keyring::new(
        Kek::from_base64(&old_b64).expect("kek"),
        vec![],
    ));
    let old_sets = TokenSets::new(store.clone(), old_ring, clock.clone());
    strongroom_testkit::seed::token_sets(&store, &old_sets, 0, 1_050).await;

    let new_b64 = Kek::generate().expect("kek").to_base64();
    let rotated = Arc::new(Keyring::new(
        Kek::from_base64(&new_b64).expect("kek"),
        vec![Kek::from_base64(&old_b64).expect("kek")],
    ));
    let options = strongroom_core::rewrap::RewrapOptions {
        batch_size: 100,
        max_batches: Some(4),
        parallel: 2,
    };
    let partial = strongroom_core::rewrap::rewrap_all(&store, &rotated, &options, |_| {})
        .await
        .expect("partial");
    assert_eq!((partial.rewrapped, partial.complete), (400, false));
    let counts = store.kek_counts().await.expect("counts");
    assert_eq!(
        counts
            .iter()
            .find(|c| &c.kek_id == rotated.active().id())
            .map(|c| c.count),
        Some(400)
    );

    // Mid-rewrap, every secret opens with the rotated keyring.
    let rotated_sets = TokenSets::new(store.clone(), rotated.clone(), clock.clone());
    let ids = strongroom_testkit::seed::secret_ids(&store).await;
    assert_eq!(ids.len(), 1_050);
    for id in &ids {
        let row = store.get_secret(id).await.expect("get").expect("row");
        rotated_sets.open(&row).expect("opens mid-rewrap");
    }

    let options = strongroom_core::rewrap::RewrapOptions {
        batch_size: 100,
        max_batches: None,
        parallel: 3,
    };
    let rest = strongroom_core::rewrap::rewrap_all(&store, &rotated, &options, |_| {})
        .await
        .expect("rest");
    assert_eq!(
        (rest.rewrapped, rest.complete, rest.failures.len()),
        (650, true, 0)
    );

    // Afterwards the new KEK alone opens every secret, with the right content.
    let only_new = Arc::new(Keyring::new(
        Kek::from_base64(&new_b64).expect("kek"),
        vec![],
    ));
    let new_sets = TokenSets::new(store.clone(), only_new, clock);
    for id in &ids {
        let row = store.get_secret(id).await.expect("get").expect("row");
        let n = id
            .as_str()
            .trim_start_matches("seed-secret-")
            .parse::<u64>()
            .expect("n");
        assert_eq!(
            new_sets
                .open(&row)
                .expect("opens")
                .access_token
                .expose_secret(),
            format!("at-{n}")
        );
    }
    let again = strongroom_core::rewrap::rewrap_all(&store, &rotated, &options, |_| {})
        .await
        .expect("again");
    assert_eq!((again.rewrapped, again.batches), (0, 0));
}

#[tokio::test]
async fn rewrap_reports_records_whose_kek_is_missing() {
    let (_db, store) = TestDb::migrated().await;
    let clock = Arc::new(ManualClock::new(T0));
    let lost = Arc::new(Keyring::new(Kek::generate().expect("kek"), vec![]));
    strongroom_testkit::seed::token_sets(&store, &TokenSets::new(store.clone(), lost, clock), 0, 5)
        .await;
    let ring = Keyring::new(Kek::generate().expect("kek"), vec![]);
    let report = strongroom_core::rewrap::rewrap_all(&store, &ring, &Default::default(), |_| {})
        .await
        .expect("rewrap");
    assert_eq!((report.rewrapped, report.failures.len()), (0, 5));
    assert!(
        report.failures[0]
            .reason
            .contains("SECRET_VAULT_PREVIOUS_KEKS")
    );
}

#[tokio::test]
async fn first_admin_is_created_once() {
    use strongroom_core::admins::{FirstAdmin, ensure_first_admin};
    let (_db, store) = TestDb::migrated().await;
    let clock = ManualClock::new(T0);
    let created = ensure_first_admin(&store, None, &clock)
        .await
        .expect("create");
    let FirstAdmin::CreatedWithGeneratedPassword(password) = created else {
        panic!("expected a generated password")
    };
    assert_eq!(password.expose_secret().len(), 20);
    let admin = store
        .find_console_admin("admin")
        .await
        .expect("find")
        .expect("admin");
    assert!(admin.password_hash.starts_with("$argon2id$"));
    assert!(!admin.password_hash.contains(password.expose_secret()));
    assert!(matches!(
        ensure_first_admin(&store, None, &clock)
            .await
            .expect("again"),
        FirstAdmin::AlreadyPresent
    ));
}
