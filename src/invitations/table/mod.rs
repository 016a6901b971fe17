//! Invitations in Azure Table Storage, for function apps that scale out: every instance reads
//! the same table, and invitations can be added while the app runs.
//!
//! One point read per decision ([`TableStore::find`], within the decision deadline, one retry of
//! a transient failure); the CLI's writes keep what they do not own (the sign-up record) and
//! retry throttling with back-off. The pieces: where the table is ([`connection`]), how requests
//! are signed ([`auth`]), the REST calls ([`client`]), an invitation as an entity ([`entity`]).

pub(crate) mod auth;
pub(crate) mod client;
pub(crate) mod connection;
pub(crate) mod entity;
mod readiness;
mod requests;
pub(crate) mod settings;

use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub use self::auth::shared_key_lite;
use self::client::{Answer, Call, CallError, TableClient};
#[cfg(test)]
pub(crate) use self::connection::Credential;
pub(crate) use self::connection::TableSettings;
pub(crate) use self::entity::MalformedRow;
use self::entity::{
    Entity, RECORDS, from_entity, keys_of, redemption_keys, to_entity, use_keys_text,
};
use self::readiness::Readiness;
use super::requests::{Close, JoinRequest, Requested, StoredRequest, WaitlistLimits};
use super::{
    Claim, Counts, ImportError, InvitationAdmin, InvitationStore, Listing, Progress, StoreError,
    StoredInvitation, Unusable, Upsert,
};
use crate::domain::email::EmailAddress;
use crate::domain::invitation::{CodeDigest, Invitation, InvitationKey, UseKey, Uses};

/// Below this much time left, a failed point read is not retried.
const MIN_RETRY_BUDGET: Duration = Duration::from_millis(50);
/// Each attempt of an administrative call (the CLI's; not on a decision path).
const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a write that raced another writer is tried again.
const WRITE_ATTEMPTS: usize = 3;
/// How often a claim that raced another sign-up reads again (within the decision deadline):
/// enough for a burst of sign-ups on one code.
const CLAIM_ATTEMPTS: usize = 64;
/// How long the check that the table answers may take (it runs in the background; lookups wait
/// for it within their own deadline).
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the table could not do what was asked; names the table, never an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    #[error(
        "table {table} does not exist at {endpoint} (the CLI creates it: handler invitations add ...)"
    )]
    NoTable { table: String, endpoint: String },
    #[error("table {table} at {endpoint}: {error}")]
    Call {
        table: String,
        endpoint: String,
        error: CallError,
    },
    #[error(
        "table {table} at {endpoint}: the endpoint answers 404 without naming the table (a wrong path, or an account the service does not know)"
    )]
    WrongEndpoint { table: String, endpoint: String },
    #[error("table {table}: {row}")]
    Malformed { table: String, row: MalformedRow },
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

impl TableError {
    /// What the operator should change, for logs and `handler doctor`.
    pub(crate) fn fix(&self) -> &'static str {
        match self {
            Self::NoTable { .. } => {
                "create the table (handler invitations add ... creates it) or set INVITATIONS_TABLE to the table's name"
            }
            Self::WrongEndpoint { .. } => {
                "the table endpoint must be the account's Table service: https://<account>.table.core.windows.net, \
                 or for Azurite http://127.0.0.1:10002/devstoreaccount1"
            }
            Self::Call {
                error: CallError::Unreachable(_),
                ..
            } => {
                "check the endpoint and that the storage account is reachable from here (locally: start Azurite with `npm run azurite`)"
            }
            Self::Call {
                error: CallError::Denied(_),
                ..
            } => {
                "give the app's identity the Storage Table Data Contributor role on the account (or fix the account key in the connection string)"
            }
            Self::Call {
                error: CallError::Transient(_) | CallError::Throttled { .. },
                ..
            } => "check the network path to the storage account and its health",
            Self::Call { .. } => {
                "check the table store's settings (INVITATIONS_TABLE_CONNECTION or INVITATIONS_TABLE_ENDPOINT)"
            }
            Self::Malformed { .. } => {
                "fix or remove the row (handler invitations list names it by its keys)"
            }
            Self::Client(_) => "run it again",
        }
    }
}

/// The Table Storage backend.
pub(crate) struct TableStore {
    client: Arc<TableClient>,
    /// How long one decision may wait (all attempts together).
    deadline: Duration,
    /// Whether the table answers (see [`readiness`]).
    readiness: Arc<Readiness>,
}

