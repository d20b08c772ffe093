//! Black-box regressions of the December 2026 outside review (`shared/reports/security-review.md`,
//! findings 1–19) and fuzzing run (`api-fuzzing.md`, F1–F8): each test reproduces an attack as
//! the report did, against the real server, a real upstream OpenID provider (npm
//! `oidc-provider`) and real HTTP, and fails on the code the review found.

use crate::support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use strongroom_core::store::UserId;
use support::browser::{Browser, Landing, param};
use support::upstream::{CLIENT_ID, CLIENT_SECRET, Upstream};
use support::{Options, TestApp, pkce};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const APP_REDIRECT: &str = "http://127.0.0.1:9/cb";
const SOCIAL: &str = "rtoidc";

/// The review's upstream accounts.
fn accounts() -> Value {
    json!({
        "alice": {"email": "alice@example.com", "email_verified": true, "name": "Alice"},
        "mallory": {"email": "victim@corp.test", "email_verified": false, "name": "<script>x</script>",
                    "picture": "javascript:alert(1)"},
        "victim": {"email": "victim@corp.test", "email_verified": true, "name": "Victim"},
        "eve": {"email": "ceo@bigcorp.example", "email_verified": false, "name": "Eve"},
        "noverif": {"email": "Ceo@corp.test", "name": "No Claim"},
        "boss": {"email": "boss@corp.test", "email_verified": true, "name": "Boss"},
        "racer1": {"email": "racer1@corp.test", "email_verified": true},
        "racer2": {"email": "racer2@corp.test", "email_verified": true},
        "racer3": {"email": "racer3@corp.test", "email_verified": true},
    })
}

/// Strongroom with the review's configuration: a social `oidc` connector and an SSO connector
/// for `corp.test` (both storing tokens) behind one real upstream, and a Traditional app.
struct World {
    app: TestApp,
    _upstream: Upstream,
    token: String,
    sso_id: String,
    client_id: String,
    client_secret: String,
}

impl World {
    async fn new() -> Self {
        Self::with(Options::default()).await
    }

