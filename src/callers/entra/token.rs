//! An Entra caller token, checked: a compact JWS whose header says RS256 (no `crit`), signed by
//! the key its `kid` names, current (`exp`/`nbf`, 5 minutes of leeway), for our extension app
//! (`aud`), obtained by the authentication events service (`azp`/`appid`), and issued by our
//! tenant (`tid` and `iss` in any of the issuer forms Entra uses). The claim checks are shared
//! with Easy Auth.

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use ring::signature::{RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
use serde::Deserialize;
use serde_json::Value;
use warp::http::HeaderValue;

use super::signing_key::SigningKey;
use crate::callers::json::json_object;

/// The application id of the Entra authentication events service, which obtains the tokens.
pub const AUTHENTICATION_EVENTS_APP_ID: &str = "99045fe1-7639-4a75-9d4a-577b6ca3810f";
/// Clock skew tolerated on `exp` and `nbf`.
const LEEWAY_SECONDS: f64 = 300.0;
/// JWTs are base64url without padding; padding is tolerated.
pub(super) const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The check a token failed; named in the log line, never in the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenFailure {
    Missing,
    NotBearer,
    Malformed,
    Algorithm,
    Kid,
    KeysUnavailable,
    Signature,
    /// The header lists extensions that must be understood (`crit`, RFC 7515 section 4.1.11);
    /// we understand none.
    Critical,
    Expired,
    NotYetValid,
    Audience,
    AuthorizedParty,
    Tenant,
    Issuer,
    /// Easy Auth: the principal came from another identity provider.
    IdentityProvider,
    /// The token check is on but its settings are missing: every call is refused.
    NotConfigured,
}

impl TokenFailure {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Missing => "token_missing",
            Self::NotBearer => "authorization_not_bearer",
            Self::Malformed => "token_malformed",
            Self::Algorithm => "alg",
            Self::Kid => "kid",
            Self::KeysUnavailable => "keys_unavailable",
            Self::Signature => "signature",
            Self::Critical => "crit",
            Self::Expired => "exp",
            Self::NotYetValid => "nbf",
            Self::Audience => "aud",
            Self::AuthorizedParty => "azp",
            Self::Tenant => "tid",
            Self::Issuer => "iss",
            Self::IdentityProvider => "idp",
            Self::NotConfigured => "token_validation_not_configured",
        }
    }
}

/// The claims every check needs; the rest of the token is ignored.
#[derive(Debug, Default, Deserialize)]
pub struct CallerClaims {
    /// Expiry and not-before, seconds since the epoch (numbers; fractions tolerated). Absent is
    /// `None`; present, each must be a number: `"nbf": null` is a malformed token, not a token
    /// without a not-before.
    #[serde(default, deserialize_with = "number")]
    pub(crate) exp: Option<f64>,
    #[serde(default, deserialize_with = "number")]
    pub(crate) nbf: Option<f64>,
    #[serde(default)]
    pub(crate) aud: Audience,
    pub(crate) azp: Option<String>,
    pub(crate) appid: Option<String>,
    pub(crate) tid: Option<String>,
    pub(crate) iss: Option<String>,
}

/// A time claim that is present: a number, never `null` (RFC 7519's NumericDate).
fn number<'de, D: serde::Deserializer<'de>>(value: D) -> Result<Option<f64>, D::Error> {
    f64::deserialize(value).map(Some)
}

/// `aud` is a string or a list of strings.
#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn values(&self) -> &[String] {
        match self {
            Self::None => &[],
            Self::One(one) => std::slice::from_ref(one),
            Self::Many(many) => many,
        }
    }
}

