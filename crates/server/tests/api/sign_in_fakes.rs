//! The complete sign-in through Strongroom for the GitHub, Google, Facebook, generic OAuth 2.0
//! and generic OpenID Connect social connectors, each against a `wiremock` fake that behaves like
//! the real provider API: the same paths, client authentication, answer formats and quirks
//! (GitHub's errors inside HTTP 200, comma-separated scopes and numeric ids; Google's `Bearer`,
//! `expires_in: 3599` and codes with a slash; Facebook's GET token exchange, long-lived token,
//! `appsecret_proof` and error objects; query-string token answers). A fake answers a token
//! request only when it redeems the code the fake issued, with the registered redirect URI, the
//! client's credentials and the PKCE verifier of the challenge it was sent; anything else gets
//! the provider's own error, as the real one would answer.
//!
//! Every token, code and secret the fakes hand out contains `PLANTED`: that word must never show
//! up in an error page, in the plaintext `metadata` column of a stored secret, in identity
//! details or in the audit trail.

use crate::support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::signature::KeyPair as _;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::Row as _;
use strongroom_core::ExposeSecret;
use strongroom_core::store::{AuditFilter, IdentityKey, SecretRow, UserId};
use support::browser::{Browser, Landing, param};
use support::vault::{b64url, params, s256};
use support::{TestApp, pkce};
use url::Url;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const APP_REDIRECT: &str = "http://127.0.0.1:9/cb";
const CLIENT_ID: &str = "fake-client-id";
const CLIENT_SECRET: &str = "PLANTED-client-secret-5b1e9c";
/// Marks every secret value the fakes hand out.
const PLANTED: &str = "PLANTED";

// ----------------------------------------------------------------------------------------------
// Strongroom side
// ----------------------------------------------------------------------------------------------

/// A Strongroom with a Traditional application and one social connector, `<target>-fake`, whose
/// provider is the fake.
struct World {
    app: TestApp,
    fake: MockServer,
    target: &'static str,
    connector: String,
    client_id: String,
    client_secret: String,
}

impl World {
    /// Creates the connector of `factory` with token storage on and `config(<fake base URL>)`.
    async fn new(factory: &str, target: &'static str, config: impl FnOnce(&str) -> Value) -> Self {
        let fake = MockServer::start().await;
        let app = TestApp::spawn().await;
        let token = app.management_token().await;
        let connector = format!("{target}-fake");
        let (status, body) = app
            .api(
                &token,
                Method::POST,
                "/api/connectors",
                Some(json!({
                    "id": connector,
                    "connectorId": factory,
                    "config": config(&fake.uri()),
                    "enableTokenStorage": true,
                })),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["id"].as_str(), Some(connector.as_str()), "{body}");
        assert_eq!(body["target"].as_str(), Some(target), "{body}");
        assert_eq!(body["enableTokenStorage"].as_bool(), Some(true), "{body}");
        assert!(
            !body.to_string().contains(PLANTED),
            "the connector response shows the client secret: {body}"
        );
        let (row, secret) = app.application("Traditional", &[APP_REDIRECT]).await;
        Self {
            app,
            fake,
            target,
            connector,
            client_id: row.id.to_string(),
            client_secret: secret.expect("secret"),
        }
    }

    fn callback_uri(&self) -> String {
        self.app.url(&format!("/callback/{}", self.connector))
    }

    fn auth_url(&self, challenge: &str) -> String {
        let mut url = Url::parse(&self.app.url("/oidc/auth")).expect("url");
        url.query_pairs_mut()
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", APP_REDIRECT)
            .append_pair("response_type", "code")
            .append_pair("scope", "openid profile email offline_access identities")
            .append_pair("state", "app-state")
            .append_pair("nonce", "app-nonce")
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("direct_sign_in", &format!("social:{}", self.target));
        url.into()
    }

    /// `/oidc/auth` with `direct_sign_in`: Strongroom's 303 straight to the fake's authorization
    /// endpoint at `endpoint_path` (the URL is checked, not fetched).
    async fn start(&self, browser: &Browser, challenge: &str, endpoint_path: &str) -> Url {
        let (status, location) = browser.location(&self.auth_url(challenge)).await;
        assert_eq!(status, 303);
        let url = location.expect("Location");
        let fake = Url::parse(&self.fake.uri()).expect("fake url");
        assert_eq!(
            url.origin(),
            fake.origin(),
            "Strongroom did not send the browser to the provider: {url}"
        );
        assert_eq!(url.path(), endpoint_path, "{url}");
        assert_eq!(
            param(&url, "client_id").as_deref(),
            Some(CLIENT_ID),
            "{url}"
        );
        assert_eq!(
            param(&url, "redirect_uri"),
            Some(self.callback_uri()),
            "{url}"
        );
        let state = param(&url, "state").expect("state");
        assert!(
            state.len() >= 32 && !state.contains("app-state"),
            "weak or leaked state {state:?}"
        );
        assert_eq!(
            url.query_pairs().filter(|(k, _)| k == "state").count(),
            1,
            "{url}"
        );
        url
    }

    /// The provider sends the browser back to Strongroom's callback with `query`.
    async fn callback(&self, browser: &Browser, query: &[(&str, &str)]) -> Landing {
        let mut url = Url::parse(&self.callback_uri()).expect("url");
        url.query_pairs_mut().extend_pairs(query);
        browser.follow(url.as_str(), APP_REDIRECT).await
    }

    /// The browser is back at the application with a code: redeems it, returns the user id.
    async fn finish(&self, landing: Landing, verifier: &str) -> UserId {
        let back = landing.app();
        assert_eq!(
            param(&back, "state").as_deref(),
            Some("app-state"),
            "{back}"
        );
        assert_eq!(param(&back, "iss"), Some(self.app.url("/oidc")), "{back}");
        assert_eq!(param(&back, "error"), None, "{back}");
        let code = param(&back, "code").expect("code");
        let response = self
            .app
            .http
            .post(self.app.url("/oidc/token"))
            .basic_auth(&self.client_id, Some(&self.client_secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", APP_REDIRECT),
                ("code_verifier", verifier),
            ])
            .send()
            .await
            .expect("token");
        assert_eq!(response.status(), 200);
        let tokens: Value = response.json().await.expect("json");
        let id_token = tokens["id_token"].as_str().expect("id_token");
        let payload = id_token.split('.').nth(1).expect("payload");
        let claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("b64")).expect("json");
        UserId::from(claims["sub"].as_str().expect("sub").to_owned())
    }

    async fn user_count(&self) -> i64 {
        self.app
            .store()
            .list_users(None, 1, 0)
            .await
            .expect("users")
            .1
    }

    /// The token set stored for `user` at this connector's target.
    async fn stored(&self, user: &UserId) -> SecretRow {
        self.app
            .store()
            .find_secret(user, &IdentityKey::Social(self.target.to_owned()))
            .await
            .expect("find")
            .expect("token set stored")
    }

    /// Checks that the stored set and everything beside it keeps its tokens sealed: the raw
    /// `metadata` column, the metadata as the store reads it back, the identity details, the
    /// audit trail (which records the store), and the ciphertext itself.
    async fn assert_sealed(&self, secret: &SecretRow, extra: &[&str]) {
        let store = self.app.store();
        let raw: String = sqlx::query("SELECT metadata FROM secrets WHERE id = $1")
            .bind(secret.id.as_str())
            .fetch_one(store.pool())
            .await
            .expect("select metadata")
            .try_get("metadata")
            .expect("metadata column");
        let reread = store
            .get_secret(&secret.id)
            .await
            .expect("get")
            .expect("secret");
        let serialized = serde_json::to_string(&reread.metadata).expect("serialize");
        let identity = store
            .get_social_identity(&secret.user_id, self.target)
            .await
            .expect("identity")
            .expect("linked");
        let (events, _) = store
            .list_audit_events(
                &AuditFilter {
                    user_id: Some(secret.user_id.as_str().to_owned()),
                    secret_id: None,
                    action: None,
                    application_id: None,
                },
                100,
                0,
            )
            .await
            .expect("audit");
        let stored = events
            .iter()
            .filter(|e| e.action == "token.store")
            .collect::<Vec<_>>();
        assert!(!stored.is_empty(), "no token.store audit event: {events:?}");
        for event in &stored {
            assert_eq!(
                (event.outcome.as_str(), event.secret_id.as_deref()),
                ("success", Some(secret.id.as_str())),
                "{event:?}"
            );
        }
        let audit = format!("{events:?}");
        for needle in extra.iter().copied().chain([PLANTED]) {
            assert!(
                !raw.contains(needle),
                "the metadata column holds {needle:?}: {raw}"
            );
            assert!(
                !serialized.contains(needle),
                "the metadata holds {needle:?}: {serialized}"
            );
            assert!(
                !identity.details.to_string().contains(needle),
                "identity details hold {needle:?}: {}",
                identity.details
            );
            assert!(
                !audit.contains(needle),
                "the audit trail holds {needle:?}: {audit}"
            );
            for bytes in [&secret.envelope.ciphertext, &secret.envelope.encrypted_dek] {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                    "the envelope holds {needle:?} in clear"
                );
            }
        }
        self.assert_nowhere_in_database(extra).await;
    }

    /// No planted value anywhere in the database: every SQLite file or every PostgreSQL row
    /// (text or hex). Closes the store, so it comes last.
    async fn assert_nowhere_in_database(&self, extra: &[&str]) {
        let needles: Vec<&str> = extra.iter().copied().chain([PLANTED]).collect();
        strongroom_testkit::plaintext::assert_absent_in_database(
            self.app.db(),
            self.app.store(),
            &needles,
        )
        .await;
    }
}

