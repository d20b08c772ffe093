//! Social and enterprise SSO connectors: validation, sealed client secrets, token-storage
//! switches, and Logto's JSON shapes.
//!
//! A connector's secret config fields (`clientSecret`) are sealed in the vault; the `config`
//! column and every response carry only the others. A `PATCH` whose config has no
//! `clientSecret` keeps the stored one.

use std::sync::Arc;

use serde_json::{Map, Value, json};
use strongroom_providers::{
    Connector, FactoryMetadata, ProviderError, Providers, SocialConnector, SsoOidcConnector,
    canonical_factory_id, social_factories,
};
use strongroom_store::{
    ConnectorId, ConnectorRef, ConnectorRow, SsoConnectorId, SsoConnectorRow, Store, StoreError,
};
use strongroom_vault::{Domain, Envelope, Keyring};

use crate::audit::Actor;
use crate::connection::{
    SOCIAL_DOMAIN, SSO_DOMAIN, config_aad, invalid_config, joined, open_secrets, social_connector,
    sso_connector,
};
use crate::revocation::{MAX_BULK_REVOCATIONS, Revoker};
use crate::{Clock, CoreError, Result};

/// Config fields that are secrets: sealed, never returned.
pub const SECRET_CONFIG_KEYS: &[&str] = &["clientSecret"];
/// The SSO provider Strongroom implements.
pub const SSO_PROVIDER_OIDC: &str = "OIDC";
/// Public e-mail domains an SSO connector may not claim.
const FORBIDDEN_DOMAINS: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "outlook.com",
    "hotmail.com",
    "live.com",
    "msn.com",
    "yahoo.com",
    "icloud.com",
    "me.com",
    "aol.com",
    "proton.me",
    "protonmail.com",
    "gmx.com",
    "qq.com",
    "163.com",
];

/// Why a connector request was refused. Each maps to one Logto code in the HTTP layer.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    #[error("there is no connector factory `{0}`")]
    UnknownFactory(String),
    #[error("the connector `{0}` does not exist")]
    NotFound(String),
    #[error("the SSO connector `{0}` does not exist")]
    SsoNotFound(String),
    #[error("invalid connector configuration: {0}")]
    InvalidConfig(String),
    #[error("metadata can only be set on standard connectors (oauth2, oidc)")]
    MetadataNotAllowed,
    #[error("the target of a connector cannot be changed")]
    TargetImmutable,
    #[error("only one {0} connector can exist")]
    MultipleInstances(String),
    #[error("the connector `{0}` already uses the target `{1}`")]
    TargetTaken(String, String),
    #[error("this connector does not support token storage")]
    TokenStorageNotSupported { sso: bool },
    #[error("unsupported SSO provider `{0}`: Strongroom supports OIDC")]
    UnknownSsoProvider(String),
    #[error("these domains are public e-mail domains and cannot route to an SSO connector: {}", .0.join(", "))]
    ForbiddenDomains(Vec<String>),
    #[error("these domains are listed twice or are not valid domain names: {}", .0.join(", "))]
    InvalidDomains(Vec<String>),
    #[error("these domains already route to another SSO connector: {}", .0.join(", "))]
    DomainsTaken(Vec<String>),
    #[error("an SSO connector named `{0}` already exists")]
    DuplicateName(String),
    #[error("the identity provider check failed: {0}")]
    ProviderCheck(ProviderError),
}

impl From<ConnectorError> for CoreError {
    fn from(e: ConnectorError) -> Self {
        CoreError::Connector(e)
    }
}

/// What a social connector is created with.
#[derive(Debug, Clone, Default)]
pub struct NewConnector {
    pub id: Option<String>,
    pub connector_id: String,
    pub config: Option<Value>,
    pub metadata: Option<Value>,
    pub sync_profile: Option<bool>,
    pub enable_token_storage: Option<bool>,
}

/// A partial update of a social connector.
#[derive(Debug, Clone, Default)]
pub struct ConnectorPatch {
    pub config: Option<Value>,
    pub metadata: Option<Value>,
    pub sync_profile: Option<bool>,
    pub enable_token_storage: Option<bool>,
}

/// What an SSO connector is created with.
#[derive(Debug, Clone, Default)]
pub struct NewSsoConnector {
    pub provider_name: String,
    pub connector_name: String,
    pub config: Option<Value>,
    pub domains: Option<Vec<String>>,
    pub branding: Option<Value>,
    pub sync_profile: Option<bool>,
    pub enable_token_storage: Option<bool>,
}

