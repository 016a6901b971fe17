//! Reading the files an operator points the handler at (the invitation file, the policy file,
//! local settings, files the CLI imports): only a regular file (a symlink to one is followed, as
//! mounted configuration often is one), never more than a limit, and, for a file that may be
//! rewritten while the server runs, only a version that stayed the same across the read.
//!
//! A FIFO or a device at a configured path would otherwise block a reader for good or feed it
//! without end (`/dev/zero`); a file rewritten in place is, for a moment, half written, and half
//! an invitation file can admit someone for every application without expiry.

use std::io::Read as _;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// How long a rewritten file must stay the same (size and modification time) before a running
/// server loads it. A writer that pauses longer than this mid-write still gets through: only
/// replacing a file by rename is safe (docs/settings.md).
pub(crate) const SETTLE: Duration = Duration::from_millis(250);

/// Why a file was not read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot be read: {0}")]
    Io(#[from] std::io::Error),
    #[error("is {0}, not a regular file: only a regular file (or a symbolic link to one) is read")]
    NotAFile(&'static str),
    #[error("is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error(
        "changed while it was being read (it is being written: replace the file by rename instead of writing it in place)"
    )]
    Changing,
    #[error(
        "does not end with a line end, so it may still be being written; it is loaded once it does \
         (add a line end after the last line, and replace the file by rename instead of writing it in place)"
    )]
    Incomplete,
}

impl ReadError {
    /// Whether the file (or a folder on its path) does not exist.
    pub(crate) fn is_not_found(&self) -> bool {
        matches!(self, Self::Io(error) if error.kind() == std::io::ErrorKind::NotFound)
    }
}

/// What identifies one version of a file: its size and modification time, and (on Unix) its
/// inode, so that a file replaced by rename is a new version even with the same size and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Version {
    modified: Option<SystemTime>,
    length: u64,
    #[cfg(unix)]
    inode: u64,
}

impl Version {
    /// The version at `path` (following symbolic links); `None` when it cannot be looked at.
    pub(crate) fn of(path: &Path) -> Option<Self> {
        std::fs::metadata(path)
            .ok()
            .map(|metadata| Self::from(&metadata))
    }
}

impl From<&std::fs::Metadata> for Version {
    fn from(metadata: &std::fs::Metadata) -> Self {
        Self {
            modified: metadata.modified().ok(),
            length: metadata.len(),
            #[cfg(unix)]
            inode: std::os::unix::fs::MetadataExt::ino(metadata),
        }
    }
}

/// Reads the regular file at `path` (following symbolic links), at most `limit` bytes; the
/// version read with it, which is the same before and after the read.
pub(crate) fn read(path: &Path, limit: u64) -> Result<(Vec<u8>, Version), ReadError> {
    let mut file = open(path)?;
    let metadata = file.metadata()?;
    let kind = metadata.file_type();
    if !kind.is_file() {
        return Err(ReadError::NotAFile(describe(&kind)));
    }
    if metadata.len() > limit {
        return Err(ReadError::TooLarge { limit });
    }
    let before = Version::from(&metadata);
    let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0) + 1);
    (&mut file).take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge { limit });
    }
    let after = Version::from(&file.metadata()?);
    if after != before || after.length != bytes.len() as u64 {
        return Err(ReadError::Changing);
    }
    Ok((bytes, before))
}

/// How many versions [`read_settled`] reads in a row before it gives up for this time: a file
/// replaced (by rename) again during the settling interval is read again at once, so a writer
/// that replaces it every second is still followed, one version each time it is looked at.
const SETTLE_ATTEMPTS: usize = 4;

/// Reads a file that may be rewritten while the server runs: as [`read`], then only when the
/// file at `path` is still that version after `settle` (a writer in the middle of the file would
/// have changed it), and, with `whole_lines`, when it ends with a line end (a writer that paused
/// after half a line would leave none). A version that changed during the interval is followed by
/// reading the newer one, up to [`SETTLE_ATTEMPTS`] times. Blocking: call it off the async
/// runtime's workers.
pub(crate) fn read_settled(
    path: &Path,
    limit: u64,
    settle: Duration,
    whole_lines: bool,
) -> Result<(Vec<u8>, Version), ReadError> {
    read_settled_with(path, limit, whole_lines, || std::thread::sleep(settle))
}

