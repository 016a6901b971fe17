//! The calls Entra records in its sign-up and sign-in logs (`appliedEventListeners` with a
//! `customExtensionCalloutResult`), one per callout however many records carry it, with the
//! user and the client's address masked; and their counts per event and per error code.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;
use serde_json::Value;

use super::callout_errors;
use crate::cli::graph::GraphEvent;
use crate::domain::email::EmailAddress;

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
pub(super) struct Callout {
    pub(super) correlation_id: String,
    /// The event as the logs name it.
    pub(super) event: String,
    /// The function, when the event is one of ours.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) function: Option<&'static str>,
    pub(super) extension_id: String,
    pub(super) at: String,
    pub(super) http_status: i64,
    pub(super) error_code: i64,
    pub(super) attempts: i64,
    /// Which log: `sign-up` or `sign-in`.
    pub(super) log: &'static str,
    /// The user's address, masked.
    pub(super) user: String,
    /// The client's IP address, masked.
    pub(super) ip: String,
    pub(super) application: String,
    /// The gate's side, from the decision log.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) gate: Option<String>,
}

impl Callout {
    pub(super) fn failed(&self) -> bool {
        self.error_code != 0 || self.attempts == 0 || !(200..300).contains(&self.http_status)
    }
}

/// The calls of `records` ((log, record) pairs) to the extensions `ours` (all when `None`),
/// each once (by correlation id, event, extension and time); with how many name an event Graph
/// left unnamed (`unknownFutureValue`).
pub(super) fn callouts(
    records: &[(&'static str, Value)],
    ours: Option<&HashSet<String>>,
) -> (Vec<Callout>, usize) {
    let events = GraphEvent::all();
    let mut seen = HashSet::new();
    let mut callouts = Vec::new();
    let mut unnamed = 0;
    for (log, record) in records {
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
            if let Some(ours) = ours
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
    (callouts, unnamed)
}

/// Counts of one event.
#[derive(Debug, Default, Serialize)]
pub(super) struct Counts {
    pub(super) calls: usize,
    pub(super) failures: usize,
    pub(super) never_called: usize,
    pub(super) errors: BTreeMap<String, ErrorCount>,
}

#[derive(Debug, Serialize)]
pub(super) struct ErrorCount {
    pub(super) count: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) name: Option<&'static str>,
    pub(super) cause: String,
    pub(super) fix: String,
}

/// The calls per function (every event of this app, called or not; another event by its name)
/// and per error code, with each code's cause and fix.
pub(super) fn count(callouts: &[Callout]) -> BTreeMap<String, Counts> {
    let mut counts: BTreeMap<String, Counts> = BTreeMap::new();
    for event in &GraphEvent::all() {
        counts.entry(event.name().to_owned()).or_default();
    }
    for callout in callouts {
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
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
