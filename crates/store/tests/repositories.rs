//! Repository tests. Run against SQLite by default and against PostgreSQL with
//! `STRONGROOM_TEST_DATABASE=postgres` (the test script runs both).

use serde_json::json;
use strongroom_store::*;
use strongroom_testkit::TestDb;
use strongroom_vault::{AssociatedData, Domain, Envelope, Kek, Keyring};

const NOW: i64 = 1_750_000_000_000;

fn keyring() -> Keyring {
    Keyring::new(Kek::generate().expect("kek"), vec![])
}

fn envelope(ring: &Keyring, id: &str) -> Envelope {
    ring.seal(
        Domain("secrets"),
        id,
        &AssociatedData::new("test"),
        b"payload",
    )
    .expect("seal")
}

async fn user(store: &Store, name: &str) -> UserRow {
    store
        .insert_user(
            &UserId::generate(),
            &NewUser {
                username: Some(name.into()),
                primary_email: Some(format!("{name}@example.com")),
                ..NewUser::default()
            },
            NOW,
        )
        .await
        .expect("insert user")
}

async fn connector(store: &Store, target: &str, storage: bool) -> ConnectorRow {
    let row = ConnectorRow {
        id: ConnectorId::generate(),
        connector_id: target.into(),
        target: target.into(),
        config: json!({"clientId": "client"}),
        metadata: json!({}),
        sync_profile: false,
        enable_token_storage: storage,
        sealed_config: None,
        created_at: NOW,
        updated_at: NOW,
    };
    store.save_connector(&row).await.expect("save connector");
    row
}

async fn sso_connector(store: &Store, name: &str) -> SsoConnectorRow {
    let row = SsoConnectorRow {
        id: SsoConnectorId::generate(),
        provider_name: "OIDC".into(),
        connector_name: name.into(),
        config: json!({"issuer": "https://idp.example.com"}),
        domains: vec!["example.com".into()],
        branding: json!({}),
        sync_profile: false,
        enable_token_storage: true,
        sealed_config: None,
        created_at: NOW,
        updated_at: NOW,
    };
    store
        .save_sso_connector(&row)
        .await
        .expect("save sso connector");
    row
}

async fn social_secret(
    store: &Store,
    ring: &Keyring,
    u: &UserRow,
    c: &ConnectorRow,
    identity: &SocialIdentity,
) -> SecretRow {
    let id = SecretId::generate();
    store
        .insert_secret(&NewSecret {
            envelope: envelope(ring, id.as_str()),
            id,
            user_id: u.id.clone(),
            secret_type: "federated_token_set".into(),
            relation: SecretRelation::Social {
                connector_id: c.id.clone(),
                social_identity_id: identity.id.clone(),
                target: identity.target.clone(),
                identity_id: identity.identity_id.clone(),
            },
            metadata: TokenSetMetadata {
                has_refresh_token: true,
                scope: Some("read".into()),
                ..Default::default()
            },
            now: NOW,
        })
        .await
        .expect("insert secret")
}

async fn sso_secret(
    store: &Store,
    ring: &Keyring,
    u: &UserRow,
    c: &SsoConnectorRow,
    identity: &SsoIdentity,
) -> SecretRow {
    let id = SecretId::generate();
    store
        .insert_secret(&NewSecret {
            envelope: envelope(ring, id.as_str()),
            id,
            user_id: u.id.clone(),
            secret_type: "federated_token_set".into(),
            relation: SecretRelation::Sso {
                sso_connector_id: c.id.clone(),
                sso_identity_id: identity.id.clone(),
                issuer: identity.issuer.clone(),
                identity_id: identity.identity_id.clone(),
            },
            metadata: TokenSetMetadata::default(),
            now: NOW,
        })
        .await
        .expect("insert secret")
}

/// A user with a GitHub identity and token set and an SSO identity and token set.
struct World {
    user: UserRow,
    github: ConnectorRow,
    sso: SsoConnectorRow,
    social: SecretRow,
    enterprise: SecretRow,
}

async fn world(store: &Store, ring: &Keyring, name: &str) -> World {
    let u = user(store, name).await;
    let github = connector(store, &format!("github-{name}"), true).await;
    let identity = store
        .link_social_identity(
            &u.id,
            &github.target,
            &format!("gh-{name}"),
            &json!({"login": name}),
            NOW,
        )
        .await
        .expect("link");
    let social = social_secret(store, ring, &u, &github, &identity).await;
    let sso = sso_connector(store, &format!("sso-{name}")).await;
    let sso_identity = store
        .link_sso_identity(
            &u.id,
            &sso.id,
            "https://idp.example.com",
            &format!("sub-{name}"),
            &json!({}),
            NOW,
        )
        .await
        .expect("link sso");
    let enterprise = sso_secret(store, ring, &u, &sso, &sso_identity).await;
    World {
        user: u,
        github,
        sso,
        social,
        enterprise,
    }
}

