#![no_main]
//! The `Authorization: Bearer` header of the Entra functions: parsing never panics, and a token
//! passes only if the fuzz key really signed it and its claims (read here apart from the
//! product) name our tenant and application and have not expired.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use signup_gate::callers::entra::{SignedToken, SigningKey};
use warp::http::HeaderValue;

/// 2027-01-15: a fixed clock keeps runs repeatable.
const NOW: f64 = 1_800_000_000.0;

fuzz_target!(|data: &[u8]| {
    let jwk: Value = serde_json::from_str(include_str!("../seeds/bearer_key.json")).unwrap();
    let (kid, key) = SigningKey::from_jwk(&jwk).expect("the fuzz key");
    let (tenant, client) = (
        jwk["tenant"].as_str().unwrap(),
        jwk["client"].as_str().unwrap(),
    );
    let Ok(header) = HeaderValue::from_bytes(data) else {
        return;
    };
    let Ok(token) = SignedToken::from_header(Some(&header)) else {
        return;
    };
    if token.kid() != kid {
        return; // the server would look for another key
    }
    if token.verify(&key, tenant, client, NOW).is_ok() {
        let text = header.to_str().unwrap().trim();
        let payload = text.split('.').nth(1).expect("a payload part");
        let claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        let text_claim = |name: &str| {
            claims[name]
                .as_str()
                .unwrap_or_default()
                .to_ascii_lowercase()
        };
        assert_eq!(text_claim("tid"), tenant, "{claims}");
        assert!(
            claims["exp"].as_f64().is_some_and(|exp| exp + 300.0 >= NOW),
            "{claims}"
        );
        let audiences: Vec<String> = match &claims["aud"] {
            Value::String(one) => vec![one.to_ascii_lowercase()],
            Value::Array(many) => many
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_ascii_lowercase)
                .collect(),
            _ => vec![],
        };
        assert!(
            audiences.iter().any(|aud| aud.ends_with(client)),
            "{claims}"
        );
    }
});
