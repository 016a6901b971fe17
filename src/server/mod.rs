//! The HTTP server the Functions host forwards to (or a person runs standalone).
//!
//! [`run`] assembles the parts from the settings (the invitation store, the gate, the caller
//! checks), binds where the hosting mode says, and serves until SIGTERM or Ctrl-C. One request
//! goes [`listener`] (connection limits and timeouts) → [`intake`] (head size, the headers we
//! use) → [`routes`] (path, method, caller, body, function, one log line) → the function.

mod body;
mod intake;
mod listener;
mod routes;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpSocket};

use self::intake::Intake;
use crate::callers::{AuthEventsGuard, Callers};
use crate::config::{ConnectionLimits, Hosting, Settings};
use crate::functions::{self, Shared};
use crate::gate::{Gate, PolicyFileError};
use crate::invitations::{self, StoreError};
use crate::telemetry::Telemetry;

/// How long requests in flight (and then sign-up records) may take after a shutdown signal.
const DRAIN_DEADLINE: Duration = Duration::from_secs(10);
/// Sign-up records get at least this long after the requests have drained.
const MIN_RECORD_DRAIN: Duration = Duration::from_secs(1);
/// Connections the kernel completes for us while we are busy or at `MAX_CONNECTIONS` (it caps
/// this at `net.core.somaxconn`). The default of 128 makes a burst of new connections wait a
/// whole second for a SYN retransmission once it is full.
const LISTEN_BACKLOG: u32 = 4096;

/// Everything a request needs, shared read-only.
pub(crate) struct App {
    /// What the functions work with: the gate.
    pub(crate) shared: Shared,
    /// How each kind of caller proves who it is.
    pub(crate) callers: Callers,
    /// Where each decision is reported.
    pub(crate) telemetry: Telemetry,
    /// How much of the machine one client can hold.
    pub(crate) limits: ConnectionLimits,
}

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The invitation store cannot be used (a bad file at start-up): a configuration error.
    #[error("invitation store: {0}")]
    Store(#[from] StoreError),
    /// The policy file cannot be used at start-up: a configuration error.
    #[error("{0}")]
    Policy(#[from] PolicyFileError),
    /// A waitlist is on where no request can be recorded: a configuration error.
    #[error("{0}")]
    Waitlist(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Assembles the server from `settings` and serves until a shutdown signal; `standalone_port`
/// when no host gives one. Must run inside the Tokio runtime.
///
/// Start-up never waits on the network. What the first decision needs begins here, each part
/// in the background and all at once, before the port is bound: the Entra signing keys, the
/// telemetry exporter, and the table's HTTP client, managed identity token and connections
/// (the platform's trust store, which every HTTP client needs, is read once for all of them). A
/// request that arrives meanwhile waits for the piece it needs, within its deadline; a part that
/// fails is logged and fetched again when a request needs it.
pub async fn run(settings: Settings, standalone_port: u16) -> Result<(), ServeError> {
    log::info!("{}", crate::build_info::BuildInfo::current());
    settings.report();
    let telemetry = match &settings.telemetry {
        Some(connection_string) => Telemetry::start(
            connection_string,
            settings.telemetry_authentication.as_deref(),
        )
        .unwrap_or_else(|error| {
            log::error!("{error}; running without telemetry");
            Telemetry::off()
        }),
        None => Telemetry::off(),
    };
    // The key fetch is the longest (the metadata and the key set): it goes first.
    let auth_events = AuthEventsGuard::start(&settings.auth_events_auth, telemetry.clone());
    let store = invitations::open(&settings.store, settings.decision_deadline)?;
    store.load()?;
    store.prepare();
    store.clone().watch();
    let policies = Arc::new(settings.policies()?);
    if policies.current().any_waitlist() && !store.records_requests() {
        return Err(ServeError::Waitlist(
            "WAITLIST is on but INVITATION_STORE is not table: the function app's files are read-only in \
             Azure, so waitlist requests can only be recorded in a table; set INVITATION_STORE=table \
             (docs/invitations.md#invitations-in-azure-table-storage) or WAITLIST=false"
                .to_owned(),
        ));
    }
    policies.clone().watch();
    let app = App {
        shared: Shared {
            gate: Gate::new(
                policies,
                store,
                settings.decision_deadline,
                telemetry.clone(),
            )
            .with_waitlist(settings.waitlist),
            catalog: settings.catalog,
        },
        callers: Callers {
            api_connector: settings.api_connector_auth,
            auth_events,
        },
        telemetry,
        limits: settings.connections,
    };
    app.shared.gate.sweep_waitlist();
    let port = match settings.hosting {
        Hosting::FunctionsHost { port } => port,
        Hosting::Standalone => standalone_port,
    };
    let listener = bind(
        SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        settings.hosting,
    )?;
    // Signals are caught from here on: whoever saw the `listening on` line may stop us.
    let shutdown = shutdown_signal();
    announce(settings.hosting, listener.local_addr()?);
    // Everything about start-up is on stdout before the first request can be answered.
    crate::logging::flush();
    serve(listener, Arc::new(app), shutdown).await;
    Ok(())
}

/// A listener on `address` with a long accept queue; a busy port is named with the way out.
fn bind(address: SocketAddr, hosting: Hosting) -> std::io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    // A restart must not fail on the previous process's connections in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(address).map_err(|error| {
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
            format!(
                "port {} on 127.0.0.1 is already in use: {hint}",
                address.port()
            ),
        )
    })?;
    socket.listen(LISTEN_BACKLOG)
}

