//! The request path driven in-process: the same intake and routes the listener serves, called
//! with in-memory requests. Routing, methods, callers and body limits are checked here; the
//! black-box suite (tests/api) keeps what only a process shows: the host's contract, signals,
//! start-up, sockets and timeouts.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper_util::service::TowerToHyperService;
use warp::http::{HeaderValue, Request, StatusCode};

use super::App;
use super::intake::Intake;
use crate::callers::basic::BasicCredentials;
use crate::callers::{ApiConnectorAuth, AuthEventsGuard, Callers};
use crate::config::ConnectionLimits;
use crate::domain::email::EmailAddress;
use crate::domain::invitation::Invitation;
use crate::functions::{self, Shared};
use crate::gate::{Gate, Policies};
use crate::invitations::{InvitationStore, StoreError};
use crate::messages::Catalog;
use crate::policy::Policy;
use crate::telemetry::Telemetry;

const USER: &str = "gate-user";
const PASSWORD: &str = "s3cret:with:colons";
const BODY: &str = r#"{"email":"ada@fabrikam.com"}"#;
const CONTINUE: &str = r#"{"version":"1.0.0","action":"Continue"}"#;
const LIMIT: usize = super::body::MAX_BODY_BYTES;

/// A store that invites nobody.
struct NoInvitations;

impl InvitationStore for NoInvitations {
    fn find<'a>(
        &'a self,
        _: &'a EmailAddress,
    ) -> BoxFuture<'a, Result<Option<Invitation>, StoreError>> {
        Box::pin(async { Ok(None) })
    }
}

/// The server's app with Basic credentials for the API connector and `auth_events` for the
/// Entra functions.
fn app(auth_events: AuthEventsGuard) -> Arc<App> {
    Arc::new(App {
        shared: Shared {
            gate: Gate::new(
                Arc::new(Policies::fixed(Policy::default())),
                Arc::new(NoInvitations),
                Duration::from_millis(700),
                Telemetry::off(),
            ),
            catalog: Catalog::built_in(),
        },
        callers: Callers {
            api_connector: ApiConnectorAuth::Basic(BasicCredentials::new(USER, PASSWORD)),
            auth_events,
        },
        telemetry: Telemetry::off(),
        limits: ConnectionLimits {
            read_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(5),
            max_connections: 16,
        },
    })
}

/// An answer: status, the header `name` asked for, and the body.
struct Answer {
    status: StatusCode,
    header: Option<String>,
    body: String,
}

