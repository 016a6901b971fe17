//! The waitlist in its own table (`INVITATION_REQUESTS_TABLE`), where no tool or older binary
//! reading the invitations can take a request for an invitation. A request's key is its
//! address's domain (PartitionKey) and its escaped local part with the application
//! (`<local>~a~<application or any>`): one request per address and application, updated on
//! every attempt. The partition `~count` holds the number of open requests per application
//! (`RowKey` the application or `any`), which caps the waitlist without counting it at every
//! request; the sweep counts again and deletes what is past its days.

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::client::{Call, CallError};
use super::entity::escape_key;
use super::{ADMIN_TIMEOUT, TableError, TableStore, now_text};
use crate::domain::email::EmailAddress;
use crate::invitations::requests::{
    Cap, Close, JoinRequest, RequestStatus, Requested, StoredRequest, WaitlistLimits, cap,
};
use std::time::{Duration, Instant};

/// The partition of the open-request counters.
const COUNTS: &str = "~count";
/// How often a write that met another writer reads again.
const ATTEMPTS: usize = 8;

/// PartitionKey and RowKey of the request of `email` to `application`.
fn request_keys(email: &EmailAddress, application: Option<&str>) -> (String, String) {
    (
        escape_key(email.domain()),
        format!(
            "{}~a~{}",
            escape_key(email.local_part()),
            application.map_or_else(|| "any".to_owned(), escape_key)
        ),
    )
}

fn counter_keys(application: Option<&str>) -> (String, String) {
    (
        COUNTS.to_owned(),
        application.map_or_else(|| "any".to_owned(), escape_key),
    )
}

fn seconds(text: &str) -> Option<i64> {
    OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp)
}

fn days_ago(at: &str, days: u32) -> bool {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    seconds(at).is_none_or(|at| now - at >= i64::from(days) * 86_400)
}

/// A request's entity.
fn to_entity(request: &StoredRequest) -> Value {
    let (partition, row) = request_keys(&request.email, request.application.as_deref());
    let mut entity = json!({
        "PartitionKey": partition, "RowKey": row, "Email": request.email.as_str(),
        "FirstAt": request.first_at, "LastAt": request.last_at, "Count": request.count,
        "Status": request.status.as_str(),
    });
    for (name, value) in [
        ("Application", &request.application),
        ("DisplayName", &request.display_name),
        ("GivenName", &request.given_name),
        ("Surname", &request.surname),
        ("Locale", &request.locale),
        ("EntraCorrelationId", &request.entra_correlation_id),
        ("DeniedAt", &request.denied_at),
    ] {
        if let Some(value) = value {
            entity[name] = Value::from(value.as_str());
        }
    }
    entity
}

/// A request from its entity; `None` for a row that is not one (a counter, or a row another
/// tool wrote without the request's properties).
fn from_entity(entity: &Value) -> Option<StoredRequest> {
    let text = |name: &str| entity.get(name).and_then(Value::as_str).and_then(cap);
    let email = EmailAddress::parse(&text("Email")?).ok()?;
    let application = text("Application");
    let keys = request_keys(&email, application.as_deref());
    let own = entity.get("PartitionKey").and_then(Value::as_str) == Some(&keys.0)
        && entity.get("RowKey").and_then(Value::as_str) == Some(&keys.1);
    if !own {
        return None;
    }
    Some(StoredRequest {
        email,
        application,
        first_at: text("FirstAt")?,
        last_at: text("LastAt")?,
        count: entity
            .get("Count")
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(1),
        display_name: text("DisplayName"),
        given_name: text("GivenName"),
        surname: text("Surname"),
        locale: text("Locale"),
        entra_correlation_id: text("EntraCorrelationId"),
        status: RequestStatus::parse(&text("Status")?)?,
        denied_at: text("DeniedAt"),
    })
}

impl TableStore {
    fn requests_table(&self) -> &str {
        &self.client.settings.requests_table
    }

    fn request_resource(&self, (partition, row): &(String, String)) -> String {
        format!(
            "{}(PartitionKey='{partition}',RowKey='{row}')",
            self.requests_table()
        )
    }

