//! Checks over the network: the tenant's signing keys, and a running deployment.

use std::time::Instant;

use super::{Check, NETWORK_DEADLINE};
use crate::callers::AuthEventsAuth;
use crate::callers::entra::EntraTokens;
use crate::callers::entra::token::is_tenant_issuer;
use crate::config::Settings;
use crate::functions::{self, Caller};
use crate::outbound::check_fetch_url;

/// The address doctor's calls carry (a domain that never exists, RFC 6761).
const PROBE: &str = "doctor.probe@example.invalid";
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
    let tokens = EntraTokens::new(token.clone(), crate::telemetry::Telemetry::off());
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

/// The function keys `--code` gives: a host key for every function, or `Function=KEY` for one
/// (a key's own `=` never reads as a function's name: the name must be a function's).
#[derive(Debug, Clone, Default)]
pub(crate) struct FunctionKeys {
    host: Option<String>,
    per_function: Vec<(&'static str, String)>,
}

impl FunctionKeys {
    pub(crate) fn parse(codes: &[String]) -> Self {
        let mut keys = Self::default();
        for code in codes {
            let named = code.split_once('=').and_then(|(name, key)| {
                functions::ALL
                    .iter()
                    .find(|function| function.name().eq_ignore_ascii_case(name.trim()))
                    .map(|function| (function.name(), key.to_owned()))
            });
            match named {
                Some(named) => keys.per_function.push(named),
                None => keys.host = Some(code.clone()),
            }
        }
        keys
    }

    /// The key to call `function` with: its own, else the host key.
    pub(crate) fn for_function(&self, function: &str) -> Option<&str> {
        self.per_function
            .iter()
            .rev()
            .find(|(name, _)| *name == function)
            .map(|(_, key)| key.as_str())
            .or(self.host.as_deref())
    }
}

/// What to change when a base URL is refused.
pub(super) fn url_fix(error: &crate::outbound::UnsafeUrl) -> &'static str {
    use crate::outbound::UnsafeUrl;
    match error {
        UnsafeUrl::PlainHttp(_) => {
            "use https (plain http only for a local run: http://localhost:7071)"
        }
        UnsafeUrl::Credentials(_) => "leave the user name and password out of the URL",
        UnsafeUrl::NotAUrl { .. } | UnsafeUrl::NotHttps(_) => {
            "give the URL with its scheme: https://<app>.azurewebsites.net, or http://localhost:7071 for a local run"
        }
    }
}

/// Each function, called the way an outsider would: without credentials it must refuse (401
/// with its challenge); an answer within Entra's 1000 ms.
pub(super) async fn deployment(base: &str, keys: &FunctionKeys) -> Vec<Check> {
    const CHECK: &str = "deployment";
    if let Err(error) = check_fetch_url(base) {
        return vec![Check::fail(
            CHECK,
            format!("--url {error}"),
            url_fix(&error),
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
        if let Some(code) = keys.for_function(name) {
            url.push_str("?code=");
            url.push_str(code);
        }
        let started = Instant::now();
        let answer = client
            .post(&url)
            .header("content-type", "application/json")
            .body(function.sample_body(PROBE).to_string())
            .send()
            .await;
        let elapsed = started.elapsed().as_millis();
        let response = match answer {
            Ok(response) => response,
            // Nothing answers at that address: one line says so, not one per function.
            Err(error) if error.is_connect() => {
                checks.push(Check::fail(
                    CHECK,
                    format!(
                        "{base} does not answer: {}",
                        crate::printable::with_causes(&error.without_url())
                    ),
                    "check the URL (and its host name) and that the function app runs",
                ));
                return checks;
            }
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
