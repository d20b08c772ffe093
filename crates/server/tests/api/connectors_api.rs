//! Management API: connector factories, social connectors and enterprise SSO connectors.

use crate::support;

use reqwest::Method;
use serde_json::{Value, json};
use strongroom_core::store::{ConnectorId, IdentityKey, SsoConnectorId, UserId};
use strongroom_core::token_sets::TokenResponse;
use support::TestApp;

fn github_config() -> Value {
    json!({"clientId": "gh-client", "clientSecret": "gh-secret-planted-1234567890"})
}

fn response(access: &str) -> TokenResponse {
    TokenResponse {
        access_token: access.to_owned().into(),
        id_token: None,
        refresh_token: Some("refresh".to_owned().into()),
        expires_in: Some(3600),
        scope: Some("read:user".into()),
        token_type: Some("bearer".into()),
    }
}

/// A user with an identity at `target` and a token set stored through connector `id`.
async fn user_with_token_set(app: &TestApp, id: &str, target: &str) -> UserId {
    let name = format!("u{}", strongroom_core::store::new_id());
    let user = app.user(&name).await;
    let identity = app
        .store()
        .link_social_identity(&user, target, &name, &json!({}), 0)
        .await
        .expect("link");
    app.state
        .token_sets
        .store_social(&ConnectorId::from(id), &identity, response("at"))
        .await
        .expect("store");
    user
}

#[tokio::test]
async fn factories_list_every_social_connector_with_token_storage_support() {
    let app = TestApp::spawn().await;
    let token = app.management_token().await;
    let (status, factories) = app
        .api(&token, Method::GET, "/api/connector-factories", None)
        .await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = factories
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|f| f["id"].as_str())
        .collect();
    assert_eq!(ids, ["github", "google", "facebook", "oauth2", "oidc"]);
    for f in factories.as_array().expect("array") {
        assert_eq!(
            (f["type"].as_str(), f["isTokenStorageSupported"].as_bool()),
            (Some("Social"), Some(true)),
            "{f}"
        );
        assert!(
            f["formItems"]
                .as_array()
                .is_some_and(|items| items.iter().any(|i| i["key"] == "clientId")),
            "{f}"
        );
    }
    let (status, github) = app
        .api(
            &token,
            Method::GET,
            "/api/connector-factories/github-universal",
            None,
        )
        .await;
    assert_eq!(
        (status, github["id"].as_str(), github["target"].as_str()),
        (200, Some("github"), Some("github"))
    );
    let (status, body) = app
        .api(&token, Method::GET, "/api/connector-factories/nope", None)
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("entity.not_found"))
    );
}

