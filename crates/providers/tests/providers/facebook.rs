//! Facebook against a wiremock server shaped like graph.facebook.com.

use crate::support;

use secrecy::ExposeSecret;
use serde_json::{Value, json};
use strongroom_providers::{Connector, ProviderError, SocialConnector};
use support::*;
use wiremock::matchers::{header as header_is, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN_PATH: &str = "/v23.0/oauth/access_token";
const ME_PATH: &str = "/v23.0/me";
/// The short-lived token from the code exchange (the long-lived one is ACCESS_TOKEN).
const SHORT_TOKEN: &str = "EAAB-short-PLANTED-token-3f3f";

fn connector(server: &MockServer) -> Connector {
    Connector::from(
        SocialConnector::from_config(
            "facebook",
            &json!({
                "clientId": CLIENT_ID,
                "clientSecret": CLIENT_SECRET,
                "graphApiBaseUrl": format!("{}/v23.0", server.uri()),
                "dialogBaseUrl": format!("{}/v23.0", server.uri()),
            }),
        )
        .expect("valid Facebook config"),
    )
}

fn facebook_error(message: &str, kind: &str, code: i64) -> ResponseTemplate {
    ResponseTemplate::new(400).set_body_json(json!({
        "error": {
            "message": message,
            "type": kind,
            "code": code,
            "fbtrace_id": "AbCdEfGhIjKlMnOpQrStUv",
        }
    }))
}

/// hex(HMAC-SHA256(app secret, token)).
fn proof(token: &str) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, CLIENT_SECRET.as_bytes());
    aws_lc_rs::hmac::sign(&key, token.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn me() -> Value {
    json!({
        "id": "10158459345678901",
        "name": "Mark Example",
        "email": "mark@fb.example",
        "picture": {
            "data": {
                "height": 50,
                "is_silhouette": false,
                "url": "https://platform-lookaside.fbsbx.com/platform/profilepic/?asid=10158459345678901",
                "width": 50,
            }
        },
    })
}

async fn mount_code_exchange(server: &MockServer, answer: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path(TOKEN_PATH))
        .and(query_param_is_missing("grant_type"))
        .respond_with(answer)
        .mount(server)
        .await;
}

async fn mount_long_lived(server: &MockServer, answer: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path(TOKEN_PATH))
        .and(query_param("grant_type", "fb_exchange_token"))
        .respond_with(answer)
        .mount(server)
        .await;
}

fn short_answer() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(
        json!({ "access_token": SHORT_TOKEN, "token_type": "bearer", "expires_in": 5183944 }),
    )
}

fn long_answer() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(
        json!({ "access_token": ACCESS_TOKEN, "token_type": "bearer", "expires_in": 5183999 }),
    )
}

fn assert_short_token_clean(what: &str, text: &str) {
    assert!(
        !text.contains(SHORT_TOKEN),
        "{what} leaks the short-lived token: {text}"
    );
}

#[tokio::test]
async fn authorization_url() {
    let server = MockServer::start().await;
    let c = connector(&server);
    assert!(matches!(&c, Connector::Social(s) if s.target() == "facebook"));
    let mut req = auth_request();
    let url = expect_ok(providers().authorization_url(&c, &req).await);
    assert_eq!(url.path(), "/v23.0/dialog/oauth");
    let q = query_map(&url);
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(q["redirect_uri"], REDIRECT_URI);
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["state"], STATE);
    assert_eq!(q["scope"], "email,public_profile");
    // The manually built flow takes no PKCE, and the exchange sends no verifier either.
    assert!(!q.contains_key("code_challenge"));
    assert!(!q.contains_key("nonce"));
    req.scope = Some("email");
    let q = query_map(&expect_ok(providers().authorization_url(&c, &req).await));
    assert_eq!(q["scope"], "email");

    let default = Connector::from(
        SocialConnector::from_config(
            "facebook",
            &json!({ "clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET }),
        )
        .expect("config"),
    );
    let url = expect_ok(
        providers()
            .authorization_url(&default, &auth_request())
            .await,
    );
    assert_eq!(
        url.as_str().split('?').next(),
        Some("https://www.facebook.com/v23.0/dialog/oauth")
    );
}

#[tokio::test]
async fn exchange_returns_the_long_lived_token_and_the_profile() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(TOKEN_PATH))
        .and(query_param_is_missing("grant_type"))
        .and(query_param("client_id", CLIENT_ID))
        .and(query_param("redirect_uri", REDIRECT_URI))
        .and(query_param("client_secret", CLIENT_SECRET))
        .and(query_param("code", CODE))
        .respond_with(short_answer())
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(TOKEN_PATH))
        .and(query_param("grant_type", "fb_exchange_token"))
        .and(query_param("client_id", CLIENT_ID))
        .and(query_param("client_secret", CLIENT_SECRET))
        .and(query_param("fb_exchange_token", SHORT_TOKEN))
        .respond_with(long_answer())
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(ME_PATH))
        .and(query_param("fields", "id,name,email,picture"))
        .and(query_param("appsecret_proof", proof(ACCESS_TOKEN).as_str()))
        .and(header_is(
            "authorization",
            format!("Bearer {ACCESS_TOKEN}").as_str(),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(me()))
        .expect(1)
        .mount(&server)
        .await;

    let c = connector(&server);
    let (tokens, profile) = expect_ok(providers().exchange(&c, &callback(None)).await);
    assert_eq!(
        tokens.access_token.expose_secret(),
        ACCESS_TOKEN,
        "the long-lived token"
    );
    assert_eq!(tokens.expires_in, Some(5183999));
    assert_eq!(tokens.token_type.as_deref(), Some("bearer"));
    assert!(tokens.refresh_token.is_none());
    assert!(tokens.id_token.is_none());

    assert_eq!(profile.id, "10158459345678901");
    assert_eq!(profile.name.as_deref(), Some("Mark Example"));
    assert_eq!(profile.email.as_deref(), Some("mark@fb.example"));
    assert_eq!(profile.email_verified, None, "Facebook does not say");
    assert_eq!(
        profile.avatar.as_deref(),
        Some("https://platform-lookaside.fbsbx.com/platform/profilepic/?asid=10158459345678901")
    );
    assert_eq!(profile.details["picture"]["data"]["width"], 50);

    let token_requests = requests_to(&server, TOKEN_PATH).await;
    assert_eq!(token_requests.len(), 2);
    assert!(
        token_requests
            .iter()
            .all(|r| !r.url.query_pairs().any(|(k, _)| k == "code_verifier"))
    );

    assert_debug_clean("TokenResponse", &tokens);
    assert_short_token_clean("TokenResponse", &format!("{tokens:?}"));
    assert_debug_clean("UserProfile", &profile);
    assert_debug_clean("Facebook connector", &c);
}

