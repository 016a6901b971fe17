//! Files the server keeps in step with while it runs (the invitation file, the policy file):
//! which version was loaded, and the loop that looks at each file. A changed file is read with
//! [`crate::files::read_settled`], so a version that is still being written is not taken.

use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::files::Version;

/// How often the server looks at a watched file for changes (one `stat` each time). As short as
/// the settling interval, so that a file replaced once a second is taken every time: looked at
/// once a second, a writer whose replacements fall just after each look would have every other
/// version superseded while the previous one settles.
pub(crate) const RELOAD_INTERVAL: Duration = Duration::from_millis(250);

/// The version of a watched file that was last loaded (or last found bad, so that it is
/// reported once).
#[derive(Debug, Default)]
pub(crate) struct Seen(RwLock<Option<Version>>);

impl Seen {
    pub(crate) fn new(version: Option<Version>) -> Self {
        Self(RwLock::new(version))
    }

    /// Whether the file at `path` is another version than the one seen last; if so, it is the
    /// one seen now.
    pub(crate) fn changed(&self, path: &Path) -> bool {
        let version = Version::of(path);
        if *self
            .0
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            == version
        {
            return false;
        }
        self.set(version);
        true
    }

    pub(crate) fn set(&self, version: Option<Version>) {
        *self
            .0
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = version;
    }

    /// Looks again next time, whatever the file's version (it could not be read, or was still
    /// being written).
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
