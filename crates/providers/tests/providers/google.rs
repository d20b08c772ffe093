//! Google against a wiremock server shaped like accounts.google.com / oauth2.googleapis.com.

use crate::support;

use base64::Engine as _;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use strongroom_providers::{CallbackProblem, Connector, ProviderError, SocialConnector};
use support::jwt::{now, unsigned};
use support::*;
use wiremock::matchers::{body_string_contains, header as header_is, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN_PATH: &str = "/token";
const USERINFO_PATH: &str = "/v1/userinfo";
const REVOKE_PATH: &str = "/revoke";
const SUB: &str = "110169484474386276334";

fn connector(server: &MockServer) -> Connector {
    connector_with(server, json!({}))
}

fn connector_with(server: &MockServer, extra: Value) -> Connector {
    let mut config = json!({
        "clientId": CLIENT_ID,
        "clientSecret": CLIENT_SECRET,
        "authorizationEndpoint": format!("{}/o/oauth2/v2/auth", server.uri()),
        "tokenEndpoint": format!("{}{TOKEN_PATH}", server.uri()),
        "userInfoEndpoint": format!("{}{USERINFO_PATH}", server.uri()),
        "revocationEndpoint": format!("{}{REVOKE_PATH}", server.uri()),
    });
    for (k, v) in extra.as_object().expect("object") {
        config[k] = v.clone();
    }
    Connector::from(SocialConnector::from_config("google", &config).expect("valid Google config"))
}

fn id_claims() -> Value {
    json!({
        "iss": "https://accounts.google.com",
        "azp": CLIENT_ID,
        "aud": CLIENT_ID,
        "sub": SUB,
        "email": "jane.doe@gmail.example",
        "email_verified": true,
        "at_hash": "HK6E_P6Dh8Y93mRNtsDB1Q",
        "nonce": NONCE,
        "name": "Jane Doe",
        "picture": "https://lh3.googleusercontent.com/a/ACg8ocJ",
        "given_name": "Jane",
        "family_name": "Doe",
        "iat": now(),
        "exp": now() + 3599,
    })
}

/// Google's token answer carries an RS256 ID token; its signature is not checked here (it came
/// straight from the token endpoint), so a made-up signature will do.
fn id_token(claims: &Value) -> String {
    unsigned(
        &json!({ "alg": "RS256", "kid": "c8ab71530972bba20b49f78a09c9852c43ff9118", "typ": "JWT" }),
        claims,
        "c2lnbmF0dXJl",
    )
}

fn first_consent_answer(claims: &Value) -> Value {
    json!({
        "access_token": ACCESS_TOKEN,
        "expires_in": 3599,
        "refresh_token": REFRESH_TOKEN,
        "scope": "https://www.googleapis.com/auth/userinfo.email openid https://www.googleapis.com/auth/userinfo.profile",
        "token_type": "Bearer",
        "id_token": id_token(claims),
    })
}

fn userinfo() -> Value {
    json!({
        "sub": SUB,
        "name": "Jane Doe",
        "given_name": "Jane",
        "family_name": "Doe",
        "picture": "https://lh3.googleusercontent.com/a/ACg8ocJ",
        "email": "jane.doe@gmail.example",
        "email_verified": true,
    })
}

async fn mount_token(server: &MockServer, answer: Value) {
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(answer))
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

fn expected_basic() -> String {
    // RFC 6749 2.3.1: both parts form-urlencoded (nothing to escape in these).
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    )
}

#[tokio::test]
async fn authorization_url_defaults() {
    let server = MockServer::start().await;
    let c = connector(&server);
    assert!(matches!(&c, Connector::Social(s) if s.target() == "google"));
    let mut req = auth_request();
    req.login_hint = Some("jane.doe@gmail.example");
    let url = expect_ok(providers().authorization_url(&c, &req).await);
    assert_eq!(url.path(), "/o/oauth2/v2/auth");
    let q = query_map(&url);
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(q["redirect_uri"], REDIRECT_URI);
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["scope"], "openid profile email");
    assert_eq!(q["state"], STATE);
    assert_eq!(q["nonce"], NONCE);
    assert_eq!(q["code_challenge"], CHALLENGE);
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["access_type"], "offline");
    assert_eq!(q["prompt"], "consent");
    assert_eq!(q["login_hint"], "jane.doe@gmail.example");
    assert_eq!(q.len(), 11, "{q:?}");
    assert_clean("authorization URL", url.as_str());
}

