//! What `setup entra` is asked to wire, from its flags: checked before anything is read, so
//! bad input is an error that names the flag, never a half-made set-up.

use std::time::Duration;

use clap::Args;

use super::plan::Run;
use crate::cli::doctor::FunctionKeys;
use crate::cli::graph::{self, GraphEvent, StandardInput};
use crate::domain::application::Guid;

/// The permissions `--apply` needs (Microsoft Graph, application permissions).
pub(crate) const APPLY_PERMISSIONS: &[&str] = &[
    graph::permission::APPLICATION_WRITE,
    graph::permission::ROLE_ASSIGNMENT_WRITE,
    graph::permission::EXTENSION_WRITE,
    graph::permission::LISTENER_WRITE,
    graph::permission::POLICY_WRITE,
];

/// Entra's bounds for a custom authentication extension's timeout and retries.
const TIMEOUT_MS: std::ops::RangeInclusive<u32> = 200..=2000;
const MAX_RETRIES: u8 = 1;
/// The decision deadline should leave Entra's timeout a fifth for the network and the host.
const DEADLINE_SHARE_PERCENT: u128 = 80;

#[derive(Debug, Args)]
pub(crate) struct EntraArgs {
    /// The deployment's base URL (https://<app>.azurewebsites.net): each extension calls
    /// <URL>/api/<function>.
    #[arg(long, value_name = "URL")]
    url: String,
    /// The function key Entra calls with (`?code=`): a host key, or `Function=KEY` per function
    /// (repeatable); `-` (or `Function=-`) reads the key from standard input. Never printed.
    #[arg(long, value_name = "KEY")]
    code: Vec<String>,
    /// The external tenant's id; checked against the token's tenant.
    #[arg(long, value_name = "TENANT ID")]
    tenant: Option<String>,
    /// A Microsoft Graph access token (`-` reads it from standard input; default:
    /// SIGNUP_GATE_GRAPH_TOKEN, then for a plan the Azure CLI's). Never printed.
    #[arg(long, value_name = "TOKEN")]
    graph_token: Option<String>,
    /// The name of this set-up: the app registration's name and tag, the extensions' prefix.
    /// Give each deployment in a tenant its own.
    #[arg(long, value_name = "NAME", default_value = "signup-gate")]
    name: String,
    /// The user flow whose Start and Submit handlers call the extensions (its name or id).
    #[arg(long, value_name = "NAME OR ID")]
    user_flow: Option<String>,
    /// Do not create the Start and Submit extensions (token issuance only).
    #[arg(long)]
    no_attribute_collection: bool,
    /// Also wire token issuance (invitation claims in tokens) for the applications of --app.
    #[arg(long)]
    token_issuance: bool,
    /// An application (client) id whose tokens get the claims (repeatable; with
    /// --token-issuance).
    #[arg(long = "app", value_name = "CLIENT ID")]
    apps: Vec<String>,
    /// A claim the invitations carry, for token issuance (repeatable: department, app_roles).
    #[arg(long = "claim", value_name = "NAME")]
    claims: Vec<String>,
    /// How long Entra waits for an answer, 200 to 2000 ms.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    timeout_ms: u32,
    /// How often Entra calls again after a timeout, 0 or 1.
    #[arg(long, value_name = "N", default_value_t = 1)]
    retries: u8,
    /// Also add this invitation code attribute to the user flow's page, never stored on the user
    /// (writeToDirectory: false).
    #[arg(long, value_name = "NAME")]
    invitation_code_attribute: Option<String>,
    /// Make the changes (without it: the plan only).
    #[arg(long)]
    apply: bool,
    /// After --apply, set the function app's settings with the Azure CLI (needs --function-app
    /// and --resource-group).
    #[arg(long)]
    set_app_settings: bool,
    /// The function app's name, for --set-app-settings.
    #[arg(long, value_name = "NAME")]
    function_app: Option<String>,
    /// The function app's resource group, for --set-app-settings.
    #[arg(long, value_name = "NAME")]
    resource_group: Option<String>,
    /// Print the plan and its result as JSON.
    #[arg(long)]
    pub(crate) json: bool,
    /// Where Microsoft Graph is: a national cloud's Graph host, or a loopback stand-in.
    #[arg(
        long,
        value_name = "URL",
        default_value = "https://graph.microsoft.com",
        hide = true
    )]
    graph_url: String,
}

