//! `handler setup entra`: wires an Entra External ID tenant to a deployment through Microsoft
//! Graph, in one command.
//!
//! It plans first: every resource it needs is read, compared with what it should be, and shown
//! as `create`, `update` or `none` with the reason; nothing changes without `--apply`. With
//! `--apply` each change is made right after the read that planned it, in order, so a run that
//! fails half-way leaves exactly the rest for the next plan. It never deletes, finds what it
//! made by a marker (the app registration's tag, the extensions' display names, and what those
//! lead to), and changes nothing else but the links the operator names (the user flow's Start
//! and Submit handlers, the named applications' listener and claims mapping).
//!
//! The resources, in order: [`registration`] (the API's app registration, its service
//! principal, the authentication events service's principal, admin consent), [`extensions`]
//! (one custom authentication extension per event, then their validation), [`user_flow`] (the
//! user flow's handlers), [`code_attribute`] (the invitation code attribute), [`token_issuance`]
//! (the listener and the claims mapping policy), and [`app_settings`] (what the function app
//! needs to know).

mod app_settings;
mod code_attribute;
mod extensions;
mod plan;
mod registration;
mod token_issuance;
mod user_flow;
mod wiring;

use std::process::ExitCode;

use clap::{Args, Subcommand};

use self::plan::Run;
use self::wiring::Wiring;
use super::graph::{self, Graph, StandardInput, TokenSource};
use crate::config::{Settings, SettingsError};
use crate::messages::Catalog;
use crate::setting::environment::Environment;

/// Exit code for input that cannot be used (a flag, a URL, a missing token).
const EXIT_USAGE: u8 = 2;

#[derive(Debug, Args)]
pub struct SetupCommand {
    #[command(subcommand)]
    target: SetupTarget,
}

#[derive(Debug, Subcommand)]
enum SetupTarget {
    /// Wire an Entra External ID tenant to this deployment through Microsoft Graph: the app
    /// registration, a custom authentication extension per event, admin consent, the user
    /// flow's handlers, token issuance. Plans only, unless --apply.
    Entra(wiring::EntraArgs),
}

/// What the steps learn about the tenant as they go: the ids later steps point at. `None`
/// while a resource is still to be created (in a plan, or after a failure).
#[derive(Debug, Default)]
pub(crate) struct Learned {
    /// The app registration's object id and application (client) id.
    pub(crate) app: Option<(String, String)>,
    /// Its service principal's id.
    pub(crate) service_principal: Option<String>,
    /// The id of each event's extension, by function name; absent while to be created.
    pub(crate) extensions: Vec<(&'static str, String)>,
    /// Display names of every extension of the tenant, by id (to name what a handler points at).
    pub(crate) extension_names: Vec<(String, String)>,
    /// The user flow's id and name, once found.
    pub(crate) flow: Option<(String, String)>,
}

impl Learned {
    pub(crate) fn app_id(&self) -> Option<&str> {
        self.app.as_ref().map(|(_, app_id)| app_id.as_str())
    }

    pub(crate) fn extension(&self, function: &str) -> Option<&str> {
        self.extensions
            .iter()
            .find(|(name, _)| *name == function)
            .map(|(_, id)| id.as_str())
    }

