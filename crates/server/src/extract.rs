//! Extractors: JSON bodies whose rejections are Logto-style errors, and the typed principals
//! that authorization rests on.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use strongroom_core::store::ApplicationId;

use crate::AppState;
use crate::error::ApiError;

/// A JSON body; malformed or invalid bodies are 400 `guard.invalid_input`.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(rejection) => Err(ApiError::invalid_input(rejection.body_text())),
        }
    }
}

/// The bearer token of a request.
pub fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let header = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "auth.authorization_header_missing", "Authorization header is missing."))?;
    let value = header
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::new(StatusCode::UNAUTHORIZED, "auth.authorization_token_type_not_supported", "Authorization type is not supported.")
        })?;
    Ok(value)
}

/// A caller of the Management API: a machine-to-machine application holding an access token
/// for the resource `<endpoint>/api` with the scope `all`.
#[derive(Debug, Clone)]
pub struct ManagementPrincipal {
    pub application_id: ApplicationId,
}

impl FromRequestParts<AppState> for ManagementPrincipal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts)?;
        let row = state
            .oidc
            .access_token(token)
            .await?
            .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "auth.unauthorized", "Unauthorized. Please check credentials and its scope."))?;
        let is_management = row.user_id.is_none()
            && row.resource.as_deref() == Some(state.oidc.api_resource())
            && row.scope.split(' ').any(|s| s == strongroom_core::oidc::MANAGEMENT_SCOPE);
        if !is_management {
            return Err(ApiError::new(StatusCode::FORBIDDEN, "auth.forbidden", "Forbidden. Please check your permissions."));
        }
        Ok(Self { application_id: row.application_id })
    }
}
