//! The Table service's REST API as this store uses it: one authenticated request at a time,
//! each answer classified, and retries where the caller has time for them.
//!
//! Nothing here puts a request's URL into an error: it holds an address's keys. Errors name the
//! table and the endpoint, never the entity.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::Value;
use time::OffsetDateTime;

use super::auth::{http_date, shared_key_lite};
use super::connection::{Credential, TableSettings};
use crate::identity::{IdentityError, ManagedIdentity};

/// The Table service REST version we speak.
const API_VERSION: &str = "2019-02-02";
/// Attempts of an administrative call (the CLI) that meets throttling or a transient failure.
const ADMIN_ATTEMPTS: u32 = 6;
/// The longest wait between two attempts, whatever `Retry-After` asks.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The Table service abandons an administrative operation it has not finished within this many
/// seconds (its `timeout` parameter), well before the CLI gives up on an attempt (30 s): an
/// attempt retried after a client-side timeout has been abandoned by then, so it cannot land
/// after the retry. (Azurite ignores the parameter.)
const SERVICE_TIMEOUT_SECONDS: u32 = 20;
/// Connections the warm-up opens ahead of the first decision when a managed identity signs the
/// requests: one for the check that the table answers, one for the first lookup, which runs
/// alongside it (see `readiness`). Both are needed the moment the token arrives.
const WARM_CONNECTIONS: usize = 2;
/// How long a warm-up request may take.
const WARM_UP_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest answer to a warm-up request read (the service's refusal is a few hundred bytes).
const WARM_UP_ANSWER_BYTES: usize = 16 * 1024;

/// Why one call failed: what to retry, what to tell the operator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// 429 / 503: the service asks us to back off (for as long as `Retry-After` says).
    #[error("throttled (HTTP {status})")]
    Throttled {
        status: u16,
        retry_after: Option<Duration>,
    },
    /// No answer in time, another 5xx: worth another attempt.
    #[error("{0}")]
    Transient(String),
    /// No connection at all (refused, no such host): worth one quick attempt more on a
    /// decision, not minutes of back-off in the CLI.
    #[error("{0}")]
    Unreachable(String),
    /// The service's own 404 for a missing entity.
    #[error("no such entity")]
    EntityNotFound,
    /// The service's own 404 for a missing table.
    #[error("the table does not exist")]
    NoTable,
    /// 409: an insert met an existing entity (or `create_table` an existing table).
    #[error("it exists already (HTTP 409)")]
    Conflict,
    /// 412: a conditional write met another version than the one read.
    #[error("it changed since it was read (HTTP 412)")]
    ChangedMeanwhile,
    /// 401 / 403: the credential is refused, or the identity may not do this.
    #[error("{0}")]
    Denied(String),
    /// Anything else (a bad request, a 404 that is not the service's): no retry.
    #[error("{0}")]
    Failed(String),
}

impl CallError {
    fn worth_retrying(&self) -> bool {
        matches!(self, Self::Throttled { .. } | Self::Transient(_))
    }
}

/// A successful answer, read whole.
pub struct Answer {
    pub(crate) etag: Option<String>,
    /// `x-ms-continuation-NextPartitionKey` / `NextRowKey` of a query.
    pub(crate) continuation: Option<(String, String)>,
    pub(crate) body: Bytes,
}

impl Answer {
    pub(crate) fn json(&self) -> Result<Value, CallError> {
        serde_json::from_slice(&self.body)
            .map_err(|error| CallError::Failed(format!("the answer is not JSON: {error}")))
    }
}

/// One request: method, resource below the endpoint, query string, extra headers, body.
pub(crate) struct Call<'a> {
    pub(crate) method: reqwest::Method,
    pub(crate) resource: &'a str,
    pub(crate) query: &'a str,
    pub(crate) headers: &'a [(&'static str, String)],
    pub(crate) body: Option<&'a Value>,
}

/// The authenticated HTTP client of one table.
pub(crate) struct TableClient {
    pub(crate) settings: TableSettings,
    /// Built on first use (the warm-up's, off the listener's path): building it needs the
    /// platform's trust store. Its pool keeps the connections the warm-up opened.
    http: OnceLock<Result<reqwest::Client, String>>,
    identity: Arc<ManagedIdentity>,
    /// Whether the warm-up is still opening connections: a call ready to go waits for them
    /// rather than open one more (the token usually comes before a new connection is ready).
    opening: tokio::sync::watch::Sender<bool>,
}

impl TableClient {
    /// Nothing is built or sent yet (see [`Self::warm_up`]).
    pub(crate) fn new(settings: TableSettings) -> Result<Self, String> {
        let client_id = match &settings.credential {
            Credential::ManagedIdentity { client_id } => client_id.clone(),
            Credential::SharedKey { .. } => None,
        };
        Ok(Self {
            settings,
            http: OnceLock::new(),
            identity: Arc::new(ManagedIdentity::new(
                "https://storage.azure.com/",
                client_id,
            )),
            opening: tokio::sync::watch::Sender::new(false),
        })
    }