    async fn with(options: Options) -> Self {
        let app = TestApp::spawn_with(options).await;
        let token = app.management_token().await;
        let (status, created) = app
            .api(
                &token,
                Method::POST,
                "/api/sso-connectors",
                Some(json!({"providerName": "OIDC", "connectorName": "Corp", "domains": ["corp.test"]})),
            )
            .await;
        assert_eq!(status, 200, "{created}");
        let sso_id = created["id"].as_str().expect("id").to_owned();
        let upstream = Upstream::start(
            &[
                app.url(&format!("/callback/{SOCIAL}")),
                app.url(&format!("/callback/sso/{sso_id}")),
            ],
            json!({ "accounts": accounts() }),
        );
        let config = json!({
            "clientId": CLIENT_ID,
            "clientSecret": CLIENT_SECRET,
            "issuer": upstream.issuer,
            "scope": "openid profile email offline_access",
        });
        let (status, body) = app
            .api(
                &token,
                Method::PATCH,
                &format!("/api/sso-connectors/{sso_id}"),
                Some(json!({"config": config, "enableTokenStorage": true})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = app
            .api(
                &token,
                Method::POST,
                "/api/connectors",
                Some(json!({"id": SOCIAL, "connectorId": "oidc", "config": config, "enableTokenStorage": true})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let (row, secret) = app.application("Traditional", &[APP_REDIRECT]).await;
        Self {
            app,
            _upstream: upstream,
            token,
            sso_id,
            client_id: row.id.to_string(),
            client_secret: secret.expect("secret"),
        }
    }

    fn sso(&self) -> String {
        format!("sso:{}", self.sso_id)
    }

    fn auth_url(&self, client_id: &str, extra: &[(&str, &str)], challenge: &str) -> String {
        let mut url = url::Url::parse(&self.app.url("/oidc/auth")).expect("url");
        url.query_pairs_mut()
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", APP_REDIRECT)
            .append_pair("response_type", "code")
            .append_pair("scope", "openid profile email offline_access identities")
            .append_pair("state", "app-state")
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256")
            .extend_pairs(extra);
        url.into()
    }

    async fn redeem(&self, client: (&str, &str), code: &str, verifier: &str) -> (u16, Value) {
        let response = self
            .app
            .http
            .post(self.app.url("/oidc/token"))
            .basic_auth(client.0, Some(client.1))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", APP_REDIRECT),
                ("code_verifier", verifier),
            ])
            .send()
            .await
            .expect("token");
        (
            response.status().as_u16(),
            response.json().await.unwrap_or(Value::Null),
        )
    }

    fn client(&self) -> (&str, &str) {
        (&self.client_id, &self.client_secret)
    }

    /// The review's "sign-in": `direct_sign_in` through the upstream as `login`, in `browser`;
    /// Strongroom's tokens.
    async fn sign_in_with(&self, browser: &Browser, login: &str, direct: &str) -> Value {
        let (verifier, challenge) = pkce();
        let landing = browser
            .follow(
                &self.auth_url(
                    &self.client_id,
                    &[("direct_sign_in", direct), ("login_hint", login)],
                    &challenge,
                ),
                APP_REDIRECT,
            )
            .await
            .app();
        let (status, tokens) = self
            .redeem(
                self.client(),
                &param(&landing, "code").expect("code"),
                &verifier,
            )
            .await;
        assert_eq!(status, 200, "{tokens}");
        tokens
    }

    async fn sign_in(&self, login: &str, direct: &str) -> (UserId, Value) {
        let tokens = self.sign_in_with(&Browser::new(), login, direct).await;
        (subject(&tokens), tokens)
    }

    async fn user_api(&self, tokens: &Value, method: Method, path: &str) -> (u16, Value) {
        self.app
            .api(
                tokens["access_token"].as_str().expect("access token"),
                method,
                path,
                None,
            )
            .await
    }
}

/// The claims of a JWT (not verified: other tests verify Strongroom's signatures).
fn claims(jwt: &str) -> Value {
    use base64::Engine as _;
    let payload = jwt.split('.').nth(1).expect("payload");
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("b64"),
    )
    .expect("json")
}

fn subject(tokens: &Value) -> UserId {
    let id = claims(tokens["id_token"].as_str().expect("id_token"));
    UserId::from(id["sub"].as_str().expect("sub").to_owned())
}

// ----------------------------------------------------------------------------------------------
// Finding 1 (critical) and 2 (high): e-mail verification
// ----------------------------------------------------------------------------------------------

#[tokio::test]
async fn an_unverified_social_address_is_never_primary_and_sso_never_joins_it() {
    let w = World::new().await;
    // 1. mallory (victim@corp.test, email_verified=false) signs in with the social connector.
    let (mallory, tokens) = w.sign_in("mallory", "social:oidc").await;
    let (status, me) = w.user_api(&tokens, Method::GET, "/api/my-account").await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["primaryEmail"], Value::Null, "{me}");
    assert_eq!(
        me["avatar"],
        Value::Null,
        "a javascript: picture is not taken"
    );
    // 2. The real owner signs in with corporate SSO: a user of their own.
    let (victim, victim_tokens) = w.sign_in("victim", &w.sso()).await;
    assert_ne!(
        victim, mallory,
        "the SSO sign-in joined the attacker's user"
    );
    let (_, victim_me) = w
        .user_api(&victim_tokens, Method::GET, "/api/my-account")
        .await;
    assert_eq!(victim_me["primaryEmail"], "victim@corp.test");
    // 3. mallory signs in again: the corporate token set is not hers to read.
    let (again, tokens) = w.sign_in("mallory", "social:oidc").await;
    assert_eq!(again, mallory);
    let (status, body) = w
        .user_api(
            &tokens,
            Method::GET,
            &format!("/api/my-account/sso-identities/{}/access-token", w.sso_id),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    assert!(!body.to_string().contains("access_token"), "{body}");
}

#[tokio::test]
async fn sso_joins_only_an_address_verified_by_an_administrator_or_that_connector() {
    let w = World::new().await;
    let create = |email: &str| {
        w.app.api(
            &w.token,
            Method::POST,
            "/api/users",
            Some(json!({ "primaryEmail": email })),
        )
    };
    // The review's variant: the IdP sends no email_verified for Ceo@corp.test.
    let (status, ceo) = create("ceo@corp.test").await;
    assert_eq!(status, 200, "{ceo}");
    let (noverif, _) = w.sign_in("noverif", &w.sso()).await;
    assert_ne!(
        noverif.as_str(),
        ceo["id"].as_str().expect("id"),
        "a missing claim counts as not verified"
    );
    // An address an administrator set, verified by the IdP: the sign-in joins that user.
    let (status, boss) = create("boss@corp.test").await;
    assert_eq!(status, 200, "{boss}");
    let (joined, _) = w.sign_in("boss", &w.sso()).await;
    assert_eq!(joined.as_str(), boss["id"].as_str().expect("id"));
    // An address the connector itself verified: the next sign-in finds the same user.
    let (victim, _) = w.sign_in("victim", &w.sso()).await;
    let (again, _) = w.sign_in("victim", &w.sso()).await;
    assert_eq!(victim, again);
}

#[tokio::test]
async fn id_tokens_and_userinfo_report_the_real_email_verified() {
    let w = World::new().await;
    for (login, email, verified) in [
        ("eve", Value::Null, false),
        ("alice", json!("alice@example.com"), true),
    ] {
        let (_, tokens) = w.sign_in(login, "social:oidc").await;
        let id = claims(tokens["id_token"].as_str().expect("id_token"));
        assert_eq!(
            (&id["email"], &id["email_verified"]),
            (&email, &json!(verified)),
            "{login}: {id}"
        );
        let (status, me) = w.user_api(&tokens, Method::GET, "/oidc/me").await;
        assert_eq!(status, 200);
        assert_eq!(
            (&me["email"], &me["email_verified"]),
            (&email, &json!(verified)),
            "{login}: {me}"
        );
    }
}

#[tokio::test]
async fn concurrent_first_sso_sign_ins_of_one_account_make_one_user() {
    let w = World::new().await;
    let callback = w.app.url(&format!("/callback/sso/{}", w.sso_id));
    for login in ["racer1", "racer2", "racer3"] {
        let before = w.app.store().list_users(None, 1, 0).await.expect("users").1;
        // Two browsers take the same account to Strongroom's callback, and arrive together.
        let browsers = [Browser::new(), Browser::new()];
        let mut callbacks = Vec::new();
        let mut verifiers = Vec::new();
        for b in &browsers {
            let (verifier, challenge) = pkce();
            let url = w.auth_url(
                &w.client_id,
                &[("direct_sign_in", &w.sso()), ("login_hint", login)],
                &challenge,
            );
            callbacks.push(b.follow(&url, &callback).await.app());
            verifiers.push(verifier);
        }
        let (first, second) = tokio::join!(
            browsers[0].follow(callbacks[0].as_str(), APP_REDIRECT),
            browsers[1].follow(callbacks[1].as_str(), APP_REDIRECT),
        );
        let mut users = Vec::new();
        for (landing, verifier) in [first, second].into_iter().zip(&verifiers) {
            let url = match landing {
                Landing::App(url) => url,
                Landing::Page(status, page) => panic!("{login}: {status} {page}"),
            };
            let (status, tokens) = w
                .redeem(w.client(), &param(&url, "code").expect("code"), verifier)
                .await;
            assert_eq!(status, 200, "{tokens}");
            users.push(subject(&tokens));
        }
        assert_eq!(users[0], users[1], "{login}: one account, one user");
        let after = w.app.store().list_users(None, 1, 0).await.expect("users").1;
        assert_eq!(after, before + 1, "{login}: no orphan user");
    }
}

// ----------------------------------------------------------------------------------------------
// Findings 3, 4, 9: console sign-in floods and lockout
// ----------------------------------------------------------------------------------------------

/// A server believing `X-Forwarded-For` from loopback, so tests can speak from many addresses.
async fn behind_a_proxy() -> TestApp {
    TestApp::spawn_with(Options {
        network: strongroom_server::Network {
            trusted_proxies: strongroom_core::providers::IpNetwork::parse_list("127.0.0.0/8")
                .expect("network"),
            ..Default::default()
        },
        ..Options::default()
    })
    .await
}

async fn console_sign_in(app: &TestApp, from: &str, username: &str, password: &str) -> u16 {
    sign_in_at(app.http.clone(), app.base.clone(), from, username, password).await
}

async fn sign_in_at(
    http: reqwest::Client,
    base: String,
    from: &str,
    username: &str,
    password: &str,
) -> u16 {
    http.post(format!("{base}/console/sign-in"))
        .header("Cookie", "sr_console_login=x")
        .header("X-Forwarded-For", from)
        .form(&[
            ("csrf", "x"),
            ("username", username),
            ("password", password),
        ])
        .send()
        .await
        .expect("sign-in")
        .status()
        .as_u16()
}

async fn admin(app: &TestApp, name: &str, password: &str) {
    strongroom_core::admins::create_admin(
        app.store(),
        name,
        Some(strongroom_core::SecretString::from(password.to_owned())),
        &strongroom_core::SystemClock,
    )
    .await
    .expect("admin");
}

#[tokio::test]
async fn console_lockout_is_per_address_and_alike_for_unknown_usernames() {
    let app = behind_a_proxy().await;
    admin(&app, "target", "Correct-Horse-42").await;
    // Five failures in a row from one address lock that address out of that username...
    let mut answers = Vec::new();
    for _ in 0..5 {
        answers.push(console_sign_in(&app, "198.51.100.1", "target", "wrong").await);
    }
    assert_eq!(answers, [401, 401, 401, 401, 429]);
    assert_eq!(
        console_sign_in(&app, "198.51.100.1", "target", "Correct-Horse-42").await,
        429,
        "locked, even with the right password"
    );
    // ...not the administrator elsewhere: nobody can lock them out forever.
    assert_eq!(
        console_sign_in(&app, "203.0.113.7", "target", "Correct-Horse-42").await,
        303
    );
    // An unknown username answers exactly alike (no enumeration).
    let mut answers = Vec::new();
    for _ in 0..6 {
        answers.push(console_sign_in(&app, "198.51.100.2", "nosuchadmin", "wrong").await);
    }
    assert_eq!(answers, [401, 401, 401, 401, 429, 429]);
}

#[tokio::test]
async fn a_burst_of_guesses_gets_no_more_checks_than_the_limit() {
    let app = behind_a_proxy().await;
    admin(&app, "target", "Correct-Horse-42").await;
    // The review: 60 parallel guesses from one client, 48 checked. Each burst comes from its
    // own address (under the per-address rate), all for the same username.
    let answers = all_at_once(
        &app,
        (0..60).map(|i| {
            (
                format!("198.51.100.{}", i % 6 + 10),
                "target".to_owned(),
                format!("guess-{i}"),
            )
        }),
    )
    .await;
    let checked = answers.iter().filter(|s| **s == 401).count();
    assert!(
        checked <= 30,
        "{checked} guesses checked at once: {answers:?}"
    );
    assert!(
        answers.iter().all(|s| [401, 429].contains(s)),
        "{answers:?}"
    );
}

#[tokio::test]
async fn sign_in_floods_are_refused_before_any_hashing() {
    let app = behind_a_proxy().await;
    // Distinct usernames from distinct addresses: only the hashing bound can refuse them.
    let answers = all_at_once(
        &app,
        (0..40).map(|i| {
            (
                format!("192.0.2.{}", i + 1),
                format!("nobody{i}"),
                "p".to_owned(),
            )
        }),
    )
    .await;
    let refused = answers.iter().filter(|s| **s == 429).count();
    assert!(
        refused >= 10,
        "40 parallel sign-ins, {refused} refused: {answers:?}"
    );
}

#[tokio::test]
async fn one_address_gets_its_burst_of_sign_in_attempts_then_a_slow_rate() {
    // The server's clock stands still: no refill while the test runs, however slow it is.
    let clock = strongroom_core::ManualClock::new(1_800_000_000_000);
    let app = TestApp::spawn_with(Options {
        clock: std::sync::Arc::new(clock.clone()),
        network: strongroom_server::Network {
            trusted_proxies: strongroom_core::providers::IpNetwork::parse_list("127.0.0.0/8")
                .expect("network"),
            ..Default::default()
        },
        ..Options::default()
    })
    .await;
    let mut answers = Vec::new();
    for i in 0..12 {
        answers.push(console_sign_in(&app, "192.0.2.200", &format!("x{i}"), "p").await);
    }
    assert_eq!(answers[..10], [401; 10], "{answers:?}");
    assert_eq!(answers[10..], [429, 429], "{answers:?}");
    // Another address is not affected; the first gets one more attempt six seconds later.
    assert_eq!(console_sign_in(&app, "192.0.2.201", "x", "p").await, 401);
    clock.advance_secs(6);
    assert_eq!(console_sign_in(&app, "192.0.2.200", "y", "p").await, 401);
    assert_eq!(console_sign_in(&app, "192.0.2.200", "z", "p").await, 429);
}

/// Console sign-ins `(from, username, password)`, all sent at once; their statuses.
async fn all_at_once(
    app: &TestApp,
    attempts: impl Iterator<Item = (String, String, String)>,
) -> Vec<u16> {
    let mut set = tokio::task::JoinSet::new();
    for (from, username, password) in attempts {
        let (http, base) = (app.http.clone(), app.base.clone());
        set.spawn(async move { sign_in_at(http, base, &from, &username, &password).await });
    }
    set.join_all().await
}

// ----------------------------------------------------------------------------------------------
// Finding 5: slow and numerous connections
// ----------------------------------------------------------------------------------------------

#[tokio::test]
async fn half_sent_requests_are_closed_and_cannot_take_every_connection() {
    let app = TestApp::spawn_with(Options {
        network: strongroom_server::Network {
            max_connections: 64,
            max_connections_per_address: 10,
            header_read_timeout: Duration::from_secs(1),
            ..Default::default()
        },
        ..Options::default()
    })
    .await;
    let target: SocketAddr = app
        .base
        .trim_start_matches("http://")
        .parse()
        .expect("addr");
    // 40 connections from 127.0.0.2, each sending half a request and nothing more.
    let mut attackers = Vec::new();
    for _ in 0..40 {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind("127.0.0.2:0".parse().expect("addr"))
            .expect("bind");
        let mut stream = socket.connect(target).await.expect("connect");
        let _ = stream
            .write_all(b"GET /api/status HTTP/1.1\r\nHost: x\r\nX-a: ")
            .await;
        attackers.push(stream);
    }
    // Everyone else is still served, at once.
    let started = Instant::now();
    let status = app
        .http
        .get(app.url("/api/status"))
        .timeout(Duration::from_secs(3))
        .send()
        .await
        .expect("status while under attack")
        .status();
    assert_eq!(status, 204);
    assert!(started.elapsed() < Duration::from_secs(2));
    // Every half-sent request is closed: beyond the per-address cap at once, the others when
    // their headers do not arrive in time.
    for (i, stream) in attackers.iter_mut().enumerate() {
        let mut buf = [0u8; 512];
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await;
        match read {
            Ok(Ok(_)) | Ok(Err(_)) => {}
            Err(_) => panic!("connection {i} still open after 5 s"),
        }
    }
}

// ----------------------------------------------------------------------------------------------
// Finding 6: third-party applications and consent
// ----------------------------------------------------------------------------------------------

#[tokio::test]
async fn third_party_applications_need_consent_and_get_no_provider_tokens_unless_allowed() {
    let w = World::new().await;
    let (status, tp) = w
        .app
        .api(
            &w.token,
            Method::POST,
            "/api/applications",
            Some(
                json!({"name": "tp2", "type": "Traditional", "isThirdParty": true,
                        "oidcClientMetadata": {"redirectUris": [APP_REDIRECT]}}),
            ),
        )
        .await;
    assert_eq!(status, 200, "{tp}");
    assert_eq!(tp["allowProviderTokens"], false);
    let tp_id = tp["id"].as_str().expect("id").to_owned();
    let tp_secret = tp["secret"].as_str().expect("secret").to_owned();
    // alice has a Strongroom session from the first-party application.
    let browser = Browser::new();
    let first_party = w.sign_in_with(&browser, "alice", "social:oidc").await;

    // prompt=none without consent: consent_required, no code.
    let (verifier, challenge) = pkce();
    let landing = browser
        .follow(
            &w.auth_url(&tp_id, &[("prompt", "none")], &challenge),
            APP_REDIRECT,
        )
        .await
        .app();
    assert_eq!(
        param(&landing, "error").as_deref(),
        Some("consent_required")
    );
    assert_eq!(param(&landing, "code"), None);

    // Otherwise a consent page, which lists the scopes (identities is not granted).
    let consent = async |browser: &Browser, challenge: String| {
        let url = w.auth_url(&tp_id, &[], &challenge);
        let (status, location) = browser.location(&url).await;
        assert_eq!(status, 303);
        let location = location.expect("location");
        assert!(location.path().starts_with("/consent/"), "{location}");
        location
    };
    let page_url = consent(&browser, challenge.clone()).await;
    let response = w
        .app
        .http
        .get(page_url.as_str())
        .send()
        .await
        .expect("page");
    assert_eq!(response.status(), 400, "another browser does not see it");
    let (status, page) = browser.follow(page_url.as_str(), APP_REDIRECT).await.page();
    assert_eq!(status, 200);
    assert!(
        page.contains("tp2") && page.contains("offline_access"),
        "{page}"
    );
    assert!(!page.contains("identities"), "not allowed: {page}");
    // Deny: access_denied.
    let landing = browser
        .post_form(page_url.as_str(), &[("decision", "deny")], APP_REDIRECT)
        .await
        .app();
    assert_eq!(param(&landing, "error").as_deref(), Some("access_denied"));
    // Allow: a code, and tokens without identities.
    let page_url = consent(&browser, challenge.clone()).await;
    let landing = browser
        .post_form(page_url.as_str(), &[("decision", "allow")], APP_REDIRECT)
        .await
        .app();
    let (status, tokens) = w
        .redeem(
            (&tp_id, &tp_secret),
            &param(&landing, "code").expect("code"),
            &verifier,
        )
        .await;
    assert_eq!(status, 200, "{tokens}");
    assert!(
        !tokens["scope"]
            .as_str()
            .expect("scope")
            .split(' ')
            .any(|s| s == "identities"),
        "{tokens}"
    );
    let (status, _) = w
        .user_api(
            &tokens,
            Method::GET,
            "/api/my-account/identities/oidc/access-token",
        )
        .await;
    assert_eq!(
        status, 403,
        "no provider token for a third-party application"
    );
    // The consent is remembered: prompt=none now answers with a code.
    let (_, challenge) = pkce();
    let landing = browser
        .follow(
            &w.auth_url(&tp_id, &[("prompt", "none")], &challenge),
            APP_REDIRECT,
        )
        .await
        .app();
    assert!(param(&landing, "code").is_some(), "{landing}");

    // Withdrawn: the application's tokens die at once and it must ask again.
    let (status, grants) = w
        .user_api(&first_party, Method::GET, "/api/my-account/grants")
        .await;
    assert_eq!(status, 200, "{grants}");
    let grant = &grants["grants"][0];
    assert_eq!(grant["payload"]["clientId"], tp_id.as_str(), "{grants}");
    let (status, body) = w
        .user_api(
            &first_party,
            Method::DELETE,
            &format!(
                "/api/my-account/grants/{}",
                grant["id"].as_str().expect("id")
            ),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let (status, _) = w.user_api(&tokens, Method::GET, "/oidc/me").await;
    assert_eq!(status, 401, "a withdrawn consent revokes the tokens");
    let landing = browser
        .follow(
            &w.auth_url(&tp_id, &[("prompt", "none")], &challenge),
            APP_REDIRECT,
        )
        .await
        .app();
    assert_eq!(
        param(&landing, "error").as_deref(),
        Some("consent_required")
    );

    // An administrator allows provider tokens: the page calls them out, the token reads them.
    let (status, patched) = w
        .app
        .api(
            &w.token,
            Method::PATCH,
            &format!("/api/applications/{tp_id}"),
            Some(json!({"allowProviderTokens": true})),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    let (verifier, challenge) = pkce();
    let page_url = consent(&browser, challenge).await;
    let (_, page) = browser.follow(page_url.as_str(), APP_REDIRECT).await.page();
    assert!(
        page.contains("identities") && page.contains("act as you"),
        "{page}"
    );
    let landing = browser
        .post_form(page_url.as_str(), &[("decision", "allow")], APP_REDIRECT)
        .await
        .app();
    let (_, tokens) = w
        .redeem(
            (&tp_id, &tp_secret),
            &param(&landing, "code").expect("code"),
            &verifier,
        )
        .await;
    let path = "/api/my-account/identities/oidc/access-token";
    assert_eq!(w.user_api(&tokens, Method::GET, path).await.0, 200);
    // Taking the permission back revokes the tokens that carry identities.
    w.app
        .api(
            &w.token,
            Method::PATCH,
            &format!("/api/applications/{tp_id}"),
            Some(json!({"allowProviderTokens": false})),
        )
        .await;
    assert_eq!(w.user_api(&tokens, Method::GET, path).await.0, 401);
    // Every token read is audited with the application that read it.
    w.app.state.audit.flush().await;
    let (events, _) = w
        .app
        .store()
        .list_audit_events(
            &strongroom_core::store::AuditFilter {
                action: Some("token.read".into()),
                ..Default::default()
            },
            100,
            0,
        )
        .await
        .expect("events");
    assert!(
        events
            .iter()
            .any(|e| e.detail["applicationId"] == tp_id.as_str()),
        "{events:?}"
    );
}

// ----------------------------------------------------------------------------------------------
// Finding 7 and the fuzzing run's F1, F2, F4, F5, F7: input limits
// ----------------------------------------------------------------------------------------------

#[tokio::test]
async fn oversized_authorization_requests_store_nothing() {
    let app = TestApp::spawn().await;
    let (row, _) = app.application("SPA", &[APP_REDIRECT]).await;
    let (_, challenge) = pkce();
    let huge = "x".repeat(100_000);
    let response = app
        .http
        .post(app.url("/oidc/auth"))
        .form(&[
            ("client_id", row.id.as_str()),
            ("redirect_uri", APP_REDIRECT),
            ("response_type", "code"),
            ("scope", "openid"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("state", huge.as_str()),
            ("nonce", huge.as_str()),
        ])
        .send()
        .await
        .expect("auth");
    assert_eq!(response.status(), 303);
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("location")
        .to_owned();
    assert!(location.contains("error=invalid_request"), "{location}");
    assert!(location.len() < 1000, "the state is not echoed back");
    let interactions: i64 = sqlx::Row::get(
        &sqlx::query("SELECT COUNT(*) AS n FROM oidc_interactions")
            .fetch_one(app.store().pool())
            .await
            .expect("count"),
        "n",
    );
    assert_eq!(interactions, 0);
}

#[tokio::test]
async fn nul_bytes_bad_paging_and_plain_text_rejections_are_clean_400s() {
    let app = TestApp::spawn().await;
    let token = app.management_token().await;
    let get = |path: &str| app.api(&token, Method::GET, path, None);
    for path in [
        "/api/users/a%00b",
        "/api/users?search=a%00b",
        "/api/audit-events?userId=a%00b",
        "/api/applications/a%00b",
        "/api/users?page_size=1&page_size=1",
        "/api/applications/%ff",
        "/api/users?page=9223372036854775807&page_size=100",
        "/api/audit-events?page=2305843009213693953&page_size=94",
    ] {
        let (status, body) = get(path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body["code"].is_string(), "{path}: {body}");
    }
    let (status, body) = get(&format!("/api/users?search={}", "a".repeat(50_000))).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("guard.invalid_input"))
    );
    for body in [
        json!({"name": "a\u{0}b", "type": "Traditional"}),
        json!({"name": "x".repeat(300), "type": "Traditional"}),
        json!({"name": "x", "type": "Traditional", "customClientMetadata": [1]}),
        json!({"name": "x", "type": "Traditional",
               "oidcClientMetadata": {"redirectUris": ["javascript://%0aalert(1)"]}}),
        json!({"name": "x", "type": "Traditional",
               "oidcClientMetadata": {"redirectUris": ["data:text/html,hi"]}}),
    ] {
        let (status, answer) = app
            .api(
                &token,
                Method::POST,
                "/api/applications",
                Some(body.clone()),
            )
            .await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (400, Some("guard.invalid_input")),
            "{body}: {answer}"
        );
    }
    // Logto's 128 characters for a user's name; an avatar is a web URL.
    for body in [
        json!({"name": "x".repeat(129)}),
        json!({"avatar": "javascript:alert(1)"}),
    ] {
        let (status, answer) = app
            .api(&token, Method::POST, "/api/users", Some(body.clone()))
            .await;
        assert_eq!(status, 400, "{body}: {answer}");
    }
    // Over the body limit: 413.
    let response = app
        .http
        .post(app.url("/api/users"))
        .bearer_auth(&token)
        .header("Content-Type", "application/json")
        .body(format!("{{\"name\":\"{}\"}}", "x".repeat(3 * 1024 * 1024)))
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 413);
    // The token endpoint speaks RFC 6749, whatever is wrong.
    for form in [
        "grant_type=client_credentials&grant_type=client_credentials",
        "grant_type=client_credentials&client_id=a%00b&client_secret=x",
    ] {
        let response = app
            .http
            .post(app.url("/oidc/token"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .expect("token");
        assert_eq!(response.status(), 400, "{form}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"], "invalid_request", "{form}: {body}");
    }
    // Nor in HTTP Basic client credentials, percent-decoded after the edge's check.
    let response = app
        .http
        .post(app.url("/oidc/token"))
        .header("Authorization", "Basic YSUwMGI6eA==") // a%00b:x
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token");
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"], "invalid_request", "{body}");
    // A browser route: an HTML page, not a 500.
    let response = app
        .http
        .get(app.url(
            "/oidc/auth?client_id=a%00b&redirect_uri=https://x&response_type=code&scope=openid",
        ))
        .send()
        .await
        .expect("auth");
    assert_eq!(response.status(), 400);
    assert!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/html"))
    );
}