/// Serves on an already bound listener until `shutdown` completes, then lets requests in flight
/// and then sign-up records finish (for at most [`DRAIN_DEADLINE`] together).
pub(crate) async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let limits = app.limits;
    // When the stop began: requests in flight and then sign-up records share the deadline.
    let began = Arc::new(std::sync::OnceLock::new());
    let shutdown = {
        let began = began.clone();
        async move {
            shutdown.await;
            let _ = began.set(Instant::now());
        }
    };
    // What answers each request: the intake in front of the routes (tests.rs drives the same
    // stack in-process).
    let service = Intake(TowerToHyperService::new(warp::service(routes::routes(
        app.clone(),
    ))));
    listener::serve_connections(listener, service, limits, shutdown, DRAIN_DEADLINE).await;
    let spent = began.get().map_or(Duration::ZERO, Instant::elapsed);
    app.shared
        .gate
        .drain(DRAIN_DEADLINE.saturating_sub(spent).max(MIN_RECORD_DRAIN))
        .await;
    let spent = began.get().map_or(Duration::ZERO, Instant::elapsed);
    app.telemetry
        .flush(DRAIN_DEADLINE.saturating_sub(spent).max(MIN_RECORD_DRAIN))
        .await;
}

fn announce(hosting: Hosting, address: SocketAddr) {
    match hosting {
        Hosting::FunctionsHost { .. } => {
            log::info!("listening on http://{address} for the Functions host");
        }
        Hosting::Standalone => {
            log::info!("listening on http://{address} (standalone)");
            let mut list = String::from("\nFunctions:\n\n");
            for function in functions::ALL {
                let name = function.name();
                list.push_str(&format!(
                    "        {name}: [POST] http://localhost:{}/api/{name}\n\n",
                    address.port()
                ));
            }
            println!("{list}");
        }
    }
}

/// Completes on Ctrl-C or SIGTERM (what the host and Azure send to stop us). The handlers are
/// installed by this call, not when the future is first polled: until then either signal would
/// end the process by its default action (killed by the signal, not exit code 0).
pub(crate) fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            match (interrupt, terminate) {
                (Ok(mut interrupt), Ok(mut terminate)) => {
                    tokio::select! {
                        _ = interrupt.recv() => {}
                        _ = terminate.recv() => {}
                    }
                }
                (Ok(mut interrupt), Err(error)) => {
                    log::warn!("cannot listen for SIGTERM ({error}); only Ctrl-C stops the server");
                    interrupt.recv().await;
                }
                (Err(error), _) => {
                    log::warn!("cannot listen for Ctrl-C ({error}); the server runs until killed");
                    std::future::pending::<()>().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            log::warn!("cannot listen for Ctrl-C ({error}); the server runs until killed");
            std::future::pending::<()>().await;
        }
    }
}
