//! The command line of `handler`: `serve` (the default), `invitations ...`, `doctor` and
//! `setup entra`.

mod doctor;
mod graph;
mod invitations;
mod setup;

use clap::{Parser, Subcommand};

pub use self::doctor::{DoctorCommand, run as run_doctor};
pub use self::invitations::{InvitationsCommand, run as run_invitations};
pub use self::setup::{SetupCommand, run as run_setup};
use crate::config::STANDALONE_PORT;

#[derive(Parser)]
#[command(
    name = "handler",
    version,
    long_version = crate::build_info::LONG_VERSION,
    about = "Decides who may sign up to an Azure AD B2C or Entra External ID tenant"
)]
pub struct Cli {
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve the functions (the default). Under the Functions host the port comes from
    /// FUNCTIONS_CUSTOMHANDLER_PORT; standalone it is 7071 unless --port says otherwise.
    Serve {
        /// Port for a standalone run (0 picks a free one); ignored under the Functions host.
        #[arg(long, default_value_t = STANDALONE_PORT)]
        port: u16,
    },
    /// Manage the invitations: add, remove, list, import, check.
    Invitations(InvitationsCommand),
    /// Check the set-up (settings, invitation store, tenant keys; with --url a running
    /// deployment; with a Graph token the tenant) and say what to change.
    Doctor(DoctorCommand),
    /// Wire the tenant to this deployment (`setup entra`): plans first, changes with --apply.
    Setup(SetupCommand),
}

impl Cli {
    /// The command to run (`serve` when none is given).
    pub fn command(self) -> Command {
        self.command.unwrap_or(Command::Serve {
            port: STANDALONE_PORT,
        })
    }
}
