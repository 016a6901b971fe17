//! Settings: read once at start-up from the environment, validated, then frozen.
//!
//! Three stages: where the values come from ([`environment`]: the process environment, and in
//! a standalone run `local.settings.json`), the values as strings ([`raw`]), and here the
//! validated settings of each component. A malformed value stops start-up with one line naming
//! the variable and what it expects.

pub(crate) mod environment;
mod policy;
mod raw;
mod report;

use std::fmt;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

pub use self::environment::{Environment, LOCAL_SETTINGS, LOCAL_SETTINGS_EXAMPLE};
use self::raw::{RawSettings, guid, non_blank, parse_bool, parse_port, whole_number};
use crate::callers::basic::BasicCredentials;
use crate::callers::entra::TokenSettings;
use crate::callers::{ApiConnectorAuth, AuthEventsAuth};
use crate::gate::{Policies, PolicyFileError};
use crate::invitations::StoreSettings;
use crate::invitations::table::{
    Credential, TableSettings, is_table_name, parse_connection_string,
};
use crate::outbound::check_fetch_url;
use crate::policy::Policy;

/// Port `func start` serves on, used when no host gives us one.
pub(crate) const STANDALONE_PORT: u16 = 7071;
/// Well inside Entra's default 1000 ms budget for the whole call.
const DEFAULT_DECISION_DEADLINE: Duration = Duration::from_millis(700);
/// B2C custom policies wait up to 10 s; nothing waits longer.
const MAX_DECISION_DEADLINE_MS: u64 = 10_000;
/// Callers give up after 10 s at most (B2C), so a body still arriving after that is useless.
const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(10);
const READ_TIMEOUT_MS: RangeInclusive<u64> = 100..=120_000;
/// Longer than the host's HTTP client keeps an idle connection in its pool (.NET: 1 to 2
/// minutes), so we are never the side that closes a connection the host is about to reuse (a
/// request sent as we close it would fail).
const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(130);
const IDLE_TIMEOUT_MS: RangeInclusive<u64> = 100..=3_600_000;
/// Far above what the host opens to one instance, low enough to keep memory bounded.
const DEFAULT_MAX_CONNECTIONS: usize = 1024;
const MAX_CONNECTIONS: RangeInclusive<u64> = 1..=100_000;

/// A setting that stops start-up, named so the operator knows what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("{variable} {expected}")]
    Invalid {
        variable: &'static str,
        expected: String,
    },
    #[error("{file}: {problem}")]
    LocalSettings { file: String, problem: String },
}

/// Where the process runs, which decides where settings come from and what is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hosting {
    /// Started by the Functions host, which chose the port.
    FunctionsHost { port: u16 },
    /// Started by a person; we listen where `func start` would.
    Standalone,
}

/// Every setting, validated.
#[derive(Clone)]
pub struct Settings {
    pub(crate) hosting: Hosting,
    /// Whether we run in Azure; some conveniences are refused there.
    pub(crate) in_azure: bool,
    pub(crate) api_connector_auth: ApiConnectorAuth,
    /// The rules of the settings (for every application the policy file does not name).
    pub(crate) policy: Policy,
    /// The policy file (`POLICY_FILE`), whose sections overlay `policy`.
    pub(crate) policy_file: Option<PathBuf>,
    /// Where telemetry goes (`APPLICATIONINSIGHTS_CONNECTION_STRING`); none when unset. Never
    /// logged: it holds the instrumentation key.
    pub(crate) telemetry: Option<String>,
    /// Where invitations live (`INVITATION_STORE`; the file `INVITATIONS_FILE` is relative to
    /// the function app root, the working directory).
    pub(crate) store: StoreSettings,
    /// How long a decision may wait for the invitation store.
    pub(crate) decision_deadline: Duration,
    /// How callers of the Entra functions are checked.
    pub(crate) auth_events_auth: AuthEventsAuth,
    /// How much of the machine one client can hold.
    pub(crate) connections: ConnectionLimits,
    /// Whether these are the committed example settings (no `local.settings.json`).
    pub(crate) from_example: bool,
}