/// Sends `request` through the intake and the routes, as the listener does.
async fn send<B>(app: Arc<App>, request: Request<B>, header: &str) -> Answer
where
    B: hyper::body::Body + Send + Sync + 'static,
    B::Data: Send + Sync,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let service = Intake(TowerToHyperService::new(warp::service(
        super::routes::routes(app),
    )));
    let response = hyper::service::Service::call(&service, request)
        .await
        .expect("every request gets an answer");
    let status = response.status();
    let header = response
        .headers()
        .get(header)
        .map(|value| value.to_str().unwrap().to_owned());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        header,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    let pair = format!("{user}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// `POST path` with `body` and, when given, `Authorization`.
fn post(path: &str, body: impl Into<Bytes>, authorization: Option<&str>) -> Request<Full<Bytes>> {
    let body = body.into();
    let mut request = Request::post(path)
        .header("content-type", "application/json")
        .header("content-length", body.len());
    if let Some(authorization) = authorization {
        request = request.header("authorization", authorization);
    }
    request.body(Full::new(body)).unwrap()
}

fn sign_up(body: impl Into<Bytes>) -> Request<Full<Bytes>> {
    post("/api/SignUpValidation", body, Some(&basic(USER, PASSWORD)))
}

#[tokio::test]
async fn readiness_is_answered_at_the_root() {
    for method in ["GET", "HEAD", "POST"] {
        let request = Request::builder()
            .method(method)
            .uri("/")
            .body(Full::new(Bytes::new()))
            .unwrap();
        let answer = send(app(AuthEventsGuard::None), request, "allow").await;
        assert_eq!(answer.status, StatusCode::OK, "{method}");
    }
}

#[tokio::test]
async fn function_paths_take_post_only_and_other_paths_are_not_found() {
    for function in functions::ALL {
        for method in ["GET", "PUT", "DELETE", "PATCH"] {
            let request = Request::builder()
                .method(method)
                .uri(format!("/api/{}", function.name()))
                .body(Full::new(Bytes::new()))
                .unwrap();
            let answer = send(app(AuthEventsGuard::None), request, "allow").await;
            assert_eq!(
                (answer.status, answer.header.as_deref()),
                (StatusCode::METHOD_NOT_ALLOWED, Some("POST")),
                "{method} {}",
                function.name()
            );
        }
    }
    for path in [
        "/api/Nope",
        "/SignUpValidation",
        "/api/SignUpValidation/extra",
        "/api/",
        "/api",
    ] {
        let request = post(path, BODY, Some(&basic(USER, PASSWORD)));
        let answer = send(app(AuthEventsGuard::None), request, "allow").await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
    }
}

/// The host forwards the path as the caller wrote it: any case, a final slash, a query.
#[tokio::test]
async fn function_paths_match_as_the_host_forwards_them() {
    for path in [
        "/api/SignUpValidation",
        "/API/signupvalidation",
        "/api/SignUpValidation/",
        "/api/signupvalidation?code=function-key",
    ] {
        let request = post(path, BODY, Some(&basic(USER, PASSWORD)));
        let answer = send(app(AuthEventsGuard::None), request, "content-type").await;
        assert_eq!(
            (answer.status, answer.body.as_str()),
            (StatusCode::OK, CONTINUE),
            "{path}"
        );
    }
}

/// Every wrong credential gets the same answer: 401, the Basic challenge, an empty body.
#[tokio::test]
async fn the_api_connector_refuses_wrong_credentials_with_the_basic_challenge() {
    use base64::Engine as _;
    let encode = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let cases = [
        None,
        Some(basic(USER, "wrong")),
        Some(basic("someone", PASSWORD)),
        Some(basic(USER, "s3cret")),
        Some(format!(
            "Bearer {}",
            encode(format!("{USER}:{PASSWORD}").as_bytes())
        )),
        Some("Basic".to_owned()),
        Some("Basic %%%not-base64%%%".to_owned()),
        Some(format!("Basic {}", encode(b"no-colon-here"))),
        Some(format!("Basic {}", encode(b"gate-user\xff:x"))),
    ];
    for authorization in &cases {
        let request = post("/api/SignUpValidation", BODY, authorization.as_deref());
        let answer = send(app(AuthEventsGuard::None), request, "www-authenticate").await;
        assert_eq!(
            (
                answer.status,
                answer.header.as_deref(),
                answer.body.as_str()
            ),
            (
                StatusCode::UNAUTHORIZED,
                Some("Basic realm=\"SignUpValidation\""),
                ""
            ),
            "{authorization:?}"
        );
    }
    // A header that is not even text.
    let mut request = post("/api/SignUpValidation", BODY, None);
    request.headers_mut().insert(
        "authorization",
        HeaderValue::from_bytes(b"Basic \xff\xfe").unwrap(),
    );
    let answer = send(app(AuthEventsGuard::None), request, "www-authenticate").await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    // The scheme in any case, and a password with colons.
    let lower = basic(USER, PASSWORD).replacen("Basic", "basic", 1);
    let request = post("/api/SignUpValidation", BODY, Some(&lower));
    let answer = send(app(AuthEventsGuard::None), request, "www-authenticate").await;
    assert_eq!(answer.body, CONTINUE);
}

/// The Entra functions refuse with the bearer challenge when the caller check cannot pass.
#[tokio::test]
async fn the_entra_functions_refuse_with_the_bearer_challenge() {
    for function in functions::names_of(crate::callers::Caller::AuthenticationEvents) {
        let request = post(
            &format!("/api/{function}"),
            "{}",
            Some("Bearer not-a-token"),
        );
        let answer = send(
            app(AuthEventsGuard::NotConfigured),
            request,
            "www-authenticate",
        )
        .await;
        assert_eq!(
            (
                answer.status,
                answer.header.as_deref(),
                answer.body.as_str()
            ),
            (
                StatusCode::UNAUTHORIZED,
                Some("Bearer error=\"invalid_token\""),
                ""
            ),
            "{function}"
        );
    }
}

/// The caller is checked before a byte of the body is read: a refused caller's oversized body
/// is a 401, not a 413.
#[tokio::test]
async fn the_caller_is_checked_before_the_body() {
    let request = post(
        "/api/SignUpValidation",
        "x".repeat(LIMIT + 1),
        Some(&basic(USER, "wrong")),
    );
    let answer = send(app(AuthEventsGuard::None), request, "www-authenticate").await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
}

const TOO_LARGE: &str =
    r#"{"error":"payload_too_large","message":"The request body is larger than 65536 bytes."}"#;

#[tokio::test]
async fn bodies_over_64_kib_are_refused_with_413_by_every_function() {
    let padded = |size: usize| {
        let fill = size - r#"{"email":"ada@fabrikam.com","pad":""}"#.len();
        format!(
            r#"{{"email":"ada@fabrikam.com","pad":"{}"}}"#,
            "x".repeat(fill)
        )
    };
    // Exactly at the limit is still read.
    let answer = send(app(AuthEventsGuard::None), sign_up(padded(LIMIT)), "").await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (StatusCode::OK, CONTINUE)
    );
    for function in functions::ALL {
        let request = post(
            &format!("/api/{}", function.name()),
            padded(LIMIT + 1),
            Some(&basic(USER, PASSWORD)),
        );
        let answer = send(app(AuthEventsGuard::None), request, "content-type").await;
        assert_eq!(
            (
                answer.status,
                answer.header.as_deref(),
                answer.body.as_str()
            ),
            (
                StatusCode::PAYLOAD_TOO_LARGE,
                Some("application/json"),
                TOO_LARGE
            ),
            "{}",
            function.name()
        );
    }
}

