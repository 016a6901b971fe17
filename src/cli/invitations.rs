//! `handler invitations ...`: manage the invitations the server reads, in whichever store
//! `INVITATION_STORE` names (`--file` picks a file), through the store's [`InvitationAdmin`].
//!
//! Output is for people (and `list --json` for scripts); errors go to stderr with a non-zero
//! exit code.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};

use crate::config::{LOCAL_SETTINGS, LOCAL_SETTINGS_EXAMPLE, Settings};
use crate::domain::email::EmailAddress;
use crate::domain::invitation::{
    ApplicationId, ClaimValue, Expiry, Invitation, InvitationAttribute, InvitationClaim, ValueType,
    check_attribute, check_claims, claims_json, now,
};
use crate::gate::PolicyFileError;
use crate::invitations::csv::InvitationFile;
use crate::invitations::{
    self, ImportError, InvitationAdmin, StoreError, StoreSettings, StoredInvitation, Upsert,
};
use crate::policy::{Decision, EmailClaim, InvitationLookup, PolicyName, SignUp, Stage};
use crate::printable::Printable;

/// Exit code when the command ran but the answer is "no" (blocked by `check`, invalid rows in
/// `import`, nothing to remove, rows of a table that cannot be used).
const EXIT_NO: u8 = 1;
/// Exit code for unusable input and failed stores.
const EXIT_USAGE: u8 = 2;

/// Why a command could not do its work; printed as `error: ...`, exit code 2.
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Import(#[from] ImportError),
    #[error("{} {error}", path.display())]
    Read {
        path: PathBuf,
        error: crate::files::ReadError,
    },
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error(transparent)]
    Policy(#[from] PolicyFileError),
}

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
        /// A claim for the user's tokens: --claim department=Ops, or a list with `[]` after the
        /// name and `;` between the items: --claim 'app_roles[]=Pilot;Dispatcher' (repeatable).
        #[arg(long = "claim", value_name = "NAME[[]]=VALUE")]
        claim: Vec<String>,
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
        /// Say the message in this language, as a user whose browser asks for it would see
        /// it (a BCP 47 tag like `de` or `pt-BR`; default English).
        #[arg(long, value_name = "TAG")]
        language: Option<String>,
    },
}

impl InvitationsAction {
    fn writes(&self) -> bool {
        matches!(
            self,
            Self::Add { .. } | Self::Remove { .. } | Self::Import { .. }
        )
    }
}

