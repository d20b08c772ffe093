//! The console over plain HTTP (a cookie jar, no browser): sign-in and its lockout, sessions,
//! CSRF and origin checks on every form, security headers, the client secret shown once, API
//! errors shown in place, and no token value on any page. `console_browser.rs` drives the same
//! pages in a real Chromium.

use crate::support;
use crate::support::vault;

use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, LOCATION, SET_COOKIE};
use serde_json::json;
use strongroom_core::admins::{MAX_FAILED_SIGN_INS, create_admin, reset_password};
use strongroom_core::crypto::token_hash;
use strongroom_core::store::{ApplicationId, StoreError};
use strongroom_core::{CoreError, SecretString};
use support::TestApp;
use vault::*;

const PASSWORD: &str = "console-password-1f0a";
const ACCESS: &str = "PLANTED-console-access-9d1c";
const REFRESH: &str = "PLANTED-console-refresh-5e27";

/// A browser: its own cookie jar, redirects not followed.
fn browser() -> reqwest::Client {
    strongroom_testkit::http_no_redirects()
        .cookie_store(true)
        .build()
        .expect("client")
}

/// The value of the first hidden `csrf` input of a page.
fn csrf_of(html: &str) -> String {
    let start =
        html.find(r#"name="csrf" value=""#).expect("a csrf field") + r#"name="csrf" value=""#.len();
    html[start..][..html[start..].find('"').expect("end of value")].to_owned()
}

async fn with_admin() -> TestApp {
    let app = TestApp::spawn().await;
    create_admin(
        app.store(),
        "admin",
        Some(SecretString::from(PASSWORD)),
        app.state.clock.as_ref(),
    )
    .await
    .expect("admin");
    app
}

async fn sign_in_attempt(
    app: &TestApp,
    client: &reqwest::Client,
    password: &str,
) -> reqwest::Response {
    let page = client
        .get(app.url("/console/sign-in"))
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), 200);
    let csrf = csrf_of(&page.text().await.expect("body"));
    client
        .post(app.url("/console/sign-in"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", "admin"),
            ("password", password),
        ])
        .send()
        .await
        .expect("sign in")
}

