//! Checking a caller's token: from the cache of tokens already validated, or in full against
//! the tenant's signing keys ([`KeyStore`]).

use std::sync::Arc;
use std::time::Duration;

use warp::http::HeaderValue;

use super::cache::{CAPACITY, TokenCache, TokenDigest};
use super::fetch::{KeyFetchError, KeyFetcher};
use super::key_store::KeyStore;
use super::token::{SignedToken, TokenFailure, bearer};
use crate::telemetry::Telemetry;

/// Which token the Entra functions accept.
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
    /// How long a call may wait for keys being fetched (the decision deadline): the fetch
    /// itself runs on in the background.
    pub key_wait: Duration,
}

/// The token validator with its key store and its cache of validated tokens.
pub struct EntraTokens {
    settings: TokenSettings,
    /// Tokens already validated (see [`TokenCache`]).
    validated: Arc<TokenCache>,
    keys: Arc<KeyStore>,
}

/// What `handler doctor` learns from the tenant's metadata and key set.
#[derive(Debug, Clone)]
pub(crate) struct KeyProbe {
    pub(crate) jwks_uri: String,
    pub(crate) issuer: Option<String>,
    pub(crate) keys: usize,
}

impl EntraTokens {
    /// A validator that reports each key fetch to `telemetry`.
    pub fn new(settings: TokenSettings, telemetry: Telemetry) -> Self {
        Self::with_token_cache(settings, CAPACITY, telemetry)
    }

    /// A validator that remembers at most `capacity` validated tokens (0: none, every call is
    /// verified in full).
    pub fn with_token_cache(
        settings: TokenSettings,
        capacity: usize,
        telemetry: Telemetry,
    ) -> Self {
        let validated = Arc::new(TokenCache::new(capacity));
        let cache = validated.clone();
        let keys = KeyStore::new(
            KeyFetcher::new(&settings.metadata_url, &settings.tenant_id),
            &settings.tenant_id,
            settings.refresh,
            // A token whose key is withdrawn or replaced is verified (and refused) again.
            move |keys| cache.retain_published(|kid| keys.get(kid).cloned()),
            telemetry,
        );
        Self {
            settings,
            validated,
            keys: Arc::new(keys),
        }
    }

    /// Fetches the key set at once (in the background) and then now and then, for as long as
    /// the runtime runs.
    pub(crate) fn spawn_refresh(&self) {
        self.keys.spawn_refresh();
    }

    /// Checks an `Authorization` header; `Ok` only for a token from Entra for our tenant and app.
    /// A token validated before, still current and still signed by a key the tenant publishes,
    /// is taken from the cache; any other is verified in full.
    pub async fn verify(&self, authorization: Option<&HeaderValue>) -> Result<(), TokenFailure> {
        let text = bearer(authorization)?;
        let digest = TokenDigest::of(text);
        let now = unix_now();
        if self
            .validated
            .check(&digest, now, |kid| self.keys.cached(kid))
        {
            return Ok(());
        }
        let token = SignedToken::parse(text)?;
        let key = self.keys.key(token.kid(), self.settings.key_wait).await?;
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

    /// Fetches the metadata and key set exactly as the server does, for `handler doctor`.
    pub(crate) async fn probe(&self) -> Result<KeyProbe, KeyFetchError> {
        let fetched = self.keys.fetcher().fetch().await?;
        Ok(KeyProbe {
            jwks_uri: fetched.jwks_uri,
            issuer: fetched.issuer,
            keys: fetched.keys.len(),
        })
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |since| since.as_secs_f64())
}