#[tokio::test]
async fn verification_records_are_bounded_in_size_and_number() {
    let w = World::new().await;
    let (user, tokens) = w.sign_in("alice", "social:oidc").await;
    let token = tokens["access_token"].as_str().expect("token").to_owned();
    let create = |state: String, redirect: String| {
        w.app.api(
            &token,
            Method::POST,
            "/api/verifications/social",
            Some(json!({"connectorId": SOCIAL, "state": state, "redirectUri": redirect})),
        )
    };
    let (status, body) = create("s".repeat(620_000), "https://app.example/cb".into()).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = create(
        "state".into(),
        format!("https://app.example/{}", "x".repeat(3000)),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    for i in 0..30 {
        let (status, body) = create(format!("state-{i}"), "https://app.example/cb".into()).await;
        assert_eq!(status, 201, "{body}");
    }
    let live: i64 = sqlx::Row::get(
        &sqlx::query("SELECT COUNT(*) AS n FROM verification_records WHERE user_id = $1")
            .bind(user.as_str())
            .fetch_one(w.app.store().pool())
            .await
            .expect("count"),
        "n",
    );
    assert_eq!(live, strongroom_core::verifications::MAX_RECORDS_PER_USER);
}

// ----------------------------------------------------------------------------------------------
// Findings 8, 10, 11, 12, 16: OAuth details
// ----------------------------------------------------------------------------------------------

#[tokio::test]
async fn codes_and_refresh_tokens_of_another_client_are_not_consumed() {
    // Strongroom's clock is a manual one started at the real time (the upstream is real), so
    // the second refresh can be a second later without sleeping.
    let clock = strongroom_core::ManualClock::new(strongroom_core::Clock::now_ms(
        &strongroom_core::SystemClock,
    ));
    let w = World::with(Options {
        clock: std::sync::Arc::new(clock.clone()),
        ..Options::default()
    })
    .await;
    let (other, other_secret) = w.app.application("Traditional", &[APP_REDIRECT]).await;
    let other_secret = other_secret.expect("secret");
    let browser = Browser::new();
    let (verifier, challenge) = pkce();
    let landing = browser
        .follow(
            &w.auth_url(
                &w.client_id,
                &[("direct_sign_in", "social:oidc"), ("login_hint", "alice")],
                &challenge,
            ),
            APP_REDIRECT,
        )
        .await
        .app();
    let code = param(&landing, "code").expect("code");
    let (status, body) = w
        .redeem((other.id.as_str(), &other_secret), &code, &verifier)
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, tokens) = w.redeem(w.client(), &code, &verifier).await;
    assert_eq!(
        status, 200,
        "the rightful client still redeems it: {tokens}"
    );
    let refresh = |client: (&str, &str), token: String| {
        let request = w
            .app
            .http
            .post(w.app.url("/oidc/token"))
            .basic_auth(client.0, Some(client.1))
            .form(&[("grant_type", "refresh_token"), ("refresh_token", &token)]);
        async move {
            let response = request.send().await.expect("refresh");
            (
                response.status().as_u16(),
                response.json::<Value>().await.expect("json"),
            )
        }
    };
    let refresh_token = tokens["refresh_token"].as_str().expect("rt").to_owned();
    let (status, body) = refresh((other.id.as_str(), &other_secret), refresh_token.clone()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, refreshed) = refresh(w.client(), refresh_token).await;
    assert_eq!(status, 200, "the grant lives on: {refreshed}");
    // Finding 10: the refreshed ID token keeps the time of the real sign-in.
    let signed_in = claims(tokens["id_token"].as_str().expect("id"))["auth_time"].clone();
    clock.advance_secs(2);
    let (status, again) = refresh(
        w.client(),
        refreshed["refresh_token"].as_str().expect("rt").to_owned(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        claims(again["id_token"].as_str().expect("id"))["auth_time"],
        signed_in
    );
}

#[tokio::test]
async fn the_browser_binding_is_issued_by_the_server() {
    let app = TestApp::spawn().await;
    let (row, _) = app.application("SPA", &[APP_REDIRECT]).await;
    let (_, challenge) = pkce();
    let url = format!(
        "{}?client_id={}&redirect_uri={APP_REDIRECT}&response_type=code&scope=openid&code_challenge={challenge}&code_challenge_method=S256",
        app.url("/oidc/auth"),
        row.id.as_str()
    );
    let chosen = "A".repeat(43);
    let response = app
        .http
        .get(&url)
        .header("Cookie", format!("sr_browser={chosen}"))
        .send()
        .await
        .expect("auth");
    assert_eq!(response.status(), 303);
    let set = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("sr_browser="))
        .expect("an attacker-chosen binding is replaced by one the server issues")
        .to_owned();
    assert!(!set.contains(&chosen), "{set}");
}