/// A body without `Content-Length` (chunked) is cut off at the limit as it arrives.
#[tokio::test]
async fn a_streamed_body_is_cut_off_at_the_limit() {
    let chunks = (0..3)
        .map(|_| Ok::<_, std::convert::Infallible>(Frame::data(Bytes::from("y".repeat(30_000)))));
    let request = Request::post("/api/SignUpValidation")
        .header("authorization", basic(USER, PASSWORD))
        .body(StreamBody::new(futures_util::stream::iter(chunks)))
        .unwrap();
    let answer = send(app(AuthEventsGuard::None), request, "").await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, TOO_LARGE)
    );
}

/// A head over the limit is refused with 431 and the connection closed, before the routes.
#[tokio::test]
async fn a_head_over_the_limit_is_refused_with_431() {
    let mut request = sign_up(BODY);
    request.headers_mut().insert(
        "x-padding",
        HeaderValue::from_str(&"a".repeat(60 * 1024)).unwrap(),
    );
    let answer = send(app(AuthEventsGuard::None), request, "connection").await;
    assert_eq!(
        (answer.status, answer.header.as_deref()),
        (StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, Some("close"))
    );
    // Just under it is served.
    let mut request = sign_up(BODY);
    request.headers_mut().insert(
        "x-padding",
        HeaderValue::from_str(&"a".repeat(50 * 1024)).unwrap(),
    );
    let answer = send(app(AuthEventsGuard::None), request, "").await;
    assert_eq!(answer.status, StatusCode::OK);
}

/// A body that is not a request of the function's kind gets the function's JSON error, never
/// warp's text answers.
#[tokio::test]
async fn a_body_that_is_not_json_gets_a_json_answer() {
    let answer = send(
        app(AuthEventsGuard::None),
        sign_up("not json"),
        "content-type",
    )
    .await;
    assert_eq!(answer.header.as_deref(), Some("application/json"));
    assert!(
        serde_json::from_str::<serde_json::Value>(&answer.body).is_ok(),
        "{}",
        answer.body
    );
}
