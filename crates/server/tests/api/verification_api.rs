//! Verification API and the Account API routes that consume its records, black box, against a
//! `wiremock` OAuth 2.0 provider (the generic `oauth2` connector): creating and verifying social
//! verification records, replacing the stored token set with a verified record (PUT and PATCH,
//! both prefixes, both body fields), linking and unlinking identities, and — above all — that
//! one user can never reach another user's token sets or records.

use crate::support;
use crate::support::vault;

use std::sync::Arc;

use reqwest::Method;
use serde_json::{Value, json};
use strongroom_core::store::{IdentityKey, SecretRow, UserId};
use strongroom_core::{ExposeSecret, ManualClock};
use support::{Options, TestApp};
use url::Url;
use vault::*;

const STATE: &str = "app-state-Qz81";
const OLD_ACCESS: &str = "PLANTED-old-access-1f0a";
const OLD_REFRESH: &str = "PLANTED-old-refresh-77c3";
const NEW_ACCESS: &str = "PLANTED-new-access-9b2e";
const NEW_REFRESH: &str = "PLANTED-new-refresh-d41d";

/// Strongroom on a manual clock with three `oauth2` connectors at the fake provider: `acme` and
/// `globex` store tokens, `initech` does not.
struct World {
    app: TestApp,
    clock: ManualClock,
    mgmt: String,
    provider: Provider,
}

fn answer(
    access: &str,
    refresh: Option<&str>,
    expires_in: Option<i64>,
    scope: Option<&str>,
    token_type: Option<&str>,
) -> Value {
    let mut a = json!({"access_token": access});
    if let Some(r) = refresh {
        a["refresh_token"] = json!(r);
    }
    if let Some(e) = expires_in {
        a["expires_in"] = json!(e);
    }
    if let Some(s) = scope {
        a["scope"] = json!(s);
    }
    if let Some(t) = token_type {
        a["token_type"] = json!(t);
    }
    a
}

fn err(status: u16, body: &Value) -> (u16, Option<&str>) {
    (status, body["code"].as_str())
}

impl World {
    async fn new() -> Self {
        let clock = ManualClock::new(T0_MS);
        let app = TestApp::spawn_with(Options {
            clock: Arc::new(clock.clone()),
            ..Default::default()
        })
        .await;
        let mgmt = app.management_token().await;
        let provider = Provider::start().await;
        oauth2_connector(&app, &mgmt, "acme-conn", "acme", &provider, true, true).await;
        oauth2_connector(&app, &mgmt, "globex-conn", "globex", &provider, true, true).await;
        oauth2_connector(
            &app,
            &mgmt,
            "initech-conn",
            "initech",
            &provider,
            false,
            false,
        )
        .await;
        Self {
            app,
            clock,
            mgmt,
            provider,
        }
    }

    /// `POST {prefix}/social`: 201; the record id and the authorization URI.
    async fn create(
        &self,
        token: &str,
        prefix: &str,
        connector: &str,
        scope: Option<&str>,
    ) -> (String, Url) {
        let mut body =
            json!({"connectorId": connector, "state": STATE, "redirectUri": APP_REDIRECT});
        if let Some(scope) = scope {
            body["scope"] = json!(scope);
        }
        let (status, created) = self
            .app
            .api(token, Method::POST, &format!("{prefix}/social"), Some(body))
            .await;
        assert_eq!(status, 201, "{created}");
        let id = created["verificationRecordId"]
            .as_str()
            .expect("verificationRecordId")
            .to_owned();
        let uri = Url::parse(
            created["authorizationUri"]
                .as_str()
                .expect("authorizationUri"),
        )
        .expect("authorization URI");
        (id, uri)
    }

    /// `POST {prefix}/social/verify` with `code`: status and body.
    async fn verify(
        &self,
        token: &str,
        prefix: &str,
        id: &str,
        code: &str,
        state: Option<&str>,
    ) -> (u16, Value) {
        let mut data = json!({"code": code, "redirectUri": APP_REDIRECT});
        if let Some(state) = state {
            data["state"] = json!(state);
        }
        self.app
            .api(
                token,
                Method::POST,
                &format!("{prefix}/social/verify"),
                Some(json!({"verificationRecordId": id, "connectorData": data})),
            )
            .await
    }

    /// A record of `connector` verified by the provider's user `subject`, whose token endpoint
    /// answers `tokens`.
    async fn verified(
        &self,
        token: &str,
        connector: &str,
        scope: Option<&str>,
        subject: &str,
        tokens: Value,
    ) -> String {
        let (id, uri) = self
            .create(token, "/api/verifications", connector, scope)
            .await;
        let code = format!("code-{}", strongroom_core::store::new_id());
        self.provider.approve(&uri, &code, subject, tokens);
        let (status, body) = self
            .verify(token, "/api/verifications", &id, &code, Some(STATE))
            .await;
        assert_eq!((status, &body), (200, &json!({"verificationRecordId": id})));
        id
    }

    async fn user_token(&self, user: &UserId) -> String {
        self.app.user_token(user, "openid identities").await
    }

    /// The stored set of `user` at `target` (it must exist).
    async fn stored(&self, user: &UserId, target: &str) -> SecretRow {
        self.app
            .store()
            .find_secret(user, &IdentityKey::Social(target.to_owned()))
            .await
            .expect("find")
            .expect("a stored token set")
    }
}

// ----------------------------------------------------------------------------------------------
// Creating and verifying records
// ----------------------------------------------------------------------------------------------

