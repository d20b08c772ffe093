//! Strongroom's domain services. Business rules live here, never in handlers or SQL.

pub mod account_center;
pub mod admins;
pub mod applications;
pub mod audit;
pub mod cached;
pub mod clock;
pub mod connection;
pub mod connectors;
pub mod crypto;
pub mod exchange;
pub mod keys;
pub mod limits;
pub mod metrics;
pub mod oidc;
pub mod revocation;
pub mod rewrap;
pub mod sign_in;
pub mod throttle;
pub mod token_access;
pub mod token_sets;
pub mod users;
pub mod verifications;

pub use clock::{Clock, ManualClock, SystemClock};
pub use secrecy::{ExposeSecret, SecretString};
pub use strongroom_providers as providers;
pub use strongroom_store as store;
pub use strongroom_vault as vault;

/// Errors of the domain layer.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error(transparent)]
    Store(#[from] strongroom_store::StoreError),
    #[error(transparent)]
    Vault(#[from] strongroom_vault::VaultError),
    #[error(transparent)]
    Keys(#[from] keys::KeyCheckError),
    #[error(transparent)]
    Connector(connectors::ConnectorError),
    #[error(transparent)]
    User(users::UserError),
    #[error("stored token set is malformed")]
    MalformedTokenSet,
    #[error("password hashing failed")]
    PasswordHash,
    /// The request is malformed or breaks a rule: the caller's mistake, which the text names.
    #[error("{0}")]
    Validation(String),
    /// The request collides with the current state: an id already taken, a row changed or
    /// deleted by a concurrent request. Trying again may succeed.
    #[error("{0}")]
    Conflict(String),
    /// Something that should not fail did (signing, stored data that cannot be read, a task):
    /// never the caller's mistake. The text is logged, never answered.
    #[error("{0}")]
    Internal(String),
}

pub type Result<T, E = CoreError> = std::result::Result<T, E>;

#[cfg(test)]
mod redaction_tests {
    //! The structs that carry codes, tokens, states and passwords print without them.

    const PLANTED: &str = "PLANTED-secret-value";

    fn assert_redacted(printed: String) {
        assert!(!printed.contains(PLANTED), "{printed}");
        assert!(printed.contains("[redacted]"), "{printed}");
    }

    #[test]
    fn secrets_print_redacted() {
        let p = || Some(PLANTED.to_owned());
        assert_redacted(format!(
            "{:?}",
            crate::sign_in::CallbackQuery {
                code: p(),
                state: p(),
                ..Default::default()
            }
        ));
        assert_redacted(format!(
            "{:?}",
            crate::verifications::ConnectorData {
                code: PLANTED.into(),
                state: p(),
                redirect_uri: None,
                iss: None,
            }
        ));
        assert_redacted(format!(
            "{:?}",
            crate::oidc::Tokens {
                access_token: PLANTED.into(),
                expires_in: 1,
                scope: "openid".into(),
                refresh_token: p(),
                id_token: p(),
            }
        ));
        assert_redacted(format!(
            "{:?}",
            crate::sign_in::Step {
                location: format!("https://app.example/cb?code={PLANTED}"),
                set_browser: p(),
                set_session: p(),
            }
        ));
    }
}
