//! Invitations in Azure Table Storage, for function apps that scale out: every instance reads
//! the same table, and invitations can be added while the app runs.
//!
//! A small REST client on reqwest: SharedKeyLite signing for connection strings (Azurite
//! included), a bearer token from the Functions platform's managed identity otherwise. One point
//! read per decision; the key of an address is its domain (PartitionKey) and its local part
//! (RowKey), escaped so that no character the Table service forbids in keys, and none that needs
//! URL quoting, remains.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use futures_util::future::BoxFuture;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use tokio::sync::Mutex;

use super::{Expiry, Invitation, InvitationAttribute, InvitationStore, StoreError, ValueType};
use crate::policy::email::EmailAddress;

/// The Table service REST version we speak.
const API_VERSION: &str = "2019-02-02";
/// The emulator's well-known account and key (public, documented by Microsoft).
pub const DEVELOPMENT_ACCOUNT: &str = "devstoreaccount1";
const DEVELOPMENT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const DEVELOPMENT_ENDPOINT: &str = "http://127.0.0.1:10002/devstoreaccount1";
/// Below this much time left, a failed call is not retried.
const MIN_RETRY_BUDGET: Duration = Duration::from_millis(50);

/// How requests prove who we are.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// Account name and key, from a connection string.
    SharedKey { account: String, key: Vec<u8> },
    /// A token from the platform's managed identity (`IDENTITY_ENDPOINT` / `IDENTITY_HEADER`),
    /// optionally of a user-assigned identity.
    ManagedIdentity { client_id: Option<String> },
}

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
pub struct TableSettings {
    /// Table service endpoint without a trailing slash, e.g.
    /// `https://acct.table.core.windows.net` or `http://127.0.0.1:10002/devstoreaccount1`.
    pub endpoint: String,
    pub table: String,
    pub credential: Credential,
}

/// A connection string → endpoint and credential. Errors say what is wrong, never the key.
pub fn parse_connection_string(text: &str) -> Result<(String, Credential), String> {
    let mut parts = std::collections::HashMap::new();
    for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, value) = part.split_once('=').ok_or_else(|| {
            format!(
                "part {:?} is not Name=Value",
                part.split('=').next().unwrap_or_default()
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
            .map_err(|_| "the development key does not decode".to_owned())?;
        return Ok((
            DEVELOPMENT_ENDPOINT.to_owned(),
            Credential::SharedKey {
                account: DEVELOPMENT_ACCOUNT.to_owned(),
                key,
            },
        ));
    }
    if parts.contains_key("sharedaccesssignature") {
        return Err(
            "SAS connection strings are not supported; use an account key or a managed identity"
                .to_owned(),
        );
    }
    let account = parts
        .get("accountname")
        .filter(|v| !v.is_empty())
        .ok_or("AccountName is missing")?;
    let key = parts
        .get("accountkey")
        .filter(|v| !v.is_empty())
        .ok_or("AccountKey is missing")?;
    let key = base64::engine::general_purpose::STANDARD
        .decode(key)
        .map_err(|_| "AccountKey is not base64".to_owned())?;
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
pub fn is_table_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// PartitionKey and RowKey of an address: its domain and its local part. Every byte outside
/// `[a-z0-9._-]` becomes `~XX` (hex), so keys never hold `/ \ # ?`, control characters, quotes
/// or anything a URL would have to escape.
pub fn entity_keys(email: &EmailAddress) -> (String, String) {
    let address = email.as_str();
    let local = &address[..address.len() - email.domain().len() - 1];
    (escape_key(email.domain()), escape_key(local))
}

fn escape_key(text: &str) -> String {
    let mut key = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_lowercase() || byte.is_ascii_digit() || matches!(byte, b'.' | b'_' | b'-')
        {
            key.push(char::from(byte));
        } else {
            key.push_str(&format!("~{byte:02X}"));
        }
    }
    key
}

/// `SharedKeyLite` for the Table service: HMAC-SHA256 over `date \n /account/path`.
pub fn shared_key_lite(account: &str, key: &[u8], date: &str, path: &str) -> String {
    let string_to_sign = format!("{date}\n/{account}{path}");
    let signing_key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    let signature = ring::hmac::sign(&signing_key, string_to_sign.as_bytes());
    let signature = base64::engine::general_purpose::STANDARD.encode(signature.as_ref());
    format!("SharedKeyLite {account}:{signature}")
}

/// RFC 1123 date as the service wants it in `x-ms-date`.
fn http_date(now: OffsetDateTime) -> String {
    now.format(format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    ))
    .unwrap_or_default()
}

