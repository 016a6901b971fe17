//! Checks of the settings themselves and of the invitation store.

use std::time::Instant;

use super::Check;
use crate::callers::entra::AUTHENTICATION_EVENTS_APP_ID;
use crate::callers::{ApiConnectorAuth, AuthEventsAuth};
use crate::config::{LOCAL_SETTINGS, LOCAL_SETTINGS_EXAMPLE, Settings, catalog, report};
use crate::domain::email::EmailAddress;
use crate::invitations::csv::{CsvStore, FileError};
use crate::invitations::{self, StoreError, StoreSettings};
use crate::setting::environment::Environment;

/// Shorter Basic passwords are guessable by anyone who can call the connector.
const MIN_PASSWORD_CHARS: usize = 16;

/// The settings whose values are secrets (and the secret parts of connection strings), so that
/// no report ever shows them.
pub(super) fn secrets(environment: &Environment) -> Vec<String> {
    let mut secrets = Vec::new();
    let names = catalog::all()
        .filter(|setting| setting.kind == catalog::Kind::Secret)
        .map(|setting| setting.name);
    for name in names {
        let Some(value) = environment.setting(name) else {
            continue;
        };
        secrets.push(value.to_owned());
        for part in value.split(';') {
            if let Some((key, secret)) = part.split_once('=')
                && ["AccountKey", "SharedAccessSignature", "InstrumentationKey"]
                    .iter()
                    .any(|name| key.trim().eq_ignore_ascii_case(name))
            {
                secrets.push(secret.trim().to_owned());
            }
        }
    }
    secrets
}

/// The defaults in force; the original sample's allow-list is a warning (it admits two domains
/// the operator never named).
fn defaults(environment: &Environment, settings: &Settings) -> Check {
    const CHECK: &str = "defaults";
    let defaults = report::defaults_in_force(environment, settings);
    let sample = environment.setting("ALLOWED_EMAIL_DOMAINS").is_none() && !settings.in_azure;
    let message = if defaults.is_empty() {
        "every setting is set".to_owned()
    } else {
        format!("in force for what is unset: {}", defaults.join(", "))
    };
    if sample {
        Check::warn(
            CHECK,
            message,
            "ALLOWED_EMAIL_DOMAINS is unset, so the original sample's fabrikam.com and fabricam.com are admitted by \
             domain: set it to your domains, or to 'none' for invitation only",
        )
    } else {
        Check::ok(CHECK, message)
    }
}

/// The local-run override of host.json's executable: only ever in a local run's own
/// environment (the `func: host start` task), never where it could reach Azure.
fn executable_override(environment: &Environment, settings: &Settings) -> Option<Check> {
    const CHECK: &str = "executable";
    let name =
        catalog::AzureFunctionsJobHost__customHandler__description__defaultExecutablePath.name;
    let path = environment.setting(name)?;
    Some(if settings.in_azure {
        Check::fail(
            CHECK,
            format!(
                "{name} is set in Azure ({path}): the host would not start the packaged handler"
            ),
            "remove that application setting; host.json names the packaged handler",
        )
    } else if environment.came_from_local_file(name) {
        Check::fail(
            CHECK,
            format!(
                "{name} is set in {LOCAL_SETTINGS}: publishing with --publish-local-settings (or VS Code's Upload settings) would copy it to Azure"
            ),
            "remove it from local.settings.json; the func: host start task of .vscode/tasks.json sets it for local runs",
        )
    } else {
        Check::ok(
            CHECK,
            format!("a local run starts {path} (host.json's handler stays the build for Azure)"),
        )
    })
}

/// What the settings say, check by check (all of them read without the network).
pub(super) fn checks(environment: &Environment, settings: &Settings) -> Vec<Check> {
    let source = if settings.in_azure {
        "the function app's application settings".to_owned()
    } else if settings.from_example {
        format!(
            "{LOCAL_SETTINGS_EXAMPLE} (there is no {LOCAL_SETTINGS}: copy it and make it yours)"
        )
    } else if std::path::Path::new(LOCAL_SETTINGS).is_file()
        && environment.get("FUNCTIONS_CUSTOMHANDLER_PORT").is_none()
    {
        format!("the environment and {LOCAL_SETTINGS}")
    } else {
        "the environment".to_owned()
    };
    let mut checks = vec![if settings.notes.is_empty() {
        Check::ok(
            "settings",
            format!("every setting is valid (read from {source})"),
        )
    } else {
        let notes: Vec<String> = settings.notes.iter().map(ToString::to_string).collect();
        Check::fail(
            "settings",
            format!("{} (read from {source})", notes.join("; ")),
            "correct each name (a setting the handler does not know is ignored) and set what is meant",
        )
    }];
    checks.push(defaults(environment, settings));
    if let Some(check) = executable_override(environment, settings) {
        checks.push(check);
    }
    checks.push(api_connector(environment, settings));
    checks.push(entra_callers(environment, settings));
    checks.push(match settings.policies() {
        Ok(policies) => {
            let applications = policies.current().applications.len();
            match policies.file() {
                Some(path) => Check::ok(
                    "policy",
                    format!(
                        "{} reads: default rules and {applications} application section(s)",
                        path.display()
                    ),
                ),
                None => Check::ok(
                    "policy",
                    "no POLICY_FILE: the settings' rules apply to every application",
                ),
            }
        }
        Err(error) => Check::fail("policy", error.to_string(), error.fix()),
    });
    checks.push(match &settings.telemetry {
        None => Check::skip(
            "telemetry",
            "APPLICATIONINSIGHTS_CONNECTION_STRING is not set: nothing is sent to Application Insights",
        ),
        Some(connection_string) => {
            match crate::telemetry::check_connection_string(
                connection_string,
                settings.telemetry_authentication.as_deref(),
            ) {
                Ok(endpoint) => Check::ok(
                    "telemetry",
                    format!("decisions and metrics go to Application Insights at {endpoint}"),
                ),
                Err(error) => Check::fail(
                    "telemetry",
                    error.to_string(),
                    "copy the connection string from the Application Insights resource's Overview page",
                ),
            }
        }
    });
    checks
}

