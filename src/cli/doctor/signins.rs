//! `handler doctor --signins`: what Entra saw of its calls to the extensions, from its own logs
//! (Microsoft Graph beta, Entra ID P1 or P2): `auditLogs/signUps` records the Start and Submit
//! callouts, `auditLogs/signIns` token issuance; each record's `appliedEventListeners` carry a
//! `customExtensionCalloutResult` (`httpStatus`, `errorCode`, `numberOfAttempts`,
//! `calloutDateTime`). Both logs are read for the window (`--since`), asked with
//! `Prefer: include-unknown-enum-members` (without it the attribute collection events come back
//! as `unknownFutureValue`), every page followed; a callout recorded in both is counted once
//! (by correlation id, event, extension and time).
//!
//! Per event: calls, failures by error code with the cause and the fix, and the calls Entra
//! never made (`numberOfAttempts` 0), which users only ever see as a generic error page. With
//! `--log FILE`, a callout whose correlation id is on one of the gate's decision lines
//! (`entra_correlation_id=`) is shown with both sides. Addresses and IP addresses are masked.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::callout_errors;
use super::{Check, DoctorCommand, Status};
use crate::cli::graph::{Graph, GraphEvent, mask_secrets_in, permission};
use crate::config::SettingsError;
use crate::domain::email::EmailAddress;
use crate::setting::environment::Environment;

const CHECK: &str = "sign-ins";
/// The longest window: Entra keeps sign-in logs 30 days.
const MAX_WINDOW: Duration = Duration::from_secs(30 * 24 * 3600);
/// The largest decision log read.
const MAX_LOG_BYTES: u64 = 256 * 1024 * 1024;
/// How many callouts are shown one by one (failed ones first).
const MAX_SHOWN: usize = 50;

