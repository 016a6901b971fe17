//! Token issuance (`--token-issuance --app <client id>...`): a listener that calls this set-up's
//! token extension for the named applications, a claims mapping policy whose claims come from
//! the custom claims provider, and that policy on each application's service principal.
//!
//! - `GET /v1.0/identity/authenticationEventListeners`, `POST` there, `PATCH …/{id}`;
//! - `GET /v1.0/policies/claimsMappingPolicies`, `POST` there, `PATCH …/{id}`;
//! - `GET /v1.0/servicePrincipals(appId='…')`, `GET /v1.0/servicePrincipals/{id}/claimsMappingPolicies`,
//!   `POST /v1.0/servicePrincipals/{id}/claimsMappingPolicies/$ref`;
//! - `GET /v1.0/applications(appId='…')` (read only: whether it accepts mapped claims).
//!
//! Nothing is taken away: applications and claims are only ever added, and a service principal
//! that has another claims mapping policy keeps it (the step is blocked and says so).

use serde_json::{Value, json};

use super::plan::{Action, Run, Step};
use super::wiring::Wiring;
use crate::cli::graph::{GraphEvent, permission};

const LISTENER: &str = "listener";
const POLICY: &str = "claims mapping policy";
const ASSIGNMENT: &str = "claims mapping of";

pub(super) async fn steps(wiring: &Wiring, run: &mut Run<'_>) -> Result<(), String> {
    let Some(event) = wiring.events.iter().find(|event| event.is_token_issuance()) else {
        return Ok(());
    };
    listener(wiring, run, event).await?;
    let policy = policy(wiring, run).await?;
    for app in &wiring.apps {
        assignment(run, app.as_str(), policy.as_deref(), &policy_name(wiring)).await?;
    }
    Ok(())
}

fn policy_name(wiring: &Wiring) -> String {
    format!("{} claims", wiring.name)
}

fn app_ids(listener: &Value) -> Vec<String> {
    listener["conditions"]["applications"]["includeApplications"]
        .as_array()
        .map(|apps| {
            apps.iter()
                .filter_map(|app| app["appId"].as_str())
                .map(str::to_ascii_lowercase)
                .collect()
        })
        .unwrap_or_default()
}

