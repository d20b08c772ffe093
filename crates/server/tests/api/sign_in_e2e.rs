//! End to end: an application signs a user in through Strongroom, which signs the user in at a
//! real upstream OpenID provider (npm `oidc-provider`) through the generic `oidc` social
//! connector or an enterprise SSO connector, and stores the provider's token set.

use crate::support;

use reqwest::Method;
use serde_json::{Value, json};
use strongroom_core::store::{ConnectorId, IdentityKey, UserId};
use support::browser::{Browser, param};
use support::upstream::{CLIENT_ID, CLIENT_SECRET, Upstream, run_rp};
use support::{TestApp, pkce};

const APP_REDIRECT: &str = "http://127.0.0.1:9/cb";
const CONNECTOR: &str = "upstream-oidc";

/// A Strongroom with a Traditional application and, when `storage` is set, the upstream behind
/// the `oidc` social connector `upstream-oidc` with token storage on.
struct World {
    app: TestApp,
    upstream: Upstream,
    token: String,
    client_id: String,
    client_secret: String,
}

impl World {
    async fn social(upstream_extra: Value) -> Self {
        let app = TestApp::spawn().await;
        let upstream = Upstream::start(
            &[app.url(&format!("/callback/{CONNECTOR}"))],
            upstream_extra,
        );
        let token = app.management_token().await;
        let (status, body) = app
            .api(
                &token,
                Method::POST,
                "/api/connectors",
                Some(json!({
                    "id": CONNECTOR,
                    "connectorId": "oidc",
                    "config": {
                        "clientId": CLIENT_ID,
                        "clientSecret": CLIENT_SECRET,
                        "issuer": upstream.issuer,
                        "scope": "openid profile email offline_access",
                    },
                    "enableTokenStorage": true,
                })),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let (row, secret) = app.application("Traditional", &[APP_REDIRECT]).await;
        Self {
            app,
            upstream,
            token,
            client_id: row.id.to_string(),
            client_secret: secret.expect("secret"),
        }
    }

    fn auth_url(&self, extra: &[(&str, &str)], challenge: &str) -> String {
        let mut url = url::Url::parse(&self.app.url("/oidc/auth")).expect("url");
        url.query_pairs_mut()
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", APP_REDIRECT)
            .append_pair("response_type", "code")
            .append_pair("scope", "openid profile email offline_access identities")
            .append_pair("state", "app-state")
            .append_pair("nonce", "app-nonce")
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256")
            .extend_pairs(extra);
        url.into()
    }

    /// Redeems an authorization code at Strongroom's token endpoint.
    async fn redeem(&self, code: &str, verifier: &str) -> Value {
        let response = self
            .app
            .http
            .post(self.app.url("/oidc/token"))
            .basic_auth(&self.client_id, Some(&self.client_secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", APP_REDIRECT),
                ("code_verifier", verifier),
            ])
            .send()
            .await
            .expect("token");
        assert_eq!(response.status(), 200);
        response.json().await.expect("json")
    }

    async fn user_count(&self) -> i64 {
        self.app
            .store()
            .list_users(None, 1, 0)
            .await
            .expect("users")
            .1
    }
}

/// The user id in Strongroom's ID token (no verification: other tests verify it).
fn subject(tokens: &Value) -> UserId {
    let id_token = tokens["id_token"].as_str().expect("id_token");
    let payload = id_token.split('.').nth(1).expect("payload");
    use base64::Engine as _;
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("b64"),
    )
    .expect("json");
    UserId::from(claims["sub"].as_str().expect("sub").to_owned())
}

