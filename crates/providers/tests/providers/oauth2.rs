//! The generic OAuth 2.0 connector against a wiremock provider.

use crate::support;

use base64::Engine as _;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use strongroom_providers::{CallbackProblem, Connector, ProviderError, SocialConnector};
use support::*;
use wiremock::matchers::{header as header_is, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN_PATH: &str = "/oauth/token";
const USERINFO_PATH: &str = "/api/me";
const REVOKE_PATH: &str = "/oauth/revoke";

fn config(server: &MockServer) -> Value {
    json!({
        "authorizationEndpoint": format!("{}/oauth/authorize?tenant=acme", server.uri()),
        "tokenEndpoint": format!("{}{TOKEN_PATH}", server.uri()),
        "userInfoEndpoint": format!("{}{USERINFO_PATH}", server.uri()),
        "clientId": CLIENT_ID,
        "clientSecret": CLIENT_SECRET,
    })
}

fn connector_with(server: &MockServer, extra: Value) -> Connector {
    let mut config = config(server);
    for (k, v) in extra.as_object().expect("object") {
        config[k] = v.clone();
    }
    Connector::from(
        SocialConnector::from_config("oauth2", &config).expect("valid OAuth 2.0 config"),
    )
}

fn connector(server: &MockServer) -> Connector {
    connector_with(server, json!({}))
}

fn query_string_answer() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(
        format!("access_token={ACCESS_TOKEN}&token_type=bearer&expires_in=3600&refresh_token={REFRESH_TOKEN}&scope=profile+email"),
        "application/x-www-form-urlencoded",
    )
}

fn flat_userinfo() -> Value {
    json!({ "id": 1234567, "email": "user@oauth2.example", "name": "Olga Auth", "avatar": "https://cdn.example/olga.png" })
}

async fn mount_token(server: &MockServer, answer: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(answer)
        .mount(server)
        .await;
}

async fn mount_userinfo(server: &MockServer, info: Value) {
    Mock::given(method("GET"))
        .and(path(USERINFO_PATH))
        .and(header_is(
            "authorization",
            format!("Bearer {ACCESS_TOKEN}").as_str(),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(info))
        .mount(server)
        .await;
}

#[tokio::test]
async fn authorization_url() {
    let server = MockServer::start().await;
    let c = connector_with(
        &server,
        json!({
            "scope": "profile email",
            "customConfig": { "audience": "https://api.acme.example", "state": "attacker-state", "client_secret": "x" },
        }),
    );
    assert!(matches!(&c, Connector::Social(s) if s.target() == "oauth2"));
    let mut req = auth_request();
    let url = expect_ok(providers().authorization_url(&c, &req).await);
    assert_eq!(url.path(), "/oauth/authorize");
    let q = query_map(&url);
    assert_eq!(q["tenant"], "acme", "the endpoint's own query is kept");
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(q["redirect_uri"], REDIRECT_URI);
    assert_eq!(q["state"], STATE, "customConfig cannot override state");
    assert_eq!(q["code_challenge"], CHALLENGE);
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["scope"], "profile email");
    assert_eq!(q["audience"], "https://api.acme.example");
    assert!(!q.contains_key("client_secret"));
    assert_eq!(q.len(), 9, "{q:?}");

    req.scope = Some("read");
    assert_eq!(
        query_map(&expect_ok(providers().authorization_url(&c, &req).await))["scope"],
        "read"
    );

    let without_scope = connector(&server);
    let q = query_map(&expect_ok(
        providers()
            .authorization_url(&without_scope, &auth_request())
            .await,
    ));
    assert!(!q.contains_key("scope"), "no scope configured, none sent");
}

#[tokio::test]
async fn exchange_with_query_string_answer_and_client_secret_post() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(query_string_answer())
        .expect(1)
        .mount(&server)
        .await;
    mount_userinfo(&server, flat_userinfo()).await;
    let c = connector(&server);
    let (tokens, profile) = expect_ok(providers().exchange(&c, &callback(None)).await);
    assert_eq!(tokens.access_token.expose_secret(), ACCESS_TOKEN);
    assert_eq!(
        tokens.refresh_token.as_ref().map(|t| t.expose_secret()),
        Some(REFRESH_TOKEN)
    );
    assert_eq!(
        tokens.expires_in,
        Some(3600),
        "a string in a query-string answer"
    );
    assert_eq!(tokens.token_type.as_deref(), Some("bearer"));
    assert_eq!(tokens.scope.as_deref(), Some("profile email"));
    assert_eq!(profile.id, "1234567");
    assert_eq!(profile.email.as_deref(), Some("user@oauth2.example"));
    assert_eq!(profile.name.as_deref(), Some("Olga Auth"));
    assert_eq!(
        profile.avatar.as_deref(),
        Some("https://cdn.example/olga.png")
    );
    assert_eq!(profile.email_verified, None);

    let request = &requests_to(&server, TOKEN_PATH).await[0];
    assert_eq!(
        header(request, "authorization"),
        None,
        "client_secret_post is the default"
    );
    let form = form_of(request);
    assert_eq!(form["grant_type"], "authorization_code");
    assert_eq!(form["code"], CODE);
    assert_eq!(form["redirect_uri"], REDIRECT_URI);
    assert_eq!(form["code_verifier"], VERIFIER);
    assert_eq!(form["client_id"], CLIENT_ID);
    assert_eq!(form["client_secret"], CLIENT_SECRET);

    assert_debug_clean("TokenResponse", &tokens);
    assert_debug_clean("UserProfile", &profile);
    assert_debug_clean("OAuth 2.0 connector", &c);
}

