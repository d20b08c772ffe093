//! `/api/applications`: Logto's application shapes.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use strongroom_core::applications as core;
use strongroom_core::store::{ApplicationRow, TokenExchangeSettings};
use utoipa::ToSchema;

use super::{TENANT_ID, object};

/// Logto's application types.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
pub enum ApplicationType {
    Traditional,
    #[allow(clippy::upper_case_acronyms)]
    SPA,
    Native,
    MachineToMachine,
}

impl ApplicationType {
    fn as_str(self) -> &'static str {
        match self {
            Self::Traditional => "Traditional",
            Self::SPA => "SPA",
            Self::Native => "Native",
            Self::MachineToMachine => "MachineToMachine",
        }
    }
}

/// An application's OpenID client metadata.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientMetadata {
    /// Absolute URIs without a fragment.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// Kept and returned as Logto does; Strongroom sends no back-channel logout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backchannel_logout_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backchannel_logout_session_required: Option<bool>,
    /// An http(s) URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
}

impl From<ClientMetadata> for core::ClientMetadata {
    fn from(m: ClientMetadata) -> Self {
        Self {
            redirect_uris: m.redirect_uris,
            post_logout_redirect_uris: m.post_logout_redirect_uris,
            backchannel_logout_uri: m.backchannel_logout_uri,
            backchannel_logout_session_required: m.backchannel_logout_session_required,
            logo_uri: m.logo_uri,
        }
    }
}

/// Strongroom: what an application may read from the vault besides the Account API. Off until
/// an administrator turns it on; see the README's "Token exchange".
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenExchange {
    /// It may exchange a user's Strongroom access or refresh token (RFC 8693) for that user's
    /// provider token.
    #[serde(default)]
    pub enabled: bool,
    /// The connections it may read: `urn:strongroom:connector:<target>` or
    /// `urn:strongroom:sso-connector:<id>`; at most 64.
    #[serde(default)]
    #[schema(max_items = 64)]
    pub connectors: Vec<String>,
    /// Other applications whose users' tokens it may present; at most 64.
    #[serde(default)]
    #[schema(max_items = 64)]
    pub act_for: Vec<String>,
    /// Break-glass: it may read without a user token, naming the user by id, when it
    /// authenticates with `private_key_jwt`. Needs `jwks`; every such read is audited as such.
    #[serde(default)]
    pub worker: bool,
    /// Its public signing keys for `private_key_jwt` (RFC 7523): a JWK set of 1 to 10 RSA, EC
    /// or Ed25519 public keys. Confidential applications only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<Value>,
}

impl From<TokenExchange> for TokenExchangeSettings {
    fn from(t: TokenExchange) -> Self {
        Self {
            enabled: t.enabled,
            connectors: t.connectors,
            act_for: t.act_for,
            worker: t.worker,
            jwks: t.jwks,
        }
    }
}

impl From<&TokenExchangeSettings> for TokenExchange {
    fn from(t: &TokenExchangeSettings) -> Self {
        Self {
            enabled: t.enabled,
            connectors: t.connectors.clone(),
            act_for: t.act_for.clone(),
            worker: t.worker,
            jwks: t.jwks.clone(),
        }
    }
}

/// A new application. Confidential types (`Traditional`, `MachineToMachine`) get a client
/// secret, returned this once.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewApplication {
    /// 1 to 256 characters, not only spaces.
    #[schema(min_length = 1, max_length = 256)]
    pub name: String,
    #[serde(rename = "type")]
    pub app_type: ApplicationType,
    #[schema(max_length = 2048)]
    pub description: Option<String>,
    pub oidc_client_metadata: Option<ClientMetadata>,
    pub custom_client_metadata: Option<Map<String, Value>>,
    pub custom_data: Option<Map<String, Value>>,
    /// A third-party application asks the user's consent and receives no provider tokens
    /// unless `allowProviderTokens`.
    pub is_third_party: Option<bool>,
    /// Protected apps are not served: only `null`.
    #[schema(value_type = Option<Object>)]
    pub protected_app_metadata: Option<Value>,
    /// Strongroom: whether a third-party application may receive users' provider tokens
    /// (the `identities` scope). Off by default; switching it off revokes the application's
    /// tokens.
    pub allow_provider_tokens: Option<bool>,
    /// Strongroom: token exchange and break-glass reads (none by default).
    pub token_exchange: Option<TokenExchange>,
}