/// The validated request.
#[derive(Debug)]
pub(crate) struct Wiring {
    /// The deployment's host name (lower case), as in its identifier URI.
    pub(crate) host: String,
    pub(crate) keys: FunctionKeys,
    /// The function keys as given (to keep them out of every output).
    codes: Vec<String>,
    pub(crate) tenant: Option<String>,
    pub(crate) token: Option<String>,
    pub(crate) name: String,
    pub(crate) user_flow: Option<String>,
    /// The events to wire, in [`GraphEvent::all`]'s order.
    pub(crate) events: Vec<GraphEvent>,
    pub(crate) apps: Vec<Guid>,
    pub(crate) claims: Vec<String>,
    pub(crate) timeout_ms: u32,
    pub(crate) retries: u8,
    pub(crate) code_attribute: Option<String>,
    pub(crate) apply: bool,
    pub(crate) set_app_settings: bool,
    pub(crate) function_app: Option<String>,
    pub(crate) resource_group: Option<String>,
    pub(crate) graph_url: String,
}

impl Wiring {
    pub(crate) fn from_args(
        args: EntraArgs,
        token_variable: Option<&str>,
        stdin: &mut StandardInput,
    ) -> Result<Self, String> {
        let host = deployment_host(&args.url)?;
        let graph_url = graph::check_graph_url(&args.graph_url)
            .map_err(|error| format!("--graph-url {error}"))?;
        let token = graph::given_token(args.graph_token.as_deref(), token_variable, stdin)?;
        let mut codes = Vec::new();
        for code in &args.code {
            let code = match code.split_once('=') {
                _ if code == "-" => stdin.next_line("a function key (--code -)")?,
                Some((function, "-")) => {
                    format!(
                        "{function}={}",
                        stdin.next_line("a function key (--code F=-)")?
                    )
                }
                _ => code.trim().to_owned(),
            };
            let key = code.split_once('=').map_or(code.as_str(), |(_, key)| key);
            if key.is_empty() || !key.bytes().all(|b| b.is_ascii_graphic()) || key.contains('&') {
                return Err(
                    "--code: a function key is printable text without spaces or `&` (copy it from the function app's App keys)"
                        .to_owned(),
                );
            }
            codes.push(code);
        }
        let keys = FunctionKeys::parse(&codes);
        let tenant = args
            .tenant
            .as_deref()
            .map(|tenant| {
                Guid::parse(tenant)
                    .map(|tenant| tenant.to_string())
                    .map_err(|error| {
                        format!("--tenant: {error} (the tenant's id, from its Overview page)")
                    })
            })
            .transpose()?;
        check_name(&args.name)?;
        if !TIMEOUT_MS.contains(&args.timeout_ms) {
            return Err(format!(
                "--timeout-ms {} is outside Entra's bounds: {} to {} ms",
                args.timeout_ms,
                TIMEOUT_MS.start(),
                TIMEOUT_MS.end()
            ));
        }
        if args.retries > MAX_RETRIES {
            return Err(format!(
                "--retries {}: Entra calls again at most once (0 or 1)",
                args.retries
            ));
        }
        if !args.token_issuance && (!args.apps.is_empty() || !args.claims.is_empty()) {
            return Err("--app and --claim belong to --token-issuance".to_owned());
        }
        if args.token_issuance && args.apps.is_empty() {
            return Err(
                "--token-issuance needs the applications whose tokens get the claims: --app <client id> (repeatable)"
                    .to_owned(),
            );
        }
        if args.token_issuance && args.claims.is_empty() {
            return Err(
                "--token-issuance needs the claims your invitations carry: --claim <name> (repeatable, e.g. --claim department --claim app_roles)"
                    .to_owned(),
            );
        }
        let mut apps: Vec<Guid> = Vec::new();
        for app in &args.apps {
            let app = Guid::parse(app).map_err(|error| format!("--app: {error}"))?;
            if !apps.contains(&app) {
                apps.push(app);
            }
        }
        let mut claims: Vec<String> = Vec::new();
        for claim in &args.claims {
            let claim = claim.trim();
            crate::domain::invitation::check_claim_name(claim)
                .map_err(|error| format!("--claim: {error}"))?;
            if !claims.iter().any(|known| known == claim) {
                claims.push(claim.to_owned());
            }
        }
        if args.no_attribute_collection && !args.token_issuance {
            return Err(
                "--no-attribute-collection leaves nothing to wire without --token-issuance"
                    .to_owned(),
            );
        }
        if args.no_attribute_collection && args.user_flow.is_some() {
            return Err(
                "--user-flow wires Start and Submit, which --no-attribute-collection leaves out"
                    .to_owned(),
            );
        }
        let user_flow = args
            .user_flow
            .as_deref()
            .map(str::trim)
            .map(|flow| {
                if flow.is_empty() || flow.len() > 256 || flow.chars().any(char::is_control) {
                    Err("--user-flow: give the user flow's name or id".to_owned())
                } else {
                    Ok(flow.to_owned())
                }
            })
            .transpose()?;
        let code_attribute = args
            .invitation_code_attribute
            .as_deref()
            .map(|name| {
                check_attribute_name(name)?;
                if user_flow.is_none() {
                    return Err("--invitation-code-attribute adds the attribute to a user flow: give --user-flow".to_owned());
                }
                Ok(name.to_owned())
            })
            .transpose()?;
        if args.set_app_settings && (args.function_app.is_none() || args.resource_group.is_none()) {
            return Err(
                "--set-app-settings needs --function-app <name> and --resource-group <name>"
                    .to_owned(),
            );
        }
        for (flag, value) in [
            ("--function-app", &args.function_app),
            ("--resource-group", &args.resource_group),
        ] {
            if let Some(value) = value {
                check_azure_name(flag, value)?;
            }
        }
        let events = GraphEvent::all()
            .into_iter()
            .filter(|event| {
                if event.is_token_issuance() {
                    args.token_issuance
                } else {
                    !args.no_attribute_collection
                }
            })
            .collect();
        Ok(Self {
            host,
            keys,
            codes,
            tenant,
            token,
            name: args.name,
            user_flow,
            events,
            apps,
            claims,
            timeout_ms: args.timeout_ms,
            retries: args.retries,
            code_attribute,
            apply: args.apply,
            set_app_settings: args.set_app_settings,
            function_app: args.function_app,
            resource_group: args.resource_group,
            graph_url,
        })
    }