/// A partial update of an SSO connector.
#[derive(Debug, Clone, Default)]
pub struct SsoConnectorPatch {
    pub connector_name: Option<String>,
    pub config: Option<Value>,
    pub domains: Option<Vec<String>>,
    pub branding: Option<Value>,
    pub sync_profile: Option<bool>,
    pub enable_token_storage: Option<bool>,
}

/// The factory metadata of a stored factory id (Logto's aliases included).
pub fn factory(connector_id: &str) -> Option<FactoryMetadata> {
    let id = canonical_factory_id(connector_id)?;
    social_factories().into_iter().find(|f| f.id == id)
}

fn config_object(config: Option<Value>) -> Result<Map<String, Value>> {
    match config {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(map)) => Ok(map),
        Some(_) => Err(ConnectorError::InvalidConfig("config must be a JSON object".into()).into()),
    }
}

/// Splits a config into its public fields and its secret ones.
fn split_config(mut config: Map<String, Value>) -> (Map<String, Value>, Map<String, Value>) {
    let mut secrets = Map::new();
    for key in SECRET_CONFIG_KEYS {
        if let Some(v) = config.remove(*key) {
            secrets.insert((*key).to_owned(), v);
        }
    }
    (config, secrets)
}

fn normalize_domains(domains: Vec<String>) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::with_capacity(domains.len());
    let mut invalid = Vec::new();
    for d in domains {
        let d = d.trim().trim_start_matches('@').to_ascii_lowercase();
        let valid = !d.is_empty()
            && d.len() <= 253
            && d.contains('.')
            && d.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if !valid || out.contains(&d) {
            invalid.push(d);
        } else {
            out.push(d);
        }
    }
    let forbidden: Vec<String> = out
        .iter()
        .filter(|d| FORBIDDEN_DOMAINS.contains(&d.as_str()))
        .cloned()
        .collect();
    if !forbidden.is_empty() {
        return Err(ConnectorError::ForbiddenDomains(forbidden).into());
    }
    if !invalid.is_empty() {
        return Err(ConnectorError::InvalidDomains(invalid).into());
    }
    Ok(out)
}

/// The connector service.
#[derive(Debug, Clone)]
pub struct Connectors {
    store: Store,
    keyring: Arc<Keyring>,
    clock: Arc<dyn Clock>,
    providers: Providers,
    revoker: Revoker,
}

impl Connectors {
    pub fn new(
        store: Store,
        keyring: Arc<Keyring>,
        clock: Arc<dyn Clock>,
        providers: Providers,
        revoker: Revoker,
    ) -> Self {
        Self {
            store,
            keyring,
            clock,
            providers,
            revoker,
        }
    }

    /// The token sets of a connector about to be deleted: the first [`MAX_BULK_REVOCATIONS`]
    /// with what revoking them needs, every other one to be audited all the same.
    async fn doomed(&self, connector: &ConnectorRef) -> Result<Vec<crate::revocation::Doomed>> {
        let secrets = self
            .store
            .list_connector_secrets(connector, MAX_BULK_REVOCATIONS)
            .await?;
        let mut doomed = self.revoker.prepare(secrets).await;
        if let Some(last) = doomed.last().map(|d| d.id().clone())
            && i64::try_from(doomed.len()).is_ok_and(|n| n >= MAX_BULK_REVOCATIONS)
        {
            let rest = self
                .store
                .list_connector_secret_keys(connector, &last)
                .await?;
            doomed.extend(
                rest.into_iter().map(|(id, user, target)| {
                    crate::revocation::Doomed::unrevoked(id, user, target)
                }),
            );
        }
        Ok(doomed)
    }

    /// Runs `write`, a delete of the connector `at` or a save that purges its token sets
    /// (`purges`), then revokes at the provider, and audits with `reason`, the token sets it
    /// removed. Nothing is revoked when the write fails.
    async fn write_revoking<T>(
        &self,
        at: &ConnectorRef,
        purges: bool,
        actor: &Actor,
        reason: &'static str,
        write: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        let doomed = match purges {
            true => self.doomed(at).await?,
            false => Vec::new(),
        };
        let written = write.await?;
        self.revoker.finish(doomed, actor, reason).await;
        Ok(written)
    }

