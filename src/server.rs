//! The HTTP server the Functions host forwards to.
//!
//! Routes are small filters combined with `or`; every rejection becomes a response in
//! [`handle_rejection`], so no request can fall through to warp's default (text) answers. The
//! path is checked first, then the method, then the caller, then the body: a wrong path is a 404,
//! a wrong method a 405, a wrong caller a 401 before any byte of the body is read.

use std::convert::Infallible;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Buf;
use futures_util::{Stream, StreamExt};
use serde::Serialize;
use tokio::net::{TcpListener, TcpSocket};
use warp::http::header::{ALLOW, CONTENT_LENGTH, WWW_AUTHENTICATE};
use warp::http::{HeaderMap, HeaderValue, StatusCode};
use warp::path::FullPath;
use warp::reply::{Reply, Response};
use warp::{Filter, Rejection};

use crate::admission::SignUpRecorder;
use crate::auth_events::contract::Event;
use crate::caller_auth::entra_token::TokenFailure;
use crate::caller_auth::{ApiConnectorAuth, AuthEventsGuard};
use crate::invitations::InvitationStore;
use crate::invitations::csv_file::CsvStore;
use crate::settings::{Hosting, Settings};
use crate::{api_connector, auth_events, listener};

/// Largest request body any function accepts.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// How long requests in flight may take to finish after a shutdown signal.
const DRAIN_DEADLINE: Duration = Duration::from_secs(10);
/// Header the Functions host adds to every forwarded request.
const INVOCATION_ID: &str = "x-azure-functions-invocationid";

/// The functions this binary serves, as `func start` would list them.
pub const FUNCTIONS: &[&str] = &[
    api_connector::FUNCTION,
    auth_events::START,
    auth_events::SUBMIT,
];

/// What every request handler needs, shared read-only.
pub struct AppState {
    pub settings: Settings,
    pub invitations: Arc<dyn InvitationStore>,
    /// Writes sign-up records on the invitations, bounded, drained at shutdown.
    pub recorder: SignUpRecorder,
    /// Checks callers of the Entra functions.
    pub auth_events: AuthEventsGuard,
}

impl AppState {
    pub fn new(
        settings: Settings,
        invitations: Arc<dyn InvitationStore>,
        auth_events: AuthEventsGuard,
    ) -> Self {
        Self {
            settings,
            recorder: SignUpRecorder::new(invitations.clone()),
            invitations,
            auth_events,
        }
    }

    /// The state over the invitation file as it is now (not watched for changes), with no caller
    /// check for the Entra functions: what the benchmarks and fuzz targets drive.
    pub fn over_file(settings: Settings) -> Result<Self, String> {
        let invitations = Arc::new(CsvStore::open(settings.invitations_file.clone())?);
        Ok(Self::new(settings, invitations, AuthEventsGuard::None))
    }
}

/// What the server knows about a request before its body is read.
pub struct RequestContext {
    /// `X-Azure-Functions-InvocationId` when the host sent a usable one, otherwise generated;
    /// on every log line of the request.
    pub correlation_id: String,
    pub headers: HeaderMap,
}

/// Binds where the hosting mode says, announces the functions, serves until a shutdown signal.
pub async fn run(state: AppState, standalone_port: u16) -> std::io::Result<()> {
    let hosting = state.settings.hosting;
    let port = match hosting {
        Hosting::FunctionsHost { port } => port,
        Hosting::Standalone => standalone_port,
    };
    let listener = bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).map_err(|error| {
        if error.kind() != std::io::ErrorKind::AddrInUse {
            return error;
        }
        let hint = match hosting {
            Hosting::FunctionsHost { .. } => {
                "the Functions host chose it (FUNCTIONS_CUSTOMHANDLER_PORT); another process took it"
            }
            Hosting::Standalone => {
                "another handler or `func start` may be running; pick another port with \
                 `handler serve --port N` (in a checkout: `cargo run -- serve --port N`)"
            }
        };
        std::io::Error::new(
            error.kind(),
            format!("port {port} on 127.0.0.1 is already in use: {hint}"),
        )
    })?;
    let address = listener.local_addr()?;
    announce(hosting, address);
    // Everything about start-up is on stdout before the first request can be answered.
    crate::logging::flush();
    serve(listener, Arc::new(state), shutdown_signal()).await;
    Ok(())
}