    pub(crate) fn token_issuance(&self) -> bool {
        self.events.iter().any(GraphEvent::is_token_issuance)
    }

    /// The tag that marks the app registration as this set-up's.
    pub(crate) fn marker(&self) -> String {
        format!("signup-gate:{}", self.name)
    }

    /// The identifier URI (and the extensions' resource id) for an application id.
    pub(crate) fn identifier_uri(&self, app_id: Option<&str>) -> String {
        format!("api://{}/{}", self.host, app_id.unwrap_or("(its app id)"))
    }

    /// The function's URL, without a key.
    pub(crate) fn function_url(&self, function: &str) -> String {
        format!("https://{}/api/{function}", self.host)
    }

    /// Everything given that must never be printed: the function keys, the token.
    pub(crate) fn secrets(&self) -> Vec<String> {
        let mut secrets: Vec<String> = self
            .codes
            .iter()
            .flat_map(|code| {
                let key = code.split_once('=').map(|(_, key)| key.to_owned());
                std::iter::once(code.clone()).chain(key)
            })
            .collect();
        secrets.extend(self.token.clone());
        secrets
    }

    /// The tenant to wire: `--tenant`, which must be the token's when the token names one, else
    /// the token's.
    pub(crate) fn tenant_of(&self, token: &str) -> Result<Option<String>, String> {
        let of_token = graph::token_tenant(token);
        match (&self.tenant, of_token) {
            (Some(given), Some(of_token)) if *given != of_token => Err(format!(
                "the Graph token is for tenant {of_token}, not --tenant {given}: get a token of the external tenant"
            )),
            (Some(given), _) => Ok(Some(given.clone())),
            (None, of_token) => Ok(of_token),
        }
    }

