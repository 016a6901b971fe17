//! The tenant's signing keys: fetched in the background (start-up never waits on the network),
//! refreshed on a schedule and at once when a token names an unknown `kid` (at most once a
//! minute); a failed refresh keeps the last good set. Every fetch, and every redirect it
//! follows, goes to https or loopback only ([`outbound`]), within the decision deadline, and
//! reads at most [`MAX_ANSWER_BYTES`].

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value;
use warp::http::HeaderValue;

use super::cache::{CAPACITY, TokenCache, TokenDigest};
use super::token::{BASE64URL, SignedToken, TokenFailure, bearer};
use crate::outbound::{self, UnsafeUrl};

/// Largest OpenID metadata or key set read: Entra's are a few kilobytes.
const MAX_ANSWER_BYTES: usize = 1 << 20;
/// An unknown `kid` refreshes the key set at most this often.
const FORCED_REFRESH_INTERVAL: Duration = Duration::from_secs(60);
/// How soon to try again while no key set was ever fetched.
const RETRY_WITHOUT_KEYS: Duration = Duration::from_secs(2);
/// How soon to try again when a scheduled refresh failed (the last good set stays in use).
const RETRY_WITH_KEYS: Duration = Duration::from_secs(300);

/// Which token the attribute-collection functions accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSettings {
    /// Lower-case tenant id.
    pub tenant_id: String,
    /// Lower-case client id of the extension's app registration.
    pub client_id: String,
    /// `<authority>/.well-known/openid-configuration`.
    pub metadata_url: String,
    /// How often the key set is refreshed when nothing forces it.
    pub refresh: Duration,
    /// Deadline for each fetch of metadata and key set together.
    pub fetch_deadline: Duration,
}

/// An RSA public key from the key set.
#[derive(Debug)]
pub struct SigningKey {
    n: Vec<u8>,
    e: Vec<u8>,
}

impl SigningKey {
    /// The modulus, big-endian.
    pub(super) fn modulus(&self) -> &[u8] {
        &self.n
    }

    /// The public exponent, big-endian.
    pub(super) fn exponent(&self) -> &[u8] {
        &self.e
    }

    /// Whether `other` is this key (the same modulus and exponent).
    pub(crate) fn same(&self, other: &Self) -> bool {
        std::ptr::eq(self, other) || (self.n == other.n && self.e == other.e)
    }

    #[cfg(test)]
    pub(crate) fn from_parts(n: Vec<u8>, e: Vec<u8>) -> Self {
        Self { n, e }
    }

    /// An RSA signature key of a JWK set (`kty` RSA, a `kid`, `use` absent or `sig`), with its
    /// `kid`.
    pub fn from_jwk(jwk: &Value) -> Option<(String, Self)> {
        let text = |name: &str| jwk.get(name).and_then(Value::as_str);
        if text("kty") != Some("RSA") || text("use").is_some_and(|usage| usage != "sig") {
            return None;
        }
        let component = |name: &str| {
            let bytes = BASE64URL.decode(text(name)?).ok()?;
            // Big-endian, without the leading zero some encoders add.
            let first = bytes.iter().position(|&b| b != 0)?;
            Some(bytes[first..].to_vec())
        };
        let key = SigningKey {
            n: component("n")?,
            e: component("e")?,
        };
        Some((text("kid")?.to_owned(), key))
    }
}

/// Signing keys by `kid`.
type KeySet = HashMap<String, Arc<SigningKey>>;

/// The token validator with its key cache.
pub struct EntraTokens {
    settings: TokenSettings,
    /// Tokens already validated (see [`TokenCache`]).
    validated: TokenCache,
    /// Built on first use, in the background refresh: loading the platform's trust store takes
    /// milliseconds that start-up should not wait for.
    client: std::sync::OnceLock<Result<reqwest::Client, KeyFetchError>>,
    keys: RwLock<Option<Arc<KeySet>>>,
    /// When an unknown `kid` last forced a refresh; also serialises those refreshes.
    forced: tokio::sync::Mutex<Option<Instant>>,
}

