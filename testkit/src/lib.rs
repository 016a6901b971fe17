//! What the tests, benchmarks and fuzz targets of signup-gate share:
//!
//! - [`harness`]: the functions driven in-process, exactly as the server drives them once a body
//!   has arrived, over a small invitation file, with the oracles their answers are checked
//!   against;
//! - [`events`]: the requests Microsoft sends, built from their parts;
//! - [`tokens`] (feature `tokens`): RSA keys, signed tokens, and a tenant's key server on
//!   loopback.

pub mod events;
pub mod harness;
#[cfg(feature = "tokens")]
pub mod tokens;