#[tokio::test]
async fn create_social_verification_answers_201_with_the_provider_authorization_uri() {
    let w = World::new().await;
    let alice = w.app.user("alice").await;
    let token = w.user_token(&alice).await;
    let mut ids = Vec::new();
    for prefix in ["/api/verifications", "/api/verification"] {
        for (scope, expected_scope) in [
            (Some("profile custom_scope"), "profile custom_scope"),
            (None, "profile"),
            (Some(" "), "profile"),
        ] {
            let mut body =
                json!({"connectorId": "acme-conn", "state": STATE, "redirectUri": APP_REDIRECT});
            if let Some(scope) = scope {
                body["scope"] = json!(scope);
            }
            let (status, created) = w
                .app
                .api(
                    &token,
                    Method::POST,
                    &format!("{prefix}/social"),
                    Some(body),
                )
                .await;
            assert_eq!(status, 201, "{prefix}: {created}");
            assert_eq!(
                keys(&created),
                sorted(&["verificationRecordId", "authorizationUri", "expiresAt"]),
                "{created}"
            );
            // Ten minutes, ISO 8601.
            assert_eq!(
                created["expiresAt"], "2027-01-15T08:10:00.000Z",
                "{created}"
            );
            let uri = Url::parse(created["authorizationUri"].as_str().expect("uri")).expect("url");
            let provider = Url::parse(&w.provider.server.uri()).expect("url");
            assert_eq!(
                (uri.origin(), uri.path()),
                (provider.origin(), "/oauth/authorize"),
                "{uri}"
            );
            assert_eq!(
                param(&uri, "response_type").as_deref(),
                Some("code"),
                "{uri}"
            );
            assert_eq!(
                param(&uri, "client_id").as_deref(),
                Some(CLIENT_ID),
                "{uri}"
            );
            assert_eq!(param(&uri, "state").as_deref(), Some(STATE), "{uri}");
            assert_eq!(
                param(&uri, "redirect_uri").as_deref(),
                Some(APP_REDIRECT),
                "{uri}"
            );
            assert_eq!(
                param(&uri, "scope").as_deref(),
                Some(expected_scope),
                "{uri}"
            );
            assert_eq!(
                param(&uri, "code_challenge_method").as_deref(),
                Some("S256"),
                "{uri}"
            );
            let challenge = param(&uri, "code_challenge").expect("code_challenge");
            assert!(
                challenge.len() == 43
                    && challenge
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
                "{challenge}"
            );
            assert!(!uri.as_str().contains(CLIENT_SECRET), "{uri}");
            ids.push((
                created["verificationRecordId"]
                    .as_str()
                    .expect("id")
                    .to_owned(),
                challenge,
            ));
        }
    }
    let records: std::collections::HashSet<&String> = ids.iter().map(|(id, _)| id).collect();
    let challenges: std::collections::HashSet<&String> = ids.iter().map(|(_, c)| c).collect();
    assert_eq!(
        (records.len(), challenges.len()),
        (ids.len(), ids.len()),
        "record ids and PKCE challenges must be fresh: {ids:?}"
    );
}

#[tokio::test]
async fn create_social_verification_refusals() {
    let w = World::new().await;
    let alice = w.app.user("alice").await;
    let token = w.user_token(&alice).await;
    for (body, status, code) in [
        (
            json!({"connectorId": "no-such-connector", "state": STATE, "redirectUri": APP_REDIRECT}),
            422,
            "session.invalid_connector_id",
        ),
        (
            json!({"connectorId": "acme-conn", "state": "", "redirectUri": APP_REDIRECT}),
            400,
            "session.insufficient_info",
        ),
        (
            json!({"connectorId": "acme-conn", "state": STATE, "redirectUri": ""}),
            400,
            "session.insufficient_info",
        ),
        (
            json!({"state": STATE, "redirectUri": APP_REDIRECT}),
            400,
            "guard.invalid_input",
        ),
        (
            json!({"connectorId": "acme-conn", "redirectUri": APP_REDIRECT}),
            400,
            "guard.invalid_input",
        ),
        (
            json!({"connectorId": 7, "state": STATE, "redirectUri": APP_REDIRECT}),
            400,
            "guard.invalid_input",
        ),
    ] {
        for prefix in ["/api/verifications", "/api/verification"] {
            let (got, answer) = w
                .app
                .api(
                    &token,
                    Method::POST,
                    &format!("{prefix}/social"),
                    Some(body.clone()),
                )
                .await;
            assert_eq!(
                err(got, &answer),
                (status, Some(code)),
                "{prefix} {body} -> {answer}"
            );
        }
    }
}

