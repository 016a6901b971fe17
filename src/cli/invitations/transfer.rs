//! `invitations import` and `export`: what `export` writes (CSV in the invitation file's layout,
//! or JSON) `import` reads back with every field, the server's records included, so that a table
//! can be backed up and invitations moved between the file and a table. Codes travel only as
//! their SHA-256.

use std::path::Path;
use std::process::ExitCode;

use serde_json::{Map, Value};

use super::add::days_from_now;
use super::show::{entry_json, report_unusable};
use super::{CliError, EXIT_NO, waitlist};
use crate::domain::email::EmailAddress;
use crate::domain::invitation::{
    ApplicationId, ClaimValue, CodeDigest, Expiry, Invitation, InvitationAttribute,
    InvitationClaim, InvitationId, InvitationKey, InvitationParts, UseKey, Uses, ValueType, now,
};
use crate::invitations::csv::{InvitationFile, LineError, Row};
use crate::invitations::requests::StoredRequest;
use crate::invitations::{Defaults, InvitationAdmin, StoredInvitation};

pub(super) async fn import(
    store: &dyn InvitationAdmin,
    source: &Path,
    defaults: Defaults,
) -> Result<ExitCode, CliError> {
    let (text, _) =
        crate::files::read(source, crate::invitations::csv::MAX_FILE_BYTES).map_err(|error| {
            CliError::Read {
                path: source.to_owned(),
                error,
            }
        })?;
    let unreadable = |errors: String| {
        CliError::Usage(format!(
            "{}: {errors}; nothing was imported",
            source.display()
        ))
    };
    if !is_json(source, &text) && waitlist::is_requests_csv(&text) {
        let (requests, errors) = waitlist::read_requests_csv(&text);
        return import_requests(store, source, requests, errors).await;
    }
    let mut requests = Vec::new();
    let (rows, errors): Read = if is_json(source, &text) {
        let (rows, mut errors) = read_json(&text, &mut requests).map_err(unreadable)?;
        if !requests.is_empty() {
            let imported =
                import_requests(store, source, std::mem::take(&mut requests), Vec::new()).await;
            if let Err(error) = imported {
                errors.push(format!(
                    "the waitlist's requests were not imported: {error}"
                ));
            }
        }
        (rows, errors)
    } else {
        let (rows, errors) = InvitationFile::parse_lenient(&text)
            .map_err(|errors| unreadable(errors.to_string()))?;
        (
            rows.into_iter().map(|row| (row.entry, row.fresh)).collect(),
            errors.iter().map(LineError::to_string).collect(),
        )
    };
    let rows = rows
        .into_iter()
        .map(|(entry, fresh)| match fresh {
            true => with_defaults(entry, defaults),
            false => Ok(entry),
        })
        .collect::<Result<Vec<_>, _>>()?;
    // Progress on stderr every 1,000 rows; the line is ended before anything else is printed.
    let started = std::time::Instant::now();
    let shown = std::sync::atomic::AtomicBool::new(false);
    let progress = |done: usize, total: usize| {
        if total >= 1000 && (done.is_multiple_of(1000) || done == total) {
            let rate = done as f64 / started.elapsed().as_secs_f64().max(0.001);
            eprint!("\r{done}/{total} written ({rate:.0}/s)");
            shown.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    };
    let imported = store.import(rows, &progress).await;
    if shown.load(std::sync::atomic::Ordering::Relaxed) {
        eprintln!();
    }
    let counts = imported?;
    for error in &errors {
        eprintln!("{}: {error}", source.display());
    }
    println!(
        "imported {} into {}: {} added, {} updated, {} unchanged, {} invalid",
        source.display(),
        store.describe(),
        counts.added,
        counts.updated,
        counts.unchanged,
        errors.len()
    );
    Ok(if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_NO)
    })
}

/// A new row (one without an id: not from an export) gets what new invitations get: the default
/// expiry, and single use where that is the default. (Its id is the one derived from its key, so
/// that importing the same file again changes nothing.)
fn with_defaults(
    entry: StoredInvitation,
    defaults: Defaults,
) -> Result<StoredInvitation, CliError> {
    let mut parts = entry.invitation.clone().into_parts();
    if parts.expires_at.is_none()
        && let Some(days) = defaults.days
    {
        parts.expires_at = Some(days_from_now(days));
    }
    if defaults.single_use && matches!(entry.key, InvitationKey::Email(_)) {
        parts.uses = Uses::Limited(1);
    }
    Ok(StoredInvitation {
        invitation: Invitation::new(parts, &entry.key)
            .map_err(|error| CliError::Usage(error.to_string()))?,
        ..entry
    })
}

