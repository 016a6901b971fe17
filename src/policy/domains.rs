//! Lists of e-mail domains: the allow-list (`ALLOWED_EMAIL_DOMAINS`) and the deny-list
//! (`BLOCKED_EMAIL_DOMAINS`), and the deny-list of local parts (`BLOCKED_LOCAL_PARTS`).
//!
//! Domain entries are exact domains (`fabrikam.com`), any subdomain of a domain (`*.fabrikam.com`, which
//! does not match `fabrikam.com` itself) or everything (`*`). Matching is on the normalised domain
//! of an [`EmailAddress`], so it is case-insensitive and ignores a trailing dot.

use std::fmt;

use crate::domain::email::{EmailAddress, is_valid_domain};

/// One entry of a domain list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DomainRule {
    /// `fabrikam.com`: exactly this domain.
    Exact(String),
    /// `*.fabrikam.com`: any domain ending in `.fabrikam.com`.
    Subdomains(String),
    /// `*`: any domain.
    Any,
}

/// Why an entry of a list was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidDomainList {
    #[error("entry {position} is empty")]
    EmptyEntry { position: usize },
    #[error(
        "entry {position} ({entry:?}) is not a domain like 'fabrikam.com', '*.fabrikam.com' or '*'"
    )]
    BadEntry { position: usize, entry: String },
}

/// A list of domains, in the order the administrator wrote it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DomainList {
    rules: Vec<DomainRule>,
}

impl DomainList {
    /// Parses a comma-separated list. White space around entries is ignored; a value that is
    /// entirely blank is the empty list (no domain is admitted by domain alone).
    pub fn parse(value: &str) -> Result<Self, InvalidDomainList> {
        if value.trim().is_empty() {
            return Ok(Self::default());
        }
        Self::from_entries(value.split(','))
    }

    /// Parses entries one by one (the policy file's lists).
    pub fn from_entries<'a>(
        entries: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, InvalidDomainList> {
        let rules = entries
            .into_iter()
            .enumerate()
            .map(|(index, entry)| DomainRule::parse(entry.trim(), index + 1))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { rules })
    }

    /// Whether the address's domain is on the list.
    pub fn contains(&self, email: &EmailAddress) -> bool {
        let domain = email.domain();
        self.rules.iter().any(|rule| rule.matches(domain))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

impl DomainRule {
    fn parse(entry: &str, position: usize) -> Result<Self, InvalidDomainList> {
        if entry.is_empty() {
            return Err(InvalidDomainList::EmptyEntry { position });
        }
        if entry == "*" {
            return Ok(Self::Any);
        }
        let bad = || InvalidDomainList::BadEntry {
            position,
            entry: entry.to_owned(),
        };
        let (wildcard, domain) = match entry.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, entry),
        };
        let domain = domain
            .strip_suffix('.')
            .unwrap_or(domain)
            .to_ascii_lowercase();
        if !is_valid_domain(&domain) {
            return Err(bad());
        }
        Ok(if wildcard {
            Self::Subdomains(domain)
        } else {
            Self::Exact(domain)
        })
    }

    fn matches(&self, domain: &str) -> bool {
        match self {
            Self::Exact(allowed) => domain == allowed,
            Self::Subdomains(parent) => domain
                .strip_suffix(parent.as_str())
                .is_some_and(|prefix| prefix.len() > 1 && prefix.ends_with('.')),
            Self::Any => true,
        }
    }
}

impl fmt::Display for DomainRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exact(domain) => f.write_str(domain),
            Self::Subdomains(domain) => write!(f, "*.{domain}"),
            Self::Any => f.write_str("*"),
        }
    }
}

/// `fabrikam.com, fabricam.com`: the form used in user-facing messages.
impl fmt::Display for DomainList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, rule) in self.rules.iter().enumerate() {
            if index > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{rule}")?;
        }
        Ok(())
    }
}

/// A deny-list of local parts (`admin`, `info`, `noreply`): role mailboxes no person signs up
/// with. Matched in any ASCII case against the address's mailbox, on every domain: the local
/// part without quotes and escapes and without its sub-address (`admin+sales@...`,
/// `"admin"@...` and `"ad\min"@...` are all `admin`), which is how a mail server delivers it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalParts {
    parts: Vec<String>,
}

/// Why an entry of the local-part list was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidLocalPart {
    #[error("entry {position} is empty")]
    EmptyEntry { position: usize },
    #[error(
        "entry {position} ({entry:?}) is not the part of an address before '@' (like 'admin' or 'noreply')"
    )]
    BadEntry { position: usize, entry: String },
}

impl LocalParts {
    /// Parses a comma-separated list; a blank value is the empty list.
    pub fn parse(value: &str) -> Result<Self, InvalidLocalPart> {
        if value.trim().is_empty() {
            return Ok(Self::default());
        }
        Self::from_entries(value.split(','))
    }