async fn exists(store: &Store, id: &SecretId) -> bool {
    store.get_secret(id).await.expect("get secret").is_some()
}

#[tokio::test]
async fn migrations_are_idempotent() {
    let (db, store) = TestDb::migrated().await;
    let latest = strongroom_store::latest_schema_version();
    assert_eq!(store.schema_version().await.expect("version"), latest);
    store.migrate().await.expect("second migrate");
    let again = Store::connect_and_migrate(&db.url)
        .await
        .expect("reconnect");
    assert_eq!(again.schema_version().await.expect("version"), latest);
}

#[tokio::test]
async fn users_create_list_search_page_delete() {
    let (_db, store) = TestDb::migrated().await;
    for (i, name) in ["alice", "bob", "carol", "dave_x"].iter().enumerate() {
        store
            .insert_user(
                &UserId::generate(),
                &NewUser {
                    username: Some((*name).into()),
                    ..Default::default()
                },
                NOW + i as i64,
            )
            .await
            .expect("insert");
    }
    let (all, total) = store.list_users(None, 10, 0).await.expect("list");
    assert_eq!(total, 4);
    assert_eq!(
        all.iter()
            .map(|u| u.username.as_deref().unwrap_or(""))
            .collect::<Vec<_>>(),
        ["dave_x", "carol", "bob", "alice"]
    );
    let (page, total) = store.list_users(None, 2, 2).await.expect("page");
    assert_eq!((page.len(), total), (2, 4));
    assert_eq!(page[0].username.as_deref(), Some("bob"));
    let (found, total) = store
        .list_users(Some("CAROL"), 10, 0)
        .await
        .expect("search");
    assert_eq!((found.len(), total), (1, 1));
    assert_eq!(found[0].username.as_deref(), Some("carol"));
    // LIKE wildcards in the search are literal.
    let (found, _) = store
        .list_users(Some("_"), 10, 0)
        .await
        .expect("search underscore");
    assert_eq!(found.len(), 1);
    let duplicate = store
        .insert_user(
            &UserId::generate(),
            &NewUser {
                username: Some("alice".into()),
                ..Default::default()
            },
            NOW,
        )
        .await;
    assert!(
        matches!(duplicate, Err(StoreError::Conflict(_))),
        "{duplicate:?}"
    );
    assert!(store.delete_user(&found[0].id).await.expect("delete"));
    assert!(!store.delete_user(&found[0].id).await.expect("delete again"));
    assert!(store.get_user(&found[0].id).await.expect("get").is_none());
}

/// A sign-in that lost the race to link an account takes back the user it created, but never
/// one a concurrent sign-in has joined and linked in the meantime.
#[tokio::test]
async fn the_identities_of_a_page_of_users_come_in_one_statement() {
    let (_db, store) = TestDb::migrated().await;
    let ring = keyring();
    let a = world(&store, &ring, "a").await;
    let b = world(&store, &ring, "b").await;
    let lonely = user(&store, "lonely").await;
    let google = connector(&store, "google-a", true).await;
    store
        .link_social_identity(&a.user.id, &google.target, "g-a", &json!({}), NOW)
        .await
        .expect("link");
    let found = store
        .list_social_identities_of(&[lonely.id.clone(), b.user.id.clone(), a.user.id.clone()])
        .await
        .expect("list");
    let pairs: Vec<(String, String)> = found
        .iter()
        .map(|i| (i.user_id.as_str().to_owned(), i.target.clone()))
        .collect();
    let mut expected = vec![
        (a.user.id.as_str().to_owned(), a.github.target.clone()),
        (a.user.id.as_str().to_owned(), google.target.clone()),
        (b.user.id.as_str().to_owned(), b.github.target.clone()),
    ];
    expected.sort();
    assert_eq!(
        pairs, expected,
        "grouped by user, then target; SSO identities not included"
    );
    assert!(
        store
            .list_social_identities_of(&[])
            .await
            .expect("empty")
            .is_empty()
    );
    assert!(
        store
            .list_social_identities_of(&[lonely.id])
            .await
            .expect("none")
            .is_empty()
    );
}