    /// The provider connector a reference names, its secrets opened.
    /// `NotFound` when it does not exist.
    pub async fn connector(&self, connector: &ConnectorRef) -> Result<Connector> {
        crate::connection::connector_of(&self.store, &self.keyring, connector)
            .await?
            .ok_or_else(|| {
                match connector {
                    ConnectorRef::Social(id) => ConnectorError::NotFound(id.to_string()),
                    ConnectorRef::Sso(id) => ConnectorError::SsoNotFound(id.to_string()),
                }
                .into()
            })
    }

    pub fn providers(&self) -> &Providers {
        &self.providers
    }

    fn seal_secrets(
        &self,
        domain: Domain,
        id: &str,
        secrets: &Map<String, Value>,
    ) -> Result<Option<Envelope>> {
        if secrets.is_empty() {
            return Ok(None);
        }
        let plain = zeroize::Zeroizing::new(
            serde_json::to_vec(secrets).map_err(|e| CoreError::Internal(e.to_string()))?,
        );
        Ok(Some(self.keyring.seal(
            domain,
            id,
            &config_aad(domain, id),
            &plain,
        )?))
    }

    fn open_secrets(
        &self,
        domain: Domain,
        id: &str,
        sealed: Option<&Envelope>,
    ) -> Result<Map<String, Value>> {
        open_secrets(&self.keyring, domain, id, sealed)
    }

    /// A PATCHed config, split: its public fields, and its secret ones plus the stored secrets
    /// it does not replace.
    fn patched_config(
        &self,
        domain: Domain,
        id: &str,
        sealed: Option<&Envelope>,
        config: Value,
    ) -> Result<(Map<String, Value>, Map<String, Value>)> {
        let (public, mut secrets) = split_config(config_object(Some(config))?);
        for (k, v) in self.open_secrets(domain, id, sealed)? {
            secrets.entry(k).or_insert(v);
        }
        Ok((public, secrets))
    }

    // ----- social connectors -----

    pub async fn list(&self, target: Option<&str>) -> Result<Vec<ConnectorRow>> {
        let mut rows = self.store.list_connectors().await?;
        if let Some(target) = target {
            rows.retain(|r| r.target == target);
        }
        Ok(rows)
    }

    pub async fn get(&self, id: &ConnectorId) -> Result<ConnectorRow> {
        self.store
            .get_connector(id)
            .await?
            .ok_or_else(|| ConnectorError::NotFound(id.as_str().to_owned()).into())
    }

    /// The connector of a social target, if one is configured.
    pub async fn by_target(&self, target: &str) -> Result<Option<ConnectorRow>> {
        Ok(self.list(Some(target)).await?.into_iter().next())
    }

    /// A usable provider connector for a row.
    pub fn social(&self, row: &ConnectorRow) -> Result<Connector> {
        Ok(social_connector(&self.keyring, row)?.into())
    }

