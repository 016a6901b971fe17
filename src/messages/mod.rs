//! Every text a user may see, in the user's language: reason + language + application → text.
//!
//! The translations live in one reviewable file, `catalog.toml` (one section per language, the
//! same keys in each), built into the binary. [`Language::negotiate`] picks the language from
//! what the caller says the user reads; [`Texts`] holds what the operator wrote (organization
//! name, block page, any message, each with per-language variants), which always wins over the
//! catalog: a language the operator did not translate gets the operator's own fallback text,
//! never our generic translation of a different sentence.

mod operator;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;

pub use self::operator::{OperatorText, Texts, VariantError};
use crate::domain::language::LanguageTag;

/// Tags looked at in one `ui_locales`; a user has a handful of languages, not hundreds.
const MAX_TAGS: usize = 16;

/// One user-facing text; its key is its name in `catalog.toml` and in the policy file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Text {
    BlockPageTitle,
    BlockPageMessage,
    DomainNotAllowed,
    InvitationRequired,
    AddressBlocked,
    EmailMandatory,
    JobTitleRequired,
    JobTitleTooShort,
    JobTitleTooLong,
    TryAgainTitle,
    TryAgainLater,
    UnavailableTitle,
    UnavailableMessage,
    BadRequest,
    InvitationCodeInvalid,
    Waitlisted,
}

impl Text {
    pub const ALL: [Self; 16] = [
        Self::BlockPageTitle,
        Self::BlockPageMessage,
        Self::DomainNotAllowed,
        Self::InvitationRequired,
        Self::AddressBlocked,
        Self::EmailMandatory,
        Self::JobTitleRequired,
        Self::JobTitleTooShort,
        Self::JobTitleTooLong,
        Self::TryAgainTitle,
        Self::TryAgainLater,
        Self::UnavailableTitle,
        Self::UnavailableMessage,
        Self::BadRequest,
        Self::InvitationCodeInvalid,
        Self::Waitlisted,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Self::BlockPageTitle => "block_page_title",
            Self::BlockPageMessage => "block_page_message",
            Self::DomainNotAllowed => "domain_not_allowed",
            Self::InvitationRequired => "invitation_required",
            Self::AddressBlocked => "address_blocked",
            Self::EmailMandatory => "email_mandatory",
            Self::JobTitleRequired => "job_title_required",
            Self::JobTitleTooShort => "job_title_too_short",
            Self::JobTitleTooLong => "job_title_too_long",
            Self::TryAgainTitle => "try_again_title",
            Self::TryAgainLater => "try_again_later",
            Self::UnavailableTitle => "unavailable_title",
            Self::UnavailableMessage => "unavailable_message",
            Self::BadRequest => "bad_request",
            Self::InvitationCodeInvalid => "invitation_code_invalid",
            Self::Waitlisted => "waitlisted",
        }
    }

    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|text| text.key() == key)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// What fills a text's placeholders.
#[derive(Debug, Clone, Copy)]
pub struct Args<'a> {
    /// `{organization}`
    pub organization: &'a str,
    /// `{domains}`: the allow-list as `fabrikam.com, fabricam.com`.
    pub domains: &'a str,
    /// `{min}`: the shortest Job Title.
    pub min: usize,
    /// `{max}`: the longest Job Title.
    pub max: usize,
}

/// The placeholders a catalog text may use.
pub const PLACEHOLDERS: [&str; 4] = ["{organization}", "{domains}", "{min}", "{max}"];

/// A language of a [`Catalog`]: its code and its texts.
#[derive(Clone, Copy)]
pub struct Language(&'static CatalogLanguage);

impl Language {
    /// The catalog's tag: `de`, `pt-BR`, `zh-Hant`.
    pub fn code(self) -> &'static str {
        &self.0.code
    }

    /// Whether this is the catalog's English (the operator's texts fall back to it).
    pub fn is_english(self) -> bool {
        self.0.code == ENGLISH
    }

    /// The catalog's text in this language, placeholders filled.
    pub fn say(self, text: Text, args: &Args<'_>) -> String {
        fill(&self.0.texts[text.index()], args)
    }
}

impl PartialEq for Language {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.0, other.0)
    }
}

impl Eq for Language {}

