//! Where settings come from: the process environment, plus, in a standalone run outside Azure,
//! the `Values` of `local.settings.json` (or the committed example), as `func start` would have
//! supplied them. Variables really set always win.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::error::SettingsError;

/// The file `func start` reads its settings from.
pub const LOCAL_SETTINGS: &str = "local.settings.json";
/// The committed example, used when a developer has not made their own copy yet.
pub const LOCAL_SETTINGS_EXAMPLE: &str = "local.settings.json.example";

/// The process environment, plus what a standalone run took from `local.settings.json`.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    vars: BTreeMap<String, String>,
    /// Messages about how the environment was assembled, logged once the logger is up.
    pub notes: Vec<(log::Level, String)>,
    /// Whether the committed example settings filled in what the environment lacks (no
    /// `local.settings.json` yet): nothing that is written should then land in example files.
    pub(crate) from_example: bool,
    /// The names taken from a local settings file (not set in the environment).
    from_file: std::collections::BTreeSet<String>,
}

impl Environment {
    /// The environment exactly as given (no settings file is read).
    pub fn new(vars: impl IntoIterator<Item = (String, String)>) -> Self {
        Self {
            vars: vars.into_iter().collect(),
            ..Self::default()
        }
    }

    /// Takes the real environment as it is, and in a standalone run outside Azure merges in the
    /// `Values` of the local settings file found in `dir` (real variables win).
    pub fn capture(
        real: impl IntoIterator<Item = (String, String)>,
        dir: &Path,
    ) -> Result<Self, SettingsError> {
        let mut env = Self {
            vars: real.into_iter().collect(),
            ..Self::default()
        };
        let hosted = env.get("FUNCTIONS_CUSTOMHANDLER_PORT").is_some();
        if hosted || env.in_azure() {
            return Ok(env);
        }
        let (file, fallback) = (dir.join(LOCAL_SETTINGS), dir.join(LOCAL_SETTINGS_EXAMPLE));
        let chosen = if file.is_file() {
            file
        } else if fallback.is_file() {
            env.notes.push((
                log::Level::Warn,
                format!(
                    "{LOCAL_SETTINGS} not found; using the example settings in {LOCAL_SETTINGS_EXAMPLE} \
                     (copy it to {LOCAL_SETTINGS} and edit it to make them yours)"
                ),
            ));
            env.from_example = true;
            fallback
        } else {
            env.notes.push((
                log::Level::Info,
                format!(
                    "neither {LOCAL_SETTINGS} nor {LOCAL_SETTINGS_EXAMPLE} found; using the environment only"
                ),
            ));
            return Ok(env);
        };
        let values = read_local_settings(&chosen)?;
        let mut taken = 0;
        for (name, value) in values {
            if let std::collections::btree_map::Entry::Vacant(slot) = env.vars.entry(name.clone()) {
                slot.insert(value);
                env.from_file.insert(name);
                taken += 1;
            }
        }
        env.notes.push((
            log::Level::Info,
            format!(
                "read {taken} setting(s) from {} (variables set in the environment take precedence)",
                chosen.display()
            ),
        ));
        Ok(env)
    }

    /// A variable's value, `None` when unset.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// A setting's value by its name in any ASCII case (app settings and local settings are
    /// written in every case); the exact spelling first.
    pub(crate) fn setting(&self, name: &str) -> Option<&str> {
        self.get(name).or_else(|| {
            self.vars
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .map(|(_, value)| value.as_str())
        })
    }

    /// Whether the setting (in any case) came from a local settings file.
    pub(crate) fn came_from_local_file(&self, name: &str) -> bool {
        self.from_file
            .iter()
            .any(|taken| taken.eq_ignore_ascii_case(name))
    }

    /// The names of every variable.
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.vars.keys().map(String::as_str)
    }

    /// `WEBSITE_SITE_NAME` is set by the platform in Azure only.
    pub(crate) fn in_azure(&self) -> bool {
        self.get("WEBSITE_SITE_NAME")
            .is_some_and(|v| !v.trim().is_empty())
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (String, String)> + '_ {
        self.vars.iter().map(|(k, v)| (k.clone(), v.clone()))
    }
}