/// `handler doctor --signins`: the report, as text (doctor's lines) or JSON (the counts, the
/// calls, the checks); exit 1 when a call failed or the logs could not be read, 2 for a bad
/// `--since`.
pub(super) fn run(
    command: &DoctorCommand,
    environment: Result<Environment, SettingsError>,
) -> std::process::ExitCode {
    use std::process::ExitCode;
    let window = match window(&command.since) {
        Ok(window) => window,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let host = environment
        .as_ref()
        .ok()
        .and_then(|environment| super::deployment_host(command, environment));
    let mut secrets: Vec<String> = environment
        .as_ref()
        .map(super::local::secrets)
        .unwrap_or_default();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(2);
        }
    };
    let report = runtime.block_on(async {
        let token = match super::given_token(command) {
            Ok(Some(token)) => Some(token),
            Ok(None) => crate::cli::graph::azure_cli_token(&command.graph_url).await,
            Err(error) => {
                let checks = vec![Check::fail(CHECK, error, "give the token once, alone")];
                return Report { json: json!({"checks": checks}), checks };
            }
        };
        let Some(token) = token else {
            let checks = vec![Check::fail(
                CHECK,
                "no Microsoft Graph token: the sign-in logs cannot be read",
                "give a token of an app granted AuditLog.Read.All with --graph-token (`-` reads it from standard input) or SIGNUP_GATE_GRAPH_TOKEN",
            )];
            return Report { json: json!({"checks": checks}), checks };
        };
        secrets.push(token.clone());
        let mut gate_checks = Vec::new();
        let gate = gate_side(command, window, &mut secrets, &mut gate_checks).await;
        match Graph::new(&command.graph_url, &token) {
            Ok(graph) => {
                let mut report =
                    report(&graph, &command.since, window, host.as_deref(), gate.as_ref()).await;
                report.checks.extend(gate_checks);
                if let Value::Object(map) = &mut report.json {
                    map.insert("checks".to_owned(), json!(report.checks));
                }
                report
            }
            Err(error) => {
                let checks = vec![Check::fail(
                    CHECK,
                    format!("--graph-url {error}"),
                    "use https://graph.microsoft.com (or a national cloud's Graph host)",
                )];
                Report { json: json!({"checks": checks}), checks }
            }
        }
    });
    let failed = report
        .checks
        .iter()
        .any(|check| check.status == Status::Fail);
    if command.json {
        let mut json = report.json;
        mask_secrets_in(&mut json, &secrets);
        println!(
            "{}",
            serde_json::to_string_pretty(&json).unwrap_or_else(|_| "{}".to_owned())
        );
    } else {
        println!(
            "{}",
            super::render(super::redact(report.checks, &secrets), false)
        );
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// The gate's decisions for the window, from `--log` and from Application Insights
/// (`--ai-app-id`); a source that cannot be read is a failed check.
async fn gate_side(
    command: &DoctorCommand,
    window: Duration,
    secrets: &mut Vec<String>,
    checks: &mut Vec<Check>,
) -> Option<GateSide> {
    if command.log.is_none() && command.ai_app_id.is_none() {
        return None;
    }
    let mut gate = GateSide {
        decisions: Vec::new(),
        sources: Vec::new(),
    };
    if let Some(path) = &command.log {
        match decisions(path) {
            Ok(found) => {
                gate.decisions.extend(found);
                gate.sources.push(path.display().to_string());
            }
            Err(error) => checks.push(Check::fail(
                format!("{CHECK}: decision log"),
                error,
                "give a file of the function app's log lines (its `decision` lines)",
            )),
        }
    }
    if let Some(app) = &command.ai_app_id {
        const INSIGHTS: &str = "sign-ins: Application Insights";
        let variable = std::env::var(super::insights::TOKEN_VARIABLE).ok();
        let token = match crate::cli::graph::given_token(
            command.ai_token.as_deref(),
            variable.as_deref(),
            &mut crate::cli::graph::StandardInput::default(),
        ) {
            Ok(Some(token)) => Some(token),
            Ok(None) => azure_cli_token(super::insights::RESOURCE).await,
            Err(error) => {
                checks.push(Check::fail(INSIGHTS, error, "give the token once, alone"));
                return Some(gate);
            }
        };
        let Some(token) = token else {
            checks.push(Check::fail(
                INSIGHTS,
                "no token for Application Insights' query API",
                "give one with --ai-token (`-` reads it from standard input) or SIGNUP_GATE_AI_TOKEN, or sign in with `az login`",
            ));
            return Some(gate);
        };
        secrets.push(token.clone());
        let found = match super::insights::check_url(&command.ai_url) {
            Ok(base) => super::insights::decisions(&base, app, &token, window).await,
            Err(error) => Err(error),
        };
        match found {
            Ok(rows) => {
                gate.decisions
                    .extend(rows.into_iter().map(|(correlation_id, line)| Decision {
                        correlation_id,
                        line,
                    }));
                gate.sources.push("Application Insights".to_owned());
            }
            Err(error) => checks.push(Check::fail(
                INSIGHTS,
                error,
                "check --ai-app-id (API Access, Application ID) and the token's access to the resource",
            )),
        }
    }
    Some(gate)
}

/// The Azure CLI's token for `resource`, when it is installed and signed in.
async fn azure_cli_token(resource: &str) -> Option<String> {
    let output = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::process::Command::new("az")
            .args(["account", "get-access-token", "--resource", resource])
            .args(["--query", "accessToken", "-o", "tsv"])
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

/// `--since`: minutes, hours or days (`30m`, `1h`, `7d`), at most 30 days.
pub(super) fn window(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let digits = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = text.strip_prefix(digits).unwrap_or_default();
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("--since {text:?}: give minutes, hours or days (30m, 1h, 7d)"))?;
    let seconds = match unit {
        "m" => 60,
        "h" => 3600,
        "d" => 24 * 3600,
        _ => {
            return Err(format!(
                "--since {text:?}: give minutes, hours or days (30m, 1h, 7d)"
            ));
        }
    };
    let window = Duration::from_secs(number.saturating_mul(seconds));
    if window.is_zero() || window > MAX_WINDOW {
        return Err(format!(
            "--since {text:?}: from 1m to 30d (Entra keeps sign-in logs 30 days)"
        ));
    }
    Ok(window)
}

/// An address as it may be shown: `a***@contoso.com`.
pub(crate) fn mask_address(text: &str) -> String {
    if let Ok(address) = EmailAddress::parse(text) {
        return address.masked().to_string();
    }
    match text.rsplit_once('@') {
        Some((local, domain)) => format!(
            "{}***@{domain}",
            local
                .chars()
                .next()
                .filter(char::is_ascii_alphanumeric)
                .unwrap_or('?')
        ),
        None if text.is_empty() => "-".to_owned(),
        None => "(hidden)".to_owned(),
    }
}

/// An IP address as it may be shown: the network's first half (`203.0.x.x`, `2001:db8:x`).
pub(crate) fn mask_ip(text: &str) -> String {
    match text.trim().parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => {
            let [a, b, _, _] = ip.octets();
            format!("{a}.{b}.x.x")
        }
        Ok(std::net::IpAddr::V6(ip)) => {
            let segments = ip.segments();
            format!("{:x}:{:x}:x", segments[0], segments[1])
        }
        Err(_) if text.is_empty() => "-".to_owned(),
        Err(_) => "(hidden)".to_owned(),
    }
}

