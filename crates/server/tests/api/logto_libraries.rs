//! Logto's own client libraries, unchanged, against Strongroom (issue #10): `@logto/api` sets it
//! up through the Management API with its defaults for a self-hosted Logto, and `@logto/node`
//! signs a user in through the real upstream OpenID provider, reads claims, userinfo, an access
//! token and the user's provider token, refreshes and signs out (e2e/logto.mjs drives them).

use crate::support;

use serde_json::{Value, json};
use support::TestApp;
use support::upstream::{CLIENT_ID, CLIENT_SECRET, Upstream, run_script};

#[tokio::test]
async fn logtos_management_client_and_sdk_work_unchanged() {
    let app = TestApp::spawn().await;
    let (m2m, secret) = app.application("MachineToMachine", &[]).await;
    // Strongroom generates the connectors' ids, so their callback URLs: the upstream accepts
    // any under the endpoint's /callback/.
    let upstream = Upstream::start(
        &[app.url("/callback/unused")],
        json!({ "redirectUriPrefix": app.url("/callback/") }),
    );
    let redirect = "http://127.0.0.1:9/logto/callback";
    let out = run_script(
        "logto.mjs",
        json!({
            "endpoint": app.base,
            "m2m": {"id": m2m.id, "secret": secret},
            "upstream": {"issuer": upstream.issuer, "clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET},
            "redirectUri": redirect,
            "postLogoutRedirectUri": "http://127.0.0.1:9/logto/signed-out",
            "login": "alice",
        }),
    )
    .await;
    assert_eq!(out["ok"], true, "{out:#}");

    // @logto/api: Logto's full application shape.
    let keys: Vec<&str> = out["application"]["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for key in [
        "tenantId",
        "id",
        "name",
        "secret",
        "description",
        "type",
        "oidcClientMetadata",
        "customClientMetadata",
        "protectedAppMetadata",
        "customData",
        "isThirdParty",
        "appLevelAccessControlEnabled",
        "createdAt",
    ] {
        assert!(keys.contains(&key), "{key} missing from {keys:?}");
    }
    assert_eq!(out["application"]["customData"], json!({"team": "e2e"}));
    assert_eq!(out["users"], true);

    // @logto/node: the sign-in, as the SDK sees it.
    assert_eq!(out["isAuthenticated"], true);
    let claims = &out["idTokenClaims"];
    assert_eq!(claims["iss"], app.url("/oidc"));
    assert_eq!(claims["email"], "alice@example.com");
    assert_eq!(claims["email_verified"], true);
    assert!(
        claims.get("identities").is_none(),
        "userinfo only: {claims}"
    );
    let info = &out["userInfo"];
    assert_eq!(info["sub"], claims["sub"]);
    assert_eq!(
        info["identities"]["oidc"]["userId"], "alice",
        "Logto's identities claim: {info}"
    );
    assert_eq!(out["accountApi"]["status"], 200, "{out:#}");
    assert!(out["accountApi"]["body"]["access_token"].is_string());
    // Account Center through @logto/api: today's behaviour by default, then narrowed.
    assert_eq!(
        out["accountCenterDefault"],
        json!({"enabled": true, "social": "Edit"})
    );
    let narrowed: Vec<&str> = out["myAccountNarrowed"]
        .as_array()
        .expect("keys")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        narrowed.contains(&"name") && narrowed.contains(&"identities"),
        "{narrowed:?}"
    );
    assert!(
        !narrowed.contains(&"primaryEmail"),
        "email is Off now: {narrowed:?}"
    );
    assert_eq!(out["unlinkReadOnly"]["status"], 400);
    assert_eq!(
        out["unlinkReadOnly"]["body"]["code"],
        "account_center.field_not_editable"
    );
    assert_eq!(out["tokenReadDisabled"]["status"], 400);
    assert_eq!(
        out["tokenReadDisabled"]["body"]["code"],
        "account_center.not_enabled"
    );
    assert_eq!(out["refreshed"], true);
    assert_eq!(out["rotated"], true);

    // signOut revoked the refresh token (RFC 7009) and its grant's access tokens.
    assert_eq!(out["refreshAfterSignOut"]["status"], 400, "{out:#}");
    assert_eq!(out["refreshAfterSignOut"]["body"]["error"], "invalid_grant");
    assert_eq!(out["userinfoAfterSignOut"], 401);
    // The SDK raises Logto's request error with Logto's code, not "unexpected response".
    assert_eq!(
        out["refreshAfterSignOut"]["body"]["code"],
        "oidc.invalid_grant"
    );
    assert_eq!(
        out["staleRefresh"],
        json!({"name": "LogtoRequestError", "code": "oidc.invalid_grant"}),
        "{out:#}"
    );
    let sign_out = out["signOutUrl"].as_str().expect("sign-out URL");
    assert!(
        sign_out.starts_with(&app.url("/oidc/session/end")),
        "{sign_out}"
    );
}