#[tokio::test]
async fn social_oidc_sign_in_through_the_page_stores_the_token_set() {
    let w = World::social(json!({"accessTokenTtl": 120})).await;
    let browser = Browser::new();
    let (verifier, challenge) = pkce();
    // The hosted page lists the connector; its button starts the upstream sign-in.
    let (status, location) = browser.location(&w.auth_url(&[], &challenge)).await;
    assert_eq!(status, 303);
    let page_url = location.expect("location");
    assert!(page_url.path().starts_with("/sign-in/"), "{page_url}");
    let (status, page) = browser.follow(page_url.as_str(), APP_REDIRECT).await.page();
    assert_eq!(status, 200);
    let action = format!("{}/social/{CONNECTOR}", page_url.path());
    assert!(
        page.contains(&action) && page.contains("Continue with OIDC"),
        "{page}"
    );
    let landing = browser
        .post_form(&w.app.url(&action), &[], APP_REDIRECT)
        .await
        .app();
    assert_eq!(param(&landing, "state").as_deref(), Some("app-state"));
    assert_eq!(
        param(&landing, "iss").as_deref(),
        Some(w.app.url("/oidc").as_str())
    );
    let tokens = w
        .redeem(&param(&landing, "code").expect("code"), &verifier)
        .await;
    let user = subject(&tokens);

    let store = w.app.store();
    let identity = store
        .get_social_identity(&user, "oidc")
        .await
        .expect("identity")
        .expect("linked");
    assert_eq!(identity.identity_id, "alice");
    let account = store.get_user(&user).await.expect("get").expect("user");
    assert_eq!(
        (account.primary_email.as_deref(), account.name.as_deref()),
        (Some("alice@example.com"), Some("Alice Liddell"))
    );

    let secret = store
        .find_secret(&user, &IdentityKey::Social("oidc".to_owned()))
        .await
        .expect("find")
        .expect("token set stored");
    let m = &secret.metadata;
    assert!(m.has_refresh_token);
    assert_eq!(m.token_type.as_deref(), Some("Bearer"));
    let scope: Vec<&str> = m.scope.as_deref().expect("scope").split(' ').collect();
    for s in ["openid", "profile", "email", "offline_access"] {
        assert!(scope.contains(&s), "{scope:?}");
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs() as i64;
    let expires_at = m.expires_at.expect("expiresAt").get();
    assert!(
        (now + 100..=now + 121).contains(&expires_at),
        "expiresAt {expires_at} vs now {now}"
    );
    assert_eq!(secret.relation.identity_id(), "alice");

    // The sealed access token is the upstream's real one: it works at the upstream's userinfo.
    let set = w.app.state.token_sets.open(&secret).expect("open");
    use strongroom_core::ExposeSecret;
    let me = strongroom_testkit::http()
        .build()
        .expect("client")
        .get(w.upstream.url("/me"))
        .bearer_auth(set.access_token.expose_secret())
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), 200);
    assert!(set.refresh_token.is_some() && set.id_token.is_some());
}

/// Signs in with `direct_sign_in=social:oidc` and redeems the code: the user and the tokens.
async fn direct_sign_in(w: &World, browser: &Browser, extra: &[(&str, &str)]) -> (UserId, Value) {
    let (verifier, challenge) = pkce();
    let mut params = vec![("direct_sign_in", "social:oidc")];
    params.extend_from_slice(extra);
    let landing = browser
        .follow(&w.auth_url(&params, &challenge), APP_REDIRECT)
        .await
        .app();
    let tokens = w
        .redeem(&param(&landing, "code").expect("code"), &verifier)
        .await;
    (subject(&tokens), tokens)
}