fn api_connector(environment: &Environment, settings: &Settings) -> Check {
    const CHECK: &str = "API connector (SignUpValidation)";
    match &settings.api_connector_auth {
        ApiConnectorAuth::Basic(_) => {
            let length = environment
                .get("BASIC_AUTH_PASSWORD")
                .map_or(0, |password| password.chars().count());
            if length < MIN_PASSWORD_CHARS {
                Check::warn(
                    CHECK,
                    format!(
                        "HTTP Basic is on, but BASIC_AUTH_PASSWORD has only {length} characters"
                    ),
                    format!(
                        "use a random password of at least {MIN_PASSWORD_CHARS} characters, in the app settings and in the API connector"
                    ),
                )
            } else {
                Check::ok(
                    CHECK,
                    "HTTP Basic with BASIC_AUTH_USERNAME and BASIC_AUTH_PASSWORD; the API connector must send the same",
                )
            }
        }
        ApiConnectorAuth::BasicNotConfigured => Check::fail(
            CHECK,
            "HTTP Basic is on but BASIC_AUTH_USERNAME and BASIC_AUTH_PASSWORD are not both set: every call is refused with 401",
            "set both to the username and password of the API connector",
        ),
        ApiConnectorAuth::None => Check::warn(
            CHECK,
            "API_CONNECTOR_AUTH=none: anyone who finds the URL can call SignUpValidation",
            "for local runs only; in Azure set API_CONNECTOR_AUTH=basic (the default) with both credentials",
        ),
    }
}

fn entra_callers(environment: &Environment, settings: &Settings) -> Check {
    const CHECK: &str = "Entra caller check";
    match &settings.auth_events_auth {
        AuthEventsAuth::Jwt(token) => Check::ok(
            CHECK,
            format!(
                "tokens are validated here: tenant {}, client {}, keys from {}",
                token.tenant_id, token.client_id, token.metadata_url
            ),
        ),
        AuthEventsAuth::EasyAuth { client_id, .. } => {
            let enabled = environment
                .get("WEBSITE_AUTH_ENABLED")
                .is_some_and(|value| value.trim().eq_ignore_ascii_case("true"));
            if enabled {
                Check::warn(
                    CHECK,
                    "AUTH_EVENTS_TOKEN_VALIDATION=easyauth: App Service authentication validates the token; the handler checks the principal it forwards",
                    format!(
                        "App Service authentication must require authentication (return 401), accept tokens for {client_id} and allow the client application {AUTHENTICATION_EVENTS_APP_ID}; or use AUTH_EVENTS_TOKEN_VALIDATION=jwt"
                    ),
                )
            } else {
                Check::fail(
                    CHECK,
                    "AUTH_EVENTS_TOKEN_VALIDATION=easyauth, but App Service authentication is not on (WEBSITE_AUTH_ENABLED is not True): anyone can send the principal headers",
                    "turn App Service authentication on, or use AUTH_EVENTS_TOKEN_VALIDATION=jwt (the default)",
                )
            }
        }
        AuthEventsAuth::NotConfigured { missing } => Check::fail(
            CHECK,
            format!("{missing} is not set: the Entra functions refuse every call with 401"),
            "set AUTH_EVENTS_TENANT_ID (the external tenant's id) and AUTH_EVENTS_CLIENT_ID (the custom authentication extension's app registration)",
        ),
        AuthEventsAuth::None => Check::warn(
            CHECK,
            "AUTH_EVENTS_TOKEN_VALIDATION=none: anyone who finds the URLs can call the Entra functions",
            "for local runs only; in Azure set AUTH_EVENTS_TENANT_ID and AUTH_EVENTS_CLIENT_ID and leave AUTH_EVENTS_TOKEN_VALIDATION unset (jwt)",
        ),
    }
}

