//! The waitlist's administration: `requests` lists the open requests (and `requests remove`
//! deletes one), `approve` turns requests into invitations, `deny` closes them. The product sends
//! no mail: `approve` prints the addresses to notify. Requests travel in exports too: as entries
//! of a JSON export, or as their own CSV (`export --requests`), which is written so that no cell
//! can be read as a formula by a spreadsheet.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::add::{days_from_now, new_id};
use super::{CliError, EXIT_NO, parse_application, parse_email};
use crate::domain::email::EmailAddress;
use crate::domain::invitation::{Invitation, InvitationId, InvitationKey, InvitationParts};
use crate::invitations::requests::{Close, RequestStatus, StoredRequest};
use crate::invitations::{Defaults, InvitationAdmin, StoredInvitation};
use crate::printable::Printable;

#[derive(Debug, Args)]
pub(super) struct RequestsArgs {
    /// Only the requests to this application (client) id.
    #[arg(long, value_name = "ID")]
    app: Option<String>,
    /// As a JSON array (for a mailer).
    #[arg(long)]
    json: bool,
    #[command(subcommand)]
    action: Option<RequestsAction>,
}

#[derive(Debug, Subcommand)]
enum RequestsAction {
    /// Delete an address's request (its personal data) without approving or denying it.
    Remove {
        email: String,
        /// Only its request to this application; default: all of the address's requests.
        #[arg(long, value_name = "ID")]
        app: Option<String>,
    },
}

#[derive(Debug, Args)]
pub(super) struct ApproveArgs {
    /// The address whose request to approve.
    #[arg(required_unless_present = "all")]
    email: Option<String>,
    /// Every open request of --domain.
    #[arg(long, requires = "domain", conflicts_with = "email")]
    all: bool,
    /// With --all: the domain whose requests to approve.
    #[arg(long, value_name = "DOMAIN")]
    domain: Option<String>,
    /// Only the request to this application; default: each of the address's requests.
    #[arg(long, value_name = "ID")]
    app: Option<String>,
    /// The invitation expires this many days from now (default INVITATION_DEFAULT_DAYS, or
    /// never).
    #[arg(long, value_name = "N")]
    days: Option<u32>,
}

pub(super) async fn requests(
    store: &dyn InvitationAdmin,
    args: RequestsArgs,
) -> Result<ExitCode, CliError> {
    if let Some(RequestsAction::Remove { email, app }) = args.action {
        return close(store, &email, app.as_deref(), Close::Removed).await;
    }
    let app = args.app.as_deref().map(parse_application).transpose()?;
    let open: Vec<StoredRequest> = store
        .requests()
        .await?
        .into_iter()
        .filter(|request| request.status == RequestStatus::Open)
        .filter(|request| {
            app.as_ref()
                .is_none_or(|app| request.application.as_deref().is_some_and(|r| app.is(r)))
        })
        .collect();
    if args.json {
        let rows: Vec<Value> = open.iter().map(request_json).collect();
        println!("{}", Value::Array(rows));
        return Ok(ExitCode::SUCCESS);
    }
    for request in &open {
        println!("{}", describe(request));
    }
    println!("{} open request(s) in {}", open.len(), store.describe());
    Ok(ExitCode::SUCCESS)
}

/// One request for people, every value escaped (they come from people not yet trusted).
fn describe(request: &StoredRequest) -> String {
    let mut line = format!(
        "{}  app: {}  requests: {}  first: {}  last: {}",
        Printable(request.email.as_str()),
        Printable(request.application.as_deref().unwrap_or("any")),
        request.count,
        Printable(&request.first_at),
        Printable(&request.last_at),
    );
    let name = [&request.display_name, &request.given_name, &request.surname]
        .iter()
        .filter_map(|part| part.as_deref())
        .collect::<Vec<_>>()
        .join(" / ");
    if !name.is_empty() {
        line.push_str(&format!("  name: {}", Printable(&name)));
    }
    if let Some(locale) = &request.locale {
        line.push_str(&format!("  locale: {}", Printable(locale)));
    }
    line
}

