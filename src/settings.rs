//! Settings: read once at start-up from the environment, validated, then frozen.
//!
//! Under the Functions host (and in Azure) every setting arrives as an environment variable. A
//! standalone run (`cargo run`, no `FUNCTIONS_CUSTOMHANDLER_PORT`) does what `func start` would
//! have done first: it reads the `Values` of `local.settings.json` (or, failing that,
//! `local.settings.json.example`) without overriding variables that are really set. In Azure
//! (`WEBSITE_SITE_NAME` set) those files are never read.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::caller_auth::basic::BasicCredentials;
use crate::caller_auth::entra_token::{TokenSettings, check_fetch_url};
use crate::caller_auth::{ApiConnectorAuth, AuthEventsAuth};
use crate::invitations::table::{
    Credential, TableSettings, is_table_name, parse_connection_string,
};
use crate::policy::domains::AllowedDomains;
use crate::policy::{MAX_JOB_TITLE_LENGTH, Policy};

/// Port `func start` serves on, used when no host gives us one.
pub const STANDALONE_PORT: u16 = 7071;
/// The file `func start` reads its settings from.
pub const LOCAL_SETTINGS: &str = "local.settings.json";
/// The committed example, used when a developer has not made their own copy yet.
pub const LOCAL_SETTINGS_EXAMPLE: &str = "local.settings.json.example";
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
pub enum Hosting {
    /// Started by the Functions host, which chose the port.
    FunctionsHost { port: u16 },
    /// Started by a person; we listen where `func start` would.
    Standalone,
}

/// The process environment, plus what a standalone run took from `local.settings.json`.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    vars: BTreeMap<String, String>,
    /// Messages about how the environment was assembled, logged once the logger is up.
    pub notes: Vec<(log::Level, String)>,
    /// Whether the committed example settings filled in what the environment lacks (no
    /// `local.settings.json` yet): nothing that is written should then land in example files.
    pub from_example: bool,
}

impl Environment {
    /// Takes the real environment as it is, and in a standalone run outside Azure merges in the
    /// `Values` of the local settings file found in `dir` (real variables win).
    pub fn capture(
        real: impl IntoIterator<Item = (String, String)>,
        dir: &Path,
    ) -> Result<Self, SettingsError> {
        let mut env = Self {
            vars: real.into_iter().collect(),
            notes: Vec::new(),
            from_example: false,
        };
        let hosted = env.get("FUNCTIONS_CUSTOMHANDLER_PORT").is_some();
        if hosted || env.in_azure() {
            return Ok(env);
        }
        let (file, fallback) = (dir.join(LOCAL_SETTINGS), dir.join(LOCAL_SETTINGS_EXAMPLE));
        let chosen = if file.is_file() {
            file
        } else if fallback.is_file() {
            env.notes.push((
                log::Level::Warn,
                format!(
                    "{LOCAL_SETTINGS} not found; using the example settings in {LOCAL_SETTINGS_EXAMPLE} \
                     (copy it to {LOCAL_SETTINGS} and edit it to make them yours)"
                ),
            ));
            env.from_example = true;
            fallback
        } else {
            env.notes.push((
                log::Level::Info,
                format!(
                    "neither {LOCAL_SETTINGS} nor {LOCAL_SETTINGS_EXAMPLE} found; using the environment only"
                ),
            ));
            return Ok(env);
        };
        let values = read_local_settings(&chosen)?;
        let mut taken = 0;
        for (name, value) in values {
            if let std::collections::btree_map::Entry::Vacant(slot) = env.vars.entry(name) {
                slot.insert(value);
                taken += 1;
            }
        }
        env.notes.push((
            log::Level::Info,
            format!(
                "read {taken} setting(s) from {} (variables set in the environment take precedence)",
                chosen.display()
            ),
        ));
        Ok(env)
    }

    /// A variable's value, `None` when unset.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// `WEBSITE_SITE_NAME` is set by the platform in Azure only.
    pub fn in_azure(&self) -> bool {
        self.get("WEBSITE_SITE_NAME")
            .is_some_and(|v| !v.trim().is_empty())
    }

    fn iter(&self) -> impl Iterator<Item = (String, String)> + '_ {
        self.vars.iter().map(|(k, v)| (k.clone(), v.clone()))
    }
}

