//! The named user flow's Start and Submit handlers, pointed at this set-up's extensions.
//!
//! Graph v1.0's `externalUsersSelfServiceSignUpEventsFlow` has `onAttributeCollectionStart` and
//! `onAttributeCollectionSubmit`, but its update page does not list them (*open*: no document
//! shows this PATCH). So the flow is patched first
//! (`PATCH /v1.0/identity/authenticationEventsFlows/{id}` with the flow's `@odata.type`), and if
//! Graph refuses the request as such, a beta listener is created for the flow's applications
//! instead (`POST /beta/identity/authenticationEventListeners`,
//! `onAttributeCollectionStartListener` / `SubmitListener` with the flow's id). The plan and the
//! result say which.

use serde_json::{Value, json};

use super::extensions::display_name;
use super::plan::{Action, Run, Step};
use super::wiring::Wiring;
use crate::cli::graph::{GraphEvent, permission};

const HANDLER: &str = "user flow handler";
const FLOW_TYPE: &str = "#microsoft.graph.externalUsersSelfServiceSignUpEventsFlow";

pub(super) async fn steps(wiring: &Wiring, wanted: &str, run: &mut Run<'_>) -> Result<(), String> {
    let flows = run
        .graph
        .all(
            "/v1.0/identity/authenticationEventsFlows",
            permission::LISTENER_READ,
        )
        .await
        .map_err(|error| error.to_string())?;
    let matching: Vec<&Value> = flows
        .iter()
        .filter(|flow| {
            flow["id"]
                .as_str()
                .is_some_and(|id| id.eq_ignore_ascii_case(wanted))
                || flow["displayName"]
                    .as_str()
                    .is_some_and(|name| name.eq_ignore_ascii_case(wanted))
        })
        .collect();
    let flow = match matching.as_slice() {
        [flow] => *flow,
        [] => {
            let names: Vec<&str> = flows
                .iter()
                .filter_map(|flow| flow["displayName"].as_str())
                .collect();
            return Err(format!(
                "--user-flow {wanted:?}: the tenant has no such user flow (its user flows: {})",
                if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(", ")
                }
            ));
        }
        _ => {
            return Err(format!(
                "--user-flow {wanted:?}: {} user flows have that name; give its id",
                matching.len()
            ));
        }
    };
    let id = flow["id"].as_str().unwrap_or_default().to_owned();
    let flow_name = flow["displayName"].as_str().unwrap_or(&id).to_owned();
    run.learned.flow = Some((id.clone(), flow_name.clone()));
    let applications = flow_applications(run, &id).await?;
    // Beta listeners are where the fallback put an earlier run's handlers; a tenant (or cloud)
    // without them simply has none.
    let listeners = match run
        .graph
        .all(
            "/beta/identity/authenticationEventListeners",
            permission::LISTENER_READ,
        )
        .await
    {
        Ok(listeners) => listeners,
        Err(error) => {
            run.warn(format!(
                "the beta listeners could not be read ({error}): handlers set through them by an earlier run are not seen"
            ));
            Vec::new()
        }
    };
    for event in wiring
        .events
        .iter()
        .filter(|event| !event.is_token_issuance())
    {
        // Every write is preceded by a read: the flow as it is now.
        let flow = run
            .graph
            .get(
                &format!("/v1.0/identity/authenticationEventsFlows/{id}"),
                permission::LISTENER_READ,
            )
            .await
            .map_err(|error| error.to_string())?
            .ok_or_else(|| format!("the user flow {flow_name:?} ({id}) is gone"))?;
        handler(
            wiring,
            run,
            event,
            &flow,
            &flow_name,
            &applications,
            &listeners,
        )
        .await;
    }
    Ok(())
}

/// The application ids the flow is for (`conditions/applications/includeApplications`).
async fn flow_applications(run: &mut Run<'_>, flow: &str) -> Result<Vec<String>, String> {
    let applications: Vec<String> = run
        .graph
        .all(
            &format!(
                "/v1.0/identity/authenticationEventsFlows/{flow}/conditions/applications/includeApplications"
            ),
            permission::LISTENER_READ,
        )
        .await
        .map_err(|error| error.to_string())?
        .iter()
        .filter_map(|application| application["appId"].as_str().map(str::to_owned))
        .collect();
    if applications.is_empty() {
        run.warn(
            "the user flow has no applications: nobody signs up through it until one is added (User flows → the flow → Applications)",
        );
    }
    Ok(applications)
}

