//! Easy Auth (App Service authentication): the platform validates the caller's token and passes
//! its claims in `X-MS-CLIENT-PRINCIPAL` (base64 JSON). These headers are trustworthy only when
//! Easy Auth is really enabled, which the settings insist on (`WEBSITE_AUTH_ENABLED=True`); the
//! claims are then checked exactly as an in-process token's.

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde_json::Value;
use warp::http::HeaderValue;

use super::entra::{Audience, CallerClaims, TokenFailure, check_claims};
use super::json::json_object;

const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// `{"auth_typ": ..., "claims": [{"typ": ..., "val": ...}], ...}`: the claims, each an object
/// with a text `typ` and `val`; anything else is a malformed principal.
fn principal_claims(principal: &Value) -> Result<Vec<(&str, &str)>, TokenFailure> {
    let claims = match principal.get("claims") {
        None => return Ok(Vec::new()),
        Some(Value::Array(claims)) => claims,
        Some(_) => return Err(TokenFailure::Malformed),
    };
    claims
        .iter()
        .map(|claim| match (claim.get("typ"), claim.get("val")) {
            (Some(Value::String(typ)), Some(Value::String(val))) if claim.is_object() => {
                Ok((typ.as_str(), val.as_str()))
            }
            _ => Err(TokenFailure::Malformed),
        })
        .collect()
}

/// Claim types as Easy Auth may name them: short JWT names or the long URIs of the
/// WS-Federation era.
const AUDIENCE: &[&str] = &["aud"];
const AUTHORIZED_PARTY: &[&str] = &["azp"];
const APP_ID: &[&str] = &[
    "appid",
    "http://schemas.microsoft.com/identity/claims/appid",
];
const TENANT: &[&str] = &[
    "tid",
    "http://schemas.microsoft.com/identity/claims/tenantid",
];
const ISSUER: &[&str] = &[
    "iss",
    "http://schemas.microsoft.com/identity/claims/identityprovider",
];

