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

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{Value, json};
use time::OffsetDateTime;

use super::callouts::{Callout, callouts, count};
use super::gate_side::{GateSide, gate_side};
use super::{Check, DoctorCommand, Status};
use crate::cli::graph::{Graph, mask_secrets_in, permission};
use crate::config::SettingsError;
use crate::setting::environment::Environment;

const CHECK: &str = "sign-ins";
/// The longest window: Entra keeps sign-in logs 30 days.
const MAX_WINDOW: Duration = Duration::from_secs(30 * 24 * 3600);
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

/// What the report found, for the checks and for `--json`.
pub(super) struct Report {
    pub(super) checks: Vec<Check>,
    pub(super) json: Value,
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
    let (mut callouts, unnamed) = callouts(&records, ours.as_ref());
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
    let counts = count(&callouts);
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
}
