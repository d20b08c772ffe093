//! Account API, black box: the profile, the provider access token on both path prefixes (social
//! and SSO), the scope gates (the `identities` scope is required: Logto's CVE-2026-63203 must
//! not exist here), who may call at all, and an expired token without a refresh token (401, and
//! the set is kept).

use crate::support;
use crate::support::vault;

use std::sync::Arc;

use reqwest::Method;
use serde_json::{Value, json};
use strongroom_core::ManualClock;
use strongroom_core::store::{SsoConnectorId, UserId};
use support::{Options, TestApp};
use vault::*;

const ACCESS: &str = "PLANTED-account-access-41d2";
const REFRESH: &str = "PLANTED-account-refresh-88ef";
const ID_TOKEN: &str = "PLANTED-account-idtoken-0b3c";
const SSO_ACCESS: &str = "PLANTED-sso-access-6a7e";
const SSO_REFRESH: &str = "PLANTED-sso-refresh-c0de";

async fn manual() -> (TestApp, ManualClock) {
    let clock = ManualClock::new(T0_MS);
    let app = TestApp::spawn_with(Options {
        clock: Arc::new(clock.clone()),
        ..Default::default()
    })
    .await;
    (app, clock)
}

/// A Strongroom with the `acme` connector (nobody answers its endpoints) and an SSO connector;
/// alice has an acme identity with a full token set and an SSO identity with one.
struct World {
    app: TestApp,
    clock: ManualClock,
    mgmt: String,
    sso: SsoConnectorId,
    alice: UserId,
    secret: strongroom_core::store::SecretRow,
    sso_secret: strongroom_core::store::SecretRow,
}

impl World {
    async fn new() -> Self {
        let (app, clock) = manual().await;
        let mgmt = app.management_token().await;
        offline_connector(&app, &mgmt, "acme-conn", "acme").await;
        let sso = sso_connector(&app, &mgmt, "Corp").await;
        let alice = app.user("alice").await;
        let secret = seed(
            &app,
            "acme-conn",
            &alice,
            "acme",
            "acme-alice",
            tokens(
                ACCESS,
                Some(REFRESH),
                Some(ID_TOKEN),
                Some(3600),
                Some("profile repo"),
                Some("bearer"),
            ),
        )
        .await;
        let sso_secret = seed_sso(
            &app,
            &sso,
            &alice,
            "https://idp.corp.example",
            "sub-alice",
            tokens(
                SSO_ACCESS,
                Some(SSO_REFRESH),
                Some(ID_TOKEN),
                Some(1800),
                Some("openid email"),
                Some("Bearer"),
            ),
        )
        .await;
        Self {
            app,
            clock,
            mgmt,
            sso,
            alice,
            secret,
            sso_secret,
        }
    }

    /// Every Account and Verification API route, with a plausible body.
    fn routes(&self) -> Vec<(Method, String, Option<Value>)> {
        let mut routes = vec![
            (Method::GET, "/api/my-account".to_owned(), None),
            (
                Method::POST,
                "/api/my-account/identities".to_owned(),
                Some(json!({"newIdentifierVerificationRecordId": "rec"})),
            ),
            (
                Method::DELETE,
                "/api/my-account/identities/acme".to_owned(),
                None,
            ),
        ];
        for prefix in ["/api/my-account", "/my-account"] {
            routes.push((
                Method::GET,
                format!("{prefix}/identities/acme/access-token"),
                None,
            ));
            routes.push((
                Method::PUT,
                format!("{prefix}/identities/acme/access-token"),
                Some(json!({"verificationRecordId": "rec"})),
            ));
            routes.push((
                Method::PATCH,
                format!("{prefix}/identities/acme/access-token"),
                Some(json!({"socialVerificationId": "rec"})),
            ));
            routes.push((
                Method::GET,
                format!("{prefix}/sso-identities/{}/access-token", self.sso.as_str()),
                None,
            ));
        }
        for prefix in ["/api/verifications", "/api/verification"] {
            routes.push((
                Method::POST,
                format!("{prefix}/social"),
                Some(
                    json!({"connectorId": "acme-conn", "state": "s", "redirectUri": APP_REDIRECT}),
                ),
            ));
            routes.push((
                Method::POST,
                format!("{prefix}/social/verify"),
                Some(json!({"verificationRecordId": "rec", "connectorData": {"code": "c", "state": "s"}})),
            ));
        }
        routes
    }