async fn listener(wiring: &Wiring, run: &mut Run<'_>, event: &GraphEvent) -> Result<(), String> {
    let listeners = run
        .graph
        .all(
            "/v1.0/identity/authenticationEventListeners",
            permission::LISTENER_READ,
        )
        .await
        .map_err(|error| error.to_string())?;
    let extension = run.learned.extension(event.name()).map(str::to_owned);
    let of_type = |listener: &&Value| {
        listener["@odata.type"]
            .as_str()
            .is_some_and(|kind| kind.eq_ignore_ascii_case(&event.listener_type()))
    };
    let calls_ours = |listener: &&Value| {
        extension.as_deref().is_some_and(|ours| {
            listener["handler"]["customExtension"]["id"]
                .as_str()
                .is_some_and(|id| id.eq_ignore_ascii_case(ours))
        })
    };
    let ours = listeners.iter().filter(of_type).find(calls_ours);
    let name = format!("{:?}", format!("{} {}", wiring.name, event.name()));
    let wanted: Vec<String> = wiring.apps.iter().map(|app| app.to_string()).collect();
    let mut warnings = Vec::new();
    for other in listeners
        .iter()
        .filter(of_type)
        .filter(|listener| !calls_ours(listener))
    {
        let shared: Vec<&String> = wanted
            .iter()
            .filter(|app| app_ids(other).contains(app))
            .collect();
        if !shared.is_empty() {
            warnings.push(format!(
                "listener {} (not this set-up's) also runs at token issuance for {}: Entra picks one by priority",
                other["id"].as_str().unwrap_or("?"),
                shared.iter().map(|app| app.as_str()).collect::<Vec<_>>().join(", ")
            ));
        }
    }
    if let Some(listener) = ours {
        let id = listener["id"].as_str().unwrap_or_default().to_owned();
        let current = app_ids(listener);
        let missing: Vec<&String> = wanted.iter().filter(|app| !current.contains(app)).collect();
        let mut step = if missing.is_empty() {
            Step::new(LISTENER, name, Action::None).change(format!("for {}", current.join(", ")))
        } else {
            Step::new(LISTENER, name, Action::Update).change(format!(
                "adds {} (keeps {})",
                missing
                    .iter()
                    .map(|app| app.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                if current.is_empty() {
                    "none".to_owned()
                } else {
                    current.join(", ")
                }
            ))
        }
        .id(Some(id.clone()));
        step.warnings = warnings;
        if !run.will_write(&step) {
            run.plan(step);
            return Ok(());
        }
        let all: Vec<Value> = current
            .iter()
            .chain(missing)
            .map(|app| json!({"appId": app}))
            .collect();
        let body = json!({"@odata.type": event.listener_type(),
                          "conditions": {"applications": {"includeApplications": all}}});
        match run
            .graph
            .patch(
                &format!("/v1.0/identity/authenticationEventListeners/{id}"),
                &body,
                permission::LISTENER_WRITE,
            )
            .await
        {
            Ok(()) => run.done(step),
            Err(error) => run.failed(step, &error),
        }
        return Ok(());
    }
    let mut step = Step::new(LISTENER, name.clone(), Action::Create).change(format!(
        "calls {name} at token issuance for {}",
        wanted.join(", ")
    ));
    step.warnings = warnings;
    let Some(extension) = extension.filter(|_| run.will_write(&step)) else {
        run.plan(step);
        return Ok(());
    };
    let body = json!({
        "@odata.type": event.listener_type(),
        "displayName": format!("{} {}", wiring.name, event.name()),
        "conditions": {"applications": {"includeApplications":
            wanted.iter().map(|app| json!({"appId": app})).collect::<Vec<_>>()}},
        "handler": {"@odata.type": event.handler_type(), "customExtension": {"id": extension}},
    });
    match run
        .graph
        .post(
            "/v1.0/identity/authenticationEventListeners",
            Some(&body),
            permission::LISTENER_WRITE,
        )
        .await
    {
        Ok(created) => {
            let id = created
                .as_ref()
                .and_then(|created| created["id"].as_str())
                .map(str::to_owned);
            if let Some(id) = &id {
                run.created(
                    LISTENER,
                    name,
                    id.clone(),
                    format!("DELETE /v1.0/identity/authenticationEventListeners/{id}"),
                );
            }
            run.done(step.id(id));
        }
        Err(error) => run.failed(step, &error),
    }
    Ok(())
}

/// The claim ids a policy's definition maps from the custom claims provider, and the
/// definition's document (`None`: not readable).
fn provider_claims(policy: &Value) -> Option<(Vec<String>, Value)> {
    let text = policy["definition"].as_array()?.first()?.as_str()?;
    let document: Value = serde_json::from_str(text).ok()?;
    // Only a policy document: claims are added to its schema in place.
    document["ClaimsMappingPolicy"].as_object()?;
    let claims = document["ClaimsMappingPolicy"]["ClaimsSchema"]
        .as_array()
        .map(|schema| {
            schema
                .iter()
                .filter(|entry| {
                    entry["Source"]
                        .as_str()
                        .is_some_and(|source| source.eq_ignore_ascii_case("CustomClaimsProvider"))
                })
                .filter_map(|entry| entry["ID"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    Some((claims, document))
}

fn definition(document: &Value) -> Value {
    json!([document.to_string()])
}

/// The claims mapping policy (found by its display name): each claim from the custom claims
/// provider, under its own name. Returns its id when it exists.
async fn policy(wiring: &Wiring, run: &mut Run<'_>) -> Result<Option<String>, String> {
    let name = policy_name(wiring);
    let policies = run
        .graph
        .all(
            "/v1.0/policies/claimsMappingPolicies",
            permission::POLICY_READ,
        )
        .await
        .map_err(|error| error.to_string())?;
    let schema_entry = |claim: &String| json!({"Source": "CustomClaimsProvider", "ID": claim, "JwtClaimType": claim});
    let matching: Vec<&Value> = policies
        .iter()
        .filter(|policy| policy["displayName"].as_str() == Some(name.as_str()))
        .collect();
    let existing = match matching.as_slice() {
        [] => None,
        [one] => Some(*one),
        _ => {
            return Err(format!(
                "{} claims mapping policies are named {name:?}: remove or rename all but one",
                matching.len()
            ));
        }
    };
    let Some(existing) = existing else {
        let step = Step::new(POLICY, format!("{name:?}"), Action::Create).change(format!(
            "maps {} from the custom claims provider into tokens",
            wiring.claims.join(", ")
        ));
        if !run.will_write(&step) {
            run.plan(step);
            return Ok(None);
        }
        let document = json!({"ClaimsMappingPolicy": {
            "Version": 1,
            "IncludeBasicClaimSet": "true",
            "ClaimsSchema": wiring.claims.iter().map(schema_entry).collect::<Vec<_>>(),
        }});
        let body = json!({"displayName": name, "definition": definition(&document), "isOrganizationDefault": false});
        return match run
            .graph
            .post(
                "/v1.0/policies/claimsMappingPolicies",
                Some(&body),
                permission::POLICY_WRITE,
            )
            .await
        {
            Ok(created) => {
                let id = created
                    .as_ref()
                    .and_then(|created| created["id"].as_str())
                    .map(str::to_owned);
                if let Some(id) = &id {
                    run.created(
                        POLICY,
                        name,
                        id.clone(),
                        format!("DELETE /v1.0/policies/claimsMappingPolicies/{id}"),
                    );
                }
                run.done(step.id(id.clone()));
                Ok(id)
            }
            Err(error) => {
                run.failed(step, &error);
                Ok(None)
            }
        };
    };
    let id = existing["id"].as_str().unwrap_or_default().to_owned();
    let Some((current, mut document)) = provider_claims(existing) else {
        run.plan(Step::blocked(
            POLICY,
            format!("{name:?}"),
            "its definition is not a claims mapping policy this can read: fix or rename it"
                .to_owned(),
        ));
        // Not assigned anywhere while it cannot be read.
        return Ok(None);
    };
    let missing: Vec<&String> = wiring
        .claims
        .iter()
        .filter(|claim| !current.contains(claim))
        .collect();
    if missing.is_empty() {
        run.plan(
            Step::new(POLICY, format!("{name:?}"), Action::None)
                .id(Some(id.clone()))
                .change(format!("maps {}", current.join(", "))),
        );
        return Ok(Some(id));
    }
    let step = Step::new(POLICY, format!("{name:?}"), Action::Update)
        .id(Some(id.clone()))
        .change(format!(
            "adds {} (keeps {})",
            missing
                .iter()
                .map(|claim| claim.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            if current.is_empty() {
                "none".to_owned()
            } else {
                current.join(", ")
            }
        ));
    if !run.will_write(&step) {
        run.plan(step);
        return Ok(Some(id));
    }
    let mut schema = document["ClaimsMappingPolicy"]["ClaimsSchema"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    schema.extend(missing.into_iter().map(schema_entry));
    document["ClaimsMappingPolicy"]["ClaimsSchema"] = Value::Array(schema);
    match run
        .graph
        .patch(
            &format!("/v1.0/policies/claimsMappingPolicies/{id}"),
            &json!({"definition": definition(&document)}),
            permission::POLICY_WRITE,
        )
        .await
    {
        Ok(()) => run.done(step),
        Err(error) => run.failed(step, &error),
    }
    Ok(Some(id))
}

/// The policy on one application's service principal; and whether the application accepts
/// mapped claims (read only: a warning, never changed).
async fn assignment(
    run: &mut Run<'_>,
    app: &str,
    policy: Option<&str>,
    policy_name: &str,
) -> Result<(), String> {
    let name = format!("application {app}");
    let principal = run
        .graph
        .get(
            &format!("/v1.0/servicePrincipals(appId='{app}')?$select=id,appId,displayName"),
            permission::APPLICATION_READ,
        )
        .await
        .map_err(|error| error.to_string())?;
    let Some(principal) = principal else {
        run.plan(Step::blocked(
            ASSIGNMENT,
            name,
            format!("the tenant has no service principal of {app}: is it the application (client) id of an app of this tenant?"),
        ));
        return Ok(());
    };
    let principal_id = principal["id"].as_str().unwrap_or_default().to_owned();
    let mut warnings = Vec::new();
    if let Some(registration) = run
        .graph
        .get(
            &format!("/v1.0/applications(appId='{app}')?$select=id,api"),
            permission::APPLICATION_READ,
        )
        .await
        .map_err(|error| error.to_string())?
        && registration["api"]["acceptMappedClaims"].as_bool() != Some(true)
    {
        warnings.push(
            "its app registration does not accept mapped claims: set \"acceptMappedClaims\": true in its manifest (api.acceptMappedClaims), or sign its tokens with a custom key, or the sign-in fails (AADSTS50146)".to_owned(),
        );
    }
    let assigned = run
        .graph
        .all(
            &format!("/v1.0/servicePrincipals/{principal_id}/claimsMappingPolicies"),
            permission::POLICY_READ,
        )
        .await
        .map_err(|error| error.to_string())?;
    let is_ours = |assigned: &Value| match policy {
        Some(policy) => assigned["id"]
            .as_str()
            .is_some_and(|id| id.eq_ignore_ascii_case(policy)),
        None => false,
    };
    let mut step = if assigned.iter().any(is_ours) {
        Step::new(ASSIGNMENT, name, Action::None).change(format!("has {policy_name:?}"))
    } else if let Some(other) = assigned.first() {
        Step::blocked(
            ASSIGNMENT,
            name,
            format!(
                "its service principal has another claims mapping policy ({:?}, {}), which stays: add the claims there, or remove it and run this again",
                other["displayName"].as_str().unwrap_or("?"),
                other["id"].as_str().unwrap_or("?")
            ),
        )
    } else {
        Step::new(ASSIGNMENT, name, Action::Create).change(format!("assigns {policy_name:?}"))
    };
    step.warnings = warnings;
    let Some(policy) = policy.filter(|_| run.will_write(&step)) else {
        run.plan(step);
        return Ok(());
    };
    let base = run.graph.base().to_owned();
    let body = json!({"@odata.id": format!("{base}/v1.0/policies/claimsMappingPolicies/{policy}")});
    match run
        .graph
        .post(
            &format!("/v1.0/servicePrincipals/{principal_id}/claimsMappingPolicies/$ref"),
            Some(&body),
            permission::POLICY_WRITE,
        )
        .await
    {
        Ok(_) => {
            run.created(
                "claims mapping policy assignment",
                format!("{policy_name} on {app}"),
                principal_id.clone(),
                format!("DELETE /v1.0/servicePrincipals/{principal_id}/claimsMappingPolicies/{policy}/$ref"),
            );
            run.done(step);
        }
        Err(error) => run.failed(step, &error),
    }
    Ok(())
}