#[tokio::test]
async fn authorization_url_options() {
    let server = MockServer::start().await;
    let c = connector_with(
        &server,
        json!({ "offlineAccess": false, "scope": "openid email" }),
    );
    let mut req = auth_request();
    let q = query_map(&expect_ok(providers().authorization_url(&c, &req).await));
    assert_eq!(q["scope"], "openid email");
    assert!(!q.contains_key("access_type"));
    assert!(!q.contains_key("prompt"));

    let c = connector_with(&server, json!({ "prompts": ["select_account", "consent"] }));
    req.scope = Some("openid https://www.googleapis.com/auth/calendar.readonly");
    let q = query_map(&expect_ok(providers().authorization_url(&c, &req).await));
    assert_eq!(q["prompt"], "select_account consent");
    assert_eq!(
        q["scope"],
        "openid https://www.googleapis.com/auth/calendar.readonly"
    );

    let default = Connector::from(
        SocialConnector::from_config(
            "google",
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
        Some("https://accounts.google.com/o/oauth2/v2/auth")
    );

    let e = expect_err(SocialConnector::from_config(
        "google",
        &json!({ "clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET, "prompts": ["always"] }),
    ));
    assert!(
        matches!(&e, ProviderError::Config(t) if t.contains("prompts")),
        "{e:?}"
    );
}

#[tokio::test]
async fn exchange_at_first_consent() {
    let server = MockServer::start().await;
    let answer = first_consent_answer(&id_claims());
    let sent_id_token = answer["id_token"].as_str().expect("id_token").to_owned();
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .and(header_is("authorization", expected_basic().as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(answer))
        .expect(1)
        .mount(&server)
        .await;
    mount_userinfo(&server, userinfo()).await;
    let c = connector(&server);
    let (tokens, profile) = expect_ok(
        providers()
            .exchange(&c, &callback(Some("https://accounts.google.com")))
            .await,
    );

    assert_eq!(tokens.access_token.expose_secret(), ACCESS_TOKEN);
    assert_eq!(
        tokens.refresh_token.as_ref().map(|t| t.expose_secret()),
        Some(REFRESH_TOKEN)
    );
    assert_eq!(
        tokens.id_token.as_ref().map(|t| t.expose_secret()),
        Some(sent_id_token.as_str())
    );
    assert_eq!(tokens.expires_in, Some(3599));
    assert_eq!(tokens.token_type.as_deref(), Some("Bearer"));
    assert!(
        tokens
            .scope
            .as_deref()
            .is_some_and(|s| s.contains("openid"))
    );

    assert_eq!(profile.id, SUB);
    assert_eq!(profile.email.as_deref(), Some("jane.doe@gmail.example"));
    assert_eq!(profile.email_verified, Some(true));
    assert_eq!(profile.name.as_deref(), Some("Jane Doe"));
    assert_eq!(
        profile.avatar.as_deref(),
        Some("https://lh3.googleusercontent.com/a/ACg8ocJ")
    );
    assert_eq!(profile.details["given_name"], "Jane");

    let request = &requests_to(&server, TOKEN_PATH).await[0];
    let form = form_of(request);
    assert_eq!(form["grant_type"], "authorization_code");
    assert_eq!(form["code"], CODE);
    assert_eq!(form["redirect_uri"], REDIRECT_URI);
    assert_eq!(form["code_verifier"], VERIFIER);
    assert!(
        !form.contains_key("client_secret"),
        "client_secret_basic by default"
    );

    assert_debug_clean("TokenResponse", &tokens);
    assert_debug_clean("UserProfile", &profile);
    assert_debug_clean("Google connector", &c);
    assert!(
        !format!("{tokens:?}").contains(&sent_id_token),
        "the ID token is redacted too"
    );
}

#[tokio::test]
async fn client_secret_post_when_configured() {
    let server = MockServer::start().await;
    mount_token(&server, first_consent_answer(&id_claims())).await;
    mount_userinfo(&server, userinfo()).await;
    let c = connector_with(
        &server,
        json!({ "tokenEndpointAuthMethod": "client_secret_post" }),
    );
    expect_ok(providers().exchange(&c, &callback(None)).await);
    let request = &requests_to(&server, TOKEN_PATH).await[0];
    assert_eq!(header(request, "authorization"), None);
    let form = form_of(request);
    assert_eq!(form["client_id"], CLIENT_ID);
    assert_eq!(form["client_secret"], CLIENT_SECRET);
}

#[tokio::test]
async fn short_issuer_spelling_and_audience_lists_are_accepted() {
    let server = MockServer::start().await;
    let mut claims = id_claims();
    claims["iss"] = json!("accounts.google.com");
    claims["aud"] = json!(["another-client", CLIENT_ID]);
    mount_token(&server, first_consent_answer(&claims)).await;
    mount_userinfo(&server, userinfo()).await;
    let (_, profile) = expect_ok(
        providers()
            .exchange(&connector(&server), &callback(None))
            .await,
    );
    assert_eq!(profile.id, SUB);
}

/// A change to an ID token's claims.
type Tamper = Box<dyn Fn(&mut Value)>;

#[tokio::test]
async fn id_token_checks() {
    let cases: Vec<(&str, Tamper)> = vec![
        (
            "wrong audience",
            Box::new(|c| c["aud"] = json!("someone-elses-client.apps.googleusercontent.com")),
        ),
        (
            "audience list without us",
            Box::new(|c| c["aud"] = json!(["a", "b"])),
        ),
        (
            "missing audience",
            Box::new(|c| {
                c.as_object_mut().expect("object").remove("aud");
            }),
        ),
        (
            "wrong issuer",
            Box::new(|c| c["iss"] = json!("https://evil.example")),
        ),
        (
            "missing issuer",
            Box::new(|c| {
                c.as_object_mut().expect("object").remove("iss");
            }),
        ),
        (
            "wrong nonce",
            Box::new(|c| c["nonce"] = json!("nonce-of-another-request")),
        ),
        ("non-string nonce", Box::new(|c| c["nonce"] = json!(42))),
        (
            "missing nonce",
            Box::new(|c| {
                c.as_object_mut().expect("object").remove("nonce");
            }),
        ),
    ];
    for (case, tamper) in cases {
        let server = MockServer::start().await;
        let mut claims = id_claims();
        tamper(&mut claims);
        mount_token(&server, first_consent_answer(&claims)).await;
        Mock::given(path(USERINFO_PATH))
            .respond_with(ResponseTemplate::new(200).set_body_json(userinfo()))
            .expect(0)
            .named(case)
            .mount(&server)
            .await;
        let e = expect_err(
            providers()
                .exchange(&connector(&server), &callback(None))
                .await,
        );
        assert!(matches!(e, ProviderError::IdToken(_)), "{case}: {e:?}");
    }
}

#[tokio::test]
async fn malformed_id_token_is_rejected() {
    for bad in [
        "not-a-jwt",
        "a.!!!.c",
        "eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2ln",
    ] {
        let server = MockServer::start().await;
        let mut answer = first_consent_answer(&id_claims());
        answer["id_token"] = json!(bad);
        mount_token(&server, answer).await;
        mount_userinfo(&server, userinfo()).await;
        let e = expect_err(
            providers()
                .exchange(&connector(&server), &callback(None))
                .await,
        );
        assert!(matches!(e, ProviderError::IdToken(_)), "{bad}: {e:?}");
    }
}

#[tokio::test]
async fn userinfo_sub_must_match_the_id_token() {
    let server = MockServer::start().await;
    mount_token(&server, first_consent_answer(&id_claims())).await;
    let mut info = userinfo();
    info["sub"] = json!("999999999999999999999");
    mount_userinfo(&server, info).await;
    let e = expect_err(
        providers()
            .exchange(&connector(&server), &callback(None))
            .await,
    );
    assert!(matches!(e, ProviderError::IdToken(_)), "{e:?}");
}

#[tokio::test]
async fn callback_iss_mismatch_is_rejected_before_the_code_is_sent() {
    let server = MockServer::start().await;
    Mock::given(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(first_consent_answer(&id_claims())))
        .expect(0)
        .mount(&server)
        .await;
    let e = expect_err(
        providers()
            .exchange(
                &connector(&server),
                &callback(Some("https://attacker.example")),
            )
            .await,
    );
    assert!(
        matches!(&e, ProviderError::Callback(CallbackProblem::WrongIss)),
        "{e:?}"
    );
}

#[tokio::test]
async fn refresh_answer_without_refresh_token() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .and(header_is("authorization", expected_basic().as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": ACCESS_TOKEN_2,
            "expires_in": 3599,
            "scope": "openid https://www.googleapis.com/auth/userinfo.email",
            "token_type": "Bearer",
            "id_token": id_token(&id_claims()),
        })))
        .expect(1)
        .mount(&server)
        .await;
    let tokens = expect_ok(
        providers()
            .refresh(&connector(&server), &secret(REFRESH_TOKEN))
            .await,
    );
    assert_eq!(tokens.access_token.expose_secret(), ACCESS_TOKEN_2);
    assert!(
        tokens.refresh_token.is_none(),
        "Google sends no new refresh token"
    );
    assert_eq!(tokens.expires_in, Some(3599));
    let form = form_of(&requests_to(&server, TOKEN_PATH).await[0]);
    assert_eq!(form["grant_type"], "refresh_token");
    assert_eq!(form["refresh_token"], REFRESH_TOKEN);
}

#[tokio::test]
async fn invalid_grant_is_http_400() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .and(body_string_contains("grant_type=refresh_token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": "invalid_grant",
            "error_description": "Token has been expired or revoked.",
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .and(body_string_contains("grant_type=authorization_code"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": "invalid_grant",
            "error_description": "Bad Request",
        })))
        .mount(&server)
        .await;
    let c = connector(&server);
    let e = expect_err(providers().refresh(&c, &secret(REFRESH_TOKEN)).await);
    assert_eq!(
        e,
        ProviderError::InvalidGrant("Token has been expired or revoked.".into())
    );
    assert!(!e.is_transient());
    let e = expect_err(providers().exchange(&c, &callback(None)).await);
    assert_eq!(e, ProviderError::InvalidGrant("Bad Request".into()));
}

