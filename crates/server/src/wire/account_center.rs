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
    pub fields: BTreeMap<AccountField, FieldControl>,
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

/// A field the Account Center controls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum AccountField {
    Name,
    Avatar,
    Profile,
    Email,
    Phone,
    Password,
    Username,
    Social,
    CustomData,
    Mfa,
    Passkey,
    Session,
}

/// A change of the Account Center settings: the settings given replace the stored ones
/// (`fields` as a whole, as in Logto).
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccountCenterPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<BTreeMap<AccountField, FieldControl>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_items = 64)]
    pub webauthn_related_origins: Option<Vec<String>>,
    /// An http(s) URL, or `null`.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub delete_account_url: Option<Option<String>>,
    /// 64 KiB at most, or `null`.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, max_length = 65536)]
    pub custom_css: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<Vec<Value>>)]
    pub profile_fields: Option<Option<Vec<Value>>>,
}

/// A field that is present, even as `null` (`Some(None)`); an absent one stays `None`.
fn present<'de, T, D>(d: D) -> Result<Option<T>, D::Error>
where
    T: Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    T::deserialize(d).map(Some)
}

impl AccountCenterPatch {
    /// The settings given, as the Account Center service takes them.
    pub fn into_value(self) -> Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}