#[tokio::test]
async fn re_sign_in_merges_the_token_set_and_sessions_end() {
    let w = World::social(json!({})).await;
    let browser = Browser::new();
    let (user, _) = direct_sign_in(&w, &browser, &[]).await;
    let store = w.app.store();
    let first = store
        .find_secret(&user, &IdentityKey::Social("oidc".to_owned()))
        .await
        .expect("find")
        .expect("stored");
    let first_set = w.app.state.token_sets.open(&first).expect("open");

    // A live Strongroom session answers the next request at once, without the upstream.
    let interactions = w.upstream.stats().await["interactions"]
        .as_i64()
        .expect("count");
    let (verifier, challenge) = pkce();
    let landing = browser
        .follow(&w.auth_url(&[], &challenge), APP_REDIRECT)
        .await
        .app();
    assert_eq!(
        subject(
            &w.redeem(&param(&landing, "code").expect("code"), &verifier)
                .await
        ),
        user
    );
    assert_eq!(
        w.upstream.stats().await["interactions"].as_i64(),
        Some(interactions)
    );

    // Signing in again through the provider (prompt=login) updates the same secret: same id and
    // createdAt, new tokens, updatedAt moved.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let (again, _) = direct_sign_in(&w, &browser, &[("prompt", "login")]).await;
    assert_eq!(again, user, "the same upstream account is the same user");
    let second = store
        .find_secret(&user, &IdentityKey::Social("oidc".to_owned()))
        .await
        .expect("find")
        .expect("stored");
    assert_eq!(
        (second.id.clone(), second.created_at),
        (first.id.clone(), first.created_at)
    );
    assert!(second.updated_at > first.updated_at);
    use strongroom_core::ExposeSecret;
    let second_set = w.app.state.token_sets.open(&second).expect("open");
    assert_ne!(
        second_set.access_token.expose_secret(),
        first_set.access_token.expose_secret()
    );
    assert_eq!(w.user_count().await, 1);

    // A logout without an id_token_hint asks first; the session lives on until confirmed.
    let (status, page) = browser
        .follow(&w.app.url("/oidc/session/end"), "http://never/")
        .await
        .page();
    assert_eq!(status, 200);
    assert!(page.contains("Sign out?"), "{page}");
    let (_, challenge) = pkce();
    let (status, location) = browser.location(&w.auth_url(&[], &challenge)).await;
    assert_eq!(status, 303);
    assert!(
        location
            .expect("location")
            .as_str()
            .starts_with(APP_REDIRECT),
        "still signed in: straight back with a code"
    );
    let confirmation = page
        .split("name=\"confirmation\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the confirmation field")
        .to_owned();
    let (status, page) = browser
        .post_form(
            &w.app.url("/oidc/session/end"),
            &[("confirmation", &confirmation)],
            "http://never/",
        )
        .await
        .page();
    assert_eq!((status, page.contains("Signed out")), (200, true), "{page}");
    // After end session, /oidc/auth shows the sign-in page again.
    let (_, challenge) = pkce();
    let (status, location) = browser.location(&w.auth_url(&[], &challenge)).await;
    assert_eq!(status, 303);
    assert!(location.expect("location").path().starts_with("/sign-in/"));
    // prompt=none without a session: login_required, back at the application.
    let landing = browser
        .follow(&w.auth_url(&[("prompt", "none")], &challenge), APP_REDIRECT)
        .await
        .app();
    assert_eq!(param(&landing, "error").as_deref(), Some("login_required"));
}

#[tokio::test]
async fn token_storage_off_stores_nothing_and_switching_it_off_deletes_sets() {
    let w = World::social(json!({})).await;
    let (user, _) = direct_sign_in(&w, &Browser::new(), &[]).await;
    assert!(
        w.app
            .store()
            .find_secret(&user, &IdentityKey::Social("oidc".to_owned()))
            .await
            .expect("find")
            .is_some()
    );
    let (status, body) = w
        .app
        .api(
            &w.token,
            Method::PATCH,
            &format!("/api/connectors/{CONNECTOR}"),
            Some(json!({"enableTokenStorage": false})),
        )
        .await;
    assert_eq!(
        (status, body["enableTokenStorage"].as_bool()),
        (200, Some(false)),
        "{body}"
    );
    assert!(
        w.app
            .store()
            .find_secret(&user, &IdentityKey::Social("oidc".to_owned()))
            .await
            .expect("find")
            .is_none()
    );
    // A sign-in with storage off stores nothing (another account, a fresh browser).
    let (bob, _) = direct_sign_in(&w, &Browser::new(), &[("login_hint", "bob")]).await;
    assert_ne!(bob, user);
    assert!(
        w.app
            .store()
            .find_secret(&bob, &IdentityKey::Social("oidc".to_owned()))
            .await
            .expect("find")
            .is_none()
    );
    assert_eq!(w.app.store().count_secrets().await.expect("count"), 0);
}

#[tokio::test]
async fn openid_client_signs_in_to_strongroom() {
    let w = World::social(json!({})).await;
    let rp = |client_id: &str, secret: Option<&str>| {
        let mut config = json!({
            "issuer": w.app.url("/oidc"),
            "client_id": client_id,
            "redirect_uri": APP_REDIRECT,
            "scope": "openid profile email offline_access identities",
            "extra_params": {"direct_sign_in": "social:oidc", "login_hint": "alice"},
        });
        if let Some(secret) = secret {
            config["client_secret"] = json!(secret);
        }
        config
    };
    // A confidential web application.
    let out = run_rp(rp(&w.client_id, Some(&w.client_secret))).await;
    assert_eq!(out["ok"], true, "{out}");
    let sub = out["sub"].as_str().expect("sub").to_owned();
    assert_eq!(out["idTokenClaims"]["iss"], w.app.url("/oidc"));
    assert_eq!(out["idTokenClaims"]["aud"], json!(w.client_id));
    assert_eq!(out["idTokenClaims"]["email"], "alice@example.com");
    assert_eq!(out["userinfo"]["sub"], json!(sub));
    assert_eq!(out["callbackIss"], w.app.url("/oidc"));
    assert_eq!(
        (out["refreshed"].as_bool(), out["refreshRotated"].as_bool()),
        (Some(true), Some(true)),
        "{out}"
    );

    // A public single-page application: PKCE, no secret; the same upstream account is the
    // same Strongroom user.
    let (spa, _) = w.app.application("SPA", &[APP_REDIRECT]).await;
    let out = run_rp(rp(spa.id.as_str(), None)).await;
    assert_eq!(out["ok"], true, "{out}");
    assert_eq!(out["sub"], json!(sub));
    assert!(
        w.app
            .store()
            .find_secret(&UserId::from(sub), &IdentityKey::Social("oidc".to_owned()))
            .await
            .expect("find")
            .is_some()
    );
}

