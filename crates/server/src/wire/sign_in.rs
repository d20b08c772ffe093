//! `/oidc/auth` and the providers' callbacks: the query strings and forms of the browser flows.

use serde::Deserialize;
use strongroom_core::sign_in as core;
use utoipa::{IntoParams, ToSchema};

/// An OpenID Connect authentication request.
#[derive(Debug, Deserialize, ToSchema, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuthRequest {
    pub client_id: Option<String>,
    /// Registered for the application.
    pub redirect_uri: Option<String>,
    /// `code`.
    pub response_type: Option<String>,
    /// `query`.
    pub response_mode: Option<String>,
    /// Must include `openid`.
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    /// Required for public clients.
    pub code_challenge: Option<String>,
    /// `S256`.
    pub code_challenge_method: Option<String>,
    /// `login` (sign in again) or `none` (answer without sign-in).
    pub prompt: Option<String>,
    pub login_hint: Option<String>,
    /// Refused for user sign-ins (`invalid_target`).
    pub resource: Option<String>,
    /// `social:<target>` or `sso:<ssoConnectorId>`: straight to that provider.
    pub direct_sign_in: Option<String>,
    /// Refused (`request_not_supported`).
    pub request: Option<String>,
    /// Refused (`request_not_supported`).
    pub request_uri: Option<String>,
}

impl From<AuthRequest> for core::AuthRequest {
    fn from(r: AuthRequest) -> Self {
        Self {
            client_id: r.client_id,
            redirect_uri: r.redirect_uri,
            response_type: r.response_type,
            response_mode: r.response_mode,
            scope: r.scope,
            state: r.state,
            nonce: r.nonce,
            code_challenge: r.code_challenge,
            code_challenge_method: r.code_challenge_method,
            prompt: r.prompt,
            login_hint: r.login_hint,
            resource: r.resource,
            direct_sign_in: r.direct_sign_in,
            request: r.request,
            request_uri: r.request_uri,
        }
    }
}

/// A provider's answer at a callback URL. `Debug` prints neither the code nor the state.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    pub iss: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

impl std::fmt::Debug for CallbackQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackQuery")
            .field("code", &self.code.as_ref().map(|_| "[redacted]"))
            .field("state", &self.state.as_ref().map(|_| "[redacted]"))
            .field("iss", &self.iss)
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl From<CallbackQuery> for core::CallbackQuery {
    fn from(q: CallbackQuery) -> Self {
        Self {
            code: q.code,
            state: q.state,
            iss: q.iss,
            error: q.error,
            error_description: q.error_description,
        }
    }
}
