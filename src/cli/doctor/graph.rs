//! The tenant's configuration, read through Microsoft Graph (v1.0, and beta's listeners) with a
//! token the operator gives (`--graph-token`, `SIGNUP_GATE_GRAPH_TOKEN`) or the Azure CLI's: the
//! custom authentication extensions pointing at this app and their resource (Application ID
//! URI), the user flows and listeners that use them, the authentication events service's
//! principal, and admin consent for `CustomAuthenticationExtension.Receive.Payload`. Each is an
//! Entra error a user would see as a generic error page (1003014/1003015, 1003021, ...).
//!
//! And what goes wrong before Entra makes any call: a user flow or listener naming an extension
//! that does not exist (1003011), a flow or listener with no application (never called), a
//! timeout a flow or listener overrides below the decision deadline, and for token issuance an
//! application whose service principal maps no claim from the custom claims provider.
//!
//! The endpoints, as Microsoft documents them:
//! - `GET /v1.0/identity/customAuthenticationExtensions`
//! - `GET /v1.0/identity/authenticationEventsFlows` (and `…/{id}/conditions/applications/includeApplications`)
//! - `GET /v1.0/identity/authenticationEventListeners`, `GET /beta/identity/authenticationEventListeners`
//! - `GET /v1.0/servicePrincipals(appId='{appId}')`, `…/{id}/appRoleAssignments`, `…/{id}/claimsMappingPolicies`

use std::time::Duration;

use serde_json::Value;

use super::Check;
use crate::callers::AuthEventsAuth;
use crate::callers::entra::AUTHENTICATION_EVENTS_APP_ID;
use crate::cli::graph::{GRAPH_APP_ID, Graph, RECEIVE_PAYLOAD, RECEIVE_PAYLOAD_ROLE, permission};
use crate::config::Settings;

/// Entra's timeout when neither the extension nor its user flow or listener sets one.
const DEFAULT_TIMEOUT_MS: u64 = 1000;
/// The decision deadline should leave Entra's timeout a fifth for the network and the host.
const DEADLINE_SHARE_PERCENT: u64 = 80;

/// Which function an extension of this type must call.
fn function_for(kind: &str) -> Option<&'static str> {
    crate::functions::for_extension_type(kind).map(|function| function.name())
}

/// A user flow's or listener's handler that calls a custom extension.
#[derive(Debug, Clone)]
struct Handler {
    /// The user flow's or listener's name (its id when it has none).
    name: String,
    /// `user flow "Sign up"` or `listener 990d…`.
    owner: String,
    /// The user flow's id (its applications are read on demand), for a flow.
    flow: Option<String>,
    /// The listener's applications, for a listener.
    applications: Option<Vec<String>>,
    /// Its `@odata.type` (`#microsoft.graph.…CustomExtensionHandler`).
    kind: String,
    /// The extension it names, lower case; `None` when Graph left the relationship out.
    extension: Option<String>,
    /// `configuration.clientConfiguration`'s timeout and retries, when it overrides them.
    timeout: Option<u64>,
    retries: Option<u64>,
    /// Whether it runs at token issuance.
    token_issuance: bool,
}

