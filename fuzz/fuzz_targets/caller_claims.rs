#![no_main]
//! The claim checks of the Entra functions' callers, reached without a signature: any token
//! payload (as if it had been signed) and any Easy Auth principal. Nothing panics, and a caller
//! passes only if its claims (read here apart from the product) name our tenant, our
//! application and Entra's authentication events service, and have not expired.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use signup_gate::callers::easy_auth;
use signup_gate::callers::entra::{AUTHENTICATION_EVENTS_APP_ID, check_payload};
use warp::http::HeaderValue;

const TENANT: &str = "11111111-2222-3333-4444-555555555555";
const CLIENT: &str = "66666666-7777-8888-9999-000000000000";
/// 2027-01-15: a fixed clock keeps runs repeatable.
const NOW: f64 = 1_800_000_000.0;

fuzz_target!(|data: &[u8]| {
    if check_payload(data, TENANT, CLIENT, NOW).is_ok() {
        // Accepted claims are one JSON object, all of it valid (each member named once, so
        // the oracle's reading, which keeps a repeated member's last value, is the only one).
        let claims: Value = serde_json::from_slice(data).expect("accepted claims are JSON");
        let text = |name: &str| claims[name].as_str().map(str::to_ascii_lowercase);
        assert!(
            claims["exp"].as_f64().is_some_and(|exp| exp + 300.0 >= NOW),
            "{claims}"
        );
        if let Some(nbf) = claims.get("nbf") {
            assert!(
                nbf.as_f64().is_some_and(|nbf| nbf - 300.0 <= NOW),
                "{claims}"
            );
        }
        let audiences = match &claims["aud"] {
            Value::String(one) => vec![one.to_ascii_lowercase()],
            Value::Array(many) => many
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_ascii_lowercase)
                .collect(),
            _ => Vec::new(),
        };
        check(
            &audiences,
            text("azp").or(text("appid")),
            text("tid"),
            text("iss"),
            &claims,
        );
    }
    let Ok(principal) = HeaderValue::from_str(&STANDARD.encode(data)) else {
        return;
    };
    if easy_auth::verify(Some(&principal), None, TENANT, CLIENT).is_ok() {
        let principal: Value = serde_json::from_slice(data).expect("accepted principals are JSON");
        let values = |types: &[&str]| -> Vec<String> {
            principal["claims"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|claim| {
                    claim["typ"]
                        .as_str()
                        .is_some_and(|typ| types.iter().any(|t| typ.eq_ignore_ascii_case(t)))
                })
                .filter_map(|claim| claim["val"].as_str().map(str::to_ascii_lowercase))
                .collect()
        };
        let first = |types: &[&str]| values(types).into_iter().next();
        let party = first(&["azp"]).or(first(&[
            "appid",
            "http://schemas.microsoft.com/identity/claims/appid",
        ]));
        check(
            &values(&["aud"]),
            party,
            first(&[
                "tid",
                "http://schemas.microsoft.com/identity/claims/tenantid",
            ]),
            first(&[
                "iss",
                "http://schemas.microsoft.com/identity/claims/identityprovider",
            ]),
            &principal,
        );
    }
});

/// What an accepted caller must have said, whoever carried it.
fn check(
    audiences: &[String],
    party: Option<String>,
    tenant: Option<String>,
    issuer: Option<String>,
    said: &Value,
) {
    assert!(
        audiences.iter().any(|aud| aud == CLIENT
            || (aud.starts_with("api://") && aud.ends_with(&format!("/{CLIENT}")))),
        "{said}"
    );
    assert_eq!(
        party.as_deref(),
        Some(AUTHENTICATION_EVENTS_APP_ID),
        "{said}"
    );
    assert_eq!(tenant.as_deref(), Some(TENANT), "{said}");
    let issuer = issuer.expect("an issuer");
    assert!(
        issuer.starts_with("https://") && issuer.contains(&format!("/{TENANT}/")),
        "{said}"
    );
}
