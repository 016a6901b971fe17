//! Invitation stores: where invitations live, one folder per store. A decision reads one
//! address's (or one code's) invitation through [`InvitationStore`], and claims a use of a
//! limited invitation before it admits; the CLI manages them through [`InvitationAdmin`];
//! [`open`] is the one place that knows which stores exist.
//!
//! - [`csv`]: a CSV file deployed with the app, held in memory and reloaded when it changes (the
//!   embedded default);
//! - [`table`]: Azure Table Storage, shared by every instance and editable while the app runs.

pub mod csv;
pub mod requests;
pub mod table;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

use self::csv::{CsvStore, FileError};
use self::requests::{Close, JoinRequest, Requested, StoredRequest, WaitlistLimits};
use self::table::{TableError, TableSettings, TableStore};
use crate::domain::email::EmailAddress;
use crate::domain::invitation::{CodeDigest, Invitation, InvitationId, InvitationKey, UseKey};
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
    INVITATION_SINGLE_USE: Invitations, Kind::Flag, Some("false"),
        "`true`: invitations created from then on (`add`, and new rows of an `import`) admit one sign-up \
         only (`add --single-use` for one); needs a store that counts uses (the table)",
        "`false`";
    INVITATION_DEFAULT_DAYS: Invitations, Kind::Whole(1..=3650, "days"), None,
        "invitations created without an expiry (`add`, new rows of an `import`) expire this many days later \
         (`add --days N` for one)",
        "unset: no expiry";
}

/// The settings of the stores: which one, and each store's own.
pub(crate) const SETTINGS: &[&[&Setting]] = &[
    STORE,
    csv::settings::SETTINGS,
    table::settings::SETTINGS,
    requests::WAITLIST_SETTINGS,
];

/// What an invitation gets when its creator does not say.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Defaults {
    /// `INVITATION_SINGLE_USE`.
    pub(crate) single_use: bool,
    /// `INVITATION_DEFAULT_DAYS`.
    pub(crate) days: Option<u32>,
}

impl Defaults {
    pub(crate) fn read(env: &Environment) -> Result<Self, SettingsError> {
        Ok(Self {
            single_use: INVITATION_SINGLE_USE.flag(env)?,
            days: INVITATION_DEFAULT_DAYS
                .optional_whole(env)?
                .map(|days| days as u32),
        })
    }
}

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
    #[error("{0} keeps no waitlist")]
    NoWaitlist(String),
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
            Self::File(FileError::Unwritable { .. }) => {
                "the file was left as it was: change what the message names (or keep invitations in a \
                 table: INVITATION_STORE=table)"
            }
            Self::File(_) => {
                "make INVITATIONS_FILE a regular file the function app can read (or write, for the CLI)"
            }
            Self::NoWaitlist(_) => {
                "the waitlist lives in the table store: set INVITATION_STORE=table (the function app's files \
                 are read-only in Azure)"
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

    /// The invitation of a code (by the digest of the normalised code), valid or not.
    fn find_code<'a>(
        &'a self,
        _digest: &'a CodeDigest,
    ) -> BoxFuture<'a, Result<Option<Invitation>, StoreError>> {
        Box::pin(std::future::ready(Ok(None)))
    }

    /// The code invitation this address signed up with (recorded when the use was claimed), for
    /// the claims of its tokens.
    fn find_redeemed<'a>(
        &'a self,
        _email: &'a EmailAddress,
    ) -> BoxFuture<'a, Result<Option<Invitation>, StoreError>> {
        Box::pin(std::future::ready(Ok(None)))
    }

    /// Whether the store can count uses ([`Self::claim_use`]); a limited invitation needs one.
    fn counts_uses(&self) -> bool {
        false
    }

    /// Claims one use of the invitation at `key` for the sign-up `by`, before it is admitted:
    /// at most its uses are ever claimed, however many sign-ups race for them, and the same
    /// sign-up claiming again (Entra's retry) is told it has its use. `redeemer`: the address
    /// that signs up with a code, recorded so its tokens find the code's claims.
    fn claim_use<'a>(
        &'a self,
        _key: &'a InvitationKey,
        _by: UseKey,
        _redeemer: Option<&'a EmailAddress>,
        _budget: Duration,
    ) -> BoxFuture<'a, Result<Claim, StoreError>> {
        Box::pin(std::future::ready(Ok(Claim::CannotCount)))
    }

    /// Whether the store keeps waitlist requests ([`Self::request`]).
    fn records_requests(&self) -> bool {
        false
    }

    /// Records a request to join (or updates the address's request), within `budget` and the
    /// waitlist's `limits`.
    fn request<'a>(
        &'a self,
        _request: &'a JoinRequest,
        _limits: &'a WaitlistLimits,
        _budget: Duration,
    ) -> BoxFuture<'a, Result<Requested, StoreError>> {
        Box::pin(std::future::ready(Ok(Requested::Unsupported)))
    }

    /// Deletes requests past their retention and denials past their days, and counts the open
    /// ones again (run now and then by the server where a waitlist is on).
    fn sweep_requests<'a>(
        &'a self,
        _limits: &'a WaitlistLimits,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(std::future::ready(Ok(())))
    }

    /// Whether [`Self::record_sign_up`] writes anything; when it does not, admitting a
    /// sign-up starts no background task for it.
    fn records_sign_ups(&self) -> bool {
        false
    }

    /// Notes on the invitation at `key` that it was used to sign up (to `application`), within
    /// `budget`. Stores that cannot write (the file, read-only in a deployment package) do
    /// nothing.
    fn record_sign_up<'a>(
        &'a self,
        _key: &'a InvitationKey,
        _application: Option<&'a str>,
        _budget: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(std::future::ready(Ok(())))
    }
}