#[tokio::test]
async fn social_connector_crud_with_logto_validation() {
    let app = TestApp::spawn().await;
    let token = app.management_token().await;
    let api = |m: Method, path: &str, body: Option<Value>| app.api(&token, m, path, body);

    // Logto's factory id is accepted; the secret is sealed and never returned.
    let (status, gh) = api(
        Method::POST,
        "/api/connectors",
        Some(json!({"connectorId": "github-universal", "config": github_config()})),
    )
    .await;
    assert_eq!(status, 200, "{gh}");
    let id = gh["id"].as_str().expect("id").to_owned();
    assert_eq!(
        (gh["connectorId"].as_str(), gh["target"].as_str()),
        (Some("github-universal"), Some("github"))
    );
    assert_eq!(
        (
            gh["enableTokenStorage"].as_bool(),
            gh["isTokenStorageSupported"].as_bool()
        ),
        (Some(false), Some(true))
    );
    assert_eq!(gh["config"], json!({"clientId": "gh-client"}));
    let row = app
        .store()
        .get_connector(&ConnectorId::from(id.clone()))
        .await
        .expect("get")
        .expect("row");
    assert!(!row.config.to_string().contains("gh-secret") && row.sealed_config.is_some());

    for (body, status, code) in [
        (
            json!({"connectorId": "github", "config": github_config()}),
            422,
            "connector.multiple_instances_not_supported",
        ),
        (
            json!({"connectorId": "myspace"}),
            422,
            "connector.not_found_with_connector_id",
        ),
        (
            json!({"connectorId": "google", "config": {"clientId": "x"}}),
            400,
            "connector.invalid_config",
        ),
        (
            json!({"connectorId": "google", "config": {"clientId": "x", "clientSecret": "y"}, "metadata": {"target": "g"}}),
            400,
            "connector.cannot_overwrite_metadata_for_non_standard_connector",
        ),
        (
            json!({"connectorId": "oidc", "config": {"clientId": "x", "clientSecret": "y"}}),
            400,
            "connector.invalid_config",
        ),
        (json!({"config": {}}), 400, "guard.invalid_input"),
        // Valid in every other way, with the id of an existing connector.
        (
            json!({"id": id, "connectorId": "oidc", "metadata": {"target": "oidc-taken-id"},
                   "config": {"issuer": "https://idp.example", "clientId": "x", "clientSecret": "y"}}),
            409,
            "entity.conflict",
        ),
    ] {
        let (got, answer) = api(Method::POST, "/api/connectors", Some(body.clone())).await;
        assert_eq!(
            (got, answer["code"].as_str()),
            (status, Some(code)),
            "{body} -> {answer}"
        );
        assert!(!answer.to_string().contains("gh-secret"), "{answer}");
    }
    // The refused create with a taken id left that connector as it was.
    let (_, kept) = api(Method::GET, &format!("/api/connectors/{id}"), None).await;
    assert_eq!(kept["connectorId"], "github-universal", "{kept}");

    // Standard connectors take a target; two connectors cannot share one.
    let oauth2 = json!({"authorizationEndpoint": "https://idp.example/auth", "tokenEndpoint": "https://idp.example/token",
        "userInfoEndpoint": "https://idp.example/me", "clientId": "c", "clientSecret": "s"});
    let (status, first) = api(Method::POST, "/api/connectors",
        Some(json!({"connectorId": "oauth2", "config": oauth2, "metadata": {"target": "acme", "name": {"en": "Acme"}}}))).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(
        (first["target"].as_str(), first["name"]["en"].as_str()),
        (Some("acme"), Some("Acme"))
    );
    let (status, body) = api(
        Method::POST,
        "/api/connectors",
        Some(json!({"connectorId": "oauth2", "config": oauth2, "metadata": {"target": "acme"}})),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("connector.multiple_target_with_same_platform"))
    );
    // The generic OIDC connector works from an issuer alone.
    let (status, oidc) = api(Method::POST, "/api/connectors",
        Some(json!({"connectorId": "oidc", "config": {"issuer": "https://idp.example", "clientId": "x", "clientSecret": "y"}}))).await;
    assert_eq!(
        (status, oidc["target"].as_str()),
        (200, Some("oidc")),
        "{oidc}"
    );

    let first_id = first["id"].as_str().expect("id").to_owned();
    let (status, body) = api(
        Method::PATCH,
        &format!("/api/connectors/{first_id}"),
        Some(json!({"metadata": {"target": "other"}})),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("connector.can_not_modify_target"))
    );

    // PATCH config without clientSecret keeps the sealed one.
    let (status, patched) = api(
        Method::PATCH,
        &format!("/api/connectors/{id}"),
        Some(json!({"config": {"clientId": "gh-client-2"}})),
    )
    .await;
    assert_eq!(
        (status, patched["config"]["clientId"].as_str()),
        (200, Some("gh-client-2")),
        "{patched}"
    );
    let row = app
        .store()
        .get_connector(&ConnectorId::from(id.clone()))
        .await
        .expect("get")
        .expect("row");
    assert!(
        app.state.connectors.social(&row).is_ok(),
        "the client secret must survive a PATCH without it"
    );

    let (status, list) = api(Method::GET, "/api/connectors?target=github", None).await;
    assert_eq!((status, list.as_array().map(Vec::len)), (200, Some(1)));
    assert_eq!(list[0]["id"], json!(id));
    let (status, all) = api(Method::GET, "/api/connectors", None).await;
    assert_eq!((status, all.as_array().map(Vec::len)), (200, Some(3)));
    assert!(!all.to_string().contains("gh-secret"));

    let (status, _) = api(Method::DELETE, &format!("/api/connectors/{id}"), None).await;
    assert_eq!(status, 204);
    for method in [Method::GET, Method::DELETE, Method::PATCH] {
        let body = (method == Method::PATCH).then(|| json!({}));
        let (status, answer) = api(method.clone(), &format!("/api/connectors/{id}"), body).await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (404, Some("entity.not_exists_with_id")),
            "{method}"
        );
    }
}

#[tokio::test]
async fn token_storage_switch_and_deletion_remove_token_sets() {
    let app = TestApp::spawn().await;
    let token = app.management_token().await;
    let (status, gh) = app
        .api(&token, Method::POST, "/api/connectors", Some(json!({"id": "gh", "connectorId": "github", "config": github_config(), "enableTokenStorage": true})))
        .await;
    assert_eq!(
        (status, gh["enableTokenStorage"].as_bool()),
        (200, Some(true)),
        "{gh}"
    );
    let alice = user_with_token_set(&app, "gh", "github").await;
    assert!(
        app.store()
            .find_secret(&alice, &IdentityKey::Social("github".to_owned()))
            .await
            .expect("find")
            .is_some()
    );

    // Another PATCH that leaves storage on keeps the set; switching it off deletes it.
    let (status, _) = app
        .api(
            &token,
            Method::PATCH,
            "/api/connectors/gh",
            Some(json!({"syncProfile": true})),
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        app.store()
            .find_secret(&alice, &IdentityKey::Social("github".to_owned()))
            .await
            .expect("find")
            .is_some()
    );
    let (status, off) = app
        .api(
            &token,
            Method::PATCH,
            "/api/connectors/gh",
            Some(json!({"enableTokenStorage": false})),
        )
        .await;
    assert_eq!(
        (status, off["enableTokenStorage"].as_bool()),
        (200, Some(false))
    );
    assert!(
        app.store()
            .find_secret(&alice, &IdentityKey::Social("github".to_owned()))
            .await
            .expect("find")
            .is_none()
    );

    // Deleting the connector deletes its token sets; identities stay, as in Logto.
    let (status, _) = app
        .api(
            &token,
            Method::PATCH,
            "/api/connectors/gh",
            Some(json!({"enableTokenStorage": true})),
        )
        .await;
    assert_eq!(status, 200);
    let bob = user_with_token_set(&app, "gh", "github").await;
    let (status, _) = app
        .api(&token, Method::DELETE, "/api/connectors/gh", None)
        .await;
    assert_eq!(status, 204);
    assert!(
        app.store()
            .find_secret(&bob, &IdentityKey::Social("github".to_owned()))
            .await
            .expect("find")
            .is_none()
    );
    assert!(
        app.store()
            .get_social_identity(&bob, "github")
            .await
            .expect("get")
            .is_some()
    );
}