    /// Alice's stored sets are untouched.
    async fn assert_untouched(&self) {
        let store = self.app.store();
        assert_eq!(
            store
                .get_secret(&self.secret.id)
                .await
                .expect("get")
                .as_ref(),
            Some(&self.secret)
        );
        assert_eq!(
            store
                .get_secret(&self.sso_secret.id)
                .await
                .expect("get")
                .as_ref(),
            Some(&self.sso_secret)
        );
        assert!(
            store
                .get_social_identity(&self.alice, "acme")
                .await
                .expect("get")
                .is_some()
        );
    }
}

const ALL_PLANTED: [&str; 6] = [
    ACCESS,
    REFRESH,
    ID_TOKEN,
    SSO_ACCESS,
    SSO_REFRESH,
    "PLANTED",
];

#[tokio::test]
async fn my_account_shows_the_profile_and_identities_without_tokens() {
    let w = World::new().await;
    link(&w.app, &w.alice, "globex", "globex-alice").await;
    let token = w.app.user_token(&w.alice, "openid").await;
    let answer = call(&w.app, Some(&token), Method::GET, "/api/my-account", None).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_absent(&answer.text, &ALL_PLANTED, "the profile");
    let profile = answer.json();
    assert_eq!(
        (
            &profile["id"],
            &profile["username"],
            &profile["primaryEmail"]
        ),
        (
            &json!(w.alice.as_str()),
            &json!("alice"),
            &json!("alice@example.com")
        )
    );
    assert_eq!(
        profile["identities"],
        json!({"acme": {"userId": "acme-alice", "details": {"name": "acme-alice at acme"}}, "globex": {"userId": "globex-alice", "details": {}}})
    );
    assert_eq!(
        (
            profile["hasPassword"].as_bool(),
            profile["isSuspended"].as_bool()
        ),
        (Some(false), Some(false))
    );
    // The profile is the caller's, whatever the path would suggest.
    let bob = w.app.user("bob").await;
    let bob_token = w.app.user_token(&bob, "openid identities").await;
    let (status, bobs) = w
        .app
        .api(&bob_token, Method::GET, "/api/my-account", None)
        .await;
    assert_eq!(
        (status, &bobs["id"], &bobs["identities"]),
        (200, &json!(bob.as_str()), &json!({}))
    );
}