/// Runs one `invitations` command with the validated settings.
pub fn run(command: InvitationsCommand, settings: &Settings) -> ExitCode {
    match run_command(command, settings) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            let fix = match &error {
                CliError::Store(error) => Some(error.fix()),
                CliError::Import(error) => Some(error.error.fix()),
                _ => None,
            };
            if let Some(fix) = fix {
                eprintln!("  fix: {fix}");
            }
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn run_command(command: InvitationsCommand, settings: &Settings) -> Result<ExitCode, CliError> {
    let store = match command.file {
        Some(path) => StoreSettings::File(path),
        // The example settings name the committed example file: editing it would change what
        // the README's examples answer, and the edit would be lost or committed by mistake.
        None if command.action.writes() && settings.from_example => {
            if let StoreSettings::File(path) = &settings.store {
                return Err(CliError::Usage(format!(
                    "not editing {}: the settings come from {LOCAL_SETTINGS_EXAMPLE} because there is no \
                     {LOCAL_SETTINGS}. Make the settings yours (cp {LOCAL_SETTINGS_EXAMPLE} {LOCAL_SETTINGS}, \
                     then set INVITATIONS_FILE there, for example to invitations.csv), or name a file with --file PATH",
                    path.display()
                )));
            }
            settings.store.clone()
        }
        // A file of the repository (the committed example, above all) is not the place for
        // real invitations: an edit would be committed by mistake or lost with a checkout.
        None if command.action.writes()
            && let StoreSettings::File(path) = &settings.store
            && tracked_by_git(path) =>
        {
            return Err(CliError::Usage(format!(
                "not editing {}: it is a file of the git repository (tracked by git), not your own invitations. \
                 Set INVITATIONS_FILE in {LOCAL_SETTINGS} to a file of your own (for example invitations.csv, which git \
                 ignores), or, to edit this one on purpose, name it with --file {}",
                path.display(),
                path.display()
            )));
        }
        None => settings.store.clone(),
    };
    let store = invitations::open(&store, settings.decision_deadline)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    let admin: &dyn InvitationAdmin = &*store;
    runtime.block_on(async {
        match command.action {
            InvitationsAction::Add {
                email,
                app,
                expires,
                set,
                enforce,
                claim,
            } => add(admin, &email, app, expires, &set, &enforce, &claim).await,
            InvitationsAction::Remove { email } => remove(admin, &email).await,
            InvitationsAction::List { json } => list(admin, json).await,
            InvitationsAction::Import { source } => import(admin, &source).await,
            InvitationsAction::Check {
                email,
                app,
                language,
            } => check(admin, settings, &email, app, language.as_deref()).await,
        }
    })
}

/// Whether git tracks the file at `path` (false where git or a repository is missing).
fn tracked_by_git(path: &Path) -> bool {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let Some(name) = path.file_name() else {
        return false;
    };
    std::process::Command::new("git")
        .arg("-C")
        .arg(directory)
        .args(["ls-files", "--error-unmatch", "--"])
        .arg(name)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// `--app`: an application's (client) id, a GUID; anything else could never match a sign-up.
fn parse_application(text: &str) -> Result<ApplicationId, CliError> {
    ApplicationId::parse(text).map_err(|error| {
        CliError::Usage(format!(
            "--app {error}: give the application's (client) id, as Entra and B2C send it"
        ))
    })
}

fn parse_email(text: &str) -> Result<EmailAddress, CliError> {
    EmailAddress::parse(text).map_err(|error| {
        CliError::Usage(format!("{text:?} is not a valid e-mail address: {error}"))
    })
}

async fn add(
    store: &dyn InvitationAdmin,
    email: &str,
    app: Option<String>,
    expires: Option<String>,
    set: &[String],
    enforce: &[String],
    claim: &[String],
) -> Result<ExitCode, CliError> {
    let email = parse_email(email)?;
    let expires_at = expires
        .as_deref()
        .map(Expiry::parse)
        .transpose()
        .map_err(|e| CliError::Usage(e.to_string()))?;
    if let Some(expiry) = expires_at.filter(|expiry| expiry.has_passed(now())) {
        eprintln!(
            "warning: {expiry} has passed: this invitation admits no one until its expiry is changed"
        );
    }
    let mut attributes: Vec<InvitationAttribute> = Vec::new();
    for (pairs, enforced) in [(set, false), (enforce, true)] {
        for pair in pairs {
            let (name, value) = pair
                .split_once('=')
                .ok_or_else(|| CliError::Usage(format!("{pair:?} is not NAME=VALUE")))?;
            let (name, kind) = match name.trim().split_once(':') {
                None => (name.trim(), ValueType::String),
                Some((name, kind)) => (
                    name,
                    ValueType::parse(kind).ok_or_else(|| {
                        CliError::Usage(format!(
                            "{kind:?} is not an attribute type (string, int or boolean)"
                        ))
                    })?,
                ),
            };
            check_attribute(name, value.trim(), kind)
                .map_err(|e| CliError::Usage(e.to_string()))?;
            // Entra and B2C match attribute names in any case: two spellings of one name
            // would leave one value silently dropped.
            if let Some(other) = attributes
                .iter()
                .find(|a| a.name.eq_ignore_ascii_case(name))
            {
                return Err(CliError::Usage(if &*other.name == name {
                    format!("attribute {name} is given twice")
                } else {
                    format!(
                        "attributes {} and {name} are the same attribute (names are compared in any case)",
                        other.name
                    )
                }));
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
        application_id: app.as_deref().map(parse_application).transpose()?,
        expires_at,
        attributes: attributes.into_boxed_slice(),
        claims: parse_claims(claim)?,
    };
    let outcome = store.upsert(&email, &invitation).await?;
    let (email, store) = (email.as_str(), store.describe());
    match outcome {
        Upsert::Added => println!("added {email} in {store}"),
        Upsert::Updated => println!("updated {email} in {store}"),
        Upsert::Unchanged => println!("{email} in {store} has this invitation already"),
    }
    Ok(ExitCode::SUCCESS)
}

/// `--claim name=value` and `--claim 'name[]=a;b'`, checked together.
fn parse_claims(pairs: &[String]) -> Result<Box<[InvitationClaim]>, CliError> {
    let mut claims = Vec::new();
    for pair in pairs {
        let (name, value) = pair
            .split_once('=')
            .ok_or_else(|| CliError::Usage(format!("{pair:?} is not NAME=VALUE")))?;
        let value = value.trim();
        let (name, value) = match name.trim().strip_suffix("[]") {
            Some(name) => (name, ClaimValue::list(value)),
            None => (
                name.trim(),
                (!value.is_empty()).then(|| ClaimValue::One(value.into())),
            ),
        };
        let value = value.ok_or_else(|| CliError::Usage(format!("claim {name} has no value")))?;
        claims.push(InvitationClaim {
            name: name.into(),
            value,
        });
    }
    check_claims(&claims).map_err(|error| CliError::Usage(error.to_string()))?;
    Ok(claims.into())
}

async fn remove(store: &dyn InvitationAdmin, email: &str) -> Result<ExitCode, CliError> {
    let email = parse_email(email)?;
    if !store.remove(&email).await? {
        eprintln!(
            "{} has no invitation in {}",
            email.as_str(),
            store.describe()
        );
        return Ok(ExitCode::from(EXIT_NO));
    }
    println!("removed {} from {}", email.as_str(), store.describe());
    Ok(ExitCode::SUCCESS)
}

/// Lists every invitation. Entries the store cannot use are named by their keys with why on stderr,
/// and make the exit code 1, so that neither people nor scripts take the list as complete.
async fn list(store: &dyn InvitationAdmin, as_json: bool) -> Result<ExitCode, CliError> {
    let listing = store.list().await?;
    if as_json {
        let rows: Vec<Value> = listing.invitations.iter().map(listed_json).collect();
        println!("{}", Value::Array(rows));
    } else {
        for entry in &listing.invitations {
            println!("{}", describe(entry));
        }
        println!(
            "{} invitation(s) in {}",
            listing.invitations.len(),
            store.describe()
        );
    }
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

fn listed_json(entry: &StoredInvitation) -> Value {
    let invitation = &entry.invitation;
    let values = |enforced: bool| {
        invitation
            .attributes
            .iter()
            .filter(|a| a.enforced == enforced)
            .map(|a| (a.name.to_string(), a.json()))
            .collect::<Map<String, Value>>()
    };
    let mut json = json!({
        "email": entry.email.as_str(),
        "application_id": invitation.application_id.as_ref().map(ApplicationId::as_str),
        "expires_at": invitation.expires_at.map(|e| e.to_string()),
        "attributes": values(false),
        "enforced": values(true),
        "claims": claims_json(&invitation.claims),
    });
    if let Some((at, application)) = &entry.signed_up {
        json["signed_up_at"] = Value::from(at.as_str());
        json["signed_up_application"] = application.as_deref().map_or(Value::Null, Value::from);
    }
    json
}

/// One invitation for people (`ada@fabrikam.com  app: any  expires: never  displayName=Ada,
/// !jobTitle=Engineer  signed up: ...`); every value from the store is escaped, so a value
/// holding a newline cannot print a line that looks like another invitation.
fn describe(entry: &StoredInvitation) -> String {
    let invitation = &entry.invitation;
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
    let claims = invitation
        .claims
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
    format!(
        "{}  app: {}  expires: {}{}{}{claims}{signed_up}",
        Printable(entry.email.as_str()),
        Printable(
            invitation
                .application_id
                .as_ref()
                .map_or("any", ApplicationId::as_str)
        ),
        invitation
            .expires_at
            .map_or_else(|| "never".to_owned(), |e| e.to_string()),
        if attributes.is_empty() { "" } else { "  " },
        attributes
    )
}

async fn import(store: &dyn InvitationAdmin, source: &Path) -> Result<ExitCode, CliError> {
    let (text, _) =
        crate::files::read(source, crate::invitations::csv::MAX_FILE_BYTES).map_err(|error| {
            CliError::Read {
                path: source.to_owned(),
                error,
            }
        })?;
    let (rows, errors) = InvitationFile::parse_lenient(&text).map_err(|errors| {
        CliError::Usage(format!(
            "{}: {errors}; nothing was imported",
            source.display()
        ))
    })?;
    let rows = rows
        .into_iter()
        .map(|row| (row.email, row.invitation))
        .collect();
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

async fn check(
    store: &dyn InvitationAdmin,
    settings: &Settings,
    email: &str,
    app: Option<String>,
    language: Option<&str>,
) -> Result<ExitCode, CliError> {
    let email = parse_email(email)?;
    if let Some(app) = &app {
        parse_application(app)?;
    }
    let language = settings.catalog.from_ui_locales(language);
    let policies = settings.policies()?;
    let (policy, name) = policies.for_application(app.as_deref());
    let stored = store.get(&email).await?;
    let lookup = match &stored {
        Some(entry) => InvitationLookup::Found(entry.invitation.clone()),
        None => InvitationLookup::NotFound,
    };
    let sign_up = SignUp {
        email: EmailClaim::Valid(email.clone()),
        job_title: None,
        stage: Stage::BeforeAttributes,
        application: app,
        ..SignUp::default()
    };
    match &stored {
        Some(entry) => println!("invitation: {}", describe(entry)),
        None => println!("invitation: none in {}", store.describe()),
    }
    let from = policies
        .file()
        .map(|path| format!(" ({})", path.display()))
        .unwrap_or_default();
    match name {
        PolicyName::Default => println!("policy: default{from}"),
        PolicyName::Application(id) => println!("policy: application {id}{from}"),
    }
    println!("allowed domains: [{}]", policy.allowed_domains);
    if !policy.blocked_domains.is_empty() {
        println!("blocked domains: [{}]", policy.blocked_domains);
    }
    if !policy.blocked_local_parts.is_empty() {
        println!("blocked local parts: [{}]", policy.blocked_local_parts);
    }
    match policy.decide(&sign_up, &lookup, now()) {
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
        Decision::Block { reason, text } => {
            let message = policy.say(text, language);
            println!("blocked ({}): {}", reason.as_str(), Printable(&message));
            Ok(ExitCode::from(EXIT_NO))
        }
        Decision::Invalid { fields } => {
            let message = policy.say_all(&fields, language);
            println!("invalid: {}", Printable(&message));
            Ok(ExitCode::from(EXIT_NO))
        }
    }
}
