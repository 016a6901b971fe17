//! The routes, and the path of one call through them.
//!
//! `GET /` answers the host's readiness poll; each function of [`functions::ALL`] is served at
//! `POST /api/<name>`. The path is checked first, then the method, then the caller, then the
//! body: a wrong path is a 404, a wrong method a 405, a wrong caller a 401 before any byte of
//! the body is read. Every rejection becomes a response in [`rejection`], so no request falls
//! through to warp's default (text) answers, and every call is logged once, in [`call`].

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::Buf;
use futures_util::Stream;
use warp::filters::BoxedFilter;
use warp::http::header::ALLOW;
use warp::http::{HeaderValue, StatusCode};
use warp::path::FullPath;
use warp::reply::{Reply, Response};
use warp::{Filter, Rejection};

use super::App;
use super::body::{MAX_BODY_BYTES, read_body};
use super::intake::Head;
use crate::callers::Call;
use crate::decision_record::{DecisionRecord, LogLine};
use crate::functions::{self, Function, Invocation, Outcome, json_error};

/// Every route, with all rejections turned into responses.
pub(crate) fn routes(app: Arc<App>) -> BoxedFilter<(Response,)> {
    warp::path::end()
        .map(|| StatusCode::OK.into_response())
        .or(functions(app))
        .unify()
        .recover(rejection)
        .unify()
        .boxed()
}

/// `POST /api/<name>` of each function: one filter for all of them, which finds the function
/// by its path (rather than one route per function tried in turn, each in a box of its own).
fn functions(app: Arc<App>) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    function_at_path()
        .and(warp::post())
        .and(warp::ext::optional::<Head>())
        .and(warp::body::stream())
        .then(
            move |function: &'static dyn Function, head: Option<Head>, body| {
                call(app.clone(), function, head.unwrap_or_default(), body)
            },
        )
}

/// The function served at the request's path, matched as the host does: `/api/<name>`,
/// case-insensitively, with or without a final slash. Another path is not found.
fn function_at_path() -> impl Filter<Extract = (&'static dyn Function,), Error = Rejection> + Clone
{
    warp::path::full().and_then(|path: FullPath| {
        let found = functions::ALL
            .iter()
            .copied()
            .find(|function| is_function_path(path.as_str(), function.name()));
        std::future::ready(found.ok_or_else(warp::reject::not_found))
    })
}

fn is_function_path(path: &str, name: &str) -> bool {
    let path = path.strip_suffix('/').unwrap_or(path);
    path.strip_prefix('/')
        .and_then(|path| path.split_once('/'))
        .is_some_and(|(prefix, function)| {
            prefix.eq_ignore_ascii_case("api") && function.eq_ignore_ascii_case(name)
        })
}

/// One call of a function: its caller checked, its body read, its answer, one log line.
async fn call<S, B>(app: Arc<App>, function: &'static dyn Function, head: Head, body: S) -> Response
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let invocation = Invocation {
        correlation_id: correlation_id(head.invocation_id.as_ref()),
    };
    let timed = app
        .telemetry
        .enabled()
        .then(|| (SystemTime::now(), Instant::now()));
    let (response, outcome) = answer(&app, function, &head, body, &invocation).await;
    log::info!(
        "{}",
        LogLine {
            function: function.name(),
            outcome: &outcome,
            invocation_id: &invocation.correlation_id,
        }
    );
    if let Some((started, clock)) = timed {
        app.telemetry.decision(DecisionRecord {
            function: function.name(),
            outcome,
            invocation_id: invocation.correlation_id,
            status: response.status().as_u16(),
            started,
            duration: clock.elapsed(),
        });
    }
    response
}

async fn answer<S, B>(
    app: &App,
    function: &'static dyn Function,
    head: &Head,
    body: S,
    invocation: &Invocation,
) -> (Response, Outcome)
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let call = Call {
        function: function.name(),
        correlation_id: &invocation.correlation_id,
    };
    if let Err(refusal) = app
        .callers
        .check(function.caller(), head.credentials(), call)
        .await
    {
        return (
            refusal.response(),
            Outcome::new("Unauthorized", refusal.reason),
        );
    }
    log::debug!(
        "{}: caller accepted, reading the body; correlation_id={}",
        function.name(),
        invocation.correlation_id
    );
    let deadline = app.limits.read_timeout;
    let body = match read_body(head.content_length.as_ref(), body, MAX_BODY_BYTES, deadline).await {
        Ok(body) => body,
        Err(error) => return error.answer(deadline),
    };
    let answer = function.answer(&body, &app.shared, invocation).await;
    (answer.response, answer.outcome)
}

/// The host's invocation id when it is a plausible id (it goes into logs verbatim, so nothing
/// that could forge a log line), otherwise a fresh UUID.
fn correlation_id(invocation_id: Option<&HeaderValue>) -> String {
    invocation_id
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

async fn rejection(rejection: Rejection) -> Result<Response, Infallible> {
    let response = if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
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
        let id = HeaderValue::from_static("5f1c1d2e-0000-4000-8000-000000000001");
        assert_eq!(
            correlation_id(Some(&id)),
            "5f1c1d2e-0000-4000-8000-000000000001"
        );
        let generated = correlation_id(Some(&HeaderValue::from_static("evil\tline")));
        assert_eq!(generated.len(), 36);
        assert_ne!(generated, correlation_id(None));
    }
}
