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

/// What `handler --version` prints after the name.
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

/// The same facts as a package check finds them in a binary's bytes: after a marker of their
/// own, since the bytes just before a string constant in a binary are other constants' text.
#[used]
static EMBEDDED: &str = concat!(
    "\nsignup-gate build\nversion: ",
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

    /// Found in a binary's bytes: the first place after the marker of [`EMBEDDED`] that reads
    /// whole (the marker's bytes stand elsewhere too, in this very function).
    pub fn find_in(binary: &[u8]) -> Option<Self> {
        const MARKER: &[u8] = b"\nsignup-gate build\n";
        binary
            .windows(MARKER.len())
            .enumerate()
            .filter(|(_, window)| *window == MARKER)
            .find_map(|(at, _)| Self::read_at(&binary[at + MARKER.len()..]))
    }

    /// The build info in the lines at the start of `text`.
    fn read_at(text: &[u8]) -> Option<Self> {
        let mut lines = text[..text.len().min(512)].split(|b| *b == b'\n');
        let mut field = |name: &str| {
            let line = std::str::from_utf8(lines.next()?).ok()?;
            line.strip_prefix(name).map(str::to_owned)
        };
        let info = Self {
            version: field("version: ")?,
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
        let mut binary = b"\x7fELF\0\0junk\nsignup-gate build\nversion: 9\0".to_vec();
        // Constants stand side by side without a separator: the text before is not the version.
        binary.extend_from_slice(b"meantHandleinnerCli");
        binary.extend_from_slice(EMBEDDED.as_bytes());
        binary.extend_from_slice(b"\0more");
        assert_eq!(BuildInfo::find_in(&binary), Some(BuildInfo::current()));
        assert_eq!(BuildInfo::find_in(b"\x7fELF no marker"), None);
    }

    #[test]
    fn this_binary_says_what_it_was_built_from() {
        let binary = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert_eq!(BuildInfo::find_in(&binary), Some(BuildInfo::current()));
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
