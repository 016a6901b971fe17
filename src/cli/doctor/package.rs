//! `handler doctor --package [DIR|ZIP]`: what would be deployed, checked before it ships. A
//! folder is what `func azure functionapp publish` (and VS Code's deploy to Flex Consumption,
//! which runs it in the project folder) would pack; a zip is what `scripts/build-azure.sh`
//! made. The checks:
//!
//! - the files the platform needs are there: `host.json`, the executable it names, one
//!   `<Function>/function.json` per function, and the files the settings name (`POLICY_FILE`,
//!   `INVITATIONS_FILE`);
//! - the executable is one the platform can run: ELF, x86-64, needing no glibc newer than 2.28
//!   (every Functions Linux image has it), executable (in a zip: its mode bits);
//! - it was built from the sources at hand (the build info it carries, see
//!   [`crate::build_info`]): not from uncommitted sources, and from the same ones as the
//!   checkout doctor runs in.
//!
//! Nothing in the package is run: a package for another platform is read, not started.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use object::read::elf::{ElfFile64, FileHeader as _};

use super::Check;
use crate::build_info::{BuildInfo, checkout_sources};
use crate::config::Settings;
use crate::functions;
use crate::invitations::StoreSettings;

/// The newest glibc every Functions Linux image has.
const GLIBC_FLOOR: (u32, u32) = (2, 28);
/// Largest package (or packaged binary) read.
const MAX_PACKAGE_BYTES: u64 = 512 << 20;

/// One file of the package.
struct Entry {
    name: String,
    /// Unix mode bits, where the package records them.
    mode: Option<u32>,
}

/// A package: a folder, or a zip read into memory.
enum Package {
    Folder(PathBuf),
    Zip {
        bytes: Vec<u8>,
        entries: Vec<ZipEntry>,
    },
}

impl Package {
    fn open(path: &Path) -> Result<Self, String> {
        if path.is_dir() {
            return Ok(Self::Folder(path.to_owned()));
        }
        let (bytes, _) = crate::files::read(path, MAX_PACKAGE_BYTES)
            .map_err(|error| format!("{} {error}", path.display()))?;
        let entries = zip_entries(&bytes).map_err(|error| {
            format!(
                "{} is not a zip the platform can deploy: {error}",
                path.display()
            )
        })?;
        Ok(Self::Zip { bytes, entries })
    }

    fn has(&self, name: &str) -> Option<Entry> {
        match self {
            Self::Folder(root) => {
                let path = root.join(name);
                let metadata = std::fs::metadata(&path).ok()?;
                #[cfg(unix)]
                let mode = Some(std::os::unix::fs::PermissionsExt::mode(
                    &metadata.permissions(),
                ));
                #[cfg(not(unix))]
                let mode = None;
                metadata.is_file().then(|| Entry {
                    name: name.to_owned(),
                    mode,
                })
            }
            Self::Zip { entries, .. } => {
                entries
                    .iter()
                    .find(|entry| entry.name == name)
                    .map(|entry| Entry {
                        name: entry.name.clone(),
                        mode: entry.mode,
                    })
            }
        }
    }

    fn read(&self, name: &str) -> Result<Vec<u8>, String> {
        match self {
            Self::Folder(root) => crate::files::read(&root.join(name), MAX_PACKAGE_BYTES)
                .map(|(bytes, _)| bytes)
                .map_err(|error| format!("{name} {error}")),
            Self::Zip { bytes, entries } => {
                let entry = entries
                    .iter()
                    .find(|entry| entry.name == name)
                    .ok_or_else(|| format!("{name} is not in the package"))?;
                zip_read(bytes, entry).map_err(|error| format!("{name}: {error}"))
            }
        }
    }
}

/// The package's checks.
pub(super) fn checks(path: &Path, settings: &Settings) -> Vec<Check> {
    let package = match Package::open(path) {
        Ok(package) => package,
        Err(error) => {
            return vec![Check::fail(
                "package",
                error,
                "give the project folder or the zip scripts/build-azure.sh writes (dist/signup-gate.zip)",
            )];
        }
    };
    let mut checks = vec![files(&package, settings)];
    let executable = executable_name(&package);
    checks.push(executable_check(&package, &executable));
    checks
}

