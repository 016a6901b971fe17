//! The gate's decisions as Application Insights holds them (each decision is a request with its
//! facts in `customDimensions`, docs/telemetry.md), read through its query API for
//! `doctor --signins --ai-app-id`:
//! `POST https://api.applicationinsights.io/v1/apps/{app id}/query` with
//! `{"query": "<Kusto>", "timespan": "PT…S"}` and an Entra token for
//! `https://api.applicationinsights.io`; the answer is `{"tables": [{"columns": [{"name"}],
//! "rows": [[…]]}]}`.

use std::time::Duration;

use serde_json::{Value, json};

use crate::domain::application::Guid;
use crate::outbound::{is_loopback_host, read_capped};

/// The query API's hosts: Azure, US Government, China.
const HOSTS: &[&str] = &[
    "api.applicationinsights.io",
    "api.applicationinsights.us",
    "api.applicationinsights.azure.cn",
];
/// The resource its tokens are for.
pub(super) const RESOURCE: &str = "https://api.applicationinsights.io";
/// Where `--ai-token` may come from besides the flag.
pub(super) const TOKEN_VARIABLE: &str = "SIGNUP_GATE_AI_TOKEN";
/// The most decisions read.
const MAX_ROWS: usize = 10_000;
const MAX_ANSWER_BYTES: usize = 32 * 1024 * 1024;
const DEADLINE: Duration = Duration::from_secs(30);

/// The query API's base URL, checked: one of its hosts over https, or loopback.
pub(super) fn check_url(url: &str) -> Result<String, String> {
    let parsed = reqwest::Url::parse(url).map_err(|error| format!("--ai-url {url:?}: {error}"))?;
    let host = parsed.host_str().unwrap_or_default().to_ascii_lowercase();
    let allowed = match parsed.scheme() {
        "https" => HOSTS.contains(&host.as_str()) || is_loopback_host(&host),
        "http" => is_loopback_host(&host),
        _ => false,
    };
    if !allowed
        || parsed.path() != "/"
        || parsed.query().is_some()
        || !parsed.username().is_empty()
        || parsed.password().is_some()
    {
        return Err(format!(
            "--ai-url {url:?} is not Application Insights' query API (https://{})",
            HOSTS[0]
        ));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

/// The query: each decision with Entra's correlation id in the window, as a decision line has
/// it.
fn query(limit: usize) -> String {
    format!(
        "requests \
         | where isnotempty(tostring(customDimensions.entra_correlation_id)) \
         | project timestamp, function = name, outcome = tostring(customDimensions.outcome), \
           reason = tostring(customDimensions.reason), email = tostring(customDimensions.email), \
           entra_correlation_id = tostring(customDimensions.entra_correlation_id), \
           invocation_id = tostring(customDimensions.invocation_id) \
         | order by timestamp desc | take {limit}"
    )
}

/// The decisions of the window: (Entra's correlation id, the decision as a line).
pub(super) async fn decisions(
    base: &str,
    app_id: &str,
    token: &str,
    window: Duration,
) -> Result<Vec<(String, String)>, String> {
    let app_id = Guid::parse(app_id).map_err(|error| {
        format!("--ai-app-id: {error} (Application Insights, API Access, Application ID)")
    })?;
    let client = crate::outbound::client()
        .timeout(DEADLINE)
        .build()
        .map_err(|error| crate::printable::with_causes(&error))?;
    let path = format!("/v1/apps/{app_id}/query");
    let response = client
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(
            json!({"query": query(MAX_ROWS), "timespan": format!("PT{}S", window.as_secs())})
                .to_string(),
        )
        .send()
        .await
        .map_err(|error| {
            format!(
                "POST {path}: {}",
                crate::printable::with_causes(&error.without_url())
            )
        })?;
    let status = response.status().as_u16();
    let body = read_capped(response, MAX_ANSWER_BYTES)
        .await
        .map_err(|error| format!("POST {path}: {error}"))?;
    let answer: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if status != 200 {
        let message = answer["error"]["message"]
            .as_str()
            .map(|message| message.chars().take(300).collect::<String>())
            .unwrap_or_default();
        let hint = match status {
            401 => " (the token is not valid for https://api.applicationinsights.io)",
            403 => {
                " (the token's identity needs read access to the Application Insights resource: Reader or Monitoring Reader)"
            }
            404 => " (no Application Insights resource has that application id)",
            _ => "",
        };
        return Err(format!("POST {path}: HTTP {status} {message}{hint}"));
    }
    let table = &answer["tables"][0];
    let columns: Vec<&str> = table["columns"]
        .as_array()
        .map(|columns| columns.iter().filter_map(|c| c["name"].as_str()).collect())
        .unwrap_or_default();
    let position = |name: &str| columns.iter().position(|column| *column == name);
    let Some(correlation) = position("entra_correlation_id") else {
        return Err(format!(
            "POST {path}: the answer has no entra_correlation_id column"
        ));
    };
    let text = |row: &Value, name: &str| {
        position(name)
            .and_then(|at| row[at].as_str())
            .unwrap_or("-")
            .to_owned()
    };
    let rows = table["rows"].as_array().cloned().unwrap_or_default();
    Ok(rows
        .iter()
        .take(MAX_ROWS)
        .filter_map(|row| {
            let id = row[correlation].as_str()?.to_ascii_lowercase();
            let email = text(row, "email");
            let email = if email.contains('@') && !email.contains("***@") {
                super::callouts::mask_address(&email)
            } else {
                email
            };
            Some((
                id.clone(),
                format!(
                    "decision function={} outcome={} reason={} email={email} entra_correlation_id={id} correlation_id={} (Application Insights, {})",
                    text(row, "function"),
                    text(row, "outcome"),
                    text(row, "reason"),
                    text(row, "invocation_id"),
                    text(row, "timestamp"),
                ),
            ))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_query_apis_hosts_or_loopback() {
        assert!(check_url("https://api.applicationinsights.io").is_ok());
        assert!(check_url("https://api.applicationinsights.azure.cn/").is_ok());
        assert!(check_url("http://127.0.0.1:9").is_ok());
        for bad in [
            "http://api.applicationinsights.io",
            "https://evil.example",
            "https://api.applicationinsights.io/v1",
            "ftp://127.0.0.1",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }
}