/// An error page with `status` and `code`, which shows no token, code or secret; returns the body.
fn error_page(landing: Landing, status: u16, code: &str, extra: &[&str]) -> String {
    let (got, body) = landing.page();
    assert_eq!(got, status, "{body}");
    assert!(
        body.contains(&format!("Error code: <code>{code}</code>")),
        "expected {code}: {body}"
    );
    for needle in extra.iter().copied().chain([PLANTED]) {
        assert!(
            !body.contains(needle),
            "the error page shows {needle:?}: {body}"
        );
    }
    body
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("time")
        .as_secs() as i64
}

/// `expiresAt` is `expires_in` after the moment of the callback, bounded by the clock readings
/// taken around it.
fn assert_expires_at(secret: &SecretRow, before: i64, after: i64, expires_in: i64) {
    let at = secret.metadata.expires_at.expect("expiresAt").get();
    assert!(
        (before + expires_in..=after + expires_in).contains(&at),
        "expiresAt {at}, callback between {before} and {after}, expires_in {expires_in}"
    );
}

/// Whether PKCE S256 is on the authorization URL.
fn assert_pkce(url: &Url) {
    assert_eq!(
        param(url, "code_challenge_method").as_deref(),
        Some("S256"),
        "{url}"
    );
    let challenge = param(url, "code_challenge").expect("code_challenge");
    assert_eq!(challenge.len(), 43, "{challenge}");
    assert!(
        challenge
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "{challenge}"
    );
}

// ----------------------------------------------------------------------------------------------
// What every fake shares
// ----------------------------------------------------------------------------------------------

fn header(req: &Request, name: &str) -> Option<String> {
    req.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn has(p: &HashMap<String, String>, key: &str, value: &str) -> bool {
    p.get(key).map(String::as_str) == Some(value)
}

/// `Authorization: Bearer <token>` (any case of the scheme).
fn bearer_is(req: &Request, token: &str) -> bool {
    header(req, "authorization")
        .and_then(|h| {
            h.split_once(' ')
                .map(|(scheme, t)| (scheme.to_ascii_lowercase(), t.to_owned()))
        })
        .is_some_and(|(scheme, t)| scheme == "bearer" && t == token)
}

/// client_secret_basic with the test client (id and secret need no form-encoding).
fn basic_is_client(req: &Request) -> bool {
    header(req, "authorization")
        == Some(format!(
            "Basic {}",
            STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
        ))
}

fn post_is_client(p: &HashMap<String, String>) -> bool {
    has(p, "client_id", CLIENT_ID) && has(p, "client_secret", CLIENT_SECRET)
}

fn json_answer(status: u16, body: &Value, content_type: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(body.to_string(), content_type)
}

/// What the fake provider issued at its authorization step: the code, and what redeeming it
/// demands (the same redirect URI, the verifier of the challenge when one was sent).
#[derive(Debug, Clone)]
struct Grant {
    code: String,
    redirect_uri: String,
    challenge: Option<String>,
}

impl Grant {
    fn issued(code: &str, authorize: &Url) -> Self {
        Self {
            code: code.to_owned(),
            redirect_uri: param(authorize, "redirect_uri").expect("redirect_uri"),
            challenge: param(authorize, "code_challenge"),
        }
    }

    /// Why a token request would not redeem this grant (`None`: it does).
    fn refusal(&self, p: &HashMap<String, String>) -> Option<&'static str> {
        if !has(p, "code", &self.code) {
            return Some("code");
        }
        if !has(p, "redirect_uri", &self.redirect_uri) {
            return Some("redirect_uri");
        }
        match (&self.challenge, p.get("code_verifier")) {
            (None, _) => None,
            (Some(challenge), Some(verifier)) if s256(verifier) == *challenge => None,
            (Some(_), _) => Some("code_verifier"),
        }
    }
}

/// The requests the fake received at `path`.
async fn received(fake: &MockServer, at: &str) -> Vec<Request> {
    fake.received_requests()
        .await
        .expect("recording on")
        .into_iter()
        .filter(|r| r.url.path() == at)
        .collect()
}

// ----------------------------------------------------------------------------------------------
// GitHub (github.com / GitHub Enterprise Server: API under /api/v3)
// ----------------------------------------------------------------------------------------------

fn github_config(base: &str) -> Value {
    json!({
        "clientId": CLIENT_ID,
        "clientSecret": CLIENT_SECRET,
        "baseUrl": base,
        "apiBaseUrl": format!("{base}/api/v3"),
    })
}

fn github_error(error: &str, description: &str, anchor: &str) -> Value {
    json!({
        "error": error,
        "error_description": description,
        "error_uri": format!("https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#{anchor}"),
    })
}

/// GitHub's `POST /login/oauth/access_token`: HTTP 200 whatever happens, with the error inside;
/// JSON when asked with `Accept: application/json`, a form-encoded body otherwise.
async fn mount_github_token(fake: &MockServer, grant: Grant, answer: Value) {
    Mock::given(method("POST"))
        .and(path("/login/oauth/access_token"))
        .respond_with(move |req: &Request| {
            let p = params(req);
            let body = if !post_is_client(&p) {
                github_error("incorrect_client_credentials", "The client_id and/or client_secret passed are incorrect.", "incorrect-client-credentials")
            } else {
                match grant.refusal(&p) {
                    Some("redirect_uri") => github_error(
                        "redirect_uri_mismatch",
                        "The redirect_uri MUST match the registered callback URL for this application.",
                        "redirect-uri-mismatch2",
                    ),
                    Some(_) => github_error("bad_verification_code", "The code passed is incorrect or expired.", "bad-verification-code"),
                    None => answer.clone(),
                }
            };
            github_token_answer(req, &body)
        })
        .mount(fake)
        .await;
}

fn github_token_answer(req: &Request, body: &Value) -> ResponseTemplate {
    if header(req, "accept").is_some_and(|a| a.contains("application/json")) {
        return json_answer(200, body, "application/json; charset=utf-8");
    }
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in body.as_object().expect("object") {
        form.append_pair(
            k,
            &match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            },
        );
    }
    ResponseTemplate::new(200).set_body_raw(
        form.finish(),
        "application/x-www-form-urlencoded; charset=utf-8",
    )
}

/// GitHub's REST API: a User-Agent is required, the token must be the issued one; `answer`
/// `None` is the 403 a GitHub App without the permission gets.
fn github_rest(req: &Request, token: &str, answer: Option<&Value>, docs: &str) -> ResponseTemplate {
    if header(req, "user-agent").is_none() {
        return ResponseTemplate::new(403).set_body_raw(
            "Request forbidden by administrative rules. Please make sure your request has a User-Agent header \
             (https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required). \
             Check https://developer.github.com for other possible causes.\n",
            "text/plain; charset=utf-8",
        );
    }
    let authorized = header(req, "authorization")
        .is_some_and(|h| h == format!("Bearer {token}") || h == format!("token {token}"));
    if !authorized {
        return json_answer(
            401,
            &json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"}),
            "application/json; charset=utf-8",
        );
    }
    match answer {
        Some(body) => json_answer(200, body, "application/json; charset=utf-8"),
        None => json_answer(
            403,
            &json!({"message": "Resource not accessible by integration", "documentation_url": docs, "status": "403"}),
            "application/json; charset=utf-8",
        ),
    }
}

async fn mount_github_api(fake: &MockServer, token: &str, user: Value, emails: Option<Value>) {
    let t = token.to_owned();
    Mock::given(method("GET"))
        .and(path("/api/v3/user"))
        .respond_with(move |req: &Request| {
            github_rest(
                req,
                &t,
                Some(&user),
                "https://docs.github.com/rest/users/users#get-the-authenticated-user",
            )
        })
        .mount(fake)
        .await;
    let t = token.to_owned();
    Mock::given(method("GET"))
        .and(path("/api/v3/user/emails"))
        .respond_with(move |req: &Request| {
            github_rest(req, &t, emails.as_ref(), "https://docs.github.com/rest/users/emails#list-email-addresses-for-the-authenticated-user")
        })
        .mount(fake)
        .await;
}

