//! Disposable e-mail providers (`BLOCK_DISPOSABLE_DOMAINS`): the list the handler ships
//! (`domains.txt`, from the disposable-email-domains project, CC0 1.0, written by
//! `scripts/update-disposable-domains.sh`) with a site's own additions and exceptions
//! (`DISPOSABLE_DOMAINS_FILE`).
//!
//! An entry covers its domain and every subdomain of it (`mailinator.com` refuses
//! `eu.mailinator.com` too): a provider that hands out addresses under one name can hand them
//! out under any name below it. An exception (`!domain`) admits its domain and its subdomains
//! again. The most specific entry decides: the address's domain first, then each parent in turn,
//! so `!eu.mailinator.com` admits `x.eu.mailinator.com` while `mailinator.com` stays refused, and
//! a site's line replaces the shipped entry for the same domain.
//!
//! Parsed once and shared by the rules of every application. The shipped entries borrow the
//! text compiled into the binary; a look-up hashes the domain and each parent (slices of the
//! address, no allocation).

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, LazyLock};

use super::file::{Problem, Problems};
use crate::domain::email::{EmailAddress, is_valid_domain};

/// The shipped list: a header of `#` lines naming its source, licence and version, then one
/// domain (or `!domain`) a line.
const SHIPPED: &str = include_str!("domains.txt");

/// The header line that names the package and version the shipped list was taken from.
const PACKAGE_LINE: &str = "# package: ";

/// Largest site file read (a long list of a site's own is a few hundred kilobytes).
pub const MAX_FILE_BYTES: u64 = 16 << 20;

static SHIPPED_LIST: LazyLock<Arc<DisposableDomains>> =
    LazyLock::new(|| Arc::new(DisposableDomains::shipped()));

/// Where an entry comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The list compiled into the handler.
    Shipped,
    /// The site's file (`DISPOSABLE_DOMAINS_FILE`), at this line.
    Site { line: usize },
}

/// What the list says of one domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    /// `!domain`: admitted, with its subdomains, whatever a parent's entry says.
    excepted: bool,
    origin: Origin,
}

/// The site's file, as reports name it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SiteFile {
    name: String,
    additions: usize,
    exceptions: usize,
}

/// The disposable domains in force: the shipped list, with the site's file over it.
#[derive(Clone, PartialEq, Eq)]
pub struct DisposableDomains {
    /// Lower-case domain → entry; the shipped ones borrow [`SHIPPED`].
    entries: HashMap<Cow<'static, str>, Entry>,
    /// `disposable-email-domains 0.0.293`, from the shipped list's header.
    source: &'static str,
    /// How many domains the shipped list refuses.
    shipped: usize,
    site: Option<SiteFile>,
}

/// The entry that decides for a domain: the domain or the nearest parent that is listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listed<'a> {
    /// The listed domain (the address's domain or a parent of it).
    pub domain: &'a str,
    /// Whether it is an exception (`!domain`), which admits.
    pub excepted: bool,
    pub origin: Origin,
}

impl DisposableDomains {
    /// The shipped list alone, parsed on first use and shared from then on.
    pub fn shipped_list() -> Arc<Self> {
        SHIPPED_LIST.clone()
    }

