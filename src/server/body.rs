//! Reading a request's body: at most [`MAX_BODY_BYTES`], complete within the read timeout, and
//! the answers when it cannot be read.

use std::time::Duration;

use bytes::Buf;
use futures_util::{Stream, StreamExt};
use warp::http::{HeaderValue, StatusCode};
use warp::reply::Response;

use crate::functions::{Outcome, json_error};

/// Largest request body any function accepts.
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024;

/// Why a body could not be read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum BodyError {
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
pub(crate) async fn read_body<S, B>(
    content_length: Option<&HeaderValue>,
    body: S,
    limit: usize,
    deadline: Duration,
) -> Result<Vec<u8>, BodyError>
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    tokio::time::timeout(deadline, read_limited(content_length, body, limit))
        .await
        .unwrap_or(Err(BodyError::TimedOut))
}

async fn read_limited<S, B>(
    content_length: Option<&HeaderValue>,
    body: S,
    limit: usize,
) -> Result<Vec<u8>, BodyError>
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let declared = content_length
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

impl BodyError {
    /// The answer to a body that cannot be read, and what to log.
    pub(crate) fn answer(&self, deadline: Duration) -> (Response, Outcome) {
        match self {
            Self::TooLarge => (
                json_error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    &format!("The request body is larger than {MAX_BODY_BYTES} bytes."),
                ),
                Outcome::new("PayloadTooLarge", "body_over_limit"),
            ),
            Self::Read => (
                json_error(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    "The request body could not be read.",
                ),
                Outcome::new("BadRequest", "body_unreadable"),
            ),
            Self::TimedOut => (
                json_error(
                    StatusCode::REQUEST_TIMEOUT,
                    "request_timeout",
                    &format!(
                        "The request body did not arrive within {} ms.",
                        deadline.as_millis()
                    ),
                ),
                Outcome::new("RequestTimeout", "body_too_slow"),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            read_body(None, trickle, 1024, SECOND).await,
            Err(BodyError::TimedOut)
        );
    }

    #[tokio::test]
    async fn bodies_are_limited_by_declared_and_actual_length() {
        assert_eq!(
            read_body(None, chunks(&[b"ab", b"cd"]), 4, SECOND).await,
            Ok(b"abcd".to_vec())
        );
        assert_eq!(
            read_body(None, chunks(&[b"ab", b"cde"]), 4, SECOND).await,
            Err(BodyError::TooLarge)
        );
        let declared = HeaderValue::from_static("5");
        assert_eq!(
            read_body(Some(&declared), chunks(&[]), 4, SECOND).await,
            Err(BodyError::TooLarge)
        );
    }
}
