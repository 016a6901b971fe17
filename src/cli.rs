//! `handler invitations ...`: manage the invitations the server reads, in the CSV file or in
//! Azure Table Storage (whichever `INVITATION_STORE` names; `--file` picks a file).
//!
//! Every file write replaces the file atomically, so a running server (which reloads the file
//! when it changes) never sees half of it; the table is created when missing before a write.
//! Output is for people (and `list --json` for scripts); errors go to stderr with a non-zero
//! exit code.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};

use crate::invitations::csv_file::{InvitationFile, Row, Upsert};
use crate::invitations::table::{MalformedRow, StoredInvitation, TableStore};
use crate::invitations::{Expiry, Invitation, InvitationAttribute, ValueType, now};
use crate::policy::email::EmailAddress;
use crate::policy::{Decision, EmailClaim, InvitationLookup, SignUp, Stage};
use crate::printable::Printable;
use crate::settings::{LOCAL_SETTINGS, LOCAL_SETTINGS_EXAMPLE, Settings, StoreKind};

/// Exit code when the command ran but the answer is "no" (blocked by `check`, invalid rows in
/// `import`, nothing to remove).
const EXIT_NO: u8 = 1;
/// Exit code for unusable input.
const EXIT_USAGE: u8 = 2;

#[derive(Debug, Args)]
pub struct InvitationsCommand {
    /// Work on this invitation file instead of the configured store.
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
        /// Prefill an attribute: --set displayName="Ada Lovelace" (repeatable); an int or
        /// boolean attribute with its type: --set extension_<app>_Level:int=3.
        #[arg(long = "set", value_name = "NAME[:TYPE]=VALUE")]
        set: Vec<String>,
        /// Impose an attribute at submit: --enforce jobTitle=Engineer (repeatable; a type as
        /// with --set).
        #[arg(long = "enforce", value_name = "NAME[:TYPE]=VALUE")]
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

/// Where the command reads and writes.
enum Target {
    File(PathBuf),
    Table(TableStore),
}

impl Target {
    fn describe(&self) -> String {
        match self {
            Self::File(path) => path.display().to_string(),
            Self::Table(table) => format!("table {}", table.table()),
        }
    }

    /// Every invitation, with its sign-up record where the store keeps one, and the rows the
    /// store holds but cannot use (a table edited by other tools), each with why.
    async fn list(&self) -> Result<(Vec<Listed>, Vec<MalformedRow>), String> {
        Ok(match self {
            Self::File(path) => (
                InvitationFile::load(path)?
                    .rows
                    .into_iter()
                    .map(|row| Listed {
                        row,
                        signed_up: None,
                    })
                    .collect(),
                Vec::new(),
            ),
            Self::Table(table) => {
                let listing = table.list().await.map_err(|e| e.to_string())?;
                (
                    listing.invitations.into_iter().map(Listed::from).collect(),
                    listing.malformed,
                )
            }
        })
    }

    async fn get(&self, email: &EmailAddress) -> Result<Option<Listed>, String> {
        Ok(match self {
            Self::File(path) => {
                InvitationFile::load(path)?
                    .find(email)
                    .cloned()
                    .map(|row| Listed {
                        row,
                        signed_up: None,
                    })
            }
            Self::Table(table) => table
                .get(email)
                .await
                .map_err(|e| e.to_string())?
                .map(Listed::from),
        })
    }

    /// Adds or replaces one invitation.
    async fn upsert(&self, email: EmailAddress, invitation: Invitation) -> Result<Upsert, String> {
        match self {
            Self::File(path) => {
                let mut file = InvitationFile::load(path)?;
                let outcome = file.upsert(email, invitation);
                if outcome != Upsert::Unchanged {
                    file.save(path)?;
                }
                Ok(outcome)
            }
            Self::Table(table) => {
                table.create_table().await.map_err(|e| e.to_string())?;
                table
                    .upsert(&email, &invitation)
                    .await
                    .map_err(|e| e.to_string())
            }
        }
    }

    /// Removes one invitation; `false` when there was none.
    async fn remove(&self, email: &EmailAddress) -> Result<bool, String> {
        match self {
            Self::File(path) => {
                let mut file = InvitationFile::load(path)?;
                let removed = file.remove(email);
                if removed {
                    file.save(path)?;
                }
                Ok(removed)
            }
            Self::Table(table) => table.remove(email).await.map_err(|e| e.to_string()),
        }
    }

    /// Adds or replaces many invitations.
    async fn import(&self, rows: Vec<Row>) -> Result<Counts, String> {
        match self {
            Self::File(path) => {
                let mut file = InvitationFile::load(path)?;
                let mut counts = Counts::default();
                for row in rows {
                    counts.count(file.upsert(row.email, row.invitation));
                }
                if counts.added + counts.updated > 0 {
                    file.save(path)?;
                }
                Ok(counts)
            }
            Self::Table(table) => import_into_table(table, rows).await,
        }
    }
}

/// What an import did.
#[derive(Debug, Default)]
struct Counts {
    added: usize,
    updated: usize,
    unchanged: usize,
}

impl Counts {
    fn count(&mut self, outcome: Upsert) {
        match outcome {
            Upsert::Added => self.added += 1,
            Upsert::Updated => self.updated += 1,
            Upsert::Unchanged => self.unchanged += 1,
        }
    }