/// Every setting, validated.
#[derive(Clone)]
pub struct Settings {
    pub hosting: Hosting,
    /// Whether we run in Azure; some conveniences are refused there.
    pub in_azure: bool,
    pub api_connector_auth: ApiConnectorAuth,
    pub policy: Policy,
    /// The invitation CSV file, relative to the function app root (the working directory).
    pub invitations_file: PathBuf,
    /// Where invitations live (`INVITATION_STORE`).
    pub invitation_store: StoreKind,
    /// How long a decision may wait for the invitation store.
    pub decision_deadline: Duration,
    /// What the Entra functions show to people who may not sign up.
    pub block_page: BlockPage,
    /// How callers of the Entra functions are checked.
    pub auth_events_auth: AuthEventsAuth,
    /// How much of the machine one client can hold.
    pub connections: ConnectionLimits,
    /// Whether these are the committed example settings (no `local.settings.json`).
    pub from_example: bool,
}

/// Limits that keep slow or idle clients from holding the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Longest wait for a request's body once its head has arrived (`REQUEST_READ_TIMEOUT_MS`).
    pub read_timeout: Duration,
    /// Longest wait for a request's head: how long a connection may stay idle, or take to send
    /// its head (`CONNECTION_IDLE_TIMEOUT_MS`).
    pub idle_timeout: Duration,
    /// Connections served at once (`MAX_CONNECTIONS`); further ones wait in the listen queue.
    pub max_connections: usize,
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

/// The invitation backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreKind {
    /// The CSV file `invitations_file`.
    File,
    /// Azure Table Storage.
    Table(TableSettings),
}

/// Title and message of the Entra block page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockPage {
    pub title: String,
    pub message: String,
}

/// The variables as strings, exactly as envy finds them (envy matches names case-insensitively).
#[derive(Debug, Default, Deserialize)]
struct RawSettings {
    functions_customhandler_port: Option<String>,
    basic_auth_username: Option<String>,
    basic_auth_password: Option<String>,
    api_connector_auth: Option<String>,
    allowed_email_domains: Option<String>,
    min_job_title_length: Option<String>,
    require_job_title: Option<String>,
    organization_name: Option<String>,
    invitations_file: Option<String>,
    decision_deadline_ms: Option<String>,
    request_read_timeout_ms: Option<String>,
    connection_idle_timeout_ms: Option<String>,
    max_connections: Option<String>,
    block_page_title: Option<String>,
    block_page_message: Option<String>,
    auth_events_token_validation: Option<String>,
    auth_events_tenant_id: Option<String>,
    auth_events_client_id: Option<String>,
    auth_events_authority: Option<String>,
    auth_events_key_refresh_hours: Option<String>,
    website_auth_enabled: Option<String>,
    invitation_store: Option<String>,
    invitations_table: Option<String>,
    invitations_table_connection: Option<String>,
    invitations_table_endpoint: Option<String>,
    #[serde(rename = "azurewebjobsstorage")]
    web_jobs_storage: Option<String>,
    #[serde(rename = "azurewebjobsstorage__accountname")]
    web_jobs_storage_account: Option<String>,
    #[serde(rename = "azurewebjobsstorage__tableserviceuri")]
    web_jobs_storage_table_uri: Option<String>,
    #[serde(rename = "azurewebjobsstorage__clientid")]
    web_jobs_storage_client_id: Option<String>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("hosting", &self.hosting)
            .field("in_azure", &self.in_azure)
            .field("policy", &self.policy)
            .field("invitations_file", &self.invitations_file)
            .field("invitation_store", &self.invitation_store)
            .field("decision_deadline", &self.decision_deadline)
            .field("block_page", &self.block_page)
            .field("auth_events_auth", &self.auth_events_auth)
            .field("connections", &self.connections)
            .finish_non_exhaustive()
    }
}