#[tokio::test]
async fn verify_exchanges_the_code_once_and_checks_state_owner_and_record() {
    let w = World::new().await;
    let alice = w.app.user("alice").await;
    let bob = w.app.user("bob").await;
    let (alice_token, bob_token) = (w.user_token(&alice).await, w.user_token(&bob).await);
    let (id, uri) = w
        .create(
            &alice_token,
            "/api/verification",
            "acme-conn",
            Some("profile custom_scope"),
        )
        .await;
    w.provider.approve(
        &uri,
        "the-code",
        "acme-alice",
        answer(
            NEW_ACCESS,
            Some(NEW_REFRESH),
            Some(3600),
            Some("profile custom_scope"),
            None,
        ),
    );

    for state in [Some("another-state"), Some(""), None] {
        let (status, body) = w
            .verify(&alice_token, "/api/verifications", &id, "the-code", state)
            .await;
        assert_eq!(
            err(status, &body),
            (400, Some("verification_record.state_mismatch")),
            "{state:?}: {body}"
        );
    }
    // Another user's record does not exist for bob, and nothing is sent to the provider.
    let (status, body) = w
        .verify(
            &bob_token,
            "/api/verifications",
            &id,
            "the-code",
            Some(STATE),
        )
        .await;
    assert_eq!(
        err(status, &body),
        (400, Some("verification_record.not_found")),
        "{body}"
    );
    let (status, body) = w
        .verify(
            &alice_token,
            "/api/verifications",
            "no-such-record",
            "the-code",
            Some(STATE),
        )
        .await;
    assert_eq!(
        err(status, &body),
        (400, Some("verification_record.not_found")),
        "{body}"
    );
    assert!(
        w.provider.received("/oauth/token").await.is_empty(),
        "a refused verify reached the provider"
    );
    // A code the provider refuses: the record stays verifiable.
    let (status, body) = w
        .verify(
            &alice_token,
            "/api/verifications",
            &id,
            "not-the-code",
            Some(STATE),
        )
        .await;
    assert_eq!(
        err(status, &body),
        (401, Some("connector.authorization_failed")),
        "{body}"
    );
    assert_absent(
        &body.to_string(),
        &[CLIENT_SECRET, NEW_ACCESS],
        "the provider error",
    );

    let (status, body) = w
        .verify(
            &alice_token,
            "/api/verification",
            &id,
            "the-code",
            Some(STATE),
        )
        .await;
    assert_eq!((status, &body), (200, &json!({"verificationRecordId": id})));
    assert_absent(
        &body.to_string(),
        &[NEW_ACCESS, NEW_REFRESH],
        "the verify answer",
    );
    // The code went to the provider with the PKCE verifier of the challenge (the fake checks).
    let exchanges = w.provider.received("/oauth/token").await;
    assert_eq!(exchanges.len(), 2, "{exchanges:?}");
    assert_eq!(
        exchanges[1].get("redirect_uri").map(String::as_str),
        Some(APP_REDIRECT)
    );
    // Verified once.
    let (status, body) = w
        .verify(
            &alice_token,
            "/api/verifications",
            &id,
            "the-code",
            Some(STATE),
        )
        .await;
    assert_eq!(
        err(status, &body),
        (400, Some("verification_record.not_found")),
        "{body}"
    );
    assert_eq!(w.provider.received("/oauth/token").await.len(), 2);

    // The verified record holds no token in the clear.
    let raw = format!(
        "{:?}",
        w.app
            .store()
            .get_verification(&id, T0_MS)
            .await
            .expect("get")
            .expect("record")
    );
    assert_absent(&raw, &[NEW_ACCESS, NEW_REFRESH], "the verification record");
}

