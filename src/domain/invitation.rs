//! An invitation: who may sign up although their domain is not on the allow-list, for which
//! application, until when, and with which attribute values (each with its JSON type). Values
//! only: stores read and write them, the policy judges them.

use std::fmt;
use std::sync::Arc;

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime, Time};

pub use super::application::ApplicationId;

/// One invitation (the address is its key and lives beside it).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Invitation {
    /// `None`: valid for every application.
    pub application_id: Option<ApplicationId>,
    /// `None`: never expires.
    pub expires_at: Option<Expiry>,
    /// Values to prefill (and, when enforced, to impose at submit).
    pub attributes: Box<[InvitationAttribute]>,
    /// Claims for the tokens of the user who holds the invitation (never prefilled).
    pub claims: Box<[InvitationClaim]>,
}

/// A claim an invitation gives the tokens of its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationClaim {
    /// Shared by every invitation that has the claim (one per file column).
    pub name: Arc<str>,
    pub value: ClaimValue,
}

/// A claim's value: a string, or a list of strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimValue {
    One(Box<str>),
    Many(Box<[Box<str>]>),
}

impl ClaimValue {
    pub fn json(&self) -> serde_json::Value {
        match self {
            Self::One(text) => serde_json::Value::from(&**text),
            Self::Many(items) => items
                .iter()
                .map(|item| serde_json::Value::from(&**item))
                .collect(),
        }
    }

    /// A single value, trimmed; `None` when nothing is left (every store drops an empty claim).
    pub fn one(text: &str) -> Option<Self> {
        let text = text.trim();
        (!text.is_empty()).then(|| Self::One(text.into()))
    }

    /// A list of the items, each trimmed, empty ones dropped; `None` when no item is left.
    pub fn many<'a>(items: impl IntoIterator<Item = &'a str>) -> Option<Self> {
        let items: Box<[Box<str>]> = items
            .into_iter()
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(Into::into)
            .collect();
        (!items.is_empty()).then_some(Self::Many(items))
    }

    /// A list from its cell in a file (or the command line): the items separated by `;` (see
    /// [`Self::many`]).
    pub fn list(cell: &str) -> Option<Self> {
        Self::many(cell.split(';'))
    }

    /// How a list is written in a file or on the command line: the items joined by `;`.
    pub fn cell(&self) -> String {
        match self {
            Self::One(text) => text.to_string(),
            Self::Many(items) => items.join(";"),
        }
    }
}

/// Most bytes an invitation's claims may take as a JSON object: what Entra's custom claims
/// provider accepts in one answer.
pub const MAX_CLAIMS_BYTES: usize = 3 * 1024;

