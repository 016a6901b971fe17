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
/// `script` title case, `region` upper case. Held inline: reading a tag allocates nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LanguageTag {
    pub language: Subtag,
    pub script: Option<Subtag>,
    pub region: Option<Subtag>,
}

/// A subtag of at most 8 ASCII letters or digits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Subtag {
    bytes: [u8; 8],
    len: u8,
}

impl Subtag {
    /// `text` as it is, or `None` when it is longer than 8 bytes or not ASCII alphanumeric.
    fn new(text: &str) -> Option<Self> {
        if text.len() > 8 || !text.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return None;
        }
        let mut bytes = [0; 8];
        bytes[..text.len()].copy_from_slice(text.as_bytes());
        Some(Self {
            bytes,
            len: text.len() as u8,
        })
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII is ever stored.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }

    fn map(mut self, change: impl Fn(usize, &mut u8)) -> Self {
        for (index, byte) in self.bytes[..usize::from(self.len)].iter_mut().enumerate() {
            change(index, byte);
        }
        self
    }
}

impl std::ops::Deref for Subtag {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Debug for Subtag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
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
            language: Subtag::new(language)?.map(|_, b| b.make_ascii_lowercase()),
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
                    tag.script = Subtag::new(subtag).map(|script| {
                        script.map(|index, b| {
                            if index == 0 {
                                b.make_ascii_uppercase()
                            } else {
                                b.make_ascii_lowercase()
                            }
                        })
                    });
                }
                2 if letters && tag.region.is_none() => {
                    tag.region =
                        Subtag::new(subtag).map(|r| r.map(|_, b| b.make_ascii_uppercase()));
                }
                3 if digits && tag.region.is_none() => tag.region = Subtag::new(subtag),
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
            language: Subtag::new(language).unwrap(),
            script: script.map(|s| Subtag::new(s).unwrap()),
            region: region.map(|r| Subtag::new(r).unwrap()),
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
            .map(|tag| tag.language.to_string())
            .collect();
        assert_eq!(languages, ["fr", "de", "en"]);
        assert_eq!(LanguageTag::list(&"xx ".repeat(1000), 16).count(), 16);
    }
}
