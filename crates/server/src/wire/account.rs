//! `/api/my-account` and `/api/verifications`: the signed-in user's own account, provider
//! tokens and verification records.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use strongroom_core::ExposeSecret;
use strongroom_core::account_center::control;
use strongroom_core::token_access::AccessToken;
use strongroom_core::users::UserWithIdentities;
use strongroom_core::verifications as core;
use utoipa::ToSchema;

use super::users::{Identity, User};

/// The signed-in user as the Account Center shows it: the id and timestamps always, every other
/// field only when the Account Center does not set it `Off` (Logto's filtering).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MyAccount {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_email: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_phone: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avatar: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<Map<String, Value>>,
    /// Social identities by target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identities: Option<BTreeMap<String, Identity>>,
    /// Milliseconds since the Unix epoch.
    #[schema(required)]
    pub last_sign_in_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<Map<String, Value>>,
    /// Always `null`.
    #[schema(required)]
    pub application_id: Option<String>,
    pub is_suspended: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub has_password: Option<bool>,
}

impl MyAccount {
    /// `user` as the Account Center `settings` show it.
    pub fn new(user: &UserWithIdentities, settings: &Value) -> Self {
        let User {
            id,
            username,
            primary_email,
            primary_phone,
            name,
            avatar,
            custom_data,
            identities,
            last_sign_in_at,
            created_at,
            updated_at,
            profile,
            application_id,
            is_suspended,
            has_password,
        } = User::from(user);
        let shown = |field: &str| control(settings, field) != "Off";
        Self {
            id,
            username: shown("username").then_some(username),
            primary_email: shown("email").then_some(primary_email),
            primary_phone: shown("phone").then_some(primary_phone),
            name: shown("name").then_some(name),
            avatar: shown("avatar").then_some(avatar),
            custom_data: shown("customData").then_some(custom_data),
            identities: shown("social").then_some(identities),
            last_sign_in_at,
            created_at,
            updated_at,
            profile: shown("profile").then_some(profile),
            application_id,
            is_suspended,
            has_password: shown("password").then_some(has_password),
        }
    }
}

/// A provider access token of the signed-in user. No `Debug`: it is the token.
#[allow(missing_debug_implementations)]
#[derive(Serialize, ToSchema)]
pub struct ProviderAccessToken {
    pub access_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    /// Seconds until it expires, when the provider said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<i64>,
}

impl From<&AccessToken> for ProviderAccessToken {
    fn from(t: &AccessToken) -> Self {
        Self {
            access_token: t.access_token.expose_secret().to_owned(),
            scope: t.scope.clone(),
            token_type: t.token_type.clone(),
            expires_in: t.expires_in,
        }
    }
}

/// Logto's `verificationRecordId` and the seed document's `socialVerificationId`: one of them.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplaceBody {
    pub verification_record_id: Option<String>,
    pub social_verification_id: Option<String>,
}

/// Links a verified record's provider account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LinkBody {
    pub new_identifier_verification_record_id: String,
}

/// A social verification to start.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateSocial {
    /// A social connector's id.
    pub connector_id: String,
    /// The application's state, sent back to its `redirectUri`.
    pub state: String,
    /// Where the provider sends the user back: the application's page.
    pub redirect_uri: String,
    /// Custom scopes to ask the provider for.
    pub scope: Option<String>,
}

impl From<CreateSocial> for core::CreateSocial {
    fn from(c: CreateSocial) -> Self {
        Self {
            connector_id: c.connector_id,
            state: c.state,
            redirect_uri: c.redirect_uri,
            scope: c.scope,
        }
    }
}

/// What the provider sent back to the application's redirect URI. `Debug` prints neither the
/// code nor the state.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorData {
    pub code: String,
    pub state: Option<String>,
    pub redirect_uri: Option<String>,
    /// RFC 9207's `iss`, when the provider sent one.
    pub iss: Option<String>,
}

/// A record to verify with the provider's answer.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerifyBody {
    pub verification_record_id: String,
    pub connector_data: ConnectorData,
}

impl std::fmt::Debug for ConnectorData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectorData")
            .field("code", &"[redacted]")
            .field("state", &self.state.as_ref().map(|_| "[redacted]"))
            .field("redirect_uri", &self.redirect_uri)
            .field("iss", &self.iss)
            .finish()
    }
}

impl From<ConnectorData> for core::ConnectorData {
    fn from(d: ConnectorData) -> Self {
        Self {
            code: d.code,
            state: d.state,
            redirect_uri: d.redirect_uri,
            iss: d.iss,
        }
    }
}

/// A created social verification record.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SocialVerificationCreated {
    pub verification_record_id: String,
    /// Where to send the user: the provider's authorization URL with the caller's `state`.
    pub authorization_uri: String,
    /// ISO 8601, ten minutes after creation.
    #[schema(format = DateTime)]
    pub expires_at: String,
}

impl From<&core::Created> for SocialVerificationCreated {
    fn from(c: &core::Created) -> Self {
        Self {
            verification_record_id: c.id.clone(),
            authorization_uri: c.authorization_uri.clone(),
            expires_at: super::iso8601(c.expires_at),
        }
    }
}

/// A verified social verification record.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SocialVerificationVerified {
    pub verification_record_id: String,
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use strongroom_core::store::{UserId, UserRow};

    use super::*;

    #[test]
    fn fields_that_are_off_are_left_out_of_my_account() {
        let user = UserWithIdentities {
            user: UserRow {
                id: UserId::from("u1".to_owned()),
                username: None,
                primary_email: Some("a@x.example".into()),
                primary_email_verified_by: None,
                primary_phone: None,
                name: Some("A".into()),
                avatar: None,
                profile: json!({}),
                custom_data: json!({}),
                is_suspended: false,
                last_sign_in_at: Some(1),
                created_at: 1,
                updated_at: 1,
            },
            identities: Vec::new(),
        };
        let every = json!({"fields": {"name": "Edit", "email": "Edit", "phone": "Edit", "username": "Edit",
            "avatar": "Edit", "customData": "Edit", "social": "Edit", "profile": "Edit", "password": "Edit"}});
        let shown = serde_json::to_value(MyAccount::new(&user, &every)).expect("json");
        assert_eq!(
            shown,
            serde_json::to_value(User::from(&user)).expect("json")
        );
        let narrowed = serde_json::to_value(MyAccount::new(
            &user,
            &json!({"fields": {"name": "ReadOnly"}}),
        ))
        .expect("json");
        assert_eq!(
            narrowed,
            json!({"id": "u1", "name": "A", "lastSignInAt": 1, "createdAt": 1, "updatedAt": 1,
                   "applicationId": null, "isSuspended": false})
        );
    }
}