/// A signed-in browser and its session's CSRF token.
async fn signed_in(app: &TestApp) -> (reqwest::Client, String) {
    let client = browser();
    let response = sign_in_attempt(app, &client, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let page = client
        .get(app.url("/console/users"))
        .send()
        .await
        .expect("users");
    assert_eq!(page.status(), 200);
    let csrf = csrf_of(&page.text().await.expect("body"));
    (client, csrf)
}

async fn page(client: &reqwest::Client, app: &TestApp, path: &str) -> (StatusCode, String) {
    let response = client.get(app.url(path)).send().await.expect("get");
    (response.status(), response.text().await.expect("body"))
}

#[tokio::test]
async fn requests_without_a_session_are_refused_and_change_nothing() {
    let app = with_admin().await;
    let client = browser();
    for path in [
        "/console",
        "/console/users",
        "/console/connectors",
        "/console/applications",
        "/console/audit",
    ] {
        let response = client.get(app.url(path)).send().await.expect("get");
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(response.headers()[LOCATION], "/console/sign-in", "{path}");
    }
    let response = client
        .post(app.url("/console/applications"))
        .form(&[("csrf", "anything"), ("name", "sneaky"), ("type", "SPA")])
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(
        response
            .text()
            .await
            .expect("body")
            .contains("console.session_required")
    );
    assert!(
        app.state
            .applications
            .list()
            .await
            .expect("apps")
            .is_empty()
    );
    // A made-up session cookie is no session either.
    let forged = client
        .get(app.url("/console/users"))
        .header("cookie", "sr_console=forged")
        .send()
        .await
        .expect("get");
    assert_eq!(forged.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn forms_need_the_sessions_csrf_token_and_the_consoles_origin() {
    let app = with_admin().await;
    let mgmt = app.management_token().await;
    offline_connector(&app, &mgmt, "crm", "crm").await;
    let user = app.user("erin").await;
    let secret = seed(
        &app,
        "crm",
        &user,
        "crm",
        "erin-1",
        tokens(ACCESS, Some(REFRESH), None, Some(3600), None, None),
    )
    .await;
    let (client, csrf) = signed_in(&app).await;
    let (_, other_csrf) = signed_in(&app).await;
    let action = app.url(&format!(
        "/console/users/{}/connections/social/crm/delete-tokens",
        user
    ));
    for (token, origin, code) in [
        (None, None, "console.csrf_mismatch"),
        (Some("not-the-token"), None, "console.csrf_mismatch"),
        (Some(other_csrf.as_str()), None, "console.csrf_mismatch"),
        (
            Some(csrf.as_str()),
            Some("https://evil.example"),
            "console.cross_origin",
        ),
    ] {
        let mut request = client.post(&action);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        let form: Vec<(&str, &str)> = token.map(|t| vec![("csrf", t)]).unwrap_or_default();
        let response = request.form(&form).send().await.expect("post");
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "{token:?} {origin:?}"
        );
        assert!(
            response.text().await.expect("body").contains(code),
            "{token:?} {origin:?}"
        );
        assert!(
            app.store()
                .get_secret(&secret.id)
                .await
                .expect("get")
                .is_some(),
            "the tokens survive"
        );
    }
    let response = client
        .post(&action)
        .header("origin", app.base.as_str())
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(
        app.store()
            .get_secret(&secret.id)
            .await
            .expect("get")
            .is_none()
    );
}

#[tokio::test]
async fn sign_in_needs_its_form_token_and_locks_after_repeated_failures() {
    let app = with_admin().await;
    // The sign-in form's token must match its cookie (no login CSRF).
    let response = browser()
        .post(app.url("/console/sign-in"))
        .form(&[("csrf", "x"), ("username", "admin"), ("password", PASSWORD)])
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    let client = browser();
    let unknown = client
        .get(app.url("/console/sign-in"))
        .send()
        .await
        .expect("page");
    let csrf = csrf_of(&unknown.text().await.expect("body"));
    let response = client
        .post(app.url("/console/sign-in"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", "nobody"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        response
            .text()
            .await
            .expect("body")
            .contains("Wrong username or password.")
    );

    for attempt in 1..=MAX_FAILED_SIGN_INS {
        let response = sign_in_attempt(&app, &client, "wrong-password").await;
        let expected = if attempt < MAX_FAILED_SIGN_INS {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        assert_eq!(response.status(), expected, "attempt {attempt}");
    }
    let locked = sign_in_attempt(&app, &client, PASSWORD).await;
    assert_eq!(
        locked.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the right password while locked"
    );
    assert!(
        locked
            .text()
            .await
            .expect("body")
            .contains("console.too_many_attempts")
    );

    reset_password(
        app.store(),
        "admin",
        Some(SecretString::from("a-new-password-77")),
        app.state.clock.as_ref(),
    )
    .await
    .expect("reset");
    assert_eq!(
        sign_in_attempt(&app, &client, PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let response = sign_in_attempt(&app, &client, "a-new-password-77").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookie = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("sr_console="))
        .expect("session cookie")
        .to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/console", "Max-Age="] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
}

#[tokio::test]
async fn sign_out_and_password_reset_end_sessions() {
    let app = with_admin().await;
    let (client, csrf) = signed_in(&app).await;
    let response = client
        .post(app.url("/console/sign-out"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let response = client
        .get(app.url("/console/users"))
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);

    let (client, _) = signed_in(&app).await;
    reset_password(app.store(), "admin", None, app.state.clock.as_ref())
        .await
        .expect("reset");
    let response = client
        .get(app.url("/console/users"))
        .send()
        .await
        .expect("get");
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "a reset ends every session"
    );
}

#[tokio::test]
async fn administrators_are_created_once_with_passwords_of_eight_characters() {
    let app = with_admin().await;
    let clock = app.state.clock.as_ref();
    assert!(matches!(
        create_admin(app.store(), "admin", None, clock).await,
        Err(CoreError::Store(StoreError::Conflict(_)))
    ));
    assert!(matches!(
        create_admin(
            app.store(),
            "short",
            Some(SecretString::from("1234567")),
            clock
        )
        .await,
        Err(CoreError::Validation(_))
    ));
    assert!(matches!(
        create_admin(app.store(), "bad name!", None, clock).await,
        Err(CoreError::Validation(_))
    ));
    let generated = create_admin(app.store(), "second", None, clock)
        .await
        .expect("created");
    assert!(
        generated.is_some(),
        "a generated password is returned to be shown"
    );
    assert!(matches!(
        reset_password(app.store(), "ghost", None, clock).await,
        Err(CoreError::Validation(_))
    ));
}

#[tokio::test]
async fn pages_show_metadata_never_token_values_and_carry_security_headers() {
    let app = with_admin().await;
    let mgmt = app.management_token().await;
    offline_connector(&app, &mgmt, "crm", "crm").await;
    let user = app.user("frank").await;
    seed(
        &app,
        "crm",
        &user,
        "crm",
        "frank-1",
        tokens(
            ACCESS,
            Some(REFRESH),
            Some("PLANTED-console-idtoken"),
            Some(3600),
            Some("read write"),
            Some("Bearer"),
        ),
    )
    .await;
    let (client, _) = signed_in(&app).await;
    let connection = format!("/console/users/{user}/connections/social/crm");
    for path in [
        "/console/users".to_owned(),
        "/console/users?search=frank".to_owned(),
        format!("/console/users/{user}"),
        connection.clone(),
        format!("{connection}/delete-tokens"),
        "/console/connectors".to_owned(),
        "/console/connectors/crm".to_owned(),
        format!("/console/audit?user={user}"),
    ] {
        let response = client.get(app.url(&path)).send().await.expect("get");
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers().clone();
        assert!(
            headers[CONTENT_SECURITY_POLICY]
                .to_str()
                .expect("csp")
                .contains("default-src 'none'"),
            "{path}"
        );
        assert_eq!(headers[CACHE_CONTROL], "no-store", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        let text = response.text().await.expect("body");
        assert_absent(
            &text,
            &[ACCESS, REFRESH, "PLANTED-console-idtoken", CLIENT_SECRET],
            &path,
        );
    }
    let (_, detail) = page(&client, &app, &connection).await;
    for shown in [
        "Active",
        "Available",
        "read write",
        "Bearer",
        "Delete tokens",
    ] {
        assert!(
            detail.contains(shown),
            "{shown} missing on the connection page"
        );
    }
    let (_, user_page) = page(&client, &app, &format!("/console/users/{user}")).await;
    assert!(
        user_page.contains(r#"class="status active">Active<"#),
        "{user_page}"
    );
    let (status, _) = page(&client, &app, "/console/users/nobody").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn an_application_secret_is_shown_once_and_redirect_uris_are_edited() {
    let app = with_admin().await;
    let (client, csrf) = signed_in(&app).await;
    let response = client
        .post(app.url("/console/applications"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("name", "Billing"),
            ("type", "Traditional"),
            ("redirectUris", "https://billing.example/cb"),
        ])
        .send()
        .await
        .expect("create");
    assert_eq!(response.status(), StatusCode::CREATED);
    let created = response.text().await.expect("body");
    let rows = app.state.applications.list().await.expect("apps");
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    let marker = r#"id="secret" readonly value=""#;
    let start = created.find(marker).expect("the secret is shown") + marker.len();
    let secret = &created[start..][..created[start..].find('"').expect("end")];
    assert_eq!(
        row.secret_hash.as_deref(),
        Some(token_hash(secret).as_str()),
        "the shown secret is the application's"
    );
    let (_, later) = page(&client, &app, &format!("/console/applications/{}", row.id)).await;
    assert!(!later.contains(secret), "the secret is shown only once");

    let response = client
        .post(app.url(&format!("/console/applications/{}", row.id)))
        .form(&[
            ("csrf", csrf.as_str()),
            ("name", "Billing"),
            (
                "redirectUris",
                "https://billing.example/cb\nhttps://billing.example/cb2",
            ),
        ])
        .send()
        .await
        .expect("save");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let saved = app
        .state
        .applications
        .get(&row.id)
        .await
        .expect("get")
        .expect("app");
    assert_eq!(
        strongroom_core::applications::redirect_uris(&saved),
        ["https://billing.example/cb", "https://billing.example/cb2"]
    );

    // A bad redirect URI: the API's error, in place, with what was typed.
    let response = client
        .post(app.url(&format!("/console/applications/{}", row.id)))
        .form(&[
            ("csrf", csrf.as_str()),
            ("name", "Billing"),
            ("redirectUris", "not-a-uri"),
        ])
        .send()
        .await
        .expect("save");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let text = response.text().await.expect("body");
    assert!(
        text.contains("guard.invalid_input") && text.contains("not-a-uri"),
        "{text}"
    );

    let response = client
        .post(app.url(&format!("/console/applications/{}/delete", row.id)))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("delete");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(
        app.state
            .applications
            .get(&ApplicationId::from(row.id.as_str().to_owned()))
            .await
            .expect("get")
            .is_none()
    );
}

#[tokio::test]
async fn connector_forms_show_api_errors_in_place_and_switch_storage() {
    let app = with_admin().await;
    let (client, csrf) = signed_in(&app).await;
    // An OIDC connector without its issuer: the API's code, the typed values kept.
    let response = client
        .post(app.url("/console/connectors/new?factory=oidc"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("metadata.target", "acme"),
            ("config.clientId", "typed-client-id"),
            ("config.clientSecret", "s3cret-typed"),
        ])
        .send()
        .await
        .expect("create");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let text = response.text().await.expect("body");
    assert!(
        text.contains("role=\"alert\"")
            && text.contains("connector.")
            && text.contains("typed-client-id"),
        "{text}"
    );
    assert!(
        !text.contains("s3cret-typed"),
        "a typed secret is not echoed back"
    );
    assert!(
        app.state
            .connectors
            .list(None)
            .await
            .expect("list")
            .is_empty()
    );

    let response = client
        .post(app.url("/console/connectors/new?factory=github"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("config.clientId", "gh-id"),
            ("config.clientSecret", "gh-secret"),
            ("enableTokenStorage", "on"),
        ])
        .send()
        .await
        .expect("create");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let rows = app.state.connectors.list(None).await.expect("list");
    assert_eq!((rows.len(), rows[0].enable_token_storage), (1, true));
    let id = rows[0].id.clone();
    // Saving without the secret keeps it; unchecking the switch turns storage off.
    let response = client
        .post(app.url(&format!("/console/connectors/{id}")))
        .form(&[("csrf", csrf.as_str()), ("config.clientId", "gh-id-2")])
        .send()
        .await
        .expect("save");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let row = app.state.connectors.get(&id).await.expect("get");
    assert!(!row.enable_token_storage);
    assert_eq!(row.config["clientId"], json!("gh-id-2"));
    let social = app
        .state
        .connectors
        .social(&row)
        .expect("the stored secret still opens");
    drop(social);
    let (_, form) = page(&client, &app, &format!("/console/connectors/{id}")).await;
    assert!(
        !form.contains("gh-secret"),
        "the client secret is never shown"
    );
}

#[tokio::test]
async fn token_exchange_is_set_on_the_application_page_and_a_worker_is_shown_as_break_glass() {
    let app = with_admin().await;
    let (client, csrf) = signed_in(&app).await;
    let (row, _) = app.application("MachineToMachine", &[]).await;
    let path = format!("/console/applications/{}", row.id);
    let (_, before) = page(&client, &app, &path).await;
    assert!(
        before.contains("Token exchange") && !before.contains("Break-glass access is on"),
        "{before}"
    );
    let public = r#"{"keys": [{"kty": "EC", "crv": "P-256", "kid": "w1",
        "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;
    let save = |fields: Vec<(&'static str, String)>| {
        let mut form = vec![
            ("csrf", csrf.clone()),
            ("name", "Nightly worker".to_owned()),
        ];
        form.extend(fields);
        client.post(app.url(&path)).form(&form).send()
    };
    // A private key is refused in place, with what was typed.
    let private = public.replace(
        r#""kid": "w1","#,
        r#""kid": "w1", "d": "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI","#,
    );
    let response = save(vec![
        ("worker", "on".into()),
        (
            "exchangeConnectors",
            "urn:strongroom:connector:github".into(),
        ),
        ("jwks", private),
    ])
    .await
    .expect("save");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let text = response.text().await.expect("body");
    assert!(text.contains("public keys only"), "{text}");
    let stored = app
        .state
        .applications
        .get(&row.id)
        .await
        .expect("get")
        .expect("app");
    assert!(!stored.token_exchange.worker, "nothing was saved");

    let response = save(vec![
        ("exchangeEnabled", "on".into()),
        ("worker", "on".into()),
        (
            "exchangeConnectors",
            "urn:strongroom:connector:github\nurn:strongroom:connector:google".into(),
        ),
        ("jwks", public.into()),
    ])
    .await
    .expect("save");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let stored = app
        .state
        .applications
        .get(&row.id)
        .await
        .expect("get")
        .expect("app");
    assert!(stored.token_exchange.enabled && stored.token_exchange.worker);
    assert_eq!(
        stored.token_exchange.connectors,
        [
            "urn:strongroom:connector:github",
            "urn:strongroom:connector:google"
        ]
    );
    let (_, after) = page(&client, &app, &path).await;
    assert!(after.contains("Break-glass access is on"), "{after}");
    assert!(
        after.contains("&#34;w1&#34;"),
        "the registered key is shown: {after}"
    );

    // The audit view filters by application.
    let (status, audit_page) = page(
        &client,
        &app,
        &format!("/console/audit?application={}", row.id),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(audit_page.contains("Application id"), "{audit_page}");
}
