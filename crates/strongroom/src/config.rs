//! Configuration: defaults, then an optional TOML file, then environment variables. Unknown
//! keys and bad values are errors that name the variable or file they came from. Secrets
//! (`SECRET_VAULT_KEK`, `SECRET_VAULT_PREVIOUS_KEKS`, `STRONGROOM_ADMIN_PASSWORD`) are read
//! from the environment only, straight into zeroizing buffers, never into this struct's files.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use secrecy::SecretString;
use strongroom_core::providers::{EgressPolicy, IpNetwork};

pub const ENV_KEK: &str = "SECRET_VAULT_KEK";
pub const ENV_PREVIOUS_KEKS: &str = "SECRET_VAULT_PREVIOUS_KEKS";
const ENV_DATABASE_URL: &str = "DATABASE_URL";
const ENV_DATA_DIR: &str = "STRONGROOM_DATA_DIR";
const ENV_BIND: &str = "STRONGROOM_BIND";
const ENV_ENDPOINT: &str = "STRONGROOM_ENDPOINT";
const ENV_ADMIN_PASSWORD: &str = "STRONGROOM_ADMIN_PASSWORD";
const ENV_CONFIG: &str = "STRONGROOM_CONFIG";
const ENV_LOG: &str = "STRONGROOM_LOG";
const ENV_PROVIDER_TIMEOUT: &str = "STRONGROOM_PROVIDER_TIMEOUT";
const ENV_REFRESH_SKEW: &str = "STRONGROOM_REFRESH_SKEW";
const ENV_EGRESS_DENY: &str = "STRONGROOM_EGRESS_DENY";
const ENV_EGRESS_ALLOW: &str = "STRONGROOM_EGRESS_ALLOW";
const ENV_TRUSTED_PROXIES: &str = "STRONGROOM_TRUSTED_PROXIES";
const ENV_MAX_CONNECTIONS: &str = "STRONGROOM_MAX_CONNECTIONS";
const ENV_MAX_CONNECTIONS_PER_IP: &str = "STRONGROOM_MAX_CONNECTIONS_PER_IP";
const ENV_METRICS_TOKEN: &str = "STRONGROOM_METRICS_TOKEN";

/// Every variable Strongroom reads. Any other `STRONGROOM_*` or `SECRET_VAULT_*` variable is a
/// typo and an error (`STRONGROOM_TEST_*` belongs to the test suite and is ignored).
const KNOWN_ENV: &[&str] = &[
    ENV_KEK,
    ENV_PREVIOUS_KEKS,
    ENV_DATABASE_URL,
    ENV_DATA_DIR,
    ENV_BIND,
    ENV_ENDPOINT,
    ENV_ADMIN_PASSWORD,
    ENV_CONFIG,
    ENV_LOG,
    ENV_PROVIDER_TIMEOUT,
    ENV_REFRESH_SKEW,
    ENV_EGRESS_DENY,
    ENV_EGRESS_ALLOW,
    ENV_TRUSTED_PROXIES,
    ENV_MAX_CONNECTIONS,
    ENV_MAX_CONNECTIONS_PER_IP,
    ENV_METRICS_TOKEN,
];

/// The optional TOML file. Secrets are not accepted here.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    database_url: Option<DatabaseUrl>,
    bind: Option<String>,
    endpoint: Option<String>,
    log: Option<String>,
    provider_timeout: Option<u64>,
    refresh_skew: Option<u64>,
    egress_deny: Option<Vec<String>>,
    egress_allow: Option<Vec<String>>,
    trusted_proxies: Option<Vec<String>>,
    max_connections: Option<u64>,
    max_connections_per_ip: Option<u64>,
}

/// Where the database is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// The quick start: `<data_dir>/strongroom.db`.
    QuickStartSqlite,
    Url(DatabaseUrl),
}

/// A database URL, which may carry a password: `Debug` prints it without.
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// The whole URL, password included: for connecting only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("DatabaseUrl")
            .field(&redact_url(&self.0))
            .finish()
    }
}

/// A database URL without its password, for messages and `Debug`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:[redacted]{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Effective settings.
#[derive(Debug)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub database: Database,
    pub bind: SocketAddr,
    /// `STRONGROOM_ENDPOINT`; `None`: the bound address (`http://<bind>`).
    pub endpoint: Option<String>,
    pub admin_password: Option<SecretString>,
    /// `STRONGROOM_METRICS_TOKEN`: the bearer `GET /metrics` needs; unset, it is not served.
    pub metrics_token: Option<SecretString>,
    pub log: String,
    /// Seconds one call to an identity provider may take.
    pub provider_timeout_secs: u64,
    /// Seconds before expiry at which a stored access token is refreshed.
    pub refresh_skew_secs: u64,
    /// Where calls to identity providers may go: the default deny list plus
    /// `STRONGROOM_EGRESS_DENY`, with `STRONGROOM_EGRESS_ALLOW` exempt from it.
    pub egress: EgressPolicy,
    /// Load balancers whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<IpNetwork>,
    /// Open connections in all; `None`: from the open-file limit.
    pub max_connections: Option<usize>,
    /// Open connections per client address; `None`: a quarter of the whole.
    pub max_connections_per_ip: Option<usize>,
}

