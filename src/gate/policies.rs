//! The rules in force: those of the settings, overlaid by the policy file (`POLICY_FILE`) when
//! there is one. The file is read at start-up (a missing or bad file stops start-up: the server
//! must not run on rules the operator did not write) and swapped for its new version when it
//! changes; a bad edit, or a removed file, keeps the last good rules and logs every problem with
//! its line.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use crate::policy::file::{self, Problems};
use crate::policy::{Policy, PolicyName, PolicySet};
use crate::watched::{Reload, Seen, Signature};

/// Why the policy file could not be used at start-up.
#[derive(Debug, thiserror::Error)]
pub enum PolicyFileError {
    #[error("policy file {}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("policy file {}: {problems}", path.display())]
    Invalid { path: PathBuf, problems: Problems },
}

/// The rules of every application, kept current.
pub struct Policies {
    /// The settings' rules, which the file's sections overlay.
    base: Policy,
    file: Option<PathBuf>,
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

    /// The settings' rules overlaid by the file at `path`, read now.
    pub fn from_file(base: Policy, path: PathBuf) -> Result<Self, PolicyFileError> {
        let signature = Signature::of(&path);
        let set = read(&path, &base)?;
        log::info!(
            "loaded the policy file {}: default rules and {} application(s)",
            path.display(),
            set.applications.len()
        );
        Ok(Self {
            base,
            current: RwLock::new(Arc::new(set)),
            file: Some(path),
            seen: Seen::new(signature),
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
        self.file.as_deref()
    }

    /// Keeps the rules in step with the file for as long as the runtime runs.
    pub(crate) fn watch(self: Arc<Self>) {
        if self.file.is_some() {
            crate::watched::watch(self, "policy file");
        }
    }
}

fn read(path: &std::path::Path, base: &Policy) -> Result<PolicySet, PolicyFileError> {
    let text = std::fs::read_to_string(path).map_err(|error| PolicyFileError::Io {
        path: path.to_owned(),
        error,
    })?;
    file::parse(&text, base).map_err(|problems| PolicyFileError::Invalid {
        path: path.to_owned(),
        problems,
    })
}

impl Reload for Policies {
    fn reload_if_changed(&self) {
        let Some(path) = &self.file else {
            return;
        };
        if !self.seen.changed(path) {
            return;
        }
        match read(path, &self.base) {
            Ok(set) => {
                log::info!(
                    "reloaded the policy file {}: default rules and {} application(s)",
                    path.display(),
                    set.applications.len()
                );
                *self
                    .current
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(set);
            }
            Err(error) => {
                log::error!("{error}; keeping the last good policy");
                if let PolicyFileError::Io { .. } = error {
                    // Perhaps a moment between removal and rename: look again next time.
                    self.seen.forget();
                }
            }
        }
    }
}
