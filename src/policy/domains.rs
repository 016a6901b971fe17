//! The allow-list of e-mail domains (`ALLOWED_EMAIL_DOMAINS`).
//!
//! Entries are exact domains (`fabrikam.com`), any subdomain of a domain (`*.fabrikam.com`, which
//! does not match `fabrikam.com` itself) or everything (`*`). Matching is on the normalised domain
//! of an [`EmailAddress`], so it is case-insensitive and ignores a trailing dot.

use std::fmt;

use crate::domain::email::{EmailAddress, is_valid_domain};

/// One entry of the allow-list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DomainRule {
    /// `fabrikam.com`: exactly this domain.
    Exact(String),
    /// `*.fabrikam.com`: any domain ending in `.fabrikam.com`.
    Subdomains(String),
    /// `*`: any domain.
    Any,
}

/// Why an allow-list entry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidDomainList {
    #[error("entry {position} is empty")]
    EmptyEntry { position: usize },
    #[error(
        "entry {position} ({entry:?}) is not a domain like 'fabrikam.com', '*.fabrikam.com' or '*'"
    )]
    BadEntry { position: usize, entry: String },
}

/// The configured allow-list, in the order the administrator wrote it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedDomains {
    rules: Vec<DomainRule>,
}

impl AllowedDomains {
    /// Parses a comma-separated list. White space around entries is ignored; a value that is
    /// entirely blank is the empty list (no domain is admitted by domain alone).
    pub fn parse(value: &str) -> Result<Self, InvalidDomainList> {
        if value.trim().is_empty() {
            return Ok(Self::default());
        }
        let rules = value
            .split(',')
            .enumerate()
            .map(|(index, entry)| DomainRule::parse(entry.trim(), index + 1))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { rules })
    }

    /// Whether the address's domain is on the list.
    pub fn allows(&self, email: &EmailAddress) -> bool {
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
impl fmt::Display for AllowedDomains {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn email(address: &str) -> EmailAddress {
        EmailAddress::parse(address).unwrap()
    }

    #[test]
    fn exact_entries_match_only_that_domain_in_any_case() {
        let list = AllowedDomains::parse("fabrikam.com, Fabricam.COM.").unwrap();
        assert!(list.allows(&email("ada@fabrikam.com")));
        assert!(list.allows(&email("ada@FABRIKAM.com.")));
        assert!(list.allows(&email("ada@fabricam.com")));
        assert!(!list.allows(&email("ada@sub.fabrikam.com")));
        assert!(!list.allows(&email("ada@notfabrikam.com")));
        assert!(!list.allows(&email("ada@fabrikam.com.evil.com")));
        assert_eq!(list.to_string(), "fabrikam.com, fabricam.com");
    }

    #[test]
    fn wildcard_entries_match_subdomains_only() {
        let list = AllowedDomains::parse("*.fabrikam.com").unwrap();
        assert!(list.allows(&email("ada@eu.fabrikam.com")));
        assert!(list.allows(&email("ada@a.b.fabrikam.com")));
        assert!(!list.allows(&email("ada@fabrikam.com")));
        assert!(!list.allows(&email("ada@evilfabrikam.com")));
        assert_eq!(list.to_string(), "*.fabrikam.com");
    }

    #[test]
    fn star_matches_every_domain() {
        let list = AllowedDomains::parse("*").unwrap();
        assert!(list.allows(&email("ada@anything.example")));
    }

    #[test]
    fn a_blank_value_is_the_empty_list() {
        let list = AllowedDomains::parse("  ").unwrap();
        assert!(list.is_empty());
        assert!(!list.allows(&email("ada@fabrikam.com")));
    }

    #[test]
    fn malformed_entries_are_refused_with_their_position() {
        assert_eq!(
            AllowedDomains::parse("fabrikam.com,,x.com"),
            Err(InvalidDomainList::EmptyEntry { position: 2 })
        );
        assert_eq!(
            AllowedDomains::parse("fabrikam.com,"),
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
                    AllowedDomains::parse(bad),
                    Err(InvalidDomainList::BadEntry { position: 1, .. })
                ),
                "{bad}"
            );
        }
    }
}
