//! The load benchmark's yardstick (bench/load.sh): the least a warp server on the same runtime
//! can do per request, answering every request with a constant JSON body. Our functions are
//! measured against it on the same machine, in the same run.
//!
//! Started like `handler`: it listens on 127.0.0.1:$FUNCTIONS_CUSTOMHANDLER_PORT.

use std::net::Ipv4Addr;

use warp::Filter;

const BODY: &str = r#"{"version":"1.0.0","action":"Continue"}"#;

#[tokio::main]
async fn main() {
    let port = std::env::var("FUNCTIONS_CUSTOMHANDLER_PORT")
        .ok()
        .and_then(|port| port.parse::<u16>().ok())
        .expect("FUNCTIONS_CUSTOMHANDLER_PORT holds a port");
    let routes = warp::any().map(|| {
        warp::http::Response::builder()
            .header("content-type", "application/json")
            .body(BODY)
    });
    warp::serve(routes).run((Ipv4Addr::LOCALHOST, port)).await;
}
