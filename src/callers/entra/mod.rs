//! Entra caller tokens: only the Entra authentication events service of *our* tenant may call
//! the Entra functions. [`token`] checks one token; [`keys`] keeps the tenant's signing keys;
//! `cache` remembers the tokens already validated.

mod cache;
pub(crate) mod keys;
pub mod token;

pub use self::keys::{EntraTokens, SigningKey, TokenSettings};
pub use self::token::{
    AUTHENTICATION_EVENTS_APP_ID, Audience, CallerClaims, SignedToken, TokenFailure, check_claims,
    check_payload,
};