/// What claiming a use found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// The use is this sign-up's now.
    Claimed,
    /// This sign-up had claimed a use already (a retry): it keeps it.
    AlreadyMine,
    /// Every use is taken by other sign-ups.
    UsedUp,
    /// The invitation is gone (removed meanwhile).
    Gone,
    /// The store cannot count uses.
    CannotCount,
}

/// The first sign-up with an invitation: when (RFC 3339, as the store wrote it) and to which
/// application.
pub type SignedUp = (String, Option<String>);

/// An invitation as a store holds it: its key, and when (and for which application) it was
/// first used to sign up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredInvitation {
    pub key: InvitationKey,
    pub invitation: Invitation,
    /// Where the store records them.
    pub signed_up: Option<SignedUp>,
}

impl StoredInvitation {
    /// The address of an e-mail invitation, or the address a code is bound to.
    pub(crate) fn email(&self) -> Option<&EmailAddress> {
        match &self.key {
            InvitationKey::Email(email) => Some(email),
            InvitationKey::Code(_) => self.invitation.bound_to(),
        }
    }

    pub(crate) fn is_code(&self) -> bool {
        matches!(self.key, InvitationKey::Code(_))
    }
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

    /// The invitation at one key.
    fn get<'a>(
        &'a self,
        key: &'a InvitationKey,
    ) -> BoxFuture<'a, Result<Option<StoredInvitation>, StoreError>>;

    /// The invitation with this id (a scan: ids are for people, keys for lookups).
    fn get_by_id<'a>(
        &'a self,
        id: &'a InvitationId,
    ) -> BoxFuture<'a, Result<Option<StoredInvitation>, StoreError>> {
        Box::pin(async move {
            Ok(self
                .list()
                .await?
                .invitations
                .into_iter()
                .find(|entry| entry.invitation.id() == id))
        })
    }

    /// Adds the invitation, or replaces the one at its key. Its sign-up record is written when
    /// it has one (an import of an export), kept otherwise.
    fn upsert<'a>(
        &'a self,
        entry: &'a StoredInvitation,
    ) -> BoxFuture<'a, Result<Upsert, StoreError>>;

    /// Removes the invitation at a key; `false` when there was none.
    fn remove<'a>(&'a self, key: &'a InvitationKey) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Adds or replaces many invitations.
    fn import<'a>(
        &'a self,
        rows: Vec<StoredInvitation>,
        progress: Progress<'a>,
    ) -> BoxFuture<'a, Result<Counts, ImportError>>;

    /// Whether the store can count uses: only then may it hold a limited invitation.
    fn counts_uses(&self) -> bool;

    /// The waitlist's requests, open and denied (a store without a waitlist says so).
    fn requests(&self) -> BoxFuture<'_, Result<Vec<StoredRequest>, StoreError>> {
        Box::pin(std::future::ready(Err(StoreError::NoWaitlist(
            self.describe(),
        ))))
    }

    /// Closes the request of `email` to `application`; `false` when there was none.
    fn close_request<'a>(
        &'a self,
        _email: &'a EmailAddress,
        _application: Option<&'a str>,
        _close: Close,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(std::future::ready(Err(StoreError::NoWaitlist(
            self.describe(),
        ))))
    }

    /// Writes requests as an export holds them (an import).
    fn import_requests(
        &self,
        _requests: Vec<StoredRequest>,
    ) -> BoxFuture<'_, Result<usize, StoreError>> {
        Box::pin(std::future::ready(Err(StoreError::NoWaitlist(
            self.describe(),
        ))))
    }
}

/// A store, serving and administered.
pub(crate) trait Store: InvitationStore + InvitationAdmin {}

impl<T: InvitationStore + InvitationAdmin> Store for T {}
