//! Applications that sign users in through Strongroom's OpenID provider (Logto's shapes).

use secrecy::SecretString;
use serde_json::{Map, Value};
use strongroom_store::{ApplicationId, ApplicationRow, Store, TokenExchangeSettings};

use crate::cached::Cached;
use crate::crypto::{random_token, token_hash};
use crate::oidc::Revocations;
use crate::{Clock, CoreError, Result, limits};

/// Logto's application types.
pub const APPLICATION_TYPES: &[&str] = &["Traditional", "SPA", "Native", "MachineToMachine"];

/// Whether an application type authenticates with a client secret.
pub fn is_confidential(app_type: &str) -> bool {
    matches!(app_type, "Traditional" | "MachineToMachine")
}

/// What an application is created with.
#[derive(Debug, Clone, Default)]
pub struct NewApplication {
    pub name: String,
    pub app_type: String,
    pub description: Option<String>,
    pub oidc_client_metadata: Option<ClientMetadata>,
    pub custom_client_metadata: Option<Map<String, Value>>,
    pub custom_data: Option<Map<String, Value>>,
    pub is_third_party: Option<bool>,
    /// Logto's protected apps are not served: only `null` is accepted.
    pub protected_app_metadata: Option<Value>,
    /// Whether a third-party application may receive users' provider tokens (the `identities`
    /// scope); Strongroom's own field, off by default.
    pub allow_provider_tokens: Option<bool>,
    /// What it may read through token exchange (none by default).
    pub token_exchange: Option<TokenExchangeSettings>,
}

/// A partial update (PATCH).
#[derive(Debug, Clone, Default)]
pub struct ApplicationPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub oidc_client_metadata: Option<ClientMetadata>,
    pub custom_client_metadata: Option<Map<String, Value>>,
    pub custom_data: Option<Map<String, Value>>,
    pub allow_provider_tokens: Option<bool>,
    /// Replaces what it may read through token exchange.
    pub token_exchange: Option<TokenExchangeSettings>,
}

/// An application's OpenID client metadata, stored as this JSON.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientMetadata {
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// Kept and returned as Logto does; Strongroom sends no back-channel logout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backchannel_logout_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backchannel_logout_session_required: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
}

impl ClientMetadata {
    fn validate(&self) -> Result<()> {
        if self.redirect_uris.len() > limits::REDIRECT_URIS
            || self.post_logout_redirect_uris.len() > limits::REDIRECT_URIS
        {
            return Err(CoreError::Validation(format!(
                "an application has at most {} redirect URIs of each kind",
                limits::REDIRECT_URIS
            )));
        }
        for uri in self
            .redirect_uris
            .iter()
            .chain(&self.post_logout_redirect_uris)
            .chain(&self.backchannel_logout_uri)
        {
            if !limits::is_redirect_uri(uri) {
                return Err(CoreError::Validation(format!(
                    "`{}` is not an absolute URI of at most {} characters, without a fragment, \
                     whose scheme a browser does not execute (javascript:, data:, vbscript:, file:)",
                    uri.chars().take(100).collect::<String>(),
                    limits::URL
                )));
            }
        }
        if self
            .logo_uri
            .as_deref()
            .is_some_and(|u| !limits::is_web_url(u, limits::URL))
        {
            return Err(CoreError::Validation(
                "logoUri must be an http(s) URL".into(),
            ));
        }
        Ok(())
    }
}

fn check_name(name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(CoreError::Validation("name must not be empty".into()));
    }
    limits::check_len("name", name, limits::APP_NAME)
}

/// The application service.
#[derive(Debug, Clone)]
pub struct Applications {
    store: Store,
    clock: std::sync::Arc<dyn Clock>,
    revocations: std::sync::Arc<Revocations>,
    origins: std::sync::Arc<Cached<std::collections::HashSet<String>>>,
}

/// How long a process trusts its list of browser origins; a change in this process drops it
/// at once, one in another process is seen within this time.
const ORIGINS_TTL: std::time::Duration = std::time::Duration::from_secs(5);

/// The web origin (`scheme://host[:port]`) of an http(s) URL; `None` for anything else.
fn web_origin(url: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    matches!(url.scheme(), "http" | "https").then(|| url.origin().ascii_serialization())
}

/// The origins an application's browser code calls from: those of its redirect URIs, and the
/// ones it lists in `customClientMetadata.corsAllowedOrigins` (Logto's field).
pub fn cors_origins(row: &ApplicationRow) -> impl Iterator<Item = String> + '_ {
    let listed = row.custom_client_metadata["corsAllowedOrigins"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str());
    redirect_uris(row)
        .into_iter()
        .filter_map(|uri| web_origin(&uri))
        .chain(listed.filter_map(web_origin))
}

impl Applications {
    pub fn new(
        store: Store,
        clock: std::sync::Arc<dyn Clock>,
        revocations: std::sync::Arc<Revocations>,
    ) -> Self {
        Self {
            store,
            origins: std::sync::Arc::new(Cached::new(ORIGINS_TTL, clock.clone())),
            clock,
            revocations,
        }
    }