fn github_user(id: u64, login: &str, name: &str, email: Option<&str>) -> Value {
    json!({
        "login": login,
        "id": id,
        "node_id": "MDQ6VXNlcjU4MTgzMDI=",
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{id}?v=4"),
        "gravatar_id": "",
        "url": format!("https://api.github.com/users/{login}"),
        "html_url": format!("https://github.com/{login}"),
        "type": "User",
        "user_view_type": "public",
        "site_admin": false,
        "name": name,
        "company": null,
        "blog": "",
        "location": null,
        "email": email,
        "hireable": null,
        "bio": null,
        "twitter_username": null,
        "public_repos": 8,
        "public_gists": 1,
        "followers": 3,
        "following": 0,
        "created_at": "2019-10-03T08:12:44Z",
        "updated_at": "2025-01-20T17:02:11Z",
    })
}

const GH_ACCESS: &str = "gho_PLANTEDoauthAppAccess16C7e42F292c69";
const GH_CODE: &str = "PLANTEDgithubcode9a1f3c";

/// The GitHub OAuth app's token answer.
fn github_oauth_answer() -> Value {
    json!({"access_token": GH_ACCESS, "token_type": "bearer", "scope": "read:user,user:email"})
}

/// `/oidc/auth` up to GitHub's authorization URL, checked; returns it with the state sent.
async fn github_started(w: &World, browser: &Browser, challenge: &str) -> (Url, String) {
    let authorize = w.start(browser, challenge, "/login/oauth/authorize").await;
    assert_eq!(
        param(&authorize, "scope").as_deref(),
        Some("read:user user:email"),
        "{authorize}"
    );
    assert_pkce(&authorize);
    let state = param(&authorize, "state").expect("state");
    (authorize, state)
}

async fn mount_github_octocat(w: &World, token: &str) {
    let emails = json!([
        {"email": "5818302+mona@users.noreply.github.com", "primary": false, "verified": true, "visibility": null},
        {"email": "mona.unverified@example.org", "primary": false, "verified": false, "visibility": null},
        {"email": "mona@example.com", "primary": true, "verified": true, "visibility": "private"},
    ]);
    mount_github_api(
        &w.fake,
        token,
        github_user(5818302, "mona", "Mona Lisa Octocat", None),
        Some(emails),
    )
    .await;
}

#[tokio::test]
async fn github_oauth_app_signs_in_with_the_private_primary_email_and_stores_the_token_set() {
    let w = World::new("github", "github", github_config).await;
    let browser = Browser::new();
    let (verifier, challenge) = pkce();
    let (authorize, state) = github_started(&w, &browser, &challenge).await;
    mount_github_token(
        &w.fake,
        Grant::issued(GH_CODE, &authorize),
        github_oauth_answer(),
    )
    .await;
    mount_github_octocat(&w, GH_ACCESS).await;

    let landing = w
        .callback(&browser, &[("code", GH_CODE), ("state", &state)])
        .await;
    let user = w.finish(landing, &verifier).await;

    let token_calls = received(&w.fake, "/login/oauth/access_token").await;
    assert_eq!(token_calls.len(), 1);
    assert!(header(&token_calls[0], "accept").is_some_and(|a| a.contains("application/json")));
    assert_eq!(received(&w.fake, "/api/v3/user/emails").await.len(), 1);

    let store = w.app.store();
    let identity = store
        .get_social_identity(&user, "github")
        .await
        .expect("identity")
        .expect("linked");
    assert_eq!(identity.identity_id, "5818302");
    assert_eq!(identity.details["userInfo"]["login"], "mona");
    let account = store.get_user(&user).await.expect("get").expect("user");
    assert_eq!(account.primary_email.as_deref(), Some("mona@example.com"));
    assert_eq!(account.name.as_deref(), Some("Mona Lisa Octocat"));
    assert_eq!(
        account.avatar.as_deref(),
        Some("https://avatars.githubusercontent.com/u/5818302?v=4")
    );
    assert_eq!(w.user_count().await, 1);

    let secret = w.stored(&user).await;
    let m = &secret.metadata;
    assert!(!m.has_refresh_token);
    assert_eq!(m.scope.as_deref(), Some("read:user,user:email"));
    assert_eq!(m.token_type.as_deref(), Some("bearer"));
    assert_eq!(m.expires_at, None);
    assert_eq!(secret.relation.identity_id(), "5818302");
    let set = w.app.state.token_sets.open(&secret).expect("open");
    assert_eq!(set.access_token.expose_secret(), GH_ACCESS);
    assert!(set.refresh_token.is_none() && set.id_token.is_none());
    w.assert_sealed(&secret, &[GH_ACCESS]).await;
}

#[tokio::test]
async fn github_app_with_expiring_user_tokens_stores_the_refresh_token_and_expiry() {
    const ACCESS: &str = "ghu_PLANTEDappUserAccessX7kq2r9Lm3Np";
    const REFRESH: &str = "ghr_PLANTEDappRefreshM2d8s0bV6wQz1cHt";
    let w = World::new("github", "github", github_config).await;
    let browser = Browser::new();
    let (verifier, challenge) = pkce();
    let (authorize, state) = github_started(&w, &browser, &challenge).await;
    // GitHub Apps have no OAuth scopes: `scope` comes back empty.
    let answer = json!({
        "access_token": ACCESS,
        "expires_in": 28800,
        "refresh_token": REFRESH,
        "refresh_token_expires_in": 15811200,
        "scope": "",
        "token_type": "bearer",
    });
    mount_github_token(&w.fake, Grant::issued(GH_CODE, &authorize), answer).await;
    // The app lacks the e-mail permission: /user/emails answers 403, so nothing says the public
    // address is verified.
    mount_github_api(
        &w.fake,
        ACCESS,
        github_user(
            9919,
            "octo-app-user",
            "Octo App User",
            Some("octo@example.net"),
        ),
        None,
    )
    .await;

    let before = now_secs();
    let landing = w
        .callback(&browser, &[("code", GH_CODE), ("state", &state)])
        .await;
    let after = now_secs();
    let user = w.finish(landing, &verifier).await;

    let store = w.app.store();
    assert_eq!(
        store
            .get_social_identity(&user, "github")
            .await
            .expect("identity")
            .expect("linked")
            .identity_id,
        "9919"
    );
    assert_eq!(
        store
            .get_user(&user)
            .await
            .expect("get")
            .expect("user")
            .primary_email,
        None,
        "an address nobody verified is not the user's primary e-mail"
    );
    let secret = w.stored(&user).await;
    assert!(secret.metadata.has_refresh_token);
    assert_expires_at(&secret, before, after, 28800);
    assert_eq!(secret.metadata.token_type.as_deref(), Some("bearer"));
    assert_eq!(secret.metadata.scope, None, "an empty scope is not stored");
    let set = w.app.state.token_sets.open(&secret).expect("open");
    assert_eq!(set.access_token.expose_secret(), ACCESS);
    assert_eq!(
        set.refresh_token.as_ref().map(|t| t.expose_secret()),
        Some(REFRESH)
    );
    w.assert_sealed(&secret, &[ACCESS, REFRESH]).await;
}

#[tokio::test]
async fn github_error_inside_http_200_is_an_error_page_and_creates_no_user() {
    let w = World::new("github", "github", github_config).await;
    let browser = Browser::new();
    let (_verifier, challenge) = pkce();
    let (authorize, state) = github_started(&w, &browser, &challenge).await;
    mount_github_token(
        &w.fake,
        Grant::issued(GH_CODE, &authorize),
        github_oauth_answer(),
    )
    .await;
    mount_github_octocat(&w, GH_ACCESS).await;

    // A code GitHub never issued (or one that expired): HTTP 200 with bad_verification_code.
    let landing = w
        .callback(
            &browser,
            &[("code", "PLANTEDexpiredcode0000"), ("state", &state)],
        )
        .await;
    error_page(landing, 400, "connector.authorization_failed", &[]);

    let token_calls = received(&w.fake, "/login/oauth/access_token").await;
    assert_eq!(token_calls.len(), 1, "the code was sent to GitHub once");
    assert!(
        received(&w.fake, "/api/v3/user").await.is_empty(),
        "no profile is read without a token"
    );
    assert_eq!(w.user_count().await, 0);
    w.assert_nowhere_in_database(&[]).await;
}

