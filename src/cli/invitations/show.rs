//! `invitations list`: every invitation with its id and status, for people or as JSON. A code is
//! never shown (the store does not have it); a code invitation is named by its id.

use std::process::ExitCode;

use serde_json::{Map, Value, json};

use super::{CliError, EXIT_NO};
use crate::domain::invitation::{
    ApplicationId, ClaimValue, InvitationAttribute, InvitationKey, Status, Uses, claims_json, now,
};
use crate::invitations::{InvitationAdmin, Listing, StoredInvitation};
use crate::printable::Printable;

/// Lists every invitation (or those of one status). Entries the store cannot use are named by
/// their keys with why on stderr, and make the exit code 1, so that neither people nor scripts
/// take the list as complete.
pub(super) async fn list(
    store: &dyn InvitationAdmin,
    as_json: bool,
    status: Option<&str>,
) -> Result<ExitCode, CliError> {
    let wanted = status
        .map(|text| {
            Status::parse(text).ok_or_else(|| {
                CliError::Usage(format!(
                    "--status {text}: one of pending, accepted, expired, revoked or used-up"
                ))
            })
        })
        .transpose()?;
    let listing = store.list().await?;
    let now = now();
    let shown: Vec<&StoredInvitation> = listing
        .invitations
        .iter()
        .filter(|entry| wanted.is_none_or(|wanted| status_of(entry, now) == wanted))
        .collect();
    if as_json {
        let rows: Vec<Value> = shown
            .iter()
            .map(|entry| entry_json(entry, now, false))
            .collect();
        println!("{}", Value::Array(rows));
    } else {
        for entry in &shown {
            println!("{}", describe(entry, now));
        }
        println!("{} invitation(s) in {}", shown.len(), store.describe());
    }
    report_unusable(store, &listing)
}

/// Names the entries a store cannot use on stderr; exit code 1 when there are any.
pub(super) fn report_unusable(
    store: &dyn InvitationAdmin,
    listing: &Listing,
) -> Result<ExitCode, CliError> {
    for entry in &listing.unusable {
        eprintln!(
            "{} is malformed: {}; it admits no one",
            entry.at,
            Printable(&entry.problem)
        );
    }
    if listing.unusable.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "{} row(s) of {} cannot be used: fix or remove them (for example in Storage Explorer)",
        listing.unusable.len(),
        store.describe()
    );
    Ok(ExitCode::from(EXIT_NO))
}

pub(super) fn status_of(entry: &StoredInvitation, now: i64) -> Status {
    entry
        .invitation
        .status(entry.is_code(), entry.signed_up.is_some(), now)
}

/// An invitation as JSON: what `list --json` shows, and with `export` everything `import` needs
/// to write it back (the code's SHA-256, the uses claimed and by whom).
pub(super) fn entry_json(entry: &StoredInvitation, now: i64, export: bool) -> Value {
    let invitation = &entry.invitation;
    let values = |enforced: bool| {
        invitation
            .attributes()
            .iter()
            .filter(|a| a.enforced() == enforced)
            .map(|a| (a.name().to_owned(), a.json()))
            .collect::<Map<String, Value>>()
    };
    let mut json = json!({
        "id": invitation.id().as_str(),
        "email": entry.email().map(|email| email.as_str()),
        "code": entry.is_code(),
        "status": status_of(entry, now).as_str(),
        "application_id": invitation.application_id().map(ApplicationId::as_str),
        "expires_at": invitation.expires_at().map(|e| e.to_string()),
        "attributes": values(false),
        "enforced": values(true),
        "claims": claims_json(invitation.claims()),
        "uses": match invitation.uses() {
            Uses::Unlimited => Value::from("unlimited"),
            Uses::Limited(n) => Value::from(n),
        },
        "used": invitation.used(),
    });
    if let Some(at) = invitation.revoked_at() {
        json["revoked_at"] = Value::from(at.to_string());
    }
    if let Some((at, application)) = &entry.signed_up {
        json["signed_up_at"] = Value::from(at.as_str());
        json["signed_up_application"] = application.as_deref().map_or(Value::Null, Value::from);
    }
    if export {
        if let InvitationKey::Code(digest) = &entry.key {
            json["code_sha256"] = Value::from(digest.to_string());
        }
        json["use_keys"] = invitation
            .use_keys()
            .iter()
            .map(|key| Value::from(key.to_string()))
            .collect();
    }
    json
}

/// One invitation for people (`ada@fabrikam.com  inv_...  pending  app: any  expires: never
/// displayName=Ada, !jobTitle=Engineer  signed up: ...`); every value from the store is
/// escaped, so a value holding a newline cannot print a line that looks like another
/// invitation.
pub(super) fn describe(entry: &StoredInvitation, now: i64) -> String {
    let invitation = &entry.invitation;
    let attributes = invitation
        .attributes()
        .iter()
        .map(|a| {
            format!(
                "{}={}",
                InvitationAttribute::column(a.name(), a.enforced(), a.kind()),
                Printable(a.value())
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let claims = invitation
        .claims()
        .iter()
        .map(|claim| match &claim.value {
            ClaimValue::One(value) => format!("{}={}", claim.name, Printable(value)),
            many => format!("{}[]={}", claim.name, Printable(&many.cell())),
        })
        .collect::<Vec<_>>()
        .join(", ");
    let claims = if claims.is_empty() {
        String::new()
    } else {
        format!("  claims: {claims}")
    };
    let signed_up = entry
        .signed_up
        .as_ref()
        .map(|(at, application)| {
            format!(
                "  signed up: {}{}",
                Printable(at),
                application
                    .as_deref()
                    .map(|app| format!(" ({})", Printable(app)))
                    .unwrap_or_default()
            )
        })
        .unwrap_or_default();
    let who = match (&entry.key, invitation.bound_to()) {
        (InvitationKey::Email(email), _) => Printable(email.as_str()).to_string(),
        (InvitationKey::Code(_), Some(email)) => format!("code for {}", Printable(email.as_str())),
        (InvitationKey::Code(_), None) => "code".to_owned(),
    };
    let uses = match invitation.uses() {
        Uses::Unlimited if invitation.used() == 0 => String::new(),
        Uses::Unlimited => format!("  used: {}", invitation.used()),
        Uses::Limited(max) => format!("  used: {}/{max}", invitation.used()),
    };
    format!(
        "{who}  {}  {}  app: {}  expires: {}{uses}{}{}{claims}{signed_up}",
        invitation.id(),
        status_of(entry, now).as_str(),
        Printable(
            invitation
                .application_id()
                .map_or("any", ApplicationId::as_str)
        ),
        invitation
            .expires_at()
            .map_or_else(|| "never".to_owned(), |e| e.to_string()),
        if attributes.is_empty() { "" } else { "  " },
        attributes
    )
}