#[tokio::test]
async fn other_token_errors_are_oauth_errors() {
    for (status, error, description) in [
        (
            401,
            "invalid_client",
            Some("The OAuth client was not found."),
        ),
        (400, "redirect_uri_mismatch", Some("Bad Request")),
        (400, "unsupported_grant_type", None),
    ] {
        let server = MockServer::start().await;
        let mut body = json!({ "error": error });
        if let Some(d) = description {
            body["error_description"] = json!(d);
        }
        Mock::given(method("POST"))
            .and(path(TOKEN_PATH))
            .respond_with(ResponseTemplate::new(status).set_body_json(body))
            .mount(&server)
            .await;
        let e = expect_err(
            providers()
                .exchange(&connector(&server), &callback(None))
                .await,
        );
        assert_eq!(
            e,
            ProviderError::OAuth {
                error: error.into(),
                description: description.map(str::to_owned)
            }
        );
    }
}

#[tokio::test]
async fn token_endpoint_unavailable() {
    for status in UNAVAILABLE_STATUSES {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(TOKEN_PATH))
            .respond_with(
                ResponseTemplate::new(status).set_body_json(json!({ "error": "internal_failure" })),
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
async fn userinfo_failures() {
    let server = MockServer::start().await;
    mount_token(&server, first_consent_answer(&id_claims())).await;
    let c = connector(&server);
    let guard = Mock::given(path(USERINFO_PATH))
        .respond_with(ResponseTemplate::new(503))
        .mount_as_scoped(&server)
        .await;
    assert_eq!(
        expect_err(providers().exchange(&c, &callback(None)).await),
        ProviderError::Unavailable { status: 503 }
    );
    drop(guard);
    let guard = Mock::given(path(USERINFO_PATH))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "error": "invalid_request",
            "error_description": "Invalid Credentials",
        })))
        .mount_as_scoped(&server)
        .await;
    let e = expect_err(providers().exchange(&c, &callback(None)).await);
    assert!(
        matches!(&e, ProviderError::OAuth { error, .. } if error == "invalid_token"),
        "{e:?}"
    );
    drop(guard);
    let guard = Mock::given(path(USERINFO_PATH))
        .respond_with(html_page())
        .mount_as_scoped(&server)
        .await;
    assert!(matches!(
        expect_err(providers().exchange(&c, &callback(None)).await),
        ProviderError::InvalidResponse(_)
    ));
    drop(guard);
    let _guard = Mock::given(path(USERINFO_PATH))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "email": "jane.doe@gmail.example" })),
        )
        .mount_as_scoped(&server)
        .await;
    assert!(matches!(
        expect_err(providers().exchange(&c, &callback(None)).await),
        ProviderError::InvalidResponse(_)
    ));
}