/// Every custom extension handler anywhere in a user flow or listener.
fn handlers_of(
    value: &Value,
    (name, owner): (&str, &str),
    flow: Option<&str>,
    into: &mut Vec<Handler>,
) {
    match value {
        Value::Object(map) => {
            let kind = map
                .get("@odata.type")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let names_extension = map
                .get("customExtension")
                .is_some_and(|extension| extension["id"].is_string());
            if kind.ends_with("CustomExtensionHandler") || names_extension {
                let client = &map.get("configuration").cloned().unwrap_or(Value::Null)["clientConfiguration"];
                into.push(Handler {
                    name: name.to_owned(),
                    owner: owner.to_owned(),
                    flow: flow.map(str::to_owned),
                    applications: None,
                    kind: kind.to_owned(),
                    extension: map
                        .get("customExtension")
                        .and_then(|extension| extension["id"].as_str())
                        .map(str::to_ascii_lowercase),
                    timeout: client["timeoutInMilliseconds"].as_u64(),
                    retries: client["maximumRetries"].as_u64(),
                    token_issuance: kind.to_ascii_lowercase().contains("tokenissuance"),
                });
            }
            map.values()
                .for_each(|value| handlers_of(value, (name, owner), flow, into));
        }
        Value::Array(items) => items
            .iter()
            .for_each(|value| handlers_of(value, (name, owner), flow, into)),
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
            "no Microsoft Graph token (--graph-token, SIGNUP_GATE_GRAPH_TOKEN, or sign in with `az login`): the tenant's configuration is not checked",
        )];
    };
    let AuthEventsAuth::Jwt(caller) = &settings.auth_events_auth else {
        return vec![Check::skip(
            CHECK,
            "the Entra caller check is not jwt: AUTH_EVENTS_CLIENT_ID is needed to compare the extensions with",
        )];
    };
    let graph = match Graph::new(base, token) {
        Ok(graph) => graph,
        Err(error) => {
            return vec![Check::fail(
                CHECK,
                format!("--graph-url {error}"),
                "use https://graph.microsoft.com (or a national cloud's Graph host)",
            )];
        }
    };
    let client_id = caller.client_id.to_ascii_lowercase();
    let mut checks = Vec::new();
    checks.push(events_service(&graph).await);
    checks.push(consent(&graph, &client_id).await);
    checks.extend(extensions(&graph, &client_id, host, settings.decision_deadline).await);
    checks
}

/// The authentication events service must have a service principal in the tenant.
async fn events_service(graph: &Graph) -> Check {
    const CHECK: &str = "tenant: authentication events service";
    match graph
        .get(
            &format!("/v1.0/servicePrincipals(appId='{AUTHENTICATION_EVENTS_APP_ID}')"),
            permission::APPLICATION_READ,
        )
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
        Err(error) => Check::fail(
            CHECK,
            error.to_string(),
            "give a Graph token of the external tenant",
        ),
    }
}

/// The extension's app registration must have a service principal with admin consent for
/// `CustomAuthenticationExtension.Receive.Payload` (Entra error 1003021).
async fn consent(graph: &Graph, client_id: &str) -> Check {
    const CHECK: &str = "tenant: admin consent";
    let principal = match graph
        .get(
            &format!("/v1.0/servicePrincipals(appId='{client_id}')"),
            permission::APPLICATION_READ,
        )
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
            return Check::fail(
                CHECK,
                error.to_string(),
                "give a Graph token of the external tenant",
            );
        }
    };
    let Some(id) = principal["id"].as_str() else {
        return Check::fail(CHECK, "the service principal has no id", "check the tenant");
    };
    match graph
        .all(
            &format!("/v1.0/servicePrincipals/{id}/appRoleAssignments"),
            permission::APPLICATION_READ,
        )
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
                    format!("{client_id} has admin consent for {RECEIVE_PAYLOAD}"),
                )
            } else {
                Check::fail(
                    CHECK,
                    format!(
                        "{client_id} lacks admin consent for Microsoft Graph's {RECEIVE_PAYLOAD} (Entra error 1003021)"
                    ),
                    format!(
                        "grant it: the custom authentication extension's page, API Authentication, Grant permission (Graph {GRAPH_APP_ID}, app role {RECEIVE_PAYLOAD_ROLE}), or `handler setup entra --apply`"
                    ),
                )
            }
        }
        Err(error) => Check::fail(
            CHECK,
            error.to_string(),
            "give a Graph token that may read app role assignments",
        ),
    }
}