#[tokio::test]
async fn github_denied_authorization_goes_back_to_the_application_as_access_denied() {
    let w = World::new("github", "github", github_config).await;
    let browser = Browser::new();
    let (_verifier, challenge) = pkce();
    let (_authorize, state) = github_started(&w, &browser, &challenge).await;
    Mock::given(method("POST"))
        .and(path("/login/oauth/access_token"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&w.fake)
        .await;

    let landing = w
        .callback(
            &browser,
            &[
                ("error", "access_denied"),
                ("error_description", "The user has denied your application access."),
                ("error_uri", "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-authorization-request-errors/#access-denied"),
                ("state", &state),
            ],
        )
        .await;
    let back = landing.app();
    assert_eq!(
        param(&back, "error").as_deref(),
        Some("access_denied"),
        "{back}"
    );
    assert_eq!(param(&back, "state").as_deref(), Some("app-state"));
    assert_eq!(param(&back, "code"), None);
    assert_eq!(w.user_count().await, 0);
    w.fake.verify().await;
}

// ----------------------------------------------------------------------------------------------
// Google
// ----------------------------------------------------------------------------------------------

const GOOGLE_ISSUER: &str = "https://accounts.google.com";
const GOOGLE_SUB: &str = "110169484474386276334";
const G_ACCESS: &str = "ya29.a0AfB_PLANTEDbyJmGoogleAccessTokenQ0163";
const G_REFRESH: &str = "1//0gPLANTEDgoogleRefreshTokenCgYIARAAGBASNwF";
/// Google's codes start with `4/` and so carry a slash.
const G_CODE: &str = "4/0AVG7fiQPLANTEDgoogleCodeYx2Lw";
const G_SCOPE: &str = "https://www.googleapis.com/auth/userinfo.email openid https://www.googleapis.com/auth/userinfo.profile";

fn google_config(base: &str) -> Value {
    json!({
        "clientId": CLIENT_ID,
        "clientSecret": CLIENT_SECRET,
        "authorizationEndpoint": format!("{base}/o/oauth2/v2/auth"),
        "tokenEndpoint": format!("{base}/token"),
        "userInfoEndpoint": format!("{base}/v1/userinfo"),
        "revocationEndpoint": format!("{base}/revoke"),
    })
}

/// A Google ID token. Its signature is not checked (it comes straight from Google's token
/// endpoint, see google.rs), so the signature segment is filler.
fn google_id_token(nonce: &str) -> String {
    let now = now_secs();
    let header =
        json!({"alg": "RS256", "kid": "6f9777a685907798ef794062c00b65d66c240b1b", "typ": "JWT"});
    let claims = json!({
        "iss": GOOGLE_ISSUER,
        "azp": CLIENT_ID,
        "aud": CLIENT_ID,
        "sub": GOOGLE_SUB,
        "email": "ada@gmail.com",
        "email_verified": true,
        "at_hash": "HK6E_P6Dh8Y93mRNtsDB1Q",
        "nonce": nonce,
        "name": "Ada Lovelace",
        "picture": "https://lh3.googleusercontent.com/a/ACg8ocK-ada=s96-c",
        "given_name": "Ada",
        "family_name": "Lovelace",
        "iat": now,
        "exp": now + 3600,
    });
    format!(
        "{}.{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes()),
        b64url(b"not-checked-signature")
    )
}

fn google_answer(id_token: &str) -> Value {
    json!({
        "access_token": G_ACCESS,
        "expires_in": 3599,
        "refresh_token": G_REFRESH,
        "scope": G_SCOPE,
        "token_type": "Bearer",
        "id_token": id_token,
    })
}

/// `POST https://oauth2.googleapis.com/token`: client_secret_basic or _post, Google's terse
/// `Bad Request` errors.
async fn mount_google_token(fake: &MockServer, grant: Grant, answer: Value) {
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(move |req: &Request| {
            let p = params(req);
            let json = "application/json; charset=utf-8";
            if !(basic_is_client(req) || post_is_client(&p)) {
                return json_answer(401, &json!({"error": "invalid_client", "error_description": "Unauthorized"}), json);
            }
            if !has(&p, "grant_type", "authorization_code") {
                return json_answer(400, &json!({"error": "unsupported_grant_type", "error_description": "Invalid grant_type: "}), json);
            }
            match grant.refusal(&p) {
                Some("redirect_uri") => json_answer(400, &json!({"error": "redirect_uri_mismatch", "error_description": "Bad Request"}), json),
                Some(_) => json_answer(400, &json!({"error": "invalid_grant", "error_description": "Bad Request"}), json),
                None => json_answer(200, &answer, json),
            }
        })
        .mount(fake)
        .await;
}

/// `GET https://openidconnect.googleapis.com/v1/userinfo`.
async fn mount_google_userinfo(fake: &MockServer, expected_calls: u64) {
    Mock::given(method("GET"))
        .and(path("/v1/userinfo"))
        .respond_with(|req: &Request| {
            if !bearer_is(req, G_ACCESS) {
                return ResponseTemplate::new(401)
                    .insert_header("www-authenticate", "Bearer realm=\"https://accounts.google.com/\", error=\"invalid_token\"")
                    .set_body_raw(json!({"error": "invalid_request", "error_description": "Invalid Credentials"}).to_string(), "application/json; charset=utf-8");
            }
            json_answer(
                200,
                &json!({
                    "sub": GOOGLE_SUB,
                    "name": "Ada Lovelace",
                    "given_name": "Ada",
                    "family_name": "Lovelace",
                    "picture": "https://lh3.googleusercontent.com/a/ACg8ocK-ada=s96-c",
                    "email": "ada@gmail.com",
                    "email_verified": true,
                }),
                "application/json; charset=utf-8",
            )
        })
        .expect(expected_calls)
        .mount(fake)
        .await;
}

/// A Google world up to the authorization URL; returns it with the state and nonce sent.
async fn google_started(w: &World, browser: &Browser, challenge: &str) -> (Url, String, String) {
    let authorize = w.start(browser, challenge, "/o/oauth2/v2/auth").await;
    assert_eq!(param(&authorize, "response_type").as_deref(), Some("code"));
    assert_eq!(
        param(&authorize, "scope").as_deref(),
        Some("openid profile email")
    );
    assert_eq!(
        param(&authorize, "access_type").as_deref(),
        Some("offline"),
        "{authorize}"
    );
    assert_eq!(
        param(&authorize, "prompt").as_deref(),
        Some("consent"),
        "{authorize}"
    );
    assert_pkce(&authorize);
    let nonce = param(&authorize, "nonce").expect("nonce");
    assert!(nonce.len() >= 32 && nonce != "app-nonce", "{nonce}");
    let state = param(&authorize, "state").expect("state");
    (authorize, state, nonce)
}

/// Google's redirect back: code, state, RFC 9207 iss, and its own extras.
fn google_callback<'a>(code: &'a str, state: &'a str) -> [(&'a str, &'a str); 6] {
    [
        ("iss", GOOGLE_ISSUER),
        ("state", state),
        ("code", code),
        (
            "scope",
            "email profile openid https://www.googleapis.com/auth/userinfo.profile https://www.googleapis.com/auth/userinfo.email",
        ),
        ("authuser", "0"),
        ("prompt", "consent"),
    ]
}

#[tokio::test]
async fn google_sign_in_checks_the_id_token_and_stores_the_refresh_token() {
    let w = World::new("google", "google", google_config).await;
    let browser = Browser::new();
    let (verifier, challenge) = pkce();
    let (authorize, state, nonce) = google_started(&w, &browser, &challenge).await;
    let id_token = google_id_token(&nonce);
    mount_google_token(
        &w.fake,
        Grant::issued(G_CODE, &authorize),
        google_answer(&id_token),
    )
    .await;
    mount_google_userinfo(&w.fake, 1).await;

    let before = now_secs();
    let landing = w.callback(&browser, &google_callback(G_CODE, &state)).await;
    let after = now_secs();
    let user = w.finish(landing, &verifier).await;
    w.fake.verify().await;
    assert!(
        basic_is_client(&received(&w.fake, "/token").await[0]),
        "client_secret_basic by default"
    );

    let store = w.app.store();
    let identity = store
        .get_social_identity(&user, "google")
        .await
        .expect("identity")
        .expect("linked");
    assert_eq!(identity.identity_id, GOOGLE_SUB);
    let account = store.get_user(&user).await.expect("get").expect("user");
    assert_eq!(account.primary_email.as_deref(), Some("ada@gmail.com"));
    assert_eq!(account.name.as_deref(), Some("Ada Lovelace"));
    assert_eq!(
        account.avatar.as_deref(),
        Some("https://lh3.googleusercontent.com/a/ACg8ocK-ada=s96-c")
    );

    let secret = w.stored(&user).await;
    assert!(secret.metadata.has_refresh_token);
    assert_expires_at(&secret, before, after, 3599);
    assert_eq!(secret.metadata.scope.as_deref(), Some(G_SCOPE));
    assert_eq!(secret.metadata.token_type.as_deref(), Some("Bearer"));
    let set = w.app.state.token_sets.open(&secret).expect("open");
    assert_eq!(set.access_token.expose_secret(), G_ACCESS);
    assert_eq!(
        set.refresh_token.as_ref().map(|t| t.expose_secret()),
        Some(G_REFRESH)
    );
    assert_eq!(
        set.id_token.as_ref().map(|t| t.expose_secret()),
        Some(id_token.as_str())
    );
    w.assert_sealed(&secret, &[G_ACCESS, G_REFRESH, &id_token])
        .await;
}