/// [`read_settled`] with the settling interval as `wait` (a test changes the file in it).
fn read_settled_with(
    path: &Path,
    limit: u64,
    whole_lines: bool,
    mut wait: impl FnMut(),
) -> Result<(Vec<u8>, Version), ReadError> {
    for _ in 0..SETTLE_ATTEMPTS {
        let (bytes, version) = read(path, limit)?;
        if whole_lines && !bytes.is_empty() && !bytes.ends_with(b"\n") {
            return Err(ReadError::Incomplete);
        }
        wait();
        if Version::of(path) == Some(version) {
            return Ok((bytes, version));
        }
    }
    Err(ReadError::Changing)
}

/// Opens for reading without blocking on a FIFO (whose `open` would wait for a writer).
fn open(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
    options.open(path)
}

fn describe(kind: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if kind.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if kind.is_char_device() || kind.is_block_device() {
            return "a device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    if kind.is_dir() {
        "a folder"
    } else {
        "not a regular file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_regular_file_and_a_link_to_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy.toml");
        std::fs::write(&path, "[default]\n").unwrap();
        let (bytes, version) = read(&path, 100).unwrap();
        assert_eq!(bytes, b"[default]\n");
        assert_eq!(version, Version::of(&path).unwrap());
        #[cfg(unix)]
        {
            let link = dir.path().join("link.toml");
            std::os::unix::fs::symlink(&path, &link).unwrap();
            assert_eq!(read(&link, 100).unwrap().0, b"[default]\n");
        }
        assert!(
            read(&dir.path().join("missing"), 100)
                .unwrap_err()
                .is_not_found()
        );
    }

    #[test]
    fn refuses_what_is_not_a_regular_file_or_too_large() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            read(dir.path(), 100),
            Err(ReadError::NotAFile("a folder"))
        ));
        #[cfg(unix)]
        {
            // Neither blocks: a device is refused before a byte is read, a FIFO before a writer
            // comes.
            assert!(matches!(
                read(Path::new("/dev/zero"), 100),
                Err(ReadError::NotAFile("a device"))
            ));
            let fifo = dir.path().join("fifo");
            let made = std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap();
            assert!(made.success());
            assert!(matches!(
                read(&fifo, 100),
                Err(ReadError::NotAFile("a FIFO (named pipe)"))
            ));
        }
        let path = dir.path().join("big");
        std::fs::write(&path, [b'x'; 101]).unwrap();
        assert!(matches!(
            read(&path, 100),
            Err(ReadError::TooLarge { limit: 100 })
        ));
        assert_eq!(read(&path, 101).unwrap().0.len(), 101);
    }

    #[test]
    fn a_settled_read_wants_whole_lines_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("invitations.csv");
        std::fs::write(
            &path,
            "email,application_id,expires_at\nmallory@contoso.com,",
        )
        .unwrap();
        assert!(matches!(
            read_settled(&path, 1000, Duration::ZERO, true),
            Err(ReadError::Incomplete)
        ));
        assert!(read_settled(&path, 1000, Duration::ZERO, false).is_ok());
        std::fs::write(&path, "email,application_id,expires_at\n").unwrap();
        assert!(read_settled(&path, 1000, Duration::ZERO, true).is_ok());
    }

    #[test]
    fn a_file_written_during_every_settling_interval_is_not_taken() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy.toml");
        std::fs::write(&path, "[default]\n").unwrap();
        let mut writes = 0;
        let read = read_settled_with(&path, 1000, false, || {
            writes += 1;
            std::fs::write(&path, format!("[default]\n# {writes}\n")).unwrap();
        });
        assert!(matches!(read, Err(ReadError::Changing)));
        assert_eq!(writes, SETTLE_ATTEMPTS);
    }

    #[test]
    fn a_file_replaced_during_the_settling_interval_is_followed_to_its_new_version() {
        // A writer that replaces the file (by rename, with the same length: another inode) once a
        // second must not go unloaded because each replacement falls in a settling interval.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("invitations.csv");
        std::fs::write(&path, "email\nold@example.com\n").unwrap();
        let mut replaced = false;
        let (bytes, version) = read_settled_with(&path, 1000, true, || {
            if !replaced {
                replaced = true;
                let other = dir.path().join("next.csv");
                std::fs::write(&other, "email\nnew@example.com\n").unwrap();
                std::fs::rename(&other, &path).unwrap();
            }
        })
        .unwrap();
        assert_eq!(bytes, b"email\nnew@example.com\n");
        assert_eq!(Some(version), Version::of(&path));
    }
}