/// An SSO connector for `example.com` behind the upstream. The connector is created first
/// (without config), so its callback URL is known when the upstream starts.
async fn sso_world(storage: bool) -> (TestApp, Upstream, String, String, String) {
    let app = TestApp::spawn().await;
    let token = app.management_token().await;
    let (status, created) = app
        .api(&token, Method::POST, "/api/sso-connectors", Some(json!({"providerName": "OIDC", "connectorName": "Example Corp", "domains": ["Example.com"]})))
        .await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["domains"], json!(["example.com"]));
    let id = created["id"].as_str().expect("id").to_owned();
    let upstream = Upstream::start(&[app.url(&format!("/callback/sso/{id}"))], json!({}));
    let (status, patched) = app
        .api(
            &token,
            Method::PATCH,
            &format!("/api/sso-connectors/{id}"),
            Some(json!({
                "config": {"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET, "issuer": upstream.issuer, "scope": "openid profile email offline_access"},
                "enableTokenStorage": storage,
            })),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(
        patched["providerConfig"]["tokenEndpoint"],
        json!(upstream.url("/token"))
    );
    assert!(
        patched["config"].get("clientSecret").is_none(),
        "the client secret is never returned: {patched}"
    );
    let (row, secret) = app.application("Traditional", &[APP_REDIRECT]).await;
    (
        app,
        upstream,
        id,
        row.id.to_string(),
        secret.expect("secret"),
    )
}

#[tokio::test]
async fn enterprise_sso_by_email_domain_stores_the_token_set() {
    let (app, _upstream, sso_id, client_id, client_secret) = sso_world(true).await;
    let w = World {
        app,
        upstream: _upstream,
        token: String::new(),
        client_id,
        client_secret,
    };
    let browser = Browser::new();
    let (verifier, challenge) = pkce();
    let (_, location) = browser
        .location(&w.auth_url(&[("login_hint", "alice")], &challenge))
        .await;
    let page_url = location.expect("sign-in page");
    let (_, page) = browser.follow(page_url.as_str(), APP_REDIRECT).await.page();
    assert!(page.contains("name=\"email\""), "{page}");
    let action = w.app.url(&format!("{}/sso", page_url.path()));
    // An address no connector handles is refused on the page itself.
    let (status, page) = browser
        .post_form(&action, &[("email", "carol@elsewhere.org")], APP_REDIRECT)
        .await
        .page();
    assert_eq!(status, 404);
    assert!(
        page.contains("elsewhere.org") && page.contains("role=\"alert\""),
        "{page}"
    );
    let landing = browser
        .post_form(&action, &[("email", "alice@EXAMPLE.com")], APP_REDIRECT)
        .await
        .app();
    let tokens = w
        .redeem(&param(&landing, "code").expect("code"), &verifier)
        .await;
    let user = subject(&tokens);
    let sso = strongroom_core::store::SsoConnectorId::from(sso_id.clone());
    let identity = w
        .app
        .store()
        .get_sso_identity(&user, &sso)
        .await
        .expect("get")
        .expect("sso identity");
    assert_eq!(
        (identity.identity_id.as_str(), identity.issuer.as_str()),
        ("alice", w.upstream.issuer.as_str())
    );
    let secret = w
        .app
        .store()
        .find_secret(&user, &IdentityKey::Sso(sso.clone()))
        .await
        .expect("find")
        .expect("token set");
    assert!(secret.metadata.has_refresh_token);
    assert_eq!(secret.metadata.token_type.as_deref(), Some("Bearer"));
    assert!(
        secret
            .metadata
            .scope
            .as_deref()
            .is_some_and(|s| s.contains("openid"))
    );
    assert!(secret.metadata.expires_at.is_some());

    // direct_sign_in=sso:<id> skips the page; switching storage off deletes the set.
    let (verifier, challenge) = pkce();
    let landing = Browser::new()
        .follow(
            &w.auth_url(
                &[
                    ("direct_sign_in", &format!("sso:{sso_id}")),
                    ("login_hint", "alice"),
                ],
                &challenge,
            ),
            APP_REDIRECT,
        )
        .await
        .app();
    assert_eq!(
        subject(
            &w.redeem(&param(&landing, "code").expect("code"), &verifier)
                .await
        ),
        user
    );
    let token = w.app.management_token().await;
    let (status, _) = w
        .app
        .api(
            &token,
            Method::PATCH,
            &format!("/api/sso-connectors/{sso_id}"),
            Some(json!({"enableTokenStorage": false})),
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        w.app
            .store()
            .find_secret(&user, &IdentityKey::Sso(sso.clone()))
            .await
            .expect("find")
            .is_none()
    );
}

#[tokio::test]
async fn replayed_and_foreign_state_are_refused_and_create_no_user() {
    let w = World::social(json!({})).await;
    let browser = Browser::new();
    let (_, challenge) = pkce();
    // Walk to the provider's redirect back to Strongroom, then stop.
    let callback = w.app.url(&format!("/callback/{CONNECTOR}"));
    let back = browser
        .follow(
            &w.auth_url(&[("direct_sign_in", "social:oidc")], &challenge),
            &callback,
        )
        .await
        .app();
    // Another browser presenting this state is refused, and does not burn it.
    let (status, body) = Browser::new()
        .follow(back.as_str(), APP_REDIRECT)
        .await
        .page();
    assert_eq!(status, 400);
    assert!(body.contains("session.state_mismatch"), "{body}");
    assert_eq!(w.user_count().await, 0);
    // The browser that started it finishes; presenting the same state again is refused.
    browser.follow(back.as_str(), APP_REDIRECT).await.app();
    assert_eq!(w.user_count().await, 1);
    let (status, body) = browser.follow(back.as_str(), APP_REDIRECT).await.page();
    assert_eq!(status, 400);
    assert!(body.contains("session.state_mismatch"), "{body}");
    // A made-up state, and a state at another connector's callback.
    let (status, _) = browser
        .follow(&format!("{callback}?code=x&state=made-up"), APP_REDIRECT)
        .await
        .page();
    assert_eq!(status, 400);
    assert_eq!(w.user_count().await, 1);
}

#[tokio::test]
async fn a_code_with_another_attempts_pkce_verifier_is_refused_by_the_provider() {
    let w = World::social(json!({})).await;
    let browser = Browser::new();
    let callback = w.app.url(&format!("/callback/{CONNECTOR}"));
    let (_, challenge) = pkce();
    let first = browser
        .follow(
            &w.auth_url(&[("direct_sign_in", "social:oidc")], &challenge),
            &callback,
        )
        .await
        .app();
    let second = browser
        .follow(
            &w.auth_url(&[("direct_sign_in", "social:oidc")], &challenge),
            &callback,
        )
        .await
        .app();
    // The first attempt's code with the second attempt's state: Strongroom sends the second
    // attempt's PKCE verifier (and expects its nonce), so the provider must refuse the code.
    let mut swapped = second.clone();
    swapped
        .query_pairs_mut()
        .clear()
        .append_pair("code", &param(&first, "code").expect("code"))
        .append_pair("state", &param(&second, "state").expect("state"));
    if let Some(iss) = param(&second, "iss") {
        swapped.query_pairs_mut().append_pair("iss", &iss);
    }
    let (status, body) = browser.follow(swapped.as_str(), APP_REDIRECT).await.page();
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("connector.authorization_failed"), "{body}");
    assert_eq!(w.user_count().await, 0);
    assert_eq!(
        w.upstream.stats().await["tokenErrors"]["invalid_grant"].as_i64(),
        Some(1)
    );
}

