//! GitHub against a wiremock server shaped like github.com and api.github.com.

use crate::support;

use secrecy::ExposeSecret;
use serde_json::{Value, json};
use strongroom_providers::{Connector, ProviderError, SocialConnector};
use support::*;
use wiremock::matchers::{basic_auth, body_json, header as header_is, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN_PATH: &str = "/login/oauth/access_token";

fn connector(server: &MockServer) -> Connector {
    connector_with(server, json!({}))
}

fn connector_with(server: &MockServer, extra: Value) -> Connector {
    let mut config = json!({
        "clientId": CLIENT_ID,
        "clientSecret": CLIENT_SECRET,
        "baseUrl": server.uri(),
        "apiBaseUrl": server.uri(),
    });
    for (k, v) in extra.as_object().expect("object") {
        config[k] = v.clone();
    }
    Connector::from(SocialConnector::from_config("github", &config).expect("valid GitHub config"))
}

fn oauth_app_token() -> Value {
    json!({ "access_token": ACCESS_TOKEN, "token_type": "bearer", "scope": "read:user,user:email" })
}

fn octocat(email: Value) -> Value {
    json!({
        "login": "octocat",
        "id": 583231,
        "node_id": "MDQ6VXNlcjU4MzIzMQ==",
        "avatar_url": "https://avatars.githubusercontent.com/u/583231?v=4",
        "html_url": "https://github.com/octocat",
        "type": "User",
        "site_admin": false,
        "name": "The Octocat",
        "company": "@github",
        "email": email,
        "created_at": "2011-01-25T18:44:36Z",
    })
}

async fn mount_token(server: &MockServer, body: Value) {
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(server)
        .await;
}

async fn mount_user(server: &MockServer, user: Value) {
    Mock::given(method("GET"))
        .and(path("/user"))
        .and(header_is(
            "authorization",
            format!("Bearer {ACCESS_TOKEN}").as_str(),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(user))
        .mount(server)
        .await;
}

async fn mount_emails(server: &MockServer, emails: Value) {
    Mock::given(method("GET"))
        .and(path("/user/emails"))
        .and(header_is(
            "authorization",
            format!("Bearer {ACCESS_TOKEN}").as_str(),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(emails))
        .mount(server)
        .await;
}

#[tokio::test]
async fn authorization_url_carries_state_pkce_and_default_scope() {
    let server = MockServer::start().await;
    let c = connector(&server);
    let url = expect_ok(providers().authorization_url(&c, &auth_request()).await);
    assert_eq!(url.path(), "/login/oauth/authorize");
    assert_eq!(url.host_str(), Some("127.0.0.1"));
    let q = query_map(&url);
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(q["redirect_uri"], REDIRECT_URI);
    assert_eq!(q["scope"], "read:user user:email");
    assert_eq!(q["state"], STATE);
    assert_eq!(q["code_challenge"], CHALLENGE);
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(!q.contains_key("nonce"), "GitHub is not OpenID: no nonce");
    assert!(!q.contains_key("client_secret"));
    assert!(!q.contains_key("login"));
    assert_clean("authorization URL", url.as_str());
}

#[tokio::test]
async fn authorization_url_scope_override_and_login_hint() {
    let server = MockServer::start().await;
    let c = connector_with(&server, json!({ "scope": "read:user" }));
    let mut req = auth_request();
    let url = expect_ok(providers().authorization_url(&c, &req).await);
    assert_eq!(query_map(&url)["scope"], "read:user", "configured scope");
    req.scope = Some("user:email repo");
    req.login_hint = Some("octocat");
    let url = expect_ok(providers().authorization_url(&c, &req).await);
    let q = query_map(&url);
    assert_eq!(q["scope"], "user:email repo", "per-request scope wins");
    assert_eq!(q["login"], "octocat");
}

#[tokio::test]
async fn default_urls_are_github_com() {
    let c = Connector::from(
        SocialConnector::from_config(
            "github",
            &json!({ "clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET }),
        )
        .expect("config"),
    );
    assert!(matches!(&c, Connector::Social(s) if s.target() == "github"));
    assert!(c.supports_refresh());
    let url = expect_ok(providers().authorization_url(&c, &auth_request()).await);
    assert_eq!(url.origin().ascii_serialization(), "https://github.com");
    assert_eq!(url.path(), "/login/oauth/authorize");
}

#[tokio::test]
async fn exchange_oauth_app_with_private_email() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .and(header_is("accept", "application/json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(oauth_app_token()))
        .expect(1)
        .mount(&server)
        .await;
    mount_user(&server, octocat(Value::Null)).await;
    mount_emails(
        &server,
        json!([
            { "email": "old@octo.example", "primary": false, "verified": true, "visibility": null },
            { "email": "unverified@octo.example", "primary": false, "verified": false, "visibility": null },
            { "email": "octocat@github.example", "primary": true, "verified": true, "visibility": "private" },
        ]),
    )
    .await;

    let c = connector(&server);
    let (tokens, profile) = expect_ok(providers().exchange(&c, &callback(None)).await);

    assert_eq!(tokens.access_token.expose_secret(), ACCESS_TOKEN);
    assert!(tokens.refresh_token.is_none());
    assert!(tokens.id_token.is_none());
    assert_eq!(tokens.expires_in, None);
    assert_eq!(tokens.scope.as_deref(), Some("read:user,user:email"));
    assert_eq!(tokens.token_type.as_deref(), Some("bearer"));

    assert_eq!(profile.id, "583231", "numeric id as a string");
    assert_eq!(
        profile.email.as_deref(),
        Some("octocat@github.example"),
        "primary verified address"
    );
    assert_eq!(profile.email_verified, Some(true));
    assert_eq!(profile.name.as_deref(), Some("The Octocat"));
    assert_eq!(
        profile.avatar.as_deref(),
        Some("https://avatars.githubusercontent.com/u/583231?v=4")
    );
    assert_eq!(profile.details["userInfo"]["login"], "octocat");
    assert_eq!(
        profile.details["userEmails"].as_array().map(Vec::len),
        Some(3)
    );

    let token_requests = requests_to(&server, TOKEN_PATH).await;
    assert_eq!(token_requests.len(), 1);
    let form = form_of(&token_requests[0]);
    assert_eq!(form["client_id"], CLIENT_ID);
    assert_eq!(form["client_secret"], CLIENT_SECRET);
    assert_eq!(form["code"], CODE);
    assert_eq!(form["redirect_uri"], REDIRECT_URI);
    assert_eq!(form["code_verifier"], VERIFIER);
    assert_eq!(
        header(&token_requests[0], "content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let user_requests = requests_to(&server, "/user").await;
    assert_eq!(
        header(&user_requests[0], "accept"),
        Some("application/vnd.github+json")
    );
    assert_eq!(header(&user_requests[0], "user-agent"), Some("Strongroom"));

    assert_debug_clean("TokenResponse", &tokens);
    assert_debug_clean("UserProfile", &profile);
    assert_debug_clean("Callback", &callback(None));
    assert_debug_clean("SocialConnector", &c);
    assert_debug_clean("Providers", &providers());
    assert_clean(
        "profile JSON",
        &serde_json::to_string(&profile).expect("serializable"),
    );
}

#[tokio::test]
async fn public_email_takes_its_verification_from_the_email_list() {
    let server = MockServer::start().await;
    mount_token(&server, oauth_app_token()).await;
    mount_user(&server, octocat(json!("public@octo.example"))).await;
    mount_emails(
        &server,
        json!([
            { "email": "primary@octo.example", "primary": true, "verified": true, "visibility": "private" },
            { "email": "public@octo.example", "primary": false, "verified": false, "visibility": "public" },
        ]),
    )
    .await;
    let (_, profile) = expect_ok(
        providers()
            .exchange(&connector(&server), &callback(None))
            .await,
    );
    assert_eq!(profile.email.as_deref(), Some("public@octo.example"));
    assert_eq!(
        profile.email_verified,
        Some(false),
        "the public address is listed as unverified"
    );
}

#[tokio::test]
async fn without_the_email_scope_the_email_list_is_not_requested() {
    let server = MockServer::start().await;
    mount_token(
        &server,
        json!({ "access_token": ACCESS_TOKEN, "token_type": "bearer", "scope": "read:user" }),
    )
    .await;
    mount_user(&server, octocat(json!("public@octo.example"))).await;
    Mock::given(path("/user/emails"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(0)
        .mount(&server)
        .await;
    let (_, profile) = expect_ok(
        providers()
            .exchange(&connector(&server), &callback(None))
            .await,
    );
    assert_eq!(profile.email.as_deref(), Some("public@octo.example"));
    assert_eq!(
        profile.email_verified, None,
        "nothing says whether it is verified"
    );
    assert_eq!(profile.details["userEmails"], json!([]));
}

#[tokio::test]
async fn github_app_with_expiring_tokens_and_no_email_permission() {
    let server = MockServer::start().await;
    mount_token(
        &server,
        json!({
            "access_token": ACCESS_TOKEN,
            "expires_in": 28800,
            "refresh_token": REFRESH_TOKEN,
            "refresh_token_expires_in": 15897600,
            "scope": "",
            "token_type": "bearer",
        }),
    )
    .await;
    mount_user(&server, octocat(Value::Null)).await;
    // A GitHub app without the "Email addresses" permission.
    Mock::given(method("GET"))
        .and(path("/user/emails"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "message": "Resource not accessible by integration",
            "documentation_url": "https://docs.github.com/rest/users/emails#list-email-addresses-for-the-authenticated-user",
            "status": "403",
        })))
        .expect(1)
        .mount(&server)
        .await;
    let (tokens, profile) = expect_ok(
        providers()
            .exchange(&connector(&server), &callback(None))
            .await,
    );
    assert_eq!(
        tokens.refresh_token.as_ref().map(|t| t.expose_secret()),
        Some(REFRESH_TOKEN)
    );
    assert_eq!(tokens.expires_in, Some(28800));
    assert_eq!(tokens.scope.as_deref(), Some(""));
    assert_eq!(profile.id, "583231");
    assert_eq!(profile.email, None);
    assert_eq!(profile.email_verified, None);
}

#[tokio::test]
async fn refresh_sends_the_refresh_token_and_client_credentials() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": ACCESS_TOKEN_2,
            "expires_in": 28800,
            "refresh_token": REFRESH_TOKEN_2,
            "refresh_token_expires_in": 15811200,
            "scope": "",
            "token_type": "bearer",
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
    assert_eq!(
        tokens.refresh_token.as_ref().map(|t| t.expose_secret()),
        Some(REFRESH_TOKEN_2)
    );
    assert_eq!(tokens.expires_in, Some(28800));
    let form = form_of(&requests_to(&server, TOKEN_PATH).await[0]);
    assert_eq!(form["grant_type"], "refresh_token");
    assert_eq!(form["refresh_token"], REFRESH_TOKEN);
    assert_eq!(form["client_id"], CLIENT_ID);
    assert_eq!(form["client_secret"], CLIENT_SECRET);
    assert_debug_clean("refreshed TokenResponse", &tokens);
}

#[tokio::test]
async fn bad_verification_code_in_http_200_is_invalid_grant() {
    let server = MockServer::start().await;
    mount_token(
        &server,
        json!({
            "error": "bad_verification_code",
            "error_description": "The code passed is incorrect or expired.",
            "error_uri": "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#bad-verification-code",
        }),
    )
    .await;
    Mock::given(path("/user"))
        .respond_with(ResponseTemplate::new(200).set_body_json(octocat(Value::Null)))
        .expect(0)
        .mount(&server)
        .await;
    let e = expect_err(
        providers()
            .exchange(&connector(&server), &callback(None))
            .await,
    );
    assert_eq!(
        e,
        ProviderError::InvalidGrant("The code passed is incorrect or expired.".into())
    );
    assert!(!e.is_transient());
}

#[tokio::test]
async fn bad_refresh_token_in_http_200_is_invalid_grant() {
    let server = MockServer::start().await;
    mount_token(
        &server,
        json!({
            "error": "bad_refresh_token",
            "error_description": "The refresh token passed is incorrect or expired.",
            "error_uri": "https://docs.github.com/apps/managing-github-apps/refreshing-user-to-server-access-tokens",
        }),
    )
    .await;
    let e = expect_err(
        providers()
            .refresh(&connector(&server), &secret(REFRESH_TOKEN))
            .await,
    );
    assert_eq!(
        e,
        ProviderError::InvalidGrant("The refresh token passed is incorrect or expired.".into())
    );
}

#[tokio::test]
async fn other_errors_in_http_200_are_oauth_errors() {
    for (error, description) in [
        (
            "incorrect_client_credentials",
            "The client_id and/or client_secret passed are incorrect.",
        ),
        (
            "redirect_uri_mismatch",
            "The redirect_uri MUST match the registered callback URL for this application.",
        ),
        (
            "unverified_user_email",
            "The user must have a verified primary email.",
        ),
    ] {
        let server = MockServer::start().await;
        mount_token(
            &server,
            json!({ "error": error, "error_description": description, "error_uri": "https://docs.github.com/..." }),
        )
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
                description: Some(description.into())
            }
        );
        assert!(e.to_string().contains(error), "{e}");
    }
}

#[tokio::test]
async fn token_endpoint_5xx_and_429_are_unavailable() {
    for status in UNAVAILABLE_STATUSES {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(TOKEN_PATH))
            .respond_with(ResponseTemplate::new(status).set_body_string("<html>Unicorn!</html>"))
            .expect(2)
            .mount(&server)
            .await;
        let c = connector(&server);
        let e = expect_err(providers().exchange(&c, &callback(None)).await);
        assert_eq!(e, ProviderError::Unavailable { status });
        assert!(e.is_transient());
        let e = expect_err(providers().refresh(&c, &secret(REFRESH_TOKEN)).await);
        assert_eq!(e, ProviderError::Unavailable { status });
    }
}

#[tokio::test]
async fn user_api_errors() {
    let server = MockServer::start().await;
    mount_token(&server, oauth_app_token()).await;
    let user = Mock::given(method("GET"))
        .and(path("/user"))
        .respond_with(ResponseTemplate::new(503))
        .mount_as_scoped(&server)
        .await;
    let c = connector(&server);
    let e = expect_err(providers().exchange(&c, &callback(None)).await);
    assert_eq!(e, ProviderError::Unavailable { status: 503 });
    drop(user);

    let _user = Mock::given(method("GET"))
        .and(path("/user"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "message": "Bad credentials",
            "documentation_url": "https://docs.github.com/rest",
            "status": "401",
        })))
        .mount_as_scoped(&server)
        .await;
    let e = expect_err(providers().exchange(&c, &callback(None)).await);
    assert!(
        matches!(&e, ProviderError::OAuth { error, .. } if error == "invalid_token"),
        "{e:?}"
    );
}

#[tokio::test]
async fn user_without_id_is_an_invalid_response() {
    let server = MockServer::start().await;
    mount_token(&server, oauth_app_token()).await;
    mount_user(&server, json!({ "login": "ghost", "email": null })).await;
    mount_emails(&server, json!([])).await;
    let e = expect_err(
        providers()
            .exchange(&connector(&server), &callback(None))
            .await,
    );
    assert!(matches!(e, ProviderError::InvalidResponse(_)), "{e:?}");
}

#[tokio::test]
async fn slow_token_endpoint_times_out() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(oauth_app_token())
                .set_delay(SLOW),
        )
        .mount(&server)
        .await;
    let started = std::time::Instant::now();
    let e = expect_err(
        impatient_providers()
            .exchange(&connector(&server), &callback(None))
            .await,
    );
    assert_eq!(e, ProviderError::Timeout);
    assert!(e.is_transient());
    assert!(started.elapsed() < SLOW, "gave up before the answer came");
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
    assert!(
        matches!(&e, ProviderError::InvalidResponse(t) if t.contains("redirect")),
        "{e:?}"
    );
    assert!(requests_to(&server, REDIRECT_TARGET).await.is_empty());
}

