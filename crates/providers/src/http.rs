//! The HTTP client every provider call goes through.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::{RequestBuilder, StatusCode};
use serde_json::Value;
use url::{Host, Url};

use crate::egress::{EgressPolicy, EgressRefusal};
use crate::error::ProviderError;

/// Largest response body accepted from a provider (token, userinfo, discovery, JWKS).
const MAX_BODY: usize = 1024 * 1024;

/// The HTTP client for upstream calls: redirects are never followed (a 3xx on a back-channel
/// call is an error), connecting times out after 5 s, and every call as a whole after the
/// configured timeout. The user agent is `Strongroom`.
///
/// Every destination is checked against the [`EgressPolicy`]: IP-literal hosts before the
/// request is sent, names after DNS resolution (a resolver that drops denied addresses and fails
/// when none remain), so a name that resolves, or later re-resolves, to a denied address is
/// refused too. A refused call is `Unavailable { status: 0 }`, exactly like a closed port, and
/// the refused address and the denying network are logged. When an HTTP(S) proxy is configured
/// (`HTTPS_PROXY`, ...), the proxy resolves the names it is given: only IP literals and the
/// proxy's own address are checked here then.
#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
    timeout: Duration,
    egress: Arc<EgressPolicy>,
}

impl fmt::Debug for Http {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Http")
            .field("timeout", &self.timeout)
            .field("egress", &self.egress)
            .finish_non_exhaustive()
    }
}

impl Http {
    /// The default total timeout of one call (10 s).
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
    /// The connect timeout (5 s, or the total timeout when that is shorter).
    pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

    /// Builds the client with the default [`EgressPolicy`]. `timeout` bounds each call from
    /// sending the request to reading the whole answer.
    pub fn new(timeout: Duration) -> Result<Self, ProviderError> {
        Self::with_egress(timeout, EgressPolicy::default())
    }

    /// Builds the client with `egress` deciding which addresses calls may connect to.
    pub fn with_egress(timeout: Duration, egress: EgressPolicy) -> Result<Self, ProviderError> {
        let egress = Arc::new(egress);
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(EgressResolver {
                policy: Arc::clone(&egress),
            }))
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Self::CONNECT_TIMEOUT.min(timeout))
            .timeout(timeout)
            .user_agent("Strongroom")
            .build()
            .map_err(|e| {
                tracing::error!(error = %e.without_url(), "cannot build the HTTP client");
                ProviderError::Config("cannot build the HTTP client".into())
            })?;
        Ok(Http {
            client,
            timeout,
            egress,
        })
    }

    /// The destinations calls may reach.
    pub fn egress(&self) -> &EgressPolicy {
        &self.egress
    }

    /// The total timeout of one call.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends the request and reads the whole answer. 3xx → `InvalidResponse`, 5xx and 429 →
    /// `Unavailable`; other statuses are returned for the caller to interpret. A destination
    /// the egress policy refuses → `Unavailable { status: 0 }`, without a connection attempt.
    ///
    /// The one place in this crate where a request is sent: every upstream call comes here.
    pub(crate) async fn fetch(
        &self,
        request: RequestBuilder,
        what: &'static str,
    ) -> Result<Answer, ProviderError> {
        // Sent with this client (and so its resolver), whatever client built the request.
        let request = request
            .build_split()
            .1
            .map_err(|e| transport_error(e, what))?;
        self.check_literal_host(request.url(), what)?;
        let mut response = self
            .client
            .execute(request)
            .await
            .map_err(|e| transport_error(e, what))?;
        let status = response.status();
        if status.is_redirection() {
            tracing::warn!(
                status = status.as_u16(),
                endpoint = what,
                "provider answered with a redirect; not followed"
            );
            return Err(ProviderError::InvalidResponse(format!(
                "{what} answered with a redirect (HTTP {}), which is not followed",
                status.as_u16()
            )));
        }
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            tracing::warn!(
                status = status.as_u16(),
                endpoint = what,
                "provider unavailable"
            );
            return Err(ProviderError::Unavailable {
                status: status.as_u16(),
            });
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.to_ascii_lowercase());
        if response
            .content_length()
            .is_some_and(|n| n > MAX_BODY as u64)
        {
            return Err(ProviderError::InvalidResponse(format!(
                "{what} answered with a body that is too large"
            )));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| transport_error(e, what))?
        {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(ProviderError::InvalidResponse(format!(
                    "{what} answered with a body that is too large"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answer {
            status,
            content_type,
            body,
        })
    }

    /// reqwest connects to an IP-literal host without asking the resolver: check it here.
    /// Names are checked by [`EgressResolver`] once resolved.
    fn check_literal_host(&self, url: &Url, what: &'static str) -> Result<(), ProviderError> {
        let ip = match url.host() {
            Some(Host::Ipv4(ip)) => IpAddr::V4(ip),
            Some(Host::Ipv6(ip)) => IpAddr::V6(ip),
            // The URL parser turns every IPv4 spelling of an http(s) URL into `Ipv4`; this
            // catches anything that still reads as an address.
            Some(Host::Domain(name)) => match name.parse::<IpAddr>() {
                Ok(ip) => ip,
                Err(_) => return Ok(()),
            },
            None => return Ok(()),
        };
        self.egress.check(ip).map_err(|refusal| {
            // The address only: the URL's query can carry secrets (Facebook's token calls).
            tracing::warn!(
                endpoint = what,
                refused = %refusal,
                "outbound call refused by the egress policy (STRONGROOM_EGRESS_ALLOW exempts a network)"
            );
            ProviderError::Unavailable { status: 0 }
        })
    }

    /// A JSON API call with the user's access token (userinfo, GitHub's user API): 2xx with a
    /// JSON body, or an error (401 → `OAuth { error: "invalid_token" }`, other 4xx →
    /// `InvalidResponse`).
    pub(crate) async fn fetch_json(
        &self,
        request: RequestBuilder,
        what: &'static str,
    ) -> Result<Value, ProviderError> {
        let answer = self.fetch(request, what).await?;
        answer.expect_success(what)?;
        answer.json(what)
    }

    /// A public JSON document fetched without credentials (discovery, JWKS): 2xx with a JSON
    /// body; any other status → `InvalidResponse` (a 401 here rejects no token of ours).
    pub(crate) async fn fetch_document(
        &self,
        request: RequestBuilder,
        what: &'static str,
    ) -> Result<Value, ProviderError> {
        let answer = self.fetch(request, what).await?;
        if !answer.status.is_success() {
            tracing::warn!(
                status = answer.status.as_u16(),
                endpoint = what,
                "provider call failed"
            );
            return Err(ProviderError::InvalidResponse(format!(
                "{what} answered HTTP {}",
                answer.status.as_u16()
            )));
        }
        answer.json(what)
    }
}

/// A provider's complete answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) content_type: Option<String>,
    pub(crate) body: Vec<u8>,
}

