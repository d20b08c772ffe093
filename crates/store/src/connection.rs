//! One model for what social and enterprise SSO connectors have in common: the connector a
//! sign-in goes through ([`ConnectorRef`]) and the identity of a user a token set belongs to
//! ([`IdentityKey`]). The two kinds differ in how they are addressed (a social identity by its
//! connector's target, an SSO identity by its connector's id), never in what is done with them.

use crate::{ConnectorId, SsoConnectorId};

/// A configured connector of either kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ConnectorRef {
    Social(ConnectorId),
    Sso(SsoConnectorId),
}

impl ConnectorRef {
    /// `"social"` or `"sso"`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Social(_) => "social",
            Self::Sso(_) => "sso",
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Self::Social(id) => id.as_str(),
            Self::Sso(id) => id.as_str(),
        }
    }

    /// The `secrets` column naming this connector.
    pub(crate) fn secrets_column(&self) -> &'static str {
        match self {
            Self::Social(_) => "connector_id",
            Self::Sso(_) => "sso_connector_id",
        }
    }
}

/// Which of a user's identities a token set or a connection is: a social identity by its
/// connector's target, an enterprise SSO identity by its SSO connector.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IdentityKey {
    Social(String),
    Sso(SsoConnectorId),
}

impl IdentityKey {
    /// What the audit trail records as the `target`: the social target, or the SSO
    /// connector's id.
    pub fn target(&self) -> &str {
        match self {
            Self::Social(target) => target,
            Self::Sso(id) => id.as_str(),
        }
    }

    /// The `secrets` column holding [`IdentityKey::target`].
    pub(crate) fn secrets_column(&self) -> &'static str {
        match self {
            Self::Social(_) => "target",
            Self::Sso(_) => "sso_connector_id",
        }
    }
}