/// Connections the kernel completes for us while we are busy or at `MAX_CONNECTIONS` (it caps
/// this at `net.core.somaxconn`). The default of 128 makes a burst of new connections wait a
/// whole second for a SYN retransmission once it is full.
const LISTEN_BACKLOG: u32 = 4096;

/// A listener on `address` with a long accept queue.
fn bind(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    // A restart must not fail on the previous process's connections in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Serves on an already bound listener until `shutdown` completes, then lets requests in flight
/// finish (for at most [`DRAIN_DEADLINE`]).
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let limits = state.settings.connections;
    // When the stop began: requests in flight and then sign-up records share the deadline.
    let began = Arc::new(std::sync::OnceLock::new());
    let shutdown = {
        let began = began.clone();
        async move {
            shutdown.await;
            let _ = began.set(std::time::Instant::now());
        }
    };
    listener::serve_connections(
        listener,
        routes(state.clone()),
        limits,
        shutdown,
        DRAIN_DEADLINE,
    )
    .await;
    let spent = began
        .get()
        .map_or(Duration::ZERO, std::time::Instant::elapsed);
    state
        .recorder
        .drain(DRAIN_DEADLINE.saturating_sub(spent).max(MIN_RECORD_DRAIN))
        .await;
}

/// Sign-up records get at least this long after the requests have drained.
const MIN_RECORD_DRAIN: Duration = Duration::from_secs(1);

/// Every route, with all rejections turned into responses.
pub fn routes(
    state: Arc<AppState>,
) -> impl Filter<Extract = (Response,), Error = Infallible> + Clone + Send + Sync + 'static {
    readiness()
        .or(sign_up_validation(state.clone()))
        .unify()
        .or(attribute_collection(state.clone(), Event::Start))
        .unify()
        .or(attribute_collection(state, Event::Submit))
        .unify()
        .recover(handle_rejection)
        .unify()
}

/// `GET /`: the host's readiness poll (any method is answered; only the path matters).
fn readiness() -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path::end().map(|| StatusCode::OK.into_response())
}

/// `POST /api/SignUpValidation`: the B2C / External Identities API connector.
fn sign_up_validation(
    state: Arc<AppState>,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    function_path(api_connector::FUNCTION)
        .and(warp::post())
        .and(request_context())
        .and(with_state(state))
        .and_then(authorize_api_connector)
        .untuple_one()
        .and(warp::body::stream())
        .then(api_connector::handle)
}

/// `POST /api/OnAttributeCollectionStart` and `POST /api/OnAttributeCollectionSubmit`: Entra's
/// attribute-collection events.
fn attribute_collection(
    state: Arc<AppState>,
    event: Event,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    let function = auth_events::function(event);
    function_path(function)
        .and(warp::post())
        .and(request_context())
        .and(with_state(state))
        .and_then(move |context, state| authorize_auth_events(function, context, state))
        .untuple_one()
        .and(warp::body::stream())
        .then(move |context, state, body| auth_events::handle(event, context, state, body))
}

/// Matches `/api/<name>` as the host does: case-insensitively, with or without a final slash.
fn function_path(name: &'static str) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::path::full()
        .and_then(move |path: FullPath| {
            std::future::ready(if is_function_path(path.as_str(), name) {
                Ok(())
            } else {
                Err(warp::reject::not_found())
            })
        })
        .untuple_one()
}

fn is_function_path(path: &str, name: &str) -> bool {
    let path = path.strip_suffix('/').unwrap_or(path);
    path.strip_prefix('/')
        .and_then(|path| path.split_once('/'))
        .is_some_and(|(prefix, function)| {
            prefix.eq_ignore_ascii_case("api") && function.eq_ignore_ascii_case(name)
        })
}

fn with_state(
    state: Arc<AppState>,
) -> impl Filter<Extract = (Arc<AppState>,), Error = Infallible> + Clone {
    warp::any().map(move || state.clone())
}

