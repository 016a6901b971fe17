//! Tokens of the platform's managed identity (App Service and Functions publish it to the process
//! as `IDENTITY_ENDPOINT` and `IDENTITY_HEADER`): one token per resource (Azure Storage for the
//! invitation table, Azure Monitor for Entra-authenticated telemetry), cached until five minutes
//! before it expires. Callers that ask while a token is being fetched wait for that fetch.

use std::time::{Duration, Instant};

use serde_json::Value;
use time::OffsetDateTime;
use tokio::sync::Mutex;

/// Largest answer of the identity endpoint read: a token is a few kilobytes.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Why no token came.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// This process has no managed identity (the variables are not set: not in Azure).
    #[error("no managed identity here ({0} is not set)")]
    NotHere(&'static str),
    /// The endpoint did not answer (in time).
    #[error("managed identity endpoint: {0}")]
    Unreachable(String),
    /// It answered, but with no token.
    #[error("managed identity endpoint: {0}")]
    Refused(String),
}

/// A cached token and when to fetch a new one.
struct Token {
    value: String,
    renew_at: Instant,
}

/// The managed identity's tokens for one resource (never shown: `Debug` names the resource).
pub(crate) struct ManagedIdentity {
    /// `https://storage.azure.com/`, `https://monitor.azure.com/`.
    resource: &'static str,
    /// A user-assigned identity's client id; `None`: the system-assigned identity.
    client_id: Option<String>,
    token: Mutex<Option<Token>>,
}

impl std::fmt::Debug for ManagedIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagedIdentity")
            .field("resource", &self.resource)
            .finish_non_exhaustive()
    }
}

impl ManagedIdentity {
    pub(crate) fn new(resource: &'static str, client_id: Option<String>) -> Self {
        Self {
            resource,
            client_id,
            token: Mutex::new(None),
        }
    }

    /// A token, from the cache or the platform's endpoint (within `timeout`).
    pub(crate) async fn token(
        &self,
        http: &reqwest::Client,
        timeout: Duration,
    ) -> Result<String, IdentityError> {
        let mut cached = self.token.lock().await;
        if let Some(token) = cached
            .as_ref()
            .filter(|token| Instant::now() < token.renew_at)
        {
            return Ok(token.value.clone());
        }
        let refused = |what: String| IdentityError::Refused(what);
        let endpoint = std::env::var("IDENTITY_ENDPOINT")
            .map_err(|_| IdentityError::NotHere("IDENTITY_ENDPOINT"))?;
        let secret = std::env::var("IDENTITY_HEADER")
            .map_err(|_| IdentityError::NotHere("IDENTITY_HEADER"))?;
        let mut url = reqwest::Url::parse(&endpoint)
            .map_err(|error| refused(format!("IDENTITY_ENDPOINT is not a URL: {error}")))?;
        url.query_pairs_mut()
            .append_pair("resource", self.resource)
            .append_pair("api-version", "2019-08-01");
        if let Some(client_id) = &self.client_id {
            url.query_pairs_mut().append_pair("client_id", client_id);
        }
        let response = http
            .get(url)
            .header("X-IDENTITY-HEADER", secret)
            .timeout(timeout)
            .send()
            .await
            .map_err(|error| {
                IdentityError::Unreachable(crate::printable::with_causes(&error.without_url()))
            })?;
        if !response.status().is_success() {
            return Err(refused(format!("HTTP {}", response.status())));
        }
        let body = crate::outbound::read_capped(response, MAX_ANSWER_BYTES)
            .await
            .map_err(|error| refused(error.to_string()))?;
        let body: Value = serde_json::from_slice(&body)
            .map_err(|error| refused(format!("invalid JSON: {error}")))?;
        let value = body
            .get("access_token")
            .and_then(Value::as_str)
            .ok_or_else(|| refused("no access_token".to_owned()))?;
        let expires_in = body
            .get("expires_on")
            .and_then(|v| {
                v.as_str()
                    .and_then(|s| s.parse::<i64>().ok())
                    .or_else(|| v.as_i64())
            })
            .map_or(300, |on| on - OffsetDateTime::now_utc().unix_timestamp());
        let renew_in = Duration::from_secs(u64::try_from(expires_in - 300).unwrap_or(0).max(60));
        *cached = Some(Token {
            value: value.to_owned(),
            renew_at: Instant::now() + renew_in,
        });
        Ok(value.to_owned())
    }
}