    /// The shipped list with the site's file (`text`, as read from the file `name`) over it;
    /// every line that is not a domain, `!domain`, a comment or blank is a problem.
    pub fn with_site_file(text: &str, name: &str) -> Result<Self, Problems> {
        let mut list = (*Self::shipped_list()).clone();
        let mut site = SiteFile {
            name: name.to_owned(),
            additions: 0,
            exceptions: 0,
        };
        let mut problems = Vec::new();
        // Where the file said each domain first, to report one said both ways.
        let mut said: HashMap<String, (bool, usize)> = HashMap::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let parsed = match parse_line(raw) {
                Ok(None) => continue,
                Ok(Some(parsed)) => parsed,
                Err(message) => {
                    problems.push(Problem { line, message });
                    continue;
                }
            };
            let (domain, excepted) = parsed;
            match said.get(&domain) {
                Some(&(before, first)) if before != excepted => {
                    problems.push(Problem {
                        line,
                        message: format!(
                            "{domain} is {} here but {} on line {first}",
                            describe(excepted),
                            describe(before)
                        ),
                    });
                    continue;
                }
                Some(_) => continue,
                None => {}
            }
            said.insert(domain.clone(), (excepted, line));
            if excepted {
                site.exceptions += 1;
            } else {
                site.additions += 1;
            }
            list.entries.insert(
                Cow::Owned(domain),
                Entry {
                    excepted,
                    origin: Origin::Site { line },
                },
            );
        }
        if !problems.is_empty() {
            return Err(Problems(problems));
        }
        list.site = Some(site);
        Ok(list)
    }

    /// Whether the address's domain is disposable.
    pub fn contains(&self, email: &EmailAddress) -> bool {
        self.listed(email.domain())
            .is_some_and(|listed| !listed.excepted)
    }

    /// The entry that decides for `domain` (lower case, without a trailing dot, as an
    /// [`EmailAddress`] has it): the domain's own, else its nearest listed parent's; `None`
    /// when neither it nor a parent is listed.
    pub fn listed<'a>(&'a self, domain: &'a str) -> Option<Listed<'a>> {
        let mut rest = domain;
        loop {
            if let Some((key, entry)) = self.entries.get_key_value(rest) {
                return Some(Listed {
                    domain: key,
                    excepted: entry.excepted,
                    origin: entry.origin,
                });
            }
            // A parent of at least two labels: no entry is a top-level domain.
            match rest.split_once('.') {
                Some((_, parent)) if parent.contains('.') => rest = parent,
                _ => return None,
            }
        }
    }

    /// The package and version the shipped list was taken from.
    pub fn source(&self) -> &'static str {
        self.source
    }

    /// Where an entry is written: `the shipped list (disposable-email-domains 0.0.293)` or
    /// `disposable.txt line 3`.
    pub fn where_written(&self, origin: Origin) -> String {
        match (origin, &self.site) {
            (Origin::Site { line }, Some(site)) => format!("{} line {line}", site.name),
            (Origin::Site { line }, None) => format!("the site's file, line {line}"),
            (Origin::Shipped, _) => format!("the shipped list ({})", self.source),
        }
    }

    /// The shipped list of this handler, read from the text compiled into it.
    fn shipped() -> Self {
        let mut entries = HashMap::new();
        let mut shipped = 0;
        for raw in SHIPPED.lines() {
            // The script writes only valid lines (a unit test reads every one).
            let Ok(Some((domain, excepted))) = parse_shipped(raw) else {
                continue;
            };
            shipped += usize::from(!excepted);
            entries.insert(
                domain,
                Entry {
                    excepted,
                    origin: Origin::Shipped,
                },
            );
        }
        let source = SHIPPED
            .lines()
            .find_map(|line| line.strip_prefix(PACKAGE_LINE))
            .map_or("an unnamed list", str::trim);
        Self {
            entries,
            source,
            shipped,
            site: None,
        }
    }
}

/// The shipped list's lines are written lower-case and checked by the script; they are borrowed
/// as they are.
fn parse_shipped(raw: &'static str) -> Result<Option<(Cow<'static, str>, bool)>, String> {
    let line = raw.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let (domain, excepted) = match line.strip_prefix('!') {
        Some(domain) => (domain, true),
        None => (line, false),
    };
    if is_valid_domain(domain) && !domain.bytes().any(|b| b.is_ascii_uppercase()) {
        Ok(Some((Cow::Borrowed(domain), excepted)))
    } else {
        Err(format!("{domain:?} is not a lower-case domain"))
    }
}

/// One line of a site's file: `None` for a blank line or a comment (`#` to the end of the
/// line), else the domain in lower case without a trailing dot, and whether it is an exception.
fn parse_line(raw: &str) -> Result<Option<(String, bool)>, String> {
    let line = raw.split('#').next().unwrap_or_default().trim();
    if line.is_empty() {
        return Ok(None);
    }
    let (entry, excepted) = match line.strip_prefix('!') {
        Some(entry) => (entry.trim(), true),
        None => (line, false),
    };
    if let Some(parent) = entry.strip_prefix("*.") {
        return Err(format!(
            "{entry:?}: write {parent:?} alone, an entry covers its subdomains too"
        ));
    }
    let domain = entry
        .strip_suffix('.')
        .unwrap_or(entry)
        .to_ascii_lowercase();
    if is_valid_domain(&domain) {
        Ok(Some((domain, excepted)))
    } else {
        Err(format!(
            "{entry:?} is not a domain like 'mailinator.com' (one a line; '!mailinator.com' for an exception, '#' for a comment)"
        ))
    }
}

fn describe(excepted: bool) -> &'static str {
    if excepted {
        "an exception"
    } else {
        "an addition"
    }
}

/// `disposable-email-domains 0.0.293 (10181 domains), with disposable.txt (2 additions, 1
/// exception)`: what the reports say.
impl fmt::Display for DisposableDomains {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({} domains)", self.source, self.shipped)?;
        if let Some(site) = &self.site {
            let plural = |count: usize, word: &str| {
                format!("{count} {word}{}", if count == 1 { "" } else { "s" })
            };
            write!(
                f,
                ", with {} ({}, {})",
                site.name,
                plural(site.additions, "addition"),
                plural(site.exceptions, "exception")
            )?;
        }
        Ok(())
    }
}