/// The user flows' and listeners' handlers, each once (beta lists the listeners v1.0 does,
/// and those v1.0 does not know); with the lookups that failed.
async fn handlers(graph: &Graph) -> (Vec<Handler>, Vec<String>) {
    let mut handlers = Vec::new();
    let mut failed = Vec::new();
    match graph
        .all(
            "/v1.0/identity/authenticationEventsFlows",
            permission::LISTENER_READ,
        )
        .await
    {
        Ok(flows) => {
            for flow in flows {
                let name = flow["displayName"]
                    .as_str()
                    .or(flow["id"].as_str())
                    .unwrap_or("?");
                handlers_of(
                    &flow,
                    (name, &format!("user flow {name:?}")),
                    flow["id"].as_str(),
                    &mut handlers,
                );
            }
        }
        Err(error) => failed.push(error.to_string()),
    }
    let mut seen = Vec::new();
    for (path, required) in [
        ("/v1.0/identity/authenticationEventListeners", true),
        ("/beta/identity/authenticationEventListeners", false),
    ] {
        match graph.all(path, permission::LISTENER_READ).await {
            Ok(listeners) => {
                for listener in listeners {
                    let id = listener["id"].as_str().unwrap_or("?").to_owned();
                    if seen.contains(&id) {
                        continue;
                    }
                    let applications: Vec<String> =
                        listener["conditions"]["applications"]["includeApplications"]
                            .as_array()
                            .map(|apps| {
                                apps.iter()
                                    .filter_map(|app| app["appId"].as_str())
                                    .map(str::to_ascii_lowercase)
                                    .collect()
                            })
                            .unwrap_or_default();
                    let mut found = Vec::new();
                    let name = listener["displayName"].as_str().unwrap_or(&id);
                    handlers_of(
                        &listener["handler"],
                        (name, &format!("listener {id}")),
                        None,
                        &mut found,
                    );
                    for mut handler in found {
                        handler.applications = Some(applications.clone());
                        handlers.push(handler);
                    }
                    seen.push(id);
                }
            }
            Err(error) if required => failed.push(error.to_string()),
            // Beta may not be there (a national cloud): v1.0's listeners were read.
            Err(_) => {}
        }
    }
    (handlers, failed)
}