fn request_context() -> impl Filter<Extract = (RequestContext,), Error = Infallible> + Clone {
    warp::header::headers_cloned().map(|headers: HeaderMap| RequestContext {
        correlation_id: correlation_id(&headers),
        headers,
    })
}

/// The host's invocation id when it is a plausible id (it goes into logs verbatim, so nothing
/// that could forge a log line), otherwise a fresh UUID.
fn correlation_id(headers: &HeaderMap) -> String {
    headers
        .get(INVOCATION_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|id| {
            !id.is_empty()
                && id.len() <= 128
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// Refusal of a caller; the challenge goes into `WWW-Authenticate`.
#[derive(Debug)]
struct Unauthorized {
    challenge: &'static str,
}

impl warp::reject::Reject for Unauthorized {}

async fn authorize_api_connector(
    context: RequestContext,
    state: Arc<AppState>,
) -> Result<(RequestContext, Arc<AppState>), Rejection> {
    let authorization = context.headers.get(warp::http::header::AUTHORIZATION);
    match state.settings.api_connector_auth.verify(authorization) {
        Ok(()) => Ok((context, state)),
        Err(failure) => {
            if matches!(
                state.settings.api_connector_auth,
                ApiConnectorAuth::BasicNotConfigured
            ) {
                log::error!(
                    "refusing a call because BASIC_AUTH_USERNAME / BASIC_AUTH_PASSWORD are not set; correlation_id={}",
                    context.correlation_id
                );
            }
            Err(refuse(
                api_connector::FUNCTION,
                &context,
                failure.as_str(),
                "Basic realm=\"SignUpValidation\"",
            ))
        }
    }
}

/// Logs a refused caller (the reason names the failed check) and rejects with a 401 carrying
/// `challenge` in `WWW-Authenticate`.
fn refuse(
    function: &str,
    context: &RequestContext,
    reason: &str,
    challenge: &'static str,
) -> Rejection {
    log_outcome(function, context, "Unauthorized", reason, "-", "");
    warp::reject::custom(Unauthorized { challenge })
}

/// Refuses callers of the Entra functions that are not Entra's authentication events service
/// for our tenant and app; the log names the failed check, never the token.
async fn authorize_auth_events(
    function: &'static str,
    context: RequestContext,
    state: Arc<AppState>,
) -> Result<(RequestContext, Arc<AppState>), Rejection> {
    match state.auth_events.verify(&context.headers).await {
        Ok(()) => Ok((context, state)),
        Err(failure) => {
            if matches!(failure, TokenFailure::KeysUnavailable) {
                log::error!(
                    "refusing a call to {function}: the Entra signing keys could not be fetched yet; correlation_id={}",
                    context.correlation_id
                );
            }
            Err(refuse(
                function,
                &context,
                failure.as_str(),
                "Bearer error=\"invalid_token\"",
            ))
        }
    }
}

/// Why a body could not be read.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyError {
    /// Over [`MAX_BODY_BYTES`], by `Content-Length` or by what actually arrived.
    TooLarge,
    /// The client went away or sent a broken body.
    Read,
    /// The body did not arrive within the read timeout.
    TimedOut,
}

/// Reads a body of at most `limit` bytes that arrives completely within `deadline` (a client
/// that trickles its body cannot hold a connection longer). A body over the limit (by
/// `Content-Length` or as it arrives) is refused without being kept; what the client is still
/// sending is read and dropped for a little while (see [`discard`]) so that it receives the
/// refusal instead of a reset.
pub async fn read_body<S, B>(
    headers: &HeaderMap,
    body: S,
    limit: usize,
    deadline: Duration,
) -> Result<Vec<u8>, BodyError>
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    tokio::time::timeout(deadline, read_limited(headers, body, limit))
        .await
        .unwrap_or(Err(BodyError::TimedOut))
}

async fn read_limited<S, B>(
    headers: &HeaderMap,
    body: S,
    limit: usize,
) -> Result<Vec<u8>, BodyError>
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    let mut body = std::pin::pin!(body);
    if declared.is_some_and(|length| length > limit as u64) {
        discard(body, declared.unwrap_or(u64::MAX)).await;
        return Err(BodyError::TooLarge);
    }
    let capacity = declared.map_or(0, |length| length as usize);
    let mut bytes = Vec::with_capacity(capacity);
    while let Some(chunk) = body.next().await {
        let mut chunk = chunk.map_err(|_| BodyError::Read)?;
        if bytes.len() + chunk.remaining() > limit {
            discard(body, u64::MAX).await;
            return Err(BodyError::TooLarge);
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            bytes.extend_from_slice(part);
            let advanced = part.len();
            chunk.advance(advanced);
        }
    }
    Ok(bytes)
}