/// Limits that keep slow or idle clients from holding the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConnectionLimits {
    /// Longest wait for a request's body once its head has arrived (`REQUEST_READ_TIMEOUT_MS`).
    pub(crate) read_timeout: Duration,
    /// Longest wait for a request's head: how long a connection may stay idle, or take to send
    /// its head (`CONNECTION_IDLE_TIMEOUT_MS`).
    pub(crate) idle_timeout: Duration,
    /// Connections served at once (`MAX_CONNECTIONS`); further ones wait in the listen queue.
    pub(crate) max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            read_timeout: DEFAULT_READ_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("hosting", &self.hosting)
            .field("in_azure", &self.in_azure)
            .field("policy", &self.policy)
            .field("store", &self.store)
            .field("decision_deadline", &self.decision_deadline)
            .field("policy_file", &self.policy_file)
            .field("auth_events_auth", &self.auth_events_auth)
            .field("connections", &self.connections)
            .finish_non_exhaustive()
    }
}

impl Settings {
    /// The rules in force: the settings', overlaid by the policy file when there is one (read
    /// now; a missing or bad file is an error).
    pub fn policies(&self) -> Result<Policies, PolicyFileError> {
        match &self.policy_file {
            None => Ok(Policies::fixed(self.policy.clone())),
            Some(path) => Policies::from_file(self.policy.clone(), path.clone()),
        }
    }

    /// Validates every setting; the first bad one stops start-up.
    pub fn from_env(env: &Environment) -> Result<Self, SettingsError> {
        let raw: RawSettings =
            envy::from_iter(env.iter()).map_err(|error| SettingsError::Invalid {
                variable: "environment",
                expected: format!("could not be read: {error}"),
            })?;
        let in_azure = env.in_azure();
        let hosting = match non_blank(&raw.functions_customhandler_port) {
            None => Hosting::Standalone,
            Some(port) => Hosting::FunctionsHost {
                port: parse_port(port)?,
            },
        };
        let api_connector_auth = api_connector_auth(&raw, in_azure)?;
        let decision_deadline = match non_blank(&raw.decision_deadline_ms) {
            None => DEFAULT_DECISION_DEADLINE,
            Some(value) => Duration::from_millis(whole_number(
                "DECISION_DEADLINE_MS",
                value,
                1..=MAX_DECISION_DEADLINE_MS,
                "milliseconds",
            )?),
        };
        let connections = ConnectionLimits {
            read_timeout: match non_blank(&raw.request_read_timeout_ms) {
                None => DEFAULT_READ_TIMEOUT,
                Some(value) => Duration::from_millis(whole_number(
                    "REQUEST_READ_TIMEOUT_MS",
                    value,
                    READ_TIMEOUT_MS,
                    "milliseconds",
                )?),
            },
            idle_timeout: match non_blank(&raw.connection_idle_timeout_ms) {
                None => DEFAULT_IDLE_TIMEOUT,
                Some(value) => Duration::from_millis(whole_number(
                    "CONNECTION_IDLE_TIMEOUT_MS",
                    value,
                    IDLE_TIMEOUT_MS,
                    "milliseconds",
                )?),
            },
            max_connections: match non_blank(&raw.max_connections) {
                None => DEFAULT_MAX_CONNECTIONS,
                Some(value) => {
                    whole_number("MAX_CONNECTIONS", value, MAX_CONNECTIONS, "connections")? as usize
                }
            },
        };
        let auth_events_auth = auth_events_auth(&raw, in_azure, decision_deadline)?;
        let store = store(&raw)?;
        Ok(Self {
            hosting,
            in_azure,
            api_connector_auth,
            auth_events_auth,
            store,
            decision_deadline,
            connections,
            from_example: env.from_example,
            policy: policy::policy(&raw, env)?,
            policy_file: policy::policy_file(&raw),
            telemetry: non_blank(&raw.applicationinsights_connection_string)
                .map(|value| value.trim().to_owned()),
        })
    }
}

