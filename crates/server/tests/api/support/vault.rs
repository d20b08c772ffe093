//! Helpers of the Management, Account and Verification API tests (`users_api.rs`,
//! `account_api.rs`, `verification_api.rs`):
//!
//! - [`Provider`]: a `wiremock` OAuth 2.0 provider in the shape of Logto's generic `oauth2`
//!   connector (JSON token answers, `client_secret_post`, PKCE S256, a userinfo endpoint and an
//!   RFC 7009 revocation endpoint). It redeems only the codes it issued, once, with the right
//!   redirect URI, client credentials and PKCE verifier, like a real provider.
//! - Seeding token sets straight through the store and the token-set service.
//! - Raw calls (status, headers, body text) and bounded polling of the audit trail.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Method;
use serde_json::{Value, json};
use strongroom_core::store::{ConnectorId, SecretRow, SsoConnectorId, UserId};
use strongroom_core::token_sets::TokenResponse;
use url::Url;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::support::TestApp;

pub const CLIENT_ID: &str = "vault-test-client";
pub const CLIENT_SECRET: &str = "vault-test-client-secret-9f2c";
/// A fixed start time for [`strongroom_core::ManualClock`]: 2027-01-15T08:00:00Z.
pub const T0_MS: i64 = 1_800_000_000_000;
pub const APP_REDIRECT: &str = "https://app.example/verification/callback";

/// What the provider issued at its authorization step.
#[derive(Debug, Clone)]
struct Issued {
    redirect_uri: String,
    challenge: String,
    subject: String,
    answer: Value,
}

/// A fake OAuth 2.0 provider.
pub struct Provider {
    pub server: MockServer,
    codes: Arc<Mutex<HashMap<String, Issued>>>,
}

/// A form POST's fields.
pub fn form(req: &Request) -> HashMap<String, String> {
    url::form_urlencoded::parse(&req.body)
        .into_owned()
        .collect()
}

/// A request's parameters: its query plus, for a form POST, its body.
pub fn params(req: &Request) -> HashMap<String, String> {
    let mut out: HashMap<String, String> = req.url.query_pairs().into_owned().collect();
    if req
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"))
    {
        out.extend(form(req));
    }
    out
}

/// base64url without padding.
pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// PKCE's S256 challenge of `verifier`, as a fake provider checks it.
pub fn s256(verifier: &str) -> String {
    b64url(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes()).as_ref())
}

fn oauth_error(status: u16, error: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(
        json!({"error": error, "error_description": format!("{error} (fake provider)")}),
    )
}

