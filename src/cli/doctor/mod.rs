//! `handler doctor`: finds a broken set-up before a user does.
//!
//! Reads the same settings as the server (the environment, then `local.settings.json` when
//! standalone) and prints one line per check, `ok`, `warn`, `fail` or `skip`, with what to change
//! for each warning and failure; exits 0 when nothing failed, 1 otherwise. `--json` prints the
//! same as a JSON array. Never prints a secret: passwords, keys, tokens and connection strings are
//! only ever named by their setting.
//!
//! The checks: the settings ([`local`]), the invitation store, the tenant's signing keys, a
//! running deployment (`--url`) and the tenant's configuration through Microsoft Graph
//! (`--graph-token`, or the Azure CLI's token) ([`remote`], [`graph`]). With `--signins`,
//! instead, what Entra's own logs say of its calls to the extensions ([`signins`]).

mod callout_errors;
mod callouts;
mod flows;
mod gate_side;
mod graph;
mod insights;
mod local;
mod package;
mod remote;
mod signins;

pub(crate) use self::remote::FunctionKeys;

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use serde::Serialize;

use crate::config::{Settings, SettingsError};
use crate::messages::Catalog;
use crate::printable::Printable;
use crate::setting::environment::Environment;

/// How long any one network check may take.
const NETWORK_DEADLINE: Duration = Duration::from_secs(10);

#[derive(Debug, Args)]
pub struct DoctorCommand {
    /// Print the checks as a JSON array.
    #[arg(long)]
    json: bool,
    /// Check what would be deployed instead of a running set-up: a folder (the project, as
    /// `func azure functionapp publish` packs it; the default) or the zip scripts/build-azure.sh
    /// writes. Checks the settings too, nothing over the network.
    #[arg(long, value_name = "DIR|ZIP", num_args = 0..=1, default_missing_value = ".")]
    package: Option<std::path::PathBuf>,
    /// Also check a running deployment at this base URL (https://<app>.azurewebsites.net): each
    /// function must refuse a call without credentials.
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// The key to call the functions with (`?code=`), when they need one: a host key (it works
    /// for every function), or a function's own key as `Function=KEY` (repeatable).
    #[arg(long, value_name = "KEY")]
    code: Vec<String>,
    /// A Microsoft Graph access token for the tenant's checks (`-` reads it from standard input;
    /// default: SIGNUP_GATE_GRAPH_TOKEN, then the Azure CLI's, when it is signed in).
    #[arg(long, value_name = "TOKEN")]
    graph_token: Option<String>,
    /// Report instead what Entra's sign-up and sign-in logs say of its calls to the extensions
    /// (Microsoft Graph beta; Entra ID P1 or P2): per event, calls and failures by error code
    /// with cause and fix. Fails when a call failed.
    #[arg(long)]
    signins: bool,
    /// The window of --signins: minutes, hours or days (30m, 1h, 7d; at most 30d).
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "1h",
        requires = "signins"
    )]
    since: String,
    /// With --signins: a file of the function app's log; its decision lines are shown with the
    /// calls they answered (by Entra's correlation id).
    #[arg(long, value_name = "FILE", requires = "signins")]
    log: Option<std::path::PathBuf>,
    /// With --signins: the Application Insights resource's application id (API Access), whose
    /// decisions are shown with the calls they answered.
    #[arg(long, value_name = "ID", requires = "signins")]
    ai_app_id: Option<String>,
    /// A token for Application Insights' query API (`-` reads it from standard input; default:
    /// SIGNUP_GATE_AI_TOKEN, then the Azure CLI's).
    #[arg(long, value_name = "TOKEN", requires = "ai_app_id")]
    ai_token: Option<String>,
    /// Where Application Insights' query API is (another cloud's, or a loopback stand-in).
    #[arg(
        long,
        value_name = "URL",
        default_value = "https://api.applicationinsights.io",
        hide = true
    )]
    ai_url: String,
    /// Where Microsoft Graph is (https, or http on a loopback host for a stand-in).
    #[arg(
        long,
        value_name = "URL",
        default_value = "https://graph.microsoft.com",
        hide = true
    )]
    graph_url: String,
}

/// The result of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    Ok,
    Warn,
    Fail,
    /// Not run: what it needs is not there (and that is fine).
    Skip,
}

/// One line of the report.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Check {
    pub(crate) check: String,
    pub(crate) status: Status,
    pub(crate) message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) fix: Option<String>,
}

impl Check {
    pub(crate) fn ok(check: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(check, Status::Ok, message, None::<String>)
    }

    pub(crate) fn skip(check: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(check, Status::Skip, message, None::<String>)
    }

    pub(crate) fn warn(
        check: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self::new(check, Status::Warn, message, Some(fix))
    }

    pub(crate) fn fail(
        check: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self::new(check, Status::Fail, message, Some(fix))
    }

    fn new(
        check: impl Into<String>,
        status: Status,
        message: impl Into<String>,
        fix: Option<impl Into<String>>,
    ) -> Self {
        Self {
            check: check.into(),
            status,
            message: message.into(),
            fix: fix.map(Into::into),
        }
    }
}

