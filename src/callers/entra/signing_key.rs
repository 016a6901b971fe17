//! The tenant's signing keys as the checks use them: RSA public keys by `kid`, read from a JWK
//! set.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use serde_json::Value;

use super::token::BASE64URL;

/// An RSA public key from the key set.
#[derive(Debug)]
pub struct SigningKey {
    n: Vec<u8>,
    e: Vec<u8>,
}

/// Signing keys by `kid`.
pub(crate) type KeySet = HashMap<String, Arc<SigningKey>>;

impl SigningKey {
    /// The modulus, big-endian.
    pub(super) fn modulus(&self) -> &[u8] {
        &self.n
    }

    /// The public exponent, big-endian.
    pub(super) fn exponent(&self) -> &[u8] {
        &self.e
    }

    /// Whether `other` is this key (the same modulus and exponent).
    pub(crate) fn same(&self, other: &Self) -> bool {
        std::ptr::eq(self, other) || (self.n == other.n && self.e == other.e)
    }

    #[cfg(test)]
    pub(crate) fn from_parts(n: Vec<u8>, e: Vec<u8>) -> Self {
        Self { n, e }
    }

    /// An RSA signature key of a JWK set (`kty` RSA, a `kid`, `use` absent or `sig`), with its
    /// `kid`.
    pub fn from_jwk(jwk: &Value) -> Option<(String, Self)> {
        let text = |name: &str| jwk.get(name).and_then(Value::as_str);
        if text("kty") != Some("RSA") || text("use").is_some_and(|usage| usage != "sig") {
            return None;
        }
        let component = |name: &str| {
            let bytes = BASE64URL.decode(text(name)?).ok()?;
            // Big-endian, without the leading zero some encoders add.
            let first = bytes.iter().position(|&b| b != 0)?;
            Some(bytes[first..].to_vec())
        };
        let key = SigningKey {
            n: component("n")?,
            e: component("e")?,
        };
        Some((text("kid")?.to_owned(), key))
    }
}

/// The RSA signature keys of a JWK set (`{"keys": [...]}`).
pub(crate) fn key_set(jwks: &Value) -> KeySet {
    jwks.get("keys")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(SigningKey::from_jwk)
        .map(|(kid, key)| (kid, Arc::new(key)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_rsa_signature_keys_are_taken_from_the_key_set() {
        let rsa = serde_json::json!({"kty": "RSA", "kid": "a", "use": "sig", "n": "AQAB", "e": "AQAB", "x5c": ["..."]});
        assert_eq!(
            SigningKey::from_jwk(&rsa).map(|(kid, _)| kid).as_deref(),
            Some("a")
        );
        for other in [
            serde_json::json!({"kty": "EC", "kid": "b", "crv": "P-256", "x": "AQAB", "y": "AQAB"}),
            serde_json::json!({"kty": "RSA", "kid": "c", "use": "enc", "n": "AQAB", "e": "AQAB"}),
            serde_json::json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"}),
            serde_json::json!({"kty": "RSA", "kid": "d", "n": "***", "e": "AQAB"}),
        ] {
            assert!(SigningKey::from_jwk(&other).is_none(), "{other}");
        }
        assert_eq!(key_set(&serde_json::json!({"keys": [rsa]})).len(), 1);
        assert!(key_set(&serde_json::json!({"keys": 5})).is_empty());
    }
}