    pub async fn create(&self, new: NewConnector) -> Result<ConnectorRow> {
        let factory = factory(&new.connector_id)
            .ok_or_else(|| ConnectorError::UnknownFactory(new.connector_id.clone()))?;
        let (metadata, own) = match new.metadata {
            None | Some(Value::Null) => (json!({}), OwnMetadata::default()),
            Some(m) => {
                let own = check_metadata(&m)?;
                if !factory.is_standard {
                    return Err(ConnectorError::MetadataNotAllowed.into());
                }
                (m, own)
            }
        };
        let target = own
            .target
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| factory.target.to_owned());
        let existing = self.store.list_connectors().await?;
        if !factory.is_standard
            && existing
                .iter()
                .any(|c| canonical_factory_id(&c.connector_id) == Some(factory.id))
        {
            return Err(ConnectorError::MultipleInstances(factory.id.to_owned()).into());
        }
        if let Some(other) = existing.iter().find(|c| c.target == target) {
            return Err(ConnectorError::TargetTaken(other.id.as_str().to_owned(), target).into());
        }
        let storage = new.enable_token_storage.unwrap_or(false);
        if storage && !factory.is_token_storage_supported {
            return Err(ConnectorError::TokenStorageNotSupported { sso: false }.into());
        }
        let id = match new.id {
            Some(id) if !id.trim().is_empty() => {
                let id = id.trim().to_owned();
                if id.len() > 128
                    || !id
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
                {
                    return Err(CoreError::Validation(
                        "id may only contain letters, digits, - and _ (128 at most)".into(),
                    ));
                }
                ConnectorId::from(id)
            }
            _ => ConnectorId::generate(),
        };
        let config = config_object(new.config)?;
        if !config.is_empty() {
            SocialConnector::from_config(&new.connector_id, &Value::Object(config.clone()))
                .map_err(invalid_config)?;
        }
        let (public, secrets) = split_config(config);
        let now = self.clock.now_ms();
        let row = ConnectorRow {
            sealed_config: self.seal_secrets(SOCIAL_DOMAIN, id.as_str(), &secrets)?,
            id,
            connector_id: new.connector_id,
            target,
            config: Value::Object(public),
            metadata,
            sync_profile: new.sync_profile.unwrap_or(false),
            enable_token_storage: storage,
            created_at: now,
            updated_at: now,
        };
        match self.store.insert_connector(&row).await {
            Err(StoreError::Conflict(_)) => Err(CoreError::Conflict(format!(
                "a connector with id `{}` (or its target) already exists",
                row.id
            ))),
            other => other.map(|()| row).map_err(Into::into),
        }
    }

    /// Applies a PATCH. `enableTokenStorage: false` deletes every token set stored through
    /// the connector, in the transaction that saves it, and revokes them at the provider.
    pub async fn update(
        &self,
        id: &ConnectorId,
        patch: ConnectorPatch,
        actor: &Actor,
    ) -> Result<ConnectorRow> {
        let mut row = self.get(id).await?;
        let factory = factory(&row.connector_id)
            .ok_or_else(|| ConnectorError::UnknownFactory(row.connector_id.clone()))?;
        if let Some(metadata) = patch.metadata.filter(|m| !m.is_null()) {
            let own = check_metadata(&metadata)?;
            if !factory.is_standard {
                return Err(ConnectorError::MetadataNotAllowed.into());
            }
            if own.target.is_some_and(|t| t != row.target) {
                return Err(ConnectorError::TargetImmutable.into());
            }
            row.metadata = metadata;
        }
        if let Some(enable) = patch.enable_token_storage {
            if enable && !factory.is_token_storage_supported {
                return Err(ConnectorError::TokenStorageNotSupported { sso: false }.into());
            }
            row.enable_token_storage = enable;
        }
        if let Some(sync) = patch.sync_profile {
            row.sync_profile = sync;
        }
        if let Some(config) = patch.config {
            let domain = SOCIAL_DOMAIN;
            let (public, secrets) =
                self.patched_config(domain, row.id.as_str(), row.sealed_config.as_ref(), config)?;
            SocialConnector::from_config(&row.connector_id, &joined(&public, &secrets))
                .map_err(invalid_config)?;
            row.config = Value::Object(public);
            row.sealed_config = self.seal_secrets(domain, row.id.as_str(), &secrets)?;
        }
        row.updated_at = self.clock.now_ms();
        self.write_revoking(
            &ConnectorRef::Social(row.id.clone()),
            !row.enable_token_storage,
            actor,
            "token_storage_disabled",
            async { Ok(self.store.save_connector(&row).await?) },
        )
        .await?;
        Ok(row)
    }

    /// Deletes a connector; its token sets go with it (identities stay, as in Logto), revoked
    /// at the provider.
    pub async fn delete(&self, id: &ConnectorId, actor: &Actor) -> Result<()> {
        let at = ConnectorRef::Social(id.clone());
        self.write_revoking(&at, true, actor, "connector_deleted", async {
            match self.store.delete_connector(id).await? {
                true => Ok(()),
                false => Err(ConnectorError::NotFound(id.as_str().to_owned()).into()),
            }
        })
        .await
    }

    // ----- enterprise SSO connectors -----

    pub async fn list_sso(&self) -> Result<Vec<SsoConnectorRow>> {
        Ok(self.store.list_sso_connectors().await?)
    }

    pub async fn get_sso(&self, id: &SsoConnectorId) -> Result<SsoConnectorRow> {
        self.store
            .get_sso_connector(id)
            .await?
            .ok_or_else(|| ConnectorError::SsoNotFound(id.as_str().to_owned()).into())
    }

    /// A usable provider connector for an SSO row.
    pub fn sso(&self, row: &SsoConnectorRow) -> Result<SsoOidcConnector> {
        sso_connector(&self.keyring, row)
    }

    /// Logto's `providerConfig`: the discovered settings, or `None` when the provider cannot be
    /// reached or the connector is not configured.
    pub async fn sso_provider_config(&self, row: &SsoConnectorRow) -> Option<Value> {
        let connector = self.sso(row).ok()?;
        match self.providers.sso_provider_config(&connector).await {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::warn!(sso_connector = %row.id, error = %e, "SSO provider discovery failed");
                None
            }
        }
    }

    /// The SSO connector an e-mail address routes to, by its domain.
    pub async fn sso_for_email(&self, email: &str) -> Result<Option<SsoConnectorRow>> {
        let Some((_, domain)) = email.trim().rsplit_once('@') else {
            return Ok(None);
        };
        let domain = domain.to_ascii_lowercase();
        Ok(self
            .list_sso()
            .await?
            .into_iter()
            .find(|c| c.domains.contains(&domain)))
    }

    async fn check_sso(
        &self,
        id: &SsoConnectorId,
        name: &str,
        domains: &[String],
        config: &Map<String, Value>,
    ) -> Result<()> {
        for other in self.list_sso().await?.into_iter().filter(|c| &c.id != id) {
            if other.connector_name == name {
                return Err(ConnectorError::DuplicateName(name.to_owned()).into());
            }
            let taken: Vec<String> = domains
                .iter()
                .filter(|d| other.domains.contains(d))
                .cloned()
                .collect();
            if !taken.is_empty() {
                return Err(ConnectorError::DomainsTaken(taken).into());
            }
        }
        if !config.is_empty() {
            // Logto checks the connection too: the issuer must answer with its discovery document.
            let connector = SsoOidcConnector::from_config(&Value::Object(config.clone()))
                .map_err(invalid_config)?;
            self.providers
                .sso_provider_config(&connector)
                .await
                .map_err(invalid_config)?;
        }
        Ok(())
    }

    pub async fn create_sso(&self, new: NewSsoConnector) -> Result<SsoConnectorRow> {
        if new.provider_name != SSO_PROVIDER_OIDC {
            return Err(ConnectorError::UnknownSsoProvider(new.provider_name).into());
        }
        let name = new.connector_name.trim().to_owned();
        if name.is_empty() {
            return Err(CoreError::Validation(
                "connectorName must not be empty".into(),
            ));
        }
        crate::limits::check_len("connectorName", &name, crate::limits::NAME)?;
        let domains = normalize_domains(new.domains.unwrap_or_default())?;
        let config = config_object(new.config)?;
        let id = SsoConnectorId::generate();
        self.check_sso(&id, &name, &domains, &config).await?;
        let (public, secrets) = split_config(config);
        let now = self.clock.now_ms();
        let row = SsoConnectorRow {
            sealed_config: self.seal_secrets(SSO_DOMAIN, id.as_str(), &secrets)?,
            id,
            provider_name: new.provider_name,
            connector_name: name.clone(),
            config: Value::Object(public),
            domains,
            branding: new
                .branding
                .filter(Value::is_object)
                .unwrap_or_else(|| json!({})),
            sync_profile: new.sync_profile.unwrap_or(false),
            enable_token_storage: new.enable_token_storage.unwrap_or(false),
            created_at: now,
            updated_at: now,
        };
        match self.store.save_sso_connector(&row).await {
            Err(StoreError::Conflict(_)) => Err(ConnectorError::DuplicateName(name).into()),
            other => other.map(|()| row).map_err(Into::into),
        }
    }

    /// Applies a PATCH; `enableTokenStorage: false` deletes (and revokes) the connector's token
    /// sets.
    pub async fn update_sso(
        &self,
        id: &SsoConnectorId,
        patch: SsoConnectorPatch,
        actor: &Actor,
    ) -> Result<SsoConnectorRow> {
        let mut row = self.get_sso(id).await?;
        if let Some(name) = patch.connector_name {
            let name = name.trim().to_owned();
            if name.is_empty() {
                return Err(CoreError::Validation(
                    "connectorName must not be empty".into(),
                ));
            }
            crate::limits::check_len("connectorName", &name, crate::limits::NAME)?;
            row.connector_name = name;
        }
        if let Some(domains) = patch.domains {
            row.domains = normalize_domains(domains)?;
        }
        if let Some(branding) = patch.branding.filter(Value::is_object) {
            row.branding = branding;
        }
        if let Some(sync) = patch.sync_profile {
            row.sync_profile = sync;
        }
        if let Some(enable) = patch.enable_token_storage {
            row.enable_token_storage = enable;
        }
        let domain = SSO_DOMAIN;
        let new_config = patch
            .config
            .map(|config| {
                self.patched_config(domain, row.id.as_str(), row.sealed_config.as_ref(), config)
            })
            .transpose()?;
        let full = match &new_config {
            Some((public, secrets)) => joined(public, secrets),
            None => json!({}),
        };
        self.check_sso(
            &row.id,
            &row.connector_name,
            &row.domains,
            full.as_object().unwrap_or(&Map::new()),
        )
        .await?;
        if let Some((public, secrets)) = new_config {
            row.config = Value::Object(public);
            row.sealed_config = self.seal_secrets(domain, row.id.as_str(), &secrets)?;
        }
        row.updated_at = self.clock.now_ms();
        self.write_revoking(
            &ConnectorRef::Sso(row.id.clone()),
            !row.enable_token_storage,
            actor,
            "token_storage_disabled",
            async {
                match self.store.save_sso_connector(&row).await {
                    Err(StoreError::Conflict(_)) => {
                        Err(ConnectorError::DuplicateName(row.connector_name.clone()).into())
                    }
                    other => Ok(other?),
                }
            },
        )
        .await?;
        Ok(row)
    }

    /// Deletes an SSO connector; its users' SSO identities and token sets go with it, revoked
    /// at the provider.
    pub async fn delete_sso(&self, id: &SsoConnectorId, actor: &Actor) -> Result<()> {
        let at = ConnectorRef::Sso(id.clone());
        self.write_revoking(&at, true, actor, "connector_deleted", async {
            match self.store.delete_sso_connector(id).await? {
                true => Ok(()),
                false => Err(ConnectorError::SsoNotFound(id.as_str().to_owned()).into()),
            }
        })
        .await
    }
}