impl Provider {
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        let codes: Arc<Mutex<HashMap<String, Issued>>> = Arc::default();
        // Access token → provider user id, for the userinfo endpoint.
        let subjects: Arc<Mutex<HashMap<String, String>>> = Arc::default();
        let (c, s) = (codes.clone(), subjects.clone());
        Mock::given(method("POST"))
            .and(path("/oauth/token"))
            .respond_with(move |req: &Request| {
                let p = form(req);
                if p.get("client_id").map(String::as_str) != Some(CLIENT_ID)
                    || p.get("client_secret").map(String::as_str) != Some(CLIENT_SECRET)
                {
                    return oauth_error(401, "invalid_client");
                }
                if p.get("grant_type").map(String::as_str) != Some("authorization_code") {
                    return oauth_error(400, "unsupported_grant_type");
                }
                // A code is good once.
                let Some(issued) = p
                    .get("code")
                    .and_then(|code| c.lock().expect("codes").remove(code))
                else {
                    return oauth_error(400, "invalid_grant");
                };
                if p.get("redirect_uri") != Some(&issued.redirect_uri)
                    || p.get("code_verifier").map(|v| s256(v)) != Some(issued.challenge.clone())
                {
                    return oauth_error(400, "invalid_grant");
                }
                if let Some(access) = issued.answer["access_token"].as_str() {
                    s.lock()
                        .expect("subjects")
                        .insert(access.to_owned(), issued.subject.clone());
                }
                ResponseTemplate::new(200)
                    .set_body_json(issued.answer.clone())
                    .insert_header("cache-control", "no-store")
            })
            .mount(&server)
            .await;
        let s = subjects.clone();
        Mock::given(method("GET"))
            .and(path("/oauth/userinfo"))
            .respond_with(move |req: &Request| {
                let token = req
                    .headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .unwrap_or_default()
                    .to_owned();
                match s.lock().expect("subjects").get(&token) {
                    Some(subject) => ResponseTemplate::new(200).set_body_json(json!({
                        "id": subject,
                        "email": format!("{subject}@provider.example"),
                        "name": format!("Provider user {subject}"),
                    })),
                    None => {
                        ResponseTemplate::new(401).set_body_json(json!({"error": "invalid_token"}))
                    }
                }
            })
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/oauth/revoke"))
            .respond_with(ResponseTemplate::new(200))
            .mount(&server)
            .await;
        Self { server, codes }
    }

    /// Logto's `oauth2` connector config for this provider; with or without its revocation
    /// endpoint.
    pub fn config(&self, revocation: bool) -> Value {
        let base = self.server.uri();
        let mut config = json!({
            "authorizationEndpoint": format!("{base}/oauth/authorize"),
            "tokenEndpoint": format!("{base}/oauth/token"),
            "userInfoEndpoint": format!("{base}/oauth/userinfo"),
            "clientId": CLIENT_ID,
            "clientSecret": CLIENT_SECRET,
            "scope": "profile",
            "tokenEndpointResponseType": "json",
        });
        if revocation {
            config["revocationEndpoint"] = json!(format!("{base}/oauth/revoke"));
        }
        config
    }

    /// The provider's user `subject` approves the authorization request `authorize` (a URL
    /// Strongroom produced); the provider issues `code`, which redeems into `answer`.
    pub fn approve(&self, authorize: &Url, code: &str, subject: &str, answer: Value) {
        let redirect_uri =
            param(authorize, "redirect_uri").expect("redirect_uri on the authorization URL");
        let challenge =
            param(authorize, "code_challenge").expect("code_challenge on the authorization URL");
        assert_eq!(
            param(authorize, "code_challenge_method").as_deref(),
            Some("S256"),
            "{authorize}"
        );
        self.codes.lock().expect("codes").insert(
            code.to_owned(),
            Issued {
                redirect_uri,
                challenge,
                subject: subject.to_owned(),
                answer,
            },
        );
    }

    /// The form bodies the provider received at `at`.
    pub async fn received(&self, at: &str) -> Vec<HashMap<String, String>> {
        self.server
            .received_requests()
            .await
            .expect("request recording")
            .iter()
            .filter(|r| r.url.path() == at)
            .map(form)
            .collect()
    }

    /// The form with which `app`'s background revocations (waited for) revoked `token` at the
    /// revocation endpoint.
    pub async fn wait_for_revocation(&self, app: &TestApp, token: &str) -> HashMap<String, String> {
        app.state.settled().await;
        let received = self.received("/oauth/revoke").await;
        received
            .iter()
            .find(|f| f.get("token").map(String::as_str) == Some(token))
            .cloned()
            .unwrap_or_else(|| {
                panic!("the provider never received the revocation of {token:?}: {received:?}")
            })
    }
}

/// A query parameter of a URL.
pub fn param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Creates a social connector of `factory` with an explicit id; asserts 200.
pub async fn connector(
    app: &TestApp,
    mgmt: &str,
    id: &str,
    factory: &str,
    target: Option<&str>,
    config: Value,
    storage: bool,
) {
    let mut body =
        json!({"id": id, "connectorId": factory, "config": config, "enableTokenStorage": storage});
    if let Some(target) = target {
        body["metadata"] = json!({"target": target, "name": {"en": target}});
    }
    let (status, answer) = app
        .api(mgmt, Method::POST, "/api/connectors", Some(body))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["id"].as_str(), Some(id), "{answer}");
    assert_eq!(
        answer["enableTokenStorage"].as_bool(),
        Some(storage),
        "{answer}"
    );
}

/// An `oauth2` connector `id` at `target` for `provider`.
pub async fn oauth2_connector(
    app: &TestApp,
    mgmt: &str,
    id: &str,
    target: &str,
    provider: &Provider,
    revocation: bool,
    storage: bool,
) {
    connector(
        app,
        mgmt,
        id,
        "oauth2",
        Some(target),
        provider.config(revocation),
        storage,
    )
    .await;
}

/// An `oauth2` connector whose endpoints nobody answers (for token sets that are only stored).
pub async fn offline_connector(app: &TestApp, mgmt: &str, id: &str, target: &str) {
    let config = json!({
        "authorizationEndpoint": "http://127.0.0.1:9/authorize",
        "tokenEndpoint": "http://127.0.0.1:9/token",
        "userInfoEndpoint": "http://127.0.0.1:9/me",
        "clientId": CLIENT_ID,
        "clientSecret": CLIENT_SECRET,
    });
    connector(app, mgmt, id, "oauth2", Some(target), config, true).await;
}