#[tokio::test]
async fn slow_token_endpoint_times_out() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(first_consent_answer(&id_claims()))
                .set_delay(SLOW),
        )
        .mount(&server)
        .await;
    let c = connector(&server);
    assert_eq!(
        expect_err(impatient_providers().exchange(&c, &callback(None)).await),
        ProviderError::Timeout
    );
    assert_eq!(
        expect_err(
            impatient_providers()
                .refresh(&c, &secret(REFRESH_TOKEN))
                .await
        ),
        ProviderError::Timeout
    );
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
    for answer in [
        html_page(),
        ResponseTemplate::new(400).set_body_raw(
            "<html><body>400. That's an error.</body></html>",
            "text/html",
        ),
        ResponseTemplate::new(200).set_body_raw("{\"access_token\": \"x\"", "application/json"),
        ResponseTemplate::new(200)
            .set_body_json(json!({ "token_type": "Bearer", "expires_in": 3599 })),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(TOKEN_PATH))
            .respond_with(answer)
            .mount(&server)
            .await;
        let e = expect_err(
            providers()
                .exchange(&connector(&server), &callback(None))
                .await,
        );
        assert!(matches!(e, ProviderError::InvalidResponse(_)), "{e:?}");
    }
}

#[tokio::test]
async fn revoke_posts_the_token() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(REVOKE_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .expect(1)
        .mount(&server)
        .await;
    expect_ok(
        providers()
            .revoke(&connector(&server), &secret(REFRESH_TOKEN))
            .await,
    );
    let request = &requests_to(&server, REVOKE_PATH).await[0];
    assert_eq!(form_of(request)["token"], REFRESH_TOKEN);
    assert_eq!(
        header(request, "content-type"),
        Some("application/x-www-form-urlencoded")
    );
}

