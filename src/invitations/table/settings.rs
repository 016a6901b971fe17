//! Where the table is, from the settings: a connection string with an account key, or an
//! endpoint reached with the managed identity; the function app's own storage when nothing of
//! ours is set.

use super::connection::{Credential, TableSettings, is_table_name, parse_connection_string};
use crate::outbound::check_fetch_url;
use crate::setting::Environment;
use crate::setting::SettingsError;
use crate::setting::{Kind, Setting, settings};

settings! {
    SETTINGS;
    INVITATIONS_TABLE: Invitations, Kind::Text, Some("Invitations"),
        "the table's name, 3 to 63 letters and digits starting with a letter",
        "`Invitations`";
    INVITATION_REQUESTS_TABLE: Invitations, Kind::Text, Some("InvitationRequests"),
        "the waitlist's table, in the same account as the invitations (3 to 63 letters and digits starting \
         with a letter); the server writes to it where a waitlist is on",
        "`InvitationRequests`";
    INVITATIONS_TABLE_CONNECTION: Invitations, Kind::Secret, None,
        "a storage connection string with an account key (`UseDevelopmentStorage=true` for Azurite)",
        "falls back to the settings below, in this order";
    INVITATIONS_TABLE_ENDPOINT: Invitations, Kind::Text, None,
        "the Table service URL for an identity-based connection (a managed identity token)",
        "none";
    AzureWebJobsStorage: Invitations, Kind::Secret, None,
        "the function app's own storage connection string, used for the table when nothing above is set",
        "none";
    AzureWebJobsStorage__tableServiceUri: Invitations, Kind::Text, None,
        "the function app's identity-based storage: its Table service URL",
        "none";
    AzureWebJobsStorage__accountName: Invitations, Kind::Text, None,
        "the function app's identity-based storage: its account name \
         (`https://<account>.table.core.windows.net`)",
        "none";
    AzureWebJobsStorage__clientId: Invitations, Kind::Text, None,
        "the client id of the user-assigned managed identity to take tokens for",
        "the system-assigned identity";

}

/// The table the settings name; the error names the setting that is wrong.
pub(crate) fn read(env: &Environment) -> Result<TableSettings, SettingsError> {
    let table = INVITATIONS_TABLE.text(env).to_owned();
    if !is_table_name(&table) {
        return Err(INVITATIONS_TABLE.invalid(format!(
            "must be 3 to 63 letters and digits starting with a letter, got {table:?}"
        )));
    }
    let requests_table = INVITATION_REQUESTS_TABLE.text(env).to_owned();
    if !is_table_name(&requests_table) || requests_table.eq_ignore_ascii_case(&table) {
        return Err(INVITATION_REQUESTS_TABLE.invalid(format!(
            "must be 3 to 63 letters and digits starting with a letter, and not the invitations' table, got \
             {requests_table:?}"
        )));
    }
    let connection = |setting: &Setting, text: &str| {
        parse_connection_string(text).map_err(|problem| {
            setting.invalid(format!("must be a storage connection string: {problem}"))
        })
    };
    let identity = Credential::ManagedIdentity {
        client_id: AzureWebJobsStorage__clientId
            .read(env)
            .map(|id| id.trim().to_owned()),
    };
    let (setting, endpoint, credential) = if let Some(text) = INVITATIONS_TABLE_CONNECTION.read(env)
    {
        let (endpoint, credential) = connection(&INVITATIONS_TABLE_CONNECTION, text)?;
        (&INVITATIONS_TABLE_CONNECTION, endpoint, credential)
    } else if let Some(endpoint) = INVITATIONS_TABLE_ENDPOINT.read(env) {
        (
            &INVITATIONS_TABLE_ENDPOINT,
            endpoint.trim().trim_end_matches('/').to_owned(),
            identity,
        )
    } else if let Some(text) = AzureWebJobsStorage.read(env) {
        let (endpoint, credential) = connection(&AzureWebJobsStorage, text)?;
        (&AzureWebJobsStorage, endpoint, credential)
    } else if let Some(uri) = AzureWebJobsStorage__tableServiceUri.read(env) {
        (
            &AzureWebJobsStorage__tableServiceUri,
            uri.trim().trim_end_matches('/').to_owned(),
            identity,
        )
    } else if let Some(account) = AzureWebJobsStorage__accountName.read(env) {
        let endpoint = format!("https://{}.table.core.windows.net", account.trim());
        (&AzureWebJobsStorage__accountName, endpoint, identity)
    } else {
        return Err(SettingsError::Invalid {
            variable: "INVITATION_STORE",
            expected: "is 'table' but no table is configured: set INVITATIONS_TABLE_CONNECTION, \
                       INVITATIONS_TABLE_ENDPOINT, AzureWebJobsStorage or AzureWebJobsStorage__accountName"
                .to_owned(),
        });
    };
    check_fetch_url(&endpoint).map_err(|problem| {
        setting.invalid(format!("must name a Table service endpoint: {problem}"))
    })?;
    Ok(TableSettings {
        endpoint,
        table,
        requests_table,
        credential,
    })
}