/// A standard connector's own display metadata (oauth2, oidc), overriding its factory's.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnMetadata {
    pub target: Option<String>,
    /// Display name by language (`{"en": ...}`).
    pub name: Option<std::collections::BTreeMap<String, String>>,
    pub logo: Option<String>,
    pub logo_dark: Option<String>,
}

/// The display metadata a connector stores of its own (none for a non-standard connector).
pub fn own_metadata(row: &ConnectorRow) -> OwnMetadata {
    serde_json::from_value(row.metadata.clone()).unwrap_or_default()
}

/// A connector's `metadata`, which must be a JSON object whose known keys have Logto's types,
/// read.
fn check_metadata(metadata: &Value) -> Result<OwnMetadata> {
    let own = metadata
        .is_object()
        .then(|| serde_json::from_value::<OwnMetadata>(metadata.clone()).ok())
        .flatten();
    own.ok_or_else(|| {
        CoreError::Validation(
            "metadata must be a JSON object whose `target`, `logo` and `logoDark` are strings and whose \
             `name` maps languages to strings"
                .into(),
        )
    })
}

/// A social connector's display name: `metadata.name.en` (or the first language), else the
/// factory's name, else the target.
pub fn display_name(row: &ConnectorRow) -> String {
    own_metadata(row)
        .name
        .and_then(|n| n.get("en").or_else(|| n.values().next()).cloned())
        .or_else(|| {
            factory(&row.connector_id).and_then(|f| f.name.get("en").map(|n| (*n).to_owned()))
        })
        .unwrap_or_else(|| row.target.clone())
}

