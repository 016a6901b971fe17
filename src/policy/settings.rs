//! The settings an application can have its own value of, each described once: its environment
//! variable, its key in the policy file, what it means, its default, and how a value of either
//! source is read into a [`Policy`]. The environment (the settings), the policy file
//! ([`super::file`]), the start-up report and docs/settings.md all read this list.
//!
//! Adding one: a field of [`Policy`] (with its default in `Policy::default`) and an entry here.

use super::MAX_JOB_TITLE_LENGTH;
use super::domains::{DomainList, LocalParts};
use super::{CodeAttribute, Policy};

/// A value for a setting, as one of the two sources gives it.
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    /// An environment variable's text: lists are comma-separated, flags `true`/`false`.
    Text(&'a str),
    /// A list of text from the policy file.
    List(&'a [&'a str]),
    /// Text in quotes from the policy file (never a list).
    Quoted(&'a str),
    /// A flag from the policy file.
    Bool(bool),
    /// A whole number from the policy file.
    Integer(i64),
}

/// One setting an application can have its own value of.
pub struct PolicySetting {
    /// The environment variable (the value for every application the policy file leaves out).
    pub env: &'static str,
    /// Its key in a section of the policy file.
    pub key: &'static str,
    /// What it does, for docs/settings.md.
    pub meaning: &'static str,
    /// Its default, as docs/settings.md says it.
    pub default: &'static str,
    /// What a value looks like in the policy file, for errors: "a list like ...".
    pub expected: &'static str,
    /// What a value looks like as an environment variable, for errors.
    pub expected_env: &'static str,
    /// Reads a value into the policy; the error says what is wrong with it (without the
    /// setting's name, which the caller adds).
    pub apply: fn(&mut Policy, Input<'_>) -> Result<(), String>,
    /// Whether its value is logged and shown in the start-up report: `None` for the texts,
    /// which are shown by [`crate::messages`].
    pub show: fn(&Policy) -> String,
}

/// Every per-application setting (the texts, which have language variants, are described in
/// the settings' catalog and read by [`crate::messages`]).
pub const POLICY_SETTINGS: &[PolicySetting] = &[
    PolicySetting {
        env: "ALLOWED_EMAIL_DOMAINS",
        key: "allowed_domains",
        meaning: "comma-separated (in the policy file a list): `fabrikam.com` matches exactly that domain, \
                  `*.fabrikam.com` any subdomain (not `fabrikam.com` itself), `*` any domain; an empty value or \
                  `none` admits no domain (invitation only)",
        default: "`fabrikam.com,fabricam.com` (the original sample's) outside Azure; in Azure \
                  (`WEBSITE_SITE_NAME` set) no domain, and an error is logged at start-up: set it (`none` for \
                  invitation only)",
        expected: "a list like [\"contoso.com\", \"*.contoso.com\"]",
        expected_env: "a comma-separated list of domains ('fabrikam.com', '*.fabrikam.com' or '*')",
        apply: |policy, input| {
            policy.allowed_domains = domains(input)?;
            Ok(())
        },
        show: |policy| policy.allowed_domains.to_string(),
    },
    PolicySetting {
        env: "BLOCKED_EMAIL_DOMAINS",
        key: "blocked_domains",
        meaning: "written like the allow-list: domains refused even when allowed (free-mail providers, a shared \
                  subdomain); an invitation for the exact address still admits ([policy.md](policy.md#deny-lists))",
        default: "none",
        expected: "a list like [\"gmail.com\", \"*.example.net\"]",
        expected_env: "a comma-separated list of domains ('fabrikam.com', '*.fabrikam.com' or '*')",
        apply: |policy, input| {
            policy.blocked_domains = domains(input)?;
            Ok(())
        },
        show: |policy| policy.blocked_domains.to_string(),
    },
    PolicySetting {
        env: "BLOCKED_LOCAL_PARTS",
        key: "blocked_local_parts",
        meaning: "local parts refused on every domain (`admin,info,noreply`): matched in any case against the \
                  mailbox (quotes, escapes and a `+` sub-address removed); an invitation for the exact address \
                  still admits",
        default: "none",
        expected: "a list like [\"admin\", \"noreply\"]",
        expected_env: "a comma-separated list of local parts ('admin', 'noreply')",
        apply: |policy, input| {
            let parts = match input {
                Input::Text(text) => LocalParts::parse(text),
                Input::List(items) => LocalParts::from_entries(items.iter().copied()),
                _ => return Err(not_a_list()),
            };
            policy.blocked_local_parts = parts.map_err(|error| error.to_string())?;
            Ok(())
        },
        show: |policy| policy.blocked_local_parts.to_string(),
    },
    PolicySetting {
        env: "BLOCK_DISPOSABLE_DOMAINS",
        key: "block_disposable_domains",
        meaning: "`true` refuses addresses at disposable e-mail providers: the domain or any parent of it on the \
                  shipped list (disposable-email-domains, CC0) or the site's additions, less its exceptions \
                  (`DISPOSABLE_DOMAINS_FILE`); reason `disposable_domain`, message `address_blocked`; an invitation \
                  for the exact address still admits ([policy.md](policy.md#disposable-domains-and-sub-addresses)); \
                  `true`/`false`, any case, or `1`/`0`",
        default: "`false`",
        expected: "true or false",
        expected_env: "'true' or 'false'",
        apply: |policy, input| {
            if let Some(flag) = flag(input)? {
                policy.block_disposable_domains = flag;
            }
            Ok(())
        },
        show: |policy| policy.block_disposable_domains.to_string(),
    },
    PolicySetting {
        env: "BLOCK_SUBADDRESSES",
        key: "block_subaddresses",
        meaning: "`true` refuses sub-addresses, `ada+tag@contoso.com`: a `+` in the mailbox as the deny-lists read \
                  it (also quoted, `\"ada+tag\"@`); reason `subaddress_blocked`, message `address_blocked`; an \
                  invitation for the exact address still admits; `true`/`false`, any case, or `1`/`0`",
        default: "`false`",
        expected: "true or false",
        expected_env: "'true' or 'false'",
        apply: |policy, input| {
            if let Some(flag) = flag(input)? {
                policy.block_subaddresses = flag;
            }
            Ok(())
        },
        show: |policy| policy.block_subaddresses.to_string(),
    },
    PolicySetting {
        env: "MIN_JOB_TITLE_LENGTH",
        key: "min_job_title_length",
        meaning: "minimum Job Title length when one is present, 0 to 128",
        default: "`4`",
        expected: "a whole number of characters from 0 to 128",
        expected_env: "a whole number of characters from 0 to 128",
        apply: |policy, input| {
            if let Some(length) = whole(input, 0..=MAX_JOB_TITLE_LENGTH as u64, "characters")? {
                policy.min_job_title_length = length as usize;
            }
            Ok(())
        },
        show: |policy| policy.min_job_title_length.to_string(),
    },
    PolicySetting {
        env: "REQUIRE_JOB_TITLE",
        key: "require_job_title",
        meaning: "`true` makes the Job Title mandatory at B2C's `PostAttributeCollection` step and at Entra's \
                  Submit, and nowhere else (not without a `step`, not at an unknown one); `true`/`false`, any \
                  case, or `1`/`0`. At Submit the user flow must then collect Job Title \
                  ([functions.md](functions.md#what-the-entra-functions-answer))",
        default: "`false`",
        expected: "true or false",
        expected_env: "'true' or 'false'",
        apply: |policy, input| {
            if let Some(flag) = flag(input)? {
                policy.require_job_title = flag;
            }
            Ok(())
        },
        show: |policy| policy.require_job_title.to_string(),
    },
    PolicySetting {
        env: "WAITLIST",
        key: "waitlist",
        meaning: "`true`: an address refused only because it is neither invited nor in an allowed domain is \
                  recorded as a request to join and told so; an administrator approves it into an invitation or \
                  denies it (`handler invitations requests`, [policy.md](policy.md#waitlist)); needs \
                  `INVITATION_STORE=table`",
        default: "`false`",
        expected: "true or false",
        expected_env: "'true' or 'false'",
        apply: |policy, input| {
            if let Some(flag) = flag(input)? {
                policy.waitlist = flag;
            }
            Ok(())
        },
        show: |policy| policy.waitlist.to_string(),
    },
    PolicySetting {
        env: "INVITATION_CODE_ATTRIBUTE",
        key: "invitation_code_attribute",
        meaning: "the user attribute people type an invitation code into (a custom attribute of the user flow: \
                  its short name `InvitationCode` or Entra's full `extension_<app id>_InvitationCode`, matched in \
                  any case); Start then lets every address no deny-list refuses go on to the page, and Submit \
                  decides by the code ([invitations.md](invitations.md#codes)); empty or `none`: no code",
        default: "none",
        expected: "an attribute name in quotes, like \"InvitationCode\"",
        expected_env: "an attribute name (letters, digits and '_', starting with a letter)",
        apply: |policy, input| {
            let (Input::Text(text) | Input::Quoted(text)) = input else {
                return Err("must be an attribute name in quotes".to_owned());
            };
            let text = text.trim();
            policy.code_attribute = if text.is_empty() || text.eq_ignore_ascii_case("none") {
                None
            } else {
                Some(CodeAttribute::parse(text).ok_or_else(|| {
                    format!("must be an attribute name (letters, digits and '_', starting with a letter), got {text:?}")
                })?)
            };
            Ok(())
        },
        show: |policy| {
            policy
                .code_attribute
                .as_ref()
                .map_or("none".to_owned(), |attribute| attribute.name().to_owned())
        },
    },
];

/// The setting of this environment variable, or of this policy-file key.
pub fn by_env(name: &str) -> Option<&'static PolicySetting> {
    POLICY_SETTINGS
        .iter()
        .find(|setting| setting.env.eq_ignore_ascii_case(name))
}