/// Checks the principal Easy Auth forwarded (`X-MS-CLIENT-PRINCIPAL`, and the identity provider
/// in `X-MS-CLIENT-PRINCIPAL-IDP`).
pub fn verify(
    principal: Option<&HeaderValue>,
    idp: Option<&HeaderValue>,
    tenant_id: &str,
    client_id: &str,
) -> Result<(), TokenFailure> {
    if let Some(idp) = idp {
        let idp = idp.to_str().map_err(|_| TokenFailure::IdentityProvider)?;
        if !idp.trim().eq_ignore_ascii_case("aad") {
            return Err(TokenFailure::IdentityProvider);
        }
    }
    let encoded = principal.ok_or(TokenFailure::Missing)?;
    let decoded = BASE64
        .decode(encoded.as_bytes().trim_ascii())
        .map_err(|_| TokenFailure::Malformed)?;
    let principal = json_object(&decoded)?;
    let principal = principal_claims(&principal)?;
    let all = |types: &[&str]| -> Vec<String> {
        principal
            .iter()
            .filter(|(typ, _)| types.iter().any(|t| typ.eq_ignore_ascii_case(t)))
            .map(|(_, val)| (*val).to_owned())
            .collect()
    };
    let first = |types: &[&str]| all(types).into_iter().next();
    let claims = CallerClaims {
        aud: Audience::Many(all(AUDIENCE)),
        azp: first(AUTHORIZED_PARTY),
        appid: first(APP_ID),
        tid: first(TENANT),
        iss: first(ISSUER),
        // Easy Auth has checked the token's lifetime.
        ..CallerClaims::default()
    };
    check_claims(&claims, tenant_id, client_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use warp::http::HeaderMap;

    use crate::callers::entra::AUTHENTICATION_EVENTS_APP_ID;

    const PRINCIPAL: &str = "x-ms-client-principal";
    const PRINCIPAL_IDP: &str = "x-ms-client-principal-idp";

    fn check(headers: &HeaderMap, tenant_id: &str, client_id: &str) -> Result<(), TokenFailure> {
        verify(
            headers.get(PRINCIPAL),
            headers.get(PRINCIPAL_IDP),
            tenant_id,
            client_id,
        )
    }

    const TENANT_ID: &str = "aaaabbbb-0000-cccc-1111-dddd2222eeee";
    const CLIENT_ID: &str = "11112222-bbbb-3333-cccc-4444dddd5555";

    fn headers(claims: serde_json::Value, idp: Option<&str>) -> HeaderMap {
        let principal =
            json!({"auth_typ": "aad", "claims": claims, "name_typ": "name", "role_typ": "roles"});
        let mut headers = HeaderMap::new();
        let encoded = base64::engine::general_purpose::STANDARD.encode(principal.to_string());
        headers.insert(PRINCIPAL, HeaderValue::from_str(&encoded).unwrap());
        if let Some(idp) = idp {
            headers.insert(PRINCIPAL_IDP, HeaderValue::from_str(idp).unwrap());
        }
        headers
    }

    fn good_claims(tenant_type: &str) -> serde_json::Value {
        json!([
            {"typ": "aud", "val": CLIENT_ID},
            {"typ": "azp", "val": AUTHENTICATION_EVENTS_APP_ID},
            {"typ": tenant_type, "val": TENANT_ID},
            {"typ": "iss", "val": format!("https://login.microsoftonline.com/{TENANT_ID}/v2.0")}
        ])
    }

    #[test]
    fn accepts_short_and_long_claim_types() {
        for tenant_type in [
            "tid",
            "http://schemas.microsoft.com/identity/claims/tenantid",
        ] {
            assert_eq!(
                check(
                    &headers(good_claims(tenant_type), Some("aad")),
                    TENANT_ID,
                    CLIENT_ID
                ),
                Ok(())
            );
        }
        let long_appid = json!([
            {"typ": "aud", "val": format!("api://gate.example/{CLIENT_ID}")},
            {"typ": "http://schemas.microsoft.com/identity/claims/appid", "val": AUTHENTICATION_EVENTS_APP_ID},
            {"typ": "http://schemas.microsoft.com/identity/claims/tenantid", "val": TENANT_ID},
            {"typ": "http://schemas.microsoft.com/identity/claims/identityprovider", "val": format!("https://sts.windows.net/{TENANT_ID}/")}
        ]);
        assert_eq!(
            check(&headers(long_appid, None), TENANT_ID, CLIENT_ID),
            Ok(())
        );
    }

    #[test]
    fn refuses_missing_malformed_and_foreign_principals() {
        assert_eq!(
            check(&HeaderMap::new(), TENANT_ID, CLIENT_ID),
            Err(TokenFailure::Missing)
        );
        let mut garbage = HeaderMap::new();
        garbage.insert(PRINCIPAL, HeaderValue::from_static("%%%"));
        assert_eq!(
            check(&garbage, TENANT_ID, CLIENT_ID),
            Err(TokenFailure::Malformed)
        );
        assert_eq!(
            check(
                &headers(good_claims("tid"), Some("google")),
                TENANT_ID,
                CLIENT_ID
            ),
            Err(TokenFailure::IdentityProvider)
        );
        let mut wrong_party = good_claims("tid");
        wrong_party[1]["val"] = json!(CLIENT_ID);
        assert_eq!(
            check(&headers(wrong_party, None), TENANT_ID, CLIENT_ID),
            Err(TokenFailure::AuthorizedParty)
        );
        // Found by the caller_claims fuzz target: claims as `[typ, val]` arrays, and members
        // the check ignores that no JSON reader would take, passed.
        let encoded = |principal: &str| {
            let mut headers = HeaderMap::new();
            let value = base64::engine::general_purpose::STANDARD.encode(principal);
            headers.insert(PRINCIPAL, HeaderValue::from_str(&value).unwrap());
            headers
        };
        let pairs: Vec<serde_json::Value> = good_claims("tid")
            .as_array()
            .unwrap()
            .iter()
            .map(|claim| json!([claim["typ"], claim["val"]]))
            .collect();
        let good = json!({"claims": good_claims("tid")}).to_string();
        assert_eq!(check(&encoded(&good), TENANT_ID, CLIENT_ID), Ok(()));
        for malformed in [
            json!({ "claims": pairs }).to_string(),
            format!("[{}]", good_claims("tid")),
            format!("{},\"x\":1e400}}", good.trim_end_matches('}')),
            // Named twice: the claims of another tenant first, ours last; a value twice.
            format!(
                r#"{{"claims":[{{"typ":"tid","val":"{CLIENT_ID}"}}],{}"#,
                &good[1..]
            ),
            good.replacen(r#""val":"#, &format!(r#""val":"{CLIENT_ID}","val":"#), 1),
        ] {
            assert_eq!(
                check(&encoded(&malformed), TENANT_ID, CLIENT_ID),
                Err(TokenFailure::Malformed),
                "{malformed}"
            );
        }
        let mut wrong_tenant = good_claims("tid");
        wrong_tenant[2]["val"] = json!(CLIENT_ID);
        assert_eq!(
            check(&headers(wrong_tenant, None), TENANT_ID, CLIENT_ID),
            Err(TokenFailure::Tenant)
        );
    }
}
