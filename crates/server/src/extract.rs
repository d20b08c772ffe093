//! Extractors: JSON bodies whose rejections are Logto-style errors, and the typed principals
//! that authorization rests on.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use strongroom_core::audit::Actor;
use strongroom_core::store::{ApplicationId, UserId};

use crate::AppState;
use crate::error::ApiError;

/// A JSON body; malformed or invalid bodies are 400 `guard.invalid_input`, a body over the
/// limit 413.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(rejection) => Err(ApiError::rejected(
                rejection.status(),
                rejection.body_text(),
            )),
        }
    }
}

/// Query, path and form extractors whose rejections are Logto-style errors instead of axum's
/// plain text: [`api`] answers `{code, message}` JSON, [`page`] an HTML error page (for the
/// routes a browser navigates to).
macro_rules! extractors {
    ($rejection:ty) => {
        use axum::extract::{FromRequest, FromRequestParts, Request};
        use axum::http::request::Parts;
        use serde::de::DeserializeOwned;

        use crate::error::ApiError;

        /// A query string (axum's `Query`).
        #[derive(Debug)]
        pub struct Query<T>(pub T);

        impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
            type Rejection = $rejection;

            async fn from_request_parts(
                parts: &mut Parts,
                state: &S,
            ) -> Result<Self, Self::Rejection> {
                match axum::extract::Query::<T>::from_request_parts(parts, state).await {
                    Ok(axum::extract::Query(v)) => Ok(Self(v)),
                    Err(r) => Err(ApiError::rejected(r.status(), r.body_text()).into()),
                }
            }
        }

        /// Path parameters (axum's `Path`).
        #[derive(Debug)]
        pub struct Path<T>(pub T);

        impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
            type Rejection = $rejection;

            async fn from_request_parts(
                parts: &mut Parts,
                state: &S,
            ) -> Result<Self, Self::Rejection> {
                match axum::extract::Path::<T>::from_request_parts(parts, state).await {
                    Ok(axum::extract::Path(v)) => Ok(Self(v)),
                    Err(r) => Err(ApiError::rejected(r.status(), r.body_text()).into()),
                }
            }
        }

        /// An `application/x-www-form-urlencoded` body (axum's `Form`).
        #[derive(Debug)]
        pub struct Form<T>(pub T);

        impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Form<T> {
            type Rejection = $rejection;

            async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
                match axum::extract::Form::<T>::from_request(req, state).await {
                    Ok(axum::extract::Form(v)) => Ok(Self(v)),
                    Err(r) => Err(ApiError::rejected(r.status(), r.body_text()).into()),
                }
            }
        }
    };
}

/// Extractors of the JSON APIs: rejections are `{code, message}` JSON.
pub mod api {
    extractors!(ApiError);
}

/// Extractors of the pages a browser navigates to: rejections are an HTML error page.
pub mod page {
    extractors!(PageRejection);

    /// An [`ApiError`] shown as an HTML error page.
    #[derive(Debug)]
    pub struct PageRejection(pub ApiError);

    impl From<ApiError> for PageRejection {
        fn from(e: ApiError) -> Self {
            Self(e)
        }
    }

    impl axum::response::IntoResponse for PageRejection {
        fn into_response(self) -> axum::response::Response {
            crate::html::problem_page(self.0.status, self.0.code, &self.0.message)
        }
    }
}

/// The token of an `Authorization: Bearer <token>` value; the scheme is case-insensitive
/// (RFC 7235).
pub fn bearer_credentials(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The bearer token of a request.
pub fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let header = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "auth.authorization_header_missing",
                "Authorization header is missing.",
            )
        })?;
    let value = header
        .to_str()
        .ok()
        .and_then(bearer_credentials)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "auth.authorization_token_type_not_supported",
                "Authorization type is not supported.",
            )
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
        let row = state.oidc.access_token(token).await?.ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "auth.unauthorized",
                "Unauthorized. Please check credentials and its scope.",
            )
        })?;
        let is_management = row.user_id.is_none()
            && row.resource.as_deref() == Some(state.oidc.api_resource())
            && row
                .scope
                .split(' ')
                .any(|s| s == strongroom_core::oidc::MANAGEMENT_SCOPE);
        if !is_management {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "auth.forbidden",
                "Forbidden. Please check your permissions.",
            ));
        }
        Ok(Self {
            application_id: row.application_id,
        })
    }
}