#[tokio::test]
async fn deleted_applications_lose_their_tokens_in_every_process_at_once() {
    let app = TestApp::spawn().await;
    let other = app.sibling().await;
    let (m2m, secret) = app.application("MachineToMachine", &[]).await;
    let response = app
        .http
        .post(app.url("/oidc/token"))
        .basic_auth(m2m.id.as_str(), secret.as_deref())
        .form(&[
            ("grant_type", "client_credentials"),
            ("resource", &app.url("/api")),
            ("scope", "all"),
        ])
        .send()
        .await
        .expect("token");
    let token = response.json::<Value>().await.expect("json")["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let users_at = |base: &str| {
        let request = app
            .http
            .get(format!("{base}/api/users"))
            .bearer_auth(&token);
        async move { request.send().await.expect("users").status().as_u16() }
    };
    // Both processes have looked the token up (and cached it).
    assert_eq!(users_at(&app.base).await, 200);
    assert_eq!(users_at(&other.base).await, 200);
    let admin = app.management_token().await;
    let (status, _) = app
        .api(
            &admin,
            Method::DELETE,
            &format!("/api/applications/{}", m2m.id.as_str()),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(users_at(&app.base).await, 401, "this process: at once");
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        match users_at(&other.base).await {
            401 => break,
            _ if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(50)).await,
            status => panic!("the other process still answers {status} after a second"),
        }
    }
}