impl EntraTokens {
    pub fn new(settings: TokenSettings) -> Self {
        Self::with_token_cache(settings, CAPACITY)
    }

    /// A validator that remembers at most `capacity` validated tokens (0: none, every call is
    /// verified in full).
    pub fn with_token_cache(settings: TokenSettings, capacity: usize) -> Self {
        Self {
            settings,
            validated: TokenCache::new(capacity),
            client: std::sync::OnceLock::new(),
            keys: RwLock::new(None),
            forced: tokio::sync::Mutex::new(None),
        }
    }

    fn client(&self) -> Result<&reqwest::Client, KeyFetchError> {
        self.client
            .get_or_init(|| {
                outbound::client()
                    .timeout(self.settings.fetch_deadline)
                    .connect_timeout(self.settings.fetch_deadline)
                    .redirect(outbound::checked_redirects())
                    .build()
                    .map_err(|error| KeyFetchError::Client(error.to_string()))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Fetches the key set now and then for as long as the runtime runs.
    pub(crate) fn spawn_refresh(self: &Arc<Self>) {
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                let wait = if this.refresh().await {
                    this.settings.refresh
                } else if this.current().is_some() {
                    RETRY_WITH_KEYS
                } else {
                    RETRY_WITHOUT_KEYS
                };
                tokio::time::sleep(wait).await;
            }
        });
    }