#[tokio::test]
async fn used_or_expired_codes_are_invalid_grants() {
    for message in [
        "This authorization code has been used.",
        "This authorization code has expired.",
        "Invalid verification code format.",
    ] {
        let server = MockServer::start().await;
        mount_code_exchange(&server, facebook_error(message, "OAuthException", 100)).await;
        mount_long_lived(&server, long_answer()).await;
        let e = expect_err(
            providers()
                .exchange(&connector(&server), &callback(None))
                .await,
        );
        assert_eq!(e, ProviderError::InvalidGrant(message.into()));
        assert!(requests_to(&server, ME_PATH).await.is_empty());
    }
}

#[tokio::test]
async fn other_graph_errors_are_oauth_errors() {
    for (message, code) in [
        ("Error validating client secret.", 1),
        (
            "Can't load URL: The domain of this URL isn't included in the app's domains.",
            191,
        ),
        ("Missing redirect_uri parameter.", 100),
    ] {
        let server = MockServer::start().await;
        mount_code_exchange(&server, facebook_error(message, "OAuthException", code)).await;
        let e = expect_err(
            providers()
                .exchange(&connector(&server), &callback(None))
                .await,
        );
        assert_eq!(
            e,
            ProviderError::OAuth {
                error: "OAuthException".into(),
                description: Some(message.into())
            }
        );
    }
}

#[tokio::test]
async fn long_lived_exchange_errors() {
    let server = MockServer::start().await;
    mount_code_exchange(&server, short_answer()).await;
    mount_long_lived(
        &server,
        facebook_error(
            "Error validating access token: Session has expired on Friday, 09-Aug-24.",
            "OAuthException",
            190,
        ),
    )
    .await;
    let e = expect_err(
        providers()
            .exchange(&connector(&server), &callback(None))
            .await,
    );
    assert!(matches!(e, ProviderError::InvalidGrant(_)), "{e:?}");
    assert_short_token_clean("error", &format!("{e} {e:?}"));
}

#[tokio::test]
async fn me_errors() {
    let server = MockServer::start().await;
    mount_code_exchange(&server, short_answer()).await;
    mount_long_lived(&server, long_answer()).await;
    let c = connector(&server);
    let guard = Mock::given(path(ME_PATH))
        .respond_with(facebook_error(
            "Invalid appsecret_proof provided in the API argument",
            "GraphMethodException",
            100,
        ))
        .mount_as_scoped(&server)
        .await;
    let e = expect_err(providers().exchange(&c, &callback(None)).await);
    assert_eq!(
        e,
        ProviderError::OAuth {
            error: "GraphMethodException".into(),
            description: Some("Invalid appsecret_proof provided in the API argument".into()),
        }
    );
    drop(guard);
    let guard = Mock::given(path(ME_PATH))
        .respond_with(ResponseTemplate::new(503))
        .mount_as_scoped(&server)
        .await;
    assert_eq!(
        expect_err(providers().exchange(&c, &callback(None)).await),
        ProviderError::Unavailable { status: 503 }
    );
    drop(guard);
    let _guard = Mock::given(path(ME_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "name": "No Id" })))
        .mount_as_scoped(&server)
        .await;
    assert!(matches!(
        expect_err(providers().exchange(&c, &callback(None)).await),
        ProviderError::InvalidResponse(_)
    ));
}

