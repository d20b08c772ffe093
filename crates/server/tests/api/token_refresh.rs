//! The Account API's token endpoint against the real upstream OpenID provider (rotating refresh
//! tokens with replay detection, scripted token-endpoint faults): exactly one refresh however
//! many readers wait, the grant alive afterwards, and a stored set that no provider failure can
//! lose or corrupt. Strongroom's clock is moved instead of sleeping.

use crate::support;

use reqwest::Method;
use serde_json::{Value, json};
use strongroom_core::{Clock, ExposeSecret};
use support::browser::{Browser, param};
use support::world::{APP_REDIRECT, TOKEN_PATH, TTL, World};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_readers_of_an_expired_token_cause_one_refresh_and_the_grant_lives_on() {
    let w = World::new("openid offline_access", 5).await;
    let (status, first) = w.read().await;
    assert_eq!(status, 200, "{first}");
    let first_token = first["access_token"].as_str().expect("token").to_owned();
    assert!(
        first.get("refresh_token").is_none() && first.get("id_token").is_none(),
        "{first}"
    );
    assert_eq!(first["token_type"], "Bearer");
    assert!(
        (TTL - 5..=TTL).contains(&first["expires_in"].as_i64().expect("expires_in")),
        "{first}"
    );
    let before = w.secret().await;

    w.expire().await;
    // Hold the provider's answer for a moment so that every reader arrives while it is pending.
    w.upstream.fault("delay", 1).await;
    let mut readers = tokio::task::JoinSet::new();
    for _ in 0..1000 {
        let request = w.app.api(&w.bearer, Method::GET, TOKEN_PATH, None);
        readers.spawn(request);
    }
    let mut tokens = std::collections::HashSet::new();
    while let Some(result) = readers.join_next().await {
        let (status, body) = result.expect("reader");
        assert_eq!(status, 200, "{body}");
        tokens.insert(body["access_token"].as_str().expect("token").to_owned());
    }
    assert_eq!(tokens.len(), 1, "every reader gets the same new token");
    let second_token = tokens.into_iter().next().expect("token");
    assert_ne!(second_token, first_token);
    assert_eq!(
        w.refreshes().await,
        1,
        "exactly one refresh at the provider"
    );

    let after = w.secret().await;
    assert_eq!(
        (after.id.clone(), after.created_at),
        (before.id.clone(), before.created_at)
    );
    assert!(after.version > before.version && after.refresh_lease_until.is_none());
    assert!(after.metadata.has_refresh_token && after.metadata.last_refreshed_at.is_some());
    let set = w.app.state.token_sets.open(&after).expect("open");
    assert_eq!(set.access_token.expose_secret(), second_token.as_str());

    // The grant is alive: the new token works upstream, and the rotated refresh token refreshes
    // again without any replay.
    assert!(w.upstream_accepts(&second_token).await);
    w.expire().await;
    let (status, third) = w.read().await;
    assert_eq!(status, 200, "{third}");
    let third_token = third["access_token"].as_str().expect("token");
    assert_ne!(third_token, second_token);
    assert!(w.upstream_accepts(third_token).await);
    let stats = w.upstream.stats().await;
    assert_eq!(
        (
            stats["refreshTokenReuse"].as_i64(),
            stats["grantsRevoked"].as_i64()
        ),
        (Some(0), Some(0)),
        "{stats}"
    );
    assert_eq!(w.refreshes().await, 2);
    let refreshes: Vec<Value> = w.audit("token.refresh").await;
    assert_eq!(
        refreshes
            .iter()
            .filter(|e| e["outcome"] == "success")
            .count(),
        2,
        "{refreshes:?}"
    );
}

#[tokio::test]
async fn provider_failures_leave_the_stored_set_untouched() {
    let w = World::new("openid offline_access", 1).await;
    w.expire().await;
    for (fault, status, code) in [
        ("status500", 502, "connector.provider_unavailable"),
        ("garbage", 502, "connector.invalid_response"),
        ("timeout", 502, "connector.provider_unavailable"),
    ] {
        let before = w.secret().await;
        w.upstream.fault(fault, 1).await;
        let (got, body) = w.read().await;
        assert_eq!(
            (got, body["code"].as_str()),
            (status, Some(code)),
            "{fault}: {body}"
        );
        assert!(
            !body.to_string().contains(
                w.app
                    .state
                    .token_sets
                    .open(&before)
                    .expect("open")
                    .access_token
                    .expose_secret()
            )
        );
        let after = w.secret().await;
        assert_eq!(
            (after.version, &after.envelope, &after.metadata),
            (before.version, &before.envelope, &before.metadata),
            "{fault}"
        );
        assert!(
            after.refresh_lease_until.is_none(),
            "{fault}: the lease is given back"
        );
    }
    // The faults never reached oidc-provider: the next read refreshes and the grant is fine.
    let (status, body) = w.read().await;
    assert_eq!(status, 200, "{body}");
    assert!(
        w.upstream_accepts(body["access_token"].as_str().expect("token"))
            .await
    );

    // invalid_grant: 401, the set kept and marked; later reads do not bother the provider.
    w.expire().await;
    let before = w.secret().await;
    w.upstream.fault("invalid_grant", 1).await;
    let (status, body) = w.read().await;
    assert_eq!(
        (status, body["code"].as_str()),
        (
            401,
            Some("secrets.third_party_token_set.refresh_token_revoked")
        ),
        "{body}"
    );
    let after = w.secret().await;
    assert_eq!(after.envelope, before.envelope, "the tokens are kept");
    assert_eq!(
        after.metadata.refresh_error.as_deref(),
        Some("refresh_token_revoked")
    );
    let requests = w.refreshes().await;
    let (status, _) = w.read().await;
    assert_eq!(status, 401);
    assert_eq!(
        w.refreshes().await,
        requests,
        "a revoked refresh token is not sent again"
    );
    let (status, identity) = w
        .app
        .api(
            &w.management,
            Method::GET,
            &format!(
                "/api/users/{}/identities/oidc?includeTokenSecret=true",
                w.user
            ),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        identity["tokenSecret"]["metadata"]["refreshError"],
        "refresh_token_revoked"
    );
    let outcomes: Vec<String> = w
        .audit("token.refresh")
        .await
        .iter()
        .map(|e| e["outcome"].as_str().unwrap_or_default().to_owned())
        .collect();
    for outcome in [
        "provider_unavailable",
        "invalid_response",
        "success",
        "refresh_token_revoked",
    ] {
        assert!(
            outcomes.iter().any(|o| o == outcome),
            "{outcome} missing from {outcomes:?}"
        );
    }
}

