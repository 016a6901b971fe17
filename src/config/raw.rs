//! Settings as they arrive: strings, exactly as envy finds them, and the parsers that turn one
//! into a value or an error naming the variable.

use std::ops::RangeInclusive;

use serde::Deserialize;

use super::SettingsError;

/// The variables as strings, exactly as envy finds them (envy matches names case-insensitively).
#[derive(Debug, Default, Deserialize)]
pub(super) struct RawSettings {
    pub(super) functions_customhandler_port: Option<String>,
    pub(super) basic_auth_username: Option<String>,
    pub(super) basic_auth_password: Option<String>,
    pub(super) api_connector_auth: Option<String>,
    pub(super) allowed_email_domains: Option<String>,
    pub(super) blocked_email_domains: Option<String>,
    pub(super) blocked_local_parts: Option<String>,
    pub(super) policy_file: Option<String>,
    pub(super) applicationinsights_connection_string: Option<String>,
    pub(super) min_job_title_length: Option<String>,
    pub(super) require_job_title: Option<String>,
    pub(super) organization_name: Option<String>,
    pub(super) invitations_file: Option<String>,
    pub(super) decision_deadline_ms: Option<String>,
    pub(super) request_read_timeout_ms: Option<String>,
    pub(super) connection_idle_timeout_ms: Option<String>,
    pub(super) max_connections: Option<String>,
    pub(super) block_page_title: Option<String>,
    pub(super) block_page_message: Option<String>,
    pub(super) auth_events_token_validation: Option<String>,
    pub(super) auth_events_tenant_id: Option<String>,
    pub(super) auth_events_client_id: Option<String>,
    pub(super) auth_events_authority: Option<String>,
    pub(super) auth_events_key_refresh_hours: Option<String>,
    pub(super) website_auth_enabled: Option<String>,
    pub(super) invitation_store: Option<String>,
    pub(super) invitations_table: Option<String>,
    pub(super) invitations_table_connection: Option<String>,
    pub(super) invitations_table_endpoint: Option<String>,
    #[serde(rename = "azurewebjobsstorage")]
    pub(super) web_jobs_storage: Option<String>,
    #[serde(rename = "azurewebjobsstorage__accountname")]
    pub(super) web_jobs_storage_account: Option<String>,
    #[serde(rename = "azurewebjobsstorage__tableserviceuri")]
    pub(super) web_jobs_storage_table_uri: Option<String>,
    #[serde(rename = "azurewebjobsstorage__clientid")]
    pub(super) web_jobs_storage_client_id: Option<String>,
}

/// A GUID setting, lower-cased; `None` when unset.
pub(super) fn guid(
    value: &Option<String>,
    variable: &'static str,
) -> Result<Option<String>, SettingsError> {
    let Some(value) = non_blank(value) else {
        return Ok(None);
    };
    match crate::domain::application::Guid::parse(value) {
        Ok(guid) => Ok(Some(guid.to_string())),
        Err(_) => Err(SettingsError::Invalid {
            variable,
            expected: format!(
                "must be a GUID like 00000000-0000-0000-0000-000000000000, got {:?}",
                value.trim()
            ),
        }),
    }
}

pub(super) fn parse_port(value: &str) -> Result<u16, SettingsError> {
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
pub(super) fn whole_number(
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
pub(super) fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

pub(super) fn non_blank(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.trim().is_empty())
}
