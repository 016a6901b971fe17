//! The accept loop: HTTP/1.1 connections served by hyper, with the limits that keep slow,
//! idle or numerous clients from holding the server, and a graceful stop.
//!
//! - At most [`ConnectionLimits::max_connections`] connections are served at once; further ones
//!   wait in the kernel's listen queue until one closes, so memory stays bounded however many
//!   clients connect.
//! - A connection that does not deliver a request head within the idle timeout is closed: slow
//!   heads and keep-alive connections left idle that long. Until its first byte arrives a
//!   connection holds no HTTP state at all. The body has its own, shorter deadline (the read
//!   timeout, see `server::read_body`).
//! - On shutdown the listener closes at once, idle connections are closed, requests in flight
//!   finish (each connection then closes), for at most `drain` in all.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use warp::http::Request;
use warp::reply::Response;

use crate::config::ConnectionLimits;

/// Largest request head (request line and headers) a connection may send; a longer one is
/// answered 431 and the connection closed (see `intake`). hyper's own limit (about 400 KB) let every client
/// that sends half a head hold that much memory until the idle timeout. What the host forwards
/// (Easy Auth principals and tokens included) stays far below this.
///
/// hyper stops reading a head at this size, but its buffer grows by doubling: 56 KiB keeps the
/// buffer of a half-sent head at 64 KiB at most (at 64 KiB it could reach 112 KiB), and
/// the intake refuses a longer head that arrived whole in one read.
pub(crate) const MAX_HEAD_BYTES: usize = 56 * 1024;

/// Serves `service` on `listener` until `shutdown` completes, then drains.
pub(crate) async fn serve_connections<S>(
    listener: TcpListener,
    service: S,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) where
    S: hyper::service::Service<Request<Incoming>, Response = Response>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.idle_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .keep_alive(true);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    // Tells connections still waiting for their first byte to give up.
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut at_limit_logged = false;
    loop {
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => {
                at_limit_logged = false;
                slot
            }
            Err(_) => {
                if !at_limit_logged {
                    log::warn!(
                        "{} connections open (MAX_CONNECTIONS); new ones wait until one closes",
                        limits.max_connections
                    );
                    at_limit_logged = true;
                }
                tokio::select! {
                    slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
                    () = &mut shutdown => break,
                }
            }
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    pause_after_accept_error(&error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Answers are small and written at once; do not let Nagle hold them back.
        let _ = stream.set_nodelay(true);
        let service = service.clone();
        let http = http.clone();
        let watcher = graceful.watcher();
        let mut stopping = stopping.clone();
        tokio::spawn(async move {
            // Until its first byte a connection costs only its socket: hyper's buffers are made
            // for connections that send something within the idle timeout.
            // (`readable()` would not do: a fresh socket starts out as ready.)
            let mut first = [0u8; 1];
            tokio::select! {
                peeked = tokio::time::timeout(limits.idle_timeout, stream.peek(&mut first)) => {
                    if !matches!(peeked, Ok(Ok(1))) {
                        return;
                    }
                }
                // Nothing was asked yet: nothing to finish.
                _ = stopping.wait_for(|stop| *stop) => return,
            }
            // Boxed so that the task waiting above is small (its size is that of its largest
            // state).
            let connection =
                Box::pin(watcher.watch(http.serve_connection(TokioIo::new(stream), service)));
            if let Err(error) = connection.await {
                // Timeouts and clients that went away: nothing the operator can act on.
                log::debug!("connection closed: {error}");
            }
            drop(slot);
        });
    }
    drop(listener);
    let _ = stop.send(true);
    log::info!("shutdown requested: finishing requests in flight");
    tokio::select! {
        () = graceful.shutdown() => log::info!("stopped"),
        () = tokio::time::sleep(drain) => {
            log::warn!("requests still in flight after {drain:?}; stopping anyway");
        }
    }
}

/// Errors of one incoming connection are skipped; running out of file descriptors or memory
/// pauses accepting briefly instead of spinning, so connections that close can free some.
async fn pause_after_accept_error(error: &io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset, Interrupted};
    if matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset | Interrupted
    ) {
        return;
    }
    log::warn!("cannot accept a connection ({error}); pausing for 100 ms");
    tokio::time::sleep(Duration::from_millis(100)).await;
}
