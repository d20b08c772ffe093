//! Error responses: Logto's `{"code", "message"}` bodies with stable dotted codes. Database and
//! provider error text never reaches a body: it is logged with an id that the body carries.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use strongroom_core::CoreError;

/// An API error with its HTTP status and Logto code.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into() }
    }

    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "guard.invalid_input", message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// An unexpected failure: logged in full under a fresh id; the body carries only the id.
    pub fn internal(error: &dyn std::fmt::Display) -> Self {
        let id = strongroom_core::store::new_id();
        tracing::error!(error_id = %id, %error, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "unexpected_error", format!("Internal error (error id {id})."))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "code": self.code, "message": self.message }))).into_response()
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::Invalid(message) => Self::invalid_input(message),
            CoreError::Store(_)
            | CoreError::Vault(_)
            | CoreError::Keys(_)
            | CoreError::MalformedTokenSet
            | CoreError::PasswordHash => Self::internal(&e),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
