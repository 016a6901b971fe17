//! Fetching the tenant's key set: its OpenID metadata, then the key set the metadata's
//! `jwks_uri` names. Entra publishes the key set of an authority `https://<host>/<tenant>/v2.0`
//! at `https://<host>/<tenant id>/discovery/v2.0/keys` (for ciamlogin.com and
//! login.microsoftonline.com alike, and with the tenant's id even where the authority names its
//! domain), so the key set is fetched from there alongside the metadata and used only when the
//! metadata names exactly that address: a fetch then takes one round trip instead of two.
//!
//! Every fetch, and every redirect it follows, goes to https or loopback only
//! ([`outbound`]), reads at most [`MAX_ANSWER_BYTES`], and ends within [`FETCH_TIMEOUT`].

use std::sync::OnceLock;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::signing_key::{KeySet, key_set};
use crate::outbound::{self, UnsafeUrl};

/// Largest OpenID metadata or key set read: Entra's are a few kilobytes.
const MAX_ANSWER_BYTES: usize = 1 << 20;
/// How long one fetch (metadata and key set) may take. It runs in the background, apart from
/// the requests that wait for it (each within its own deadline), so a slow network delays the
/// keys instead of cutting every fetch short (each one a new connection, the next no faster).
pub(crate) const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// What one fetch brought.
pub(crate) struct Fetched {
    pub(crate) keys: KeySet,
    pub(crate) jwks_uri: String,
    pub(crate) issuer: Option<String>,
}

/// Why the key set could not be fetched; logged, and the last good set (if any) stays in use.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum KeyFetchError {
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    #[error("{url}: {reason}")]
    Fetch { url: String, reason: String },
    #[error("jwks_uri {0}")]
    UnsafeJwksUri(UnsafeUrl),
    #[error("{0} holds no RSA signing key with a kid")]
    NoKeys(String),
    #[error("no answer within {} ms", .0.as_millis())]
    Deadline(Duration),
}

/// The OpenID metadata's parts that are used.
#[derive(Deserialize)]
struct Metadata {
    jwks_uri: String,
    issuer: Option<String>,
}

/// Fetches the key set of one authority.
pub(crate) struct KeyFetcher {
    /// `<authority>/.well-known/openid-configuration`.
    metadata_url: String,
    /// Where Entra publishes this authority's key set (see the module's docs).
    likely_jwks_uri: Option<String>,
    /// Built once, at the first fetch, with the trust store every client shares.
    client: OnceLock<Result<reqwest::Client, KeyFetchError>>,
}

impl KeyFetcher {
    pub(crate) fn new(metadata_url: &str, tenant_id: &str) -> Self {
        Self {
            likely_jwks_uri: likely_jwks_uri(metadata_url, tenant_id),
            metadata_url: metadata_url.to_owned(),
            client: OnceLock::new(),
        }
    }

    /// The HTTP client, built on first use.
    pub(crate) fn client(&self) -> Result<&reqwest::Client, KeyFetchError> {
        self.client
            .get_or_init(|| {
                outbound::client()
                    .timeout(FETCH_TIMEOUT)
                    .connect_timeout(FETCH_TIMEOUT)
                    .redirect(outbound::checked_redirects())
                    .build()
                    .map_err(|error| KeyFetchError::Client(error.to_string()))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The metadata and the key set, within [`FETCH_TIMEOUT`].
    pub(crate) async fn fetch(&self) -> Result<Fetched, KeyFetchError> {
        // The client is built on the runtime; the trust store it needs is read off it.
        outbound::load_trust_store().await;
        tokio::time::timeout(FETCH_TIMEOUT, self.fetch_unbounded())
            .await
            .map_err(|_| KeyFetchError::Deadline(FETCH_TIMEOUT))?
    }

    async fn fetch_unbounded(&self) -> Result<Fetched, KeyFetchError> {
        let metadata = self.get_json(&self.metadata_url);
        let (metadata, likely) = match &self.likely_jwks_uri {
            Some(likely) => {
                let (metadata, keys) = tokio::join!(metadata, self.get_json(likely));
                (metadata, Some((likely, keys)))
            }
            None => (metadata.await, None),
        };
        let metadata: Metadata =
            serde_json::from_value(metadata?).map_err(|error| KeyFetchError::Fetch {
                url: self.metadata_url.clone(),
                reason: error.to_string(),
            })?;
        outbound::check_fetch_url(&metadata.jwks_uri).map_err(KeyFetchError::UnsafeJwksUri)?;
        let jwks = match likely {
            // Fetched already, from exactly the address the metadata names.
            Some((likely, Ok(jwks))) if *likely == metadata.jwks_uri => jwks,
            _ => self.get_json(&metadata.jwks_uri).await?,
        };
        let keys = key_set(&jwks);
        if keys.is_empty() {
            return Err(KeyFetchError::NoKeys(metadata.jwks_uri));
        }
        Ok(Fetched {
            keys,
            jwks_uri: metadata.jwks_uri,
            issuer: metadata.issuer,
        })
    }

    async fn get_json(&self, url: &str) -> Result<Value, KeyFetchError> {
        let failed = |reason: String| KeyFetchError::Fetch {
            url: url.to_owned(),
            reason,
        };
        let response = self
            .client()?
            .get(url)
            .send()
            .await
            .map_err(|error| failed(crate::printable::with_causes(&error)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(failed(format!("HTTP {status}")));
        }
        let body = outbound::read_capped(response, MAX_ANSWER_BYTES)
            .await
            .map_err(|error| failed(error.to_string()))?;
        serde_json::from_slice(&body).map_err(|error| failed(error.to_string()))
    }
}

/// `https://<host>/<tenant id>/discovery/v2.0/keys` for a metadata URL
/// `https://<host>/<tenant>/v2.0/.well-known/openid-configuration`; `None` for another shape.
fn likely_jwks_uri(metadata_url: &str, tenant_id: &str) -> Option<String> {
    let mut url = reqwest::Url::parse(metadata_url).ok()?;
    let segments: Vec<&str> = url.path_segments()?.collect();
    let [_tenant, "v2.0", ".well-known", "openid-configuration"] = segments.as_slice() else {
        return None;
    };
    url.set_path(&format!("/{tenant_id}/discovery/v2.0/keys"));
    url.set_query(None);
    Some(url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_set_is_expected_where_entra_publishes_it() {
        let tenant = "aaaabbbb-0000-cccc-1111-dddd2222eeee";
        for (metadata, expected) in [
            (
                format!("https://{tenant}.ciamlogin.com/{tenant}/v2.0/.well-known/openid-configuration"),
                Some(format!("https://{tenant}.ciamlogin.com/{tenant}/discovery/v2.0/keys")),
            ),
            // The tenant's domain in the authority: the key set still lives under its id.
            (
                "https://contoso.ciamlogin.com/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration".to_owned(),
                Some(format!("https://contoso.ciamlogin.com/{tenant}/discovery/v2.0/keys")),
            ),
            (
                format!("https://login.microsoftonline.com/{tenant}/v2.0/.well-known/openid-configuration"),
                Some(format!("https://login.microsoftonline.com/{tenant}/discovery/v2.0/keys")),
            ),
            (
                format!("http://127.0.0.1:8080/{tenant}/v2.0/.well-known/openid-configuration"),
                Some(format!("http://127.0.0.1:8080/{tenant}/discovery/v2.0/keys")),
            ),
            (
                format!("https://login.example/prefix/{tenant}/v2.0/.well-known/openid-configuration"),
                None,
            ),
        ] {
            assert_eq!(likely_jwks_uri(&metadata, tenant), expected, "{metadata}");
        }
    }
}
