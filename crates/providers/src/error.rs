//! The one error type of this crate.

/// Why a call to an upstream identity provider failed.
///
/// The `Display` texts never contain tokens, authorization codes or client secrets: only fixed
/// wording, HTTP statuses, configuration field names and the provider's own (length-limited)
/// OAuth `error` / `error_description` strings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The provider did not answer within the configured timeout.
    #[error("the identity provider did not answer in time")]
    Timeout,
    /// The provider answered 5xx (or 429), or could not be reached at all (`status` 0).
    #[error("the identity provider is unavailable (HTTP status {status})")]
    Unavailable {
        /// The HTTP status, or 0 when there was no HTTP answer (connection failure).
        status: u16,
    },
    /// The provider's answer cannot be used: malformed JSON, a missing `access_token`, an
    /// unexpected status or content, a redirect on a back-channel call, a mismatching callback
    /// `iss`...
    #[error("invalid response from the identity provider: {0}")]
    InvalidResponse(String),
    /// OAuth `invalid_grant` (or the provider's equivalent, such as GitHub's
    /// `bad_verification_code` / `bad_refresh_token`): the code was reused or has expired, or the
    /// refresh token was revoked. Re-authorization is needed.
    #[error("the identity provider rejected the grant: {0}")]
    InvalidGrant(String),
    /// Any other OAuth error response, including GitHub's errors inside HTTP 200 and Facebook's
    /// `{"error": {...}}` objects.
    #[error("the identity provider answered with OAuth error `{error}`{}", .description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    OAuth {
        /// The OAuth `error` code (for Facebook: the error `type`, e.g. `OAuthException`).
        error: String,
        /// The provider's `error_description` (for Facebook: the error `message`).
        description: Option<String>,
    },
    /// The ID token failed verification (signature, algorithm, issuer, audience, expiry, nonce,
    /// subject).
    #[error("ID token rejected: {0}")]
    IdToken(String),
    /// The connector configuration is invalid; the text names the field.
    #[error("invalid connector configuration: {0}")]
    Config(String),
    /// The provider (or this connector kind) does not offer the operation.
    #[error("not supported: {0}")]
    NotSupported(&'static str),
}

impl ProviderError {
    /// Transient failures (`Timeout`, `Unavailable`): nothing is wrong with the grant, retrying
    /// later may succeed, and stored tokens must be kept untouched.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ProviderError::Timeout | ProviderError::Unavailable { .. }
        )
    }
}

/// Keeps provider-supplied text short and printable before it goes into an error.
pub(crate) fn sanitize(text: &str, max: usize) -> String {
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max)
        .collect();
    if text.chars().count() > max {
        out.push('…');
    }
    out
}

/// An OAuth error response turned into the right variant.
pub(crate) fn oauth_error(error: &str, description: Option<&str>) -> ProviderError {
    let error = sanitize(error, 80);
    let description = description
        .filter(|d| !d.is_empty())
        .map(|d| sanitize(d, 300));
    match error.as_str() {
        // GitHub's names for the same condition: a code reused/expired, a refresh token revoked
        // or expired.
        "invalid_grant" | "bad_verification_code" | "bad_refresh_token" => {
            ProviderError::InvalidGrant(description.unwrap_or(error))
        }
        _ => ProviderError::OAuth { error, description },
    }
}