#[tokio::test]
async fn query_string_answer_with_a_text_content_type() {
    let server = MockServer::start().await;
    mount_token(
        &server,
        ResponseTemplate::new(200).set_body_string(format!(
            "access_token={ACCESS_TOKEN}&token_type=bearer&expires_in=3600"
        )),
    )
    .await;
    mount_userinfo(&server, flat_userinfo()).await;
    let (tokens, _) = expect_ok(
        providers()
            .exchange(&connector(&server), &callback(None))
            .await,
    );
    assert_eq!(tokens.access_token.expose_secret(), ACCESS_TOKEN);
    assert_eq!(tokens.expires_in, Some(3600));
    assert!(tokens.refresh_token.is_none());
}

#[tokio::test]
async fn json_answer_nested_profile_map_and_client_secret_basic() {
    // A secret with characters RFC 6749 2.3.1 makes us form-urlencode before base64.
    let special_secret = "cs-PLANTED:with/special+chars&=";
    let server = MockServer::start().await;
    mount_token(
        &server,
        ResponseTemplate::new(200).set_body_json(json!({
            "access_token": ACCESS_TOKEN,
            "token_type": "Bearer",
            "expires_in": "7200",
            "refresh_token": REFRESH_TOKEN,
            "scope": ["read", "write"],
        })),
    )
    .await;
    mount_userinfo(
        &server,
        json!({
            "data": {
                "user": { "uid": "u-778", "display_name": "Nes Ted" },
                "contact": { "mail": "nes@nested.example" },
                "media": { "avatar": { "url": "https://cdn.example/nes.png" } },
            },
            "email_verified": "true",
        }),
    )
    .await;
    let mut config = config(&server);
    config["clientSecret"] = json!(special_secret);
    config["tokenEndpointResponseType"] = json!("json");
    config["tokenEndpointAuthMethod"] = json!("client_secret_basic");
    config["profileMap"] = json!({
        "id": "data.user.uid",
        "email": "data.contact.mail",
        "name": "data.user.display_name",
        "avatar": "data.media.avatar.url",
    });
    let c = Connector::from(SocialConnector::from_config("oauth2", &config).expect("config"));
    let (tokens, profile) = expect_ok(providers().exchange(&c, &callback(None)).await);
    assert_eq!(tokens.expires_in, Some(7200), "numeric string");
    assert_eq!(tokens.scope.as_deref(), Some("read write"));
    assert_eq!(profile.id, "u-778");
    assert_eq!(profile.email.as_deref(), Some("nes@nested.example"));
    assert_eq!(profile.name.as_deref(), Some("Nes Ted"));
    assert_eq!(
        profile.avatar.as_deref(),
        Some("https://cdn.example/nes.png")
    );
    assert_eq!(profile.email_verified, Some(true));

    let request = &requests_to(&server, TOKEN_PATH).await[0];
    let encoded_secret: String =
        url::form_urlencoded::byte_serialize(special_secret.as_bytes()).collect();
    assert_eq!(encoded_secret, "cs-PLANTED%3Awith%2Fspecial%2Bchars%26%3D");
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{encoded_secret}"))
    );
    assert_eq!(header(request, "authorization"), Some(expected.as_str()));
    let form = form_of(request);
    assert!(!form.contains_key("client_secret"));
    assert!(!form.contains_key("client_id"));
    let debug = format!("{c:?}");
    assert!(
        !debug.contains(special_secret) && !debug.contains(&encoded_secret),
        "{debug}"
    );
}