impl TableStore {
    pub(crate) fn new(settings: TableSettings, deadline: Duration) -> Result<Self, TableError> {
        Ok(Self {
            client: Arc::new(TableClient::new(settings).map_err(TableError::Client)?),
            deadline,
            readiness: Arc::new(Readiness::new()),
        })
    }

    /// Waits for the table to answer (see [`readiness`]): the check in flight, or a new one.
    /// A lookup's read, alongside the table's check while it has not answered yet (the first
    /// decision after a start pays for one exchange with the table, not two).
    async fn lookup(&self, key: &InvitationKey) -> Result<Option<Invitation>, StoreError> {
        let client = self.client.clone();
        let read = self
            .readiness
            .alongside(
                move || check_table(client).boxed(),
                self.read_invitation(key, self.deadline),
            )
            .await?;
        Ok(read?.map(|(stored, _)| stored.invitation))
    }

    async fn ready(&self) -> Result<(), TableError> {
        let client = self.client.clone();
        self.readiness
            .ensure(move || check_table(client).boxed())
            .await
    }

    pub fn table(&self) -> &str {
        &self.client.settings.table
    }

    fn error(&self, error: CallError) -> TableError {
        table_error(&self.client.settings, error)
    }

    fn malformed(&self, row: MalformedRow) -> TableError {
        TableError::Malformed {
            table: self.table().to_owned(),
            row,
        }
    }

    fn resource(&self, (partition, row): (String, String)) -> String {
        format!(
            "{}(PartitionKey='{partition}',RowKey='{row}')",
            self.table()
        )
    }

    /// One point read within `budget`, retried once after a transient failure if time allows:
    /// the entity and its ETag, or `None` for the service's "no such entity".
    async fn read_at(
        &self,
        keys: (String, String),
        budget: Duration,
    ) -> Result<Option<(Value, String)>, CallError> {
        let resource = self.resource(keys);
        let call = Call {
            method: reqwest::Method::GET,
            resource: &resource,
            query: "",
            headers: &[],
            body: None,
        };
        match self
            .client
            .send_once_more(&call, budget, MIN_RETRY_BUDGET)
            .await
        {
            Ok(answer) => Ok(Some((
                answer.json()?,
                answer.etag.unwrap_or_else(|| "*".to_owned()),
            ))),
            Err(CallError::EntityNotFound) => Ok(None),
            Err(error) => Err(error),
        }
    }

    async fn read(
        &self,
        key: &InvitationKey,
        budget: Duration,
    ) -> Result<Option<(Value, String)>, CallError> {
        self.read_at(keys_of(key), budget).await
    }

    /// The invitation at a key, checked, with its ETag.
    async fn read_invitation(
        &self,
        key: &InvitationKey,
        budget: Duration,
    ) -> Result<Option<(StoredInvitation, String)>, TableError> {
        match self.read(key, budget).await {
            Ok(Some((entity, etag))) => match from_entity(&entity) {
                Ok(Entity::Invitation(stored)) => Ok(Some((*stored, etag))),
                Ok(Entity::Redemption { .. }) => Ok(None),
                Err(row) => Err(self.malformed(row)),
            },
            Ok(None) => Ok(None),
            Err(error) => Err(self.error(error)),
        }
    }

    /// The invitation at a key with its sign-up record (for the CLI).
    pub(crate) async fn get(
        &self,
        key: &InvitationKey,
    ) -> Result<Option<StoredInvitation>, TableError> {
        Ok(self
            .read_invitation(key, ADMIN_TIMEOUT)
            .await?
            .map(|(stored, _)| stored))
    }