#[tokio::test]
async fn a_user_is_taken_back_only_while_nothing_is_linked_to_it() {
    let (_db, store) = TestDb::migrated().await;
    let lone = user(&store, "lone").await;
    assert!(
        store
            .delete_user_if_unlinked(&lone.id)
            .await
            .expect("delete")
    );
    assert!(store.get_user(&lone.id).await.expect("get").is_none());

    let joined = user(&store, "joined").await;
    let sso = sso_connector(&store, "sso-joined").await;
    store
        .link_sso_identity(
            &joined.id,
            &sso.id,
            "https://idp.example.com",
            "sub",
            &json!({}),
            NOW,
        )
        .await
        .expect("link sso");
    assert!(
        !store
            .delete_user_if_unlinked(&joined.id)
            .await
            .expect("delete")
    );
    assert!(store.get_user(&joined.id).await.expect("get").is_some());

    let social = user(&store, "social").await;
    let github = connector(&store, "github-social", true).await;
    store
        .link_social_identity(&social.id, &github.target, "gh", &json!({}), NOW)
        .await
        .expect("link");
    assert!(
        !store
            .delete_user_if_unlinked(&social.id)
            .await
            .expect("delete")
    );
    assert!(store.get_user(&social.id).await.expect("get").is_some());
}

#[tokio::test]
async fn deleting_a_user_deletes_its_identities_and_token_sets_only() {
    let (_db, store) = TestDb::migrated().await;
    let ring = keyring();
    let a = world(&store, &ring, "a").await;
    let b = world(&store, &ring, "b").await;
    assert!(store.delete_user(&a.user.id).await.expect("delete user"));
    assert!(!exists(&store, &a.social.id).await);
    assert!(!exists(&store, &a.enterprise.id).await);
    assert!(
        store
            .list_social_identities(&a.user.id)
            .await
            .expect("list")
            .is_empty()
    );
    assert!(
        store
            .list_sso_identities(&a.user.id)
            .await
            .expect("list")
            .is_empty()
    );
    assert!(exists(&store, &b.social.id).await && exists(&store, &b.enterprise.id).await);
}

#[tokio::test]
async fn unlinking_or_replacing_an_identity_deletes_its_token_set() {
    let (_db, store) = TestDb::migrated().await;
    let ring = keyring();
    let a = world(&store, &ring, "a").await;
    let b = world(&store, &ring, "b").await;

    // Re-linking the same provider account keeps the token set and updates the details.
    let same = store
        .link_social_identity(
            &a.user.id,
            &a.github.target,
            "gh-a",
            &json!({"login": "a2"}),
            NOW + 1,
        )
        .await
        .expect("relink");
    assert_eq!(same.details, json!({"login": "a2"}));
    assert!(exists(&store, &a.social.id).await);

    // Another provider account for the same target replaces the identity and drops its tokens.
    let replaced = store
        .link_social_identity(
            &a.user.id,
            &a.github.target,
            "gh-other",
            &json!({}),
            NOW + 2,
        )
        .await
        .expect("replace");
    assert_eq!(replaced.identity_id, "gh-other");
    assert!(!exists(&store, &a.social.id).await);

    // Unlinking drops the (new) identity; the other user's sets are untouched.
    assert!(
        store
            .unlink_social_identity(&b.user.id, &b.github.target)
            .await
            .expect("unlink")
    );
    assert!(!exists(&store, &b.social.id).await);
    assert!(exists(&store, &b.enterprise.id).await);
    assert!(
        !store
            .unlink_social_identity(&b.user.id, &b.github.target)
            .await
            .expect("unlink again")
    );

    // Same for SSO: another subject at the same connector replaces the identity.
    store
        .link_sso_identity(
            &a.user.id,
            &a.sso.id,
            "https://idp.example.com",
            "sub-other",
            &json!({}),
            NOW,
        )
        .await
        .expect("replace sso");
    assert!(!exists(&store, &a.enterprise.id).await);
}

