//! E-mail addresses as the policy understands them.
//!
//! An [`EmailAddress`] can only be built by [`EmailAddress::parse`], so every address the policy
//! sees is syntactically valid and already normalised (trimmed, ASCII letters lower-cased). The
//! domain is the part after the *last* `@` of a valid address; an unquoted `@` in the local part
//! makes the input no address at all, so `a@evil.com@fabrikam.com` can never pass as a
//! fabrikam.com address.

use std::borrow::Cow;
use std::fmt;

/// Longest address SMTP can carry (RFC 5321 section 4.5.3.1.3, path minus the angle brackets).
const MAX_ADDRESS_LEN: usize = 254;
/// Longest local part (RFC 5321 section 4.5.3.1.1).
const MAX_LOCAL_LEN: usize = 64;
/// Longest domain name (RFC 1035), without a trailing dot.
const MAX_DOMAIN_LEN: usize = 253;
/// Longest DNS label (RFC 1035).
const MAX_LABEL_LEN: usize = 63;

/// A syntactically valid, normalised e-mail address.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress {
    /// The whole address, ASCII letters lower-cased, trailing dot of the domain removed.
    normalised: String,
    /// Byte offset of the `@` that separates local part and domain.
    at: usize,
}

/// Why a string is not an address; used in logs and CLI reports, never shown to end users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidEmail {
    #[error("the address is empty")]
    Empty,
    #[error("the address is longer than 254 characters")]
    TooLong,
    #[error("the address has no '@'")]
    NoAt,
    #[error("the local part (before '@') is empty, too long or has a character not allowed there")]
    BadLocalPart,
    #[error("the domain (after '@') is not a valid DNS name with at least two labels")]
    BadDomain,
}

impl EmailAddress {
    /// Parses and normalises an address: surrounding white space is ignored, ASCII letters are
    /// lower-cased (no other character changes), a trailing dot after the domain is dropped.
    ///
    /// The local part is a dot-atom (RFC 5322 `atext`, plus UTF-8 per RFC 6531) or a quoted
    /// string; the domain is a DNS host name of at least two labels in ASCII (internationalised
    /// domains in their `xn--` form). Address literals (`[192.0.2.1]`) and comments are refused.
    pub fn parse(input: &str) -> Result<Self, InvalidEmail> {
        let mut normalised = String::with_capacity(input.len());
        let domain_len = normalise_into(input, &mut normalised)?;
        let at = normalised.len() - domain_len - 1;
        Ok(Self { normalised, at })
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.normalised
    }

    /// The lower-cased domain, without a trailing dot.
    pub fn domain(&self) -> &str {
        &self.normalised[self.at + 1..]
    }

    /// The part before the `@` that separates it from the domain.
    pub(crate) fn local_part(&self) -> &str {
        &self.normalised[..self.at]
    }

    /// The mailbox the local part names, as a mail server reads it: a quoted local part without
    /// its quotes and escapes (`"ad\min+x"` is `admin+x`), then split at the first `+` into the
    /// mailbox and its sub-address (`admin+x` is `admin` and `x`). ASCII letters are already
    /// lower-cased. Deny-lists match on the mailbox, so no quoting or tag can hide one.
    pub(crate) fn mailbox(&self) -> Mailbox<'_> {
        let local = self.local_part();
        let unquoted = match local
            .strip_prefix('"')
            .and_then(|inner| inner.strip_suffix('"'))
        {
            None => Cow::Borrowed(local),
            Some(inner) => {
                let mut text = String::with_capacity(inner.len());
                let mut chars = inner.chars();
                while let Some(c) = chars.next() {
                    // Parsing checked that every `\` escapes a character.
                    text.push(if c == '\\' {
                        chars.next().unwrap_or(c)
                    } else {
                        c
                    });
                }
                Cow::Owned(text)
            }
        };
        match unquoted.find('+') {
            None => Mailbox {
                name: unquoted,
                tag: None,
            },
            Some(plus) => {
                let (name, tag) = (unquoted[..plus].to_owned(), unquoted[plus + 1..].to_owned());
                Mailbox {
                    name: Cow::Owned(name),
                    tag: Some(tag),
                }
            }
        }
    }

    /// The address with the local part hidden after its first character (`a***@fabrikam.com`),
    /// the only form in which an address may appear in logs.
    pub fn masked(&self) -> Masked<'_> {
        Masked(self)
    }
}

/// The mailbox of an address's local part: its name and its sub-address (`+tag`), unquoted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mailbox<'a> {
    /// Before the first `+` (all of it without one).
    pub(crate) name: Cow<'a, str>,
    /// After the first `+`, when there is one (it may be empty: `ada+@`).
    pub(crate) tag: Option<String>,
}

