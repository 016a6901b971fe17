//! The tenant's configuration, read through Microsoft Graph (v1.0) with a token the operator
//! gives (`--graph-token`) or the Azure CLI's: the custom authentication extensions pointing at
//! this app and their resource (Application ID URI), the user flows and listeners that use them,
//! the authentication events service's principal, and admin consent for
//! `CustomAuthenticationExtensions.Receive.Payload`. Each is an Entra error a user would see as a
//! generic error page (1003014/1003015, 1003021, ...).
//!
//! The endpoints, as Microsoft documents them:
//! - `GET /v1.0/identity/customAuthenticationExtensions`
//! - `GET /v1.0/identity/authenticationEventsFlows`
//! - `GET /v1.0/identity/authenticationEventListeners`
//! - `GET /v1.0/servicePrincipals(appId='{appId}')` and `.../appRoleAssignments`

use serde_json::Value;

use super::{Check, NETWORK_DEADLINE};
use crate::callers::AuthEventsAuth;
use crate::callers::entra::AUTHENTICATION_EVENTS_APP_ID;
use crate::config::Settings;
use crate::outbound::check_fetch_url;

/// Microsoft Graph's own application id, and the id of its
/// `CustomAuthenticationExtensions.Receive.Payload` application permission.
const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
const RECEIVE_PAYLOAD_ROLE: &str = "214e810f-fda8-4fd7-a475-29461495eb00";

/// The Azure CLI's Graph token, when it is installed and signed in.
pub(super) async fn azure_cli_token() -> Option<String> {
    let output = tokio::time::timeout(
        NETWORK_DEADLINE,
        tokio::process::Command::new("az")
            .args([
                "account",
                "get-access-token",
                "--resource",
                "https://graph.microsoft.com",
                "--query",
                "accessToken",
                "-o",
                "tsv",
            ])
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output(),
    )
    .await
    .ok()?
    .ok()?;
    let token = String::from_utf8(output.stdout).ok()?.trim().to_owned();
    (output.status.success() && !token.is_empty()).then_some(token)
}

struct Graph {
    client: reqwest::Client,
    base: String,
    token: String,
}

impl Graph {
    /// `GET <base><path>`: the JSON body of a 2xx, `None` for 404, an error for anything else.
    async fn get(&self, path: &str) -> Result<Option<Value>, String> {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|error| crate::printable::with_causes(&error.without_url()))?;
        let status = response.status();
        if status.as_u16() == 404 {
            return Ok(None);
        }
        if !status.is_success() {
            let hint = match status.as_u16() {
                401 => " (the token is not valid for Microsoft Graph)",
                403 => {
                    " (the token lacks a permission: Application.Read.All, CustomAuthenticationExtension.Read.All, EventListener.Read.All)"
                }
                _ => "",
            };
            return Err(format!("GET {path}: HTTP {status}{hint}"));
        }
        let body = response
            .bytes()
            .await
            .map_err(|error| format!("GET {path}: {}", crate::printable::with_causes(&error)))?;
        serde_json::from_slice::<Value>(&body)
            .map(Some)
            .map_err(|error| format!("GET {path}: {error}"))
    }

    /// Every item of a collection (following `@odata.nextLink` a few pages at most).
    async fn list(&self, path: &str) -> Result<Vec<Value>, String> {
        let mut items = Vec::new();
        let mut next = Some(path.to_owned());
        for _ in 0..20 {
            let Some(page_path) = next.take() else {
                break;
            };
            let page = self
                .get(&page_path)
                .await?
                .ok_or_else(|| format!("GET {page_path}: not found"))?;
            items.extend(page["value"].as_array().cloned().unwrap_or_default());
            next = page["@odata.nextLink"]
                .as_str()
                .and_then(|link| link.strip_prefix(&self.base))
                .map(str::to_owned);
        }
        Ok(items)
    }
}

/// Which function an extension of this type must call.
fn function_for(kind: &str) -> Option<&'static str> {
    crate::functions::for_extension_type(kind).map(|function| function.name())
}

/// Every id of a `customExtension` anywhere in a user flow or listener; a custom extension
/// handler that does not name its extension (Graph documents `customExtension` as a
/// relationship, which a response may leave out) is counted in `unnamed` by its type.
fn extension_ids(value: &Value, into: &mut Vec<String>, unnamed: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            let kind = map.get("@odata.type").and_then(Value::as_str);
            match map
                .get("customExtension")
                .and_then(|extension| extension["id"].as_str())
            {
                Some(id) => into.push(id.to_ascii_lowercase()),
                None => {
                    if let Some(kind) = kind.filter(|kind| kind.ends_with("CustomExtensionHandler"))
                    {
                        unnamed.push(kind.to_ascii_lowercase());
                    }
                }
            }
            map.values().for_each(|v| extension_ids(v, into, unnamed));
        }
        Value::Array(items) => items.iter().for_each(|v| extension_ids(v, into, unnamed)),
        _ => {}
    }
}

