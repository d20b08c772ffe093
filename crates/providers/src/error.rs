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
    /// The provider answered 5xx (or 429), or could not be reached at all (`status` 0): no
    /// connection, or a destination the egress policy refuses (logged, never told apart here).
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
    /// The callback's parameters cannot be used as given: its RFC 9207 `iss` is missing (the
    /// provider promises one) or names another issuer (a mix-up attack, or a caller that did
    /// not forward every parameter). Checked before the code goes anywhere.
    #[error("the callback's {0}")]
    Callback(CallbackProblem),
}

/// What is wrong with a callback's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackProblem {
    /// The provider advertises RFC 9207 and the callback carries no `iss`.
    MissingIss,
    /// The callback's `iss` is not the connector's issuer.
    WrongIss,
}

impl std::fmt::Display for CallbackProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::MissingIss => {
                "iss parameter is missing, and the provider promises one (RFC 9207)"
            }
            Self::WrongIss => "iss parameter does not match the issuer (RFC 9207)",
        })
    }
}

impl ProviderError {
    /// The text shown outside the logs for every failure to reach the provider or to use its
    /// answer: [`ProviderError::public_message`] of `Timeout`, `Unavailable` (which includes
    /// a destination the egress policy refuses) and `InvalidResponse`.
    pub const UNREACHABLE_MESSAGE: &'static str =
        "The identity provider could not be reached or gave an unusable answer.";

    /// A fixed text for this error that may be shown to whoever made the request (an API
    /// client, a browser), where `Display` is for the logs.
    ///
    /// Every failure of reaching or reading the provider (`Timeout`, `Unavailable`,
    /// `InvalidResponse`: a timeout, a refused connection, a destination the egress policy
    /// refuses, 5xx/429, a redirect, a non-JSON or oversized body, an unexpected status, a
    /// discovery document naming another issuer, ...) gives the same
    /// [`UNREACHABLE_MESSAGE`](Self::UNREACHABLE_MESSAGE), so a caller who picks the URL cannot
    /// tell a closed port from a listening one or learn what answered. The other variants have a
    /// fixed text of their own.
    pub fn public_message(&self) -> &'static str {
        match self {
            ProviderError::Timeout
            | ProviderError::Unavailable { .. }
            | ProviderError::InvalidResponse(_) => Self::UNREACHABLE_MESSAGE,
            ProviderError::InvalidGrant(_) => {
                "The identity provider no longer accepts this grant; the user must sign in again."
            }
            ProviderError::OAuth { .. } => "The identity provider refused the request.",
            ProviderError::IdToken(_) => "The identity provider's ID token failed verification.",
            ProviderError::Config(_) => "The connector configuration is invalid.",
            ProviderError::NotSupported(_) => {
                "The identity provider does not support this operation."
            }
            ProviderError::Callback(CallbackProblem::MissingIss) => {
                "The provider's callback carried an `iss` parameter (RFC 9207) that was not \
                 forwarded: pass every parameter of the callback (code, state, iss, ...)."
            }
            ProviderError::Callback(CallbackProblem::WrongIss) => {
                "The callback's `iss` parameter names another issuer than the connector's \
                 (RFC 9207): the callback does not come from this provider."
            }
        }
    }

    /// Whether this is a failure of reaching or reading the provider: the errors whose
    /// [`public_message`](Self::public_message) is
    /// [`UNREACHABLE_MESSAGE`](Self::UNREACHABLE_MESSAGE).
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            ProviderError::Timeout
                | ProviderError::Unavailable { .. }
                | ProviderError::InvalidResponse(_)
        )
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_message_is_one_text_for_every_failure_to_reach_or_read_the_provider() {
        let unreachable = [
            ProviderError::Timeout,
            ProviderError::Unavailable { status: 0 },
            ProviderError::Unavailable { status: 503 },
            ProviderError::InvalidResponse("the OpenID provider's discovery endpoint answered with a redirect (HTTP 302), which is not followed".into()),
            ProviderError::InvalidResponse("the discovery document's issuer is not the configured issuer".into()),
        ];
        for e in &unreachable {
            assert_eq!(
                e.public_message(),
                ProviderError::UNREACHABLE_MESSAGE,
                "{e:?}"
            );
            assert!(e.is_unreachable(), "{e:?}");
        }
        let others = [
            ProviderError::InvalidGrant("code-PLANTED expired".into()),
            ProviderError::OAuth {
                error: "invalid_client".into(),
                description: Some("PLANTED".into()),
            },
            ProviderError::IdToken("the signature is invalid".into()),
            ProviderError::Config("clientId is required".into()),
            ProviderError::NotSupported("Facebook issues no refresh tokens"),
        ];
        for e in &others {
            assert_ne!(
                e.public_message(),
                ProviderError::UNREACHABLE_MESSAGE,
                "{e:?}"
            );
            assert!(!e.is_unreachable(), "{e:?}");
            assert!(!e.public_message().contains("PLANTED"));
        }
    }
}