fn is_json(source: &Path, text: &[u8]) -> bool {
    source
        .extension()
        .is_some_and(|extension| extension.eq_ignore_ascii_case("json"))
        || text.trim_ascii_start().starts_with(b"[")
}

pub(super) async fn export(
    store: &dyn InvitationAdmin,
    format: &str,
    output: Option<&Path>,
    requests: bool,
) -> Result<ExitCode, CliError> {
    if requests {
        if !format.eq_ignore_ascii_case("csv") {
            return Err(CliError::Usage(
                "--requests writes CSV; a JSON export carries the requests already".to_owned(),
            ));
        }
        let text = waitlist::requests_csv(&store.requests().await?)?;
        write(&text, output, "waitlist request(s)", store)?;
        return Ok(ExitCode::SUCCESS);
    }
    let listing = store.list().await?;
    let text = match format.to_ascii_lowercase().as_str() {
        "csv" => {
            let file = InvitationFile {
                rows: listing
                    .invitations
                    .iter()
                    .map(|entry| Row {
                        entry: entry.clone(),
                        line: 0,
                        fresh: false,
                    })
                    .collect(),
            };
            // What the file's layout cannot hold, JSON can.
            file.to_csv().map_err(|problem| {
                CliError::Usage(format!(
                    "{problem}; nothing was written (export --format json carries it, and import reads it back)"
                ))
            })?
        }
        "json" => {
            let now = now();
            let mut rows: Vec<Value> = listing
                .invitations
                .iter()
                .map(|entry| entry_json(entry, now, true))
                .collect();
            // A store without a waitlist has no requests to carry.
            if let Ok(requests) = store.requests().await {
                rows.extend(requests.iter().map(waitlist::request_json));
            }
            let mut text = serde_json::to_vec_pretty(&Value::Array(rows))
                .map_err(|error| CliError::Usage(error.to_string()))?;
            text.push(b'\n');
            text
        }
        other => {
            return Err(CliError::Usage(format!("--format {other}: csv or json")));
        }
    };
    write(&text, output, "invitation(s)", store)?;
    report_unusable(store, &listing)
}

/// An export to `output`, or to standard output.
fn write(
    text: &[u8],
    output: Option<&Path>,
    what: &str,
    store: &dyn InvitationAdmin,
) -> Result<(), CliError> {
    match output {
        Some(path) => {
            std::fs::write(path, text).map_err(|error| {
                CliError::Usage(format!("cannot write {}: {error}", path.display()))
            })?;
            eprintln!(
                "exported {what} from {} to {}",
                store.describe(),
                path.display()
            );
        }
        None => {
            use std::io::Write as _;
            std::io::stdout()
                .write_all(text)
                .map_err(|error| CliError::Usage(format!("cannot write the export: {error}")))?;
        }
    }
    Ok(())
}

/// Writes the requests of an export into the store's waitlist.
async fn import_requests(
    store: &dyn InvitationAdmin,
    source: &Path,
    requests: Vec<StoredRequest>,
    errors: Vec<String>,
) -> Result<ExitCode, CliError> {
    let count = store.import_requests(requests).await?;
    for error in &errors {
        eprintln!("{}: {error}", source.display());
    }
    println!(
        "imported {count} waitlist request(s) from {} into {}: {} invalid",
        source.display(),
        store.describe(),
        errors.len()
    );
    Ok(if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_NO)
    })
}

/// An export's JSON: every entry that reads, and `entry N: ...` for each that does not. A text
/// that is not a JSON array of objects is an error of the whole file.
/// Rows read for an import, each with whether it is fresh (no id: not from an export), and the
/// problems of the rows that could not be read.
type Read = (Vec<(StoredInvitation, bool)>, Vec<String>);

fn read_json(text: &[u8], requests: &mut Vec<StoredRequest>) -> Result<Read, String> {
    let entries: Vec<Value> = serde_json::from_slice(text)
        .map_err(|error| format!("not a JSON array of invitations: {error}"))?;
    let mut rows: Vec<(StoredInvitation, bool)> = Vec::new();
    let mut errors = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let number = index + 1;
        if entry.get("kind").and_then(Value::as_str) == Some("request") {
            match waitlist::request_from_json(entry) {
                Ok(request) => requests.push(request),
                Err(problem) => errors.push(format!("entry {number}: {problem}")),
            }
            continue;
        }
        let fresh = entry.get("id").is_none_or(Value::is_null);
        match json_entry(entry).map(|row| (row, fresh)) {
            Ok(row) if rows.iter().any(|(other, _)| other.key == row.0.key) => {
                errors.push(format!(
                    "entry {number}: a second entry for the same address or code"
                ));
            }
            Ok(row) => rows.push(row),
            Err(problem) => errors.push(format!("entry {number}: {problem}")),
        }
    }
    Ok((rows, errors))
}