/// Most that is read and dropped from a refused body, and for how long.
const DISCARD_BYTES: u64 = 1024 * 1024;
const DISCARD_TIME: Duration = Duration::from_secs(2);

/// Reads and drops the rest of a refused body when it is small enough to be worth it; a client
/// that is cut off mid-upload may see a connection reset instead of the answer.
async fn discard<S, B>(mut body: std::pin::Pin<&mut S>, declared: u64)
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    if declared > DISCARD_BYTES && declared != u64::MAX {
        return;
    }
    let drain = async {
        let mut seen = 0u64;
        while let Some(Ok(chunk)) = body.next().await {
            seen += chunk.remaining() as u64;
            if seen > DISCARD_BYTES {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(DISCARD_TIME, drain).await;
}

/// Reads a function's body, or gives the answer for one that cannot be read (413 over the limit,
/// 400 when the client broke off, 408 when it did not finish within `deadline`), logging it.
pub async fn read_function_body<S, B>(
    function: &str,
    context: &RequestContext,
    body: S,
    deadline: Duration,
) -> Result<Vec<u8>, Response>
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    match read_body(&context.headers, body, MAX_BODY_BYTES, deadline).await {
        Ok(body) => Ok(body),
        Err(BodyError::TooLarge) => {
            log_outcome(
                function,
                context,
                "PayloadTooLarge",
                "body_over_limit",
                "-",
                "",
            );
            Err(payload_too_large())
        }
        Err(BodyError::Read) => {
            log_outcome(function, context, "BadRequest", "body_unreadable", "-", "");
            Err(json_error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "The request body could not be read.",
            ))
        }
        Err(BodyError::TimedOut) => {
            log_outcome(
                function,
                context,
                "RequestTimeout",
                "body_too_slow",
                "-",
                "",
            );
            Err(json_error(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                &format!(
                    "The request body did not arrive within {} ms.",
                    deadline.as_millis()
                ),
            ))
        }
    }
}

/// Body of every error answer that is not in a caller's own contract.
#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: &'a str,
}

/// A JSON error answer: `{"error": "<code>", "message": "<text>"}`.
pub fn json_error(status: StatusCode, code: &str, message: &str) -> Response {
    warp::reply::with_status(
        warp::reply::json(&ErrorBody {
            error: code,
            message,
        }),
        status,
    )
    .into_response()
}

/// The answer to a body over the limit.
pub fn payload_too_large() -> Response {
    json_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "The request body is larger than 65536 bytes.",
    )
}

/// One log line per answered request: what was decided, why, for whom (masked), and
/// `detail` (`key=value` pairs, may be empty).
pub fn log_outcome(
    function: &str,
    context: &RequestContext,
    outcome: &str,
    reason: &str,
    email: &str,
    detail: &str,
) {
    let separator = if detail.is_empty() { "" } else { " " };
    log::info!(
        "decision function={function} outcome={outcome} reason={reason} email={email}{separator}{detail} correlation_id={}",
        context.correlation_id
    );
}