    /// The HTTP client, built once.
    async fn http(&self) -> Result<&reqwest::Client, CallError> {
        if self.http.get().is_none() {
            crate::outbound::load_trust_store().await;
        }
        self.http
            .get_or_init(|| {
                // A redirect from the table endpoint is a failure: the answer must come from the
                // endpoint configured, not from wherever it points.
                crate::outbound::client()
                    .pool_idle_timeout(Duration::from_secs(60))
                    .build()
                    .map_err(|error| crate::printable::with_causes(&error))
            })
            .as_ref()
            .map_err(|error| CallError::Failed(format!("cannot build the HTTP client: {error}")))
    }

    /// Begins, in the background, what the first call needs: the HTTP client and, with a
    /// managed identity, the token and [`WARM_CONNECTIONS`] connections to the table. A
    /// connection can only be opened with a request, and the token is not there yet: each is
    /// opened with a request that carries no credentials (the service refuses it, which is all
    /// it is for), so that the first calls made with the token find their connections ready;
    /// a call ready before they are waits for them (`opening`) rather than open another.
    /// Failures are not reported here: the check that the table answers reports them.
    pub(crate) fn warm_up(self: &Arc<Self>) {
        let ahead = matches!(self.settings.credential, Credential::ManagedIdentity { .. })
            && self.identity.is_here();
        // Said before anything runs, so that no call can miss it.
        self.opening.send_replace(ahead);
        let this = self.clone();
        tokio::spawn(async move {
            // However the task ends, calls no longer wait for it.
            let _opened = Opened(&this.opening);
            let Ok(http) = this.http().await else {
                return;
            };
            if !ahead {
                return;
            }
            this.identity.prefetch(http);
            let opened = (0..WARM_CONNECTIONS).map(|_| this.open_connection(http));
            futures_util::future::join_all(opened).await;
        });
    }

    /// One request without credentials to the table, its answer read and dropped: the
    /// connection stays in the pool for the calls that follow.
    async fn open_connection(&self, http: &reqwest::Client) {
        let url = format!(
            "{}/{}()?$top=1&$select=PartitionKey",
            self.settings.endpoint, self.settings.table
        );
        let answered = http
            .get(url)
            .timeout(WARM_UP_TIMEOUT)
            .header("x-ms-version", API_VERSION)
            .header("Accept", "application/json;odata=nometadata")
            .send()
            .await;
        match answered {
            Ok(response) => {
                let status = response.status();
                let _ = crate::outbound::read_capped(response, WARM_UP_ANSWER_BYTES).await;
                log::debug!(
                    "a connection to the table is open (HTTP {status} to a request without credentials)"
                );
            }
            Err(error) => log::debug!(
                "no connection to the table opened ahead: {}",
                crate::printable::with_causes(&error.without_url())
            ),
        }
    }

    /// Path of the service endpoint (for path-style emulator URLs it holds the account).
    fn endpoint_path(&self) -> String {
        reqwest::Url::parse(&self.settings.endpoint)
            .map(|url| url.path().trim_end_matches('/').to_owned())
            .unwrap_or_default()
    }