#[tokio::test]
async fn revoke_of_an_already_revoked_token_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(REVOKE_PATH))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": "invalid_token",
            "error_description": "Token expired or revoked",
        })))
        .expect(1)
        .mount(&server)
        .await;
    expect_ok(
        providers()
            .revoke(&connector(&server), &secret(ACCESS_TOKEN))
            .await,
    );
}

#[tokio::test]
async fn revoke_failures() {
    let server = MockServer::start().await;
    let c = connector(&server);
    let guard = Mock::given(path(REVOKE_PATH))
        .respond_with(ResponseTemplate::new(503))
        .mount_as_scoped(&server)
        .await;
    assert_eq!(
        expect_err(providers().revoke(&c, &secret(ACCESS_TOKEN)).await),
        ProviderError::Unavailable { status: 503 }
    );
    drop(guard);
    let guard = Mock::given(path(REVOKE_PATH))
        .respond_with(
            ResponseTemplate::new(400).set_body_json(json!({ "error": "invalid_request" })),
        )
        .mount_as_scoped(&server)
        .await;
    let e = expect_err(providers().revoke(&c, &secret(ACCESS_TOKEN)).await);
    assert_eq!(
        e,
        ProviderError::OAuth {
            error: "invalid_request".into(),
            description: None
        }
    );
    drop(guard);
    let _guard = Mock::given(path(REVOKE_PATH))
        .respond_with(ResponseTemplate::new(400).set_body_string("Bad Request"))
        .mount_as_scoped(&server)
        .await;
    assert!(matches!(
        expect_err(providers().revoke(&c, &secret(ACCESS_TOKEN)).await),
        ProviderError::InvalidResponse(_)
    ));
}