pub(super) fn request_json(request: &StoredRequest) -> Value {
    json!({
        "kind": "request",
        "email": request.email.as_str(),
        "application_id": request.application,
        "first_at": request.first_at,
        "last_at": request.last_at,
        "count": request.count,
        "display_name": request.display_name,
        "given_name": request.given_name,
        "surname": request.surname,
        "locale": request.locale,
        "entra_correlation_id": request.entra_correlation_id,
        "status": request.status.as_str(),
        "denied_at": request.denied_at,
    })
}

/// A request from a JSON export's entry.
pub(super) fn request_from_json(entry: &Value) -> Result<StoredRequest, String> {
    let text = |name: &str| -> Option<String> {
        entry
            .get(name)
            .and_then(Value::as_str)
            .and_then(crate::invitations::requests::cap)
    };
    let email = EmailAddress::parse(&text("email").ok_or("the e-mail address is missing")?)
        .map_err(|error| format!("invalid email: {error}"))?;
    Ok(StoredRequest {
        email,
        application: text("application_id"),
        first_at: text("first_at").ok_or("first_at is missing")?,
        last_at: text("last_at").ok_or("last_at is missing")?,
        count: entry
            .get("count")
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(1),
        display_name: text("display_name"),
        given_name: text("given_name"),
        surname: text("surname"),
        locale: text("locale"),
        entra_correlation_id: text("entra_correlation_id"),
        status: text("status")
            .as_deref()
            .and_then(RequestStatus::parse)
            .ok_or("status is not open or denied")?,
        denied_at: text("denied_at"),
    })
}

/// The columns of a requests CSV.
pub(super) const CSV_HEADER: [&str; 12] = [
    "email",
    "application_id",
    "first_at",
    "last_at",
    "count",
    "display_name",
    "given_name",
    "surname",
    "locale",
    "entra_correlation_id",
    "status",
    "denied_at",
];

/// Requests as CSV. A cell that starts with `=`, `+`, `-` or `@` gets a `'` in front, so that
/// no spreadsheet takes a stranger's name for a formula; `import` takes it off again.
pub(super) fn requests_csv(requests: &[StoredRequest]) -> Result<Vec<u8>, CliError> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let failed = |error: csv::Error| CliError::Usage(error.to_string());
    writer.write_record(CSV_HEADER).map_err(failed)?;
    for request in requests {
        let json = request_json(request);
        let record: Vec<String> = CSV_HEADER
            .iter()
            .map(|column| match &json[*column] {
                Value::String(text) => defused(text),
                Value::Number(number) => number.to_string(),
                _ => String::new(),
            })
            .collect();
        writer.write_record(&record).map_err(failed)?;
    }
    writer
        .into_inner()
        .map_err(|error| CliError::Usage(error.to_string()))
}

fn defused(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@']) {
        format!("'{cell}")
    } else {
        cell.to_owned()
    }
}

fn restored(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@']) => rest,
        _ => cell,
    }
}

/// Whether a CSV is a requests export (by its header).
pub(super) fn is_requests_csv(text: &[u8]) -> bool {
    let first = text.split(|&b| b == b'\n').next().unwrap_or_default();
    String::from_utf8_lossy(first)
        .split(',')
        .any(|cell| cell.trim() == "first_at")
}

/// Requests from their CSV: those that read, and `line N: ...` for the others.
pub(super) fn read_requests_csv(text: &[u8]) -> (Vec<StoredRequest>, Vec<String>) {
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(text);
    let header: Vec<String> = match reader.headers() {
        Ok(header) => header.iter().map(str::to_owned).collect(),
        Err(error) => return (Vec::new(), vec![format!("line 1: {error}")]),
    };
    let (mut requests, mut errors) = (Vec::new(), Vec::new());
    for (index, record) in reader.records().enumerate() {
        let line = index + 2;
        let record = match record {
            Ok(record) => record,
            Err(error) => {
                errors.push(format!("line {line}: {error}"));
                continue;
            }
        };
        let mut entry = serde_json::Map::new();
        for (name, cell) in header.iter().zip(record.iter()) {
            let cell = restored(cell);
            if cell.is_empty() {
                continue;
            }
            let value = match name.as_str() {
                "count" => cell.parse::<u64>().map(Value::from).unwrap_or(Value::Null),
                _ => Value::from(cell),
            };
            entry.insert(name.clone(), value);
        }
        match request_from_json(&Value::Object(entry)) {
            Ok(request) => requests.push(request),
            Err(problem) => errors.push(format!("line {line}: {problem}")),
        }
    }
    (requests, errors)
}

