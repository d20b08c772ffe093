//! One model for social and enterprise SSO connections: a stored connector, either kind, opened
//! into the [`Connector`] every provider call takes. Rules about connections (refresh,
//! revocation, sign-in) are written once against it; the two kinds differ only in how their
//! rows are stored.

use serde_json::{Map, Value};
use strongroom_providers::{Connector, ProviderError, SocialConnector, SsoOidcConnector};
use strongroom_store::{ConnectorRef, ConnectorRow, SsoConnectorRow, Store};
use strongroom_vault::{AssociatedData, Domain, Envelope, Keyring};

use crate::connectors::ConnectorError;
use crate::{CoreError, Result};

/// The vault domain of a social connector's sealed config.
pub(crate) const SOCIAL_DOMAIN: Domain = Domain("connectors");
/// The vault domain of an SSO connector's sealed config.
pub(crate) const SSO_DOMAIN: Domain = Domain("sso_connectors");

/// The connector a reference names, its secrets opened; `None` when it no longer exists.
pub async fn connector_of(
    store: &Store,
    keyring: &Keyring,
    connector: &ConnectorRef,
) -> Result<Option<Connector>> {
    Ok(match connector {
        ConnectorRef::Social(id) => match store.get_connector(id).await? {
            Some(row) => Some(social_connector(keyring, &row)?.into()),
            None => None,
        },
        ConnectorRef::Sso(id) => match store.get_sso_connector(id).await? {
            Some(row) => Some(sso_connector(keyring, &row)?.into()),
            None => None,
        },
    })
}

/// A usable provider connector for a social connector row (its secrets opened).
pub fn social_connector(keyring: &Keyring, row: &ConnectorRow) -> Result<SocialConnector> {
    let config = full_config(
        keyring,
        SOCIAL_DOMAIN,
        row.id.as_str(),
        &row.config,
        row.sealed_config.as_ref(),
    )?;
    SocialConnector::from_config(&row.connector_id, &config).map_err(invalid_config)
}

/// A usable provider connector for an SSO connector row.
pub fn sso_connector(keyring: &Keyring, row: &SsoConnectorRow) -> Result<SsoOidcConnector> {
    let config = full_config(
        keyring,
        SSO_DOMAIN,
        row.id.as_str(),
        &row.config,
        row.sealed_config.as_ref(),
    )?;
    SsoOidcConnector::from_config(&config).map_err(invalid_config)
}

/// The sealed secret fields of a connector's config, opened.
pub(crate) fn open_secrets(
    keyring: &Keyring,
    domain: Domain,
    id: &str,
    sealed: Option<&Envelope>,
) -> Result<Map<String, Value>> {
    let Some(sealed) = sealed else {
        return Ok(Map::new());
    };
    let plain = keyring.open(domain, id, &config_aad(domain, id), sealed)?;
    serde_json::from_slice(&plain)
        .map_err(|_| CoreError::Internal("the sealed connector config is malformed".into()))
}

/// The public config merged with the opened secrets.
fn full_config(
    keyring: &Keyring,
    domain: Domain,
    id: &str,
    public: &Value,
    sealed: Option<&Envelope>,
) -> Result<Value> {
    Ok(joined(
        &public.as_object().cloned().unwrap_or_default(),
        &open_secrets(keyring, domain, id, sealed)?,
    ))
}

/// Public and secret fields as one config.
pub(crate) fn joined(public: &Map<String, Value>, secrets: &Map<String, Value>) -> Value {
    let mut full = public.clone();
    full.extend(secrets.clone());
    Value::Object(full)
}

/// What a connector's sealed config is bound to: its table and its id.
pub(crate) fn config_aad(domain: Domain, id: &str) -> AssociatedData {
    AssociatedData::new("strongroom.connector_config.v1")
        .field("table", domain.0)
        .field("id", id)
}

/// A config the provider layer refused: the admin's mistake when it is the config itself,
/// a failed check otherwise.
pub(crate) fn invalid_config(e: ProviderError) -> CoreError {
    match e {
        ProviderError::Config(text) => ConnectorError::InvalidConfig(text).into(),
        other => ConnectorError::ProviderCheck(other).into(),
    }
}
