//! Logto's own client libraries, unchanged, against Strongroom (issue #10): `@logto/api` sets it
//! up through the Management API with its defaults for a self-hosted Logto, and `@logto/node`
//! signs a user in through the real upstream OpenID provider, reads claims, userinfo, an access
//! token and the user's provider token, refreshes and signs out (e2e/logto.mjs drives them).

mod support;

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
    assert_eq!(out["refreshed"], true);
    assert_eq!(out["rotated"], true);

    // signOut revoked the refresh token (RFC 7009) and its grant's access tokens.
    assert_eq!(out["refreshAfterSignOut"]["status"], 400, "{out:#}");
    assert_eq!(out["refreshAfterSignOut"]["body"]["error"], "invalid_grant");
    assert_eq!(out["userinfoAfterSignOut"], 401);
    let sign_out = out["signOutUrl"].as_str().expect("sign-out URL");
    assert!(
        sign_out.starts_with(&app.url("/oidc/session/end")),
        "{sign_out}"
    );
}
