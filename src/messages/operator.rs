//! What the operator wrote: the organization's name and any message, each with per-language
//! variants. Operator wording always wins over the catalog and is shown exactly as written.

use std::collections::BTreeMap;

use super::{Args, Language, Text};

/// A text the operator wrote, with variants for some languages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorText {
    /// For every language without a variant of its own.
    fallback: String,
    variants: Vec<(Language, String)>,
}

/// Why a set of variants cannot stand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VariantError {
    #[error(
        "gives variants but no text for the other languages: add a `default` (or an `en`) text"
    )]
    NoFallback,
}

impl OperatorText {
    /// The same text in every language.
    pub fn plain(text: impl Into<String>) -> Self {
        Self {
            fallback: text.into(),
            variants: Vec::new(),
        }
    }

    /// Variants, and the text for every other language: `fallback`, else the English variant.
    pub fn with_variants(
        fallback: Option<String>,
        variants: Vec<(Language, String)>,
    ) -> Result<Self, VariantError> {
        let fallback = match fallback {
            Some(text) => text,
            None => variants
                .iter()
                .find(|(language, _)| language.is_english())
                .map(|(_, text)| text.clone())
                .ok_or(VariantError::NoFallback)?,
        };
        Ok(Self { fallback, variants })
    }

    /// The variant for `language`, else the operator's fallback.
    pub fn get(&self, language: Language) -> &str {
        self.variants
            .iter()
            .find(|(variant, _)| *variant == language)
            .map_or(&self.fallback, |(_, text)| text)
    }
}

/// The operator's texts for one policy: the organization's name (a placeholder of the catalog's
/// texts) and the messages they replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Texts {
    pub organization: OperatorText,
    replaced: BTreeMap<Text, OperatorText>,
}

impl Texts {
    pub fn new(organization: OperatorText) -> Self {
        Self {
            organization,
            replaced: BTreeMap::new(),
        }
    }

    /// Replaces one of the catalog's texts by the operator's.
    pub fn replace(&mut self, text: Text, by: OperatorText) {
        self.replaced.insert(text, by);
    }

    /// The texts replaced, for reports.
    pub fn replaced(&self) -> impl Iterator<Item = (Text, &OperatorText)> {
        self.replaced.iter().map(|(text, by)| (*text, by))
    }

    /// `text` in `language`: the operator's when they wrote one, else the catalog's with the
    /// placeholders filled (the organization's name in that language; the allowed domains and
    /// the Job Title lengths as given).
    pub fn say(
        &self,
        text: Text,
        language: Language,
        domains: &str,
        (min, max): (usize, usize),
    ) -> String {
        if let Some(by) = self.replaced.get(&text) {
            return by.get(language).to_owned();
        }
        language.say(
            text,
            &Args {
                organization: self.organization.get(language),
                domains,
                min,
                max,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn language(code: &str) -> Language {
        crate::messages::Catalog::built_in()
            .from_code(code)
            .unwrap()
    }

    #[test]
    fn a_language_without_a_variant_gets_the_operators_fallback() {
        let text = OperatorText::with_variants(
            Some("Ask HR.".to_owned()),
            vec![(
                language("de"),
                "Fragen Sie die Personalabteilung.".to_owned(),
            )],
        )
        .unwrap();
        assert_eq!(
            text.get(language("de")),
            "Fragen Sie die Personalabteilung."
        );
        assert_eq!(text.get(language("fr")), "Ask HR.");
        assert_eq!(text.get(language("en")), "Ask HR.");
        let english_fallback = OperatorText::with_variants(
            None,
            vec![
                (
                    language("de"),
                    "Fragen Sie die Personalabteilung.".to_owned(),
                ),
                (language("en"), "Ask HR.".to_owned()),
            ],
        )
        .unwrap();
        assert_eq!(english_fallback.get(language("ja")), "Ask HR.");
        assert_eq!(
            OperatorText::with_variants(None, vec![(language("de"), "x".to_owned())]),
            Err(VariantError::NoFallback)
        );
    }

    #[test]
    fn operator_wording_wins_in_every_language() {
        let mut texts = Texts::new(
            OperatorText::with_variants(
                Some("Contoso".to_owned()),
                vec![(language("de"), "Contoso GmbH".to_owned())],
            )
            .unwrap(),
        );
        assert_eq!(
            texts.say(Text::UnavailableMessage, language("de"), "", (4, 128)),
            language("de").say(
                Text::UnavailableMessage,
                &Args {
                    organization: "Contoso GmbH",
                    domains: "",
                    min: 4,
                    max: 128
                }
            )
        );
        texts.replace(Text::BlockPageTitle, OperatorText::plain("Members only"));
        for code in ["en", "de", "ja"] {
            assert_eq!(
                texts.say(Text::BlockPageTitle, language(code), "", (4, 128)),
                "Members only"
            );
        }
    }
}
