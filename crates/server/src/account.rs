//! The Account API (end users) and the Verification API, authorized by [`UserPrincipal`]. The
//! user whose data is read always comes from the access token, never from the request. Paths
//! are served under Logto's `/api/my-account` and the seed document's `/my-account`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use strongroom_core::ExposeSecret;
use strongroom_core::store::SsoConnectorId;
use strongroom_core::token_access::{AccessToken, Identity};
use strongroom_core::verifications::{ConnectorData, CreateSocial};

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, UserPrincipal};

pub fn routes() -> Router<AppState> {
    let mut router = Router::new()
        .route("/api/my-account", get(my_account))
        .route("/api/my-account/identities", post(link_identity))
        .route("/api/my-account/identities/{target}", axum::routing::delete(unlink_identity));
    for prefix in ["/api/my-account", "/my-account"] {
        router = router
            .route(
                &format!("{prefix}/identities/{{target}}/access-token"),
                get(social_access_token).put(replace_access_token).patch(replace_access_token),
            )
            .route(&format!("{prefix}/sso-identities/{{connector_id}}/access-token"), get(sso_access_token));
    }
    for prefix in ["/api/verifications", "/api/verification"] {
        router = router
            .route(&format!("{prefix}/social"), post(create_social_verification))
            .route(&format!("{prefix}/social/verify"), post(verify_social_verification));
    }
    router
}

fn forbidden_without_identities(p: &UserPrincipal) -> ApiResult<()> {
    p.require_identities(StatusCode::FORBIDDEN, "auth.forbidden")
}

fn token_json(t: &AccessToken) -> Json<Value> {
    let mut v = json!({ "access_token": t.access_token.expose_secret() });
    if let Some(scope) = &t.scope {
        v["scope"] = json!(scope);
    }
    if let Some(token_type) = &t.token_type {
        v["token_type"] = json!(token_type);
    }
    if let Some(expires_in) = t.expires_in {
        v["expires_in"] = json!(expires_in);
    }
    Json(v)
}

async fn my_account(p: UserPrincipal, State(state): State<AppState>) -> ApiResult<Json<Value>> {
    Ok(Json(state.users.json(&p.user_id).await?))
}

async fn social_access_token(p: UserPrincipal, State(state): State<AppState>, Path(target): Path<String>) -> ApiResult<Json<Value>> {
    forbidden_without_identities(&p)?;
    let token = state.token_access.access_token(&p.user_id, Identity::Social(&target)).await?;
    Ok(token_json(&token))
}

async fn sso_access_token(p: UserPrincipal, State(state): State<AppState>, Path(connector_id): Path<String>) -> ApiResult<Json<Value>> {
    forbidden_without_identities(&p)?;
    let id = SsoConnectorId(connector_id);
    let token = state.token_access.access_token(&p.user_id, Identity::Sso(&id)).await?;
    Ok(token_json(&token))
}

/// Logto's `verificationRecordId` and the seed document's `socialVerificationId`.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReplaceBody {
    verification_record_id: Option<String>,
    social_verification_id: Option<String>,
}

async fn replace_access_token(
    p: UserPrincipal,
    State(state): State<AppState>,
    Path(target): Path<String>,
    JsonBody(body): JsonBody<ReplaceBody>,
) -> ApiResult<Json<Value>> {
    forbidden_without_identities(&p)?;
    let id = body
        .verification_record_id
        .or(body.social_verification_id)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| ApiError::invalid_input("verificationRecordId (or socialVerificationId) is required"))?;
    let token = state.verifications.replace_tokens(&p.user_id, &target, &id).await?;
    Ok(token_json(&token))
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct LinkBody {
    new_identifier_verification_record_id: String,
}

async fn link_identity(p: UserPrincipal, State(state): State<AppState>, JsonBody(body): JsonBody<LinkBody>) -> ApiResult<StatusCode> {
    // Logto answers 401 here without the identities scope.
    p.require_identities(StatusCode::UNAUTHORIZED, "auth.unauthorized")?;
    state.verifications.link(&p.user_id, &body.new_identifier_verification_record_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn unlink_identity(p: UserPrincipal, State(state): State<AppState>, Path(target): Path<String>) -> ApiResult<StatusCode> {
    // Logto answers 400 here without the identities scope.
    p.require_identities(StatusCode::BAD_REQUEST, "auth.unauthorized")?;
    state.users.unlink(&p.user_id, &target, &p.actor(), true).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn create_social_verification(
    p: UserPrincipal,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<CreateSocial>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let created = state.verifications.create_social(&p.user_id, body).await?;
    let expires_at = iso8601(created.expires_at);
    Ok((
        StatusCode::CREATED,
        Json(json!({ "verificationRecordId": created.id, "authorizationUri": created.authorization_uri, "expiresAt": expires_at })),
    ))
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct VerifyBody {
    verification_record_id: String,
    connector_data: ConnectorData,
}

async fn verify_social_verification(
    p: UserPrincipal,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<VerifyBody>,
) -> ApiResult<Json<Value>> {
    let id = state.verifications.verify_social(&p.user_id, &body.verification_record_id, body.connector_data).await?;
    Ok(Json(json!({ "verificationRecordId": id })))
}

/// Epoch milliseconds as an ISO 8601 UTC timestamp (`2026-12-01T18:34:17.000Z`).
pub fn iso8601(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn iso8601_formats_utc() {
        assert_eq!(super::iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(super::iso8601(1_796_150_057_123), "2026-12-01T18:34:17.123Z");
        assert_eq!(super::iso8601(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }
}