/// A social connector's logo: its own, else its factory's.
pub fn logo(row: &ConnectorRow) -> String {
    own_metadata(row)
        .logo
        .or_else(|| factory(&row.connector_id).map(|f| f.logo.to_owned()))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domains(list: &[&str]) -> Result<Vec<String>> {
        normalize_domains(list.iter().map(|d| (*d).to_owned()).collect())
    }

    #[test]
    fn sso_domains_are_normalized_and_public_or_malformed_ones_refused() {
        assert_eq!(
            domains(&[" Example.COM ", "@sub.example.org"]).expect("valid"),
            ["example.com", "sub.example.org"]
        );
        assert!(domains(&[]).expect("none").is_empty());
        for bad in [
            &["example"][..],
            &["-a.example.com"],
            &["a-.example.com"],
            &["a..example.com"],
            &["exa mple.com"],
            &["example.com", "EXAMPLE.com"],
        ] {
            assert!(
                matches!(
                    domains(bad),
                    Err(CoreError::Connector(ConnectorError::InvalidDomains(_)))
                ),
                "{bad:?}"
            );
        }
        let long_label = format!("{}.com", "a".repeat(64));
        assert!(domains(&[long_label.as_str()]).is_err());
        // A public mail domain is refused before anything else, and named.
        match domains(&["example.com", "Gmail.com", "bad"]) {
            Err(CoreError::Connector(ConnectorError::ForbiddenDomains(d))) => {
                assert_eq!(d, ["gmail.com"]);
            }
            other => panic!("{other:?}"),
        }
    }
}
