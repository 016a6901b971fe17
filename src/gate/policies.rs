//! The rules in force: those of the settings, overlaid by the policy file (`POLICY_FILE`) when
//! there is one. The file is read at start-up (a missing or bad file stops start-up: the server
//! must not run on rules the operator did not write) and swapped for its new version when it
//! changes; a bad edit, or a removed file, keeps the last good rules and logs every problem with
//! its line.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use crate::files::{self, ReadError, Version};
use crate::messages::Catalog;
use crate::policy::file::{self, MAX_FILE_BYTES, Problems};
use crate::policy::{Policy, PolicyName, PolicySet};
use crate::watched::{Reload, Seen};

impl PolicyFileError {
    /// What the operator should change.
    pub fn fix(&self) -> &'static str {
        match self {
            Self::Read { error, .. } if error.is_not_found() => {
                "create the file, or correct POLICY_FILE (relative to the function app root, and deployed with the app); the server refuses to start without it"
            }
            Self::Read { .. } => {
                "make POLICY_FILE a regular file of at most 1 MiB that the function app can read"
            }
            Self::Invalid { .. } => {
                "fix each problem at its line; the server refuses to start with this file"
            }
        }
    }
}

/// Why the policy file could not be used at start-up.
#[derive(Debug, thiserror::Error)]
pub enum PolicyFileError {
    #[error("policy file {} {error}", path.display())]
    Read { path: PathBuf, error: ReadError },
    #[error("policy file {}: {problems}", path.display())]
    Invalid { path: PathBuf, problems: Problems },
}

/// The rules of every application, kept current.
pub struct Policies {
    /// The settings' rules, which the file's sections overlay.
    base: Policy,
    /// The policy file, and the catalog whose languages its texts may name.
    file: Option<(PathBuf, &'static Catalog)>,
    current: RwLock<Arc<PolicySet>>,
    /// The version of the file `current` came from (or the last bad one, reported once).
    seen: Seen,
}

impl Policies {
    /// The settings' rules for every application; no file.
    pub fn fixed(policy: Policy) -> Self {
        Self {
            current: RwLock::new(Arc::new(PolicySet::single(policy.clone()))),
            base: policy,
            file: None,
            seen: Seen::default(),
        }
    }

    /// The settings' rules overlaid by the file at `path` (whose texts name languages of
    /// `catalog`), read now.
    pub fn from_file(
        base: Policy,
        path: PathBuf,
        catalog: &'static Catalog,
    ) -> Result<Self, PolicyFileError> {
        let (set, version) = read(&path, &base, catalog, None)?;
        log::info!(
            "loaded the policy file {}: default rules and {} application(s)",
            path.display(),
            set.applications.len()
        );
        Ok(Self {
            base,
            current: RwLock::new(Arc::new(set)),
            file: Some((path, catalog)),
            seen: Seen::new(Some(version)),
        })
    }

    /// The rules as they are now.
    pub fn current(&self) -> Arc<PolicySet> {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// The rules for `application`, and whose they are.
    pub fn for_application(&self, application: Option<&str>) -> (Arc<Policy>, PolicyName) {
        self.current().for_application(application)
    }

    /// Where the file is, when there is one.
    pub fn file(&self) -> Option<&std::path::Path> {
        self.file.as_ref().map(|(path, _)| path.as_path())
    }

    /// Keeps the rules in step with the file for as long as the runtime runs.
    pub(crate) fn watch(self: Arc<Self>) {
        if self.file.is_some() {
            crate::watched::watch(self, "policy file");
        }
    }
}

/// Reads and parses the file: at start-up as it is, while running (`settle`) only a version
/// that stays the same for the settling interval.
fn read(
    path: &std::path::Path,
    base: &Policy,
    catalog: &'static Catalog,
    settle: Option<std::time::Duration>,
) -> Result<(PolicySet, Version), PolicyFileError> {
    let read = match settle {
        None => files::read(path, MAX_FILE_BYTES),
        Some(settle) => files::read_settled(path, MAX_FILE_BYTES, settle, false),
    };
    let (bytes, version) = read.map_err(|error| PolicyFileError::Read {
        path: path.to_owned(),
        error,
    })?;
    let invalid = |problems| PolicyFileError::Invalid {
        path: path.to_owned(),
        problems,
    };
    let text = String::from_utf8(bytes).map_err(|_| {
        invalid(Problems(vec![file::Problem {
            line: 1,
            message: "the file is not UTF-8 text".to_owned(),
        }]))
    })?;
    let set = file::parse(&text, base, catalog).map_err(invalid)?;
    Ok((set, version))
}

impl Reload for Policies {
    fn reload_if_changed(&self) {
        let Some((path, catalog)) = &self.file else {
            return;
        };
        if !self.seen.changed(path) {
            return;
        }
        match read(path, &self.base, catalog, Some(files::SETTLE)) {
            Ok((set, version)) => {
                self.seen.set(Some(version));
                let applications = set.applications.len();
                *self
                    .current
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(set);
                // Said once in force: a decision after this line has the new rules.
                log::info!(
                    "reloaded the policy file {}: default rules and {applications} application(s)",
                    path.display(),
                );
            }
            Err(PolicyFileError::Read {
                error: ReadError::Changing,
                ..
            }) => {
                log::debug!(
                    "policy file {} is being written; reading it again in a moment",
                    path.display()
                );
                self.seen.forget();
            }
            Err(error) => {
                log::error!("{error}; keeping the last good policy");
                // A file that could not be read is tried again next time; anything else (gone,
                // not a regular file, too large, invalid) is reported once, until it changes.
                if let PolicyFileError::Read {
                    error: read @ ReadError::Io(_),
                    ..
                } = &error
                    && !read.is_not_found()
                {
                    self.seen.forget();
                }
            }
        }
    }
}
