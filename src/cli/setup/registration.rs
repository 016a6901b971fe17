//! The API's app registration (found by its tag), its service principal, the authentication
//! events service's principal, and admin consent for Graph's
//! `CustomAuthenticationExtension.Receive.Payload`.
//!
//! - `GET /v1.0/applications?$filter=tags/any(t:t eq '<tag>')`, `POST /v1.0/applications`,
//!   `PATCH /v1.0/applications/{id}` (identifier URI, token version, required access);
//! - `GET /v1.0/servicePrincipals(appId='…')`, `POST /v1.0/servicePrincipals`;
//! - `GET /v1.0/servicePrincipals/{id}/appRoleAssignments`,
//!   `POST /v1.0/servicePrincipals/{graph's id}/appRoleAssignedTo`.

use serde_json::{Value, json};

use super::plan::{Action, Run, Step};
use super::wiring::Wiring;
use crate::callers::entra::AUTHENTICATION_EVENTS_APP_ID;
use crate::cli::graph::{GRAPH_APP_ID, RECEIVE_PAYLOAD, RECEIVE_PAYLOAD_ROLE, permission};
use crate::domain::application::Guid;

const APP: &str = "app registration";
const PRINCIPAL: &str = "service principal";
const CONSENT: &str = "admin consent";

pub(super) async fn steps(wiring: &Wiring, run: &mut Run<'_>) -> Result<(), String> {
    app_registration(wiring, run).await?;
    let app_id = run.learned.app_id().map(str::to_owned);
    let principal = service_principal(
        run,
        app_id.as_deref(),
        &format!("of the app registration {:?}", wiring.name),
        true,
    )
    .await?;
    run.learned.service_principal = principal.clone();
    service_principal(
        run,
        Some(AUTHENTICATION_EVENTS_APP_ID),
        &format!("of the authentication events service ({AUTHENTICATION_EVENTS_APP_ID})"),
        false,
    )
    .await?;
    consent(run, principal.as_deref()).await
}

/// The app registration the extensions authenticate as.
async fn app_registration(wiring: &Wiring, run: &mut Run<'_>) -> Result<(), String> {
    let tag = wiring.marker();
    let found = run
        .graph
        .all(
            &format!(
                "/v1.0/applications?$filter=tags/any(t:t eq '{tag}')&$select=id,appId,displayName,identifierUris,api,requiredResourceAccess,tags"
            ),
            permission::APPLICATION_READ,
        )
        .await
        .map_err(|error| error.to_string())?;
    let name = format!("{:?}", wiring.name);
    let app = match found.as_slice() {
        [] => None,
        [app] => Some(app.clone()),
        _ => {
            return Err(format!(
                "{} app registrations carry the tag {tag}: remove the tag from all but one (App registrations → Manifest → tags) and run it again",
                found.len()
            ));
        }
    };
    let Some(app) = app else {
        return create_app(wiring, run, name, &tag).await;
    };
    let object_id = app["id"].as_str().unwrap_or_default().to_owned();
    let app_id = app["appId"].as_str().unwrap_or_default().to_owned();
    if Guid::parse(&object_id).is_err() || Guid::parse(&app_id).is_err() {
        return Err(format!(
            "the app registration tagged {tag} has no id or appId (GUIDs) in Graph's answer"
        ));
    }
    run.learned.app = Some((object_id.clone(), app_id.clone()));
    let (changes, patch) = app_changes(wiring, &app, &app_id);
    let action = if patch.as_object().is_some_and(|patch| patch.is_empty()) {
        Action::None
    } else {
        Action::Update
    };
    let mut step = Step::new(APP, name, action)
        .id(Some(format!("app id {app_id}")))
        .changes(changes);
    if action == Action::None {
        step = step.change(format!(
            "identifier URI {}",
            wiring.identifier_uri(Some(&app_id))
        ));
    }
    if !run.will_write(&step) {
        run.plan(step);
        return Ok(());
    }
    match run
        .graph
        .patch(
            &format!("/v1.0/applications/{object_id}"),
            &patch,
            permission::APPLICATION_WRITE,
        )
        .await
    {
        Ok(()) => run.done(step),
        Err(error) => run.failed(step, &error),
    }
    Ok(())
}