/// Claims (lower-cased) a token carries that the platform sets itself, that identify the token,
/// or that Entra will not take from a custom claims provider: an invitation cannot give them.
///
/// Entra's "JSON Web Token (JWT) restricted claim set": MicrosoftDocs/entra-docs,
/// `docs/identity-platform/reference-claims-mapping-policy-type.md` (page dated 2023-06-02, read
/// 2026-12-07), every name of its list, among them `roles`, `role`, `email`, `groups`,
/// `hasgroups`, `cnf`, `nickname`, `username` and `scope`; and "any claim starting with `xms_`"
/// ([`RESERVED_PREFIXES`]). Until a tenant shows that a custom claims provider can set `roles`, it
/// is refused here: name application roles otherwise (`app_roles`). Besides: `name`, which every
/// token carries, and Azure AD B2C's own claims in its tokens, `emails`, `objectId`, `tfp`,
/// `newUser`.
const RESERVED_CLAIMS: &[&str] = &[
    "_claim_names",
    "_claim_sources",
    "aai",
    "access_token",
    "account_type",
    "acct",
    "acr",
    "acrs",
    "actor",
    "actortoken",
    "agegroup",
    "aio",
    "altsecid",
    "amr",
    "app_chain",
    "app_displayname",
    "app_res",
    "appctx",
    "appctxsender",
    "appid",
    "appidacr",
    "assertion",
    "at_hash",
    "aud",
    "auth_data",
    "auth_time",
    "authorization_code",
    "azp",
    "azpacr",
    "bk_claim",
    "bk_enclave",
    "bk_pub",
    "brk_client_id",
    "brk_redirect_uri",
    "c_hash",
    "ca_enf",
    "ca_policy_result",
    "capolids",
    "capolids_latebind",
    "cc",
    "cert_token_use",
    "child_client_id",
    "child_redirect_uri",
    "client_id",
    "client_ip",
    "cloud_graph_host_name",
    "cloud_instance_host_name",
    "cloud_instance_name",
    "cloudassignedmdmid",
    "cnf",
    "code",
    "controls",
    "controls_auds",
    "credential_keys",
    "csr",
    "csr_type",
    "ctry",
    "deviceid",
    "dns_names",
    "domain_dns_name",
    "domain_netbios_name",
    "e_exp",
    "email",
    "emails",
    "endpoint",
    "enfpolids",
    "exp",
    "expires_on",
    "fido_auth_data",
    "fido_ver",
    "fwd",
    "fwd_appidacr",
    "grant_type",
    "graph",
    "group_sids",
    "groups",
    "hasgroups",
    "hash_alg",
    "haswids",
    "home_oid",
    "home_puid",
    "home_tid",
    "iat",
    "identityprovider",
    "idp",
    "idtyp",
    "in_corp",
    "instance",
    "inviteticket",
    "ipaddr",
    "isbrowserhostedapp",
    "iss",
    "isviral",
    "jwk",
    "key_id",
    "key_type",
    "login_hint",
    "mam_compliance_url",
    "mam_enrollment_url",
    "mam_terms_of_use_url",
    "mdm_compliance_url",
    "mdm_enrollment_url",
    "mdm_terms_of_use_url",
    "msgraph_host",
    "msproxy",
    "name",
    "nameid",
    "nbf",
    "netbios_name",
    "newuser",
    "nickname",
    "nonce",
    "objectid",
    "oid",
    "on_prem_id",
    "onprem_sam_account_name",
    "onprem_sid",
    "openid2_id",
    "origin_header",
    "password",
    "platf",
    "polids",
    "pop_jwk",
    "preferred_username",
    "previous_refresh_token",
    "primary_sid",
    "prov_data",
    "puid",
    "pwd_exp",
    "pwd_url",
    "rdp_bt",
    "redirect_uri",
    "refresh_token",
    "refresh_token_issued_on",
    "refreshtoken",
    "request_nonce",
    "resource",
    "rh",
    "role",
    "roles",
    "rp_id",
    "rt_type",
    "scope",
    "scp",
    "secaud",
    "sid",
    "signature",
    "signin_state",
    "source_anchor",
    "src1",
    "src2",
    "sub",
    "target_deviceid",
    "tbid",
    "tbidv2",
    "tenant_ctry",
    "tenant_display_name",
    "tenant_id",
    "tenant_region_scope",
    "tenant_region_sub_scope",
    "tfp",
    "thumbnail_photo",
    "tid",
    "tokenautologonenabled",
    "trustedfordelegation",
    "ttr",
    "unique_name",
    "upn",
    "user_agent",
    "user_setting_sync_url",
    "username",
    "uti",
    "ver",
    "verified_primary_email",
    "verified_secondary_email",
    "vnet",
    "vsm_binding_key",
    "wamcompat_client_info",
    "wamcompat_id_token",
    "wamcompat_scopes",
    "wids",
    "win_ver",
    "x5c_ca",
    "xcb2b_rclient",
    "xcb2b_rcloud",
    "xcb2b_rtenant",
    "ztdid",
];

/// Name prefixes of the restricted set: every `xms_*` claim, and `extn.` ("extn. as prefix").
const RESERVED_PREFIXES: &[&str] = &["xms_", "extn."];

/// Why a claim cannot be kept; for files, tables and the CLI (never a user).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidClaim {
    #[error(
        "{0:?} is not a claim name (1 to 100 letters, digits, '_', '-' or '.', starting with a letter)"
    )]
    Name(String),
    #[error(
        "{0} is a claim the platform sets itself or will not take from an extension; an invitation cannot give it \
         (for application roles use another name, such as app_roles)"
    )]
    Reserved(String),
    #[error(
        "an item of the list claim {0} holds ',': B2C receives a list as its items joined by ',', so it would read as two items"
    )]
    Comma(String),
    #[error("claim {0} is given twice (names are compared in any case)")]
    Twice(String),
    #[error(
        "the invitation's claims take {0} bytes as JSON; a token takes at most {MAX_CLAIMS_BYTES}"
    )]
    TooLarge(usize),
}

