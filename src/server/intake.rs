//! The first look at a request, before the routes: a head over [`MAX_HEAD_BYTES`] is refused,
//! and the few headers the server uses are taken out of the request into a [`Head`] (moved, not
//! copied), which the routes receive as a request extension.

use futures_util::future::{Either, Ready, ready};
use warp::http::header::{AUTHORIZATION, CONNECTION, CONTENT_LENGTH, HeaderName};
use warp::http::{HeaderValue, Request, StatusCode};
use warp::reply::{Reply, Response};

use super::listener::MAX_HEAD_BYTES;
use crate::callers::Credentials;

/// Header the Functions host adds to every forwarded request. (Names, not text: a name given as
/// text is parsed again at every lookup.)
const INVOCATION_ID: HeaderName = HeaderName::from_static("x-azure-functions-invocationid");
/// Easy Auth's principal and its identity provider.
const PRINCIPAL: HeaderName = HeaderName::from_static("x-ms-client-principal");
const PRINCIPAL_IDP: HeaderName = HeaderName::from_static("x-ms-client-principal-idp");

/// What the server reads from a request's headers.
#[derive(Debug, Clone, Default)]
pub(crate) struct Head {
    /// `X-Azure-Functions-InvocationId`.
    pub(crate) invocation_id: Option<HeaderValue>,
    pub(crate) authorization: Option<HeaderValue>,
    pub(crate) principal: Option<HeaderValue>,
    pub(crate) principal_idp: Option<HeaderValue>,
    pub(crate) content_length: Option<HeaderValue>,
}

impl Head {
    /// The headers a caller proves itself with.
    pub(crate) fn credentials(&self) -> Credentials<'_> {
        Credentials {
            authorization: self.authorization.as_ref(),
            principal: self.principal.as_ref(),
            principal_idp: self.principal_idp.as_ref(),
        }
    }
}

/// The service in front of the routes (`S`).
#[derive(Clone)]
pub(crate) struct Intake<S>(pub S);

/// Over any request body: hyper's `Incoming` when served, an in-memory body in tests.
impl<S, B> hyper::service::Service<Request<B>> for Intake<S>
where
    S: hyper::service::Service<Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Either<Ready<Result<Response, S::Error>>, S::Future>;

    fn call(&self, mut request: Request<B>) -> Self::Future {
        // hyper enforces the limit only between reads: a longer head that arrived in one read
        // is refused here, the same way (431, and the connection closed).
        if head_size(&request) > MAX_HEAD_BYTES {
            let mut refusal = StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE.into_response();
            refusal
                .headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
            return Either::Left(ready(Ok(refusal)));
        }
        let headers = request.headers_mut();
        let head = Head {
            invocation_id: headers.remove(INVOCATION_ID),
            authorization: headers.remove(AUTHORIZATION),
            principal: headers.remove(PRINCIPAL),
            principal_idp: headers.remove(PRINCIPAL_IDP),
            content_length: headers.get(CONTENT_LENGTH).cloned(),
        };
        request.extensions_mut().insert(head);
        Either::Right(self.0.call(request))
    }
}

/// The size of a request's head as sent: `METHOD target HTTP/1.1`, each `name: value`, with
/// their line ends.
fn head_size<B>(request: &Request<B>) -> usize {
    let target = request
        .uri()
        .path_and_query()
        .map_or(1, |target| target.as_str().len());
    let line = request.method().as_str().len() + 1 + target + " HTTP/1.1\r\n".len();
    let headers: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + 2 + value.len() + 2)
        .sum();
    line + headers + 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_is_measured_as_sent() {
        let request = Request::post("/api/SignUpValidation?code=x")
            .header("host", "x")
            .header("content-length", "2")
            .body(())
            .unwrap();
        let sent =
            "POST /api/SignUpValidation?code=x HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n";
        assert_eq!(head_size(&request), sent.len());
    }
}
