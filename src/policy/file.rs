//! The policy file (`POLICY_FILE`): TOML, a `[default]` section and one
//! `[applications."<application id>"]` section per application.
//!
//! ```toml
//! [default]
//! organization_name = "Contoso"
//! allowed_domains = ["contoso.com", "*.contoso.com"]
//! blocked_domains = ["gmail.com", "outlook.com"]
//! blocked_local_parts = ["admin", "info", "noreply"]
//! require_job_title = true
//! min_job_title_length = 4
//!
//! [default.messages]
//! block_page_title = "Members only"
//! block_page_message = { default = "Ask HR for an invitation.", de = "Bitte fragen Sie die Personalabteilung." }
//!
//! [applications."44445555-eeee-6666-ffff-7777aaaa8888"]
//! allowed_domains = []
//! organization_name = { default = "Contoso Pilots", fr = "Pilotes de Contoso" }
//! ```
//!
//! Each key the `[default]` section leaves out keeps the value of its setting (the environment);
//! each key an application's section leaves out keeps the `[default]` value; a message replaces
//! that one message. Reading collects every problem with its line, so one look fixes them all.

use std::fmt;
use std::sync::Arc;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::settings::{self, Input, POLICY_SETTINGS, PolicySetting};
use super::{Policy, PolicySet};
use crate::messages::{Catalog, OperatorText, Text};

/// Largest policy file read; a policy is a few kilobytes.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// One problem of the file, with its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Every problem of a file, in line order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, problem) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

/// Reads a policy file over `base`, the policy of the settings; its texts name languages of
/// `catalog`.
pub fn parse(text: &str, base: &Policy, catalog: &'static Catalog) -> Result<PolicySet, Problems> {
    let mut reader = Reader {
        text,
        catalog,
        problems: Vec::new(),
    };
    if text.len() as u64 > MAX_FILE_BYTES {
        reader.problem(0, format!("the file is larger than {MAX_FILE_BYTES} bytes"));
        return Err(Problems(reader.problems));
    }
    let (root, errors) = DeTable::parse_recoverable(text);
    if errors.is_empty() && root.get_ref().is_empty() {
        // A file truncated to nothing (or being rewritten) would apply the settings' rules,
        // which are often looser than the file's: unset POLICY_FILE to mean that.
        reader.problem(
            0,
            "the file is empty (no [default] or [applications] section); to use the settings' rules alone, unset POLICY_FILE"
                .to_owned(),
        );
        return Err(Problems(reader.problems));
    }
    if !errors.is_empty() {
        for error in errors {
            let at = error.span().map_or(0, |span| span.start);
            reader.problem(at, error.message().trim().to_owned());
        }
        return Err(reader.finish());
    }
    let mut default = base.clone();
    let mut sections = Vec::new();
    for (key, value) in root.get_ref() {
        match key.get_ref().as_ref() {
            "default" => {
                if let Some(table) = reader.table(value, "[default]") {
                    reader.section(&mut default, table);
                }
            }
            "applications" => {
                if let Some(table) = reader.table(value, "[applications]") {
                    sections.extend(table.iter());
                }
            }
            other => reader.problem(
                key.span().start,
                format!("unknown key {other:?}: the file has [default] and [applications.\"<application id>\"] sections"),
            ),
        }
    }
    // In the order written, so that the second of two sections is the one reported.
    sections.sort_by_key(|(id, _)| id.span().start);
    let mut applications: Vec<(Arc<str>, Arc<Policy>)> = Vec::new();
    for (id, value) in sections {
        let at = id.span().start;
        let Some(id) = application_id(id.get_ref()) else {
            reader.problem(
                at,
                format!(
                    "{:?} is not an application id (a GUID like 00000000-0000-0000-0000-000000000000)",
                    id.get_ref()
                ),
            );
            continue;
        };
        if applications.iter().any(|(seen, _)| **seen == *id) {
            reader.problem(at, format!("application {id} has two sections"));
            continue;
        }
        let Some(table) = reader.table(value, "an application's section") else {
            continue;
        };
        let mut policy = default.clone();
        reader.section(&mut policy, table);
        applications.push((id.into(), Arc::new(policy)));
    }
    if reader.problems.is_empty() {
        Ok(PolicySet {
            default: Arc::new(default),
            applications,
        })
    } else {
        Err(reader.finish())
    }
}

/// A GUID, lower-cased (white space around it is not part of a section's name).
fn application_id(text: &str) -> Option<String> {
    if text.trim() != text {
        return None;
    }
    crate::domain::application::Guid::parse(text)
        .ok()
        .map(|id| id.to_string())
}