impl std::hash::Hash for Language {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.code.hash(state);
    }
}

/// The languages the gate speaks and their texts: the built-in catalog, read once at start-up
/// and handed to whatever negotiates a language or names one, like the invitation store.
pub struct Catalog {
    languages: Vec<CatalogLanguage>,
    english: usize,
}

impl Catalog {
    /// The catalog built into the binary (`catalog.toml`), read at the first call; start-up
    /// calls it, so that a broken build fails there rather than at a request.
    pub fn built_in() -> &'static Catalog {
        static BUILT_IN: OnceLock<Catalog> = OnceLock::new();
        BUILT_IN.get_or_init(|| {
            // The file is part of the binary and every property `parse` checks is tested, so
            // this cannot fail in a build that passed its tests.
            Catalog::parse(include_str!("catalog.toml")).unwrap_or_else(|problems| {
                panic!("src/messages/catalog.toml: {}", problems.join("; "))
            })
        })
    }

    /// English: the language of last resort.
    pub fn english(&'static self) -> Language {
        Language(&self.languages[self.english])
    }

    /// Every language, in the catalog's (alphabetical) order.
    pub fn languages(&'static self) -> impl Iterator<Item = Language> {
        self.languages.iter().map(Language)
    }

    /// The codes of every language, for an error message: `ar, cs, …`.
    pub fn codes(&'static self) -> Vec<&'static str> {
        self.languages().map(Language::code).collect()
    }

    /// The language of a tag: the same language, where the catalog has it in two forms the
    /// one of the tag's script or region (`zh-TW`, `zh-HK`, `zh-MO` → Traditional, other
    /// Chinese → Simplified; `pt` and `pt-BR` → Brazilian, other Portuguese → European);
    /// Norwegian (`no`, `nn`) → Bokmål, `iw` → Hebrew. `None` when the catalog lacks it.
    pub fn of(&'static self, tag: &LanguageTag) -> Option<Language> {
        let language: &[u8] = match tag.language.as_bytes() {
            b"no" | b"nn" => b"nb",
            b"iw" => b"he",
            other => other,
        };
        let region = tag.region.as_ref().map(|r| r.as_bytes());
        let script: Option<&[u8]> = match (language, tag.script.as_ref(), region) {
            (_, Some(script), _) => Some(script.as_bytes()),
            (b"zh", None, Some(b"TW" | b"HK" | b"MO")) => Some(b"Hant"),
            (b"zh", None, _) => Some(b"Hans"),
            _ => None,
        };
        let region: Option<&[u8]> = match (language, region) {
            (b"pt", None | Some(b"BR")) => Some(b"BR"),
            (b"pt", Some(_)) => Some(b"PT"),
            (_, region) => region,
        };
        let same_language = |entry: &&CatalogLanguage| entry.tag.language.as_bytes() == language;
        let mut forms = self.languages.iter().filter(same_language);
        let first = forms.next()?;
        let chosen = match forms.next() {
            // One form of the language: whatever the script or region.
            None => first,
            // Several: the one the script and region choose.
            Some(_) => self.languages.iter().filter(same_language).find(|entry| {
                entry
                    .tag
                    .script
                    .as_ref()
                    .is_none_or(|s| Some(s.as_bytes()) == script)
                    && entry
                        .tag
                        .region
                        .as_ref()
                        .is_none_or(|r| Some(r.as_bytes()) == region)
            })?,
        };
        Some(Language(chosen))
    }

    /// The language written exactly as `code` (any case), as operators name variants.
    pub fn from_code(&'static self, code: &str) -> Option<Language> {
        self.languages
            .iter()
            .find(|entry| entry.code.eq_ignore_ascii_case(code))
            .map(Language)
    }

    /// From `ui_locales` (B2C, External Identities): the first tag the catalog has, else English.
    pub fn from_ui_locales(&'static self, ui_locales: Option<&str>) -> Language {
        ui_locales
            .into_iter()
            .flat_map(|list| LanguageTag::list(list, MAX_TAGS))
            .find_map(|tag| self.of(&tag))
            .unwrap_or_else(|| self.english())
    }

    /// From Entra's `client.locale`, then `market`; else English.
    pub fn from_entra(&'static self, locale: Option<&str>, market: Option<&str>) -> Language {
        [locale, market]
            .into_iter()
            .flatten()
            .filter_map(LanguageTag::parse)
            .find_map(|tag| self.of(&tag))
            .unwrap_or_else(|| self.english())
    }
}

