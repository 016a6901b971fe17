//! Files the server keeps in step with while it runs (the invitation file, the policy file):
//! what identifies one version of a file, and the loop that looks at it.

use std::path::Path;
use std::sync::Arc;
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