#[tokio::test]
async fn access_token_on_both_prefixes_carries_only_the_access_token_and_its_metadata() {
    let w = World::new().await;
    let token = w.app.user_token(&w.alice, "openid identities").await;
    w.clock.advance_secs(100);
    for prefix in ["/api/my-account", "/my-account"] {
        let answer = call(
            &w.app,
            Some(&token),
            Method::GET,
            &format!("{prefix}/identities/acme/access-token"),
            None,
        )
        .await;
        assert_eq!(answer.status, 200, "{prefix}: {}", answer.text);
        assert_eq!(
            answer.json(),
            json!({"access_token": ACCESS, "scope": "profile repo", "token_type": "bearer", "expires_in": 3500})
        );
        assert_absent(
            &answer.text,
            &[REFRESH, ID_TOKEN],
            "the access-token answer",
        );
        let answer = call(
            &w.app,
            Some(&token),
            Method::GET,
            &format!("{prefix}/sso-identities/{}/access-token", w.sso.as_str()),
            None,
        )
        .await;
        assert_eq!(answer.status, 200, "{prefix}: {}", answer.text);
        assert_eq!(
            answer.json(),
            json!({"access_token": SSO_ACCESS, "scope": "openid email", "token_type": "Bearer", "expires_in": 1700})
        );
        assert_absent(
            &answer.text,
            &[SSO_REFRESH, ID_TOKEN],
            "the SSO access-token answer",
        );
    }

    // Without expiry, scope and token type, only the access token is answered.
    seed(
        &w.app,
        "acme-conn",
        &w.alice,
        "plain",
        "plain-alice",
        tokens("PLANTED-plain", None, None, None, None, None),
    )
    .await;
    let (status, body) = w
        .app
        .api(
            &token,
            Method::GET,
            "/api/my-account/identities/plain/access-token",
            None,
        )
        .await;
    assert_eq!(
        (status, body),
        (200, json!({"access_token": "PLANTED-plain"}))
    );

    // Reads are audited (in batches), with the secret, never the token.
    let events = wait_for_audit(
        &w.app,
        &w.mgmt,
        &format!("userId={}&action=token.read", w.alice),
        |e| e["target"] == "plain" && e["outcome"] == "success",
    )
    .await;
    let count = |secret: &str| {
        events
            .iter()
            .filter(|e| is_event(e, "token.read", "success", secret))
            .map(reads)
            .sum::<i64>()
    };
    let total: i64 = events.iter().map(reads).sum();
    assert_eq!(
        (
            count(w.secret.id.as_str()),
            count(w.sso_secret.id.as_str()),
            total
        ),
        (2, 2, 5),
        "{events:#?}"
    );
    assert_absent(
        &Value::Array(events).to_string(),
        &ALL_PLANTED,
        "the audit trail",
    );
    w.assert_untouched().await;
}

#[tokio::test]
async fn nothing_stored_is_404_token_not_found() {
    let w = World::new().await;
    link(&w.app, &w.alice, "globex", "globex-alice").await;
    let token = w.app.user_token(&w.alice, "openid identities").await;
    let other_sso = sso_connector(&w.app, &w.mgmt, "Other").await;
    for path in [
        "/api/my-account/identities/globex/access-token".to_owned(),
        "/my-account/identities/globex/access-token".to_owned(),
        "/api/my-account/identities/initech/access-token".to_owned(),
        format!(
            "/api/my-account/sso-identities/{}/access-token",
            other_sso.as_str()
        ),
        "/my-account/sso-identities/no-such-sso/access-token".to_owned(),
        // A social target is not an SSO connector id, nor the other way round.
        "/api/my-account/sso-identities/acme/access-token".to_owned(),
        format!("/api/my-account/identities/{}/access-token", w.sso.as_str()),
    ] {
        let (status, body) = w.app.api(&token, Method::GET, &path, None).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (404, Some("secrets.third_party_token_set.token_not_found")),
            "{path}: {body}"
        );
    }
}