#[tokio::test]
async fn deleting_a_connector_deletes_its_token_sets_only() {
    let (_db, store) = TestDb::migrated().await;
    let ring = keyring();
    let a = world(&store, &ring, "a").await;
    let b = world(&store, &ring, "b").await;
    assert!(
        store
            .delete_connector(&a.github.id)
            .await
            .expect("delete connector")
    );
    assert!(!exists(&store, &a.social.id).await);
    // The identity stays (Logto keeps identities when a connector goes).
    assert!(
        store
            .get_social_identity(&a.user.id, &a.github.target)
            .await
            .expect("get")
            .is_some()
    );
    assert!(exists(&store, &a.enterprise.id).await && exists(&store, &b.social.id).await);

    assert!(
        store
            .delete_sso_connector(&b.sso.id)
            .await
            .expect("delete sso connector")
    );
    assert!(!exists(&store, &b.enterprise.id).await);
    assert!(
        store
            .get_sso_identity(&b.user.id, &b.sso.id)
            .await
            .expect("get")
            .is_none()
    );
    assert!(exists(&store, &a.enterprise.id).await && exists(&store, &b.social.id).await);
}

#[tokio::test]
async fn switching_token_storage_off_deletes_that_connectors_token_sets() {
    let (_db, store) = TestDb::migrated().await;
    let ring = keyring();
    let a = world(&store, &ring, "a").await;
    let b = world(&store, &ring, "b").await;

    assert_eq!(
        store
            .set_connector_token_storage(&a.github.id, true, NOW)
            .await
            .expect("on"),
        Some(0)
    );
    assert!(exists(&store, &a.social.id).await);
    assert_eq!(
        store
            .set_connector_token_storage(&a.github.id, false, NOW)
            .await
            .expect("off"),
        Some(1)
    );
    assert!(!exists(&store, &a.social.id).await);
    let c = store
        .get_connector(&a.github.id)
        .await
        .expect("get")
        .expect("exists");
    assert!(!c.enable_token_storage);
    assert!(exists(&store, &b.social.id).await && exists(&store, &a.enterprise.id).await);

    assert_eq!(
        store
            .set_sso_connector_token_storage(&b.sso.id, false, NOW)
            .await
            .expect("off"),
        Some(1)
    );
    assert!(!exists(&store, &b.enterprise.id).await);
    assert!(exists(&store, &a.enterprise.id).await);
    // The SSO identity itself stays.
    assert!(
        store
            .get_sso_identity(&b.user.id, &b.sso.id)
            .await
            .expect("get")
            .is_some()
    );

    let missing = ConnectorId::generate();
    assert_eq!(
        store
            .set_connector_token_storage(&missing, false, NOW)
            .await
            .expect("missing"),
        None
    );
}

#[tokio::test]
async fn deleting_a_secret_leaves_its_identity() {
    let (_db, store) = TestDb::migrated().await;
    let ring = keyring();
    let a = world(&store, &ring, "a").await;
    assert!(store.delete_secret(&a.social.id).await.expect("delete"));
    assert!(
        !store
            .delete_secret(&a.social.id)
            .await
            .expect("delete again")
    );
    assert!(
        store
            .get_social_identity(&a.user.id, &a.github.target)
            .await
            .expect("get")
            .is_some()
    );
    assert!(exists(&store, &a.enterprise.id).await);
}