/// The tenant's checks.
pub(super) async fn tenant(
    base: &str,
    token: Option<&str>,
    settings: &Settings,
    host: Option<&str>,
) -> Vec<Check> {
    const CHECK: &str = "tenant";
    let Some(token) = token else {
        return vec![Check::skip(
            CHECK,
            "no Microsoft Graph token (--graph-token, or sign in with `az login`): the tenant's configuration is not checked",
        )];
    };
    if let Err(error) = check_fetch_url(base) {
        return vec![Check::fail(
            CHECK,
            format!("--graph-url {error}"),
            "use https",
        )];
    }
    let AuthEventsAuth::Jwt(caller) = &settings.auth_events_auth else {
        return vec![Check::skip(
            CHECK,
            "the Entra caller check is not jwt: AUTH_EVENTS_CLIENT_ID is needed to compare the extensions with",
        )];
    };
    let client_id = caller.client_id.to_ascii_lowercase();
    let client = match crate::outbound::client().timeout(NETWORK_DEADLINE).build() {
        Ok(client) => client,
        Err(error) => {
            return vec![Check::fail(
                CHECK,
                crate::printable::with_causes(&error),
                "run it again",
            )];
        }
    };
    let graph = Graph {
        client,
        base: base.trim_end_matches('/').to_owned(),
        token: token.to_owned(),
    };
    let mut checks = Vec::new();
    checks.push(events_service(&graph).await);
    checks.push(consent(&graph, &client_id).await);
    checks.extend(extensions(&graph, &client_id, host).await);
    checks
}

/// The authentication events service must have a service principal in the tenant.
async fn events_service(graph: &Graph) -> Check {
    const CHECK: &str = "tenant: authentication events service";
    match graph
        .get(&format!(
            "/v1.0/servicePrincipals(appId='{AUTHENTICATION_EVENTS_APP_ID}')"
        ))
        .await
    {
        Ok(Some(_)) => Check::ok(
            CHECK,
            format!("the service principal of {AUTHENTICATION_EVENTS_APP_ID} exists"),
        ),
        Ok(None) => Check::fail(
            CHECK,
            format!(
                "the tenant has no service principal for {AUTHENTICATION_EVENTS_APP_ID} (the authentication events service)"
            ),
            format!("create it: az ad sp create --id {AUTHENTICATION_EVENTS_APP_ID}"),
        ),
        Err(error) => Check::fail(CHECK, error, "give a Graph token of the external tenant"),
    }
}

/// The extension's app registration must have a service principal with admin consent for
/// `CustomAuthenticationExtensions.Receive.Payload` (Entra error 1003021).
async fn consent(graph: &Graph, client_id: &str) -> Check {
    const CHECK: &str = "tenant: admin consent";
    let principal = match graph
        .get(&format!("/v1.0/servicePrincipals(appId='{client_id}')"))
        .await
    {
        Ok(Some(principal)) => principal,
        Ok(None) => {
            return Check::fail(
                CHECK,
                format!(
                    "AUTH_EVENTS_CLIENT_ID {client_id} has no service principal in this tenant (Entra error 1003015)"
                ),
                "AUTH_EVENTS_CLIENT_ID must be the app registration the custom authentication extension uses, in the external tenant",
            );
        }
        Err(error) => {
            return Check::fail(CHECK, error, "give a Graph token of the external tenant");
        }
    };
    let Some(id) = principal["id"].as_str() else {
        return Check::fail(CHECK, "the service principal has no id", "check the tenant");
    };
    match graph
        .list(&format!("/v1.0/servicePrincipals/{id}/appRoleAssignments"))
        .await
    {
        Ok(assignments) => {
            let granted = assignments.iter().any(|assignment| {
                assignment["appRoleId"]
                    .as_str()
                    .is_some_and(|role| role.eq_ignore_ascii_case(RECEIVE_PAYLOAD_ROLE))
            });
            if granted {
                Check::ok(
                    CHECK,
                    format!(
                        "{client_id} has admin consent for CustomAuthenticationExtensions.Receive.Payload"
                    ),
                )
            } else {
                Check::fail(
                    CHECK,
                    format!(
                        "{client_id} lacks admin consent for Microsoft Graph's CustomAuthenticationExtensions.Receive.Payload (Entra error 1003021)"
                    ),
                    format!(
                        "grant it: the custom authentication extension's page, API Authentication, Grant permission (Graph {GRAPH_APP_ID}, app role {RECEIVE_PAYLOAD_ROLE})"
                    ),
                )
            }
        }
        Err(error) => Check::fail(
            CHECK,
            error,
            "give a Graph token that may read app role assignments",
        ),
    }
}

