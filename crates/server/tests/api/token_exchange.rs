//! Token exchange (RFC 8693, issue #12): an application an administrator allowed trades a
//! user's Strongroom access or refresh token for that user's provider token; a break-glass
//! worker names the user and proves itself with `private_key_jwt`. The happy paths are driven
//! by openid-client (e2e/exchange.mjs) against the real upstream with rotating refresh tokens;
//! each refusal answers its RFC error and Strongroom's code, and every read is audited with its
//! application, actor and purpose.

use crate::support;

use reqwest::Method;
use serde_json::{Value, json};
use strongroom_core::ExposeSecret;
use support::upstream::run_script;
use support::vault::{assert_absent, audit, offline_connector, seed, tokens};
use support::world::{TTL, World};
use support::{TestApp, UserTokens};

const GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS: &str = "urn:ietf:params:oauth:token-type:access_token";
const REFRESH: &str = "urn:ietf:params:oauth:token-type:refresh_token";
const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";
const USER_ID: &str = "urn:strongroom:params:oauth:token-type:user_id";
/// The World's connection: the `oidc` connector's target.
const RESOURCE: &str = "urn:strongroom:connector:oidc";

/// Sets an application's token exchange settings through the Management API.
async fn allow(app: &TestApp, management: &str, id: &str, settings: Value) -> (u16, Value) {
    app.api(
        management,
        Method::PATCH,
        &format!("/api/applications/{id}"),
        Some(json!({ "tokenExchange": settings })),
    )
    .await
}

