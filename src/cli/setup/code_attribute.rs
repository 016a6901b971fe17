//! The invitation code attribute (`--invitation-code-attribute`): a custom user flow attribute
//! the user types a code into, on the user flow's page, never written to the user
//! (`writeToDirectory: false`), with a pattern that takes dashes, spaces and a leading digit.
//!
//! - `GET /v1.0/identity/userFlowAttributes`, `POST /v1.0/identity/userFlowAttributes`;
//! - `POST /v1.0/identity/authenticationEventsFlows/{id}/microsoft.graph.externalUsersSelfServiceSignUpEventsFlow/onAttributeCollection/microsoft.graph.onAttributeCollectionExternalUsersSelfServiceSignUp/attributes/$ref`;
//! - `PATCH /v1.0/identity/authenticationEventsFlows/{id}` with the page's every input (Graph
//!   drops an input the PATCH leaves out, so every other input is sent back as it was read).

use serde_json::{Value, json};

use super::plan::{Action, Run, Step};
use crate::cli::graph::permission;

const ATTRIBUTE: &str = "user flow attribute";
const INPUT: &str = "user flow input";
/// Codes are typed in groups (`XXXX-XXXX-XXXX-XXXX`), in any case, with spaces or dashes.
pub(crate) const CODE_PATTERN: &str = "^[0-9A-Za-z -]{0,64}$";

pub(super) async fn steps(name: &str, run: &mut Run<'_>) -> Result<(), String> {
    let attributes = run
        .graph
        .all(
            "/v1.0/identity/userFlowAttributes",
            permission::USER_FLOW_READ,
        )
        .await
        .map_err(|error| error.to_string())?;
    let existing = attributes.iter().find(|attribute| {
        attribute["displayName"]
            .as_str()
            .is_some_and(|known| known.eq_ignore_ascii_case(name))
            && attribute["userFlowAttributeType"].as_str() != Some("builtIn")
    });
    let id = match existing {
        Some(attribute) => {
            let id = attribute["id"].as_str().unwrap_or_default().to_owned();
            if attribute["dataType"].as_str() != Some("string") {
                run.plan(Step::blocked(
                    ATTRIBUTE,
                    format!("{name:?}"),
                    format!(
                        "the attribute {name:?} exists with data type {}, not string: choose another name",
                        attribute["dataType"]
                    ),
                ));
                return Ok(());
            }
            run.plan(Step::new(ATTRIBUTE, format!("{name:?}"), Action::None).id(Some(id.clone())));
            Some(id)
        }
        None => create(name, run).await,
    };
    let Some((flow_id, flow_name)) = run.learned.flow.clone() else {
        return Ok(());
    };
    let Some(id) = id else {
        plan_on_flow(run, &flow_name, name, true);
        return Ok(());
    };
    let flow = read_flow(run, &flow_id).await?;
    let listed = flow["onAttributeCollection"]["attributes"]
        .as_array()
        .is_some_and(|attributes| {
            attributes.iter().any(|attribute| {
                attribute["id"]
                    .as_str()
                    .is_some_and(|known| known.eq_ignore_ascii_case(&id))
            })
        });
    let flow = if listed {
        flow
    } else {
        let step = Step::new(INPUT, format!("{flow_name:?}: {name}"), Action::Create)
            .change("adds the attribute to the flow's attribute page");
        if !run.will_write(&step) {
            run.plan(step);
            plan_on_flow(run, &flow_name, name, false);
            return Ok(());
        }
        let base = run.graph.base().to_owned();
        let body = json!({"@odata.id": format!("{base}/v1.0/identity/userFlowAttributes/{id}")});
        match run
            .graph
            .post(
                &format!(
                    "/v1.0/identity/authenticationEventsFlows/{flow_id}/microsoft.graph.externalUsersSelfServiceSignUpEventsFlow/onAttributeCollection/microsoft.graph.onAttributeCollectionExternalUsersSelfServiceSignUp/attributes/$ref"
                ),
                Some(&body),
                permission::LISTENER_WRITE,
            )
            .await
        {
            Ok(_) => run.done(step),
            Err(error) => {
                run.failed(step, &error);
                plan_on_flow(run, &flow_name, name, false);
                return Ok(());
            }
        }
        read_flow(run, &flow_id).await?
    };
    input(run, &flow, &flow_id, &flow_name, name, &id).await;
    Ok(())
}

