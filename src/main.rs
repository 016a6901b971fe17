//! `handler`: the executable the Azure Functions host starts, and the invitation CLI.

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use signup_gate::caller_auth::{ApiConnectorAuth, AuthEventsAuth, AuthEventsGuard};
use signup_gate::cli::{self, InvitationsCommand};
use signup_gate::invitations::InvitationStore;
use signup_gate::invitations::csv_file::CsvStore;
use signup_gate::invitations::table::TableStore;
use signup_gate::logging::{self, Destination};
use signup_gate::server::{self, AppState};
use signup_gate::settings::{Environment, STANDALONE_PORT, Settings, StoreKind};

/// Exit code for a configuration that cannot run (sysexits' EX_CONFIG).
const EXIT_CONFIG: u8 = 78;

#[derive(Parser)]
#[command(
    name = "handler",
    version,
    about = "Decides who may sign up to an Azure AD B2C or Entra External ID tenant"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the functions (the default). Under the Functions host the port comes from
    /// FUNCTIONS_CUSTOMHANDLER_PORT; standalone it is 7071 unless --port says otherwise.
    Serve {
        /// Port for a standalone run (0 picks a free one); ignored under the Functions host.
        #[arg(long, default_value_t = STANDALONE_PORT)]
        port: u16,
    },
    /// Manage the invitation file: add, remove, list, import, check.
    Invitations(InvitationsCommand),
}

fn main() -> ExitCode {
    let command = Cli::parse().command.unwrap_or(Command::Serve {
        port: STANDALONE_PORT,
    });
    let destination = match command {
        Command::Serve { .. } => Destination::Host,
        Command::Invitations(_) => Destination::Command,
    };
    let code = match load_settings(destination) {
        None => ExitCode::from(EXIT_CONFIG),
        Some(settings) => match command {
            Command::Serve { port } => serve(settings, port),
            Command::Invitations(command) => cli::run(command, &settings),
        },
    };
    // Information lines are written in batches: write what is left before exiting.
    logging::flush();
    code
}

/// Environment (plus local settings when standalone) → logger → validated settings.
fn load_settings(destination: Destination) -> Option<Settings> {
    let real = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
    let directory = std::env::current_dir().unwrap_or_else(|_| ".".into());
    let env = match Environment::capture(real, &directory) {
        Ok(env) => env,
        Err(error) => {
            logging::init(std::env::var("RUST_LOG").ok().as_deref(), destination);
            log::error!("configuration error: {error}");
            return None;
        }
    };
    logging::init(env.get("RUST_LOG"), destination);
    for (level, note) in &env.notes {
        log::log!(*level, "{note}");
    }
    match Settings::from_env(&env) {
        Ok(settings) => Some(settings),
        Err(error) => {
            log::error!("configuration error: {error}");
            None
        }
    }
}

fn serve(settings: Settings, standalone_port: u16) -> ExitCode {
    report_start_up(&settings);
    let file = match &settings.invitation_store {
        StoreKind::File => match CsvStore::open(settings.invitations_file.clone()) {
            Ok(store) => Some(Arc::new(store)),
            Err(error) => {
                log::error!("invitation file error: {error}");
                return ExitCode::from(EXIT_CONFIG);
            }
        },
        StoreKind::Table(_) => None,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            log::error!("cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let served = runtime.block_on(async move {
        let auth_events = AuthEventsGuard::start(&settings.auth_events_auth).map_err(|error| {
            std::io::Error::other(format!("cannot start the Entra token check: {error}"))
        })?;
        let invitations: Arc<dyn InvitationStore> = match (&settings.invitation_store, file) {
            (_, Some(file)) => {
                file.clone().watch();
                file
            }
            (StoreKind::Table(table), None) => {
                log::info!("invitations in table {} at {}", table.table, table.endpoint);
                Arc::new(
                    TableStore::new(table.clone(), settings.decision_deadline)
                        .map_err(std::io::Error::other)?,
                )
            }
            (StoreKind::File, None) => {
                return Err(std::io::Error::other("invitation file not opened"));
            }
        };
        let state = AppState::new(settings, invitations, auth_events);
        server::run(state, standalone_port).await
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            log::error!("cannot serve: {error}");
            ExitCode::FAILURE
        }
    }
}

fn report_start_up(settings: &Settings) {
    match settings.api_connector_auth {
        ApiConnectorAuth::Basic(_) => {}
        ApiConnectorAuth::BasicNotConfigured => log::error!(
            "API_CONNECTOR_AUTH is basic but BASIC_AUTH_USERNAME / BASIC_AUTH_PASSWORD are not both set: \
             every call to SignUpValidation is refused with 401 until they are"
        ),
        ApiConnectorAuth::None => log::warn!(
            "API_CONNECTOR_AUTH=none: SignUpValidation accepts calls from anyone (local use only)"
        ),
    }
    match &settings.auth_events_auth {
        AuthEventsAuth::Jwt(token) => log::info!(
            "Entra functions accept tokens for tenant {} and client {} (keys from {})",
            token.tenant_id,
            token.client_id,
            token.metadata_url
        ),
        AuthEventsAuth::EasyAuth {
            tenant_id,
            client_id,
        } => log::info!(
            "Entra functions trust Easy Auth and accept principals for tenant {tenant_id} and client {client_id}"
        ),
        AuthEventsAuth::NotConfigured { missing } => log::warn!(
            "{missing} is not set: OnAttributeCollectionStart/Submit refuse every call with 401 \
             (set AUTH_EVENTS_TENANT_ID and AUTH_EVENTS_CLIENT_ID, or AUTH_EVENTS_TOKEN_VALIDATION=none locally)"
        ),
        AuthEventsAuth::None => log::warn!(
            "AUTH_EVENTS_TOKEN_VALIDATION=none: OnAttributeCollectionStart/Submit accept calls from anyone (local use only)"
        ),
    }
    let policy = &settings.policy;
    if policy.allowed_domains.is_empty() {
        log::info!("ALLOWED_EMAIL_DOMAINS is empty: only invited addresses are admitted");
    }
    log::info!(
        "policy: allowed domains [{}], job title at least {} characters{}, organization {:?}, decision deadline {} ms",
        policy.allowed_domains,
        policy.min_job_title_length,
        if policy.require_job_title {
            " and required"
        } else {
            ""
        },
        policy.organization_name,
        settings.decision_deadline.as_millis()
    );
}
