//! The user flows and listeners that call custom authentication extensions, for `doctor`'s
//! tenant checks: what Entra fails before it makes any call. A user flow or listener naming an
//! extension the tenant does not have (1003011), one for no application (never called), a
//! timeout a user flow or listener overrides below what the decision deadline needs, and for
//! token issuance an application whose service principal maps no claim from the custom claims
//! provider.

use std::time::Duration;

use serde_json::Value;

use super::Check;
use crate::cli::graph::{Graph, permission};

/// Entra's timeout when neither the extension nor its user flow or listener sets one.
const DEFAULT_TIMEOUT_MS: u64 = 1000;
/// The decision deadline should leave Entra's timeout a fifth for the network and the host.
const DEADLINE_SHARE_PERCENT: u64 = 80;

/// A user flow's or listener's handler that calls a custom extension.
#[derive(Debug, Clone)]
pub(super) struct Handler {
    /// The user flow's or listener's name (its id when it has none).
    pub(super) name: String,
    /// `user flow "Sign up"` or `listener 990d…`.
    pub(super) owner: String,
    /// The user flow's id (its applications are read on demand), for a flow.
    pub(super) flow: Option<String>,
    /// The listener's applications, for a listener.
    pub(super) applications: Option<Vec<String>>,
    /// Its `@odata.type` (`#microsoft.graph.…CustomExtensionHandler`).
    pub(super) kind: String,
    /// The extension it names, lower case; `None` when Graph left the relationship out.
    pub(super) extension: Option<String>,
    /// `configuration.clientConfiguration`'s timeout and retries, when it overrides them.
    pub(super) timeout: Option<u64>,
    pub(super) retries: Option<u64>,
    /// Whether it runs at token issuance.
    pub(super) token_issuance: bool,
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

/// The user flows' and listeners' handlers, each once (beta lists the listeners v1.0 does,
/// and those v1.0 does not know); with the lookups that failed.
pub(super) async fn handlers(graph: &Graph) -> (Vec<Handler>, Vec<String>) {
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

/// A user flow or listener naming an extension the tenant does not have (Entra error 1003011).
pub(super) fn dangling(all: &[Value], handlers: &[Handler]) -> Vec<Check> {
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
pub(super) fn timeouts(
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
pub(super) async fn applications(graph: &Graph, extension: &str, user: &Handler) -> Vec<Check> {
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