    fn current(&self) -> Option<Arc<KeySet>> {
        self.keys
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn cached(&self, kid: &str) -> Option<Arc<SigningKey>> {
        self.current()?.get(kid).cloned()
    }

    /// Checks an `Authorization` header; `Ok` only for a token from Entra for our tenant and app.
    /// Checks the caller's token: a token validated before, still current and still signed by a
    /// key the tenant publishes, is taken from the cache; any other is verified in full.
    pub async fn verify(&self, authorization: Option<&HeaderValue>) -> Result<(), TokenFailure> {
        let text = bearer(authorization)?;
        let digest = TokenDigest::of(text);
        let now = unix_now();
        if self.validated.check(&digest, now, |kid| self.cached(kid)) {
            return Ok(());
        }
        let token = SignedToken::parse(text)?;
        let key = self.key(token.kid()).await?;
        let valid_until = token.verify(
            &key,
            &self.settings.tenant_id,
            &self.settings.client_id,
            now,
        )?;
        self.validated
            .insert(digest, token.kid(), key, valid_until, now);
        Ok(())
    }

    /// How many calls were answered from the token cache, and how many were not.
    pub fn token_cache_counts(&self) -> (u64, u64) {
        self.validated.counts()
    }

    /// The key for `kid`, refreshing the set first when it is unknown (at most once a minute).
    async fn key(&self, kid: &str) -> Result<Arc<SigningKey>, TokenFailure> {
        if let Some(key) = self.cached(kid) {
            return Ok(key);
        }
        {
            let mut last = self.forced.lock().await;
            // Another request may have refreshed while this one waited.
            if let Some(key) = self.cached(kid) {
                return Ok(key);
            }
            if last.is_none_or(|at| at.elapsed() >= FORCED_REFRESH_INTERVAL) {
                *last = Some(Instant::now());
                self.refresh().await;
            }
        }
        match (self.cached(kid), self.current()) {
            (Some(key), _) => Ok(key),
            (None, Some(_)) => Err(TokenFailure::Kid),
            (None, None) => Err(TokenFailure::KeysUnavailable),
        }
    }

    /// Fetches metadata and key set within the deadline; `true` when a new set is in place.
    async fn refresh(&self) -> bool {
        let started = Instant::now();
        let fetched = tokio::time::timeout(self.settings.fetch_deadline, self.fetch()).await;
        crate::telemetry::key_fetch(started.elapsed(), matches!(fetched, Ok(Ok(_))));
        let error = match fetched {
            Ok(Ok(keys)) => {
                log::info!(
                    "fetched {} signing key(s) for tenant {}",
                    keys.len(),
                    self.settings.tenant_id
                );
                let keys = Arc::new(keys);
                *self
                    .keys
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(keys.clone());
                // A token whose key is withdrawn or replaced is verified (and refused) again.
                self.validated
                    .retain_published(|kid| keys.get(kid).cloned());
                return true;
            }
            Ok(Err(error)) => error,
            Err(_) => KeyFetchError::Deadline(self.settings.fetch_deadline),
        };
        if self.current().is_some() {
            log::warn!(
                "cannot refresh the Entra signing keys ({error}); keeping the last good set"
            );
        } else {
            log::error!(
                "cannot fetch the Entra signing keys ({error}); every event call is refused until they arrive"
            );
        }
        false
    }

    async fn fetch(&self) -> Result<KeySet, KeyFetchError> {
        self.fetch_with_metadata().await.map(|(set, _)| set)
    }

    /// The key set and the metadata it was found through.
    async fn fetch_with_metadata(&self) -> Result<(KeySet, Metadata), KeyFetchError> {
        #[derive(Deserialize)]
        struct Keys {
            keys: Vec<Value>,
        }
        let metadata: Metadata = self.get_json(&self.settings.metadata_url).await?;
        outbound::check_fetch_url(&metadata.jwks_uri).map_err(KeyFetchError::UnsafeJwksUri)?;
        let keys: Keys = self.get_json(&metadata.jwks_uri).await?;
        let set: KeySet = keys
            .keys
            .iter()
            .filter_map(SigningKey::from_jwk)
            .map(|(kid, key)| (kid, Arc::new(key)))
            .collect();
        if set.is_empty() {
            return Err(KeyFetchError::NoKeys(metadata.jwks_uri));
        }
        Ok((set, metadata))
    }

    /// Fetches the metadata and key set exactly as the server does, for `handler doctor`.
    pub(crate) async fn probe(&self) -> Result<KeyProbe, KeyFetchError> {
        let (set, metadata) =
            tokio::time::timeout(self.settings.fetch_deadline, self.fetch_with_metadata())
                .await
                .map_err(|_| KeyFetchError::Deadline(self.settings.fetch_deadline))??;
        Ok(KeyProbe {
            jwks_uri: metadata.jwks_uri,
            issuer: metadata.issuer,
            keys: set.len(),
        })
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
    ) -> Result<T, KeyFetchError> {
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

/// Why the key set could not be fetched; logged, and the last good set (if any) stays in use.
/// The OpenID metadata's parts the server uses.
#[derive(Deserialize)]
struct Metadata {
    jwks_uri: String,
    issuer: Option<String>,
}

/// What `handler doctor` learns from the tenant's metadata and key set.
#[derive(Debug, Clone)]
pub(crate) struct KeyProbe {
    pub(crate) jwks_uri: String,
    pub(crate) issuer: Option<String>,
    pub(crate) keys: usize,
}

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

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |since| since.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_rsa_signature_keys_are_taken_from_the_key_set() {
        let rsa = serde_json::json!({"kty": "RSA", "kid": "a", "use": "sig", "n": "AQAB", "e": "AQAB", "x5c": ["..."]});
        assert_eq!(
            SigningKey::from_jwk(&rsa).map(|(kid, _)| kid).as_deref(),
            Some("a")
        );
        for other in [
            serde_json::json!({"kty": "EC", "kid": "b", "crv": "P-256", "x": "AQAB", "y": "AQAB"}),
            serde_json::json!({"kty": "RSA", "kid": "c", "use": "enc", "n": "AQAB", "e": "AQAB"}),
            serde_json::json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"}),
            serde_json::json!({"kty": "RSA", "kid": "d", "n": "***", "e": "AQAB"}),
        ] {
            assert!(SigningKey::from_jwk(&other).is_none(), "{other}");
        }
    }
}