#[tokio::test]
async fn garbage_token_answers_are_invalid_responses() {
    let answers = [
        html_page(),
        ResponseTemplate::new(200).set_body_string("not json at all"),
        ResponseTemplate::new(200).set_body_raw("{\"access_token\": ", "application/json"),
        ResponseTemplate::new(200).set_body_json(json!({ "token_type": "bearer", "scope": "" })),
        ResponseTemplate::new(200)
            .set_body_json(json!({ "access_token": "", "token_type": "bearer" })),
        ResponseTemplate::new(200).set_body_json(json!(["access_token"])),
        ResponseTemplate::new(200),
        ResponseTemplate::new(404).set_body_json(json!({ "message": "Not Found" })),
    ];
    for answer in answers {
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
async fn unreachable_github_is_unavailable() {
    let base = closed_port_url();
    let c = Connector::from(SocialConnector::from_config(
        "github",
        &json!({ "clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET, "baseUrl": base, "apiBaseUrl": base }),
    )
    .expect("config"));
    let e = expect_err(providers().exchange(&c, &callback(None)).await);
    assert_eq!(e, ProviderError::Unavailable { status: 0 });
}

#[tokio::test]
async fn revoke_deletes_the_grant_with_basic_auth() {
    let server = MockServer::start().await;
    Mock::given(method("DELETE"))
        .and(path(format!("/applications/{CLIENT_ID}/grant")))
        .and(basic_auth(CLIENT_ID, CLIENT_SECRET))
        .and(body_json(json!({ "access_token": ACCESS_TOKEN })))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    expect_ok(
        providers()
            .revoke(&connector(&server), &secret(ACCESS_TOKEN))
            .await,
    );
    let request = &requests_to(&server, &format!("/applications/{CLIENT_ID}/grant")).await[0];
    assert_eq!(header(request, "x-github-api-version"), Some("2022-11-28"));
}

/// A GitHub App's user token has usually expired (8 hours) by the time its set is deleted, and
/// GitHub answers 404 for it while the grant and its refresh token live on: that is no
/// revocation, and must not be reported as one.
#[tokio::test]
async fn revoke_with_a_token_github_does_not_know_is_not_a_success() {
    let server = MockServer::start().await;
    Mock::given(method("DELETE"))
        .and(path(format!("/applications/{CLIENT_ID}/grant")))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({
            "message": "Not Found",
            "documentation_url": "https://docs.github.com/rest/apps/oauth-applications#delete-an-app-authorization",
            "status": "404",
        })))
        .expect(1)
        .mount(&server)
        .await;
    let e = expect_err(
        providers()
            .revoke(&connector(&server), &secret(ACCESS_TOKEN))
            .await,
    );
    assert!(matches!(e, ProviderError::InvalidGrant(_)), "{e:?}");
}

#[tokio::test]
async fn revoke_failures() {
    let grant = format!("/applications/{CLIENT_ID}/grant");
    let server = MockServer::start().await;
    let guard = Mock::given(method("DELETE"))
        .and(path(grant.as_str()))
        .respond_with(ResponseTemplate::new(422).set_body_json(json!({
            "message": "Validation Failed",
            "errors": [{ "resource": "Application", "code": "invalid" }],
        })))
        .mount_as_scoped(&server)
        .await;
    let c = connector(&server);
    let e = expect_err(providers().revoke(&c, &secret(ACCESS_TOKEN)).await);
    assert!(matches!(e, ProviderError::InvalidResponse(_)), "{e:?}");
    drop(guard);
    let guard = Mock::given(method("DELETE"))
        .and(path(grant.as_str()))
        .respond_with(ResponseTemplate::new(503))
        .mount_as_scoped(&server)
        .await;
    let e = expect_err(providers().revoke(&c, &secret(ACCESS_TOKEN)).await);
    assert_eq!(e, ProviderError::Unavailable { status: 503 });
    drop(guard);
    let _guard = Mock::given(method("DELETE"))
        .and(path(grant.as_str()))
        .respond_with(ResponseTemplate::new(204).set_delay(SLOW))
        .mount_as_scoped(&server)
        .await;
    let e = expect_err(
        impatient_providers()
            .revoke(&c, &secret(ACCESS_TOKEN))
            .await,
    );
    assert_eq!(e, ProviderError::Timeout);
}

#[tokio::test]
async fn github_enterprise_api_under_a_path_prefix() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(oauth_app_token()))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v3/user"))
        .respond_with(ResponseTemplate::new(200).set_body_json(octocat(json!("octo@ghe.example"))))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v3/user/emails"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            { "email": "octo@ghe.example", "primary": true, "verified": true, "visibility": "public" },
        ])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path(format!("/api/v3/applications/{CLIENT_ID}/grant")))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let c = connector_with(
        &server,
        json!({ "apiBaseUrl": format!("{}/api/v3/", server.uri()) }),
    );
    let (_, profile) = expect_ok(providers().exchange(&c, &callback(None)).await);
    assert_eq!(profile.email.as_deref(), Some("octo@ghe.example"));
    assert_eq!(profile.email_verified, Some(true));
    expect_ok(providers().revoke(&c, &secret(ACCESS_TOKEN)).await);
}