    /// How a handler's extension is shown: its display name, else its id.
    pub(crate) fn extension_name(&self, id: &str) -> String {
        self.extension_names
            .iter()
            .find(|(known, _)| known.eq_ignore_ascii_case(id))
            .map(|(_, name)| format!("{name:?}"))
            .unwrap_or_else(|| format!("extension {id}"))
    }
}

/// Runs `handler setup ...`: 0 when the plan or the apply went through, 1 when a step failed or
/// is blocked, 2 for unusable input.
pub fn run(command: SetupCommand, environment: Result<Environment, SettingsError>) -> ExitCode {
    let SetupTarget::Entra(args) = command.target;
    let json = args.json;
    let mut stdin = StandardInput::default();
    let token_variable = std::env::var(graph::TOKEN_VARIABLE).ok();
    let wiring = match Wiring::from_args(args, token_variable.as_deref(), &mut stdin) {
        Ok(wiring) => wiring,
        Err(error) => return usage(&error, json),
    };
    let deadline = decision_deadline(environment);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return usage(&format!("cannot start the async runtime: {error}"), json),
    };
    runtime.block_on(async move {
        let (token, source) = match wiring.token.clone() {
            Some(token) => (token, TokenSource::Given),
            None if wiring.apply => {
                return usage(
                    &format!(
                        "--apply needs a Graph token of an app granted {}: give it with --graph-token (`-` reads it from standard input) or {}; the Azure CLI's token has a fixed set of scopes and is tried for the plan only",
                        wiring::APPLY_PERMISSIONS.join(", "),
                        graph::TOKEN_VARIABLE
                    ),
                    json,
                );
            }
            None => match graph::azure_cli_token(&wiring.graph_url).await {
                Some(token) => (token, TokenSource::AzureCli),
                None => {
                    return usage(
                        &format!(
                            "no Microsoft Graph token: give one with --graph-token (`-` reads it from standard input) or {}, or sign in with `az login` for a plan",
                            graph::TOKEN_VARIABLE
                        ),
                        json,
                    );
                }
            },
        };
        let mut secrets = wiring.secrets();
        secrets.push(token.clone());
        let tenant = match wiring.tenant_of(&token) {
            Ok(tenant) => tenant,
            Err(error) => return usage(&graph::mask_secrets(&error, &secrets), json),
        };
        let graph = match Graph::new(&wiring.graph_url, &token) {
            Ok(graph) => graph,
            Err(error) => return usage(&error, json),
        };
        let mut run = Run::new(&graph, wiring.apply);
        if source == TokenSource::AzureCli {
            run.warn("the plan reads with the Azure CLI's token; --apply needs a token of an app granted the write permissions (docs/entra.md)");
        }
        wiring.warnings(deadline, &mut run);
        let outcome = execute(&wiring, &mut run).await;
        let settings = app_settings::settings(tenant.as_deref(), &run.learned);
        if let Err(error) = &outcome {
            run.fail_with(error.clone());
        } else if wiring.set_app_settings {
            app_settings::set(&wiring, &settings, &mut run).await;
        }
        let report = run.report(&wiring, tenant.as_deref(), &settings);
        let failed = report.failed();
        println!("{}", report.render(json, &secrets));
        if failed {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        }
    })
}

/// Every step, in order; a read that fails ends the run (nothing further can be planned).
async fn execute(wiring: &Wiring, run: &mut Run<'_>) -> Result<(), String> {
    registration::steps(wiring, run).await?;
    extensions::steps(wiring, run).await?;
    if let Some(flow) = &wiring.user_flow {
        user_flow::steps(wiring, flow, run).await?;
        if let Some(attribute) = &wiring.code_attribute {
            code_attribute::steps(attribute, run).await?;
        }
    }
    if wiring.token_issuance() {
        token_issuance::steps(wiring, run).await?;
    }
    if run.writes() {
        extensions::validate(run).await;
    }
    Ok(())
}

/// The decision deadline the function app runs with, as far as this environment tells
/// (`None` when its settings do not load).
fn decision_deadline(
    environment: Result<Environment, SettingsError>,
) -> Option<std::time::Duration> {
    let environment = environment.ok()?;
    Settings::from_env(&environment, Catalog::built_in())
        .ok()
        .map(|settings| settings.decision_deadline)
}

/// `error: ...` (or `{"error": ...}` with --json) and exit code 2.
fn usage(error: &str, json: bool) -> ExitCode {
    if json {
        println!("{}", serde_json::json!({ "error": error }));
    } else {
        eprintln!("error: {}", crate::printable::Printable(error));
    }
    ExitCode::from(EXIT_USAGE)
}