#[tokio::test]
async fn upstream_errors_reach_the_application_or_an_error_page_and_create_no_user() {
    let w = World::social(json!({})).await;
    let (_, challenge) = pkce();
    // The user denies at the provider: the application hears access_denied.
    let landing = Browser::new()
        .follow(
            &w.auth_url(
                &[("direct_sign_in", "social:oidc"), ("login_hint", "deny")],
                &challenge,
            ),
            APP_REDIRECT,
        )
        .await
        .app();
    assert_eq!(param(&landing, "error").as_deref(), Some("access_denied"));
    assert_eq!(param(&landing, "state").as_deref(), Some("app-state"));
    // The provider's token endpoint fails: 502, or 400 for invalid_grant; never a 500.
    for (fault, status, code) in [
        ("status500", 502, "connector.provider_unavailable"),
        ("garbage", 502, "connector.invalid_response"),
        ("invalid_grant", 400, "connector.authorization_failed"),
    ] {
        w.upstream.fault(fault, 1).await;
        let (got, body) = Browser::new()
            .follow(
                &w.auth_url(&[("direct_sign_in", "social:oidc")], &challenge),
                APP_REDIRECT,
            )
            .await
            .page();
        assert_eq!(got, status, "{fault}: {body}");
        assert!(body.contains(code), "{fault}: {body}");
    }
    assert_eq!(w.user_count().await, 0);
}

