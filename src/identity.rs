//! Tokens of the platform's managed identity (App Service and Functions publish it to the process
//! as `IDENTITY_ENDPOINT` and `IDENTITY_HEADER`): one token per resource (Azure Storage for the
//! invitation table, Azure Monitor for Entra-authenticated telemetry), kept until five minutes
//! before it expires.
//!
//! One fetch at a time: a caller that needs the token while it is being fetched (the start-up
//! warm-up's fetch above all) waits for that fetch, within its own deadline, instead of starting
//! another. The fetch runs in a task of its own, so a caller that stops waiting (its decision ran
//! out of time) neither cuts it short nor makes the next caller start over. A token due for
//! renewal but not yet expiring is still handed out while its successor is fetched in the
//! background, so a steady stream of requests never waits for a renewal.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_util::FutureExt as _;
use futures_util::future::{BoxFuture, Shared};
use serde_json::Value;
use time::OffsetDateTime;

/// Largest answer of the identity endpoint read: a token is a few kilobytes.
const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// How long one fetch may take. It runs apart from the callers that wait for it (each within its
/// own deadline), so a slow endpoint delays the token instead of cutting every fetch short.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// A token is renewed this long before it expires...
const RENEW_BEFORE: Duration = Duration::from_secs(300);
/// ...but kept at least this long (the endpoint may hand out short-lived tokens)...
const MIN_KEEP: Duration = Duration::from_secs(60);
/// ...and never handed out in its last seconds: the request it goes with must arrive in time.
const STOP_BEFORE: Duration = Duration::from_secs(30);
/// After a renewal in the background failed, the next one waits this long (the token held is
/// still good); without a usable token every caller asks at once.
const RENEWAL_RETRY: Duration = Duration::from_secs(10);

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

/// Where tokens come from: the platform's endpoint and the secret that proves the request is the
/// app's (never shown).
struct Endpoint {
    url: reqwest::Url,
    secret: String,
}

impl Endpoint {
    /// From `IDENTITY_ENDPOINT` and `IDENTITY_HEADER`.
    fn from_env() -> Result<Self, IdentityError> {
        let url = std::env::var("IDENTITY_ENDPOINT")
            .map_err(|_| IdentityError::NotHere("IDENTITY_ENDPOINT"))?;
        let secret = std::env::var("IDENTITY_HEADER")
            .map_err(|_| IdentityError::NotHere("IDENTITY_HEADER"))?;
        Self::new(&url, secret)
    }

    fn new(url: &str, secret: String) -> Result<Self, IdentityError> {
        let url = reqwest::Url::parse(url).map_err(|error| {
            IdentityError::Refused(format!("IDENTITY_ENDPOINT is not a URL: {error}"))
        })?;
        Ok(Self { url, secret })
    }
}

/// A token and when to renew it.
#[derive(Clone)]
struct Token {
    value: Arc<str>,
    /// From then on a successor is fetched in the background.
    renew_at: Instant,
    /// Not handed out from then on.
    usable_until: Instant,
}

/// A fetch in flight, shared by everyone waiting for it.
type Flight = Shared<BoxFuture<'static, Result<Token, IdentityError>>>;

/// The token held, the one fetch that may be running, and when a failed renewal may be tried
/// again.
#[derive(Default)]
struct State {
    token: Option<Token>,
    flight: Option<Flight>,
    renew_not_before: Option<Instant>,
}

/// The managed identity's tokens for one resource (never shown: `Debug` names the resource).
pub(crate) struct ManagedIdentity {
    /// `https://storage.azure.com/`, `https://monitor.azure.com/`.
    resource: &'static str,
    /// A user-assigned identity's client id; `None`: the system-assigned identity.
    client_id: Option<String>,
    /// Read once: the platform's variables do not change while the process runs.
    endpoint: Result<Endpoint, IdentityError>,
    state: Mutex<State>,
}

impl std::fmt::Debug for ManagedIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagedIdentity")
            .field("resource", &self.resource)
            .finish_non_exhaustive()
    }
}

impl ManagedIdentity {
    /// The identity the platform's variables describe (an error at the first token when they are
    /// missing).
    pub(crate) fn new(resource: &'static str, client_id: Option<String>) -> Self {
        Self::with_endpoint(resource, client_id, Endpoint::from_env())
    }

    fn with_endpoint(
        resource: &'static str,
        client_id: Option<String>,
        endpoint: Result<Endpoint, IdentityError>,
    ) -> Self {
        Self {
            resource,
            client_id,
            endpoint,
            state: Mutex::new(State::default()),
        }
    }

    /// Whether tokens can be asked for at all (the platform's variables are set).
    pub(crate) fn is_here(&self) -> bool {
        self.endpoint.is_ok()
    }

