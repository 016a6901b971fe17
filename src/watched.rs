//! Files the server keeps in step with while it runs (the invitation file, the policy file):
//! what identifies one version of a file, and the loop that looks at it.

use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

/// How often the server looks at a watched file for changes.
pub(crate) const RELOAD_INTERVAL: Duration = Duration::from_secs(1);

/// What identifies one version of a file, to notice edits cheaply (a rename over it changes
/// the inode; an edit in place the time or length).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Signature {
    modified: Option<SystemTime>,
    length: u64,
    #[cfg(unix)]
    inode: u64,
}

impl Signature {
    /// `None` when the file cannot be looked at (it does not exist).
    pub(crate) fn of(path: &Path) -> Option<Self> {
        let metadata = std::fs::metadata(path).ok()?;
        Some(Self {
            modified: metadata.modified().ok(),
            length: metadata.len(),
            #[cfg(unix)]
            inode: std::os::unix::fs::MetadataExt::ino(&metadata),
        })
    }
}

/// The version of a watched file that was last loaded (or last found bad, so that it is
/// reported once).
#[derive(Debug, Default)]
pub(crate) struct Seen(RwLock<Option<Signature>>);

impl Seen {
    pub(crate) fn new(signature: Option<Signature>) -> Self {
        Self(RwLock::new(signature))
    }

    /// Whether the file at `path` is another version than the one seen last; if so, it is the
    /// one seen now.
    pub(crate) fn changed(&self, path: &Path) -> bool {
        let signature = Signature::of(path);
        if *self
            .0
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            == signature
        {
            return false;
        }
        self.set(signature);
        true
    }

    pub(crate) fn set(&self, signature: Option<Signature>) {
        *self
            .0
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = signature;
    }

    /// Looks again next time, whatever the file's version (it could not be read).
    pub(crate) fn forget(&self) {
        self.set(None);
    }
}

/// Something that looks at its file and reloads it when it changed (blocking file I/O).
pub(crate) trait Reload: Send + Sync + 'static {
    fn reload_if_changed(&self);
}

/// Calls `watched.reload_if_changed()` every [`RELOAD_INTERVAL`] off the runtime's workers, for
/// as long as the runtime runs; `what` names it in the log should a reload panic.
pub(crate) fn watch<T: Reload>(watched: Arc<T>, what: &'static str) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(RELOAD_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let watched = watched.clone();
            if let Err(error) =
                tokio::task::spawn_blocking(move || watched.reload_if_changed()).await
            {
                log::error!("{what} reload failed: {error}");
            }
        }
    });
}