/// Display form of [`EmailAddress::masked`].
pub struct Masked<'a>(&'a EmailAddress);

impl fmt::Display for Masked<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let first = self.0.normalised.chars().next().unwrap_or('?');
        // A quoted local part would show its quote; a letter tells the reader more.
        let first = if first == '"' { '?' } else { first };
        write!(f, "{first}***@{}", self.0.domain())
    }
}

/// Addresses are never printed in full by accident: `Debug` masks too.
impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EmailAddress({})", self.masked())
    }
}

/// Validates `input` as [`EmailAddress::parse`] does and appends its normalised form to `out`
/// (which is left as it was on error); returns the domain's length. Lets a large invitation file
/// be normalised straight into one buffer.
pub(crate) fn normalise_into(input: &str, out: &mut String) -> Result<usize, InvalidEmail> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(InvalidEmail::Empty);
    }
    if trimmed.len() > MAX_ADDRESS_LEN + 1 {
        return Err(InvalidEmail::TooLong);
    }
    let at = trimmed.rfind('@').ok_or(InvalidEmail::NoAt)?;
    let (local, domain) = (&trimmed[..at], &trimmed[at + 1..]);
    if !is_valid_local_part(local) {
        return Err(InvalidEmail::BadLocalPart);
    }
    let domain = domain.strip_suffix('.').unwrap_or(domain);
    if !is_valid_domain(domain) {
        return Err(InvalidEmail::BadDomain);
    }
    let start = out.len();
    // ASCII case only: Unicode lower-casing maps look-alikes onto ASCII letters (the Kelvin sign
    // U+212A becomes `k`), which would let `\u{212A}ate@` hold kate@'s invitation. Other
    // characters compare exactly, as the local part's owner wrote them.
    out.push_str(local);
    out[start..].make_ascii_lowercase();
    out.push('@');
    out.extend(domain.bytes().map(|b| char::from(b.to_ascii_lowercase())));
    if out.len() - start > MAX_ADDRESS_LEN {
        out.truncate(start);
        return Err(InvalidEmail::TooLong);
    }
    Ok(domain.len())
}

fn is_valid_local_part(local: &str) -> bool {
    if local.is_empty() || local.len() > MAX_LOCAL_LEN {
        return false;
    }
    if let Some(inner) = local.strip_prefix('"') {
        return inner.strip_suffix('"').is_some_and(is_valid_quoted_content);
    }
    local
        .split('.')
        .all(|atom| !atom.is_empty() && atom.chars().all(is_atext))
}

/// RFC 5322 `atext`, widened by RFC 6531 to any non-ASCII character that is not a control.
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || "!#$%&'*+-/=?^_`{|}~".contains(c)
        || (!c.is_ascii() && !c.is_control())
}

/// Inside quotes: printable ASCII (and UTF-8), with `"` and `\` only as `\`-escapes.
fn is_valid_quoted_content(content: &str) -> bool {
    let mut chars = content.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(escaped) if escaped == ' ' || escaped.is_ascii_graphic() => {}
                _ => return false,
            },
            '"' => return false,
            c if c == ' ' || c.is_ascii_graphic() || (!c.is_ascii() && !c.is_control()) => {}
            _ => return false,
        }
    }
    true
}