/// Creates the app registration with its tag, then gives it its identifier URI (which names
/// the application id Graph assigns).
async fn create_app(
    wiring: &Wiring,
    run: &mut Run<'_>,
    name: String,
    tag: &str,
) -> Result<(), String> {
    let step = |app_id: Option<&str>| {
        Step::new(APP, name.clone(), Action::Create)
            .change(format!("identifier URI {}", wiring.identifier_uri(app_id)))
            .change("access tokens v2 (api.requestedAccessTokenVersion 2)")
            .change(format!(
                "requests Microsoft Graph's {RECEIVE_PAYLOAD} (application permission)"
            ))
            .change(format!("tag {tag}: how later runs find it"))
    };
    if !run.will_write(&step(None)) {
        run.plan(step(None));
        return Ok(());
    }
    let body = json!({
        "displayName": wiring.name,
        "tags": [tag],
        "signInAudience": "AzureADMyOrg",
        "api": {"requestedAccessTokenVersion": 2},
        "requiredResourceAccess": [graph_access()],
    });
    let created = match run
        .graph
        .post(
            "/v1.0/applications",
            Some(&body),
            permission::APPLICATION_WRITE,
        )
        .await
    {
        Ok(created) => created.unwrap_or(Value::Null),
        Err(error) => {
            run.failed(step(None), &error);
            return Ok(());
        }
    };
    // Both go into request paths, the identifier URI and the app settings.
    let ids = (created["id"].as_str(), created["appId"].as_str());
    let (Some(object_id), Some(app_id)) = ids else {
        return Err("Graph created the app registration but named no id or appId".to_owned());
    };
    if Guid::parse(object_id).is_err() || Guid::parse(app_id).is_err() {
        return Err(
            "Graph created the app registration but its id or appId is not a GUID".to_owned(),
        );
    }
    let (object_id, app_id) = (object_id.to_owned(), app_id.to_owned());
    run.created(
        APP,
        name.clone(),
        format!("app id {app_id}"),
        format!("az ad app delete --id {app_id}"),
    );
    run.learned.app = Some((object_id.clone(), app_id.clone()));
    let step = step(Some(&app_id)).id(Some(format!("app id {app_id}")));
    let uris = json!({"identifierUris": [wiring.identifier_uri(Some(&app_id))]});
    match run
        .graph
        .patch(
            &format!("/v1.0/applications/{object_id}"),
            &uris,
            permission::APPLICATION_WRITE,
        )
        .await
    {
        Ok(()) => run.done(step),
        Err(error) => run.failed(step, &error),
    }
    Ok(())
}

/// Graph's `CustomAuthenticationExtension.Receive.Payload` in `requiredResourceAccess`.
fn graph_access() -> Value {
    json!({"resourceAppId": GRAPH_APP_ID,
           "resourceAccess": [{"id": RECEIVE_PAYLOAD_ROLE, "type": "Role"}]})
}