    /// Writes an invitation. One at the key already is replaced, keeping what the server
    /// recorded on it (unless the entry brings its own: an import of an export), and left
    /// alone when nothing changes, so that importing the same file again writes nothing.
    pub(crate) async fn upsert(&self, entry: &StoredInvitation) -> Result<Upsert, TableError> {
        let entity = to_entity(entry);
        let table = self.table().to_owned();
        let insert = Call {
            method: reqwest::Method::POST,
            resource: &table,
            query: "",
            headers: &[("Prefer", "return-no-content".to_owned())],
            body: Some(&entity),
        };
        for _ in 0..WRITE_ATTEMPTS {
            match self.client.send_patiently(&insert, ADMIN_TIMEOUT).await {
                Ok(_) => return Ok(Upsert::Added),
                Err(CallError::Conflict) => {}
                Err(error) => return Err(self.error(error)),
            }
            let Some((existing, etag)) = self
                .read(&entry.key, ADMIN_TIMEOUT)
                .await
                .map_err(|error| self.error(error))?
            else {
                continue; // removed meanwhile: insert again
            };
            let mut replacement = entity.clone();
            // A malformed row is replaced by a good one; its records are kept where they are
            // of the right type.
            for record in RECORDS {
                if replacement.get(record).is_none()
                    && let Some(value) =
                        existing.get(record).filter(|v| v.is_string() || v.is_u64())
                {
                    replacement[record] = value.clone();
                }
            }
            if let Ok(Entity::Invitation(stored)) = from_entity(&existing)
                && let Ok(Entity::Invitation(wanted)) = from_entity(&replacement)
                && stored == wanted
            {
                return Ok(Upsert::Unchanged);
            }
            let resource = self.resource(keys_of(&entry.key));
            let replace = Call {
                method: reqwest::Method::PUT,
                resource: &resource,
                query: "",
                headers: &[("If-Match", etag)],
                body: Some(&replacement),
            };
            match self.client.send_patiently(&replace, ADMIN_TIMEOUT).await {
                Ok(_) => return Ok(Upsert::Updated),
                // Changed or removed since it was read (a sign-up was recorded, another admin
                // wrote): read it again.
                Err(CallError::ChangedMeanwhile | CallError::EntityNotFound) => {}
                Err(error) => return Err(self.error(error)),
            }
        }
        Err(self.error(CallError::Failed(format!(
            "the invitation kept changing while it was written ({WRITE_ATTEMPTS} attempts)"
        ))))
    }

    /// Deletes the invitation at a key; `false` when the service says there was none.
    ///
    /// The delete is conditional on the version just read, so that a delete that lands late
    /// (its first attempt outlived the client's patience and was retried) cannot remove an
    /// invitation added again since: it meets another version and fails. A version changed by
    /// someone else meanwhile (a sign-up recorded) is read again.
    pub(crate) async fn remove(&self, key: &InvitationKey) -> Result<bool, TableError> {
        let resource = self.resource(keys_of(key));
        for _ in 0..WRITE_ATTEMPTS {
            let Some((_, etag)) = self
                .read(key, ADMIN_TIMEOUT)
                .await
                .map_err(|error| self.error(error))?
            else {
                return Ok(false);
            };
            let call = Call {
                method: reqwest::Method::DELETE,
                resource: &resource,
                query: "",
                headers: &[("If-Match", etag)],
                body: None,
            };
            match self.client.send_patiently(&call, ADMIN_TIMEOUT).await {
                Ok(_) => return Ok(true),
                Err(CallError::ChangedMeanwhile | CallError::EntityNotFound) => {}
                Err(error) => return Err(self.error(error)),
            }
        }
        Err(self.error(CallError::Failed(format!(
            "the invitation kept changing while it was removed ({WRITE_ATTEMPTS} attempts)"
        ))))
    }