type Value<'i> = Spanned<DeValue<'i>>;

struct Reader<'t> {
    text: &'t str,
    catalog: &'static Catalog,
    problems: Vec<Problem>,
}

impl Reader<'_> {
    fn problem(&mut self, at: usize, message: String) {
        let line = self.text.as_bytes()[..at.min(self.text.len())]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1;
        self.problems.push(Problem { line, message });
    }

    fn finish(mut self) -> Problems {
        self.problems.sort_by_key(|problem| problem.line);
        Problems(self.problems)
    }

    fn table<'v, 'i>(&mut self, value: &'v Value<'i>, what: &str) -> Option<&'v DeTable<'i>> {
        match value.get_ref() {
            DeValue::Table(table) => Some(table),
            _ => {
                self.problem(value.span().start, format!("{what} must be a table"));
                None
            }
        }
    }

    /// Applies one section's keys to `policy`: the per-application settings as
    /// [`POLICY_SETTINGS`] reads them, the organization's name and the messages.
    fn section(&mut self, policy: &mut Policy, table: &DeTable<'_>) {
        for (key, value) in table {
            let name = key.get_ref().as_ref();
            if let Some(setting) = settings::by_key(name) {
                self.setting(policy, setting, value);
                continue;
            }
            match name {
                "organization_name" => {
                    if let Some(text) = self.operator_text(name, value) {
                        policy.texts.organization = text;
                    }
                }
                "messages" => {
                    let Some(messages) = self.table(value, "messages") else {
                        continue;
                    };
                    for (key, value) in messages {
                        let Some(text) = Text::from_key(key.get_ref()) else {
                            let known: Vec<&str> = Text::ALL.iter().map(|t| t.key()).collect();
                            self.problem(
                                key.span().start,
                                format!(
                                    "{:?} is not a message; the messages are {}",
                                    key.get_ref(),
                                    known.join(", ")
                                ),
                            );
                            continue;
                        };
                        if let Some(by) = self.operator_text(text.key(), value) {
                            policy.texts.replace(text, by);
                        }
                    }
                }
                other => {
                    let keys: Vec<&str> = POLICY_SETTINGS
                        .iter()
                        .map(|setting| setting.key)
                        .chain(["organization_name", "messages"])
                        .collect();
                    self.problem(
                        key.span().start,
                        format!("unknown key {other:?}; a section has {}", keys.join(", ")),
                    );
                }
            }
        }
    }

    /// One per-application setting's value, read as the environment's would be; a problem with
    /// one entry of a list is reported at that entry.
    fn setting(&mut self, policy: &mut Policy, setting: &PolicySetting, value: &Value<'_>) {
        let name = setting.key;
        let at = value.span().start;
        let mut entries = Vec::new();
        let texts: Vec<&str>;
        let input = match value.get_ref() {
            DeValue::Boolean(flag) => Input::Bool(*flag),
            DeValue::String(text) => Input::Quoted(text.as_ref()),
            DeValue::Integer(number) => {
                match i64::from_str_radix(number.as_str(), number.radix()) {
                    Ok(number) => Input::Integer(number),
                    Err(_) => {
                        self.problem(at, format!("{name} must be {}", setting.expected));
                        return;
                    }
                }
            }
            DeValue::Array(items) => {
                for item in items.iter() {
                    match item.get_ref() {
                        DeValue::String(text) => entries.push((text.as_ref(), item.span().start)),
                        _ => {
                            self.problem(
                                item.span().start,
                                format!("{name} must hold only text in quotes"),
                            );
                            return;
                        }
                    }
                }
                texts = entries.iter().map(|(text, _)| *text).collect();
                Input::List(&texts)
            }
            _ => {
                self.problem(at, format!("{name} must be {}", setting.expected));
                return;
            }
        };
        if let Err(problem) = (setting.apply)(policy, input) {
            let at = entry_at(&entries, &problem, value);
            if problem == settings::NOT_A_LIST {
                // A value of the wrong kind: say what the file takes.
                self.problem(at, format!("{name} must be {}", setting.expected));
            } else if problem.starts_with("must") {
                self.problem(at, format!("{name} {problem}"));
            } else {
                self.problem(at, format!("{name}: {problem}"));
            }
        }
    }

    /// A text in every language, or a table of `default` and language variants.
    fn operator_text(&mut self, name: &str, value: &Value<'_>) -> Option<OperatorText> {
        let at = value.span().start;
        match value.get_ref() {
            DeValue::String(text) => {
                if text.trim().is_empty() {
                    self.problem(at, format!("{name} is empty"));
                    return None;
                }
                Some(OperatorText::plain(text.trim()))
            }
            DeValue::Table(variants) => {
                let mut fallback = None;
                let mut languages = Vec::new();
                let mut fine = true;
                for (key, text) in variants {
                    let tag = key.get_ref().as_ref();
                    let DeValue::String(text) = text.get_ref() else {
                        self.problem(text.span().start, format!("{name}.{tag} must be text"));
                        fine = false;
                        continue;
                    };
                    if text.trim().is_empty() {
                        self.problem(key.span().start, format!("{name}.{tag} is empty"));
                        fine = false;
                        continue;
                    }
                    let text = text.trim().to_owned();
                    if tag == "default" {
                        fallback = Some(text);
                        continue;
                    }
                    match self.catalog.from_code(tag) {
                        Some(language) if languages.iter().any(|(seen, _)| *seen == language) => {
                            self.problem(
                                key.span().start,
                                format!("{name} gives {language} twice"),
                            );
                            fine = false;
                        }
                        Some(language) => languages.push((language, text)),
                        None => {
                            let codes = self.catalog.codes();
                            self.problem(
                                key.span().start,
                                format!(
                                    "{name}: {tag:?} is not a language the gate speaks; use default or one of {}",
                                    codes.join(", ")
                                ),
                            );
                            fine = false;
                        }
                    }
                }
                if !fine {
                    return None;
                }
                match OperatorText::with_variants(fallback, languages) {
                    Ok(text) => Some(text),
                    Err(error) => {
                        self.problem(at, format!("{name} {error}"));
                        None
                    }
                }
            }
            _ => {
                self.problem(
                    at,
                    format!("{name} must be text, or a table of texts by language"),
                );
                None
            }
        }
    }
}