impl From<NewApplication> for core::NewApplication {
    fn from(n: NewApplication) -> Self {
        Self {
            name: n.name,
            app_type: n.app_type.as_str().to_owned(),
            description: n.description,
            oidc_client_metadata: n.oidc_client_metadata.map(Into::into),
            custom_client_metadata: n.custom_client_metadata,
            custom_data: n.custom_data,
            is_third_party: n.is_third_party,
            protected_app_metadata: n.protected_app_metadata,
            allow_provider_tokens: n.allow_provider_tokens,
            token_exchange: n.token_exchange.map(Into::into),
        }
    }
}

/// A partial update.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApplicationPatch {
    #[schema(min_length = 1, max_length = 256)]
    pub name: Option<String>,
    #[schema(max_length = 2048)]
    pub description: Option<String>,
    pub oidc_client_metadata: Option<ClientMetadata>,
    pub custom_client_metadata: Option<Map<String, Value>>,
    pub custom_data: Option<Map<String, Value>>,
    pub allow_provider_tokens: Option<bool>,
    /// Replaces the application's token exchange settings as a whole.
    pub token_exchange: Option<TokenExchange>,
}

impl From<ApplicationPatch> for core::ApplicationPatch {
    fn from(p: ApplicationPatch) -> Self {
        Self {
            name: p.name,
            description: p.description,
            oidc_client_metadata: p.oidc_client_metadata.map(Into::into),
            custom_client_metadata: p.custom_client_metadata,
            custom_data: p.custom_data,
            allow_provider_tokens: p.allow_provider_tokens,
            token_exchange: p.token_exchange.map(Into::into),
        }
    }
}

/// An application as Logto answers it. `secret` is set only in the answer that created it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Application {
    /// Always `default`.
    pub tenant_id: &'static str,
    /// The OAuth client id.
    pub id: String,
    pub name: String,
    /// The client secret of a confidential application, in the creation answer only.
    #[schema(required)]
    pub secret: Option<String>,
    #[schema(required)]
    pub description: Option<String>,
    #[serde(rename = "type")]
    #[schema(value_type = ApplicationType)]
    pub app_type: String,
    pub oidc_client_metadata: ClientMetadata,
    pub custom_client_metadata: Map<String, Value>,
    /// Always `null`: protected apps are not served.
    #[schema(required, value_type = Option<Object>)]
    pub protected_app_metadata: Option<Value>,
    pub custom_data: Map<String, Value>,
    pub is_third_party: bool,
    /// Always `false`.
    pub app_level_access_control_enabled: bool,
    /// Strongroom: whether a third-party application may receive users' provider tokens.
    pub allow_provider_tokens: bool,
    /// Strongroom: token exchange and break-glass reads.
    pub token_exchange: TokenExchange,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
}

impl Application {
    /// The application `row`; `secret` only when it was just created.
    pub fn new(row: &ApplicationRow, secret: Option<&str>) -> Self {
        Self {
            tenant_id: TENANT_ID,
            id: row.id.to_string(),
            name: row.name.clone(),
            secret: secret.map(str::to_owned),
            description: row.description.clone(),
            app_type: row.app_type.clone(),
            oidc_client_metadata: serde_json::from_value(row.oidc_client_metadata.clone())
                .unwrap_or_default(),
            custom_client_metadata: object(&row.custom_client_metadata),
            protected_app_metadata: None,
            custom_data: object(&row.custom_data),
            is_third_party: row.is_third_party,
            app_level_access_control_enabled: false,
            allow_provider_tokens: row.allow_provider_tokens,
            token_exchange: (&row.token_exchange).into(),
            created_at: row.created_at,
        }
    }
}
