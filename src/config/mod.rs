//! Settings: read once at start-up from the environment, validated, then frozen.
//!
//! Three stages: where the values come from ([`environment`]: the process environment, and in
//! a standalone run `local.settings.json`), the values as strings ([`raw`]), and here the
//! validated settings of each component. A malformed value stops start-up with one line naming
//! the variable and what it expects.

pub(crate) mod catalog;
mod policy;
pub(crate) mod report;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::callers::basic::BasicCredentials;
use crate::callers::entra::TokenSettings;
use crate::callers::{ApiConnectorAuth, AuthEventsAuth};
use crate::gate::{Policies, PolicyFileError};
use crate::invitations::StoreSettings;
use crate::messages::Catalog;
use crate::outbound::check_fetch_url;
use crate::policy::Policy;
use crate::setting::raw::{self, parse_port};
pub use crate::setting::{Environment, LOCAL_SETTINGS, LOCAL_SETTINGS_EXAMPLE, SettingsError};

/// Port `func start` serves on, used when no host gives us one.
pub(crate) const STANDALONE_PORT: u16 = 7071;

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
    /// How uploads authenticate (`APPLICATIONINSIGHTS_AUTHENTICATION_STRING`): with the managed
    /// identity's token; none: the instrumentation key alone.
    pub(crate) telemetry_authentication: Option<String>,
    /// Where invitations live (`INVITATION_STORE`; the file `INVITATIONS_FILE` is relative to
    /// the function app root, the working directory).
    pub(crate) store: StoreSettings,
    /// What new invitations get unless their creator says otherwise.
    pub(crate) invitation_defaults: crate::invitations::Defaults,
    /// How much the waitlist may hold, and for how long.
    pub(crate) waitlist: crate::invitations::requests::WaitlistLimits,
    /// How long a decision may wait for the invitation store.
    pub(crate) decision_deadline: Duration,
    /// How callers of the Entra functions are checked.
    pub(crate) auth_events_auth: AuthEventsAuth,
    /// How much of the machine one client can hold.
    pub(crate) connections: ConnectionLimits,
    /// Whether these are the committed example settings (no `local.settings.json`).
    pub(crate) from_example: bool,
    /// What the operator should hear of (see [`Note`]).
    pub(crate) notes: Vec<Note>,
    /// The languages the gate speaks (texts of the settings and the policy file name them).
    pub catalog: &'static Catalog,
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
            Some(path) => Policies::from_file(self.policy.clone(), path.clone(), self.catalog),
        }
    }

    /// Validates every setting; the first bad one stops start-up. What the settings leave open
    /// but does not stop start-up (a likely typo, a default that surprises in Azure) is in
    /// [`Self::notes`], logged at start-up and failed by `handler doctor`.
    pub fn from_env(env: &Environment, catalog: &'static Catalog) -> Result<Self, SettingsError> {
        let in_azure = env.in_azure();
        let hosting = match catalog::FUNCTIONS_CUSTOMHANDLER_PORT.read(env) {
            None => Hosting::Standalone,
            Some(port) => Hosting::FunctionsHost {
                port: parse_port(port)?,
            },
        };
        let api_connector_auth = api_connector_auth(env, in_azure)?;
        let milliseconds =
            |setting: &catalog::Setting| setting.whole(env).map(Duration::from_millis);
        let decision_deadline = milliseconds(&catalog::DECISION_DEADLINE_MS)?;
        let connections = ConnectionLimits {
            read_timeout: milliseconds(&catalog::REQUEST_READ_TIMEOUT_MS)?,
            idle_timeout: milliseconds(&catalog::CONNECTION_IDLE_TIMEOUT_MS)?,
            max_connections: catalog::MAX_CONNECTIONS.whole(env)? as usize,
        };
        let auth_events_auth = auth_events_auth(env, in_azure, decision_deadline)?;
        let store = StoreSettings::read(env)?;
        let invitation_defaults = crate::invitations::Defaults::read(env)?;
        let waitlist = crate::invitations::requests::WaitlistLimits::read(env)?;
        let (policy, mut notes) = policy::policy(env, catalog)?;
        notes.extend(
            catalog::unknown(env)
                .into_iter()
                .map(|(name, closest)| Note::UnknownSetting { name, closest }),
        );
        Ok(Self {
            hosting,
            in_azure,
            api_connector_auth,
            auth_events_auth,
            store,
            invitation_defaults,
            waitlist,
            decision_deadline,
            connections,
            from_example: env.from_example,
            policy,
            policy_file: policy::policy_file(env),
            telemetry: catalog::APPLICATIONINSIGHTS_CONNECTION_STRING
                .read(env)
                .map(|value| value.trim().to_owned()),
            telemetry_authentication: catalog::APPLICATIONINSIGHTS_AUTHENTICATION_STRING
                .read(env)
                .map(|value| value.trim().to_owned()),
            notes,
            catalog,
        })
    }
}