#[tokio::test]
async fn google_id_token_with_another_nonce_is_refused_and_creates_no_user() {
    let w = World::new("google", "google", google_config).await;
    let browser = Browser::new();
    let (_verifier, challenge) = pkce();
    let (authorize, state, _nonce) = google_started(&w, &browser, &challenge).await;
    let id_token = google_id_token("a-nonce-from-another-sign-in-attempt-000000");
    mount_google_token(
        &w.fake,
        Grant::issued(G_CODE, &authorize),
        google_answer(&id_token),
    )
    .await;
    mount_google_userinfo(&w.fake, 0).await;

    let landing = w.callback(&browser, &google_callback(G_CODE, &state)).await;
    error_page(landing, 400, "connector.invalid_id_token", &[&id_token]);
    assert_eq!(received(&w.fake, "/token").await.len(), 1);
    assert_eq!(w.user_count().await, 0);
    w.fake.verify().await;
    w.assert_nowhere_in_database(&[&id_token]).await;
}

#[tokio::test]
async fn google_token_endpoint_503_is_provider_unavailable() {
    let w = World::new("google", "google", google_config).await;
    let browser = Browser::new();
    let (_verifier, challenge) = pkce();
    let (_authorize, state, _nonce) = google_started(&w, &browser, &challenge).await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(503).set_body_raw(
            "<!DOCTYPE html><html lang=en><meta charset=utf-8><title>Error 503 (Service Unavailable)!!1</title>\
             <p><b>503.</b> <ins>That's an error.</ins><p>The service you requested is not available yet.",
            "text/html; charset=UTF-8",
        ))
        .expect(1)
        .mount(&w.fake)
        .await;
    mount_google_userinfo(&w.fake, 0).await;

    let landing = w.callback(&browser, &google_callback(G_CODE, &state)).await;
    error_page(landing, 502, "connector.provider_unavailable", &[]);
    assert_eq!(w.user_count().await, 0);
    w.fake.verify().await;
}

#[tokio::test]
async fn google_userinfo_failure_after_the_tokens_stores_nothing() {
    let w = World::new("google", "google", google_config).await;
    let browser = Browser::new();
    let (_verifier, challenge) = pkce();
    let (authorize, state, nonce) = google_started(&w, &browser, &challenge).await;
    let id_token = google_id_token(&nonce);
    mount_google_token(
        &w.fake,
        Grant::issued(G_CODE, &authorize),
        google_answer(&id_token),
    )
    .await;
    Mock::given(method("GET"))
        .and(path("/v1/userinfo"))
        .respond_with(json_answer(500, &json!({"error": {"code": 500, "message": "Internal error encountered.", "status": "INTERNAL"}}), "application/json; charset=UTF-8"))
        .expect(1)
        .mount(&w.fake)
        .await;

    let landing = w.callback(&browser, &google_callback(G_CODE, &state)).await;
    error_page(landing, 502, "connector.provider_unavailable", &[&id_token]);
    assert_eq!(w.user_count().await, 0);
    w.fake.verify().await;
    w.assert_nowhere_in_database(&[&id_token]).await;
}

// ----------------------------------------------------------------------------------------------
// Facebook
// ----------------------------------------------------------------------------------------------

const FB_CODE: &str = "AQDPLANTEDfacebookCode_h3Xb9kLmN0";
const FB_SHORT: &str = "EAAPLANTEDshortLivedZCZBmZBVxZA4ZD";
const FB_LONG: &str = "EAAPLANTEDlongLived60daysZBZCqZCkZD";
const FB_LONG_EXPIRES_IN: i64 = 5183944;

fn facebook_config(base: &str) -> Value {
    json!({
        "clientId": CLIENT_ID,
        "clientSecret": CLIENT_SECRET,
        "graphApiBaseUrl": format!("{base}/v23.0"),
        "dialogBaseUrl": format!("{base}/www/v23.0"),
    })
}

/// Facebook's error object, HTTP 400.
fn facebook_error(message: &str, kind: &str, code: i64, subcode: Option<i64>) -> ResponseTemplate {
    let mut error = json!({"message": message, "type": kind, "code": code, "fbtrace_id": "AQx3bq9Yb2VkTQ1pZ7kWJ0s"});
    if let Some(subcode) = subcode {
        error["error_subcode"] = json!(subcode);
    }
    ResponseTemplate::new(400)
        .insert_header(
            "www-authenticate",
            format!("OAuth \"Facebook Platform\" \"invalid_request\" \"{message}\""),
        )
        .set_body_raw(
            json!({"error": error}).to_string(),
            "application/json; charset=UTF-8",
        )
}

