//! Language tags as both platforms send them: `ui_locales` (B2C, External Identities) and
//! `client.locale` / `market` (Entra), BCP 47 in any case (`en-US`, `fr-ca`, `zh-Hant-TW`).
//!
//! [`LanguageTag::parse`] keeps what choosing a language needs (the language, its script, its
//! region) and refuses anything that is not shaped like a tag; which languages exist is the
//! message catalog's business.

/// Longest tag looked at; longer input is not a tag anyone sends (RFC 5646 advises buffers of
/// 35 characters for the language-script-region part).
const MAX_TAG_LEN: usize = 64;

/// The parts of a BCP 47 tag that choose a language, normalised: `language` lower case,
/// `script` title case, `region` upper case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LanguageTag {
    pub language: String,
    pub script: Option<String>,
    pub region: Option<String>,
}

impl LanguageTag {
    /// Parses one tag: `-` or `_` between subtags, any case. The language is 2 or 3 letters;
    /// extended-language, variant and extension subtags are skipped; a private-use (`x-...`),
    /// grandfathered (`i-...`) or malformed tag is `None`.
    pub fn parse(input: &str) -> Option<Self> {
        let input = input.trim();
        if input.is_empty() || input.len() > MAX_TAG_LEN {
            return None;
        }
        let mut subtags = input.split(['-', '_']);
        let language = subtags.next()?;
        if !(2..=3).contains(&language.len()) || !language.bytes().all(|b| b.is_ascii_alphabetic())
        {
            return None;
        }
        let mut tag = Self {
            language: language.to_ascii_lowercase(),
            script: None,
            region: None,
        };
        let mut in_extension = false;
        for subtag in subtags {
            if subtag.is_empty()
                || subtag.len() > 8
                || !subtag.bytes().all(|b| b.is_ascii_alphanumeric())
            {
                return None;
            }
            if in_extension {
                continue;
            }
            let letters = subtag.bytes().all(|b| b.is_ascii_alphabetic());
            let digits = subtag.bytes().all(|b| b.is_ascii_digit());
            match subtag.len() {
                // A singleton starts an extension or private use: nothing after it chooses.
                1 => in_extension = true,
                4 if letters && tag.script.is_none() && tag.region.is_none() => {
                    let mut script = subtag.to_ascii_lowercase();
                    script[..1].make_ascii_uppercase();
                    tag.script = Some(script);
                }
                2 if letters && tag.region.is_none() => {
                    tag.region = Some(subtag.to_ascii_uppercase());
                }
                3 if digits && tag.region.is_none() => tag.region = Some(subtag.to_owned()),
                // Extended language (`zh-yue`), variants (`de-1996`): not a choice we make.
                _ => {}
            }
        }
        Some(tag)
    }

    /// Every tag of a space-separated list (`ui_locales`), in order, skipping what is not a
    /// tag; commas and `;q=` weights (an `Accept-Language` pasted in) are tolerated. At most
    /// `limit` entries are looked at.
    pub fn list(input: &str, limit: usize) -> impl Iterator<Item = Self> + '_ {
        input
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|entry| !entry.is_empty())
            .take(limit)
            .filter_map(|entry| Self::parse(entry.split(';').next().unwrap_or_default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(language: &str, script: Option<&str>, region: Option<&str>) -> Option<LanguageTag> {
        Some(LanguageTag {
            language: language.to_owned(),
            script: script.map(str::to_owned),
            region: region.map(str::to_owned),
        })
    }

    #[test]
    fn parses_the_parts_that_choose_a_language_in_any_case() {
        for (input, expected) in [
            ("en", tag("en", None, None)),
            ("en-US", tag("en", None, Some("US"))),
            ("fr-ca", tag("fr", None, Some("CA"))),
            ("FR_CA", tag("fr", None, Some("CA"))),
            ("zh-hant-tw", tag("zh", Some("Hant"), Some("TW"))),
            ("zh-Hans", tag("zh", Some("Hans"), None)),
            ("es-419", tag("es", None, Some("419"))),
            ("zh-yue-HK", tag("zh", None, Some("HK"))),
            ("de-DE-1996", tag("de", None, Some("DE"))),
            ("de-DE-u-co-phonebk", tag("de", None, Some("DE"))),
            ("en-x-twain", tag("en", None, None)),
            ("  pt-BR ", tag("pt", None, Some("BR"))),
        ] {
            assert_eq!(LanguageTag::parse(input), expected, "{input}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_tag() {
        for input in [
            "",
            " ",
            "*",
            "e",
            "english",
            "x-klingon",
            "i-klingon",
            "en--US",
            "en-",
            "-en",
            "en-US!",
            "ja-JP\u{0}",
            "fr-ÇA",
            "日本語",
            "en-verylongsubtag",
            &"en-us".repeat(20),
        ] {
            assert_eq!(LanguageTag::parse(input), None, "{input:?}");
        }
    }

    #[test]
    fn a_list_keeps_order_and_skips_what_is_not_a_tag() {
        let languages: Vec<String> = LanguageTag::list("!! fr-CA,de;q=0.8  x-y en", 8)
            .map(|tag| tag.language)
            .collect();
        assert_eq!(languages, ["fr", "de", "en"]);
        assert_eq!(LanguageTag::list(&"xx ".repeat(1000), 16).count(), 16);
    }
}
