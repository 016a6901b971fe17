//! What this binary was built from (embedded by build.rs): the version, the commit (`git
//! describe`, `-dirty` when its sources were not committed), a hash of its sources and the
//! target. `handler --version` prints it, the server logs it at start-up, and `handler doctor
//! --package` finds it in a packaged binary (without running it: the package may be for
//! another platform) to compare it with the checkout.

mod sources;

use std::path::Path;

pub use self::sources::source_hash;

/// The crate's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// `git describe --always --dirty` of the sources, or `unknown`.
pub const COMMIT: &str = env!("SIGNUP_GATE_COMMIT");
/// `sha256:<hex>` of the sources (see [`source_hash`]).
pub const SOURCES: &str = env!("SIGNUP_GATE_SOURCES");
/// The target triple it was built for.
pub const TARGET: &str = env!("SIGNUP_GATE_TARGET");

/// What `handler --version` prints after the name; also the marker a package check looks for
/// in a binary's bytes.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "\ncommit: ",
    env!("SIGNUP_GATE_COMMIT"),
    "\nsources: ",
    env!("SIGNUP_GATE_SOURCES"),
    "\ntarget: ",
    env!("SIGNUP_GATE_TARGET"),
    "\n"
);

/// What a binary says it was built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildInfo {
    pub version: String,
    pub commit: String,
    pub sources: String,
    pub target: String,
}

impl BuildInfo {
    /// This binary's.
    pub fn current() -> Self {
        Self {
            version: VERSION.to_owned(),
            commit: COMMIT.to_owned(),
            sources: SOURCES.to_owned(),
            target: TARGET.to_owned(),
        }
    }

    /// Found in a binary's bytes: the text [`LONG_VERSION`] has (the first place where it
    /// reads whole: the bytes `\ncommit: ` stand elsewhere too, in this very function).
    pub fn find_in(binary: &[u8]) -> Option<Self> {
        const COMMIT_AT: &[u8] = b"\ncommit: ";
        binary
            .windows(COMMIT_AT.len())
            .enumerate()
            .filter(|(_, window)| *window == COMMIT_AT)
            .find_map(|(at, _)| Self::read_at(binary, at))
    }

    /// The build info whose `\ncommit: ` starts at `at`.
    fn read_at(binary: &[u8], at: usize) -> Option<Self> {
        let version_start = binary[..at]
            .iter()
            .rposition(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'+')))
            .map_or(0, |index| index + 1);
        let version = std::str::from_utf8(&binary[version_start..at]).ok()?;
        let rest = &binary[at + 1..binary.len().min(at + 1 + 512)];
        let mut lines = rest.split(|b| *b == b'\n');
        let mut field = |name: &str| {
            let line = std::str::from_utf8(lines.next()?).ok()?;
            line.strip_prefix(name).map(str::to_owned)
        };
        let info = Self {
            version: version.to_owned(),
            commit: field("commit: ")?,
            sources: field("sources: ")?,
            target: field("target: ")?,
        };
        let plausible = !info.version.is_empty()
            && info.sources.starts_with("sha256:")
            && info.sources.len() == 71;
        plausible.then_some(info)
    }

    /// Whether its commit says its sources were not committed.
    pub fn dirty(&self) -> bool {
        self.commit.ends_with("-dirty")
    }
}

impl std::fmt::Display for BuildInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "signup-gate {} (commit {}, sources {}, target {})",
            self.version, self.commit, self.sources, self.target
        )
    }
}

/// The hash of the sources in the checkout at `root`, when it is one (it has `src/` and a
/// manifest).
pub fn checkout_sources(root: &Path) -> Option<String> {
    if !root.join("src").is_dir() || !root.join("Cargo.toml").is_file() {
        return None;
    }
    source_hash(root).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_is_found_in_a_binary() {
        let mut binary = b"\x7fELF\0\0junk\ncommit: not this one\0".to_vec();
        binary.extend_from_slice(LONG_VERSION.as_bytes());
        binary.extend_from_slice(b"\0more");
        assert_eq!(BuildInfo::find_in(&binary), Some(BuildInfo::current()));
        assert_eq!(BuildInfo::find_in(b"\x7fELF no marker"), None);
    }

    #[test]
    fn the_checkout_hashes_as_the_build_did() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let hash = checkout_sources(root).unwrap();
        assert!(hash.starts_with("sha256:") && hash.len() == 71, "{hash}");
        // The test binary was built from these sources just now.
        assert_eq!(hash, SOURCES);
    }
}
