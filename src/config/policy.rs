//! The rules of the settings: the per-application settings of [`POLICY_SETTINGS`] (allow- and
//! deny-lists, Job Title rules) read from the environment, and the organization's name and the
//! block page, each text with per-language variants (`BLOCK_PAGE_MESSAGE_DE`,
//! `ORGANIZATION_NAME_PT_BR`, ...), and the site's disposable domains (`DISPOSABLE_DOMAINS_FILE`).
//! The policy file (`POLICY_FILE`) overlays these.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::catalog::{self, Setting};
use super::{Note, SettingsError};
use crate::files;
use crate::messages::{Catalog, Language, OperatorText, Text, Texts};
use crate::policy::Policy;
use crate::policy::disposable::{DisposableDomains, MAX_FILE_BYTES};
use crate::policy::domains::DomainList;
use crate::policy::settings::{Input, POLICY_SETTINGS};
use crate::setting::Environment;

/// The settings whose texts may have variants, with the text they set (`None`: the
/// organization's name).
const TEXT_SETTINGS: [(&Setting, Option<Text>); 3] = [
    (&catalog::ORGANIZATION_NAME, None),
    (&catalog::BLOCK_PAGE_TITLE, Some(Text::BlockPageTitle)),
    (&catalog::BLOCK_PAGE_MESSAGE, Some(Text::BlockPageMessage)),
];

/// The rules of the settings: each per-application setting of the environment over its
/// default, and the texts; with what the operator should hear of.
pub(super) fn policy(
    env: &Environment,
    catalog: &'static Catalog,
) -> Result<(Policy, Vec<Note>), SettingsError> {
    let mut policy = Policy::default();
    let mut notes = Vec::new();
    for setting in POLICY_SETTINGS {
        if let Some(value) = env.setting(setting.env) {
            (setting.apply)(&mut policy, Input::Text(value)).map_err(|problem| {
                SettingsError::Invalid {
                    variable: setting.env,
                    expected: if problem.starts_with("must") {
                        format!("must be {}, got {value:?}", setting.expected_env)
                    } else {
                        format!("must be {}: {problem}", setting.expected_env)
                    },
                }
            })?;
        }
    }
    // The original sample's domains are a local convenience: in Azure an unset allow-list
    // admits no domain, and says so (deployment tools that drop empty settings make "unset"
    // and "empty" hard to tell apart; `none` says it on purpose).
    if env.in_azure() && env.setting("ALLOWED_EMAIL_DOMAINS").is_none() {
        policy.allowed_domains = DomainList::default();
        notes.push(Note::NoAllowListInAzure);
    }
    policy.texts = texts(env, catalog)?;
    if let Some(list) = disposable_domains(env)? {
        policy.disposable_domains = Arc::new(list);
    }
    Ok((policy, notes))
}

/// The shipped disposable domains with the site's file (`DISPOSABLE_DOMAINS_FILE`, relative to
/// the function app root) over them; `None` without a file. Read once: a missing or bad file
/// stops start-up, naming each bad line (the server must not run on a list the operator did not
/// write).
fn disposable_domains(env: &Environment) -> Result<Option<DisposableDomains>, SettingsError> {
    let setting = &catalog::DISPOSABLE_DOMAINS_FILE;
    let Some(name) = setting
        .read(env)
        .map(str::trim)
        .filter(|name| !name.is_empty())
    else {
        return Ok(None);
    };
    let invalid = |problem: String| setting.invalid(format!("names {name}, {problem}"));
    let (bytes, _) = files::read(Path::new(name), MAX_FILE_BYTES)
        .map_err(|error| invalid(format!("which {error}")))?;
    let text = String::from_utf8(bytes).map_err(|error| {
        let line = error.as_bytes()[..error.utf8_error().valid_up_to()]
            .iter()
            .filter(|byte| **byte == b'\n')
            .count()
            + 1;
        invalid(format!("whose line {line} is not UTF-8 text"))
    })?;
    DisposableDomains::with_site_file(&text, name)
        .map(Some)
        .map_err(|problems| invalid(format!("which has problems: {problems}")))
}

/// `POLICY_FILE`, relative to the function app root (the working directory).
pub(super) fn policy_file(env: &Environment) -> Option<PathBuf> {
    catalog::POLICY_FILE
        .read(env)
        .map(|path| PathBuf::from(path.trim()))
}

/// The organization's name and the block page, each with the variants `<SETTING>_<LANGUAGE>`
/// (the catalog's tag with `_` for `-`, any case).
fn texts(env: &Environment, catalog: &'static Catalog) -> Result<Texts, SettingsError> {
    let mut organization = None;
    let mut replaced = Vec::new();
    for (setting, text) in TEXT_SETTINGS {
        let base = setting.read(env).map(|value| value.trim().to_owned());
        let setting = setting.name;
        let variants = variants(setting, env, catalog)?;
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
    catalog: &'static Catalog,
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
        let codes = catalog.codes();
        let language = catalog.from_code(&suffix.replace('_', "-")).ok_or_else(|| {
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
