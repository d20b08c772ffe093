//! The HTTP client every provider call goes through.

use std::fmt;
use std::time::Duration;

use reqwest::{RequestBuilder, StatusCode};
use serde_json::Value;

use crate::error::ProviderError;

/// Largest response body accepted from a provider (token, userinfo, discovery, JWKS).
const MAX_BODY: usize = 1024 * 1024;

/// The HTTP client for upstream calls: redirects are never followed (a 3xx on a back-channel
/// call is an error), connecting times out after 5 s, and every call as a whole after the
/// configured timeout. The user agent is `Strongroom`.
#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
    timeout: Duration,
}

impl fmt::Debug for Http {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Http")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Http {
    /// The default total timeout of one call (10 s).
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
    /// The connect timeout (5 s, or the total timeout when that is shorter).
    pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

    /// Builds the client. `timeout` bounds each call from sending the request to reading the
    /// whole answer.
    pub fn new(timeout: Duration) -> Result<Self, ProviderError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Self::CONNECT_TIMEOUT.min(timeout))
            .timeout(timeout)
            .user_agent("Strongroom")
            .build()
            .map_err(|e| {
                tracing::error!(error = %e.without_url(), "cannot build the HTTP client");
                ProviderError::Config("cannot build the HTTP client".into())
            })?;
        Ok(Http { client, timeout })
    }

    /// The total timeout of one call.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends the request and reads the whole answer. 3xx → `InvalidResponse`, 5xx and 429 →
    /// `Unavailable`; other statuses are returned for the caller to interpret.
    pub(crate) async fn fetch(
        &self,
        request: RequestBuilder,
        what: &'static str,
    ) -> Result<Answer, ProviderError> {
        let mut response = request.send().await.map_err(|e| transport_error(e, what))?;
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

    /// A JSON API call (discovery, JWKS, userinfo, GitHub's user API): 2xx with a JSON body, or
    /// an error (401 → `OAuth { error: "invalid_token" }`, other 4xx → `InvalidResponse`).
    pub(crate) async fn fetch_json(
        &self,
        request: RequestBuilder,
        what: &'static str,
    ) -> Result<Value, ProviderError> {
        let answer = self.fetch(request, what).await?;
        answer.expect_success(what)?;
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

fn transport_error(e: reqwest::Error, what: &'static str) -> ProviderError {
    // `without_url`: Facebook's token URLs carry the client secret and the code in the query.
    let e = e.without_url();
    if e.is_timeout() {
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