/// An enterprise SSO connector (OIDC, no config) with token storage on; returns its id.
pub async fn sso_connector(app: &TestApp, mgmt: &str, name: &str) -> SsoConnectorId {
    let (status, body) = app
        .api(
            mgmt,
            Method::POST,
            "/api/sso-connectors",
            Some(
                json!({"providerName": "OIDC", "connectorName": name, "enableTokenStorage": true}),
            ),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    SsoConnectorId::from(body["id"].as_str().expect("id").to_owned())
}

/// A provider token response.
pub fn tokens(
    access: &str,
    refresh: Option<&str>,
    id_token: Option<&str>,
    expires_in: Option<i64>,
    scope: Option<&str>,
    token_type: Option<&str>,
) -> TokenResponse {
    TokenResponse {
        access_token: access.to_owned().into(),
        id_token: id_token.map(|t| t.to_owned().into()),
        refresh_token: refresh.map(|t| t.to_owned().into()),
        expires_in,
        scope: scope.map(str::to_owned),
        token_type: token_type.map(str::to_owned),
    }
}

/// Links `user`'s identity `subject` at `target` and stores `response` for it through connector
/// `connector_id`, as a sign-in would.
pub async fn seed(
    app: &TestApp,
    connector_id: &str,
    user: &UserId,
    target: &str,
    subject: &str,
    response: TokenResponse,
) -> SecretRow {
    let identity = app
        .store()
        .link_social_identity(
            user,
            target,
            subject,
            &json!({"name": format!("{subject} at {target}")}),
            app.state.clock.now_ms(),
        )
        .await
        .expect("link identity");
    app.state
        .token_sets
        .store_social(&ConnectorId::from(connector_id), &identity, response)
        .await
        .expect("store token set")
}

/// Links an identity without storing tokens.
pub async fn link(app: &TestApp, user: &UserId, target: &str, subject: &str) {
    app.store()
        .link_social_identity(user, target, subject, &json!({}), app.state.clock.now_ms())
        .await
        .expect("link identity");
}

/// Links an SSO identity and stores `response` for it.
pub async fn seed_sso(
    app: &TestApp,
    sso: &SsoConnectorId,
    user: &UserId,
    issuer: &str,
    subject: &str,
    response: TokenResponse,
) -> SecretRow {
    let identity = app
        .store()
        .link_sso_identity(
            user,
            sso,
            issuer,
            subject,
            &json!({"email": format!("{subject}@corp.example")}),
            app.state.clock.now_ms(),
        )
        .await
        .expect("link sso identity");
    app.state
        .token_sets
        .store_sso(sso, &identity, response)
        .await
        .expect("store sso token set")
}

/// One HTTP answer: status, headers, raw body.
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    pub fn total(&self) -> Option<i64> {
        self.headers
            .get("total-number")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
    }

    pub fn code(&self) -> Option<String> {
        self.json()["code"].as_str().map(str::to_owned)
    }
}

/// A call with an optional bearer token and JSON body.
pub async fn call(
    app: &TestApp,
    bearer: Option<&str>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Answer {
    let mut request = app.http.request(method, app.url(path));
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    Answer {
        status,
        headers,
        text: response.text().await.expect("body"),
    }
}

/// Fails if any of `planted` occurs in `text`.
pub fn assert_absent(text: &str, planted: &[&str], what: &str) {
    for needle in planted {
        assert!(
            !text.contains(needle),
            "{what} contains the token {needle:?}: {text}"
        );
    }
}

/// The audit events matching `query` (`userId=...&action=...`), newest first (one page of 100).
pub async fn audit(app: &TestApp, mgmt: &str, query: &str) -> Vec<Value> {
    let answer = call(
        app,
        Some(mgmt),
        Method::GET,
        &format!("/api/audit-events?page_size=100&{query}"),
        None,
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.json().as_array().expect("array").clone()
}

/// Waits for `app`'s background work (provider revocations, queued audit events), then returns
/// the audit events matching `query`, one of which must satisfy `pred`.
pub async fn wait_for_audit(
    app: &TestApp,
    mgmt: &str,
    query: &str,
    pred: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    app.state.settled().await;
    let events = audit(app, mgmt, query).await;
    assert!(
        events.iter().any(&pred),
        "no matching audit event for {query}: {events:#?}"
    );
    events
}

/// How many reads an audit event records: token reads of one batch are folded into one event
/// with `detail.count`.
pub fn reads(event: &Value) -> i64 {
    event["detail"]["count"].as_i64().unwrap_or(1)
}

/// Whether `event` is `action` with `outcome` for secret `secret`.
pub fn is_event(event: &Value, action: &str, outcome: &str, secret: &str) -> bool {
    event["action"] == action && event["outcome"] == outcome && event["secretId"] == secret
}

/// The sorted keys of a JSON object.
pub fn keys(v: &Value) -> Vec<String> {
    let mut keys: Vec<String> = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

/// `names`, sorted, as owned strings (to compare with [`keys`]).
pub fn sorted(names: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = names.iter().map(|s| (*s).to_owned()).collect();
    v.sort();
    v
}
