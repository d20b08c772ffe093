//! With every log level on, runs successful and failing calls against every provider kind and
//! checks that no planted secret (client secret, code, verifier, tokens) reaches a log line.
//! One test function: the subscriber is global to this test binary.

// The shared harness; this binary uses only part of it.
#[allow(dead_code)]
#[path = "providers/support/mod.rs"]
mod support;

use std::io::Write;
use std::sync::{Mutex, PoisonError};

use serde_json::json;
use strongroom_providers::{Connector, SocialConnector, SsoOidcConnector};
use support::jwt::{KEY_1, KEY_2, jwks, now};
use support::*;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

static LOG: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct Capture;

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOG.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn captured() -> String {
    String::from_utf8_lossy(&LOG.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
}

async fn github_calls() {
    let server = MockServer::start().await;
    let c = Connector::from(SocialConnector::from_config(
        "github",
        &json!({ "clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET, "baseUrl": server.uri(), "apiBaseUrl": server.uri() }),
    )
    .expect("config"));
    let token = Mock::given(path("/login/oauth/access_token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": ACCESS_TOKEN, "token_type": "bearer", "scope": "read:user,user:email",
            "refresh_token": REFRESH_TOKEN, "expires_in": 28800,
        })))
        .mount_as_scoped(&server)
        .await;
    Mock::given(path("/user"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "id": 1, "login": "octocat", "email": null })),
        )
        .mount(&server)
        .await;
    Mock::given(path("/user/emails"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    expect_ok(providers().exchange(&c, &callback(None)).await);
    expect_ok(providers().refresh(&c, &secret(REFRESH_TOKEN)).await);
    drop(token);
    let _token = Mock::given(path("/login/oauth/access_token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "error": "bad_verification_code", "error_description": "The code passed is incorrect or expired.",
        })))
        .mount_as_scoped(&server)
        .await;
    expect_err(providers().exchange(&c, &callback(None)).await);
    Mock::given(method("DELETE"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    // A token GitHub does not know: not revoked, and logged without the token.
    expect_err(providers().revoke(&c, &secret(ACCESS_TOKEN)).await);
}

async fn facebook_calls() {
    let server = MockServer::start().await;
    let config = json!({ "clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET, "graphApiBaseUrl": server.uri() });
    let c = Connector::from(SocialConnector::from_config("facebook", &config).expect("config"));
    Mock::given(path("/oauth/access_token"))
        .and(query_param("code", CODE))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({ "access_token": ACCESS_TOKEN, "token_type": "bearer", "expires_in": 5183944 }),
        ))
        .mount(&server)
        .await;
    Mock::given(path("/oauth/access_token"))
        .and(query_param("grant_type", "fb_exchange_token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "access_token": ACCESS_TOKEN_2, "token_type": "bearer" }))
                .set_delay(SLOW),
        )
        .mount(&server)
        .await;
    // Timeout on the long-lived exchange, whose URL carries the secret and the short token.
    expect_err(impatient_providers().exchange(&c, &callback(None)).await);
    // Unreachable: the transport error is logged.
    let mut unreachable = config.clone();
    unreachable["graphApiBaseUrl"] = json!(closed_port_url());
    let c =
        Connector::from(SocialConnector::from_config("facebook", &unreachable).expect("config"));
    expect_err(providers().exchange(&c, &callback(None)).await);
}

async fn google_calls() {
    let server = MockServer::start().await;
    let c = Connector::from(
        SocialConnector::from_config(
            "google",
            &json!({
                "clientId": CLIENT_ID,
                "clientSecret": CLIENT_SECRET,
                "tokenEndpoint": format!("{}/token", server.uri()),
                "userInfoEndpoint": format!("{}/userinfo", server.uri()),
                "revocationEndpoint": format!("{}/revoke", server.uri()),
            }),
        )
        .expect("config"),
    );
    Mock::given(path("/token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "access_token": ACCESS_TOKEN, "expires_in": 3599 })),
        )
        .mount(&server)
        .await;
    Mock::given(path("/userinfo"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    Mock::given(path("/revoke"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({ "error": "invalid_token" })))
        .mount(&server)
        .await;
    expect_err(providers().exchange(&c, &callback(None)).await);
    expect_ok(providers().revoke(&c, &secret(REFRESH_TOKEN)).await);
}

async fn oauth2_calls() {
    let server = MockServer::start().await;
    let c = Connector::from(
        SocialConnector::from_config(
            "oauth2",
            &json!({
                "authorizationEndpoint": format!("{}/authorize", server.uri()),
                "tokenEndpoint": format!("{}/token", server.uri()),
                "userInfoEndpoint": format!("{}/me", server.uri()),
                "clientId": CLIENT_ID,
                "clientSecret": CLIENT_SECRET,
                "tokenEndpointAuthMethod": "client_secret_basic",
            }),
        )
        .expect("config"),
    );
    Mock::given(path("/token"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_raw("error=invalid_client", "application/x-www-form-urlencoded"),
        )
        .mount(&server)
        .await;
    expect_err(providers().exchange(&c, &callback(None)).await);
    expect_err(providers().refresh(&c, &secret(REFRESH_TOKEN)).await);
}

async fn oidc_calls() {
    let server = MockServer::start().await;
    let issuer = server.uri();
    Mock::given(path("/.well-known/openid-configuration"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/auth"),
            "token_endpoint": format!("{issuer}/token"),
            "jwks_uri": format!("{issuer}/jwks"),
        })))
        .mount(&server)
        .await;
    Mock::given(path("/jwks"))
        .respond_with(ResponseTemplate::new(200).set_body_json(jwks(&[&KEY_1])))
        .mount(&server)
        .await;
    let claims =
        json!({ "iss": issuer, "aud": CLIENT_ID, "sub": "u1", "exp": now() + 300, "nonce": NONCE });
    let first = Mock::given(path("/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": ACCESS_TOKEN, "id_token": KEY_1.sign(&claims), "refresh_token": REFRESH_TOKEN,
        })))
        .mount_as_scoped(&server)
        .await;
    let providers = providers();
    let c = Connector::from(
        SsoOidcConnector::from_config(
            &json!({ "clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET, "issuer": issuer }),
        )
        .expect("config"),
    );
    expect_ok(providers.exchange(&c, &callback(None)).await);
    drop(first);
    // An unknown kid (logged refetch), then a bad grant.
    let _second = Mock::given(path("/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": ACCESS_TOKEN_2, "id_token": KEY_2.sign(&claims),
        })))
        .up_to_n_times(1)
        .mount_as_scoped(&server)
        .await;
    expect_err(providers.exchange(&c, &callback(None)).await);
    let _third = Mock::given(path("/token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({ "error": "invalid_grant" })))
        .mount_as_scoped(&server)
        .await;
    expect_err(providers.refresh(&c, &secret(REFRESH_TOKEN)).await);
    expect_err(
        providers
            .exchange(&c, &callback(Some("https://evil.example")))
            .await,
    );
}

#[tokio::test]
async fn no_secret_reaches_the_logs() {
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(|| Capture)
        .try_init()
        .expect("the only subscriber of this test binary");

    github_calls().await;
    facebook_calls().await;
    google_calls().await;
    oauth2_calls().await;
    oidc_calls().await;

    let log = captured();
    // The calls did log: the check below is not vacuous.
    for expected in [
        "timed out",
        "unavailable",
        "unreachable",
        "refetching the JWKS",
        "token endpoint returned an error",
    ] {
        assert!(
            log.contains(expected),
            "no log line mentions {expected:?}:\n{log}"
        );
    }
    assert_clean("the logs", &log);
    assert!(!log.contains("at-from-the-redirect-target"));
}
