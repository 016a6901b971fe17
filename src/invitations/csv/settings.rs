//! Which file holds the invitations.

use std::path::PathBuf;

use crate::setting::Environment;
use crate::setting::{Kind, settings};

settings! {
    SETTINGS;
    INVITATIONS_FILE: Invitations, Kind::Text, Some("invitations.csv"),
        "the invitation CSV file, relative to the function app root",
        "`invitations.csv`";
}

/// The file the settings name, relative to the function app root.
pub(crate) fn read(env: &Environment) -> PathBuf {
    PathBuf::from(INVITATIONS_FILE.text(env))
}