#[tokio::test]
async fn records_expire_after_ten_minutes() {
    let w = World::new().await;
    let alice = w.app.user("alice").await;
    let token = w.user_token(&alice).await;
    seed(
        &w.app,
        "acme-conn",
        &alice,
        "acme",
        "acme-alice",
        tokens(OLD_ACCESS, Some(OLD_REFRESH), None, Some(3600), None, None),
    )
    .await;
    let (pending, uri) = w
        .create(&token, "/api/verifications", "acme-conn", None)
        .await;
    w.provider.approve(
        &uri,
        "late-code",
        "acme-alice",
        answer(NEW_ACCESS, None, Some(3600), None, None),
    );
    let (used_late, uri) = w
        .create(&token, "/api/verifications", "acme-conn", None)
        .await;
    w.provider.approve(
        &uri,
        "in-time-code",
        "acme-alice",
        answer(NEW_ACCESS, None, Some(3600), None, None),
    );
    let (linked_late, uri) = w
        .create(&token, "/api/verifications", "globex-conn", None)
        .await;
    w.provider.approve(
        &uri,
        "globex-code",
        "globex-alice",
        answer(NEW_ACCESS, None, Some(3600), None, None),
    );

    w.clock.advance_secs(599);
    for (id, code) in [(&used_late, "in-time-code"), (&linked_late, "globex-code")] {
        let (status, body) = w
            .verify(&token, "/api/verifications", id, code, Some(STATE))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    w.clock.advance_secs(61);
    let (status, body) = w
        .verify(
            &token,
            "/api/verifications",
            &pending,
            "late-code",
            Some(STATE),
        )
        .await;
    assert_eq!(
        err(status, &body),
        (400, Some("verification_record.not_found")),
        "{body}"
    );
    let (status, body) = w
        .app
        .api(
            &token,
            Method::PUT,
            "/api/my-account/identities/acme/access-token",
            Some(json!({"verificationRecordId": used_late})),
        )
        .await;
    assert_eq!(
        err(status, &body),
        (400, Some("verification_record.not_found")),
        "{body}"
    );
    let (status, body) = w
        .app
        .api(
            &token,
            Method::POST,
            "/api/my-account/identities",
            Some(json!({"newIdentifierVerificationRecordId": linked_late})),
        )
        .await;
    assert_eq!(
        err(status, &body),
        (400, Some("verification_record.not_found")),
        "{body}"
    );
    assert!(
        w.app
            .store()
            .get_social_identity(&alice, "globex")
            .await
            .expect("get")
            .is_none()
    );
    let (status, body) = w
        .app
        .api(
            &token,
            Method::GET,
            "/api/my-account/identities/acme/access-token",
            None,
        )
        .await;
    assert_eq!(
        (status, body["access_token"].as_str()),
        (200, Some(OLD_ACCESS))
    );
}

// ----------------------------------------------------------------------------------------------
// Replacing the stored token set
// ----------------------------------------------------------------------------------------------

#[tokio::test]
async fn put_and_patch_replace_the_stored_set_and_use_the_record_up() {
    let w = World::new().await;
    let alice = w.app.user("alice").await;
    let token = w.user_token(&alice).await;
    let original = seed(
        &w.app,
        "acme-conn",
        &alice,
        "acme",
        "acme-alice",
        tokens(
            OLD_ACCESS,
            Some(OLD_REFRESH),
            None,
            Some(3600),
            Some("profile"),
            Some("bearer"),
        ),
    )
    .await;
    w.clock.advance_secs(60);

    let record = w
        .verified(
            &token,
            "acme-conn",
            Some("profile custom_scope"),
            "acme-alice",
            answer(
                NEW_ACCESS,
                None,
                Some(7200),
                Some("profile custom_scope"),
                Some("bearer"),
            ),
        )
        .await;
    let answer_text = call(
        &w.app,
        Some(&token),
        Method::PUT,
        "/api/my-account/identities/acme/access-token",
        Some(json!({"verificationRecordId": record})),
    )
    .await;
    assert_eq!(answer_text.status, 200, "{}", answer_text.text);
    assert_eq!(
        answer_text.json(),
        json!({"access_token": NEW_ACCESS, "scope": "profile custom_scope", "token_type": "bearer", "expires_in": 7200})
    );
    let (status, body) = w
        .app
        .api(
            &token,
            Method::GET,
            "/my-account/identities/acme/access-token",
            None,
        )
        .await;
    assert_eq!(
        (
            status,
            body["access_token"].as_str(),
            body["scope"].as_str()
        ),
        (200, Some(NEW_ACCESS), Some("profile custom_scope"))
    );

    // Replaced in place: same secret, same createdAt; the missing refresh token kept the stored one.
    let stored = w.stored(&alice, "acme").await;
    assert_eq!(
        (&stored.id, stored.created_at, stored.updated_at),
        (&original.id, T0_MS, T0_MS + 60_000)
    );
    let set = w.app.state.token_sets.open(&stored).expect("open");
    assert_eq!(
        (
            set.access_token.expose_secret(),
            set.refresh_token.as_ref().map(|t| t.expose_secret())
        ),
        (NEW_ACCESS, Some(OLD_REFRESH))
    );
    let (_, identity) = w
        .app
        .api(
            &w.mgmt,
            Method::GET,
            &format!("/api/users/{}/identities/acme?includeTokenSecret=1", alice),
            None,
        )
        .await;
    let secret = &identity["tokenSecret"];
    assert_eq!(
        (
            &secret["id"],
            secret["createdAt"].as_i64(),
            secret["updatedAt"].as_i64()
        ),
        (
            &json!(original.id.as_str()),
            Some(T0_MS),
            Some(T0_MS + 60_000)
        )
    );
    assert_eq!(
        secret["metadata"],
        json!({"hasRefreshToken": true, "scope": "profile custom_scope", "tokenType": "bearer", "expiresAt": T0_MS / 1000 + 60 + 7200})
    );
    let events = audit(
        &w.app,
        &w.mgmt,
        &format!("userId={}&action=token.replace", alice),
    )
    .await;
    assert_eq!(events.len(), 1, "{events:#?}");
    assert!(
        is_event(&events[0], "token.replace", "success", original.id.as_str()),
        "{}",
        events[0]
    );
    assert_eq!(
        (
            &events[0]["target"],
            &events[0]["actorType"],
            &events[0]["detail"]["verificationRecordId"]
        ),
        (&json!("acme"), &json!("user"), &json!(record))
    );

    // Single use, whatever route tries it next.
    for (m, path, body) in [
        (
            Method::PUT,
            "/api/my-account/identities/acme/access-token",
            json!({"verificationRecordId": record}),
        ),
        (
            Method::PATCH,
            "/my-account/identities/acme/access-token",
            json!({"socialVerificationId": record}),
        ),
        (
            Method::POST,
            "/api/my-account/identities",
            json!({"newIdentifierVerificationRecordId": record}),
        ),
    ] {
        let (status, answer) = w.app.api(&token, m.clone(), path, Some(body)).await;
        assert_eq!(
            err(status, &answer),
            (400, Some("verification_record.not_found")),
            "{m} {path}: {answer}"
        );
    }

    // The seed document's PATCH with `socialVerificationId`, and a new refresh token.
    w.clock.advance_secs(60);
    let record = w
        .verified(
            &token,
            "acme-conn",
            None,
            "acme-alice",
            answer(
                "PLANTED-patched-access",
                Some(NEW_REFRESH),
                None,
                None,
                None,
            ),
        )
        .await;
    let (status, body) = w
        .app
        .api(
            &token,
            Method::PATCH,
            "/my-account/identities/acme/access-token",
            Some(json!({"socialVerificationId": record})),
        )
        .await;
    assert_eq!(
        (status, body),
        (200, json!({"access_token": "PLANTED-patched-access"}))
    );
    let stored = w.stored(&alice, "acme").await;
    assert_eq!((&stored.id, stored.created_at), (&original.id, T0_MS));
    assert_eq!(stored.metadata.expires_at, None);
    let set = w.app.state.token_sets.open(&stored).expect("open");
    assert_eq!(
        set.refresh_token.as_ref().map(|t| t.expose_secret()),
        Some(NEW_REFRESH)
    );

    // Both body fields on both methods and prefixes.
    let record = w
        .verified(
            &token,
            "acme-conn",
            None,
            "acme-alice",
            answer("PLANTED-third-access", None, Some(60), None, None),
        )
        .await;
    let (status, body) = w
        .app
        .api(
            &token,
            Method::PATCH,
            "/api/my-account/identities/acme/access-token",
            Some(json!({"verificationRecordId": record})),
        )
        .await;
    assert_eq!(
        (status, body),
        (
            200,
            json!({"access_token": "PLANTED-third-access", "expires_in": 60})
        )
    );
    let record = w
        .verified(
            &token,
            "acme-conn",
            None,
            "acme-alice",
            answer("PLANTED-fourth-access", None, None, None, None),
        )
        .await;
    let (status, body) = w
        .app
        .api(
            &token,
            Method::PUT,
            "/my-account/identities/acme/access-token",
            Some(json!({"socialVerificationId": record})),
        )
        .await;
    assert_eq!(
        (status, body),
        (200, json!({"access_token": "PLANTED-fourth-access"}))
    );
    assert_eq!(
        audit(
            &w.app,
            &w.mgmt,
            &format!("userId={}&action=token.replace", alice)
        )
        .await
        .len(),
        4
    );

    // Two requests racing with one record: exactly one wins.
    let record = w
        .verified(
            &token,
            "acme-conn",
            None,
            "acme-alice",
            answer("PLANTED-raced-access", None, None, None, None),
        )
        .await;
    let body = json!({"verificationRecordId": record});
    let (first, second) = tokio::join!(
        w.app.api(
            &token,
            Method::PUT,
            "/api/my-account/identities/acme/access-token",
            Some(body.clone())
        ),
        w.app.api(
            &token,
            Method::PATCH,
            "/my-account/identities/acme/access-token",
            Some(body)
        ),
    );
    let mut outcomes = [
        (first.0, first.1["code"].as_str().map(str::to_owned)),
        (second.0, second.1["code"].as_str().map(str::to_owned)),
    ];
    outcomes.sort();
    assert_eq!(
        outcomes,
        [
            (200, None),
            (400, Some("verification_record.not_found".to_owned()))
        ],
        "{first:?} {second:?}"
    );
    assert_eq!(
        audit(
            &w.app,
            &w.mgmt,
            &format!("userId={}&action=token.replace", alice)
        )
        .await
        .len(),
        5
    );

    for bad in [
        json!({}),
        json!({"verificationRecordId": ""}),
        json!({"socialVerificationId": ""}),
        json!({"verificationRecordId": 5}),
    ] {
        let (status, answer) = w
            .app
            .api(
                &token,
                Method::PUT,
                "/api/my-account/identities/acme/access-token",
                Some(bad.clone()),
            )
            .await;
        assert_eq!(
            err(status, &answer),
            (400, Some("guard.invalid_input")),
            "{bad} -> {answer}"
        );
    }
    // No answer or audit event ever carried a refresh token.
    let all = call(
        &w.app,
        Some(&w.mgmt),
        Method::GET,
        "/api/audit-events?page_size=100",
        None,
    )
    .await;
    assert_absent(&all.text, &["PLANTED"], "the audit trail");
}

#[tokio::test]
async fn replace_refusals_leave_the_stored_set_and_the_record_alone() {
    let w = World::new().await;
    let alice = w.app.user("alice").await;
    let bob = w.app.user("bob").await;
    let token = w.user_token(&alice).await;
    let openid_only = w.app.user_token(&alice, "openid").await;
    let original = seed(
        &w.app,
        "acme-conn",
        &alice,
        "acme",
        "acme-alice",
        tokens(
            OLD_ACCESS,
            Some(OLD_REFRESH),
            None,
            Some(3600),
            Some("profile"),
            None,
        ),
    )
    .await;
    let bobs = seed(
        &w.app,
        "acme-conn",
        &bob,
        "acme",
        "acme-bob",
        tokens("PLANTED-bob-access", None, None, Some(3600), None, None),
    )
    .await;
    link(&w.app, &alice, "initech", "initech-alice").await;
    let put = |target: &str, record: &str| {
        w.app.api(
            &token,
            Method::PUT,
            &format!("/api/my-account/identities/{target}/access-token"),
            Some(json!({"verificationRecordId": record})),
        )
    };
    let fresh = || answer(NEW_ACCESS, Some(NEW_REFRESH), Some(3600), None, None);

    let globex = w
        .verified(&token, "globex-conn", None, "globex-alice", fresh())
        .await;
    let (status, body) = put("acme", &globex).await;
    assert_eq!(
        err(status, &body),
        (
            422,
            Some("verification_record.social_verification.invalid_target")
        ),
        "{body}"
    );
    // Alice has no globex identity to renew.
    let (status, body) = put("globex", &globex).await;
    assert_eq!(
        err(status, &body),
        (422, Some("user.identity_not_exists_in_current_user")),
        "{body}"
    );

    for subject in ["acme-stranger", "acme-bob"] {
        let record = w
            .verified(&token, "acme-conn", None, subject, fresh())
            .await;
        let (status, body) = put("acme", &record).await;
        assert_eq!(
            err(status, &body),
            (422, Some("user.identity_not_exists_in_current_user")),
            "{subject}: {body}"
        );
    }

    // The connector does not store tokens: the record has none.
    let initech = w
        .verified(&token, "initech-conn", None, "initech-alice", fresh())
        .await;
    let (status, body) = put("initech", &initech).await;
    assert_eq!(
        err(status, &body),
        (
            422,
            Some("verification_record.social_verification.token_response_not_found")
        ),
        "{body}"
    );
    assert!(
        w.app
            .store()
            .find_secret(&alice, &IdentityKey::Social("initech".to_owned()))
            .await
            .expect("find")
            .is_none()
    );

    let (unverified, _) = w
        .create(&token, "/api/verifications", "acme-conn", None)
        .await;
    for record in [unverified.as_str(), "no-such-record"] {
        let (status, body) = put("acme", record).await;
        assert_eq!(
            err(status, &body),
            (400, Some("verification_record.not_found")),
            "{record}: {body}"
        );
    }

    // Without the identities scope: 403, and the record is not used up.
    let record = w
        .verified(&openid_only, "acme-conn", None, "acme-alice", fresh())
        .await;
    for (m, path, field) in [
        (
            Method::PUT,
            "/api/my-account/identities/acme/access-token",
            "verificationRecordId",
        ),
        (
            Method::PATCH,
            "/my-account/identities/acme/access-token",
            "socialVerificationId",
        ),
    ] {
        let (status, body) = w
            .app
            .api(&openid_only, m.clone(), path, Some(json!({field: record})))
            .await;
        assert_eq!(
            err(status, &body),
            (403, Some("auth.forbidden")),
            "{m} {path}: {body}"
        );
    }
    assert_eq!(
        w.app
            .store()
            .get_secret(&original.id)
            .await
            .expect("get")
            .as_ref(),
        Some(&original),
        "a refusal changed the stored set"
    );
    assert_eq!(
        w.app
            .store()
            .get_secret(&bobs.id)
            .await
            .expect("get")
            .as_ref(),
        Some(&bobs),
        "bob's set changed"
    );
    assert!(
        audit(&w.app, &w.mgmt, "action=token.replace")
            .await
            .is_empty()
    );

    let (status, body) = put("acme", &record).await;
    assert_eq!(
        (status, body["access_token"].as_str()),
        (200, Some(NEW_ACCESS)),
        "{body}"
    );
    // The earlier refusals did not use their records up either.
    let (status, body) = put("acme", &globex).await;
    assert_eq!(
        err(status, &body),
        (
            422,
            Some("verification_record.social_verification.invalid_target")
        ),
        "{body}"
    );
}

// ----------------------------------------------------------------------------------------------
// Linking and unlinking identities
// ----------------------------------------------------------------------------------------------

#[tokio::test]
async fn link_identity_from_a_verified_record_stores_its_tokens() {
    let w = World::new().await;
    let alice = w.app.user("alice").await;
    let bob = w.app.user("bob").await;
    let token = w.user_token(&alice).await;
    let openid_only = w.app.user_token(&alice, "openid").await;
    let bob_token = w.user_token(&bob).await;
    link(&w.app, &alice, "acme", "acme-alice").await;
    let link_with = |token: &str, record: &str| {
        w.app.api(
            token,
            Method::POST,
            "/api/my-account/identities",
            Some(json!({"newIdentifierVerificationRecordId": record})),
        )
    };

    let record = w
        .verified(
            &token,
            "globex-conn",
            Some("read"),
            "globex-alice",
            answer(
                NEW_ACCESS,
                Some(NEW_REFRESH),
                Some(3600),
                Some("read"),
                None,
            ),
        )
        .await;
    let (status, body) = link_with(&openid_only, &record).await;
    assert_eq!(
        err(status, &body),
        (401, Some("auth.unauthorized")),
        "{body}"
    );
    assert!(
        w.app
            .store()
            .get_social_identity(&alice, "globex")
            .await
            .expect("get")
            .is_none()
    );

    let linked = call(
        &w.app,
        Some(&token),
        Method::POST,
        "/api/my-account/identities",
        Some(json!({"newIdentifierVerificationRecordId": record})),
    )
    .await;
    assert_eq!((linked.status, linked.text.as_str()), (204, ""));
    let (_, profile) = w
        .app
        .api(&token, Method::GET, "/api/my-account", None)
        .await;
    assert_eq!(
        profile["identities"]["globex"],
        json!({"userId": "globex-alice", "details": {"id": "globex-alice", "email": "globex-alice@provider.example", "name": "Provider user globex-alice"}}),
        "{profile}"
    );
    let (status, body) = w
        .app
        .api(
            &token,
            Method::GET,
            "/api/my-account/identities/globex/access-token",
            None,
        )
        .await;
    assert_eq!(
        (status, body),
        (
            200,
            json!({"access_token": NEW_ACCESS, "scope": "read", "expires_in": 3600})
        )
    );
    let stored = w.stored(&alice, "globex").await;
    let (_, identity) = w
        .app
        .api(
            &w.mgmt,
            Method::GET,
            &format!(
                "/api/users/{}/identities/globex?includeTokenSecret=true",
                alice
            ),
            None,
        )
        .await;
    assert_eq!(
        (
            &identity["tokenSecret"]["id"],
            &identity["tokenSecret"]["connectorId"]
        ),
        (&json!(stored.id.as_str()), &json!("globex-conn"))
    );
    assert_eq!(
        identity["tokenSecret"]["metadata"],
        json!({"hasRefreshToken": true, "scope": "read", "expiresAt": T0_MS / 1000 + 3600})
    );
    let events = audit(
        &w.app,
        &w.mgmt,
        &format!("userId={}&action=token.store", alice),
    )
    .await;
    assert_eq!(events.len(), 1, "{events:#?}");
    assert!(
        is_event(&events[0], "token.store", "success", stored.id.as_str()),
        "{}",
        events[0]
    );

    let (status, body) = link_with(&token, &record).await;
    assert_eq!(
        err(status, &body),
        (400, Some("verification_record.not_found")),
        "a used record: {body}"
    );
    // Someone else's provider account.
    let bobs = w
        .verified(
            &bob_token,
            "globex-conn",
            None,
            "globex-alice",
            answer("PLANTED-bob-access", None, None, None, None),
        )
        .await;
    let (status, body) = link_with(&bob_token, &bobs).await;
    assert_eq!(
        err(status, &body),
        (422, Some("user.identity_already_in_use")),
        "{body}"
    );
    assert!(
        w.app
            .store()
            .get_social_identity(&bob, "globex")
            .await
            .expect("get")
            .is_none()
    );
    // A second account at a target the user already has.
    let second = w
        .verified(
            &token,
            "globex-conn",
            None,
            "globex-alice-2",
            answer("PLANTED-second", None, None, None, None),
        )
        .await;
    let (status, body) = link_with(&token, &second).await;
    assert_eq!(
        err(status, &body),
        (422, Some("user.social_account_exists_in_profile")),
        "{body}"
    );
    assert_eq!(
        w.stored(&alice, "globex").await,
        stored,
        "the linked set changed"
    );

    // A connector without token storage links the identity and stores nothing.
    let initech = w
        .verified(
            &token,
            "initech-conn",
            None,
            "initech-alice",
            answer("PLANTED-initech", None, None, None, None),
        )
        .await;
    let (status, _) = link_with(&token, &initech).await;
    assert_eq!(status, 204);
    assert!(
        w.app
            .store()
            .get_social_identity(&alice, "initech")
            .await
            .expect("get")
            .is_some()
    );
    let (status, body) = w
        .app
        .api(
            &token,
            Method::GET,
            "/api/my-account/identities/initech/access-token",
            None,
        )
        .await;
    assert_eq!(
        err(status, &body),
        (404, Some("secrets.third_party_token_set.token_not_found")),
        "{body}"
    );

    for (body, code) in [
        (
            json!({"newIdentifierVerificationRecordId": "no-such-record"}),
            "verification_record.not_found",
        ),
        (json!({}), "guard.invalid_input"),
    ] {
        let (status, answer) = w
            .app
            .api(
                &token,
                Method::POST,
                "/api/my-account/identities",
                Some(body.clone()),
            )
            .await;
        assert_eq!(
            err(status, &answer),
            (400, Some(code)),
            "{body} -> {answer}"
        );
    }
}

#[tokio::test]
async fn unlink_identity_keeps_the_last_sign_in_method() {
    let w = World::new().await;
    let alice = w.app.user("alice").await;
    let token = w.user_token(&alice).await;
    let openid_only = w.app.user_token(&alice, "openid").await;
    let acme = seed(
        &w.app,
        "acme-conn",
        &alice,
        "acme",
        "acme-alice",
        tokens(OLD_ACCESS, Some(OLD_REFRESH), None, Some(3600), None, None),
    )
    .await;
    let globex = seed(
        &w.app,
        "globex-conn",
        &alice,
        "globex",
        "globex-alice",
        tokens(NEW_ACCESS, Some(NEW_REFRESH), None, Some(3600), None, None),
    )
    .await;

    let (status, body) = w
        .app
        .api(
            &openid_only,
            Method::DELETE,
            "/api/my-account/identities/globex",
            None,
        )
        .await;
    assert_eq!(
        err(status, &body),
        (400, Some("auth.unauthorized")),
        "{body}"
    );
    assert!(
        w.app
            .store()
            .get_secret(&globex.id)
            .await
            .expect("get")
            .is_some()
    );

    let answer = call(
        &w.app,
        Some(&token),
        Method::DELETE,
        "/api/my-account/identities/globex",
        None,
    )
    .await;
    assert_eq!((answer.status, answer.text.as_str()), (204, ""));
    assert!(
        w.app
            .store()
            .get_social_identity(&alice, "globex")
            .await
            .expect("get")
            .is_none()
    );
    assert!(
        w.app
            .store()
            .get_secret(&globex.id)
            .await
            .expect("get")
            .is_none()
    );
    let (status, body) = w
        .app
        .api(
            &token,
            Method::GET,
            "/api/my-account/identities/globex/access-token",
            None,
        )
        .await;
    assert_eq!(
        err(status, &body),
        (404, Some("secrets.third_party_token_set.token_not_found")),
        "{body}"
    );
    // Unlinked tokens are revoked at the provider.
    w.provider.wait_for_revocation(&w.app, NEW_REFRESH).await;
    for target in ["globex", "nope"] {
        let (status, body) = w
            .app
            .api(
                &token,
                Method::DELETE,
                &format!("/api/my-account/identities/{target}"),
                None,
            )
            .await;
        assert_eq!(
            err(status, &body),
            (404, Some("user.identity_not_exist")),
            "{target}: {body}"
        );
    }

    let (status, body) = w
        .app
        .api(
            &token,
            Method::DELETE,
            "/api/my-account/identities/acme",
            None,
        )
        .await;
    assert_eq!(
        err(status, &body),
        (400, Some("user.last_sign_in_method_required")),
        "{body}"
    );
    assert!(
        w.app
            .store()
            .get_secret(&acme.id)
            .await
            .expect("get")
            .is_some()
    );
    // An enterprise SSO identity is a way to sign in too.
    let sso = sso_connector(&w.app, &w.mgmt, "Corp").await;
    w.app
        .store()
        .link_sso_identity(
            &alice,
            &sso,
            "https://idp.corp.example",
            "sub-alice",
            &json!({}),
            T0_MS,
        )
        .await
        .expect("link sso");
    let (status, _) = w
        .app
        .api(
            &token,
            Method::DELETE,
            "/api/my-account/identities/acme",
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert!(
        w.app
            .store()
            .get_secret(&acme.id)
            .await
            .expect("get")
            .is_none()
    );
}

// ----------------------------------------------------------------------------------------------
// Between users
// ----------------------------------------------------------------------------------------------

#[tokio::test]
async fn another_user_can_never_reach_a_users_token_sets_or_records() {
    let w = World::new().await;
    let alice = w.app.user("alice").await;
    let bob = w.app.user("bob").await;
    let (alice_token, bob_token) = (w.user_token(&alice).await, w.user_token(&bob).await);
    let alice_acme = seed(
        &w.app,
        "acme-conn",
        &alice,
        "acme",
        "acme-alice",
        tokens(OLD_ACCESS, Some(OLD_REFRESH), None, Some(3600), None, None),
    )
    .await;
    let alice_globex = seed(
        &w.app,
        "globex-conn",
        &alice,
        "globex",
        "globex-alice",
        tokens(
            "PLANTED-alice-globex",
            Some("PLANTED-alice-globex-rt"),
            None,
            Some(3600),
            None,
            None,
        ),
    )
    .await;
    let sso = sso_connector(&w.app, &w.mgmt, "Corp").await;
    let alice_sso = seed_sso(
        &w.app,
        &sso,
        &alice,
        "https://idp.corp.example",
        "sub-alice",
        tokens("PLANTED-alice-sso", None, None, Some(3600), None, None),
    )
    .await;
    let bob_globex = seed(
        &w.app,
        "globex-conn",
        &bob,
        "globex",
        "globex-bob",
        tokens("PLANTED-bob-globex", None, None, Some(3600), None, None),
    )
    .await;
    link(&w.app, &bob, "initech", "initech-bob").await;
    let alices = [
        OLD_ACCESS,
        OLD_REFRESH,
        NEW_ACCESS,
        NEW_REFRESH,
        "PLANTED-alice",
    ];

    // Alice's records: one waiting for its code, one verified.
    let (pending, uri) = w
        .create(&alice_token, "/api/verifications", "acme-conn", None)
        .await;
    w.provider.approve(
        &uri,
        "alice-code",
        "acme-alice",
        answer(NEW_ACCESS, Some(NEW_REFRESH), Some(3600), None, None),
    );
    let verified = w
        .verified(
            &alice_token,
            "acme-conn",
            None,
            "acme-alice",
            answer("PLANTED-alice-renewed", None, Some(3600), None, None),
        )
        .await;
    let exchanges = w.provider.received("/oauth/token").await.len();

    let mut bodies = Vec::new();
    let mut expect = |status: u16, code: &str, answer: Answer, what: &str| {
        assert_eq!(
            (answer.status, answer.code().as_deref()),
            (status, Some(code)),
            "{what}: {}",
            answer.text
        );
        bodies.push(answer.text);
    };
    for prefix in ["/api/my-account", "/my-account"] {
        let a = call(
            &w.app,
            Some(&bob_token),
            Method::GET,
            &format!("{prefix}/identities/acme/access-token"),
            None,
        )
        .await;
        expect(
            404,
            "secrets.third_party_token_set.token_not_found",
            a,
            "read alice's acme set",
        );
        let a = call(
            &w.app,
            Some(&bob_token),
            Method::GET,
            &format!("{prefix}/sso-identities/{}/access-token", sso.as_str()),
            None,
        )
        .await;
        expect(
            404,
            "secrets.third_party_token_set.token_not_found",
            a,
            "read alice's SSO set",
        );
        for (m, field) in [
            (Method::PUT, "verificationRecordId"),
            (Method::PATCH, "socialVerificationId"),
        ] {
            for target in ["acme", "globex"] {
                let a = call(
                    &w.app,
                    Some(&bob_token),
                    m.clone(),
                    &format!("{prefix}/identities/{target}/access-token"),
                    Some(json!({field: verified})),
                )
                .await;
                expect(
                    400,
                    "verification_record.not_found",
                    a,
                    "replace with alice's record",
                );
            }
        }
    }
    for prefix in ["/api/verifications", "/api/verification"] {
        for (id, code) in [(&pending, "alice-code"), (&verified, "alice-code")] {
            let a = call(
                &w.app,
                Some(&bob_token),
                Method::POST,
                &format!("{prefix}/social/verify"),
                Some(json!({"verificationRecordId": id, "connectorData": {"code": code, "state": STATE, "redirectUri": APP_REDIRECT}})),
            )
            .await;
            expect(
                400,
                "verification_record.not_found",
                a,
                "verify alice's record",
            );
        }
    }
    assert_eq!(
        w.provider.received("/oauth/token").await.len(),
        exchanges,
        "bob's verify reached the provider with alice's code"
    );
    for id in [&pending, &verified] {
        let a = call(
            &w.app,
            Some(&bob_token),
            Method::POST,
            "/api/my-account/identities",
            Some(json!({"newIdentifierVerificationRecordId": id})),
        )
        .await;
        expect(
            400,
            "verification_record.not_found",
            a,
            "link with alice's record",
        );
    }
    // Bob proves control of alice's provider account: still not his identity.
    let bobs_record = w
        .verified(
            &bob_token,
            "acme-conn",
            None,
            "acme-alice",
            answer("PLANTED-bob-as-alice", None, Some(3600), None, None),
        )
        .await;
    let a = call(
        &w.app,
        Some(&bob_token),
        Method::PUT,
        "/api/my-account/identities/acme/access-token",
        Some(json!({"verificationRecordId": bobs_record})),
    )
    .await;
    expect(
        422,
        "user.identity_not_exists_in_current_user",
        a,
        "replace alice's set with bob's record",
    );
    let a = call(
        &w.app,
        Some(&bob_token),
        Method::POST,
        "/api/my-account/identities",
        Some(json!({"newIdentifierVerificationRecordId": bobs_record})),
    )
    .await;
    expect(
        422,
        "user.identity_already_in_use",
        a,
        "link alice's provider account",
    );
    let a = call(
        &w.app,
        Some(&bob_token),
        Method::DELETE,
        "/api/my-account/identities/acme",
        None,
    )
    .await;
    expect(404, "user.identity_not_exist", a, "unlink alice's acme");
    for body in &bodies {
        assert_absent(body, &alices, "an answer to bob");
    }

    // Unlinking touches only the caller's identity.
    let (status, _) = w
        .app
        .api(
            &bob_token,
            Method::DELETE,
            "/api/my-account/identities/globex",
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert!(
        w.app
            .store()
            .get_secret(&bob_globex.id)
            .await
            .expect("get")
            .is_none()
    );

    // Alice's sets, identities and records are exactly as before.
    for secret in [&alice_acme, &alice_globex, &alice_sso] {
        assert_eq!(
            w.app
                .store()
                .get_secret(&secret.id)
                .await
                .expect("get")
                .as_ref(),
            Some(secret)
        );
    }
    for target in ["acme", "globex"] {
        assert!(
            w.app
                .store()
                .get_social_identity(&alice, target)
                .await
                .expect("get")
                .is_some(),
            "{target}"
        );
    }
    assert!(
        audit(
            &w.app,
            &w.mgmt,
            &format!("userId={}&action=token.delete", alice)
        )
        .await
        .is_empty()
    );
    let (status, body) = w
        .app
        .api(
            &alice_token,
            Method::GET,
            "/api/my-account/identities/globex/access-token",
            None,
        )
        .await;
    assert_eq!(
        (status, body["access_token"].as_str()),
        (200, Some("PLANTED-alice-globex"))
    );
    let (status, _) = w
        .verify(
            &alice_token,
            "/api/verifications",
            &pending,
            "alice-code",
            Some(STATE),
        )
        .await;
    assert_eq!(status, 200, "alice's pending record was spoiled");
    let (status, body) = w
        .app
        .api(
            &alice_token,
            Method::PUT,
            "/api/my-account/identities/acme/access-token",
            Some(json!({"verificationRecordId": verified})),
        )
        .await;
    assert_eq!(
        (status, body["access_token"].as_str()),
        (200, Some("PLANTED-alice-renewed")),
        "{body}"
    );
    let (status, body) = w
        .app
        .api(
            &alice_token,
            Method::PUT,
            "/api/my-account/identities/acme/access-token",
            Some(json!({"verificationRecordId": pending})),
        )
        .await;
    assert_eq!(
        (status, body["access_token"].as_str()),
        (200, Some(NEW_ACCESS)),
        "{body}"
    );
}