#[tokio::test]
async fn secrets_lookup_one_per_identity_and_versioned_writes() {
    let (_db, store) = TestDb::migrated().await;
    let ring = keyring();
    let a = world(&store, &ring, "a").await;
    let found = store
        .find_secret(&a.user.id, &IdentityKey::Social(a.github.target.clone()))
        .await
        .expect("find")
        .expect("some");
    assert_eq!(found, a.social);
    assert_eq!(found.metadata.scope.as_deref(), Some("read"));
    let found = store
        .find_secret(&a.user.id, &IdentityKey::Sso(a.sso.id.clone()))
        .await
        .expect("find")
        .expect("some");
    assert_eq!(found.id, a.enterprise.id);
    assert_eq!(
        store
            .list_user_secrets(&a.user.id)
            .await
            .expect("list")
            .len(),
        2
    );

    // A second secret for the same identity is refused.
    let identity = store
        .get_social_identity(&a.user.id, &a.github.target)
        .await
        .expect("get")
        .expect("some");
    let id = SecretId::generate();
    let dup = store
        .insert_secret(&NewSecret {
            envelope: envelope(&ring, id.as_str()),
            id,
            user_id: a.user.id.clone(),
            secret_type: "federated_token_set".into(),
            relation: a.social.relation.clone(),
            metadata: TokenSetMetadata::default(),
            now: NOW,
        })
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    assert_eq!(identity.identity_id, "gh-a");

    // Versioned writes: the first writer wins, a stale version loses.
    let fresh = envelope(&ring, a.social.id.as_str());
    let meta = TokenSetMetadata {
        has_refresh_token: true,
        expires_at: Some(UnixSecs::new(42)),
        ..Default::default()
    };
    assert!(
        store
            .update_secret_payload(&a.social.id, 0, &fresh, &meta, NOW + 5)
            .await
            .expect("update")
    );
    assert!(
        !store
            .update_secret_payload(&a.social.id, 0, &fresh, &meta, NOW + 6)
            .await
            .expect("stale")
    );
    let row = store
        .get_secret(&a.social.id)
        .await
        .expect("get")
        .expect("some");
    assert_eq!(
        (row.version, row.updated_at, row.created_at),
        (1, NOW + 5, NOW)
    );
    assert_eq!(row.envelope, fresh);
    assert_eq!(row.metadata.expires_at, Some(UnixSecs::new(42)));

    // Refresh lease: one holder at a time; it expires; a write releases it.
    assert!(
        store
            .try_acquire_refresh_lease(&row.id, 1, "p1", NOW, NOW + 1000)
            .await
            .expect("lease")
    );
    assert!(
        !store
            .try_acquire_refresh_lease(&row.id, 1, "p2", NOW + 10, NOW + 1010)
            .await
            .expect("held")
    );
    assert!(
        store
            .try_acquire_refresh_lease(&row.id, 1, "p2", NOW + 2000, NOW + 3000)
            .await
            .expect("expired")
    );
    store
        .release_refresh_lease(&row.id, "p1")
        .await
        .expect("release by non-owner is a no-op");
    assert!(
        !store
            .try_acquire_refresh_lease(&row.id, 1, "p3", NOW + 2500, NOW + 3500)
            .await
            .expect("still held")
    );
    assert!(
        store
            .update_secret_metadata(&row.id, 1, &meta, NOW + 7)
            .await
            .expect("meta")
    );
    let row = store.get_secret(&row.id).await.expect("get").expect("some");
    assert_eq!((row.version, row.lease_owner.as_deref()), (2, None));
}

#[tokio::test]
async fn rewrap_candidates_and_guarded_writes() {
    let (_db, store) = TestDb::migrated().await;
    let old = keyring();
    let a = world(&store, &old, "a").await;
    let b = world(&store, &old, "b").await;
    let new = keyring();
    let active = new.active().id().clone();
    let counts = store.kek_counts().await.expect("counts");
    assert_eq!(
        counts,
        vec![KekCount {
            table: "secrets",
            kek_id: old.active().id().clone(),
            count: 4
        }]
    );
    assert!(store.kek_in_use(old.active().id()).await.expect("in use"));
    assert!(!store.kek_in_use(&active).await.expect("not in use"));

    let table = &SEALED_TABLES[0];
    let first = store
        .rewrap_candidates(table, &active, "", 3)
        .await
        .expect("candidates");
    assert_eq!(first.len(), 3);
    let rest = store
        .rewrap_candidates(table, &active, &first[2].id, 3)
        .await
        .expect("candidates");
    assert_eq!(rest.len(), 1);
    assert!(first.windows(2).all(|w| w[0].id < w[1].id) && first[2].id < rest[0].id);

    // A record rewritten after it was read is not overwritten by the rewrap.
    let raced = first[0].clone();
    let fresh = envelope(&old, &raced.id);
    assert!(
        store
            .update_secret_payload(
                &SecretId::from(raced.id.clone()),
                0,
                &fresh,
                &TokenSetMetadata::default(),
                NOW
            )
            .await
            .expect("concurrent write")
    );
    let items: Vec<_> = first
        .iter()
        .map(|i| (i.clone(), active.clone(), vec![7u8; 60]))
        .collect();
    assert_eq!(store.apply_rewraps(table, &items).await.expect("apply"), 2);
    let raced_row = store
        .get_secret(&SecretId::from(raced.id))
        .await
        .expect("get")
        .expect("some");
    assert_eq!(raced_row.envelope, fresh);
    let counts = store.kek_counts().await.expect("counts");
    assert_eq!(counts.iter().map(|c| c.count).sum::<i64>(), 4);
    assert_eq!(
        counts.iter().find(|c| c.kek_id == active).map(|c| c.count),
        Some(2)
    );
    let _ = (a, b);
}

#[tokio::test]
async fn key_checks_are_stored_once_per_kek() {
    let (_db, store) = TestDb::migrated().await;
    let ring = keyring();
    let check = ring.key_check_value().expect("check");
    store.insert_key_check(&check, NOW).await.expect("insert");
    store
        .insert_key_check(&ring.key_check_value().expect("check"), NOW + 1)
        .await
        .expect("insert again");
    let checks = store.list_key_checks().await.expect("list");
    assert_eq!(checks, vec![check]);
}

