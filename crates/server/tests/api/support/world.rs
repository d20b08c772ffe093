//! A user signed in through the real upstream OpenID provider behind the `oidc` connector with
//! token storage on, holding Strongroom tokens of a Traditional application; Strongroom's clock
//! is manual, so a test moves it past the stored token's expiry instead of sleeping.

use std::sync::Arc;

use reqwest::Method;
use serde_json::{Value, json};
use strongroom_core::store::{ApplicationRow, IdentityKey, SecretRow, UserId};
use strongroom_core::{Clock, ManualClock, SystemClock};

use super::browser::{Browser, param};
use super::upstream::{CLIENT_ID, CLIENT_SECRET, Upstream};
use super::{Options, TestApp, pkce};

pub const APP_REDIRECT: &str = "http://127.0.0.1:9/cb";
pub const TOKEN_PATH: &str = "/api/my-account/identities/oidc/access-token";
/// Upstream access tokens live ten minutes.
pub const TTL: i64 = 600;

pub struct World {
    pub app: TestApp,
    pub upstream: Upstream,
    pub clock: ManualClock,
    pub user: UserId,
    /// The Traditional application the user signed in to, and its secret.
    pub client: (ApplicationRow, String),
    /// Strongroom access token of the user (openid identities, and whatever else was asked).
    pub bearer: String,
    /// Strongroom refresh token of the user, when `offline_access` was asked.
    pub refresh: Option<String>,
    pub management: String,
}

impl World {
    /// A user signed in through the upstream behind the `oidc` connector, token storage on
    /// (`scope` at the upstream), with Strongroom tokens for `openid identities`.
    pub async fn new(scope: &str, provider_timeout_secs: u64) -> Self {
        Self::signed_in(scope, "openid identities", provider_timeout_secs).await
    }

    /// The same, with Strongroom tokens for `own_scope`.
    pub async fn signed_in(scope: &str, own_scope: &str, provider_timeout_secs: u64) -> Self {
        let clock = ManualClock::new(SystemClock.now_ms());
        let app = TestApp::spawn_with(Options {
            clock: Arc::new(clock.clone()),
            provider_timeout: std::time::Duration::from_secs(provider_timeout_secs),
            skew_secs: 60,
            ..Options::default()
        })
        .await;
        let upstream = Upstream::start(
            &[app.url("/callback/up"), APP_REDIRECT.to_owned()],
            json!({"accessTokenTtl": TTL}),
        );
        let management = app.management_token().await;
        let (status, body) = app
            .api(
                &management,
                Method::POST,
                "/api/connectors",
                Some(json!({"id": "up", "connectorId": "oidc", "enableTokenStorage": true,
                    "config": {"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET, "issuer": upstream.issuer, "scope": scope}})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let (client, secret) = app.application("Traditional", &[APP_REDIRECT]).await;
        let (verifier, challenge) = pkce();
        let mut auth = url::Url::parse(&app.url("/oidc/auth")).expect("url");
        auth.query_pairs_mut().extend_pairs([
            ("client_id", client.id.as_str()),
            ("redirect_uri", APP_REDIRECT),
            ("response_type", "code"),
            ("scope", own_scope),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("direct_sign_in", "social:oidc"),
        ]);
        let landing = Browser::new()
            .follow(auth.as_str(), APP_REDIRECT)
            .await
            .app();
        let tokens: Value = app
            .http
            .post(app.url("/oidc/token"))
            .basic_auth(client.id.as_str(), secret.as_deref())
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", &param(&landing, "code").expect("code")),
                ("redirect_uri", APP_REDIRECT),
                ("code_verifier", &verifier),
            ])
            .send()
            .await
            .expect("token")
            .json()
            .await
            .expect("json");
        let bearer = tokens["access_token"]
            .as_str()
            .expect("access token")
            .to_owned();
        let me: Value = app
            .http
            .get(app.url("/oidc/me"))
            .bearer_auth(&bearer)
            .send()
            .await
            .expect("me")
            .json()
            .await
            .expect("json");
        let user = UserId::from(me["sub"].as_str().expect("sub").to_owned());
        let refresh = tokens["refresh_token"].as_str().map(str::to_owned);
        Self {
            app,
            upstream,
            clock,
            user,
            client: (client, secret.expect("a Traditional application's secret")),
            bearer,
            refresh,
            management,
        }
    }

    pub async fn read(&self) -> (u16, Value) {
        self.app
            .api(&self.bearer, Method::GET, TOKEN_PATH, None)
            .await
    }

    pub async fn secret(&self) -> SecretRow {
        self.app
            .store()
            .find_secret(&self.user, &IdentityKey::Social("oidc".to_owned()))
            .await
            .expect("find")
            .expect("the set is stored")
    }

    /// Moves Strongroom's clock past the stored access token's expiry.
    pub async fn expire(&self) {
        let expires_at = self.secret().await.metadata.expires_at.expect("expiresAt");
        let now = self.clock.now_secs();
        self.clock.advance_secs(expires_at.since(now) + 1);
    }

    pub async fn refreshes(&self) -> i64 {
        self.upstream.stats().await["tokenRequests"]["refresh_token"]
            .as_i64()
            .unwrap_or(0)
    }

    /// The provider still honours the access token (the grant was not revoked).
    pub async fn upstream_accepts(&self, access_token: &str) -> bool {
        strongroom_testkit::http()
            .build()
            .expect("client")
            .get(self.upstream.url("/me"))
            .bearer_auth(access_token)
            .send()
            .await
            .expect("me")
            .status()
            == 200
    }

    pub async fn audit(&self, action: &str) -> Vec<Value> {
        let path = format!(
            "/api/audit-events?userId={}&action={action}&page_size=100",
            self.user
        );
        let (status, events) = self
            .app
            .api(&self.management, Method::GET, &path, None)
            .await;
        assert_eq!(status, 200);
        events.as_array().cloned().unwrap_or_default()
    }
}