impl fmt::Debug for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Replaces each placeholder of `template` by its value, in one pass (a value that happens to
/// contain a placeholder's name is not expanded again).
fn fill(template: &str, args: &Args<'_>) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        let value = PLACEHOLDERS
            .iter()
            .find(|placeholder| after.starts_with(*placeholder));
        match value {
            Some(placeholder) => {
                match *placeholder {
                    "{organization}" => out.push_str(args.organization),
                    "{domains}" => out.push_str(args.domains),
                    "{min}" => out.push_str(&args.min.to_string()),
                    _ => out.push_str(&args.max.to_string()),
                }
                rest = &after[placeholder.len()..];
            }
            None => {
                out.push('{');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The placeholders in a text, in order.
pub fn placeholders(text: &str) -> Vec<&'static str> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        rest = &rest[start..];
        match PLACEHOLDERS.iter().find(|p| rest.starts_with(*p)) {
            Some(placeholder) => {
                found.push(*placeholder);
                rest = &rest[placeholder.len()..];
            }
            None => rest = &rest[1..],
        }
    }
    found
}

/// The catalog's English section: the language of last resort.
const ENGLISH: &str = "en";

struct CatalogLanguage {
    code: String,
    tag: LanguageTag,
    /// Indexed by [`Text::index`].
    texts: Vec<String>,
}

impl Catalog {
    /// Every problem of a catalog text: a language whose tag is not one, a missing or unknown
    /// key, a text that is empty or whose placeholders differ from English.
    fn parse(text: &str) -> Result<Self, Vec<String>> {
        let sections: BTreeMap<String, BTreeMap<String, String>> =
            toml::from_str(text).map_err(|error| vec![error.to_string()])?;
        let mut problems = Vec::new();
        let Some(english) = sections.get(ENGLISH) else {
            return Err(vec!["there is no [en] section".to_owned()]);
        };
        let mut languages = Vec::new();
        let mut texts = Vec::new();
        for (code, entries) in &sections {
            match LanguageTag::parse(code) {
                Some(tag) if code.len() >= 2 => languages.push((code.clone(), tag)),
                _ => problems.push(format!("[{code}] is not a language tag")),
            }
            for key in entries.keys() {
                if Text::from_key(key).is_none() {
                    problems.push(format!("[{code}] {key} is not a message"));
                }
            }
            let mut row = Vec::with_capacity(Text::ALL.len());
            for text in Text::ALL {
                let key = text.key();
                let Some(value) = entries.get(key) else {
                    problems.push(format!("[{code}] lacks {key}"));
                    continue;
                };
                if value.trim().is_empty() {
                    problems.push(format!("[{code}] {key} is empty"));
                }
                let mut expected = english
                    .get(key)
                    .map(|e| placeholders(e))
                    .unwrap_or_default();
                let mut found = placeholders(value);
                expected.sort_unstable();
                found.sort_unstable();
                if found != expected {
                    problems.push(format!(
                        "[{code}] {key} has the placeholders {found:?}, English has {expected:?}"
                    ));
                }
                row.push(value.clone());
            }
            texts.push(row);
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let languages: Vec<CatalogLanguage> = languages
            .into_iter()
            .zip(texts)
            .map(|((code, tag), texts)| CatalogLanguage { code, tag, texts })
            .collect();
        let english = languages
            .iter()
            .position(|language| language.code == ENGLISH)
            .ok_or_else(|| vec!["there is no [en] section".to_owned()])?;
        Ok(Self { languages, english })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The languages the gate promises to speak.
    const SHIPPED: [&str; 27] = [
        "ar", "cs", "da", "de", "el", "en", "es", "fi", "fr", "he", "hu", "it", "ja", "ko", "nb",
        "nl", "pl", "pt-BR", "pt-PT", "ro", "ru", "sv", "th", "tr", "uk", "zh-Hans", "zh-Hant",
    ];

    fn args() -> Args<'static> {
        Args {
            organization: "Contoso",
            domains: "fabrikam.com",
            min: 4,
            max: 128,
        }
    }

    #[test]
    fn the_catalog_is_complete_in_every_shipped_language() {
        // Parsing checks each language has every key, no other, none empty, and the same
        // placeholders as English.
        let parsed = Catalog::parse(include_str!("catalog.toml"));
        assert!(parsed.is_ok(), "{:?}", parsed.err());
        let catalog = Catalog::built_in();
        assert_eq!(catalog.codes(), SHIPPED);
        assert!(catalog.english().is_english());
        for language in catalog.languages() {
            for text in Text::ALL {
                let said = language.say(text, &args());
                assert!(!said.contains('{'), "{language} {}: {said}", text.key());
            }
        }
    }

    #[test]
    fn a_catalog_with_a_gap_or_a_lost_placeholder_is_refused() {
        let english = include_str!("catalog.toml")
            .split("\n[")
            .find(|section| section.starts_with("en]"))
            .unwrap()
            .to_owned();
        let german = english.replacen("en]", "de]", 1).replace("{min}", "vier");
        let problems = Catalog::parse(&format!("[{english}\n[{german}"))
            .err()
            .unwrap();
        assert_eq!(
            problems,
            [
                "[de] job_title_too_short has the placeholders [], English has [\"{min}\"]"
                    .to_owned()
            ]
        );
        let lacking = english
            .replacen("en]", "fr]", 1)
            .replace("bad_request =", "bad_requests =");
        let problems = Catalog::parse(&format!("[{english}\n[{lacking}"))
            .err()
            .unwrap();
        assert_eq!(
            problems,
            [
                "[fr] bad_requests is not a message".to_owned(),
                "[fr] lacks bad_request".to_owned()
            ]
        );
    }

    fn negotiated(ui_locales: &str) -> &'static str {
        Catalog::built_in().from_ui_locales(Some(ui_locales)).code()
    }

    #[test]
    fn negotiation_picks_the_first_language_the_catalog_has() {
        for (ui_locales, expected) in [
            ("de", "de"),
            ("DE-at", "de"),
            ("fr-CA", "fr"),
            ("fr_ca", "fr"),
            ("es-419", "es"),
            ("zh-TW", "zh-Hant"),
            ("zh-hk", "zh-Hant"),
            ("zh-MO", "zh-Hant"),
            ("zh-CN", "zh-Hans"),
            ("zh-SG", "zh-Hans"),
            ("zh", "zh-Hans"),
            ("zh-Hant", "zh-Hant"),
            ("zh-Hans-HK", "zh-Hans"),
            ("zh-Hant-CN", "zh-Hant"),
            ("pt", "pt-BR"),
            ("pt-BR", "pt-BR"),
            ("pt-PT", "pt-PT"),
            ("pt-AO", "pt-PT"),
            ("no", "nb"),
            ("nn-NO", "nb"),
            ("nb-NO", "nb"),
            ("iw", "he"),
            ("vi-VN de-DE", "de"),
            ("xx yy ja", "ja"),
            ("  ", "en"),
            ("vi", "en"),
            ("en-GB", "en"),
            ("!!!", "en"),
            ("x-pirate", "en"),
        ] {
            assert_eq!(negotiated(ui_locales), expected, "{ui_locales:?}");
        }
        assert_eq!(Catalog::built_in().from_ui_locales(None).code(), "en");
    }

    #[test]
    fn entra_tries_the_locale_then_the_market() {
        for (locale, market, expected) in [
            (Some("fr-fr"), Some("de-de"), "fr"),
            (Some("vi-vn"), Some("de-de"), "de"),
            (Some("garbage!"), Some("ja-jp"), "ja"),
            (None, Some("ko-kr"), "ko"),
            (None, None, "en"),
            (Some("vi-vn"), None, "en"),
        ] {
            assert_eq!(
                Catalog::built_in().from_entra(locale, market).code(),
                expected,
                "{locale:?} {market:?}"
            );
        }
    }

    #[test]
    fn placeholders_are_filled_once() {
        let args = Args {
            organization: "{domains}",
            ..args()
        };
        assert_eq!(
            fill(
                "{organization} / {domains} / {min}-{max} / {other} {",
                &args
            ),
            "{domains} / fabrikam.com / 4-128 / {other} {"
        );
    }
}