    /// Every row, page by page (1,000 a page): the invitations, and the rows that cannot be
    /// used, each with why. The notes of redeemed codes are not invitations, and not listed.
    pub(crate) async fn list(&self) -> Result<Listing, TableError> {
        let mut listing = Listing::default();
        let mut continuation: Option<(String, String)> = None;
        let resource = format!("{}()", self.table());
        loop {
            let mut query = "$top=1000".to_owned();
            if let Some((partition, row)) = &continuation {
                query.push_str(&format!("&NextPartitionKey={partition}&NextRowKey={row}"));
            }
            let call = Call {
                method: reqwest::Method::GET,
                resource: &resource,
                query: &query,
                headers: &[],
                body: None,
            };
            let answer: Answer = self
                .client
                .send_patiently(&call, ADMIN_TIMEOUT)
                .await
                .map_err(|error| self.error(error))?;
            let page = answer.json().map_err(|error| self.error(error))?;
            for entity in page
                .get("value")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                match from_entity(entity) {
                    Ok(Entity::Invitation(invitation)) => listing.invitations.push(*invitation),
                    Ok(Entity::Redemption { .. }) => {}
                    Err(row) => listing.unusable.push(Unusable {
                        at: format!("row {}", row.keys()),
                        problem: row.problem,
                    }),
                }
            }
            match answer.continuation {
                Some(next) => continuation = Some(next),
                None => return Ok(listing),
            }
        }
    }

    /// Creates the table if it does not exist (the CLI does this before writing; the server
    /// never does). Only the service's "created" or "exists already" count.
    pub(crate) async fn create_table(&self) -> Result<(), TableError> {
        let body = json!({"TableName": self.table()});
        let call = Call {
            method: reqwest::Method::POST,
            resource: "Tables",
            query: "",
            headers: &[("Prefer", "return-no-content".to_owned())],
            body: Some(&body),
        };
        match self.client.send_patiently(&call, ADMIN_TIMEOUT).await {
            Ok(_) | Err(CallError::Conflict) => Ok(()),
            // The service's "created" or "exists" never reads "no such entity": the endpoint is
            // not the account's Table service.
            Err(CallError::EntityNotFound) => Err(TableError::WrongEndpoint {
                table: self.table().to_owned(),
                endpoint: self.client.settings.endpoint.clone(),
            }),
            Err(error) => Err(self.error(error)),
        }
    }

    /// A conditional MERGE of `patch` on the entity at `keys` as of `etag`, within `budget`.
    async fn merge(
        &self,
        keys: (String, String),
        etag: String,
        patch: &Value,
        budget: Duration,
    ) -> Result<(), CallError> {
        let resource = self.resource(keys);
        let merge = Call {
            method: reqwest::Method::from_bytes(b"MERGE").unwrap_or(reqwest::Method::PATCH),
            resource: &resource,
            query: "",
            headers: &[("If-Match", etag)],
            body: Some(patch),
        };
        self.client.send(&merge, budget).await.map(drop)
    }

    /// Records the first sign-up on the invitation, conditionally on the version just read, so
    /// concurrent instances cannot overwrite each other; all within `budget`.
    async fn record(
        &self,
        key: &InvitationKey,
        application: Option<&str>,
        budget: Duration,
    ) -> Result<(), TableError> {
        let started = std::time::Instant::now();
        let Some((entity, etag)) = self
            .read(key, budget)
            .await
            .map_err(|error| self.error(error))?
        else {
            log::debug!(
                "no invitation of {} to record the sign-up on (removed meanwhile)",
                whose(key)
            );
            return Ok(());
        };
        if entity
            .get("SignedUpAt")
            .and_then(Value::as_str)
            .is_some_and(|v| !v.is_empty())
        {
            return Ok(());
        }
        let mut patch = json!({"SignedUpAt": now_text()});
        if let Some(application) = application {
            patch["SignedUpApplication"] = Value::from(application);
        }
        match self
            .merge(
                keys_of(key),
                etag,
                &patch,
                budget.saturating_sub(started.elapsed()),
            )
            .await
        {
            Ok(()) => Ok(()),
            // Another instance recorded it (or the invitation changed) since it was read: the
            // first sign-up is on record either way.
            Err(CallError::ChangedMeanwhile) => {
                log::debug!(
                    "the sign-up of {} was recorded by someone else first",
                    whose(key)
                );
                Ok(())
            }
            Err(error) => Err(self.error(error)),
        }
    }

    /// Claims a use (see [`InvitationStore::claim_use`]): read, then a MERGE conditional on the
    /// version read, so that of two sign-ups racing for the last use exactly one wins; the
    /// loser reads again and finds it used up. All within `budget`.
    async fn claim(
        &self,
        key: &InvitationKey,
        by: UseKey,
        redeemer: Option<&EmailAddress>,
        budget: Duration,
    ) -> Result<Claim, TableError> {
        let started = std::time::Instant::now();
        let left = || budget.saturating_sub(started.elapsed());
        for _ in 0..CLAIM_ATTEMPTS {
            let Some((stored, etag)) = self.read_invitation(key, left()).await? else {
                return Ok(Claim::Gone);
            };
            let invitation = &stored.invitation;
            let claim = if invitation.use_keys().contains(&by) {
                Claim::AlreadyMine
            } else {
                match invitation.uses() {
                    Uses::Limited(max) if invitation.used() >= max => return Ok(Claim::UsedUp),
                    Uses::Limited(_) => {
                        let mut keys = invitation.use_keys().to_vec();
                        keys.push(by);
                        let patch =
                            json!({"Used": invitation.used() + 1, "UseKeys": use_keys_text(&keys)});
                        match self.merge(keys_of(key), etag, &patch, left()).await {
                            Ok(()) => Claim::Claimed,
                            // Someone else claimed (or the invitation changed): read again.
                            Err(CallError::ChangedMeanwhile) => continue,
                            Err(CallError::EntityNotFound) => return Ok(Claim::Gone),
                            Err(error) => return Err(self.error(error)),
                        }
                    }
                    // Nothing to count.
                    Uses::Unlimited => Claim::Claimed,
                }
            };
            if let (InvitationKey::Code(digest), Some(email)) = (key, redeemer) {
                self.note_redemption(email, digest, left()).await?;
            }
            return Ok(claim);
        }
        Err(self.error(CallError::Failed(format!(
            "the invitation kept changing while a use was claimed ({CLAIM_ATTEMPTS} attempts)"
        ))))
    }

    /// Notes that `email` signed up with the code, so its tokens find the code's claims.
    async fn note_redemption(
        &self,
        email: &EmailAddress,
        code: &CodeDigest,
        budget: Duration,
    ) -> Result<(), TableError> {
        let keys = redemption_keys(email);
        let resource = self.resource(keys.clone());
        let (partition, row) = keys;
        let note = json!({"PartitionKey": partition, "RowKey": row, "Email": email.as_str(),
                          "CodeSha256": code.to_string(), "RedeemedAt": now_text()});
        // Insert or replace: a later code replaces an earlier one.
        let put = Call {
            method: reqwest::Method::PUT,
            resource: &resource,
            query: "",
            headers: &[],
            body: Some(&note),
        };
        self.client
            .send(&put, budget)
            .await
            .map(drop)
            .map_err(|error| self.error(error))
    }

    /// The code an address redeemed, if any.
    async fn redeemed(
        &self,
        email: &EmailAddress,
        budget: Duration,
    ) -> Result<Option<CodeDigest>, TableError> {
        match self.read_at(redemption_keys(email), budget).await {
            Ok(Some((entity, _))) => match from_entity(&entity) {
                Ok(Entity::Redemption { code }) => Ok(Some(code)),
                Ok(Entity::Invitation(_)) => Ok(None),
                Err(row) => Err(self.malformed(row)),
            },
            Ok(None) => Ok(None),
            Err(error) => Err(self.error(error)),
        }
    }
}