#[tokio::test]
async fn without_the_identities_scope_the_token_endpoints_are_403_and_read_nothing() {
    let w = World::new().await;
    let sso = w.sso.as_str().to_owned();
    for scope in ["openid", "openid profile email offline_access"] {
        let token = w.app.user_token(&w.alice, scope).await;
        for prefix in ["/api/my-account", "/my-account"] {
            for (m, path, body) in [
                (
                    Method::GET,
                    format!("{prefix}/identities/acme/access-token"),
                    None,
                ),
                (
                    Method::GET,
                    format!("{prefix}/sso-identities/{sso}/access-token"),
                    None,
                ),
                (
                    Method::PUT,
                    format!("{prefix}/identities/acme/access-token"),
                    Some(json!({"verificationRecordId": "rec"})),
                ),
                (
                    Method::PATCH,
                    format!("{prefix}/identities/acme/access-token"),
                    Some(json!({"socialVerificationId": "rec"})),
                ),
            ] {
                let answer = call(&w.app, Some(&token), m.clone(), &path, body).await;
                assert_eq!(
                    (answer.status, answer.code().as_deref()),
                    (403, Some("auth.forbidden")),
                    "{scope}: {m} {path}: {}",
                    answer.text
                );
                assert_absent(&answer.text, &ALL_PLANTED, "a refusal");
            }
        }
    }
    // The batch writer keeps order: once a later read is recorded, any earlier one would be too.
    let token = w.app.user_token(&w.alice, "openid identities").await;
    let (status, _) = w
        .app
        .api(
            &token,
            Method::GET,
            "/api/my-account/identities/marker/access-token",
            None,
        )
        .await;
    assert_eq!(status, 404);
    let events = wait_for_audit(&w.app, &w.mgmt, &format!("userId={}", w.alice), |e| {
        e["target"] == "marker"
    })
    .await;
    assert_eq!(
        events.len(),
        1,
        "a refused call read a token set: {events:#?}"
    );
    w.assert_untouched().await;
}

#[tokio::test]
async fn tokens_without_openid_are_403_everywhere() {
    let w = World::new().await;
    for scope in [
        "identities",
        "profile identities",
        "offline_access identities email",
    ] {
        let token = w.app.user_token(&w.alice, scope).await;
        for (m, path, body) in w.routes() {
            let answer = call(&w.app, Some(&token), m.clone(), &path, body).await;
            assert_eq!(
                (answer.status, answer.code().as_deref()),
                (403, Some("auth.forbidden")),
                "{scope}: {m} {path}: {}",
                answer.text
            );
            assert_absent(&answer.text, &ALL_PLANTED, "a refusal");
        }
    }
    w.assert_untouched().await;
}

#[tokio::test]
async fn unknown_missing_expired_and_management_bearers_are_401() {
    let w = World::new().await;
    let expiring = w.app.user_token(&w.alice, "openid identities").await;
    let other_format = w.app.user_token(&w.alice, "openid identities").await;
    for (m, path, body) in w.routes() {
        let answer = call(&w.app, None, m.clone(), &path, body.clone()).await;
        assert_eq!(
            (answer.status, answer.code().as_deref()),
            (401, Some("auth.authorization_header_missing")),
            "{m} {path}: {}",
            answer.text
        );
        let answer = call(
            &w.app,
            Some("an-access-token-nobody-issued"),
            m.clone(),
            &path,
            body.clone(),
        )
        .await;
        assert_eq!(
            (answer.status, answer.code().as_deref()),
            (401, Some("auth.unauthorized")),
            "{m} {path}: {}",
            answer.text
        );
        // A Management API token is not a user's token.
        let answer = call(&w.app, Some(&w.mgmt), m.clone(), &path, body.clone()).await;
        assert_eq!(
            (answer.status, answer.code().as_deref()),
            (401, Some("auth.unauthorized")),
            "{m} {path}: {}",
            answer.text
        );
        // Not a bearer token at all.
        let response = w
            .app
            .http
            .request(m.clone(), w.app.url(&path))
            .header("authorization", format!("Basic {other_format}"))
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), 401, "{m} {path}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(
            body["code"], "auth.authorization_token_type_not_supported",
            "{m} {path}"
        );
    }
    // Strongroom's access tokens live an hour.
    w.clock.advance_secs(3601);
    for (m, path, body) in w.routes() {
        let answer = call(&w.app, Some(&expiring), m.clone(), &path, body).await;
        assert_eq!(
            (answer.status, answer.code().as_deref()),
            (401, Some("auth.unauthorized")),
            "expired: {m} {path}: {}",
            answer.text
        );
    }
    w.assert_untouched().await;
}

