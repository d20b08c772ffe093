//! The tests that read the server's log lines. They share the process-wide log subscriber
//! (TRACE level, captured in memory), so they live in a binary of their own, away from the
//! suites in `api/`:
//!
//! - a sign-in through the real upstream with every log level on: no token the provider
//!   issued, no token or code Strongroom issued, and no client secret reaches a log line or
//!   the database in plaintext;
//! - the fuzzing run's F8: an error's log line names the request and the cause.

// The shared harness; this binary uses only part of it.
#[allow(dead_code)]
#[path = "api/support/mod.rs"]
mod support;

use reqwest::Method;
use serde_json::json;
use strongroom_core::ExposeSecret;
use strongroom_core::store::{IdentityKey, UserId};
use strongroom_testkit::plaintext::{Captured, assert_absent_in_database};
use support::browser::{Browser, param};
use support::upstream::{CLIENT_ID, CLIENT_SECRET, Upstream};
use support::{TestApp, pkce};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_leaves_no_secret_in_logs_or_database() {
    let logs = Captured::install();
    let app = TestApp::spawn().await;
    let upstream = Upstream::start(&[app.url("/callback/up")], json!({}));
    let token = app.management_token().await;
    let (status, _) = app
        .api(
            &token,
            Method::POST,
            "/api/connectors",
            Some(json!({"id": "up", "connectorId": "oidc", "enableTokenStorage": true,
                "config": {"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET, "issuer": upstream.issuer, "scope": "openid offline_access"}})),
        )
        .await;
    assert_eq!(status, 200);
    let redirect = "http://127.0.0.1:9/cb";
    let (client, secret) = app.application("Traditional", &[redirect]).await;
    let client_secret = secret.expect("secret");
    let (verifier, challenge) = pkce();
    let mut auth = url::Url::parse(&app.url("/oidc/auth")).expect("url");
    auth.query_pairs_mut().extend_pairs([
        ("client_id", client.id.as_str()),
        ("redirect_uri", redirect),
        ("response_type", "code"),
        ("scope", "openid offline_access identities"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
        ("direct_sign_in", "social:oidc"),
    ]);
    let browser = Browser::new();
    // Stop at the upstream's redirect back, to learn the upstream's authorization code.
    let back = browser
        .follow(auth.as_str(), &app.url("/callback/up"))
        .await
        .app();
    let upstream_code = param(&back, "code").expect("upstream code");
    let landing = browser.follow(back.as_str(), redirect).await.app();
    let code = param(&landing, "code").expect("code");
    let tokens: serde_json::Value = app
        .http
        .post(app.url("/oidc/token"))
        .basic_auth(client.id.as_str(), Some(&client_secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    let access = tokens["access_token"].as_str().expect("access").to_owned();
    let refresh = tokens["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    let me = app
        .http
        .get(app.url("/oidc/me"))
        .bearer_auth(&access)
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), 200);
    let sub: serde_json::Value = me.json().await.expect("json");
    let user = UserId::from(sub["sub"].as_str().expect("sub").to_owned());

    let stored = app
        .store()
        .find_secret(&user, &IdentityKey::Social("oidc".to_owned()))
        .await
        .expect("find")
        .expect("stored");
    let set = app.state.token_sets.open(&stored).expect("open");
    let upstream_access = set.access_token.expose_secret().to_owned();
    let upstream_refresh = set
        .refresh_token
        .as_ref()
        .expect("refresh")
        .expose_secret()
        .to_owned();
    let upstream_id_token = set
        .id_token
        .as_ref()
        .expect("id token")
        .expose_secret()
        .to_owned();
    let secrets = [
        upstream_access.as_str(),
        upstream_refresh.as_str(),
        upstream_id_token.as_str(),
        upstream_code.as_str(),
        CLIENT_SECRET,
        code.as_str(),
        access.as_str(),
        refresh.as_str(),
        client_secret.as_str(),
        verifier.as_str(),
    ];
    let db = app.db();
    assert_absent_in_database(db, app.store(), &secrets).await;
    let logs = logs.text();
    assert!(
        logs.contains("request"),
        "request traces were not captured:\n{logs}"
    );
    for secret in secrets {
        assert!(!logs.contains(secret), "a secret reached the logs:\n{logs}");
    }
}

// ----------------------------------------------------------------------------------------------
// The fuzzing run's F8: what an operator reads at the default level
// ----------------------------------------------------------------------------------------------

#[tokio::test]
async fn error_log_lines_name_the_request_and_the_cause() {
    let logs = Captured::install();
    let app = TestApp::spawn().await;
    let token = app.management_token().await;
    let (m2m, secret) = app.application("MachineToMachine", &[]).await;
    // The applications table disappears under the server: a storage failure.
    sqlx::raw_sql("ALTER TABLE applications RENAME TO applications_gone")
        .execute(app.store().pool())
        .await
        .expect("rename");
    let (status, body) = app
        .api(&token, Method::GET, "/api/applications", None)
        .await;
    assert_eq!(status, 500, "{body}");
    let response = app
        .http
        .post(app.url("/oidc/token"))
        .basic_auth(m2m.id.as_str(), secret.as_deref())
        .form(&[("grant_type", "client_credentials"), ("scope", "all")])
        .send()
        .await
        .expect("token");
    assert_eq!(response.status(), 500);
    let text = logs.text();
    let errors: Vec<&str> = text.lines().filter(|l| l.contains(" ERROR ")).collect();
    for (method, path) in [("GET", "/api/applications"), ("POST", "/oidc/token")] {
        let line = errors
            .iter()
            .find(|l| l.contains(&format!("method={method} path={path} request_id=")))
            .unwrap_or_else(|| panic!("no ERROR line for {method} {path}: {errors:#?}"));
        assert!(line.contains("applications"), "the cause: {line}");
    }
}