#[tokio::test]
async fn audit_events_page_and_filter() {
    let (_db, store) = TestDb::migrated().await;
    for i in 0..5 {
        store
            .insert_audit_event(&AuditEvent {
                id: time_ordered_id(NOW + i),
                occurred_at: NOW + i,
                actor_type: "user".into(),
                actor_id: Some(format!("u{}", i % 2)),
                action: if i == 4 {
                    "token.delete".into()
                } else {
                    "token.read".into()
                },
                outcome: "success".into(),
                user_id: Some(format!("u{}", i % 2)),
                secret_id: Some("s1".into()),
                target: Some("github".into()),
                application_id: Some(format!("app{}", i % 3)),
                detail: json!({"n": i}),
                request_id: None,
            })
            .await
            .expect("insert");
    }
    let (page, total) = store
        .list_audit_events(&AuditFilter::default(), 2, 0)
        .await
        .expect("list");
    assert_eq!(total, 5);
    assert_eq!(
        page.iter().map(|e| e.occurred_at).collect::<Vec<_>>(),
        [NOW + 4, NOW + 3]
    );
    let filter = AuditFilter {
        user_id: Some("u0".into()),
        ..Default::default()
    };
    let (page, total) = store.list_audit_events(&filter, 10, 0).await.expect("list");
    assert_eq!((page.len(), total), (3, 3));
    let filter = AuditFilter {
        action: Some("token.delete".into()),
        ..Default::default()
    };
    let (page, _) = store.list_audit_events(&filter, 10, 0).await.expect("list");
    assert_eq!(page[0].detail, json!({"n": 4}));
    let filter = AuditFilter {
        application_id: Some("app1".into()),
        ..Default::default()
    };
    let (page, total) = store.list_audit_events(&filter, 10, 0).await.expect("list");
    assert_eq!(total, 2);
    assert_eq!(
        page.iter()
            .map(|e| e.detail["n"].clone())
            .collect::<Vec<_>>(),
        [json!(4), json!(1)]
    );
}