#[tokio::test]
async fn sso_connector_crud_and_validation() {
    let app = TestApp::spawn().await;
    let token = app.management_token().await;
    let api = |m: Method, path: &str, body: Option<Value>| app.api(&token, m, path, body);
    let (status, created) = api(Method::POST, "/api/sso-connectors",
        Some(json!({"providerName": "OIDC", "connectorName": "Acme", "domains": ["acme.example", "@Corp.Example"], "enableTokenStorage": true}))).await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["domains"], json!(["acme.example", "corp.example"]));
    assert_eq!(
        (
            created["enableTokenStorage"].as_bool(),
            created["providerType"].as_str()
        ),
        (Some(true), Some("oidc"))
    );
    let id = created["id"].as_str().expect("id").to_owned();

    for (body, status, code) in [
        (
            json!({"providerName": "SAML", "connectorName": "x"}),
            422,
            "connector.not_found",
        ),
        (
            json!({"providerName": "OIDC", "connectorName": "Acme"}),
            422,
            "single_sign_on.duplicate_connector_name",
        ),
        (
            json!({"providerName": "OIDC", "connectorName": "y", "domains": ["gmail.com"]}),
            422,
            "single_sign_on.forbidden_domains",
        ),
        (
            json!({"providerName": "OIDC", "connectorName": "y", "domains": ["a.example", "A.example"]}),
            422,
            "single_sign_on.duplicated_domains",
        ),
        (
            json!({"providerName": "OIDC", "connectorName": "y", "domains": ["acme.example"]}),
            422,
            "single_sign_on.duplicated_domains",
        ),
        (
            json!({"providerName": "OIDC", "connectorName": "y", "config": {"issuer": "https://idp.example"}}),
            400,
            "connector.invalid_config",
        ),
        // Nobody answers on this port: the issuer's discovery document cannot be fetched.
        (
            json!({"providerName": "OIDC", "connectorName": "y", "config": {"issuer": "http://127.0.0.1:9", "clientId": "c", "clientSecret": "s"}}),
            400,
            "connector.invalid_config",
        ),
    ] {
        let (got, answer) = api(Method::POST, "/api/sso-connectors", Some(body.clone())).await;
        assert_eq!(
            (got, answer["code"].as_str()),
            (status, Some(code)),
            "{body} -> {answer}"
        );
    }
    let (status, list) = api(Method::GET, "/api/sso-connectors", None).await;
    assert_eq!((status, list.as_array().map(Vec::len)), (200, Some(1)));
    let (status, patched) = api(
        Method::PATCH,
        &format!("/api/sso-connectors/{id}"),
        Some(json!({"connectorName": "Acme Inc."})),
    )
    .await;
    assert_eq!(
        (status, patched["connectorName"].as_str()),
        (200, Some("Acme Inc."))
    );

    // Deleting it removes its users' SSO identities and token sets.
    let user = app.user("sso-user").await;
    let sso = SsoConnectorId::from(id.clone());
    let identity = app
        .store()
        .link_sso_identity(&user, &sso, "https://idp.example", "sub-1", &json!({}), 0)
        .await
        .expect("link");
    app.state
        .token_sets
        .store_sso(&sso, &identity, response("sso-at"))
        .await
        .expect("store");
    let (status, _) = api(Method::DELETE, &format!("/api/sso-connectors/{id}"), None).await;
    assert_eq!(status, 204);
    assert!(
        app.store()
            .get_sso_identity(&user, &sso)
            .await
            .expect("get")
            .is_none()
    );
    assert!(
        app.store()
            .find_secret(&user, &IdentityKey::Sso(sso.clone()))
            .await
            .expect("find")
            .is_none()
    );
    let (status, body) = api(Method::GET, &format!("/api/sso-connectors/{id}"), None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("entity.not_exists_with_id"))
    );
}

#[tokio::test]
async fn management_routes_refuse_user_tokens() {
    let app = TestApp::spawn().await;
    let user = app.user("alice").await;
    let user_token = app.user_token(&user, "openid identities").await;
    for path in [
        "/api/connectors",
        "/api/sso-connectors",
        "/api/connector-factories",
        "/api/applications",
    ] {
        let (status, body) = app.api(&user_token, Method::GET, path, None).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (403, Some("auth.forbidden")),
            "{path}"
        );
    }
}
