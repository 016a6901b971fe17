//! Embeds what a `handler` was built from, so that a package can be checked against the sources
//! before it ships (`handler doctor --package`) and `handler --version` can say it: the version,
//! `git describe --always --dirty` (whether the sources were committed), a hash of the sources
//! (src/, Cargo.toml, Cargo.lock, this file) and the target.

use std::path::Path;
use std::process::Command;

include!("src/build_info/sources.rs");

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let hash = source_hash(root).unwrap_or_else(|error| panic!("hashing the sources: {error}"));
    println!("cargo:rustc-env=SIGNUP_GATE_SOURCES={hash}");
    println!("cargo:rustc-env=SIGNUP_GATE_COMMIT={}", describe(root));
    println!(
        "cargo:rustc-env=SIGNUP_GATE_TARGET={}",
        std::env::var("TARGET").unwrap_or_default()
    );
    for watched in ["src", "Cargo.toml", "Cargo.lock", "build.rs"] {
        println!("cargo:rerun-if-changed={watched}");
    }
    // A commit changes what `git describe` says (dirty or not) without changing a source.
    for file in git_heads(root) {
        println!("cargo:rerun-if-changed={}", file.display());
    }
}

/// `git describe --always --dirty`, where "dirty" looks only at the build's own sources (a
/// changed README does not make a binary dirty); `unknown` outside a git checkout.
fn describe(root: &Path) -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .output()
            .ok()
            .filter(|output| output.status.success())
    };
    let Some(described) = git(&["describe", "--always", "--abbrev=12"]) else {
        return "unknown".to_owned();
    };
    let mut text = String::from_utf8_lossy(&described.stdout).trim().to_owned();
    let paths = ["--", "src", "Cargo.toml", "Cargo.lock", "build.rs"];
    let changed = git(&[&["status", "--porcelain"][..], &paths].concat())
        .is_none_or(|output| !output.stdout.is_empty());
    if changed {
        text.push_str("-dirty");
    }
    text
}

/// The files a commit changes: HEAD and the ref it points to (in a worktree, through its
/// `.git` file), and the packed refs.
fn git_heads(root: &Path) -> Vec<std::path::PathBuf> {
    let dot_git = root.join(".git");
    let git_dir = match std::fs::read_to_string(&dot_git) {
        Ok(text) => match text.trim().strip_prefix("gitdir:") {
            Some(dir) => root.join(dir.trim()),
            None => return Vec::new(),
        },
        Err(_) if dot_git.is_dir() => dot_git,
        Err(_) => return Vec::new(),
    };
    let common = std::fs::read_to_string(git_dir.join("commondir"))
        .map(|dir| git_dir.join(dir.trim()))
        .unwrap_or_else(|_| git_dir.clone());
    let mut files = vec![git_dir.join("HEAD"), common.join("packed-refs")];
    if let Ok(head) = std::fs::read_to_string(git_dir.join("HEAD"))
        && let Some(reference) = head.trim().strip_prefix("ref:")
    {
        files.push(common.join(reference.trim()));
    }
    files.into_iter().filter(|file| file.exists()).collect()
}