/// One call Entra made (or did not make) to an extension.
#[derive(Debug, Clone, Serialize)]
struct Callout {
    correlation_id: String,
    /// The event as the logs name it.
    event: String,
    /// The function, when the event is one of ours.
    #[serde(skip_serializing_if = "Option::is_none")]
    function: Option<&'static str>,
    extension_id: String,
    at: String,
    http_status: i64,
    error_code: i64,
    attempts: i64,
    /// Which log: `sign-up` or `sign-in`.
    log: &'static str,
    /// The user's address, masked.
    user: String,
    /// The client's IP address, masked.
    ip: String,
    application: String,
    /// The gate's side, from the decision log.
    #[serde(skip_serializing_if = "Option::is_none")]
    gate: Option<String>,
}

impl Callout {
    fn failed(&self) -> bool {
        self.error_code != 0 || self.attempts == 0 || !(200..300).contains(&self.http_status)
    }
}

/// A decision line of the gate: what it decided for one of Entra's correlation ids.
struct Decision {
    correlation_id: String,
    line: String,
}

/// The decision lines of a log file that carry Entra's correlation id, addresses masked again.
fn decisions(path: &Path) -> Result<Vec<Decision>, String> {
    let shown = path.display();
    let size = std::fs::metadata(path)
        .map_err(|error| format!("--log {shown}: {error}"))?
        .len();
    if size > MAX_LOG_BYTES {
        return Err(format!(
            "--log {shown}: {size} bytes, more than the {MAX_LOG_BYTES} read: give the part of the log that covers the window"
        ));
    }
    let bytes = std::fs::read(path).map_err(|error| format!("--log {shown}: {error}"))?;
    let text = String::from_utf8_lossy(&bytes);
    let mut found = Vec::new();
    for line in text.lines() {
        let Some((_, rest)) = line.split_once("decision function=") else {
            continue;
        };
        let decision = format!("decision function={rest}");
        let mut correlation = None;
        let words: Vec<String> = decision
            .split_whitespace()
            .map(|word| match word.split_once('=') {
                Some(("entra_correlation_id", id)) => {
                    correlation = Some(id.to_ascii_lowercase());
                    word.to_owned()
                }
                // Written masked; masked again in case a line came from elsewhere.
                Some(("email", address)) if address.contains('@') && !address.contains("***@") => {
                    format!("email={}", mask_address(address))
                }
                _ => word.to_owned(),
            })
            .collect();
        if let Some(correlation_id) = correlation {
            found.push(Decision {
                correlation_id,
                line: words.join(" "),
            });
        }
    }
    // The latest decision of a correlation id (Entra's retry of the same sign-up) comes first.
    found.reverse();
    Ok(found)
}

/// Counts of one event.
#[derive(Debug, Default, Serialize)]
struct Counts {
    calls: usize,
    failures: usize,
    never_called: usize,
    errors: BTreeMap<String, ErrorCount>,
}

#[derive(Debug, Serialize)]
struct ErrorCount {
    count: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'static str>,
    cause: String,
    fix: String,
}

/// What the report found, for the checks and for `--json`.
pub(super) struct Report {
    pub(super) checks: Vec<Check>,
    pub(super) json: Value,
}

/// The gate's side: its decisions (from a log file, Application Insights, or both) and where
/// they came from.
pub(super) struct GateSide {
    decisions: Vec<Decision>,
    sources: Vec<String>,
}