async fn create(name: &str, run: &mut Run<'_>) -> Option<String> {
    let step = Step::new(ATTRIBUTE, format!("{name:?}"), Action::Create)
        .change("a custom attribute of type string, for the invitation code");
    if !run.will_write(&step) {
        run.plan(step);
        return None;
    }
    let body = json!({
        "displayName": name,
        "description": "Invitation code (signup-gate): checked at sign-up, never stored on the user",
        "dataType": "string",
    });
    match run
        .graph
        .post(
            "/v1.0/identity/userFlowAttributes",
            Some(&body),
            permission::USER_FLOW_WRITE,
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
                    ATTRIBUTE,
                    format!("{name:?}"),
                    id.clone(),
                    format!("DELETE /v1.0/identity/userFlowAttributes/{id}"),
                );
            }
            run.done(step.id(id.clone()));
            id
        }
        Err(error) => {
            run.failed(step, &error);
            None
        }
    }
}

async fn read_flow(run: &mut Run<'_>, flow_id: &str) -> Result<Value, String> {
    run.graph
        .get(
            &format!("/v1.0/identity/authenticationEventsFlows/{flow_id}"),
            permission::LISTENER_READ,
        )
        .await
        .map_err(|error| error.to_string())?
        .ok_or_else(|| format!("the user flow {flow_id} is gone"))
}

/// The steps on the flow that follow once the attribute exists (a plan, or after a failure).
fn plan_on_flow(run: &mut Run<'_>, flow_name: &str, name: &str, add: bool) {
    if add {
        run.plan(
            Step::new(INPUT, format!("{flow_name:?}: {name}"), Action::Create)
                .change("adds the attribute to the flow's attribute page"),
        );
    }
    run.plan(
        Step::new(
            INPUT,
            format!("{flow_name:?}: {name} input"),
            Action::Update,
        )
        .change(format!(
            "writeToDirectory false, optional, pattern {CODE_PATTERN}"
        )),
    );
}

/// The attribute's input on the flow's page: not written to the user, optional, and a pattern
/// that takes codes as people type them; every other input sent back as it was.
async fn input(
    run: &mut Run<'_>,
    flow: &Value,
    flow_id: &str,
    flow_name: &str,
    name: &str,
    id: &str,
) {
    let step_name = format!("{flow_name:?}: {name} input");
    let mut page = flow["onAttributeCollection"]["attributeCollectionPage"].clone();
    let mut found = None;
    if let Some(views) = page["views"].as_array_mut() {
        for view in views {
            if let Some(inputs) = view["inputs"].as_array_mut() {
                for input in inputs {
                    if input["attribute"]
                        .as_str()
                        .is_some_and(|known| known.eq_ignore_ascii_case(id))
                    {
                        found = Some(input.clone());
                        input["writeToDirectory"] = json!(false);
                        input["required"] = json!(false);
                        input["validationRegEx"] = json!(CODE_PATTERN);
                        if input["inputType"].is_null() {
                            input["inputType"] = json!("text");
                        }
                    }
                }
            }
        }
    }
    let Some(current) = found else {
        run.plan(Step::blocked(
            INPUT,
            step_name,
            format!("the flow lists the attribute but its page has no input for {id}: add it in the admin center (User flows → Page layouts)"),
        ));
        return;
    };
    let right = current["writeToDirectory"] == json!(false)
        && current["required"] == json!(false)
        && current["validationRegEx"] == json!(CODE_PATTERN);
    if right {
        run.plan(Step::new(INPUT, step_name, Action::None).change(format!(
            "writeToDirectory false, optional, pattern {CODE_PATTERN}"
        )));
        return;
    }
    let step = Step::new(INPUT, step_name, Action::Update).change(format!(
        "writeToDirectory {} → false, required {} → false, pattern {} → {CODE_PATTERN}",
        current["writeToDirectory"], current["required"], current["validationRegEx"]
    ));
    if !run.will_write(&step) {
        run.plan(step);
        return;
    }
    let body = json!({
        "@odata.type": "#microsoft.graph.externalUsersSelfServiceSignUpEventsFlow",
        "onAttributeCollection": {
            "@odata.type": "#microsoft.graph.onAttributeCollectionExternalUsersSelfServiceSignUp",
            "attributeCollectionPage": page,
        }
    });
    match run
        .graph
        .patch(
            &format!("/v1.0/identity/authenticationEventsFlows/{flow_id}"),
            &body,
            permission::LISTENER_WRITE,
        )
        .await
    {
        Ok(()) => run.done(step),
        Err(error) => run.failed(step, &error),
    }
}