/// An invitation as log lines name it: a masked address, or (a code) its kind.
fn whose(key: &InvitationKey) -> String {
    match key {
        InvitationKey::Email(email) => email.masked().to_string(),
        InvitationKey::Code(_) => "a code invitation".to_owned(),
    }
}

/// Now, as the table's records write it.
fn now_text() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// An error of a call to the table in `settings`, naming the table and the endpoint.
fn table_error(settings: &TableSettings, error: CallError) -> TableError {
    let (table, endpoint) = (settings.table.clone(), settings.endpoint.clone());
    match error {
        CallError::NoTable => TableError::NoTable { table, endpoint },
        error => TableError::Call {
            table,
            endpoint,
            error,
        },
    }
}

/// Asks the table itself whether it answers: a query of at most one row, which needs only the
/// permission the point read needs.
async fn check_table(client: Arc<TableClient>) -> Result<(), TableError> {
    let settings = &client.settings;
    let resource = format!("{}()", settings.table);
    let call = Call {
        method: reqwest::Method::GET,
        resource: &resource,
        query: "$top=1&$select=PartitionKey",
        headers: &[],
        body: None,
    };
    match client
        .send_once_more(&call, CHECK_TIMEOUT, MIN_RETRY_BUDGET)
        .await
    {
        Ok(_) => Ok(()),
        // A query names a table, so "no such entity" here is not about an entity at all.
        Err(CallError::EntityNotFound) => Err(TableError::WrongEndpoint {
            table: settings.table.clone(),
            endpoint: settings.endpoint.clone(),
        }),
        Err(error) => Err(table_error(settings, error)),
    }
}