/// An invitation as the table stores it, with when (and for which app) it was used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredInvitation {
    pub email: EmailAddress,
    pub invitation: Invitation,
    pub signed_up_at: Option<String>,
    pub signed_up_application: Option<String>,
}

/// The entity's properties (besides the keys).
fn to_entity(email: &EmailAddress, invitation: &Invitation) -> Value {
    let (partition, row) = entity_keys(email);
    // Values in their declared JSON type: text, a whole number or true/false.
    let values = |enforced: bool| {
        let map: Map<String, Value> = invitation
            .attributes
            .iter()
            .filter(|a| a.enforced == enforced)
            .map(|a| (a.name.to_string(), a.json()))
            .collect();
        Value::from(Value::Object(map).to_string())
    };
    let mut entity = json!({
        "PartitionKey": partition, "RowKey": row, "Email": email.as_str(),
        "Attributes": values(false), "Enforced": values(true),
    });
    if let Some(application) = &invitation.application_id {
        entity["ApplicationId"] = Value::from(&**application);
    }
    if let Some(expiry) = invitation.expires_at {
        entity["ExpiresAt"] = Value::from(expiry.to_string());
    }
    entity
}

fn from_entity(entity: &Value) -> Result<StoredInvitation, String> {
    let text = |name: &str| {
        entity
            .get(name)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
    };
    let email = EmailAddress::parse(text("Email").ok_or("entity without Email")?)
        .map_err(|error| format!("entity with an invalid Email: {error}"))?;
    let mut attributes = Vec::new();
    for (property, enforced) in [("Attributes", false), ("Enforced", true)] {
        let Some(json) = text(property) else { continue };
        let values: Map<String, Value> =
            serde_json::from_str(json).map_err(|_| format!("entity with invalid {property}"))?;
        for (name, value) in values {
            // The JSON type is the attribute's declared type.
            let (value, kind) = match value {
                Value::String(text) => (text, ValueType::String),
                Value::Bool(flag) => (flag.to_string(), ValueType::Boolean),
                Value::Number(number) if number.is_i64() => {
                    (number.to_string(), ValueType::Integer)
                }
                _ => {
                    return Err(format!(
                        "entity with a value in {property} that is not text, a whole number or true/false"
                    ));
                }
            };
            if attributes
                .iter()
                .any(|a: &InvitationAttribute| a.name.eq_ignore_ascii_case(&name))
            {
                return Err(format!(
                    "entity naming attribute {name} twice (names are compared in any case)"
                ));
            }
            attributes.push(InvitationAttribute {
                name: name.into(),
                value: value.into(),
                enforced,
                kind,
            });
        }
    }
    let expires_at = text("ExpiresAt")
        .map(Expiry::parse)
        .transpose()
        .map_err(|error| format!("entity with {error}"))?;
    Ok(StoredInvitation {
        email,
        invitation: Invitation {
            application_id: text("ApplicationId").map(Into::into),
            expires_at,
            attributes: attributes.into_boxed_slice(),
        },
        signed_up_at: text("SignedUpAt").map(str::to_owned),
        signed_up_application: text("SignedUpApplication").map(str::to_owned),
    })
}

/// Why one call failed, to decide about a retry and to say what happened.
#[derive(Debug)]
enum CallError {
    /// 429 / 503: the service asks us to back off; no retry inside a decision.
    Throttled(u16),
    /// Connection failure, timeout, other 5xx: worth one retry.
    Transient(String),
    /// The table does not exist.
    NoTable,
    /// Anything else (authentication, bad request): no retry.
    Failed(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Throttled(status) => write!(f, "throttled (HTTP {status})"),
            Self::Transient(what) | Self::Failed(what) => f.write_str(what),
            Self::NoTable => f.write_str("the table does not exist"),
        }
    }
}

/// A cached managed-identity token and when to fetch a new one.
struct Token {
    value: String,
    renew_at: Instant,
}

/// The Table Storage backend.
pub struct TableStore {
    settings: TableSettings,
    client: reqwest::Client,
    /// How long one decision may wait (all attempts together).
    deadline: Duration,
    token: Mutex<Option<Token>>,
}