fn api_connector_auth(
    raw: &RawSettings,
    in_azure: bool,
) -> Result<ApiConnectorAuth, SettingsError> {
    let mode = non_blank(&raw.api_connector_auth).unwrap_or("basic");
    if mode.eq_ignore_ascii_case("none") {
        if in_azure {
            return Err(SettingsError::Invalid {
                variable: "API_CONNECTOR_AUTH",
                expected: "must be 'basic' in Azure (WEBSITE_SITE_NAME is set); 'none' is only for local runs"
                    .to_owned(),
            });
        }
        return Ok(ApiConnectorAuth::None);
    }
    if !mode.eq_ignore_ascii_case("basic") {
        return Err(SettingsError::Invalid {
            variable: "API_CONNECTOR_AUTH",
            expected: format!("must be 'basic' or 'none', got {mode:?}"),
        });
    }
    // Empty strings count as missing: an empty username must never switch authentication off.
    let username = raw.basic_auth_username.as_deref().filter(|v| !v.is_empty());
    let password = raw.basic_auth_password.as_deref().filter(|v| !v.is_empty());
    Ok(match (username, password) {
        (Some(username), Some(password)) => {
            ApiConnectorAuth::Basic(BasicCredentials::new(username, password))
        }
        _ => ApiConnectorAuth::BasicNotConfigured,
    })
}

fn auth_events_auth(
    raw: &RawSettings,
    in_azure: bool,
    fetch_deadline: Duration,
) -> Result<AuthEventsAuth, SettingsError> {
    let mode = non_blank(&raw.auth_events_token_validation)
        .unwrap_or("jwt")
        .trim()
        .to_ascii_lowercase();
    let invalid = |expected: String| SettingsError::Invalid {
        variable: "AUTH_EVENTS_TOKEN_VALIDATION",
        expected,
    };
    match mode.as_str() {
        "none" if in_azure => {
            return Err(invalid(
                "must be 'jwt' or 'easyauth' in Azure (WEBSITE_SITE_NAME is set); 'none' is only for local runs"
                    .to_owned(),
            ));
        }
        "none" => return Ok(AuthEventsAuth::None),
        "easyauth" => {
            let enabled = non_blank(&raw.website_auth_enabled).and_then(parse_bool);
            if enabled != Some(true) {
                return Err(invalid(
                    "is 'easyauth' but Easy Auth is not enabled (WEBSITE_AUTH_ENABLED is not True): its headers could be forged"
                        .to_owned(),
                ));
            }
        }
        "jwt" => {}
        other => {
            return Err(invalid(format!(
                "must be 'jwt', 'easyauth' or 'none', got {other:?}"
            )));
        }
    }
    let tenant_id = guid(&raw.auth_events_tenant_id, "AUTH_EVENTS_TENANT_ID")?;
    let client_id = guid(&raw.auth_events_client_id, "AUTH_EVENTS_CLIENT_ID")?;
    let (tenant_id, client_id) = match (tenant_id, client_id) {
        (Some(tenant_id), Some(client_id)) => (tenant_id, client_id),
        (tenant_id, _) => {
            let missing = if tenant_id.is_none() {
                "AUTH_EVENTS_TENANT_ID"
            } else {
                "AUTH_EVENTS_CLIENT_ID"
            };
            return Ok(AuthEventsAuth::NotConfigured {
                missing: missing.to_owned(),
            });
        }
    };
    if mode == "easyauth" {
        return Ok(AuthEventsAuth::EasyAuth {
            tenant_id,
            client_id,
        });
    }
    let authority = match non_blank(&raw.auth_events_authority) {
        Some(authority) => authority.trim().trim_end_matches('/').to_owned(),
        None => format!("https://{tenant_id}.ciamlogin.com/{tenant_id}/v2.0"),
    };
    check_fetch_url(&authority).map_err(|problem| SettingsError::Invalid {
        variable: "AUTH_EVENTS_AUTHORITY",
        expected: format!("must be the tenant's authority URL: {problem}"),
    })?;
    let refresh_hours = match non_blank(&raw.auth_events_key_refresh_hours) {
        None => 24,
        Some(value) => whole_number("AUTH_EVENTS_KEY_REFRESH_HOURS", value, 1..=168, "hours")?,
    };
    Ok(AuthEventsAuth::Jwt(TokenSettings {
        tenant_id,
        client_id,
        metadata_url: format!("{authority}/.well-known/openid-configuration"),
        refresh: Duration::from_secs(refresh_hours * 3600),
        fetch_deadline,
    }))
}