#[tokio::test]
async fn logout_without_a_valid_id_token_hint_asks_first() {
    let w = World::new().await;
    let browser = Browser::new();
    let tokens = w.sign_in_with(&browser, "alice", "social:oidc").await;
    let still_signed_in = async |browser: &Browser| {
        let (_, challenge) = pkce();
        let url = w.auth_url(&w.client_id, &[("prompt", "none")], &challenge);
        let landing = browser.follow(&url, APP_REDIRECT).await.app();
        param(&landing, "code").is_some()
    };
    // The review's cross-site GET: a page, and the session lives on.
    for hint in ["", "&id_token_hint=eyJhbGciOiJIUzI1NiJ9.e30.forged"] {
        let (status, page) = browser
            .follow(
                &format!("{}?x=1{hint}", w.app.url("/oidc/session/end")),
                "http://never/",
            )
            .await
            .page();
        assert_eq!(status, 200);
        assert!(page.contains("Sign out?"), "{page}");
        assert!(still_signed_in(&browser).await, "hint {hint:?}");
    }
    // A real ID token of this user ends the session at once.
    let (status, page) = browser
        .follow(
            &format!(
                "{}?id_token_hint={}&client_id={}",
                w.app.url("/oidc/session/end"),
                tokens["id_token"].as_str().expect("id token"),
                w.client_id
            ),
            "http://never/",
        )
        .await
        .page();
    assert_eq!(status, 200);
    assert!(page.contains("Signed out"), "{page}");
    assert!(!still_signed_in(&browser).await);
}

