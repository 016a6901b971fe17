//! The OpenTelemetry pipeline behind [`super`]: a tracer provider whose server spans
//! `opentelemetry-application-insights` sends as Application Insights requests (one per
//! decision, its fields as custom dimensions), a meter provider for the metrics, and the HTTP
//! client both export through: our reqwest client, driven on the server's Tokio runtime
//! whichever thread the SDK exports from, with a deadline, and failures logged at most once a
//! minute.

use crate::decision_record::facts;
use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, MeterProvider as _};
use opentelemetry::trace::{Span as _, SpanKind, Status, Tracer as _, TracerProvider as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};

use super::{DecisionRecord, REPORT_EVERY};
use crate::identity::ManagedIdentity;

/// How long one upload may take.
const UPLOAD_DEADLINE: Duration = Duration::from_secs(10);
/// How often the decisions are sent (the SDK's batch delay) and the metrics collected.
const SPAN_DELAY: Duration = Duration::from_secs(5);
const METRIC_INTERVAL: Duration = Duration::from_secs(60);
/// Spans the SDK holds for export at most; more are dropped by it.
const SPAN_QUEUE: usize = 8192;

/// Why telemetry could not start (the server runs without it).
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error(
        "APPLICATIONINSIGHTS_CONNECTION_STRING is not a connection string Application Insights accepts: {0}"
    )]
    ConnectionString(String),
    #[error("cannot build the HTTP client for Application Insights: {0}")]
    Client(String),
    #[error(
        "APPLICATIONINSIGHTS_AUTHENTICATION_STRING must be 'Authorization=AAD' or 'Authorization=AAD;ClientId=<the user-assigned identity's client id>', got {0:?}"
    )]
    Authentication(String),
}

/// The managed identity `APPLICATIONINSIGHTS_AUTHENTICATION_STRING` names: `Authorization=AAD`
/// (the system-assigned identity) or with `ClientId=<guid>` (a user-assigned one), in any order
/// and case; its client id, `None` for the system-assigned one.
pub(super) fn identity_of(authentication: &str) -> Result<Option<String>, TelemetryError> {
    let refused = || TelemetryError::Authentication(authentication.to_owned());
    let mut aad = false;
    let mut client_id = None;
    for part in authentication
        .split(';')
        .filter(|part| !part.trim().is_empty())
    {
        let (key, value) = part.split_once('=').ok_or_else(refused)?;
        let (key, value) = (key.trim(), value.trim());
        if key.eq_ignore_ascii_case("Authorization") && value.eq_ignore_ascii_case("AAD") {
            aad = true;
        } else if key.eq_ignore_ascii_case("ClientId") {
            let id = crate::domain::application::Guid::parse(value).map_err(|_| refused())?;
            client_id = Some(id.to_string());
        } else {
            return Err(refused());
        }
    }
    if aad { Ok(client_id) } else { Err(refused()) }
}

pub(super) struct Pipeline {
    tracer_provider: SdkTracerProvider,
    tracer: opentelemetry_sdk::trace::Tracer,
    meter_provider: SdkMeterProvider,
    decisions: Counter<u64>,
    /// Refused invitation codes.
    code_failures: Counter<u64>,
    lookups: Histogram<f64>,
    lookup_failures: Counter<u64>,
    key_fetches: Histogram<f64>,
    key_fetch_failures: Counter<u64>,
    dropped: Counter<u64>,
    /// Drops already counted in `dropped`.
    dropped_counted: AtomicU64,
}

