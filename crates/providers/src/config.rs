//! Reading a connector's config JSON (Logto's field names).

use serde_json::{Map, Value};
use url::Url;

use crate::error::ProviderError;

pub(crate) struct Cfg<'a> {
    obj: &'a Map<String, Value>,
}

fn config_error(text: impl Into<String>) -> ProviderError {
    ProviderError::Config(text.into())
}

impl<'a> Cfg<'a> {
    pub(crate) fn new(config: &'a Value) -> Result<Self, ProviderError> {
        match config {
            Value::Object(obj) => Ok(Cfg { obj }),
            _ => Err(config_error("config must be a JSON object")),
        }
    }

    fn present(&self, key: &str) -> Option<&'a Value> {
        match self.obj.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(v) => Some(v),
        }
    }

    /// A required non-empty string: `"clientId is required"` otherwise.
    pub(crate) fn required_str(&self, key: &str) -> Result<String, ProviderError> {
        self.optional_str(key)?
            .ok_or_else(|| config_error(format!("{key} is required")))
    }

    /// An optional string; `null` and `""` count as absent.
    pub(crate) fn optional_str(&self, key: &str) -> Result<Option<String>, ProviderError> {
        match self.present(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
            Some(_) => Err(config_error(format!("{key} must be a string"))),
        }
    }

    pub(crate) fn optional_bool(&self, key: &str) -> Result<Option<bool>, ProviderError> {
        match self.present(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(config_error(format!("{key} must be a boolean"))),
        }
    }

    /// An optional array of strings (an empty array is kept: it means "none").
    pub(crate) fn optional_str_list(
        &self,
        key: &str,
    ) -> Result<Option<Vec<String>>, ProviderError> {
        match self.present(key) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .map(Some)
                .ok_or_else(|| config_error(format!("{key} must be an array of strings"))),
            Some(_) => Err(config_error(format!("{key} must be an array of strings"))),
        }
    }

    pub(crate) fn optional_object(&self, key: &str) -> Result<Option<Cfg<'a>>, ProviderError> {
        match self.present(key) {
            None => Ok(None),
            Some(Value::Object(obj)) => Ok(Some(Cfg { obj })),
            Some(_) => Err(config_error(format!("{key} must be a JSON object"))),
        }
    }

    /// An optional absolute http(s) URL.
    pub(crate) fn optional_url(&self, key: &str) -> Result<Option<Url>, ProviderError> {
        self.optional_str(key)?
            .map(|s| parse_url(key, &s))
            .transpose()
    }

    pub(crate) fn required_url(&self, key: &str) -> Result<Url, ProviderError> {
        parse_url(key, &self.required_str(key)?)
    }

    pub(crate) fn url_or(&self, key: &str, default: &str) -> Result<Url, ProviderError> {
        Ok(match self.optional_url(key)? {
            Some(url) => url,
            None => parse_url(key, default)?,
        })
    }

    /// A base URL (no trailing slash) to which paths are appended.
    pub(crate) fn base_or(&self, key: &str, default: &str) -> Result<String, ProviderError> {
        let url = self.url_or(key, default)?;
        if url.query().is_some() || url.fragment().is_some() {
            return Err(config_error(format!(
                "{key} must not have a query or fragment"
            )));
        }
        Ok(url.as_str().trim_end_matches('/').to_owned())
    }

    /// A JSON object of string values (Logto's `customConfig`), as parameters.
    pub(crate) fn string_map(&self, key: &str) -> Result<Vec<(String, String)>, ProviderError> {
        let Some(obj) = self.optional_object(key)? else {
            return Ok(Vec::new());
        };
        obj.obj
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                Value::Number(n) => Ok((k.clone(), n.to_string())),
                Value::Bool(b) => Ok((k.clone(), b.to_string())),
                _ => Err(config_error(format!("{key}.{k} must be a string"))),
            })
            .collect()
    }
}

pub(crate) fn parse_url(key: &str, text: &str) -> Result<Url, ProviderError> {
    match Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Ok(url),
        _ => Err(config_error(format!(
            "{key} must be an absolute http(s) URL"
        ))),
    }
}

/// `base` + `path` (path starts with `/`).
pub(crate) fn join(base: &str, path: &str, key: &str) -> Result<Url, ProviderError> {
    parse_url(key, &format!("{base}{path}"))
}

/// Appends query parameters to an endpoint, keeping the ones it already has.
pub(crate) fn with_query<'p>(
    endpoint: &Url,
    params: impl IntoIterator<Item = (&'p str, &'p str)>,
) -> Url {
    let mut url = endpoint.clone();
    {
        let mut pairs = url.query_pairs_mut();
        for (k, v) in params {
            pairs.append_pair(k, v);
        }
    }
    url
}

/// Parameters a connector's `customConfig` / `authRequestOptionalConfig` may not override:
/// they carry Strongroom's own security values.
pub(crate) const RESERVED_PARAMS: &[&str] = &[
    "client_id",
    "client_secret",
    "redirect_uri",
    "response_type",
    "state",
    "nonce",
    "code",
    "code_challenge",
    "code_challenge_method",
    "code_verifier",
    "grant_type",
    "refresh_token",
    "client_assertion",
    "client_assertion_type",
    "scope",
];

pub(crate) fn drop_reserved(params: Vec<(String, String)>) -> Vec<(String, String)> {
    params
        .into_iter()
        .filter(|(k, _)| {
            let reserved = RESERVED_PARAMS.contains(&k.as_str());
            if reserved {
                tracing::warn!(parameter = %k, "ignoring a custom parameter that would override a protocol parameter");
            }
            !reserved
        })
        .collect()
}
