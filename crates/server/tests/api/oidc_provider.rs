//! Strongroom's OpenID provider endpoints, black-box over HTTP.

use crate::support;

use base64::Engine as _;
use serde_json::{Value, json};
use strongroom_core::oidc::CodeRequest;
use support::{TestApp, pkce};

async fn json(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn discovery_and_jwks() {
    let app = TestApp::spawn().await;
    let (status, d) = json(
        app.http
            .get(app.url("/oidc/.well-known/openid-configuration"))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(d["issuer"], app.url("/oidc"));
    assert_eq!(d["token_endpoint"], app.url("/oidc/token"));
    assert_eq!(d["code_challenge_methods_supported"], json!(["S256"]));
    assert!(
        d["scopes_supported"]
            .as_array()
            .expect("scopes")
            .contains(&json!("identities"))
    );
    let (status, jwks) = json(
        app.http
            .get(app.url("/oidc/jwks"))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(status, 200);
    let key = &jwks["keys"][0];
    assert_eq!(
        (key["kty"].as_str(), key["alg"].as_str()),
        (Some("RSA"), Some("RS256"))
    );
    assert!(
        key.get("d").is_none(),
        "the private exponent must never be published"
    );
}

#[tokio::test]
async fn client_credentials_and_management_authorization() {
    let app = TestApp::spawn().await;
    let (m2m, secret) = app.application("MachineToMachine", &[]).await;
    let token_request = |secret: &str, resource: &str, scope: &str| {
        app.http
            .post(app.url("/oidc/token"))
            .basic_auth(m2m.id.as_str(), Some(secret.to_owned()))
            .form(&[
                ("grant_type", "client_credentials"),
                ("resource", resource),
                ("scope", scope),
            ])
    };
    let secret = secret.expect("m2m secret");
    let (status, body) = json(
        token_request(&secret, &app.url("/api"), "all")
            .send()
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["token_type"].as_str(), body["scope"].as_str()),
        (Some("Bearer"), Some("all"))
    );
    let token = body["access_token"].as_str().expect("token").to_owned();

    let (status, body) = json(
        token_request("wrong", &app.url("/api"), "all")
            .send()
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let (status, body) = json(
        token_request(&secret, "https://elsewhere/api", "all")
            .send()
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_target"))
    );
    let (status, body) = json(
        token_request(&secret, &app.url("/api"), "all openid")
            .send()
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );

    let (status, _) = json(
        app.http
            .get(app.url("/api/applications"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = json(
        app.http
            .get(app.url("/api/applications"))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("auth.authorization_header_missing"))
    );
    let (status, body) = json(
        app.http
            .get(app.url("/api/applications"))
            .bearer_auth("nope")
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("auth.unauthorized"))
    );
    let (status, body) = json(
        app.http
            .get(app.url("/api/applications"))
            .header("Authorization", "Basic eDp5")
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("auth.authorization_token_type_not_supported"))
    );

    // A Traditional application may not use client credentials.
    let (web, web_secret) = app
        .application("Traditional", &["https://app.example/cb"])
        .await;
    let (status, body) = json(
        app.http
            .post(app.url("/oidc/token"))
            .basic_auth(web.id.as_str(), web_secret)
            .form(&[
                ("grant_type", "client_credentials"),
                ("resource", &app.url("/api")),
            ])
            .send()
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
}

#[tokio::test]
async fn applications_crud() {
    let app = TestApp::spawn().await;
    let token = app.management_token().await;
    let api =
        |m: reqwest::Method, path: &str| app.http.request(m, app.url(path)).bearer_auth(&token);

    let (status, created) = json(
        api(reqwest::Method::POST, "/api/applications")
            .json(&json!({"name": "Web", "type": "Traditional", "oidcClientMetadata": {"redirectUris": ["https://web.example/cb"], "postLogoutRedirectUris": []}}))
            .send()
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let id = created["id"].as_str().expect("id").to_owned();
    assert!(created["secret"].as_str().is_some_and(|s| s.len() >= 32));
    assert_eq!(
        created["oidcClientMetadata"]["redirectUris"],
        json!(["https://web.example/cb"])
    );

    let (status, spa) = json(
        api(reqwest::Method::POST, "/api/applications")
            .json(&json!({"name": "SPA", "type": "SPA"}))
            .send()
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(
        (status, spa["secret"].clone()),
        (200, Value::Null),
        "public clients get no secret"
    );

    let (status, got) = json(
        api(reqwest::Method::GET, &format!("/api/applications/{id}"))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(
        (status, got["secret"].clone(), got["name"].as_str()),
        (200, Value::Null, Some("Web"))
    );

    let (status, patched) = json(
        api(reqwest::Method::PATCH, &format!("/api/applications/{id}"))
            .json(&json!({"oidcClientMetadata": {"redirectUris": ["https://web.example/a", "https://web.example/b"], "postLogoutRedirectUris": []}}))
            .send()
            .await
            .expect("patch"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        patched["oidcClientMetadata"]["redirectUris"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );

    for bad in [
        json!({"name": "x", "type": "Robot"}),
        json!({"name": "", "type": "SPA"}),
        json!({"type": "SPA"}),
        json!({"name": "x", "type": "SPA", "oidcClientMetadata": {"redirectUris": ["not a uri"]}}),
    ] {
        let (status, body) = json(
            api(reqwest::Method::POST, "/api/applications")
                .json(&bad)
                .send()
                .await
                .expect("post"),
        )
        .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("guard.invalid_input")),
            "{bad}"
        );
    }
    let (status, list) = json(
        api(reqwest::Method::GET, "/api/applications")
            .send()
            .await
            .expect("list"),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        list.as_array()
            .expect("array")
            .iter()
            .all(|a| a["secret"].is_null())
    );

    let status = api(reqwest::Method::DELETE, &format!("/api/applications/{id}"))
        .send()
        .await
        .expect("delete")
        .status();
    assert_eq!(status, 204);
    let (status, body) = json(
        api(reqwest::Method::GET, &format!("/api/applications/{id}"))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("entity.not_exists_with_id"))
    );
}

/// Decodes and verifies an ID token against the published JWKS with an independent library.
async fn verify_id_token(app: &TestApp, id_token: &str, audience: &str) -> Value {
    let jwks: Value = app
        .http
        .get(app.url("/oidc/jwks"))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("json");
    let header = jsonwebtoken::decode_header(id_token).expect("header");
    let key = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kid"].as_str() == header.kid.as_deref())
        .expect("kid in jwks");
    let decoding = jsonwebtoken::DecodingKey::from_rsa_components(
        key["n"].as_str().expect("n"),
        key["e"].as_str().expect("e"),
    )
    .expect("key");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[app.url("/oidc")]);
    jsonwebtoken::decode::<Value>(id_token, &decoding, &validation)
        .expect("valid ID token")
        .claims
}

#[tokio::test]
async fn authorization_code_with_pkce_rotation_and_reuse_detection() {
    let app = TestApp::spawn().await;
    let user = app.user("alice").await;
    let (client, secret) = app
        .application("Traditional", &["https://web.example/cb"])
        .await;
    let (verifier, challenge) = pkce();
    let issue = |scope: &str| CodeRequest {
        application_id: client.id.clone(),
        user_id: user.clone(),
        redirect_uri: "https://web.example/cb".into(),
        scope: scope.into(),
        resource: None,
        nonce: Some("n-123".into()),
        code_challenge: Some(challenge.clone()),
        code_challenge_method: Some("S256".into()),
        auth_time: strongroom_core::store::UnixSecs::new(1_700_000_000),
    };
    let exchange = |code: String, verifier: String| {
        app.http
            .post(app.url("/oidc/token"))
            .basic_auth(client.id.as_str(), secret.clone())
            .form(&[
                ("grant_type", "authorization_code".to_owned()),
                ("code", code),
                ("redirect_uri", "https://web.example/cb".to_owned()),
                ("code_verifier", verifier),
            ])
    };

    // A wrong verifier fails (and burns the code).
    let code = app
        .state
        .oidc
        .issue_code(&issue("openid profile email offline_access"))
        .await
        .expect("code");
    let (status, body) = json(exchange(code, "x".repeat(43)).send().await.expect("post")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    let code = app
        .state
        .oidc
        .issue_code(&issue("openid profile email offline_access"))
        .await
        .expect("code");
    let (status, tokens) = json(
        exchange(code.clone(), verifier.clone())
            .send()
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    let claims = verify_id_token(
        &app,
        tokens["id_token"].as_str().expect("id_token"),
        client.id.as_str(),
    )
    .await;
    assert_eq!(
        (claims["sub"].as_str(), claims["nonce"].as_str()),
        (Some(user.as_str()), Some("n-123"))
    );
    assert_eq!(claims["email"], "alice@example.com");
    let access = tokens["access_token"].as_str().expect("access").to_owned();
    let (status, info) = json(
        app.http
            .get(app.url("/oidc/me"))
            .bearer_auth(&access)
            .send()
            .await
            .expect("me"),
    )
    .await;
    assert_eq!(
        (status, info["sub"].as_str(), info["name"].as_str()),
        (200, Some(user.as_str()), Some("alice"))
    );

    // Redeeming the code again revokes the grant: the access token dies too.
    let (status, body) = json(exchange(code, verifier.clone()).send().await.expect("post")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let status = app
        .http
        .get(app.url("/oidc/me"))
        .bearer_auth(&access)
        .send()
        .await
        .expect("me")
        .status();
    assert_eq!(status, 401);

    // Refresh tokens rotate; presenting a rotated one revokes the grant.
    let code = app
        .state
        .oidc
        .issue_code(&issue("openid offline_access"))
        .await
        .expect("code");
    let (_, tokens) = json(exchange(code, verifier.clone()).send().await.expect("post")).await;
    let first = tokens["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    let refresh = |token: &str| {
        app.http
            .post(app.url("/oidc/token"))
            .basic_auth(client.id.as_str(), secret.clone())
            .form(&[("grant_type", "refresh_token"), ("refresh_token", token)])
    };
    let (status, rotated) = json(refresh(&first).send().await.expect("post")).await;
    assert_eq!(status, 200, "{rotated}");
    let second = rotated["refresh_token"]
        .as_str()
        .expect("rotated")
        .to_owned();
    assert_ne!(first, second);
    let (status, body) = json(refresh(&first).send().await.expect("post")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, _) = json(refresh(&second).send().await.expect("post")).await;
    assert_eq!(
        status, 400,
        "reuse of a rotated refresh token must revoke the whole grant"
    );

    // Without offline_access there is no refresh token; a public client must use PKCE.
    let code = app
        .state
        .oidc
        .issue_code(&issue("openid"))
        .await
        .expect("code");
    let (_, tokens) = json(exchange(code, verifier).send().await.expect("post")).await;
    assert!(tokens.get("refresh_token").is_none());
    let (status, body) = json(
        app.http
            .post(app.url("/oidc/token"))
            .form(&[
                ("grant_type", "authorization_code"),
                ("client_id", client.id.as_str()),
                ("code", "x"),
            ])
            .send()
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "a confidential client must authenticate"
    );
    let _ = base64::engine::general_purpose::STANDARD.encode("unused");
}