impl Pipeline {
    /// Must be called inside the Tokio runtime (the uploads run on it).
    pub(super) fn new(
        connection_string: &str,
        authentication: Option<&str>,
    ) -> Result<Self, TelemetryError> {
        refuse_credentials(connection_string)?;
        let identity = authentication
            .map(identity_of)
            .transpose()?
            .map(|client_id| {
                Arc::new(ManagedIdentity::new(
                    "https://monitor.azure.com/",
                    client_id,
                ))
            });
        let client = Uploads::new(loopback_http(connection_string), identity)?;
        // The first upload finds the token (or waits for this fetch).
        if let Some(identity) = &client.identity {
            identity.prefetch(&client.client);
        }
        let exporter = |client: Uploads| {
            opentelemetry_application_insights::Exporter::new_from_connection_string(
                connection_string,
                client,
            )
            .map_err(|error| TelemetryError::ConnectionString(error.to_string()))
        };
        let resource = Resource::builder()
            .with_service_name(
                std::env::var("WEBSITE_SITE_NAME")
                    .ok()
                    .filter(|name| !name.is_empty())
                    .unwrap_or_else(|| "signup-gate".to_owned()),
            )
            .with_attributes([KeyValue::new("service.version", env!("CARGO_PKG_VERSION"))])
            .build();
        let spans = BatchSpanProcessor::builder(exporter(client.clone())?)
            .with_batch_config(
                BatchConfigBuilder::default()
                    .with_max_queue_size(SPAN_QUEUE)
                    .with_scheduled_delay(SPAN_DELAY)
                    .build(),
            )
            .build();
        let tracer_provider = SdkTracerProvider::builder()
            .with_span_processor(spans)
            .with_resource(resource.clone())
            .build();
        let tracer = tracer_provider.tracer("signup-gate");
        let reader = PeriodicReader::builder(exporter(client)?)
            .with_interval(METRIC_INTERVAL)
            .build();
        let meter_provider = SdkMeterProvider::builder()
            .with_reader(reader)
            .with_resource(resource)
            .build();
        let meter = meter_provider.meter("signup-gate");
        Ok(Self {
            decisions: meter
                .u64_counter("signup_gate.decisions")
                .with_description("decisions by function, outcome and reason")
                .build(),
            code_failures: meter
                .u64_counter("signup_gate.codes.failed")
                .with_description(
                    "invitation codes refused, by application, reason and (masked) client address",
                )
                .build(),
            lookups: meter
                .f64_histogram("signup_gate.store.lookup_ms")
                .with_description("invitation lookups, milliseconds")
                .build(),
            lookup_failures: meter
                .u64_counter("signup_gate.store.failures")
                .with_description("invitation lookups that failed or missed the deadline")
                .build(),
            key_fetches: meter
                .f64_histogram("signup_gate.keys.fetch_ms")
                .with_description("Entra signing key set fetches, milliseconds")
                .build(),
            key_fetch_failures: meter
                .u64_counter("signup_gate.keys.fetch_failures")
                .with_description("Entra signing key set fetches that failed")
                .build(),
            dropped: meter
                .u64_counter("signup_gate.telemetry.dropped")
                .with_description("telemetry records dropped because the queue was full")
                .build(),
            dropped_counted: AtomicU64::new(0),
            tracer,
            tracer_provider,
            meter_provider,
        })
    }

    /// One decision: a server span (an Application Insights request named after the function)
    /// and the decision counter.
    pub(super) fn decision(&self, decision: &DecisionRecord) {
        let mut attributes: Vec<KeyValue> = decision
            .attributes()
            .map(|(name, value)| KeyValue::new(name, value))
            .collect();
        attributes.push(KeyValue::new(
            "http.response.status_code",
            i64::from(decision.status),
        ));
        let mut span = self
            .tracer
            .span_builder(Cow::Borrowed(decision.function))
            .with_kind(SpanKind::Server)
            .with_start_time(decision.started)
            .with_attributes(attributes)
            .start(&self.tracer);
        if decision.status >= 500 {
            span.set_status(Status::error(decision.outcome.reason));
        }
        span.end_with_timestamp(decision.started + decision.duration);
        self.decisions.add(
            1,
            &[
                KeyValue::new("function", decision.function),
                KeyValue::new("outcome", decision.outcome.action),
                KeyValue::new("reason", decision.outcome.reason),
            ],
        );
        // A guessing run shows as many refused codes from one place.
        if decision.outcome.reason.starts_with("code_") {
            let fact = |fact| {
                decision
                    .outcome
                    .fact(fact)
                    .map_or_else(|| "-".to_owned(), ToString::to_string)
            };
            self.code_failures.add(
                1,
                &[
                    KeyValue::new("application_id", fact(&facts::APPLICATION)),
                    KeyValue::new("client_ip", fact(&facts::CLIENT_IP)),
                    KeyValue::new("reason", decision.outcome.reason),
                ],
            );
        }
    }

    pub(super) fn lookup(&self, store: &'static str, elapsed: Duration, result: &'static str) {
        let store = [KeyValue::new("store", store)];
        self.lookups.record(milliseconds(elapsed), &store);
        if result != "answered" {
            self.lookup_failures
                .add(1, &[store[0].clone(), KeyValue::new("result", result)]);
        }
    }

    pub(super) fn key_fetch(&self, elapsed: Duration, ok: bool) {
        self.key_fetches.record(milliseconds(elapsed), &[]);
        if !ok {
            self.key_fetch_failures.add(1, &[]);
        }
    }

    /// Counts the drops not counted yet.
    pub(super) fn dropped(&self, total: u64) {
        let counted = self.dropped_counted.swap(total, Ordering::Relaxed);
        if total > counted {
            self.dropped.add(total - counted, &[]);
        }
    }