impl Answer {
    pub(crate) fn expect_success(&self, what: &'static str) -> Result<(), ProviderError> {
        if self.status.is_success() {
            return Ok(());
        }
        tracing::warn!(
            status = self.status.as_u16(),
            endpoint = what,
            "provider call failed"
        );
        if self.status == StatusCode::UNAUTHORIZED {
            return Err(ProviderError::OAuth {
                error: "invalid_token".into(),
                description: Some(format!("{what} rejected the access token (HTTP 401)")),
            });
        }
        Err(ProviderError::InvalidResponse(format!(
            "{what} answered HTTP {}",
            self.status.as_u16()
        )))
    }

    /// The body as JSON. The parser's message is not passed on: it can quote the body.
    pub(crate) fn json(&self, what: &'static str) -> Result<Value, ProviderError> {
        serde_json::from_slice(&self.body).map_err(|_| {
            ProviderError::InvalidResponse(format!("{what} did not answer with valid JSON"))
        })
    }

    pub(crate) fn is_json(&self) -> bool {
        self.content_type.as_deref().is_some_and(|c| {
            let essence = c.split(';').next().unwrap_or("").trim();
            essence == "application/json" || essence.ends_with("+json")
        })
    }
}

/// Resolves names for [`Http`]'s client and drops the addresses its [`EgressPolicy`] refuses;
/// fails with [`RefusedName`] when none remain.
#[derive(Debug)]
struct EgressResolver {
    policy: Arc<EgressPolicy>,
}

impl Resolve for EgressResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = Arc::clone(&self.policy);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut kept = Vec::with_capacity(resolved.len());
            let mut refusals = Vec::new();
            for addr in resolved {
                match policy.check(addr.ip()) {
                    Ok(()) => kept.push(addr),
                    Err(refusal) => refusals.push(refusal),
                }
            }
            if !refusals.is_empty() {
                let refused = RefusedName { host, refusals };
                if kept.is_empty() {
                    return Err(refused.into());
                }
                tracing::warn!(
                    refused = %refused,
                    "some addresses are refused by the egress policy; connecting to the others"
                );
            }
            let addrs: Addrs = Box::new(kept.into_iter());
            Ok(addrs)
        })
    }
}

/// A name whose addresses the egress policy refuses.
#[derive(Debug)]
struct RefusedName {
    host: String,
    refusals: Vec<EgressRefusal>,
}

impl fmt::Display for RefusedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} resolves to ", self.host)?;
        for (i, refusal) in self.refusals.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{refusal}")?;
        }
        Ok(())
    }
}

impl std::error::Error for RefusedName {}

/// The resolver's refusal inside a connection error, if that is what it is.
fn refused_name(e: &reqwest::Error) -> Option<&RefusedName> {
    let mut source = std::error::Error::source(e);
    while let Some(error) = source {
        if let Some(refused) = error.downcast_ref::<RefusedName>() {
            return Some(refused);
        }
        source = error.source();
    }
    None
}

fn transport_error(e: reqwest::Error, what: &'static str) -> ProviderError {
    // `without_url`: Facebook's token URLs carry the client secret and the code in the query.
    let e = e.without_url();
    if let Some(refused) = refused_name(&e) {
        tracing::warn!(
            endpoint = what,
            refused = %refused,
            "outbound call refused by the egress policy (STRONGROOM_EGRESS_ALLOW exempts a network)"
        );
        ProviderError::Unavailable { status: 0 }
    } else if e.is_timeout() {
        tracing::warn!(endpoint = what, "provider call timed out");
        ProviderError::Timeout
    } else if e.is_builder() {
        tracing::warn!(endpoint = what, error = %e, "cannot build the provider request");
        ProviderError::Config(format!("cannot build the request to {what}"))
    } else {
        tracing::warn!(endpoint = what, error = %e, "provider unreachable");
        ProviderError::Unavailable { status: 0 }
    }
}
