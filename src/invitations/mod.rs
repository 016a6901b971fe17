//! Invitation stores: where invitations live, one folder per store. A decision reads one
//! address's invitation through [`InvitationStore`]; the CLI manages them through
//! [`InvitationAdmin`]; [`open`] is the one place that knows which stores exist.
//!
//! - [`csv`]: a CSV file deployed with the app, held in memory and reloaded when it changes (the
//!   embedded default);
//! - [`table`]: Azure Table Storage, shared by every instance and editable while the app runs.

pub mod csv;
pub mod table;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

use self::csv::{CsvStore, FileError};
use self::table::{TableError, TableSettings, TableStore};
use crate::domain::email::EmailAddress;
use crate::domain::invitation::Invitation;
use crate::setting::{Environment, SettingsError};
use crate::setting::{Kind, Setting, settings};

/// Which store holds the invitations, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StoreSettings {
    /// The CSV file at this path (relative to the function app root).
    File(PathBuf),
    /// Azure Table Storage.
    Table(TableSettings),
}

settings! {
    STORE;
    INVITATION_STORE: Invitations, Kind::Choice(&["file", "table"]), Some("file"),
        "where invitations live: `file` (`INVITATIONS_FILE`) or `table` (Azure Table Storage, \
         [invitations.md](invitations.md#invitations-in-azure-table-storage))",
        "`file`";
}

/// The settings of the stores: which one, and each store's own.
pub(crate) const SETTINGS: &[&[&Setting]] =
    &[STORE, csv::settings::SETTINGS, table::settings::SETTINGS];

impl StoreSettings {
    /// The store the settings choose, with its own settings read.
    pub(crate) fn read(env: &Environment) -> Result<Self, SettingsError> {
        Ok(match INVITATION_STORE.choice(env)?.as_str() {
            "table" => Self::Table(table::settings::read(env)?),
            _ => Self::File(csv::settings::read(env)),
        })
    }
}

/// Opens the configured store; nothing is read yet (see [`InvitationStore::load`]).
pub(crate) fn open(
    settings: &StoreSettings,
    deadline: Duration,
) -> Result<Arc<dyn Store>, StoreError> {
    Ok(match settings {
        StoreSettings::File(path) => Arc::new(CsvStore::new(path.clone())),
        StoreSettings::Table(table) => Arc::new(TableStore::new(table.clone(), deadline)?),
    })
}

/// Why a store could not answer or write; logged (or printed by the CLI), never shown to the
/// user, and on a decision path never an admit.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Table(#[from] TableError),
    #[error(transparent)]
    File(#[from] FileError),
}

impl StoreError {
    /// What the operator should change, for logs and `handler doctor`.
    pub(crate) fn fix(&self) -> &'static str {
        match self {
            Self::Table(error) => error.fix(),
            Self::File(FileError::Invalid { .. }) => {
                "fix each line named; the server refuses to start with this file"
            }
            Self::File(FileError::Missing { .. }) => {
                "check the file's path (--file, or INVITATIONS_FILE relative to the function app root)"
            }
            Self::File(_) => {
                "make INVITATIONS_FILE a regular file the function app can read (or write, for the CLI)"
            }
        }
    }
}

/// What a decision needs from a store.
pub trait InvitationStore: Send + Sync {
    /// What kind of store it is (`file`, `table`), for metrics.
    fn kind(&self) -> &'static str {
        "store"
    }

    /// The invitation held by this (normalised) address, valid or not.
    fn find<'a>(
        &'a self,
        email: &'a EmailAddress,
    ) -> BoxFuture<'a, Result<Option<Invitation>, StoreError>>;

    /// Reads what must be read before serving (the file); an error stops start-up.
    fn load(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Begins, in the background, what the first lookup needs (the table: whether it answers,
    /// its connection, the identity token); never delays start-up. Runs inside the runtime.
    fn prepare(&self) {}

    /// Whether the store answers at all (the table: the check [`Self::prepare`] began, or a new
    /// one); the file always does once loaded.
    fn answers(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(std::future::ready(Ok(())))
    }

    /// Keeps the store current for as long as the runtime runs (the file watcher).
    fn watch(self: Arc<Self>) {}

    /// Whether [`Self::record_sign_up`] writes anything; when it does not, admitting a
    /// sign-up starts no background task for it.
    fn records_sign_ups(&self) -> bool {
        false
    }

    /// Notes on the invitation that it was used to sign up (to `application`), within
    /// `budget`. Stores that cannot write (the file, read-only in a deployment package) do
    /// nothing.
    fn record_sign_up<'a>(
        &'a self,
        _email: &'a EmailAddress,
        _application: Option<&'a str>,
        _budget: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(std::future::ready(Ok(())))
    }
}