/// The invitation store: the file reads (every problem with its line), or the table answers a
/// point read within the decision deadline.
pub(super) async fn store(settings: &Settings) -> Check {
    const CHECK: &str = "invitation store";
    match &settings.store {
        StoreSettings::File(path) => {
            if !path.exists() {
                return Check::warn(
                    CHECK,
                    format!("{} does not exist: no one is invited", path.display()),
                    "create it (handler invitations add ADDRESS) or set INVITATIONS_FILE; until then only allowed domains admit",
                );
            }
            match CsvStore::open(path.clone()) {
                Ok(store) => Check::ok(
                    CHECK,
                    format!("{} reads: {} invitation(s)", path.display(), store.len()),
                ),
                Err(FileError::Invalid { errors, .. }) => Check::fail(
                    CHECK,
                    format!("{} is invalid: {errors}", path.display()),
                    "fix each line named; the server refuses to start with this file",
                ),
                Err(error) => {
                    let fix = StoreError::from(error);
                    Check::fail(CHECK, fix.to_string(), fix.fix())
                }
            }
        }
        StoreSettings::Table(table) => {
            let deadline = settings.decision_deadline;
            // The store's own time limit is longer than the deadline, so that a slow store is
            // always reported as missing the deadline (rather than as whichever timer won).
            let store = match invitations::open(&settings.store, deadline * 2) {
                Ok(store) => store,
                Err(error) => {
                    return Check::fail(
                        CHECK,
                        error.to_string(),
                        "fix the table store's settings (INVITATIONS_TABLE_CONNECTION or INVITATIONS_TABLE_ENDPOINT)",
                    );
                }
            };
            // Whether the table answers at all: a wrong endpoint answers every point read like
            // a missing row.
            let late = || {
                Check::fail(
                    CHECK,
                    format!(
                        "table {} at {} did not answer within DECISION_DEADLINE_MS ({} ms): every sign-up would be blocked",
                        table.table,
                        table.endpoint,
                        deadline.as_millis()
                    ),
                    "check the network path to the storage account, or raise DECISION_DEADLINE_MS (Entra waits 1000 ms)",
                )
            };
            match tokio::time::timeout(deadline, store.answers()).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => return Check::fail(CHECK, error.to_string(), error.fix()),
                Err(_) => return late(),
            }
            let probe =
                EmailAddress::parse("doctor.probe@example.invalid").expect("a valid address");
            let started = Instant::now();
            match tokio::time::timeout(deadline, store.find(&probe)).await {
                Ok(Ok(_)) => Check::ok(
                    CHECK,
                    format!(
                        "table {} at {} answered a point read in {} ms (deadline {} ms)",
                        table.table,
                        table.endpoint,
                        started.elapsed().as_millis(),
                        deadline.as_millis()
                    ),
                ),
                Ok(Err(error)) => Check::fail(
                    CHECK,
                    // The error says which table (and, for a network error, where).
                    error.to_string(),
                    error.fix(),
                ),
                Err(_) => late(),
            }
        }
    }
}

/// Where a policy puts people on a waitlist: whether the store can record requests, and how
/// many are open per application. `None` where no policy has a waitlist.
pub(super) async fn waitlist(settings: &Settings) -> Option<Check> {
    const CHECK: &str = "waitlist";
    let policies = settings.policies().ok()?;
    if !policies.current().any_waitlist() {
        return None;
    }
    if !matches!(settings.store, StoreSettings::Table(_)) {
        return Some(Check::fail(
            CHECK,
            "WAITLIST is on but the invitation store is a file, which cannot record requests: the server refuses to start"
                .to_owned(),
            "set INVITATION_STORE=table (the function app's files are read-only in Azure) or WAITLIST=false",
        ));
    }
    let store = match invitations::open(&settings.store, settings.decision_deadline) {
        Ok(store) => store,
        Err(error) => return Some(Check::fail(CHECK, error.to_string(), error.fix())),
    };
    let requests = match store.requests().await {
        Ok(requests) => requests,
        Err(error) => return Some(Check::fail(CHECK, error.to_string(), error.fix())),
    };
    let mut open: std::collections::BTreeMap<&str, usize> = Default::default();
    for request in &requests {
        if request.status == crate::invitations::requests::RequestStatus::Open {
            *open
                .entry(request.application.as_deref().unwrap_or("any"))
                .or_default() += 1;
        }
    }
    let counts = if open.is_empty() {
        "no open request".to_owned()
    } else {
        open.iter()
            .map(|(application, count)| format!("{count} open for {application}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    Some(Check::ok(
        CHECK,
        format!(
            "requests are recorded in table {}: {counts} (at most {} per application)",
            match &settings.store {
                StoreSettings::Table(table) => table.requests_table.as_str(),
                StoreSettings::File(_) => "",
            },
            settings.waitlist.max
        ),
    ))
}
