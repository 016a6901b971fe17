//! The load benchmark's yardstick (bench/load.sh): the least a warp server on the same runtime
//! can do per request, answering every request with a constant JSON body. Our functions are
//! measured against it on the same machine, in the same run.
//!
//! Started like `handler`: it listens on 127.0.0.1:$FUNCTIONS_CUSTOMHANDLER_PORT. With
//! `BASELINE_READ_BODY=1` it reads each request's body whole (and drops it) before answering:
//! the floor of any function that has to look at what it was sent.

use std::net::Ipv4Addr;

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
    if std::env::var("BASELINE_READ_BODY").is_ok_and(|value| value == "1") {
        let routes = warp::body::bytes().map(|body: bytes::Bytes| {
            std::hint::black_box(body);
            constant()
        });
        warp::serve(routes).run(address).await;
    } else {
        warp::serve(warp::any().map(constant)).run(address).await;
    }
}
