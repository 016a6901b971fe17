//! The tenant's signing keys, held for the checks: fetched in the background at start-up
//! (start-up never waits on the network), refreshed on a schedule, and fetched at once when a
//! token names a `kid` the set lacks (a key rotated in; at most once a minute). A failed fetch
//! keeps the last good set.
//!
//! One fetch at a time: a caller that needs the keys while a fetch runs (the start-up one,
//! above all) waits for that fetch, within its own deadline, instead of starting another or
//! spending the once-a-minute allowance. The fetch runs in a task of its own, so a caller that
//! stops waiting does not cut it short.

use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use futures_util::FutureExt as _;
use futures_util::future::{BoxFuture, Shared};

use super::fetch::{Fetched, KeyFetcher};
use super::signing_key::{KeySet, SigningKey};
use super::token::TokenFailure;
use crate::telemetry::Telemetry;

/// An unknown `kid` forces a fetch at most this often.
const FORCED_REFRESH_INTERVAL: Duration = Duration::from_secs(60);
/// How soon to try again while no key set was ever fetched.
const RETRY_WITHOUT_KEYS: Duration = Duration::from_secs(2);
/// How soon to try again when a scheduled refresh failed (the last good set stays in use).
const RETRY_WITH_KEYS: Duration = Duration::from_secs(300);

/// A fetch in flight; `true` when it put a new key set in place.
type Flight = Shared<BoxFuture<'static, bool>>;

/// The keys, and the one fetch that may be running.
pub(crate) struct KeyStore {
    fetcher: KeyFetcher,
    /// For the log lines.
    tenant_id: String,
    /// How often the set is refreshed when nothing forces it.
    refresh_every: Duration,
    keys: RwLock<Option<Arc<KeySet>>>,
    flight: Mutex<Option<Flight>>,
    /// When an unknown `kid` last forced a fetch.
    last_forced: Mutex<Option<Instant>>,
    /// Told of each new set (the token cache forgets what the set no longer publishes).
    on_new_keys: Box<dyn Fn(&KeySet) + Send + Sync>,
    /// When a failed fetch was last logged: a key server that stays down is said at once and
    /// then at most once a minute, not at every retry.
    reported: Mutex<Option<Instant>>,
    /// Where each fetch's latency and result are reported.
    telemetry: Telemetry,
}

/// A failed fetch is logged at most this often.
const REPORT_EVERY: Duration = Duration::from_secs(60);

impl KeyStore {
    pub(crate) fn new(
        fetcher: KeyFetcher,
        tenant_id: &str,
        refresh_every: Duration,
        on_new_keys: impl Fn(&KeySet) + Send + Sync + 'static,
        telemetry: Telemetry,
    ) -> Self {
        Self {
            fetcher,
            tenant_id: tenant_id.to_owned(),
            refresh_every,
            keys: RwLock::new(None),
            flight: Mutex::new(None),
            last_forced: Mutex::new(None),
            on_new_keys: Box::new(on_new_keys),
            reported: Mutex::new(None),
            telemetry,
        }
    }

    pub(crate) fn fetcher(&self) -> &KeyFetcher {
        &self.fetcher
    }

    pub(crate) fn current(&self) -> Option<Arc<KeySet>> {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn cached(&self, kid: &str) -> Option<Arc<SigningKey>> {
        self.current()?.get(kid).cloned()
    }

    /// Fetches the key set at start-up (at once, in the background) and then now and then, for
    /// as long as the runtime runs. The first fetch is in flight when this returns, so a call
    /// that arrives at once waits for it.
    pub(crate) fn spawn_refresh(self: &Arc<Self>) {
        let this = self.clone();
        let first = self.fetch();
        tokio::spawn(async move {
            let mut flight = Some(first);
            loop {
                let renewed = match flight.take() {
                    Some(first) => first.await,
                    None => this.fetch().await,
                };
                let wait = if renewed {
                    this.refresh_every
                } else if this.current().is_some() {
                    RETRY_WITH_KEYS
                } else {
                    RETRY_WITHOUT_KEYS
                };
                tokio::time::sleep(wait).await;
            }
        });
    }

    /// The fetch in flight, or a new one.
    fn fetch(self: &Arc<Self>) -> Flight {
        let mut slot = self.flight.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(flight) = slot.as_ref() {
            return flight.clone();
        }
        let this = self.clone();
        // The slot stays locked until the flight is in it, so the task cannot clear it first.
        let task = tokio::spawn(async move {
            let renewed = this.fetch_now().await;
            this.flight
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            renewed
        });
        let flight = async move { task.await.unwrap_or(false) }.boxed().shared();
        *slot = Some(flight.clone());
        flight
    }

    /// The key for `kid`: from the set held, or after the fetch in flight, or (the set lacks
    /// it, or holds none) after a fetch of its own; waiting at most `wait` in all.
    pub(crate) async fn key(
        self: &Arc<Self>,
        kid: &str,
        wait: Duration,
    ) -> Result<Arc<SigningKey>, TokenFailure> {
        if let Some(key) = self.cached(kid) {
            return Ok(key);
        }
        let deadline = tokio::time::Instant::now() + wait;
        let in_flight = self
            .flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(flight) = in_flight {
            log::debug!("a call waits for the signing keys being fetched");
            let _ = tokio::time::timeout_at(deadline, flight).await;
        }
        // The set may have arrived meanwhile, with the fetch in flight or just before it ended
        // (a fetch puts its set in place before it leaves the slot): that fetch was the one for
        // this call, which must neither fetch again nor spend the allowance below.
        if let Some(key) = self.cached(kid) {
            return Ok(key);
        }
        // Without any set, fetch on demand; with one that lacks the kid, at most once a minute.
        let fetch = self.current().is_none() || {
            let mut last = self
                .last_forced
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let allowed = last.is_none_or(|at| at.elapsed() >= FORCED_REFRESH_INTERVAL);
            if allowed {
                *last = Some(Instant::now());
            }
            allowed
        };
        if fetch {
            let _ = tokio::time::timeout_at(deadline, self.fetch()).await;
        }
        match (self.cached(kid), self.current()) {
            (Some(key), _) => Ok(key),
            (None, Some(_)) => Err(TokenFailure::Kid),
            (None, None) => Err(TokenFailure::KeysUnavailable),
        }
    }

    /// One fetch; `true` when a new set is in place.
    async fn fetch_now(&self) -> bool {
        let started = Instant::now();
        let fetched = self.fetcher.fetch().await;
        self.telemetry.key_fetch(started.elapsed(), fetched.is_ok());
        let error = match fetched {
            Ok(Fetched { keys, .. }) => {
                log::info!(
                    "fetched {} signing key(s) for tenant {}",
                    keys.len(),
                    self.tenant_id
                );
                let keys = Arc::new(keys);
                *self.keys.write().unwrap_or_else(PoisonError::into_inner) = Some(keys.clone());
                self.reported
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take();
                (self.on_new_keys)(&keys);
                return true;
            }
            Err(error) => error,
        };
        {
            let mut reported = self.reported.lock().unwrap_or_else(PoisonError::into_inner);
            if reported.is_some_and(|at| at.elapsed() < REPORT_EVERY) {
                log::debug!("the Entra signing keys still cannot be fetched ({error})");
                return false;
            }
            *reported = Some(Instant::now());
        }
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
}
