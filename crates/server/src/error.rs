//! Error responses: Logto's `{"code", "message"}` bodies with stable dotted codes. Database and
//! provider error text never reaches a body: it is logged with an id that the body carries.

use crate::wire::ErrorBody;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use strongroom_core::CoreError;
use strongroom_core::connectors::ConnectorError;
use strongroom_core::providers::ProviderError;
use strongroom_core::token_access::TokenError;
use strongroom_core::users::UserError;
use strongroom_core::verifications::VerificationError;

/// An API error with its HTTP status and Logto code.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "guard.invalid_input", message)
    }

    /// An extractor's rejection: 413 for a body over the limit, 415 for the wrong content
    /// type, 400 `guard.invalid_input` for anything else that cannot be read (axum answers
    /// 422 for well-formed data of the wrong shape; Logto answers 400).
    pub fn rejected(status: StatusCode, message: String) -> Self {
        match status {
            StatusCode::PAYLOAD_TOO_LARGE => Self::too_large(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::new(status, "guard.invalid_input", message),
            _ => Self::invalid_input(message),
        }
    }

    /// A request body over the limit.
    pub fn too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "guard.payload_too_large",
            "The request body is larger than the server accepts.",
        )
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// An unexpected failure: logged in full under a fresh id; the body carries only the id.
    pub fn internal(error: &dyn std::fmt::Display) -> Self {
        let id = strongroom_core::store::new_id();
        tracing::error!(error_id = %id, %error, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "unexpected_error",
            format!("Internal error (error id {id})."),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(ErrorBody {
                code: self.code.to_owned(),
                message: self.message,
            }),
        )
            .into_response()
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::Validation(message) => Self::invalid_input(message),
            CoreError::Conflict(message) => {
                Self::new(StatusCode::CONFLICT, "entity.conflict", message)
            }
            CoreError::Connector(e) => e.into(),
            CoreError::User(e) => e.into(),
            CoreError::Store(_)
            | CoreError::Vault(_)
            | CoreError::Keys(_)
            | CoreError::MalformedTokenSet
            | CoreError::PasswordHash
            | CoreError::Internal(_) => Self::internal(&e),
        }
    }
}

impl From<ConnectorError> for ApiError {
    fn from(e: ConnectorError) -> Self {
        let (status, code) = match &e {
            ConnectorError::UnknownFactory(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "connector.not_found_with_connector_id",
            ),
            ConnectorError::NotFound(_) | ConnectorError::SsoNotFound(_) => {
                (StatusCode::NOT_FOUND, "entity.not_exists_with_id")
            }
            ConnectorError::InvalidConfig(_) => {
                (StatusCode::BAD_REQUEST, "connector.invalid_config")
            }
            ConnectorError::MetadataNotAllowed => (
                StatusCode::BAD_REQUEST,
                "connector.cannot_overwrite_metadata_for_non_standard_connector",
            ),
            ConnectorError::TargetImmutable => {
                (StatusCode::BAD_REQUEST, "connector.can_not_modify_target")
            }
            ConnectorError::MultipleInstances(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "connector.multiple_instances_not_supported",
            ),
            ConnectorError::TargetTaken(..) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "connector.multiple_target_with_same_platform",
            ),
            // Logto: 422 for social connectors, the default 400 for SSO connectors.
            ConnectorError::TokenStorageNotSupported { sso: false } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "connector.token_storage_not_supported",
            ),
            ConnectorError::TokenStorageNotSupported { sso: true } => (
                StatusCode::BAD_REQUEST,
                "connector.token_storage_not_supported",
            ),
            ConnectorError::UnknownSsoProvider(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "connector.not_found")
            }
            ConnectorError::ForbiddenDomains(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "single_sign_on.forbidden_domains",
            ),
            ConnectorError::InvalidDomains(_) | ConnectorError::DomainsTaken(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "single_sign_on.duplicated_domains",
            ),
            ConnectorError::DuplicateName(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "single_sign_on.duplicate_connector_name",
            ),
            ConnectorError::ProviderCheck(p) => {
                // The check fetched a URL the caller chose: one text for every way it failed
                // (a configuration mistake excepted), so the answer is no port scanner.
                let message = match p {
                    ProviderError::Config(_) => e.to_string(),
                    other => {
                        tracing::info!(error = %other, "connector check failed");
                        other.public_message().to_owned()
                    }
                };
                return Self::new(StatusCode::BAD_REQUEST, "connector.invalid_config", message);
            }
        };
        Self::new(status, code, e.to_string())
    }
}

