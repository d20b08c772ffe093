//! `/api/connector-factories`, `/api/connectors` and `/api/sso-connectors`: Logto's connector
//! shapes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use strongroom_core::connectors as core;
use strongroom_core::store::{ConnectorRow, SsoConnectorRow};
use strongroom_providers::FactoryMetadata;
use utoipa::ToSchema;

use super::{TENANT_ID, object};

/// A social connector type Strongroom implements.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorFactory {
    /// `github`, `google`, `facebook`, `oauth2` or `oidc`.
    pub id: &'static str,
    /// The identity key of its connectors: the same as the id.
    pub target: &'static str,
    /// Always `Social`.
    #[serde(rename = "type")]
    pub connector_type: &'static str,
    /// `Universal`, `Web`, or `null`.
    #[schema(required)]
    pub platform: Option<&'static str>,
    /// Display name by language (`{"en": ...}`).
    pub name: BTreeMap<&'static str, &'static str>,
    /// Description by language.
    pub description: BTreeMap<&'static str, &'static str>,
    /// An inline SVG data URL.
    pub logo: &'static str,
    /// `null`: use `logo`.
    #[schema(required)]
    pub logo_dark: Option<&'static str>,
    /// Short markdown help.
    pub readme: &'static str,
    /// Standard connectors (generic OAuth 2.0 and OIDC) may be added more than once.
    pub is_standard: bool,
    pub is_token_storage_supported: bool,
    /// An example configuration, as JSON text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_template: Option<&'static str>,
    /// The configuration fields (`key`, `label`, `type`, `required`, `defaultValue`,
    /// `description`).
    #[schema(value_type = Vec<Object>)]
    pub form_items: Value,
}

impl From<FactoryMetadata> for ConnectorFactory {
    fn from(f: FactoryMetadata) -> Self {
        Self {
            id: f.id,
            target: f.target,
            connector_type: f.connector_type,
            platform: f.platform,
            name: f.name,
            description: f.description,
            logo: f.logo,
            logo_dark: f.logo_dark,
            readme: f.readme,
            is_standard: f.is_standard,
            is_token_storage_supported: f.is_token_storage_supported,
            config_template: f.config_template,
            form_items: f.form_items,
        }
    }
}

/// A standard connector's own metadata (oauth2, oidc): it overrides its factory's. Other keys
/// are kept as given.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorMetadata {
    /// The identity key; the factory's when absent, fixed once created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Display name by language (`{"en": ...}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logo: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logo_dark: Option<String>,
    #[serde(flatten)]
    #[schema(ignore)]
    pub other: Map<String, Value>,
}

impl ConnectorMetadata {
    fn into_value(self) -> Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// A new social connector.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewConnector {
    /// Letters, digits, `-` and `_`, 128 at most; generated when absent.
    #[schema(max_length = 128, pattern = r"^[A-Za-z0-9_-]*$")]
    pub id: Option<String>,
    /// The factory id (see `/api/connector-factories`).
    pub connector_id: String,
    /// The provider configuration; `clientSecret` is sealed and never returned.
    #[schema(value_type = Option<Object>)]
    pub config: Option<Value>,
    /// Standard connectors (oauth2, oidc) only.
    pub metadata: Option<ConnectorMetadata>,
    pub sync_profile: Option<bool>,
    pub enable_token_storage: Option<bool>,
}

impl From<NewConnector> for core::NewConnector {
    fn from(n: NewConnector) -> Self {
        Self {
            id: n.id,
            connector_id: n.connector_id,
            config: n.config,
            metadata: n.metadata.map(ConnectorMetadata::into_value),
            sync_profile: n.sync_profile,
            enable_token_storage: n.enable_token_storage,
        }
    }
}

/// A partial update. A `config` without `clientSecret` keeps the stored one;
/// `enableTokenStorage: false` deletes (and revokes) the stored token sets.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorPatch {
    #[schema(value_type = Option<Object>)]
    pub config: Option<Value>,
    pub metadata: Option<ConnectorMetadata>,
    pub sync_profile: Option<bool>,
    pub enable_token_storage: Option<bool>,
}

impl From<ConnectorPatch> for core::ConnectorPatch {
    fn from(p: ConnectorPatch) -> Self {
        Self {
            config: p.config,
            metadata: p.metadata.map(ConnectorMetadata::into_value),
            sync_profile: p.sync_profile,
            enable_token_storage: p.enable_token_storage,
        }
    }
}

/// A social connector: its factory's metadata, overridden by a standard connector's own
/// `target`, `name` and logos, and its settings. Secret configuration fields are never included.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Connector {
    pub id: String,
    /// The factory id.
    pub connector_id: String,
    /// The identity key of the users who sign in through it.
    pub target: String,
    /// Always `Social`.
    #[serde(rename = "type")]
    pub connector_type: &'static str,
    #[schema(required)]
    pub platform: Option<&'static str>,
    /// Display name by language.
    pub name: BTreeMap<String, String>,
    pub description: BTreeMap<&'static str, &'static str>,
    pub logo: String,
    #[schema(required)]
    pub logo_dark: Option<String>,
    pub readme: &'static str,
    pub is_standard: bool,
    pub is_token_storage_supported: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_template: Option<&'static str>,
    #[schema(value_type = Vec<Object>)]
    pub form_items: Value,
    pub sync_profile: bool,
    pub enable_token_storage: bool,
    /// The configuration without its secret fields.
    pub config: Map<String, Value>,
    pub metadata: Map<String, Value>,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
}