/// A DNS host name of at least two LDH labels (RFC 1123).
pub(crate) fn is_valid_domain(domain: &str) -> bool {
    if domain.is_empty() || domain.len() > MAX_DOMAIN_LEN {
        return false;
    }
    let mut labels = 0;
    for label in domain.split('.') {
        let valid = !label.is_empty()
            && label.len() <= MAX_LABEL_LEN
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !valid {
            return false;
        }
        labels += 1;
    }
    labels >= 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalises_a_plain_address() {
        let email = EmailAddress::parse("  Ada.Lovelace@Fabrikam.COM. ").unwrap();
        assert_eq!(email.as_str(), "ada.lovelace@fabrikam.com");
        assert_eq!(email.domain(), "fabrikam.com");
    }

    #[test]
    fn accepts_the_usual_shapes() {
        for input in [
            "a@fabrikam.com",
            "first.last+tag@sub.fabrikam.com",
            "o'brien@fabrikam.co.uk",
            "user_name-1@xn--bcher-kva.example",
            "\"john doe\"@fabrikam.com",
            "\"a@b\"@fabrikam.com",
            "jörg@fabrikam.com",
        ] {
            assert!(EmailAddress::parse(input).is_ok(), "{input} should parse");
        }
    }

    #[test]
    fn the_domain_of_a_quoted_local_part_is_after_the_last_at() {
        let email = EmailAddress::parse("\"a@evil.com\"@fabrikam.com").unwrap();
        assert_eq!(email.domain(), "fabrikam.com");
    }

    #[test]
    fn refuses_what_is_not_an_address() {
        let cases = [
            ("", InvalidEmail::Empty),
            ("   ", InvalidEmail::Empty),
            ("fabrikam.com", InvalidEmail::NoAt),
            ("@fabrikam.com", InvalidEmail::BadLocalPart),
            ("a@evil.com@fabrikam.com", InvalidEmail::BadLocalPart),
            ("a b@fabrikam.com", InvalidEmail::BadLocalPart),
            (".a@fabrikam.com", InvalidEmail::BadLocalPart),
            ("a..b@fabrikam.com", InvalidEmail::BadLocalPart),
            ("a.@fabrikam.com", InvalidEmail::BadLocalPart),
            ("\"a\"b\"@fabrikam.com", InvalidEmail::BadLocalPart),
            ("a@", InvalidEmail::BadDomain),
            ("a@localhost", InvalidEmail::BadDomain),
            ("a@fabrikam..com", InvalidEmail::BadDomain),
            ("a@-fabrikam.com", InvalidEmail::BadDomain),
            ("a@fabrikam-.com", InvalidEmail::BadDomain),
            ("a@[192.0.2.1]", InvalidEmail::BadDomain),
            ("a@fabrikam.com..", InvalidEmail::BadDomain),
            ("a@fabri_kam.com", InvalidEmail::BadDomain),
            ("a@bücher.example", InvalidEmail::BadDomain),
        ];
        for (input, expected) in cases {
            assert_eq!(EmailAddress::parse(input), Err(expected), "{input:?}");
        }
    }

    #[test]
    fn refuses_overlong_parts() {
        let local = "a".repeat(65);
        assert_eq!(
            EmailAddress::parse(&format!("{local}@fabrikam.com")),
            Err(InvalidEmail::BadLocalPart)
        );
        let label = "a".repeat(64);
        assert_eq!(
            EmailAddress::parse(&format!("a@{label}.com")),
            Err(InvalidEmail::BadDomain)
        );
        let domain = format!("{}.com", ["abcdefghij"; 24].join("."));
        assert_eq!(
            EmailAddress::parse(&format!("a@{domain}")),
            Err(InvalidEmail::TooLong)
        );
    }

    #[test]
    fn only_ascii_letters_are_folded() {
        let kate = EmailAddress::parse("kate@contoso.com").unwrap();
        let kelvin = EmailAddress::parse("\u{212A}ate@contoso.com").unwrap();
        assert_ne!(kelvin, kate);
        assert_eq!(kelvin.as_str(), "\u{212A}ate@contoso.com");
        assert_eq!(
            EmailAddress::parse("J\u{d6}RG@Contoso.com")
                .unwrap()
                .as_str(),
            "j\u{d6}rg@contoso.com"
        );
    }

    #[test]
    fn the_mailbox_is_read_without_quotes_escapes_or_sub_address() {
        let mailbox = |address: &str| {
            let email = EmailAddress::parse(address).unwrap();
            let mailbox = email.mailbox();
            (mailbox.name.into_owned(), mailbox.tag)
        };
        assert_eq!(mailbox("Admin@x.example"), ("admin".to_owned(), None));
        assert_eq!(mailbox("\"admin\"@x.example"), ("admin".to_owned(), None));
        assert_eq!(mailbox("\"ad\\min\"@x.example"), ("admin".to_owned(), None));
        assert_eq!(
            mailbox("\"Admin+X\"@x.example"),
            ("admin".to_owned(), Some("x".to_owned()))
        );
        assert_eq!(
            mailbox("info+a+b@x.example"),
            ("info".to_owned(), Some("a+b".to_owned()))
        );
        assert_eq!(
            mailbox("ada+@x.example"),
            ("ada".to_owned(), Some(String::new()))
        );
        assert_eq!(mailbox("\"a b\"@x.example"), ("a b".to_owned(), None));
    }

    #[test]
    fn masks_all_but_the_first_character_of_the_local_part() {
        let email = EmailAddress::parse("Ada@Fabrikam.com").unwrap();
        assert_eq!(email.masked().to_string(), "a***@fabrikam.com");
        assert_eq!(format!("{email:?}"), "EmailAddress(a***@fabrikam.com)");
        let quoted = EmailAddress::parse("\"x y\"@fabrikam.com").unwrap();
        assert_eq!(quoted.masked().to_string(), "?***@fabrikam.com");
    }
}