    /// Parses entries one by one (the policy file's lists).
    pub fn from_entries<'a>(
        entries: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, InvalidLocalPart> {
        let mut parts = Vec::new();
        for (index, entry) in entries.into_iter().enumerate() {
            let entry = entry.trim();
            let position = index + 1;
            if entry.is_empty() {
                return Err(InvalidLocalPart::EmptyEntry { position });
            }
            // Whether `entry@example.com` is an address with exactly this local part.
            let valid = !entry.contains('@')
                && !entry.contains('+')
                && EmailAddress::parse(&format!("{entry}@example.com"))
                    .is_ok_and(|email| email.local_part().eq_ignore_ascii_case(entry));
            if !valid {
                return Err(InvalidLocalPart::BadEntry {
                    position,
                    entry: entry.to_owned(),
                });
            }
            parts.push(entry.to_ascii_lowercase());
        }
        Ok(Self { parts })
    }

    /// Whether the address's mailbox (see [`EmailAddress::mailbox`]) is on the list.
    pub fn contains(&self, email: &EmailAddress) -> bool {
        let mailbox = email.mailbox();
        self.parts.iter().any(|part| *part == mailbox.name)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }
}

impl fmt::Display for LocalParts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(address: &str) -> EmailAddress {
        EmailAddress::parse(address).unwrap()
    }

    #[test]
    fn exact_entries_match_only_that_domain_in_any_case() {
        let list = DomainList::parse("fabrikam.com, Fabricam.COM.").unwrap();
        assert!(list.contains(&email("ada@fabrikam.com")));
        assert!(list.contains(&email("ada@FABRIKAM.com.")));
        assert!(list.contains(&email("ada@fabricam.com")));
        assert!(!list.contains(&email("ada@sub.fabrikam.com")));
        assert!(!list.contains(&email("ada@notfabrikam.com")));
        assert!(!list.contains(&email("ada@fabrikam.com.evil.com")));
        assert_eq!(list.to_string(), "fabrikam.com, fabricam.com");
    }

    #[test]
    fn wildcard_entries_match_subdomains_only() {
        let list = DomainList::parse("*.fabrikam.com").unwrap();
        assert!(list.contains(&email("ada@eu.fabrikam.com")));
        assert!(list.contains(&email("ada@a.b.fabrikam.com")));
        assert!(!list.contains(&email("ada@fabrikam.com")));
        assert!(!list.contains(&email("ada@evilfabrikam.com")));
        assert_eq!(list.to_string(), "*.fabrikam.com");
    }

    #[test]
    fn star_matches_every_domain() {
        let list = DomainList::parse("*").unwrap();
        assert!(list.contains(&email("ada@anything.example")));
    }

    #[test]
    fn a_blank_value_is_the_empty_list() {
        let list = DomainList::parse("  ").unwrap();
        assert!(list.is_empty());
        assert!(!list.contains(&email("ada@fabrikam.com")));
    }

    #[test]
    fn malformed_entries_are_refused_with_their_position() {
        assert_eq!(
            DomainList::parse("fabrikam.com,,x.com"),
            Err(InvalidDomainList::EmptyEntry { position: 2 })
        );
        assert_eq!(
            DomainList::parse("fabrikam.com,"),
            Err(InvalidDomainList::EmptyEntry { position: 2 })
        );
        for bad in [
            "@fabrikam.com",
            "*fabrikam.com",
            "fab rikam.com",
            "com",
            "*.com",
            "a.*.com",
        ] {
            assert!(
                matches!(
                    DomainList::parse(bad),
                    Err(InvalidDomainList::BadEntry { position: 1, .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn local_parts_match_in_any_case_without_the_sub_address() {
        let list = LocalParts::parse("admin, NoReply,info").unwrap();
        for address in [
            "admin@contoso.com",
            "ADMIN@fabrikam.com",
            "noreply@contoso.com",
            "admin+sales@contoso.com",
            "Info+x+y@contoso.com",
            "\"admin\"@contoso.com",
            "\"admin+x\"@contoso.com",
            "\"ad\\min\"@contoso.com",
            "\"INFO\"@contoso.com",
        ] {
            assert!(list.contains(&email(address)), "{address}");
        }
        for address in [
            "administrator@contoso.com",
            "ad.min@contoso.com",
            "no-reply@contoso.com",
            "sales+admin@contoso.com",
            "ada@admin.com",
        ] {
            assert!(!list.contains(&email(address)), "{address}");
        }
        assert_eq!(list.to_string(), "admin, noreply, info");
        assert!(LocalParts::parse(" ").unwrap().is_empty());
    }

    #[test]
    fn malformed_local_parts_are_refused_with_their_position() {
        assert_eq!(
            LocalParts::parse("admin,,info"),
            Err(InvalidLocalPart::EmptyEntry { position: 2 })
        );
        for (bad, position) in [
            ("admin@contoso.com", 1),
            ("info, two words", 2),
            ("a+b", 1),
            ("x,.admin", 2),
            ("a\u{7}b", 1),
        ] {
            assert!(
                matches!(
                    LocalParts::parse(bad),
                    Err(InvalidLocalPart::BadEntry { position: p, .. }) if p == position
                ),
                "{bad}"
            );
        }
    }
}