/// Runs every check that applies and prints the report.
pub fn run(command: DoctorCommand, environment: Result<Environment, SettingsError>) -> ExitCode {
    if command.signins {
        return signins::run(&command, environment);
    }
    let mut secrets = Vec::new();
    let checks = match environment {
        Err(error) => vec![Check::fail(
            "settings",
            error.to_string(),
            "fix local.settings.json (it must be {\"IsEncrypted\": false, \"Values\": {...}})",
        )],
        Ok(environment) => {
            secrets = local::secrets(&environment);
            secrets.extend(command.code.iter().flat_map(|code| {
                // The key alone too, where it was given as Function=KEY.
                let key = code.split_once('=').map(|(_, key)| key.to_owned());
                std::iter::once(code.clone()).chain(key)
            }));
            secrets.extend(command.graph_token.clone());
            match Settings::from_env(&environment, Catalog::built_in()) {
                Err(error) => vec![Check::fail(
                    "settings",
                    error.to_string(),
                    "fix that setting: the server refuses to start with it",
                )],
                Ok(settings) => all_checks(&command, &environment, &settings, &mut secrets),
            }
        }
    };
    let failed = checks.iter().any(|check| check.status == Status::Fail);
    println!("{}", render(redact(checks, &secrets), command.json));
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn all_checks(
    command: &DoctorCommand,
    environment: &Environment,
    settings: &Settings,
    secrets: &mut Vec<String>,
) -> Vec<Check> {
    let mut checks = local::checks(environment, settings);
    if let Some(path) = &command.package {
        checks.extend(package::checks(path, settings));
        return checks;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            checks.push(Check::fail(
                "doctor",
                format!("cannot start the async runtime: {error}"),
                "run it again",
            ));
            return checks;
        }
    };
    runtime.block_on(async {
        checks.push(local::store(settings).await);
        if let Some(check) = local::waitlist(settings).await {
            checks.push(check);
        }
        checks.push(remote::tenant_keys(settings).await);
        match &command.url {
            Some(url) => {
                let keys = remote::FunctionKeys::parse(&command.code);
                checks.extend(remote::deployment(url, &keys).await);
            }
            None => checks.push(Checks::skipped_deployment()),
        }
        let token = match given_token(command) {
            Ok(Some(token)) => Some(token),
            Ok(None) => crate::cli::graph::azure_cli_token(&command.graph_url).await,
            Err(error) => {
                checks.push(Check::fail("tenant", error, "give the token once, alone"));
                None
            }
        };
        if let Some(token) = &token {
            secrets.push(token.clone());
        }
        let host = deployment_host(command, environment);
        checks.extend(
            graph::tenant(
                &command.graph_url,
                token.as_deref(),
                settings,
                host.as_deref(),
            )
            .await,
        );
    });
    checks
}

/// The Graph token given: `--graph-token` (`-`: standard input), else
/// `SIGNUP_GATE_GRAPH_TOKEN`.
fn given_token(command: &DoctorCommand) -> Result<Option<String>, String> {
    use crate::cli::graph;
    let variable = std::env::var(graph::TOKEN_VARIABLE).ok();
    graph::given_token(
        command.graph_token.as_deref(),
        variable.as_deref(),
        &mut graph::StandardInput::default(),
    )
}

/// The host of the deployment: `--url`'s, else `WEBSITE_HOSTNAME` (in Azure).
fn deployment_host(command: &DoctorCommand, environment: &Environment) -> Option<String> {
    command
        .url
        .as_deref()
        .and_then(remote::host_of)
        .or_else(|| {
            environment
                .get("WEBSITE_HOSTNAME")
                .filter(|host| !host.trim().is_empty())
                .map(|host| host.trim().to_ascii_lowercase())
        })
}

/// Names for the checks that are only skipped.
struct Checks;

impl Checks {
    fn skipped_deployment() -> Check {
        Check::skip(
            "deployment",
            "no --url: the running deployment is not checked (give its base URL, and --code when its functions need a key)",
        )
    }
}

/// The report for people: one line per check, what to change under each warning and failure.
fn text(checks: &[Check]) -> String {
    let mut out = String::new();
    for check in checks {
        let status = match check.status {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Skip => "skip",
        };
        out.push_str(&format!(
            "{status:<5} {}: {}\n",
            Printable(&check.check),
            Printable(&check.message)
        ));
        if let Some(fix) = &check.fix {
            out.push_str(&format!("      fix: {}\n", Printable(fix)));
        }
    }
    let count = |status: Status| checks.iter().filter(|c| c.status == status).count();
    out.push_str(&format!(
        "{} ok, {} warning(s), {} failure(s), {} skipped",
        count(Status::Ok),
        count(Status::Warn),
        count(Status::Fail),
        count(Status::Skip)
    ));
    out
}

fn render(checks: Vec<Check>, json: bool) -> String {
    if json {
        serde_json::to_string_pretty(&checks).unwrap_or_else(|_| "[]".to_owned())
    } else {
        text(&checks)
    }
}

/// Whatever a check reported, no secret gets out: each one left in a check's text is masked
/// before the text is escaped for the terminal or JSON (where a secret's quotes or
/// backslashes would no longer match it).
fn redact(checks: Vec<Check>, secrets: &[String]) -> Vec<Check> {
    let mask = |text: String| {
        secrets
            .iter()
            .filter(|secret| secret.len() >= 4)
            .fold(text, |text, secret| {
                text.replace(secret.as_str(), "(secret)")
            })
    };
    checks
        .into_iter()
        .map(|check| Check {
            check: mask(check.check),
            status: check.status,
            message: mask(check.message),
            fix: check.fix.map(mask),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A secret with quotes, a backslash or a control character is masked in JSON and text
    /// alike, where escaping would otherwise hide it from a search of the finished report.
    #[test]
    fn secrets_are_masked_before_they_are_escaped() {
        let secret = "Zq\"xv\\yw\u{7}W".to_owned();
        for json in [true, false] {
            let checks = vec![Check::fail(
                "settings",
                format!("the password {secret} is refused"),
                format!("do not use {secret}"),
            )];
            let report = render(redact(checks, std::slice::from_ref(&secret)), json);
            assert!(report.contains("(secret)"), "{report}");
            assert!(!report.contains("Zq"), "{report}");
        }
    }
}