// ----------------------------------------------------------------------------------------------
// Finding 15: outbound calls; finding 17: headers
// ----------------------------------------------------------------------------------------------

#[tokio::test]
async fn connector_checks_are_no_port_scanner() {
    let app = TestApp::spawn().await;
    let token = app.management_token().await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        format!("http://127.0.0.1:{port}")
    };
    let text = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::any())
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_string("not json"))
        .mount(&text)
        .await;
    let mut messages = Vec::new();
    for issuer in [
        "http://169.254.169.254/latest".to_owned(),
        closed,
        text.uri(),
    ] {
        let (status, body) = app
            .api(
                &token,
                Method::POST,
                "/api/sso-connectors",
                Some(
                    json!({"providerName": "OIDC", "connectorName": format!("c-{}", messages.len()),
                            "config": {"clientId": "c", "clientSecret": "s", "issuer": issuer}}),
                ),
            )
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("connector.invalid_config")),
            "{issuer}: {body}"
        );
        messages.push(body["message"].as_str().expect("message").to_owned());
    }
    assert!(
        messages.windows(2).all(|w| w[0] == w[1]),
        "one text for every failure: {messages:?}"
    );
}

#[tokio::test]
async fn every_html_page_forbids_framing_and_sniffing() {
    let app = TestApp::spawn().await;
    let (row, _) = app.application("SPA", &[APP_REDIRECT]).await;
    let (_, challenge) = pkce();
    let browser = Browser::new();
    let (_, location) = browser
        .location(&format!(
            "{}?client_id={}&redirect_uri={APP_REDIRECT}&response_type=code&scope=openid&code_challenge={challenge}&code_challenge_method=S256",
            app.url("/oidc/auth"),
            row.id.as_str()
        ))
        .await;
    for url in [
        location.expect("sign-in page").to_string(),
        app.url("/oidc/auth?client_id=unknown"),
        app.url("/sign-in/unknown"),
        app.url("/oidc/session/end"),
    ] {
        let response = app.http.get(&url).send().await.expect("page");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert!(header("content-type").starts_with("text/html"), "{url}");
        assert!(
            header("content-security-policy").contains("frame-ancestors 'none'"),
            "{url}"
        );
        assert_eq!(header("x-content-type-options"), "nosniff", "{url}");
        assert!(!header("referrer-policy").is_empty(), "{url}");
        assert!(!header("x-request-id").is_empty(), "{url}");
    }
    let status = app
        .http
        .get(app.url("/api/status"))
        .send()
        .await
        .expect("status");
    assert_eq!(
        status
            .headers()
            .get("x-content-type-options")
            .and_then(|v| v.to_str().ok()),
        Some("nosniff")
    );
}