impl TableStore {
    pub fn new(settings: TableSettings, deadline: Duration) -> Result<Self, String> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|error| format!("cannot build the HTTP client: {error}"))?;
        Ok(Self {
            settings,
            client,
            deadline,
            token: Mutex::new(None),
        })
    }

    pub fn table(&self) -> &str {
        &self.settings.table
    }

    /// Path of the service endpoint (for path-style emulator URLs it holds the account).
    fn endpoint_path(&self) -> String {
        reqwest::Url::parse(&self.settings.endpoint)
            .map(|url| url.path().trim_end_matches('/').to_owned())
            .unwrap_or_default()
    }

    /// Sends one request with authentication; `resource` is the path below the endpoint and
    /// `query` the query string (without `?`).
    async fn send(
        &self,
        method: reqwest::Method,
        resource: &str,
        query: &str,
        headers: &[(&str, String)],
        body: Option<Value>,
        timeout: Duration,
    ) -> Result<reqwest::Response, CallError> {
        let mut url = format!("{}/{resource}", self.settings.endpoint);
        if !query.is_empty() {
            url.push('?');
            url.push_str(query);
        }
        let date = http_date(OffsetDateTime::now_utc());
        let authorization = match &self.settings.credential {
            Credential::SharedKey { account, key } => shared_key_lite(
                account,
                key,
                &date,
                &format!("{}/{resource}", self.endpoint_path()),
            ),
            Credential::ManagedIdentity { client_id } => {
                format!(
                    "Bearer {}",
                    self.managed_identity_token(client_id.as_deref(), timeout)
                        .await?
                )
            }
        };
        let mut request = self
            .client
            .request(method, &url)
            .timeout(timeout)
            .header("x-ms-date", &date)
            .header("x-ms-version", API_VERSION)
            .header("Accept", "application/json;odata=nometadata")
            .header("DataServiceVersion", "3.0;NetFx")
            .header("MaxDataServiceVersion", "3.0;NetFx")
            .header("Authorization", authorization);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.map_err(|error| {
            if error.is_timeout() {
                CallError::Transient(format!("no answer within {} ms", timeout.as_millis()))
            } else {
                CallError::Transient(format!("cannot reach {}: {error}", self.settings.endpoint))
            }
        })?;
        let status = response.status().as_u16();
        if status < 300 || status == 404 {
            return Ok(response);
        }
        let code = error_code(&response);
        Err(match status {
            429 | 503 => CallError::Throttled(status),
            500..=599 => CallError::Transient(format!("HTTP {status} {code}")),
            _ => CallError::Failed(format!("HTTP {status} {code}")),
        })
    }

    async fn managed_identity_token(
        &self,
        client_id: Option<&str>,
        timeout: Duration,
    ) -> Result<String, CallError> {
        let mut cached = self.token.lock().await;
        if let Some(token) = cached
            .as_ref()
            .filter(|token| Instant::now() < token.renew_at)
        {
            return Ok(token.value.clone());
        }
        let endpoint = std::env::var("IDENTITY_ENDPOINT").map_err(|_| {
            CallError::Failed("no managed identity here (IDENTITY_ENDPOINT is not set)".to_owned())
        })?;
        let secret = std::env::var("IDENTITY_HEADER").map_err(|_| {
            CallError::Failed("no managed identity here (IDENTITY_HEADER is not set)".to_owned())
        })?;
        let mut url = reqwest::Url::parse(&endpoint).map_err(|error| {
            CallError::Failed(format!("IDENTITY_ENDPOINT is not a URL: {error}"))
        })?;
        url.query_pairs_mut()
            .append_pair("resource", "https://storage.azure.com/")
            .append_pair("api-version", "2019-08-01");
        if let Some(client_id) = client_id {
            url.query_pairs_mut().append_pair("client_id", client_id);
        }
        let response = self
            .client
            .get(url)
            .header("X-IDENTITY-HEADER", secret)
            .timeout(timeout)
            .send()
            .await
            .map_err(|error| CallError::Transient(format!("managed identity endpoint: {error}")))?;
        if !response.status().is_success() {
            return Err(CallError::Failed(format!(
                "managed identity endpoint: HTTP {}",
                response.status()
            )));
        }
        let body: Value = response
            .json_value()
            .await
            .map_err(|error| CallError::Failed(format!("managed identity endpoint: {error}")))?;
        let value = body
            .get("access_token")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                CallError::Failed("managed identity endpoint: no access_token".to_owned())
            })?;
        let expires_in = body
            .get("expires_on")
            .and_then(|v| {
                v.as_str()
                    .and_then(|s| s.parse::<i64>().ok())
                    .or_else(|| v.as_i64())
            })
            .map_or(300, |on| on - OffsetDateTime::now_utc().unix_timestamp());
        let renew_in = Duration::from_secs(u64::try_from(expires_in - 300).unwrap_or(0).max(60));
        *cached = Some(Token {
            value: value.to_owned(),
            renew_at: Instant::now() + renew_in,
        });
        Ok(value.to_owned())
    }

    fn entity_resource(&self, email: &EmailAddress) -> String {
        let (partition, row) = entity_keys(email);
        format!(
            "{}(PartitionKey='{partition}',RowKey='{row}')",
            self.settings.table
        )
    }

    /// One point read within `budget`, retried once after a transient failure if time allows.
    async fn read(
        &self,
        email: &EmailAddress,
        budget: Duration,
    ) -> Result<Option<(Value, String)>, CallError> {
        let started = Instant::now();
        let resource = self.entity_resource(email);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let left = budget.saturating_sub(started.elapsed());
            let result = self
                .send(reqwest::Method::GET, &resource, "", &[], None, left)
                .await;
            match result {
                Ok(response) => return read_entity(response).await,
                Err(CallError::Transient(_))
                    if attempt == 1
                        && budget.saturating_sub(started.elapsed()) > MIN_RETRY_BUDGET =>
                {
                    continue;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// The invitation of an address with its sign-up record (for the CLI).
    pub async fn get(&self, email: &EmailAddress) -> Result<Option<StoredInvitation>, String> {
        match self.read(email, self.admin_timeout()).await {
            Ok(Some((entity, _))) => from_entity(&entity).map(Some),
            Ok(None) => Ok(None),
            Err(error) => Err(self.describe(error)),
        }
    }

    /// Writes an invitation (replacing one the address had); `true` when it replaced one.
    /// Inserting first makes a new address one call.
    pub async fn upsert(
        &self,
        email: &EmailAddress,
        invitation: &Invitation,
    ) -> Result<bool, String> {
        let entity = to_entity(email, invitation);
        let resource = self.settings.table.clone();
        let timeout = self.admin_timeout();
        match self
            .send(
                reqwest::Method::POST,
                &resource,
                "",
                &[("Prefer", "return-no-content".to_owned())],
                Some(entity.clone()),
                timeout,
            )
            .await
        {
            Ok(response) if response.status().as_u16() == 404 => {
                Err(self.describe(CallError::NoTable))
            }
            Ok(_) => Ok(false),
            Err(CallError::Failed(what)) if what.contains("409") => {
                let resource = self.entity_resource(email);
                self.send(
                    reqwest::Method::PUT,
                    &resource,
                    "",
                    &[],
                    Some(entity),
                    timeout,
                )
                .await
                .map_err(|error| self.describe(error))?;
                Ok(true)
            }
            Err(error) => Err(self.describe(error)),
        }
    }

    /// Deletes an address's invitation; `false` when it had none.
    pub async fn remove(&self, email: &EmailAddress) -> Result<bool, String> {
        let resource = self.entity_resource(email);
        let headers = [("If-Match", "*".to_owned())];
        let response = self
            .send(
                reqwest::Method::DELETE,
                &resource,
                "",
                &headers,
                None,
                self.admin_timeout(),
            )
            .await
            .map_err(|error| self.describe(error))?;
        Ok(response.status().as_u16() != 404)
    }

    /// Every invitation, page by page (1,000 a page).
    pub async fn list(&self) -> Result<Vec<StoredInvitation>, String> {
        let mut all = Vec::new();
        let mut continuation: Option<(String, String)> = None;
        loop {
            let mut query = "$top=1000".to_owned();
            if let Some((partition, row)) = &continuation {
                query.push_str(&format!("&NextPartitionKey={partition}&NextRowKey={row}"));
            }
            let resource = format!("{}()", self.settings.table);
            let response = self
                .send(
                    reqwest::Method::GET,
                    &resource,
                    &query,
                    &[],
                    None,
                    self.admin_timeout(),
                )
                .await
                .map_err(|error| self.describe(error))?;
            if response.status().as_u16() == 404 {
                return Err(self.describe(CallError::NoTable));
            }
            let header = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let next = header("x-ms-continuation-NextPartitionKey")
                .zip(header("x-ms-continuation-NextRowKey"));
            let page: Value = response
                .json_value()
                .await
                .map_err(|error| format!("listing {}: {error}", self.table()))?;
            for entity in page
                .get("value")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                all.push(from_entity(entity)?);
            }
            match next {
                Some(next) => continuation = Some(next),
                None => return Ok(all),
            }
        }
    }

    /// Creates the table if it does not exist (the CLI does this before writing; the server
    /// never does).
    pub async fn create_table(&self) -> Result<(), String> {
        let body = json!({"TableName": self.settings.table});
        match self
            .send(
                reqwest::Method::POST,
                "Tables",
                "",
                &[],
                Some(body),
                self.admin_timeout(),
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(CallError::Failed(what)) if what.contains("409") => Ok(()),
            Err(error) => Err(self.describe(error)),
        }
    }

    /// Records the first sign-up on the invitation, conditionally on the version just read, so
    /// concurrent instances cannot overwrite each other.
    async fn record(&self, email: &EmailAddress, application: Option<&str>) -> Result<(), String> {
        let budget = self.admin_timeout();
        let Some((entity, etag)) = self
            .read(email, budget)
            .await
            .map_err(|error| self.describe(error))?
        else {
            return Ok(());
        };
        if entity
            .get("SignedUpAt")
            .and_then(Value::as_str)
            .is_some_and(|v| !v.is_empty())
        {
            return Ok(());
        }
        let now = OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .unwrap_or_default();
        let mut patch = json!({"SignedUpAt": now});
        if let Some(application) = application {
            patch["SignedUpApplication"] = Value::from(application);
        }
        let merge = reqwest::Method::from_bytes(b"MERGE").map_err(|error| error.to_string())?;
        let headers = [("If-Match", etag)];
        self.send(
            merge,
            &self.entity_resource(email),
            "",
            &headers,
            Some(patch),
            budget,
        )
        .await
        .map(drop)
        .map_err(|error| self.describe(error))
    }

    /// Administrative calls are not on a decision path; they get more time.
    fn admin_timeout(&self) -> Duration {
        Duration::from_secs(30)
    }

    fn describe(&self, error: CallError) -> String {
        match error {
            CallError::NoTable => format!(
                "table {} does not exist at {} (the CLI creates it: handler invitations add ...)",
                self.settings.table, self.settings.endpoint
            ),
            other => format!(
                "table {} at {}: {other}",
                self.settings.table, self.settings.endpoint
            ),
        }
    }
}

/// The service's error code (`x-ms-error-code`), empty when absent.
fn error_code(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("x-ms-error-code")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// A point read's answer: the entity and its ETag, or `None` for no such entity. A missing
/// table is an error, not "no invitation".
async fn read_entity(response: reqwest::Response) -> Result<Option<(Value, String)>, CallError> {
    if response.status().as_u16() == 404 {
        let code = error_code(&response);
        let body = response.text().await.unwrap_or_default();
        if code == "TableNotFound" || body.contains("TableNotFound") {
            return Err(CallError::NoTable);
        }
        return Ok(None);
    }
    let etag = response
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("*")
        .to_owned();
    let entity = response.json_value().await.map_err(CallError::Failed)?;
    Ok(Some((entity, etag)))
}

/// reqwest's `json` needs a feature; the body is small, so read it and parse.
trait JsonValue {
    async fn json_value(self) -> Result<Value, String>;
}

impl JsonValue for reqwest::Response {
    async fn json_value(self) -> Result<Value, String> {
        let bytes = self.bytes().await.map_err(|error| error.to_string())?;
        serde_json::from_slice(&bytes).map_err(|error| format!("invalid JSON: {error}"))
    }
}

impl InvitationStore for TableStore {
    fn find<'a>(
        &'a self,
        email: &'a EmailAddress,
    ) -> BoxFuture<'a, Result<Option<Invitation>, StoreError>> {
        Box::pin(async move {
            match self.read(email, self.deadline).await {
                Ok(Some((entity, _))) => from_entity(&entity)
                    .map(|stored| Some(stored.invitation))
                    .map_err(|error| {
                        StoreError::Unavailable(format!("table {}: {error}", self.table()))
                    }),
                Ok(None) => Ok(None),
                Err(error) => Err(StoreError::Unavailable(self.describe(error))),
            }
        })
    }

    fn records_sign_ups(&self) -> bool {
        true
    }

    fn record_sign_up<'a>(
        &'a self,
        email: &'a EmailAddress,
        application: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.record(email, application)
                .await
                .map_err(StoreError::Unavailable)
        })
    }
}

