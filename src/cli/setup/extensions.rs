//! One custom authentication extension per wired event, found by its display name
//! (`<name> <function>`) and type: its target URL (the function's, with its key), its resource
//! (the app registration's identifier URI), timeout and retries, and for token issuance the
//! claims it provides; then Entra's own check of each.
//!
//! - `GET /v1.0/identity/customAuthenticationExtensions`,
//!   `POST /v1.0/identity/customAuthenticationExtensions`,
//!   `PATCH /v1.0/identity/customAuthenticationExtensions/{id}`;
//! - `POST /v1.0/identity/customAuthenticationExtensions/{id}/validateAuthenticationConfiguration`.

use serde_json::{Value, json};

use super::plan::{Action, Run, Step, Validation};
use super::wiring::Wiring;
use crate::cli::graph::{GraphEvent, permission};

const EXTENSION: &str = "custom authentication extension";

pub(super) async fn steps(wiring: &Wiring, run: &mut Run<'_>) -> Result<(), String> {
    let all = run
        .graph
        .all(
            "/v1.0/identity/customAuthenticationExtensions",
            permission::EXTENSION_READ,
        )
        .await
        .map_err(|error| error.to_string())?;
    run.learned.extension_names = all
        .iter()
        .filter_map(|extension| {
            Some((
                extension["id"].as_str()?.to_owned(),
                extension["displayName"]
                    .as_str()
                    .unwrap_or("(no name)")
                    .to_owned(),
            ))
        })
        .collect();
    for event in &wiring.events {
        extension(wiring, run, event, &all).await?;
    }
    Ok(())
}

/// The display name that marks an event's extension as this set-up's.
pub(super) fn display_name(wiring: &Wiring, event: &GraphEvent) -> String {
    format!("{} {}", wiring.name, event.name())
}

/// A target URL as it may be shown: its function key replaced.
pub(super) fn shown(url: &str) -> String {
    match url.split_once('?') {
        Some((base, query)) if query.contains("code=") => format!("{base}?code=(function key)"),
        _ => url.to_owned(),
    }
}

/// The function key in a target URL, if any.
fn key_of(url: &str) -> Option<&str> {
    url.split_once('?')?
        .1
        .split('&')
        .find_map(|pair| pair.strip_prefix("code="))
}

