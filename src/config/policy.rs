//! The rules of the settings: allow- and deny-lists, Job Title rules, the organization's name
//! and the block page, each text with per-language variants (`BLOCK_PAGE_MESSAGE_DE`,
//! `ORGANIZATION_NAME_PT_BR`, ...). The policy file (`POLICY_FILE`) overlays these.

use std::path::PathBuf;

use super::SettingsError;
use super::environment::Environment;
use super::raw::{RawSettings, non_blank, parse_bool};
use crate::messages::{Language, OperatorText, Text, Texts};
use crate::policy::domains::{DomainList, LocalParts};
use crate::policy::{MAX_JOB_TITLE_LENGTH, Policy};

/// The settings whose texts may have variants, with the text they set (`None`: the
/// organization's name).
const TEXT_SETTINGS: [(&str, Option<Text>); 3] = [
    ("ORGANIZATION_NAME", None),
    ("BLOCK_PAGE_TITLE", Some(Text::BlockPageTitle)),
    ("BLOCK_PAGE_MESSAGE", Some(Text::BlockPageMessage)),
];

pub(super) fn policy(raw: &RawSettings, env: &Environment) -> Result<Policy, SettingsError> {
    let allowed_domains = match &raw.allowed_email_domains {
        None => DomainList::parse("fabrikam.com,fabricam.com").expect("default domains are valid"),
        Some(value) => domains("ALLOWED_EMAIL_DOMAINS", value)?,
    };
    let blocked_domains = match &raw.blocked_email_domains {
        None => DomainList::default(),
        Some(value) => domains("BLOCKED_EMAIL_DOMAINS", value)?,
    };
    let blocked_local_parts = match &raw.blocked_local_parts {
        None => LocalParts::default(),
        Some(value) => LocalParts::parse(value).map_err(|error| SettingsError::Invalid {
            variable: "BLOCKED_LOCAL_PARTS",
            expected: format!(
                "must be a comma-separated list of local parts ('admin', 'noreply'): {error}"
            ),
        })?,
    };
    let min_job_title_length = match non_blank(&raw.min_job_title_length) {
        None => 4,
        Some(value) => value
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|length| *length <= MAX_JOB_TITLE_LENGTH)
            .ok_or_else(|| SettingsError::Invalid {
                variable: "MIN_JOB_TITLE_LENGTH",
                expected: format!(
                    "must be a whole number of characters from 0 to {MAX_JOB_TITLE_LENGTH}, got {value:?}"
                ),
            })?,
    };
    let require_job_title = match non_blank(&raw.require_job_title) {
        None => false,
        Some(value) => parse_bool(value).ok_or_else(|| SettingsError::Invalid {
            variable: "REQUIRE_JOB_TITLE",
            expected: format!("must be 'true' or 'false', got {value:?}"),
        })?,
    };
    Ok(Policy {
        allowed_domains,
        blocked_domains,
        blocked_local_parts,
        min_job_title_length,
        require_job_title,
        texts: texts(raw, env)?,
    })
}

/// `POLICY_FILE`, relative to the function app root (the working directory).
pub(super) fn policy_file(raw: &RawSettings) -> Option<PathBuf> {
    non_blank(&raw.policy_file).map(|path| PathBuf::from(path.trim()))
}

fn domains(variable: &'static str, value: &str) -> Result<DomainList, SettingsError> {
    DomainList::parse(value).map_err(|error| SettingsError::Invalid {
        variable,
        expected: format!(
            "must be a comma-separated list of domains ('fabrikam.com', '*.fabrikam.com' or '*'): {error}"
        ),
    })
}

/// The organization's name and the block page, each with the variants `<SETTING>_<LANGUAGE>`
/// (the catalog's tag with `_` for `-`, any case).
fn texts(raw: &RawSettings, env: &Environment) -> Result<Texts, SettingsError> {
    let mut organization = None;
    let mut replaced = Vec::new();
    for (setting, text) in TEXT_SETTINGS {
        let base = match text {
            None => non_blank(&raw.organization_name),
            Some(Text::BlockPageTitle) => non_blank(&raw.block_page_title),
            Some(_) => non_blank(&raw.block_page_message),
        }
        .map(|value| value.trim().to_owned());
        let variants = variants(setting, env)?;
        let value = match (base, variants.is_empty()) {
            (None, true) => None,
            (Some(base), true) => Some(OperatorText::plain(base)),
            (base, false) => {
                let had_base = base.is_some();
                let value = OperatorText::with_variants(base, variants);
                match value {
                    Ok(value) if had_base => Some(value),
                    // Only variants: the other languages would get our generic text of another
                    // sentence (or a made-up name), never what the operator meant.
                    _ => {
                        return Err(SettingsError::Invalid {
                            variable: setting,
                            expected: format!(
                                "must be set when its language variants ({setting}_<LANGUAGE>) are: it is the text for every other language"
                            ),
                        });
                    }
                }
            }
        };
        match (text, value) {
            (None, value) => organization = value,
            (Some(text), Some(value)) => replaced.push((text, value)),
            (Some(_), None) => {}
        }
    }
    let mut texts = Texts::new(organization.unwrap_or_else(|| OperatorText::plain("Contoso")));
    for (text, value) in replaced {
        texts.replace(text, value);
    }
    Ok(texts)
}

/// The non-blank `<setting>_<LANGUAGE>` variables, each a language of the catalog.
fn variants(
    setting: &'static str,
    env: &Environment,
) -> Result<Vec<(Language, String)>, SettingsError> {
    let prefix = format!("{setting}_");
    let mut variants: Vec<(Language, String)> = Vec::new();
    for (name, value) in env.iter() {
        let upper = name.to_ascii_uppercase();
        let Some(suffix) = upper.strip_prefix(&prefix) else {
            continue;
        };
        if value.trim().is_empty() {
            continue;
        }
        let codes: Vec<&str> = Language::all().map(Language::code).collect();
        let language = Language::from_code(&suffix.replace('_', "-")).ok_or_else(|| {
            SettingsError::Invalid {
                variable: setting,
                expected: format!(
                    "has a variant {name} for a language the gate does not speak; the suffix must be one of {}",
                    codes
                        .iter()
                        .map(|code| code.replace('-', "_").to_ascii_uppercase())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        })?;
        if variants.iter().any(|(seen, _)| *seen == language) {
            return Err(SettingsError::Invalid {
                variable: setting,
                expected: format!("has two variants for {language}"),
            });
        }
        variants.push((language, value.trim().to_owned()));
    }
    Ok(variants)
}
