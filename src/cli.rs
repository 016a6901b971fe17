//! `handler invitations ...`: manage the invitation file the server reads.
//!
//! Every write replaces the file atomically, so a running server (which reloads the file when it
//! changes) never sees half of it. Output is for people (and `list --json` for scripts); errors
//! go to stderr with a non-zero exit code.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};

use crate::invitations::csv_file::{InvitationFile, Row, Upsert};
use crate::invitations::{Expiry, Invitation, InvitationAttribute, now};
use crate::policy::email::EmailAddress;
use crate::policy::{Decision, EmailClaim, InvitationLookup, SignUp, Stage};
use crate::settings::Settings;

/// Exit code when the command ran but the answer is "no" (blocked by `check`, invalid rows in
/// `import`, nothing to remove).
const EXIT_NO: u8 = 1;
/// Exit code for unusable input.
const EXIT_USAGE: u8 = 2;

#[derive(Debug, Args)]
pub struct InvitationsCommand {
    /// The invitation file (default: INVITATIONS_FILE from the settings).
    #[arg(long, global = true, value_name = "PATH")]
    file: Option<PathBuf>,
    #[command(subcommand)]
    action: InvitationsAction,
}

#[derive(Debug, Subcommand)]
enum InvitationsAction {
    /// Invite an address (or replace its invitation).
    Add {
        email: String,
        /// Only for this application (client) id; default: every application.
        #[arg(long, value_name = "ID")]
        app: Option<String>,
        /// Expiry: 2026-12-31 (midnight UTC) or an RFC 3339 date-time; default: never.
        #[arg(long, value_name = "DATE")]
        expires: Option<String>,
        /// Prefill an attribute: --set displayName="Ada Lovelace" (repeatable).
        #[arg(long = "set", value_name = "NAME=VALUE")]
        set: Vec<String>,
        /// Impose an attribute at submit: --enforce jobTitle=Engineer (repeatable).
        #[arg(long = "enforce", value_name = "NAME=VALUE")]
        enforce: Vec<String>,
    },
    /// Withdraw an address's invitation.
    Remove { email: String },
    /// Show every invitation.
    List {
        /// As a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Merge invitations from another CSV file of the same layout.
    Import { source: PathBuf },
    /// Show what the policy would decide for an address, and why.
    Check {
        email: String,
        /// The application (client) id the user would sign up to.
        #[arg(long, value_name = "ID")]
        app: Option<String>,
    },
}

/// Runs one `invitations` command with the validated settings.
pub fn run(command: InvitationsCommand, settings: &Settings) -> ExitCode {
    let path = command
        .file
        .unwrap_or_else(|| settings.invitations_file.clone());
    let result = match command.action {
        InvitationsAction::Add {
            email,
            app,
            expires,
            set,
            enforce,
        } => add(&path, &email, app, expires, &set, &enforce),
        InvitationsAction::Remove { email } => remove(&path, &email),
        InvitationsAction::List { json } => list(&path, json),
        InvitationsAction::Import { source } => import(&path, &source),
        InvitationsAction::Check { email, app } => check(&path, settings, &email, app),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn parse_email(text: &str) -> Result<EmailAddress, String> {
    EmailAddress::parse(text)
        .map_err(|error| format!("{text:?} is not a valid e-mail address: {error}"))
}

fn add(
    path: &Path,
    email: &str,
    app: Option<String>,
    expires: Option<String>,
    set: &[String],
    enforce: &[String],
) -> Result<ExitCode, String> {
    let email = parse_email(email)?;
    let expires_at = expires
        .as_deref()
        .map(Expiry::parse)
        .transpose()
        .map_err(|e| e.to_string())?;
    let mut attributes: Vec<InvitationAttribute> = Vec::new();
    for (pairs, enforced) in [(set, false), (enforce, true)] {
        for pair in pairs {
            let (name, value) = pair
                .split_once('=')
                .ok_or_else(|| format!("{pair:?} is not NAME=VALUE"))?;
            let name = name.trim();
            if !crate::invitations::csv_file::is_attribute_name(name) {
                return Err(format!(
                    "{name:?} is not an attribute name (letters, digits and '_', starting with a letter)"
                ));
            }
            if attributes.iter().any(|a| &*a.name == name) {
                return Err(format!("attribute {name} is given twice"));
            }
            attributes.push(InvitationAttribute {
                name: Arc::from(name),
                value: value.trim().into(),
                enforced,
            });
        }
    }
    let invitation = Invitation {
        application_id: app
            .map(|id| id.trim().to_owned())
            .filter(|id| !id.is_empty())
            .map(Into::into),
        expires_at,
        attributes: attributes.into_boxed_slice(),
    };
    let mut file = InvitationFile::load(path)?;
    let outcome = file.upsert(email.clone(), invitation);
    file.save(path)?;
    let verb = match outcome {
        Upsert::Added => "added",
        Upsert::Updated => "updated",
    };
    println!("{verb} {} in {}", email.as_str(), path.display());
    Ok(ExitCode::SUCCESS)
}

fn remove(path: &Path, email: &str) -> Result<ExitCode, String> {
    let email = parse_email(email)?;
    let mut file = InvitationFile::load(path)?;
    if !file.remove(&email) {
        eprintln!("{} has no invitation in {}", email.as_str(), path.display());
        return Ok(ExitCode::from(EXIT_NO));
    }
    file.save(path)?;
    println!("removed {} from {}", email.as_str(), path.display());
    Ok(ExitCode::SUCCESS)
}

fn list(path: &Path, as_json: bool) -> Result<ExitCode, String> {
    let file = InvitationFile::load(path)?;
    if as_json {
        let rows: Vec<Value> = file.rows.iter().map(row_json).collect();
        println!("{}", Value::Array(rows));
        return Ok(ExitCode::SUCCESS);
    }
    for row in &file.rows {
        println!("{}", describe_row(row));
    }
    println!("{} invitation(s) in {}", file.rows.len(), path.display());
    Ok(ExitCode::SUCCESS)
}

fn row_json(row: &Row) -> Value {
    let invitation = &row.invitation;
    let values = |enforced: bool| {
        invitation
            .attributes
            .iter()
            .filter(|a| a.enforced == enforced)
            .map(|a| (a.name.to_string(), Value::from(&*a.value)))
            .collect::<Map<String, Value>>()
    };
    json!({
        "email": row.email.as_str(),
        "application_id": invitation.application_id.as_deref(),
        "expires_at": invitation.expires_at.map(|e| e.to_string()),
        "attributes": values(false),
        "enforced": values(true),
    })
}

/// `ada@fabrikam.com  app: any  expires: never  displayName=Ada, !jobTitle=Engineer`
fn describe_row(row: &Row) -> String {
    let invitation = &row.invitation;
    let attributes = invitation
        .attributes
        .iter()
        .map(|a| {
            format!(
                "{}{}={}",
                if a.enforced { "!" } else { "" },
                a.name,
                a.value
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "{}  app: {}  expires: {}{}{}",
        row.email.as_str(),
        invitation.application_id.as_deref().unwrap_or("any"),
        invitation
            .expires_at
            .map_or_else(|| "never".to_owned(), |e| e.to_string()),
        if attributes.is_empty() { "" } else { "  " },
        attributes
    )
}

fn import(path: &Path, source: &Path) -> Result<ExitCode, String> {
    let text = std::fs::read(source).map_err(|error| format!("{}: {error}", source.display()))?;
    let (rows, errors) = InvitationFile::parse_lenient(&text);
    let mut file = InvitationFile::load(path)?;
    let (mut added, mut updated) = (0, 0);
    for row in rows {
        match file.upsert(row.email, row.invitation) {
            Upsert::Added => added += 1,
            Upsert::Updated => updated += 1,
        }
    }
    if added + updated > 0 {
        file.save(path)?;
    }
    for error in &errors {
        eprintln!("{}: {error}", source.display());
    }
    println!(
        "imported {} into {}: {added} added, {updated} updated, {} invalid",
        source.display(),
        path.display(),
        errors.len()
    );
    Ok(if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_NO)
    })
}

fn check(
    path: &Path,
    settings: &Settings,
    email: &str,
    app: Option<String>,
) -> Result<ExitCode, String> {
    let email = parse_email(email)?;
    let file = InvitationFile::load(path)?;
    let row = file.find(&email);
    let lookup = match row {
        Some(row) => InvitationLookup::Found(row.invitation.clone()),
        None => InvitationLookup::NotFound,
    };
    let sign_up = SignUp {
        email: EmailClaim::Valid(email.clone()),
        job_title: None,
        stage: Stage::BeforeAttributes,
        application: app,
    };
    match row {
        Some(row) => println!("invitation: {}", describe_row(row)),
        None => println!("invitation: none in {}", path.display()),
    }
    println!("allowed domains: [{}]", settings.policy.allowed_domains);
    match settings.policy.decide(&sign_up, &lookup, now()) {
        Decision::Admit { reason, attributes } => {
            println!("admitted ({})", reason.as_str());
            for attribute in attributes {
                let verb = if attribute.enforced {
                    "enforce"
                } else {
                    "prefill"
                };
                println!("  {verb} {} = {}", attribute.name, attribute.value);
            }
            Ok(ExitCode::SUCCESS)
        }
        Decision::Block { reason, message } => {
            println!("blocked ({}): {message}", reason.as_str());
            Ok(ExitCode::from(EXIT_NO))
        }
        Decision::Invalid { message, .. } => {
            println!("invalid: {message}");
            Ok(ExitCode::from(EXIT_NO))
        }
    }
}
