//! Management API, black box: users, social and SSO identities, token secrets (metadata only),
//! `DELETE /api/secrets/:id`, every deletion cascade with its audit trail, revocation at the
//! provider, the audit API, and who may call any of it.
//!
//! Every stored token carries `PLANTED`: no Management API answer and no audit event may show one.

use crate::support;
use crate::support::vault;

use std::sync::Arc;

use base64::Engine as _;
use reqwest::Method;
use serde_json::{Value, json};
use strongroom_core::ManualClock;
use strongroom_core::store::{SecretRow, UserId};
use support::{Options, TestApp};
use vault::*;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const ACCESS: &str = "PLANTED-access-7c1f0e";
const REFRESH: &str = "PLANTED-refresh-2b9d44";
const ID_TOKEN: &str = "PLANTED-idtoken-e55a10";
const PLANTED: [&str; 4] = [ACCESS, REFRESH, ID_TOKEN, "PLANTED"];

const USER_KEYS: [&str; 15] = [
    "id",
    "username",
    "primaryEmail",
    "primaryPhone",
    "name",
    "avatar",
    "customData",
    "identities",
    "lastSignInAt",
    "createdAt",
    "updatedAt",
    "profile",
    "applicationId",
    "isSuspended",
    "hasPassword",
];
const SOCIAL_SECRET_KEYS: [&str; 10] = [
    "tenantId",
    "id",
    "userId",
    "type",
    "metadata",
    "createdAt",
    "updatedAt",
    "connectorId",
    "identityId",
    "target",
];
const SSO_SECRET_KEYS: [&str; 10] = [
    "tenantId",
    "id",
    "userId",
    "type",
    "metadata",
    "createdAt",
    "updatedAt",
    "ssoConnectorId",
    "issuer",
    "identityId",
];

async fn manual() -> (TestApp, ManualClock) {
    let clock = ManualClock::new(T0_MS);
    let app = TestApp::spawn_with(Options {
        clock: Arc::new(clock.clone()),
        ..Default::default()
    })
    .await;
    (app, clock)
}

fn full_set() -> strongroom_core::token_sets::TokenResponse {
    tokens(
        ACCESS,
        Some(REFRESH),
        Some(ID_TOKEN),
        Some(3600),
        Some("profile repo"),
        Some("bearer"),
    )
}

fn err(status: u16, body: &Value) -> (u16, Option<&str>) {
    (status, body["code"].as_str())
}

// ----------------------------------------------------------------------------------------------
// Users
// ----------------------------------------------------------------------------------------------