    /// Sends one request with authentication, the whole exchange within `timeout`.
    pub(crate) async fn send(
        &self,
        call: &Call<'_>,
        timeout: Duration,
    ) -> Result<Answer, CallError> {
        let started = Instant::now();
        let http = self.http().await?;
        let mut url = format!("{}/{}", self.settings.endpoint, call.resource);
        if !call.query.is_empty() {
            url.push('?');
            url.push_str(call.query);
        }
        let date = http_date(OffsetDateTime::now_utc());
        let authorization = match &self.settings.credential {
            Credential::SharedKey { account, key } => shared_key_lite(
                account,
                key,
                &date,
                &format!("{}/{}", self.endpoint_path(), call.resource),
            ),
            Credential::ManagedIdentity { .. } => format!(
                "Bearer {}",
                self.identity
                    .token(http, timeout)
                    .await
                    .map_err(|error| match error {
                        IdentityError::Unreachable(_) => CallError::Transient(error.to_string()),
                        error => CallError::Failed(error.to_string()),
                    })?
            ),
        };
        let mut opening = self.opening.subscribe();
        if *opening.borrow_and_update() {
            let left = timeout.saturating_sub(started.elapsed());
            let _ = tokio::time::timeout(left, opening.wait_for(|opening| !*opening)).await;
        }
        // The whole exchange within `timeout`, the waits for the token and a connection included.
        let left = timeout.saturating_sub(started.elapsed());
        let mut request = http
            .request(call.method.clone(), &url)
            .timeout(left)
            .header("x-ms-date", &date)
            .header("x-ms-version", API_VERSION)
            .header("Accept", "application/json;odata=nometadata")
            .header("DataServiceVersion", "3.0;NetFx")
            .header("MaxDataServiceVersion", "3.0;NetFx")
            .header("Authorization", authorization);
        for (name, value) in call.headers {
            request = request.header(*name, value);
        }
        if let Some(body) = call.body {
            request = request
                .header("Content-Type", "application/json")
                .body(body.to_string());
        }
        let unreachable = |error: reqwest::Error| {
            let (timeout_hit, connect) = (error.is_timeout(), error.is_connect());
            let why = format!(
                "cannot reach {}: {}",
                self.settings.endpoint,
                crate::printable::with_causes(&error.without_url())
            );
            if timeout_hit {
                CallError::Transient(format!("no answer within {} ms", timeout.as_millis()))
            } else if connect {
                CallError::Unreachable(why)
            } else {
                CallError::Transient(why)
            }
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let etag = header("etag");
        let continuation = header("x-ms-continuation-NextPartitionKey")
            .zip(header("x-ms-continuation-NextRowKey"));
        let retry_after = header("retry-after")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let code = header("x-ms-error-code");
        let body = response.bytes().await.map_err(unreachable)?;
        if (200..300).contains(&status) {
            return Ok(Answer {
                etag,
                continuation,
                body,
            });
        }
        // The service names its errors in a header and in the body; a proxy or a wrong endpoint
        // names none.
        let code = code.or_else(|| body_error_code(&body)).unwrap_or_default();
        Err(match (status, code.as_str()) {
            (404, "ResourceNotFound") => CallError::EntityNotFound,
            (404, "TableNotFound") => CallError::NoTable,
            (404, _) => CallError::Failed(format!(
                "HTTP 404 {} (not the Table service's answer for a missing entity: check the endpoint, \
                 the account and any proxy in between)",
                if code.is_empty() {
                    "without an error code"
                } else {
                    &code
                }
            )),
            (401 | 403, _) => CallError::Denied(format!("HTTP {status} {code}")),
            (409, _) => CallError::Conflict,
            (412, _) => CallError::ChangedMeanwhile,
            (429 | 503, _) => CallError::Throttled {
                status,
                retry_after,
            },
            (500..=599, _) => CallError::Transient(format!("HTTP {status} {code}")),
            (300..=399, _) => CallError::Failed(format!(
                "HTTP {status}: the endpoint answers with a redirect, which is not followed \
                 (the table endpoint setting must name the Table service itself)"
            )),
            _ => CallError::Failed(format!("HTTP {status} {code}")),
        })
    }

    /// Sends a request within `budget`, once more after a transient failure if at least
    /// `min_retry` of it is left (never after throttling: a decision cannot wait for that).
    pub(crate) async fn send_once_more(
        &self,
        call: &Call<'_>,
        budget: Duration,
        min_retry: Duration,
    ) -> Result<Answer, CallError> {
        let started = Instant::now();
        match self.send(call, budget).await {
            Err(CallError::Transient(_) | CallError::Unreachable(_))
                if budget.saturating_sub(started.elapsed()) > min_retry =>
            {
                self.send(call, budget.saturating_sub(started.elapsed()))
                    .await
            }
            answer => answer,
        }
    }

    /// Sends an administrative request (the CLI's), retrying throttling and transient failures
    /// with back-off: as long as `Retry-After` asks (at most 30 s), otherwise 0.5 s doubling. An
    /// endpoint that cannot be reached at all fails at once: the operator should hear so now.
    pub(crate) async fn send_patiently(
        &self,
        call: &Call<'_>,
        timeout: Duration,
    ) -> Result<Answer, CallError> {
        let query = match call.query {
            "" => format!("timeout={SERVICE_TIMEOUT_SECONDS}"),
            query => format!("{query}&timeout={SERVICE_TIMEOUT_SECONDS}"),
        };
        let call = &Call {
            method: call.method.clone(),
            resource: call.resource,
            query: &query,
            headers: call.headers,
            body: call.body,
        };
        let mut backoff = Duration::from_millis(500);
        let mut attempt = 1;
        loop {
            match self.send(call, timeout).await {
                Err(error) if error.worth_retrying() && attempt < ADMIN_ATTEMPTS => {
                    let wait = match &error {
                        CallError::Throttled {
                            retry_after: Some(after),
                            ..
                        } => *after,
                        _ => backoff,
                    }
                    .min(MAX_BACKOFF);
                    log::debug!(
                        "table call failed ({error}); attempt {} in {wait:?}",
                        attempt + 1
                    );
                    tokio::time::sleep(wait).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    attempt += 1;
                }
                answer => return answer,
            }
        }
    }
}

/// Says, when dropped, that the warm-up no longer opens connections.
struct Opened<'a>(&'a tokio::sync::watch::Sender<bool>);

impl Drop for Opened<'_> {
    fn drop(&mut self) {
        self.0.send_replace(false);
    }
}

/// `{"odata.error": {"code": "..."}}` (or `odata.error` under another spelling).
fn body_error_code(body: &[u8]) -> Option<String> {
    let json: Value = serde_json::from_slice(body).ok()?;
    let error = json
        .as_object()?
        .iter()
        .find_map(|(key, value)| key.eq_ignore_ascii_case("odata.error").then_some(value))?;
    error.get("code")?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_come_from_the_body_when_the_header_lacks_them() {
        assert_eq!(
            body_error_code(
                br#"{"odata.error":{"code":"ResourceNotFound","message":{"value":"x"}}}"#
            )
            .as_deref(),
            Some("ResourceNotFound")
        );
        assert_eq!(body_error_code(b"<html>Not Found</html>"), None);
        assert_eq!(body_error_code(b""), None);
    }
}
