//! The console in a real headless Chromium (Debian's `chromium` driven by `playwright-core`,
//! `e2e/console.mjs`), with axe-core checking every page: an administrator signs in, switches
//! token storage on for the connector of a real upstream OpenID provider (npm `oidc-provider`),
//! a user signs in through it, and the administrator finds the user, sees the connection Active
//! with its metadata, deletes the tokens and sees Inactive; an expired token reads Expired, a
//! Facebook-style set without refresh token says none is available, and a connector without
//! token storage reads Not applicable. On failure the script saves a screenshot of the screen
//! it was on and prints where it is.

use crate::support;
use crate::support::vault;

use std::path::PathBuf;

use reqwest::Method;
use serde_json::{Value, json};
use strongroom_core::store::{ConnectorId, UserId};
use strongroom_core::{ExposeSecret, SecretString};
use support::browser::{Browser, param};
use support::upstream::{
    CLIENT_ID as UPSTREAM_CLIENT, CLIENT_SECRET as UPSTREAM_SECRET, Upstream, run_node,
};
use support::{Options, TestApp, pkce};
use vault::*;

const ADMIN_PASSWORD: &str = "console-test-password-5b1e";
const APP_REDIRECT: &str = "http://127.0.0.1:9/cb";
const FB_ACCESS: &str = "PLANTED-console-facebook-access-77a1";
const EXPIRED_ACCESS: &str = "PLANTED-console-expired-access-3c9d";
const EXPIRED_REFRESH: &str = "PLANTED-console-expired-refresh-e02b";

use support::browser::chromium;

/// Runs one step of `e2e/console.mjs` (the server keeps serving meanwhile: the same runtime
/// runs both); panics with its output when it fails.
async fn step(name: &str, base: &str, work: &tempfile::TempDir, extra: Value) -> Value {
    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/console-screenshots");
    std::fs::create_dir_all(&shots).expect("screenshot folder");
    let mut config = json!({
        "step": name,
        "base": base,
        "chromium": chromium(),
        "shots": shots,
        "state": work.path().join("state.json"),
        "username": "admin",
        "password": ADMIN_PASSWORD,
    });
    if let (Some(c), Some(e)) = (config.as_object_mut(), extra.as_object()) {
        c.extend(e.clone());
    }
    let file = work.path().join(format!("{name}.json"));
    std::fs::write(&file, config.to_string()).expect("config");
    let out = run_node("console.mjs", &file).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "console step `{name}` failed:\n{stderr}\n{stdout}"
    );
    serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("the step's JSON line")
}

