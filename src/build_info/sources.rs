// The hash of the sources a `handler` is built from: shared by build.rs (which embeds it) and
// `handler doctor --package` (which computes it for the checkout and compares). Kept free of
// crate paths so that build.rs can `include!` it.

/// The files a build depends on, relative to the crate root, in a fixed order: everything under
/// `src/`, and the manifest, the lock file and the build script.
pub fn source_files(root: &std::path::Path) -> std::io::Result<Vec<String>> {
    fn walk(root: &std::path::Path, dir: &str, into: &mut Vec<String>) -> std::io::Result<()> {
        for entry in std::fs::read_dir(root.join(dir))? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = format!("{dir}/{name}");
            if entry.file_type()?.is_dir() {
                walk(root, &path, into)?;
            } else {
                into.push(path);
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    walk(root, "src", &mut files)?;
    files.extend(["Cargo.toml", "Cargo.lock", "build.rs"].map(String::from));
    files.sort();
    Ok(files)
}

/// `sha256:<hex>` over each source file's path, length and bytes.
pub fn source_hash(root: &std::path::Path) -> std::io::Result<String> {
    use sha2::Digest as _;
    let mut hasher = sha2::Sha256::new();
    for file in source_files(root)? {
        let bytes = std::fs::read(root.join(&file))?;
        hasher.update(file.as_bytes());
        hasher.update([0]);
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
    }
    let digest = hasher.finalize();
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    Ok(format!("sha256:{hex}"))
}