    fn total(&self) -> usize {
        self.added + self.updated + self.unchanged
    }
}

/// An invitation as listed.
struct Listed {
    row: Row,
    /// When and for which application it was used (the table keeps this).
    signed_up: Option<(String, Option<String>)>,
}

impl From<StoredInvitation> for Listed {
    fn from(stored: StoredInvitation) -> Self {
        Self {
            row: Row {
                email: stored.email,
                invitation: stored.invitation,
                line: 0,
            },
            signed_up: stored
                .signed_up_at
                .map(|at| (at, stored.signed_up_application)),
        }
    }
}

/// Runs one `invitations` command with the validated settings.
pub fn run(command: InvitationsCommand, settings: &Settings) -> ExitCode {
    let writes = matches!(
        command.action,
        InvitationsAction::Add { .. }
            | InvitationsAction::Remove { .. }
            | InvitationsAction::Import { .. }
    );
    let target = match (command.file, &settings.invitation_store) {
        (Some(path), _) => Ok(Target::File(path)),
        // The example settings name the committed example file: editing it would change what
        // the README's examples answer, and the edit would be lost or committed by mistake.
        (None, StoreKind::File) if writes && settings.from_example => Err(format!(
            "not editing {}: the settings come from {LOCAL_SETTINGS_EXAMPLE} because there is no \
             {LOCAL_SETTINGS}. Make the settings yours (cp {LOCAL_SETTINGS_EXAMPLE} {LOCAL_SETTINGS}, \
             then set INVITATIONS_FILE there, for example to invitations.csv), or name a file with --file PATH",
            settings.invitations_file.display()
        )),
        (None, StoreKind::File) => Ok(Target::File(settings.invitations_file.clone())),
        (None, StoreKind::Table(table)) => {
            TableStore::new(table.clone(), settings.decision_deadline).map(Target::Table)
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| format!("cannot start the async runtime: {error}"));
    let result = match (target, runtime) {
        (Err(error), _) | (_, Err(error)) => Err(error),
        (Ok(target), Ok(runtime)) => runtime.block_on(async {
            match command.action {
                InvitationsAction::Add {
                    email,
                    app,
                    expires,
                    set,
                    enforce,
                } => add(&target, &email, app, expires, &set, &enforce).await,
                InvitationsAction::Remove { email } => remove(&target, &email).await,
                InvitationsAction::List { json } => list(&target, json).await,
                InvitationsAction::Import { source } => import(&target, &source).await,
                InvitationsAction::Check { email, app } => {
                    check(&target, settings, &email, app).await
                }
            }
        }),
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

async fn add(
    target: &Target,
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
            let (name, kind) = match name.trim().split_once(':') {
                None => (name.trim(), ValueType::String),
                Some((name, kind)) => (
                    name,
                    ValueType::parse(kind).ok_or_else(|| {
                        format!("{kind:?} is not an attribute type (string, int or boolean)")
                    })?,
                ),
            };
            crate::invitations::check_attribute(name, value.trim(), kind)?;
            // Entra and B2C match attribute names in any case: two spellings of one name
            // would leave one value silently dropped.
            if let Some(other) = attributes
                .iter()
                .find(|a| a.name.eq_ignore_ascii_case(name))
            {
                return Err(if &*other.name == name {
                    format!("attribute {name} is given twice")
                } else {
                    format!(
                        "attributes {} and {name} are the same attribute (names are compared in any case)",
                        other.name
                    )
                });
            }
            attributes.push(InvitationAttribute {
                name: Arc::from(name),
                value: value.trim().into(),
                enforced,
                kind,
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
    let outcome = target.upsert(email.clone(), invitation).await?;
    let (email, store) = (email.as_str(), target.describe());
    match outcome {
        Upsert::Added => println!("added {email} in {store}"),
        Upsert::Updated => println!("updated {email} in {store}"),
        Upsert::Unchanged => println!("{email} in {store} has this invitation already"),
    }
    Ok(ExitCode::SUCCESS)
}

async fn remove(target: &Target, email: &str) -> Result<ExitCode, String> {
    let email = parse_email(email)?;
    if !target.remove(&email).await? {
        eprintln!(
            "{} has no invitation in {}",
            email.as_str(),
            target.describe()
        );
        return Ok(ExitCode::from(EXIT_NO));
    }
    println!("removed {} from {}", email.as_str(), target.describe());
    Ok(ExitCode::SUCCESS)
}

/// Lists every invitation. Rows the store cannot use are named (masked) with why on stderr,
/// and make the exit code 1, so that neither people nor scripts take the list as complete.
async fn list(target: &Target, as_json: bool) -> Result<ExitCode, String> {
    let (listed, malformed) = target.list().await?;
    if as_json {
        let rows: Vec<Value> = listed.iter().map(listed_json).collect();
        println!("{}", Value::Array(rows));
    } else {
        for entry in &listed {
            println!("{}", describe_listed(entry));
        }
        println!("{} invitation(s) in {}", listed.len(), target.describe());
    }
    for row in &malformed {
        eprintln!("{row}; it admits no one");
    }
    if malformed.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "{} row(s) of {} cannot be used: fix or remove them (for example in Storage Explorer)",
            malformed.len(),
            target.describe()
        );
        Ok(ExitCode::from(EXIT_NO))
    }
}

fn listed_json(entry: &Listed) -> Value {
    let mut json = row_json(&entry.row);
    if let Some((at, application)) = &entry.signed_up {
        json["signed_up_at"] = Value::from(at.as_str());
        json["signed_up_application"] = application.as_deref().map_or(Value::Null, Value::from);
    }
    json
}

/// One invitation for people; every value from the store is escaped, so a value holding a
/// newline cannot print a line that looks like another invitation.
fn describe_listed(entry: &Listed) -> String {
    match &entry.signed_up {
        None => describe_row(&entry.row),
        Some((at, application)) => format!(
            "{}  signed up: {}{}",
            describe_row(&entry.row),
            Printable(at),
            application
                .as_deref()
                .map(|app| format!(" ({})", Printable(app)))
                .unwrap_or_default()
        ),
    }
}

fn row_json(row: &Row) -> Value {
    let invitation = &row.invitation;
    let values = |enforced: bool| {
        invitation
            .attributes
            .iter()
            .filter(|a| a.enforced == enforced)
            .map(|a| (a.name.to_string(), a.json()))
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
                "{}={}",
                InvitationAttribute::column(&a.name, a.enforced, a.kind),
                Printable(&a.value)
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "{}  app: {}  expires: {}{}{}",
        Printable(row.email.as_str()),
        Printable(invitation.application_id.as_deref().unwrap_or("any")),
        invitation
            .expires_at
            .map_or_else(|| "never".to_owned(), |e| e.to_string()),
        if attributes.is_empty() { "" } else { "  " },
        attributes
    )
}

async fn import(target: &Target, source: &Path) -> Result<ExitCode, String> {
    let text = std::fs::read(source).map_err(|error| format!("{}: {error}", source.display()))?;
    let (rows, errors) = InvitationFile::parse_lenient(&text);
    let counts = target.import(rows).await?;
    for error in &errors {
        eprintln!("{}: {error}", source.display());
    }
    println!(
        "imported {} into {}: {} added, {} updated, {} unchanged, {} invalid",
        source.display(),
        target.describe(),
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

/// Writes rows to the table, a few at a time (each retried with back-off when throttled), with
/// progress on stderr. A write that still fails ends the import, after the progress line.
async fn import_into_table(table: &TableStore, rows: Vec<Row>) -> Result<Counts, String> {
    use futures_util::StreamExt as _;
    const CONCURRENCY: usize = 32;
    table.create_table().await.map_err(|e| e.to_string())?;
    let total = rows.len();
    let started = std::time::Instant::now();
    let mut writes = futures_util::stream::iter(rows)
        .map(|row| async move { table.upsert(&row.email, &row.invitation).await })
        .buffer_unordered(CONCURRENCY);
    let mut counts = Counts::default();
    let mut progress_shown = false;
    while let Some(written) = writes.next().await {
        match written {
            Ok(outcome) => counts.count(outcome),
            Err(error) => {
                if progress_shown {
                    eprintln!();
                }
                return Err(format!(
                    "{error} (after {} of {total} rows; importing the file again is harmless)",
                    counts.total()
                ));
            }
        }
        let done = counts.total();
        if done % 1000 == 0 || done == total {
            let rate = done as f64 / started.elapsed().as_secs_f64().max(0.001);
            eprint!("\r{done}/{total} written ({rate:.0}/s)");
            progress_shown = true;
        }
    }
    if progress_shown {
        eprintln!();
    }
    Ok(counts)
}

async fn check(
    target: &Target,
    settings: &Settings,
    email: &str,
    app: Option<String>,
) -> Result<ExitCode, String> {
    let email = parse_email(email)?;
    let listed = target.get(&email).await?;
    let lookup = match &listed {
        Some(entry) => InvitationLookup::Found(entry.row.invitation.clone()),
        None => InvitationLookup::NotFound,
    };
    let sign_up = SignUp {
        email: EmailClaim::Valid(email.clone()),
        job_title: None,
        stage: Stage::BeforeAttributes,
        application: app,
        lists_page_attributes: false,
    };
    match &listed {
        Some(entry) => println!("invitation: {}", describe_listed(entry)),
        None => println!("invitation: none in {}", target.describe()),
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
                println!(
                    "  {verb} {} = {}",
                    attribute.name,
                    Printable(&attribute.value)
                );
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