/// Facebook documents `DELETE /{user-id}/permissions` (with the user's token, `me`) to
/// de-authorize an app: that is how a deleted set's grant ends.
#[tokio::test]
async fn revoke_de_authorizes_the_app_through_the_permissions_api() {
    let server = MockServer::start().await;
    let c = connector(&server);
    assert!(c.revokes_with_access_token());
    Mock::given(method("DELETE"))
        .and(path("/v23.0/me/permissions"))
        .and(header_is(
            "authorization",
            format!("Bearer {ACCESS_TOKEN}").as_str(),
        ))
        .and(query_param_is_missing("access_token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": true})))
        .expect(1)
        .mount(&server)
        .await;
    expect_ok(providers().revoke(&c, &secret(ACCESS_TOKEN)).await);
    // An answer that confirms nothing is no revocation.
    let other = MockServer::start().await;
    Mock::given(method("DELETE"))
        .and(path("/v23.0/me/permissions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": false})))
        .mount(&other)
        .await;
    assert!(matches!(
        expect_err(
            providers()
                .revoke(&connector(&other), &secret(ACCESS_TOKEN))
                .await
        ),
        ProviderError::InvalidResponse(_)
    ));
    let gone = MockServer::start().await;
    Mock::given(method("DELETE"))
        .and(path("/v23.0/me/permissions"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": {
            "message": "Error validating access token", "type": "OAuthException", "code": 190}})))
        .mount(&gone)
        .await;
    // Facebook's error object for an invalid token (code 190): not a revocation.
    assert!(matches!(
        expect_err(
            providers()
                .revoke(&connector(&gone), &secret(ACCESS_TOKEN))
                .await
        ),
        ProviderError::InvalidGrant(_)
    ));
}

#[tokio::test]
async fn refresh_is_not_supported() {
    let server = MockServer::start().await;
    let c = connector(&server);
    assert!(!c.supports_refresh());
    assert!(matches!(
        expect_err(providers().refresh(&c, &secret(REFRESH_TOKEN)).await),
        ProviderError::NotSupported(_)
    ));
    assert!(
        server
            .received_requests()
            .await
            .expect("recording")
            .is_empty(),
        "nothing was sent"
    );
}

#[tokio::test]
async fn token_endpoint_unavailable() {
    for status in UNAVAILABLE_STATUSES {
        let server = MockServer::start().await;
        mount_code_exchange(
            &server,
            ResponseTemplate::new(status).set_body_json(json!({
                "error": { "message": "(#4) Application request limit reached", "type": "OAuthException", "is_transient": true, "code": 4, "fbtrace_id": "A1" }
            })),
        )
        .await;
        let e = expect_err(
            providers()
                .exchange(&connector(&server), &callback(None))
                .await,
        );
        assert_eq!(e, ProviderError::Unavailable { status });
    }
}

#[tokio::test]
async fn slow_token_endpoint_times_out() {
    let server = MockServer::start().await;
    mount_code_exchange(&server, short_answer().set_delay(SLOW)).await;
    let e = expect_err(
        impatient_providers()
            .exchange(&connector(&server), &callback(None))
            .await,
    );
    assert_eq!(e, ProviderError::Timeout);
}

#[tokio::test]
async fn slow_long_lived_exchange_times_out() {
    let server = MockServer::start().await;
    mount_code_exchange(&server, short_answer()).await;
    mount_long_lived(&server, long_answer().set_delay(SLOW)).await;
    let e = expect_err(
        impatient_providers()
            .exchange(&connector(&server), &callback(None))
            .await,
    );
    assert_eq!(e, ProviderError::Timeout);
}

#[tokio::test]
async fn redirect_on_the_token_endpoint_is_not_followed() {
    let server = MockServer::start().await;
    mount_redirect(&server, "GET", TOKEN_PATH).await;
    let e = expect_err(
        providers()
            .exchange(&connector(&server), &callback(None))
            .await,
    );
    assert!(matches!(e, ProviderError::InvalidResponse(_)), "{e:?}");
    assert!(requests_to(&server, REDIRECT_TARGET).await.is_empty());
}

#[tokio::test]
async fn garbage_token_answers_are_invalid_responses() {
    for answer in [
        html_page(),
        ResponseTemplate::new(200).set_body_string("Sorry, something went wrong."),
        ResponseTemplate::new(200).set_body_json(json!({ "token_type": "bearer" })),
        ResponseTemplate::new(400).set_body_json(json!({ "unexpected": true })),
    ] {
        let server = MockServer::start().await;
        mount_code_exchange(&server, answer).await;
        let e = expect_err(
            providers()
                .exchange(&connector(&server), &callback(None))
                .await,
        );
        assert!(matches!(e, ProviderError::InvalidResponse(_)), "{e:?}");
    }
}

#[tokio::test]
async fn unreachable_graph_api_reveals_no_secret() {
    // The token URL carries the client secret and the code in its query.
    let base = closed_port_url();
    let c = Connector::from(SocialConnector::from_config(
        "facebook",
        &json!({ "clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET, "graphApiBaseUrl": base }),
    )
    .expect("config"));
    let e = expect_err(providers().exchange(&c, &callback(None)).await);
    assert_eq!(e, ProviderError::Unavailable { status: 0 });
}