#[tokio::test]
async fn client_secret_jwt_assertion() {
    let server = MockServer::start().await;
    mount_token(&server, query_string_answer()).await;
    mount_userinfo(&server, flat_userinfo()).await;
    let c = connector_with(
        &server,
        json!({ "tokenEndpointAuthMethod": "client_secret_jwt" }),
    );
    expect_ok(providers().exchange(&c, &callback(None)).await);
    let form = form_of(&requests_to(&server, TOKEN_PATH).await[0]);
    assert!(!form.contains_key("client_secret"));
    assert_eq!(form["client_id"], CLIENT_ID);
    assert_eq!(
        form["client_assertion_type"],
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    );
    let assertion = &form["client_assertion"];
    let parts: Vec<&str> = assertion.split('.').collect();
    assert_eq!(parts.len(), 3);
    let decode = |p: &str| -> Value {
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .expect("base64url"),
        )
        .expect("JSON")
    };
    assert_eq!(decode(parts[0])["alg"], "HS256");
    let claims = decode(parts[1]);
    assert_eq!(claims["iss"], CLIENT_ID);
    assert_eq!(claims["sub"], CLIENT_ID);
    assert_eq!(claims["aud"], format!("{}{TOKEN_PATH}", server.uri()));
    assert!(claims["exp"].as_i64() > claims["iat"].as_i64());
    // The MAC is keyed with the client secret.
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, CLIENT_SECRET.as_bytes());
    let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(parts[2])
        .expect("base64url");
    aws_lc_rs::hmac::verify(
        &key,
        format!("{}.{}", parts[0], parts[1]).as_bytes(),
        &signature,
    )
    .expect("valid HMAC");
}

#[tokio::test]
async fn token_errors() {
    let cases = [
        (
            ResponseTemplate::new(400).set_body_raw(
                "error=invalid_grant&error_description=The+authorization+code+has+expired",
                "application/x-www-form-urlencoded",
            ),
            ProviderError::InvalidGrant("The authorization code has expired".into()),
        ),
        (
            ResponseTemplate::new(400).set_body_json(json!({ "error": "invalid_grant" })),
            ProviderError::InvalidGrant("invalid_grant".into()),
        ),
        (
            ResponseTemplate::new(401).set_body_json(
                json!({ "error": "invalid_client", "error_description": "Client authentication failed" }),
            ),
            ProviderError::OAuth {
                error: "invalid_client".into(),
                description: Some("Client authentication failed".into()),
            },
        ),
        (
            ResponseTemplate::new(200).set_body_raw("error=access_denied", "text/plain"),
            ProviderError::OAuth {
                error: "access_denied".into(),
                description: None,
            },
        ),
    ];
    for (answer, expected) in cases {
        let server = MockServer::start().await;
        mount_token(&server, answer).await;
        Mock::given(path(USERINFO_PATH))
            .respond_with(ResponseTemplate::new(200).set_body_json(flat_userinfo()))
            .expect(0)
            .mount(&server)
            .await;
        let e = expect_err(
            providers()
                .exchange(&connector(&server), &callback(None))
                .await,
        );
        assert_eq!(e, expected);
    }
}

#[tokio::test]
async fn token_endpoint_unavailable() {
    for status in UNAVAILABLE_STATUSES {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(TOKEN_PATH))
            .respond_with(
                ResponseTemplate::new(status)
                    .set_body_raw("error=temporarily_unavailable", "text/plain"),
            )
            .expect(2)
            .mount(&server)
            .await;
        let c = connector(&server);
        assert_eq!(
            expect_err(providers().exchange(&c, &callback(None)).await),
            ProviderError::Unavailable { status }
        );
        assert_eq!(
            expect_err(providers().refresh(&c, &secret(REFRESH_TOKEN)).await),
            ProviderError::Unavailable { status }
        );
    }
}

#[tokio::test]
async fn slow_token_endpoint_times_out() {
    let server = MockServer::start().await;
    mount_token(&server, query_string_answer().set_delay(SLOW)).await;
    let e = expect_err(
        impatient_providers()
            .exchange(&connector(&server), &callback(None))
            .await,
    );
    assert_eq!(e, ProviderError::Timeout);
}

#[tokio::test]
async fn slow_userinfo_times_out() {
    let server = MockServer::start().await;
    mount_token(&server, query_string_answer()).await;
    Mock::given(path(USERINFO_PATH))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(flat_userinfo())
                .set_delay(SLOW),
        )
        .mount(&server)
        .await;
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
    mount_redirect(&server, "POST", TOKEN_PATH).await;
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
    for (answer, json_format) in [
        (html_page(), false),
        (html_page(), true),
        (
            ResponseTemplate::new(200).set_body_string("foo=bar&baz=qux"),
            false,
        ),
        (ResponseTemplate::new(200).set_body_string("   "), false),
        (
            ResponseTemplate::new(200).set_body_raw("{not json", "application/json"),
            true,
        ),
        (
            ResponseTemplate::new(403).set_body_string("Forbidden"),
            false,
        ),
    ] {
        let server = MockServer::start().await;
        mount_token(&server, answer).await;
        let extra = if json_format {
            json!({ "tokenEndpointResponseType": "json" })
        } else {
            json!({})
        };
        let e = expect_err(
            providers()
                .exchange(&connector_with(&server, extra), &callback(None))
                .await,
        );
        assert!(matches!(e, ProviderError::InvalidResponse(_)), "{e:?}");
    }
}