async fn extension(
    wiring: &Wiring,
    run: &mut Run<'_>,
    event: &GraphEvent,
    all: &[Value],
) -> Result<(), String> {
    let name = display_name(wiring, event);
    let matching: Vec<&Value> = all
        .iter()
        .filter(|extension| {
            extension["displayName"].as_str() == Some(name.as_str())
                && extension["@odata.type"]
                    .as_str()
                    .is_some_and(|kind| event.is_extension_type(kind))
        })
        .collect();
    let existing = match matching.as_slice() {
        [] => None,
        [one] => Some(*one),
        _ => {
            return Err(format!(
                "{} custom authentication extensions are named {name:?}: rename or remove all but one, and run it again",
                matching.len()
            ));
        }
    };
    let url = wiring.function_url(event.name());
    let current_url = existing
        .and_then(|extension| extension["endpointConfiguration"]["targetUrl"].as_str())
        .unwrap_or_default();
    // Without --code, a key the extension already has for this host stays.
    let key = wiring
        .keys
        .for_function(event.name())
        .map(str::to_owned)
        .or_else(|| {
            current_url
                .to_ascii_lowercase()
                .starts_with(&url.to_ascii_lowercase())
                .then(|| key_of(current_url).map(str::to_owned))
                .flatten()
        });
    let target = match &key {
        Some(key) => format!("{url}?code={key}"),
        None => url.clone(),
    };
    let resource = wiring.identifier_uri(run.learned.app_id());
    let Some(existing) = existing else {
        return create(wiring, run, event, name, &target, &resource).await;
    };
    let id = existing["id"].as_str().unwrap_or_default().to_owned();
    run.learned.extensions.push((event.name(), id.clone()));
    let mut changes = Vec::new();
    let mut patch = serde_json::Map::new();
    patch.insert("@odata.type".to_owned(), json!(event.extension_type()));
    if current_url != target {
        changes.push(if shown(current_url) == shown(&target) {
            "target URL: another function key".to_owned()
        } else {
            format!("target URL {} → {}", shown(current_url), shown(&target))
        });
        patch.insert("endpointConfiguration".to_owned(), endpoint(&target));
    }
    let current_resource = existing["authenticationConfiguration"]["resourceId"]
        .as_str()
        .unwrap_or_default();
    if !current_resource.eq_ignore_ascii_case(&resource) {
        changes.push(format!("resource {current_resource:?} → {resource}"));
        patch.insert(
            "authenticationConfiguration".to_owned(),
            authentication(&resource),
        );
    }
    let client = &existing["clientConfiguration"];
    let timeout = client["timeoutInMilliseconds"].as_u64();
    let retries = client["maximumRetries"].as_u64();
    if timeout != Some(u64::from(wiring.timeout_ms)) || retries != Some(u64::from(wiring.retries)) {
        changes.push(format!(
            "timeout {} → {} ms, retries {} → {}",
            timeout.map_or("(default)".to_owned(), |t| t.to_string()),
            wiring.timeout_ms,
            retries.map_or("(default)".to_owned(), |r| r.to_string()),
            wiring.retries
        ));
        patch.insert(
            "clientConfiguration".to_owned(),
            client_configuration(wiring),
        );
    }
    if event.is_token_issuance() {
        let current: Vec<String> = existing["claimsForTokenConfiguration"]
            .as_array()
            .map(|claims| {
                claims
                    .iter()
                    .filter_map(|claim| claim["claimIdInApiResponse"].as_str())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let missing: Vec<&String> = wiring
            .claims
            .iter()
            .filter(|claim| !current.contains(claim))
            .collect();
        if !missing.is_empty() {
            changes.push(format!(
                "claims: adds {} (keeps {})",
                join(&missing),
                if current.is_empty() {
                    "none".to_owned()
                } else {
                    current.join(", ")
                }
            ));
            let all: Vec<String> = current
                .iter()
                .cloned()
                .chain(missing.into_iter().cloned())
                .collect();
            patch.insert("claimsForTokenConfiguration".to_owned(), claims(&all));
        }
    }
    let action = if changes.is_empty() {
        changes.push(format!(
            "target URL {}, resource {current_resource}, timeout {} ms, {} retr{}",
            shown(current_url),
            wiring.timeout_ms,
            wiring.retries,
            if wiring.retries == 1 { "y" } else { "ies" }
        ));
        Action::None
    } else {
        Action::Update
    };
    let step = Step::new(EXTENSION, format!("{name:?}"), action)
        .id(Some(id.clone()))
        .changes(changes);
    if !run.will_write(&step) {
        run.plan(step);
        return Ok(());
    }
    match run
        .graph
        .patch(
            &format!("/v1.0/identity/customAuthenticationExtensions/{id}"),
            &Value::Object(patch),
            permission::EXTENSION_WRITE,
        )
        .await
    {
        Ok(()) => run.done(step),
        Err(error) => run.failed(step, &error),
    }
    Ok(())
}

async fn create(
    wiring: &Wiring,
    run: &mut Run<'_>,
    event: &GraphEvent,
    name: String,
    target: &str,
    resource: &str,
) -> Result<(), String> {
    let mut step = Step::new(EXTENSION, format!("{name:?}"), Action::Create)
        .change(format!(
            "{} for {}",
            event.extension_type().trim_start_matches('#'),
            event.name()
        ))
        .change(format!("target URL {}", shown(target)))
        .change(format!("resource {resource}"))
        .change(format!(
            "timeout {} ms, {} retr{}",
            wiring.timeout_ms,
            wiring.retries,
            if wiring.retries == 1 { "y" } else { "ies" }
        ));
    if event.is_token_issuance() {
        step = step.change(format!("claims {}", wiring.claims.join(", ")));
    }
    if !run.will_write(&step) || run.learned.app.is_none() {
        run.plan(step);
        return Ok(());
    }
    let mut body = json!({
        "@odata.type": event.extension_type(),
        "displayName": name,
        "description": format!("Calls the {} function of signup-gate; kept by `handler setup entra --name {}`", event.name(), wiring.name),
        "endpointConfiguration": endpoint(target),
        "authenticationConfiguration": authentication(resource),
        "clientConfiguration": client_configuration(wiring),
    });
    if event.is_token_issuance() {
        body["claimsForTokenConfiguration"] = claims(&wiring.claims);
    }
    match run
        .graph
        .post(
            "/v1.0/identity/customAuthenticationExtensions",
            Some(&body),
            permission::EXTENSION_WRITE,
        )
        .await
    {
        Ok(created) => {
            let Some(id) = created
                .as_ref()
                .and_then(|created| created["id"].as_str())
                .map(str::to_owned)
            else {
                return Err(format!(
                    "Graph created the extension {name:?} but named no id"
                ));
            };
            run.created(
                EXTENSION,
                format!("{name:?}"),
                id.clone(),
                format!("DELETE /v1.0/identity/customAuthenticationExtensions/{id}"),
            );
            run.learned.extensions.push((event.name(), id.clone()));
            run.learned.extension_names.push((id.clone(), name));
            run.done(step.id(Some(id)));
        }
        Err(error) => run.failed(step, &error),
    }
    Ok(())
}

fn endpoint(target: &str) -> Value {
    json!({"@odata.type": "#microsoft.graph.httpRequestEndpoint", "targetUrl": target})
}

fn authentication(resource: &str) -> Value {
    json!({"@odata.type": "#microsoft.graph.azureAdTokenAuthentication", "resourceId": resource})
}

fn client_configuration(wiring: &Wiring) -> Value {
    json!({"timeoutInMilliseconds": wiring.timeout_ms, "maximumRetries": wiring.retries})
}

fn claims(names: &[String]) -> Value {
    Value::Array(
        names
            .iter()
            .map(|name| json!({"claimIdInApiResponse": name}))
            .collect(),
    )
}

fn join(items: &[&String]) -> String {
    items
        .iter()
        .map(|item| item.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Entra's own check of each extension of this set-up: its resource's format and host, the
/// service principal, the permission.
pub(super) async fn validate(run: &mut Run<'_>) {
    let extensions = run.learned.extensions.clone();
    for (function, id) in extensions {
        let name = run.learned.extension_name(&id);
        let answer = run
            .graph
            .post(
                &format!(
                    "/v1.0/identity/customAuthenticationExtensions/{id}/validateAuthenticationConfiguration"
                ),
                None,
                permission::EXTENSION_WRITE,
            )
            .await;
        let list = |value: &Value, key: &str| -> Vec<String> {
            value[key]
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .map(|item| {
                            format!(
                                "{}: {}",
                                item["code"].as_str().unwrap_or("?"),
                                item["message"].as_str().unwrap_or_default()
                            )
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let validation = match answer {
            Ok(answer) => {
                let answer = answer.unwrap_or(Value::Null);
                Validation {
                    extension: format!("{name} ({function})"),
                    id,
                    errors: list(&answer, "errors"),
                    warnings: list(&answer, "warnings"),
                    failure: None,
                }
            }
            Err(error) => Validation {
                extension: format!("{name} ({function})"),
                id,
                errors: Vec::new(),
                warnings: Vec::new(),
                failure: Some(error.to_string()),
            },
        };
        run.validation.push(validation);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_url_is_shown_without_its_key() {
        assert_eq!(
            shown("https://gate.example.net/api/OnAttributeCollectionStart?code=s3cret=="),
            "https://gate.example.net/api/OnAttributeCollectionStart?code=(function key)"
        );
        assert_eq!(
            shown("https://gate.example.net/api/OnAttributeCollectionStart"),
            "https://gate.example.net/api/OnAttributeCollectionStart"
        );
        assert_eq!(key_of("https://h/api/F?code=abc=="), Some("abc=="));
        assert_eq!(key_of("https://h/api/F"), None);
    }
}