fn json_entry(entry: &Value) -> Result<StoredInvitation, String> {
    let object = entry.as_object().ok_or("not a JSON object")?;
    let text = |name: &str| -> Result<Option<&str>, String> {
        match object.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) if text.trim().is_empty() => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(_) => Err(format!("{name} is not text")),
        }
    };
    let email = text("email")?
        .map(|email| EmailAddress::parse(email).map_err(|error| format!("invalid email: {error}")))
        .transpose()?;
    let (key, bound_to) = match text("code_sha256")? {
        Some(hex) => (
            InvitationKey::Code(
                CodeDigest::parse(hex).ok_or("invalid code_sha256: 64 hex digits")?,
            ),
            email,
        ),
        None => (
            InvitationKey::Email(email.ok_or("the e-mail address is missing")?),
            None,
        ),
    };
    let mut attributes = Vec::new();
    for (property, enforced) in [("attributes", false), ("enforced", true)] {
        let values = match object.get(property) {
            None | Some(Value::Null) => continue,
            Some(Value::Object(values)) => values,
            Some(_) => return Err(format!("{property} is not an object")),
        };
        for (name, value) in values {
            let (value, kind) = match value {
                Value::String(text) => (text.clone(), ValueType::String),
                Value::Bool(flag) => (flag.to_string(), ValueType::Boolean),
                Value::Number(number) if number.is_i64() => {
                    (number.to_string(), ValueType::Integer)
                }
                _ => {
                    return Err(format!(
                        "{property}.{name} is not text, a whole number or true/false"
                    ));
                }
            };
            attributes.push(
                InvitationAttribute::new(name.as_str(), &value, enforced, kind)
                    .map_err(|error| error.to_string())?,
            );
        }
    }
    let claims = match object.get("claims") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(claims)) => read_claims(claims)?,
        Some(_) => return Err("claims is not an object".to_owned()),
    };
    let uses = match object.get("uses") {
        None | Some(Value::Null) => Uses::Unlimited,
        Some(Value::String(text)) => Uses::parse(text).ok_or("invalid uses")?,
        Some(Value::Number(number)) => Uses::parse(&number.to_string()).ok_or("invalid uses")?,
        Some(_) => return Err("invalid uses".to_owned()),
    };
    let used = match object.get("used") {
        None | Some(Value::Null) => 0,
        Some(value) => value
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or("used is not a whole number")?,
    };
    let use_keys = match object.get("use_keys") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(keys)) => keys
            .iter()
            .map(|key| {
                key.as_str()
                    .and_then(UseKey::parse)
                    .ok_or("invalid use_keys")
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("use_keys is not a list".to_owned()),
    };
    let expiry = |name: &str| -> Result<Option<Expiry>, String> {
        text(name)?
            .map(|text| Expiry::parse(text).map_err(|error| format!("invalid {name}: {error}")))
            .transpose()
    };
    let parts = InvitationParts {
        id: text("id")?
            .map(|id| InvitationId::parse(id).ok_or(format!("invalid id {id:?}")))
            .transpose()?,
        application_id: text("application_id")?
            .map(|id| {
                ApplicationId::parse(id).map_err(|error| format!("invalid application_id: {error}"))
            })
            .transpose()?,
        expires_at: expiry("expires_at")?,
        attributes,
        claims,
        uses,
        bound_to,
        revoked_at: expiry("revoked_at")?,
        used,
        use_keys,
    };
    let invitation = Invitation::new(parts, &key).map_err(|error| error.to_string())?;
    let signed_up = text("signed_up_at")?.map(|at| {
        (
            at.to_owned(),
            text("signed_up_application")
                .ok()
                .flatten()
                .map(str::to_owned),
        )
    });
    Ok(StoredInvitation {
        key,
        invitation,
        signed_up,
    })
}

fn read_claims(claims: &Map<String, Value>) -> Result<Vec<InvitationClaim>, String> {
    let mut read = Vec::new();
    for (name, value) in claims {
        let value = match value {
            Value::String(text) => ClaimValue::one(text),
            Value::Array(items) => ClaimValue::many(
                items
                    .iter()
                    .map(|item| {
                        item.as_str()
                            .ok_or(format!("claims.{name} holds more than text"))
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            _ => return Err(format!("claims.{name} is not text or a list of text")),
        };
        if let Some(value) = value {
            read.push(InvitationClaim {
                name: name.as_str().into(),
                value,
            });
        }
    }
    Ok(read)
}