#[tokio::test]
async fn expired_without_a_refresh_token_is_401_and_the_set_is_kept() {
    let w = World::new().await;
    let secret = seed(
        &w.app,
        "acme-conn",
        &w.alice,
        "shortlived",
        "sl-alice",
        tokens(
            "PLANTED-short",
            None,
            None,
            Some(600),
            Some("read"),
            Some("bearer"),
        ),
    )
    .await;
    let short_sso = sso_connector(&w.app, &w.mgmt, "Short").await;
    let sso_secret = seed_sso(
        &w.app,
        &short_sso,
        &w.alice,
        "https://short.corp.example",
        "sub-alice",
        tokens("PLANTED-sso-short", None, None, Some(600), None, None),
    )
    .await;
    let token = w.app.user_token(&w.alice, "openid identities").await;
    let social = "/api/my-account/identities/shortlived/access-token";
    let sso = format!(
        "/my-account/sso-identities/{}/access-token",
        short_sso.as_str()
    );

    // Inside the refresh skew but not yet expired, and nothing to refresh with: the token is
    // still handed out.
    w.clock.advance_secs(560);
    let (status, body) = w.app.api(&token, Method::GET, social, None).await;
    assert_eq!(
        (status, body),
        (
            200,
            json!({"access_token": "PLANTED-short", "scope": "read", "token_type": "bearer", "expires_in": 40})
        )
    );

    w.clock.advance_secs(140);
    for _ in 0..2 {
        for path in [social, sso.as_str()] {
            let answer = call(&w.app, Some(&token), Method::GET, path, None).await;
            assert_eq!(
                (answer.status, answer.code().as_deref()),
                (
                    401,
                    Some("secrets.third_party_token_set.access_token_expired")
                ),
                "{path}: {}",
                answer.text
            );
            assert_absent(&answer.text, &["PLANTED"], "the expiry answer");
        }
    }
    // Kept, not silently deleted.
    assert!(
        w.app
            .store()
            .get_secret(&secret.id)
            .await
            .expect("get")
            .is_some()
    );
    assert!(
        w.app
            .store()
            .get_secret(&sso_secret.id)
            .await
            .expect("get")
            .is_some()
    );
    let (status, identity) = w
        .app
        .api(
            &w.mgmt,
            Method::GET,
            &format!(
                "/api/users/{}/identities/shortlived?includeTokenSecret=true",
                w.alice
            ),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        identity["tokenSecret"]["id"],
        secret.id.as_str(),
        "{identity}"
    );
    assert_eq!(
        identity["tokenSecret"]["metadata"],
        json!({"hasRefreshToken": false, "scope": "read", "tokenType": "bearer", "expiresAt": T0_MS / 1000 + 600})
    );
    let (_, all) = w
        .app
        .api(
            &w.mgmt,
            Method::GET,
            &format!("/api/users/{}/all-identities?includeTokenSecret=1", w.alice),
            None,
        )
        .await;
    let short = all["ssoIdentities"]
        .as_array()
        .expect("array")
        .iter()
        .find(|i| i["ssoConnectorId"] == short_sso.as_str())
        .expect("short sso");
    assert_eq!(short["tokenSecret"]["id"], sso_secret.id.as_str(), "{all}");
    // The other, long-lived sets are still served.
    let (status, body) = w
        .app
        .api(
            &token,
            Method::GET,
            "/api/my-account/identities/acme/access-token",
            None,
        )
        .await;
    assert_eq!((status, body["access_token"].as_str()), (200, Some(ACCESS)));

    let events = wait_for_audit(
        &w.app,
        &w.mgmt,
        &format!("userId={}&action=token.read", w.alice),
        |e| e["target"] == "acme",
    )
    .await;
    let expired: i64 = events
        .iter()
        .filter(|e| e["outcome"] == "access_token_expired")
        .map(reads)
        .sum();
    assert_eq!(expired, 4, "{events:#?}");
    assert!(
        audit(&w.app, &w.mgmt, "action=token.delete")
            .await
            .is_empty(),
        "an expired set was deleted"
    );
}
