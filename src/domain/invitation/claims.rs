//! The claims an invitation gives the tokens of its user: names (never one the platform sets, or
//! one Entra will not take from an extension), values (text or lists of text), and their size.

use std::sync::Arc;

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
}