impl InvitationStore for TableStore {
    fn kind(&self) -> &'static str {
        "table"
    }

    fn prepare(&self) {
        self.client.warm_up();
        let readiness = self.readiness.clone();
        let client = self.client.clone();
        tokio::spawn(async move {
            let _ = readiness.ensure(move || check_table(client).boxed()).await;
        });
    }

    fn answers(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move { Ok(self.ready().await?) })
    }

    fn find<'a>(
        &'a self,
        email: &'a EmailAddress,
    ) -> BoxFuture<'a, Result<Option<Invitation>, StoreError>> {
        Box::pin(async move { self.lookup(&InvitationKey::Email(email.clone())).await })
    }

    fn find_code<'a>(
        &'a self,
        digest: &'a CodeDigest,
    ) -> BoxFuture<'a, Result<Option<Invitation>, StoreError>> {
        Box::pin(async move { self.lookup(&InvitationKey::Code(*digest)).await })
    }

    fn find_redeemed<'a>(
        &'a self,
        email: &'a EmailAddress,
    ) -> BoxFuture<'a, Result<Option<Invitation>, StoreError>> {
        Box::pin(async move {
            self.ready().await?;
            let Some(code) = self.redeemed(email, self.deadline).await? else {
                return Ok(None);
            };
            let key = InvitationKey::Code(code);
            Ok(self
                .read_invitation(&key, self.deadline)
                .await?
                .map(|(stored, _)| stored.invitation))
        })
    }

    fn counts_uses(&self) -> bool {
        true
    }

    fn claim_use<'a>(
        &'a self,
        key: &'a InvitationKey,
        by: UseKey,
        redeemer: Option<&'a EmailAddress>,
        budget: Duration,
    ) -> BoxFuture<'a, Result<Claim, StoreError>> {
        Box::pin(async move {
            self.ready().await?;
            Ok(self.claim(key, by, redeemer, budget).await?)
        })
    }

    fn records_requests(&self) -> bool {
        true
    }

    fn request<'a>(
        &'a self,
        request: &'a JoinRequest,
        limits: &'a WaitlistLimits,
        budget: Duration,
    ) -> BoxFuture<'a, Result<Requested, StoreError>> {
        Box::pin(async move {
            self.ready().await?;
            Ok(self.record_request(request, limits, budget).await?)
        })
    }

    fn sweep_requests<'a>(
        &'a self,
        limits: &'a WaitlistLimits,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move { Ok(self.sweep(limits).await?) })
    }

    fn records_sign_ups(&self) -> bool {
        true
    }

    fn record_sign_up<'a>(
        &'a self,
        key: &'a InvitationKey,
        application: Option<&'a str>,
        budget: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move { Ok(self.record(key, application, budget).await?) })
    }
}

/// The CLI's work on the table: the table is created when missing before a write.
impl InvitationAdmin for TableStore {
    fn describe(&self) -> String {
        format!("table {}", self.table())
    }

    fn list(&self) -> BoxFuture<'_, Result<Listing, StoreError>> {
        Box::pin(async move { Ok(self.list().await?) })
    }

    fn get<'a>(
        &'a self,
        key: &'a InvitationKey,
    ) -> BoxFuture<'a, Result<Option<StoredInvitation>, StoreError>> {
        Box::pin(async move { Ok(self.get(key).await?) })
    }

    fn upsert<'a>(
        &'a self,
        entry: &'a StoredInvitation,
    ) -> BoxFuture<'a, Result<Upsert, StoreError>> {
        Box::pin(async move {
            self.create_table().await?;
            Ok(self.upsert(entry).await?)
        })
    }

    fn remove<'a>(&'a self, key: &'a InvitationKey) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move { Ok(self.remove(key).await?) })
    }

    fn counts_uses(&self) -> bool {
        true
    }

    fn requests(&self) -> BoxFuture<'_, Result<Vec<StoredRequest>, StoreError>> {
        Box::pin(async move { Ok(self.list_requests().await?) })
    }

    fn close_request<'a>(
        &'a self,
        email: &'a EmailAddress,
        application: Option<&'a str>,
        close: Close,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move { Ok(self.close(email, application, close).await?) })
    }

    fn import_requests(
        &self,
        requests: Vec<StoredRequest>,
    ) -> BoxFuture<'_, Result<usize, StoreError>> {
        Box::pin(async move { Ok(TableStore::import_requests(self, &requests).await?) })
    }

    /// Writes rows a few at a time, each retried with back-off when throttled; a write that
    /// still fails ends the import.
    fn import<'a>(
        &'a self,
        rows: Vec<StoredInvitation>,
        progress: Progress<'a>,
    ) -> BoxFuture<'a, Result<Counts, ImportError>> {
        use futures_util::StreamExt as _;
        const CONCURRENCY: usize = 32;
        Box::pin(async move {
            let mut counts = Counts::default();
            let failed = |counts: Counts, error: TableError| ImportError {
                done: counts,
                error: error.into(),
            };
            self.create_table()
                .await
                .map_err(|error| failed(counts, error))?;
            let total = rows.len();
            let mut writes = futures_util::stream::iter(rows)
                .map(|entry| async move { self.upsert(&entry).await })
                .buffer_unordered(CONCURRENCY);
            while let Some(written) = writes.next().await {
                counts.count(written.map_err(|error| failed(counts, error))?);
                progress(counts.total(), total);
            }
            Ok(counts)
        })
    }
}
