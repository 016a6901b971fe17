//! The load benchmark's yardstick (bench/load.sh): the least a warp server on the same runtime
//! can do per request, answering every request with a constant JSON body. Our functions are
//! measured against it on the same machine, in the same run.
//!
//! Started like `handler`: it listens on 127.0.0.1:$FUNCTIONS_CUSTOMHANDLER_PORT.
//! `BASELINE_WORK` adds work that every function has to do before the constant answer, so that
//! the benchmark can show what that work costs by itself:
//! - unset or `none`: nothing; the yardstick.
//! - `read`: reads each request's body whole (and drops it).
//! - `read-check-log`: reads the body, checks that it is JSON (the cheapest check there is:
//!   nothing is kept) and logs one information line like the functions' (the product's
//!   batched logger, the host's correlation id). No function can do less than this.

use std::net::Ipv4Addr;

use signup_gate::logging::{self, Destination};
use warp::Filter;
use warp::http::Response;

const BODY: &str = r#"{"version":"1.0.0","action":"Continue"}"#;

fn constant() -> Response<&'static str> {
    Response::builder()
        .header("content-type", "application/json")
        .body(BODY)
        .expect("a constant response")
}

#[tokio::main]
async fn main() {
    let port = std::env::var("FUNCTIONS_CUSTOMHANDLER_PORT")
        .ok()
        .and_then(|port| port.parse::<u16>().ok())
        .expect("FUNCTIONS_CUSTOMHANDLER_PORT holds a port");
    let address = (Ipv4Addr::LOCALHOST, port);
    match std::env::var("BASELINE_WORK").as_deref() {
        Err(_) | Ok("" | "none") => warp::serve(warp::any().map(constant)).run(address).await,
        Ok("read") => {
            let routes = warp::body::bytes().map(|body: bytes::Bytes| {
                std::hint::black_box(body);
                constant()
            });
            warp::serve(routes).run(address).await;
        }
        Ok("read-check-log") => {
            logging::init(std::env::var("RUST_LOG").ok().as_deref(), Destination::Host);
            let routes = warp::body::bytes()
                .and(warp::header::optional::<String>(
                    "x-azure-functions-invocationid",
                ))
                .map(|body: bytes::Bytes, invocation: Option<String>| {
                    let json = serde_json::from_slice::<serde::de::IgnoredAny>(&body).is_ok();
                    log::info!(
                        "decision function=Baseline outcome=Continue reason=constant json={json} correlation_id={}",
                        invocation.as_deref().unwrap_or("-")
                    );
                    constant()
                });
            warp::serve(routes).run(address).await;
        }
        Ok(other) => panic!("BASELINE_WORK is none, read or read-check-log, not {other:?}"),
    }
}
