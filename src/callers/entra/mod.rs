//! Entra caller tokens: only the Entra authentication events service of *our* tenant may call
//! the Entra functions. [`token`] checks one token; [`keys`] keeps the tenant's signing keys;
//! `cache` remembers the tokens already validated.

mod cache;
mod fetch;
mod key_store;
mod signing_key;
pub mod token;
mod verifier;

pub use self::signing_key::SigningKey;
pub use self::token::{
    AUTHENTICATION_EVENTS_APP_ID, Audience, CallerClaims, SignedToken, TokenFailure, check_claims,
    check_payload,
};
pub use self::verifier::{EntraTokens, TokenSettings};