/// Something about the settings that does not stop start-up but that the operator should
/// hear of: logged at start-up, failed by `handler doctor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Note {
    /// A name that looks like a setting of ours but is none (a typo, most likely).
    UnknownSetting {
        name: String,
        closest: Option<&'static str>,
    },
    /// In Azure, `ALLOWED_EMAIL_DOMAINS` is unset: no domain is admitted (not the sample's).
    NoAllowListInAzure,
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownSetting { name, closest } => {
                f.write_str(&catalog::describe_unknown(name, *closest))
            }
            Self::NoAllowListInAzure => f.write_str(
                "ALLOWED_EMAIL_DOMAINS is not set: in Azure that means no domain is admitted by its domain \
                 (only invitations admit); set it to the domains to admit, or to 'none' to say that invitation \
                 only is meant",
            ),
        }
    }
}

fn api_connector_auth(
    env: &Environment,
    in_azure: bool,
) -> Result<ApiConnectorAuth, SettingsError> {
    let setting = &catalog::API_CONNECTOR_AUTH;
    let mode = setting.choice(env)?;
    if mode == "none" {
        if in_azure {
            return Err(setting.invalid(
                "must be 'basic' in Azure (WEBSITE_SITE_NAME is set); 'none' is only for local runs"
                    .to_owned(),
            ));
        }
        return Ok(ApiConnectorAuth::None);
    }
    // Empty strings count as missing: an empty username must never switch authentication off.
    let username = env
        .setting(catalog::BASIC_AUTH_USERNAME.name)
        .filter(|v| !v.is_empty());
    let password = env
        .setting(catalog::BASIC_AUTH_PASSWORD.name)
        .filter(|v| !v.is_empty());
    Ok(match (username, password) {
        (Some(username), Some(password)) => {
            ApiConnectorAuth::Basic(BasicCredentials::new(username, password))
        }
        _ => ApiConnectorAuth::BasicNotConfigured,
    })
}