/// Checks a claim's name as every store must before keeping it.
pub fn check_claim_name(name: &str) -> Result<(), InvalidClaim> {
    let shaped = (1..=100).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if !shaped {
        return Err(InvalidClaim::Name(name.to_owned()));
    }
    let lower = name.to_ascii_lowercase();
    if RESERVED_CLAIMS.contains(&lower.as_str())
        || RESERVED_PREFIXES
            .iter()
            .any(|prefix| lower.starts_with(prefix))
    {
        return Err(InvalidClaim::Reserved(name.to_owned()));
    }
    Ok(())
}

/// Checks an invitation's claims together: each name, no name twice, at most
/// [`MAX_CLAIMS_BYTES`] as JSON.
pub fn check_claims(claims: &[InvitationClaim]) -> Result<(), InvalidClaim> {
    for (index, claim) in claims.iter().enumerate() {
        check_claim_name(&claim.name)?;
        if let ClaimValue::Many(items) = &claim.value
            && items.iter().any(|item| item.contains(','))
        {
            return Err(InvalidClaim::Comma(claim.name.to_string()));
        }
        if claims[..index]
            .iter()
            .any(|other| other.name.eq_ignore_ascii_case(&claim.name))
        {
            return Err(InvalidClaim::Twice(claim.name.to_string()));
        }
    }
    let size = serde_json::Value::Object(claims_json(claims))
        .to_string()
        .len();
    if size > MAX_CLAIMS_BYTES {
        return Err(InvalidClaim::TooLarge(size));
    }
    Ok(())
}

/// Claims as the JSON object a token gets.
pub fn claims_json(claims: &[InvitationClaim]) -> serde_json::Map<String, serde_json::Value> {
    claims
        .iter()
        .map(|claim| (claim.name.to_string(), claim.value.json()))
        .collect()
}

/// An attribute value carried by an invitation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationAttribute {
    /// Shared by every invitation that has the attribute (one per file column).
    pub name: Arc<str>,
    /// The value as text; it fits `kind` (checked when written and when loaded).
    pub value: Box<str>,
    /// Imposed at submit (`!name` column) instead of only prefilled.
    pub enforced: bool,
    /// The JSON type the value is sent in where the request does not show the attribute's type.
    pub kind: ValueType,
}

/// The JSON type of an attribute's value. Entra requires each attribute's own type, and a
/// Start request often lists only the e-mail attribute, so an invitation can declare it
/// (`name:int` in a file header); the type the request shows still wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ValueType {
    #[default]
    String,
    /// A whole number (Entra's `int` attributes).
    Integer,
    /// `true` or `false` (Entra's `boolean` attributes).
    Boolean,
}

impl ValueType {
    /// The type's name as written after the attribute's name (`string`, `int`, `boolean`).
    pub(crate) fn parse(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "string" => Some(Self::String),
            "int" => Some(Self::Integer),
            "boolean" => Some(Self::Boolean),
            _ => None,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Integer => "int",
            Self::Boolean => "boolean",
        }
    }

    /// `value` as JSON of this type; `None` when it cannot take the type.
    pub(crate) fn json(self, value: &str) -> Option<serde_json::Value> {
        match self {
            Self::String => Some(serde_json::Value::from(value)),
            Self::Integer => value
                .trim()
                .parse::<i64>()
                .ok()
                .map(serde_json::Value::from),
            Self::Boolean => match value.trim().to_ascii_lowercase().as_str() {
                "true" => Some(serde_json::Value::Bool(true)),
                "false" => Some(serde_json::Value::Bool(false)),
                _ => None,
            },
        }
    }

    /// What the type is called in an error: `text`, `a whole number (it is declared int)`.
    fn described(self) -> &'static str {
        match self {
            Self::String => "text",
            Self::Integer => "a whole number (it is declared int)",
            Self::Boolean => "true or false (it is declared boolean)",
        }
    }
}

/// Why an attribute cannot be kept; for files, tables and the CLI (never a user).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum InvalidAttribute {
    #[error("{0:?} is not an attribute name (letters, digits and '_', starting with a letter)")]
    Name(String),
    #[error(
        "the value of {name} is {length} characters long; the directory takes at most {MAX_ATTRIBUTE_CHARS}"
    )]
    TooLong { name: String, length: usize },
    #[error("the value {value:?} of {name} is not {}", kind.described())]
    Type {
        name: String,
        value: String,
        kind: ValueType,
    },
}

/// Longest attribute value, in characters: what the directory stores (B2C: 250 for any string
/// attribute), so that nothing longer is forwarded to Entra or B2C.
pub(crate) const MAX_ATTRIBUTE_CHARS: usize = 250;