/// Turns requests into invitations (for the request's application), so that the next sign-up is
/// admitted; prints the addresses to notify.
pub(super) async fn approve(
    store: &dyn InvitationAdmin,
    args: ApproveArgs,
    defaults: Defaults,
) -> Result<ExitCode, CliError> {
    let app = args.app.as_deref().map(parse_application).transpose()?;
    let email = args.email.as_deref().map(parse_email).transpose()?;
    let domain = args
        .domain
        .as_deref()
        .map(|d| d.trim().to_ascii_lowercase());
    let chosen: Vec<StoredRequest> = store
        .requests()
        .await?
        .into_iter()
        .filter(|request| request.status == RequestStatus::Open)
        .filter(|request| match (&email, &domain) {
            (Some(email), _) => request.email == *email,
            (None, Some(domain)) => request.email.domain() == domain,
            (None, None) => false,
        })
        .filter(|request| {
            app.as_ref()
                .is_none_or(|app| request.application.as_deref().is_some_and(|r| app.is(r)))
        })
        .collect();
    if chosen.is_empty() {
        eprintln!("no open request matches in {}", store.describe());
        return Ok(ExitCode::from(EXIT_NO));
    }
    let expires_at = args.days.or(defaults.days).map(days_from_now);
    let mut notify = Vec::new();
    for request in &chosen {
        let key = InvitationKey::Email(request.email.clone());
        let existing = store.get(&key).await?;
        let id = match &existing {
            Some(entry) if *entry.invitation.id() != InvitationId::derived(&key.text()) => {
                entry.invitation.id().clone()
            }
            _ => new_id()?,
        };
        let application = request
            .application
            .as_deref()
            .map(|id| {
                crate::domain::invitation::ApplicationId::parse(id).map_err(|error| {
                    CliError::Usage(format!(
                        "the request of {} names the application {:?}, which {error}",
                        request.email.as_str(),
                        Printable(id).to_string()
                    ))
                })
            })
            .transpose()?;
        let parts = InvitationParts {
            id: Some(id.clone()),
            application_id: application,
            expires_at,
            ..InvitationParts::default()
        };
        let entry = StoredInvitation {
            invitation: Invitation::new(parts, &key)
                .map_err(|error| CliError::Usage(error.to_string()))?,
            key,
            signed_up: None,
        };
        store.upsert(&entry).await?;
        store
            .close_request(
                &request.email,
                request.application.as_deref(),
                Close::Approved,
            )
            .await?;
        println!(
            "approved {} (app: {}): invitation {id}",
            request.email.as_str(),
            request.application.as_deref().unwrap_or("any")
        );
        notify.push(request.email.as_str().to_owned());
    }
    notify.dedup();
    println!("notify: {}", notify.join(", "));
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn deny(
    store: &dyn InvitationAdmin,
    email: &str,
    app: Option<&str>,
) -> Result<ExitCode, CliError> {
    close(store, email, app, Close::Denied).await
}

/// Closes the address's requests (to `app`, or all of them).
async fn close(
    store: &dyn InvitationAdmin,
    email: &str,
    app: Option<&str>,
    how: Close,
) -> Result<ExitCode, CliError> {
    let email = parse_email(email)?;
    let app = app.map(parse_application).transpose()?;
    let open: Vec<StoredRequest> = store
        .requests()
        .await?
        .into_iter()
        .filter(|request| request.email == email)
        .filter(|request| how == Close::Removed || request.status == RequestStatus::Open)
        .filter(|request| {
            app.as_ref()
                .is_none_or(|app| request.application.as_deref().is_some_and(|r| app.is(r)))
        })
        .collect();
    let mut closed = 0;
    for request in &open {
        if store
            .close_request(&email, request.application.as_deref(), how)
            .await?
        {
            closed += 1;
        }
    }
    if closed == 0 {
        eprintln!(
            "{} has no open request in {}",
            email.as_str(),
            store.describe()
        );
        return Ok(ExitCode::from(EXIT_NO));
    }
    let what = match how {
        Close::Denied => "denied",
        Close::Removed => "removed",
        Close::Approved => "approved",
    };
    println!("{what} {closed} request(s) of {}", email.as_str());
    Ok(ExitCode::SUCCESS)
}