    /// Begins fetching a token in the background, unless one is held or on its way (the
    /// warm-up: the first caller then finds it, or waits for this fetch).
    pub(crate) fn prefetch(self: &Arc<Self>, http: &reqwest::Client) {
        if self.endpoint.is_err() {
            return;
        }
        let mut state = self.lock();
        let held = state
            .token
            .as_ref()
            .is_some_and(|token| Instant::now() < token.usable_until);
        if !held {
            // The fetch runs in a task of its own; the handle is not needed.
            drop(self.flight(&mut state, http));
        }
    }

    /// A token: the one held, or the one being fetched (or a new fetch), waiting at most `wait`
    /// for it. The fetch goes on when the wait ends.
    pub(crate) async fn token(
        self: &Arc<Self>,
        http: &reqwest::Client,
        wait: Duration,
    ) -> Result<String, IdentityError> {
        if let Err(error) = &self.endpoint {
            return Err(error.clone());
        }
        let flight = {
            let mut state = self.lock();
            let now = Instant::now();
            if let Some(token) = state.token.clone().filter(|token| now < token.usable_until) {
                let renew = now >= token.renew_at
                    && state.flight.is_none()
                    && state.renew_not_before.is_none_or(|at| now >= at);
                if renew {
                    drop(self.flight(&mut state, http));
                }
                return Ok(token.value.to_string());
            }
            if state.flight.is_some() {
                log::debug!(
                    "waiting for the managed identity token for {} being fetched",
                    self.resource
                );
            }
            self.flight(&mut state, http)
        };
        match tokio::time::timeout(wait, flight).await {
            Ok(fetched) => fetched.map(|token| token.value.to_string()),
            Err(_) => Err(IdentityError::Unreachable(format!(
                "no token within {} ms (the fetch goes on)",
                wait.as_millis()
            ))),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The fetch in flight, or a new one in a task of its own.
    fn flight(self: &Arc<Self>, state: &mut State, http: &reqwest::Client) -> Flight {
        if let Some(flight) = &state.flight {
            return flight.clone();
        }
        let (this, http) = (self.clone(), http.clone());
        // The state stays locked until the flight is in it, so the task cannot clear it first.
        let task = tokio::spawn(async move {
            let fetched = tokio::time::timeout(FETCH_TIMEOUT, this.fetch(&http))
                .await
                .unwrap_or_else(|_| {
                    Err(IdentityError::Unreachable(format!(
                        "no answer within {} ms",
                        FETCH_TIMEOUT.as_millis()
                    )))
                });
            let mut state = this.lock();
            state.flight = None;
            match &fetched {
                Ok(token) => {
                    state.token = Some(token.clone());
                    state.renew_not_before = None;
                }
                Err(error) => {
                    // Reported by whoever needed the token (the table's check, the uploads).
                    log::debug!("no managed identity token for {}: {error}", this.resource);
                    state.renew_not_before = Some(Instant::now() + RENEWAL_RETRY);
                }
            }
            fetched
        });
        let flight = async move {
            task.await.unwrap_or_else(|error| {
                Err(IdentityError::Unreachable(format!(
                    "the fetch failed: {error}"
                )))
            })
        }
        .boxed()
        .shared();
        state.flight = Some(flight.clone());
        flight
    }

    /// One request to the platform's endpoint.
    async fn fetch(&self, http: &reqwest::Client) -> Result<Token, IdentityError> {
        let endpoint = self.endpoint.as_ref().map_err(Clone::clone)?;
        let refused = |what: String| IdentityError::Refused(what);
        let mut url = endpoint.url.clone();
        url.query_pairs_mut()
            .append_pair("resource", self.resource)
            .append_pair("api-version", "2019-08-01");
        if let Some(client_id) = &self.client_id {
            url.query_pairs_mut().append_pair("client_id", client_id);
        }
        let response = http
            .get(url)
            .header("X-IDENTITY-HEADER", &endpoint.secret)
            .timeout(FETCH_TIMEOUT)
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
        let lifetime = Duration::from_secs(u64::try_from(expires_in).unwrap_or(0));
        let now = Instant::now();
        Ok(Token {
            value: value.into(),
            renew_at: now + lifetime.saturating_sub(RENEW_BEFORE).max(MIN_KEEP),
            usable_until: now + lifetime.saturating_sub(STOP_BEFORE),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::sync::watch;

    /// A loopback identity endpoint that counts the requests it gets and answers each (with a
    /// token valid for an hour) only once released.
    struct HeldEndpoint {
        port: u16,
        requests: watch::Receiver<usize>,
        release: watch::Sender<bool>,
    }

    impl HeldEndpoint {
        async fn start() -> Self {
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
                .await
                .unwrap();
            let port = listener.local_addr().unwrap().port();
            let (counted, requests) = watch::channel(0usize);
            let (release, released) = watch::channel(false);
            tokio::spawn(async move {
                for _ in 0..16 {
                    let Ok((mut stream, _)) = listener.accept().await else {
                        return;
                    };
                    let (counted, mut released) = (counted.clone(), released.clone());
                    tokio::spawn(async move {
                        let mut head = Vec::new();
                        let mut buffer = [0u8; 1024];
                        while !head.ends_with(b"\r\n\r\n") {
                            match stream.read(&mut buffer).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => head.extend_from_slice(&buffer[..n]),
                            }
                        }
                        counted.send_modify(|n| *n += 1);
                        if released.wait_for(|released| *released).await.is_err() {
                            return;
                        }
                        let expires = OffsetDateTime::now_utc().unix_timestamp() + 3600;
                        let body = format!(r#"{{"access_token":"t-1","expires_on":"{expires}"}}"#);
                        let answer = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        let _ = stream.write_all(answer.as_bytes()).await;
                    });
                }
            });
            Self {
                port,
                requests,
                release,
            }
        }

        fn identity(&self) -> Arc<ManagedIdentity> {
            let endpoint = Endpoint::new(
                &format!("http://127.0.0.1:{}/msi/token", self.port),
                "secret".to_owned(),
            );
            Arc::new(ManagedIdentity::with_endpoint(
                "https://storage.azure.com/",
                None,
                endpoint,
            ))
        }

        /// Waits (at most 10 s) until the endpoint has been asked `n` times.
        async fn asked(&self, n: usize) {
            let mut requests = self.requests.clone();
            let asked = tokio::time::timeout(
                Duration::from_secs(10),
                requests.wait_for(|asked| *asked >= n),
            )
            .await;
            assert!(
                matches!(asked, Ok(Ok(_))),
                "the endpoint was not asked {n} time(s)"
            );
        }

        fn requests(&self) -> usize {
            *self.requests.borrow()
        }

        fn release(&self) {
            let _ = self.release.send(true);
        }
    }

    fn client() -> reqwest::Client {
        crate::outbound::client().build().unwrap()
    }

    /// A caller that asks for a token in the background and waits up to 30 s.
    fn waiting_caller(
        identity: &Arc<ManagedIdentity>,
        http: &reqwest::Client,
    ) -> tokio::task::JoinHandle<Result<String, IdentityError>> {
        let (identity, http) = (identity.clone(), http.clone());
        tokio::spawn(async move { identity.token(&http, Duration::from_secs(30)).await })
    }

    /// Callers that ask at the same time share one fetch.
    #[tokio::test]
    async fn concurrent_callers_share_one_fetch() {
        let endpoint = HeldEndpoint::start().await;
        let identity = endpoint.identity();
        let http = client();
        let callers: Vec<_> = (0..20).map(|_| waiting_caller(&identity, &http)).collect();
        endpoint.asked(1).await;
        endpoint.release();
        for caller in callers {
            assert_eq!(caller.await.unwrap().as_deref(), Ok("t-1"));
        }
        assert_eq!(endpoint.requests(), 1);
        // Held now: no request at all.
        assert_eq!(
            identity.token(&http, Duration::ZERO).await.as_deref(),
            Ok("t-1")
        );
        assert_eq!(endpoint.requests(), 1);
    }

    /// A caller that gives up (its deadline passed, or its request was dropped) leaves the fetch
    /// running: the next caller gets its token without a second request.
    #[tokio::test]
    async fn a_caller_that_gives_up_does_not_cancel_the_fetch() {
        let endpoint = HeldEndpoint::start().await;
        let identity = endpoint.identity();
        let http = client();
        let impatient = identity.token(&http, Duration::from_millis(1)).await;
        assert!(
            matches!(&impatient, Err(IdentityError::Unreachable(why)) if why.contains("the fetch goes on")),
            "{impatient:?}"
        );
        // A caller dropped while it waits.
        let dropped = waiting_caller(&identity, &http);
        endpoint.asked(1).await;
        dropped.abort();
        let patient = waiting_caller(&identity, &http);
        endpoint.release();
        assert_eq!(patient.await.unwrap().as_deref(), Ok("t-1"));
        assert_eq!(endpoint.requests(), 1);
    }

    /// The warm-up's fetch is the one the first caller waits for.
    #[tokio::test]
    async fn a_caller_waits_for_the_prefetch() {
        let endpoint = HeldEndpoint::start().await;
        let identity = endpoint.identity();
        let http = client();
        identity.prefetch(&http);
        endpoint.asked(1).await;
        let first = waiting_caller(&identity, &http);
        identity.prefetch(&http);
        endpoint.release();
        assert_eq!(first.await.unwrap().as_deref(), Ok("t-1"));
        assert_eq!(endpoint.requests(), 1);
    }

    /// Without the platform's variables no request is made.
    #[tokio::test]
    async fn without_an_identity_there_is_no_request() {
        let identity = Arc::new(ManagedIdentity::with_endpoint(
            "https://storage.azure.com/",
            None,
            Err(IdentityError::NotHere("IDENTITY_ENDPOINT")),
        ));
        assert!(!identity.is_here());
        identity.prefetch(&client());
        assert_eq!(
            identity.token(&client(), Duration::from_secs(1)).await,
            Err(IdentityError::NotHere("IDENTITY_ENDPOINT"))
        );
    }
}