/// This set-up's beta listener of `event` for the flow, if an earlier run made one.
fn beta_listener<'a>(
    listeners: &'a [Value],
    event: &GraphEvent,
    flow: &str,
    extension: &str,
) -> Option<&'a Value> {
    listeners.iter().find(|listener| {
        listener["@odata.type"]
            .as_str()
            .is_some_and(|kind| kind.eq_ignore_ascii_case(&event.listener_type()))
            && listener["authenticationEventsFlowId"]
                .as_str()
                .is_some_and(|id| id.eq_ignore_ascii_case(flow))
            && listener["handler"]["customExtension"]["id"]
                .as_str()
                .is_some_and(|id| id.eq_ignore_ascii_case(extension))
    })
}

async fn handler(
    wiring: &Wiring,
    run: &mut Run<'_>,
    event: &GraphEvent,
    flow: &Value,
    flow_name: &str,
    applications: &[String],
    listeners: &[Value],
) {
    let flow_id = flow["id"].as_str().unwrap_or_default();
    let name = format!("{flow_name:?}: {}", event.stage());
    let ours = run.learned.extension(event.name()).map(str::to_owned);
    let wanted = format!("{:?}", display_name(wiring, event));
    let current = &flow[event.stage()];
    let current_extension = current["customExtension"]["id"].as_str();
    let is_handler = current["@odata.type"]
        .as_str()
        .is_some_and(|kind| kind.eq_ignore_ascii_case(&event.handler_type()));
    if let Some(ours) = &ours {
        if is_handler && current_extension.is_some_and(|id| id.eq_ignore_ascii_case(ours)) {
            run.plan(
                Step::new(HANDLER, name, Action::None)
                    .change(format!("calls {wanted}"))
                    .via("the user flow (v1.0)"),
            );
            return;
        }
        if let Some(listener) = beta_listener(listeners, event, flow_id, ours) {
            run.plan(
                Step::new(HANDLER, name, Action::None)
                    .id(listener["id"].as_str())
                    .change(format!("calls {wanted}"))
                    .via("a beta listener (Graph refused the v1.0 user flow's handler)"),
            );
            return;
        }
    }
    let now = match (is_handler, current_extension) {
        (true, Some(id)) => run.learned.extension_name(id),
        // Graph documents customExtension as a relationship, which a read may leave out.
        (true, None) => "an extension Graph did not name".to_owned(),
        _ => "no extension".to_owned(),
    };
    let step = Step::new(HANDLER, name, Action::Update)
        .change(format!("calls {wanted} (now: {now})"))
        .via(
            "PATCH of the v1.0 user flow; a beta listener for its applications if Graph refuses it",
        );
    let Some(ours) = ours.filter(|_| run.will_write(&step)) else {
        run.plan(step);
        return;
    };
    let handler = json!({"@odata.type": event.handler_type(), "customExtension": {"id": ours}});
    let body = json!({"@odata.type": FLOW_TYPE, event.stage(): handler});
    let refused = match run
        .graph
        .patch(
            &format!("/v1.0/identity/authenticationEventsFlows/{flow_id}"),
            &body,
            permission::LISTENER_WRITE,
        )
        .await
    {
        Ok(()) => {
            run.done(step.via("the user flow (v1.0)"));
            return;
        }
        Err(error) if error.is_refusal() => error,
        Err(error) => {
            run.failed(step, &error);
            return;
        }
    };
    let step = step.via(format!(
        "a beta listener for the flow's applications (Graph refused the v1.0 user flow's handler: {refused})"
    ));
    if applications.is_empty() {
        let mut step = step;
        step.problem = Some(
            "the user flow has no applications for a listener to name: add one, and run it again"
                .to_owned(),
        );
        run.plan(step);
        return;
    }
    let listener = json!({
        "@odata.type": event.listener_type(),
        "authenticationEventsFlowId": flow_id,
        "priority": 500,
        "conditions": {"applications": {"includeApplications":
            applications.iter().map(|app| json!({"appId": app})).collect::<Vec<_>>()}},
        "handler": handler,
    });
    match run
        .graph
        .post(
            "/beta/identity/authenticationEventListeners",
            Some(&listener),
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
                    "listener",
                    format!(
                        "{} of {flow_name:?}",
                        event.listener_type().trim_start_matches('#')
                    ),
                    id.clone(),
                    format!("DELETE /beta/identity/authenticationEventListeners/{id}"),
                );
            }
            run.done(step.id(id));
        }
        Err(error) => run.failed(step, &error),
    }
}