impl Settings {
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
        let allowed_domains = match &raw.allowed_email_domains {
            None => AllowedDomains::parse("fabrikam.com,fabricam.com").expect("default domains are valid"),
            Some(value) => AllowedDomains::parse(value).map_err(|error| SettingsError::Invalid {
                variable: "ALLOWED_EMAIL_DOMAINS",
                expected: format!(
                    "must be a comma-separated list of domains ('fabrikam.com', '*.fabrikam.com' or '*'): {error}"
                ),
            })?,
        };
        let min_job_title_length = match non_blank(&raw.min_job_title_length) {
            None => 4,
            Some(value) => value
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|length| *length <= MAX_JOB_TITLE_LENGTH)
                .ok_or_else(|| SettingsError::Invalid {
                    variable: "MIN_JOB_TITLE_LENGTH",
                    expected: format!(
                        "must be a whole number of characters from 0 to {MAX_JOB_TITLE_LENGTH}, got {value:?}"
                    ),
                })?,
        };
        let require_job_title = match non_blank(&raw.require_job_title) {
            None => false,
            Some(value) => parse_bool(value).ok_or_else(|| SettingsError::Invalid {
                variable: "REQUIRE_JOB_TITLE",
                expected: format!("must be 'true' or 'false', got {value:?}"),
            })?,
        };
        let organization_name = non_blank(&raw.organization_name)
            .unwrap_or("Contoso")
            .trim()
            .to_owned();
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
        let block_page = BlockPage {
            title: non_blank(&raw.block_page_title)
                .map_or_else(|| "Invitation required".to_owned(), |t| t.trim().to_owned()),
            message: non_blank(&raw.block_page_message).map_or_else(
                || {
                    format!(
                        "Sign-up for {organization_name} is by invitation only. Please ask your contact at {organization_name} to invite you."
                    )
                },
                |m| m.trim().to_owned(),
            ),
        };
        let auth_events_auth = auth_events_auth(&raw, in_azure, decision_deadline)?;
        let invitation_store = invitation_store(&raw)?;
        Ok(Self {
            hosting,
            in_azure,
            api_connector_auth,
            auth_events_auth,
            invitation_store,
            invitations_file: PathBuf::from(
                non_blank(&raw.invitations_file)
                    .unwrap_or("invitations.csv")
                    .trim(),
            ),
            decision_deadline,
            connections,
            from_example: env.from_example,
            block_page,
            policy: Policy {
                allowed_domains,
                min_job_title_length,
                require_job_title,
                organization_name,
            },
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

fn invitation_store(raw: &RawSettings) -> Result<StoreKind, SettingsError> {
    let kind = non_blank(&raw.invitation_store)
        .unwrap_or("file")
        .trim()
        .to_ascii_lowercase();
    match kind.as_str() {
        "file" => return Ok(StoreKind::File),
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
    Ok(StoreKind::Table(TableSettings {
        endpoint,
        table,
        credential,
    }))
}

/// A GUID setting, lower-cased; `None` when unset.
fn guid(value: &Option<String>, variable: &'static str) -> Result<Option<String>, SettingsError> {
    let Some(value) = non_blank(value) else {
        return Ok(None);
    };
    let value = value.trim();
    let groups: Vec<&str> = value.split('-').collect();
    let shaped = groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(group, len)| group.len() == len && group.bytes().all(|b| b.is_ascii_hexdigit()));
    if shaped {
        Ok(Some(value.to_ascii_lowercase()))
    } else {
        Err(SettingsError::Invalid {
            variable,
            expected: format!(
                "must be a GUID like 00000000-0000-0000-0000-000000000000, got {value:?}"
            ),
        })
    }
}

fn parse_port(value: &str) -> Result<u16, SettingsError> {
    value
        .trim()
        .parse::<u16>()
        .ok()
        .filter(|port| *port != 0)
        .ok_or_else(|| SettingsError::Invalid {
            variable: "FUNCTIONS_CUSTOMHANDLER_PORT",
            expected: format!("must be a TCP port number from 1 to 65535, got {value:?}"),
        })
}

/// A whole number within `range`, or the error that names the variable and the range.
fn whole_number(
    variable: &'static str,
    value: &str,
    range: RangeInclusive<u64>,
    unit: &str,
) -> Result<u64, SettingsError> {
    value
        .trim()
        .parse::<u64>()
        .ok()
        .filter(|number| range.contains(number))
        .ok_or_else(|| SettingsError::Invalid {
            variable,
            expected: format!(
                "must be a whole number of {unit} from {} to {}, got {value:?}",
                range.start(),
                range.end()
            ),
        })
}

/// `true`/`false` in any case (the portal writes `True`), or `1`/`0`.
fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

fn non_blank(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.trim().is_empty())
}

/// `{"IsEncrypted": false, "Values": {...}}`: the values as strings (numbers and booleans are
/// written out as the host would; anything else is refused).
fn read_local_settings(path: &Path) -> Result<Vec<(String, String)>, SettingsError> {
    let problem = |problem: String| SettingsError::LocalSettings {
        file: path.display().to_string(),
        problem,
    };
    #[derive(Deserialize)]
    struct LocalSettings {
        #[serde(rename = "IsEncrypted", default)]
        is_encrypted: bool,
        #[serde(rename = "Values", default)]
        values: serde_json::Map<String, serde_json::Value>,
    }
    let text =
        std::fs::read_to_string(path).map_err(|e| problem(format!("cannot be read: {e}")))?;
    let file: LocalSettings = serde_json::from_str(&text)
        .map_err(|e| problem(format!("is not valid settings JSON: {e}")))?;
    if file.is_encrypted {
        return Err(problem(
            "is encrypted (IsEncrypted: true); only the Functions host can decrypt it, so run `func start` or decrypt it with `func settings decrypt`"
                .to_owned(),
        ));
    }
    file.values
        .into_iter()
        .map(|(name, value)| match value {
            serde_json::Value::String(text) => Ok((name, text)),
            serde_json::Value::Number(number) => Ok((name, number.to_string())),
            serde_json::Value::Bool(flag) => Ok((name, flag.to_string())),
            _ => Err(problem(format!("Values.{name} must be a string"))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Environment {
        Environment {
            vars: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            notes: Vec::new(),
            from_example: false,
        }
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
        assert_eq!(settings.policy.organization_name, "Contoso");
        assert_eq!(settings.invitations_file, PathBuf::from("invitations.csv"));
        assert_eq!(settings.decision_deadline, Duration::from_millis(700));
        assert_eq!(settings.connections.read_timeout, Duration::from_secs(10));
        assert_eq!(settings.connections.idle_timeout, Duration::from_secs(130));
        assert_eq!(settings.connections.max_connections, 1024);
        assert_eq!(
            settings.block_page,
            BlockPage {
                title: "Invitation required".to_owned(),
                message: "Sign-up for Contoso is by invitation only. Please ask your contact at Contoso to invite you.".to_owned()
            }
        );
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
        ]))
        .unwrap();
        assert_eq!(settings.invitations_file, PathBuf::from("data/invites.csv"));
        assert_eq!(settings.decision_deadline, Duration::from_millis(250));
        assert_eq!(
            settings.connections,
            ConnectionLimits {
                read_timeout: Duration::from_millis(1500),
                idle_timeout: Duration::from_secs(60),
                max_connections: 64
            }
        );
        assert_eq!(settings.block_page.title, "Members only");
        assert_eq!(settings.block_page.message, "Ask HR.");
        assert_eq!(settings.hosting, Hosting::FunctionsHost { port: 4567 });
        assert!(matches!(
            settings.api_connector_auth,
            ApiConnectorAuth::Basic(_)
        ));
        assert_eq!(settings.policy.allowed_domains.to_string(), "*.contoso.com");
        assert_eq!(settings.policy.min_job_title_length, 2);
        assert!(settings.policy.require_job_title);
        assert_eq!(settings.policy.organization_name, "Woodgrove");
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
        let StoreKind::Table(table) = settings.invitation_store else {
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
            settings.invitation_store,
            StoreKind::Table(TableSettings {
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

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn standalone_merges_local_settings_without_overriding_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            LOCAL_SETTINGS,
            r#"{"IsEncrypted": false, "Values": {"ORGANIZATION_NAME": "FromFile", "MIN_JOB_TITLE_LENGTH": 6, "REQUIRE_JOB_TITLE": true}}"#,
        );
        let env =
            Environment::capture(pairs(&[("ORGANIZATION_NAME", "FromEnv")]), dir.path()).unwrap();
        assert_eq!(env.get("ORGANIZATION_NAME"), Some("FromEnv"));
        assert_eq!(env.get("MIN_JOB_TITLE_LENGTH"), Some("6"));
        assert_eq!(env.get("REQUIRE_JOB_TITLE"), Some("true"));
    }

    #[test]
    fn standalone_falls_back_to_the_example_with_a_note() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            LOCAL_SETTINGS_EXAMPLE,
            r#"{"Values": {"ORGANIZATION_NAME": "Example"}}"#,
        );
        let env = Environment::capture(Vec::new(), dir.path()).unwrap();
        assert_eq!(env.get("ORGANIZATION_NAME"), Some("Example"));
        assert!(env.from_example);
        assert_eq!(env.notes[0].0, log::Level::Warn);
        assert!(
            env.notes[0].1.contains("using the example settings"),
            "{:?}",
            env.notes
        );
    }

    #[test]
    fn hosted_and_azure_runs_never_read_the_files() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            LOCAL_SETTINGS,
            r#"{"Values": {"ORGANIZATION_NAME": "FromFile"}}"#,
        );
        for real in [
            pairs(&[("FUNCTIONS_CUSTOMHANDLER_PORT", "5000")]),
            pairs(&[("WEBSITE_SITE_NAME", "gate-app")]),
        ] {
            let env = Environment::capture(real, dir.path()).unwrap();
            assert_eq!(env.get("ORGANIZATION_NAME"), None);
        }
    }

    #[test]
    fn a_broken_local_settings_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), LOCAL_SETTINGS, r#"{"Values": {"X": ["a"]}}"#);
        let error = Environment::capture(Vec::new(), dir.path()).unwrap_err();
        assert!(
            error
                .to_string()
                .ends_with("local.settings.json: Values.X must be a string"),
            "{error}"
        );
        write(dir.path(), LOCAL_SETTINGS, "{not json");
        let error = Environment::capture(Vec::new(), dir.path()).unwrap_err();
        assert!(
            error.to_string().contains("is not valid settings JSON"),
            "{error}"
        );
    }
}