pub fn by_key(key: &str) -> Option<&'static PolicySetting> {
    POLICY_SETTINGS.iter().find(|setting| setting.key == key)
}

/// What a list setting says of a value that is no list.
pub(crate) const NOT_A_LIST: &str = "must be a list of text";

fn not_a_list() -> String {
    NOT_A_LIST.to_owned()
}

/// A domain list: comma-separated text (blank or `none`: the empty list) or a list.
fn domains(input: Input<'_>) -> Result<DomainList, String> {
    let list = match input {
        Input::Text(text) if text.trim().eq_ignore_ascii_case("none") => Ok(DomainList::default()),
        Input::Text(text) => DomainList::parse(text),
        Input::List(items) => DomainList::from_entries(items.iter().copied()),
        _ => return Err(not_a_list()),
    };
    list.map_err(|error| error.to_string())
}

/// A whole number of `unit` within `range`; `None` for blank text (the default stays).
fn whole(
    input: Input<'_>,
    range: std::ops::RangeInclusive<u64>,
    unit: &str,
) -> Result<Option<u64>, String> {
    let number = match input {
        Input::Text(text) if text.trim().is_empty() => return Ok(None),
        Input::Text(text) => text.trim().parse::<u64>().ok(),
        Input::Integer(number) => u64::try_from(number).ok(),
        _ => None,
    };
    number
        .filter(|number| range.contains(number))
        .map(Some)
        .ok_or_else(|| {
            format!(
                "must be a whole number of {unit} from {} to {}",
                range.start(),
                range.end()
            )
        })
}