fn store(raw: &RawSettings) -> Result<StoreSettings, SettingsError> {
    let kind = non_blank(&raw.invitation_store)
        .unwrap_or("file")
        .trim()
        .to_ascii_lowercase();
    match kind.as_str() {
        "file" => {
            let file = non_blank(&raw.invitations_file).unwrap_or("invitations.csv");
            return Ok(StoreSettings::File(PathBuf::from(file.trim())));
        }
        "table" => {}
        other => {
            return Err(SettingsError::Invalid {
                variable: "INVITATION_STORE",
                expected: format!("must be 'file' or 'table', got {other:?}"),
            });
        }
    }
    let table = non_blank(&raw.invitations_table)
        .unwrap_or("Invitations")
        .trim()
        .to_owned();
    if !is_table_name(&table) {
        return Err(SettingsError::Invalid {
            variable: "INVITATIONS_TABLE",
            expected: format!(
                "must be 3 to 63 letters and digits starting with a letter, got {table:?}"
            ),
        });
    }
    let connection = |variable: &'static str, text: &str| {
        parse_connection_string(text).map_err(|problem| SettingsError::Invalid {
            variable,
            expected: format!("must be a storage connection string: {problem}"),
        })
    };
    let identity = Credential::ManagedIdentity {
        client_id: non_blank(&raw.web_jobs_storage_client_id).map(|id| id.trim().to_owned()),
    };
    let (variable, endpoint, credential) = if let Some(text) =
        non_blank(&raw.invitations_table_connection)
    {
        let (endpoint, credential) = connection("INVITATIONS_TABLE_CONNECTION", text)?;
        ("INVITATIONS_TABLE_CONNECTION", endpoint, credential)
    } else if let Some(endpoint) = non_blank(&raw.invitations_table_endpoint) {
        (
            "INVITATIONS_TABLE_ENDPOINT",
            endpoint.trim().trim_end_matches('/').to_owned(),
            identity,
        )
    } else if let Some(text) = non_blank(&raw.web_jobs_storage) {
        let (endpoint, credential) = connection("AzureWebJobsStorage", text)?;
        ("AzureWebJobsStorage", endpoint, credential)
    } else if let Some(uri) = non_blank(&raw.web_jobs_storage_table_uri) {
        (
            "AzureWebJobsStorage__tableServiceUri",
            uri.trim().trim_end_matches('/').to_owned(),
            identity,
        )
    } else if let Some(account) = non_blank(&raw.web_jobs_storage_account) {
        let endpoint = format!("https://{}.table.core.windows.net", account.trim());
        ("AzureWebJobsStorage__accountName", endpoint, identity)
    } else {
        return Err(SettingsError::Invalid {
            variable: "INVITATION_STORE",
            expected: "is 'table' but no table is configured: set INVITATIONS_TABLE_CONNECTION, INVITATIONS_TABLE_ENDPOINT, AzureWebJobsStorage or AzureWebJobsStorage__accountName".to_owned(),
        });
    };
    check_fetch_url(&endpoint).map_err(|problem| SettingsError::Invalid {
        variable,
        expected: format!("must name a Table service endpoint: {problem}"),
    })?;
    Ok(StoreSettings::Table(TableSettings {
        endpoint,
        table,
        credential,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::{Language, Text};

    fn env(pairs: &[(&str, &str)]) -> Environment {
        Environment::new(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    fn error_of(pairs: &[(&str, &str)]) -> String {
        Settings::from_env(&env(pairs)).unwrap_err().to_string()
    }

    #[test]
    fn defaults_follow_the_original_sample() {
        let settings = Settings::from_env(&env(&[])).unwrap();
        assert_eq!(settings.hosting, Hosting::Standalone);
        assert!(!settings.in_azure);
        assert!(matches!(
            settings.api_connector_auth,
            ApiConnectorAuth::BasicNotConfigured
        ));
        assert_eq!(
            settings.policy.allowed_domains.to_string(),
            "fabrikam.com, fabricam.com"
        );
        assert_eq!(settings.policy.min_job_title_length, 4);
        assert!(!settings.policy.require_job_title);
        assert_eq!(
            say(&settings, Text::BlockPageTitle, "en"),
            "Invitation required"
        );
        assert_eq!(
            say(&settings, Text::BlockPageMessage, "en"),
            "Sign-up for Contoso is by invitation only. Please ask your contact at Contoso to invite you."
        );
        assert!(settings.policy.blocked_domains.is_empty());
        assert!(settings.policy.blocked_local_parts.is_empty());
        assert_eq!(settings.policy_file, None);
        assert_eq!(
            settings.store,
            StoreSettings::File(PathBuf::from("invitations.csv"))
        );
        assert_eq!(settings.decision_deadline, Duration::from_millis(700));
        assert_eq!(settings.connections.read_timeout, Duration::from_secs(10));
        assert_eq!(settings.connections.idle_timeout, Duration::from_secs(130));
        assert_eq!(settings.connections.max_connections, 1024);
    }

    fn say(settings: &Settings, text: Text, code: &str) -> String {
        settings
            .policy
            .say(text, Language::from_code(code).unwrap())
    }

    #[test]
    fn reads_every_variable() {
        let settings = Settings::from_env(&env(&[
            ("FUNCTIONS_CUSTOMHANDLER_PORT", "4567"),
            ("BASIC_AUTH_USERNAME", "gate"),
            ("BASIC_AUTH_PASSWORD", "secret"),
            ("ALLOWED_EMAIL_DOMAINS", "*.contoso.com"),
            // Spaces around a number are forgiven, as around every other value.
            ("MIN_JOB_TITLE_LENGTH", " 2 "),
            ("REQUIRE_JOB_TITLE", "True"),
            ("ORGANIZATION_NAME", "Woodgrove"),
            ("INVITATIONS_FILE", "data/invites.csv"),
            ("DECISION_DEADLINE_MS", "250"),
            ("REQUEST_READ_TIMEOUT_MS", "1500"),
            ("CONNECTION_IDLE_TIMEOUT_MS", "60000"),
            ("MAX_CONNECTIONS", "64"),
            ("BLOCK_PAGE_TITLE", "Members only"),
            ("BLOCK_PAGE_MESSAGE", "Ask HR."),
            ("BLOCKED_EMAIL_DOMAINS", "gmail.com, *.example.net"),
            ("BLOCKED_LOCAL_PARTS", "admin,noreply"),
            ("POLICY_FILE", "policy.toml"),
        ]))
        .unwrap();
        assert_eq!(
            settings.store,
            StoreSettings::File(PathBuf::from("data/invites.csv"))
        );
        assert_eq!(settings.decision_deadline, Duration::from_millis(250));
        assert_eq!(
            settings.connections,
            ConnectionLimits {
                read_timeout: Duration::from_millis(1500),
                idle_timeout: Duration::from_secs(60),
                max_connections: 64
            }
        );
        assert_eq!(say(&settings, Text::BlockPageTitle, "de"), "Members only");
        assert_eq!(say(&settings, Text::BlockPageMessage, "ja"), "Ask HR.");
        assert_eq!(
            settings.policy.blocked_domains.to_string(),
            "gmail.com, *.example.net"
        );
        assert_eq!(
            settings.policy.blocked_local_parts.to_string(),
            "admin, noreply"
        );
        assert_eq!(settings.policy_file, Some(PathBuf::from("policy.toml")));
        assert_eq!(settings.hosting, Hosting::FunctionsHost { port: 4567 });
        assert!(matches!(
            settings.api_connector_auth,
            ApiConnectorAuth::Basic(_)
        ));
        assert_eq!(settings.policy.allowed_domains.to_string(), "*.contoso.com");
        assert_eq!(settings.policy.min_job_title_length, 2);
        assert!(settings.policy.require_job_title);
        assert_eq!(
            settings.policy.texts.organization.get(Language::english()),
            "Woodgrove"
        );
    }

    #[test]
    fn texts_take_language_variants() {
        let settings = Settings::from_env(&env(&[
            ("ORGANIZATION_NAME", "City of Vienna"),
            ("organization_name_de", "Stadt Wien"),
            ("BLOCK_PAGE_MESSAGE", "Ask City Hall."),
            ("BLOCK_PAGE_MESSAGE_PT_BR", "Pergunte à prefeitura."),
            ("BLOCK_PAGE_MESSAGE_zh_hant", "請洽市政府。"),
            ("BLOCK_PAGE_TITLE_FR", " "),
        ]))
        .unwrap();
        assert_eq!(
            say(&settings, Text::BlockPageMessage, "pt-BR"),
            "Pergunte à prefeitura."
        );
        assert_eq!(
            say(&settings, Text::BlockPageMessage, "zh-Hant"),
            "請洽市政府。"
        );
        // A language the operator did not translate gets their own text, not ours.
        assert_eq!(
            say(&settings, Text::BlockPageMessage, "pt-PT"),
            "Ask City Hall."
        );
        assert_eq!(
            say(&settings, Text::BlockPageMessage, "de"),
            "Ask City Hall."
        );
        // The organization's name in the catalog's texts, in the user's language.
        assert!(say(&settings, Text::UnavailableMessage, "de").contains("Stadt Wien"));
        assert!(say(&settings, Text::UnavailableMessage, "fr").contains("City of Vienna"));
        // A blank variant is no variant: the catalog's title in French.
        assert_eq!(
            say(&settings, Text::BlockPageTitle, "fr"),
            Language::from_code("fr").unwrap().say(
                Text::BlockPageTitle,
                &crate::messages::Args {
                    organization: "",
                    domains: "",
                    min: 0,
                    max: 0
                }
            )
        );
    }

    #[test]
    fn a_variant_needs_its_setting_and_a_language_the_gate_speaks() {
        assert_eq!(
            error_of(&[("BLOCK_PAGE_MESSAGE_DE", "Nur mit Einladung.")]),
            "BLOCK_PAGE_MESSAGE must be set when its language variants (BLOCK_PAGE_MESSAGE_<LANGUAGE>) are: it is the text for every other language"
        );
        assert_eq!(
            error_of(&[("ORGANIZATION_NAME_EN", "Contoso Ltd")]),
            "ORGANIZATION_NAME must be set when its language variants (ORGANIZATION_NAME_<LANGUAGE>) are: it is the text for every other language"
        );
        let error = error_of(&[("BLOCK_PAGE_TITLE", "x"), ("BLOCK_PAGE_TITLE_DEU", "y")]);
        assert!(
            error.starts_with("BLOCK_PAGE_TITLE has a variant BLOCK_PAGE_TITLE_DEU for a language the gate does not speak; the suffix must be one of AR, CS,"),
            "{error}"
        );
        assert!(error.contains(" PT_BR, "), "{error}");
    }

    #[test]
    fn deny_lists_are_checked() {
        assert!(
            error_of(&[("BLOCKED_EMAIL_DOMAINS", "gmail.com,,x.com")])
                .starts_with("BLOCKED_EMAIL_DOMAINS must be a comma-separated list of domains")
        );
        assert_eq!(
            error_of(&[("BLOCKED_LOCAL_PARTS", "admin, a@b")]),
            "BLOCKED_LOCAL_PARTS must be a comma-separated list of local parts ('admin', 'noreply'): entry 2 (\"a@b\") is not the part of an address before '@' (like 'admin' or 'noreply')"
        );
    }

    #[test]
    fn an_empty_username_or_password_never_switches_authentication_off() {
        for pairs in [
            &[
                ("BASIC_AUTH_USERNAME", ""),
                ("BASIC_AUTH_PASSWORD", "secret"),
            ][..],
            &[("BASIC_AUTH_USERNAME", "gate"), ("BASIC_AUTH_PASSWORD", "")][..],
            &[("BASIC_AUTH_USERNAME", "gate")][..],
        ] {
            let settings = Settings::from_env(&env(pairs)).unwrap();
            assert!(matches!(
                settings.api_connector_auth,
                ApiConnectorAuth::BasicNotConfigured
            ));
        }
    }

    #[test]
    fn malformed_values_name_the_variable() {
        assert_eq!(
            error_of(&[("MIN_JOB_TITLE_LENGTH", "abc")]),
            "MIN_JOB_TITLE_LENGTH must be a whole number of characters from 0 to 128, got \"abc\""
        );
        assert_eq!(
            error_of(&[("MIN_JOB_TITLE_LENGTH", "129")]),
            "MIN_JOB_TITLE_LENGTH must be a whole number of characters from 0 to 128, got \"129\""
        );
        assert_eq!(
            error_of(&[("ALLOWED_EMAIL_DOMAINS", "fabrikam.com,,x.com")]),
            "ALLOWED_EMAIL_DOMAINS must be a comma-separated list of domains ('fabrikam.com', '*.fabrikam.com' or '*'): entry 2 is empty"
        );
        assert_eq!(
            error_of(&[("REQUIRE_JOB_TITLE", "yes please")]),
            "REQUIRE_JOB_TITLE must be 'true' or 'false', got \"yes please\""
        );
        assert_eq!(
            error_of(&[("API_CONNECTOR_AUTH", "cert")]),
            "API_CONNECTOR_AUTH must be 'basic' or 'none', got \"cert\""
        );
        assert_eq!(
            error_of(&[("DECISION_DEADLINE_MS", "0")]),
            "DECISION_DEADLINE_MS must be a whole number of milliseconds from 1 to 10000, got \"0\""
        );
        assert_eq!(
            error_of(&[("REQUEST_READ_TIMEOUT_MS", "50")]),
            "REQUEST_READ_TIMEOUT_MS must be a whole number of milliseconds from 100 to 120000, got \"50\""
        );
        assert_eq!(
            error_of(&[("MAX_CONNECTIONS", "-1")]),
            "MAX_CONNECTIONS must be a whole number of connections from 1 to 100000, got \"-1\""
        );
        assert_eq!(
            error_of(&[
                (
                    "AUTH_EVENTS_TENANT_ID",
                    "aaaabbbb-0000-cccc-1111-dddd2222eeee"
                ),
                (
                    "AUTH_EVENTS_CLIENT_ID",
                    "11112222-bbbb-3333-cccc-4444dddd5555"
                ),
                ("AUTH_EVENTS_KEY_REFRESH_HOURS", "0"),
            ]),
            "AUTH_EVENTS_KEY_REFRESH_HOURS must be a whole number of hours from 1 to 168, got \"0\""
        );
        assert_eq!(
            error_of(&[("FUNCTIONS_CUSTOMHANDLER_PORT", "http")]),
            "FUNCTIONS_CUSTOMHANDLER_PORT must be a TCP port number from 1 to 65535, got \"http\""
        );
    }

    #[test]
    fn no_authentication_is_refused_in_azure_only() {
        let local = Settings::from_env(&env(&[("API_CONNECTOR_AUTH", "none")])).unwrap();
        assert!(matches!(local.api_connector_auth, ApiConnectorAuth::None));
        assert_eq!(
            error_of(&[
                ("API_CONNECTOR_AUTH", "None"),
                ("WEBSITE_SITE_NAME", "gate-app")
            ]),
            "API_CONNECTOR_AUTH must be 'basic' in Azure (WEBSITE_SITE_NAME is set); 'none' is only for local runs"
        );
    }

    #[test]
    fn table_store_settings() {
        let settings = Settings::from_env(&env(&[
            ("INVITATION_STORE", "table"),
            ("AzureWebJobsStorage", "UseDevelopmentStorage=true"),
        ]))
        .unwrap();
        let StoreSettings::Table(table) = settings.store else {
            panic!("table expected")
        };
        assert_eq!(
            (table.endpoint.as_str(), table.table.as_str()),
            ("http://127.0.0.1:10002/devstoreaccount1", "Invitations")
        );
        let settings = Settings::from_env(&env(&[
            ("INVITATION_STORE", "table"),
            ("AzureWebJobsStorage__accountName", "gatestore"),
            ("AzureWebJobsStorage__clientId", "1234"),
            ("INVITATIONS_TABLE", "Guests"),
        ]))
        .unwrap();
        assert_eq!(
            settings.store,
            StoreSettings::Table(TableSettings {
                endpoint: "https://gatestore.table.core.windows.net".to_owned(),
                table: "Guests".to_owned(),
                credential: Credential::ManagedIdentity {
                    client_id: Some("1234".to_owned())
                },
            })
        );
        assert_eq!(
            error_of(&[("INVITATION_STORE", "table")]),
            "INVITATION_STORE is 'table' but no table is configured: set INVITATIONS_TABLE_CONNECTION, INVITATIONS_TABLE_ENDPOINT, AzureWebJobsStorage or AzureWebJobsStorage__accountName"
        );
        assert_eq!(
            error_of(&[
                ("INVITATION_STORE", "table"),
                (
                    "INVITATIONS_TABLE_CONNECTION",
                    "AccountName=x;AccountKey=***"
                )
            ]),
            "INVITATIONS_TABLE_CONNECTION must be a storage connection string: AccountKey is not base64"
        );
        assert_eq!(
            error_of(&[
                ("INVITATION_STORE", "table"),
                ("INVITATIONS_TABLE_ENDPOINT", "http://storage.example")
            ]),
            "INVITATIONS_TABLE_ENDPOINT must name a Table service endpoint: \"http://storage.example\" must use https (plain http only for loopback hosts)"
        );
        assert_eq!(
            error_of(&[
                ("INVITATION_STORE", "table"),
                ("INVITATIONS_TABLE", "my-table"),
                ("AzureWebJobsStorage", "UseDevelopmentStorage=true")
            ]),
            "INVITATIONS_TABLE must be 3 to 63 letters and digits starting with a letter, got \"my-table\""
        );
        assert_eq!(
            error_of(&[("INVITATION_STORE", "sql")]),
            "INVITATION_STORE must be 'file' or 'table', got \"sql\""
        );
    }

    #[test]
    fn an_empty_domain_list_is_allowed() {
        let settings = Settings::from_env(&env(&[("ALLOWED_EMAIL_DOMAINS", "")])).unwrap();
        assert!(settings.policy.allowed_domains.is_empty());
    }
}