/// `{"IsEncrypted": false, "Values": {...}}`: the values as strings (numbers and booleans are
/// written out as the host would; anything else is refused).
fn read_local_settings(path: &Path) -> Result<Vec<(String, String)>, SettingsError> {
    let problem = |problem: String| SettingsError::LocalSettings {
        file: path.display().to_string(),
        problem,
    };
    #[derive(Deserialize)]
    struct LocalSettings {
        #[serde(rename = "IsEncrypted", default)]
        is_encrypted: bool,
        #[serde(rename = "Values", default)]
        values: serde_json::Map<String, serde_json::Value>,
    }
    /// Settings are a few kilobytes.
    const MAX_BYTES: u64 = 1 << 20;
    let (text, _) = crate::files::read(path, MAX_BYTES).map_err(|e| problem(e.to_string()))?;
    let file: LocalSettings = serde_json::from_slice(&text)
        .map_err(|e| problem(format!("is not valid settings JSON: {e}")))?;
    if file.is_encrypted {
        return Err(problem(
            "is encrypted (IsEncrypted: true); only the Functions host can decrypt it, so run `func start` or decrypt it with `func settings decrypt`"
                .to_owned(),
        ));
    }
    file.values
        .into_iter()
        .map(|(name, value)| match value {
            serde_json::Value::String(text) => Ok((name, text)),
            serde_json::Value::Number(number) => Ok((name, number.to_string())),
            serde_json::Value::Bool(flag) => Ok((name, flag.to_string())),
            _ => Err(problem(format!("Values.{name} must be a string"))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn standalone_merges_local_settings_without_overriding_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            LOCAL_SETTINGS,
            r#"{"IsEncrypted": false, "Values": {"ORGANIZATION_NAME": "FromFile", "MIN_JOB_TITLE_LENGTH": 6, "REQUIRE_JOB_TITLE": true}}"#,
        );
        let env =
            Environment::capture(pairs(&[("ORGANIZATION_NAME", "FromEnv")]), dir.path()).unwrap();
        assert_eq!(env.get("ORGANIZATION_NAME"), Some("FromEnv"));
        assert_eq!(env.get("MIN_JOB_TITLE_LENGTH"), Some("6"));
        assert_eq!(env.get("REQUIRE_JOB_TITLE"), Some("true"));
    }

    #[test]
    fn standalone_falls_back_to_the_example_with_a_note() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            LOCAL_SETTINGS_EXAMPLE,
            r#"{"Values": {"ORGANIZATION_NAME": "Example"}}"#,
        );
        let env = Environment::capture(Vec::new(), dir.path()).unwrap();
        assert_eq!(env.get("ORGANIZATION_NAME"), Some("Example"));
        assert!(env.from_example);
        assert_eq!(env.notes[0].0, log::Level::Warn);
        assert!(
            env.notes[0].1.contains("using the example settings"),
            "{:?}",
            env.notes
        );
    }

    #[test]
    fn hosted_and_azure_runs_never_read_the_files() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            LOCAL_SETTINGS,
            r#"{"Values": {"ORGANIZATION_NAME": "FromFile"}}"#,
        );
        for real in [
            pairs(&[("FUNCTIONS_CUSTOMHANDLER_PORT", "5000")]),
            pairs(&[("WEBSITE_SITE_NAME", "gate-app")]),
        ] {
            let env = Environment::capture(real, dir.path()).unwrap();
            assert_eq!(env.get("ORGANIZATION_NAME"), None);
        }
    }

    #[test]
    fn a_broken_local_settings_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), LOCAL_SETTINGS, r#"{"Values": {"X": ["a"]}}"#);
        let error = Environment::capture(Vec::new(), dir.path()).unwrap_err();
        assert!(
            error
                .to_string()
                .ends_with("local.settings.json: Values.X must be a string"),
            "{error}"
        );
        write(dir.path(), LOCAL_SETTINGS, "{not json");
        let error = Environment::capture(Vec::new(), dir.path()).unwrap_err();
        assert!(
            error.to_string().contains("is not valid settings JSON"),
            "{error}"
        );
    }
}
