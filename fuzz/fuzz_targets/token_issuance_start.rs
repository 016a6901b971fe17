#![no_main]
//! `OnTokenIssuanceStart` bodies: always HTTP 200 with one `provideClaimsForToken` (claims that
//! are strings or lists of strings) or a 400 JSON error; claims only for an address whose
//! invitation has them.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| signup_gate_testkit::harness::fuzz_token(data));