#[test]
fn config_errors_name_the_field_and_debug_hides_the_secret() {
    let e = expect_err(SocialConnector::from_config(
        "github",
        &json!({ "clientSecret": CLIENT_SECRET }),
    ));
    assert_eq!(e, ProviderError::Config("clientId is required".into()));
    let e = expect_err(SocialConnector::from_config(
        "github",
        &json!({ "clientId": CLIENT_ID, "clientSecret": "  " }),
    ));
    assert_eq!(e, ProviderError::Config("clientSecret is required".into()));
    let e = expect_err(SocialConnector::from_config(
        "github",
        &json!({ "clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET, "baseUrl": "ftp://github.example" }),
    ));
    assert_eq!(
        e,
        ProviderError::Config("baseUrl must be an absolute http(s) URL".into())
    );
    let c = Connector::from(
        SocialConnector::from_config(
            "github",
            &json!({ "clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET }),
        )
        .expect("config"),
    );
    let debug = format!("{c:?}");
    assert!(debug.contains(CLIENT_ID), "{debug}");
    assert_debug_clean("GitHub connector", &c);
}

#[tokio::test]
async fn oversized_answer_is_an_invalid_response() {
    let server = MockServer::start().await;
    let huge = format!(
        "{{\"access_token\":\"{ACCESS_TOKEN}\",\"padding\":\"{}\"}}",
        "x".repeat(2 * 1024 * 1024)
    );
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_raw(huge, "application/json"))
        .mount(&server)
        .await;
    let e = expect_err(
        providers()
            .exchange(&connector(&server), &callback(None))
            .await,
    );
    assert!(
        matches!(&e, ProviderError::InvalidResponse(t) if t.contains("too large")),
        "{e:?}"
    );
}

#[tokio::test]
async fn provider_error_texts_are_bounded_and_printable() {
    let server = MockServer::start().await;
    let long = format!("line one\nline two\u{7}{}", "y".repeat(2000));
    mount_token(
        &server,
        json!({ "error": "incorrect_client_credentials", "error_description": long }),
    )
    .await;
    let e = expect_err(
        providers()
            .exchange(&connector(&server), &callback(None))
            .await,
    );
    let ProviderError::OAuth {
        description: Some(description),
        ..
    } = &e
    else {
        panic!("{e:?}")
    };
    assert!(
        description.chars().count() <= 301,
        "{} chars",
        description.chars().count()
    );
    assert!(
        description.starts_with("line one line two "),
        "{description:?}"
    );
    assert!(!e.to_string().chars().any(char::is_control), "{e}");
}