#[tokio::test]
async fn an_administrator_manages_token_storage_in_a_real_browser() {
    // A manual clock started at the real time (the upstream is real): carol's token set expires
    // by moving it, not by sleeping.
    let clock = strongroom_core::ManualClock::new(strongroom_core::Clock::now_ms(
        &strongroom_core::SystemClock,
    ));
    let app = TestApp::spawn_with(Options {
        clock: std::sync::Arc::new(clock.clone()),
        ..Options::default()
    })
    .await;
    strongroom_core::admins::create_admin(
        app.store(),
        "admin",
        Some(SecretString::from(ADMIN_PASSWORD)),
        app.state.clock.as_ref(),
    )
    .await
    .expect("admin");
    let mgmt = app.management_token().await;
    let upstream = Upstream::start(&[app.url("/callback/corp-idp")], json!({}));
    let (status, body) = app
        .api(
            &mgmt,
            Method::POST,
            "/api/connectors",
            Some(json!({
                "id": "corp-idp",
                "connectorId": "oidc",
                "metadata": {"name": {"en": "Corp IdP"}},
                "config": {
                    "clientId": UPSTREAM_CLIENT,
                    "clientSecret": UPSTREAM_SECRET,
                    "issuer": upstream.issuer,
                    "scope": "openid profile email offline_access",
                },
                "enableTokenStorage": false,
            })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let work = tempfile::tempdir().expect("work dir");

    // The administrator switches token storage on in the console.
    let enabled = step(
        "enable",
        &app.base,
        &work,
        json!({"connectorName": "Corp IdP"}),
    )
    .await;
    assert!(
        enabled["checks"].as_array().is_some_and(|c| c.len() >= 5),
        "{enabled}"
    );
    let row = app
        .state
        .connectors
        .get(&ConnectorId::from("corp-idp"))
        .await
        .expect("connector");
    assert!(
        row.enable_token_storage,
        "the console's Save did not switch storage on"
    );

    // Alice signs in to an application through the connector: her token set is stored.
    let (client, _) = app.application("Traditional", &[APP_REDIRECT]).await;
    let (_, challenge) = pkce();
    let mut auth = url::Url::parse(&app.url("/oidc/auth")).expect("url");
    auth.query_pairs_mut()
        .append_pair("client_id", client.id.as_str())
        .append_pair("redirect_uri", APP_REDIRECT)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid profile")
        .append_pair("state", "s")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("direct_sign_in", "social:oidc");
    let landing = Browser::new()
        .follow(auth.as_str(), APP_REDIRECT)
        .await
        .app();
    assert!(param(&landing, "code").is_some(), "{landing}");
    let (users, _) = app
        .store()
        .list_users(Some("alice"), 10, 0)
        .await
        .expect("users");
    let alice = users.first().expect("alice was created").clone();
    let stored = app
        .store()
        .list_user_secrets(&alice.id)
        .await
        .expect("secrets");
    assert_eq!(stored.len(), 1, "alice's token set is stored");
    let opened = app.state.token_sets.open(&stored[0]).expect("open");
    let mut planted = vec![opened.access_token.expose_secret().to_owned()];
    planted.extend(
        opened
            .refresh_token
            .as_ref()
            .map(|t| t.expose_secret().to_owned()),
    );

    // Three more users: Facebook (no refresh token), an expired set, a connector without storage.
    connector(
        &app,
        &mgmt,
        "fb",
        "facebook",
        None,
        json!({"clientId": "fb-app", "clientSecret": "fb-secret"}),
        true,
    )
    .await;
    let bob = app.user("bob").await;
    seed(
        &app,
        "fb",
        &bob,
        "facebook",
        "fb-1001",
        tokens(
            FB_ACCESS,
            None,
            None,
            Some(5_184_000),
            Some("email public_profile"),
            Some("bearer"),
        ),
    )
    .await;
    offline_connector(&app, &mgmt, "legacy", "legacy-crm").await;
    let carol = app.user("carol").await;
    seed(
        &app,
        "legacy",
        &carol,
        "legacy-crm",
        "crm-7",
        tokens(
            EXPIRED_ACCESS,
            Some(EXPIRED_REFRESH),
            None,
            Some(1),
            Some("read"),
            Some("Bearer"),
        ),
    )
    .await;
    connector(
        &app,
        &mgmt,
        "gh",
        "github",
        None,
        json!({"clientId": "gh-app", "clientSecret": "gh-secret"}),
        false,
    )
    .await;
    let dave = app.user("dave").await;
    link(&app, &dave, "github", "octo-42").await;
    clock.advance_secs(2); // carol's token expires
    planted.extend([FB_ACCESS, EXPIRED_ACCESS, EXPIRED_REFRESH].map(str::to_owned));

    let case = |user: &UserId,
                connector: &str,
                label: &str,
                refresh: Option<&str>,
                note: Option<&str>| {
        json!({"userId": user, "connector": connector, "label": label, "refresh": refresh, "note": note})
    };
    // An application with token exchange and the break-glass worker on: its page, warning and
    // key set included, passes the same checks at phone width.
    let (worker, _) = app.application("MachineToMachine", &[]).await;
    let (status, body) = app
        .api(
            &mgmt,
            Method::PATCH,
            &format!("/api/applications/{}", worker.id),
            Some(json!({"tokenExchange": {"enabled": true, "worker": true,
                "connectors": ["urn:strongroom:connector:github"],
                "jwks": {"keys": [{"kty": "EC", "crv": "P-256", "kid": "w1",
                    "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                    "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let inspected = step(
        "inspect",
        &app.base,
        &work,
        json!({
            "search": "alice",
            "userName": alice.name.clone().expect("alice's name"),
            "userId": alice.id,
            "connectorName": "Corp IdP",
            "extraPaths": [format!("/console/applications/{}", worker.id)],
            "planted": planted,
            "cases": [
                case(&bob, "Facebook", "Active", Some("Not available"), None),
                case(&carol, "legacy-crm", "Expired", Some("Available"), Some("A refresh token is stored")),
                case(&dave, "GitHub", "Not applicable", None, Some("does not store tokens")),
            ],
        }),
    )
    .await;
    assert!(
        inspected["checks"]
            .as_array()
            .is_some_and(|c| c.len() >= 10),
        "{inspected}"
    );

    // The deletion really happened, by the administrator, and is in the audit trail.
    assert!(
        app.store()
            .list_user_secrets(&alice.id)
            .await
            .expect("secrets")
            .is_empty()
    );
    let events = wait_for_audit(&app, &mgmt, &format!("userId={}", alice.id), |e| {
        e["action"] == "token.delete" && e["actorType"] == "admin"
    })
    .await;
    assert!(!events.is_empty());
}