/// What Logto's clients meet outside the happy path of the SDK: JSON 404s, RFC 8414 metadata,
/// RFC 7662 introspection, RFC 7009 revocation of an access token, every Account API route under
/// both prefixes, and a verification whose `connectorData` lacks the callback's `iss`.
#[tokio::test]
async fn logtos_endpoints_around_the_sdk() {
    use reqwest::Method;
    use support::browser::{Browser, param};
    let app = TestApp::spawn().await;
    let token = app.management_token().await;

    // Unknown routes: {code, message}, never an empty 404.
    for path in ["/api/no-such-route", "/oidc/no-such-route"] {
        let (status, body) = app.api(&token, Method::GET, path, None).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (404, Some("route.not_found")),
            "{path}"
        );
        assert!(body["message"].is_string(), "{path}: {body}");
    }

    // RFC 8414 metadata where Logto serves it and at the root; revocation and introspection
    // advertised.
    for path in [
        "/oidc/.well-known/oauth-authorization-server",
        "/.well-known/oauth-authorization-server",
        "/oidc/.well-known/openid-configuration",
    ] {
        let (status, doc) = app.api(&token, Method::GET, path, None).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(doc["issuer"], app.url("/oidc"), "{path}");
        assert_eq!(
            doc["revocation_endpoint"],
            app.url("/oidc/token/revocation")
        );
        assert_eq!(
            doc["introspection_endpoint"],
            app.url("/oidc/token/introspection")
        );
    }

    // Introspection and revocation of an access token, by the client it was issued to.
    let (m2m, secret) = app.application("MachineToMachine", &[]).await;
    let secret = secret.expect("secret");
    let issued: Value = app
        .http
        .post(app.url("/oidc/token"))
        .basic_auth(m2m.id.as_str(), Some(&secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("resource", "https://default.logto.app/api"),
            ("scope", "all"),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    let m2m_token = issued["access_token"]
        .as_str()
        .expect("Logto's indicator is accepted")
        .to_owned();
    let call = |path: &'static str, token: String| {
        let request = app
            .http
            .post(app.url(path))
            .basic_auth(m2m.id.as_str(), Some(&secret))
            .form(&[("token", token)]);
        async move {
            let response = request.send().await.expect("call");
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (status, active) = call("/oidc/token/introspection", m2m_token.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(active["active"], true, "{active}");
    assert_eq!(active["client_id"], m2m.id.as_str());
    assert_eq!(active["aud"], app.url("/api"));
    let (status, _) = call("/oidc/token/introspection", "unknown".into()).await;
    assert_eq!(status, 200);
    assert_eq!(
        call("/oidc/token/introspection", "unknown".into()).await.1["active"],
        false
    );
    assert_eq!(
        call("/oidc/token/revocation", m2m_token.clone()).await.0,
        200
    );
    assert_eq!(
        call("/oidc/token/introspection", m2m_token.clone()).await.1["active"],
        false
    );
    let (status, _) = app.api(&m2m_token, Method::GET, "/api/users", None).await;
    assert_eq!(status, 401, "a revoked access token stops working at once");
    // Userinfo refuses it with Logto's error shape, which the SDK turns into LogtoRequestError.
    let refused = app
        .http
        .get(app.url("/oidc/me"))
        .bearer_auth(&m2m_token)
        .send()
        .await
        .expect("userinfo");
    assert_eq!(refused.status(), 401);
    let body: Value = refused.json().await.expect("json");
    assert_eq!(
        (body["code"].as_str(), body["error"].as_str()),
        (Some("oidc.invalid_token"), Some("invalid_token")),
        "{body}"
    );
    assert!(body["message"].is_string(), "{body}");

    // Every Account API route under both prefixes.
    let user = app.user("aliased").await;
    let bearer = app.user_token(&user, "openid identities").await;
    for path in [
        "/api/my-account",
        "/my-account",
        "/api/my-account/grants",
        "/my-account/grants",
    ] {
        let (status, body) = app.api(&bearer, Method::GET, path, None).await;
        assert_eq!(status, 200, "{path}: {body}");
    }

    // A verification whose connectorData lacks the callback's iss: the client's mistake, 400,
    // naming the parameter; with every parameter forwarded it verifies.
    let upstream = Upstream::start(&[app.url("/callback/up")], json!({}));
    let (status, body) = app
        .api(
            &token,
            Method::POST,
            "/api/connectors",
            Some(
                json!({"id": "up", "connectorId": "oidc", "enableTokenStorage": true, "config": {
                "clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET, "issuer": upstream.issuer,
                "scope": "openid profile email offline_access"}}),
            ),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, created) = app
        .api(
            &bearer,
            Method::POST,
            "/api/verifications/social",
            Some(json!({"connectorId": "up", "state": "s-1", "redirectUri": app.url("/callback/up")})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let landing = Browser::new()
        .follow(
            created["authorizationUri"].as_str().expect("uri"),
            &app.url("/callback/up"),
        )
        .await
        .app();
    assert!(
        param(&landing, "iss").is_some(),
        "the upstream sends RFC 9207 iss"
    );
    let id = created["verificationRecordId"].as_str().expect("id");
    let verify = |data: Value| {
        app.api(
            &bearer,
            Method::POST,
            "/api/verifications/social/verify",
            Some(json!({"verificationRecordId": id, "connectorData": data})),
        )
    };
    let (status, refused) = verify(json!({
        "code": param(&landing, "code"), "state": "s-1", "redirectUri": app.url("/callback/up")}))
    .await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (400, Some("guard.invalid_input")),
        "{refused}"
    );
    assert!(
        refused["message"]
            .as_str()
            .expect("message")
            .contains("iss"),
        "{refused}"
    );
    let (status, verified) = verify(json!({
        "code": param(&landing, "code"), "state": "s-1", "redirectUri": app.url("/callback/up"),
        "iss": param(&landing, "iss")}))
    .await;
    assert_eq!(status, 200, "{verified}");
}

/// A single-page application on Logto's browser SDK, in a real headless Chromium: it signs in
/// through Strongroom and the upstream, redeems its code and reads the user's provider token
/// from its own origin (CORS allows the origin of its redirect URI), while a page of another
/// origin is refused by the browser.
#[tokio::test]
async fn a_browser_spa_on_logtos_sdk_calls_strongroom_from_its_own_origin() {
    let app = TestApp::spawn().await;
    let token = app.management_token().await;
    let (m2m, secret) = app.application("MachineToMachine", &[]).await;
    let upstream = Upstream::start(
        &[app.url("/callback/unused")],
        json!({ "redirectUriPrefix": app.url("/callback/") }),
    );
    let (status, body) = app
        .api(
            &token,
            reqwest::Method::POST,
            "/api/connectors",
            Some(
                json!({"connectorId": "oidc", "enableTokenStorage": true, "config": {
                "clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET, "issuer": upstream.issuer,
                "scope": "openid profile email offline_access"}}),
            ),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let out = run_script(
        "spa.mjs",
        json!({
            "endpoint": app.base,
            "m2m": {"id": m2m.id, "secret": secret},
            "chromium": support::browser::chromium(),
            "target": "oidc",
            "login": "alice",
        }),
    )
    .await;
    assert_eq!(out["ok"], true, "{out:#}");
    assert_eq!(out["signedIn"], true, "{out:#}");
    assert_eq!(out["status"], 200, "{out:#}");
    assert_eq!(out["hasProviderToken"], true, "{out:#}");
    assert_eq!(
        out["foreign"]["probe"], "refused",
        "another origin must not read the answer: {out:#}"
    );
}