/// The checks on claims shared by the in-process validation and Easy Auth.
pub fn check_claims(
    claims: &CallerClaims,
    tenant_id: &str,
    client_id: &str,
) -> Result<(), TokenFailure> {
    let for_us = |aud: &String| {
        aud.eq_ignore_ascii_case(client_id)
            || strip_prefix_ignore_ascii_case(aud, "api://").is_some_and(|uri| {
                !uri.is_empty()
                    && uri
                        .rsplit_once('/')
                        .is_some_and(|(_, last)| last.eq_ignore_ascii_case(client_id))
            })
    };
    if !claims.aud.values().iter().any(for_us) {
        return Err(TokenFailure::Audience);
    }
    let party = claims.azp.as_deref().or(claims.appid.as_deref());
    if !party.is_some_and(|party| party.eq_ignore_ascii_case(AUTHENTICATION_EVENTS_APP_ID)) {
        return Err(TokenFailure::AuthorizedParty);
    }
    if !claims
        .tid
        .as_deref()
        .is_some_and(|tid| tid.eq_ignore_ascii_case(tenant_id))
    {
        return Err(TokenFailure::Tenant);
    }
    if !claims
        .iss
        .as_deref()
        .is_some_and(|iss| is_tenant_issuer(iss, tenant_id))
    {
        return Err(TokenFailure::Issuer);
    }
    Ok(())
}

/// `text` without `prefix`, matched in any ASCII case; never splits a character (the text is the
/// caller's: `abcdeé...` must not panic where `api://` would end).
fn strip_prefix_ignore_ascii_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| text.get(prefix.len()..))
        .flatten()
}

/// The issuer forms seen in real tokens for tenant `T`: `https://T.ciamlogin.com/T/v2.0`,
/// `https://<subdomain>.ciamlogin.com/T/v2.0`, `https://login.microsoftonline.com/T/v2.0` and
/// (v1) `https://sts.windows.net/T/`.
pub(crate) fn is_tenant_issuer(issuer: &str, tenant_id: &str) -> bool {
    let issuer = issuer.to_ascii_lowercase();
    let tenant = tenant_id.to_ascii_lowercase();
    if issuer == format!("https://login.microsoftonline.com/{tenant}/v2.0")
        || issuer == format!("https://sts.windows.net/{tenant}/")
    {
        return true;
    }
    let Some(rest) = issuer.strip_prefix("https://") else {
        return false;
    };
    let Some((host, path)) = rest.split_once('/') else {
        return false;
    };
    let subdomain_ok = host.strip_suffix(".ciamlogin.com").is_some_and(|sub| {
        !sub.is_empty() && sub.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    subdomain_ok && path == format!("{tenant}/v2.0")
}

/// `Bearer <token>` → the token.
pub(crate) fn bearer(header: Option<&HeaderValue>) -> Result<&str, TokenFailure> {
    let header = header.ok_or(TokenFailure::Missing)?;
    let header = header.to_str().map_err(|_| TokenFailure::NotBearer)?.trim();
    let (scheme, token) = header.split_once(' ').ok_or(TokenFailure::NotBearer)?;
    if !scheme.eq_ignore_ascii_case("Bearer") {
        return Err(TokenFailure::NotBearer);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(TokenFailure::Missing);
    }
    Ok(token)
}

/// A compact JWS from an `Authorization: Bearer` header, split and decoded, whose header says
/// RS256 and names a key. Nothing of the payload is trusted before [`SignedToken::verify`].
pub struct SignedToken<'t> {
    kid: String,
    signed: &'t [u8],
    signature: Vec<u8>,
    payload: Vec<u8>,
}

impl<'t> SignedToken<'t> {
    pub fn from_header(authorization: Option<&'t HeaderValue>) -> Result<Self, TokenFailure> {
        Self::parse(bearer(authorization)?)
    }

    pub(crate) fn parse(token: &'t str) -> Result<Self, TokenFailure> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenFailure::Malformed);
        };
        let decode = |part: &str| BASE64URL.decode(part).map_err(|_| TokenFailure::Malformed);
        let header: Value =
            serde_json::from_slice(&decode(header)?).map_err(|_| TokenFailure::Malformed)?;
        // Only RS256: `none`, HMAC (the public key as a shared secret) and the rest are refused
        // before any key is touched.
        if header.get("alg").and_then(Value::as_str) != Some("RS256") {
            return Err(TokenFailure::Algorithm);
        }
        // A recipient must refuse a token whose `crit` names an extension it does not
        // understand (RFC 7515 section 4.1.11); this one understands none, so any `crit` is
        // refused, as is a malformed one.
        if header.get("crit").is_some() {
            return Err(TokenFailure::Critical);
        }
        let kid = header
            .get("kid")
            .and_then(Value::as_str)
            .ok_or(TokenFailure::Kid)?;
        Ok(Self {
            kid: kid.to_owned(),
            signed: &token.as_bytes()[..token.len() - signature.len() - 1],
            signature: decode(signature)?,
            payload: decode(payload)?,
        })
    }

    /// The key the token says it was signed with.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Checks the signature with `key`, then (only then) the payload's times and claims; on
    /// success, until when the token passes the time check (`exp` plus the leeway).
    pub fn verify(
        &self,
        key: &SigningKey,
        tenant_id: &str,
        client_id: &str,
        now: f64,
    ) -> Result<f64, TokenFailure> {
        RsaPublicKeyComponents {
            n: key.modulus(),
            e: key.exponent(),
        }
        .verify(&RSA_PKCS1_2048_8192_SHA256, self.signed, &self.signature)
        .map_err(|_| TokenFailure::Signature)?;
        check_payload(&self.payload, tenant_id, client_id, now)
    }
}