impl From<UserError> for ApiError {
    fn from(e: UserError) -> Self {
        let (status, code) = match &e {
            UserError::NotFound(_) => (StatusCode::NOT_FOUND, "entity.not_found"),
            UserError::IdentityNotFound(_) => (StatusCode::NOT_FOUND, "user.identity_not_exist"),
            UserError::SsoIdentityNotFound(_) => (
                StatusCode::NOT_FOUND,
                "user.enterprise_sso_identity_not_exists",
            ),
            UserError::IdentityInUse => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "user.identity_already_in_use",
            ),
            UserError::UsernameTaken => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "user.username_already_in_use",
            ),
            UserError::EmailTaken => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "user.email_already_in_use",
            ),
            UserError::PhoneTaken => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "user.phone_already_in_use",
            ),
            UserError::PasswordNotSupported => {
                (StatusCode::BAD_REQUEST, "user.password_not_supported")
            }
            UserError::LastSignInMethod => {
                (StatusCode::BAD_REQUEST, "user.last_sign_in_method_required")
            }
            UserError::TargetAlreadyLinked(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "user.social_account_exists_in_profile",
            ),
            UserError::GrantNotFound(_) => (StatusCode::NOT_FOUND, "entity.not_exists_with_id"),
        };
        Self::new(status, code, e.to_string())
    }
}

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> Self {
        let message = e.to_string();
        let (status, code) = match e {
            TokenError::NotFound => (
                StatusCode::NOT_FOUND,
                "secrets.third_party_token_set.token_not_found",
            ),
            TokenError::Expired => (
                StatusCode::UNAUTHORIZED,
                "secrets.third_party_token_set.access_token_expired",
            ),
            TokenError::RefreshTokenRevoked => (
                StatusCode::UNAUTHORIZED,
                "secrets.third_party_token_set.refresh_token_revoked",
            ),
            TokenError::ProviderUnavailable => {
                (StatusCode::BAD_GATEWAY, "connector.provider_unavailable")
            }
            TokenError::ProviderInvalidResponse => {
                (StatusCode::BAD_GATEWAY, "connector.invalid_response")
            }
            TokenError::Core(core) => return core.into(),
        };
        Self::new(status, code, message)
    }
}

/// The status and stable code of a provider failure: the one table for every caller. At the
/// browser's callback (`at_callback`) a refused grant or ID token is a 400 page and unusable
/// callback parameters mean the provider's answer cannot be trusted (502); an API caller gets
/// 401 for a refused grant and 400 for parameters it did not forward.
pub fn provider_status(e: &ProviderError, at_callback: bool) -> (StatusCode, &'static str) {
    let refused = if at_callback {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::UNAUTHORIZED
    };
    match e {
        ProviderError::Timeout | ProviderError::Unavailable { .. } => {
            (StatusCode::BAD_GATEWAY, "connector.provider_unavailable")
        }
        ProviderError::InvalidResponse(_) => {
            (StatusCode::BAD_GATEWAY, "connector.invalid_response")
        }
        ProviderError::InvalidGrant(_) | ProviderError::OAuth { .. } => {
            (refused, "connector.authorization_failed")
        }
        ProviderError::IdToken(_) => (refused, "connector.invalid_id_token"),
        ProviderError::Config(_) => (StatusCode::BAD_REQUEST, "connector.invalid_config"),
        ProviderError::NotSupported(_) => {
            (StatusCode::NOT_IMPLEMENTED, "connector.not_implemented")
        }
        ProviderError::Callback(_) if at_callback => {
            (StatusCode::BAD_GATEWAY, "connector.invalid_response")
        }
        // The caller's mistake (or a mix-up attack): the message names the parameter.
        ProviderError::Callback(_) => (StatusCode::BAD_REQUEST, "guard.invalid_input"),
    }
}

/// A provider failure answered to an API caller. The detail (and any provider's
/// `error_description`) goes to the log only; the body carries the public message.
pub fn provider_error(e: &ProviderError) -> ApiError {
    let (status, code) = provider_status(e, false);
    tracing::info!(error = %e, code, "provider call failed");
    ApiError::new(status, code, e.public_message())
}

impl From<VerificationError> for ApiError {
    fn from(e: VerificationError) -> Self {
        let message = e.to_string();
        let (status, code) = match e {
            VerificationError::UnknownConnector(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "session.invalid_connector_id",
            ),
            VerificationError::InsufficientInfo => {
                (StatusCode::BAD_REQUEST, "session.insufficient_info")
            }
            VerificationError::NotFound => {
                (StatusCode::BAD_REQUEST, "verification_record.not_found")
            }
            VerificationError::StateMismatch => (
                StatusCode::BAD_REQUEST,
                "verification_record.state_mismatch",
            ),
            VerificationError::InvalidTarget { .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "verification_record.social_verification.invalid_target",
            ),
            VerificationError::TokenResponseNotFound => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "verification_record.social_verification.token_response_not_found",
            ),
            VerificationError::IdentityNotInCurrentUser => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "user.identity_not_exists_in_current_user",
            ),
            VerificationError::Provider(p) => return provider_error(&p),
            VerificationError::Core(core) => return core.into(),
        };
        Self::new(status, code, message)
    }
}

impl From<strongroom_core::account_center::AccountCenterRefusal> for ApiError {
    fn from(e: strongroom_core::account_center::AccountCenterRefusal) -> Self {
        use strongroom_core::account_center::AccountCenterRefusal;
        let code = match e {
            AccountCenterRefusal::NotEnabled => "account_center.not_enabled",
            AccountCenterRefusal::NotEditable => "account_center.field_not_editable",
        };
        Self::new(StatusCode::BAD_REQUEST, code, e.to_string())
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
