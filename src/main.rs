//! `handler`: the executable the Azure Functions host starts.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use signup_gate::caller_auth::ApiConnectorAuth;
use signup_gate::settings::{Environment, STANDALONE_PORT, Settings};
use signup_gate::{logging, server};

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve {
        port: STANDALONE_PORT,
    }) {
        Command::Serve { port } => serve(port),
    }
}

fn serve(standalone_port: u16) -> ExitCode {
    let Some(settings) = load_settings() else {
        return ExitCode::from(EXIT_CONFIG);
    };
    report_start_up(&settings);
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
    match runtime.block_on(server::run(settings, standalone_port)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            log::error!("cannot serve: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Environment (plus local settings when standalone) → logger → validated settings.
fn load_settings() -> Option<Settings> {
    let real = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
    let directory = std::env::current_dir().unwrap_or_else(|_| ".".into());
    let env = match Environment::capture(real, &directory) {
        Ok(env) => env,
        Err(error) => {
            logging::init(std::env::var("RUST_LOG").ok().as_deref());
            log::error!("configuration error: {error}");
            return None;
        }
    };
    logging::init(env.get("RUST_LOG"));
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
    let policy = &settings.policy;
    if policy.allowed_domains.is_empty() {
        log::warn!("ALLOWED_EMAIL_DOMAINS is empty: no address is admitted by its domain");
    }
    log::info!(
        "policy: allowed domains [{}], job title at least {} characters{}, organization {:?}",
        policy.allowed_domains,
        policy.min_job_title_length,
        if policy.require_job_title {
            " and required"
        } else {
            ""
        },
        policy.organization_name
    );
}