impl ManagementPrincipal {
    /// The audit trail's actor.
    pub fn actor(&self) -> Actor {
        Actor::Application(self.application_id.as_str().to_owned())
    }
}

fn unauthorized() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "auth.unauthorized",
        "Unauthorized. Please check credentials and its scope.",
    )
}

/// A caller of the Account and Verification APIs: a user's access token from Strongroom's
/// OpenID provider, with the `openid` scope. The user id of every read comes from here.
#[derive(Debug, Clone)]
pub struct UserPrincipal {
    pub user_id: UserId,
    /// The application the token was issued to.
    pub application_id: ApplicationId,
    pub scopes: Vec<String>,
    /// The Account Center settings in force (the Account API is enabled).
    pub account_center: std::sync::Arc<serde_json::Value>,
}

impl UserPrincipal {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// The `identities` scope, or `status` `code` (Logto answers 403, 401 or 400 depending on
    /// the route).
    pub fn require_identities(
        &self,
        status: StatusCode,
        code: &'static str,
    ) -> Result<(), ApiError> {
        if self.has_scope("identities") {
            Ok(())
        } else {
            Err(ApiError::new(
                status,
                code,
                "The access token lacks the identities scope.",
            ))
        }
    }

    pub fn actor(&self) -> Actor {
        Actor::User(self.user_id.as_str().to_owned())
    }

    /// The Account Center lets users edit `field` (Logto: 400 `account_center.field_not_editable`).
    pub fn require_editable(&self, field: &str) -> Result<(), ApiError> {
        if strongroom_core::account_center::control(&self.account_center, field) == "Edit" {
            Ok(())
        } else {
            Err(strongroom_core::account_center::AccountCenterRefusal::NotEditable.into())
        }
    }
}

impl FromRequestParts<AppState> for UserPrincipal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts)?;
        let row = state
            .oidc
            .access_token(token)
            .await?
            .ok_or_else(unauthorized)?;
        let user_id = row
            .user_id
            .filter(|_| row.resource.is_none())
            .ok_or_else(unauthorized)?;
        let scopes: Vec<String> = row
            .scope
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        if !scopes.iter().any(|s| s == "openid") {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "auth.forbidden",
                "Forbidden. Please check your permissions.",
            ));
        }
        let account_center = state.account_center.require_enabled().await??;
        Ok(Self {
            user_id,
            application_id: row.application_id,
            scopes,
            account_center,
        })
    }
}

/// The header in which a caller of the Account API says what it reads a provider token for.
pub const PURPOSE_HEADER: &str = "strongroom-purpose";

/// The purpose a reader gives (`Strongroom-Purpose`), for the audit trail; a bad one is 400
/// `guard.invalid_input`.
#[derive(Debug, Clone)]
pub struct Purpose(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for Purpose {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(PURPOSE_HEADER) else {
            return Ok(Self(None));
        };
        let text = std::str::from_utf8(value.as_bytes()).map_err(|_| {
            ApiError::from(strongroom_core::CoreError::Validation(
                "Strongroom-Purpose must be UTF-8 text".into(),
            ))
        })?;
        Ok(Self(strongroom_core::token_access::check_purpose(Some(
            text,
        ))?))
    }
}

/// The `Strongroom-Purpose` header, as the OpenAPI document describes it.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub struct PurposeHeader {
    /// What the token is read for, kept in the audit trail with the read: at most 200
    /// characters, no control characters.
    #[param(rename = "Strongroom-Purpose", max_length = 200)]
    #[allow(dead_code)]
    purpose: Option<String>,
}