/// Thousands of entries say nothing in a debug print: what the list is, as reports say it.
impl fmt::Debug for DisposableDomains {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DisposableDomains({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(address: &str) -> EmailAddress {
        EmailAddress::parse(address).unwrap()
    }

    #[test]
    fn the_shipped_list_names_its_source_licence_and_version_and_every_line_is_a_domain() {
        let header: Vec<&str> = SHIPPED.lines().take_while(|l| l.starts_with('#')).collect();
        let header = header.join("\n");
        assert!(
            header.contains("# licence of the list: CC0 1.0 Universal"),
            "{header}"
        );
        assert!(
            header.contains("https://github.com/disposable-email-domains/disposable-email-domains"),
            "{header}"
        );
        let list = DisposableDomains::shipped_list();
        assert!(list.source().starts_with("disposable-email-domains 0.0."));
        for (index, raw) in SHIPPED.lines().enumerate() {
            assert!(parse_shipped(raw).is_ok(), "line {}: {raw:?}", index + 1);
        }
        let count = |prefix: &str| {
            SHIPPED
                .lines()
                .find_map(|line| line.strip_prefix(prefix))
                .and_then(|count| count.trim().parse::<usize>().ok())
        };
        assert_eq!(count("# domains: "), Some(list.shipped));
        assert!(list.shipped > 1_000, "{}", list.shipped);
        assert_eq!(
            list.to_string(),
            format!("{} ({} domains)", list.source(), list.shipped)
        );
    }

    #[test]
    fn a_listed_domain_its_subdomains_in_any_case_and_with_a_trailing_dot_are_disposable() {
        let list = DisposableDomains::shipped_list();
        for address in [
            "ada@mailinator.com",
            "ada@MAILINATOR.com",
            "ada@mailinator.com.",
            "ada@eu.mailinator.com",
            "ada@a.b.c.Mailinator.COM.",
            "ada@0-mail.com",
        ] {
            assert!(list.contains(&email(address)), "{address}");
        }
        for address in [
            "ada@contoso.com",
            "ada@xmailinator.com",
            "ada@mailinator.example",
            "ada@mailinator.com.contoso.com",
            "ada@mailinator.co",
            "ada@com.mailinator",
        ] {
            assert!(!list.contains(&email(address)), "{address}");
        }
        assert_eq!(
            list.listed("x.eu.mailinator.com"),
            Some(Listed {
                domain: "mailinator.com",
                excepted: false,
                origin: Origin::Shipped
            })
        );
    }

    #[test]
    fn a_sites_additions_and_exceptions_decide_by_the_most_specific_entry() {
        let list = DisposableDomains::with_site_file(
            "# our own\n\nthrowaway.example   # seen in March\n!EU.Mailinator.com.\n  ! 0-mail.com\nback.eu.mailinator.com\n",
            "disposable.txt",
        )
        .unwrap();
        for (address, disposable) in [
            ("ada@throwaway.example", true),
            ("ada@x.throwaway.example", true),
            ("ada@mailinator.com", true),
            ("ada@eu.mailinator.com", false),
            ("ada@x.eu.mailinator.com", false),
            ("ada@back.eu.mailinator.com", true),
            ("ada@x.back.eu.mailinator.com", true),
            ("ada@0-mail.com", false),
            ("ada@contoso.com", false),
        ] {
            assert_eq!(list.contains(&email(address)), disposable, "{address}");
        }
        assert_eq!(
            list.listed("x.eu.mailinator.com"),
            Some(Listed {
                domain: "eu.mailinator.com",
                excepted: true,
                origin: Origin::Site { line: 4 }
            })
        );
        assert!(
            list.to_string()
                .ends_with(", with disposable.txt (2 additions, 2 exceptions)"),
            "{list}"
        );
        assert_eq!(
            list.where_written(Origin::Site { line: 4 }),
            "disposable.txt line 4"
        );
        assert_eq!(
            list.where_written(Origin::Shipped),
            format!("the shipped list ({})", list.source())
        );
        // The shipped list is shared and unchanged.
        assert!(DisposableDomains::shipped_list().contains(&email("ada@0-mail.com")));
    }

    #[test]
    fn bad_lines_of_a_sites_file_are_refused_with_their_line() {
        let problems = DisposableDomains::with_site_file(
            "ok.example\nnot a domain\n*.wild.example\ncom\nok.example\n!ok.example\n@x.example\n",
            "disposable.txt",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            problems,
            "line 2: \"not a domain\" is not a domain like 'mailinator.com' (one a line; '!mailinator.com' for an exception, '#' for a comment); \
             line 3: \"*.wild.example\": write \"wild.example\" alone, an entry covers its subdomains too; \
             line 4: \"com\" is not a domain like 'mailinator.com' (one a line; '!mailinator.com' for an exception, '#' for a comment); \
             line 6: ok.example is an exception here but an addition on line 1; \
             line 7: \"@x.example\" is not a domain like 'mailinator.com' (one a line; '!mailinator.com' for an exception, '#' for a comment)"
        );
        // Only comments: nothing added, nothing wrong.
        let list = DisposableDomains::with_site_file("# nothing yet\n", "d.txt").unwrap();
        assert!(list.to_string().ends_with("(0 additions, 0 exceptions)"));
    }

    #[test]
    fn a_debug_print_names_the_list_not_its_entries() {
        let printed = format!("{:?}", DisposableDomains::shipped_list());
        assert!(printed.starts_with("DisposableDomains(disposable-email-domains "));
        assert!(printed.len() < 100, "{printed}");
    }
}