impl Settings {
    /// The database URL to connect to.
    pub fn database_url(&self) -> String {
        match &self.database {
            Database::QuickStartSqlite => {
                format!("sqlite://{}", self.data_dir.join("strongroom.db").display())
            }
            Database::Url(url) => url.expose().to_owned(),
        }
    }

    pub fn is_sqlite(&self) -> bool {
        match &self.database {
            Database::QuickStartSqlite => true,
            Database::Url(url) => url.expose().starts_with("sqlite:"),
        }
    }

    /// Loads settings from `config_file` (or `STRONGROOM_CONFIG`) and the environment.
    pub fn load(config_file: Option<&Path>) -> anyhow::Result<Self> {
        let env = |name: &str| -> anyhow::Result<Option<String>> {
            match std::env::var(name) {
                Ok(v) if v.trim().is_empty() => Ok(None),
                Ok(v) => Ok(Some(v)),
                Err(std::env::VarError::NotPresent) => Ok(None),
                Err(std::env::VarError::NotUnicode(_)) => bail!("{name} is not valid UTF-8"),
            }
        };
        for (key, _) in std::env::vars_os() {
            let Some(key) = key.to_str() else { continue };
            let ours = key.starts_with("STRONGROOM_") || key.starts_with("SECRET_VAULT_");
            if ours && !key.starts_with("STRONGROOM_TEST_") && !KNOWN_ENV.contains(&key) {
                bail!(
                    "unknown environment variable {key}; Strongroom reads {}",
                    KNOWN_ENV.join(", ")
                );
            }
        }

        let file_path = match config_file {
            Some(p) => Some(p.to_path_buf()),
            None => env(ENV_CONFIG)?.map(PathBuf::from),
        };
        let file = match &file_path {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| {
                    format!("cannot read the configuration file {}", path.display())
                })?;
                toml::from_str::<FileConfig>(&text)
                    .with_context(|| format!("configuration file {}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let file_name = file_path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let source = |var: &str, key: &str, from_env: bool| {
            if from_env {
                var.to_owned()
            } else {
                format!("{key} in {file_name}")
            }
        };

        let data_dir = match env(ENV_DATA_DIR)? {
            Some(v) => PathBuf::from(v),
            None => file
                .data_dir
                .unwrap_or_else(|| PathBuf::from("./strongroom-data")),
        };

        let (database, db_from_env) = match env(ENV_DATABASE_URL)? {
            Some(v) => (Some(DatabaseUrl(v)), true),
            None => (file.database_url, false),
        };
        let database = match database {
            None => Database::QuickStartSqlite,
            Some(url) => {
                let ok = ["sqlite:", "postgres://", "postgresql://"]
                    .iter()
                    .any(|p| url.expose().starts_with(p));
                if !ok {
                    bail!(
                        "{}: expected a sqlite://path or postgres://... URL",
                        source(ENV_DATABASE_URL, "database_url", db_from_env)
                    );
                }
                Database::Url(url)
            }
        };

        let (bind, bind_from_env) = match env(ENV_BIND)? {
            Some(v) => (v, true),
            None => (
                file.bind.unwrap_or_else(|| "127.0.0.1:3001".to_owned()),
                false,
            ),
        };
        let bind: SocketAddr = bind.trim().parse().map_err(|_| {
            anyhow::anyhow!(
                "{}: `{bind}` is not a socket address such as 127.0.0.1:3001",
                source(ENV_BIND, "bind", bind_from_env)
            )
        })?;

        let (endpoint, endpoint_from_env) = match env(ENV_ENDPOINT)? {
            Some(v) => (Some(v), true),
            None => (file.endpoint, false),
        };
        let endpoint = match endpoint {
            Some(e) => {
                let e = e.trim().trim_end_matches('/').to_owned();
                let valid = (e.starts_with("http://") || e.starts_with("https://"))
                    && e.split_once("://").is_some_and(|(_, rest)| {
                        !rest.is_empty() && !rest.contains(['?', '#', ' '])
                    });
                if !valid {
                    bail!(
                        "{}: `{e}` is not an http(s) base URL such as https://auth.example.com",
                        source(ENV_ENDPOINT, "endpoint", endpoint_from_env)
                    );
                }
                Some(e)
            }
            None => None,
        };

        let admin_password = env(ENV_ADMIN_PASSWORD)?.map(SecretString::from);
        if admin_password
            .as_ref()
            .is_some_and(|p| secrecy::ExposeSecret::expose_secret(p).len() < 8)
        {
            bail!("{ENV_ADMIN_PASSWORD} must be at least 8 characters long");
        }
        let metrics_token = env(ENV_METRICS_TOKEN)?.map(SecretString::from);
        if metrics_token
            .as_ref()
            .is_some_and(|t| secrecy::ExposeSecret::expose_secret(t).len() < 32)
        {
            bail!("{ENV_METRICS_TOKEN} must be at least 32 characters long");
        }
        let log = env(ENV_LOG)?
            .or(file.log)
            .unwrap_or_else(|| "info".to_owned());
        let seconds = |var: &str,
                       key: &str,
                       from_file: Option<u64>,
                       default: u64,
                       range: std::ops::RangeInclusive<u64>| {
            let (value, from_env) = match env(var)? {
                Some(v) => (v.trim().parse::<u64>().ok(), true),
                None => (Some(from_file.unwrap_or(default)), false),
            };
            match value {
                Some(v) if range.contains(&v) => Ok(v),
                _ => bail!(
                    "{}: expected a number of seconds from {} to {}",
                    source(var, key, from_env),
                    range.start(),
                    range.end()
                ),
            }
        };
        let provider_timeout_secs = seconds(
            ENV_PROVIDER_TIMEOUT,
            "provider_timeout",
            file.provider_timeout,
            10,
            1..=120,
        )?;
        let refresh_skew_secs = seconds(
            ENV_REFRESH_SKEW,
            "refresh_skew",
            file.refresh_skew,
            60,
            0..=3600,
        )?;

        // Comma-separated networks (`10.0.0.0/8, 192.0.2.7`) in the environment, an array of
        // them in the file.
        let networks = |var: &str, key: &str, from_file: Option<Vec<String>>| {
            let (text, from_env) = match env(var)? {
                Some(v) => (v, true),
                None => (from_file.unwrap_or_default().join(","), false),
            };
            IpNetwork::parse_list(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", source(var, key, from_env)))
        };
        let egress = EgressPolicy::default()
            .deny(networks(ENV_EGRESS_DENY, "egress_deny", file.egress_deny)?)
            .allow(networks(
                ENV_EGRESS_ALLOW,
                "egress_allow",
                file.egress_allow,
            )?);

        let trusted_proxies =
            networks(ENV_TRUSTED_PROXIES, "trusted_proxies", file.trusted_proxies)?;
        let count =
            |var: &str, key: &str, from_file: Option<u64>| -> anyhow::Result<Option<usize>> {
                let (value, from_env) = match env(var)? {
                    Some(v) => (Some(v.trim().parse::<u64>().ok()), true),
                    None => (from_file.map(Some), false),
                };
                match value {
                    None => Ok(None),
                    Some(Some(v)) if (16..=1_000_000).contains(&v) => Ok(usize::try_from(v).ok()),
                    Some(_) => bail!(
                        "{}: expected a number of connections from 16 to 1000000",
                        source(var, key, from_env)
                    ),
                }
            };
        let max_connections = count(ENV_MAX_CONNECTIONS, "max_connections", file.max_connections)?;
        let max_connections_per_ip = count(
            ENV_MAX_CONNECTIONS_PER_IP,
            "max_connections_per_ip",
            file.max_connections_per_ip,
        )?;

        Ok(Self {
            data_dir,
            database,
            bind,
            endpoint,
            admin_password,
            metrics_token,
            log,
            provider_timeout_secs,
            refresh_skew_secs,
            egress,
            trusted_proxies,
            max_connections,
            max_connections_per_ip,
        })
    }
}

#[cfg(test)]
mod redaction_tests {
    use super::*;

    #[test]
    fn a_database_url_prints_without_its_password() {
        let url = DatabaseUrl("postgres://strongroom:PLANTED-pw@db.internal:5432/sr".into());
        let file: FileConfig = toml::from_str(
            "database_url = \"postgres://strongroom:PLANTED-pw@db.internal:5432/sr\"",
        )
        .expect("file");
        assert_eq!(file.database_url.as_ref(), Some(&url));
        for printed in [format!("{:?}", Database::Url(url)), format!("{file:?}")] {
            assert!(!printed.contains("PLANTED"), "{printed}");
            assert!(
                printed.contains("strongroom:[redacted]@db.internal"),
                "{printed}"
            );
        }
    }
}
