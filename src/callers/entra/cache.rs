//! Tokens already validated, so that a caller reusing its token (Entra's authentication events
//! service obtains it with client credentials and keeps it until it nears expiry) costs a digest
//! and a lookup instead of an RSA verification.
//!
//! An entry is keyed by the SHA-256 of the exact token (compared in constant time) and holds
//! what the checks concluded: the key that verified it and the token's `exp`. It answers only
//! while the token is current (`exp` plus the leeway every token gets) and while the key set still
//! publishes that same key under that `kid`: a withdrawn or replaced key ends every entry it
//! verified at the next refresh. Failures are never cached. The cache is bounded: when it is full,
//! expired entries go; if it is still full, new tokens are verified every time until room appears
//! (a flood of distinct valid tokens costs what it costs without a cache, never memory).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

use super::signing_key::SigningKey;

/// Entries at most: far above the handful of tokens Entra uses at once, a few hundred kilobytes.
pub(crate) const CAPACITY: usize = 4096;

/// The digest of a token: its key in the cache.
#[derive(Clone, Copy, Eq)]
pub(crate) struct TokenDigest([u8; 32]);

impl TokenDigest {
    pub(crate) fn of(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }
}

/// Compared in constant time: the digest stands for a bearer secret.
impl PartialEq for TokenDigest {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Hash for TokenDigest {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

/// What the checks concluded about one token.
struct Validated {
    kid: Box<str>,
    key: Arc<SigningKey>,
    /// Until when (seconds since the epoch) the token passes the time check: `exp` plus the
    /// leeway.
    valid_until: f64,
}

/// The validated tokens, bounded.
pub(crate) struct TokenCache {
    entries: RwLock<HashMap<TokenDigest, Validated>>,
    capacity: usize,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl TokenCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            entries: RwLock::new(HashMap::new()),
            capacity,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Whether `digest` was validated, is still current at `now`, and `published` (the key the
    /// key set holds now under its `kid`) is still the key that verified it.
    pub(crate) fn check(
        &self,
        digest: &TokenDigest,
        now: f64,
        published: impl FnOnce(&str) -> Option<Arc<SigningKey>>,
    ) -> bool {
        let verdict = {
            let entries = self
                .entries
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            entries.get(digest).map(|entry| {
                now <= entry.valid_until
                    && published(&entry.kid).is_some_and(|key| key.same(&entry.key))
            })
        };
        match verdict {
            Some(true) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                return true;
            }
            None => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                return false;
            }
            Some(false) => {}
        }
        // Expired, or its key is gone: it must be verified again (and will fail if it is the
        // key that is gone).
        self.entries
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(digest);
        self.misses.fetch_add(1, Ordering::Relaxed);
        false
    }

    /// Remembers a token that passed every check.
    pub(crate) fn insert(
        &self,
        digest: TokenDigest,
        kid: &str,
        key: Arc<SigningKey>,
        valid_until: f64,
        now: f64,
    ) {
        let mut entries = self
            .entries
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if entries.len() >= self.capacity && !entries.contains_key(&digest) {
            entries.retain(|_, entry| now <= entry.valid_until);
            if entries.len() >= self.capacity {
                return;
            }
        }
        entries.insert(
            digest,
            Validated {
                kid: kid.into(),
                key,
                valid_until,
            },
        );
        let (hits, misses) = self.counts();
        log::debug!(
            "caller token validated and cached (kid {kid}); {} cached, {hits} call(s) so far with a token seen before, {misses} without",
            entries.len()
        );
    }

    /// Drops the entries whose key the new key set no longer publishes as it was.
    pub(crate) fn retain_published(&self, published: impl Fn(&str) -> Option<Arc<SigningKey>>) {
        self.entries
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .retain(|_, entry| published(&entry.kid).is_some_and(|key| key.same(&entry.key)));
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .len()
    }

    /// Calls answered from the cache, and calls that were not.
    pub(crate) fn counts(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> Arc<SigningKey> {
        Arc::new(SigningKey::from_parts(vec![n; 256], vec![1, 0, 1]))
    }

    #[test]
    fn answers_while_current_and_while_its_key_is_published() {
        let cache = TokenCache::new(8);
        let (k1, k2) = (key(1), key(2));
        let digest = TokenDigest::of("a.b.c");
        cache.insert(digest, "k1", k1.clone(), 1000.0, 0.0);
        assert!(cache.check(&digest, 1000.0, |_| Some(k1.clone())));
        // The same key material under a new Arc (a refresh that kept the key): still good.
        assert!(cache.check(&digest, 10.0, |_| Some(key(1))));
        // A different token, even with the same claims, is another digest.
        assert!(!cache.check(&TokenDigest::of("a.b.d"), 10.0, |_| Some(k1.clone())));
        // Its key replaced under the kid, or withdrawn: gone for good.
        assert!(!cache.check(&digest, 10.0, |_| Some(k2.clone())));
        assert!(!cache.check(&digest, 10.0, |_| Some(k1.clone())));
        cache.insert(digest, "k1", k1.clone(), 1000.0, 0.0);
        assert!(!cache.check(&digest, 10.0, |_| None));
        assert_eq!(cache.len(), 0);
        // Expired.
        cache.insert(digest, "k1", k1.clone(), 1000.0, 0.0);
        assert!(!cache.check(&digest, 1000.5, |_| Some(k1.clone())));
        assert_eq!(cache.len(), 0);
        assert_eq!(cache.counts(), (2, 5));
    }

    #[test]
    fn a_flood_of_distinct_tokens_stays_within_the_bound() {
        let cache = TokenCache::new(64);
        let k1 = key(1);
        for i in 0..10_000 {
            cache.insert(
                TokenDigest::of(&format!("token-{i}")),
                "k1",
                k1.clone(),
                1000.0,
                0.0,
            );
            assert!(cache.len() <= 64);
        }
        assert_eq!(cache.len(), 64);
        // Once the entries expire, new tokens find room again.
        let fresh = TokenDigest::of("fresh");
        cache.insert(fresh, "k1", k1.clone(), 5000.0, 2000.0);
        assert_eq!(cache.len(), 1);
        assert!(cache.check(&fresh, 2000.0, |_| Some(k1.clone())));
    }

    #[test]
    fn a_refresh_drops_what_the_new_set_does_not_publish() {
        let cache = TokenCache::new(8);
        let (k1, k2) = (key(1), key(2));
        cache.insert(TokenDigest::of("one"), "k1", k1.clone(), 1000.0, 0.0);
        cache.insert(TokenDigest::of("two"), "k2", k2.clone(), 1000.0, 0.0);
        cache.retain_published(|kid| (kid == "k2").then(|| k2.clone()));
        assert_eq!(cache.len(), 1);
        assert!(cache.check(&TokenDigest::of("two"), 1.0, |_| Some(k2.clone())));
    }
}