async fn handle_rejection(rejection: Rejection) -> Result<Response, Infallible> {
    let response = if let Some(unauthorized) = rejection.find::<Unauthorized>() {
        let mut response = StatusCode::UNAUTHORIZED.into_response();
        response.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static(unauthorized.challenge),
        );
        response
    } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        // Only function paths can refuse a method (the readiness path takes any), and every
        // function takes POST.
        let mut response = StatusCode::METHOD_NOT_ALLOWED.into_response();
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("POST"));
        response
    } else if rejection.is_not_found() {
        StatusCode::NOT_FOUND.into_response()
    } else {
        log::error!("unexpected rejection: {rejection:?}");
        json_error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "The request could not be read.",
        )
    };
    Ok(response)
}

fn announce(hosting: Hosting, address: SocketAddr) {
    match hosting {
        Hosting::FunctionsHost { .. } => {
            log::info!("listening on http://{address} for the Functions host");
        }
        Hosting::Standalone => {
            log::info!("listening on http://{address} (standalone)");
            let mut list = String::from("\nFunctions:\n\n");
            for function in FUNCTIONS {
                list.push_str(&format!(
                    "        {function}: [POST] http://localhost:{}/api/{function}\n\n",
                    address.port()
                ));
            }
            println!("{list}");
        }
    }
}

/// Completes on Ctrl-C or SIGTERM (what the host and Azure send to stop us).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
                return;
            }
            Err(error) => {
                log::warn!("cannot listen for SIGTERM ({error}); only Ctrl-C stops the server")
            }
        }
    }
    if let Err(error) = tokio::signal::ctrl_c().await {
        log::warn!("cannot listen for Ctrl-C ({error}); the server runs until killed");
        std::future::pending::<()>().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_paths_match_like_the_host() {
        assert!(is_function_path(
            "/api/SignUpValidation",
            "SignUpValidation"
        ));
        assert!(is_function_path(
            "/API/signupvalidation/",
            "SignUpValidation"
        ));
        assert!(!is_function_path(
            "/api/SignUpValidation/x",
            "SignUpValidation"
        ));
        assert!(!is_function_path("/SignUpValidation", "SignUpValidation"));
        assert!(!is_function_path("/api/", "SignUpValidation"));
        assert!(!is_function_path("/", "SignUpValidation"));
    }

    #[test]
    fn correlation_ids_come_from_the_host_when_plausible() {
        let mut headers = HeaderMap::new();
        headers.insert(
            INVOCATION_ID,
            HeaderValue::from_static("5f1c1d2e-0000-4000-8000-000000000001"),
        );
        assert_eq!(
            correlation_id(&headers),
            "5f1c1d2e-0000-4000-8000-000000000001"
        );
        headers.insert(INVOCATION_ID, HeaderValue::from_static("evil\tline"));
        let generated = correlation_id(&headers);
        assert_eq!(generated.len(), 36);
        assert_ne!(generated, correlation_id(&HeaderMap::new()));
    }

    fn chunks(parts: &[&'static [u8]]) -> impl Stream<Item = Result<bytes::Bytes, warp::Error>> {
        futures_util::stream::iter(
            parts
                .iter()
                .map(|part| Ok(bytes::Bytes::from_static(part)))
                .collect::<Vec<_>>(),
        )
    }

    const SECOND: Duration = Duration::from_secs(1);

    #[tokio::test(start_paused = true)]
    async fn a_body_that_stops_arriving_times_out() {
        let trickle = chunks(&[b"{\"data\":"]).chain(futures_util::stream::pending());
        assert_eq!(
            read_body(&HeaderMap::new(), trickle, 1024, SECOND).await,
            Err(BodyError::TimedOut)
        );
    }

    #[tokio::test]
    async fn bodies_are_limited_by_declared_and_actual_length() {
        let empty = HeaderMap::new();
        assert_eq!(
            read_body(&empty, chunks(&[b"ab", b"cd"]), 4, SECOND).await,
            Ok(b"abcd".to_vec())
        );
        assert_eq!(
            read_body(&empty, chunks(&[b"ab", b"cde"]), 4, SECOND).await,
            Err(BodyError::TooLarge)
        );
        let mut declared = HeaderMap::new();
        declared.insert(CONTENT_LENGTH, HeaderValue::from_static("5"));
        assert_eq!(
            read_body(&declared, chunks(&[]), 4, SECOND).await,
            Err(BodyError::TooLarge)
        );
    }
}