#[tokio::test]
async fn within_the_skew_a_failed_refresh_still_hands_out_the_valid_token() {
    let w = World::new("openid offline_access", 5).await;
    let expires_at = w.secret().await.metadata.expires_at.expect("expiresAt");
    w.clock
        .advance_secs(expires_at.since(w.clock.now_secs()) - 30);
    w.upstream.fault("status500", 1).await;
    let (status, body) = w.read().await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["expires_in"].as_i64(), Some(30));
    assert_eq!(w.refreshes().await, 1, "the refresh was tried");
}

#[tokio::test]
async fn an_expired_token_without_refresh_token_is_401_and_the_set_stays() {
    let w = World::new("openid", 5).await;
    assert!(!w.secret().await.metadata.has_refresh_token);
    w.expire().await;
    for _ in 0..2 {
        let (status, body) = w.read().await;
        assert_eq!(
            (status, body["code"].as_str()),
            (
                401,
                Some("secrets.third_party_token_set.access_token_expired")
            ),
            "{body}"
        );
    }
    assert_eq!(w.refreshes().await, 0);
    let _ = w.secret().await;
}

#[tokio::test]
async fn re_authorization_through_the_verification_api_replaces_the_set() {
    let w = World::new("openid offline_access", 5).await;
    let before = w.secret().await;
    let (status, created) = w
        .app
        .api(
            &w.bearer,
            Method::POST,
            "/api/verifications/social",
            Some(json!({"connectorId": "up", "state": "re-auth-state", "redirectUri": APP_REDIRECT, "scope": "openid profile email offline_access"})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let authorization = created["authorizationUri"].as_str().expect("uri");
    assert!(
        authorization.contains("scope=openid+profile+email+offline_access"),
        "{authorization}"
    );
    // The user authorizes at the provider; the application receives the code.
    let landing = Browser::new()
        .follow(authorization, APP_REDIRECT)
        .await
        .app();
    assert_eq!(param(&landing, "state").as_deref(), Some("re-auth-state"));
    let id = created["verificationRecordId"].as_str().expect("id");
    let (status, verified) = w
        .app
        .api(
            &w.bearer,
            Method::POST,
            "/api/verifications/social/verify",
            Some(json!({"verificationRecordId": id, "connectorData": {
                "code": param(&landing, "code"), "state": "re-auth-state", "redirectUri": APP_REDIRECT, "iss": param(&landing, "iss")}})),
        )
        .await;
    assert_eq!(
        (status, verified["verificationRecordId"].as_str()),
        (200, Some(id)),
        "{verified}"
    );
    let (status, replaced) = w
        .app
        .api(
            &w.bearer,
            Method::PATCH,
            "/my-account/identities/oidc/access-token",
            Some(json!({"socialVerificationId": id})),
        )
        .await;
    assert_eq!(status, 200, "{replaced}");
    let scope = replaced["scope"].as_str().expect("scope");
    assert!(
        scope.contains("email") && scope.contains("profile"),
        "{scope}"
    );
    let after = w.secret().await;
    assert_eq!(
        (after.id.clone(), after.created_at),
        (before.id.clone(), before.created_at)
    );
    let set = w.app.state.token_sets.open(&after).expect("open");
    assert_eq!(
        set.access_token.expose_secret(),
        replaced["access_token"].as_str().expect("token")
    );
    assert!(w.upstream_accepts(set.access_token.expose_secret()).await);
    // The record is used up.
    let (status, body) = w
        .app
        .api(
            &w.bearer,
            Method::PUT,
            "/api/my-account/identities/oidc/access-token",
            Some(json!({"verificationRecordId": id})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("verification_record.not_found"))
    );
}