fn appsecret_proof(token: &str) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, CLIENT_SECRET.as_bytes());
    aws_lc_rs::hmac::sign(&key, token.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `GET {graph}/oauth/access_token` (code exchange and `fb_exchange_token`) and `GET {graph}/me`.
async fn mount_facebook(fake: &MockServer, grant: Grant) {
    Mock::given(method("GET"))
        .and(path("/v23.0/oauth/access_token"))
        .respond_with(move |req: &Request| {
            let p = params(req);
            if !has(&p, "client_id", CLIENT_ID) {
                return facebook_error("Error validating application. Invalid application ID.", "OAuthException", 101, None);
            }
            if !has(&p, "client_secret", CLIENT_SECRET) {
                return facebook_error("Error validating client secret.", "OAuthException", 1, None);
            }
            let json = "application/json; charset=UTF-8";
            if has(&p, "grant_type", "fb_exchange_token") {
                return if has(&p, "fb_exchange_token", FB_SHORT) {
                    json_answer(200, &json!({"access_token": FB_LONG, "token_type": "bearer", "expires_in": FB_LONG_EXPIRES_IN}), json)
                } else {
                    facebook_error("Error validating access token: The session has been invalidated.", "OAuthException", 190, Some(460))
                };
            }
            match grant.refusal(&p) {
                Some("redirect_uri") => facebook_error(
                    "Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request",
                    "OAuthException",
                    100,
                    Some(36008),
                ),
                Some(_) => facebook_error("Invalid verification code format.", "OAuthException", 100, None),
                None => json_answer(200, &json!({"access_token": FB_SHORT, "token_type": "bearer", "expires_in": 5183}), json),
            }
        })
        .mount(fake)
        .await;
    Mock::given(method("GET"))
        .and(path("/v23.0/me"))
        .respond_with(|req: &Request| {
            let p = params(req);
            if !(bearer_is(req, FB_LONG) || has(&p, "access_token", FB_LONG)) {
                return facebook_error("Invalid OAuth access token - Cannot parse access token", "OAuthException", 190, None);
            }
            if !has(&p, "appsecret_proof", &appsecret_proof(FB_LONG)) {
                return facebook_error("Invalid appsecret_proof provided in the API argument", "GraphMethodException", 100, None);
            }
            let all = json!({
                "id": "10158765432109876",
                "name": "Grace Hopper",
                "email": "grace@example.org",
                "picture": {"data": {"height": 50, "is_silhouette": false, "url": "https://platform-lookaside.fbsbx.com/platform/profilepic/?asid=10158765432109876&height=50&width=50", "width": 50}},
            });
            // The Graph API answers the requested fields only (`id` and `name` by default).
            let fields = p.get("fields").cloned().unwrap_or_else(|| "id,name".to_owned());
            let picked: serde_json::Map<String, Value> =
                fields.split(',').filter_map(|f| all.get(f.trim()).map(|v| (f.trim().to_owned(), v.clone()))).collect();
            json_answer(200, &Value::Object(picked), "application/json; charset=UTF-8")
        })
        .mount(fake)
        .await;
}

async fn facebook_started(w: &World, browser: &Browser, challenge: &str) -> (Url, String) {
    let authorize = w.start(browser, challenge, "/www/v23.0/dialog/oauth").await;
    assert_eq!(param(&authorize, "response_type").as_deref(), Some("code"));
    assert_eq!(
        param(&authorize, "scope").as_deref(),
        Some("email,public_profile")
    );
    let state = param(&authorize, "state").expect("state");
    (authorize, state)
}

#[tokio::test]
async fn facebook_sign_in_stores_the_long_lived_token() {
    let w = World::new("facebook", "facebook", facebook_config).await;
    let browser = Browser::new();
    let (verifier, challenge) = pkce();
    let (authorize, state) = facebook_started(&w, &browser, &challenge).await;
    mount_facebook(&w.fake, Grant::issued(FB_CODE, &authorize)).await;

    let before = now_secs();
    let landing = w
        .callback(&browser, &[("code", FB_CODE), ("state", &state)])
        .await;
    let after = now_secs();
    let user = w.finish(landing, &verifier).await;

    let exchanges = received(&w.fake, "/v23.0/oauth/access_token").await;
    assert_eq!(
        exchanges.len(),
        2,
        "the code exchange, then fb_exchange_token"
    );
    assert!(
        !params(&exchanges[0]).contains_key("grant_type")
            && has(&params(&exchanges[0]), "code", FB_CODE)
    );
    assert!(has(
        &params(&exchanges[1]),
        "grant_type",
        "fb_exchange_token"
    ));
    assert_eq!(received(&w.fake, "/v23.0/me").await.len(), 1);

    let store = w.app.store();
    let identity = store
        .get_social_identity(&user, "facebook")
        .await
        .expect("identity")
        .expect("linked");
    assert_eq!(identity.identity_id, "10158765432109876");
    let account = store.get_user(&user).await.expect("get").expect("user");
    // Facebook says nothing about verification: the address stays in the identity's details,
    // never the user's (verified) primary e-mail.
    assert_eq!(account.primary_email, None);
    assert!(identity.details.to_string().contains("grace@example.org"));
    assert_eq!(account.name.as_deref(), Some("Grace Hopper"));
    assert!(
        account
            .avatar
            .as_deref()
            .is_some_and(|a| a.starts_with("https://platform-lookaside.fbsbx.com/")),
        "{:?}",
        account.avatar
    );

    let secret = w.stored(&user).await;
    assert!(
        !secret.metadata.has_refresh_token,
        "Facebook issues no refresh token"
    );
    assert_expires_at(&secret, before, after, FB_LONG_EXPIRES_IN);
    assert_eq!(secret.metadata.token_type.as_deref(), Some("bearer"));
    assert_eq!(secret.metadata.scope, None);
    let set = w.app.state.token_sets.open(&secret).expect("open");
    assert_eq!(
        set.access_token.expose_secret(),
        FB_LONG,
        "the long-lived token is the one kept"
    );
    assert!(set.refresh_token.is_none());
    w.assert_sealed(&secret, &[FB_SHORT, FB_LONG]).await;
}

#[tokio::test]
async fn facebook_error_object_is_an_error_page_and_creates_no_user() {
    let w = World::new("facebook", "facebook", facebook_config).await;
    let browser = Browser::new();
    let (_verifier, challenge) = pkce();
    let (authorize, state) = facebook_started(&w, &browser, &challenge).await;
    mount_facebook(&w.fake, Grant::issued(FB_CODE, &authorize)).await;

    // A mangled code: HTTP 400 {"error": {"message": "Invalid verification code format.", "type": "OAuthException", "code": 100, ...}}.
    let landing = w
        .callback(
            &browser,
            &[("code", "AQDPLANTEDmangled"), ("state", &state)],
        )
        .await;
    error_page(landing, 400, "connector.authorization_failed", &[]);
    assert_eq!(
        received(&w.fake, "/v23.0/oauth/access_token").await.len(),
        1,
        "no fb_exchange_token after a failed exchange"
    );
    assert!(received(&w.fake, "/v23.0/me").await.is_empty());
    assert_eq!(w.user_count().await, 0);
}

// ----------------------------------------------------------------------------------------------
// Generic OAuth 2.0
// ----------------------------------------------------------------------------------------------

const OA_CODE: &str = "PLANTEDoauth2code_kT5wQ";
const OA_ACCESS: &str = "PLANTED.oauth2.access.Zm9vYmFy";
const OA_REFRESH: &str = "PLANTED.oauth2.refresh.YmF6cXV4";

fn oauth2_config(base: &str) -> Value {
    json!({
        "authorizationEndpoint": format!("{base}/oauth/authorize"),
        "tokenEndpoint": format!("{base}/oauth/token"),
        "userInfoEndpoint": format!("{base}/api/v1/me"),
        "clientId": CLIENT_ID,
        "clientSecret": CLIENT_SECRET,
        "scope": "read profile",
        "tokenEndpointResponseType": "query-string",
        "profileMap": {"id": "data.user.id", "email": "data.user.email", "name": "data.user.display_name", "avatar": "data.user.avatar_url"},
    })
}

/// A provider answering its token endpoint in a query string (client_secret_post).
async fn mount_oauth2(fake: &MockServer, grant: Grant) {
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(move |req: &Request| {
            let p = params(req);
            let form = "application/x-www-form-urlencoded";
            if !post_is_client(&p) {
                return ResponseTemplate::new(401).set_body_raw("error=invalid_client&error_description=Client+authentication+failed", form);
            }
            if !has(&p, "grant_type", "authorization_code") || grant.refusal(&p).is_some() {
                return ResponseTemplate::new(400).set_body_raw("error=invalid_grant&error_description=The+code+is+invalid", form);
            }
            ResponseTemplate::new(200).set_body_raw(
                format!("access_token={OA_ACCESS}&token_type=bearer&expires_in=3600&refresh_token={OA_REFRESH}&scope=read+profile"),
                form,
            )
        })
        .mount(fake)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/me"))
        .respond_with(|req: &Request| {
            if !bearer_is(req, OA_ACCESS) {
                return json_answer(401, &json!({"errors": [{"code": "unauthorized", "message": "invalid token"}]}), "application/json");
            }
            json_answer(
                200,
                &json!({
                    "data": {"user": {"id": 4242, "email": "lin@example.io", "display_name": "Lin Q", "avatar_url": "https://cdn.example.io/a/4242.png"}},
                    "meta": {"request_id": "f1e2d3"},
                }),
                "application/json",
            )
        })
        .mount(fake)
        .await;
}

#[tokio::test]
async fn oauth2_query_string_token_answer_and_nested_profile_map() {
    let w = World::new("oauth2", "oauth2", oauth2_config).await;
    let browser = Browser::new();
    let (verifier, challenge) = pkce();
    let authorize = w.start(&browser, &challenge, "/oauth/authorize").await;
    assert_eq!(param(&authorize, "response_type").as_deref(), Some("code"));
    assert_eq!(param(&authorize, "scope").as_deref(), Some("read profile"));
    assert_pkce(&authorize);
    let state = param(&authorize, "state").expect("state");
    mount_oauth2(&w.fake, Grant::issued(OA_CODE, &authorize)).await;

    let before = now_secs();
    let landing = w
        .callback(&browser, &[("code", OA_CODE), ("state", &state)])
        .await;
    let after = now_secs();
    let user = w.finish(landing, &verifier).await;

    let store = w.app.store();
    let identity = store
        .get_social_identity(&user, "oauth2")
        .await
        .expect("identity")
        .expect("linked");
    assert_eq!(identity.identity_id, "4242", "a numeric id at data.user.id");
    let account = store.get_user(&user).await.expect("get").expect("user");
    // The provider's profile has no `email_verified`: not the user's primary e-mail.
    assert_eq!(account.primary_email, None);
    assert!(identity.details.to_string().contains("lin@example.io"));
    assert_eq!(account.name.as_deref(), Some("Lin Q"));
    assert_eq!(
        account.avatar.as_deref(),
        Some("https://cdn.example.io/a/4242.png")
    );

    let secret = w.stored(&user).await;
    assert!(secret.metadata.has_refresh_token);
    assert_expires_at(&secret, before, after, 3600);
    assert_eq!(secret.metadata.token_type.as_deref(), Some("bearer"));
    assert_eq!(secret.metadata.scope.as_deref(), Some("read profile"));
    let set = w.app.state.token_sets.open(&secret).expect("open");
    assert_eq!(set.access_token.expose_secret(), OA_ACCESS);
    assert_eq!(
        set.refresh_token.as_ref().map(|t| t.expose_secret()),
        Some(OA_REFRESH)
    );
    w.assert_sealed(&secret, &[OA_ACCESS, OA_REFRESH]).await;
}

#[tokio::test]
async fn oauth2_unparsable_token_answer_is_invalid_response() {
    let w = World::new("oauth2", "oauth2", oauth2_config).await;
    let browser = Browser::new();
    let (_verifier, challenge) = pkce();
    let authorize = w.start(&browser, &challenge, "/oauth/authorize").await;
    let state = param(&authorize, "state").expect("state");
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw("upstream maintenance, try again later", "text/plain"),
        )
        .expect(1)
        .mount(&w.fake)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/me"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&w.fake)
        .await;

    let landing = w
        .callback(&browser, &[("code", OA_CODE), ("state", &state)])
        .await;
    error_page(landing, 502, "connector.invalid_response", &[]);
    assert_eq!(w.user_count().await, 0);
    w.fake.verify().await;
}

// ----------------------------------------------------------------------------------------------
// Generic OpenID Connect
// ----------------------------------------------------------------------------------------------

const OP_SUB: &str = "248289761001";
const OP_CODE: &str = "PLANTEDopCode-Qk8sd7fA";
const OP_ACCESS: &str = "PLANTEDopAccess-dGhpcyBpcyBhY2Nlc3M";
const OP_REFRESH: &str = "PLANTEDopRefresh-cmVmcmVzaCB0b2tlbg";

/// Two RSA keys: the provider's current key and the one it rotates to.
fn rsa_keys() -> &'static [aws_lc_rs::rsa::KeyPair; 2] {
    static KEYS: OnceLock<[aws_lc_rs::rsa::KeyPair; 2]> = OnceLock::new();
    KEYS.get_or_init(|| {
        let generate = || {
            aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("RSA key")
        };
        [generate(), generate()]
    })
}

fn jwk(key: &aws_lc_rs::rsa::KeyPair, kid: &str) -> Value {
    let public = key.public_key();
    json!({
        "kty": "RSA",
        "use": "sig",
        "alg": "RS256",
        "kid": kid,
        "n": b64url(public.modulus().big_endian_without_leading_zero()),
        "e": b64url(public.exponent().big_endian_without_leading_zero()),
    })
}