/// Where the entry an error names (`entry N`) starts; else the list.
fn entry_at(entries: &[(&str, usize)], error: &str, list: &Value<'_>) -> usize {
    error
        .strip_prefix("entry ")
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|number| number.parse::<usize>().ok())
        .and_then(|position| entries.get(position.wrapping_sub(1)))
        .map_or(list.span().start, |(_, at)| *at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::email::EmailAddress;
    use crate::policy::PolicyName;
    use crate::policy::domains::DomainList;

    fn base() -> Policy {
        Policy {
            allowed_domains: DomainList::parse("fabrikam.com").unwrap(),
            ..Policy::default()
        }
    }

    const APP: &str = "44445555-eeee-6666-ffff-7777aaaa8888";

    fn language(code: &str) -> crate::messages::Language {
        Catalog::built_in().from_code(code).unwrap()
    }

    #[test]
    fn sections_layer_over_the_settings_then_the_default() {
        let set = parse(
            &format!(
                r#"
[default]
blocked_domains = ["gmail.com"]
blocked_local_parts = ["admin"]
min_job_title_length = 2
organization_name = {{ default = "Contoso", de = "Contoso GmbH" }}

[default.messages]
block_page_title = "Members only"

[applications."{}"]
allowed_domains = []
require_job_title = true

[applications."{}".messages]
block_page_message = {{ en = "Ask the pilots' office.", fr = "Demandez au bureau des pilotes." }}
"#,
                APP.to_uppercase(),
                APP.to_uppercase()
            ),
            &base(),
            Catalog::built_in(),
        )
        .unwrap();
        let default = &set.default;
        assert_eq!(default.allowed_domains.to_string(), "fabrikam.com");
        assert_eq!(default.blocked_domains.to_string(), "gmail.com");
        assert_eq!(default.min_job_title_length, 2);
        assert!(!default.require_job_title);
        assert_eq!(
            default.texts.organization.get(language("de")),
            "Contoso GmbH"
        );
        assert_eq!(default.texts.organization.get(language("fr")), "Contoso");
        let (app, name) = set.for_application(Some(APP));
        assert_eq!(name, PolicyName::Application(APP.into()));
        assert!(app.allowed_domains.is_empty());
        assert_eq!(app.blocked_domains.to_string(), "gmail.com");
        assert_eq!(app.blocked_local_parts.to_string(), "admin");
        assert_eq!(app.min_job_title_length, 2);
        assert!(app.require_job_title);
        assert_eq!(
            app.say(Text::BlockPageTitle, language("ja")),
            "Members only"
        );
        assert_eq!(
            app.say(Text::BlockPageMessage, language("fr")),
            "Demandez au bureau des pilotes."
        );
        assert_eq!(
            app.say(Text::BlockPageMessage, language("de")),
            "Ask the pilots' office."
        );
        assert_eq!(
            default.say(Text::BlockPageMessage, language("en")),
            Catalog::built_in().english().say(
                Text::BlockPageMessage,
                &crate::messages::Args {
                    organization: "Contoso",
                    domains: "",
                    min: 2,
                    max: 128
                }
            )
        );
        assert_eq!(set.for_application(Some("other")).1, PolicyName::Default);
        assert_eq!(set.for_application(None).1, PolicyName::Default);
        let email = EmailAddress::parse("admin@contoso.com").unwrap();
        assert!(app.blocked_local_parts.contains(&email));
    }

    /// A file truncated to nothing (or only comments) would apply the settings' rules, which
    /// may be looser than the file's: refused, like an empty invitation file.
    #[test]
    fn an_empty_file_is_refused() {
        for text in ["", "# nothing yet\n", "\n  \n"] {
            assert_eq!(
                problems(text),
                vec![
                    "line 1: the file is empty (no [default] or [applications] section); to use the settings' rules alone, unset POLICY_FILE"
                ],
                "{text:?}"
            );
        }
        let set = parse("[default]\n", &base(), Catalog::built_in()).unwrap();
        assert_eq!(set, PolicySet::single(base()));
    }

    fn problems(text: &str) -> Vec<String> {
        parse(text, &base(), Catalog::built_in())
            .unwrap_err()
            .0
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn every_problem_is_reported_with_its_line() {
        let found = problems(
            r#"[default]
allowed_domain = ["contoso.com"]
blocked_domains = ["gmail.com", "not a domain"]
require_job_title = "yes"
min_job_title_length = 500

[default.messages]
block_page_titel = "x"
block_page_message = { de = "Nur mit Einladung." }
job_title_required = { default = "Required.", vi = "Bắt buộc." }

[applications.pilots]
allowed_domains = []

[applications."44445555-eeee-6666-ffff-7777aaaa8888"]
blocked_local_parts = "admin"

[defaults]
"#,
        );
        assert_eq!(
            found,
            [
                "line 2: unknown key \"allowed_domain\"; a section has allowed_domains, blocked_domains, blocked_local_parts, block_disposable_domains, block_subaddresses, min_job_title_length, require_job_title, invitation_code_attribute, organization_name, messages",
                "line 3: blocked_domains: entry 2 (\"not a domain\") is not a domain like 'fabrikam.com', '*.fabrikam.com' or '*'",
                "line 4: require_job_title must be true or false",
                "line 5: min_job_title_length must be a whole number of characters from 0 to 128",
                "line 8: \"block_page_titel\" is not a message; the messages are block_page_title, block_page_message, domain_not_allowed, invitation_required, address_blocked, email_mandatory, job_title_required, job_title_too_short, job_title_too_long, try_again_title, try_again_later, unavailable_title, unavailable_message, bad_request, invitation_code_invalid, waitlisted",
                "line 9: block_page_message gives variants but no text for the other languages: add a `default` (or an `en`) text",
                "line 10: job_title_required: \"vi\" is not a language the gate speaks; use default or one of ar, cs, da, de, el, en, es, fi, fr, he, hu, it, ja, ko, nb, nl, pl, pt-BR, pt-PT, ro, ru, sv, th, tr, uk, zh-Hans, zh-Hant",
                "line 12: \"pilots\" is not an application id (a GUID like 00000000-0000-0000-0000-000000000000)",
                "line 16: blocked_local_parts must be a list like [\"admin\", \"noreply\"]",
                "line 18: unknown key \"defaults\": the file has [default] and [applications.\"<application id>\"] sections",
            ]
        );
    }

    #[test]
    fn syntax_errors_are_reported_with_their_line() {
        let found = problems("[default]\nallowed_domains = [\"a.com\"\nrequire_job_title = true\n");
        assert!(!found.is_empty());
        assert!(
            found[0].starts_with("line 2: ") || found[0].starts_with("line 3: "),
            "{found:?}"
        );
        let found = problems(&format!(
            "[applications.\"{APP}\"]\n[applications.\"{}\"]\n",
            APP.to_uppercase()
        ));
        assert_eq!(
            found,
            [format!("line 2: application {APP} has two sections")]
        );
    }

    #[test]
    fn the_example_file_reads() {
        let set = parse(
            include_str!("../../policy.example.toml"),
            &base(),
            Catalog::built_in(),
        )
        .unwrap();
        assert_eq!(set.applications.len(), 1);
        let (pilots, _) = set.for_application(Some(APP));
        assert!(pilots.require_job_title);
        assert_eq!(
            pilots.say(Text::BlockPageTitle, language("fr")),
            "Réservé aux pilotes"
        );
        let email = EmailAddress::parse("info@contoso.com").unwrap();
        assert!(set.default.blocked_local_parts.contains(&email));
    }
}