/// Checks an attribute as every store must before keeping it: a name Entra and B2C accept
/// (letters, digits and `_`, starting with a letter), a value of at most
/// [`MAX_ATTRIBUTE_CHARS`] that fits its declared type.
pub(crate) fn check_attribute(
    name: &str,
    value: &str,
    kind: ValueType,
) -> Result<(), InvalidAttribute> {
    if !is_attribute_name(name) {
        return Err(InvalidAttribute::Name(name.to_owned()));
    }
    let length = value.chars().count();
    if length > MAX_ATTRIBUTE_CHARS {
        return Err(InvalidAttribute::TooLong {
            name: name.to_owned(),
            length,
        });
    }
    if kind.json(value).is_none() {
        return Err(InvalidAttribute::Type {
            name: name.to_owned(),
            value: value.to_owned(),
            kind,
        });
    }
    Ok(())
}

impl InvitationAttribute {
    /// The value as JSON of its declared type (checked when it was loaded; text otherwise).
    pub(crate) fn json(&self) -> serde_json::Value {
        self.kind
            .json(&self.value)
            .unwrap_or_else(|| serde_json::Value::from(&*self.value))
    }

    /// How the attribute is named in a file header and on the command line: `!name:int`.
    pub(crate) fn column(name: &str, enforced: bool, kind: ValueType) -> String {
        let bang = if enforced { "!" } else { "" };
        match kind {
            ValueType::String => format!("{bang}{name}"),
            kind => format!("{bang}{name}:{}", kind.as_str()),
        }
    }
}

/// The instant an invitation stops being valid, in seconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Expiry(pub i64);

/// Why an expiry text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum InvalidExpiry {
    #[error("{0:?} is not an RFC 3339 date (2026-12-31) or date-time (2026-12-31T18:00:00Z)")]
    Format(String),
    #[error("{0:?} is outside the years 0000 to 9999 once converted to UTC")]
    OutOfRange(String),
}

impl Expiry {
    /// `2026-12-31` (midnight UTC at the start of that day) or an RFC 3339 date-time with offset.
    ///
    /// The instant must be writable back in the same form, which needs a year from 0000 to
    /// 9999 in UTC: `9999-12-31T23:59:59-05:00` is in the year 10000 there, and a value that
    /// cannot be written back would leave a file or table that nothing can read.
    pub(crate) fn parse(text: &str) -> Result<Self, InvalidExpiry> {
        let text = text.trim();
        let invalid = || InvalidExpiry::Format(text.to_owned());
        let expiry = if text.len() == 10 {
            let date = Date::parse(text, format_description!("[year]-[month]-[day]"))
                .map_err(|_| invalid())?;
            Self(date.midnight().assume_utc().unix_timestamp())
        } else {
            Self(
                OffsetDateTime::parse(text, &Rfc3339)
                    .map_err(|_| invalid())?
                    .unix_timestamp(),
            )
        };
        match expiry.written() {
            Some(written) if Self::parse_written(&written) == Some(expiry) => Ok(expiry),
            _ => Err(InvalidExpiry::OutOfRange(text.to_owned())),
        }
    }

    /// Reads back what [`Self::written`] wrote, without the range check (which it passed).
    fn parse_written(text: &str) -> Option<Self> {
        if text.len() == 10 {
            let date = Date::parse(text, format_description!("[year]-[month]-[day]")).ok()?;
            return Some(Self(date.midnight().assume_utc().unix_timestamp()));
        }
        Some(Self(
            OffsetDateTime::parse(text, &Rfc3339).ok()?.unix_timestamp(),
        ))
    }

    /// The form it is written in: a date when it is midnight UTC, otherwise a UTC date-time;
    /// `None` when the instant has no such form (outside the years 0000 to 9999 in UTC).
    fn written(self) -> Option<String> {
        let instant = OffsetDateTime::from_unix_timestamp(self.0).ok()?;
        if instant.time() == Time::MIDNIGHT {
            instant
                .date()
                .format(format_description!("[year]-[month]-[day]"))
                .ok()
        } else {
            instant.format(&Rfc3339).ok()
        }
    }

    pub(crate) fn has_passed(self, now: i64) -> bool {
        now >= self.0
    }
}

/// Written back as it is best read: a date when it is midnight UTC, otherwise a UTC date-time.
/// (Every parsed expiry has such a form; the seconds are shown for one built otherwise.)
impl fmt::Display for Expiry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.written() {
            Some(text) => f.write_str(&text),
            None => write!(f, "@{}", self.0),
        }
    }
}