/// The checks on a signed token's payload (times, then claims); on success, until when the
/// token passes the time check. Public so that a fuzz target reaches them with any payload:
/// behind a real signature the fuzzer never gets this far.
pub fn check_payload(
    payload: &[u8],
    tenant_id: &str,
    client_id: &str,
    now: f64,
) -> Result<f64, TokenFailure> {
    let claims =
        CallerClaims::deserialize(&json_object(payload)?).map_err(|_| TokenFailure::Malformed)?;
    let valid_until = check_times(&claims, now)?;
    check_claims(&claims, tenant_id, client_id)?;
    Ok(valid_until)
}

/// `exp` is required and may be `LEEWAY_SECONDS` past; `nbf`, when present, may be that far
/// ahead. On success, the last moment the token passes: `exp` plus the leeway.
fn check_times(claims: &CallerClaims, now: f64) -> Result<f64, TokenFailure> {
    let valid_until = match claims.exp {
        Some(exp) if now <= exp + LEEWAY_SECONDS => exp + LEEWAY_SECONDS,
        _ => return Err(TokenFailure::Expired),
    };
    if claims.nbf.is_some_and(|nbf| now + LEEWAY_SECONDS < nbf) {
        return Err(TokenFailure::NotYetValid);
    }
    Ok(valid_until)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TENANT: &str = "aaaabbbb-0000-cccc-1111-dddd2222eeee";
    const CLIENT: &str = "11112222-bbbb-3333-cccc-4444dddd5555";

    fn claims(
        aud: &str,
        azp: Option<&str>,
        appid: Option<&str>,
        tid: &str,
        iss: &str,
    ) -> CallerClaims {
        CallerClaims {
            exp: None,
            nbf: None,
            aud: Audience::One(aud.to_owned()),
            azp: azp.map(str::to_owned),
            appid: appid.map(str::to_owned),
            tid: Some(tid.to_owned()),
            iss: Some(iss.to_owned()),
        }
    }

    fn v2(iss: &str) -> CallerClaims {
        claims(
            CLIENT,
            Some(AUTHENTICATION_EVENTS_APP_ID),
            None,
            TENANT,
            iss,
        )
    }

    #[test]
    fn accepts_every_issuer_form_of_the_tenant() {
        for iss in [
            format!("https://{TENANT}.ciamlogin.com/{TENANT}/v2.0"),
            format!("https://contoso.ciamlogin.com/{TENANT}/v2.0"),
            format!("https://login.microsoftonline.com/{TENANT}/v2.0"),
            format!("https://sts.windows.net/{TENANT}/"),
            format!(
                "HTTPS://Contoso.CIAMLOGIN.com/{}/v2.0",
                TENANT.to_uppercase()
            ),
        ] {
            assert_eq!(check_claims(&v2(&iss), TENANT, CLIENT), Ok(()), "{iss}");
        }
    }

    #[test]
    fn refuses_other_issuers() {
        let other = "99999999-0000-cccc-1111-dddd2222eeee";
        for iss in [
            format!("https://{other}.ciamlogin.com/{other}/v2.0"),
            format!("https://contoso.ciamlogin.com/{other}/v2.0"),
            format!("https://evil.example/{TENANT}/v2.0"),
            format!("https://ciamlogin.com.evil.example/{TENANT}/v2.0"),
            format!("https://a.b.ciamlogin.com.evil/{TENANT}/v2.0"),
            format!("http://login.microsoftonline.com/{TENANT}/v2.0"),
            format!("https://login.microsoftonline.com/{TENANT}/v2.0/extra"),
            format!("https://sts.windows.net/{TENANT}"),
        ] {
            assert_eq!(
                check_claims(&v2(&iss), TENANT, CLIENT),
                Err(TokenFailure::Issuer),
                "{iss}"
            );
        }
    }

    #[test]
    fn audience_may_be_the_client_id_or_an_app_id_uri() {
        let iss = format!("https://login.microsoftonline.com/{TENANT}/v2.0");
        for aud in [
            CLIENT.to_owned(),
            format!("api://contoso.azurewebsites.net/{CLIENT}"),
            format!("API://x/{}", CLIENT.to_uppercase()),
        ] {
            let c = claims(&aud, Some(AUTHENTICATION_EVENTS_APP_ID), None, TENANT, &iss);
            assert_eq!(check_claims(&c, TENANT, CLIENT), Ok(()), "{aud}");
        }
        for aud in [
            "00000003-0000-0000-c000-000000000000".to_owned(),
            format!("https://x/{CLIENT}"),
            format!("api://{CLIENT}/other"),
        ] {
            let c = claims(&aud, Some(AUTHENTICATION_EVENTS_APP_ID), None, TENANT, &iss);
            assert_eq!(
                check_claims(&c, TENANT, CLIENT),
                Err(TokenFailure::Audience),
                "{aud}"
            );
        }
        let many = CallerClaims {
            aud: Audience::Many(vec!["x".to_owned(), CLIENT.to_owned()]),
            ..v2(&iss)
        };
        assert_eq!(check_claims(&many, TENANT, CLIENT), Ok(()));
    }

    #[test]
    fn the_caller_must_be_the_authentication_events_service_of_the_tenant() {
        let iss = format!("https://sts.windows.net/{TENANT}/");
        let v1 = claims(
            CLIENT,
            None,
            Some(AUTHENTICATION_EVENTS_APP_ID),
            TENANT,
            &iss,
        );
        assert_eq!(check_claims(&v1, TENANT, CLIENT), Ok(()));
        let stranger = claims(CLIENT, Some(CLIENT), None, TENANT, &iss);
        assert_eq!(
            check_claims(&stranger, TENANT, CLIENT),
            Err(TokenFailure::AuthorizedParty)
        );
        let nobody = claims(CLIENT, None, None, TENANT, &iss);
        assert_eq!(
            check_claims(&nobody, TENANT, CLIENT),
            Err(TokenFailure::AuthorizedParty)
        );
        let other_tenant = claims(
            CLIENT,
            Some(AUTHENTICATION_EVENTS_APP_ID),
            None,
            CLIENT,
            &iss,
        );
        assert_eq!(
            check_claims(&other_tenant, TENANT, CLIENT),
            Err(TokenFailure::Tenant)
        );
    }

    #[test]
    fn times_allow_five_minutes_of_skew() {
        let at = |exp: Option<f64>, nbf: Option<f64>| CallerClaims {
            exp,
            nbf,
            ..CallerClaims::default()
        };
        assert_eq!(check_times(&at(Some(1000.0), None), 1300.0), Ok(1300.0));
        assert_eq!(
            check_times(&at(Some(1000.0), None), 1300.5),
            Err(TokenFailure::Expired)
        );
        assert_eq!(
            check_times(&at(None, None), 0.0),
            Err(TokenFailure::Expired)
        );
        assert_eq!(
            check_times(&at(Some(5000.0), Some(1300.0)), 1000.0),
            Ok(5300.0)
        );
        assert_eq!(
            check_times(&at(Some(5000.0), Some(1301.0)), 1000.0),
            Err(TokenFailure::NotYetValid)
        );
    }

    #[test]
    fn a_time_claim_that_is_present_must_be_a_number() {
        let payload = |times: &str| {
            format!(
                r#"{{"aud":"{CLIENT}","azp":"{AUTHENTICATION_EVENTS_APP_ID}","tid":"{TENANT}","iss":"https://login.microsoftonline.com/{TENANT}/v2.0"{times}}}"#
            )
        };
        let check = |times: &str| check_payload(payload(times).as_bytes(), TENANT, CLIENT, 1000.0);
        assert_eq!(check(r#","exp":2000"#), Ok(2300.0));
        assert_eq!(check(r#","exp":2000,"nbf":900"#), Ok(2300.0));
        assert_eq!(check(""), Err(TokenFailure::Expired));
        // Found by the caller_claims fuzz target: a null not-before was read as none at all.
        assert_eq!(
            check(r#","exp":2000,"nbf":null"#),
            Err(TokenFailure::Malformed)
        );
        assert_eq!(check(r#","exp":null"#), Err(TokenFailure::Malformed));
        assert_eq!(
            check(r#","exp":2000,"nbf":"900""#),
            Err(TokenFailure::Malformed)
        );
    }

    #[test]
    fn a_claims_set_is_one_json_object_read_whole() {
        let good = format!(
            r#"{{"aud":"{CLIENT}","azp":"{AUTHENTICATION_EVENTS_APP_ID}","tid":"{TENANT}","iss":"https://sts.windows.net/{TENANT}/","exp":2000"#
        );
        let check = |payload: String| check_payload(payload.as_bytes(), TENANT, CLIENT, 1000.0);
        assert_eq!(check(format!("{good}}}")), Ok(2300.0));
        // Found by the caller_claims fuzz target: members the checks ignore were skipped
        // unchecked, and an array was read as an object with its fields in order.
        for ignored in [r#""x":1e400"#, r#""x":"\ud800""#] {
            assert_eq!(
                check(format!("{good},{ignored}}}")),
                Err(TokenFailure::Malformed),
                "{ignored}"
            );
        }
        let deep = format!("{good},\"x\":{}{}}}", "[".repeat(200), "]".repeat(200));
        assert_eq!(check(deep), Err(TokenFailure::Malformed));
        // A claim named twice, another tenant first and ours last, means two things: a reader
        // into a map keeps the last. (Found reviewing the change above.)
        for first in [format!(r#""tid":"{CLIENT}""#), r#""exp":1"#.to_owned()] {
            let twice = format!("{{{first},{}}}", &good[1..]);
            assert_eq!(check(twice), Err(TokenFailure::Malformed), "{first}");
        }
        let array = format!(
            r#"[2000,null,"{CLIENT}","{AUTHENTICATION_EVENTS_APP_ID}",null,"{TENANT}","https://sts.windows.net/{TENANT}/"]"#
        );
        assert_eq!(check(array), Err(TokenFailure::Malformed));
    }

    #[test]
    fn compact_tokens_have_three_parts_an_rs256_header_and_a_kid() {
        assert!(SignedToken::parse("a.b").is_err());
        assert!(SignedToken::parse("a.b.c.d").is_err());
        let header = BASE64URL.encode(br#"{"alg":"RS256","kid":"k"}"#);
        let token = format!("{header}.e30.AAAA");
        let parsed = SignedToken::parse(&token).unwrap();
        assert_eq!(parsed.kid(), "k");
        assert_eq!(parsed.signed, format!("{header}.e30").as_bytes());
        assert_eq!(parsed.payload, b"{}");
        let failure = |header: &[u8]| {
            SignedToken::parse(&format!("{}.e30.AAAA", BASE64URL.encode(header))).err()
        };
        assert_eq!(failure(br#"{"kid":"k"}"#), Some(TokenFailure::Algorithm));
        assert_eq!(
            failure(br#"{"alg":"HS256","kid":"k"}"#),
            Some(TokenFailure::Algorithm)
        );
        assert_eq!(failure(br#"{"alg":"RS256"}"#), Some(TokenFailure::Kid));
    }

    #[test]
    fn bearer_headers() {
        let value = |text: &str| HeaderValue::from_str(text).unwrap();
        assert_eq!(bearer(Some(&value("Bearer abc"))), Ok("abc"));
        assert_eq!(bearer(Some(&value("bearer  abc "))), Ok("abc"));
        assert_eq!(bearer(None), Err(TokenFailure::Missing));
        assert_eq!(
            bearer(Some(&value("Bearer "))),
            Err(TokenFailure::NotBearer)
        );
        assert_eq!(
            bearer(Some(&value("Basic abc"))),
            Err(TokenFailure::NotBearer)
        );
        assert_eq!(
            bearer(Some(&HeaderValue::from_bytes(b"Bearer \xff").unwrap())),
            Err(TokenFailure::NotBearer)
        );
    }
}
