//! Logto's Account Center settings: whether the Account API is on, and per profile field
//! whether a user sees it (`ReadOnly`), may change it (`Edit`) or neither (`Off`).
//!
//! Strongroom's default differs from Logto's on purpose: the Account API is on and every field
//! editable, which is how it behaved before the settings existed, so nothing configured then
//! breaks. An administrator narrows it with `PATCH /api/account-center`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};
use strongroom_store::Store;

use crate::cached::Cached;
use crate::{Clock, CoreError, Result};

/// The fields Logto's Account Center controls.
pub const FIELDS: &[&str] = &[
    "name",
    "avatar",
    "profile",
    "email",
    "phone",
    "password",
    "username",
    "social",
    "customData",
    "mfa",
    "passkey",
    "session",
];
const CONTROLS: &[&str] = &["Off", "ReadOnly", "Edit"];

/// How long a process trusts its copy of the settings; a change in this process drops it at
/// once, one in another process is seen within this time.
const CACHE_TTL: Duration = Duration::from_secs(5);

/// Why the Account API refuses a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AccountCenterRefusal {
    #[error("the Account Center (the Account API) is not enabled")]
    NotEnabled,
    #[error("this field is not editable in the Account Center")]
    NotEditable,
}

/// The settings service.
#[derive(Debug, Clone)]
pub struct AccountCenter {
    store: Store,
    clock: Arc<dyn Clock>,
    cache: Arc<Cached<Value>>,
}

/// Strongroom's default settings (see the module documentation).
fn defaults() -> Value {
    let fields: Map<String, Value> = FIELDS
        .iter()
        .map(|f| ((*f).to_owned(), json!("Edit")))
        .collect();
    json!({
        "enabled": true,
        "fields": fields,
        "webauthnRelatedOrigins": [],
        "deleteAccountUrl": null,
        "customCss": null,
        "profileFields": null,
    })
}

impl AccountCenter {
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            cache: Arc::new(Cached::new(CACHE_TTL, clock.clone())),
            clock,
        }
    }

    /// The settings in Logto's shape.
    pub async fn settings(&self) -> Result<Arc<Value>> {
        if let Some(settings) = self.cache.get() {
            return Ok(settings);
        }
        let mut settings = defaults();
        if let Some(Value::Object(stored)) = self.store.get_account_center().await? {
            for (k, v) in stored {
                settings[k] = v;
            }
        }
        settings["tenantId"] = json!("default");
        settings["id"] = json!("default");
        Ok(self.cache.put(settings))
    }

    /// `PATCH /api/account-center`: `enabled`, `fields` (replaced as a whole, as in Logto),
    /// `webauthnRelatedOrigins`, `deleteAccountUrl`, `customCss`, `profileFields`.
    pub async fn update(&self, patch: Value) -> Result<Arc<Value>> {
        let Value::Object(patch) = patch else {
            return Err(CoreError::Validation(
                "the body must be a JSON object".into(),
            ));
        };
        let mut settings = (*self.settings().await?).clone();
        for (key, value) in patch {
            let valid = match key.as_str() {
                "enabled" => value.is_boolean(),
                "fields" => value.as_object().is_some_and(|fields| {
                    fields.iter().all(|(f, c)| {
                        FIELDS.contains(&f.as_str())
                            && c.as_str().is_some_and(|c| CONTROLS.contains(&c))
                    })
                }),
                "webauthnRelatedOrigins" => value
                    .as_array()
                    .is_some_and(|a| a.len() <= 64 && a.iter().all(Value::is_string)),
                "deleteAccountUrl" => {
                    value.is_null()
                        || value
                            .as_str()
                            .is_some_and(|u| crate::limits::is_web_url(u, crate::limits::URL))
                }
                "customCss" => value.is_null() || value.as_str().is_some_and(|c| c.len() <= 65_536),
                "profileFields" => value.is_null() || value.is_array(),
                _ => {
                    return Err(CoreError::Validation(format!(
                        "`{}` is not an Account Center setting",
                        key.chars().take(64).collect::<String>()
                    )));
                }
            };
            if !valid {
                return Err(CoreError::Validation(format!(
                    "`{key}` has an invalid value"
                )));
            }
            settings[key] = value;
        }
        for generated in ["tenantId", "id"] {
            if let Some(map) = settings.as_object_mut() {
                map.remove(generated);
            }
        }
        self.store
            .save_account_center(&settings, self.clock.now_ms())
            .await?;
        self.cache.clear();
        self.settings().await
    }

    /// The Account API is on: every Account and Verification API request checks this first.
    pub async fn require_enabled(
        &self,
    ) -> Result<std::result::Result<Arc<Value>, AccountCenterRefusal>> {
        let settings = self.settings().await?;
        Ok(if settings["enabled"] == true {
            Ok(settings)
        } else {
            Err(AccountCenterRefusal::NotEnabled)
        })
    }
}

/// The control of `field` in `settings` (`Off` when absent, as in Logto).
pub fn control<'a>(settings: &'a Value, field: &str) -> &'a str {
    settings["fields"][field].as_str().unwrap_or("Off")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_the_settings_leave_out_is_off() {
        let mut settings = defaults();
        assert_eq!(control(&settings, "social"), "Edit");
        settings["fields"] = json!({"name": "ReadOnly"});
        assert_eq!(control(&settings, "name"), "ReadOnly");
        assert_eq!(control(&settings, "social"), "Off");
    }
}