/// `true`/`false` in any case (the portal writes `True`), or `1`/`0`; `None` for blank text.
fn flag(input: Input<'_>) -> Result<Option<bool>, String> {
    match input {
        Input::Bool(flag) => Ok(Some(flag)),
        Input::Text(text) if text.trim().is_empty() => Ok(None),
        Input::Text(text) => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(Some(true)),
            "false" | "0" => Ok(Some(false)),
            _ => Err("must be true or false".to_owned()),
        },
        _ => Err("must be true or false".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sources_read_the_same_values() {
        let mut from_env = Policy::default();
        let mut from_file = Policy::default();
        let pairs: [(&str, Input<'_>, Input<'_>); 7] = [
            (
                "allowed_domains",
                Input::Text("contoso.com, *.contoso.com"),
                Input::List(&["contoso.com", "*.contoso.com"]),
            ),
            (
                "blocked_domains",
                Input::Text("gmail.com"),
                Input::List(&["gmail.com"]),
            ),
            (
                "blocked_local_parts",
                Input::Text("admin"),
                Input::List(&["admin"]),
            ),
            ("min_job_title_length", Input::Text("7"), Input::Integer(7)),
            ("require_job_title", Input::Text("True"), Input::Bool(true)),
            (
                "block_disposable_domains",
                Input::Text("1"),
                Input::Bool(true),
            ),
            ("block_subaddresses", Input::Text("TRUE"), Input::Bool(true)),
        ];
        for (key, env, file) in pairs {
            let setting = by_key(key).unwrap();
            (setting.apply)(&mut from_env, env).unwrap();
            (setting.apply)(&mut from_file, file).unwrap();
        }
        assert_eq!(from_env, from_file);
        assert_eq!(from_env.min_job_title_length, 7);
        assert!(from_env.require_job_title);
        assert!(from_env.block_disposable_domains && from_env.block_subaddresses);
    }

    #[test]
    fn ranges_and_shapes_are_checked_the_same_way_for_both() {
        let apply = |key: &str, input| (by_key(key).unwrap().apply)(&mut Policy::default(), input);
        for input in [Input::Text("129"), Input::Integer(129), Input::Integer(-1)] {
            assert_eq!(
                apply("min_job_title_length", input),
                Err("must be a whole number of characters from 0 to 128".to_owned())
            );
        }
        for key in [
            "require_job_title",
            "block_disposable_domains",
            "block_subaddresses",
        ] {
            for input in [Input::Text("yes"), Input::Integer(1), Input::List(&[])] {
                assert_eq!(
                    apply(key, input),
                    Err("must be true or false".to_owned()),
                    "{key}"
                );
            }
        }
        assert_eq!(
            apply("allowed_domains", Input::Bool(true)),
            Err("must be a list of text".to_owned())
        );
        let mut policy = Policy::default();
        (by_key("allowed_domains").unwrap().apply)(&mut policy, Input::Text("none")).unwrap();
        assert!(policy.allowed_domains.is_empty());
    }

    #[test]
    fn names_are_unique_in_both_sources() {
        for (index, setting) in POLICY_SETTINGS.iter().enumerate() {
            assert!(
                POLICY_SETTINGS[..index]
                    .iter()
                    .all(|other| other.env != setting.env && other.key != setting.key),
                "{}",
                setting.env
            );
        }
    }
}