/// An RS256 JWT signed with `key`, built by hand.
fn sign_jwt(key: &aws_lc_rs::rsa::KeyPair, kid: &str, claims: &Value) -> String {
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": kid});
    let input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let mut signature = vec![0; key.public_modulus_len()];
    key.sign(
        &aws_lc_rs::signature::RSA_PKCS1_SHA256,
        &aws_lc_rs::rand::SystemRandom::new(),
        input.as_bytes(),
        &mut signature,
    )
    .expect("sign");
    format!("{input}.{}", b64url(&signature))
}

fn op_claims(issuer: &str, nonce: &str) -> Value {
    let now = now_secs();
    json!({
        "iss": issuer,
        "sub": OP_SUB,
        "aud": CLIENT_ID,
        "azp": CLIENT_ID,
        "exp": now + 600,
        "iat": now,
        "auth_time": now - 5,
        "nonce": nonce,
        "email": "janedoe@example.com",
        "email_verified": true,
    })
}

fn oidc_config(base: &str) -> Value {
    json!({
        "clientId": CLIENT_ID,
        "clientSecret": CLIENT_SECRET,
        "issuer": base,
        "scope": "openid profile email offline_access",
    })
}

/// The provider's discovery document and JWKS (the key set is whatever `jwks` holds).
async fn mount_op(fake: &MockServer, jwks: Arc<Mutex<Value>>) {
    let issuer = fake.uri();
    let discovery = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/auth"),
        "token_endpoint": format!("{issuer}/token"),
        "userinfo_endpoint": format!("{issuer}/me"),
        "jwks_uri": format!("{issuer}/jwks"),
        "revocation_endpoint": format!("{issuer}/token/revocation"),
        "end_session_endpoint": format!("{issuer}/session/end"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": ["openid", "offline_access", "profile", "email"],
        "claims_supported": ["sub", "email", "email_verified", "name", "iss", "aud", "exp", "iat", "nonce", "auth_time", "azp"],
        "authorization_response_iss_parameter_supported": true,
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
    });
    Mock::given(method("GET"))
        .and(path("/.well-known/openid-configuration"))
        .respond_with(json_answer(
            200,
            &discovery,
            "application/json; charset=utf-8",
        ))
        .mount(fake)
        .await;
    Mock::given(method("GET"))
        .and(path("/jwks"))
        .respond_with(move |_: &Request| {
            let set = jwks.lock().expect("jwks").clone();
            json_answer(200, &set, "application/jwk-set+json; charset=utf-8")
        })
        .mount(fake)
        .await;
}

/// The token endpoint for one grant (client_secret_basic, as discovery advertises first): the
/// one request it answers is `answer` when it redeems the grant, else `invalid_client` /
/// `invalid_grant` (codes are single-use: a later request finds no mock).
async fn mount_op_token(fake: &MockServer, grant: Grant, answer: Value) {
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(move |req: &Request| {
            let p = params(req);
            let json = "application/json; charset=utf-8";
            if !basic_is_client(req) {
                return json_answer(401, &json!({"error": "invalid_client", "error_description": "client authentication failed"}), json);
            }
            if !has(&p, "grant_type", "authorization_code") || grant.refusal(&p).is_some() {
                return json_answer(400, &json!({"error": "invalid_grant", "error_description": "grant request is invalid"}), json);
            }
            json_answer(200, &answer, json).insert_header("cache-control", "no-store")
        })
        .up_to_n_times(1)
        .mount(fake)
        .await;
}

async fn mount_op_userinfo(fake: &MockServer, access: &str) {
    let access = access.to_owned();
    Mock::given(method("GET"))
        .and(path("/me"))
        .respond_with(move |req: &Request| {
            if !bearer_is(req, &access) {
                return ResponseTemplate::new(401).insert_header("www-authenticate", "Bearer realm=\"op\", error=\"invalid_token\"");
            }
            json_answer(200, &json!({"sub": OP_SUB, "email": "janedoe@example.com", "email_verified": true, "name": "Jane Doe"}), "application/json; charset=utf-8")
        })
        .up_to_n_times(1)
        .mount(fake)
        .await;
}

fn op_answer(id_token: &str, access: &str, refresh: Option<&str>) -> Value {
    let mut answer = json!({
        "access_token": access,
        "expires_in": 3600,
        "id_token": id_token,
        "scope": "openid offline_access profile email",
        "token_type": "Bearer",
    });
    if let Some(refresh) = refresh {
        answer["refresh_token"] = json!(refresh);
    }
    answer
}

/// An OIDC world with the provider's key set holding the first key as `key-1`.
async fn oidc_world() -> (World, Arc<Mutex<Value>>) {
    let w = World::new("oidc", "oidc", oidc_config).await;
    let jwks = Arc::new(Mutex::new(json!({"keys": [jwk(&rsa_keys()[0], "key-1")]})));
    mount_op(&w.fake, jwks.clone()).await;
    (w, jwks)
}

async fn oidc_started(w: &World, browser: &Browser, challenge: &str) -> (Url, String, String) {
    let authorize = w.start(browser, challenge, "/auth").await;
    assert_eq!(param(&authorize, "response_type").as_deref(), Some("code"));
    assert_eq!(
        param(&authorize, "scope").as_deref(),
        Some("openid profile email offline_access")
    );
    assert_pkce(&authorize);
    let nonce = param(&authorize, "nonce").expect("nonce");
    assert!(nonce.len() >= 32, "{nonce}");
    let state = param(&authorize, "state").expect("state");
    (authorize, state, nonce)
}

#[tokio::test]
async fn oidc_signed_id_token_signs_in_and_stores_the_token_set() {
    let (w, _jwks) = oidc_world().await;
    let browser = Browser::new();
    let (verifier, challenge) = pkce();
    let (authorize, state, nonce) = oidc_started(&w, &browser, &challenge).await;
    let id_token = sign_jwt(&rsa_keys()[0], "key-1", &op_claims(&w.fake.uri(), &nonce));
    mount_op_token(
        &w.fake,
        Grant::issued(OP_CODE, &authorize),
        op_answer(&id_token, OP_ACCESS, Some(OP_REFRESH)),
    )
    .await;
    mount_op_userinfo(&w.fake, OP_ACCESS).await;

    let before = now_secs();
    let issuer = w.fake.uri();
    let landing = w
        .callback(
            &browser,
            &[("code", OP_CODE), ("state", &state), ("iss", &issuer)],
        )
        .await;
    let after = now_secs();
    let user = w.finish(landing, &verifier).await;

    let store = w.app.store();
    let identity = store
        .get_social_identity(&user, "oidc")
        .await
        .expect("identity")
        .expect("linked");
    assert_eq!(identity.identity_id, OP_SUB);
    assert_eq!(
        identity.details.get("nonce"),
        None,
        "the nonce is not kept in the profile"
    );
    let account = store.get_user(&user).await.expect("get").expect("user");
    assert_eq!(
        (account.primary_email.as_deref(), account.name.as_deref()),
        (Some("janedoe@example.com"), Some("Jane Doe"))
    );
    let secret = w.stored(&user).await;
    assert!(secret.metadata.has_refresh_token);
    assert_expires_at(&secret, before, after, 3600);
    assert_eq!(secret.metadata.token_type.as_deref(), Some("Bearer"));
    assert_eq!(
        secret.metadata.scope.as_deref(),
        Some("openid offline_access profile email")
    );
    let set = w.app.state.token_sets.open(&secret).expect("open");
    assert_eq!(set.access_token.expose_secret(), OP_ACCESS);
    assert_eq!(
        set.refresh_token.as_ref().map(|t| t.expose_secret()),
        Some(OP_REFRESH)
    );
    assert_eq!(
        set.id_token.as_ref().map(|t| t.expose_secret()),
        Some(id_token.as_str())
    );
    w.assert_sealed(&secret, &[OP_ACCESS, OP_REFRESH, &id_token])
        .await;
}

/// Which way a test spoils the provider's ID token.
enum Spoil {
    Signature,
    Nonce,
    Audience,
}