/// Shared handle, as the server and CLI hold it.
pub type SharedTableStore = Arc<TableStore>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_domain_and_escaped_local_part() {
        let email = EmailAddress::parse("Ada.Lovelace+tag@Fabrikam.com").unwrap();
        assert_eq!(
            entity_keys(&email),
            ("fabrikam.com".to_owned(), "ada.lovelace~2Btag".to_owned())
        );
        let odd = EmailAddress::parse("\"a/b#c?d'e\"@fabrikam.com").unwrap();
        assert_eq!(entity_keys(&odd).1, "~22a~2Fb~23c~3Fd~27e~22");
        let unicode = EmailAddress::parse("jörg@fabrikam.com").unwrap();
        assert_eq!(entity_keys(&unicode).1, "j~C3~B6rg");
    }

    #[test]
    fn shared_key_lite_signs_the_documented_string() {
        // String-to-sign for SharedKeyLite (Table service): "<x-ms-date>\n/<account>/<path>".
        // The expected signature was computed independently (Python hmac/hashlib) for this
        // key, date and resource.
        let key = base64::engine::general_purpose::STANDARD
            .decode(DEVELOPMENT_KEY)
            .unwrap();
        let header = shared_key_lite(
            "devstoreaccount1",
            &key,
            "Sun, 22 Nov 2026 06:00:00 GMT",
            "/devstoreaccount1/Invitations(PartitionKey='fabrikam.com',RowKey='ada')",
        );
        assert_eq!(
            header,
            "SharedKeyLite devstoreaccount1:FoLSRZiMkJCPq5nIiZ7GUraBxgI2vAnsPkIhThwR03E="
        );
    }

    #[test]
    fn dates_are_rfc_1123() {
        let at = OffsetDateTime::from_unix_timestamp(1_795_327_200).unwrap();
        assert_eq!(http_date(at), "Sun, 22 Nov 2026 06:00:00 GMT");
    }

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
            let error = parse_connection_string(text).unwrap_err();
            assert!(error.contains(problem), "{text}: {error}");
        }
    }

    #[test]
    fn entities_round_trip() {
        let email = EmailAddress::parse("ada@fabrikam.com").unwrap();
        let invitation = Invitation {
            application_id: Some("app-1".into()),
            expires_at: Some(Expiry::parse("2030-01-01").unwrap()),
            attributes: vec![
                InvitationAttribute {
                    name: "displayName".into(),
                    value: "Ada".into(),
                    enforced: false,
                    kind: ValueType::String,
                },
                InvitationAttribute {
                    name: "extension_0a1b_News".into(),
                    value: "false".into(),
                    enforced: false,
                    kind: ValueType::Boolean,
                },
                InvitationAttribute {
                    name: "extension_0a1b_Level".into(),
                    value: "5".into(),
                    enforced: true,
                    kind: ValueType::Integer,
                },
                InvitationAttribute {
                    name: "jobTitle".into(),
                    value: "Engineer".into(),
                    enforced: true,
                    kind: ValueType::String,
                },
            ]
            .into(),
        };
        let entity = to_entity(&email, &invitation);
        assert_eq!(
            entity["Attributes"],
            "{\"displayName\":\"Ada\",\"extension_0a1b_News\":false}"
        );
        assert_eq!(
            entity["Enforced"],
            "{\"extension_0a1b_Level\":5,\"jobTitle\":\"Engineer\"}"
        );
        let stored = from_entity(&entity).unwrap();
        assert_eq!(
            (stored.email, stored.invitation, stored.signed_up_at),
            (email, invitation, None)
        );
    }

    #[test]
    fn table_names() {
        assert!(is_table_name("Invitations"));
        assert!(!is_table_name("in"));
        assert!(!is_table_name("1nvitations"));
        assert!(!is_table_name("invi-tations"));
    }
}