#[tokio::test]
async fn bad_authorization_requests_and_unknown_connectors() {
    let w = World::social(json!({})).await;
    let browser = Browser::new();
    let (_, challenge) = pkce();
    // Unknown client or redirect URI: an error page, never a redirect.
    let bad_client = w.auth_url(&[], &challenge).replace(&w.client_id, "nope");
    let (status, body) = browser.follow(&bad_client, APP_REDIRECT).await.page();
    assert_eq!(status, 400);
    assert!(body.contains("oidc.invalid_client"), "{body}");
    let bad_redirect = w
        .auth_url(&[], &challenge)
        .replace("127.0.0.1%3A9", "evil.example");
    let (status, body) = browser
        .follow(&bad_redirect, "http://evil.example")
        .await
        .page();
    assert_eq!(status, 400);
    assert!(body.contains("oidc.invalid_redirect_uri"), "{body}");
    // Redirectable errors go back to the application.
    for (extra, error) in [
        (vec![("direct_sign_in", "social:nope")], "invalid_request"),
        (
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
        (vec![("code_challenge_method", "plain")], "invalid_request"),
        (vec![("resource", "https://api.example")], "invalid_target"),
    ] {
        let mut url = url::Url::parse(&w.auth_url(&[], &challenge)).expect("url");
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .into_owned()
            .filter(|(k, _)| !extra.iter().any(|(e, _)| e == k))
            .collect();
        url.query_pairs_mut()
            .clear()
            .extend_pairs(pairs)
            .extend_pairs(extra.iter().copied());
        let landing = browser.follow(url.as_str(), APP_REDIRECT).await.app();
        assert_eq!(
            param(&landing, "error").as_deref(),
            Some(error),
            "{extra:?}"
        );
    }
    // A public client must use PKCE.
    let (spa, _) = w.app.application("SPA", &[APP_REDIRECT]).await;
    let url = w
        .auth_url(&[], &challenge)
        .replace(&w.client_id, spa.id.as_str());
    let url = url::Url::parse(&url).expect("url");
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .into_owned()
        .filter(|(k, _)| !k.starts_with("code_challenge"))
        .collect();
    let mut url = url.clone();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    let landing = browser.follow(url.as_str(), APP_REDIRECT).await.app();
    assert_eq!(param(&landing, "error").as_deref(), Some("invalid_request"));
    // A sign-in page choice naming an unknown connector, and a page of another browser.
    let (_, location) = browser.location(&w.auth_url(&[], &challenge)).await;
    let page = location.expect("page");
    let (status, body) = browser
        .post_form(
            &w.app.url(&format!("{}/social/nope", page.path())),
            &[],
            APP_REDIRECT,
        )
        .await
        .page();
    assert_eq!(status, 404);
    assert!(body.contains("session.invalid_connector_id"), "{body}");
    let (status, body) = Browser::new()
        .follow(page.as_str(), APP_REDIRECT)
        .await
        .page();
    assert_eq!(status, 400);
    assert!(body.contains("session.not_found"), "{body}");
    assert_eq!(w.user_count().await, 0);
    let _ = ConnectorId::from(CONNECTOR);
}
