//! `handler`: the executable the Azure Functions host starts, and the command line that manages
//! invitations.

use std::process::ExitCode;

use clap::Parser;
use signup_gate::cli::{Cli, Command, run_doctor, run_invitations, run_setup};
use signup_gate::config::{Environment, Settings, SettingsError};
use signup_gate::logging::{self, Destination};
use signup_gate::messages::Catalog;
use signup_gate::server::{self, ServeError};

/// Exit code for a configuration that cannot run (sysexits' EX_CONFIG).
const EXIT_CONFIG: u8 = 78;

fn main() -> ExitCode {
    let command = match Cli::parse().command() {
        Command::Doctor(command) => return report(|environment| run_doctor(command, environment)),
        Command::Setup(command) => return report(|environment| run_setup(command, environment)),
        command => command,
    };
    let destination = match command {
        Command::Serve { .. } => Destination::Host,
        Command::Invitations(_) | Command::Doctor(_) | Command::Setup(_) => Destination::Command,
    };
    let code = match load_settings(destination) {
        None => ExitCode::from(EXIT_CONFIG),
        Some(settings) => match command {
            Command::Serve { port } => serve(settings, port),
            Command::Invitations(command) => run_invitations(command, &settings),
            // Answered above.
            Command::Doctor(_) | Command::Setup(_) => ExitCode::SUCCESS,
        },
    };
    // Information lines are written in batches: write what is left before exiting.
    logging::flush();
    code
}

/// Runs a command that reports on the set-up (the doctor, the set-up): a bad setting is one of
/// its findings, not a stop, and its report is the output (only warnings and errors besides it,
/// whatever RUST_LOG says).
fn report(run: impl FnOnce(Result<Environment, SettingsError>) -> ExitCode) -> ExitCode {
    let environment = environment();
    logging::init(None, Destination::Command);
    let code = run(environment);
    logging::flush();
    code
}

/// The process environment, plus the local settings when standalone.
fn environment() -> Result<Environment, SettingsError> {
    let real = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
    let directory = std::env::current_dir().unwrap_or_else(|_| ".".into());
    Environment::capture(real, &directory)
}

/// Environment (plus local settings when standalone) → logger → validated settings.
fn load_settings(destination: Destination) -> Option<Settings> {
    let env = match environment() {
        Ok(env) => env,
        Err(error) => {
            logging::init(std::env::var("RUST_LOG").ok().as_deref(), destination);
            log::error!("configuration error: {error}");
            return None;
        }
    };
    // The server logs at information level unless told otherwise; a command is quiet unless
    // something is wrong, whatever the settings file says for the server (only a RUST_LOG of the
    // command's own environment changes that).
    let filter = match destination {
        Destination::Host => env.get("RUST_LOG").map(str::to_owned),
        Destination::Command => std::env::var("RUST_LOG").ok(),
    };
    logging::init(filter.as_deref(), destination);
    for (level, note) in &env.notes {
        log::log!(*level, "{note}");
    }
    match Settings::from_env(&env, Catalog::built_in()) {
        Ok(settings) => Some(settings),
        Err(error) => {
            log::error!("configuration error: {error}");
            None
        }
    }
}

/// Serves until a shutdown signal: exit 0 then, 78 for an invitation store that cannot be
/// used, 1 when the server cannot run at all.
fn serve(settings: Settings, standalone_port: u16) -> ExitCode {
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
    let served = runtime.block_on(server::run(settings, standalone_port));
    // What is still running (a telemetry upload past its deadline) must not hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(ServeError::Store(error)) => {
            log::error!("invitation store error: {error}");
            ExitCode::from(EXIT_CONFIG)
        }
        Err(error @ (ServeError::Policy(_) | ServeError::Waitlist(_))) => {
            log::error!("configuration error: {error}");
            ExitCode::from(EXIT_CONFIG)
        }
        Err(ServeError::Io(error)) => {
            log::error!("cannot serve: {error}");
            ExitCode::FAILURE
        }
    }
}