/// An invitation as a store holds it, with when (and for which application) it was used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredInvitation {
    pub(crate) email: EmailAddress,
    pub(crate) invitation: Invitation,
    /// `(time, application)` of the first sign-up, where the store records them.
    pub(crate) signed_up: Option<(String, Option<String>)>,
}

/// Every invitation of a store, and the entries it holds but cannot use, each with why.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    pub(crate) invitations: Vec<StoredInvitation>,
    pub(crate) unusable: Vec<Unusable>,
}

/// An entry a store holds but cannot use: where the operator finds it (`row PartitionKey='...'
/// RowKey='...'`), and why. Named in full, for the CLI only (the server's logs mask it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unusable {
    pub(crate) at: String,
    pub(crate) problem: String,
}

/// What writing one invitation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Upsert {
    Added,
    Updated,
    /// The address had this very invitation already: nothing was written.
    Unchanged,
}

/// What an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) added: usize,
    pub(crate) updated: usize,
    pub(crate) unchanged: usize,
}

impl Counts {
    pub(crate) fn count(&mut self, outcome: Upsert) {
        match outcome {
            Upsert::Added => self.added += 1,
            Upsert::Updated => self.updated += 1,
            Upsert::Unchanged => self.unchanged += 1,
        }
    }

    pub(crate) fn total(&self) -> usize {
        self.added + self.updated + self.unchanged
    }
}

/// An import that stopped at a write that failed.
#[derive(Debug, thiserror::Error)]
#[error("{error} (after {} rows; importing the file again is harmless)", .done.total())]
pub(crate) struct ImportError {
    pub(crate) done: Counts,
    pub(crate) error: StoreError,
}

/// Reports an import's progress: `(rows written, rows in all)`.
pub(crate) type Progress<'a> = &'a (dyn Fn(usize, usize) + Sync);

/// What the CLI does with a store.
pub(crate) trait InvitationAdmin: Send + Sync {
    /// How the store is named to people (`invitations.csv`, `table Invitations`).
    fn describe(&self) -> String;

    /// Every invitation, and the entries that cannot be used.
    fn list(&self) -> BoxFuture<'_, Result<Listing, StoreError>>;

    /// The invitation of one address.
    fn get<'a>(
        &'a self,
        email: &'a EmailAddress,
    ) -> BoxFuture<'a, Result<Option<StoredInvitation>, StoreError>>;

    /// Adds the invitation, or replaces the one the address has (keeping its sign-up record).
    fn upsert<'a>(
        &'a self,
        email: &'a EmailAddress,
        invitation: &'a Invitation,
    ) -> BoxFuture<'a, Result<Upsert, StoreError>>;

    /// Removes an address's invitation; `false` when it had none.
    fn remove<'a>(&'a self, email: &'a EmailAddress) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Adds or replaces many invitations.
    fn import<'a>(
        &'a self,
        rows: Vec<(EmailAddress, Invitation)>,
        progress: Progress<'a>,
    ) -> BoxFuture<'a, Result<Counts, ImportError>>;
}

/// A store, serving and administered.
pub(crate) trait Store: InvitationStore + InvitationAdmin {}

impl<T: InvitationStore + InvitationAdmin> Store for T {}