#[tokio::test]
async fn applications_and_admins() {
    let (_db, store) = TestDb::migrated().await;
    let app = ApplicationRow {
        id: ApplicationId::generate(),
        name: "m2m".into(),
        description: None,
        app_type: "MachineToMachine".into(),
        secret_hash: Some("ab".repeat(32)),
        oidc_client_metadata: json!({"redirectUris": []}),
        custom_client_metadata: json!({}),
        custom_data: json!({}),
        is_third_party: false,
        allow_provider_tokens: false,
        token_exchange: Default::default(),
        created_at: NOW,
        updated_at: NOW,
    };
    store.save_application(&app).await.expect("save");
    assert_eq!(
        store.get_application(&app.id).await.expect("get"),
        Some(app.clone())
    );
    let renamed = ApplicationRow {
        name: "renamed".into(),
        updated_at: NOW + 1,
        ..app.clone()
    };
    store.save_application(&renamed).await.expect("update");
    assert_eq!(
        store.list_applications().await.expect("list"),
        vec![renamed]
    );
    assert!(store.delete_application(&app.id).await.expect("delete"));

    assert_eq!(store.count_console_admins().await.expect("count"), 0);
    let admin = ConsoleAdmin {
        id: AdminId::generate(),
        username: "admin".into(),
        password_hash: "$argon2id$...".into(),
        created_at: NOW,
        updated_at: NOW,
    };
    store.insert_console_admin(&admin).await.expect("insert");
    assert!(matches!(
        store.insert_console_admin(&admin).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(
        store
            .set_console_admin_password(&admin.id, "new-hash", "account-key", NOW + 1)
            .await
            .expect("set")
    );
    let found = store
        .find_console_admin("admin")
        .await
        .expect("find")
        .expect("some");
    assert_eq!(found.password_hash, "new-hash");
    assert!(!format!("{found:?}").contains("new-hash"));
}

#[tokio::test]
async fn console_sign_in_guards_count_before_the_check_one_attempt_at_a_time() {
    let (_db, store) = TestDb::migrated().await;
    let keys = GuardKeys {
        account: "acct",
        address: "acct+192.0.2.1",
    };
    let other = GuardKeys {
        account: "acct",
        address: "acct+198.51.100.7",
    };
    let far = NOW + 86_400_000;
    assert_eq!(
        store
            .reserve_console_attempt(&keys, NOW, NOW + 30_000, far)
            .await
            .expect("reserve"),
        Reservation::Reserved
    );
    // In flight: a second attempt for the same username, from any address, is refused.
    for k in [&keys, &other] {
        assert_eq!(
            store
                .reserve_console_attempt(k, NOW + 1, NOW + 30_000, far)
                .await
                .expect("reserve"),
            Reservation::Busy
        );
    }
    // A holder that never finishes frees the username when its reservation runs out.
    assert_eq!(
        store
            .reserve_console_attempt(&other, NOW + 30_000, NOW + 60_000, far)
            .await
            .expect("reserve"),
        Reservation::Reserved
    );
    assert!(
        !store
            .finish_console_attempt(&other, true, 3, NOW + 900_000)
            .await
            .expect("finish")
    );
    // Failures count before the check: the attempt abandoned above counted as one, so two
    // more failures make the third in a row, which locks the address.
    let mut locked = false;
    for i in 0..2 {
        let now = NOW + 40_000 + i;
        assert_eq!(
            store
                .reserve_console_attempt(&keys, now, now + 30_000, far)
                .await
                .expect("reserve"),
            Reservation::Reserved,
            "attempt {i}"
        );
        locked = store
            .finish_console_attempt(&keys, false, 3, NOW + 900_000)
            .await
            .expect("finish");
    }
    assert!(locked, "the limit locks the address");
    assert_eq!(
        store
            .reserve_console_attempt(&keys, NOW + 50_000, NOW + 80_000, far)
            .await
            .expect("reserve"),
        Reservation::Locked {
            until: NOW + 900_000
        }
    );
    // Another address is not locked out of the username.
    assert_eq!(
        store
            .reserve_console_attempt(&other, NOW + 50_000, NOW + 80_000, far)
            .await
            .expect("reserve"),
        Reservation::Reserved
    );
    store
        .finish_console_attempt(&other, true, 3, NOW + 900_000)
        .await
        .expect("finish");
    // The lock ends on time.
    assert_eq!(
        store
            .reserve_console_attempt(&keys, NOW + 900_000, NOW + 930_000, far)
            .await
            .expect("reserve"),
        Reservation::Reserved
    );
}

#[tokio::test]
async fn saving_a_connector_with_storage_off_deletes_its_token_sets() {
    let (_db, store) = TestDb::migrated().await;
    let ring = keyring();
    let a = world(&store, &ring, "a").await;
    let mut github = store
        .get_connector(&a.github.id)
        .await
        .expect("get")
        .expect("exists");
    github.enable_token_storage = true;
    store.save_connector(&github).await.expect("save on");
    assert!(exists(&store, &a.social.id).await);
    github.enable_token_storage = false;
    store.save_connector(&github).await.expect("save off");
    assert!(!exists(&store, &a.social.id).await);
    let mut sso = store
        .get_sso_connector(&a.sso.id)
        .await
        .expect("get")
        .expect("exists");
    sso.enable_token_storage = false;
    store.save_sso_connector(&sso).await.expect("save off");
    assert!(!exists(&store, &a.enterprise.id).await);
}

#[tokio::test]
async fn interactions_are_single_use_and_expired_rows_are_purged() {
    let (_db, store) = TestDb::migrated().await;
    let ring = keyring();
    let app = ApplicationRow {
        id: ApplicationId::generate(),
        name: "web".into(),
        description: None,
        app_type: "Traditional".into(),
        secret_hash: None,
        oidc_client_metadata: json!({}),
        custom_client_metadata: json!({}),
        custom_data: json!({}),
        is_third_party: false,
        allow_provider_tokens: false,
        token_exchange: Default::default(),
        created_at: NOW,
        updated_at: NOW,
    };
    store.save_application(&app).await.expect("app");
    let interaction = |id: &str, expires_at: i64| InteractionRow {
        id: id.into(),
        browser_binding_hash: "binding".into(),
        application_id: app.id.clone(),
        params: json!({"scope": "openid"}),
        upstream_state_hash: None,
        upstream_kind: None,
        upstream_connector_id: None,
        sealed_upstream: None,
        created_at: NOW,
        expires_at,
        consumed_at: None,
    };
    store
        .insert_interaction(&interaction("live", NOW + 600_000))
        .await
        .expect("insert");
    store
        .insert_interaction(&interaction("old", NOW - 1))
        .await
        .expect("insert");
    let sealed = ring
        .seal(
            Domain("oidc_interactions"),
            "live",
            &AssociatedData::new("t"),
            b"verifier",
        )
        .expect("seal");
    assert!(
        store
            .set_interaction_upstream("live", "state-hash", "social", "gh", &sealed, NOW)
            .await
            .expect("set")
    );
    assert!(
        !store
            .set_interaction_upstream("old", "other-hash", "social", "gh", &sealed, NOW)
            .await
            .expect("set"),
        "expired"
    );
    let found = store
        .find_interaction_by_state("state-hash")
        .await
        .expect("find")
        .expect("some");
    assert_eq!(
        (found.id.as_str(), found.upstream_connector_id.as_deref()),
        ("live", Some("gh"))
    );
    assert_eq!(found.sealed_upstream, Some(sealed.clone()));
    assert!(
        store
            .consume_interaction("live", NOW)
            .await
            .expect("consume")
    );
    assert!(
        !store
            .consume_interaction("live", NOW)
            .await
            .expect("consume"),
        "single use"
    );
    assert!(
        !store
            .set_interaction_upstream("live", "h2", "social", "gh", &sealed, NOW)
            .await
            .expect("set"),
        "consumed"
    );

    let user = user(&store, "alice").await;
    let session = |hash: &str, expires_at: i64| SessionRow {
        id_hash: hash.into(),
        user_id: user.id.clone(),
        auth_time: UnixSecs::new(1),
        created_at: NOW,
        expires_at,
    };
    store
        .insert_session(&session("s-live", NOW + 1000))
        .await
        .expect("session");
    store
        .insert_session(&session("s-old", NOW - 1))
        .await
        .expect("session");
    assert!(
        store
            .find_session("s-live", NOW)
            .await
            .expect("find")
            .is_some()
    );
    assert!(
        store
            .find_session("s-old", NOW)
            .await
            .expect("find")
            .is_none(),
        "expired sessions are not found"
    );

    assert_eq!(store.purge_expired(NOW).await.expect("purge"), 2);
    assert!(store.get_interaction("old").await.expect("get").is_none());
    assert!(store.get_interaction("live").await.expect("get").is_some());
    assert!(store.delete_session("s-live").await.expect("delete"));
    assert!(!store.delete_session("s-live").await.expect("delete"));
}

#[tokio::test]
async fn the_token_set_read_cache_sees_every_write_of_this_store_and_others_within_its_ttl() {
    let (db, store) = TestDb::migrated().await;
    let clock = std::sync::Arc::new(ManualMonotonic::default());
    let store = store.with_cache_clock(clock.clone());
    let ring = keyring();
    let a = world(&store, &ring, "a").await;
    let cached = |s: &Store| {
        let (s, user) = (s.clone(), a.user.id.clone());
        async move {
            s.find_secret_cached(&user, &IdentityKey::Social("github-a".to_owned()))
                .await
                .expect("cached read")
        }
    };
    let first = cached(&store).await.expect("stored");
    assert_eq!(first.id, a.social.id);
    // A write through this store is seen at once.
    let envelope = envelope(&ring, a.social.id.as_str());
    let metadata = TokenSetMetadata {
        scope: Some("changed".into()),
        ..first.metadata.clone()
    };
    assert!(
        store
            .update_secret_payload(&a.social.id, first.version, &envelope, &metadata, NOW)
            .await
            .expect("update")
    );
    assert_eq!(
        cached(&store)
            .await
            .expect("stored")
            .metadata
            .scope
            .as_deref(),
        Some("changed")
    );
    // Another process's delete is seen within the TTL.
    let other = Store::connect(&db.url).await.expect("second store");
    assert!(other.delete_secret(&a.social.id).await.expect("delete"));
    assert!(cached(&store).await.is_some(), "unseen within the TTL");
    clock.advance(SECRET_CACHE_TTL);
    assert!(cached(&store).await.is_none());
    // And a cascade through this store at once: an identity unlinked.
    let b = world(&store, &ring, "b").await;
    let user = b.user.id.clone();
    assert!(
        store
            .find_secret_cached(&user, &IdentityKey::Social("github-b".to_owned()))
            .await
            .expect("read")
            .is_some()
    );
    assert!(
        store
            .unlink_social_identity(&user, "github-b")
            .await
            .expect("unlink")
    );
    assert!(
        store
            .find_secret_cached(&user, &IdentityKey::Social("github-b".to_owned()))
            .await
            .expect("read")
            .is_none()
    );
}
