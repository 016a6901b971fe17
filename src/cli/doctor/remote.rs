//! Checks over the network: the tenant's signing keys, and a running deployment.

use std::time::Instant;

use serde_json::json;

use super::{Check, NETWORK_DEADLINE};
use crate::callers::AuthEventsAuth;
use crate::callers::entra::EntraTokens;
use crate::callers::entra::token::is_tenant_issuer;
use crate::config::Settings;
use crate::functions::{self, Caller};
use crate::outbound::check_fetch_url;

/// Entra's default timeout for a custom authentication extension.
const ENTRA_TIMEOUT_MS: u128 = 1000;

/// The authority's OpenID metadata and key set, fetched exactly as the server fetches them.
pub(super) async fn tenant_keys(settings: &Settings) -> Check {
    const CHECK: &str = "tenant keys";
    let AuthEventsAuth::Jwt(token) = &settings.auth_events_auth else {
        return Check::skip(
            CHECK,
            "the Entra caller check does not validate tokens here (AUTH_EVENTS_TOKEN_VALIDATION is not jwt)",
        );
    };
    let tokens = EntraTokens::new(token.clone());
    match tokens.probe().await {
        Err(error) => Check::fail(
            CHECK,
            format!("{}: {error}", token.metadata_url),
            "check AUTH_EVENTS_TENANT_ID and AUTH_EVENTS_AUTHORITY, and that the app can reach it; until the keys are fetched every Entra call is refused",
        ),
        Ok(probe) => match probe.issuer {
            Some(issuer) if is_tenant_issuer(&issuer, &token.tenant_id) => Check::ok(
                CHECK,
                format!(
                    "{} signing key(s) from {}; the metadata's issuer {issuer} is the tenant's",
                    probe.keys, probe.jwks_uri
                ),
            ),
            Some(issuer) => Check::fail(
                CHECK,
                format!(
                    "{} signing key(s) from {}, but the metadata's issuer {issuer} is not tenant {}: its tokens would be refused (iss)",
                    probe.keys, probe.jwks_uri, token.tenant_id
                ),
                "AUTH_EVENTS_AUTHORITY must be the external tenant's (https://<tenant id>.ciamlogin.com/<tenant id>/v2.0), and AUTH_EVENTS_TENANT_ID its id",
            ),
            None => Check::warn(
                CHECK,
                format!(
                    "{} signing key(s) from {}; the metadata names no issuer to compare with the tenant",
                    probe.keys, probe.jwks_uri
                ),
                "check that AUTH_EVENTS_AUTHORITY is the external tenant's",
            ),
        },
    }
}

/// The lower-cased host of a base URL.
pub(super) fn host_of(url: &str) -> Option<String> {
    reqwest::Url::parse(url)
        .ok()?
        .host_str()
        .map(str::to_ascii_lowercase)
}

/// Each function, called the way an outsider would: without credentials it must refuse (401
/// with its challenge); an answer within Entra's 1000 ms.
pub(super) async fn deployment(base: &str, code: Option<&str>) -> Vec<Check> {
    const CHECK: &str = "deployment";
    if let Err(error) = check_fetch_url(base) {
        return vec![Check::fail(
            CHECK,
            format!("--url {error}"),
            "give the function app's https URL, e.g. https://<app>.azurewebsites.net",
        )];
    }
    let client = match crate::outbound::client().timeout(NETWORK_DEADLINE).build() {
        Ok(client) => client,
        Err(error) => {
            return vec![Check::fail(
                CHECK,
                crate::printable::with_causes(&error),
                "run it again",
            )];
        }
    };
    let mut checks = Vec::new();
    for function in functions::ALL {
        let name = function.name();
        let check = format!("deployment: {name}");
        let mut url = format!("{}/api/{name}", base.trim_end_matches('/'));
        if let Some(code) = code {
            url.push_str("?code=");
            url.push_str(code);
        }
        let started = Instant::now();
        let answer = client
            .post(&url)
            .header("content-type", "application/json")
            .body(body_for(name).to_string())
            .send()
            .await;
        let elapsed = started.elapsed().as_millis();
        let response = match answer {
            Ok(response) => response,
            Err(error) => {
                checks.push(Check::fail(
                    check,
                    format!(
                        "no answer: {}",
                        crate::printable::with_causes(&error.without_url())
                    ),
                    "check the URL and that the function app runs",
                ));
                continue;
            }
        };
        let status = response.status().as_u16();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let (scheme, anyone) = match function.caller() {
            Caller::ApiConnector => (
                "Basic",
                "set API_CONNECTOR_AUTH=basic (the default) with BASIC_AUTH_USERNAME and BASIC_AUTH_PASSWORD",
            ),
            Caller::AuthenticationEvents => (
                "Bearer",
                "set AUTH_EVENTS_TENANT_ID and AUTH_EVENTS_CLIENT_ID and leave AUTH_EVENTS_TOKEN_VALIDATION unset (jwt)",
            ),
        };
        let mut result = match status {
            401 if challenge
                .get(..scheme.len())
                .is_some_and(|s| s.eq_ignore_ascii_case(scheme)) =>
            {
                Check::ok(
                    check.clone(),
                    format!("refuses a call without credentials (401 {scheme}) in {elapsed} ms"),
                )
            }
            401 | 403 => Check::warn(
                check.clone(),
                format!(
                    "answered {status} without a {scheme} challenge: the platform refused the call before the handler saw it"
                ),
                "pass --code with the function key (or check App Service authentication); Entra's and B2C's calls need it in the target URL too",
            ),
            200..=299 => Check::fail(
                check.clone(),
                format!("answered {status} to a call without credentials: anyone could call it"),
                anyone,
            ),
            404 => Check::fail(
                check.clone(),
                "not found (404)".to_owned(),
                "deploy the function folders with the handler, and check the URL",
            ),
            other => Check::fail(
                check.clone(),
                format!("answered {other} to a call without credentials, not 401"),
                "read the function app's log stream",
            ),
        };
        if result.status == super::Status::Ok && elapsed > ENTRA_TIMEOUT_MS {
            result = Check::warn(
                check,
                format!(
                    "refuses a call without credentials, but took {elapsed} ms: Entra waits {ENTRA_TIMEOUT_MS} ms by default"
                ),
                "keep the app warm (always-ready instances on Flex Consumption, or Premium); a cold start can fail sign-ups",
            );
        }
        checks.push(result);
    }
    checks
}

/// A body of the function's own kind (the caller check comes first, so it is never read when
/// the deployment is protected).
fn body_for(function: &str) -> serde_json::Value {
    let event = |kind: &str| {
        json!({"type": format!("microsoft.graph.authenticationEvent.{kind}"),
               "data": {"authenticationContext": {"user": {"mail": "doctor.probe@example.invalid"}},
                        "userSignUpInfo": {"identities": [{"signInType": "email",
                            "issuerAssignedId": "doctor.probe@example.invalid"}]}}})
    };
    match function {
        "OnAttributeCollectionStart" => event("attributeCollectionStart"),
        "OnAttributeCollectionSubmit" => event("attributeCollectionSubmit"),
        "OnTokenIssuanceStart" => event("tokenIssuanceStart"),
        _ => json!({"email": "doctor.probe@example.invalid", "step": "PostFederationSignup"}),
    }
}