/// What an existing app registration lacks, and the PATCH that gives it (each property whole,
/// as Graph replaces it, with everything the app had kept).
fn app_changes(wiring: &Wiring, app: &Value, app_id: &str) -> (Vec<String>, Value) {
    let mut changes = Vec::new();
    let mut patch = serde_json::Map::new();
    let desired = wiring.identifier_uri(Some(app_id));
    let uris: Vec<String> = app["identifierUris"]
        .as_array()
        .map(|uris| {
            uris.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    // Ours are `api://<host>/<app id>`: one that names another host is moved, others stay.
    let suffix = format!("/{}", app_id.to_ascii_lowercase());
    let is_ours = |uri: &str| {
        let uri = uri.to_ascii_lowercase();
        uri.starts_with("api://") && uri.ends_with(&suffix)
    };
    if !uris.iter().any(|uri| uri.eq_ignore_ascii_case(&desired)) {
        let moved: Vec<&String> = uris.iter().filter(|uri| is_ours(uri)).collect();
        changes.push(match moved.as_slice() {
            [] => format!("identifier URI {desired} (it has none for this host)"),
            old => format!(
                "identifier URI {} → {desired}",
                old.iter()
                    .map(|uri| uri.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
        let mut new: Vec<String> = vec![desired];
        new.extend(uris.iter().filter(|uri| !is_ours(uri)).cloned());
        patch.insert("identifierUris".to_owned(), json!(new));
    }
    let mut api = app["api"].as_object().cloned().unwrap_or_default();
    if api
        .get("requestedAccessTokenVersion")
        .and_then(Value::as_i64)
        != Some(2)
    {
        changes.push("access tokens v2 (api.requestedAccessTokenVersion 2)".to_owned());
        api.insert("requestedAccessTokenVersion".to_owned(), json!(2));
        patch.insert("api".to_owned(), Value::Object(api));
    }
    let mut access: Vec<Value> = app["requiredResourceAccess"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let requested = access.iter().any(|resource| {
        resource["resourceAppId"]
            .as_str()
            .is_some_and(|id| id.eq_ignore_ascii_case(GRAPH_APP_ID))
            && resource["resourceAccess"].as_array().is_some_and(|roles| {
                roles.iter().any(|role| {
                    role["id"]
                        .as_str()
                        .is_some_and(|id| id.eq_ignore_ascii_case(RECEIVE_PAYLOAD_ROLE))
                })
            })
    });
    if !requested {
        changes.push(format!(
            "requests Microsoft Graph's {RECEIVE_PAYLOAD} (application permission)"
        ));
        match access.iter_mut().find(|resource| {
            resource["resourceAppId"]
                .as_str()
                .is_some_and(|id| id.eq_ignore_ascii_case(GRAPH_APP_ID))
        }) {
            Some(graph) => {
                let roles = graph["resourceAccess"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let mut roles = roles;
                roles.push(json!({"id": RECEIVE_PAYLOAD_ROLE, "type": "Role"}));
                graph["resourceAccess"] = Value::Array(roles);
            }
            None => access.push(graph_access()),
        }
        patch.insert("requiredResourceAccess".to_owned(), Value::Array(access));
    }
    (changes, Value::Object(patch))
}

/// The service principal of `app_id` (`None`: the app is still to be created): found, or
/// created. Returns its id when it exists.
async fn service_principal(
    run: &mut Run<'_>,
    app_id: Option<&str>,
    name: &str,
    ours: bool,
) -> Result<Option<String>, String> {
    let existing = match app_id {
        Some(app_id) => run
            .graph
            .get(
                &format!("/v1.0/servicePrincipals(appId='{app_id}')?$select=id,appId"),
                permission::APPLICATION_READ,
            )
            .await
            .map_err(|error| error.to_string())?,
        None => None,
    };
    if let Some(principal) = existing {
        let id = principal["id"].as_str().map(str::to_owned);
        run.plan(Step::new(PRINCIPAL, name, Action::None).id(id.clone()));
        return Ok(id);
    }
    let mut step = Step::new(PRINCIPAL, name, Action::Create);
    if !ours {
        step =
            step.change("Entra calls the extensions as this service; without it every call fails");
    }
    let Some(app_id) = app_id.filter(|_| run.will_write(&step)) else {
        run.plan(step);
        return Ok(None);
    };
    match run
        .graph
        .post(
            "/v1.0/servicePrincipals",
            Some(&json!({"appId": app_id})),
            permission::APPLICATION_WRITE,
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
                    PRINCIPAL,
                    name,
                    id.clone(),
                    format!("az ad sp delete --id {id}"),
                );
            }
            run.done(step.id(id.clone()));
            Ok(id)
        }
        Err(error) => {
            run.failed(step, &error);
            Ok(None)
        }
    }
}

/// Admin consent: the app's service principal holds Graph's app role.
async fn consent(run: &mut Run<'_>, principal: Option<&str>) -> Result<(), String> {
    let name = format!("{RECEIVE_PAYLOAD} (app role {RECEIVE_PAYLOAD_ROLE})");
    let graph_principal = run
        .graph
        .get(
            &format!("/v1.0/servicePrincipals(appId='{GRAPH_APP_ID}')?$select=id,appId"),
            permission::APPLICATION_READ,
        )
        .await
        .map_err(|error| error.to_string())?
        .and_then(|principal| principal["id"].as_str().map(str::to_owned))
        .ok_or_else(|| {
            format!(
                "the tenant has no service principal of Microsoft Graph ({GRAPH_APP_ID}): Entra fails every call (error 1003022)"
            )
        })?;
    let granted = match principal {
        Some(principal) => run
            .graph
            .all(
                &format!("/v1.0/servicePrincipals/{principal}/appRoleAssignments"),
                permission::APPLICATION_READ,
            )
            .await
            .map_err(|error| error.to_string())?
            .into_iter()
            .find(|assignment| {
                assignment["appRoleId"]
                    .as_str()
                    .is_some_and(|role| role.eq_ignore_ascii_case(RECEIVE_PAYLOAD_ROLE))
                    && assignment["resourceId"]
                        .as_str()
                        .is_some_and(|resource| resource.eq_ignore_ascii_case(&graph_principal))
            }),
        None => None,
    };
    if let Some(assignment) = granted {
        run.plan(
            Step::new(CONSENT, name, Action::None)
                .id(assignment["id"].as_str())
                .change("granted"),
        );
        return Ok(());
    }
    let step = Step::new(CONSENT, name, Action::Create)
        .change("grants it to the app registration's service principal (without it Entra fails every call: error 1003021)");
    let Some(principal) = principal.filter(|_| run.will_write(&step)) else {
        run.plan(step);
        return Ok(());
    };
    let body = json!({"principalId": principal, "resourceId": graph_principal, "appRoleId": RECEIVE_PAYLOAD_ROLE});
    match run
        .graph
        .post(
            &format!("/v1.0/servicePrincipals/{graph_principal}/appRoleAssignedTo"),
            Some(&body),
            permission::ROLE_ASSIGNMENT_WRITE,
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
                    CONSENT,
                    RECEIVE_PAYLOAD,
                    id.clone(),
                    format!(
                        "DELETE /v1.0/servicePrincipals/{graph_principal}/appRoleAssignedTo/{id}"
                    ),
                );
            }
            run.done(step.id(id));
        }
        Err(error) => run.failed(step, &error),
    }
    Ok(())
}