#[tokio::test]
async fn profile_map_id_missing_is_an_invalid_response() {
    let server = MockServer::start().await;
    mount_token(&server, query_string_answer()).await;
    mount_userinfo(&server, json!({ "data": { "email": "x@example.com" } })).await;
    let c = connector_with(&server, json!({ "profileMap": { "id": "data.user_id" } }));
    let e = expect_err(providers().exchange(&c, &callback(None)).await);
    assert!(
        matches!(&e, ProviderError::InvalidResponse(t) if t.contains("data.user_id")),
        "{e:?}"
    );
}

#[tokio::test]
async fn callback_iss_checked_when_an_issuer_is_configured() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(query_string_answer())
        .expect(1)
        .mount(&server)
        .await;
    mount_userinfo(&server, flat_userinfo()).await;
    let c = connector_with(&server, json!({ "issuer": "https://as.acme.example" }));
    let e = expect_err(
        providers()
            .exchange(&c, &callback(Some("https://evil.example")))
            .await,
    );
    assert!(
        matches!(&e, ProviderError::Callback(CallbackProblem::WrongIss)),
        "{e:?}"
    );
    // The matching iss goes through (and is the only token request).
    expect_ok(
        providers()
            .exchange(&c, &callback(Some("https://as.acme.example")))
            .await,
    );
}

#[tokio::test]
async fn refresh() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            format!("access_token={ACCESS_TOKEN_2}&token_type=bearer&expires_in=3600&refresh_token={REFRESH_TOKEN_2}"),
            "application/x-www-form-urlencoded",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let tokens = expect_ok(
        providers()
            .refresh(&connector(&server), &secret(REFRESH_TOKEN))
            .await,
    );
    assert_eq!(tokens.access_token.expose_secret(), ACCESS_TOKEN_2);
    assert_eq!(
        tokens.refresh_token.as_ref().map(|t| t.expose_secret()),
        Some(REFRESH_TOKEN_2)
    );
    let form = form_of(&requests_to(&server, TOKEN_PATH).await[0]);
    assert_eq!(form["grant_type"], "refresh_token");
    assert_eq!(form["refresh_token"], REFRESH_TOKEN);
    assert_eq!(form["client_secret"], CLIENT_SECRET);
    assert_debug_clean("refreshed tokens", &tokens);
}

#[tokio::test]
async fn revoke() {
    let server = MockServer::start().await;
    let without = connector(&server);
    assert!(matches!(
        expect_err(providers().revoke(&without, &secret(ACCESS_TOKEN)).await),
        ProviderError::NotSupported(_)
    ));

    Mock::given(method("POST"))
        .and(path(REVOKE_PATH))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    let c = connector_with(
        &server,
        json!({ "revocationEndpoint": format!("{}{REVOKE_PATH}", server.uri()) }),
    );
    expect_ok(providers().revoke(&c, &secret(REFRESH_TOKEN)).await);
    let form = form_of(&requests_to(&server, REVOKE_PATH).await[0]);
    assert_eq!(form["token"], REFRESH_TOKEN);
    assert_eq!(form["client_id"], CLIENT_ID);
    assert_eq!(form["client_secret"], CLIENT_SECRET);
}

#[test]
fn config_errors() {
    let cases = [
        ("tokenEndpoint", "tokenEndpoint is required"),
        ("userInfoEndpoint", "userInfoEndpoint is required"),
        ("authorizationEndpoint", "authorizationEndpoint is required"),
        ("clientSecret", "clientSecret is required"),
    ];
    for (field, text) in cases {
        let mut config = json!({
            "authorizationEndpoint": "https://as.example/authorize",
            "tokenEndpoint": "https://as.example/token",
            "userInfoEndpoint": "https://as.example/me",
            "clientId": CLIENT_ID,
            "clientSecret": CLIENT_SECRET,
        });
        config.as_object_mut().expect("object").remove(field);
        assert_eq!(
            expect_err(SocialConnector::from_config("oauth2", &config)),
            ProviderError::Config(text.into())
        );
    }
    let e = expect_err(SocialConnector::from_config(
        "oauth2",
        &json!({
            "authorizationEndpoint": "https://as.example/authorize",
            "tokenEndpoint": "https://as.example/token",
            "userInfoEndpoint": "https://as.example/me",
            "clientId": CLIENT_ID,
            "clientSecret": CLIENT_SECRET,
            "tokenEndpointResponseType": "xml",
        }),
    ));
    assert!(
        matches!(&e, ProviderError::Config(t) if t.contains("tokenEndpointResponseType")),
        "{e:?}"
    );
    let e = expect_err(SocialConnector::from_config("no-such-factory", &json!({})));
    assert!(matches!(e, ProviderError::Config(_)), "{e:?}");
}