/// The custom authentication extensions pointing at this app: their function and resource,
/// the user flows and listeners that use them, and what those would fail before any call.
async fn extensions(
    graph: &Graph,
    client_id: &str,
    host: Option<&str>,
    decision_deadline: Duration,
) -> Vec<Check> {
    const CHECK: &str = "tenant: extensions";
    let Some(host) = host else {
        return vec![Check::skip(
            CHECK,
            "no host to look for (give --url, or run where WEBSITE_HOSTNAME is set)",
        )];
    };
    let all = match graph
        .all(
            "/v1.0/identity/customAuthenticationExtensions",
            permission::EXTENSION_READ,
        )
        .await
    {
        Ok(all) => all,
        Err(error) => {
            return vec![Check::fail(
                CHECK,
                error.to_string(),
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
    let (handlers, lookups) = handlers(graph).await;
    let mut checks = dangling(&all, &handlers);
    if ours.is_empty() {
        checks.push(Check::warn(
            CHECK,
            format!("no custom authentication extension of the tenant points at {host}"),
            format!(
                "create one per function with `handler setup entra --url https://{host}` (or in the admin center: External Identities, Custom authentication extensions) with target URL https://{host}/api/<function>?code=<function key>"
            ),
        ));
    }
    let expected_resource = format!("api://{host}/{client_id}");
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
        let handler = format!("{kind}Handler");
        let unnamed = handlers
            .iter()
            .filter(|other| other.extension.is_none() && other.kind.eq_ignore_ascii_case(&handler))
            .count();
        let users: Vec<&Handler> = handlers
            .iter()
            .filter(|handler| handler.extension.as_deref() == Some(id.as_str()))
            .collect();
        let user_names: Vec<&str> = users.iter().map(|user| user.name.as_str()).collect();
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
                    "set the app registration {client_id}'s Application ID URI to {expected_resource} and select it in the extension's API Authentication (`handler setup entra --apply` does both)"
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
                    if user_names.is_empty() {
                        String::new()
                    } else {
                        format!("; used by {}", user_names.join(", "))
                    }
                ),
            ),
        };
        checks.push(result);
        checks.extend(timeouts(extension, name, &users, decision_deadline));
        for user in &users {
            checks.extend(applications(graph, name, user).await);
        }
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

/// A user flow or listener naming an extension the tenant does not have (Entra error 1003011).
fn dangling(all: &[Value], handlers: &[Handler]) -> Vec<Check> {
    let known: Vec<String> = all
        .iter()
        .filter_map(|extension| extension["id"].as_str())
        .map(str::to_ascii_lowercase)
        .collect();
    handlers
        .iter()
        .filter_map(|handler| {
            let id = handler.extension.as_deref()?;
            (!known.iter().any(|known| known == id)).then(|| {
                Check::fail(
                    format!("tenant: {}", handler.owner),
                    format!(
                        "its {} names extension {id}, which the tenant does not have: Entra fails each call (error 1003011)",
                        handler.kind.trim_start_matches('#').trim_start_matches("microsoft.graph.")
                    ),
                    "select an existing extension there (or run `handler setup entra --user-flow ... --apply`)",
                )
            })
        })
        .collect()
}

/// The timeout Entra waits for this extension, in each place that uses it (a user flow or
/// listener may override the extension's own): the decision deadline must fit in 80 % of it.
fn timeouts(
    extension: &Value,
    name: &str,
    users: &[&Handler],
    decision_deadline: Duration,
) -> Vec<Check> {
    let own = extension["clientConfiguration"]["timeoutInMilliseconds"].as_u64();
    let own_retries = extension["clientConfiguration"]["maximumRetries"].as_u64();
    let deadline = u64::try_from(decision_deadline.as_millis()).unwrap_or(u64::MAX);
    let mut places: Vec<(String, u64, Option<u64>, bool)> = vec![(
        "the extension".to_owned(),
        own.unwrap_or(DEFAULT_TIMEOUT_MS),
        own_retries,
        false,
    )];
    for user in users {
        if user.timeout.is_some() || user.retries.is_some() {
            places.push((
                user.owner.clone(),
                user.timeout.or(own).unwrap_or(DEFAULT_TIMEOUT_MS),
                user.retries.or(own_retries),
                true,
            ));
        }
    }
    let check = format!("tenant: extension {name} timeout");
    let described: Vec<String> = places
        .iter()
        .map(|(place, timeout, retries, overridden)| {
            format!(
                "{timeout} ms{} {} {place}",
                retries
                    .map(|retries| format!(
                        " and {retries} retr{}",
                        if retries == 1 { "y" } else { "ies" }
                    ))
                    .unwrap_or_default(),
                if *overridden { "set by" } else { "in" },
            )
        })
        .collect();
    let too_short: Vec<&(String, u64, Option<u64>, bool)> = places
        .iter()
        .filter(|(_, timeout, _, _)| deadline * 100 > timeout * DEADLINE_SHARE_PERCENT)
        .collect();
    if too_short.is_empty() {
        vec![Check::ok(check, described.join("; "))]
    } else {
        vec![Check::warn(
            check,
            format!(
                "{}: DECISION_DEADLINE_MS ({deadline} ms) is over {DEADLINE_SHARE_PERCENT} % of {}",
                described.join("; "),
                too_short
                    .iter()
                    .map(|(place, timeout, _, _)| format!("{timeout} ms ({place})"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "a slow invitation store answers after Entra gave up (error 1003005): lower DECISION_DEADLINE_MS, or raise the timeout there (up to 2000 ms)",
        )]
    }
}

/// The applications a user flow or listener is for: with none, Entra never calls it; for
/// token issuance, each application's service principal must map claims from the custom claims
/// provider, or its tokens carry none.
async fn applications(graph: &Graph, extension: &str, user: &Handler) -> Vec<Check> {
    let check = format!("tenant: {} applications", user.owner);
    let applications = match (&user.applications, &user.flow) {
        (Some(applications), _) => applications.clone(),
        (None, Some(flow)) => match graph
            .all(
                &format!(
                    "/v1.0/identity/authenticationEventsFlows/{flow}/conditions/applications/includeApplications"
                ),
                permission::LISTENER_READ,
            )
            .await
        {
            Ok(applications) => applications
                .iter()
                .filter_map(|app| app["appId"].as_str())
                .map(str::to_ascii_lowercase)
                .collect(),
            Err(error) => {
                return vec![Check::warn(
                    check,
                    format!("its applications could not be read: {error}"),
                    "give a Graph token that may read user flows (EventListener.Read.All)",
                )];
            }
        },
        (None, None) => return Vec::new(),
    };
    if applications.is_empty() {
        return vec![Check::fail(
            check,
            format!("it calls {extension:?} but is for no application: Entra never calls it"),
            if user.token_issuance {
                "add the applications to the listener (`handler setup entra --token-issuance --app <client id> --apply`)"
            } else {
                "add the applications to the user flow (User flows, the flow, Applications)"
            },
        )];
    }
    let mut checks = vec![Check::ok(
        check,
        format!("calls {extension:?} for {}", applications.join(", ")),
    )];
    if user.token_issuance {
        for app in &applications {
            checks.push(claims_mapping(graph, app).await);
        }
    }
    checks
}

/// Whether the application's service principal has a claims mapping policy that takes claims
/// from the custom claims provider.
async fn claims_mapping(graph: &Graph, app: &str) -> Check {
    let check = format!("tenant: claims mapping of {app}");
    let principal = match graph
        .get(
            &format!("/v1.0/servicePrincipals(appId='{app}')"),
            permission::APPLICATION_READ,
        )
        .await
    {
        Ok(Some(principal)) => principal,
        Ok(None) => {
            return Check::fail(
                check,
                format!("{app} has no service principal in this tenant"),
                "check the application (client) id the listener names",
            );
        }
        Err(error) => {
            return Check::warn(
                check,
                error.to_string(),
                "give a token that may read service principals",
            );
        }
    };
    let id = principal["id"].as_str().unwrap_or_default();
    let policies = match graph
        .all(
            &format!("/v1.0/servicePrincipals/{id}/claimsMappingPolicies"),
            permission::POLICY_READ,
        )
        .await
    {
        Ok(policies) => policies,
        Err(error) => {
            return Check::warn(
                check,
                error.to_string(),
                "give a token that may read policies (Policy.Read.All)",
            );
        }
    };
    let from_provider = policies.iter().find(|policy| {
        policy["definition"].as_array().is_some_and(|definitions| {
            definitions.iter().filter_map(Value::as_str).any(|text| {
                serde_json::from_str::<Value>(text).is_ok_and(|document| {
                    document["ClaimsMappingPolicy"]["ClaimsSchema"]
                        .as_array()
                        .is_some_and(|schema| {
                            schema.iter().any(|entry| {
                                entry["Source"].as_str().is_some_and(|source| {
                                    source.eq_ignore_ascii_case("CustomClaimsProvider")
                                })
                            })
                        })
                })
            })
        })
    });
    match from_provider {
        Some(policy) => Check::ok(
            check,
            format!(
                "its claims mapping policy {:?} takes claims from the custom claims provider",
                policy["displayName"].as_str().unwrap_or("?")
            ),
        ),
        None => Check::fail(
            check,
            format!(
                "{} maps no claim from the custom claims provider: its tokens carry none of the invitations' claims",
                if policies.is_empty() {
                    "it has no claims mapping policy, so it"
                } else {
                    "its claims mapping policy"
                }
            ),
            "`handler setup entra --token-issuance --app <client id> --claim <name> --apply` assigns one (Source CustomClaimsProvider)",
        ),
    }
}