async fn oidc_refuses(spoil: Spoil) {
    let (w, _jwks) = oidc_world().await;
    let browser = Browser::new();
    let (_verifier, challenge) = pkce();
    let (authorize, state, nonce) = oidc_started(&w, &browser, &challenge).await;
    let mut claims = op_claims(&w.fake.uri(), &nonce);
    match spoil {
        Spoil::Nonce => claims["nonce"] = json!("n-0S6_WzA2Mj-from-another-attempt"),
        Spoil::Audience => {
            claims["aud"] = json!("another-client");
            claims["azp"] = json!("another-client");
        }
        Spoil::Signature => {}
    }
    let mut id_token = sign_jwt(&rsa_keys()[0], "key-1", &claims);
    if let Spoil::Signature = spoil {
        let (signed, signature) = id_token.rsplit_once('.').expect("three parts");
        let mut bytes = URL_SAFE_NO_PAD.decode(signature).expect("b64");
        bytes[100] ^= 0x01;
        id_token = format!("{signed}.{}", b64url(&bytes));
    }
    mount_op_token(
        &w.fake,
        Grant::issued(OP_CODE, &authorize),
        op_answer(&id_token, OP_ACCESS, Some(OP_REFRESH)),
    )
    .await;
    Mock::given(method("GET"))
        .and(path("/me"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&w.fake)
        .await;

    let issuer = w.fake.uri();
    let landing = w
        .callback(
            &browser,
            &[("code", OP_CODE), ("state", &state), ("iss", &issuer)],
        )
        .await;
    error_page(landing, 400, "connector.invalid_id_token", &[&id_token]);
    assert_eq!(received(&w.fake, "/token").await.len(), 1);
    assert_eq!(w.user_count().await, 0);
    w.fake.verify().await;
    w.assert_nowhere_in_database(&[&id_token]).await;
}

#[tokio::test]
async fn oidc_id_token_with_a_tampered_signature_is_refused() {
    oidc_refuses(Spoil::Signature).await;
}

#[tokio::test]
async fn oidc_id_token_with_another_nonce_is_refused() {
    oidc_refuses(Spoil::Nonce).await;
}

#[tokio::test]
async fn oidc_id_token_for_another_audience_is_refused() {
    oidc_refuses(Spoil::Audience).await;
}

/// RFC 9207: a callback `iss` that is not the issuer, or none when the provider promises one, is
/// refused before the code goes to the token endpoint (a mix-up attack would send it elsewhere).
async fn oidc_refuses_callback_iss(iss: Option<&str>) {
    let (w, _jwks) = oidc_world().await;
    let browser = Browser::new();
    let (_verifier, challenge) = pkce();
    let (_authorize, state, _nonce) = oidc_started(&w, &browser, &challenge).await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&w.fake)
        .await;

    let mut query = vec![("code", OP_CODE), ("state", state.as_str())];
    if let Some(iss) = iss {
        query.push(("iss", iss));
    }
    let landing = w.callback(&browser, &query).await;
    error_page(landing, 502, "connector.invalid_response", &[]);
    assert_eq!(w.user_count().await, 0);
    w.fake.verify().await;
}

#[tokio::test]
async fn oidc_callback_iss_of_another_issuer_is_refused_before_the_token_endpoint() {
    oidc_refuses_callback_iss(Some("https://attacker.example")).await;
}

#[tokio::test]
async fn oidc_callback_without_the_promised_iss_is_refused_before_the_token_endpoint() {
    oidc_refuses_callback_iss(None).await;
}

#[tokio::test]
async fn oidc_key_rotation_refetches_the_jwks_and_re_sign_in_keeps_the_refresh_token() {
    const ACCESS_2: &str = "PLANTEDopAccess2-c2Vjb25kIGFjY2Vzcw";
    let (w, jwks) = oidc_world().await;
    let issuer = w.fake.uri();
    let browser = Browser::new();

    let (verifier, challenge) = pkce();
    let (authorize, state, nonce) = oidc_started(&w, &browser, &challenge).await;
    let id_token = sign_jwt(&rsa_keys()[0], "key-1", &op_claims(&issuer, &nonce));
    mount_op_token(
        &w.fake,
        Grant::issued(OP_CODE, &authorize),
        op_answer(&id_token, OP_ACCESS, Some(OP_REFRESH)),
    )
    .await;
    mount_op_userinfo(&w.fake, OP_ACCESS).await;
    let landing = w
        .callback(
            &browser,
            &[("code", OP_CODE), ("state", &state), ("iss", &issuer)],
        )
        .await;
    let user = w.finish(landing, &verifier).await;
    let first = w.stored(&user).await;

    // The provider rotates to a new key and drops the old one; the next answer brings no
    // refresh token.
    *jwks.lock().expect("jwks") = json!({"keys": [jwk(&rsa_keys()[1], "key-2")]});
    let (verifier, challenge) = pkce();
    let (authorize, state, nonce) = oidc_started(&w, &browser, &challenge).await;
    let code_2 = "PLANTEDopCode2-Zx91Lm";
    let id_token_2 = sign_jwt(&rsa_keys()[1], "key-2", &op_claims(&issuer, &nonce));
    mount_op_token(
        &w.fake,
        Grant::issued(code_2, &authorize),
        op_answer(&id_token_2, ACCESS_2, None),
    )
    .await;
    mount_op_userinfo(&w.fake, ACCESS_2).await;
    let landing = w
        .callback(
            &browser,
            &[("code", code_2), ("state", &state), ("iss", &issuer)],
        )
        .await;
    assert_eq!(
        w.finish(landing, &verifier).await,
        user,
        "the same identity is the same user"
    );

    assert_eq!(
        received(&w.fake, "/jwks").await.len(),
        2,
        "fetched once, then again for the unknown kid"
    );
    assert_eq!(w.user_count().await, 1);
    let second = w.stored(&user).await;
    assert_eq!(second.id, first.id);
    assert_eq!(second.created_at, first.created_at);
    assert!(second.metadata.has_refresh_token);
    let set = w.app.state.token_sets.open(&second).expect("open");
    assert_eq!(set.access_token.expose_secret(), ACCESS_2);
    assert_eq!(
        set.refresh_token.as_ref().map(|t| t.expose_secret()),
        Some(OP_REFRESH),
        "the stored refresh token is kept"
    );
    assert_eq!(
        set.id_token.as_ref().map(|t| t.expose_secret()),
        Some(id_token_2.as_str())
    );
    w.assert_sealed(
        &second,
        &[OP_ACCESS, ACCESS_2, OP_REFRESH, &id_token, &id_token_2],
    )
    .await;
}

// ----------------------------------------------------------------------------------------------
// Failures at the token endpoint, replays, foreign browsers
// ----------------------------------------------------------------------------------------------

#[tokio::test]
async fn github_garbage_token_answer_is_invalid_response() {
    let w = World::new("github", "github", github_config).await;
    let browser = Browser::new();
    let (_verifier, challenge) = pkce();
    let (_authorize, state) = github_started(&w, &browser, &challenge).await;
    Mock::given(method("POST"))
        .and(path("/login/oauth/access_token"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            "<!DOCTYPE html><html><head><title>Unicorn! &middot; GitHub</title></head><body>\
             <p>No server is currently available to service your request.</p></body></html>",
            "text/html; charset=utf-8",
        ))
        .expect(1)
        .mount(&w.fake)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v3/user"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&w.fake)
        .await;

    let landing = w
        .callback(&browser, &[("code", GH_CODE), ("state", &state)])
        .await;
    error_page(landing, 502, "connector.invalid_response", &[]);
    assert_eq!(w.user_count().await, 0);
    w.fake.verify().await;
}

#[tokio::test]
async fn replayed_callback_is_a_state_mismatch_and_the_code_is_sent_once() {
    let w = World::new("github", "github", github_config).await;
    let browser = Browser::new();
    let (verifier, challenge) = pkce();
    let (authorize, state) = github_started(&w, &browser, &challenge).await;
    mount_github_token(
        &w.fake,
        Grant::issued(GH_CODE, &authorize),
        github_oauth_answer(),
    )
    .await;
    mount_github_octocat(&w, GH_ACCESS).await;

    let query = [("code", GH_CODE), ("state", state.as_str())];
    let landing = w.callback(&browser, &query).await;
    let user = w.finish(landing, &verifier).await;
    assert_eq!(w.user_count().await, 1);

    let replay = w.callback(&browser, &query).await;
    error_page(replay, 400, "session.state_mismatch", &[]);
    assert_eq!(
        received(&w.fake, "/login/oauth/access_token").await.len(),
        1,
        "the replayed code never reached GitHub"
    );
    assert_eq!(w.user_count().await, 1);
    assert!(w.app.store().get_user(&user).await.expect("get").is_some());
}

#[tokio::test]
async fn callback_from_another_browser_is_a_state_mismatch_and_the_rightful_browser_still_finishes()
{
    let w = World::new("github", "github", github_config).await;
    let browser = Browser::new();
    let (verifier, challenge) = pkce();
    let (authorize, state) = github_started(&w, &browser, &challenge).await;
    mount_github_token(
        &w.fake,
        Grant::issued(GH_CODE, &authorize),
        github_oauth_answer(),
    )
    .await;
    mount_github_octocat(&w, GH_ACCESS).await;

    // An attacker who learned the state, without the browser's cookie.
    let stranger = Browser::new();
    let landing = w
        .callback(&stranger, &[("code", GH_CODE), ("state", &state)])
        .await;
    error_page(landing, 400, "session.state_mismatch", &[]);
    assert!(
        received(&w.fake, "/login/oauth/access_token")
            .await
            .is_empty(),
        "the stranger's code was not redeemed"
    );
    assert_eq!(w.user_count().await, 0);

    let landing = w
        .callback(&browser, &[("code", GH_CODE), ("state", &state)])
        .await;
    let user = w.finish(landing, &verifier).await;
    assert_eq!(w.user_count().await, 1);
    assert_eq!(
        w.app
            .store()
            .get_social_identity(&user, "github")
            .await
            .expect("identity")
            .expect("linked")
            .identity_id,
        "5818302"
    );
}