    /// What the plan should say before anything is read.
    pub(crate) fn warnings(&self, decision_deadline: Option<Duration>, run: &mut Run<'_>) {
        match decision_deadline {
            Some(deadline)
                if deadline.as_millis() * 100
                    > u128::from(self.timeout_ms) * DEADLINE_SHARE_PERCENT =>
            {
                run.warn(format!(
                    "DECISION_DEADLINE_MS ({} ms) is over {DEADLINE_SHARE_PERCENT} % of the extensions' timeout ({} ms): a slow invitation store answers after Entra gave up; lower DECISION_DEADLINE_MS or raise --timeout-ms",
                    deadline.as_millis(),
                    self.timeout_ms
                ));
            }
            Some(_) => {}
            None => run.warn(
                "the settings here do not load, so the decision deadline is not compared with the timeout (run `handler doctor`)",
            ),
        }
        if self.codes.is_empty() {
            run.warn(
                "no --code: the target URLs carry no function key (an existing one is kept); the functions are authLevel function, so Azure refuses Entra's calls without one",
            );
        }
        if self.user_flow.is_none() && self.events.iter().any(|event| !event.is_token_issuance()) {
            run.warn(
                "no --user-flow: the Start and Submit extensions are not attached to a user flow (give --user-flow <name or id>)",
            );
        }
    }
}

/// The host of an https base URL without a path, query, port or credentials.
fn deployment_host(url: &str) -> Result<String, String> {
    let parsed = reqwest::Url::parse(url.trim()).map_err(|error| {
        format!("--url {url:?} is not a URL ({error}): give https://<app>.azurewebsites.net")
    })?;
    if parsed.scheme() != "https" {
        return Err(format!(
            "--url {url:?}: Entra calls https target URLs only (error 1003020)"
        ));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("--url holds a user name or password: give the base URL alone".to_owned());
    }
    if parsed.port().is_some() {
        return Err(format!(
            "--url {url:?}: a port cannot be in an identifier URI (api://<host>/<app id>): use the default https port"
        ));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() || parsed.path() != "/" {
        return Err(format!(
            "--url {url:?}: give the base URL alone; the function paths (/api/<function>) and keys (--code) are added"
        ));
    }
    let host = parsed.host_str().unwrap_or_default();
    let is_address = host.starts_with('[') || host.parse::<std::net::IpAddr>().is_ok();
    match host {
        host if host.contains('.') && !is_address => Ok(host.to_ascii_lowercase()),
        _ => Err(format!(
            "--url {url:?}: give the deployment's host name (https://<app>.azurewebsites.net); Entra's identifier URIs need a fully qualified domain name"
        )),
    }
}

/// A set-up's name: what it is called in the tenant (letters, digits, `.`, `_`, `-`).
fn check_name(name: &str) -> Result<(), String> {
    let fits = (1..=40).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if fits {
        Ok(())
    } else {
        Err(format!(
            "--name {name:?}: 1 to 40 letters, digits, `.`, `_` or `-`"
        ))
    }
}

/// A custom user attribute's name: Entra's rule (letters and digits, starting with a letter).
fn check_attribute_name(name: &str) -> Result<(), String> {
    let fits = (1..=40).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.bytes().all(|b| b.is_ascii_alphanumeric());
    if fits {
        Ok(())
    } else {
        Err(format!(
            "--invitation-code-attribute {name:?}: letters and digits, starting with a letter (InvitationCode)"
        ))
    }
}

/// A function app's or resource group's name, passed to the Azure CLI as one argument.
fn check_azure_name(flag: &str, name: &str) -> Result<(), String> {
    let fits = (1..=90).contains(&name.len())
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'(' | b')'));
    if fits {
        Ok(())
    } else {
        Err(format!("{flag} {name:?} is not an Azure resource name"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deployment_is_an_https_host_alone() {
        assert_eq!(
            deployment_host("https://Gate.AzureWebsites.net/").unwrap(),
            "gate.azurewebsites.net"
        );
        for bad in [
            "http://gate.azurewebsites.net",
            "https://gate.azurewebsites.net:8443",
            "https://gate.azurewebsites.net/api",
            "https://gate.azurewebsites.net/?code=x",
            "https://u:p@gate.azurewebsites.net",
            "https://127.0.0.1",
            "https://localhost",
            "gate.azurewebsites.net",
        ] {
            assert!(deployment_host(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("signup-gate").is_ok());
        assert!(check_name("prod.eu_1").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("with space").is_err());
        assert!(check_name("quote'd").is_err());
        assert!(check_attribute_name("InvitationCode").is_ok());
        assert!(check_attribute_name("1Code").is_err());
        assert!(check_attribute_name("Invitation_Code").is_err());
        assert!(check_azure_name("--function-app", "gate-prod").is_ok());
        assert!(check_azure_name("--function-app", "--yes").is_err());
        assert!(check_azure_name("--function-app", "a b").is_err());
    }
}