impl Connector {
    /// The connector `row`. `None` when its factory is unknown, which the connector service
    /// never stores.
    pub fn new(row: &ConnectorRow) -> Option<Self> {
        let factory = core::factory(&row.connector_id)?;
        let own = core::own_metadata(row);
        Some(Self {
            id: row.id.to_string(),
            connector_id: row.connector_id.clone(),
            target: row.target.clone(),
            connector_type: factory.connector_type,
            platform: factory.platform,
            name: own.name.unwrap_or_else(|| {
                factory
                    .name
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect()
            }),
            description: factory.description,
            logo: own.logo.unwrap_or_else(|| factory.logo.to_owned()),
            logo_dark: own
                .logo_dark
                .or_else(|| factory.logo_dark.map(str::to_owned)),
            readme: factory.readme,
            is_standard: factory.is_standard,
            is_token_storage_supported: factory.is_token_storage_supported,
            config_template: factory.config_template,
            form_items: factory.form_items,
            sync_profile: row.sync_profile,
            enable_token_storage: row.enable_token_storage,
            config: object(&row.config),
            metadata: object(&row.metadata),
            created_at: row.created_at,
        })
    }
}

/// A new enterprise SSO connector.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewSsoConnector {
    /// `OIDC`.
    pub provider_name: String,
    /// Unique among SSO connectors.
    #[schema(max_length = 128)]
    pub connector_name: String,
    /// `issuer`, `clientId`, `clientSecret` (sealed), `scope`, ...
    #[schema(value_type = Option<Object>)]
    pub config: Option<Value>,
    /// E-mail domains routed to this connector.
    pub domains: Option<Vec<String>>,
    #[schema(value_type = Option<Object>)]
    pub branding: Option<Value>,
    pub sync_profile: Option<bool>,
    pub enable_token_storage: Option<bool>,
}

impl From<NewSsoConnector> for core::NewSsoConnector {
    fn from(n: NewSsoConnector) -> Self {
        Self {
            provider_name: n.provider_name,
            connector_name: n.connector_name,
            config: n.config,
            domains: n.domains,
            branding: n.branding,
            sync_profile: n.sync_profile,
            enable_token_storage: n.enable_token_storage,
        }
    }
}

/// A partial update of an SSO connector.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SsoConnectorPatch {
    #[schema(max_length = 128)]
    pub connector_name: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub config: Option<Value>,
    pub domains: Option<Vec<String>>,
    #[schema(value_type = Option<Object>)]
    pub branding: Option<Value>,
    pub sync_profile: Option<bool>,
    pub enable_token_storage: Option<bool>,
}

impl From<SsoConnectorPatch> for core::SsoConnectorPatch {
    fn from(p: SsoConnectorPatch) -> Self {
        Self {
            connector_name: p.connector_name,
            config: p.config,
            domains: p.domains,
            branding: p.branding,
            sync_profile: p.sync_profile,
            enable_token_storage: p.enable_token_storage,
        }
    }
}

/// An enterprise SSO (OIDC) connector. Secret configuration fields are never included.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SsoConnector {
    /// Always `default`.
    pub tenant_id: &'static str,
    pub id: String,
    /// `OIDC`.
    pub provider_name: String,
    pub connector_name: String,
    /// The configuration without its secret fields.
    pub config: Map<String, Value>,
    /// The e-mail domains routed to it, lower-case.
    pub domains: Vec<String>,
    pub branding: Map<String, Value>,
    pub sync_profile: bool,
    pub enable_token_storage: bool,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    /// Always `oidc`.
    pub provider_type: &'static str,
    pub provider_logo: &'static str,
    pub provider_logo_dark: &'static str,
    /// The issuer's discovery document, when it could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_config: Option<Map<String, Value>>,
}

impl SsoConnector {
    /// The SSO connector `row`, with the discovery document when there is one.
    pub fn new(row: &SsoConnectorRow, provider_config: Option<Value>) -> Self {
        Self {
            tenant_id: TENANT_ID,
            id: row.id.to_string(),
            provider_name: row.provider_name.clone(),
            connector_name: row.connector_name.clone(),
            config: object(&row.config),
            domains: row.domains.clone(),
            branding: object(&row.branding),
            sync_profile: row.sync_profile,
            enable_token_storage: row.enable_token_storage,
            created_at: row.created_at,
            provider_type: "oidc",
            provider_logo: OIDC_LOGO,
            provider_logo_dark: OIDC_LOGO,
            provider_config: provider_config.and_then(|c| match c {
                Value::Object(map) => Some(map),
                _ => None,
            }),
        }
    }
}

const OIDC_LOGO: &str = "data:image/svg+xml;utf8,<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 32 32'>\
<rect width='32' height='32' rx='6' fill='%23F78C40'/><text x='16' y='22' font-size='18' font-family='sans-serif' \
text-anchor='middle' fill='white'>O</text></svg>";