fn auth_events_auth(
    env: &Environment,
    in_azure: bool,
    key_wait: Duration,
) -> Result<AuthEventsAuth, SettingsError> {
    let setting = &catalog::AUTH_EVENTS_TOKEN_VALIDATION;
    let mode = setting.choice(env)?;
    match mode.as_str() {
        "none" if in_azure => {
            return Err(setting.invalid(
                "must be 'jwt' or 'easyauth' in Azure (WEBSITE_SITE_NAME is set); 'none' is only for local runs"
                    .to_owned(),
            ));
        }
        "none" => return Ok(AuthEventsAuth::None),
        "easyauth" => {
            let enabled = catalog::WEBSITE_AUTH_ENABLED
                .read(env)
                .and_then(raw::parse_bool);
            if enabled != Some(true) {
                return Err(setting.invalid(
                    "is 'easyauth' but Easy Auth is not enabled (WEBSITE_AUTH_ENABLED is not True): its headers could be forged"
                        .to_owned(),
                ));
            }
        }
        _ => {}
    }
    let tenant_id = catalog::AUTH_EVENTS_TENANT_ID.guid(env)?;
    let client_id = catalog::AUTH_EVENTS_CLIENT_ID.guid(env)?;
    let (tenant_id, client_id) = match (tenant_id, client_id) {
        (Some(tenant_id), Some(client_id)) => (tenant_id, client_id),
        (tenant_id, _) => {
            let missing = if tenant_id.is_none() {
                catalog::AUTH_EVENTS_TENANT_ID.name
            } else {
                catalog::AUTH_EVENTS_CLIENT_ID.name
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
    let authority = match catalog::AUTH_EVENTS_AUTHORITY.read(env) {
        Some(authority) => authority.trim().trim_end_matches('/').to_owned(),
        None => format!("https://{tenant_id}.ciamlogin.com/{tenant_id}/v2.0"),
    };
    check_fetch_url(&authority).map_err(|problem| {
        catalog::AUTH_EVENTS_AUTHORITY
            .invalid(format!("must be the tenant's authority URL: {problem}"))
    })?;
    let refresh_hours = catalog::AUTH_EVENTS_KEY_REFRESH_HOURS.whole(env)?;
    Ok(AuthEventsAuth::Jwt(TokenSettings {
        tenant_id,
        client_id,
        metadata_url: format!("{authority}/.well-known/openid-configuration"),
        refresh: Duration::from_secs(refresh_hours * 3600),
        key_wait,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::Text;

    fn env(pairs: &[(&str, &str)]) -> Environment {
        Environment::new(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    fn error_of(pairs: &[(&str, &str)]) -> String {
        Settings::from_env(&env(pairs), Catalog::built_in())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn defaults_follow_the_original_sample() {
        let settings = Settings::from_env(&env(&[]), Catalog::built_in()).unwrap();
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
            .say(text, Catalog::built_in().from_code(code).unwrap())
    }

    #[test]
    fn reads_every_variable() {
        let settings = Settings::from_env(
            &env(&[
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
            ]),
            Catalog::built_in(),
        )
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
            settings
                .policy
                .texts
                .organization
                .get(Catalog::built_in().english()),
            "Woodgrove"
        );
    }

    #[test]
    fn texts_take_language_variants() {
        let settings = Settings::from_env(
            &env(&[
                ("ORGANIZATION_NAME", "City of Vienna"),
                ("organization_name_de", "Stadt Wien"),
                ("BLOCK_PAGE_MESSAGE", "Ask City Hall."),
                ("BLOCK_PAGE_MESSAGE_PT_BR", "Pergunte à prefeitura."),
                ("BLOCK_PAGE_MESSAGE_zh_hant", "請洽市政府。"),
                ("BLOCK_PAGE_TITLE_FR", " "),
            ]),
            Catalog::built_in(),
        )
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
            Catalog::built_in().from_code("fr").unwrap().say(
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
            let settings = Settings::from_env(&env(pairs), Catalog::built_in()).unwrap();
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
            "FUNCTIONS_CUSTOMHANDLER_PORT must be a TCP port number from 0 to 65535, got \"http\""
        );
    }

    #[test]
    fn no_authentication_is_refused_in_azure_only() {
        let local =
            Settings::from_env(&env(&[("API_CONNECTOR_AUTH", "none")]), Catalog::built_in())
                .unwrap();
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
        let settings = Settings::from_env(
            &env(&[
                ("INVITATION_STORE", "table"),
                ("AzureWebJobsStorage", "UseDevelopmentStorage=true"),
            ]),
            Catalog::built_in(),
        )
        .unwrap();
        let StoreSettings::Table(table) = settings.store else {
            panic!("table expected")
        };
        assert_eq!(
            (table.endpoint.as_str(), table.table.as_str()),
            ("http://127.0.0.1:10002/devstoreaccount1", "Invitations")
        );
        let settings = Settings::from_env(
            &env(&[
                ("INVITATION_STORE", "table"),
                ("AzureWebJobsStorage__accountName", "gatestore"),
                ("AzureWebJobsStorage__clientId", "1234"),
                ("INVITATIONS_TABLE", "Guests"),
            ]),
            Catalog::built_in(),
        )
        .unwrap();
        assert_eq!(
            settings.store,
            StoreSettings::Table(crate::invitations::table::TableSettings {
                endpoint: "https://gatestore.table.core.windows.net".to_owned(),
                table: "Guests".to_owned(),
                requests_table: "InvitationRequests".to_owned(),
                credential: crate::invitations::table::Credential::ManagedIdentity {
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
    fn the_sites_disposable_domains_file_is_read_once_and_a_bad_one_stops_start_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disposable.txt");
        let name = path.to_str().unwrap();
        let error = error_of(&[("DISPOSABLE_DOMAINS_FILE", name)]);
        assert!(
            error.starts_with(&format!(
                "DISPOSABLE_DOMAINS_FILE names {name}, which cannot be read: "
            )),
            "{error}"
        );
        std::fs::write(
            &path,
            "# ours\nthrowaway.example\n\n!x.mailinator.com\nnot a domain\n",
        )
        .unwrap();
        assert_eq!(
            error_of(&[("DISPOSABLE_DOMAINS_FILE", name)]),
            format!(
                "DISPOSABLE_DOMAINS_FILE names {name}, which has problems: line 5: \"not a domain\" is not a domain like \
                 'mailinator.com' (one a line; '!mailinator.com' for an exception, '#' for a comment)"
            )
        );
        std::fs::write(&path, b"ok.example\n\xff.example\n").unwrap();
        assert_eq!(
            error_of(&[("DISPOSABLE_DOMAINS_FILE", name)]),
            format!("DISPOSABLE_DOMAINS_FILE names {name}, whose line 2 is not UTF-8 text")
        );
        std::fs::write(&path, "throwaway.example\n!x.mailinator.com\n").unwrap();
        let settings = Settings::from_env(
            &env(&[
                ("DISPOSABLE_DOMAINS_FILE", name),
                ("BLOCK_DISPOSABLE_DOMAINS", "true"),
                ("BLOCK_SUBADDRESSES", "True"),
            ]),
            Catalog::built_in(),
        )
        .unwrap();
        let policy = &settings.policy;
        assert!(policy.block_disposable_domains && policy.block_subaddresses);
        let email = |address| crate::domain::email::EmailAddress::parse(address).unwrap();
        assert!(
            policy
                .disposable_domains
                .contains(&email("a@throwaway.example"))
        );
        assert!(
            !policy
                .disposable_domains
                .contains(&email("a@x.mailinator.com"))
        );
        assert!(
            policy
                .disposable_domains
                .contains(&email("a@mailinator.com"))
        );
        // Without the setting: the shipped list alone, and both switches off.
        let settings = Settings::from_env(&env(&[]), Catalog::built_in()).unwrap();
        let policy = &settings.policy;
        assert!(!policy.block_disposable_domains && !policy.block_subaddresses);
        assert!(
            !policy
                .disposable_domains
                .contains(&email("a@throwaway.example"))
        );
        assert!(
            policy
                .disposable_domains
                .contains(&email("a@x.mailinator.com"))
        );
        assert_eq!(
            error_of(&[("BLOCK_SUBADDRESSES", "sometimes")]),
            "BLOCK_SUBADDRESSES must be 'true' or 'false', got \"sometimes\""
        );
    }

    #[test]
    fn an_empty_domain_list_is_allowed() {
        let settings =
            Settings::from_env(&env(&[("ALLOWED_EMAIL_DOMAINS", "")]), Catalog::built_in())
                .unwrap();
        assert!(settings.policy.allowed_domains.is_empty());
    }
}
