//! `/api/users` and `/api/my-account`: Logto's user, identity, token secret and grant shapes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use strongroom_core::store::{
    ConsentRow, SecretRelation, SecretRow, SocialIdentity, SsoIdentity, TokenSetMetadata, UnixSecs,
};
use strongroom_core::users::{self as core, Linked, UserWithIdentities};
use utoipa::ToSchema;

use super::{TENANT_ID, object};

/// A new user. Users sign in through providers only: a password is refused. `Debug` prints no
/// password.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateUser {
    /// Letters, digits and `_`, not starting with a digit; 128 at most.
    #[schema(max_length = 128)]
    pub username: Option<String>,
    #[schema(max_length = 254)]
    pub primary_email: Option<String>,
    /// Digits, optionally after `+`.
    #[schema(max_length = 21)]
    pub primary_phone: Option<String>,
    pub name: Option<String>,
    /// An http(s) URL.
    pub avatar: Option<String>,
    pub custom_data: Option<Map<String, Value>>,
    pub profile: Option<Map<String, Value>>,
    /// Refused (`user.password_not_supported`).
    pub password: Option<String>,
    /// Refused (`user.password_not_supported`).
    pub password_digest: Option<String>,
}

impl std::fmt::Debug for CreateUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |v: &Option<String>| v.as_ref().map(|_| "[redacted]");
        f.debug_struct("CreateUser")
            .field("username", &self.username)
            .field("primary_email", &self.primary_email)
            .field("name", &self.name)
            .field("password", &redacted(&self.password))
            .field("password_digest", &redacted(&self.password_digest))
            .finish_non_exhaustive()
    }
}

impl From<CreateUser> for core::CreateUser {
    fn from(c: CreateUser) -> Self {
        Self {
            username: c.username,
            primary_email: c.primary_email,
            primary_phone: c.primary_phone,
            name: c.name,
            avatar: c.avatar,
            custom_data: c.custom_data,
            profile: c.profile,
            password_given: c.password.is_some() || c.password_digest.is_some(),
        }
    }
}

/// A social identity to link.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IdentityBody {
    /// The user's id at the provider.
    #[schema(min_length = 1)]
    pub user_id: String,
    pub details: Option<Map<String, Value>>,
}

impl From<IdentityBody> for core::IdentityBody {
    fn from(b: IdentityBody) -> Self {
        Self {
            user_id: b.user_id,
            details: b.details,
        }
    }
}

/// A social identity, Logto's `{userId, details}`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    /// The user's id at the provider.
    pub user_id: String,
    /// The profile the provider gave.
    pub details: Map<String, Value>,
}

impl From<&SocialIdentity> for Identity {
    fn from(i: &SocialIdentity) -> Self {
        Self {
            user_id: i.identity_id.clone(),
            details: object(&i.details),
        }
    }
}

/// A user's social identities by target.
pub fn identities(list: &[SocialIdentity]) -> BTreeMap<String, Identity> {
    list.iter().map(|i| (i.target.clone(), i.into())).collect()
}

/// Logto's `UserSsoIdentity`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SsoIdentityBody {
    pub tenant_id: &'static str,
    pub id: String,
    pub user_id: String,
    pub issuer: String,
    /// The user's `sub` at the issuer.
    pub identity_id: String,
    /// The claims the issuer gave.
    pub detail: Map<String, Value>,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    pub updated_at: i64,
    pub sso_connector_id: String,
}

impl From<&SsoIdentity> for SsoIdentityBody {
    fn from(i: &SsoIdentity) -> Self {
        Self {
            tenant_id: TENANT_ID,
            id: i.id.clone(),
            user_id: i.user_id.to_string(),
            issuer: i.issuer.clone(),
            identity_id: i.identity_id.clone(),
            detail: object(&i.detail),
            created_at: i.created_at,
            updated_at: i.updated_at,
            sso_connector_id: i.sso_connector_id.to_string(),
        }
    }
}

/// What Strongroom knows of a stored token set, never the tokens.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenSetInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// When the access token expires, in seconds since the Unix epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    pub has_refresh_token: bool,
    /// Seconds since the Unix epoch of the last successful refresh.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_refreshed_at: Option<i64>,
    /// Why the last refresh failed (`refresh_token_revoked`, ...), until one succeeds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_error: Option<String>,
}

impl From<&TokenSetMetadata> for TokenSetInfo {
    fn from(m: &TokenSetMetadata) -> Self {
        Self {
            scope: m.scope.clone(),
            expires_at: m.expires_at.map(UnixSecs::get),
            token_type: m.token_type.clone(),
            has_refresh_token: m.has_refresh_token,
            last_refreshed_at: m.last_refreshed_at.map(UnixSecs::get),
            refresh_error: m.refresh_error.clone(),
        }
    }
}

/// A token secret as the Management API shows it: its metadata and what it belongs to, never
/// the tokens. A social one names `connectorId` and `target`, an SSO one `ssoConnectorId` and
/// `issuer`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenSecret {
    pub tenant_id: &'static str,
    pub id: String,
    pub user_id: String,
    /// `access_token`.
    #[serde(rename = "type")]
    pub secret_type: String,
    pub metadata: TokenSetInfo,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    pub updated_at: i64,
    /// The provider's user id.
    pub identity_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connector_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sso_connector_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
}

