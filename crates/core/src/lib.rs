//! Strongroom's domain services. Business rules live here, never in handlers or SQL.

pub mod admins;
pub mod applications;
pub mod audit;
pub mod clock;
pub mod connectors;
pub mod crypto;
pub mod keys;
pub mod limits;
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
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T, E = CoreError> = std::result::Result<T, E>;
