//! `handler invitations ...`: manage the invitations the server reads, in whichever store
//! `INVITATION_STORE` names (`--file` picks a file), through the store's [`InvitationAdmin`].
//! One file per kind of work: creating ([`add`]), an invitation's life ([`lifecycle`]),
//! showing ([`show`]), moving between stores ([`transfer`]) and explaining a decision
//! ([`check`]).
//!
//! Output is for people (and `--json` for scripts); errors go to stderr with a non-zero exit
//! code. An invitation code is printed once, when it is made, and never again.

mod add;
mod check;
mod lifecycle;
mod show;
mod transfer;
mod waitlist;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::config::{LOCAL_SETTINGS, LOCAL_SETTINGS_EXAMPLE, Settings};
use crate::domain::email::EmailAddress;
use crate::domain::invitation::{ApplicationId, InvitationId, InvitationKey};
use crate::gate::PolicyFileError;
use crate::invitations::{
    self, ImportError, InvitationAdmin, StoreError, StoreSettings, StoredInvitation,
};

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
    /// Invite an address (or replace its invitation), or make an invitation code (--code).
    Add(add::AddArgs),
    /// Delete an invitation (by address, or by id for a code).
    Remove {
        /// An address, or an invitation's id (inv_...).
        target: String,
    },
    /// Refuse sign-ups with an invitation from now on, keeping it on record (by address or id).
    Revoke {
        /// An address, or an invitation's id (inv_...).
        target: String,
    },
    /// Replace a lost code: the old code stops working, the new one is printed once.
    Reissue {
        /// The code invitation's id (inv_..., as `list` shows it).
        id: String,
    },
    /// Show every invitation.
    List {
        /// As a JSON array.
        #[arg(long)]
        json: bool,
        /// Only those in this state: pending, accepted, expired, revoked or used-up.
        #[arg(long, value_name = "STATUS")]
        status: Option<String>,
    },
    /// Merge invitations from a CSV file of the same layout, or from an export (CSV or JSON).
    Import { source: PathBuf },
    /// Write every invitation, with everything `import` reads back (codes only as their SHA-256);
    /// a JSON export carries the waitlist's requests too.
    Export {
        /// csv (the invitation file's layout) or json.
        #[arg(long, value_name = "FORMAT", default_value = "csv")]
        format: String,
        /// Write to this file instead of standard output.
        #[arg(long, value_name = "PATH")]
        output: Option<PathBuf>,
        /// Write the waitlist's requests instead (CSV; a JSON export always has them).
        #[arg(long)]
        requests: bool,
    },
    /// The waitlist's open requests, newest first; `requests remove ADDRESS` deletes one.
    Requests(waitlist::RequestsArgs),
    /// Turn waitlist requests into invitations; prints the addresses to notify.
    Approve(waitlist::ApproveArgs),
    /// Close an address's waitlist requests: it is answered as not invited, and not recorded
    /// again, for WAITLIST_DENY_DAYS.
    Deny {
        email: String,
        /// Only its request to this application; default: all of the address's requests.
        #[arg(long, value_name = "ID")]
        app: Option<String>,
    },
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
            Self::Add(_)
                | Self::Remove { .. }
                | Self::Revoke { .. }
                | Self::Reissue { .. }
                | Self::Import { .. }
                | Self::Approve(_)
                | Self::Deny { .. }
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
    let defaults = settings.invitation_defaults;
    runtime.block_on(async {
        match command.action {
            InvitationsAction::Add(args) => add::add(admin, args, defaults).await,
            InvitationsAction::Remove { target } => lifecycle::remove(admin, &target).await,
            InvitationsAction::Revoke { target } => lifecycle::revoke(admin, &target).await,
            InvitationsAction::Reissue { id } => lifecycle::reissue(admin, &id).await,
            InvitationsAction::List { json, status } => {
                show::list(admin, json, status.as_deref()).await
            }
            InvitationsAction::Import { source } => {
                transfer::import(admin, &source, defaults).await
            }
            InvitationsAction::Export {
                format,
                output,
                requests,
            } => transfer::export(admin, &format, output.as_deref(), requests).await,
            InvitationsAction::Requests(args) => waitlist::requests(admin, args).await,
            InvitationsAction::Approve(args) => waitlist::approve(admin, args, defaults).await,
            InvitationsAction::Deny { email, app } => {
                waitlist::deny(admin, &email, app.as_deref()).await
            }
            InvitationsAction::Check {
                email,
                app,
                language,
            } => check::check(admin, settings, &email, app, language.as_deref()).await,
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

/// The invitation a command names: an address (its invitation), or an id (any invitation,
/// codes included). `None` when there is none; the error when the text is neither.
async fn find_target(
    store: &dyn InvitationAdmin,
    target: &str,
) -> Result<Option<StoredInvitation>, CliError> {
    if let Some(id) = InvitationId::parse(target)
        && !target.contains('@')
    {
        return Ok(store.get_by_id(&id).await?);
    }
    let email = EmailAddress::parse(target).map_err(|error| {
        CliError::Usage(format!(
            "{target:?} is neither an invitation's id (inv_...) nor a valid e-mail address: {error}"
        ))
    })?;
    Ok(store.get(&InvitationKey::Email(email)).await?)
}

/// How a command names an invitation to people: its address, or for a code its id.
fn named(entry: &StoredInvitation) -> String {
    match &entry.key {
        InvitationKey::Email(email) => email.as_str().to_owned(),
        InvitationKey::Code(_) => format!("code invitation {}", entry.invitation.id()),
    }
}