impl From<&SecretRow> for TokenSecret {
    fn from(s: &SecretRow) -> Self {
        let mut out = Self {
            tenant_id: TENANT_ID,
            id: s.id.to_string(),
            user_id: s.user_id.to_string(),
            secret_type: s.secret_type.clone(),
            metadata: (&s.metadata).into(),
            created_at: s.created_at,
            updated_at: s.updated_at,
            identity_id: String::new(),
            connector_id: None,
            target: None,
            sso_connector_id: None,
            issuer: None,
        };
        match &s.relation {
            SecretRelation::Social {
                connector_id,
                target,
                identity_id,
                ..
            } => {
                out.connector_id = Some(connector_id.to_string());
                out.target = Some(target.clone());
                out.identity_id = identity_id.clone();
            }
            SecretRelation::Sso {
                sso_connector_id,
                issuer,
                identity_id,
                ..
            } => {
                out.sso_connector_id = Some(sso_connector_id.to_string());
                out.issuer = Some(issuer.clone());
                out.identity_id = identity_id.clone();
            }
        }
        out
    }
}

/// `GET /api/users/{userId}/identities/{target}`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IdentityWithSecret {
    pub identity: Identity,
    /// With `includeTokenSecret`, when a token set is stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_secret: Option<TokenSecret>,
}

impl From<&Linked<SocialIdentity>> for IdentityWithSecret {
    fn from(l: &Linked<SocialIdentity>) -> Self {
        Self {
            identity: (&l.identity).into(),
            token_secret: l.secret.as_ref().map(Into::into),
        }
    }
}

/// `GET /api/users/{userId}/sso-identities/{ssoConnectorId}`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SsoIdentityWithSecret {
    pub sso_identity: SsoIdentityBody,
    /// With `includeTokenSecret`, when a token set is stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_secret: Option<TokenSecret>,
}

impl From<&Linked<SsoIdentity>> for SsoIdentityWithSecret {
    fn from(l: &Linked<SsoIdentity>) -> Self {
        Self {
            sso_identity: (&l.identity).into(),
            token_secret: l.secret.as_ref().map(Into::into),
        }
    }
}

/// One social identity among all of a user's.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TargetIdentity {
    pub target: String,
    #[serde(flatten)]
    pub identity: IdentityWithSecret,
}

/// One SSO identity among all of a user's.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorSsoIdentity {
    pub sso_connector_id: String,
    #[serde(flatten)]
    pub identity: SsoIdentityWithSecret,
}

/// `GET /api/users/{userId}/all-identities`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AllIdentities {
    pub social_identities: Vec<TargetIdentity>,
    pub sso_identities: Vec<ConnectorSsoIdentity>,
}

impl From<&core::AllIdentities> for AllIdentities {
    fn from(all: &core::AllIdentities) -> Self {
        Self {
            social_identities: all
                .social
                .iter()
                .map(|l| TargetIdentity {
                    target: l.identity.target.clone(),
                    identity: l.into(),
                })
                .collect(),
            sso_identities: all
                .sso
                .iter()
                .map(|l| ConnectorSsoIdentity {
                    sso_connector_id: l.identity.sso_connector_id.to_string(),
                    identity: l.into(),
                })
                .collect(),
        }
    }
}

/// Logto's user.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    #[schema(required)]
    pub username: Option<String>,
    #[schema(required)]
    pub primary_email: Option<String>,
    #[schema(required)]
    pub primary_phone: Option<String>,
    #[schema(required)]
    pub name: Option<String>,
    #[schema(required)]
    pub avatar: Option<String>,
    pub custom_data: Map<String, Value>,
    /// Social identities by target.
    pub identities: BTreeMap<String, Identity>,
    /// Milliseconds since the Unix epoch.
    #[schema(required)]
    pub last_sign_in_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub profile: Map<String, Value>,
    /// Always `null`.
    #[schema(required)]
    pub application_id: Option<String>,
    pub is_suspended: bool,
    /// Always `false`: users sign in through providers.
    pub has_password: bool,
}

impl From<&UserWithIdentities> for User {
    fn from(u: &UserWithIdentities) -> Self {
        let user = &u.user;
        Self {
            id: user.id.to_string(),
            username: user.username.clone(),
            primary_email: user.primary_email.clone(),
            primary_phone: user.primary_phone.clone(),
            name: user.name.clone(),
            avatar: user.avatar.clone(),
            custom_data: object(&user.custom_data),
            identities: identities(&u.identities),
            last_sign_in_at: user.last_sign_in_at,
            created_at: user.created_at,
            updated_at: user.updated_at,
            profile: object(&user.profile),
            application_id: None,
            is_suspended: user.is_suspended,
            has_password: false,
        }
    }
}

/// A grant (consent) the user gave a third-party application, in Logto's shape.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Grant {
    pub id: String,
    pub payload: GrantPayload,
    /// Milliseconds since the Unix epoch.
    pub expires_at: i64,
}

/// What a grant holds (oidc-provider's `Grant` model).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GrantPayload {
    /// Seconds since the Unix epoch.
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    /// `Grant`.
    pub kind: &'static str,
    pub client_id: String,
    pub account_id: String,
    pub openid: GrantScope,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GrantScope {
    /// Space-separated scopes.
    pub scope: String,
}

impl From<&ConsentRow> for Grant {
    fn from(c: &ConsentRow) -> Self {
        Self {
            id: c.id.clone(),
            payload: GrantPayload {
                exp: c.expires_at / 1000,
                iat: c.created_at / 1000,
                jti: c.id.clone(),
                kind: "Grant",
                client_id: c.application_id.to_string(),
                account_id: c.user_id.to_string(),
                openid: GrantScope {
                    scope: c.scope.clone(),
                },
            },
            expires_at: c.expires_at,
        }
    }
}

/// `{grants: [...]}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Grants {
    pub grants: Vec<Grant>,
}

impl From<&[ConsentRow]> for Grants {
    fn from(list: &[ConsentRow]) -> Self {
        Self {
            grants: list.iter().map(Into::into).collect(),
        }
    }
}