    fn requests_error(&self, error: CallError) -> TableError {
        let settings = &self.client.settings;
        let (table, endpoint) = (settings.requests_table.clone(), settings.endpoint.clone());
        match error {
            CallError::NoTable => TableError::NoTable { table, endpoint },
            error => TableError::Call {
                table,
                endpoint,
                error,
            },
        }
    }

    async fn read_request_row(
        &self,
        keys: &(String, String),
        budget: Duration,
    ) -> Result<Option<(Value, String)>, CallError> {
        let resource = self.request_resource(keys);
        let call = Call {
            method: reqwest::Method::GET,
            resource: &resource,
            query: "",
            headers: &[],
            body: None,
        };
        match self.client.send(&call, budget).await {
            Ok(answer) => Ok(Some((
                answer.json()?,
                answer.etag.unwrap_or_else(|| "*".to_owned()),
            ))),
            Err(CallError::EntityNotFound | CallError::NoTable) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Writes `entity` at `keys`: `etag` `None` inserts (a conflict when it exists), `Some`
    /// replaces that version (`*`: inserts or replaces whatever is there).
    async fn write_request_row(
        &self,
        keys: &(String, String),
        entity: &Value,
        etag: Option<String>,
        budget: Duration,
    ) -> Result<(), CallError> {
        let table = self.requests_table().to_owned();
        let resource = self.request_resource(keys);
        let (method, resource, headers) = match etag {
            None => (
                reqwest::Method::POST,
                table,
                vec![("Prefer", "return-no-content".to_owned())],
            ),
            // Without If-Match, a PUT inserts or replaces.
            Some(etag) if etag == "*" => (reqwest::Method::PUT, resource, Vec::new()),
            Some(etag) => (reqwest::Method::PUT, resource, vec![("If-Match", etag)]),
        };
        let call = Call {
            method,
            resource: &resource,
            query: "",
            headers: &headers,
            body: Some(entity),
        };
        match self.client.send(&call, budget).await {
            // The server creates the waitlist's table on its first request.
            Err(CallError::NoTable) => {
                self.create_requests_table().await?;
                self.client.send(&call, budget).await.map(drop)
            }
            other => other.map(drop),
        }
    }

    async fn create_requests_table(&self) -> Result<(), CallError> {
        let body = json!({"TableName": self.requests_table()});
        let call = Call {
            method: reqwest::Method::POST,
            resource: "Tables",
            query: "",
            headers: &[("Prefer", "return-no-content".to_owned())],
            body: Some(&body),
        };
        match self.client.send(&call, ADMIN_TIMEOUT).await {
            Ok(_) | Err(CallError::Conflict) => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// Records a request within `budget` (see [`crate::invitations::InvitationStore::request`]).
    pub(crate) async fn record_request(
        &self,
        request: &JoinRequest,
        limits: &WaitlistLimits,
        budget: Duration,
    ) -> Result<Requested, TableError> {
        let started = Instant::now();
        let left = || budget.saturating_sub(started.elapsed());
        let failed = |error| self.requests_error(error);
        let keys = request_keys(&request.email, request.application.as_deref());
        let now = now_text();
        for _ in 0..ATTEMPTS {
            let existing = self.read_request_row(&keys, left()).await.map_err(failed)?;
            let Some((entity, etag)) = existing else {
                if let Some(cap) = self.full(request, limits, left()).await? {
                    return Ok(Requested::Full(cap));
                }
                let fresh = fresh(request, &now);
                match self
                    .write_request_row(&keys, &to_entity(&fresh), None, left())
                    .await
                {
                    Ok(()) => {
                        self.count(request.application.as_deref(), 1, left()).await;
                        return Ok(Requested::Recorded);
                    }
                    // Someone else recorded it first: update theirs.
                    Err(CallError::Conflict) => continue,
                    Err(error) => return Err(failed(error)),
                }
            };
            let stored = from_entity(&entity);
            let (replacement, newly_open) = match stored {
                Some(stored)
                    if stored.status == RequestStatus::Denied
                        && !stored
                            .denied_at
                            .as_deref()
                            .is_none_or(|at| days_ago(at, limits.deny_days)) =>
                {
                    return Ok(Requested::Denied);
                }
                // A denial past its days, or a request past its retention, starts anew.
                Some(stored)
                    if stored.status == RequestStatus::Denied
                        || days_ago(&stored.last_at, limits.retention_days) =>
                {
                    (fresh(request, &now), stored.status == RequestStatus::Denied)
                }
                Some(stored) => (repeated(stored, request, &now), false),
                // Not a request (another tool wrote the row): replaced by one.
                None => (fresh(request, &now), true),
            };
            match self
                .write_request_row(&keys, &to_entity(&replacement), Some(etag), left())
                .await
            {
                Ok(()) => {
                    if newly_open {
                        self.count(request.application.as_deref(), 1, left()).await;
                    }
                    return Ok(Requested::Recorded);
                }
                Err(CallError::ChangedMeanwhile | CallError::EntityNotFound) => continue,
                Err(error) => return Err(failed(error)),
            }
        }
        Err(failed(CallError::Failed(format!(
            "the request kept changing while it was recorded ({ATTEMPTS} attempts)"
        ))))
    }

    /// The cap a new request would pass, if any: the domain's open requests (counted in the
    /// domain's partition) or the application's (its counter).
    async fn full(
        &self,
        request: &JoinRequest,
        limits: &WaitlistLimits,
        budget: Duration,
    ) -> Result<Option<Cap>, TableError> {
        let started = Instant::now();
        let partition = escape_key(request.email.domain());
        let query = format!(
            "$filter=PartitionKey eq '{partition}' and Status eq 'open'&$select=RowKey&$top={}",
            limits.max_per_domain
        );
        let resource = format!("{}()", self.requests_table());
        let call = Call {
            method: reqwest::Method::GET,
            resource: &resource,
            query: &query,
            headers: &[],
            body: None,
        };
        let from_domain = match self.client.send(&call, budget).await {
            Ok(answer) => answer
                .json()
                .map_err(|error| self.requests_error(error))?
                .get("value")
                .and_then(Value::as_array)
                .map_or(0, Vec::len),
            Err(CallError::NoTable) => 0,
            Err(error) => return Err(self.requests_error(error)),
        };
        if from_domain >= limits.max_per_domain as usize {
            return Ok(Some(Cap::Domain));
        }
        let keys = counter_keys(request.application.as_deref());
        let open = self
            .read_request_row(&keys, budget.saturating_sub(started.elapsed()))
            .await
            .map_err(|error| self.requests_error(error))?
            .and_then(|(entity, _)| entity.get("Open").and_then(Value::as_u64))
            .unwrap_or(0);
        Ok((open >= u64::from(limits.max)).then_some(Cap::Application))
    }

    /// Adds `delta` to the application's open requests, conditionally on the count it read. A
    /// count that cannot be written in time is left to the next sweep, which counts again.
    async fn count(&self, application: Option<&str>, delta: i64, budget: Duration) {
        let started = Instant::now();
        let keys = counter_keys(application);
        for _ in 0..ATTEMPTS {
            let left = budget.saturating_sub(started.elapsed());
            let read = match self.read_request_row(&keys, left).await {
                Ok(read) => read,
                Err(_) => break,
            };
            let (open, etag) = match read {
                Some((entity, etag)) => (
                    entity.get("Open").and_then(Value::as_i64).unwrap_or(0),
                    Some(etag),
                ),
                None => (0, None),
            };
            let entity = json!({"PartitionKey": keys.0, "RowKey": keys.1,
                                "Open": (open + delta).max(0)});
            match self.write_request_row(&keys, &entity, etag, left).await {
                Ok(()) => return,
                Err(CallError::ChangedMeanwhile | CallError::Conflict) => continue,
                Err(_) => break,
            }
        }
        log::debug!("the waitlist's count was not updated; the next sweep counts again");
    }

    /// Every row of the waitlist's table: the requests, and the counters' keys.
    async fn request_rows(&self) -> Result<Vec<(Value, String)>, TableError> {
        let mut rows = Vec::new();
        let mut continuation: Option<(String, String)> = None;
        let resource = format!("{}()", self.requests_table());
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
            let answer = match self.client.send_patiently(&call, ADMIN_TIMEOUT).await {
                Ok(answer) => answer,
                Err(CallError::NoTable) => return Ok(rows),
                Err(error) => return Err(self.requests_error(error)),
            };
            let etag_of = |entity: &Value| {
                entity
                    .get("odata.etag")
                    .and_then(Value::as_str)
                    .unwrap_or("*")
                    .to_owned()
            };
            let page = answer.json().map_err(|error| self.requests_error(error))?;
            for entity in page
                .get("value")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                rows.push((entity.clone(), etag_of(entity)));
            }
            match answer.continuation {
                Some(next) => continuation = Some(next),
                None => return Ok(rows),
            }
        }
    }

    /// The requests, open and denied, newest first.
    pub(crate) async fn list_requests(&self) -> Result<Vec<StoredRequest>, TableError> {
        let mut requests: Vec<StoredRequest> = self
            .request_rows()
            .await?
            .iter()
            .filter_map(|(entity, _)| from_entity(entity))
            .collect();
        requests.sort_by(|a, b| b.last_at.cmp(&a.last_at));
        Ok(requests)
    }

    /// Deletes requests past their days and writes each application's count again.
    pub(crate) async fn sweep(&self, limits: &WaitlistLimits) -> Result<(), TableError> {
        let mut open: std::collections::BTreeMap<(String, String), i64> = Default::default();
        let mut deleted = 0;
        for (entity, _) in self.request_rows().await? {
            let key = |name: &str| {
                entity
                    .get(name)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            if key("PartitionKey") == COUNTS {
                open.entry((COUNTS.to_owned(), key("RowKey"))).or_insert(0);
                continue;
            }
            let Some(request) = from_entity(&entity) else {
                continue;
            };
            let expired = match request.status {
                RequestStatus::Open => days_ago(&request.last_at, limits.retention_days),
                RequestStatus::Denied => request
                    .denied_at
                    .as_deref()
                    .is_none_or(|at| days_ago(at, limits.deny_days)),
            };
            if expired {
                let keys = request_keys(&request.email, request.application.as_deref());
                self.delete_request_row(&keys).await?;
                deleted += 1;
            } else if request.status == RequestStatus::Open {
                *open
                    .entry(counter_keys(request.application.as_deref()))
                    .or_insert(0) += 1;
            }
        }
        for (keys, count) in open {
            let entity = json!({"PartitionKey": keys.0, "RowKey": keys.1, "Open": count});
            self.write_request_row(&keys, &entity, Some("*".to_owned()), ADMIN_TIMEOUT)
                .await
                .map_err(|error| self.requests_error(error))?;
        }
        if deleted > 0 {
            log::info!("waitlist: deleted {deleted} request(s) past their days");
        }
        Ok(())
    }

    async fn delete_request_row(&self, keys: &(String, String)) -> Result<(), TableError> {
        let resource = self.request_resource(keys);
        let call = Call {
            method: reqwest::Method::DELETE,
            resource: &resource,
            query: "",
            headers: &[("If-Match", "*".to_owned())],
            body: None,
        };
        match self.client.send_patiently(&call, ADMIN_TIMEOUT).await {
            Ok(_) | Err(CallError::EntityNotFound) => Ok(()),
            Err(error) => Err(self.requests_error(error)),
        }
    }

    /// Closes a request (see [`crate::invitations::InvitationAdmin::close_request`]).
    pub(crate) async fn close(
        &self,
        email: &EmailAddress,
        application: Option<&str>,
        close: Close,
    ) -> Result<bool, TableError> {
        let keys = request_keys(email, application);
        let Some((entity, etag)) = self
            .read_request_row(&keys, ADMIN_TIMEOUT)
            .await
            .map_err(|error| self.requests_error(error))?
        else {
            return Ok(false);
        };
        let Some(mut request) = from_entity(&entity) else {
            return Ok(false);
        };
        let was_open = request.status == RequestStatus::Open;
        match close {
            Close::Approved | Close::Removed => self.delete_request_row(&keys).await?,
            Close::Denied => {
                request.status = RequestStatus::Denied;
                request.denied_at = Some(now_text());
                self.write_request_row(&keys, &to_entity(&request), Some(etag), ADMIN_TIMEOUT)
                    .await
                    .map_err(|error| self.requests_error(error))?;
            }
        }
        if was_open {
            self.count(application, -1, ADMIN_TIMEOUT).await;
        }
        Ok(true)
    }

    /// Writes requests as an export holds them, then counts again.
    pub(crate) async fn import_requests(
        &self,
        requests: &[StoredRequest],
    ) -> Result<usize, TableError> {
        for request in requests {
            let keys = request_keys(&request.email, request.application.as_deref());
            self.write_request_row(
                &keys,
                &to_entity(request),
                Some("*".to_owned()),
                ADMIN_TIMEOUT,
            )
            .await
            .map_err(|error| self.requests_error(error))?;
        }
        self.sweep(&WaitlistLimits {
            retention_days: u32::MAX / 86_400,
            deny_days: u32::MAX / 86_400,
            ..WaitlistLimits::default()
        })
        .await?;
        Ok(requests.len())
    }
}

/// A first request.
fn fresh(request: &JoinRequest, now: &str) -> StoredRequest {
    StoredRequest {
        email: request.email.clone(),
        application: request.application.clone(),
        first_at: now.to_owned(),
        last_at: now.to_owned(),
        count: 1,
        display_name: request.display_name.clone(),
        given_name: request.given_name.clone(),
        surname: request.surname.clone(),
        locale: request.locale.clone(),
        entra_correlation_id: request.entra_correlation_id.clone(),
        status: RequestStatus::Open,
        denied_at: None,
    }
}

/// A request made again: its count and last time, and what this attempt brings.
fn repeated(stored: StoredRequest, request: &JoinRequest, now: &str) -> StoredRequest {
    StoredRequest {
        last_at: now.to_owned(),
        count: stored.count.saturating_add(1),
        display_name: request.display_name.clone().or(stored.display_name),
        given_name: request.given_name.clone().or(stored.given_name),
        surname: request.surname.clone().or(stored.surname),
        locale: request.locale.clone().or(stored.locale),
        entra_correlation_id: request
            .entra_correlation_id
            .clone()
            .or(stored.entra_correlation_id),
        ..stored
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_through_their_entity_and_keys_name_the_application() {
        let email = EmailAddress::parse("Ada+x@Contoso.com").unwrap();
        let request = StoredRequest {
            email: email.clone(),
            application: Some("44445555-eeee-6666-ffff-7777aaaa8888".to_owned()),
            first_at: "2026-01-01T00:00:00Z".to_owned(),
            last_at: "2026-01-02T00:00:00Z".to_owned(),
            count: 2,
            display_name: Some("Ada".to_owned()),
            given_name: None,
            surname: None,
            locale: Some("de-de".to_owned()),
            entra_correlation_id: Some("c-1".to_owned()),
            status: RequestStatus::Open,
            denied_at: None,
        };
        let entity = to_entity(&request);
        assert_eq!(entity["PartitionKey"], "contoso.com");
        assert_eq!(
            entity["RowKey"],
            "ada~2Bx~a~44445555-eeee-6666-ffff-7777aaaa8888"
        );
        assert_eq!(from_entity(&entity), Some(request));
        assert_eq!(request_keys(&email, None).1, "ada~2Bx~a~any");
        // A counter, or a row whose keys are not its own, is no request.
        assert_eq!(
            from_entity(&json!({"PartitionKey": COUNTS, "RowKey": "any", "Open": 3})),
            None
        );
        let mut moved = entity.clone();
        moved["RowKey"] = json!("bob~a~any");
        assert_eq!(from_entity(&moved), None);
    }

    #[test]
    fn days_are_counted_from_the_recorded_time() {
        let now = OffsetDateTime::now_utc();
        let text = |ago: time::Duration| (now - ago).format(&Rfc3339).unwrap();
        assert!(days_ago(&text(time::Duration::days(31)), 30));
        assert!(!days_ago(&text(time::Duration::days(29)), 30));
        assert!(
            days_ago("not a time", 30),
            "an unreadable time counts as past"
        );
    }
}
