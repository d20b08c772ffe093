//! `/api/account-center`: Logto's Account Center settings.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// What a user may do with a profile field through the Account API.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
pub enum FieldControl {
    Off,
    ReadOnly,
    Edit,
}

/// The Account Center settings.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountCenterSettings {
    /// Always `default`.
    pub tenant_id: String,
    /// Always `default`.
    pub id: String,
    /// Whether the Account and Verification APIs answer at all.
    pub enabled: bool,
    /// Per field (`name`, `avatar`, `profile`, `email`, `phone`, `password`, `username`,
    /// `social`, `customData`, `mfa`, `passkey`, `session`); a field left out is `Off`.
    pub fields: BTreeMap<String, FieldControl>,
    pub webauthn_related_origins: Vec<String>,
    #[schema(required)]
    pub delete_account_url: Option<String>,
    #[schema(required)]
    pub custom_css: Option<String>,
    #[schema(required)]
    pub profile_fields: Option<Vec<Value>>,
}

impl AccountCenterSettings {
    /// The settings the Account Center service keeps (it validates every change, so they
    /// always have this shape).
    pub fn new(settings: &Value) -> Result<Self, serde_json::Error> {
        Self::deserialize(settings)
    }
}
