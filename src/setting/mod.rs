//! What a setting is, below every part that has settings: where values come from
//! ([`environment`]: the process environment, and in a standalone run `local.settings.json`),
//! the values as strings ([`raw`]), and the description of one setting: its name, where it is
//! documented, the values it takes (which also says how it is read), its default. Each part of
//! the product describes its own settings with [`settings!`]; `config::catalog` gathers them.

pub(crate) mod environment;
mod error;
pub(crate) mod raw;

pub use self::environment::{Environment, LOCAL_SETTINGS, LOCAL_SETTINGS_EXAMPLE};
pub use self::error::SettingsError;

use std::ops::RangeInclusive;

/// Where a setting is documented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    SignUp,
    Wording,
    Invitations,
    Callers,
    Connections,
    Telemetry,
    Platform,
}

#[cfg(test)]
impl Section {
    pub(crate) const ALL: [Self; 7] = [
        Self::SignUp,
        Self::Wording,
        Self::Invitations,
        Self::Callers,
        Self::Connections,
        Self::Telemetry,
        Self::Platform,
    ];

    pub(crate) fn title(self) -> &'static str {
        match self {
            Self::SignUp => "Who may sign up",
            Self::Wording => "What users read",
            Self::Invitations => "Invitations",
            Self::Callers => "Who may call the functions",
            Self::Connections => "Connections",
            Self::Telemetry => "Logs and telemetry",
            Self::Platform => "Set by the platform",
        }
    }
}

/// The values a setting takes, which also says how it is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Free text.
    Text,
    /// A secret: never logged, never shown.
    Secret,
    /// One of these words, in any case.
    Choice(&'static [&'static str]),
    /// A whole number in this range, of this unit.
    Whole(RangeInclusive<u64>, &'static str),
    /// `true`/`false` (any case) or `1`/`0`.
    Flag,
    /// A GUID.
    Guid,
    /// Text with per-language variants `<NAME>_<LANGUAGE>`.
    Wording,
}

/// One setting.
#[derive(Debug)]
pub(crate) struct Setting {
    pub(crate) name: &'static str,
    /// Where docs/settings.md lists it.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) section: Section,
    pub(crate) kind: Kind,
    /// What it does (Markdown, for docs/settings.md).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) meaning: &'static str,
    /// Its default, as docs/settings.md says it.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) default: &'static str,
    /// The value in force when it is unset, read like a value that is set; `None` where being
    /// unset means something of its own.
    pub(crate) fallback: Option<&'static str>,
}

impl Setting {
    /// Its value: `None` when unset or blank.
    pub(crate) fn read<'e>(&self, env: &'e Environment) -> Option<&'e str> {
        env.setting(self.name)
            .filter(|value| !value.trim().is_empty())
    }

    /// Its value, or its fallback when unset.
    fn value<'e>(&self, env: &'e Environment) -> Option<&'e str> {
        self.read(env).or(self.fallback)
    }

    /// Its value (or fallback) when it is one of its choices (lower-cased), the error naming
    /// them otherwise.
    pub(crate) fn choice(&self, env: &Environment) -> Result<String, SettingsError> {
        let (Kind::Choice(choices), Some(value)) = (&self.kind, self.value(env)) else {
            unreachable!("{} is not a choice with a fallback", self.name)
        };
        let value = value.trim().to_ascii_lowercase();
        if choices.contains(&value.as_str()) {
            return Ok(value);
        }
        let quoted: Vec<String> = choices.iter().map(|c| format!("'{c}'")).collect();
        let listed = crate::printable::one_of(&quoted, "or");
        Err(self.invalid(format!("must be {listed}, got {value:?}")))
    }

    /// Its value (or fallback) as a whole number within its range.
    pub(crate) fn whole(&self, env: &Environment) -> Result<u64, SettingsError> {
        let (Kind::Whole(range, unit), Some(value)) = (&self.kind, self.value(env)) else {
            unreachable!("{} is not a number with a fallback", self.name)
        };
        raw::whole_number(self.name, value, range.clone(), unit)
    }

    /// Its value as a whole number within its range; `None` when unset (and without fallback).
    pub(crate) fn optional_whole(&self, env: &Environment) -> Result<Option<u64>, SettingsError> {
        let Kind::Whole(range, unit) = &self.kind else {
            unreachable!("{} is not a number", self.name)
        };
        self.value(env)
            .map(|value| raw::whole_number(self.name, value, range.clone(), unit))
            .transpose()
    }

    /// Its value (or fallback) as `true` or `false` (`1`/`0` too, any case).
    pub(crate) fn flag(&self, env: &Environment) -> Result<bool, SettingsError> {
        match self.value(env) {
            None => Ok(false),
            Some(value) => raw::parse_bool(value).ok_or_else(|| {
                self.invalid(format!("must be true or false, got {:?}", value.trim()))
            }),
        }
    }

    /// Its value (or fallback) as text.
    pub(crate) fn text<'e>(&self, env: &'e Environment) -> &'e str {
        self.value(env).unwrap_or_default().trim()
    }

    /// Its value as a lower-cased GUID.
    pub(crate) fn guid(&self, env: &Environment) -> Result<Option<String>, SettingsError> {
        let Some(value) = self.read(env) else {
            return Ok(None);
        };
        crate::domain::application::Guid::parse(value)
            .map(|guid| Some(guid.to_string()))
            .map_err(|_| {
                self.invalid(format!(
                    "must be a GUID like 00000000-0000-0000-0000-000000000000, got {:?}",
                    value.trim()
                ))
            })
    }

    /// The error naming this setting.
    pub(crate) fn invalid(&self, expected: String) -> SettingsError {
        SettingsError::Invalid {
            variable: self.name,
            expected,
        }
    }
}

/// Describes settings where they belong: one constant per setting (named exactly as the
/// setting) and a list `$list` of them, in the order docs/settings.md lists them. The catalog
/// (`config::catalog`) gathers the lists.
macro_rules! settings {
    ($list:ident; $($id:ident: $section:ident, $kind:expr, $fallback:expr, $meaning:expr, $default:expr;)*) => {
        $(
            // Named exactly as the setting (the host's own are in mixed case).
            #[allow(non_upper_case_globals)]
            pub(crate) const $id: $crate::setting::Setting = $crate::setting::Setting {
                name: stringify!($id),
                section: $crate::setting::Section::$section,
                kind: $kind,
                meaning: $meaning,
                default: $default,
                fallback: $fallback,
            };
        )*
        /// These settings, in the order docs/settings.md lists them.
        pub(crate) const $list: &[&$crate::setting::Setting] = &[$(&$id),*];
    };
}
pub(crate) use settings;