/// A name Entra and B2C accept for an attribute: letters, digits and `_`, starting with a
/// letter (built-in names like `displayName`, custom ones like `extension_<app>_Team`).
pub(crate) fn is_attribute_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Seconds since the Unix epoch now.
pub(crate) fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(name: &str, value: ClaimValue) -> InvitationClaim {
        InvitationClaim {
            name: name.into(),
            value,
        }
    }

    #[test]
    fn claims_are_checked_by_name_and_size() {
        let one = |text: &str| ClaimValue::One(text.into());
        assert_eq!(check_claims(&[claim("department", one("Ops"))]), Ok(()));
        assert_eq!(
            ClaimValue::list(" Pilot; Dispatcher ;;"),
            Some(ClaimValue::Many(
                vec!["Pilot".into(), "Dispatcher".into()].into()
            ))
        );
        assert_eq!(ClaimValue::list(" ; "), None);
        for (name, error) in [
            ("", InvalidClaim::Name(String::new())),
            ("1st", InvalidClaim::Name("1st".to_owned())),
            ("a b", InvalidClaim::Name("a b".to_owned())),
            ("Tid", InvalidClaim::Reserved("Tid".to_owned())),
            ("oid", InvalidClaim::Reserved("oid".to_owned())),
            ("roles", InvalidClaim::Reserved("roles".to_owned())),
            ("Email", InvalidClaim::Reserved("Email".to_owned())),
            (
                "xms_anything",
                InvalidClaim::Reserved("xms_anything".to_owned()),
            ),
            ("newUser", InvalidClaim::Reserved("newUser".to_owned())),
        ] {
            assert_eq!(check_claim_name(name), Err(error), "{name:?}");
        }
        assert_eq!(check_claim_name("app_roles"), Ok(()));
        assert_eq!(
            check_claims(&[claim("x", one("1")), claim("X", one("2"))]),
            Err(InvalidClaim::Twice("X".to_owned()))
        );
        let list = |items: &[&str]| ClaimValue::Many(items.iter().map(|i| (*i).into()).collect());
        assert_eq!(
            check_claims(&[claim("app_roles", list(&["Read,Write", "Admin"]))]),
            Err(InvalidClaim::Comma("app_roles".to_owned()))
        );
        assert_eq!(
            check_claims(&[claim("department", one("Ops, North"))]),
            Ok(()),
            "a single value may hold a comma"
        );
        let big = [claim("big", one(&"x".repeat(MAX_CLAIMS_BYTES)))];
        assert_eq!(
            check_claims(&big),
            Err(InvalidClaim::TooLarge(MAX_CLAIMS_BYTES + 10))
        );
    }

    #[test]
    fn dates_and_date_times_round_trip() {
        let date = Expiry::parse("2026-12-31").unwrap();
        assert_eq!(date.to_string(), "2026-12-31");
        assert_eq!(date.0, 1_798_675_200);
        let instant = Expiry::parse("2026-12-31T18:30:00+01:00").unwrap();
        assert_eq!(instant.to_string(), "2026-12-31T17:30:00Z");
        assert_eq!(Expiry::parse(" 2026-12-31T00:00:00Z ").unwrap(), date);
    }

    #[test]
    fn instants_that_cannot_be_written_back_are_refused() {
        for text in ["9999-12-31T23:59:59-05:00", "0000-01-01T00:30:00+01:00"] {
            assert_eq!(
                Expiry::parse(text),
                Err(InvalidExpiry::OutOfRange(text.to_owned()))
            );
        }
        for text in [
            "9999-12-31T23:59:59Z",
            "0000-01-01T00:30:00Z",
            "9999-12-31",
            "0000-01-01",
        ] {
            let expiry = Expiry::parse(text).unwrap();
            assert_eq!(Expiry::parse(&expiry.to_string()), Ok(expiry), "{text}");
        }
    }

    #[test]
    fn other_texts_are_refused() {
        for text in [
            "",
            "31/12/2026",
            "2026-13-01",
            "2026-12-31T18:30:00",
            "tomorrow",
            "2026-02-30",
        ] {
            assert!(Expiry::parse(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn an_expiry_passes_at_its_instant() {
        let expiry = Expiry(100);
        assert!(!expiry.has_passed(99));
        assert!(expiry.has_passed(100));
    }
}