#[tokio::test]
async fn create_user_answers_the_logto_profile_and_refuses_duplicates_and_bad_values() {
    let (app, _clock) = manual().await;
    let mgmt = app.management_token().await;
    let (status, user) = app
        .api(
            &mgmt,
            Method::POST,
            "/api/users",
            Some(json!({
                "username": "ada_lovelace", "primaryEmail": "ada@example.com", "primaryPhone": "+4915112345678",
                "name": "Ada Lovelace", "avatar": "https://img.example/ada.png",
                "customData": {"team": "engines"}, "profile": {"givenName": "Ada"},
            })),
        )
        .await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(keys(&user), sorted(&USER_KEYS), "{user}");
    let id = user["id"].as_str().expect("id").to_owned();
    assert!(!id.is_empty());
    assert_eq!(user["username"], "ada_lovelace");
    assert_eq!(user["primaryEmail"], "ada@example.com");
    assert_eq!(user["primaryPhone"], "+4915112345678");
    assert_eq!(user["name"], "Ada Lovelace");
    assert_eq!(user["avatar"], "https://img.example/ada.png");
    assert_eq!(user["customData"], json!({"team": "engines"}));
    assert_eq!(user["profile"], json!({"givenName": "Ada"}));
    assert_eq!(user["identities"], json!({}));
    assert_eq!(user["lastSignInAt"], Value::Null);
    assert_eq!(
        (user["createdAt"].as_i64(), user["updatedAt"].as_i64()),
        (Some(T0_MS), Some(T0_MS))
    );
    assert_eq!(
        (user["isSuspended"].as_bool(), user["hasPassword"].as_bool()),
        (Some(false), Some(false))
    );
    let (status, got) = app
        .api(&mgmt, Method::GET, &format!("/api/users/{id}"), None)
        .await;
    assert_eq!((status, &got), (200, &user));

    // Everything is optional.
    let (status, bare) = app
        .api(&mgmt, Method::POST, "/api/users", Some(json!({})))
        .await;
    assert_eq!(status, 200, "{bare}");
    assert_eq!(keys(&bare), sorted(&USER_KEYS));
    assert_ne!(bare["id"], user["id"]);
    for key in ["username", "primaryEmail", "primaryPhone", "name", "avatar"] {
        assert_eq!(bare[key], Value::Null, "{key}: {bare}");
    }
    assert_eq!(
        (&bare["customData"], &bare["profile"]),
        (&json!({}), &json!({}))
    );

    for (body, code) in [
        (
            json!({"username": "Ada_Lovelace"}),
            "user.username_already_in_use",
        ),
        (
            json!({"primaryEmail": "ADA@example.com"}),
            "user.email_already_in_use",
        ),
        (
            json!({"primaryPhone": "+4915112345678"}),
            "user.phone_already_in_use",
        ),
    ] {
        let (status, answer) = app
            .api(&mgmt, Method::POST, "/api/users", Some(body.clone()))
            .await;
        assert_eq!(
            err(status, &answer),
            (422, Some(code)),
            "{body} -> {answer}"
        );
        assert_eq!(keys(&answer), sorted(&["code", "message"]), "{answer}");
        assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    for body in [
        json!({"username": "1ada"}),
        json!({"username": "ada lovelace"}),
        json!({"username": "ada-l"}),
        json!({"username": 5}),
        json!({"primaryEmail": "ada.example.com"}),
        json!({"primaryEmail": "ada@localhost"}),
        json!({"primaryEmail": "a da@example.com"}),
        json!({"primaryPhone": "12-34-56"}),
        json!({"primaryPhone": "123"}),
        json!({"customData": [1, 2]}),
        json!({"profile": "given"}),
        json!([]),
    ] {
        let (status, answer) = app
            .api(&mgmt, Method::POST, "/api/users", Some(body.clone()))
            .await;
        assert_eq!(
            err(status, &answer),
            (400, Some("guard.invalid_input")),
            "{body} -> {answer}"
        );
    }
    let raw = app
        .http
        .post(app.url("/api/users"))
        .bearer_auth(&mgmt)
        .header("content-type", "application/json")
        .body("{\"username\": ")
        .send()
        .await
        .expect("send");
    assert_eq!(raw.status(), 400);
    assert_eq!(
        raw.json::<Value>().await.expect("json")["code"],
        "guard.invalid_input"
    );
    for body in [
        json!({"username": "with_password", "password": "correct horse battery staple"}),
        json!({"username": "with_digest", "passwordDigest": "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"}),
    ] {
        let (status, answer) = app
            .api(&mgmt, Method::POST, "/api/users", Some(body.clone()))
            .await;
        assert_eq!(
            err(status, &answer),
            (400, Some("user.password_not_supported")),
            "{body} -> {answer}"
        );
    }
    // None of the refused requests created a user.
    let list = call(&app, Some(&mgmt), Method::GET, "/api/users", None).await;
    assert_eq!((list.status, list.total()), (200, Some(2)), "{}", list.text);
}

#[tokio::test]
async fn list_users_searches_pages_and_counts() {
    let (app, _clock) = manual().await;
    let mgmt = app.management_token().await;
    let mut ids = std::collections::HashMap::new();
    for (name, email, display) in [
        ("alpha", "alpha@corp.example", "Alpha One"),
        ("bravo", "bravo@corp.example", "Bravo Two"),
        ("charlie", "charlie@corp.example", "Charlie Three"),
        ("delta", "delta@corp.example", "Delta Four"),
        ("echo", "echo@other.example", "Echo Five"),
    ] {
        let (status, user) = app
            .api(
                &mgmt,
                Method::POST,
                "/api/users",
                Some(json!({"username": name, "primaryEmail": email, "name": display})),
            )
            .await;
        assert_eq!(status, 200, "{user}");
        ids.insert(name, user["id"].as_str().expect("id").to_owned());
    }
    link(
        &app,
        &UserId::from(ids["alpha"].clone()),
        "acme",
        "acme-alpha",
    )
    .await;

    let names = |a: &Answer| -> Vec<String> {
        let mut v: Vec<String> = a
            .json()
            .as_array()
            .expect("array")
            .iter()
            .map(|u| u["username"].as_str().expect("username").to_owned())
            .collect();
        v.sort();
        v
    };
    let all = call(&app, Some(&mgmt), Method::GET, "/api/users", None).await;
    assert_eq!((all.status, all.total()), (200, Some(5)), "{}", all.text);
    assert_eq!(names(&all), ["alpha", "bravo", "charlie", "delta", "echo"]);
    for user in all.json().as_array().expect("array") {
        assert_eq!(keys(user), sorted(&USER_KEYS), "{user}");
        let expected = if user["username"] == "alpha" {
            json!({"acme": {"userId": "acme-alpha", "details": {}}})
        } else {
            json!({})
        };
        assert_eq!(user["identities"], expected, "{user}");
    }

    let mut seen = Vec::new();
    for (page, len) in [(1, 2), (2, 2), (3, 1), (4, 0)] {
        let answer = call(
            &app,
            Some(&mgmt),
            Method::GET,
            &format!("/api/users?page={page}&page_size=2"),
            None,
        )
        .await;
        assert_eq!(
            (answer.status, answer.total()),
            (200, Some(5)),
            "page {page}: {}",
            answer.text
        );
        let page_names = names(&answer);
        assert_eq!(page_names.len(), len, "page {page}: {page_names:?}");
        seen.extend(page_names);
    }
    seen.sort();
    assert_eq!(
        seen,
        ["alpha", "bravo", "charlie", "delta", "echo"],
        "pages overlap or miss users"
    );

    for (search, expected) in [
        ("BRAVO", vec!["bravo"]),
        ("corp.example", vec!["alpha", "bravo", "charlie", "delta"]),
        ("other.example", vec!["echo"]),
        ("two", vec!["bravo"]),
        (ids["delta"].as_str(), vec!["delta"]),
        ("nobody-here", vec![]),
    ] {
        let answer = call(
            &app,
            Some(&mgmt),
            Method::GET,
            &format!("/api/users?search={}", urlencode(search)),
            None,
        )
        .await;
        assert_eq!(answer.status, 200, "{search}: {}", answer.text);
        assert_eq!(names(&answer), expected, "search {search}");
        assert_eq!(
            answer.total(),
            Some(expected.len() as i64),
            "search {search}"
        );
    }
    let answer = call(
        &app,
        Some(&mgmt),
        Method::GET,
        "/api/users?search=corp.example&page=2&page_size=3",
        None,
    )
    .await;
    assert_eq!(
        (answer.status, answer.total(), names(&answer).len()),
        (200, Some(4), 1),
        "{}",
        answer.text
    );
    let answer = call(
        &app,
        Some(&mgmt),
        Method::GET,
        "/api/users?page_size=100",
        None,
    )
    .await;
    assert_eq!((answer.status, answer.total()), (200, Some(5)));

    for query in [
        "page=0",
        "page=-1",
        "page_size=0",
        "page_size=101",
        "page=2&page_size=1000",
        "page=abc",
        "page_size=ten",
    ] {
        let answer = call(
            &app,
            Some(&mgmt),
            Method::GET,
            &format!("/api/users?{query}"),
            None,
        )
        .await;
        assert_eq!(
            (answer.status, answer.code().as_deref()),
            (400, Some("guard.invalid_pagination")),
            "{query}: {}",
            answer.text
        );
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn get_and_delete_user_and_unknown_users() {
    let (app, _clock) = manual().await;
    let mgmt = app.management_token().await;
    let (_, user) = app
        .api(
            &mgmt,
            Method::POST,
            "/api/users",
            Some(json!({"username": "doomed"})),
        )
        .await;
    let id = user["id"].as_str().expect("id").to_owned();

    let deleted = call(
        &app,
        Some(&mgmt),
        Method::DELETE,
        &format!("/api/users/{id}"),
        None,
    )
    .await;
    assert_eq!((deleted.status, deleted.text.as_str()), (204, ""));
    for user_id in [id.as_str(), "no-such-user"] {
        for (m, path) in [
            (Method::GET, format!("/api/users/{user_id}")),
            (Method::DELETE, format!("/api/users/{user_id}")),
            (Method::GET, format!("/api/users/{user_id}/identities/acme")),
            (
                Method::DELETE,
                format!("/api/users/{user_id}/identities/acme"),
            ),
            (
                Method::GET,
                format!("/api/users/{user_id}/sso-identities/some-sso"),
            ),
            (Method::GET, format!("/api/users/{user_id}/all-identities")),
        ] {
            let (status, body) = app.api(&mgmt, m.clone(), &path, None).await;
            assert_eq!(
                err(status, &body),
                (404, Some("entity.not_found")),
                "{m} {path}: {body}"
            );
        }
        let (status, body) = app
            .api(
                &mgmt,
                Method::PUT,
                &format!("/api/users/{user_id}/identities/acme"),
                Some(json!({"userId": "x"})),
            )
            .await;
        assert_eq!(
            err(status, &body),
            (404, Some("entity.not_found")),
            "{body}"
        );
    }
    let list = call(&app, Some(&mgmt), Method::GET, "/api/users", None).await;
    assert_eq!(list.total(), Some(0));
}

// ----------------------------------------------------------------------------------------------
// Social identities
// ----------------------------------------------------------------------------------------------

#[tokio::test]
async fn get_identity_includes_the_token_secret_only_for_logto_yes_values() {
    let (app, clock) = manual().await;
    let mgmt = app.management_token().await;
    offline_connector(&app, &mgmt, "acme-conn", "acme").await;
    let user = app.user("alice").await;
    let secret = seed(&app, "acme-conn", &user, "acme", "acme-alice", full_set()).await;
    link(&app, &user, "globex", "globex-alice").await;
    clock.advance_secs(5);

    let base = format!("/api/users/{}/identities/acme", user);
    for value in ["1", "true", "TRUE", "Yes", "y", "yep", "yeah"] {
        let answer = call(
            &app,
            Some(&mgmt),
            Method::GET,
            &format!("{base}?includeTokenSecret={value}"),
            None,
        )
        .await;
        assert_eq!(answer.status, 200, "{value}: {}", answer.text);
        assert_absent(&answer.text, &PLANTED, "the identity answer");
        let body = answer.json();
        assert_eq!(
            keys(&body),
            sorted(&["identity", "tokenSecret"]),
            "{value}: {body}"
        );
        assert_eq!(
            body["identity"],
            json!({"userId": "acme-alice", "details": {"name": "acme-alice at acme"}})
        );
        let s = &body["tokenSecret"];
        assert_eq!(keys(s), sorted(&SOCIAL_SECRET_KEYS), "{s}");
        assert_eq!(s["tenantId"], "default");
        assert_eq!(s["id"], secret.id.as_str());
        assert_eq!(s["userId"], user.as_str());
        assert_eq!(s["type"], "federated_token_set");
        assert_eq!(
            s["metadata"],
            json!({"hasRefreshToken": true, "scope": "profile repo", "tokenType": "bearer", "expiresAt": T0_MS / 1000 + 3600})
        );
        // createdAt/updatedAt in milliseconds, expiresAt in seconds.
        assert_eq!(
            (s["createdAt"].as_i64(), s["updatedAt"].as_i64()),
            (Some(T0_MS), Some(T0_MS))
        );
        assert_eq!(
            (&s["connectorId"], &s["identityId"], &s["target"]),
            (&json!("acme-conn"), &json!("acme-alice"), &json!("acme"))
        );
    }
    for query in [
        "?includeTokenSecret=false",
        "?includeTokenSecret=0",
        "?includeTokenSecret=no",
        "?includeTokenSecret=",
        "?includeTokenSecret=2",
        "",
    ] {
        let answer = call(
            &app,
            Some(&mgmt),
            Method::GET,
            &format!("{base}{query}"),
            None,
        )
        .await;
        assert_eq!(answer.status, 200, "{query}: {}", answer.text);
        assert_eq!(
            keys(&answer.json()),
            ["identity"],
            "{query}: {}",
            answer.text
        );
    }
    // An identity without a stored set has no tokenSecret even when asked.
    let (status, globex) = app
        .api(
            &mgmt,
            Method::GET,
            &format!(
                "/api/users/{}/identities/globex?includeTokenSecret=true",
                user
            ),
            None,
        )
        .await;
    assert_eq!(
        (status, globex),
        (
            200,
            json!({"identity": {"userId": "globex-alice", "details": {}}})
        )
    );
    let (status, body) = app
        .api(
            &mgmt,
            Method::GET,
            &format!(
                "/api/users/{}/identities/initech?includeTokenSecret=1",
                user
            ),
            None,
        )
        .await;
    assert_eq!(
        err(status, &body),
        (404, Some("user.identity_not_exist")),
        "{body}"
    );
}

#[tokio::test]
async fn put_identity_creates_updates_and_replacing_the_account_deletes_its_token_set() {
    let (app, clock) = manual().await;
    let mgmt = app.management_token().await;
    offline_connector(&app, &mgmt, "acme-conn", "acme").await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let path = format!("/api/users/{}/identities/acme", alice);

    let (status, body) = app
        .api(
            &mgmt,
            Method::PUT,
            &path,
            Some(json!({"userId": "acme-1", "details": {"login": "alice"}})),
        )
        .await;
    assert_eq!(
        (status, &body),
        (
            201,
            &json!({"acme": {"userId": "acme-1", "details": {"login": "alice"}}})
        )
    );
    let identity = app
        .store()
        .get_social_identity(&alice, "acme")
        .await
        .expect("get")
        .expect("linked");
    let secret = app
        .state
        .token_sets
        .store_social(
            &strongroom_core::store::ConnectorId::from("acme-conn"),
            &identity,
            full_set(),
        )
        .await
        .expect("store");

    // The same provider account again: 200, new details, the token set stays.
    clock.advance_secs(1);
    let (status, body) = app
        .api(
            &mgmt,
            Method::PUT,
            &path,
            Some(json!({"userId": "acme-1", "details": {"login": "alice2"}})),
        )
        .await;
    assert_eq!(
        (status, &body),
        (
            200,
            &json!({"acme": {"userId": "acme-1", "details": {"login": "alice2"}}})
        )
    );
    let (_, got) = app
        .api(
            &mgmt,
            Method::GET,
            &format!("{path}?includeTokenSecret=true"),
            None,
        )
        .await;
    assert_eq!(got["tokenSecret"]["id"], secret.id.as_str(), "{got}");

    // Another user cannot take that provider account.
    let (status, body) = app
        .api(
            &mgmt,
            Method::PUT,
            &format!("/api/users/{}/identities/acme", bob),
            Some(json!({"userId": "acme-1"})),
        )
        .await;
    assert_eq!(
        err(status, &body),
        (422, Some("user.identity_already_in_use")),
        "{body}"
    );
    assert!(
        app.store()
            .get_social_identity(&bob, "acme")
            .await
            .expect("get")
            .is_none()
    );

    for bad in [
        json!({"userId": ""}),
        json!({"userId": "  "}),
        json!({}),
        json!({"userId": 7}),
    ] {
        let (status, body) = app.api(&mgmt, Method::PUT, &path, Some(bad.clone())).await;
        assert_eq!(
            err(status, &body),
            (400, Some("guard.invalid_input")),
            "{bad} -> {body}"
        );
    }

    // Another provider account replaces the identity; the old account's tokens go.
    let (status, body) = app
        .api(&mgmt, Method::PUT, &path, Some(json!({"userId": "acme-2"})))
        .await;
    assert_eq!(
        (status, &body),
        (200, &json!({"acme": {"userId": "acme-2", "details": {}}}))
    );
    let (status, got) = app
        .api(
            &mgmt,
            Method::GET,
            &format!("{path}?includeTokenSecret=true"),
            None,
        )
        .await;
    assert_eq!(
        (status, got),
        (
            200,
            json!({"identity": {"userId": "acme-2", "details": {}}})
        )
    );
    let alice_token = app.user_token(&alice, "openid identities").await;
    assert_deleted(
        &app,
        &mgmt,
        &alice,
        Some(&alice_token),
        "acme",
        &secret,
        "application",
        "identity_replaced",
    )
    .await;
}

#[tokio::test]
async fn delete_identity_answers_the_profile_and_removes_the_token_set() {
    let (app, _clock) = manual().await;
    let mgmt = app.management_token().await;
    offline_connector(&app, &mgmt, "acme-conn", "acme").await;
    let alice = app.user("alice").await;
    let secret = seed(&app, "acme-conn", &alice, "acme", "acme-alice", full_set()).await;
    link(&app, &alice, "globex", "globex-alice").await;
    let alice_token = app.user_token(&alice, "openid identities").await;
    let path = format!("/api/users/{}/identities/acme", alice);

    let answer = call(&app, Some(&mgmt), Method::DELETE, &path, None).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_absent(&answer.text, &PLANTED, "the profile");
    let profile = answer.json();
    assert_eq!(keys(&profile), sorted(&USER_KEYS));
    assert_eq!(
        (&profile["id"], &profile["username"]),
        (&json!(alice.as_str()), &json!("alice"))
    );
    assert_eq!(
        profile["identities"],
        json!({"globex": {"userId": "globex-alice", "details": {}}})
    );
    assert_deleted(
        &app,
        &mgmt,
        &alice,
        Some(&alice_token),
        "acme",
        &secret,
        "application",
        "identity_unlinked",
    )
    .await;

    for m in [Method::GET, Method::DELETE] {
        let (status, body) = app.api(&mgmt, m.clone(), &path, None).await;
        assert_eq!(
            err(status, &body),
            (404, Some("user.identity_not_exist")),
            "{m}: {body}"
        );
    }
    // The Management API may remove the last identity (the Account API may not).
    let (status, profile) = app
        .api(
            &mgmt,
            Method::DELETE,
            &format!("/api/users/{}/identities/globex", alice),
            None,
        )
        .await;
    assert_eq!((status, &profile["identities"]), (200, &json!({})));
}

#[tokio::test]
async fn sso_identity_with_and_without_its_token_secret() {
    let (app, _clock) = manual().await;
    let mgmt = app.management_token().await;
    let sso = sso_connector(&app, &mgmt, "Corp").await;
    let alice = app.user("alice").await;
    let secret = seed_sso(
        &app,
        &sso,
        &alice,
        "https://idp.corp.example",
        "sub-alice",
        full_set(),
    )
    .await;
    let identity = app
        .store()
        .get_sso_identity(&alice, &sso)
        .await
        .expect("get")
        .expect("linked");
    let path = format!("/api/users/{}/sso-identities/{}", alice, sso);

    let expected_identity = json!({
        "tenantId": "default", "id": identity.id, "userId": alice.as_str(), "issuer": "https://idp.corp.example",
        "identityId": "sub-alice", "detail": {"email": "sub-alice@corp.example"}, "createdAt": T0_MS, "updatedAt": T0_MS,
        "ssoConnectorId": sso.as_str(),
    });
    let answer = call(
        &app,
        Some(&mgmt),
        Method::GET,
        &format!("{path}?includeTokenSecret=yes"),
        None,
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_absent(&answer.text, &PLANTED, "the SSO identity answer");
    let body = answer.json();
    assert_eq!(keys(&body), sorted(&["ssoIdentity", "tokenSecret"]));
    assert_eq!(body["ssoIdentity"], expected_identity);
    let s = &body["tokenSecret"];
    assert_eq!(keys(s), sorted(&SSO_SECRET_KEYS), "{s}");
    assert_eq!(
        (&s["id"], &s["userId"], &s["type"]),
        (
            &json!(secret.id.as_str()),
            &json!(alice.as_str()),
            &json!("federated_token_set")
        )
    );
    assert_eq!(
        (&s["ssoConnectorId"], &s["issuer"], &s["identityId"]),
        (
            &json!(sso.as_str()),
            &json!("https://idp.corp.example"),
            &json!("sub-alice")
        )
    );
    assert_eq!(s["metadata"]["hasRefreshToken"], true);
    assert_eq!(
        (s["createdAt"].as_i64(), s["updatedAt"].as_i64()),
        (Some(T0_MS), Some(T0_MS))
    );

    for query in ["", "?includeTokenSecret=false", "?includeTokenSecret=0"] {
        let (status, body) = app
            .api(&mgmt, Method::GET, &format!("{path}{query}"), None)
            .await;
        assert_eq!(
            (status, &body),
            (200, &json!({"ssoIdentity": expected_identity})),
            "{query}"
        );
    }
    let (status, body) = app
        .api(
            &mgmt,
            Method::GET,
            &format!(
                "/api/users/{}/sso-identities/other-sso?includeTokenSecret=1",
                alice
            ),
            None,
        )
        .await;
    assert_eq!(
        err(status, &body),
        (404, Some("user.enterprise_sso_identity_not_exists")),
        "{body}"
    );
}

#[tokio::test]
async fn all_identities_includes_secrets_for_any_non_empty_flag_even_false() {
    let (app, _clock) = manual().await;
    let mgmt = app.management_token().await;
    offline_connector(&app, &mgmt, "acme-conn", "acme").await;
    let sso = sso_connector(&app, &mgmt, "Corp").await;
    let alice = app.user("alice").await;
    let social = seed(&app, "acme-conn", &alice, "acme", "acme-alice", full_set()).await;
    link(&app, &alice, "globex", "globex-alice").await;
    let sso_secret = seed_sso(
        &app,
        &sso,
        &alice,
        "https://idp.corp.example",
        "sub-alice",
        full_set(),
    )
    .await;
    let path = format!("/api/users/{}/all-identities", alice);

    for (query, included) in [
        ("", false),
        ("?includeTokenSecret=", false),
        ("?includeTokenSecret=false", true),
        ("?includeTokenSecret=0", true),
        ("?includeTokenSecret=true", true),
        ("?includeTokenSecret=1", true),
    ] {
        let answer = call(
            &app,
            Some(&mgmt),
            Method::GET,
            &format!("{path}{query}"),
            None,
        )
        .await;
        assert_eq!(answer.status, 200, "{query}: {}", answer.text);
        assert_absent(&answer.text, &PLANTED, "all-identities");
        let body = answer.json();
        assert_eq!(keys(&body), sorted(&["socialIdentities", "ssoIdentities"]));
        let socials = body["socialIdentities"].as_array().expect("array");
        assert_eq!(socials.len(), 2, "{body}");
        let acme = socials
            .iter()
            .find(|s| s["target"] == "acme")
            .expect("acme");
        let globex = socials
            .iter()
            .find(|s| s["target"] == "globex")
            .expect("globex");
        assert_eq!(
            acme["identity"],
            json!({"userId": "acme-alice", "details": {"name": "acme-alice at acme"}})
        );
        assert_eq!(
            globex,
            &json!({"target": "globex", "identity": {"userId": "globex-alice", "details": {}}}),
            "{query}"
        );
        let ssos = body["ssoIdentities"].as_array().expect("array");
        assert_eq!(ssos.len(), 1, "{body}");
        assert_eq!(ssos[0]["ssoConnectorId"], sso.as_str());
        assert_eq!(ssos[0]["ssoIdentity"]["identityId"], "sub-alice");
        if included {
            assert_eq!(
                keys(acme),
                sorted(&["target", "identity", "tokenSecret"]),
                "{query}"
            );
            assert_eq!(keys(&acme["tokenSecret"]), sorted(&SOCIAL_SECRET_KEYS));
            assert_eq!(acme["tokenSecret"]["id"], social.id.as_str());
            assert_eq!(
                keys(&ssos[0]),
                sorted(&["ssoConnectorId", "ssoIdentity", "tokenSecret"]),
                "{query}"
            );
            assert_eq!(keys(&ssos[0]["tokenSecret"]), sorted(&SSO_SECRET_KEYS));
            assert_eq!(ssos[0]["tokenSecret"]["id"], sso_secret.id.as_str());
        } else {
            assert_eq!(keys(acme), sorted(&["target", "identity"]), "{query}");
            assert_eq!(
                keys(&ssos[0]),
                sorted(&["ssoConnectorId", "ssoIdentity"]),
                "{query}"
            );
        }
    }
}

// ----------------------------------------------------------------------------------------------
// Token secrets and cascades
// ----------------------------------------------------------------------------------------------

/// After a deletion: the secret row is gone, the Account API (when the user can still call it)
/// finds no token at `target` on both prefixes, and the audit trail holds exactly one
/// `token.delete` of the secret, by `actor_type`, for `reason`, without token material.
#[allow(clippy::too_many_arguments)]
async fn assert_deleted(
    app: &TestApp,
    mgmt: &str,
    user: &UserId,
    user_token: Option<&str>,
    target: &str,
    secret: &SecretRow,
    actor_type: &str,
    reason: &str,
) {
    assert!(
        app.store()
            .get_secret(&secret.id)
            .await
            .expect("get")
            .is_none(),
        "the secret row survived"
    );
    if let Some(token) = user_token {
        for prefix in ["/api/my-account", "/my-account"] {
            let (status, body) = app
                .api(
                    token,
                    Method::GET,
                    &format!("{prefix}/identities/{target}/access-token"),
                    None,
                )
                .await;
            assert_eq!(
                err(status, &body),
                (404, Some("secrets.third_party_token_set.token_not_found")),
                "{prefix}: {body}"
            );
        }
    }
    let events = audit(app, mgmt, &format!("userId={}&action=token.delete", user)).await;
    let deletions: Vec<&Value> = events
        .iter()
        .filter(|e| e["secretId"] == secret.id.as_str())
        .collect();
    assert_eq!(deletions.len(), 1, "{events:#?}");
    let e = deletions[0];
    assert_eq!(
        (&e["outcome"], &e["actorType"], &e["target"]),
        (&json!("success"), &json!(actor_type), &json!(target)),
        "{e}"
    );
    assert_eq!(e["detail"]["reason"], reason, "{e}");
    assert_eq!(e["userId"], user.as_str());
    assert_absent(
        &Value::Array(events).to_string(),
        &PLANTED,
        "the audit trail",
    );
}

#[tokio::test]
async fn delete_secret_by_id_under_both_spellings() {
    let (app, _clock) = manual().await;
    let mgmt = app.management_token().await;
    offline_connector(&app, &mgmt, "acme-conn", "acme").await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let a = seed(&app, "acme-conn", &alice, "acme", "acme-alice", full_set()).await;
    let b = seed(&app, "acme-conn", &bob, "acme", "acme-bob", full_set()).await;
    let alice_token = app.user_token(&alice, "openid identities").await;
    let bob_token = app.user_token(&bob, "openid identities").await;

    for (prefix, secret, user, token) in [
        ("/api/secrets", &a, &alice, &alice_token),
        ("/api/secret", &b, &bob, &bob_token),
    ] {
        let answer = call(
            &app,
            Some(&mgmt),
            Method::DELETE,
            &format!("{prefix}/{}", secret.id.as_str()),
            None,
        )
        .await;
        assert_eq!((answer.status, answer.text.as_str()), (204, ""), "{prefix}");
        for again in ["/api/secrets", "/api/secret"] {
            let (status, body) = app
                .api(
                    &mgmt,
                    Method::DELETE,
                    &format!("{again}/{}", secret.id.as_str()),
                    None,
                )
                .await;
            assert_eq!(
                err(status, &body),
                (404, Some("entity.not_found")),
                "{again}: {body}"
            );
        }
        // The identity stays, without a token secret.
        let (status, identity) = app
            .api(
                &mgmt,
                Method::GET,
                &format!(
                    "/api/users/{}/identities/acme?includeTokenSecret=true",
                    user
                ),
                None,
            )
            .await;
        assert_eq!(status, 200);
        assert_eq!(keys(&identity), ["identity"], "{identity}");
        assert_deleted(
            &app,
            &mgmt,
            user,
            Some(token),
            "acme",
            secret,
            "application",
            "deleted",
        )
        .await;
    }
    let (status, body) = app
        .api(&mgmt, Method::DELETE, "/api/secrets/no-such-secret", None)
        .await;
    assert_eq!(
        err(status, &body),
        (404, Some("entity.not_found")),
        "{body}"
    );

    // An SSO token set too; its SSO identity stays.
    let sso = sso_connector(&app, &mgmt, "Corp").await;
    let sso_secret = seed_sso(
        &app,
        &sso,
        &alice,
        "https://idp.corp.example",
        "sub-alice",
        full_set(),
    )
    .await;
    let sso_path = format!(
        "/api/my-account/sso-identities/{}/access-token",
        sso.as_str()
    );
    let (status, _) = app.api(&alice_token, Method::GET, &sso_path, None).await;
    assert_eq!(status, 200);
    let (status, _) = app
        .api(
            &mgmt,
            Method::DELETE,
            &format!("/api/secrets/{}", sso_secret.id.as_str()),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, body) = app.api(&alice_token, Method::GET, &sso_path, None).await;
    assert_eq!(
        err(status, &body),
        (404, Some("secrets.third_party_token_set.token_not_found")),
        "{body}"
    );
    let (status, body) = app
        .api(
            &mgmt,
            Method::GET,
            &format!(
                "/api/users/{}/sso-identities/{}?includeTokenSecret=true",
                alice,
                sso.as_str()
            ),
            None,
        )
        .await;
    assert_eq!(
        (status, keys(&body)),
        (200, vec!["ssoIdentity".to_owned()]),
        "{body}"
    );
    assert_deleted(
        &app,
        &mgmt,
        &alice,
        None,
        sso.as_str(),
        &sso_secret,
        "application",
        "deleted",
    )
    .await;
}

#[tokio::test]
async fn cascade_unlink_through_the_management_api() {
    let (app, _clock) = manual().await;
    let mgmt = app.management_token().await;
    offline_connector(&app, &mgmt, "acme-conn", "acme").await;
    let alice = app.user("alice").await;
    let secret = seed(&app, "acme-conn", &alice, "acme", "acme-alice", full_set()).await;
    let token = app.user_token(&alice, "openid identities").await;
    let (status, _) = app
        .api(
            &mgmt,
            Method::DELETE,
            &format!("/api/users/{}/identities/acme", alice),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_deleted(
        &app,
        &mgmt,
        &alice,
        Some(&token),
        "acme",
        &secret,
        "application",
        "identity_unlinked",
    )
    .await;
}

#[tokio::test]
async fn cascade_unlink_through_the_account_api() {
    let (app, _clock) = manual().await;
    let mgmt = app.management_token().await;
    offline_connector(&app, &mgmt, "acme-conn", "acme").await;
    let alice = app.user("alice").await;
    let secret = seed(&app, "acme-conn", &alice, "acme", "acme-alice", full_set()).await;
    link(&app, &alice, "globex", "globex-alice").await;
    let token = app.user_token(&alice, "openid identities").await;
    let answer = call(
        &app,
        Some(&token),
        Method::DELETE,
        "/api/my-account/identities/acme",
        None,
    )
    .await;
    assert_eq!((answer.status, answer.text.as_str()), (204, ""));
    assert_deleted(
        &app,
        &mgmt,
        &alice,
        Some(&token),
        "acme",
        &secret,
        "user",
        "identity_unlinked",
    )
    .await;
    assert!(
        app.store()
            .get_social_identity(&alice, "globex")
            .await
            .expect("get")
            .is_some()
    );
}

#[tokio::test]
async fn cascade_user_deletion() {
    let (app, _clock) = manual().await;
    let mgmt = app.management_token().await;
    offline_connector(&app, &mgmt, "acme-conn", "acme").await;
    let sso = sso_connector(&app, &mgmt, "Corp").await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let social = seed(&app, "acme-conn", &alice, "acme", "acme-alice", full_set()).await;
    let sso_secret = seed_sso(
        &app,
        &sso,
        &alice,
        "https://idp.corp.example",
        "sub-alice",
        full_set(),
    )
    .await;
    let bobs = seed(&app, "acme-conn", &bob, "acme", "acme-bob", full_set()).await;
    let token = app.user_token(&alice, "openid identities").await;

    let answer = call(
        &app,
        Some(&mgmt),
        Method::DELETE,
        &format!("/api/users/{}", alice),
        None,
    )
    .await;
    assert_eq!(answer.status, 204, "{}", answer.text);
    // The deleted user's token cannot call the Account API any more.
    let (status, body) = app
        .api(
            &token,
            Method::GET,
            "/api/my-account/identities/acme/access-token",
            None,
        )
        .await;
    assert_eq!(
        err(status, &body),
        (401, Some("auth.unauthorized")),
        "{body}"
    );
    assert_deleted(
        &app,
        &mgmt,
        &alice,
        None,
        "acme",
        &social,
        "application",
        "user_deleted",
    )
    .await;
    assert_deleted(
        &app,
        &mgmt,
        &alice,
        None,
        sso.as_str(),
        &sso_secret,
        "application",
        "user_deleted",
    )
    .await;
    assert!(
        app.store()
            .get_secret(&bobs.id)
            .await
            .expect("get")
            .is_some(),
        "another user's set went too"
    );
}

#[tokio::test]
async fn cascade_connector_deletion() {
    let (app, _clock) = manual().await;
    let mgmt = app.management_token().await;
    offline_connector(&app, &mgmt, "acme-conn", "acme").await;
    offline_connector(&app, &mgmt, "globex-conn", "globex").await;
    let alice = app.user("alice").await;
    let secret = seed(&app, "acme-conn", &alice, "acme", "acme-alice", full_set()).await;
    let other = seed(
        &app,
        "globex-conn",
        &alice,
        "globex",
        "globex-alice",
        full_set(),
    )
    .await;
    let token = app.user_token(&alice, "openid identities").await;
    let (status, _) = app
        .api(&mgmt, Method::DELETE, "/api/connectors/acme-conn", None)
        .await;
    assert_eq!(status, 204);
    assert_deleted(
        &app,
        &mgmt,
        &alice,
        Some(&token),
        "acme",
        &secret,
        "application",
        "connector_deleted",
    )
    .await;
    assert!(
        app.store()
            .get_social_identity(&alice, "acme")
            .await
            .expect("get")
            .is_some(),
        "the identity stays, as in Logto"
    );
    let (status, _) = app
        .api(
            &token,
            Method::GET,
            "/api/my-account/identities/globex/access-token",
            None,
        )
        .await;
    assert_eq!(status, 200, "another connector's set went too");
    assert!(
        app.store()
            .get_secret(&other.id)
            .await
            .expect("get")
            .is_some()
    );
}

#[tokio::test]
async fn cascade_token_storage_switched_off() {
    let (app, _clock) = manual().await;
    let mgmt = app.management_token().await;
    offline_connector(&app, &mgmt, "acme-conn", "acme").await;
    let alice = app.user("alice").await;
    let secret = seed(&app, "acme-conn", &alice, "acme", "acme-alice", full_set()).await;
    let token = app.user_token(&alice, "openid identities").await;
    let (status, body) = app
        .api(
            &mgmt,
            Method::PATCH,
            "/api/connectors/acme-conn",
            Some(json!({"enableTokenStorage": false})),
        )
        .await;
    assert_eq!(
        (status, body["enableTokenStorage"].as_bool()),
        (200, Some(false)),
        "{body}"
    );
    assert_deleted(
        &app,
        &mgmt,
        &alice,
        Some(&token),
        "acme",
        &secret,
        "application",
        "token_storage_disabled",
    )
    .await;
    assert!(
        app.store()
            .get_social_identity(&alice, "acme")
            .await
            .expect("get")
            .is_some()
    );

    // The same for an enterprise SSO connector.
    let sso = sso_connector(&app, &mgmt, "Corp").await;
    let sso_secret = seed_sso(
        &app,
        &sso,
        &alice,
        "https://idp.corp.example",
        "sub-alice",
        full_set(),
    )
    .await;
    let sso_path = format!("/my-account/sso-identities/{}/access-token", sso.as_str());
    let (status, _) = app.api(&token, Method::GET, &sso_path, None).await;
    assert_eq!(status, 200);
    let (status, body) = app
        .api(
            &mgmt,
            Method::PATCH,
            &format!("/api/sso-connectors/{}", sso.as_str()),
            Some(json!({"enableTokenStorage": false})),
        )
        .await;
    assert_eq!(
        (status, body["enableTokenStorage"].as_bool()),
        (200, Some(false)),
        "{body}"
    );
    let (status, body) = app.api(&token, Method::GET, &sso_path, None).await;
    assert_eq!(
        err(status, &body),
        (404, Some("secrets.third_party_token_set.token_not_found")),
        "{body}"
    );
    assert_deleted(
        &app,
        &mgmt,
        &alice,
        None,
        sso.as_str(),
        &sso_secret,
        "application",
        "token_storage_disabled",
    )
    .await;
    assert!(
        app.store()
            .get_sso_identity(&alice, &sso)
            .await
            .expect("get")
            .is_some()
    );
}

// ----------------------------------------------------------------------------------------------
// Revocation at the provider
// ----------------------------------------------------------------------------------------------

#[tokio::test]
async fn deletions_revoke_at_the_oauth2_revocation_endpoint() {
    let (app, _clock) = manual().await;
    let mgmt = app.management_token().await;
    let provider = Provider::start().await;
    oauth2_connector(&app, &mgmt, "acme-conn", "acme", &provider, true, true).await;
    let (alice, bob, carol) = (
        app.user("alice").await,
        app.user("bob").await,
        app.user("carol").await,
    );
    let a = seed(
        &app,
        "acme-conn",
        &alice,
        "acme",
        "acme-alice",
        tokens(
            "PLANTED-a-access",
            Some("PLANTED-a-refresh"),
            None,
            Some(3600),
            None,
            None,
        ),
    )
    .await;
    // Without a refresh token, the access token is what gets revoked.
    let b = seed(
        &app,
        "acme-conn",
        &bob,
        "acme",
        "acme-bob",
        tokens("PLANTED-b-access", None, None, Some(3600), None, None),
    )
    .await;
    let c = seed(
        &app,
        "acme-conn",
        &carol,
        "acme",
        "acme-carol",
        tokens(
            "PLANTED-c-access",
            Some("PLANTED-c-refresh"),
            None,
            None,
            None,
            None,
        ),
    )
    .await;

    let (status, _) = app
        .api(
            &mgmt,
            Method::DELETE,
            &format!("/api/users/{}/identities/acme", alice),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .api(&mgmt, Method::DELETE, &format!("/api/users/{}", bob), None)
        .await;
    assert_eq!(status, 204);
    // The connector's config is gone with it, yet its sets are revoked.
    let (status, _) = app
        .api(&mgmt, Method::DELETE, "/api/connectors/acme-conn", None)
        .await;
    assert_eq!(status, 204);

    for (user, secret, revoked) in [
        (&alice, &a, "PLANTED-a-refresh"),
        (&bob, &b, "PLANTED-b-access"),
        (&carol, &c, "PLANTED-c-refresh"),
    ] {
        let request = provider.wait_for_revocation(&app, revoked).await;
        assert_eq!(
            request.get("client_id").map(String::as_str),
            Some(CLIENT_ID),
            "{request:?}"
        );
        assert_eq!(
            request.get("client_secret").map(String::as_str),
            Some(CLIENT_SECRET),
            "{request:?}"
        );
        let events = wait_for_audit(
            &app,
            &mgmt,
            &format!("userId={}&action=token.revoke", user),
            |e| is_event(e, "token.revoke", "success", secret.id.as_str()),
        )
        .await;
        assert_eq!(events.len(), 1, "{events:#?}");
        assert_absent(
            &Value::Array(events).to_string(),
            &["PLANTED"],
            "the audit trail",
        );
    }
    // Each token was revoked once; nothing else was revoked.
    assert_eq!(provider.received("/oauth/revoke").await.len(), 3);
}

#[tokio::test]
async fn oidc_and_sso_connectors_revoke_at_the_discovered_revocation_endpoint() {
    let (app, _clock) = manual().await;
    let mgmt = app.management_token().await;
    let op = MockServer::start().await;
    let issuer = op.uri();
    Mock::given(method("GET"))
        .and(path("/.well-known/openid-configuration"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/auth"),
            "token_endpoint": format!("{issuer}/token"),
            "userinfo_endpoint": format!("{issuer}/me"),
            "jwks_uri": format!("{issuer}/jwks"),
            "revocation_endpoint": format!("{issuer}/token/revocation"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        })))
        .mount(&op)
        .await;
    Mock::given(method("POST"))
        .and(path("/token/revocation"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&op)
        .await;
    let config = json!({"issuer": issuer, "clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET});
    connector(&app, &mgmt, "op-conn", "oidc", None, config, true).await;
    let alice = app.user("alice").await;
    let secret = seed(&app, "op-conn", &alice, "oidc", "sub-alice", full_set()).await;

    let (status, _) = app
        .api(
            &mgmt,
            Method::DELETE,
            &format!("/api/secret/{}", secret.id.as_str()),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    let request = wait_for_op_revocation(&app, &op, REFRESH).await;
    assert_eq!(
        request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok()),
        Some(basic.as_str())
    );
    wait_for_audit(
        &app,
        &mgmt,
        &format!("secretId={}", secret.id.as_str()),
        |e| is_event(e, "token.revoke", "success", secret.id.as_str()),
    )
    .await;
    assert_deleted(
        &app,
        &mgmt,
        &alice,
        None,
        "oidc",
        &secret,
        "application",
        "deleted",
    )
    .await;

    // An enterprise SSO connector at the same provider: deleting it revokes its users' sets.
    let (status, created) = app
        .api(
            &mgmt,
            Method::POST,
            "/api/sso-connectors",
            Some(json!({"providerName": "OIDC", "connectorName": "Corp", "enableTokenStorage": true,
                "config": {"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET, "issuer": issuer, "scope": "openid offline_access"}})),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let sso = strongroom_core::store::SsoConnectorId::from(
        created["id"].as_str().expect("id").to_owned(),
    );
    let sso_secret = seed_sso(
        &app,
        &sso,
        &alice,
        &issuer,
        "sub-alice",
        tokens(
            "PLANTED-sso-at",
            Some("PLANTED-sso-rt"),
            None,
            Some(60),
            None,
            None,
        ),
    )
    .await;
    let (status, _) = app
        .api(
            &mgmt,
            Method::DELETE,
            &format!("/api/sso-connectors/{}", sso.as_str()),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let request = wait_for_op_revocation(&app, &op, "PLANTED-sso-rt").await;
    assert_eq!(
        request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok()),
        Some(basic.as_str())
    );
    wait_for_audit(
        &app,
        &mgmt,
        &format!("secretId={}", sso_secret.id.as_str()),
        |e| is_event(e, "token.revoke", "success", sso_secret.id.as_str()),
    )
    .await;
    assert_deleted(
        &app,
        &mgmt,
        &alice,
        None,
        sso.as_str(),
        &sso_secret,
        "application",
        "connector_deleted",
    )
    .await;
}

/// The request with which `app`'s background revocations (waited for) revoked `token` at the
/// OpenID provider.
async fn wait_for_op_revocation(app: &TestApp, op: &MockServer, token: &str) -> wiremock::Request {
    app.state.settled().await;
    op.received_requests()
        .await
        .expect("recording")
        .into_iter()
        .find(|r| {
            r.url.path() == "/token/revocation"
                && url::form_urlencoded::parse(&r.body).any(|(k, v)| k == "token" && v == token)
        })
        .unwrap_or_else(|| panic!("the OpenID provider never received the revocation of {token:?}"))
}

#[tokio::test]
async fn revocation_outcomes_not_supported_and_provider_unavailable_are_audited() {
    let (app, _clock) = manual().await;
    let mgmt = app.management_token().await;
    offline_connector(&app, &mgmt, "acme-conn", "acme").await;
    let down = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/revoke"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&down)
        .await;
    let mut config = json!({
        "authorizationEndpoint": format!("{}/authorize", down.uri()),
        "tokenEndpoint": format!("{}/token", down.uri()),
        "userInfoEndpoint": format!("{}/me", down.uri()),
        "revocationEndpoint": format!("{}/revoke", down.uri()),
        "clientId": CLIENT_ID,
        "clientSecret": CLIENT_SECRET,
    });
    config["tokenEndpointResponseType"] = json!("json");
    connector(
        &app,
        &mgmt,
        "down-conn",
        "oauth2",
        Some("down"),
        config,
        true,
    )
    .await;
    let alice = app.user("alice").await;
    let unsupported = seed(&app, "acme-conn", &alice, "acme", "acme-alice", full_set()).await;
    let unavailable = seed(&app, "down-conn", &alice, "down", "down-alice", full_set()).await;

    for secret in [&unsupported, &unavailable] {
        let (status, _) = app
            .api(
                &mgmt,
                Method::DELETE,
                &format!("/api/secrets/{}", secret.id.as_str()),
                None,
            )
            .await;
        assert_eq!(
            status, 204,
            "a failing revocation must not fail the deletion"
        );
    }
    wait_for_audit(&app, &mgmt, "action=token.revoke", |e| {
        is_event(e, "token.revoke", "not_supported", unsupported.id.as_str())
    })
    .await;
    wait_for_audit(&app, &mgmt, "action=token.revoke", |e| {
        is_event(
            e,
            "token.revoke",
            "provider_unavailable",
            unavailable.id.as_str(),
        )
    })
    .await;
    assert_eq!(
        down.received_requests()
            .await
            .expect("recording")
            .iter()
            .filter(|r| r.url.path() == "/revoke")
            .count(),
        1
    );
}

// ----------------------------------------------------------------------------------------------
// The audit API
// ----------------------------------------------------------------------------------------------

#[tokio::test]
async fn audit_events_page_filter_and_never_hold_tokens() {
    let (app, clock) = manual().await;
    let mgmt = app.management_token().await;
    offline_connector(&app, &mgmt, "acme-conn", "acme").await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let secret = seed(&app, "acme-conn", &alice, "acme", "acme-alice", full_set()).await;
    let bobs = seed(&app, "acme-conn", &bob, "acme", "acme-bob", full_set()).await;
    let alice_token = app.user_token(&alice, "openid identities").await;
    let bob_token = app.user_token(&bob, "openid identities").await;

    for i in 1..=3 {
        clock.advance_secs(1);
        let (status, body) = app
            .api(
                &alice_token,
                Method::GET,
                "/api/my-account/identities/acme/access-token",
                None,
            )
            .await;
        assert_eq!((status, body["access_token"].as_str()), (200, Some(ACCESS)));
        // Reads of one batch are folded into one event: let this one be written on its own.
        wait_for_audit(
            &app,
            &mgmt,
            &format!("userId={}&action=token.read", alice),
            |e| e["occurredAt"] == T0_MS + 1000 * i,
        )
        .await;
    }
    clock.advance_secs(1);
    let (status, _) = app
        .api(
            &alice_token,
            Method::GET,
            "/my-account/identities/globex/access-token",
            None,
        )
        .await;
    assert_eq!(status, 404);
    clock.advance_secs(1);
    let (status, _) = app
        .api(
            &bob_token,
            Method::GET,
            "/api/my-account/identities/acme/access-token",
            None,
        )
        .await;
    assert_eq!(status, 200);
    // Reads are written in batches: wait for the last one.
    wait_for_audit(
        &app,
        &mgmt,
        &format!("userId={}&action=token.read", alice),
        |e| e["outcome"] == "token_not_found",
    )
    .await;
    wait_for_audit(
        &app,
        &mgmt,
        &format!("userId={}&action=token.read", bob),
        |e| e["outcome"] == "success",
    )
    .await;
    clock.advance_secs(1);
    let (status, _) = app
        .api(
            &mgmt,
            Method::DELETE,
            &format!("/api/secrets/{}", secret.id.as_str()),
            None,
        )
        .await;
    assert_eq!(status, 204);
    wait_for_audit(&app, &mgmt, "action=token.revoke", |e| {
        e["secretId"] == secret.id.as_str()
    })
    .await;

    let reads = call(
        &app,
        Some(&mgmt),
        Method::GET,
        &format!("/api/audit-events?userId={}&action=token.read", alice),
        None,
    )
    .await;
    assert_eq!(
        (reads.status, reads.total()),
        (200, Some(4)),
        "{}",
        reads.text
    );
    let reads = reads.json();
    let reads = reads.as_array().expect("array");
    // Newest first.
    assert_eq!(reads[0]["outcome"], "token_not_found");
    assert_eq!(
        (&reads[0]["target"], &reads[0]["secretId"]),
        (&json!("globex"), &Value::Null)
    );
    for read in &reads[1..] {
        assert_eq!(
            keys(read),
            sorted(&[
                "id",
                "occurredAt",
                "actorType",
                "actorId",
                "action",
                "outcome",
                "userId",
                "secretId",
                "target",
                "applicationId",
                "detail",
                "requestId"
            ])
        );
        assert_eq!(
            (&read["actorType"], &read["actorId"]),
            (&json!("user"), &json!(alice.as_str()))
        );
        assert_eq!(
            (&read["outcome"], &read["secretId"], &read["target"]),
            (
                &json!("success"),
                &json!(secret.id.as_str()),
                &json!("acme")
            )
        );
    }
    let times: Vec<i64> = reads
        .iter()
        .map(|e| e["occurredAt"].as_i64().expect("occurredAt"))
        .collect();
    assert_eq!(
        times,
        [T0_MS + 4000, T0_MS + 3000, T0_MS + 2000, T0_MS + 1000]
    );

    // Paging.
    let mut ids = Vec::new();
    for page in 1..=5 {
        let answer = call(
            &app,
            Some(&mgmt),
            Method::GET,
            &format!(
                "/api/audit-events?userId={}&action=token.read&page={page}&page_size=1",
                alice
            ),
            None,
        )
        .await;
        assert_eq!(
            (answer.status, answer.total()),
            (200, Some(4)),
            "{}",
            answer.text
        );
        let events = answer.json();
        let events = events.as_array().expect("array");
        assert_eq!(events.len(), usize::from(page <= 4), "page {page}");
        ids.extend(
            events
                .iter()
                .map(|e| e["id"].as_str().expect("id").to_owned()),
        );
    }
    let expected: Vec<String> = reads
        .iter()
        .map(|e| e["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(ids, expected);

    // Filters.
    let by_secret = audit(&app, &mgmt, &format!("secretId={}", secret.id.as_str())).await;
    let mut actions: Vec<&str> = by_secret
        .iter()
        .map(|e| e["action"].as_str().expect("action"))
        .collect();
    actions.sort();
    assert_eq!(
        actions,
        [
            "token.delete",
            "token.read",
            "token.read",
            "token.read",
            "token.revoke"
        ],
        "{by_secret:#?}"
    );
    let deletes = call(
        &app,
        Some(&mgmt),
        Method::GET,
        "/api/audit-events?action=token.delete",
        None,
    )
    .await;
    assert_eq!(deletes.total(), Some(1), "{}", deletes.text);
    assert_eq!(deletes.json()[0]["actorType"], "application");
    let bobs_events = audit(&app, &mgmt, &format!("userId={}", bob)).await;
    assert_eq!(bobs_events.len(), 1, "{bobs_events:#?}");
    assert_eq!(bobs_events[0]["secretId"], bobs.id.as_str());
    let nobody = call(
        &app,
        Some(&mgmt),
        Method::GET,
        "/api/audit-events?userId=nobody&secretId=none",
        None,
    )
    .await;
    assert_eq!(
        (nobody.status, nobody.total(), nobody.json()),
        (200, Some(0), json!([]))
    );
    let combined = call(
        &app,
        Some(&mgmt),
        Method::GET,
        &format!(
            "/api/audit-events?userId={}&secretId={}",
            bob,
            secret.id.as_str()
        ),
        None,
    )
    .await;
    assert_eq!(combined.total(), Some(0), "filters combine with AND");
    for query in ["page=0", "page_size=0", "page_size=101", "page=x"] {
        let answer = call(
            &app,
            Some(&mgmt),
            Method::GET,
            &format!("/api/audit-events?{query}"),
            None,
        )
        .await;
        assert_eq!(
            (answer.status, answer.code().as_deref()),
            (400, Some("guard.invalid_pagination")),
            "{query}: {}",
            answer.text
        );
    }

    // No token value in any event.
    let everything = call(
        &app,
        Some(&mgmt),
        Method::GET,
        "/api/audit-events?page_size=100",
        None,
    )
    .await;
    assert_eq!(everything.total(), Some(7), "{}", everything.text);
    assert_absent(&everything.text, &PLANTED, "the audit trail");
}

// ----------------------------------------------------------------------------------------------
// Who may call the Management API
// ----------------------------------------------------------------------------------------------

#[tokio::test]
async fn management_routes_refuse_user_tokens_and_missing_or_unknown_bearers() {
    let (app, _clock) = manual().await;
    let mgmt = app.management_token().await;
    offline_connector(&app, &mgmt, "acme-conn", "acme").await;
    let sso = sso_connector(&app, &mgmt, "Corp").await;
    let alice = app.user("alice").await;
    let secret = seed(&app, "acme-conn", &alice, "acme", "acme-alice", full_set()).await;
    let u = alice.as_str();
    let s = secret.id.as_str();
    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/api/users".into(), None),
        (
            Method::POST,
            "/api/users".into(),
            Some(json!({"username": "intruder"})),
        ),
        (Method::GET, format!("/api/users/{u}"), None),
        (Method::DELETE, format!("/api/users/{u}"), None),
        (
            Method::GET,
            format!("/api/users/{u}/identities/acme?includeTokenSecret=true"),
            None,
        ),
        (
            Method::PUT,
            format!("/api/users/{u}/identities/acme"),
            Some(json!({"userId": "intruder"})),
        ),
        (
            Method::DELETE,
            format!("/api/users/{u}/identities/acme"),
            None,
        ),
        (
            Method::GET,
            format!(
                "/api/users/{u}/sso-identities/{}?includeTokenSecret=true",
                sso.as_str()
            ),
            None,
        ),
        (
            Method::GET,
            format!("/api/users/{u}/all-identities?includeTokenSecret=true"),
            None,
        ),
        (Method::DELETE, format!("/api/secrets/{s}"), None),
        (Method::DELETE, format!("/api/secret/{s}"), None),
        (Method::GET, "/api/audit-events".into(), None),
        (Method::GET, "/api/connectors".into(), None),
        (
            Method::PATCH,
            "/api/connectors/acme-conn".into(),
            Some(json!({"enableTokenStorage": false})),
        ),
        (Method::DELETE, "/api/connectors/acme-conn".into(), None),
        (Method::GET, "/api/sso-connectors".into(), None),
        (Method::GET, "/api/applications".into(), None),
    ];
    let scopes = [
        "openid",
        "openid identities",
        "openid profile email offline_access identities",
        "all",
    ];
    let mut user_tokens = Vec::new();
    for scope in scopes {
        user_tokens.push(app.user_token(&alice, scope).await);
    }
    for (m, path, body) in &routes {
        for (scope, token) in scopes.iter().zip(&user_tokens) {
            let answer = call(&app, Some(token), m.clone(), path, body.clone()).await;
            assert_eq!(
                (answer.status, answer.code().as_deref()),
                (403, Some("auth.forbidden")),
                "{m} {path} ({scope}): {}",
                answer.text
            );
            assert_absent(&answer.text, &PLANTED, "a refusal");
        }
        let answer = call(&app, None, m.clone(), path, body.clone()).await;
        assert_eq!(
            (answer.status, answer.code().as_deref()),
            (401, Some("auth.authorization_header_missing")),
            "{m} {path}: {}",
            answer.text
        );
        let answer = call(
            &app,
            Some("not-a-token-anyone-issued"),
            m.clone(),
            path,
            body.clone(),
        )
        .await;
        assert_eq!(
            (answer.status, answer.code().as_deref()),
            (401, Some("auth.unauthorized")),
            "{m} {path}: {}",
            answer.text
        );
        let answer = call(&app, Some(""), m.clone(), path, body.clone()).await;
        assert_eq!(
            answer.status, 401,
            "{m} {path} with an empty bearer: {}",
            answer.text
        );
    }
    // Nothing was changed by the refused calls.
    assert!(
        app.store()
            .get_secret(&secret.id)
            .await
            .expect("get")
            .is_some()
    );
    let identity = app
        .store()
        .get_social_identity(&alice, "acme")
        .await
        .expect("get")
        .expect("identity");
    assert_eq!(identity.identity_id, "acme-alice");
    let users = call(&app, Some(&mgmt), Method::GET, "/api/users", None).await;
    assert_eq!(users.total(), Some(1));
    let (status, conn) = app
        .api(&mgmt, Method::GET, "/api/connectors/acme-conn", None)
        .await;
    assert_eq!(
        (status, conn["enableTokenStorage"].as_bool()),
        (200, Some(true))
    );
}

/// A GitHub App's user token expires after 8 hours, its refresh token after six months. When
/// its set is deleted later, GitHub no longer knows the access token (404) while the grant lives
/// on: the refresh token is traded for a live access token, which ends the grant; and a 404 is
/// never audited as a success.
#[tokio::test]
async fn github_app_grants_are_revoked_with_a_fresh_access_token_and_a_404_is_no_success() {
    let (app, clock) = manual().await;
    let mgmt = app.management_token().await;
    let gh = MockServer::start().await;
    let config = json!({"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET,
                        "baseUrl": gh.uri(), "apiBaseUrl": gh.uri()});
    connector(&app, &mgmt, "gh-app", "github", None, config, true).await;
    Mock::given(method("POST"))
        .and(path("/login/oauth/access_token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "ghu_fresh", "expires_in": 28800, "refresh_token": "ghr_next",
            "refresh_token_expires_in": 15897600, "token_type": "bearer", "scope": ""})))
        .expect(1)
        .mount(&gh)
        .await;
    let grant = format!("/applications/{CLIENT_ID}/grant");
    Mock::given(method("DELETE"))
        .and(path(grant.as_str()))
        .and(wiremock::matchers::body_json(
            json!({"access_token": "ghu_fresh"}),
        ))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&gh)
        .await;
    Mock::given(method("DELETE"))
        .and(path(grant.as_str()))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"})))
        .mount(&gh)
        .await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let app_set = tokens(
        "ghu_expired",
        Some("ghr_first"),
        None,
        Some(28800),
        None,
        Some("bearer"),
    );
    let expired = seed(&app, "gh-app", &alice, "github", "1", app_set).await;
    // Bob's token is live but GitHub does not know it (someone revoked it at GitHub).
    let unknown = tokens("ghu_unknown", None, None, None, None, Some("bearer"));
    let unknown = seed(&app, "gh-app", &bob, "github", "2", unknown).await;
    clock.advance_secs(9 * 3600);
    let mgmt = app.management_token().await;

    for secret in [&expired, &unknown] {
        let (status, _) = app
            .api(
                &mgmt,
                Method::DELETE,
                &format!("/api/secrets/{}", secret.id.as_str()),
                None,
            )
            .await;
        assert_eq!(status, 204);
    }
    wait_for_audit(&app, &mgmt, "action=token.revoke", |e| {
        is_event(e, "token.revoke", "success", expired.id.as_str())
    })
    .await;
    wait_for_audit(&app, &mgmt, "action=token.revoke", |e| {
        is_event(e, "token.revoke", "failed", unknown.id.as_str())
    })
    .await;
    gh.verify().await;
}
