//! End to end: an application signs a user in through Strongroom, which signs the user in at a
//! real upstream OpenID provider (npm `oidc-provider`) through the generic `oidc` social
//! connector or an enterprise SSO connector, and stores the provider's token set.

mod support;

use reqwest::Method;
use serde_json::{Value, json};
use strongroom_core::store::{ConnectorId, UserId};
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
        let upstream = Upstream::start(&[app.url(&format!("/callback/{CONNECTOR}"))], upstream_extra);
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
        Self { app, upstream, token, client_id: row.id.0, client_secret: secret.expect("secret") }
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
            .form(&[("grant_type", "authorization_code"), ("code", code), ("redirect_uri", APP_REDIRECT), ("code_verifier", verifier)])
            .send()
            .await
            .expect("token");
        assert_eq!(response.status(), 200);
        response.json().await.expect("json")
    }

    async fn user_count(&self) -> i64 {
        self.app.store().list_users(None, 1, 0).await.expect("users").1
    }
}

/// The user id in Strongroom's ID token (no verification: other tests verify it).
fn subject(tokens: &Value) -> UserId {
    let id_token = tokens["id_token"].as_str().expect("id_token");
    let payload = id_token.split('.').nth(1).expect("payload");
    use base64::Engine as _;
    let claims: Value = serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).expect("b64")).expect("json");
    UserId(claims["sub"].as_str().expect("sub").to_owned())
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
    assert!(page.contains(&action) && page.contains("Continue with OIDC"), "{page}");
    let landing = browser.post_form(&w.app.url(&action), &[], APP_REDIRECT).await.app();
    assert_eq!(param(&landing, "state").as_deref(), Some("app-state"));
    assert_eq!(param(&landing, "iss").as_deref(), Some(w.app.url("/oidc").as_str()));
    let tokens = w.redeem(&param(&landing, "code").expect("code"), &verifier).await;
    let user = subject(&tokens);

    let store = w.app.store();
    let identity = store.get_social_identity(&user, "oidc").await.expect("identity").expect("linked");
    assert_eq!(identity.identity_id, "alice");
    let account = store.get_user(&user).await.expect("get").expect("user");
    assert_eq!((account.primary_email.as_deref(), account.name.as_deref()), (Some("alice@example.com"), Some("Alice Liddell")));

    let secret = store.find_social_secret(&user, "oidc").await.expect("find").expect("token set stored");
    let m = &secret.metadata;
    assert!(m.has_refresh_token);
    assert_eq!(m.token_type.as_deref(), Some("Bearer"));
    let scope: Vec<&str> = m.scope.as_deref().expect("scope").split(' ').collect();
    for s in ["openid", "profile", "email", "offline_access"] {
        assert!(scope.contains(&s), "{scope:?}");
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("time").as_secs() as i64;
    let expires_at = m.expires_at.expect("expiresAt");
    assert!((now + 100..=now + 121).contains(&expires_at), "expiresAt {expires_at} vs now {now}");
    assert_eq!(secret.relation.identity_id(), "alice");

    // The sealed access token is the upstream's real one: it works at the upstream's userinfo.
    let set = w.app.state.token_sets.open(&secret).expect("open");
    use strongroom_core::ExposeSecret;
    let me = reqwest::Client::new().get(w.upstream.url("/me")).bearer_auth(set.access_token.expose_secret()).send().await.expect("me");
    assert_eq!(me.status(), 200);
    assert!(set.refresh_token.is_some() && set.id_token.is_some());
    let _ = ConnectorId(CONNECTOR.into());
}