/// The custom authentication extensions pointing at this app: their function and resource, and
/// whether a user flow or listener uses them.
async fn extensions(graph: &Graph, client_id: &str, host: Option<&str>) -> Vec<Check> {
    const CHECK: &str = "tenant: extensions";
    let Some(host) = host else {
        return vec![Check::skip(
            CHECK,
            "no host to look for (give --url, or run where WEBSITE_HOSTNAME is set)",
        )];
    };
    let all = match graph
        .list("/v1.0/identity/customAuthenticationExtensions")
        .await
    {
        Ok(all) => all,
        Err(error) => {
            return vec![Check::fail(
                CHECK,
                error,
                "give a Graph token that may read custom authentication extensions",
            )];
        }
    };
    let ours: Vec<&Value> = all
        .iter()
        .filter(|extension| {
            extension["endpointConfiguration"]["targetUrl"]
                .as_str()
                .and_then(super::remote::host_of)
                .is_some_and(|target| target == host)
        })
        .collect();
    if ours.is_empty() {
        return vec![Check::warn(
            CHECK,
            format!("no custom authentication extension of the tenant points at {host}"),
            format!(
                "create one per function (External Identities, Custom authentication extensions) with target URL https://{host}/api/<function>?code=<function key>"
            ),
        )];
    }
    let mut used = Vec::new();
    let mut unnamed = Vec::new();
    let mut lookups = Vec::new();
    for path in [
        "/v1.0/identity/authenticationEventsFlows",
        "/v1.0/identity/authenticationEventListeners",
    ] {
        match graph.list(path).await {
            Ok(items) => {
                for item in items {
                    let mut ids = Vec::new();
                    extension_ids(&item, &mut ids, &mut unnamed);
                    let name = item["displayName"]
                        .as_str()
                        .or(item["id"].as_str())
                        .unwrap_or("?")
                        .to_owned();
                    used.extend(ids.into_iter().map(|id| (id, name.clone())));
                }
            }
            Err(error) => lookups.push(error),
        }
    }
    let expected_resource = format!("api://{host}/{client_id}");
    let mut checks = Vec::new();
    for extension in ours {
        let name = extension["displayName"].as_str().unwrap_or("(no name)");
        let check = format!("tenant: extension {name}");
        let target = extension["endpointConfiguration"]["targetUrl"]
            .as_str()
            .unwrap_or_default();
        let path = reqwest::Url::parse(target)
            .map(|url| url.path().trim_end_matches('/').to_owned())
            .unwrap_or_default();
        let kind = extension["@odata.type"].as_str().unwrap_or_default();
        let resource = extension["authenticationConfiguration"]["resourceId"]
            .as_str()
            .unwrap_or_default();
        let function = function_for(kind);
        let id = extension["id"]
            .as_str()
            .unwrap_or_default()
            .to_ascii_lowercase();
        // Handlers of this extension's event that Graph did not name: one of them may be it.
        let handler = format!("{kind}Handler").to_ascii_lowercase();
        let unnamed = unnamed.iter().filter(|other| **other == handler).count();
        let users: Vec<&str> = used
            .iter()
            .filter(|(used_id, _)| *used_id == id)
            .map(|(_, name)| name.as_str())
            .collect();
        let result = match function {
            None => Check::warn(
                check,
                format!("{kind} points at {path}: not an event this app handles"),
                format!(
                    "point it elsewhere, or use the event of {}",
                    crate::printable::one_of(
                        &crate::functions::names_of(crate::functions::Caller::AuthenticationEvents),
                        "or"
                    )
                ),
            ),
            Some(function) if !path.eq_ignore_ascii_case(&format!("/api/{function}")) => {
                Check::fail(
                    check,
                    format!("a {function} extension points at {path}"),
                    format!(
                        "its target URL must be https://{host}/api/{function}?code=<function key>"
                    ),
                )
            }
            Some(_) if !resource.eq_ignore_ascii_case(&expected_resource) => Check::fail(
                check,
                format!(
                    "its resource (Application ID URI) is {resource:?}, not {expected_resource} (Entra errors 1003014/1003015)"
                ),
                format!(
                    "set the app registration {client_id}'s Application ID URI to {expected_resource} and select it in the extension's API Authentication"
                ),
            ),
            Some(function) if users.is_empty() && unnamed > 0 => Check::ok(
                check,
                format!(
                    "calls {function} with resource {resource}; Graph did not name the extension of {unnamed} handler(s) of this event in user flows or listeners, so whether one of them is this one is not known"
                ),
            ),
            Some(function) if users.is_empty() && lookups.is_empty() => Check::warn(
                check,
                format!(
                    "calls {function} with resource {resource}, but no user flow or listener uses it"
                ),
                "add it to the user flow (Custom authentication extensions) or, for tokens, to the application's claims provider",
            ),
            Some(function) => Check::ok(
                check,
                format!(
                    "calls {function} with resource {resource}{}",
                    if users.is_empty() {
                        String::new()
                    } else {
                        format!("; used by {}", users.join(", "))
                    }
                ),
            ),
        };
        checks.push(result);
    }
    for error in lookups {
        checks.push(Check::warn(
            "tenant: user flows",
            error,
            "give a Graph token that may read user flows and listeners (EventListener.Read.All)",
        ));
    }
    checks
}
