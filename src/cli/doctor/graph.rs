//! The tenant's configuration, read through Microsoft Graph (v1.0, and beta's listeners) with a
//! token the operator gives (`--graph-token`, `SIGNUP_GATE_GRAPH_TOKEN`) or the Azure CLI's: the
//! custom authentication extensions pointing at this app and their resource (Application ID
//! URI), the user flows and listeners that use them, the authentication events service's
//! principal, and admin consent for `CustomAuthenticationExtension.Receive.Payload`. Each is an
//! Entra error a user would see as a generic error page (1003014/1003015, 1003021, ...).
//!
//! And, through the user flows and listeners that use them ([`super::flows`]), what goes wrong
//! before Entra makes any call.
//!
//! The endpoints, as Microsoft documents them:
//! - `GET /v1.0/identity/customAuthenticationExtensions`
//! - `GET /v1.0/identity/authenticationEventsFlows` (and `…/{id}/conditions/applications/includeApplications`)
//! - `GET /v1.0/identity/authenticationEventListeners`, `GET /beta/identity/authenticationEventListeners`
//! - `GET /v1.0/servicePrincipals(appId='{appId}')`, `…/{id}/appRoleAssignments`, `…/{id}/claimsMappingPolicies`

use std::time::Duration;

use serde_json::Value;

use super::Check;
use super::flows::{Handler, applications, dangling, handlers, timeouts};
use crate::callers::AuthEventsAuth;
use crate::callers::entra::AUTHENTICATION_EVENTS_APP_ID;
use crate::cli::graph::{GRAPH_APP_ID, Graph, RECEIVE_PAYLOAD, RECEIVE_PAYLOAD_ROLE, permission};
use crate::config::Settings;

/// Which function an extension of this type must call.
fn function_for(kind: &str) -> Option<&'static str> {
    crate::functions::for_extension_type(kind).map(|function| function.name())
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