// ----------------------------------------------------------------------------------------------
// Bulk deletions
// ----------------------------------------------------------------------------------------------

#[tokio::test]
async fn bulk_deletions_beyond_the_revocation_limit_are_audited_too() {
    let app = TestApp::spawn().await;
    let token = app.management_token().await;
    let limit = u64::try_from(strongroom_core::revocation::MAX_BULK_REVOCATIONS).expect("limit");
    let sets = limit + 5;
    strongroom_testkit::seed::token_sets(app.store(), &app.state.token_sets, 0, sets).await;
    let (status, body) = app
        .api(&token, Method::DELETE, "/api/connectors/seed-github", None)
        .await;
    assert_eq!(status, 204, "{body}");
    let (_, deleted) = app
        .store()
        .list_audit_events(
            &strongroom_core::store::AuditFilter {
                action: Some("token.delete".into()),
                ..Default::default()
            },
            1,
            0,
        )
        .await
        .expect("events");
    assert_eq!(u64::try_from(deleted).expect("count"), sets);
}

// ----------------------------------------------------------------------------------------------
// Finding 19 (info): a browser application's calls
// ----------------------------------------------------------------------------------------------

#[tokio::test]
async fn browser_applications_may_call_the_token_apis_from_their_own_origins() {
    let app = TestApp::spawn().await;
    let token = app.management_token().await;
    let (status, spa) = app
        .api(
            &token,
            Method::POST,
            "/api/applications",
            Some(json!({"name": "spa", "type": "SPA",
                        "oidcClientMetadata": {"redirectUris": ["https://spa.example/callback"]},
                        "customClientMetadata": {"corsAllowedOrigins": ["https://assets.example:8443"]}})),
        )
        .await;
    assert_eq!(status, 200, "{spa}");
    let preflight = async |path: &str, origin: &str, method: &str| {
        let response = app
            .http
            .request(Method::OPTIONS, app.url(path))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", method)
            .header("Access-Control-Request-Headers", "authorization")
            .send()
            .await
            .expect("preflight");
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        assert!(
            response
                .headers()
                .get("access-control-allow-credentials")
                .is_none(),
            "{path}"
        );
        response
            .headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    for (path, method) in [
        ("/oidc/token", "POST"),
        ("/oidc/token/revocation", "POST"),
        ("/oidc/me", "GET"),
        ("/api/my-account/identities/github/access-token", "GET"),
        ("/my-account", "GET"),
        ("/api/verifications/social", "POST"),
    ] {
        for origin in ["https://spa.example", "https://assets.example:8443"] {
            assert_eq!(
                preflight(path, origin, method).await.as_deref(),
                Some(origin),
                "{path} from {origin}"
            );
        }
        assert_eq!(
            preflight(path, "https://evil.example", method).await,
            None,
            "{path}"
        );
    }
    // The Management API and the console are not for browsers of other origins.
    assert_eq!(
        preflight("/api/users", "https://spa.example", "GET").await,
        None
    );
    assert_eq!(
        preflight("/console/users", "https://spa.example", "GET").await,
        None
    );
    // userinfo takes the bearer scheme in any case, as the Account API does.
    let user = app.user("lower").await;
    let token = app.user_token(&user, "openid").await;
    let response = app
        .http
        .get(app.url("/oidc/me"))
        .header("Authorization", format!("bearer {token}"))
        .send()
        .await
        .expect("me");
    assert_eq!(response.status(), 200);
}