    /// Exports everything the SDK holds. Blocks.
    pub(super) fn flush(&self) {
        if let Err(error) = self.tracer_provider.force_flush() {
            log::warn!("telemetry: flushing decisions failed: {error}");
        }
        if let Err(error) = self.meter_provider.force_flush() {
            log::warn!("telemetry: flushing metrics failed: {error}");
        }
    }
}

fn milliseconds(elapsed: Duration) -> f64 {
    elapsed.as_secs_f64() * 1000.0
}

/// Whether Application Insights would take the connection string (as the exporter reads it),
/// without starting anything; for `handler doctor`.
pub(super) fn check(connection_string: &str) -> Result<(), TelemetryError> {
    refuse_credentials(connection_string)?;
    opentelemetry_application_insights::Exporter::new_from_connection_string(
        connection_string,
        NoUploads,
    )
    .map(drop)
    .map_err(|error| TelemetryError::ConnectionString(error.to_string()))
}

/// A client for an exporter that only checks its configuration.
#[derive(Debug)]
struct NoUploads;

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for NoUploads {
    async fn send_bytes(
        &self,
        _: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, opentelemetry_http::HttpError> {
        Err("this exporter only checks a connection string".into())
    }
}

/// The `IngestionEndpoint` of a connection string, as written.
fn ingestion_endpoint(connection_string: &str) -> Option<&str> {
    connection_string
        .split(';')
        .filter_map(|part| part.split_once('='))
        .find(|(key, _)| key.trim().eq_ignore_ascii_case("IngestionEndpoint"))
        .map(|(_, value)| value.trim())
}

/// An endpoint with a user name or password in it would put them into logs and reports (and
/// send them with every upload): refused.
fn refuse_credentials(connection_string: &str) -> Result<(), TelemetryError> {
    let credentials = ingestion_endpoint(connection_string)
        .and_then(|endpoint| reqwest::Url::parse(endpoint).ok())
        .is_some_and(|url| !url.username().is_empty() || url.password().is_some());
    if credentials {
        return Err(TelemetryError::ConnectionString(
            "its IngestionEndpoint holds a user name or password".to_owned(),
        ));
    }
    Ok(())
}

/// The ingestion endpoint named by a connection string, for the start-up line (the
/// instrumentation key, and any credentials in the URL, are not shown).
pub(super) fn endpoint_of(connection_string: &str) -> String {
    ingestion_endpoint(connection_string).map_or_else(
        || "the default endpoint".to_owned(),
        |value| {
            let shown = reqwest::Url::parse(value)
                .map(|url| crate::outbound::without_credentials(&url))
                .unwrap_or_else(|_| value.to_owned());
            crate::printable::Printable(&shown).to_string()
        },
    )
}

/// The authority (`host:port`) of an `IngestionEndpoint` given as plain `http://` on a loopback
/// host (a local collector or stand-in), which is then spoken to over plain HTTP as written; the
/// exporter would otherwise make every endpoint https. Any other endpoint is https.
fn loopback_http(connection_string: &str) -> Option<String> {
    let url = reqwest::Url::parse(ingestion_endpoint(connection_string)?).ok()?;
    let host = url.host_str()?;
    (url.scheme() == "http" && crate::outbound::is_loopback_host(host)).then(|| {
        let port = url.port_or_known_default().unwrap_or(80);
        format!("{host}:{port}")
    })
}

/// The HTTP client the exporters upload with: reqwest on the server's runtime, so that an
/// upload works from the SDK's own threads too; failures are logged at most once a minute.
#[derive(Debug, Clone)]
struct Uploads {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
    failures: Arc<FailureReport>,
    /// A loopback endpoint written as plain http (see [`loopback_http`]).
    plain_http: Option<String>,
    /// The managed identity whose token every upload carries (Entra-authenticated ingestion,
    /// which a component with local authentication off requires); `None`: the instrumentation
    /// key alone.
    identity: Option<Arc<ManagedIdentity>>,
}

#[derive(Debug)]
struct FailureReport {
    began: Instant,
    /// When a failure was last logged (milliseconds since `began`, plus 1; 0: never).
    logged: AtomicU64,
    failed: AtomicU64,
}

impl Uploads {
    fn new(
        plain_http: Option<String>,
        identity: Option<Arc<ManagedIdentity>>,
    ) -> Result<Self, TelemetryError> {
        // No redirects: the records and the instrumentation key go to the configured endpoint
        // only, never on to wherever an answer points (perhaps plain http).
        let client = crate::outbound::client()
            .timeout(UPLOAD_DEADLINE)
            .connect_timeout(UPLOAD_DEADLINE)
            .build()
            .map_err(|error| TelemetryError::Client(crate::printable::with_causes(&error)))?;
        Ok(Self {
            client,
            runtime: tokio::runtime::Handle::current(),
            failures: Arc::new(FailureReport {
                began: Instant::now(),
                logged: AtomicU64::new(0),
                failed: AtomicU64::new(0),
            }),
            plain_http,
            identity,
        })
    }

    /// The request as it is sent: to a loopback endpoint written as plain http, over http.
    fn route(&self, mut request: http::Request<Bytes>) -> http::Request<Bytes> {
        let uri = request.uri();
        let plain = self.plain_http.as_deref().is_some_and(|authority| {
            uri.scheme_str() == Some("https")
                && uri
                    .authority()
                    .is_some_and(|a| a.as_str().eq_ignore_ascii_case(authority))
        });
        if plain {
            let mut parts = uri.clone().into_parts();
            parts.scheme = Some(http::uri::Scheme::HTTP);
            if let Ok(uri) = http::Uri::from_parts(parts) {
                *request.uri_mut() = uri;
            }
        }
        request
    }

    async fn upload(
        client: reqwest::Client,
        identity: Option<Arc<ManagedIdentity>>,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, String> {
        let mut request = reqwest::Request::try_from(request).map_err(|error| error.to_string())?;
        if let Some(identity) = identity {
            let token = identity
                .token(&client, UPLOAD_DEADLINE)
                .await
                .map_err(|error| error.to_string())?;
            let value = http::HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| "the managed identity's token is not a header value".to_owned())?;
            request
                .headers_mut()
                .insert(http::header::AUTHORIZATION, value);
        }
        let response = client
            .execute(request)
            .await
            .map_err(|error| crate::printable::with_causes(&error))?;
        let mut answer = http::Response::builder().status(response.status());
        for (name, value) in response.headers() {
            answer = answer.header(name, value);
        }
        let body = response
            .bytes()
            .await
            .map_err(|error| crate::printable::with_causes(&error))?;
        answer.body(body).map_err(|error| error.to_string())
    }
}

impl FailureReport {
    fn failed(&self, why: &str) {
        let failed = self.failed.fetch_add(1, Ordering::Relaxed) + 1;
        let now = self.began.elapsed().as_millis() as u64 + 1;
        let last = self.logged.load(Ordering::Relaxed);
        if (last == 0 || now.saturating_sub(last) >= REPORT_EVERY.as_millis() as u64)
            && self
                .logged
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            log::warn!(
                "telemetry upload to Application Insights failed ({why}); {failed} failed upload(s) since start-up; decisions are not affected"
            );
        }
    }
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for Uploads {
    async fn send_bytes(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, opentelemetry_http::HttpError> {
        let request = self.route(request);
        let (done, answer) = tokio::sync::oneshot::channel();
        let (client, identity) = (self.client.clone(), self.identity.clone());
        self.runtime.spawn(async move {
            let _ = done.send(Self::upload(client, identity, request).await);
        });
        let result = answer
            .await
            .unwrap_or_else(|_| Err("the runtime stopped".to_owned()));
        match &result {
            Err(error) => self.failures.failed(error),
            Ok(response) if !response.status().is_success() => {
                self.failures.failed(&format!("HTTP {}", response.status()))
            }
            Ok(_) => {}
        }
        result.map_err(Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_with_credentials_is_refused_and_never_shown() {
        let connection_string =
            "InstrumentationKey=k;IngestionEndpoint=https://user:hunter2@dc.example.com/";
        let error = check(connection_string).unwrap_err().to_string();
        assert!(error.contains("user name or password"), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
        let shown = endpoint_of(connection_string);
        assert_eq!(shown, "https://***@dc.example.com/");
    }

    #[test]
    fn only_a_loopback_endpoint_written_as_http_is_spoken_to_over_http() {
        for (connection_string, expected) in [
            (
                "InstrumentationKey=k;IngestionEndpoint=http://127.0.0.1:8080/",
                Some("127.0.0.1:8080"),
            ),
            (
                "IngestionEndpoint=http://localhost/;InstrumentationKey=k",
                Some("localhost:80"),
            ),
            (
                "InstrumentationKey=k;IngestionEndpoint=http://[::1]:9/",
                Some("[::1]:9"),
            ),
            (
                "InstrumentationKey=k;IngestionEndpoint=http://dc.example.com/",
                None,
            ),
            (
                "InstrumentationKey=k;IngestionEndpoint=https://127.0.0.1:8080/",
                None,
            ),
            ("InstrumentationKey=k", None),
        ] {
            assert_eq!(
                loopback_http(connection_string).as_deref(),
                expected,
                "{connection_string}"
            );
        }
    }
}