/// `host.json`'s executable (`handler` when it says none).
fn executable_name(package: &Package) -> String {
    package
        .read("host.json")
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .and_then(|host| {
            host["customHandler"]["description"]["defaultExecutablePath"]
                .as_str()
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "handler".to_owned())
}

/// Every file the platform and the settings need.
fn files(package: &Package, settings: &Settings) -> Check {
    const CHECK: &str = "package: files";
    let mut missing = Vec::new();
    let mut needed: Vec<String> = vec!["host.json".to_owned(), executable_name(package)];
    needed.extend(
        functions::ALL
            .iter()
            .map(|function| format!("{}/function.json", function.name())),
    );
    for name in &needed {
        if package.has(name).is_none() {
            missing.push(name.clone());
        }
    }
    if let Some(policy) = &settings.policy_file
        && package.has(&normalised(policy)).is_none()
    {
        missing.push(format!(
            "{} (POLICY_FILE; without it the app exits 78)",
            policy.display()
        ));
    }
    let invitations = match &settings.store {
        StoreSettings::File(path) if package.has(&normalised(path)).is_none() => Some(path),
        _ => None,
    };
    if !missing.is_empty() {
        return Check::fail(
            CHECK,
            format!("the package lacks {}", missing.join(", ")),
            "build it with scripts/build-azure.sh, which packs the function folders, the handler and the files \
             local.settings.json names (--include FILE for others)",
        );
    }
    match invitations {
        Some(path) => Check::warn(
            CHECK,
            format!(
                "every file the platform needs is there, but not {} (INVITATIONS_FILE): the app would start with no \
                 invitations",
                path.display()
            ),
            "put the invitation file into the package (scripts/build-azure.sh packs the one local.settings.json \
             names), or use the table store",
        ),
        None => Check::ok(
            CHECK,
            format!("{} and the files the settings name", needed.join(", ")),
        ),
    }
}

/// A path as the package names it: relative, with `/`.
fn normalised(path: &Path) -> String {
    path.to_string_lossy()
        .replace('\\', "/")
        .trim_start_matches("./")
        .to_owned()
}

/// The executable: something the platform can run, built from these sources.
fn executable_check(package: &Package, name: &str) -> Check {
    const CHECK: &str = "package: executable";
    let rebuild = "build it for Azure: bash scripts/build-azure.sh (in VS Code: the 'build for Azure' task), \
                   then deploy";
    let Some(entry) = package.has(name) else {
        return Check::fail(CHECK, format!("{name} is not in the package"), rebuild);
    };
    let bytes = match package.read(name) {
        Ok(bytes) => bytes,
        Err(error) => return Check::fail(CHECK, error, rebuild),
    };
    if let Err(problem) = runs_on_the_platform(&bytes) {
        return Check::fail(CHECK, format!("{name} {problem}"), rebuild);
    }
    if entry.mode.is_some_and(|mode| mode & 0o111 == 0) {
        return Check::fail(
            CHECK,
            format!(
                "{} is not executable in the package (mode {:o})",
                entry.name,
                entry.mode.unwrap_or(0) & 0o777
            ),
            "package it with scripts/build-azure.sh, which keeps the execute bit",
        );
    }
    let Some(info) = BuildInfo::find_in(&bytes) else {
        return Check::fail(
            CHECK,
            format!(
                "{name} says nothing of what it was built from: it is not this product's handler, or an old one"
            ),
            rebuild,
        );
    };
    let platform = format!(
        "{name}: Linux x86-64, glibc {}.{} or older, executable",
        GLIBC_FLOOR.0, GLIBC_FLOOR.1
    );
    match built_from(&info, checkout_sources(Path::new(".")).as_deref()) {
        Err(problem) => Check::fail(CHECK, format!("{name} {problem}"), rebuild),
        Ok(true) => Check::ok(
            CHECK,
            format!("{platform}, built from this checkout ({info})"),
        ),
        Ok(false) => Check::warn(
            CHECK,
            format!("{platform} ({info})"),
            "run doctor --package in the checkout it was built from to compare it with the sources",
        ),
    }
}

/// Whether a binary was built from committed sources, the same as the checkout's (`checkout`:
/// their hash, where doctor runs in one): `Ok(false)` when there is no checkout to compare with.
fn built_from(info: &BuildInfo, checkout: Option<&str>) -> Result<bool, String> {
    if info.dirty() {
        return Err(format!(
            "was built from uncommitted sources ({info}): commit them, then build again"
        ));
    }
    match checkout {
        Some(sources) if sources != info.sources => Err(format!(
            "was built from other sources than this checkout's ({info}; the checkout's are {sources})"
        )),
        Some(_) => Ok(true),
        None => Ok(false),
    }
}

/// Whether the platform can run this binary: ELF, 64-bit x86, no glibc newer than the floor.
fn runs_on_the_platform(bytes: &[u8]) -> Result<(), String> {
    if !bytes.starts_with(b"\x7fELF") {
        let what = if bytes.starts_with(b"MZ") {
            "a Windows executable"
        } else if bytes.starts_with(&[0xcf, 0xfa, 0xed, 0xfe])
            || bytes.starts_with(&[0xca, 0xfe, 0xba, 0xbe])
        {
            "a macOS executable"
        } else {
            "not an executable the platform knows"
        };
        return Err(format!(
            "is not an ELF file (Linux executable): it is {what}"
        ));
    }
    let elf = ElfFile64::<object::Endianness>::parse(bytes)
        .map_err(|error| format!("is not a 64-bit ELF file: {error}"))?;
    let endian = elf.endian();
    let machine = elf.elf_header().e_machine(endian);
    if machine != object::elf::EM_X86_64 {
        let architecture = match machine {
            object::elf::EM_AARCH64 => "arm64 (aarch64)".to_owned(),
            object::elf::EM_386 => "32-bit x86".to_owned(),
            other => format!("machine {other}"),
        };
        return Err(format!("is built for {architecture}, not x86-64"));
    }
    let newest = newest_glibc(&elf).map_err(|error| format!("cannot be read: {error}"))?;
    if let Some((major, minor)) = newest
        && (major, minor) > GLIBC_FLOOR
    {
        return Err(format!(
            "needs glibc {major}.{minor}, newer than the {}.{} every Functions Linux image has: it was built for this \
             machine, not for Azure",
            GLIBC_FLOOR.0, GLIBC_FLOOR.1
        ));
    }
    Ok(())
}

/// The newest `GLIBC_x.y` version the binary needs (`None`: none, a static binary).
fn newest_glibc(
    elf: &ElfFile64<'_, object::Endianness>,
) -> Result<Option<(u32, u32)>, object::Error> {
    let endian = elf.endian();
    let sections = elf.elf_section_table();
    let Some((mut needs, link)) = sections.gnu_verneed(endian, elf.data())? else {
        return Ok(None);
    };
    let strings = sections.strings(endian, elf.data(), link)?;
    let mut newest = None;
    while let Some((_, mut auxiliaries)) = needs.next()? {
        while let Some(auxiliary) = auxiliaries.next()? {
            let name = auxiliary.name(endian, strings)?;
            let version = std::str::from_utf8(name)
                .ok()
                .and_then(|name| name.strip_prefix("GLIBC_"))
                .and_then(|version| {
                    let mut parts = version.split('.').map(|part| part.parse::<u32>().ok());
                    Some((parts.next()??, parts.next().flatten().unwrap_or(0)))
                });
            if version > newest {
                newest = version;
            }
        }
    }
    Ok(newest)
}

/// One entry of a zip's central directory.
struct ZipEntry {
    name: String,
    mode: Option<u32>,
    method: u16,
    compressed: u64,
    size: u64,
    local_header: u64,
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

/// The central directory of a zip (without zip64: a function app package is small).
fn zip_entries(bytes: &[u8]) -> Result<Vec<ZipEntry>, String> {
    const END: u32 = 0x0605_4b50;
    const ENTRY: u32 = 0x0201_4b50;
    let truncated = || "it is truncated".to_owned();
    let end = (0..bytes.len().saturating_sub(21))
        .rev()
        .take(65_536 + 22)
        .find(|&at| u32_at(bytes, at) == Some(END))
        .ok_or_else(|| "it has no end of central directory".to_owned())?;
    let count = usize::from(u16_at(bytes, end + 10).ok_or_else(truncated)?);
    let mut at = u32_at(bytes, end + 16).ok_or_else(truncated)? as usize;
    if at == 0xFFFF_FFFF || count == 0xFFFF {
        return Err("it is a zip64 archive, which this check does not read".to_owned());
    }
    let mut entries = Vec::with_capacity(count);
    for _ in 0..count {
        if u32_at(bytes, at) != Some(ENTRY) {
            return Err("its central directory is damaged".to_owned());
        }
        let made_by = u16_at(bytes, at + 4).ok_or_else(truncated)?;
        let method = u16_at(bytes, at + 10).ok_or_else(truncated)?;
        let compressed = u64::from(u32_at(bytes, at + 20).ok_or_else(truncated)?);
        let size = u64::from(u32_at(bytes, at + 24).ok_or_else(truncated)?);
        let name_length = usize::from(u16_at(bytes, at + 28).ok_or_else(truncated)?);
        let extra_length = usize::from(u16_at(bytes, at + 30).ok_or_else(truncated)?);
        let comment_length = usize::from(u16_at(bytes, at + 32).ok_or_else(truncated)?);
        let attributes = u32_at(bytes, at + 38).ok_or_else(truncated)?;
        let local_header = u64::from(u32_at(bytes, at + 42).ok_or_else(truncated)?);
        let name = bytes
            .get(at + 46..at + 46 + name_length)
            .ok_or_else(truncated)?;
        // Mode bits are recorded by a Unix zipper (made-by host 3) in the high half.
        let mode = (made_by >> 8 == 3).then_some(attributes >> 16);
        entries.push(ZipEntry {
            name: String::from_utf8_lossy(name).into_owned(),
            mode,
            method,
            compressed,
            size,
            local_header,
        });
        at += 46 + name_length + extra_length + comment_length;
    }
    Ok(entries)
}

/// One entry's contents (stored or deflated).
fn zip_read(bytes: &[u8], entry: &ZipEntry) -> Result<Vec<u8>, String> {
    const LOCAL: u32 = 0x0403_4b50;
    let at = usize::try_from(entry.local_header).map_err(|_| "too large".to_owned())?;
    if u32_at(bytes, at) != Some(LOCAL) {
        return Err("its local header is damaged".to_owned());
    }
    let name_length = usize::from(u16_at(bytes, at + 26).unwrap_or(0));
    let extra_length = usize::from(u16_at(bytes, at + 28).unwrap_or(0));
    let start = at + 30 + name_length + extra_length;
    let end = start + usize::try_from(entry.compressed).map_err(|_| "too large".to_owned())?;
    let data = bytes
        .get(start..end)
        .ok_or_else(|| "it is truncated".to_owned())?;
    if entry.size > MAX_PACKAGE_BYTES {
        return Err("it is too large".to_owned());
    }
    match entry.method {
        0 => Ok(data.to_vec()),
        8 => {
            let mut out = Vec::with_capacity(usize::try_from(entry.size).unwrap_or(0));
            flate2::read::DeflateDecoder::new(data)
                .take(entry.size)
                .read_to_end(&mut out)
                .map_err(|error| format!("it does not inflate: {error}"))?;
            Ok(out)
        }
        other => Err(format!("it is compressed with method {other}, not deflate")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_binary_from_other_or_uncommitted_sources_is_refused() {
        let info = |commit: &str, sources: &str| BuildInfo {
            version: "0.2.0".to_owned(),
            commit: commit.to_owned(),
            sources: sources.to_owned(),
            target: "x86_64-unknown-linux-gnu".to_owned(),
        };
        let clean = info("v0.2.0-3-gabcdef012345", "sha256:aa");
        assert_eq!(built_from(&clean, Some("sha256:aa")), Ok(true));
        assert_eq!(built_from(&clean, None), Ok(false));
        assert!(
            built_from(&clean, Some("sha256:bb"))
                .unwrap_err()
                .contains("other sources")
        );
        let dirty = info("abcdef012345-dirty", "sha256:aa");
        assert!(
            built_from(&dirty, Some("sha256:aa"))
                .unwrap_err()
                .contains("uncommitted")
        );
    }

    #[test]
    fn this_platforms_binary_is_told_apart_from_others() {
        assert!(
            runs_on_the_platform(b"MZ\x90\0")
                .unwrap_err()
                .contains("Windows")
        );
        assert!(
            runs_on_the_platform(b"#!/bin/sh\n")
                .unwrap_err()
                .contains("not an ELF file")
        );
        let mut arm = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        // e_machine at offset 18 of a 64-bit ELF header.
        arm[18..20].copy_from_slice(&object::elf::EM_AARCH64.to_le_bytes());
        assert!(runs_on_the_platform(&arm).unwrap_err().contains("arm64"));
    }
}