/// A token request by `client` (HTTP Basic) with `form`: status and body.
async fn token(app: &TestApp, client: (&str, &str), form: &[(&str, &str)]) -> (u16, Value) {
    let response = app
        .http
        .post(app.url("/oidc/token"))
        .basic_auth(client.0, Some(client.1))
        .form(form)
        .send()
        .await
        .expect("token request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// An exchange of `subject` (an access token) for [`RESOURCE`], plus `extra` parameters.
async fn exchange(
    app: &TestApp,
    client: (&str, &str),
    subject: &str,
    extra: &[(&str, &str)],
) -> (u16, Value) {
    let mut form = vec![
        ("grant_type", GRANT),
        ("subject_token", subject),
        ("subject_token_type", ACCESS),
        ("resource", RESOURCE),
    ];
    for (key, value) in extra {
        form.retain(|(k, _)| k != key);
        form.push((key, value));
    }
    token(app, client, &form).await
}

/// A refusal: status, `error` and `code`.
type Refusal<'a> = (u16, &'a str, &'a str);

/// The refusal of an answer.
fn refusal(answer: &(u16, Value)) -> Refusal<'_> {
    (
        answer.0,
        answer.1["error"].as_str().unwrap_or("-"),
        answer.1["code"].as_str().unwrap_or("-"),
    )
}

fn credentials(t: &UserTokens) -> (&str, &str) {
    (t.client.id.as_str(), t.secret.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_real_client_exchanges_every_subject_type_and_fifty_exchanges_refresh_once() {
    let w = World::signed_in(
        "openid offline_access",
        "openid identities offline_access",
        5,
    )
    .await;
    let (backend, secret) = (&w.client.0, w.client.1.as_str());
    let refresh = w.refresh.clone().expect("a Strongroom refresh token");
    let (worker, worker_secret) = w.app.application("MachineToMachine", &[]).await;
    let worker_secret = worker_secret.expect("secret");
    // An agent acting through the backend holds its own Strongroom token.
    let agent = w.app.user("agent").await;
    let agent_tokens = w.app.user_tokens(&agent, "openid").await;

    let keys = run_script("exchange.mjs", json!({"mode": "keys"})).await;
    assert_eq!(keys["ok"], true, "{keys}");
    let (status, body) = allow(
        &w.app,
        &w.management,
        backend.id.as_str(),
        json!({"enabled": true, "connectors": [RESOURCE]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["tokenExchange"],
        json!({"enabled": true, "connectors": [RESOURCE], "actFor": [], "worker": false})
    );
    let (status, body) = allow(
        &w.app,
        &w.management,
        worker.id.as_str(),
        json!({"worker": true, "connectors": [RESOURCE], "jwks": {"keys": [keys["publicJwk"]]}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    let stored = w.secret().await;
    let provider_token = w
        .app
        .state
        .token_sets
        .open(&stored)
        .expect("open")
        .access_token
        .expose_secret()
        .to_owned();
    let out = run_script(
        "exchange.mjs",
        json!({
            "mode": "exchange",
            "issuer": w.app.url("/oidc"),
            "backend": {"id": backend.id, "secret": secret},
            "worker": {"id": worker.id, "secret": worker_secret, "privateJwk": keys["privateJwk"]},
            "subject": {"access": w.bearer, "refresh": refresh},
            "actor": agent_tokens.access,
            "resource": RESOURCE,
            "unlistedResource": "urn:strongroom:connector:github",
            "userId": w.user,
            "purpose": "sync the user's calendar",
        }),
    )
    .await;
    assert_eq!(out["ok"], true, "{out:#}");

    // Each subject type gets the user's provider token, and nothing else.
    let expected = json!({
        "access_token": provider_token,
        "issued_token_type": ACCESS,
        "refresh_token": false,
        "id_token": false,
    });
    for answer in [
        &out["accessSubject"],
        &out["refreshSubject"][0],
        &out["refreshSubject"][1],
        &out["worker"],
    ] {
        for (key, value) in expected.as_object().expect("object") {
            assert_eq!(&answer[key], value, "{key} of {answer:#}");
        }
        // openid-client reports the token type in lower case.
        assert_eq!(answer["token_type"], "bearer", "{answer:#}");
        let expires_in = answer["expires_in"].as_i64().expect("expires_in");
        assert!((TTL - 30..=TTL).contains(&expires_in), "{answer}");
    }
    // The refresh token was neither used up nor rotated: it still refreshes.
    let (status, refreshed) = token(
        &w.app,
        (backend.id.as_str(), secret),
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!(status, 200, "{refreshed}");

    assert_eq!(
        (
            out["notListed"]["error"].as_str(),
            out["notListed"]["code"].as_str()
        ),
        (
            Some("invalid_target"),
            Some("token_exchange.connector_not_listed")
        ),
        "{out:#}"
    );
    // Worker assertions: unsigned, replayed and too long-lived ones are refused.
    assert_eq!(out["unsigned"]["status"], 401, "{out:#}");
    assert_eq!(out["unsigned"]["body"]["error"], "invalid_client");
    assert_eq!(out["replay"][0]["status"], 200, "{out:#}");
    assert_eq!(out["replay"][1]["status"], 401, "{out:#}");
    assert!(
        out["replay"][1]["body"]["error_description"]
            .as_str()
            .is_some_and(|d| d.contains("used before")),
        "{out:#}"
    );
    assert_eq!(out["longLived"]["status"], 401, "{out:#}");
    assert_eq!(
        out["workerWithSecret"]["error"], "unauthorized_client",
        "{out:#}"
    );
    assert_eq!(
        out["workerWithSecret"]["code"],
        "token_exchange.private_key_jwt_required"
    );

    // The trail says who read, how, for whom and why; never the token.
    w.app.state.settled().await;
    let reads = audit(
        &w.app,
        &w.management,
        &format!("applicationId={}&action=token.read", backend.id),
    )
    .await;
    let with_actor = reads
        .iter()
        .find(|e| e["detail"]["actor"].is_object())
        .unwrap_or_else(|| panic!("{reads:#?}"));
    assert_eq!(with_actor["outcome"], "success");
    assert_eq!(with_actor["actorType"], "application");
    assert_eq!(with_actor["actorId"], backend.id.as_str());
    assert_eq!(with_actor["applicationId"], backend.id.as_str());
    assert_eq!(with_actor["userId"], w.user.as_str());
    assert_eq!(with_actor["target"], "oidc");
    assert_eq!(with_actor["detail"]["via"], "token_exchange");
    assert_eq!(with_actor["detail"]["purpose"], "sync the user's calendar");
    assert_eq!(
        with_actor["detail"]["actor"],
        json!({"applicationId": agent_tokens.client.id, "userId": agent})
    );
    let worker_reads = audit(
        &w.app,
        &w.management,
        &format!("applicationId={}&action=token.read", worker.id),
    )
    .await;
    assert!(
        worker_reads.iter().any(|e| e["outcome"] == "success"
            && e["detail"]["via"] == "worker"
            && e["detail"]["breakGlass"] == true
            && e["detail"]["purpose"] == "nightly sync"),
        "{worker_reads:#?}"
    );
    let trail = serde_json::to_string(&[&reads, &worker_reads]).expect("json");
    assert_absent(
        &trail,
        &[&provider_token, &w.bearer, &refresh, &agent_tokens.access],
        "the audit trail",
    );

    // Fifty concurrent exchanges of an expired set: one upstream refresh, one new token for
    // all, and the grant lives on.
    let before = w.refreshes().await;
    w.expire().await;
    w.upstream.fault("delay", 1).await;
    let out = run_script(
        "exchange.mjs",
        json!({
            "mode": "concurrent",
            "count": 50,
            "issuer": w.app.url("/oidc"),
            "backend": {"id": backend.id, "secret": secret},
            "subject": {"access": w.bearer},
            "resource": RESOURCE,
        }),
    )
    .await;
    assert_eq!(out["ok"], true, "{out:#}");
    let issued: std::collections::HashSet<&str> = out["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["access_token"].as_str().unwrap_or_else(|| panic!("{r}")))
        .collect();
    assert_eq!(issued.len(), 1, "{out:#}");
    let fresh = issued.into_iter().next().expect("token");
    assert_ne!(fresh, provider_token);
    assert_eq!(
        w.refreshes().await,
        before + 1,
        "exactly one upstream refresh"
    );
    assert!(w.upstream_accepts(fresh).await, "the grant lives on");
}

#[tokio::test]
async fn every_refusal_answers_its_rfc_error_and_code() {
    let app = TestApp::spawn().await;
    let management = app.management_token().await;
    offline_connector(&app, &management, "oidc-offline", "oidc").await;
    let user = app.user("ursula").await;
    seed(
        &app,
        "oidc-offline",
        &user,
        "oidc",
        "ursula-upstream",
        tokens("PROVIDER-access-7f3a", None, None, Some(3600), None, None),
    )
    .await;
    let backend = app.user_tokens(&user, "openid identities").await;
    let other = app.user_tokens(&user, "openid identities").await;
    let narrow = app.user_tokens(&user, "openid").await;
    let creds = credentials(&backend);

    // Not enabled.
    assert_eq!(
        refusal(&exchange(&app, creds, &backend.access, &[]).await),
        (400, "unauthorized_client", "token_exchange.not_enabled")
    );
    let listed =
        json!({"enabled": true, "connectors": [RESOURCE, "urn:strongroom:connector:github"]});
    for t in [&backend, &other, &narrow] {
        let (status, body) = allow(&app, &management, t.client.id.as_str(), listed.clone()).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, ok) = exchange(&app, creds, &backend.access, &[("audience", RESOURCE)]).await;
    assert_eq!(status, 200, "{ok}");
    assert_eq!(ok["access_token"], "PROVIDER-access-7f3a");

    let cases: Vec<(&str, (u16, Value), Refusal)> = vec![
        (
            "a subject token of another application",
            exchange(&app, credentials(&other), &backend.access, &[]).await,
            (
                400,
                "invalid_request",
                "token_exchange.subject_of_another_application",
            ),
        ),
        (
            "an ID token as the subject",
            exchange(
                &app,
                creds,
                "eyJhbGciOiJSUzI1NiJ9.e30.sig",
                &[("subject_token_type", ID_TOKEN)],
            )
            .await,
            (
                400,
                "invalid_request",
                "token_exchange.unsupported_subject_token_type",
            ),
        ),
        (
            "an unknown subject token",
            exchange(&app, creds, "no-such-token", &[]).await,
            (
                400,
                "invalid_request",
                "token_exchange.invalid_subject_token",
            ),
        ),
        (
            "an access token as a refresh token",
            exchange(
                &app,
                creds,
                &backend.access,
                &[("subject_token_type", REFRESH)],
            )
            .await,
            (
                400,
                "invalid_request",
                "token_exchange.invalid_subject_token",
            ),
        ),
        (
            "a subject without the identities scope",
            exchange(&app, credentials(&narrow), &narrow.access, &[]).await,
            (
                400,
                "invalid_request",
                "token_exchange.subject_without_identities_scope",
            ),
        ),
        (
            "no resource",
            token(
                &app,
                creds,
                &[
                    ("grant_type", GRANT),
                    ("subject_token", &backend.access),
                    ("subject_token_type", ACCESS),
                ],
            )
            .await,
            (400, "invalid_request", "token_exchange.missing_target"),
        ),
        (
            "resource and audience that differ",
            exchange(
                &app,
                creds,
                &backend.access,
                &[("audience", "urn:strongroom:connector:github")],
            )
            .await,
            (400, "invalid_request", "token_exchange.invalid_target"),
        ),
        (
            "a resource that names no connection",
            exchange(
                &app,
                creds,
                &backend.access,
                &[("resource", "https://api.github.com")],
            )
            .await,
            (400, "invalid_target", "token_exchange.unknown_target"),
        ),
        (
            "a connection that is not listed",
            exchange(
                &app,
                creds,
                &backend.access,
                &[("resource", "urn:strongroom:connector:google")],
            )
            .await,
            (400, "invalid_target", "token_exchange.connector_not_listed"),
        ),
        (
            "a listed connection without a stored set",
            exchange(
                &app,
                creds,
                &backend.access,
                &[("resource", "urn:strongroom:connector:github")],
            )
            .await,
            (
                400,
                "invalid_target",
                "secrets.third_party_token_set.token_not_found",
            ),
        ),
        (
            "a refresh token asked for",
            exchange(
                &app,
                creds,
                &backend.access,
                &[("requested_token_type", REFRESH)],
            )
            .await,
            (
                400,
                "invalid_request",
                "token_exchange.unsupported_requested_token_type",
            ),
        ),
        (
            "an unknown actor token",
            exchange(
                &app,
                creds,
                &backend.access,
                &[("actor_token", "nobody"), ("actor_token_type", ACCESS)],
            )
            .await,
            (400, "invalid_request", "token_exchange.invalid_actor_token"),
        ),
        (
            "a purpose over 200 characters",
            exchange(
                &app,
                creds,
                &backend.access,
                &[("purpose", &"p".repeat(201))],
            )
            .await,
            (400, "invalid_request", "token_exchange.invalid_purpose"),
        ),
        (
            "a user id without the worker grant",
            exchange(
                &app,
                creds,
                user.as_str(),
                &[("subject_token_type", USER_ID)],
            )
            .await,
            (
                400,
                "unauthorized_client",
                "token_exchange.worker_not_allowed",
            ),
        ),
        (
            "a wrong client secret",
            exchange(
                &app,
                (backend.client.id.as_str(), "wrong"),
                &backend.access,
                &[],
            )
            .await,
            (401, "invalid_client", "oidc.invalid_client"),
        ),
    ];
    for (case, answer, expected) in &cases {
        assert_eq!(&refusal(answer), expected, "{case}: {}", answer.1);
        assert_absent(&answer.1.to_string(), &["PROVIDER-access-7f3a"], case);
    }

    // Acting for another application is an administrator's decision.
    let (status, body) = allow(
        &app,
        &management,
        other.client.id.as_str(),
        json!({"enabled": true, "connectors": [RESOURCE], "actFor": [backend.client.id]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = exchange(&app, credentials(&other), &backend.access, &[]).await;
    assert_eq!(status, 200, "{body}");

    // Settings are cached with the application; a change reaches every process at once (this
    // one) or within the revocation poll (another one on the same database).
    let sibling = app.sibling().await;
    let at_sibling = || {
        let request = app
            .http
            .post(format!("{}/oidc/token", sibling.base))
            .basic_auth(other.client.id.as_str(), Some(&other.secret))
            .form(&[
                ("grant_type", GRANT),
                ("subject_token", backend.access.as_str()),
                ("subject_token_type", ACCESS),
                ("resource", RESOURCE),
            ]);
        async move {
            let response = request.send().await.expect("exchange");
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    assert_eq!(
        at_sibling().await.0,
        200,
        "the sibling caches the application"
    );
    let (status, body) = allow(
        &app,
        &management,
        other.client.id.as_str(),
        json!({"enabled": false}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        refusal(&exchange(&app, credentials(&other), &backend.access, &[]).await),
        (400, "unauthorized_client", "token_exchange.not_enabled"),
        "this process: at once"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        let answer = at_sibling().await;
        match refusal(&answer) {
            (400, "unauthorized_client", "token_exchange.not_enabled") => break,
            _ if std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            other => panic!("the other process still answers {other:?} after two seconds"),
        }
    }

    // A revoked subject token stops working at once.
    let revoked = app
        .http
        .post(app.url("/oidc/token/revocation"))
        .basic_auth(creds.0, Some(creds.1))
        .form(&[("token", backend.access.as_str())])
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoked.status(), 200);
    assert_eq!(
        refusal(&exchange(&app, creds, &backend.access, &[]).await),
        (
            400,
            "invalid_request",
            "token_exchange.invalid_subject_token"
        )
    );

    // A third-party application can never exchange, whatever its settings say.
    let (status, third) = app
        .api(
            &management,
            Method::POST,
            "/api/applications",
            Some(
                json!({"name": "partner", "type": "Traditional", "isThirdParty": true,
                "allowProviderTokens": true}),
            ),
        )
        .await;
    assert_eq!(status, 200, "{third}");
    let third_creds = (
        third["id"].as_str().expect("id"),
        third["secret"].as_str().expect("secret"),
    );
    assert_eq!(
        refusal(&exchange(&app, third_creds, &other.access, &[]).await),
        (400, "unauthorized_client", "token_exchange.third_party")
    );
}

#[tokio::test]
async fn settings_are_validated_and_off_by_default() {
    let app = TestApp::spawn().await;
    let management = app.management_token().await;
    let (traditional, _) = app
        .application("Traditional", &["https://a.example/cb"])
        .await;
    let (spa, _) = app.application("SPA", &["https://a.example/cb"]).await;
    let (status, body) = app
        .api(
            &management,
            Method::GET,
            &format!("/api/applications/{}", traditional.id),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        body["tokenExchange"],
        json!({"enabled": false, "connectors": [], "actFor": [], "worker": false})
    );
    let public = json!({"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0", "kid": "k1"});
    let mut private = public.clone();
    private["d"] = json!("jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI");
    let cases = [
        (
            &traditional,
            json!({"connectors": ["github"]}),
            "names no connection",
        ),
        (&traditional, json!({"actFor": ["no-such-app"]}), "actFor"),
        (&traditional, json!({"actFor": [traditional.id]}), "actFor"),
        (&traditional, json!({"worker": true}), "private_key_jwt"),
        (
            &traditional,
            json!({"jwks": {"keys": [private]}}),
            "public keys only",
        ),
        (&traditional, json!({"jwks": {"keys": []}}), "1 to 10 keys"),
        (
            &traditional,
            json!({"jwks": {"keys": [{"kty": "oct", "x": "y"}]}}),
            "public signing key",
        ),
        (&spa, json!({"jwks": {"keys": [public]}}), "confidential"),
        (&traditional, json!({"enabled": "yes"}), ""),
        (&traditional, json!({"unknownField": true}), ""),
    ];
    for (app_row, settings, says) in cases {
        let (status, body) = allow(&app, &management, app_row.id.as_str(), settings.clone()).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("guard.invalid_input")),
            "{settings}: {body}"
        );
        assert!(
            body["message"].as_str().is_some_and(|m| m.contains(says)),
            "{settings}: {body}"
        );
    }
    let (status, body) = allow(
        &app,
        &management,
        traditional.id.as_str(),
        json!({"worker": true, "jwks": {"keys": [public]}, "connectors": [RESOURCE, "urn:strongroom:sso-connector:abc"]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tokenExchange"]["jwks"]["keys"][0]["kid"], "k1");

    // A third-party application cannot be given the grant.
    let (status, third) = app
        .api(
            &management,
            Method::POST,
            "/api/applications",
            Some(
                json!({"name": "partner", "type": "Traditional", "isThirdParty": true,
                "tokenExchange": {"enabled": true}}),
            ),
        )
        .await;
    assert_eq!(
        (status, third["code"].as_str()),
        (400, Some("guard.invalid_input")),
        "{third}"
    );
}

#[tokio::test]
async fn account_api_reads_carry_their_application_and_purpose_into_the_trail() {
    let app = TestApp::spawn().await;
    let management = app.management_token().await;
    offline_connector(&app, &management, "oidc-offline", "oidc").await;
    let user = app.user("petra").await;
    seed(
        &app,
        "oidc-offline",
        &user,
        "oidc",
        "petra-upstream",
        tokens("PROVIDER-access-91bc", None, None, Some(3600), None, None),
    )
    .await;
    let mine = app.user_tokens(&user, "openid identities").await;
    let path = "/api/my-account/identities/oidc/access-token";
    let read = |purpose: Option<String>| {
        let mut request = app.http.get(app.url(path)).bearer_auth(&mine.access);
        if let Some(p) = purpose {
            request = request.header("Strongroom-Purpose", p);
        }
        async move {
            let response = request.send().await.expect("read");
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (status, body) = read(Some("show the repositories".into())).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = read(Some("x".repeat(201))).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("guard.invalid_input")),
        "{body}"
    );
    app.state.settled().await;
    let events = audit(
        &app,
        &management,
        &format!("applicationId={}", mine.client.id),
    )
    .await;
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["applicationId"], mine.client.id.as_str());
    assert_eq!(events[0]["actorType"], "user");
    assert_eq!(events[0]["detail"]["via"], "account_api");
    assert_eq!(events[0]["detail"]["purpose"], "show the repositories");
    let others = audit(&app, &management, "applicationId=someone-else").await;
    assert!(others.is_empty(), "{others:#?}");
}