    /// Whether a browser page of `origin` may call Strongroom's token APIs (CORS): the origin
    /// of one of an application's redirect URIs, or one an application lists in
    /// `customClientMetadata.corsAllowedOrigins`. Nothing else.
    pub async fn allows_origin(&self, origin: &str) -> Result<bool> {
        let set = match self.origins.get() {
            Some(set) => set,
            None => {
                let set: std::collections::HashSet<String> = self
                    .store
                    .list_applications()
                    .await?
                    .iter()
                    .flat_map(|row| cors_origins(row).collect::<Vec<_>>())
                    .collect();
                self.origins.put(set)
            }
        };
        Ok(set.contains(origin))
    }

    /// Creates an application. Confidential types get a client secret, returned this once:
    /// only its hash is stored.
    pub async fn create(
        &self,
        new: NewApplication,
    ) -> Result<(ApplicationRow, Option<SecretString>)> {
        check_name(&new.name)?;
        limits::check_opt_len(
            "description",
            new.description.as_deref(),
            limits::DESCRIPTION,
        )?;
        if new
            .protected_app_metadata
            .as_ref()
            .is_some_and(|m| !m.is_null())
        {
            return Err(CoreError::Validation(
                "protected apps are not supported: protectedAppMetadata must be null".into(),
            ));
        }
        if !APPLICATION_TYPES.contains(&new.app_type.as_str()) {
            return Err(CoreError::Validation(format!(
                "type must be one of {}",
                APPLICATION_TYPES.join(", ")
            )));
        }
        let metadata = new.oidc_client_metadata.unwrap_or_default();
        metadata.validate()?;
        let secret = is_confidential(&new.app_type)
            .then(random_token)
            .transpose()?;
        let now = self.clock.now_ms();
        let mut row = ApplicationRow {
            id: ApplicationId::generate(),
            name: new.name,
            description: new.description,
            secret_hash: secret.as_deref().map(token_hash),
            app_type: new.app_type,
            oidc_client_metadata: serde_json::to_value(&metadata)
                .map_err(|e| CoreError::Internal(e.to_string()))?,
            custom_client_metadata: Value::Object(new.custom_client_metadata.unwrap_or_default()),
            custom_data: Value::Object(new.custom_data.unwrap_or_default()),
            is_third_party: new.is_third_party.unwrap_or(false),
            allow_provider_tokens: new.allow_provider_tokens.unwrap_or(false),
            token_exchange: TokenExchangeSettings::default(),
            created_at: now,
            updated_at: now,
        };
        if let Some(settings) = new.token_exchange {
            crate::exchange::check_settings(&self.store, &row, &settings).await?;
            row.token_exchange = settings;
        }
        self.store.save_application(&row).await?;
        self.origins.clear();
        Ok((row, secret.map(SecretString::from)))
    }

    pub async fn get(&self, id: &ApplicationId) -> Result<Option<ApplicationRow>> {
        Ok(self.store.get_application(id).await?)
    }

    pub async fn list(&self) -> Result<Vec<ApplicationRow>> {
        Ok(self.store.list_applications().await?)
    }

    pub async fn update(
        &self,
        id: &ApplicationId,
        patch: ApplicationPatch,
    ) -> Result<Option<ApplicationRow>> {
        let Some(mut row) = self.store.get_application(id).await? else {
            return Ok(None);
        };
        if let Some(name) = patch.name {
            check_name(&name)?;
            row.name = name;
        }
        if let Some(d) = patch.description {
            limits::check_len("description", &d, limits::DESCRIPTION)?;
            row.description = Some(d);
        }
        if let Some(m) = patch.oidc_client_metadata {
            m.validate()?;
            row.oidc_client_metadata =
                serde_json::to_value(&m).map_err(|e| CoreError::Internal(e.to_string()))?;
        }
        if let Some(c) = patch.custom_client_metadata {
            row.custom_client_metadata = Value::Object(c);
        }
        if let Some(c) = patch.custom_data {
            row.custom_data = Value::Object(c);
        }
        // Taking provider tokens away revokes the application's grants: the tokens it holds
        // carry the `identities` scope.
        let withdrawn = row.allow_provider_tokens && patch.allow_provider_tokens == Some(false);
        if let Some(allow) = patch.allow_provider_tokens {
            row.allow_provider_tokens = allow;
        }
        if let Some(settings) = patch.token_exchange {
            crate::exchange::check_settings(&self.store, &row, &settings).await?;
            row.token_exchange = settings;
        }
        row.updated_at = self.clock.now_ms();
        self.store.save_application(&row).await?;
        self.origins.clear();
        if withdrawn && row.is_third_party {
            self.store
                .revoke_application_grants(&row.id, row.updated_at)
                .await?;
        }
        // Every process drops its cached copy (its client authentication, its token exchange
        // settings) and, when provider tokens were withdrawn, the revoked tokens.
        self.revocations.publish().await;
        Ok(Some(row))
    }

    /// Deletes an application; its grants and tokens go with it, and its access tokens stop
    /// working in every process (see [`Revocations`]).
    pub async fn delete(&self, id: &ApplicationId) -> Result<bool> {
        let deleted = self.store.delete_application(id).await?;
        if deleted {
            self.origins.clear();
            self.revocations.publish().await;
        }
        Ok(deleted)
    }
}

/// The redirect URIs registered for an application.
pub fn redirect_uris(row: &ApplicationRow) -> Vec<String> {
    row.oidc_client_metadata["redirectUris"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether tokens issued to this application may carry the `identities` scope (provider tokens):
/// first-party applications always, third-party ones only when an administrator allowed it.
pub fn may_receive_provider_tokens(row: &ApplicationRow) -> bool {
    !row.is_third_party || row.allow_provider_tokens
}