/// Reads both logs for the window and reports; `gate` is the gate's side, when asked for.
pub(super) async fn report(
    graph: &Graph,
    since: &str,
    window: Duration,
    host: Option<&str>,
    gate: Option<&GateSide>,
) -> Report {
    let mut checks = Vec::new();
    let from = OffsetDateTime::now_utc() - window;
    let from_text = from
        .format(time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
        ))
        .unwrap_or_default();
    let filter = format!("$filter=createdDateTime ge {from_text}");
    let events = GraphEvent::all();
    // The extensions that call this app: by their target URL's host when it is known.
    let ours: Option<HashSet<String>> = match host {
        None => None,
        Some(host) => match graph
            .all(
                "/v1.0/identity/customAuthenticationExtensions",
                permission::EXTENSION_READ,
            )
            .await
        {
            Ok(extensions) => Some(
                extensions
                    .iter()
                    .filter(|extension| {
                        extension["endpointConfiguration"]["targetUrl"]
                            .as_str()
                            .and_then(super::remote::host_of)
                            .is_some_and(|target| target == host)
                    })
                    .filter_map(|extension| extension["id"].as_str())
                    .map(str::to_ascii_lowercase)
                    .collect(),
            ),
            Err(error) => {
                checks.push(Check::warn(
                    format!("{CHECK}: extensions"),
                    format!("{error}: every extension's calls are counted, not only this app's"),
                    "give a token that may read custom authentication extensions (CustomAuthenticationExtension.Read.All)",
                ));
                None
            }
        },
    };
    let mut records = Vec::new();
    let mut cut = false;
    for (log, path) in [
        ("sign-up", "/beta/auditLogs/signUps"),
        ("sign-in", "/beta/auditLogs/signIns"),
    ] {
        match graph
            .list(
                &format!("{path}?{filter}"),
                true,
                permission::AUDIT_LOG_READ,
            )
            .await
        {
            Ok((items, left)) => {
                cut |= left;
                records.extend(items.into_iter().map(|item| (log, item)));
            }
            Err(error) => {
                checks.push(Check::fail(
                    CHECK,
                    error.to_string(),
                    "give a token of an app granted AuditLog.Read.All (Microsoft also lists Directory.Read.All for sign-in logs); reading them needs Microsoft Entra ID P1 or P2",
                ));
                return Report {
                    json: json!({"checks": checks}),
                    checks,
                };
            }
        }
    }
    let sign_ups = records.iter().filter(|(log, _)| *log == "sign-up").count();
    let sign_ins = records.len() - sign_ups;
    let mut seen = HashSet::new();
    let mut callouts = Vec::new();
    let mut unnamed = 0;
    for (log, record) in &records {
        let Some(listeners) = record["appliedEventListeners"].as_array() else {
            continue;
        };
        for listener in listeners {
            let result = &listener["handlerResult"];
            if result["numberOfAttempts"].is_null() && result["customExtensionId"].is_null() {
                continue;
            }
            let extension_id = result["customExtensionId"]
                .as_str()
                .unwrap_or_default()
                .to_ascii_lowercase();
            if let Some(ours) = &ours
                && !ours.contains(&extension_id)
            {
                continue;
            }
            let event = listener["eventType"]
                .as_str()
                .unwrap_or("unknown")
                .to_owned();
            if event == "unknownFutureValue" {
                unnamed += 1;
            }
            let correlation_id = record["correlationId"]
                .as_str()
                .unwrap_or_default()
                .to_ascii_lowercase();
            let at = result["calloutDateTime"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            // The same callout in both logs is one call.
            if !seen.insert((
                correlation_id.clone(),
                event.clone(),
                extension_id.clone(),
                at.clone(),
            )) {
                continue;
            }
            let user = record["signInIdentifier"]
                .as_str()
                .or(record["userPrincipalName"].as_str())
                .or(record["signUpIdentity"]["signUpIdentifier"].as_str())
                .unwrap_or_default();
            callouts.push(Callout {
                function: events
                    .iter()
                    .find(|known| known.log_name().eq_ignore_ascii_case(&event))
                    .map(GraphEvent::name),
                correlation_id,
                event,
                extension_id,
                at,
                http_status: result["httpStatus"].as_i64().unwrap_or(0),
                error_code: result["errorCode"].as_i64().unwrap_or(0),
                attempts: result["numberOfAttempts"].as_i64().unwrap_or(0),
                log,
                user: mask_address(user),
                ip: mask_ip(record["ipAddress"].as_str().unwrap_or_default()),
                application: record["appDisplayName"]
                    .as_str()
                    .or(record["appId"].as_str())
                    .unwrap_or("-")
                    .to_owned(),
                gate: None,
            });
        }
    }
    let mut matched = 0;
    if let Some(gate) = gate {
        for callout in &mut callouts {
            if let Some(decision) = gate
                .decisions
                .iter()
                .find(|decision| decision.correlation_id == callout.correlation_id)
            {
                callout.gate = Some(decision.line.clone());
                matched += 1;
            }
        }
    }
    let window_message = format!(
        "{sign_ups} sign-up and {sign_ins} sign-in record(s) since {from_text} (--since {since}): {} call(s) to {}",
        callouts.len(),
        match host {
            Some(host) if ours.is_some() => format!("the extensions of {host}"),
            _ => "custom authentication extensions".to_owned(),
        }
    );
    checks.push(if cut {
        Check::warn(
            format!("{CHECK}: window"),
            format!(
                "{window_message}; more records than {} pages: the rest were not read",
                crate::cli::graph::MAX_PAGES
            ),
            "give a shorter --since",
        )
    } else {
        Check::ok(format!("{CHECK}: window"), window_message)
    });
    if unnamed > 0 {
        checks.push(Check::warn(
            format!("{CHECK}: event types"),
            format!(
                "{unnamed} call(s) of an event Graph did not name (unknownFutureValue): it did not honour Prefer: include-unknown-enum-members"
            ),
            "counted under \"unknownFutureValue\"; run it again later",
        ));
    }
    let mut counts: BTreeMap<String, Counts> = BTreeMap::new();
    for event in &events {
        counts.entry(event.name().to_owned()).or_default();
    }
    for callout in &callouts {
        let key = callout
            .function
            .map(str::to_owned)
            .unwrap_or_else(|| callout.event.clone());
        let entry = counts.entry(key).or_default();
        entry.calls += 1;
        if !callout.failed() {
            continue;
        }
        entry.failures += 1;
        if callout.attempts == 0 {
            entry.never_called += 1;
        }
        let (code, name, cause, fix) = match (callout.error_code, callout_errors::describe(callout.error_code)) {
            (_, Some(known)) => (
                known.code.to_string(),
                Some(known.name),
                known.cause.to_owned(),
                known.fix.to_owned(),
            ),
            (0, None) => (
                format!("HTTP {}", callout.http_status),
                None,
                format!("the API answered HTTP {} and Entra named no error code", callout.http_status),
                "read the function app's log for these correlation ids".to_owned(),
            ),
            (code, None) => (
                code.to_string(),
                None,
                "a code that is not in Microsoft's table of custom extension errors".to_owned(),
                "look it up with Microsoft (aka.ms/AADSTSErrorCodes) and read the function app's log".to_owned(),
            ),
        };
        let error = entry.errors.entry(code).or_insert(ErrorCount {
            count: 0,
            name,
            cause,
            fix,
        });
        error.count += 1;
    }
    for (function, count) in &counts {
        let check = format!("{CHECK}: {function}");
        if count.calls == 0 {
            checks.push(Check::skip(check, "no call in the window"));
            continue;
        }
        if count.failures == 0 {
            checks.push(Check::ok(
                check,
                format!("{} call(s), none failed", count.calls),
            ));
            continue;
        }
        checks.push(Check::fail(
            check.clone(),
            format!(
                "{} call(s), {} failed{}",
                count.calls,
                count.failures,
                if count.never_called > 0 {
                    format!(
                        ", {} of them never called: Entra gave up before reaching the API (numberOfAttempts 0)",
                        count.never_called
                    )
                } else {
                    String::new()
                }
            ),
            "see each error code below",
        ));
        for (code, error) in &count.errors {
            checks.push(Check::fail(
                format!("{check} {code}"),
                format!(
                    "{}{} call(s): {}",
                    error
                        .name
                        .map(|name| format!("{name}: "))
                        .unwrap_or_default(),
                    error.count,
                    error.cause
                ),
                error.fix.clone(),
            ));
        }
    }
    if let Some(gate) = gate {
        checks.push(Check::ok(
            format!("{CHECK}: decision log"),
            format!(
                "{} decision(s) with an Entra correlation id ({}); {matched} of the window's call(s) found there",
                gate.decisions.len(),
                gate.sources.join(", ")
            ),
        ));
    }
    // One by one: the failed calls, then those the decision log knows.
    let mut shown: Vec<&Callout> = callouts.iter().filter(|c| c.failed()).collect();
    shown.extend(callouts.iter().filter(|c| !c.failed() && c.gate.is_some()));
    for callout in shown.iter().take(MAX_SHOWN) {
        let entra = format!(
            "Entra ({} log): {} at {}: HTTP {}, error {} {}; user {} from {}, application {}",
            callout.log,
            callout.event,
            if callout.at.is_empty() {
                "-"
            } else {
                &callout.at
            },
            callout.http_status,
            callout.error_code,
            if callout.attempts == 0 {
                "and never called".to_owned()
            } else {
                format!("after {} attempt(s)", callout.attempts)
            },
            callout.user,
            callout.ip,
            callout.application
        );
        let message = match &callout.gate {
            Some(gate) => format!("{entra}. Gate: {gate}"),
            None if gate.is_some() => format!(
                "{entra}. Gate: no decision with this correlation id (the call may never have reached it)"
            ),
            None => entra,
        };
        let check = format!("{CHECK}: call {}", callout.correlation_id);
        // A failed call's fix is its error code's, above.
        let status = if callout.failed() {
            Status::Warn
        } else {
            Status::Ok
        };
        checks.push(Check::new(check, status, message, None::<String>));
    }
    if shown.len() > MAX_SHOWN {
        checks.push(Check::skip(
            format!("{CHECK}: calls"),
            format!(
                "{} more call(s) not shown one by one (--json has them all)",
                shown.len() - MAX_SHOWN
            ),
        ));
    }
    let failed = checks.iter().any(|check| check.status == Status::Fail);
    let json = json!({
        "window": {"since": since, "from": from_text, "cut": cut},
        "records": {"sign_ups": sign_ups, "sign_ins": sign_ins},
        "events": counts,
        "failed": failed,
        "calls": callouts,
        "decisions": gate.map(|gate| gate.decisions.len()),
        "checks": checks,
    });
    Report { checks, json }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_is_minutes_hours_or_days_up_to_thirty_days() {
        assert_eq!(window("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(window("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(window("30d").unwrap(), Duration::from_secs(30 * 86400));
        for bad in [
            "",
            "1",
            "h",
            "0h",
            "31d",
            "1w",
            "-1h",
            "1.5h",
            "99999999999999999999d",
        ] {
            assert!(window(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn addresses_and_ip_addresses_are_masked() {
        assert_eq!(mask_address("Ada@Contoso.com"), "a***@contoso.com");
        assert_eq!(
            mask_address("3f2a0b7c-0000@contoso.onmicrosoft.com"),
            "3***@contoso.onmicrosoft.com"
        );
        assert_eq!(mask_address("not an address"), "(hidden)");
        assert_eq!(mask_address(""), "-");
        assert_eq!(mask_ip("203.0.113.9"), "203.0.x.x");
        assert_eq!(mask_ip("2001:db8::1"), "2001:db8:x");
        assert_eq!(mask_ip("somewhere"), "(hidden)");
    }

    #[test]
    fn decision_lines_are_read_by_their_correlation_id() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.txt");
        std::fs::write(
            &path,
            "2026-05-01T10:00:00Z [Information] decision function=OnAttributeCollectionStart outcome=showBlockPage reason=not_invited email=bob@contoso.com language=en entra_correlation_id=ABC-1 correlation_id=inv-1\n\
             decision function=SignUpValidation outcome=Continue reason=invitation email=a***@contoso.com correlation_id=inv-2\n\
             something else\n",
        )
        .unwrap();
        let found = decisions(&path).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].correlation_id, "abc-1");
        assert_eq!(
            found[0].line,
            "decision function=OnAttributeCollectionStart outcome=showBlockPage reason=not_invited email=b***@contoso.com language=en entra_correlation_id=ABC-1 correlation_id=inv-1"
        );
        assert!(decisions(&dir.path().join("missing")).is_err());
    }
}
