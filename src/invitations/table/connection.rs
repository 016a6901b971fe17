//! Where the invitation table is and how to prove who we are: storage connection strings
//! (Azurite's `UseDevelopmentStorage=true` included), table names, credentials.

use base64::Engine as _;

/// The emulator's well-known account and key (public, documented by Microsoft).
pub(crate) const DEVELOPMENT_ACCOUNT: &str = "devstoreaccount1";
const DEVELOPMENT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const DEVELOPMENT_ENDPOINT: &str = "http://127.0.0.1:10002/devstoreaccount1";

/// How requests prove who we are.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Credential {
    /// Account name and key, from a connection string.
    SharedKey { account: String, key: Vec<u8> },
    /// A token from the platform's managed identity (`IDENTITY_ENDPOINT` / `IDENTITY_HEADER`),
    /// optionally of a user-assigned identity.
    ManagedIdentity { client_id: Option<String> },
}

/// Never the key.
impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::SharedKey { account, .. } => write!(f, "SharedKey({account})"),
            Self::ManagedIdentity { client_id } => write!(f, "ManagedIdentity({client_id:?})"),
        }
    }
}

/// Where the table is and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TableSettings {
    /// Table service endpoint without a trailing slash, e.g.
    /// `https://acct.table.core.windows.net` or `http://127.0.0.1:10002/devstoreaccount1`.
    pub(crate) endpoint: String,
    pub(crate) table: String,
    /// The waitlist's table (`INVITATION_REQUESTS_TABLE`).
    pub(crate) requests_table: String,
    pub(crate) credential: Credential,
}

/// Why a connection string was refused; never holds the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ConnectionStringError {
    #[error("part {0:?} is not Name=Value")]
    NotNameValue(String),
    #[error("SAS connection strings are not supported; use an account key or a managed identity")]
    SharedAccessSignature,
    #[error("AccountName is missing")]
    NoAccountName,
    #[error("AccountKey is missing")]
    NoAccountKey,
    #[error("AccountKey is not base64")]
    KeyNotBase64,
}

/// A connection string → endpoint and credential.
pub(crate) fn parse_connection_string(
    text: &str,
) -> Result<(String, Credential), ConnectionStringError> {
    let mut parts = std::collections::HashMap::new();
    for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, value) = part.split_once('=').ok_or_else(|| {
            ConnectionStringError::NotNameValue(
                part.split('=').next().unwrap_or_default().to_owned(),
            )
        })?;
        parts.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
    if parts
        .get("usedevelopmentstorage")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        let key = base64::engine::general_purpose::STANDARD
            .decode(DEVELOPMENT_KEY)
            .map_err(|_| ConnectionStringError::KeyNotBase64)?;
        return Ok((
            DEVELOPMENT_ENDPOINT.to_owned(),
            Credential::SharedKey {
                account: DEVELOPMENT_ACCOUNT.to_owned(),
                key,
            },
        ));
    }
    if parts.contains_key("sharedaccesssignature") {
        return Err(ConnectionStringError::SharedAccessSignature);
    }
    let account = parts
        .get("accountname")
        .filter(|v| !v.is_empty())
        .ok_or(ConnectionStringError::NoAccountName)?;
    let key = parts
        .get("accountkey")
        .filter(|v| !v.is_empty())
        .ok_or(ConnectionStringError::NoAccountKey)?;
    let key = base64::engine::general_purpose::STANDARD
        .decode(key)
        .map_err(|_| ConnectionStringError::KeyNotBase64)?;
    let endpoint = match parts.get("tableendpoint") {
        Some(endpoint) => endpoint.trim_end_matches('/').to_owned(),
        None => {
            let protocol = parts
                .get("defaultendpointsprotocol")
                .map_or("https", String::as_str);
            let suffix = parts
                .get("endpointsuffix")
                .map_or("core.windows.net", String::as_str);
            format!("{protocol}://{account}.table.{suffix}")
        }
    };
    Ok((
        endpoint,
        Credential::SharedKey {
            account: account.clone(),
            key,
        },
    ))
}

/// A table name the service accepts: 3 to 63 letters and digits, starting with a letter.
pub(crate) fn is_table_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_strings() {
        let (endpoint, credential) = parse_connection_string("UseDevelopmentStorage=true").unwrap();
        assert_eq!(endpoint, "http://127.0.0.1:10002/devstoreaccount1");
        assert!(
            matches!(credential, Credential::SharedKey { ref account, .. } if account == "devstoreaccount1")
        );
        let (endpoint, _) = parse_connection_string(
            "DefaultEndpointsProtocol=https;AccountName=gate;AccountKey=a2V5;EndpointSuffix=core.windows.net",
        )
        .unwrap();
        assert_eq!(endpoint, "https://gate.table.core.windows.net");
        let (endpoint, _) = parse_connection_string(
            "AccountName=devstoreaccount1;AccountKey=a2V5;TableEndpoint=http://127.0.0.1:1234/devstoreaccount1/;",
        )
        .unwrap();
        assert_eq!(endpoint, "http://127.0.0.1:1234/devstoreaccount1");
        for (text, problem) in [
            ("AccountKey=a2V5", "AccountName is missing"),
            ("AccountName=gate", "AccountKey is missing"),
            (
                "AccountName=gate;AccountKey=***",
                "AccountKey is not base64",
            ),
            (
                "BlobEndpoint=https://x;SharedAccessSignature=sv=1",
                "SAS connection strings are not supported",
            ),
            ("nonsense", "is not Name=Value"),
        ] {
            let error = parse_connection_string(text).unwrap_err().to_string();
            assert!(error.contains(problem), "{text}: {error}");
        }
    }

    #[test]
    fn table_names() {
        assert!(is_table_name("Invitations"));
        assert!(!is_table_name("in"));
        assert!(!is_table_name("1nvitations"));
        assert!(!is_table_name("invi-tations"));
    }
}
